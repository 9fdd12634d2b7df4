//! SPARC ADI end to end: the guest programs of `programs/sparc64/adi_*.c` through the library
//! and `tagmmu exec`.

mod common;
use common::*;

use tagmmu::emu::Stop;
use tagmmu::machine::{self, MachineConfig};

#[test]
fn every_adi_behaviour_of_adi_basic_holds() {
    let r = machine::run(&MachineConfig::new(guest("sparc64/adi_basic"))).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.exit_code(), 0, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    for check in [
        "mismatching load: SEGV_ADIPERR: ok",
        "mismatching store: SEGV_ADIDERR (disrupting): ok",
        "precise store: SEGV_ADIPERR: ok",
        "versions 0 and 15 never mismatch: ok",
        "versions survive eviction: ok",
        "version store on non-ADI memory: SEGV_ACCADI: ok",
        "adi_basic: all ok",
    ] {
        assert!(out.contains(check), "missing {check:?} in\n{out}");
    }
    // Every one of the 256 blocks was versioned by an emulated stxa (Unicorn ignores ASI 0x90).
    assert!(r.stats.cpu.emulated_insns > 256, "{:?}", r.stats.cpu);
}

#[test]
fn tagging_before_enabling_adi_is_segv_accadi() {
    let o = exec(&guest("sparc64/adi_basic"), &["accadi-first"]);
    assert_eq!(o.status.code(), Some(139));
    let err = text(&o.stderr);
    assert!(err.contains("SIGSEGV (SEGV_ACCADI)"), "{err}");
}

#[test]
fn a_precise_fault_reports_both_versions() {
    let cfg = MachineConfig::new(guest("sparc64/adi_doc_example")).args(["1", "mismatch"]);
    let r = machine::run(&cfg).unwrap();
    let Stop::Killed { signal } = &r.stop else { panic!("{:?}", r.stop) };
    assert_eq!((signal.name.as_str(), signal.code_name.as_str()), ("SIGSEGV", "SEGV_ADIPERR"));
    assert_eq!(signal.addr.map(|a| a >> 60), Some(5), "si_addr keeps the pointer's version");
    let detail = signal.detail.clone().unwrap_or_default();
    assert!(detail.contains("pointer version 0x5") && detail.contains("block's version 0xa"), "{detail}");
    assert!(signal.insn.starts_with("ldub"), "the load itself: {}", signal.insn);
}

#[test]
fn without_adi_hardware_prot_adi_does_nothing_and_the_asi_does_not_exist() {
    let mut cfg = MachineConfig::new(guest("sparc64/adi_basic"));
    cfg.adi = false;
    let r = machine::run(&cfg).unwrap();
    let out = text(&r.stdout);
    assert!(out.contains("FAIL: auxv ADI block 64, 4 bits"), "AT_ADI_BLKSZ is 0: {out}");
    assert!(out.contains("mmap PROT_ADI: ok"), "5.11+ accepts PROT_ADI and ignores it: {out}");
    let Stop::Killed { signal } = &r.stop else { panic!("{:?}", r.stop) };
    assert_eq!((signal.name.as_str(), signal.code_name.as_str()), ("SIGILL", "ILL_ILLADR"));
}

#[test]
fn the_cli_refuses_instruction_tracing_on_sparc64_with_a_reason() {
    let o = tagmmu().args(["exec", "--trace=insn"]).arg(guest("sparc64/hello")).output().unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o.stderr).contains("instruction tracing on sparc64"), "{}", text(&o.stderr));
}

/// Issue 12, goal 4, on SPARC: thousands of mappings come out of the one arena (with its ADI
/// version aliases mapped once), so the engine's region count stays flat.
#[test]
fn thousands_of_mappings_on_sparc_cost_no_remapping() {
    let r = machine::run(&MachineConfig::new(guest("sparc64/mmap_churn"))).unwrap();
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}");
    assert_eq!(out.lines().filter(|l| l.ends_with(": ok")).count(), 2, "{out}");
    assert!(r.stats.cpu.engine_regions_peak <= 24, "{} engine regions", r.stats.cpu.engine_regions_peak);
}
