//! CPU backends (Unicorn), ELF loading and disassembly.

mod access_hook;
pub mod arm64;
mod backend;
mod block_counter;
pub mod disasm;
pub mod engine_build;
mod guard;
mod run_loop;
mod soft_tlb;
pub mod sparc64;
mod translation_cache;
mod walk_cache;

use std::fmt;
use std::time::Duration;

use crate::kernel_stub::signal::{code_name, signal_name};

/// Limits on a run, so that an endless guest always ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunLimits {
    /// Stop after about this many instructions (counted per translation block).
    pub insn_budget: Option<u64>,
    /// Stop after this much wall time.
    pub time_budget: Option<Duration>,
    /// Stop once another thread raises this flag, as if the wall-time budget had run out
    /// ([`Stop::TimeBudget`]; looked at where the wall clock is).
    pub stop_flag: Option<StopFlag>,
}

/// A flag another thread raises to end a run ([`RunLimits::stop_flag`]): how a driver ends a
/// machine it gave up waiting for (one whose guest blocked its timer signal and spins, which
/// would otherwise run on until its instruction budget, on a thread nobody joins).
#[derive(Clone, Debug, Default)]
pub struct StopFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl StopFlag {
    /// A flag not raised yet.
    pub fn new() -> StopFlag {
        StopFlag::default()
    }
    /// Raise it: the run stops at its next look at the wall clock (every few thousand
    /// blocks, and after every kernel entry).
    pub fn raise(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    /// Whether it was raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Two flags are equal when they are the same flag.
impl PartialEq for StopFlag {
    fn eq(&self, other: &StopFlag) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for StopFlag {}

/// A signal that ended the guest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct FatalSignal {
    /// Signal number.
    pub signo: u32,
    /// Its name (`SIGSEGV`).
    pub name: String,
    /// `si_code`.
    pub si_code: i32,
    /// Its name (`SEGV_MAPERR`).
    pub code_name: String,
    /// The fault address (`si_addr`) for a fault.
    pub addr: Option<u64>,
    /// Where the guest was.
    pub pc: u64,
    /// The instruction at `pc`, disassembled.
    pub insn: String,
    /// More about the fault (for a tag check fault: the pointer and memory tags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl FatalSignal {
    /// A fatal signal with names filled in.
    pub fn new(signo: u32, si_code: i32, addr: Option<u64>, pc: u64, insn: String) -> FatalSignal {
        FatalSignal {
            signo,
            name: signal_name(signo),
            si_code,
            code_name: code_name(signo, si_code),
            addr,
            pc,
            insn,
            detail: None,
        }
    }
}

impl fmt::Display for FatalSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.code_name)?;
        if let Some(a) = self.addr {
            write!(f, " at address {a:#x}")?;
        }
        write!(f, ", pc {:#x}: {}", self.pc, self.insn)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stop {
    /// The guest exited with this status.
    Exited {
        /// The exit status (0..=255).
        status: i32,
    },
    /// A signal killed the guest.
    Killed {
        /// The signal.
        signal: FatalSignal,
    },
    /// The instruction budget ran out.
    InsnBudget {
        /// Instructions executed.
        executed: u64,
    },
    /// The wall-time budget ran out.
    TimeBudget {
        /// Milliseconds elapsed.
        elapsed_ms: u64,
    },
    /// The task went to sleep in a syscall that nothing can end (it waits for a pipe only it
    /// can feed, or polls with no timeout): Linux would hang here; tagmmu stops.
    Deadlock {
        /// The syscall and why it can never return.
        reason: String,
    },
}

/// Counters from the CPU backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct EmuStats {
    /// Instructions executed (counted per translation block: a block left early by a fault
    /// still counts whole).
    pub instructions: u64,
    /// Translation blocks executed.
    pub blocks: u64,
    /// TLB fills (page walks).
    pub tlb_fills: u64,
    /// Flushes of the whole TLB (an address-space change, a thread switch, a thrashing TLB,
    /// code the kernel wrote, too many single pages at once).
    pub tlb_flushes: u64,
    /// Pages whose TLB entries alone were dropped: the fault windows of refused accesses (a
    /// SIGSEGV or a tag-check fault costs one, not a flush of the whole TLB).
    pub tlb_page_flushes: u64,
    /// TLB flushes made because the TLB thrashed, so that QEMU grows it.
    pub tlb_grow_flushes: u64,
    /// Times every translation was dropped because the kernel wrote into more pages the CPU
    /// may have translated code from than it lists at once (see `code_pages_invalidated`).
    pub code_flushes: u64,
    /// Pages the CPU may have translated code from whose translations alone were dropped
    /// because the kernel wrote into them (a `read(2)` into JIT code, a SPARC window spill
    /// onto a stack in run-time code). Writes into executable pages the CPU never fetched
    /// from (SPARC's RWX data segment: signal frames on an alternate stack in .bss, reads
    /// into static buffers) drop nothing.
    pub code_pages_invalidated: u64,
    /// Emulated instructions (MRS of ID registers, tag instructions).
    pub emulated_insns: u64,
    /// Of those, the tag instructions the C fast path emulated without the Rust hook (arm64;
    /// see `emu::arm64::tag_insn`).
    pub emulated_insns_fast: u64,
    /// Whether the tag-check hook was installed during the run (MTE: the DC ZVA check; ADI:
    /// the memory hook on the version aliases). It is installed only once the task has
    /// tag-checked memory and checking on (MTE: a PROT_MTE mapping and a TCF mode other than
    /// none; ADI: PSTATE.mcde): untagged programs do not pay for tags. (Any memory hook sends
    /// every guest access through Unicorn's slow path; MTE's loads and stores are checked in
    /// MMIO windows, which need none.)
    pub tag_checks_installed: bool,
    /// The most memory regions the engine had at once. Anonymous guest memory is one region
    /// (the arena) plus one per tag alias however many mappings the guest makes; adopted page
    /// caches add theirs.
    pub engine_regions_peak: u64,
    /// The most soft-TLB entries the CPU had (all MMU modes), seen at each full TLB flush.
    /// QEMU grows a mode's table when it is mostly in use; see `soft_tlb` for why tagmmu
    /// recounts the use first.
    pub tlb_entries_peak: u64,
    /// TLB fills that entered a tag-checked page without checks, because every granule of it
    /// matched the pointer's tag (arm64).
    pub unchecked_tlb_fills: u64,
    /// Accesses to tag-checked MMIO windows (arm64: pages whose granules mix tags) that were
    /// checked and then performed directly on guest memory, without QEMU's memory dispatch
    /// (tagmmu's Unicorn patch 0007, `crate::emu::access_hook`).
    pub window_accesses_direct: u64,
    /// Accesses to tag-checked MMIO windows that the inline check in the generated code
    /// passed and performed, without QEMU's helper or the window's check (tagmmu's Unicorn
    /// patch 0013): within one granule carrying the window's tag, on a page the windows' tag
    /// cache holds.
    pub window_accesses_inline: u64,
    /// Accesses to tag-checked MMIO windows that went through QEMU's memory dispatch to the
    /// windows' callbacks (a code fetch, or any access while a memory hook exists).
    pub window_accesses_dispatched: u64,
    /// Of those window accesses, the pieces of accesses Unicorn split (an access across two
    /// pages: one within a page is checked whole).
    pub window_split_pieces: u64,
}

