//! Replays every input kept under `fuzz/regressions/<target>/` (seeds and
//! every crash the fuzzers ever found) through the same properties the
//! fuzz targets check, so a fixed bug stays fixed without a fuzzer.

use std::path::PathBuf;

use wasmhub_protocol::fuzzing;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for input in inputs {
        let bytes = std::fs::read(&input).expect("a readable input");
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(outcome.is_ok(), "{} broke a property", input.display());
    }
}

#[test]
fn records() {
    replay("records", fuzzing::records);
}

#[test]
fn handshake() {
    replay("handshake", fuzzing::handshake_request);
}

#[test]
fn negotiate() {
    replay("negotiate", fuzzing::negotiate_version);
}

#[test]
fn round_trip() {
    replay("round_trip", fuzzing::invocation_round_trip);
}

#[test]
fn messagepack() {
    replay("messagepack", fuzzing::binary_records);
}

#[test]
fn transcode() {
    replay("transcode", fuzzing::transcode_round_trip);
}
