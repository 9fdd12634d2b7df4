//! Processes end to end: fork, wait, SIGCHLD, pipes, memory and MTE tags across fork, kill,
//! process groups, exec in a child (programs/arm64/processes.c); and the deadlock of a
//! parent waiting for a child that waits for it.

mod common;
use common::*;

use tagmmu::emu::Stop;
use tagmmu::machine::{self, MachineConfig};

#[test]
fn fork_wait_signals_pipes_memory_and_tags_behave_as_on_linux() {
    let prog = guest("arm64/processes");
    let bytes = std::fs::read(&prog).unwrap();
    let r = machine::run(&MachineConfig::new(&prog).file("/bin/processes", bytes)).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}{}", text(&r.stderr));
    assert!(!out.contains("FAIL") && !out.contains("skipped"), "{out}");
    for check in [
        "the child's writes to MAP_SHARED memory are the parent's too: ok",
        "the child's retagging of private memory stays its own: ok",
        "the child's retagging of MAP_SHARED memory is the parent's too: ok",
        "a tag fault in the child kills the child only: ok",
        "waitid reports CLD_EXITED, the pid and the status: ok",
        "a child execs another program and its status comes back: ok",
    ] {
        assert!(out.contains(check), "{check} missing from\n{out}");
    }
    // The children that died of a signal are named for the user.
    let killed: Vec<&String> = r.notices.iter().filter(|n| n.contains("killed by")).collect();
    assert_eq!(killed.len(), 3, "{:?}", r.notices);
}

#[test]
fn equal_seeds_give_identical_multi_process_runs() {
    let prog = guest("arm64/processes");
    let run = |seed: u64| {
        let mut cfg = MachineConfig::new(&prog);
        cfg.kernel.seed = seed;
        cfg.trace.syscalls = true;
        cfg.trace.keep = true;
        let r = machine::run(&cfg).unwrap();
        let trace: Vec<String> = r.trace.iter().map(|e| e.line()).collect();
        (r.stdout, trace, r.stats.cpu.instructions)
    };
    assert_eq!(run(3), run(3));
}

#[test]
fn vfork_posix_spawn_and_system_share_memory_until_exec() {
    // sparc64: vfork and posix_spawn (no shell there to check system() with).
    let prog = guest("sparc64/spawn");
    let r = machine::run(&MachineConfig::new(&prog).file("/bin/spawn", std::fs::read(&prog).unwrap())).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}{}", text(&r.stderr));
    assert_eq!(out.matches(": ok").count(), 4, "{out}");
    let prog = guest("arm64/spawn");
    let busybox = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/corpus/arm64/busybox");
    assert!(busybox.is_file(), "{} is missing: run `make setup`", busybox.display());
    let cfg = MachineConfig::new(&prog)
        .file("/bin/spawn", std::fs::read(&prog).unwrap())
        .file("/bin/sh", std::fs::read(&busybox).unwrap());
    let r = machine::run(&cfg).unwrap();
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}{}", text(&r.stderr));
    assert_eq!(out.matches(": ok").count(), 5, "{out}");
    assert!(r.notices.is_empty(), "{:?}", r.notices);
}

#[test]
fn fork_on_sparc64_copies_private_adi_versions_and_shares_shared_ones() {
    let prog = guest("sparc64/fork_adi");
    let bytes = std::fs::read(&prog).unwrap();
    for seed in [0, 1, 2] {
        let mut cfg = MachineConfig::new(&prog).file("/bin/fork_adi", bytes.clone());
        cfg.kernel.seed = seed;
        let r = machine::run(&cfg).unwrap();
        let out = text(&r.stdout);
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "seed {seed}: {out}{}", text(&r.stderr));
        assert_eq!(out.matches(": ok").count(), 8, "seed {seed}: {out}");
        assert!(r.notices.iter().any(|n| n.contains("killed by SIGSEGV")), "{:?}", r.notices);
    }
}
