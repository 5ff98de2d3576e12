//! The JSON hub protocol: reading client records, writing server records.
//!
//! Reading accepts keys in any order and ignores unknown keys, as .NET
//! does; argument lists and results stay raw JSON text, so the host
//! never re-encodes a payload. Writing produces the exact bytes ASP.NET
//! Core writes (key order `type`, `invocationId`, `target`, `arguments`).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{ProtocolError, RECORD_SEPARATOR};

/// A record a client sent, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Type 1. `invocation_id: None` is a non-blocking `send()`.
    Invocation {
        invocation_id: Option<String>,
        target: String,
        /// The raw JSON array of arguments.
        arguments: String,
        /// The ids of upload streams the client attached (none usually).
        stream_ids: Vec<String>,
    },
    /// Type 2: an item of a client upload stream.
    StreamItem { invocation_id: String },
    /// Type 3: the client's answer to a server invocation, or the end of
    /// an upload stream.
    Completion {
        invocation_id: String,
        /// The raw JSON result (`null` when absent), or the error text.
        result: Result<String, String>,
    },
    /// Type 4: a streaming invocation.
    StreamInvocation {
        invocation_id: String,
        target: String,
    },
    /// Type 5.
    CancelInvocation { invocation_id: String },
    /// Type 6.
    Ping,
    /// Type 7: the client is closing.
    Close { error: Option<String> },
    /// Types 8 and 9 (stateful reconnect), which this host never enables.
    Ack,
    /// A type this host does not know. Ignored, as ASP.NET Core does:
    /// newer clients may add message types.
    Unknown(i64),
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a RawValue>,
    #[serde(rename = "invocationId", borrow)]
    invocation_id: Option<&'a RawValue>,
    #[serde(borrow)]
    target: Option<&'a RawValue>,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "streamIds", borrow)]
    stream_ids: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

fn invalid(text: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidMessage(text.into())
}

/// A field that is absent or JSON `null` (.NET reads both as absent).
fn present(value: Option<&RawValue>) -> Option<&RawValue> {
    value.filter(|raw| raw.get() != "null")
}

fn string_field(value: Option<&RawValue>, name: &str) -> Result<Option<String>, ProtocolError> {
    match present(value) {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .map(Some)
            .map_err(|_| invalid(format!("Expected '{name}' to be of type String."))),
    }
}

fn required(value: Option<String>, name: &str) -> Result<String, ProtocolError> {
    value.ok_or_else(|| invalid(format!("Missing required property '{name}'.")))
}

