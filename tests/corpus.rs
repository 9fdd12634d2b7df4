//! The third-party differential corpus: the distribution's static busybox for arm64 (fetched
//! by `make setup`, scripts/fetch-corpus.sh; not committed) runs its applets under
//! `tagmmu exec` and `qemu-aarch64 -cpu max`, with the same arguments, input file and stdin:
//! stdout (byte for byte) and the exit status must match.
//!
//! Shell pipelines and subshells fork; the applets busybox runs in the forked child without
//! exec (seq, sort, head, tac, ...) are differential; those it execs from PATH are run with
//! busybox placed at their paths (qemu-user would run the host's programs).

mod common;
use common::*;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The fetched busybox, or a failure that says how to fetch it.
fn busybox() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/corpus/arm64/busybox");
    assert!(p.is_file(), "{} is missing: run `make setup` (scripts/fetch-corpus.sh fetches it)", p.display());
    p
}

const DATA: &str = "banana 3\napple 10\ncherry 7\napple 10\ndate 1\nfig 22\n";

/// Run `cmd` with `stdin`, its stdout and stderr captured.
fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn status(o: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    o.status.code().unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0))
}

#[test]
fn busybox_applets_match_qemu_user() {
    let bb = busybox();
    let qemu = require_tool("qemu-aarch64", "qemu-user");
    // Both see data.txt in their working directory: qemu in a host directory, tagmmu at
    // /data.txt with the guest's cwd at /.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.txt");
    std::fs::write(&data, DATA).unwrap();
    let stdin = b"the quick brown fox\njumps over the lazy dog\n";
    let cases: &[&[&str]] = &[
        &["echo", "hello", "world"],
        &["seq", "3", "7"],
        &["printf", "%05d|%s|%x\\n", "42", "abc", "255"],
        &["basename", "/a/b/c.txt", ".txt"],
        &["expr", "6", "*", "7"],
        &["cat", "data.txt"],
        &["sha256sum", "data.txt"],
        &["md5sum", "data.txt"],
        &["wc", "data.txt"],
        &["sort", "-k2", "-n", "data.txt"],
        &["sort", "-u", "data.txt"],
        &["head", "-n", "2", "data.txt"],
        &["tail", "-n", "2", "data.txt"],
        &["cut", "-d", " ", "-f2", "data.txt"],
        &["sed", "s/a/A/g", "data.txt"],
        &["awk", "{s += $2} END {print s, NR}", "data.txt"],
        &["grep", "-c", "apple", "data.txt"],
        &["grep", "nothing-matches", "data.txt"],
        &["tr", "a-z", "A-Z"],
        &["rev"],
        &["od", "-A", "x", "-t", "x1", "data.txt"],
        &["gzip", "-c"],
        &["date", "-u", "-d", "@86400", "+%F %T"],
        &["sh", "-c", "x=6; echo $((x * 7)); for i in 1 2 3; do echo item $i; done; test -f data.txt && echo yes"],
        &["sh", "-c", "exit 3"],
        &["sh", "-c", "seq 5 | sort -r"],
        &["sh", "-c", "seq 100 | sort -rn | head -n 3; echo status $?"],
        &["sh", "-c", "for i in 1 2 3; do echo line $i; done | tac"],
        &["sh", "-c", "x=$(seq 4 | sort -rn | head -n 1); echo got $x; (exit 5); echo sub $?"],
        &["sh", "-c", "false | true; echo $?; true | false; echo $?"],
        &["sh", "-c", "sort -k2 -n data.txt | head -n 2 | sort"],
        &["false"],
        &["nosuchapplet"],
    ];
    let mut mismatches = Vec::new();
    for args in cases {
        let mut ours = tagmmu();
        ours.current_dir(dir.path())
            .args(["exec", "--clear-env", "--file"])
            .arg(format!("/data.txt={}", data.display()))
            .arg(&bb)
            .args(*args);
        let mut theirs = Command::new(&qemu);
        theirs.current_dir(dir.path()).env_clear().args(["-cpu", "max"]).arg(&bb).args(*args);
        let (o, t) = (run_with_stdin(ours, stdin), run_with_stdin(theirs, stdin));
        if o.stdout != t.stdout || status(&o) != status(&t) {
            mismatches.push(format!(
                "busybox {args:?}: tagmmu {} {:?} (stderr {:?}) vs qemu {} {:?}",
                status(&o),
                text(&o.stdout),
                text(&o.stderr),
                status(&t),
                text(&t.stdout)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// Pipelines of applets the shell execs from PATH (/bin/wc, /bin/tr, /bin/grep: busybox
/// placed there), each stage a forked process that execs.
#[test]
fn busybox_pipelines_fork_and_exec_each_stage() {
    let bb = busybox();
    for (cmd, out) in [
        ("seq 3 | wc -l", "3\n"),
        ("echo hello | tr a-z A-Z", "HELLO\n"),
        ("seq 20 | grep 1 | sort -r | wc -l", "11\n"),
        ("echo a b c | tr ' ' '\\n' | grep -c .; echo done", "3\ndone\n"),
    ] {
        let mut c = tagmmu();
        c.args(["exec", "--clear-env"]);
        for applet in ["wc", "tr", "grep"] {
            c.arg("--file").arg(format!("/bin/{applet}={}", bb.display()));
        }
        let o = c.arg(&bb).args(["sh", "-c", cmd]).output().unwrap();
        assert_eq!((text(&o.stdout).as_str(), o.status.code()), (out, Some(0)), "{cmd}: {}", text(&o.stderr));
    }
}

/// execve through busybox: the shell's `exec` and `env -i` replace the program with the one
/// placed at /bin/busybox (not differential: qemu-user would look for it on the host).
#[test]
fn busybox_execs_programs_from_the_guest_filesystem() {
    let bb = busybox();
    for (args, out, status) in [
        (vec!["sh", "-c", "echo before; exec /bin/busybox echo replaced by exec"], "before\nreplaced by exec\n", 0),
        (vec!["env", "-i", "X=1", "/bin/busybox", "sh", "-c", "echo X=$X; exit 4"], "X=1\n", 4),
        // A #! script runs its interpreter with the script's path and the arguments.
        (vec!["sh", "-c", "/bin/greet.sh world; echo status $?"], "hi world from /bin/greet.sh\nstatus 7\n", 0),
    ] {
        let script = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(script.path(), "#!/bin/busybox sh\necho hi $1 from $0\nexit 7\n").unwrap();
        let o = tagmmu()
            .args(["exec", "--clear-env", "--file"])
            .arg(format!("/bin/greet.sh={}", script.path().display()))
            .arg("--file")
            .arg(format!("/bin/busybox={}", bb.display()))
            .arg(&bb)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!((text(&o.stdout).as_str(), o.status.code()), (out, Some(status)), "{args:?}: {}", text(&o.stderr));
    }
}
