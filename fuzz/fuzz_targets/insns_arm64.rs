//! cargo-fuzz target: tagmmu::fuzz::insns_arm64 (see src/fuzz.rs). `cargo +nightly fuzz run insns_arm64 fuzz/corpus/insns_arm64`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tagmmu::fuzz::insns_arm64(data));
