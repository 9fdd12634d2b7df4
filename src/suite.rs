//! Many scenarios at once: collect the files (directories are searched for `*.yaml` /
//! `*.yml`), run them in parallel, and report them for people (a summary) or for CI: TAP 13 as
//! kselftest prints it, or JUnit XML for dashboards.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::kernel_stub::version::KernelVersion;
use crate::scenario::{self, Check};

/// How one scenario file ended.
#[derive(Clone, Debug)]
pub enum SuiteStatus {
    /// Every expectation held.
    Passed,
    /// Some did not: the failed checks.
    Failed(Vec<Check>),
    /// The file could not be loaded or run (a bad scenario, a missing program).
    Error(String),
}

/// One scenario file's result.
#[derive(Clone, Debug)]
pub struct SuiteResult {
    /// The file.
    pub path: PathBuf,
    /// The scenario's name (the file name when it could not be read).
    pub name: String,
    /// The outcome.
    pub status: SuiteStatus,
    /// Wall time.
    pub time: Duration,
    /// The whole run, when [`SuiteOptions::keep_outcomes`] asked for it (a report page draws it).
    pub outcome: Option<Box<scenario::Outcome>>,
}

impl SuiteResult {
    /// Did it pass?
    pub fn passed(&self) -> bool {
        matches!(self.status, SuiteStatus::Passed)
    }
}

/// Options for every scenario of a suite.
#[derive(Clone, Debug, Default)]
pub struct SuiteOptions {
    /// Model this kernel instead of each scenario's.
    pub kernel: Option<KernelVersion>,
    /// Let scenarios read host files outside their directories.
    pub allow_host_paths: bool,
    /// Keep each scenario's whole run in its result ([`SuiteResult::outcome`]).
    pub keep_outcomes: bool,
}

/// Errors of collecting the files.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A path given does not exist or cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A directory holds no scenario files.
    #[error("{0}: no scenario files (*.yaml, *.yml) in it")]
    Empty(String),
}

/// The scenario files of `paths`: files as given, directories searched (recursively, sorted)
/// for `*.yaml` and `*.yml`.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SuiteError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| SuiteError::Io { path: p.display().to_string(), source })?;
        if meta.is_dir() {
            let before = files.len();
            walk(p, &mut files)?;
            if files.len() == before {
                return Err(SuiteError::Empty(p.display().to_string()));
            }
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SuiteError> {
    let io = |source| SuiteError::Io { path: dir.display().to_string(), source };
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else if matches!(e.extension().and_then(|x| x.to_str()), Some("yaml") | Some("yml")) {
            out.push(e);
        }
    }
    Ok(())
}

/// Run one scenario file.
pub fn run_one(path: &Path, opts: &SuiteOptions) -> SuiteResult {
    let started = Instant::now();
    let file_name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let done = |name: String, status| SuiteResult {
        path: path.to_path_buf(),
        name,
        status,
        time: started.elapsed(),
        outcome: None,
    };
    let mut loaded = match scenario::load(path) {
        Ok(l) => l,
        Err(e) => return done(file_name, SuiteStatus::Error(e.to_string())),
    };
    if opts.kernel.is_some() {
        loaded.scenario.machine.kernel = opts.kernel;
    }
    loaded.allow_host_paths = opts.allow_host_paths;
    let name = loaded.scenario.name.clone().unwrap_or_else(|| file_name.clone());
    match loaded.run(false) {
        Ok(o) => {
            let status = if o.passed() {
                SuiteStatus::Passed
            } else {
                SuiteStatus::Failed(o.checks.iter().filter(|c| !c.ok).cloned().collect())
            };
            SuiteResult { outcome: opts.keep_outcomes.then(|| Box::new(o)), ..done(name, status) }
        }
        Err(e) => done(name, SuiteStatus::Error(e.to_string())),
    }
}

/// Run every file on `jobs` threads (all cores when None), in the files' order in the
/// result; `tick` is called as each finishes (for a progress bar).
pub fn run_all(
    files: &[PathBuf],
    opts: &SuiteOptions,
    jobs: Option<usize>,
    tick: &(dyn Fn() + Sync),
) -> Vec<SuiteResult> {
    let work = || {
        files.par_iter().map(|f| {
            let r = run_one(f, opts);
            tick();
            r
        })
    };
    match jobs.and_then(|j| rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build().ok()) {
        Some(pool) => pool.install(|| work().collect()),
        None => work().collect(),
    }
}

