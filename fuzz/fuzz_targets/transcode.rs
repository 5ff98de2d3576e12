//! Fuzz target: see `wasmhub_protocol::fuzzing::transcode_round_trip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmhub_protocol::fuzzing::transcode_round_trip(data);
});
