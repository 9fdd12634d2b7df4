//! arm64 MTE end to end: the corpus of `programs/arm64/mte_*.c`, one behaviour each, every
//! check passing; and the tag-check reports of the CLI.

mod common;
use common::*;

use tagmmu::emu::Stop;
use tagmmu::machine::{self, MachineConfig};
use tagmmu::mte::MteLevel;

fn corpus() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/arm64");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| (n.starts_with("mte_") || n == "uaccess_tags.c") && n.ends_with(".c"))
        .map(|n| n.trim_end_matches(".c").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn every_mte_program_passes_its_checks() {
    let names = corpus();
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        let r = machine::run(&MachineConfig::new(guest(&format!("arm64/{name}")))).unwrap();
        let out = text(&r.stdout);
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "{name}: {out}");
        assert!(!out.contains("FAIL"), "{name}: {out}");
        assert!(out.lines().count() >= 1, "{name} printed its checks");
    }
}

#[test]
fn without_mte_the_tag_instructions_are_sigill_and_prot_mte_is_einval() {
    let mut cfg = MachineConfig::new(guest("arm64/mte_prctl"));
    cfg.mte = MteLevel::None;
    let r = machine::run(&cfg).unwrap();
    assert!(text(&r.stdout).contains("FAIL: HWCAP2_MTE"), "{}", text(&r.stdout));
    let mut cfg = MachineConfig::new(guest("arm64/mte_tags_basic"));
    cfg.mte = MteLevel::None;
    let r = machine::run(&cfg).unwrap();
    // mmap(PROT_MTE) fails with EINVAL, so the program stops at its first check.
    assert!(text(&r.stderr).contains("mmap PROT_MTE: Invalid argument"), "{}", text(&r.stderr));
}

