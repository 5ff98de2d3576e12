//! Golden bytes of the MessagePack hub protocol, both directions: the
//! examples of HubProtocol.md, the TypeScript client's tests
//! (`MessagePackHubProtocol.test.ts`) and what it was seen to send.

use wasmhub_protocol::framing::LengthPrefixedBuffer;
use wasmhub_protocol::messagepack::{decode, encode};
use wasmhub_protocol::{ClientMessage, Outcome, ProtocolError, ServerMessage};

/// Splits one framed message into its body, checking the prefix.
fn body(framed: &[u8]) -> Vec<u8> {
    let mut buffer = LengthPrefixedBuffer::new(1 << 20);
    let mut bodies = buffer.push(framed).unwrap();
    assert_eq!(bodies.len(), 1, "one message in {framed:x?}");
    assert!(!buffer.has_partial());
    bodies.remove(0)
}

fn read(framed: &[u8]) -> ClientMessage {
    decode(&body(framed)).unwrap()
}

fn completion(id: &str, result: Result<&str, &str>) -> ClientMessage {
    ClientMessage::Completion {
        invocation_id: id.into(),
        result: result.map(str::to_owned).map_err(str::to_owned),
    }
}

fn abc(outcome: Outcome) -> ServerMessage {
    ServerMessage::Completion {
        invocation_id: "abc".into(),
        outcome,
    }
}

#[test]
fn reads_the_typescript_completions() {
    let cases: &[(&[u8], Result<&str, &str>)] = &[
        (
            &[
                0x0c, 0x95, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x01, 0xa3, 0x45, 0x72, 0x72,
            ],
            Err("Err"),
        ),
        (
            &[
                0x0b, 0x95, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x03, 0xa2, 0x4f, 0x4b,
            ],
            Ok("\"OK\""),
        ),
        (
            &[0x08, 0x94, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x02],
            Ok("null"),
        ),
        (
            &[
                0x0e, 0x95, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x03, 0xd6, 0xff, 0x5a, 0x4a, 0x1a,
                0x50,
            ],
            Ok("\"2018-01-01T11:24:00Z\""),
        ),
        // An extra element at the end is ignored (newer peers).
        (
            &[0x09, 0x95, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x02, 0x00],
            Ok("null"),
        ),
    ];
    for (framed, result) in cases {
        assert_eq!(read(framed), completion("abc", *result), "{framed:x?}");
    }
}

#[test]
fn reads_the_typescript_stream_items() {
    let item = |item: &str| ClientMessage::StreamItem {
        invocation_id: "abc".into(),
        item: item.into(),
    };
    assert_eq!(
        read(&[0x08, 0x94, 0x02, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x08]),
        item("8")
    );
    assert_eq!(
        read(&[
            0x0d, 0x94, 0x02, 0x80, 0xa3, 0x61, 0x62, 0x63, 0xd6, 0xff, 0x5a, 0x4a, 0x1a, 0x50
        ]),
        item("\"2018-01-01T11:24:00Z\"")
    );
    // Headers {t: "u"} are read and ignored.
    assert_eq!(
        read(&[
            0x0c, 0x94, 0x02, 0x81, 0xa1, 0x74, 0xa1, 0x75, 0xa3, 0x61, 0x62, 0x63, 0x08
        ]),
        item("8")
    );
}

#[test]
fn reads_several_messages_from_one_frame() {
    let stream = [
        0x08, 0x94, 0x02, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x08, 0x0b, 0x95, 0x03, 0x80, 0xa3, 0x61,
        0x62, 0x63, 0x03, 0xa2, 0x4f, 0x4b,
    ];
    let bodies = LengthPrefixedBuffer::new(100).push(&stream).unwrap();
    let messages: Vec<_> = bodies.iter().map(|b| decode(b).unwrap()).collect();
    assert_eq!(
        messages,
        vec![
            ClientMessage::StreamItem {
                invocation_id: "abc".into(),
                item: "8".into()
            },
            completion("abc", Ok("\"OK\"")),
        ]
    );
}

