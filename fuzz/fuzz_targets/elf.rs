//! cargo-fuzz target: tagmmu::fuzz::elf (see src/fuzz.rs). `cargo +nightly fuzz run elf fuzz/corpus/elf`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tagmmu::fuzz::elf(data));
