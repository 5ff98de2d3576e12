//! Properties of the codecs that read client bytes, for the fuzz targets
//! in `fuzz/` and for the regression test that replays every input they
//! ever found (`protocol/tests/fuzz_regressions.rs`). Each function takes
//! arbitrary bytes and panics only when a property is broken.

use serde_json::Value;

use super::framing::{HandshakeBuffer, LengthPrefixedBuffer, RecordBuffer};
use super::json::{self, ClientMessage};
use super::message::{Outcome, ServerMessage};
use super::{RECORD_SEPARATOR, handshake, messagepack, negotiate, transcode};

/// Largest record the framing target allows (small, so that the size
/// limit is hit often).
const MAX_RECORD: usize = 1024;

/// Bytes cut into frames (the first byte picks the cut points) and fed to
/// the record buffer: records come out exactly as they went in, in order,
/// and every one parses to a message or a protocol error, never a panic.
pub fn records(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(seed % 31) + 1;
    let mut buffer = RecordBuffer::new(MAX_RECORD);
    let mut seen: Vec<u8> = Vec::new();
    for frame in stream.chunks(step) {
        match buffer.push(frame) {
            Ok(records) => {
                for record in records {
                    assert!(record.len() <= MAX_RECORD, "a record over the limit");
                    assert!(!record.contains(&RECORD_SEPARATOR));
                    seen.extend_from_slice(&record);
                    seen.push(RECORD_SEPARATOR);
                    message(&record);
                }
            }
            Err(_) => return,
        }
    }
    let complete = stream
        .iter()
        .rposition(|&b| b == RECORD_SEPARATOR)
        .map_or(0, |i| i + 1);
    assert_eq!(seen, &stream[..complete], "records are the stream's");
}

/// One record through the JSON parser: what it accepts holds together,
/// and what the server can say back survives our encoder and parser.
pub fn message(record: &[u8]) {
    if let Ok(message) = json::decode(record) {
        payloads_are_json(&message);
        round_trip(&message, |m| {
            let frame = json::encode(m);
            let record = frame
                .strip_suffix(&[RECORD_SEPARATOR])
                .expect("a separator");
            json::decode(record).expect("our own JSON record parses")
        });
    }
}