#[test]
fn an_unhandled_tag_fault_is_reported_with_both_tags() {
    let dir = scratch();
    let src = dir.path().join("f.c");
    let bin = dir.path().join("f");
    let cc = require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    std::fs::write(
        &src,
        r#"#include <sys/mman.h>
#include <sys/prctl.h>
#include <stdint.h>
int main(void) {
    prctl(PR_SET_TAGGED_ADDR_CTRL, 1 | 2 | (0xfffe << 3), 0, 0, 0);
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE | 0x20, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *t = (char *)((uintptr_t)p | (5UL << 56));
    __asm__ volatile("stg %0, [%0]" :: "r"(t) : "memory");
    *(volatile char *)((uintptr_t)p | (3UL << 56) | 4) = 1;
    return 0;
}
"#,
    )
    .unwrap();
    let st = std::process::Command::new(cc)
        .args(["-static", "-O2", "-march=armv8.5-a+memtag", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let out = exec(&bin, &[]);
    assert_eq!(out.status.code(), Some(139));
    let err = text(&out.stderr);
    assert!(err.contains("SIGSEGV (SEGV_MTESERR) at address 0x"), "{err}");
    assert!(err.contains("store through pointer tag 0x3, granule's memory tag 0x5"), "{err}");
}

/// Compile a small MTE test program from C source into `dir`.
fn build(dir: &std::path::Path, name: &str, src: &str) -> std::path::PathBuf {
    let cc = require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    let c = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&c, src).unwrap();
    let inc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/arm64");
    let st = std::process::Command::new(cc)
        .args(["-static", "-O2", "-march=armv8.5-a+memtag", "-I"])
        .arg(&inc)
        .arg("-o")
        .arg(&bin)
        .arg(&c)
        .status()
        .unwrap();
    assert!(st.success());
    bin
}

#[test]
fn asymmetric_mode_faults_loads_precisely_and_stores_later() {
    let dir = scratch();
    let bin = build(
        dir.path(),
        "asymm",
        r#"#include "mte_util.h"
int main(void) {
    set_mode(TCF_SYNC | TCF_ASYNC, 0xfffe);
    install_handler(0);
    char *p = map_mte(4096);
    stg(tag_ptr(p, 5));
    volatile char *bad = tag_ptr(p, 3);
    (void)bad[0];
    printf("load: %d code %d\n", faults, last_code);
    bad[1] = 1;
    printf("store before syscall: %d\n", faults);
    getpid();
    printf("store after syscall: %d code %d\n", faults, last_code);
    return 0;
}
"#,
    );
    let mut cfg = MachineConfig::new(&bin);
    cfg.mte = MteLevel::Mte3;
    cfg.mte_preferred = tagmmu::mte::TcfMode::Asymm;
    let r = machine::run(&cfg).unwrap();
    assert_eq!(text(&r.stdout), "load: 1 code 9\nstore before syscall: 1\nstore after syscall: 2 code 8\n");
    // On an MTE2 CPU the same request resolves to the preferred async mode.
    let mut cfg = MachineConfig::new(&bin);
    cfg.mte = MteLevel::Mte2;
    cfg.mte_preferred = tagmmu::mte::TcfMode::Asymm;
    let r = machine::run(&cfg).unwrap();
    assert!(text(&r.stdout).starts_with("load: 0 code 0\n"), "{}", text(&r.stdout));
}

#[test]
fn an_async_fault_is_reported_at_a_timer_tick_without_syscalls() {
    let dir = scratch();
    let bin = build(
        dir.path(),
        "tick",
        r#"#include "mte_util.h"
int main(void) {
    set_mode(TCF_ASYNC, 0xfffe);
    install_handler(0);
    char *p = map_mte(4096);
    stg(tag_ptr(p, 5));
    ((volatile char *)tag_ptr(p, 3))[0] = 1;
    volatile long spins = 0;
    while (!faults && spins < 100000000)
        spins++;
    printf("fault %d code %d addr %lx after %s\n", faults, last_code, (unsigned long)last_addr, spins < 100000000 ? "a tick" : "nothing");
    return 0;
}
"#,
    );
    let mut cfg = MachineConfig::new(&bin);
    cfg.tick_interval = 50_000;
    let r = machine::run(&cfg).unwrap();
    assert_eq!(text(&r.stdout), "fault 1 code 8 addr 0 after a tick\n");
}

#[test]
fn sa_expose_tagbits_shows_the_logical_tag_and_with_tagged_far_bits_63_60() {
    let dir = scratch();
    let bin = build(
        dir.path(),
        "far",
        r#"#include "mte_util.h"
int main(void) {
    set_mode(TCF_SYNC, 0xfffe);
    install_handler(0x800);
    char *p = map_mte(4096);
    stg(tag_ptr(p, 5));
    volatile char *bad = (char *)((uintptr_t)tag_ptr(p + 7, 3) | (0xaUL << 60));
    bad[0] = 1;
    printf("%lx\n", (unsigned long)(last_addr >> 56));
    printf("%d\n", last_addr << 8 == (uintptr_t)(p + 7) << 8);
    return 0;
}
"#,
    );
    let mut cfg = MachineConfig::new(&bin);
    cfg.kernel.version = "6.17".parse().unwrap();
    let r = machine::run(&cfg).unwrap();
    assert_eq!(text(&r.stdout), "a3\n1\n", "FEAT_MTE_TAGGED_FAR on a 6.16+ kernel: bits 63:60 as accessed");
    cfg.mte_far = false;
    let r = machine::run(&cfg).unwrap();
    assert_eq!(text(&r.stdout), "3\n1\n", "without it bits 63:60 read 0");
    // A kernel before 6.16 does not use FEAT_MTE_TAGGED_FAR: it clears bits 63:60.
    let r = machine::run(&MachineConfig::new(&bin)).unwrap();
    assert_eq!(text(&r.stdout), "3\n1\n", "5.19 (the default kernel) clears bits 63:60");
}

#[test]
fn store_only_mode_checks_stores_only_from_6_17_on_a_cpu_that_has_it() {
    let prog = guest("arm64/mte_store_only");
    let run = |kernel: &str, flag: bool| {
        let mut cmd = tagmmu();
        cmd.args(["exec", "--clear-env", "--kernel", kernel]);
        if flag {
            cmd.arg("--mte-store-only");
        }
        let out = cmd.arg(&prog).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(
        run("6.17", true),
        "hwcap3 store_only: 1\nprctl store-only: 0, get round-trips\n\
         load through tag 3 from a granule tagged 5: 0 fault(s)\nstore: 1 fault(s), si_code 9\n\
         write() from the buffer (copy_from_user: loads): 256\n\
         read() into the buffer (copy_to_user: stores): 64\n"
    );
    // Without the CPU feature, or on a kernel before 6.17, the bit is unknown: EINVAL, as the
    // selftests' skip path expects (no HWCAP3_MTE_STORE_ONLY).
    for (k, f) in [("6.17", false), ("6.12", true), ("5.19", true)] {
        assert_eq!(run(k, f), "hwcap3 store_only: 0\nprctl store-only: -1 EINVAL\n", "{k} {f}");
    }
}

/// Untagged programs do not pay for tags: the tag-check hooks (which send every access
/// through Unicorn's slow path) are installed only once the task has PROT_MTE memory with
/// checking on, whichever of mmap and prctl comes first, and the first tag fault after that
/// is as precise as ever.
#[test]
fn the_tag_checks_arrive_only_with_tag_checked_memory_and_stay_precise() {
    let run = |args: &[&str]| {
        let mut cfg = MachineConfig::new(guest("arm64/bench_memops"));
        cfg.args = args.iter().map(|a| a.to_string()).collect();
        machine::run(&cfg).unwrap()
    };
    let untagged = run(&["none", "1", "1"]);
    assert_eq!(untagged.stop, Stop::Exited { status: 0 });
    assert!(!untagged.stats.cpu.tag_checks_installed, "an untagged program got the tag-check hooks");
    let tagged = run(&["sync", "1", "1"]);
    assert_eq!(tagged.stop, Stop::Exited { status: 0 });
    assert!(tagged.stats.cpu.tag_checks_installed, "a PROT_MTE program in sync mode ran unchecked");

    // mmap(PROT_MTE) first, checking off; then prctl(sync): the very next store is checked.
    let dir = scratch();
    let bin = build(
        dir.path(),
        "late_prctl",
        r#"#include "mte_util.h"
int main(void) {
    char *p = map_mte(4096);
    stg(tag_ptr(p, 5));
    *(volatile char *)tag_ptr(p, 3) = 1; /* mode none: not checked */
    puts("unchecked store done");
    fflush(stdout);
    set_mode(TCF_SYNC, 0xfffe);
    *(volatile char *)((char *)tag_ptr(p, 3) + 4) = 2;
    puts("not reached");
    return 0;
}
"#,
    );
    let r = machine::run(&MachineConfig::new(&bin)).unwrap();
    assert_eq!(text(&r.stdout), "unchecked store done\n");
    assert!(r.stats.cpu.tag_checks_installed);
    let Stop::Killed { signal } = &r.stop else { panic!("{:?}", r.stop) };
    assert_eq!((signal.signo, signal.si_code), (11, 9), "SIGSEGV/SEGV_MTESERR");
    assert_eq!(signal.addr.map(|a| a & 0xfff), Some(4), "si_addr is the faulting byte");
    assert!(signal.insn.starts_with("strb"), "the PC is on the faulting store: {}", signal.insn);
}

/// glibc's own heap tagging (the most common real MTE workload) runs: with
/// `glibc.mem.tagging=3` (sync) a heap overflow into the next chunk and a use-after-free are
/// SIGSEGV/SEGV_MTESERR at the exact byte, with `=1` (async) the overflow is SEGV_MTEAERR with
/// si_addr 0, a correct program runs to the end with the same output as without tagging, and
/// without the tunable nothing is caught. The same outcomes under qemu-aarch64 -cpu max.
#[test]
fn glibc_heap_tagging_catches_an_overflow_and_a_use_after_free() {
    let prog = guest("arm64/glibc_heap_tagging");
    let run = |tagging: Option<u32>, mode: &str| {
        let mut cfg = MachineConfig::new(&prog);
        cfg.args = vec![mode.to_string()];
        cfg.env = tagging.map(|t| format!("GLIBC_TUNABLES=glibc.mem.tagging={t}")).into_iter().collect();
        machine::run(&cfg).unwrap()
    };
    // The pointer glibc returned, from the program's "p=0x..." line, without its tag.
    let p_of = |stderr: &[u8]| {
        let err = text(stderr);
        let line = err.lines().find_map(|l| l.strip_prefix("p=0x")).unwrap_or_else(|| panic!("{err}"));
        u64::from_str_radix(line, 16).unwrap()
    };
    let killed = |r: &tagmmu::report::RunResult| match &r.stop {
        Stop::Killed { signal } => (signal.signo, signal.si_code, signal.addr),
        other => panic!("{other:?}: {}", text(&r.stderr)),
    };

    let r = run(Some(3), "overflow");
    let p = p_of(&r.stderr);
    assert_ne!(p >> 56, 0, "glibc tagged the chunk pointer: {p:#x}");
    assert_eq!(killed(&r), (11, 9, Some((p & !(0xff << 56)) + 32)), "sync overflow: SEGV_MTESERR at p+32");
    assert!(!text(&r.stderr).contains("not caught"));

    let r = run(Some(3), "uaf");
    let p = p_of(&r.stderr);
    assert_eq!(killed(&r), (11, 9, Some(p & !(0xff << 56))), "use after free: SEGV_MTESERR at p");

    let r = run(Some(1), "overflow");
    assert_eq!(killed(&r), (11, 8, Some(0)), "async overflow: SEGV_MTEAERR, si_addr 0");

    let plain = run(None, "good");
    assert_eq!(plain.stop, Stop::Exited { status: 0 });
    assert!(text(&plain.stdout).starts_with("heap checksum "), "{}", text(&plain.stdout));
    for t in [1, 3] {
        let r = run(Some(t), "good");
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "tagging={t}: {}", text(&r.stderr));
        assert_eq!(r.stdout, plain.stdout, "tagging={t}");
        assert!(r.stats.cpu.tag_checks_installed, "tagging={t} really tag-checked");
        assert!(r.stats.cpu.emulated_insns > 1000, "tagging={t}: glibc tagged its chunks");
    }
    for mode in ["overflow", "uaf"] {
        let r = run(None, mode);
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "{mode} without tagging is not caught");
    }

    // The same outcomes under qemu-aarch64 -cpu max, when installed.
    if std::process::Command::new("qemu-aarch64").arg("--version").output().is_ok() {
        for (t, mode, status) in [(3, "overflow", 139), (3, "uaf", 139), (1, "overflow", 139), (3, "good", 0)] {
            let out = std::process::Command::new("qemu-aarch64")
                .args(["-cpu", "max", "-E", &format!("GLIBC_TUNABLES=glibc.mem.tagging={t}")])
                .arg(&prog)
                .arg(mode)
                .output()
                .unwrap();
            let code = out.status.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                128 + out.status.signal().unwrap_or(0)
            });
            assert_eq!(code, status, "qemu-aarch64, tagging={t} {mode}");
        }
    }
}

