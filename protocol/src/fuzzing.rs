//! Properties of the codecs that read client bytes, for the fuzz targets
//! in `fuzz/` and for the regression test that replays every input they
//! ever found (`host/tests/fuzz_regressions.rs`). Each function takes
//! arbitrary bytes and panics only when a property is broken.

use super::framing::RecordBuffer;
use super::json::{self, ClientMessage};
use super::{RECORD_SEPARATOR, handshake, negotiate};

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

/// One record through the JSON parser: what it accepts holds together.
pub fn message(record: &[u8]) {
    match json::parse(record) {
        Ok(ClientMessage::Invocation { arguments, .. }) => {
            assert!(arguments.starts_with('['), "arguments not an array");
            serde_json::from_str::<&serde_json::value::RawValue>(&arguments)
                .expect("arguments are JSON");
        }
        Ok(ClientMessage::Completion {
            result: Ok(result), ..
        }) => {
            serde_json::from_str::<&serde_json::value::RawValue>(&result)
                .expect("a result is JSON");
        }
        Ok(_) | Err(_) => {}
    }
}

/// A handshake request: parsed or refused with a reason, never a panic.
pub fn handshake_request(data: &[u8]) {
    if let Err(reason) = handshake::parse_request(data) {
        assert!(!reason.is_empty(), "a refusal without a reason");
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
