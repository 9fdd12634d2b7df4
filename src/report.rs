//! The result of a run, for people (one-line reports) and machines (JSON).

use crate::emu::{EmuStats, Stop};
use crate::kernel_stub::mm::MmStats;
use crate::kernel_stub::trace::TraceEvent;
use crate::kernel_stub::KernelStats;

/// Exit status of `tagmmu exec` when the wall-time budget runs out (as `timeout(1)`).
pub const EXIT_TIME_BUDGET: i32 = 124;
/// Exit status of `tagmmu exec` when the guest deadlocks (it would hang for ever: what
/// `timeout(1)` would report of the real run).
pub const EXIT_DEADLOCK: i32 = EXIT_TIME_BUDGET;
/// Exit status of `tagmmu exec` when the instruction budget runs out.
pub const EXIT_INSN_BUDGET: i32 = 125;

/// Counters of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RunStats {
    /// CPU counters.
    pub cpu: EmuStats,
    /// Memory counters.
    pub mm: MmStats,
    /// Kernel counters.
    pub kernel: KernelStats,
    /// Wall time of the run in microseconds.
    pub wall_us: u64,
}

/// Everything a run produced.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RunResult {
    /// How it ended.
    pub stop: Stop,
    /// What the guest wrote to fd 1, when captured.
    #[serde(serialize_with = "lossy")]
    pub stdout: Vec<u8>,
    /// What the guest wrote to fd 2, when captured.
    #[serde(serialize_with = "lossy")]
    pub stderr: Vec<u8>,
    /// Counters.
    pub stats: RunStats,
    /// Trace events kept.
    pub trace: Vec<TraceEvent>,
    /// Notices for the user (unknown syscalls, unmodelled requests).
    pub notices: Vec<String>,
    /// Kernel fault-in + uaccess loops that ran (search_ioctl, generic_perform_write, ...),
    /// pass by pass, with their verdicts and attempt counts.
    pub loops: Vec<crate::kernel_stub::loops::LoopReport>,
    /// O_DIRECT reads and writes on the btrfs mount: passes, fall-backs, unchecked granules.
    pub direct_io: Vec<crate::kernel_stub::btrfs::dio::DioReport>,
}

fn lossy<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

impl RunResult {
    /// The exit status a shell would see for this run, as with qemu-user: the guest's status,
    /// 128 + signal when a signal killed it, or the budget statuses.
    pub fn exit_code(&self) -> i32 {
        match &self.stop {
            Stop::Exited { status } => *status,
            Stop::Killed { signal } => 128 + signal.signo as i32,
            Stop::InsnBudget { .. } => EXIT_INSN_BUDGET,
            Stop::TimeBudget { .. } => EXIT_TIME_BUDGET,
            Stop::Deadlock { .. } => EXIT_DEADLOCK,
        }
    }

    /// The one-line report for an abnormal end, or `None` after a normal exit.
    pub fn report_line(&self) -> Option<String> {
        match &self.stop {
            Stop::Exited { .. } => None,
            Stop::Killed { signal } => Some(format!("tagmmu: guest killed by {signal}")),
            Stop::InsnBudget { executed } => {
                Some(format!("tagmmu: instruction budget exhausted after {executed} instructions; guest stopped"))
            }
            Stop::TimeBudget { elapsed_ms } => {
                Some(format!("tagmmu: wall-time budget exhausted after {elapsed_ms} ms; guest stopped"))
            }
            Stop::Deadlock { reason } => {
                Some(format!("tagmmu: deadlock: {reason}; Linux would wait for ever, tagmmu stopped the guest"))
            }
        }
    }
}
