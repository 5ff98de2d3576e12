//! The JSON hub protocol through its protocol-neutral API: every server
//! message written byte for byte as .NET does
//! (`JsonHubProtocolTestsBase`), and the client records added for
//! streaming and stateful reconnect.

use wasmhub_protocol::json::{decode, encode};
use wasmhub_protocol::{ClientMessage, Outcome, ProtocolError, ServerMessage};

fn text(message: ServerMessage) -> String {
    let bytes = encode(&message);
    assert_eq!(bytes.last(), Some(&0x1e));
    String::from_utf8(bytes[..bytes.len() - 1].to_vec()).unwrap()
}

fn completion(outcome: Outcome) -> ServerMessage {
    ServerMessage::Completion {
        invocation_id: "123".into(),
        outcome,
    }
}

#[test]
fn writes_every_server_message() {
    assert_eq!(
        text(ServerMessage::Invocation {
            invocation_id: Some("123".into()),
            target: "Target".into(),
            arguments: "[1,\"Foo\"]".into(),
        }),
        r#"{"type":1,"invocationId":"123","target":"Target","arguments":[1,"Foo"]}"#
    );
    assert_eq!(
        text(ServerMessage::StreamItem {
            invocation_id: "123".into(),
            item: "null".into(),
        }),
        r#"{"type":2,"invocationId":"123","item":null}"#
    );
    assert_eq!(
        text(completion(Outcome::Result("null".into()))),
        r#"{"type":3,"invocationId":"123","result":null}"#
    );
    assert_eq!(
        text(completion(Outcome::Void)),
        r#"{"type":3,"invocationId":"123"}"#
    );
    assert_eq!(
        text(completion(Outcome::Error("Whoops!".into()))),
        r#"{"type":3,"invocationId":"123","error":"Whoops!"}"#
    );
    assert_eq!(text(ServerMessage::Ping), r#"{"type":6}"#);
    assert_eq!(
        text(ServerMessage::Close {
            error: None,
            allow_reconnect: false
        }),
        r#"{"type":7}"#
    );
    assert_eq!(
        text(ServerMessage::Close {
            error: Some("Error!".into()),
            allow_reconnect: true
        }),
        r#"{"type":7,"error":"Error!","allowReconnect":true}"#
    );
    assert_eq!(
        text(ServerMessage::Ack { sequence_id: 1394 }),
        r#"{"type":8,"sequenceId":1394}"#
    );
    assert_eq!(
        text(ServerMessage::Sequence {
            sequence_id: u64::MAX
        }),
        r#"{"type":9,"sequenceId":18446744073709551615}"#
    );
}

#[test]
fn the_compat_writers_match_encode() {
    use wasmhub_protocol::json;
    assert_eq!(
        json::completion_result("1", "5"),
        encode(&ServerMessage::Completion {
            invocation_id: "1".into(),
            outcome: Outcome::Result("5".into())
        })
    );
    assert_eq!(json::ping(), encode(&ServerMessage::Ping));
    assert_eq!(json::parse(br#"{"type":6}"#), decode(br#"{"type":6}"#));
}

#[test]
fn reads_stream_items_including_null() {
    assert_eq!(
        decode(br#"{"invocationId":"2","item":1,"type":2}"#).unwrap(),
        ClientMessage::StreamItem {
            invocation_id: "2".into(),
            item: "1".into()
        }
    );
    assert_eq!(
        decode(br#"{"type":2,"invocationId":"2","item":null}"#).unwrap(),
        ClientMessage::StreamItem {
            invocation_id: "2".into(),
            item: "null".into()
        }
    );
    assert_eq!(
        decode(br#"{"type":2,"invocationId":"2"}"#),
        Err(ProtocolError::InvalidMessage(
            "Missing required property 'item'.".into()
        ))
    );
}

#[test]
fn reads_stream_invocations_with_arguments_and_streams() {
    assert_eq!(
        decode(br#"{"type":4,"invocationId":"1","target":"Counter","arguments":[10,{"a":1}],"streamIds":["2"]}"#)
            .unwrap(),
        ClientMessage::StreamInvocation {
            invocation_id: "1".into(),
            target: "Counter".into(),
            arguments: r#"[10,{"a":1}]"#.into(),
            stream_ids: vec!["2".into()],
            trace: None,
        }
    );
    assert_eq!(
        decode(br#"{"type":4,"target":"Counter","arguments":[]}"#),
        Err(ProtocolError::InvalidMessage(
            "Missing required property 'invocationId'.".into()
        ))
    );
    assert_eq!(
        decode(br#"{"type":4,"invocationId":"1","target":"Counter"}"#),
        Err(ProtocolError::InvalidMessage(
            "Missing required property 'arguments'.".into()
        ))
    );
}

#[test]
fn reads_close_ack_and_sequence() {
    assert_eq!(
        decode(br#"{"type":7,"error":"bye","allowReconnect":true}"#).unwrap(),
        ClientMessage::Close {
            error: Some("bye".into()),
            allow_reconnect: true
        }
    );
    assert_eq!(
        decode(br#"{"type":7,"allowReconnect":null}"#).unwrap(),
        ClientMessage::Close {
            error: None,
            allow_reconnect: false
        }
    );
    assert_eq!(
        decode(br#"{"type":8,"sequenceId":3}"#).unwrap(),
        ClientMessage::Ack { sequence_id: 3 }
    );
    assert_eq!(
        decode(br#"{"sequenceId":2,"type":9}"#).unwrap(),
        ClientMessage::Sequence { sequence_id: 2 }
    );
    let cases: &[(&[u8], &str)] = &[
        (br#"{"type":8}"#, "Missing required property 'sequenceId'."),
        (
            br#"{"type":9,"sequenceId":-1}"#,
            "Expected 'sequenceId' to be of type Integer.",
        ),
        (
            br#"{"type":9,"sequenceId":"1"}"#,
            "Expected 'sequenceId' to be of type Integer.",
        ),
        (
            br#"{"type":7,"allowReconnect":1}"#,
            "Expected 'allowReconnect' to be of type Boolean.",
        ),
    ];
    for (record, message) in cases {
        assert_eq!(
            decode(record),
            Err(ProtocolError::InvalidMessage((*message).into())),
            "{}",
            String::from_utf8_lossy(record)
        );
    }
}

#[test]
fn a_null_result_next_to_an_error_is_refused_as_in_dotnet() {
    assert_eq!(
        decode(br#"{"type":3,"invocationId":"1","result":null,"error":"e"}"#),
        Err(ProtocolError::InvalidMessage(
            "The 'error' and 'result' properties are mutually exclusive.".into()
        ))
    );
    assert_eq!(
        decode(br#"{"type":3,"invocationId":"1","result":2,"error":null}"#).unwrap(),
        ClientMessage::Completion {
            invocation_id: "1".into(),
            result: Ok("2".into())
        }
    );
}

#[test]
fn keeps_the_trace_context_of_an_invocations_headers() {
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let text = format!(
        r#"{{"type":1,"invocationId":"1","target":"Echo","arguments":[],"headers":{{"a":"b","traceparent":"{parent}","tracestate":"k=v"}}}}"#
    );
    let Ok(ClientMessage::Invocation { trace, .. }) = decode(text.as_bytes()) else {
        panic!("not an invocation");
    };
    let trace = trace.expect("a trace context");
    assert_eq!(trace.traceparent, parent);
    assert_eq!(trace.tracestate.as_deref(), Some("k=v"));
    // A stream invocation too; no tracestate is fine.
    let text = format!(
        r#"{{"type":4,"invocationId":"1","target":"C","arguments":[],"headers":{{"traceparent":"{parent}"}}}}"#
    );
    let Ok(ClientMessage::StreamInvocation { trace, .. }) = decode(text.as_bytes()) else {
        panic!("not a stream invocation");
    };
    assert_eq!(trace.unwrap().tracestate, None);
}

#[test]
fn other_or_malformed_headers_are_ignored_not_refused() {
    let long = "0".repeat(wasmhub_protocol::message::TRACEPARENT_MAX + 1);
    for headers in [
        r#"{"k":"v"}"#.to_owned(),
        r#"{"traceparent":7}"#.to_owned(),
        r#"[1,2]"#.to_owned(),
        "null".to_owned(),
        format!(r#"{{"traceparent":"{long}"}}"#),
    ] {
        let text = format!(r#"{{"type":1,"target":"Echo","arguments":[],"headers":{headers}}}"#);
        match decode(text.as_bytes()) {
            Ok(ClientMessage::Invocation { trace, .. }) => assert_eq!(trace, None, "{headers}"),
            other => panic!("{headers}: {other:?}"),
        }
    }
}
