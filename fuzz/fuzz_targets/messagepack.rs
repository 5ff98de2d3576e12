//! Fuzz target: see `wasmhub_protocol::fuzzing::binary_records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmhub_protocol::fuzzing::binary_records(data);
});