/// Issue 12, goal 4: every anonymous mapping is carved out of one arena the CPU maps once, so
/// thousands of PROT_MTE mappings (each once 17 emulator regions, rebuilt on every map) cost
/// no remapping, tag checks in them stay precise, and reused memory comes back zeroed and
/// untagged.
#[test]
fn thousands_of_tag_checked_mappings_cost_no_remapping() {
    let mut cfg = MachineConfig::new(guest("arm64/mte_many_maps"));
    cfg.args = vec!["4096".into()];
    let started = std::time::Instant::now();
    let r = machine::run(&cfg).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}{}", text(&r.stderr));
    assert!(!out.contains("FAIL"), "{out}");
    assert_eq!(out.lines().filter(|l| l.ends_with(": ok")).count(), 8, "{out}");
    assert!(
        r.stats.cpu.engine_regions_peak <= 24,
        "{} engine regions for 4096 mappings: mappings are not carved out of one arena",
        r.stats.cpu.engine_regions_peak
    );
    // Hours before the arena (the remapping was quadratic); well under a second in release.
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
}

/// `bench_heap` (20,000 chunks, 2 rounds) under glibc's heap tagging in sync mode: every chunk
/// its own tag, so heap pages mix tags. It must exit 0.
fn tagged_heap_run() -> tagmmu::report::RunResult {
    let mut cfg = MachineConfig::new(guest("arm64/bench_heap"));
    cfg.args = vec!["20000".into(), "2".into()];
    cfg.env = vec!["GLIBC_TUNABLES=glibc.mem.tagging=3".into()];
    let r = machine::run(&cfg).unwrap();
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{}", text(&r.stderr));
    r
}

