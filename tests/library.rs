//! The library API, used the way a kernel engineer would in their own test suite.

mod common;
use common::*;

use tagmmu::emu::{RunLimits, Stop};
use tagmmu::machine::{self, MachineConfig};

#[test]
fn run_a_program_and_inspect_the_result() {
    let cfg = MachineConfig::new(guest("arm64/hello"));
    let r = machine::run(&cfg).unwrap();
    assert_eq!(r.stop, Stop::Exited { status: 0 });
    assert_eq!(r.stdout, b"hello from tagmmu (arm64)\n");
    assert!(r.stats.kernel.syscalls >= 5);
    assert!(r.stats.cpu.instructions > 1000);
    assert!(r.stats.mm.page_faults > 0, "pages are faulted in on first touch");
}

#[test]
fn argv_envp_and_auxv() {
    let cfg = MachineConfig::new(guest("arm64/args")).args(["a", "b"]).env("TAGMMU_TEST_VAR", "v1");
    let r = machine::run(&cfg).unwrap();
    let o = text(&r.stdout);
    assert_eq!(r.stop, Stop::Exited { status: 0 }, "{o}");
    assert!(o.contains("argc: 3"), "{o}");
    assert!(o.contains("TAGMMU_TEST_VAR: v1"), "{o}");
    for line in ["pagesz: 4096", "platform: aarch64", "execfn: ok", "random: ok", "phdr: ok", "hwcap: ok", "secure: ok"]
    {
        assert!(o.contains(line), "{line} in {o}");
    }
}

#[test]
fn file_io_brk_and_mmap() {
    for prog in ["arm64/fileio", "arm64/memory", "arm64/sysinfo"] {
        let r = machine::run(&MachineConfig::new(guest(prog))).unwrap();
        let o = text(&r.stdout);
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "{prog}: {o}");
        assert!(o.contains("all ok"), "{prog}: {o}");
    }
}

#[test]
fn unknown_syscalls_are_counted_and_noticed() {
    let r = machine::run(&MachineConfig::new(guest("arm64/unknown_syscall"))).unwrap();
    assert_eq!(
        r.stats.kernel.unknown_syscalls, 2,
        "4000 and 444444 (rseq is modelled: it answers ENOSYS on purpose) {:?}",
        r.notices
    );
    assert_eq!(r.notices.iter().filter(|n| n.contains("unknown syscall 4000")).count(), 1);
}

#[test]
fn segv_gives_a_structured_fatal_signal() {
    let r = machine::run(&MachineConfig::new(guest("arm64/segv")).args(["write"])).unwrap();
    let Stop::Killed { signal } = &r.stop else { panic!("{:?}", r.stop) };
    assert_eq!((signal.signo, signal.name.as_str(), signal.code_name.as_str()), (11, "SIGSEGV", "SEGV_MAPERR"));
    assert_eq!(signal.addr, Some(0x10));
    assert!(signal.insn.starts_with("str"), "{}", signal.insn);
    assert_eq!(r.exit_code(), 139);
}

#[test]
fn budgets_stop_an_endless_loop() {
    let cfg = MachineConfig::new(guest("arm64/loop")).limits(RunLimits {
        insn_budget: Some(500_000),
        time_budget: None,
        ..Default::default()
    });
    let r = machine::run(&cfg).unwrap();
    assert!(
        matches!(r.stop, Stop::InsnBudget { executed } if executed > 500_000 && executed < 600_000),
        "{:?}",
        r.stop
    );
    let cfg = MachineConfig::new(guest("arm64/loop"))
        .limits(RunLimits { time_budget: Some(std::time::Duration::from_millis(200)), ..Default::default() });
    let r = machine::run(&cfg).unwrap();
    assert!(matches!(r.stop, Stop::TimeBudget { elapsed_ms } if elapsed_ms >= 200), "{:?}", r.stop);
    // No budget at all: another thread's stop flag ends it, as the wall-time budget would.
    let flag = tagmmu::emu::StopFlag::new();
    let cfg = MachineConfig::new(guest("arm64/loop"))
        .limits(RunLimits { stop_flag: Some(flag.clone()), ..Default::default() });
    let started = std::time::Instant::now();
    let raiser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        flag.raise();
    });
    let r = machine::run(&cfg).unwrap();
    raiser.join().unwrap();
    assert!(matches!(r.stop, Stop::TimeBudget { .. }), "{:?}", r.stop);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300), "{:?}", started.elapsed());
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn provided_files_and_deterministic_randomness() {
    let cfg = MachineConfig::new(guest("arm64/cat")).args(["/etc/motd"]).file("/etc/motd", "hi from the machine\n");
    let r = machine::run(&cfg).unwrap();
    assert_eq!(r.stdout, b"hi from the machine\n");
}

