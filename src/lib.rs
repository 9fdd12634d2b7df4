//! tagmmu emulates the tag-checking MMUs of arm64 MTE and SPARC ADI, with a Linux kernel stub,
//! so that sub-page faults and the kernel loops they can live-lock are reproducible anywhere.
//!
//! The layers, with one-way dependencies:
//! - [`machine`] assembles a guest from a [`scenario`] or from code and runs it;
//! - [`emu`] holds the CPU backends (Unicorn), ELF loading and disassembly;
//! - [`kernel_stub`] models the Linux kernel and never touches the CPU backend.
//!
//! Running a guest program from a test suite ([`prelude`] brings in what such a test needs):
//!
//! ```
//! use tagmmu::prelude::*;
//!
//! let program = tagmmu::programs::guest_program("arm64/segv").expect("built by the build script");
//! let result = machine::run(&MachineConfig::new(program).args(["write"])).unwrap();
//! let Stop::Killed { signal } = &result.stop else { panic!("expected a fatal signal") };
//! assert_eq!(signal.name, "SIGSEGV");
//! assert_eq!(signal.code_name, "SEGV_MAPERR");
//! assert_eq!(signal.addr, Some(0x10));
//! assert_eq!(result.exit_code(), 128 + 11);
//! ```
//!
//! A kernel engineer's integration test: run a scenario's machine on two kernels and say what
//! must happen, with [`testing`]'s assertions (`assert_livelock`, `assert_progress`,
//! `expect_signal`; a failed one prints the kernel loops' narratives and tag maps).
//! `examples/kernel_engineer.rs` is the longer version (`cargo run --example kernel_engineer`):
//!
//! ```
//! use tagmmu::prelude::*;
//! use tagmmu::testing::{assert_livelock, assert_progress};
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/btrfs-5.16-livelock.yaml");
//! let mut cfg = scenario::load(std::path::Path::new(path)).unwrap().machine_config().unwrap();
//! assert_livelock(&machine::run(&cfg).unwrap(), "search_ioctl");
//! cfg.kernel.version = "5.19".parse().unwrap();
//! assert_progress(&machine::run(&cfg).unwrap(), "search_ioctl");
//! ```
//!
//! Enums and result structs that will grow are `#[non_exhaustive]`: a match needs a wildcard
//! arm, so a new variant (a new way for a run to end, say) does not break an embedder. Even a
//! match naming every variant of today's [`emu::Stop`] does not compile:
//!
//! ```compile_fail
//! fn kind(stop: &tagmmu::emu::Stop) -> &'static str {
//!     use tagmmu::emu::Stop;
//!     match stop {
//!         Stop::Exited { .. } => "exit",
//!         Stop::Killed { .. } => "signal",
//!         Stop::InsnBudget { .. } => "insn_budget",
//!         Stop::TimeBudget { .. } => "time_budget",
//!         Stop::Deadlock { .. } => "deadlock",
//!     }
//! }
//! ```
#![warn(missing_docs)]

/// What a test or a tool embedding tagmmu usually needs: build a machine, run it, look at how
/// it ended; run a scenario and its checks; the kernel versions and the architectures.
pub mod prelude {
    pub use crate::arch::Arch;
    pub use crate::emu::{FatalSignal, RunLimits, Stop};
    pub use crate::kernel_stub::loops::{LivelockAction, Verdict};
    pub use crate::kernel_stub::version::KernelVersion;
    pub use crate::kernel_stub::vfs::{HostStream, InputSource, OutputSink};
    pub use crate::kernel_stub::KernelConfig;
    pub use crate::machine::{self, MachineConfig};
    pub use crate::mte::{MteLevel, TcfMode};
    pub use crate::programs::guest_program;
    pub use crate::report::RunResult;
    pub use crate::scenario::{self, LoadedScenario, Outcome};
    pub use crate::suite::{self, SuiteResult, SuiteStatus};
    pub use crate::testing::{assert_livelock, assert_progress, expect_signal};
}

pub mod addr;
pub mod adi;
pub mod arch;
pub mod emu;
pub mod fuzz;
pub mod host_file;
pub mod kernel_stub;
pub mod loop_table;
pub mod machine;
pub mod mte;
pub mod programs;
pub mod progress;
pub mod report;
pub mod report_page;
pub mod scenario;
pub mod suite;
pub mod sweep;
pub mod tagmap;
pub mod tags;
pub mod testbed;
pub mod testing;
pub mod yaml_guard;
mod zeroed_bytes;