/// Tag instructions on the C fast path (Unicorn patch 0010) keep the tag checks exact: on a
/// page of mixed tags whose tags the MMIO windows cached at a checked access, a retag by STG
/// (the page's second tag instruction, so the C path's) makes the old pointer fault at once,
/// and LDG reads the new tag.
#[test]
fn a_retag_on_the_fast_path_is_seen_by_the_next_check() {
    let dir = scratch();
    let bin = build(
        dir.path(),
        "fast_retag",
        r#"#include "mte_util.h"
int main(void) {
    set_mode(TCF_SYNC, 0xfffe);
    char *p = map_mte(4096);
    fprintf(stderr, "p=%lx\n", (unsigned long)p);
    char *t3 = tag_ptr(p, 3);
    stg(t3);                    /* the Rust path: enters the page */
    stg(tag_ptr(p + 16, 4));    /* the C path: a page of mixed tags */
    ((volatile char *)t3)[0] = 1; /* checked, and the page's tags cached */
    stg(tag_ptr(p, 5));         /* the C path: the cache must follow */
    printf("ldg %u\n", ldg(p));
    fflush(stdout);
    ((volatile char *)t3)[0] = 2;
    puts("not reached");
    return 0;
}
"#,
    );
    let r = machine::run(&MachineConfig::new(&bin)).unwrap();
    assert_eq!(text(&r.stdout), "ldg 5\n");
    assert!(r.stats.cpu.emulated_insns_fast >= 3, "{} on the fast path", r.stats.cpu.emulated_insns_fast);
    let Stop::Killed { signal } = &r.stop else { panic!("{:?}", r.stop) };
    assert_eq!((signal.signo, signal.si_code), (11, 9), "SIGSEGV/SEGV_MTESERR");
    let err = text(&r.stderr);
    let p = err.lines().find_map(|l| l.strip_prefix("p=")).map(|h| u64::from_str_radix(h, 16).unwrap());
    assert_eq!(signal.addr, p, "si_addr is the retagged granule");
}

