//! Threads end to end: glibc's pthreads (clone3, futex, robust lists, tgkill) on the seeded
//! scheduler, per-thread MTE state, a fault in one thread, and a deadlock of all of them.

mod common;
use common::*;

use tagmmu::emu::Stop;
use tagmmu::machine::{self, MachineConfig};

fn run(mode: &str, seed: u64, quantum: Option<u64>) -> tagmmu::report::RunResult {
    let mut cfg = MachineConfig::new(guest("arm64/threads")).args([mode]);
    cfg.kernel.seed = seed;
    if let Some(q) = quantum {
        cfg.quantum = q;
    }
    machine::run(&cfg).unwrap()
}

#[test]
fn pthreads_mutexes_condvars_pipes_signals_and_robust_mutexes_work() {
    let r = run("basic", 0, None);
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}{}", text(&r.stderr));
    assert!(!out.contains("FAIL"), "{out}");
    for check in [
        "4 threads x 2000 increments under a mutex: ok",
        "a read sleeps until another thread writes the pipe: ok",
        "the handler ran on the thread tgkill named: ok",
        "EOWNERDEAD (the robust list): ok",
        "sleeping threads wake in deadline order (1, 2, 3 ms): ok",
        "the sleeps overlap: about 3 ms in all, not 6: ok",
    ] {
        assert!(out.contains(check), "{check} missing from\n{out}");
    }
    assert!(r.notices.is_empty(), "nothing refused: {:?}", r.notices);
}

#[test]
fn the_trace_names_the_thread_of_each_syscall_once_there_are_several() {
    let mut cfg = MachineConfig::new(guest("arm64/threads")).args(["mte"]);
    cfg.trace.syscalls = true;
    cfg.trace.keep = true;
    let r = machine::run(&cfg).unwrap();
    let lines: Vec<String> = r.trace.iter().map(|e| e.line()).collect();
    let first_clone = lines.iter().position(|l| l.contains("clone(")).expect("a clone in the trace");
    assert!(lines[..first_clone].iter().all(|l| !l.starts_with("[tid")), "one thread: no tids");
    let tids: std::collections::BTreeSet<&str> =
        lines.iter().filter_map(|l| l.strip_prefix("[tid ")?.split(']').next()).collect();
    assert_eq!(tids.len(), 6, "the main thread and five others: {tids:?}");
}

#[test]
fn equal_seeds_give_identical_runs_and_different_seeds_other_interleavings() {
    let a = run("interleave", 7, None);
    let b = run("interleave", 7, None);
    assert_eq!(a.stop, Stop::Exited { status: 0 }, "{}", text(&a.stdout));
    assert_eq!(a.stdout, b.stdout, "equal seeds, equal interleaving");
    assert_eq!(a.stats.cpu.instructions, b.stats.cpu.instructions);
    let orders: std::collections::BTreeSet<Vec<u8>> = (1..=4).map(|s| run("interleave", s, None).stdout).collect();
    assert!(orders.len() >= 3, "seeds 1-4 interleave differently: {orders:?}");
    // A short quantum switches far more often than a long one.
    let changes = |r: &tagmmu::report::RunResult| {
        let out = text(&r.stdout);
        let n = out.split(" entries, ").nth(1).and_then(|s| s.split(' ').next()).unwrap_or_else(|| panic!("{out}"));
        n.parse::<u32>().unwrap()
    };
    let (short, long) = (run("interleave", 1, Some(200)), run("interleave", 1, Some(1_000_000)));
    assert!(changes(&short) > 10 * changes(&long).max(1), "{} vs {}", text(&short.stdout), text(&long.stdout));
}

#[test]
fn each_thread_keeps_its_own_tag_check_mode_and_include_mask() {
    for seed in [0, 1] {
        let r = run("mte", seed, Some(500));
        let out = text(&r.stdout);
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}");
        assert!(out.contains("across switches: ok") && !out.contains("FAIL"), "{out}");
    }
}

#[test]
fn a_tag_fault_in_a_thread_kills_the_process() {
    let r = run("fault", 0, None);
    match &r.stop {
        Stop::Killed { signal } => {
            assert_eq!((signal.signo, signal.si_code), (11, 9), "SIGSEGV/SEGV_MTESERR: {signal:?}");
        }
        other => panic!("{other:?}: {}", text(&r.stdout)),
    }
    assert!(!text(&r.stdout).contains("FAIL"));
}

#[test]
fn when_every_thread_sleeps_for_ever_the_run_is_a_deadlock_naming_each() {
    let r = run("deadlock", 0, None);
    let Stop::Deadlock { reason } = &r.stop else { panic!("{:?}: {}", r.stop, text(&r.stdout)) };
    assert!(reason.contains("every thread sleeps"), "{reason}");
    assert_eq!(reason.matches("futex wait at").count(), 2, "both threads named: {reason}");
    // The CLI says so and exits as timeout(1) would.
    let out = exec(&guest("arm64/threads"), &["deadlock"]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
}

#[test]
fn sparc64_threads_run_on_the_same_scheduler() {
    let prog = guest("sparc64/threads");
    let run = |mode: &str, seed: u64| {
        let mut cfg = MachineConfig::new(&prog).args([mode]);
        cfg.kernel.seed = seed;
        machine::run(&cfg).unwrap()
    };
    let r = run("basic", 0);
    let out = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{out}{}", text(&r.stderr));
    assert!(!out.contains("FAIL") && out.contains("EOWNERDEAD (the robust list): ok"), "{out}");
    assert!(out.contains("the handler ran on the thread tgkill named: ok"), "{out}");
    // Seeded interleavings: equal seeds equal, others different.
    assert_eq!(run("interleave", 4).stdout, run("interleave", 4).stdout);
    let orders: std::collections::BTreeSet<Vec<u8>> = (1..=3).map(|s| run("interleave", s).stdout).collect();
    assert!(orders.len() >= 2, "{orders:?}");
    let Stop::Deadlock { reason } = run("deadlock", 0).stop else { panic!("no deadlock") };
    assert_eq!(reason.matches("futex wait at").count(), 2, "{reason}");
    // An ADI mismatch in a thread (a disrupting store error: MCDPER is 0) kills the process.
    match run("fault", 0).stop {
        Stop::Killed { signal } => assert_eq!((signal.signo, signal.si_code), (11, 6), "SEGV_ADIDERR: {signal:?}"),
        other => panic!("{other:?}"),
    }
}

/// Issue 13: a thread blocked reading the host's stdin sleeps as a guest thread; the others
/// run meanwhile (it used to block the whole machine in the host's read). The test feeds stdin
/// only once the main thread has run past the reader's read.
#[test]
fn a_thread_reading_the_hosts_stdin_does_not_stop_the_others() {
    use std::io::{BufRead, Write};
    use std::time::Duration;
    for arch in ["arm64", "sparc64"] {
        let mut child = common::tagmmu()
            .args(["exec", "--clear-env", "--time-budget", "60"])
            .arg(common::guest(&format!("{arch}/stdin_thread")))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(30));
        if first.as_deref() != Ok("main ran") {
            let _ = child.kill();
            panic!("{arch}: the main thread did not run while another read stdin: {first:?}");
        }
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello\n").unwrap();
        drop(stdin);
        let second = rx.recv_timeout(Duration::from_secs(30));
        let status = child.wait().unwrap();
        lines.join().unwrap();
        assert_eq!(second.as_deref(), Ok("reader got 6 bytes: hello"), "{arch}");
        assert_eq!(status.code(), Some(0), "{arch}");
    }
}
