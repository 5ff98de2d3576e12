//! The JSON hub protocol: reading client records, writing server records.
//!
//! Reading accepts keys in any order and ignores unknown keys, as .NET
//! does; argument lists and results stay raw JSON text, so the host
//! never re-encodes a payload. Writing produces the exact bytes ASP.NET
//! Core writes (key order `type`, `invocationId`, `target`, `arguments`).

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

pub use crate::message::ClientMessage;
use crate::message::{Outcome, ServerMessage, TraceContext};

use super::{ProtocolError, RECORD_SEPARATOR};

/// Every field as raw JSON: `None` when the key is absent, `Some("null")`
/// when it is `null` (StreamItem's `item` must be present, even `null`).
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "type", borrow, default, deserialize_with = "raw")]
    kind: Option<&'a RawValue>,
    #[serde(rename = "invocationId", borrow, default, deserialize_with = "raw")]
    invocation_id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    target: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "streamIds", borrow, default, deserialize_with = "raw")]
    stream_ids: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    item: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    error: Option<&'a RawValue>,
    #[serde(rename = "allowReconnect", borrow, default, deserialize_with = "raw")]
    allow_reconnect: Option<&'a RawValue>,
    #[serde(rename = "sequenceId", borrow, default, deserialize_with = "raw")]
    sequence_id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    headers: Option<&'a RawValue>,
}

/// The headers the host reads. `Cow`: a value with escapes is unescaped.
#[derive(Deserialize)]
struct TraceHeaders<'a> {
    #[serde(borrow, default)]
    traceparent: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    tracestate: Option<std::borrow::Cow<'a, str>>,
}

/// The trace context among the headers. Headers are the client's own
/// business (the server reads none other), so a malformed map is
/// ignored rather than refused.
fn trace(record: &Record) -> Option<TraceContext> {
    let headers: TraceHeaders = serde_json::from_str(present(record.headers)?.get()).ok()?;
    TraceContext::from_headers(
        headers.traceparent.as_deref(),
        headers.tracestate.as_deref(),
    )
}

/// A present key, even `null`, as its raw text (serde would read `null`
/// into an `Option` as absent).
fn raw<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
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

fn arguments(record: &Record) -> Result<(String, Vec<String>), ProtocolError> {
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
    Ok((arguments, stream_ids))
}

fn sequence_id(record: &Record) -> Result<u64, ProtocolError> {
    match present(record.sequence_id) {
        None => Err(invalid("Missing required property 'sequenceId'.")),
        Some(raw) => serde_json::from_str::<u64>(raw.get())
            .map_err(|_| invalid("Expected 'sequenceId' to be of type Integer.")),
    }
}

fn allow_reconnect(record: &Record) -> Result<bool, ProtocolError> {
    match present(record.allow_reconnect) {
        None => Ok(false),
        Some(raw) => serde_json::from_str::<bool>(raw.get())
            .map_err(|_| invalid("Expected 'allowReconnect' to be of type Boolean.")),
    }
}

/// Reads one client record (without its separator).
pub fn decode(record: &[u8]) -> Result<ClientMessage, ProtocolError> {
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
    let kind = match present(record.kind) {
        None => return Err(invalid("Missing required property 'type'.")),
        Some(raw) => serde_json::from_str::<i64>(raw.get())
            .map_err(|_| invalid("Expected 'type' to be of type Integer."))?,
    };
    let invocation_id = string_field(record.invocation_id, "invocationId")?;
    match kind {
        1 => {
            let target = required(string_field(record.target, "target")?, "target")?;
            let (arguments, stream_ids) = arguments(&record)?;
            Ok(ClientMessage::Invocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                trace: trace(&record),
            })
        }
        4 => {
            let invocation_id = required(invocation_id, "invocationId")?;
            let target = required(string_field(record.target, "target")?, "target")?;
            let (arguments, stream_ids) = arguments(&record)?;
            Ok(ClientMessage::StreamInvocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                trace: trace(&record),
            })
        }
        2 => {
            let invocation_id = required(invocation_id, "invocationId")?;
            let item = record
                .item
                .ok_or_else(|| invalid("Missing required property 'item'."))?;
            Ok(ClientMessage::StreamItem {
                invocation_id,
                item: item.get().to_owned(),
            })
        }
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
            allow_reconnect: allow_reconnect(&record)?,
        }),
        8 => Ok(ClientMessage::Ack {
            sequence_id: sequence_id(&record)?,
        }),
        9 => Ok(ClientMessage::Sequence {
            sequence_id: sequence_id(&record)?,
        }),
        other => Ok(ClientMessage::Unknown(other)),
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