/// The tag instructions of glibc's heap tagging mostly run on the C fast path (tagmmu's
/// Unicorn patch 0010, src/emu/arm64/tag_insn.rs), not through the Rust hook, with the same
/// output as the untagged heap. Measured: 0.83 s to 0.63 s for the whole heap benchmark.
#[test]
fn the_heaps_tag_instructions_take_the_c_fast_path() {
    let r = tagged_heap_run();
    let cpu = &r.stats.cpu;
    assert!(cpu.emulated_insns > 100_000, "{} emulated instructions", cpu.emulated_insns);
    // What stays on the Rust path: IRG (one per allocation), and the first tag instruction
    // on each page after a TLB flush or a retag of a page entered unchecked.
    assert!(
        cpu.emulated_insns_fast * 10 >= cpu.emulated_insns * 8,
        "{} of {} emulated instructions on the fast path",
        cpu.emulated_insns_fast,
        cpu.emulated_insns
    );
    let mut cfg = MachineConfig::new(guest("arm64/bench_heap"));
    cfg.args = vec!["20000".into(), "2".into()];
    let plain = machine::run(&cfg).unwrap();
    assert_eq!(plain.stop, Stop::Exited { status: 0 });
    assert_eq!(r.stdout, plain.stdout, "the tagged heap computes what the untagged one does");
    assert_eq!(plain.stats.cpu.emulated_insns_fast, 0, "no tag instruction without tagging");
}

