//! `POST /hubs/<name>/negotiate`: version rules and the response body.
//!
//! Errors are answered with HTTP 200 and `{"error": ..}`, as ASP.NET Core
//! does; the clients surface the text as is.

use serde_json::json;

/// The negotiate protocol version a client asked for, after the rules of
/// `HttpConnectionDispatcher.ProcessNegotiate`: missing means 0, above 1
/// is clamped to 1.
pub fn version(query_value: Option<&str>) -> Result<u8, String> {
    match query_value {
        None => Ok(0),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(v) if v < 0 => Err(format!(
                "The client requested version '{v}', but the server does not support this version."
            )),
            Ok(0) => Ok(0),
            Ok(_) => Ok(1),
            Err(_) => Err("The client requested a non-integer protocol version.".to_owned()),
        },
    }
}

/// A transport offered in the negotiate response, with the transfer
/// formats it carries (`"Text"`, `"Binary"`), in the client's order of
/// preference: WebSockets, then Server-Sent Events, then long polling.
pub type Offer<'a> = (&'a str, &'a [&'a str]);

/// Every transport this host serves, as ASP.NET Core lists them.
pub const ALL_TRANSPORTS: &[Offer<'static>] = &[
    ("WebSockets", &["Text", "Binary"]),
    ("ServerSentEvents", &["Text"]),
    ("LongPolling", &["Text", "Binary"]),
];

/// The negotiate response. Version 0 has no connection token: the client
/// uses the connection id as `id`. `useStatefulReconnect` is written only
/// when true: a client that did not ask refuses an answer that has it.
pub fn response(
    version: u8,
    connection_id: &str,
    connection_token: &str,
    offers: &[Offer<'_>],
    stateful_reconnect: bool,
) -> String {
    let transports: Vec<serde_json::Value> = offers
        .iter()
        .map(|(transport, formats)| json!({ "transport": transport, "transferFormats": formats }))
        .collect();
    let mut body = if version == 0 {
        json!({
            "negotiateVersion": 0,
            "connectionId": connection_id,
            "availableTransports": transports,
        })
    } else {
        json!({
            "negotiateVersion": 1,
            "connectionId": connection_id,
            "connectionToken": connection_token,
            "availableTransports": transports,
        })
    };
    if stateful_reconnect {
        body["useStatefulReconnect"] = json!(true);
    }
    body.to_string()
}

/// The body of a negotiate error.
pub fn error(text: &str) -> String {
    json!({ "error": text }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_aspnetcore() {
        assert_eq!(version(None), Ok(0));
        assert_eq!(version(Some("0")), Ok(0));
        assert_eq!(version(Some("1")), Ok(1));
        assert_eq!(version(Some("7")), Ok(1));
        assert_eq!(
            version(Some("x")),
            Err("The client requested a non-integer protocol version.".into())
        );
        assert!(version(Some("-1")).unwrap_err().contains("'-1'"));
    }

    #[test]
    fn response_always_names_the_version() {
        let v0: serde_json::Value =
            serde_json::from_str(&response(0, "c", "t", ALL_TRANSPORTS, false)).unwrap();
        assert_eq!(v0["negotiateVersion"], 0);
        assert_eq!(v0["connectionId"], "c");
        assert!(v0.get("connectionToken").is_none());
        assert!(v0.get("useStatefulReconnect").is_none());
        let v1: serde_json::Value =
            serde_json::from_str(&response(1, "c", "t", ALL_TRANSPORTS, true)).unwrap();
        assert_eq!(v1["negotiateVersion"], 1);
        assert_eq!(v1["connectionToken"], "t");
        assert_eq!(v1["useStatefulReconnect"], true);
        assert_eq!(v1["availableTransports"][0]["transport"], "WebSockets");
        assert_eq!(
            v1["availableTransports"][0]["transferFormats"],
            json!(["Text", "Binary"])
        );
        assert_eq!(
            v1["availableTransports"][1]["transport"],
            "ServerSentEvents"
        );
        assert_eq!(
            v1["availableTransports"][1]["transferFormats"],
            json!(["Text"])
        );
        assert_eq!(v1["availableTransports"][2]["transport"], "LongPolling");
        assert_eq!(error("no"), r#"{"error":"no"}"#);
    }
}