/// Reads one record (without its separator).
pub fn parse(record: &[u8]) -> Result<ClientMessage, ProtocolError> {
    let first = record.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        let token = match first {
            Some(b'[') => "Array",
            Some(b'"') => "String",
            None => "None",
            _ => "Value",
        };
        return Err(invalid(format!(
            "Unexpected JSON Token Type '{token}'. Expected a JSON Object."
        )));
    }
    let record: Record =
        serde_json::from_slice(record).map_err(|e| invalid(format!("Error reading JSON: {e}.")))?;
    let kind = match record.kind {
        None => return Err(invalid("Missing required property 'type'.")),
        Some(raw) => serde_json::from_str::<i64>(raw.get())
            .map_err(|_| invalid("Expected 'type' to be of type Integer."))?,
    };
    let invocation_id = string_field(record.invocation_id, "invocationId")?;
    match kind {
        1 | 4 => {
            let target = required(string_field(record.target, "target")?, "target")?;
            let arguments = match record.arguments {
                None => return Err(invalid("Missing required property 'arguments'.")),
                Some(raw) if raw.get().starts_with('[') => raw.get().to_owned(),
                Some(_) => return Err(invalid("Expected 'arguments' to be of type Array.")),
            };
            let stream_ids = match present(record.stream_ids) {
                None => Vec::new(),
                Some(raw) => serde_json::from_str(raw.get())
                    .map_err(|_| invalid("Expected 'streamIds' to be of type Array of String."))?,
            };
            if kind == 1 {
                Ok(ClientMessage::Invocation {
                    invocation_id,
                    target,
                    arguments,
                    stream_ids,
                })
            } else {
                Ok(ClientMessage::StreamInvocation {
                    invocation_id: required(invocation_id, "invocationId")?,
                    target,
                })
            }
        }
        2 => Ok(ClientMessage::StreamItem {
            invocation_id: required(invocation_id, "invocationId")?,
        }),
        3 => {
            let invocation_id = required(invocation_id, "invocationId")?;
            let error = string_field(record.error, "error")?;
            let result = match (error, record.result) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "The 'error' and 'result' properties are mutually exclusive.",
                    ));
                }
                (Some(error), None) => Err(error),
                (None, Some(raw)) => Ok(raw.get().to_owned()),
                (None, None) => Ok("null".to_owned()),
            };
            Ok(ClientMessage::Completion {
                invocation_id,
                result,
            })
        }
        5 => Ok(ClientMessage::CancelInvocation {
            invocation_id: required(invocation_id, "invocationId")?,
        }),
        6 => Ok(ClientMessage::Ping),
        7 => Ok(ClientMessage::Close {
            error: string_field(record.error, "error")?,
        }),
        8 | 9 => Ok(ClientMessage::Ack),
        other => Ok(ClientMessage::Unknown(other)),
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// `{"type":1,["invocationId":id,]"target":t,"arguments":args}`. `arguments`
/// must be a valid JSON array (the runtime checks what hubs hand over).
pub fn invocation(invocation_id: Option<&str>, target: &str, arguments: &str) -> Vec<u8> {
    let mut out = String::with_capacity(48 + target.len() + arguments.len());
    out.push_str("{\"type\":1,");
    if let Some(id) = invocation_id {
        out.push_str("\"invocationId\":");
        out.push_str(&quoted(id));
        out.push(',');
    }
    out.push_str("\"target\":");
    out.push_str(&quoted(target));
    out.push_str(",\"arguments\":");
    out.push_str(arguments);
    out.push('}');
    finish(out)
}

/// A Completion carrying a result (raw JSON, `null` for none).
pub fn completion_result(invocation_id: &str, result: &str) -> Vec<u8> {
    finish(format!(
        "{{\"type\":3,\"invocationId\":{},\"result\":{result}}}",
        quoted(invocation_id)
    ))
}

/// A Completion carrying an error.
pub fn completion_error(invocation_id: &str, error: &str) -> Vec<u8> {
    finish(format!(
        "{{\"type\":3,\"invocationId\":{},\"error\":{}}}",
        quoted(invocation_id),
        quoted(error)
    ))
}

/// `{"type":6}`.
pub fn ping() -> Vec<u8> {
    finish("{\"type\":6}".to_owned())
}

/// `{"type":7}` with an optional error and `allowReconnect` when true.
pub fn close(error: Option<&str>, allow_reconnect: bool) -> Vec<u8> {
    let mut out = String::from("{\"type\":7");
    if let Some(error) = error {
        out.push_str(",\"error\":");
        out.push_str(&quoted(error));
    }
    if allow_reconnect {
        out.push_str(",\"allowReconnect\":true");
    }
    out.push('}');
    finish(out)
}