/// `bench_memops` with `args` (tag mode, MiB, rounds). It must exit 0.
fn memops_run(args: [&str; 3]) -> tagmmu::report::RunResult {
    let mut cfg = MachineConfig::new(guest("arm64/bench_memops"));
    cfg.args = args.iter().map(|a| a.to_string()).collect();
    let r = machine::run(&cfg).unwrap();
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{}", text(&r.stderr));
    r
}

/// Issue 12, goal 2: every mmap flushes the TLB, and QEMU then resizes each MMU mode's table
/// from its count of entries in use. In Unicorn 2.1.5 that count drifts upwards with every
/// refill of a page already in the table, which a heap of mixed-tag pages does all the time,
/// so each flush doubled the table (up to 2^22 entries, a 127 ms memset per flush) unless
/// tagmmu recounts it first (src/emu/soft_tlb.rs).
#[test]
fn the_soft_tlb_is_sized_from_the_entries_really_in_use() {
    let r = tagged_heap_run();
    assert!(r.stats.cpu.tag_checks_installed);
    assert!(
        r.stats.cpu.tlb_entries_peak <= 16 * 1024,
        "{} soft-TLB entries: QEMU sized the tables from a drifted use count",
        r.stats.cpu.tlb_entries_peak
    );
    // ...but the mode in use is grown to 4096 entries (QEMU would leave it at 256 between
    // flushes, and conflict misses cost busybox gzip 11 %).
    assert!(r.stats.cpu.tlb_entries_peak >= 4096, "{} soft-TLB entries", r.stats.cpu.tlb_entries_peak);
    // Each chunk has its own tag, and a page under another tag has its own TLB entry in the
    // same slot: those refills are not capacity misses, and growing the table (a flush each
    // time) would not spare them (counted as thrash, this run made about 200 such flushes).
    assert_eq!(r.stats.cpu.tlb_grow_flushes, 0);
}

/// A tag-checked page whose granules mix tags is reached through an MMIO window, and its TLB
/// entry carries QEMU's TLB_MMIO flag. Unicorn's victim TLB compared entries with their flags
/// against the bare page address, so such an entry, once evicted, never came back: under
/// glibc's heap tagging, each chunk's tag and the headers' tag 0 share a slot, and every
/// switch between them walked the page again (tagmmu's Unicorn patch 0006).
#[test]
fn an_evicted_mixed_page_comes_back_from_the_victim_tlb() {
    let r = tagged_heap_run();
    // Measured: 169,523 fills without the patch, 67,084 with it.
    assert!(r.stats.cpu.tlb_fills < 100_000, "{} TLB fills", r.stats.cpu.tlb_fills);
}

