//! YAML scenarios: one file names the program, its arguments, the machine options and what
//! the run is expected to do. This module owns the schema; unknown fields are errors, and
//! every error names the file, the line and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::arch::Arch;
use crate::emu::{RunLimits, Stop};
use crate::kernel_stub::signal::{code_name, signal_name};
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::vfs::{InputSource, OutputSink};
use crate::machine::{self, MachineConfig, MachineError};
use crate::report::RunResult;

mod check;
mod schema;
mod translate;

use check::check;
pub use check::{Check, Outcome};
pub use schema::*;

/// Errors of scenario files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Error.
        source: std::io::Error,
    },
    /// The YAML does not fit the schema.
    #[error("{path}:{line}:{column}: {msg}")]
    Parse {
        /// Path.
        path: String,
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// What is wrong, naming the field.
        msg: String,
    },
    /// The YAML is too large, too deep, or its aliases expand too far.
    #[error("{path}: {source}")]
    Limit {
        /// Path.
        path: String,
        /// Which bound.
        source: crate::yaml_guard::YamlLimitError,
    },
    /// A value that parses but makes no sense.
    #[error("{path}: field `{field}`: {msg}")]
    Invalid {
        /// Path.
        path: String,
        /// The field.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// The machine could not run.
    #[error("{path}: {source}")]
    Machine {
        /// Path.
        path: String,
        /// Error.
        source: MachineError,
    },
}

/// A parsed scenario with the directory its relative paths start from.
#[derive(Clone, Debug)]
pub struct LoadedScenario {
    /// The scenario.
    pub scenario: Scenario,
    /// The file.
    pub path: PathBuf,
    /// Let `program` and `files[].host` name host files outside the scenario's directory
    /// (absolute paths, `..`, symlinks out). Off by default: a scenario from someone else
    /// must not read the host's files (`tagmmu run --allow-host-paths`).
    pub allow_host_paths: bool,
}

/// Parse scenario text; `path` is used in messages and for relative paths.
pub fn parse(text: &str, path: &Path) -> Result<LoadedScenario, ScenarioError> {
    crate::yaml_guard::check(text)
        .map_err(|source| ScenarioError::Limit { path: path.display().to_string(), source })?;
    let scenario: Scenario = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        ScenarioError::Parse { path: path.display().to_string(), line, column, msg: e.to_string() }
    })?;
    let loaded = LoadedScenario { scenario, path: path.to_path_buf(), allow_host_paths: false };
    // A scenario that expects nothing would pass whatever happens: a check that cannot fail.
    if loaded.scenario.expect.as_ref().is_none_or(Expect::is_empty) {
        return Err(loaded.invalid(
            "expect",
            "the scenario expects nothing, so it could never fail: give at least one of exit, signal, stop, stdout, loops, ...",
        ));
    }
    let loops = loaded.scenario.expect.as_ref().map_or(&[][..], |e| &e.loops[..]);
    if let Some(i) = loops.iter().position(ExpectLoop::is_empty) {
        return Err(loaded.invalid(&format!("expect.loops[{i}]"), "this loop entry checks nothing"));
    }
    Ok(loaded)
}

/// Read and parse a scenario file.
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let text = crate::yaml_guard::read_bounded(path)
        .map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
    parse(&text, path)
}

impl LoadedScenario {
    /// Run the scenario and check its expectations.
    pub fn run(&self, trace: bool) -> Result<Outcome, ScenarioError> {
        let mut cfg = self.machine_config()?;
        if trace {
            cfg.trace.syscalls = true;
            cfg.trace.keep = true;
        }
        let result = machine::run(&cfg)
            .map_err(|source| ScenarioError::Machine { path: self.path.display().to_string(), source })?;
        let checks = self.scenario.expect.as_ref().map(|e| check(e, &result)).unwrap_or_default();
        Ok(Outcome { name: self.name(), description: self.scenario.description.clone(), result, checks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<LoadedScenario, ScenarioError> {
        parse(text, Path::new("configs/x.yaml"))
    }

    #[test]
    fn unknown_fields_name_file_line_and_field() {
        let e = p("program: guest:arm64/hello\nmachine:\n  kernal: \"5.16\"\n").unwrap_err().to_string();
        assert!(e.starts_with("configs/x.yaml:3:"), "{e}");
        assert!(e.contains("unknown field `kernal`"), "{e}");
    }

    #[test]
    fn a_btrfs_tree_too_large_for_host_memory_is_refused_before_it_is_built() {
        let items: Vec<String> =
            (0..5000).map(|i| format!("{{objectid: {i}, type: 1, offset: 0, size: 65535}}")).collect();
        let text = format!(
            "program: guest:arm64/hello\nbtrfs: {{mount: /mnt, leaves: [{{generation: 1, items: [{}]}}]}}\nexpect: {{exit: 0}}\n",
            items.join(",")
        );
        let e = p(&text).unwrap().machine_config().unwrap_err().to_string();
        assert!(e.contains("btrfs.leaves[0].items[4096]") && e.contains("more than 256 MiB"), "{e}");
    }

    #[test]
    fn kernel_version_must_be_a_string() {
        let e = p("program: x\nmachine:\n  kernel: 5.10\n").unwrap_err().to_string();
        assert!(e.contains("quoted string"), "{e}");
        let s = p("program: x\nmachine:\n  kernel: \"6.12\"\nexpect: {exit: 0}\n").unwrap();
        assert_eq!(s.scenario.machine.kernel, Some(KernelVersion { major: 6, minor: 12 }));
        let e = p("program: x\nmachine:\n  kernel: \"5.10\"\n").unwrap_err().to_string();
        assert!(e.contains("5.10 is not modelled") && e.contains("6.18"), "{e}");
        assert!(p("program: x\nmachine:\n  kernel: \"five\"\n")
            .unwrap_err()
            .to_string()
            .contains("invalid kernel version"));
    }

    #[test]
    fn missing_program_and_bad_types() {
        assert!(p("args: []\n").unwrap_err().to_string().contains("missing field `program`"));
        assert!(p("program: x\nlimits:\n  insn_budget: lots\n").unwrap_err().to_string().contains("insn_budget"));
        // (Host paths allowed: the program `x` does not exist, and is not what is tested.)
        let mut s = p("program: x\nfiles:\n  - path: /tmp/a\nexpect: {exit: 0}\n").unwrap();
        s.allow_host_paths = true;
        assert!(s.machine_config().unwrap_err().to_string().contains("files[0]"));
        let mut s = p("program: x\nexpect:\n  stop: crashed\n").unwrap();
        s.allow_host_paths = true;
        assert!(s.machine_config().unwrap_err().to_string().contains("expect.stop"));
    }
}