/// The exit status of a suite: 0 when every scenario passed, 2 when one could not be loaded
/// or run, else 1.
pub fn exit_status(results: &[SuiteResult]) -> u8 {
    if results.iter().any(|r| matches!(r.status, SuiteStatus::Error(_))) {
        2
    } else if results.iter().all(SuiteResult::passed) {
        0
    } else {
        1
    }
}

/// A summary for people: one line per scenario, then the totals.
pub fn summary(results: &[SuiteResult]) -> String {
    let mut s = String::new();
    for r in results {
        let (mark, why) = match &r.status {
            SuiteStatus::Passed => ("PASS ", String::new()),
            SuiteStatus::Failed(checks) => ("FAIL ", format!(": {}", failed_checks(checks))),
            SuiteStatus::Error(e) => ("ERROR", format!(": {e}")),
        };
        s += &format!("{mark} {} ({}){why}\n", r.name, r.path.display());
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    let errors = results.iter().filter(|r| matches!(r.status, SuiteStatus::Error(_))).count();
    s += &format!(
        "{} scenarios: {passed} passed, {} failed, {errors} errors\n",
        results.len(),
        results.len() - passed - errors
    );
    s
}

fn failed_checks(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|c| format!("{}: expected {}, got {}", c.what, c.expected, c.actual))
        .collect::<Vec<_>>()
        .join("; ")
}

/// TAP version 13, as kselftest prints it: a plan, one `ok`/`not ok` line per scenario, and for
/// a failure a YAML block with the failed checks (or the error).
pub fn tap(results: &[SuiteResult]) -> String {
    let mut s = format!("TAP version 13\n1..{}\n", results.len());
    for (i, r) in results.iter().enumerate() {
        let n = i + 1;
        let name = tap_description(&r.name);
        match &r.status {
            SuiteStatus::Passed => s += &format!("ok {n} {name}\n"),
            SuiteStatus::Failed(checks) => {
                s += &format!(
                    "not ok {n} {name}\n  ---\n  file: {}\n  failed:\n",
                    yaml_str(&r.path.display().to_string())
                );
                for c in checks {
                    s += &format!(
                        "    - check: {}\n      expected: {}\n      got: {}\n",
                        yaml_str(&c.what),
                        yaml_str(&c.expected),
                        yaml_str(&c.actual)
                    );
                }
                s += "  ...\n";
            }
            SuiteStatus::Error(e) => {
                s += &format!(
                    "not ok {n} {name}\n  ---\n  file: {}\n  error: {}\n  ...\n",
                    yaml_str(&r.path.display().to_string()),
                    yaml_str(e)
                );
            }
        }
    }
    s
}

/// A TAP description: no `#` (it would start a directive) and no line breaks.
fn tap_description(name: &str) -> String {
    name.replace('#', "\\#").replace(['\n', '\r'], " ")
}

/// A YAML double-quoted scalar.
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// JUnit XML: one test suite, one test case per scenario (`failure` for failed checks,
/// `error` for a scenario that could not be loaded or run), with wall times.
pub fn junit(results: &[SuiteResult]) -> String {
    let failures = results.iter().filter(|r| matches!(r.status, SuiteStatus::Failed(_))).count();
    let errors = results.iter().filter(|r| matches!(r.status, SuiteStatus::Error(_))).count();
    let total: f64 = results.iter().map(|r| r.time.as_secs_f64()).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s += &format!(
        "<testsuites name=\"tagmmu\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">\n",
        results.len()
    );
    s += &format!(
        "  <testsuite name=\"scenarios\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">\n",
        results.len()
    );
    for r in results {
        s += &format!(
            "    <testcase classname=\"tagmmu.scenarios\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
            xml(&r.name),
            xml(&r.path.display().to_string()),
            r.time.as_secs_f64()
        );
        match &r.status {
            SuiteStatus::Passed => s += "/>\n",
            SuiteStatus::Failed(checks) => {
                s += &format!(
                    ">\n      <failure message=\"{} check(s) failed\">{}</failure>\n    </testcase>\n",
                    checks.len(),
                    xml(&failed_checks(checks))
                );
            }
            SuiteStatus::Error(e) => {
                s += &format!(">\n      <error message=\"{}\"/>\n    </testcase>\n", xml(e));
            }
        }
    }
    s += "  </testsuite>\n</testsuites>\n";
    s
}