#[test]
fn reads_what_the_typescript_client_sends() {
    // invoke("Echo", "hi"): five elements, no streamIds.
    assert_eq!(
        decode(&[
            0x95, 0x01, 0x80, 0xa1, b'0', 0xa4, b'E', b'c', b'h', b'o', 0x91, 0xa2, b'h', b'i'
        ])
        .unwrap(),
        ClientMessage::Invocation {
            invocation_id: Some("0".into()),
            target: "Echo".into(),
            arguments: "[\"hi\"]".into(),
            stream_ids: Vec::new(),
            trace: None,
        }
    );
    // send("Echo", "nb"): no id.
    assert_eq!(
        decode(&[
            0x95, 0x01, 0x80, 0xc0, 0xa4, b'E', b'c', b'h', b'o', 0x91, 0xa2, b'n', b'b'
        ])
        .unwrap(),
        ClientMessage::Invocation {
            invocation_id: None,
            target: "Echo".into(),
            arguments: "[\"nb\"]".into(),
            stream_ids: Vec::new(),
            trace: None,
        }
    );
    // The end of a stream, [3,{},"2",2]; a Ping; stop()'s [7,nil].
    assert_eq!(
        decode(&[0x94, 0x03, 0x80, 0xa1, b'2', 0x02]).unwrap(),
        completion("2", Ok("null"))
    );
    assert_eq!(decode(&[0x91, 0x06]).unwrap(), ClientMessage::Ping);
    assert_eq!(
        decode(&[0x92, 0x07, 0xc0]).unwrap(),
        ClientMessage::Close {
            error: None,
            allow_reconnect: false
        }
    );
}

