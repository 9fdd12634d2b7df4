//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A built guest program, or a test failure that says how to build it.
pub fn guest(name: &str) -> PathBuf {
    tagmmu::programs::guest_program(name).unwrap_or_else(|e| panic!("{e}"))
}

/// The tagmmu binary.
pub fn tagmmu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tagmmu"))
}

/// Run `tagmmu exec` on a guest program with arguments, empty environment.
pub fn exec(program: &Path, args: &[&str]) -> Output {
    tagmmu().arg("exec").arg("--clear-env").arg(program).args(args).output().expect("run tagmmu")
}

/// Text of a byte stream.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Find a host tool, or fail the test naming the package that provides it.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("{tool} is needed by this test: install {package} (`make setup` does)");
}

/// A scratch directory removed at the end of the test.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