fn push_id(out: &mut String, invocation_id: &str) {
    out.push_str(",\"invocationId\":");
    out.push_str(&quoted(invocation_id));
}

/// Writes one server message with its separator, byte for byte as
/// ASP.NET Core does. Payload texts are copied verbatim, so they must be
/// valid JSON; an Invocation never carries `streamIds`.
pub fn encode(message: &ServerMessage) -> Vec<u8> {
    let mut out = String::with_capacity(64);
    match message {
        ServerMessage::Invocation {
            invocation_id,
            target,
            arguments,
        } => {
            out.reserve(target.len() + arguments.len());
            out.push_str("{\"type\":1");
            if let Some(id) = invocation_id {
                push_id(&mut out, id);
            }
            out.push_str(",\"target\":");
            out.push_str(&quoted(target));
            out.push_str(",\"arguments\":");
            out.push_str(arguments);
        }
        ServerMessage::StreamItem {
            invocation_id,
            item,
        } => {
            out.push_str("{\"type\":2");
            push_id(&mut out, invocation_id);
            out.push_str(",\"item\":");
            out.push_str(item);
        }
        ServerMessage::Completion {
            invocation_id,
            outcome,
        } => {
            out.push_str("{\"type\":3");
            push_id(&mut out, invocation_id);
            match outcome {
                Outcome::Void => {}
                Outcome::Result(result) => {
                    out.push_str(",\"result\":");
                    out.push_str(result);
                }
                Outcome::Error(error) => {
                    out.push_str(",\"error\":");
                    out.push_str(&quoted(error));
                }
            }
        }
        ServerMessage::Ping => out.push_str("{\"type\":6"),
        ServerMessage::Close {
            error,
            allow_reconnect,
        } => {
            out.push_str("{\"type\":7");
            if let Some(error) = error {
                out.push_str(",\"error\":");
                out.push_str(&quoted(error));
            }
            if *allow_reconnect {
                out.push_str(",\"allowReconnect\":true");
            }
        }
        ServerMessage::Ack { sequence_id } => {
            out.push_str(&format!("{{\"type\":8,\"sequenceId\":{sequence_id}"));
        }
        ServerMessage::Sequence { sequence_id } => {
            out.push_str(&format!("{{\"type\":9,\"sequenceId\":{sequence_id}"));
        }
    }
    out.push('}');
    let mut bytes = out.into_bytes();
    bytes.push(RECORD_SEPARATOR);
    bytes
}

/// Reads one record: [`decode`] under its old name.
///
/// compat: remove once the host uses encode/decode.
pub fn parse(record: &[u8]) -> Result<ClientMessage, ProtocolError> {
    decode(record)
}

/// An Invocation record; `arguments` must be a valid JSON array.
///
/// compat: remove once the host uses encode/decode.
pub fn invocation(invocation_id: Option<&str>, target: &str, arguments: &str) -> Vec<u8> {
    encode(&ServerMessage::Invocation {
        invocation_id: invocation_id.map(str::to_owned),
        target: target.to_owned(),
        arguments: arguments.to_owned(),
    })
}

/// A Completion carrying a result (raw JSON, `null` for none).
///
/// compat: remove once the host uses encode/decode.
pub fn completion_result(invocation_id: &str, result: &str) -> Vec<u8> {
    encode(&ServerMessage::Completion {
        invocation_id: invocation_id.to_owned(),
        outcome: Outcome::Result(result.to_owned()),
    })
}

/// A Completion carrying an error.
///
/// compat: remove once the host uses encode/decode.
pub fn completion_error(invocation_id: &str, error: &str) -> Vec<u8> {
    encode(&ServerMessage::Completion {
        invocation_id: invocation_id.to_owned(),
        outcome: Outcome::Error(error.to_owned()),
    })
}

/// `{"type":6}`.
///
/// compat: remove once the host uses encode/decode.
pub fn ping() -> Vec<u8> {
    encode(&ServerMessage::Ping)
}

/// `{"type":7}` with an optional error and `allowReconnect` when true.
///
/// compat: remove once the host uses encode/decode.
pub fn close(error: Option<&str>, allow_reconnect: bool) -> Vec<u8> {
    encode(&ServerMessage::Close {
        error: error.map(str::to_owned),
        allow_reconnect,
    })
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
            trace: None,
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
                stream_ids: Vec::new(),
                trace: None,
            }
        );
        assert_eq!(parse(br#"{"type":6}"#).unwrap(), ClientMessage::Ping);
        assert_eq!(
            parse(br#"{"type":7}"#).unwrap(),
            ClientMessage::Close {
                error: None,
                allow_reconnect: false
            }
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