/// The result of a run: the kernel (with its files and counters), how it ended, counters.
pub struct RunOutput {
    /// The kernel stub after the run.
    pub kernel: crate::kernel_stub::Kernel,
    /// How the run ended.
    pub stop: Stop,
    /// CPU counters.
    pub stats: EmuStats,
}

/// Errors of the CPU backend (not guest faults: those are signals).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmuError {
    /// Unicorn refused an operation.
    #[error("unicorn: {op}: {err:?}")]
    Unicorn {
        /// What tagmmu was doing.
        op: &'static str,
        /// Unicorn's error.
        err: unicorn_engine::uc_error,
    },
    /// An invariant of tagmmu broke (a bug): reported, never a host crash.
    #[error("internal error: {0}")]
    Internal(String),
    /// The guest needs something tagmmu does not model yet.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The linked Unicorn is not the build this tagmmu expects ([`engine_build`]).
    #[error("engine build: {0}")]
    EngineBuild(String),
}

/// Attach an operation name to a Unicorn result.
pub(crate) trait UcContext<T> {
    fn op(self, op: &'static str) -> Result<T, EmuError>;
}

impl<T> UcContext<T> for Result<T, unicorn_engine::uc_error> {
    fn op(self, op: &'static str) -> Result<T, EmuError> {
        self.map_err(|err| EmuError::Unicorn { op, err })
    }
}
