//! The soft TLB's upkeep, seen through the run's counters: what a fault costs it.

mod common;
use common::*;

use tagmmu::emu::{EmuStats, Stop};
use tagmmu::machine::{self, MachineConfig};

/// The instruction-stream harness, one-shot, over `words` (big-endian on SPARC): its answer
/// and the CPU's counters.
fn harness(arch: &str, words: &[u32]) -> (String, EmuStats) {
    let bytes: Vec<u8> =
        words.iter().flat_map(|w| if arch == "sparc64" { w.to_be_bytes() } else { w.to_le_bytes() }).collect();
    let mut cfg = MachineConfig::new(guest(&format!("{arch}/insn_fuzz")));
    cfg.files.push(("/input".into(), bytes));
    let r = machine::run(&cfg).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{arch}: {out}");
    (out, r.stats.cpu)
}

/// A refused access (here SIGSEGV: a load from address 24, which nothing maps) is served
/// through a TLB entry for the fault window; only that page's entry must go before the CPU
/// runs again. The whole TLB went at each one: the instruction-stream fuzz target takes
/// about 40 faults per input on arm64, and the flushes (each followed by refills of every
/// page in use) were a quarter of its time. Forty more faults now cost forty page flushes
/// and not one more full flush.
#[test]
fn a_fault_drops_one_tlb_page_not_the_whole_tlb() {
    // arm64: ldr x0, [x3] (x3 = 24); SPARC: ldx [%g3], %o0 (%g3 = 24).
    for (arch, load) in [("arm64", 0xf940_0060u32), ("sparc64", 0xd058_c000)] {
        let (one_out, one) = harness(arch, &[load]);
        let (many_out, many) = harness(arch, &[load; 41]);
        // (The zero word after the words ends them: an illegal instruction.)
        assert!(one_out.contains("insn_fuzz: 2 faults (1 ill, 1 segv"), "{arch}: {one_out}");
        assert!(many_out.contains("insn_fuzz: 42 faults (1 ill, 41 segv"), "{arch}: {many_out}");
        assert_eq!(many.tlb_flushes, one.tlb_flushes, "{arch}: full flushes, 1 fault then 41");
        assert!(
            many.tlb_page_flushes >= one.tlb_page_flushes + 40,
            "{arch}: page flushes {} then {}",
            one.tlb_page_flushes,
            many.tlb_page_flushes
        );
    }
}