#[test]
fn syscall_trace_is_kept_as_data() {
    let mut cfg = MachineConfig::new(guest("arm64/hello"));
    cfg.trace.syscalls = true;
    cfg.trace.keep = true;
    let r = machine::run(&cfg).unwrap();
    let names: Vec<&str> = r
        .trace
        .iter()
        .filter_map(|e| match e {
            tagmmu::kernel_stub::trace::TraceEvent::Syscall { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names.first(), Some(&"brk"));
    assert_eq!(names.last(), Some(&"exit_group"));
    assert!(names.contains(&"write"));
}

#[test]
fn evicted_pages_fault_back_in_with_their_contents() {
    let r = machine::run(&MachineConfig::new(guest("arm64/evict"))).unwrap();
    assert_eq!(text(&r.stdout), "evict: contents kept\n");
    assert_eq!(r.stats.mm.evictions, 4);
    assert_eq!(r.stats.mm.major_faults, 4, "each evicted page is faulted back in once");
}

/// The guest's clocks are virtual (one nanosecond per instruction, from a fixed epoch), so two
/// runs of the same program are byte-identical; the epoch can be set; host time only on request.
#[test]
fn guest_clocks_are_virtual_and_runs_repeat_exactly() {
    for arch in ["arm64", "sparc64"] {
        let prog = guest(&format!("{arch}/clocks"));
        let run = |f: &dyn Fn(&mut MachineConfig)| {
            let mut cfg = MachineConfig::new(&prog);
            f(&mut cfg);
            let r = machine::run(&cfg).unwrap();
            assert_eq!(r.stop, Stop::Exited { status: 0 }, "{arch}: {}", String::from_utf8_lossy(&r.stdout));
            String::from_utf8(r.stdout).unwrap()
        };
        let a = run(&|_| {});
        assert_eq!(a, run(&|_| {}), "{arch}: two runs differ");
        assert!(a.starts_with("realtime 1704067200.0"), "{arch}: the default epoch: {a}");
        assert!(a.contains("\ntime 1704067200\n"), "{a}");
        let e = run(&|c| c.kernel.clock.epoch_ns = 1_000_000_000 * 1_000_000_000);
        assert!(e.starts_with("realtime 1000000000.0"), "{arch}: {e}");
        let host = run(&|c| c.kernel.clock.host = true);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let secs: u64 = host["realtime ".len()..].split('.').next().unwrap().parse().unwrap();
        assert!(now.abs_diff(secs) < 60, "{arch}: host time {secs} vs {now}");
    }
}

/// Issue 13: rt_sigreturn with a garbage frame is arm64_notify_segfault(sp): SIGSEGV with
/// SEGV_ACCERR when sp lies in a mapping (here the stack), SEGV_MAPERR when it does not.
#[test]
fn a_garbage_sigreturn_frame_is_arm64_notify_segfault() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("badret.c");
    std::fs::write(
        &src,
        r#"#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    static char junk[8192] __attribute__((aligned(16)));
    memset(junk, 0xa5, sizeof junk);
    if (argc > 1) {
        /* sp far from any mapping */
        __asm__ volatile("mov sp, %0\n mov x8, #139\n svc #0" ::"r"(0x1000UL) : "x8", "memory");
    } else {
        /* sp on the stack, over garbage (uc_flags/sigmask fine, no valid end marker) */
        char *sp = junk + 4096;
        __asm__ volatile("mov sp, %0\n mov x8, #139\n svc #0" ::"r"(sp) : "x8", "memory");
    }
    return 0;
}
"#,
    )
    .unwrap();
    let bin = dir.path().join("badret");
    let cc = std::process::Command::new("aarch64-linux-gnu-gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("aarch64-linux-gnu-gcc (make setup)");
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    for (args, code, name) in [(vec![], 2, "SEGV_ACCERR"), (vec!["away".to_string()], 1, "SEGV_MAPERR")] {
        let mut cfg = MachineConfig::new(&bin);
        cfg.args = args;
        let r = machine::run(&cfg).unwrap();
        let Stop::Killed { signal } = &r.stop else { panic!("{:?}", r.stop) };
        assert_eq!((signal.signo, signal.si_code), (11, code), "{name}: {signal:?}");
    }
}

/// Issue 13: a shared tmpfs mapping is SIGBUS/BUS_ADRERR on a page wholly past the file's end,
/// readable after the file grows, and EFAULT for a syscall reading it. arm64 is compared with
/// qemu-aarch64 in tests/differential.rs; qemu-sparc64 crashes on it, so sparc64 is checked
/// here against the program's expected output.
#[test]
fn a_shared_mapping_past_the_end_of_its_file_is_sigbus() {
    for arch in ["arm64", "sparc64"] {
        let r = machine::run(&MachineConfig::new(guest(&format!("{arch}/sigbus")))).unwrap();
        let out = String::from_utf8_lossy(&r.stdout).into_owned();
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "{arch}: {out}");
        assert_eq!(
            out,
            "a byte inside the file reads back: ok\na page past the end is SIGBUS BUS_ADRERR at that byte: ok\n\
             after ftruncate the page reads as zeros: ok\nwrite() from a page past the end is EFAULT: ok\n\
             a private mapping's page past the end is SIGBUS too: ok\nits pages inside the file read the file: ok\n",
            "{arch}"
        );
    }
}

