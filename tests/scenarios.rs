//! Every scenario in `configs/` gives its expected result through the library and the CLI.

mod common;
use common::*;

use std::path::{Path, PathBuf};

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_scenario_passes_through_the_library() {
    let all = scenarios();
    assert!(all.len() >= 5);
    for path in all {
        let s = tagmmu::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.scenario.expect.is_some(), "{} has an expect block", path.display());
        let o = s.run(false).unwrap_or_else(|e| panic!("{e}"));
        let failed: Vec<_> = o.checks.iter().filter(|c| !c.ok).collect();
        assert!(o.passed(), "{}: {failed:#?}", path.display());
        assert!(!o.checks.is_empty());
    }
}

#[test]
fn every_scenario_passes_through_the_cli_with_json() {
    for path in scenarios() {
        let out = tagmmu().args(["run", "--json"]).arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}: {}", path.display(), text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        assert_eq!(v["passed"], true);
        assert!(v["checks"].as_array().is_some_and(|c| !c.is_empty()));
    }
}

#[test]
fn a_failed_expectation_fails_the_run() {
    let dir = scratch();
    let p = dir.path().join("wrong.yaml");
    std::fs::write(&p, "program: guest:arm64/exitcode\nargs: [\"3\"]\nexpect:\n  exit: 0\n").unwrap();
    let out = tagmmu().arg("run").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("FAIL exit: expected \"0\", got \"3\""), "{err}");
}

#[test]
fn a_bad_file_names_file_line_and_field() {
    let dir = scratch();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "program: guest:arm64/hello\nlimits:\n  insn_budgets: 5\n").unwrap();
    let out = tagmmu().arg("run").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:3:", p.display())), "{err}");
    assert!(err.contains("unknown field `insn_budgets`"), "{err}");
}