fn finish(text: String) -> Vec<u8> {
    let mut out = text.into_bytes();
    out.push(RECORD_SEPARATOR);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: Vec<u8>) -> String {
        assert_eq!(bytes.last(), Some(&RECORD_SEPARATOR));
        String::from_utf8(bytes[..bytes.len() - 1].to_vec()).unwrap()
    }

    // Golden output of ASP.NET Core's JsonHubProtocolTestsBase.
    #[test]
    fn writes_the_dotnet_bytes() {
        assert_eq!(
            record(invocation(Some("123"), "Target", "[1,\"Foo\"]")),
            r#"{"type":1,"invocationId":"123","target":"Target","arguments":[1,"Foo"]}"#
        );
        assert_eq!(
            record(invocation(None, "Message", "[\"x\"]")),
            r#"{"type":1,"target":"Message","arguments":["x"]}"#
        );
        assert_eq!(
            record(completion_result("123", "null")),
            r#"{"type":3,"invocationId":"123","result":null}"#
        );
        assert_eq!(
            record(completion_error("123", "Whoops!")),
            r#"{"type":3,"invocationId":"123","error":"Whoops!"}"#
        );
        assert_eq!(record(ping()), r#"{"type":6}"#);
        assert_eq!(record(close(None, false)), r#"{"type":7}"#);
        assert_eq!(
            record(close(Some("Error!"), true)),
            r#"{"type":7,"error":"Error!","allowReconnect":true}"#
        );
    }

    #[test]
    fn escapes_strings() {
        assert_eq!(
            record(completion_error("a\"b", "line\nbreak \u{1e}")),
            r#"{"type":3,"invocationId":"a\"b","error":"line\nbreak \u001e"}"#
        );
    }

    #[test]
    fn reads_keys_in_any_order_and_ignores_unknown_ones() {
        let expected = ClientMessage::Invocation {
            invocation_id: Some("7".into()),
            target: "Echo".into(),
            arguments: r#"["x",{"a":1}]"#.into(),
            stream_ids: Vec::new(),
        };
        for text in [
            r#"{"type":1,"invocationId":"7","target":"Echo","arguments":["x",{"a":1}]}"#,
            r#"{"arguments":["x",{"a":1}],"target":"Echo","invocationId":"7","type":1}"#,
            r#"{"target":"Echo","extra":{"deep":[1,2]},"arguments":["x",{"a":1}],"headers":{"k":"v"},"invocationId":"7","type":1}"#,
        ] {
            assert_eq!(parse(text.as_bytes()).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn reads_the_typescript_clients_records() {
        assert_eq!(
            parse(br#"{"target":"Send","arguments":[],"type":1}"#).unwrap(),
            ClientMessage::Invocation {
                invocation_id: None,
                target: "Send".into(),
                arguments: "[]".into(),
                stream_ids: Vec::new()
            }
        );
        assert_eq!(parse(br#"{"type":6}"#).unwrap(), ClientMessage::Ping);
        assert_eq!(
            parse(br#"{"type":7}"#).unwrap(),
            ClientMessage::Close { error: None }
        );
        assert_eq!(
            parse(br#"{ "type":3, "result": 10, "invocationId": "15" }"#).unwrap(),
            ClientMessage::Completion {
                invocation_id: "15".into(),
                result: Ok("10".into())
            }
        );
        assert_eq!(
            parse(br#"{"type":3,"invocationId":"1","error":"Error: from callback"}"#).unwrap(),
            ClientMessage::Completion {
                invocation_id: "1".into(),
                result: Err("Error: from callback".into())
            }
        );
        assert_eq!(
            parse(br#"{"type":3,"invocationId":"1"}"#).unwrap(),
            ClientMessage::Completion {
                invocation_id: "1".into(),
                result: Ok("null".into())
            }
        );
    }

    #[test]
    fn unknown_types_are_read_not_refused() {
        assert_eq!(
            parse(br#"{"type":99,"x":1}"#).unwrap(),
            ClientMessage::Unknown(99)
        );
    }

    #[test]
    fn refuses_invalid_records_with_clear_texts() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"type":1,"arguments":[]}"#,
                "Missing required property 'target'.",
            ),
            (
                br#"{"type":1,"invocationId":1,"target":"a","arguments":[]}"#,
                "Expected 'invocationId' to be of type String.",
            ),
            (
                b"[1,2]",
                "Unexpected JSON Token Type 'Array'. Expected a JSON Object.",
            ),
            (br#"{"target":"a"}"#, "Missing required property 'type'."),
            (
                br#"{"type":1,"target":"a","arguments":{}}"#,
                "Expected 'arguments' to be of type Array.",
            ),
            (
                br#"{"type":3,"invocationId":"1","result":1,"error":"e"}"#,
                "The 'error' and 'result' properties are mutually exclusive.",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                parse(text),
                Err(ProtocolError::InvalidMessage((*message).into())),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        let Err(ProtocolError::InvalidMessage(text)) = parse(br#"{"type":1,"target":"#) else {
            panic!("truncated JSON must fail")
        };
        assert!(text.starts_with("Error reading JSON"), "{text}");
    }
}
