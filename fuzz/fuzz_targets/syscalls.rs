//! cargo-fuzz target: tagmmu::fuzz::syscalls (see src/fuzz.rs). `cargo +nightly fuzz run syscalls fuzz/corpus/syscalls`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tagmmu::fuzz::syscalls(data));
