//! Fuzz target: see `wasmhub_protocol::fuzzing::invocation_round_trip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmhub_protocol::fuzzing::invocation_round_trip(data);
});