/// Arguments are JSON arrays, items and results JSON values.
fn payloads_are_json(message: &ClientMessage) {
    let json = |text: &str| {
        serde_json::from_str::<&serde_json::value::RawValue>(text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    };
    match message {
        ClientMessage::Invocation { arguments, .. }
        | ClientMessage::StreamInvocation { arguments, .. } => {
            assert!(arguments.starts_with('['), "arguments not an array");
            json(arguments);
        }
        ClientMessage::StreamItem { item, .. } => json(item),
        ClientMessage::Completion {
            result: Ok(result), ..
        } => json(result),
        _ => {}
    }
}

/// The server form of a client message, where there is one.
fn server_form(message: &ClientMessage) -> Option<ServerMessage> {
    Some(match message.clone() {
        ClientMessage::Invocation {
            invocation_id,
            target,
            arguments,
            ..
        } => ServerMessage::Invocation {
            invocation_id,
            target,
            arguments,
        },
        ClientMessage::StreamItem {
            invocation_id,
            item,
        } => ServerMessage::StreamItem {
            invocation_id,
            item,
        },
        ClientMessage::Completion {
            invocation_id,
            result,
        } => ServerMessage::Completion {
            invocation_id,
            outcome: result.map_or_else(Outcome::Error, Outcome::Result),
        },
        ClientMessage::Ping => ServerMessage::Ping,
        ClientMessage::Close {
            error,
            allow_reconnect,
        } => ServerMessage::Close {
            error,
            allow_reconnect,
        },
        ClientMessage::Ack { sequence_id } => ServerMessage::Ack { sequence_id },
        ClientMessage::Sequence { sequence_id } => ServerMessage::Sequence { sequence_id },
        ClientMessage::StreamInvocation { .. }
        | ClientMessage::CancelInvocation { .. }
        | ClientMessage::Unknown(_) => return None,
    })
}

/// Sends a message's server form through `codec` (encode, then decode
/// as a client record): the same message comes back, payloads equal as
/// JSON values.
fn round_trip(message: &ClientMessage, codec: impl Fn(&ServerMessage) -> ClientMessage) {
    let Some(server) = server_form(message) else {
        return;
    };
    let back = codec(&server);
    let mut expected = message.clone();
    // A server record carries no upload streams (nor headers:
    // `same_message` ignores the trace).
    if let ClientMessage::Invocation { stream_ids, .. } = &mut expected {
        stream_ids.clear();
    }
    assert!(
        same_message(&expected, &back),
        "{expected:?} came back as {back:?}"
    );
}

fn same_message(a: &ClientMessage, b: &ClientMessage) -> bool {
    use ClientMessage as M;
    match (a, b) {
        (
            M::Invocation {
                invocation_id: i1,
                target: t1,
                arguments: a1,
                stream_ids: s1,
                ..
            },
            M::Invocation {
                invocation_id: i2,
                target: t2,
                arguments: a2,
                stream_ids: s2,
                ..
            },
        ) => i1 == i2 && t1 == t2 && same_json(a1, a2) && s1 == s2,
        (
            M::StreamItem {
                invocation_id: i1,
                item: v1,
            },
            M::StreamItem {
                invocation_id: i2,
                item: v2,
            },
        )
        | (
            M::Completion {
                invocation_id: i1,
                result: Ok(v1),
            },
            M::Completion {
                invocation_id: i2,
                result: Ok(v2),
            },
        ) => i1 == i2 && same_json(v1, v2),
        _ => a == b,
    }
}

/// Two JSON texts hold the same value; numbers compare as numbers
/// (`2.0` is `2`: JSON has one number type).
pub fn same_json(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => same_value(&a, &b),
        _ => false,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x.is_f64() || y.is_f64()) && x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// Bytes cut into frames (the first byte picks the cut points) and fed to
/// the length-prefixed buffer: bodies come out as they went in, in order,
/// and each one goes through [`messagepack_message`].
pub fn binary_records(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(seed % 31) + 1;
    let mut buffer = LengthPrefixedBuffer::new(MAX_RECORD);
    let mut seen = Vec::new();
    for frame in stream.chunks(step) {
        let Ok(bodies) = buffer.push(frame) else {
            return;
        };
        for body in bodies {
            assert!(body.len() <= MAX_RECORD, "a body over the limit");
            messagepack_message(&body);
            seen.push(body);
        }
    }
    let whole = LengthPrefixedBuffer::new(MAX_RECORD).push(stream);
    assert_eq!(Ok(seen), whole, "bodies do not depend on the frame cuts");
}

/// One MessagePack body through the decoder: what it accepts holds
/// together and survives our MessagePack and JSON encoders.
pub fn messagepack_message(body: &[u8]) {
    let Ok(message) = messagepack::decode(body) else {
        return;
    };
    payloads_are_json(&message);
    round_trip(&message, |m| {
        let framed = messagepack::encode(m);
        let mut reader = LengthPrefixedBuffer::new(usize::MAX);
        let bodies = reader.push(&framed).expect("our own framing reads");
        assert!(bodies.len() == 1 && !reader.has_partial(), "one whole body");
        messagepack::decode(&bodies[0]).expect("our own message decodes")
    });
    round_trip(&message, |m| {
        let frame = json::encode(m);
        let record = frame
            .strip_suffix(&[RECORD_SEPARATOR])
            .expect("a separator");
        json::decode(record).expect("our own JSON record parses")
    });
}

/// Any MessagePack value that reads as JSON is written back from that
/// JSON as a value that reads as the same JSON value.
pub fn transcode_round_trip(data: &[u8]) {
    let Ok(text) = transcode::msgpack_to_json(data) else {
        return;
    };
    let mut bytes = Vec::new();
    transcode::json_to_msgpack(&text, &mut bytes)
        .unwrap_or_else(|e| panic!("our JSON does not parse ({e}): {text}"));
    let back = transcode::msgpack_to_json(&bytes).expect("our MessagePack reads");
    assert!(same_json(&text, &back), "{text} came back as {back}");
}

/// A handshake request: parsed or refused with a reason, never a panic;
/// and the handshake buffer splits at the first separator, keeping the
/// rest raw.
pub fn handshake_request(data: &[u8]) {
    if let Err(reason) = handshake::parse_request(data) {
        assert!(!reason.is_empty(), "a refusal without a reason");
    }
    let mut buffer = HandshakeBuffer::new(MAX_RECORD);
    let mut out = None;
    for (i, chunk) in data.chunks(7).enumerate() {
        match buffer.push(chunk) {
            Ok(None) => {}
            Ok(Some((record, mut rest))) => {
                rest.extend_from_slice(&data[((i + 1) * 7).min(data.len())..]);
                out = Some((record, rest));
                break;
            }
            Err(_) => return,
        }
    }
    if let Some(end) = data.iter().position(|&b| b == RECORD_SEPARATOR) {
        if end <= MAX_RECORD {
            assert_eq!(out, Some((data[..end].to_vec(), data[end + 1..].to_vec())));
        }
    } else {
        assert_eq!(out, None);
    }
}

/// A `negotiateVersion` query value: only versions 0 and 1 come out.
pub fn negotiate_version(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(version) = negotiate::version(Some(text)) {
        assert!(version <= 1, "negotiate version {version}");
    }
}

/// Strings the server writes (ids, method names) survive a round trip
/// through our encoder and our parser unchanged.
pub fn invocation_round_trip(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (id, target) = text.split_at(middle);
    if target.is_empty() {
        return;
    }
    let frame = json::invocation(Some(id), target, "[1,\"x\"]");
    let record = frame
        .strip_suffix(&[RECORD_SEPARATOR])
        .expect("a separator");
    match json::parse(record) {
        Ok(ClientMessage::Invocation {
            invocation_id,
            target: parsed,
            arguments,
            ..
        }) => {
            assert_eq!(invocation_id.as_deref(), Some(id));
            assert_eq!(parsed, target);
            assert_eq!(arguments, "[1,\"x\"]");
        }
        other => panic!("our own invocation parsed as {other:?}"),
    }
}
