//! Fuzz target: see `wasmhub_protocol::fuzzing::negotiate_version`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmhub_protocol::fuzzing::negotiate_version(data);
});
