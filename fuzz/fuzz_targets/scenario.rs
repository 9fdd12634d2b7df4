//! cargo-fuzz target: tagmmu::fuzz::scenario (see src/fuzz.rs). `cargo +nightly fuzz run scenario fuzz/corpus/scenario`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tagmmu::fuzz::scenario(data));