/// Loads and stores to a mixed-tag page are checked, then performed by QEMU's own load or
/// store on the memory behind the window, without QEMU's memory dispatch and the windows'
/// MMIO callbacks (tagmmu's Unicorn patch 0007, `uc_tagmmu_direct_window`): the dispatch was
/// about a third of the tagged heap's time. A misaligned access within a page is checked
/// whole, not split into pieces that each went to the Rust check (glibc's string functions
/// make many). Measured: 2,849,641 direct accesses, 3,328 of them pieces of accesses across
/// pages, none dispatched. Without the patch all were dispatched; with misaligned accesses
/// split, 4,440,741 direct, 1.6 million of them pieces.
///
/// Since Unicorn patch 0013 most of them do not even reach the helper: the slow path of the
/// generated code checks the granule's tag against the windows' tag cache inline. Measured:
/// 2,536,152 inline, 313,489 through the helper.
#[test]
fn accesses_to_mixed_pages_skip_the_memory_dispatch() {
    let r = tagged_heap_run();
    let cpu = &r.stats.cpu;
    let checked = cpu.window_accesses_direct + cpu.window_accesses_inline;
    assert!(
        checked > 1_000_000,
        "{} direct, {} inline window accesses",
        cpu.window_accesses_direct,
        cpu.window_accesses_inline
    );
    assert!(
        cpu.window_accesses_inline > 2 * cpu.window_accesses_direct,
        "{} inline, {} through the helper: the inline checks do not take them",
        cpu.window_accesses_inline,
        cpu.window_accesses_direct
    );
    assert_eq!(cpu.window_accesses_dispatched, 0, "window accesses through QEMU's memory dispatch");
    // Only accesses across two pages are split.
    assert!(cpu.window_split_pieces * 100 < checked, "{} split pieces", cpu.window_split_pieces);
}

/// The MTE instructions, which Unicorn's QEMU does not know, are emulated by the interrupt
/// hook from inside their translation block (tagmmu's Unicorn patch 0008): the block goes on
/// after them. bench_memops tags its buffers with a loop of two STGs, an add, a compare and
/// a branch: one block per iteration. Raising EXCP_UDEF instead ended the block at each STG
/// and looked the next one up: three blocks per iteration.
#[test]
fn tag_instructions_are_emulated_without_leaving_their_block() {
    let r = memops_run(["sync", "8", "0"]);
    let cpu = &r.stats.cpu;
    // 2 x 8 MiB / 16 bytes per STG, plus the IRGs.
    assert!(cpu.emulated_insns >= 1 << 20, "{} emulated instructions", cpu.emulated_insns);
    assert!(
        cpu.blocks < cpu.emulated_insns * 3 / 4,
        "{} blocks for {} emulated instructions: each one ended its block",
        cpu.blocks,
        cpu.emulated_insns
    );
}

/// bench_memops tags its two 8 MiB halves in turn, one STG each, so the C fast path's table
/// must hold pages a power of two apart at once (it is hashed): with `page % 1024` as the slot
/// they evicted each other at every STG and all 1 M went through Rust (0.13 s against 0.09 s
/// for `bench_memops sync 8 4`).
#[test]
fn tagging_two_buffers_in_turn_stays_on_the_fast_path() {
    let r = memops_run(["sync", "8", "0"]);
    let cpu = &r.stats.cpu;
    assert!(
        cpu.emulated_insns_fast * 100 >= cpu.emulated_insns * 99,
        "{} of {} emulated instructions on the fast path",
        cpu.emulated_insns_fast,
        cpu.emulated_insns
    );
}

/// A program that touches more pages than the soft TLB holds, and maps nothing new while it
/// does, gets a TLB that fits: QEMU resizes only at a flush, so tagmmu flushes once the fills
/// since the last flush pass twice the table (src/emu/soft_tlb.rs, `thrash_limit`).
/// bench_memops: 4096 pages (memset, then memcpy across two 8 MiB halves), 4 rounds. In
/// QEMU's 256-entry table every page was refilled on every pass: 32,892 fills.
#[test]
fn a_thrashing_soft_tlb_is_grown_without_waiting_for_a_flush() {
    let r = memops_run(["off", "8", "4"]);
    let cpu = &r.stats.cpu;
    assert!(cpu.tlb_grow_flushes >= 4, "{} grow flushes", cpu.tlb_grow_flushes);
    assert!(cpu.tlb_entries_peak >= 4096, "{} entries", cpu.tlb_entries_peak);
    // The first round fills each page, then the table holds them all.
    assert!(cpu.tlb_fills < 16_000, "{} TLB fills", cpu.tlb_fills);
}

