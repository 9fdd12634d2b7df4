//! Differential tests: every plain program marked `// tagmmu: differential` runs under
//! `tagmmu exec` and qemu-user (`qemu-aarch64 -cpu max`, `qemu-sparc64`), and both must print
//! the same stdout and exit the same.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

/// Arguments each program is run with (programs not listed run without arguments).
fn runs(name: &str) -> Vec<Vec<&'static str>> {
    match name {
        "args" => vec![vec!["one", "two words", "three"]],
        "exitcode" => vec![vec![], vec!["42"], vec!["255"]],
        "segv" => vec![vec!["read"], vec!["write"], vec!["exec"], vec!["ro"]],
        "signals" => vec![vec![], vec!["default"]],
        _ => vec![vec![]],
    }
}

/// Every program of `programs/<arch>/` marked `// tagmmu: differential` (and not
/// `// tagmmu: not-differential-on <arch>`), run under tagmmu and under qemu-user with the same
/// argv[0] and arguments: stdout and exit status must match.
fn compare_with_qemu(arch: &str, qemu: &str, qemu_args: &[&str]) -> usize {
    let qemu = require_tool(qemu, "qemu-user");
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let mut names: Vec<String> = std::fs::read_dir(programs.join(arch))
        .unwrap()
        .chain(std::fs::read_dir(programs.join("common")).unwrap())
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path()).is_ok_and(|t| {
                t.contains("// tagmmu: differential") && !t.contains(&format!("// tagmmu: not-differential-on {arch}"))
            })
        })
        .map(|e| e.path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 8, "the corpus has its differential programs: {names:?}");
    let mut compared = 0;
    for name in &names {
        let prog = guest(&format!("{arch}/{name}"));
        // Run both from the program's directory with the same argv[0], so args prints alike.
        let dir = prog.parent().unwrap();
        for args in runs(name) {
            let ours = Command::new(env!("CARGO_BIN_EXE_tagmmu"))
                .current_dir(dir)
                .args(["exec", "--clear-env"])
                .arg(format!("./{name}"))
                .args(&args)
                .output()
                .unwrap();
            let theirs = Command::new(&qemu)
                .current_dir(dir)
                .env_clear()
                .args(qemu_args)
                .arg(format!("./{name}"))
                .args(&args)
                .output()
                .unwrap();
            // qemu-user re-raises a fatal signal on itself; the shell convention is 128+sig.
            let status = |o: &std::process::Output| {
                use std::os::unix::process::ExitStatusExt;
                o.status.code().unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0))
            };
            assert_eq!(
                text(&ours.stdout),
                text(&theirs.stdout),
                "{arch}/{name} {args:?}: stdout differs (tagmmu stderr: {})",
                text(&ours.stderr)
            );
            assert_eq!(status(&ours), status(&theirs), "{arch}/{name} {args:?}: exit status differs");
            compared += 1;
        }
    }
    compared
}

#[test]
fn tagmmu_matches_qemu_aarch64() {
    let compared = compare_with_qemu("arm64", "qemu-aarch64", &["-cpu", "max"]);
    assert!(compared >= 14, "{compared} runs compared");
}

/// The sparc64 programs (no ADI: qemu-sparc64 has none) run as under qemu-sparc64.
#[test]
fn tagmmu_matches_qemu_sparc64() {
    let compared = compare_with_qemu("sparc64", "qemu-sparc64", &[]);
    assert!(compared >= 14, "{compared} runs compared");
}
