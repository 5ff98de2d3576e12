//! Fuzz target: see `wasmhub_protocol::fuzzing::records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmhub_protocol::fuzzing::records(data);
});
