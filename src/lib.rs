//! tagmmu emulates the tag-checking MMUs of arm64 MTE and SPARC ADI, with a Linux kernel stub,
//! so that sub-page faults and the kernel loops they can live-lock are reproducible anywhere.
//!
//! The layers, with one-way dependencies:
//! - [`machine`] assembles a guest from a [`scenario`] or from code and runs it;
//! - [`emu`] holds the CPU backends (Unicorn), ELF loading and disassembly;
//! - [`kernel_stub`] models the Linux kernel and never touches the CPU backend.
#![warn(missing_docs)]

pub mod addr;
pub mod arch;
pub mod kernel_stub;
pub mod emu;
pub mod machine;
pub mod report;
pub mod programs;
pub mod scenario;