/// Issue 12, goal 2: a page whose granules all carry the pointer's tag is entered in the TLB
/// unchecked (no hook, Unicorn's fast path), and a tag store into it, or into the first
/// granule of the next page (where an access running off the page's end lands), takes that
/// entry away again: the next mismatching access still faults, precisely.
#[test]
fn pages_entered_unchecked_are_rechecked_after_a_tag_store() {
    let dir = scratch();
    let bin = build(
        dir.path(),
        "retag",
        r#"#include <stdlib.h>
#include "mte_util.h"
int main(int argc, char **argv) {
    set_mode(TCF_SYNC, 0xfffe);
    char *p = map_mte(2 * 4096);
    fprintf(stderr, "p=%lx\n", (unsigned long)p);
    char *t3 = tag_ptr(p, 3);
    for (int g = 0; g < 2 * 4096; g += 16)
        stg(t3 + g);
    for (int i = 0; i < 4096; i++)
        ((volatile char *)t3)[i] = 1; /* every granule matches: entered unchecked */
    int next = argc > 1 && argv[1][0] == 'n';
    stg(tag_ptr(next ? p + 4096 : p + 256, 5));
    puts("retagged");
    fflush(stdout);
    if (next)
        *(volatile unsigned long *)(t3 + 4092) = 2; /* runs 4 bytes into the next page */
    else
        ((volatile char *)t3)[256] = 2;
    puts("not reached");
    return 0;
}
"#,
    );
    for (arg, addr) in [("same", 256u64), ("next", 4096)] {
        let mut cfg = MachineConfig::new(&bin);
        cfg.args = vec![arg.into()];
        let r = machine::run(&cfg).unwrap();
        assert_eq!(text(&r.stdout), "retagged\n", "{arg}");
        assert!(r.stats.cpu.unchecked_tlb_fills > 0, "{arg}: the matching page was entered unchecked");
        let Stop::Killed { signal } = &r.stop else { panic!("{arg}: {:?}", r.stop) };
        assert_eq!((signal.signo, signal.si_code), (11, 9), "{arg}: SIGSEGV/SEGV_MTESERR");
        let err = text(&r.stderr);
        let p = err.lines().find_map(|l| l.strip_prefix("p=")).map(|h| u64::from_str_radix(h, 16).unwrap());
        assert_eq!(signal.addr, p.map(|p| p + addr), "{arg}: si_addr is the retagged granule");
        assert!(signal.insn.starts_with("st"), "{arg}: the PC is on the faulting store: {}", signal.insn);
    }
}

/// Unicorn patch 0013 checks accesses to mixed-tag pages inline, in the generated code's slow
/// path. `mte_inline_checks` warms a mixed page, then makes the same code sites pass and fault
/// (a load and a store into another tag's granule, across a granule boundary, an STP whose
/// second half faults, a retag, a store ending at the end of the page): every check holds, and
/// the inline path took most of the accesses. With the inline tag comparison removed, nine
/// checks fail; without the check of the granule after a store ending at a boundary, the
/// STP's first half is written (both checked by editing the patch).
#[test]
fn inline_window_checks_keep_tag_faults_precise() {
    let r = machine::run(&MachineConfig::new(guest("arm64/mte_inline_checks"))).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    assert_eq!(out.lines().filter(|l| l.ends_with(": ok")).count(), 12, "{out}");
    let cpu = &r.stats.cpu;
    assert!(
        cpu.window_accesses_inline > cpu.window_accesses_direct,
        "{} inline, {} through the helper",
        cpu.window_accesses_inline,
        cpu.window_accesses_direct
    );
}