#[test]
fn reads_the_spec_examples() {
    let invocation = [
        0x96, 0x01, 0x80, 0xa3, 0x78, 0x79, 0x7a, 0xa6, 0x6d, 0x65, 0x74, 0x68, 0x6f, 0x64, 0x91,
        0x2a, 0x90,
    ];
    assert_eq!(
        decode(&invocation).unwrap(),
        ClientMessage::Invocation {
            invocation_id: Some("xyz".into()),
            target: "method".into(),
            arguments: "[42]".into(),
            stream_ids: Vec::new(),
            trace: None,
        }
    );
    let mut stream = invocation;
    stream[1] = 0x04;
    assert_eq!(
        decode(&stream).unwrap(),
        ClientMessage::StreamInvocation {
            invocation_id: "xyz".into(),
            target: "method".into(),
            arguments: "[42]".into(),
            stream_ids: Vec::new(),
            trace: None,
        }
    );
    // With headers {x: y, z: z} and upload streams.
    assert_eq!(
        decode(&[
            0x96, 0x01, 0x82, 0xa1, 0x78, 0xa1, 0x79, 0xa1, 0x7a, 0xa1, 0x7a, 0xa3, 0x78, 0x79,
            0x7a, 0xa6, 0x6d, 0x65, 0x74, 0x68, 0x6f, 0x64, 0x91, 0x2a, 0x92, 0xa1, b'1', 0xa1,
            b'2'
        ])
        .unwrap(),
        ClientMessage::Invocation {
            invocation_id: Some("xyz".into()),
            target: "method".into(),
            arguments: "[42]".into(),
            stream_ids: vec!["1".into(), "2".into()],
            trace: None,
        }
    );
    assert_eq!(
        decode(&[
            0x95, 0x03, 0x80, 0xa3, 0x78, 0x79, 0x7a, 0x01, 0xa5, b'E', b'r', b'r', b'o', b'r'
        ])
        .unwrap(),
        completion("xyz", Err("Error"))
    );
    assert_eq!(
        decode(&[0x95, 0x03, 0x80, 0xa3, 0x78, 0x79, 0x7a, 0x03, 0x2a]).unwrap(),
        completion("xyz", Ok("42"))
    );
    assert_eq!(
        decode(&[0x93, 0x05, 0x80, 0xa3, 0x78, 0x79, 0x7a]).unwrap(),
        ClientMessage::CancelInvocation {
            invocation_id: "xyz".into()
        }
    );
    assert_eq!(
        decode(&[0x93, 0x07, 0xa3, 0x78, 0x79, 0x7a, 0xc3]).unwrap(),
        ClientMessage::Close {
            error: Some("xyz".into()),
            allow_reconnect: true
        }
    );
    assert_eq!(
        decode(&[0x92, 0x08, 0xcc, 0x24]).unwrap(),
        ClientMessage::Ack { sequence_id: 36 }
    );
    assert_eq!(
        decode(&[0x92, 0x09, 0xcc, 0x13]).unwrap(),
        ClientMessage::Sequence { sequence_id: 19 }
    );
    assert_eq!(
        decode(&[0x92, 0x09, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap(),
        ClientMessage::Sequence {
            sequence_id: 1 << 32
        }
    );
}

#[test]
fn unknown_types_are_read_not_refused() {
    assert_eq!(
        decode(&[0x92, 0x63, 0xc0]).unwrap(),
        ClientMessage::Unknown(99)
    );
    assert_eq!(decode(&[0x91, 0xff]).unwrap(), ClientMessage::Unknown(-1));
}

#[test]
fn refuses_with_the_typescript_texts() {
    let cases: &[(&[u8], &str)] = &[
        (&[], "Invalid payload."),
        (&[0x90], "Invalid payload."),
        (&[0xc2], "Invalid payload."),
        (&[0x92, 0x01, 0x05], "Invalid headers."),
        (&[0x91, 0x01], "Invalid headers."),
        (
            &[0x92, 0x01, 0x80],
            "Invalid payload for Invocation message.",
        ),
        (
            &[0x92, 0x02, 0x80],
            "Invalid payload for StreamItem message.",
        ),
        (
            &[0x93, 0x03, 0x80, 0xa0],
            "Invalid payload for Completion message.",
        ),
        (
            &[0x94, 0x03, 0x80, 0xa0, 0x01],
            "Invalid payload for Completion message.",
        ),
        (
            &[0x94, 0x03, 0x80, 0xa0, 0x03],
            "Invalid payload for Completion message.",
        ),
        (
            &[0x94, 0x04, 0x80, 0xa0, 0xa0],
            "Invalid payload for StreamInvocation message.",
        ),
        (
            &[0x92, 0x05, 0x80],
            "Invalid payload for CancelInvocation message.",
        ),
        (&[0x91, 0x07], "Invalid payload for Close message."),
        (&[0x91, 0x08], "Invalid payload for Ack message."),
        (&[0x91, 0x09], "Invalid payload for Sequence message."),
        (
            &[0x95, 0x03, 0x80, 0xa0, 0x04, 0xc0],
            "Invalid invocation result kind.",
        ),
        (
            &[0x91, 0xa1, b'x'],
            "Reading 'messageType' as Int32 failed.",
        ),
        (
            &[0x95, 0x01, 0x80, 0x01, 0xa1, b't', 0x90],
            "Reading 'invocationId' as String failed.",
        ),
        (
            &[0x95, 0x04, 0x80, 0xc0, 0xa1, b't', 0x90],
            "Reading 'invocationId' as String failed.",
        ),
        (
            &[0x95, 0x01, 0x80, 0xc0, 0xc0, 0x90],
            "Reading 'target' as String failed.",
        ),
        (
            &[0x95, 0x01, 0x80, 0xc0, 0xa1, b't', 0x80],
            "Reading 'arguments' as Array failed.",
        ),
        (
            &[0x96, 0x01, 0x80, 0xc0, 0xa1, b't', 0x90, 0x91, 0x01],
            "Reading 'streamIds' as String failed.",
        ),
        (&[0x92, 0x08, 0xff], "Reading 'sequenceId' as Int64 failed."),
        (
            &[0x93, 0x07, 0xc0, 0x01],
            "Reading 'allowReconnect' as Boolean failed.",
        ),
    ];
    for (body, text) in cases {
        assert_eq!(
            decode(body),
            Err(ProtocolError::InvalidMessage((*text).into())),
            "{body:x?}"
        );
    }
}

#[test]
fn reading_is_bounded() {
    // An argument list declaring 2^32 - 1 elements in a ten-byte body.
    let huge = [0x95, 0x01, 0x80, 0xc0, 0xa0, 0xdd, 0xff, 0xff, 0xff, 0xff];
    assert!(decode(&huge).is_err());
    // Headers declaring 2^32 - 1 entries.
    assert!(decode(&[0x93, 0x05, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa0]).is_err());
    // An outer array declaring 2^16 - 1 elements.
    assert_eq!(
        decode(&[0xdc, 0xff, 0xff, 0x06]),
        Err(ProtocolError::InvalidMessage("Invalid payload.".into()))
    );
    // Arguments nested past the depth limit.
    let mut deep = vec![0x95, 0x01, 0x80, 0xc0, 0xa0];
    deep.extend(std::iter::repeat_n(0x91, 200));
    deep.push(0xc0);
    let err = decode(&deep).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

#[test]
fn writes_the_typescript_bytes() {
    assert_eq!(encode(&ServerMessage::Ping), [0x02, 0x91, 0x06]);
    assert_eq!(
        encode(&abc(Outcome::Error("Err".into()))),
        [
            0x0c, 0x95, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x01, 0xa3, 0x45, 0x72, 0x72
        ]
    );
    assert_eq!(
        encode(&abc(Outcome::Result("\"OK\"".into()))),
        [
            0x0b, 0x95, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x03, 0xa2, 0x4f, 0x4b
        ]
    );
    assert_eq!(
        encode(&abc(Outcome::Void)),
        [0x08, 0x94, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x02]
    );
    assert_eq!(
        encode(&abc(Outcome::Result("false".into()))),
        [0x09, 0x95, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x03, 0xc2]
    );
    assert_eq!(
        encode(&abc(Outcome::Result("null".into()))),
        [0x09, 0x95, 0x03, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x03, 0xc0]
    );
    assert_eq!(
        encode(&ServerMessage::StreamItem {
            invocation_id: "abc".into(),
            item: "8".into()
        }),
        [0x08, 0x94, 0x02, 0x80, 0xa3, 0x61, 0x62, 0x63, 0x08]
    );
}

#[test]
fn writes_the_dotnet_layouts() {
    // Six elements with empty streamIds, as .NET writes.
    assert_eq!(
        encode(&ServerMessage::Invocation {
            invocation_id: Some("xyz".into()),
            target: "method".into(),
            arguments: "[42]".into(),
        }),
        [
            0x11, 0x96, 0x01, 0x80, 0xa3, 0x78, 0x79, 0x7a, 0xa6, 0x6d, 0x65, 0x74, 0x68, 0x6f,
            0x64, 0x91, 0x2a, 0x90
        ]
    );
    assert_eq!(
        encode(&ServerMessage::Invocation {
            invocation_id: None,
            target: "method".into(),
            arguments: "[42]".into(),
        }),
        [
            0x0e, 0x96, 0x01, 0x80, 0xc0, 0xa6, 0x6d, 0x65, 0x74, 0x68, 0x6f, 0x64, 0x91, 0x2a,
            0x90
        ]
    );
    // Close always has three elements.
    assert_eq!(
        encode(&ServerMessage::Close {
            error: Some("xyz".into()),
            allow_reconnect: true
        }),
        [0x07, 0x93, 0x07, 0xa3, 0x78, 0x79, 0x7a, 0xc3]
    );
    assert_eq!(
        encode(&ServerMessage::Close {
            error: None,
            allow_reconnect: false
        }),
        [0x04, 0x93, 0x07, 0xc0, 0xc2]
    );
    assert_eq!(
        encode(&ServerMessage::Ack { sequence_id: 36 }),
        [0x03, 0x92, 0x08, 0x24]
    );
    assert_eq!(
        encode(&ServerMessage::Sequence { sequence_id: 300 }),
        [0x05, 0x92, 0x09, 0xcd, 0x01, 0x2c]
    );
}

#[test]
fn a_long_message_gets_a_two_byte_prefix() {
    let target = "t".repeat(200);
    let framed = encode(&ServerMessage::Invocation {
        invocation_id: None,
        target: target.clone(),
        arguments: "[]".into(),
    });
    // 0x96 01 80 c0, str8 (2 + 200), 0x90, 0x90: 208 bytes = 0xd0 0x01.
    assert_eq!(&framed[..2], [0xd0, 0x01]);
    assert_eq!(
        decode(&body(&framed)).unwrap(),
        ClientMessage::Invocation {
            invocation_id: None,
            target,
            arguments: "[]".into(),
            stream_ids: Vec::new(),
            trace: None,
        }
    );
}

#[test]
fn payloads_round_trip_through_json() {
    let arguments = r#"[42,true,"test",["x1","y2"],null,{"k":-1.5,"n":{}},0.005]"#;
    let framed = encode(&ServerMessage::Invocation {
        invocation_id: Some("123".into()),
        target: "myMethod".into(),
        arguments: arguments.into(),
    });
    let ClientMessage::Invocation {
        arguments: back, ..
    } = decode(&body(&framed)).unwrap()
    else {
        panic!("an invocation")
    };
    assert_eq!(back, arguments);
}

#[test]
fn keeps_the_trace_context_of_an_invocations_headers() {
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    // [1, {"n": 1, "traceparent": parent, "tracestate": "k=v", 2: "x"}, "7", "Echo", []]
    let mut body = vec![0x95, 0x01, 0x84, 0xa1, b'n', 0x01, 0xab];
    body.extend_from_slice(b"traceparent");
    body.extend_from_slice(&[0xd9, parent.len() as u8]);
    body.extend_from_slice(parent.as_bytes());
    body.push(0xaa);
    body.extend_from_slice(b"tracestate");
    body.extend_from_slice(&[0xa3, b'k', b'=', b'v', 0x02, 0xa1, b'x']);
    body.extend_from_slice(&[0xa1, b'7', 0xa4, b'E', b'c', b'h', b'o', 0x90]);
    let Ok(ClientMessage::Invocation {
        trace, arguments, ..
    }) = decode(&body)
    else {
        panic!("not an invocation");
    };
    assert_eq!(arguments, "[]");
    let trace = trace.expect("a trace context");
    assert_eq!(trace.traceparent, parent);
    assert_eq!(trace.tracestate.as_deref(), Some("k=v"));
    // A traceparent that is not a string is skipped, not refused.
    let body = [
        0x95, 0x01, 0x81, 0xab, b't', b'r', b'a', b'c', b'e', b'p', b'a', b'r', b'e', b'n', b't',
        0x91, 0x01, 0xc0, 0xa1, b'E', 0x90,
    ];
    let Ok(ClientMessage::Invocation { trace, .. }) = decode(&body) else {
        panic!("not an invocation");
    };
    assert_eq!(trace, None);
}