/// pipes.c runs whole (it is also differential against qemu-user, which runs the host's
/// pipes): every check passes on both architectures.
#[test]
fn pipes_dup_and_poll_behave_as_linux() {
    for arch in ["arm64", "sparc64"] {
        let r = machine::run(&MachineConfig::new(guest(&format!("{arch}/pipes")))).unwrap();
        let out = String::from_utf8_lossy(&r.stdout).into_owned();
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "{arch}: {out}");
        assert!(!out.contains("FAIL"), "{arch}: {out}");
        assert!(out.contains("EPIPE and SIGPIPE with no reader: ok"), "{arch}: {out}");
        assert!(out.contains("ppoll: the clock advanced by the timeout: ok"), "{arch}: {out}");
    }
}

/// A blocking read of an empty pipe whose only writer is the reading task can never return:
/// Linux sleeps for ever; tagmmu stops the run as a deadlock and says which syscall and why.
#[test]
fn a_task_waiting_on_a_pipe_only_it_can_feed_is_a_deadlock() {
    for arch in ["arm64", "sparc64"] {
        let r = machine::run(&MachineConfig::new(guest(&format!("{arch}/pipes"))).args(["block"])).unwrap();
        let Stop::Deadlock { reason } = &r.stop else { panic!("{arch}: {:?}", r.stop) };
        assert_eq!(reason, "read(fd 3) blocks: the pipe is empty and its only writers belong to this task", "{arch}");
        assert_eq!(String::from_utf8_lossy(&r.stdout), "reading an empty pipe\n", "{arch}");
        assert_eq!(r.exit_code(), tagmmu::report::EXIT_DEADLOCK);
    }
}

/// Waits nothing can end: a futex wait with no timeout in a one-thread program, and SIGSTOP
/// to itself (no other task can send SIGCONT). Linux sleeps for ever; tagmmu stops the run
/// as a deadlock, with the reason.
#[test]
fn a_futex_nobody_wakes_and_a_stopped_task_are_deadlocks() {
    for arch in ["arm64", "sparc64"] {
        for (arg, said, reason) in [
            ("futex", "waiting on a futex nobody wakes\n", "futex wait at 0x"),
            ("stop", "stopping\n", "stopped by SIGSTOP, and no other task can send it SIGCONT"),
        ] {
            let r = machine::run(&MachineConfig::new(guest(&format!("{arch}/sleepers"))).args([arg])).unwrap();
            let Stop::Deadlock { reason: got } = &r.stop else { panic!("{arch} {arg}: {:?}", r.stop) };
            assert!(got.starts_with(reason), "{arch} {arg}: {got}");
            assert_eq!(String::from_utf8_lossy(&r.stdout), said, "{arch} {arg}");
        }
    }
}

/// execve of a program placed in the guest's filesystem: errors the old program sees
/// (ENOENT, EACCES, ENOENT for a script whose interpreter is missing, ENOEXEC for one with
/// none), then the new program with its argv and envp, the
/// same pid, descriptors without close-on-exec, caught signals reset, ignored ones and the mask
/// kept. The run's counters cover both programs.
#[test]
fn execve_replaces_the_program_and_keeps_what_linux_keeps() {
    for arch in ["arm64", "sparc64"] {
        let prog = guest(&format!("{arch}/execer"));
        let bytes = std::fs::read(&prog).unwrap();
        let cfg = MachineConfig::new(&prog)
            .file("/bin/execer", bytes)
            .file("/bin/script", "#!/bin/sh\necho hi\n")
            .file("/bin/badscript", "#!  \necho hi\n");
        let r = machine::run(&cfg).unwrap();
        let out = String::from_utf8_lossy(&r.stdout).into_owned();
        assert_eq!(r.stop, Stop::Exited { status: 0 }, "{arch}: {out}");
        assert!(!out.contains("FAIL"), "{arch}: {out}");
        for line in [
            "a script whose interpreter is missing is ENOENT: ok",
            "a script with no interpreter is ENOEXEC: ok",
            "a FD_CLOEXEC descriptor is closed: ok",
            "the signal mask survives: ok",
        ] {
            assert!(out.contains(line), "{arch}: {line} in {out}");
        }
        assert_eq!(out.matches(": ok").count(), 16, "{arch}: both stages ran: {out}");
    }
}

#[path = "../examples/kernel_engineer.rs"]
mod kernel_engineer;

#[test]
fn the_kernel_engineer_example_holds() {
    kernel_engineer::main().expect("the example's assertions hold");
}
