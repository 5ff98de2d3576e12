//! Fuzz target: see `wasmhub_protocol::fuzzing::handshake_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmhub_protocol::fuzzing::handshake_request(data);
});
