//! The SPARC T4/M7 user instructions: code built with `-mcpu=niagara4` runs correctly (CBcond
//! emulated, the VIS3 integer instructions and FP <-> integer moves executed), and the words
//! Unicorn would run silently wrong, or crash on, are SIGILL.

mod common;
use common::*;

use tagmmu::emu::Stop;
use tagmmu::machine::{self, MachineConfig};

#[test]
fn niagara4_code_prints_what_the_same_source_for_plain_v9_prints() {
    let n4 = machine::run(&MachineConfig::new(guest("sparc64/niagara4"))).unwrap();
    let v9 = machine::run(&MachineConfig::new(guest("sparc64/niagara4_v9"))).unwrap();
    assert_eq!(n4.stop, Stop::Exited { status: 0 }, "{}{}", text(&n4.stdout), text(&n4.stderr));
    assert_eq!(v9.stop, Stop::Exited { status: 0 });
    assert!(text(&n4.stdout).ends_with("niagara4: all ok\n"), "{}", text(&n4.stdout));
    assert_eq!(text(&n4.stdout), text(&v9.stdout));
    // The niagara4 build really went through the emulated CBcond and VIS3 instructions.
    assert!(
        n4.stats.cpu.emulated_insns > v9.stats.cpu.emulated_insns + 100,
        "{} vs {}",
        n4.stats.cpu.emulated_insns,
        v9.stats.cpu.emulated_insns
    );
}

#[test]
fn words_unicorn_would_run_wrong_are_sigill_and_cbcond_runs() {
    let r = machine::run(&MachineConfig::new(guest("sparc64/t4_illegal"))).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}");
    assert!(!out.contains("FAIL") && out.ends_with("t4: all ok\n"), "{out}");
    for what in ["crypto", "BPr with a reserved rcond", "CBcond with a reserved condition", "block-init ASI"] {
        assert_eq!(r.notices.iter().filter(|n| n.contains(what)).count(), 1, "{what}: {:?}", r.notices);
    }
}

/// Only code is patched: the ELF's executable sections, never .rodata sharing their segment.
#[test]
fn only_the_executable_sections_are_scanned() {
    let image = tagmmu::kernel_stub::binfmt_elf::load_file(&guest("sparc64/niagara4"), None).unwrap();
    assert!(!image.code_ranges.is_empty());
    let exec: Vec<_> = image.segments.iter().filter(|s| s.prot.contains(tagmmu::kernel_stub::mm::Prot::EXEC)).collect();
    let code: u64 = image.code_ranges.iter().map(|(s, e)| e - s).sum();
    let segs: u64 = exec.iter().map(|s| s.memsz).sum();
    assert!(code < segs, "the executable segment also holds data ({code} of {segs} bytes are code)");
    for &(s, e) in &image.code_ranges {
        assert!(exec.iter().any(|g| g.vaddr <= s && e <= g.vaddr + g.memsz), "{s:#x}..{e:#x}");
    }
}

/// Code written at run time gets the same treatment as the image's text, and so does each
/// rewrite of it by the program's own stores (src/emu/sparc64/runtime_code.rs): an ADI
/// version load, then a CBcond over it, then a reserved-rcond BPr (which crashed the host
/// before) over that, each run from the same address after the program rewrote it; and code
/// that stores into its own page, flushes and runs the word it stored (the store was refused
/// for ever: the run never ended).
#[test]
fn run_time_code_is_patched_and_rescanned_after_every_rewrite() {
    let r = machine::run(&MachineConfig::new(guest("sparc64/jit_patches"))).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}");
    for line in [
        "jit_patches: version 5\n",
        "jit_patches: cbcond 7\n",
        "jit_patches: reserved bpr sigill 8\n",
        "jit_patches: self store 11\n",
        "jit_patches: kernel write 7 then 12\n",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    assert_eq!(r.notices.iter().filter(|n| n.contains("BPr with a reserved rcond")).count(), 1, "{:?}", r.notices);
}

/// SPARC's data segment is RWX: the kernel writes there (a signal frame on an alternate stack
/// in .bss, a `read(2)` into a static buffer) dropped every translation (a third of the
/// instruction-stream fuzz harness's time). Only writes into pages the CPU fetched from drop
/// translations now, and only those pages' (Unicorn patch 0018; all of them went before,
/// 2.4 times per input of the SPARC fuzz harness, whose words spill register windows onto
/// their own code page), and code rewritten by `read(2)` still runs new
/// (`common/jit_rewrite`).
#[test]
fn kernel_writes_drop_translations_only_where_code_was_fetched() {
    let data = tagmmu::kernel_stub::binfmt_elf::load_file(&guest("sparc64/signals"), None).unwrap();
    let rwx = tagmmu::kernel_stub::mm::Prot::RW | tagmmu::kernel_stub::mm::Prot::EXEC;
    assert!(data.segments.iter().any(|s| s.prot == rwx), "the data segment is RWX");
    let r = machine::run(&MachineConfig::new(guest("sparc64/signals"))).unwrap();
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{}", text(&r.stdout));
    assert_eq!(r.stats.cpu.code_flushes, 0, "signal frames on the static alternate stack");
    for arch in ["sparc64", "arm64"] {
        let r = machine::run(&MachineConfig::new(guest(&format!("{arch}/jit_rewrite")))).unwrap();
        let out = text(&r.stdout);
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}");
        assert!(out.contains("jit_rewrite: rwx 1 then 2\n") && out.contains("mprotect 3 then 4\n"), "{out}");
        assert!(
            r.stats.cpu.code_pages_invalidated >= 2,
            "{arch}: {} pages: read(2) and pread(2) over code",
            r.stats.cpu.code_pages_invalidated
        );
        assert_eq!(r.stats.cpu.code_flushes, 0, "{arch}: every translation dropped");
    }
}

/// Register windows the kernel cannot store (`programs/sparc64/held_windows.c`): Linux holds
/// them (thread_info's `reg_window[]`), hands them to the handler in the frame's
/// `rwin_save`, takes them back at sigreturn, and raises SIGSEGV (SI_KERNEL) when they still
/// cannot be written. tagmmu killed the task at the first such window.
#[test]
fn windows_the_kernel_cannot_store_go_to_the_handler_in_rwin_save() {
    let r = machine::run(&MachineConfig::new(guest("sparc64/held_windows"))).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}{}", text(&r.stderr));
    assert!(!out.contains("FAIL") && out.ends_with("held_windows: all ok\n"), "{out}");
    assert_eq!(out.lines().filter(|l| l.ends_with(" ok")).count(), 13, "{out}");
}