/// Escape text for an XML attribute or element; characters XML 1.0 cannot hold are dropped.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&apos;",
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Vec<SuiteResult> {
        let t = Duration::from_millis(1500);
        vec![
            SuiteResult {
                path: "a.yaml".into(),
                name: "alpha".into(),
                status: SuiteStatus::Passed,
                time: t,
                outcome: None,
            },
            SuiteResult {
                path: "b.yaml".into(),
                name: "beta # 2".into(),
                status: SuiteStatus::Failed(vec![Check {
                    what: "exit".into(),
                    expected: "0".into(),
                    actual: "1 <&>".into(),
                    ok: false,
                }]),
                time: t,
                outcome: None,
            },
            SuiteResult {
                path: "c.yaml".into(),
                name: "c".into(),
                status: SuiteStatus::Error("bad \"file\"".into()),
                time: t,
                outcome: None,
            },
        ]
    }

    #[test]
    fn tap_has_a_plan_a_line_per_scenario_and_yaml_for_failures() {
        let t = tap(&results());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "TAP version 13");
        assert_eq!(lines[1], "1..3");
        assert_eq!(lines[2], "ok 1 alpha");
        assert_eq!(lines[3], "not ok 2 beta \\# 2", "a # in a name is escaped");
        assert!(t.contains("    - check: \"exit\"\n      expected: \"0\"\n      got: \"1 <&>\"\n"), "{t}");
        assert!(t.contains("not ok 3 c\n  ---\n  file: \"c.yaml\"\n  error: \"bad \\\"file\\\"\"\n  ...\n"), "{t}");
        assert_eq!(t.lines().filter(|l| l.starts_with("ok ") || l.starts_with("not ok ")).count(), 3);
    }

    #[test]
    fn junit_counts_failures_and_errors_and_escapes() {
        let j = junit(&results());
        assert!(j.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"tagmmu\" tests=\"3\" failures=\"1\" errors=\"1\" time=\"4.500\">"), "{j}");
        assert!(j.contains("<testcase classname=\"tagmmu.scenarios\" name=\"alpha\" file=\"a.yaml\" time=\"1.500\"/>"));
        assert!(
            j.contains("<failure message=\"1 check(s) failed\">exit: expected 0, got 1 &lt;&amp;&gt;</failure>"),
            "{j}"
        );
        assert!(j.contains("<error message=\"bad &quot;file&quot;\"/>"), "{j}");
        assert_eq!(xml("a\u{1}b"), "ab", "control characters XML cannot hold are dropped");
    }

    #[test]
    fn the_exit_status_and_summary() {
        let r = results();
        assert_eq!(exit_status(&r), 2);
        assert_eq!(exit_status(&r[..2]), 1);
        assert_eq!(exit_status(&r[..1]), 0);
        let s = summary(&r);
        assert!(s.contains("PASS  alpha (a.yaml)\n"), "{s}");
        assert!(s.contains("FAIL  beta # 2 (b.yaml): exit: expected 0, got 1 <&>\n"), "{s}");
        assert!(s.ends_with("3 scenarios: 1 passed, 1 failed, 1 errors\n"), "{s}");
    }

    #[test]
    fn directories_are_searched_for_yaml_files_sorted() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        for f in ["b.yaml", "a.yml", "notes.txt", "sub/c.yaml"] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        let files = collect(&[d.path().to_path_buf()]).unwrap();
        let names: Vec<String> =
            files.iter().map(|f| f.strip_prefix(d.path()).unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.yml", "b.yaml", "sub/c.yaml"]);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(collect(&[empty.path().to_path_buf()]), Err(SuiteError::Empty(_))));
        assert!(matches!(collect(&[d.path().join("missing.yaml")]), Err(SuiteError::Io { .. })));
    }
}
