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
        .filter(|n| n.starts_with("mte_") && n.ends_with(".c"))
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
