//! `tagmmu exec` end to end: real static arm64 programs through the CLI binary.

mod common;
use common::*;

#[test]
fn hello_world_prints_and_exits_zero() {
    let out = exec(&guest("arm64/hello"), &[]);
    assert_eq!(text(&out.stdout), "hello from tagmmu (arm64)\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn exit_status_is_the_guests() {
    for code in ["0", "1", "42", "255"] {
        let out = exec(&guest("arm64/exitcode"), &[code]);
        assert_eq!(out.status.code(), Some(code.parse().unwrap()), "exit {code}");
    }
}

#[test]
fn segv_on_unmapped_address_is_reported_with_disassembly() {
    let out = exec(&guest("arm64/segv"), &["read"]);
    assert_eq!(out.status.code(), Some(128 + 11));
    assert_eq!(text(&out.stdout), "about to fault (read)\n");
    let err = text(&out.stderr);
    assert!(err.contains("guest killed by SIGSEGV (SEGV_MAPERR) at address 0x10"), "{err}");
    assert!(err.contains(", pc 0x") && err.contains(": ldr "), "the faulting load is disassembled: {err}");
    let out = exec(&guest("arm64/segv"), &["ro"]);
    assert!(text(&out.stderr).contains("SIGSEGV (SEGV_ACCERR)"), "write to .rodata: {}", text(&out.stderr));
    let out = exec(&guest("arm64/segv"), &["exec"]);
    assert!(text(&out.stderr).contains("SIGSEGV (SEGV_MAPERR) at address 0x10, pc 0x10"), "{}", text(&out.stderr));
}

#[test]
fn unknown_syscall_is_enosys_and_reported_once() {
    let out = exec(&guest("arm64/unknown_syscall"), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "syscall(4000): -1 ENOSYS\nsyscall(444444): -1 ENOSYS\nafter: ok\n");
    let err = text(&out.stderr);
    assert_eq!(err.matches("unknown syscall 4000").count(), 1, "{err}");
    assert_eq!(err.matches("unknown syscall 444444").count(), 1, "{err}");
}

#[test]
fn endless_loop_is_stopped_by_each_budget() {
    let loop_prog = guest("arm64/loop");
    let out = tagmmu().args(["exec", "--insn-budget", "2000000"]).arg(&loop_prog).output().unwrap();
    assert_eq!(out.status.code(), Some(tagmmu::report::EXIT_INSN_BUDGET));
    assert!(text(&out.stderr).contains("instruction budget exhausted"), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "looping\n");
    let t = std::time::Instant::now();
    let out = tagmmu().args(["exec", "--time-budget", "0.3"]).arg(&loop_prog).output().unwrap();
    assert_eq!(out.status.code(), Some(tagmmu::report::EXIT_TIME_BUDGET));
    assert!(text(&out.stderr).contains("wall-time budget exhausted"), "{}", text(&out.stderr));
    assert!(t.elapsed().as_secs() < 20);
    // Budgets no Duration can hold, or none at all, are refused (not a panic: exit 2).
    for bad in ["1e30", "0", "-1", "inf", "NaN"] {
        let out = tagmmu().arg("exec").arg(format!("--time-budget={bad}")).arg(&loop_prog).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(text(&out.stderr).contains("--time-budget must be a positive number"), "{bad}");
    }
}

#[test]
fn a_scenario_that_expects_nothing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, field) in [
        ("name: x\nprogram: guest:arm64/hello\n", "field `expect`"),
        ("name: x\nprogram: guest:arm64/hello\nexpect: {}\n", "field `expect`"),
        ("name: x\nprogram: guest:arm64/hello\nexpect: {loops: [{}]}\n", "field `expect.loops[0]`"),
    ] {
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, yaml).unwrap();
        let out = tagmmu().args(["run"]).arg(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        assert!(
            text(&out.stderr).contains(field) && text(&out.stderr).contains("could never fail")
                || text(&out.stderr).contains("checks nothing"),
            "{yaml}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn trace_prints_decoded_syscalls() {
    let out = tagmmu().args(["exec", "--clear-env", "--trace"]).arg(guest("arm64/hello")).output().unwrap();
    let err = text(&out.stderr);
    assert!(err.contains("[tagmmu] write(1, \"hello from tagmmu (arm64)\\n\", 26) = 26"), "{err}");
    assert!(err.contains("exit_group(0) = ? (exit status 0)"), "{err}");
    let out =
        tagmmu().args(["exec", "--clear-env", "--trace=insn"]).arg(guest("arm64/exitcode")).arg("3").output().unwrap();
    let err = text(&out.stderr);
    assert!(err.contains(": svc #0"), "instructions are traced: {}", &err[..err.len().min(2000)]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn env_and_argv_reach_the_guest() {
    let out = tagmmu()
        .args(["exec", "--clear-env", "-E", "TAGMMU_TEST_VAR=xyz", "--argv0", "myname"])
        .arg(guest("arm64/args"))
        .args(["one", "two words"])
        .output()
        .unwrap();
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("argv[0]: myname\nargv[1]: one\nargv[2]: two words\n"), "{o}");
    assert!(o.contains("TAGMMU_TEST_VAR: xyz"), "{o}");
    assert!(o.contains("args: all ok"), "{o}");
}

#[test]
fn files_and_stdin_come_from_the_machine_not_the_host() {
    let dir = scratch();
    let host = dir.path().join("in.txt");
    std::fs::write(&host, "from a provided file\n").unwrap();
    let out = tagmmu()
        .args(["exec", "--clear-env", "--file"])
        .arg(format!("/data/in.txt={}", host.display()))
        .arg(guest("arm64/cat"))
        .arg("/data/in.txt")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "from a provided file\n");
    // The host path itself does not exist for the guest.
    let out = exec(&guest("arm64/cat"), &[host.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("No such file or directory"));
}

#[test]
fn each_bad_elf_class_gets_a_clear_error() {
    let dir = scratch();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let hello = std::fs::read(guest("arm64/hello")).unwrap();
    let mut elf32 = hello.clone();
    elf32[4] = 1;
    let mut x86 = hello.clone();
    x86[18..20].copy_from_slice(&62u16.to_le_bytes());
    let mut overlapping = hello.clone();
    // Make the second PT_LOAD start where the first one does.
    let phoff = u64::from_le_bytes(hello[32..40].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(hello[56..58].try_into().unwrap()) as usize;
    let loads: Vec<usize> = (0..phnum)
        .map(|i| phoff + 56 * i)
        .filter(|&o| u32::from_le_bytes(hello[o..o + 4].try_into().unwrap()) == 1)
        .collect();
    assert!(loads.len() >= 2, "a static glibc program has two PT_LOADs");
    let first_vaddr = hello[loads[0] + 16..loads[0] + 24].to_vec();
    overlapping[loads[1] + 16..loads[1] + 24].copy_from_slice(&first_vaddr);
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (write("script", b"#!/bin/sh\necho hi\n"), "not an ELF file"),
        (write("elf32", &elf32), "wrong ELF class 1"),
        (write("x86", &x86), "unsupported machine"),
        (write("truncated", &hello[..hello.len() / 2]), "truncated file"),
        (write("overlap", &overlapping), "overlapping PT_LOAD segments"),
    ];
    for (path, msg) in cases {
        let out = exec(&path, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        let err = text(&out.stderr);
        assert!(err.contains(msg), "{}: expected {msg:?} in {err:?}", path.display());
        assert!(err.contains(&path.display().to_string()), "the error names the file: {err}");
    }
    let out = exec(&dir.path().join("missing"), &[]);
    assert!(text(&out.stderr).contains("cannot read"), "{}", text(&out.stderr));
}

#[test]
fn dynamic_executable_is_refused() {
    let cc = require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    let dir = scratch();
    let src = dir.path().join("d.c");
    std::fs::write(&src, "int main(void){return 0;}\n").unwrap();
    let bin = dir.path().join("d");
    let st = std::process::Command::new(cc).arg("-o").arg(&bin).arg(&src).status().unwrap();
    assert!(st.success());
    let out = exec(&bin, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("dynamically linked executable (interpreter /lib/ld-linux-aarch64.so.1)"), "{err}");
    assert!(err.contains("only static executables are supported"), "{err}");
}

#[test]
fn bad_syscall_arguments_get_linux_errors() {
    // The expected lines are Linux's answers (see programs/arm64/badargs.c).
    let out = exec(&guest("arm64/badargs"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = "write bad buffer: EFAULT\nwrite /dev/null huge: 2147479552\nread into bad buffer: EFAULT\nopenat bad path: EFAULT\nmmap len 0: EINVAL\nmmap huge: ENOMEM\nmmap bad offset: EINVAL\nmmap fixed unaligned: EINVAL\nmmap bad type: EINVAL\nmmap bad fd: EBADF\nmunmap unaligned: EINVAL\nmunmap len 0: EINVAL\nmprotect unmapped: ENOMEM\nmadvise bad advice: EINVAL\nmprotect bad prot: EINVAL\nwritev too many: EINVAL\nreadv bad iov: EFAULT\nlseek on a pipe-like stdout: ESPIPE\nlseek bad whence: EINVAL\nlseek negative: EINVAL\nclose bad fd: EBADF\nread closed: EBADF\nsigaction SIGKILL: EINVAL\nrt_sigaction bad size: EINVAL\nrt_sigprocmask bad how: EINVAL\nprlimit bad resource: EINVAL\ngetrandom bad flags: EINVAL\nclock_gettime bad clock: EINVAL\nuname bad buffer: EFAULT\nfstat bad buffer: EFAULT\nunlink missing: ENOENT\nbrk(1) keeps the break: yes\nkill self 0: ok\nkill bad signal: EINVAL\nbadargs: done\n";
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn id_registers_read_as_linux_emulates_them() {
    let out = exec(&guest("arm64/idregs"), &[]);
    assert_eq!(text(&out.stdout), "idregs: all ok\n", "{}", text(&out.stderr));
    for (arg, line) in [("unemulated", "reading ID_PFR0_EL1\n"), ("privileged", "masking interrupts\n")] {
        let out = exec(&guest("arm64/idregs"), &[arg]);
        assert_eq!(out.status.code(), Some(128 + 4), "{arg}: SIGILL");
        assert_eq!(text(&out.stdout), line);
        let err = text(&out.stderr);
        assert!(err.contains("SIGILL (ILL_ILLOPC)"), "{err}");
    }
}

#[test]
fn kernel_versions_are_listed_and_unknown_ones_refused_with_the_list() {
    let known = tagmmu::kernel_stub::version::KernelVersion::known_list();
    for cmd in ["exec", "run"] {
        let help = tagmmu().args([cmd, "--help"]).output().unwrap();
        let help = text(&help.stdout);
        for v in tagmmu::kernel_stub::version::KNOWN {
            assert!(help.contains(&format!(" {v}")), "{cmd} --help names {v}: {help}");
        }
    }
    let out = tagmmu().args(["exec", "--kernel", "5.10"]).arg(guest("arm64/hello")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("5.10 is not modelled") && err.contains(&known), "{err}");
}

#[test]
fn the_loop_table_command_prints_every_loop_and_kernel() {
    let out = tagmmu().arg("loops").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(t.contains("| btrfs search_ioctl | 5.15-5.18 | **live-lock** (cycle 1)"), "{t}");
    assert!(t.contains("| btrfs search_ioctl | 5.19-6.14 | EFAULT 1p/1f/0s | n/a | **live-lock** (cycle 1)"), "{t}");
    assert!(t.contains("| btrfs search_ioctl | 6.17-6.18 | EFAULT 1p/1f/0s | **live-lock** (cycle 1)"), "{t}");
    assert!(t.contains("| generic_perform_write (tmpfs) | 6.14 | short write 8 B 3p/1f/2s |"), "{t}");
}

#[test]
fn run_kernel_overrides_the_scenario_s_kernel() {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/perform-write-5.15-short.yaml");
    let out = tagmmu().args(["run", cfg]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // On 5.16 the same write is EFAULT: the scenario's checks fail.
    let out = tagmmu().args(["run", "--kernel", "5.16", cfg]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("write: -1\n"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("on Linux 5.16"), "{}", text(&out.stderr));
}

#[test]
fn the_readme_shows_the_loop_table_the_command_prints() {
    let out = tagmmu().arg("loops").output().unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let begin = "<!-- tagmmu loops: begin -->\n";
    let start = readme.find(begin).expect("the README has the table") + begin.len();
    let end = readme.find("<!-- tagmmu loops: end -->").unwrap();
    assert_eq!(&readme[start..end], text(&out.stdout), "regenerate the README's table with `tagmmu loops`");
}

#[test]
fn scenario_paths_stay_inside_the_scenario_directory_unless_allowed() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("scenarios");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(top.path().join("secret.txt"), "host secret\n").unwrap();
    std::fs::write(dir.join("inside.txt"), "inside\n").unwrap();
    let run = |yaml: &str, allow: bool| {
        let p = dir.join("s.yaml");
        std::fs::write(&p, yaml).unwrap();
        let mut c = tagmmu();
        c.arg("run");
        if allow {
            c.arg("--allow-host-paths");
        }
        c.arg(&p).output().unwrap()
    };
    let escape =
        "name: x\nprogram: guest:arm64/hello\nfiles: [{path: /tmp/s, host: ../secret.txt}]\nexpect: {exit: 0}\n";
    let out = run(escape, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("field `files[0].host`: ../secret.txt is outside"), "{}", text(&out.stderr));
    assert!(run(escape, true).status.success(), "allowed explicitly");
    let abs = "name: x\nprogram: /bin/true\nexpect: {exit: 0}\n";
    let out = run(abs, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("field `program`: /bin/true is outside"), "{}", text(&out.stderr));
    let inside = "name: x\nprogram: guest:arm64/hello\nfiles: [{path: /tmp/s, host: inside.txt}]\nexpect: {exit: 0}\n";
    assert!(run(inside, false).status.success());
}

#[test]
fn the_epoch_flag_sets_the_guest_realtime_clock_and_bad_values_are_refused() {
    let out = tagmmu().args(["exec", "--epoch", "1234567890"]).arg(guest("arm64/clocks")).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("realtime 1234567890.0"), "{}", text(&out.stdout));
    let out = tagmmu().args(["exec", "--epoch", "18446744073709551615"]).arg(guest("arm64/clocks")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--epoch"), "{}", text(&out.stderr));
    let out = tagmmu().args(["exec", "--epoch", "1", "--host-time"]).arg(guest("arm64/clocks")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "the two flags conflict");
}

/// Issue 13: the machine's RAM is charged as Linux's `vm.overcommit_memory` says, and
/// anonymous memory cannot be resident beyond it. `overcommit 16 8` reserves 8 x 16 MiB, then
/// touches every page. On a 64 MiB machine: the heuristic (the default) grants all eight and
/// the OOM killer ends the touching with SIGKILL, saying so; strict overcommit stops the
/// reservations at half the RAM (MAP_NORESERVE or not), and everything granted is touched.
#[test]
fn overcommit_modes_charge_reservations_and_the_oom_killer_ends_the_touching() {
    let run = |args: &[&str], prog_args: &[&str]| {
        let mut cmd = tagmmu();
        cmd.args(["exec", "--memory", "64M"]).args(args).arg(guest("arm64/overcommit")).args(prog_args);
        cmd.output().unwrap()
    };
    let out = run(&[], &["16", "8"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(128 + 9), "SIGKILL: {stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("granted 8 x 16 MiB\ntouched 0\ntouched 1\ntouched 2\n"), "{stdout}");
    assert!(!stdout.contains("touched 3"), "64 MiB hold less than four chunks and the program: {stdout}");
    let err = text(&out.stderr);
    assert!(err.contains("Out of memory: Killed process"), "{err}");

    for extra in [&["16", "8"][..], &["16", "8", "noreserve"]] {
        let out = run(&["--overcommit", "never"], extra);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {stdout}{}", text(&out.stderr));
        // 32 MiB may be committed; the program's own stack and data are committed too.
        assert!(stdout.starts_with("mmap 1: ENOMEM\ngranted 1 x 16 MiB\ntouched 0\n"), "{extra:?}: {stdout}");
    }
    // The heuristic does not charge MAP_NORESERVE at all, nor a total past the RAM.
    let out = run(&[], &["16", "8", "noreserve"]);
    assert!(text(&out.stdout).starts_with("granted 8 x 16 MiB\n"), "{}", text(&out.stdout));
    // ...but refuses one request larger than the RAM, which `always` grants.
    let memlimit = |mode: &str| {
        let out = tagmmu()
            .args(["exec", "--memory", "64M", "--overcommit", mode])
            .arg(guest("arm64/memlimit"))
            .arg("256")
            .output()
            .unwrap();
        text(&out.stdout)
    };
    assert_eq!(memlimit("heuristic"), "mmap 256 MiB: ENOMEM\n");
    assert_eq!(memlimit("always"), "mmap 256 MiB: ok\n", "two pages touched fit");
    let out = tagmmu().args(["exec", "--overcommit", "sometimes"]).arg(guest("arm64/memlimit")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("overcommit"), "{}", text(&out.stderr));
}

/// Issue 13: the guest's memory limit has a knob (`--memory`, `machine.memory`) and refuses
/// what it cannot parse.
#[test]
fn the_memory_flag_limits_what_the_guest_can_reserve() {
    let run = |args: &[&str]| {
        let mut cmd = tagmmu();
        cmd.arg("exec");
        cmd.args(args).arg(guest("arm64/memlimit")).arg("256");
        cmd.output().unwrap()
    };
    let out = run(&[]);
    assert_eq!(text(&out.stdout), "mmap 256 MiB: ok\n", "the default allows it: {}", text(&out.stderr));
    let out = run(&["--memory", "64M"]);
    assert_eq!(text(&out.stdout), "mmap 256 MiB: ENOMEM\n", "{}", text(&out.stderr));
    let out = run(&["--memory", "1G"]);
    assert_eq!(text(&out.stdout), "mmap 256 MiB: ok\n");
    for bad in ["0", "12X", "lots"] {
        let out = run(&["--memory", bad]);
        assert_eq!(out.status.code(), Some(2), "--memory {bad}");
        assert!(text(&out.stderr).contains("--memory"), "{}", text(&out.stderr));
    }
    // The scenario field, as a string or a number.
    let dir = tempfile::tempdir().unwrap();
    for (memory, line) in [("\"64M\"", "mmap 256 MiB: ENOMEM"), ("1073741824", "mmap 256 MiB: ok")] {
        let yaml = format!(
            "name: memory\nprogram: guest:arm64/memlimit\nargs: [\"256\"]\nmachine: {{memory: {memory}}}\nexpect: {{exit: 0, stdout_contains: [\"{line}\"]}}\n"
        );
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, yaml).unwrap();
        let out = tagmmu().arg("run").arg(&path).output().unwrap();
        assert!(out.status.success(), "{memory}: {}{}", text(&out.stdout), text(&out.stderr));
    }
    std::fs::write(
        dir.path().join("z.yaml"),
        "name: z\nprogram: guest:arm64/memlimit\nmachine: {memory: 0}\nexpect: {exit: 0}\n",
    )
    .unwrap();
    let out = tagmmu().arg("run").arg(dir.path().join("z.yaml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("more than zero"), "{}", text(&out.stderr));
}

/// Issue 14, item 4: `tagmmu run` takes files and directories, runs them in parallel and
/// reports TAP 13 or JUnit XML; the exit status says whether any failed (1) or could not run
/// (2).
#[test]
fn run_takes_many_scenarios_and_reports_tap_and_junit() {
    let configs = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
    let count = std::fs::read_dir(configs)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "yaml"))
        .count();
    let out = tagmmu().args(["run", "--format", "tap", "-j", "2", configs]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let tap = text(&out.stdout);
    assert!(tap.starts_with(&format!("TAP version 13\n1..{count}\n")), "{tap}");
    assert_eq!(tap.lines().filter(|l| l.starts_with("ok ")).count(), count, "{tap}");
    assert!(tap.contains(" hello\n"), "{tap}");

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();
    write("good.yaml", "name: good\nprogram: guest:arm64/hello\nexpect: {exit: 0}\n");
    write("wrong.yaml", "name: wrong\nprogram: guest:arm64/hello\nexpect: {exit: 3}\n");
    let out = tagmmu().args(["run", "--format", "junit"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a failed scenario: exit 1");
    let xml = text(&out.stdout);
    assert!(xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""), "{xml}");
    assert!(xml.contains("name=\"good\"") && xml.contains("<failure message=\"1 check(s) failed\">exit"), "{xml}");

    write("broken.yaml", "name: [unclosed\n");
    let out = tagmmu().args(["run"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a scenario that cannot load: exit 2");
    let summary = text(&out.stdout);
    assert!(summary.contains("ERROR broken"), "{summary}");
    assert!(summary.ends_with("3 scenarios: 1 passed, 1 failed, 1 errors\n"), "{summary}");
    let out = tagmmu().args(["run", "--json"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--json is for one scenario");
}

/// Issue 13: the wall-time budget holds inside syscalls: a program that spends its time in
/// large pwrites, and one blocked reading a stdin that never comes, both stop on
/// `--time-budget` (exit 124) soon after it runs out.
#[test]
fn the_time_budget_holds_in_syscalls_and_blocking_reads() {
    let wait = |mut child: std::process::Child| {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            if started.elapsed() > std::time::Duration::from_secs(60) {
                let _ = child.kill();
                panic!("still running after 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let child = tagmmu()
        .args(["exec", "--time-budget", "1"])
        .arg(guest("arm64/pwrite_loop"))
        .arg("64")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (code, took) = wait(child);
    assert_eq!(code, Some(124), "stopped on the time budget");
    // Checked after every syscall: one 64 KiB pwrite past the budget (without that check,
    // only every 4096 translation blocks: about 4 s here).
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");

    let mut child = tagmmu()
        .args(["exec", "--time-budget", "1"])
        .arg(guest("arm64/cat"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let keep_open = child.stdin.take();
    let (code, took) = wait(child);
    drop(keep_open);
    assert_eq!(code, Some(124), "a blocked stdin read stops on the time budget");
    assert!(took < std::time::Duration::from_secs(15), "{took:?}");
}

/// Issue 13: a scenario whose aliases expand a small file into gigabytes, or whose nesting
/// would make the YAML scanner quadratic, is refused at once with a clear error.
#[test]
fn yaml_bombs_are_refused_before_they_are_built() {
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(900_000);
    let files: Vec<String> = (0..3000).map(|i| format!("{{path: /tmp/f{i}, content: *d}}")).collect();
    let bomb = format!(
        "name: x\nprogram: guest:arm64/hello\ndescription: &d \"{big}\"\nfiles: [{}]\nexpect: {{exit: 0}}\n",
        files.join(",")
    );
    let deep = format!(
        "name: x\nprogram: guest:arm64/hello\nargs: {}{}\nexpect: {{exit: 0}}\n",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    for (name, yaml, says) in [("bomb.yaml", bomb, "aliases expand"), ("deep.yaml", deep, "nested more than 64")] {
        let path = dir.path().join(name);
        std::fs::write(&path, yaml).unwrap();
        let started = std::time::Instant::now();
        let out = tagmmu().arg("run").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(text(&out.stderr).contains(says), "{name}: {}", text(&out.stderr));
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{name}: {:?}", started.elapsed());
    }
}

/// Issue 13: the program and placed files must be regular files of bounded size: `/dev/zero`
/// used to be read without end.
#[test]
fn dev_zero_is_refused_as_program_and_as_placed_file() {
    let out = tagmmu().args(["exec", "/dev/zero"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("/dev/zero: not a regular file"), "{}", text(&out.stderr));
    let out = tagmmu().args(["exec", "--file", "/x=/dev/zero"]).arg(guest("arm64/hello")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--file /x=/dev/zero: cannot read /dev/zero: not a regular file"),
        "{}",
        text(&out.stderr)
    );
}

/// Issue 13: a guest's reservations cost the host only what the guest touches. A terabyte of
/// `MAP_NORESERVE | PROT_MTE` once committed 64 GiB of tag storage at mmap (the host aborted)
/// and a byte of page state per page (256 MiB for a terabyte without PROT_MTE); fork, mremap
/// and MADV_DONTNEED walked every page of the span. `mte_huge_reserve` maps, forks, moves and
/// drops terabytes and hundreds of gigabytes; the host's peak resident memory stays small.
#[test]
fn huge_reservations_cost_the_host_only_the_touched_pages() {
    // Reaped by wait4 below, which also gives the child's resource usage.
    #[allow(clippy::zombie_processes)]
    let child = tagmmu()
        .arg("exec")
        .arg(guest("arm64/mte_huge_reserve"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let out = {
        use std::io::Read;
        let (mut stdout, mut stderr) = (String::new(), String::new());
        child.stdout.unwrap().read_to_string(&mut stdout).unwrap();
        child.stderr.unwrap().read_to_string(&mut stderr).unwrap();
        stdout + &stderr
    };
    let mut status = 0;
    // SAFETY: all-zero bytes are a valid `rusage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (the handle's wait was never called);
    // both out-pointers are valid for writes.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}: {out}");
    assert!(!out.contains("FAIL"), "{out}");
    assert_eq!(out.lines().filter(|l| l.ends_with(": ok")).count(), 9, "{out}");
    // ru_maxrss is in KiB: the run itself needs some 15 MiB.
    assert!(usage.ru_maxrss < 64 << 10, "peak host RSS {} KiB", usage.ru_maxrss);
}

/// Run `programs/common/<program>` on arm64 and on sparc64: it exits 0 and prints `expected`
/// on both.
fn prints_on_both_architectures(program: &str, expected: &str) {
    for arch in ["arm64", "sparc64"] {
        let out = exec(&guest(&format!("{arch}/{program}")), &[]);
        assert_eq!(out.status.code(), Some(0), "{arch}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), expected, "{arch}");
    }
}

/// The mlock family (`programs/common/mlock_calls.c`): what an unprivileged task gets from
/// mlock, mlock2, munlock, mlockall, munlockall, MAP_LOCKED, and from madvise, msync, brk and
/// fork over locked memory. The expected lines are what the same source prints natively on
/// a Linux 6.18 host (run as root, it lowers RLIMIT_MEMLOCK and becomes uid 1000 first).
#[test]
fn mlock_family_answers_as_linux_does() {
    let expected = "mlock: 0, 1111\nDONTNEED locked: EINVAL, 1111\nPAGEOUT locked: EINVAL, 1111\nmsync MS_INVALIDATE locked: EBUSY\nDONTNEED_LOCKED: 0, 0011\nchild DONTNEED: 0, 0001\nmunlock: 0, DONTNEED 0, 0000\nmlock2 MLOCK_ONFAULT: 0, 0000, touched 0100\nmlock2 unknown flag: EINVAL\nmlock PROT_NONE: ENOMEM, 00\nmlock over a hole: ENOMEM, at the hole ENOMEM\nmlock of a length that wraps: 0\nRLIMIT_MEMLOCK 16 pages: mlock 17 ENOMEM, 8 0, 12 more ENOMEM, 12 over the 8 0\nMAP_LOCKED: 1111, over the limit EAGAIN\nmlockall 0: EINVAL, MCL_ONFAULT alone: EINVAL\nmlockall MCL_CURRENT over the limit: ENOMEM\nmlockall MCL_FUTURE: 0, mmap 111, over the limit EAGAIN, sbrk 1\nmlockall MCL_FUTURE|MCL_ONFAULT: 0, mmap 000\nmunlockall: 0, DONTNEED 0\nRLIMIT_MEMLOCK 0: mlock EPERM, mlockall EPERM, MAP_LOCKED EPERM, munlock 0\n";
    prints_on_both_architectures("mlock_calls", expected);
}

/// mincore, MADV_POPULATE_READ/WRITE, MAP_POPULATE, msync and fsync/fdatasync (once ENOSYS,
/// and MADV_POPULATE_* a no-op): `mm_calls` prints exactly what the same source printed
/// built natively on a Linux 6.18 host (x86-64; these answers do not depend on the
/// architecture), on both guest architectures (sparc64 with its 8 KiB pages).
#[test]
fn residency_syscalls_answer_as_linux_does() {
    let expected = "fresh: 0000\none page written: 0100\npopulate write: 0, 0111\ndontneed: 0, 0000\npopulate read: 0, 1000\nmincore unaligned: EINVAL\nmincore bad vector: EFAULT\nmincore length rounds up: 0\nmincore over a hole: ENOMEM, first bytes 1 0 7\npopulate over a hole: ENOMEM\nmsync sync over a hole: ENOMEM\nmsync async over a hole: ENOMEM\nmsync both flags: EINVAL\nmsync unknown flag: EINVAL\nmsync unaligned: EINVAL\nmsync mapped: 0\nmsync empty: 0\npopulate write read-only: EINVAL\npopulate read read-only: 0, 1\npopulate read PROT_NONE: EINVAL\nMAP_POPULATE: 111\nMAP_POPULATE|MAP_NONBLOCK: 000\nfsync file 0, pipe EINVAL, /dev/null EINVAL, closed EBADF\nfdatasync file 0, pipe EINVAL\n";
    prints_on_both_architectures("mm_calls", expected);
}
