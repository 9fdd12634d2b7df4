//! cargo-fuzz target: random arm64 instruction streams through tagmmu::fuzz::insns_target (see
//! src/fuzz.rs): many inputs per machine; `TAGMMU_FUZZ_ONE_SHOT=1` runs each in a machine of
//! its own (to reproduce one). `cargo +nightly fuzz run insns_arm64 fuzz/corpus/insns_arm64`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    // The driver talks to its machine through pipes: a write to one whose machine ended must
    // be an EPIPE, not a SIGPIPE (libFuzzer's main, unlike Rust's, leaves SIGPIPE fatal).
    // SAFETY: setting a disposition, before any other thread exists.
    init: unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    },
    |data: &[u8]| tagmmu::fuzz::insns_target(tagmmu::arch::Arch::Arm64, data)
);
