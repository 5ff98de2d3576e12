//! The handshake: the client's first record names the hub protocol.
//!
//! Texts follow ASP.NET Core's `HubConnectionContext.HandshakeAsync` so
//! clients and their users see familiar errors.

use serde::Deserialize;

use super::RECORD_SEPARATOR;

/// A hub protocol this host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubProtocol {
    Json,
}

impl HubProtocol {
    /// The name used in the handshake.
    pub fn name(self) -> &'static str {
        match self {
            HubProtocol::Json => "json",
        }
    }
}

#[derive(Deserialize)]
struct Request {
    protocol: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// Reads a handshake record (without its separator). The error is the
/// text for the `{"error":..}` response.
pub fn parse_request(record: &[u8]) -> Result<HubProtocol, String> {
    let invalid = |detail: &str| {
        format!(
            "An unexpected error occurred during connection handshake. InvalidDataException: {detail}"
        )
    };
    let request: Request = serde_json::from_slice(record)
        .map_err(|e| invalid(&format!("the handshake is not a JSON object ({e})")))?;
    let protocol = match request.protocol {
        Some(serde_json::Value::String(p)) => p,
        Some(_) => return Err(invalid("Expected 'protocol' to be of type String.")),
        None => return Err(invalid("Missing required property 'protocol'.")),
    };
    let version = match request.version {
        Some(serde_json::Value::Number(n)) if n.is_i64() => n.as_i64().unwrap_or_default(),
        Some(_) => return Err(invalid("Expected 'version' to be of type Integer.")),
        None => return Err(invalid("Missing required property 'version'.")),
    };
    if protocol != "json" {
        return Err(format!("The protocol '{protocol}' is not supported."));
    }
    // Version 2 only adds stateful reconnect, which is opt-in at negotiate
    // and never offered yet; like .NET we accept it and use version 1.
    if !(1..=2).contains(&version) {
        return Err(format!(
            "The server does not support version {version} of the '{protocol}' protocol."
        ));
    }
    Ok(HubProtocol::Json)
}

/// The success response: exactly `{}` and the separator.
pub fn success_response() -> Vec<u8> {
    vec![b'{', b'}', RECORD_SEPARATOR]
}

/// The error response, after which the server closes the connection.
pub fn error_response(error: &str) -> Vec<u8> {
    let mut out =
        serde_json::to_vec(&serde_json::json!({ "error": error })).expect("a string serializes");
    out.push(RECORD_SEPARATOR);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_json_versions_1_and_2_in_any_key_order() {
        assert_eq!(
            parse_request(br#"{"protocol":"json","version":1}"#),
            Ok(HubProtocol::Json)
        );
        assert_eq!(
            parse_request(br#"{"version":2,"protocol":"json"}"#),
            Ok(HubProtocol::Json)
        );
        assert_eq!(
            parse_request(br#"{"protocol":"json","version":1,"extra":[1]}"#),
            Ok(HubProtocol::Json)
        );
    }

    #[test]
    fn refuses_with_the_dotnet_texts() {
        assert_eq!(
            parse_request(br#"{"protocol":"foo","version":1}"#),
            Err("The protocol 'foo' is not supported.".into())
        );
        assert_eq!(
            parse_request(br#"{"protocol":"messagepack","version":1}"#),
            Err("The protocol 'messagepack' is not supported.".into())
        );
        assert_eq!(
            parse_request(br#"{"protocol":"json","version":99}"#),
            Err("The server does not support version 99 of the 'json' protocol.".into())
        );
        let err = parse_request(br#"{"protocol":"json"}"#).unwrap_err();
        assert!(
            err.ends_with("Missing required property 'version'."),
            "{err}"
        );
        let err = parse_request(b"not json").unwrap_err();
        assert!(err.starts_with("An unexpected error occurred during connection handshake."));
    }

    #[test]
    fn responses_are_exact() {
        assert_eq!(success_response(), b"{}\x1e");
        assert_eq!(error_response("Nope."), b"{\"error\":\"Nope.\"}\x1e");
    }
}
