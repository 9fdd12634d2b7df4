//! cargo-fuzz target: tagmmu::fuzz::insns_sparc64 (see src/fuzz.rs). `cargo +nightly fuzz run insns_sparc64 fuzz/corpus/insns_sparc64`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tagmmu::fuzz::insns_sparc64(data));
