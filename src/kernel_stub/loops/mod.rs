//! Kernel fault-in + uaccess loops as steppable state machines.
//!
//! Every loop of Linux that copies to or from user memory with page faults disabled, faults
//! the range in when the copy comes back short and retries, is written here (or beside its
//! filesystem) as a [`KernelLoop`]: one pass at a time, with the loop's whole state
//! capturable. [`Kernel::run_kernel_loop`] then runs any of them under the live-lock watch
//! ([`crate::kernel_stub::livelock`]): each pass is logged as [`LoopEvent`]s (fault-in calls,
//! copies, notes), the attempt counts follow from the log, and a repeated state is a proof
//! that the loop can never end. This is the shape of gimli's resumable evaluator: the loop
//! never runs away, the caller steps it and can stop it.
//!
//! The loops, with the kernel functions and commits each follows, are documented in their
//! modules: [`perform_write`] (`generic_perform_write`), [`crate::kernel_stub::btrfs::search`]
//! (`search_ioctl`).

pub mod iomap_write;
pub mod perform_write;
pub mod picture;
pub mod report;

use serde::Serialize;

use crate::kernel_stub::fault_in::FaultInFn;
use crate::kernel_stub::livelock::{LoopWatch, Watch};
use crate::kernel_stub::mm::{Access, AddressSpace, Prot, UserProbe};
use crate::kernel_stub::uaccess::UaccessCtx;
use crate::kernel_stub::Kernel;

pub use picture::BufferPicture;
pub use report::{LivelockAction, LoopReport, LoopTiming, Verdict};

/// Which way a copy goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyDir {
    /// Kernel to user (`copy_to_user`: user stores).
    ToUser,
    /// User to kernel (`copy_from_user`: user loads).
    FromUser,
}

/// Why a user access stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultCause {
    /// The granule's (block's) tag does not match the pointer's.
    TagMismatch,
    /// The page is not present and page faults are disabled.
    NotPresent,
    /// No mapping, or the mapping does not allow the access.
    NoAccess,
}

/// Where a user access stopped, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FaultSite {
    /// The first byte not reached (untagged).
    pub addr: u64,
    /// The pointer's tag (MTE) or version (ADI).
    pub ptr_tag: u8,
    /// The memory tag of the granule there, on tag-checked memory.
    pub mem_tag: Option<u8>,
    /// Why.
    pub cause: FaultCause,
}

impl FaultSite {
    /// Classify the fault at user address `ptr` (tagged) for an access of kind `access`.
    pub fn at(mm: &AddressSpace, ctx: UaccessCtx, ptr: u64, access: Access) -> FaultSite {
        let ptr_tag = mm.layout().tags.pointer_tag(ptr);
        let addr = mm.untag(ptr).unwrap_or(ptr);
        let mem_tag = mm.tag_at(addr);
        let need = if access == Access::Write { Prot::WRITE } else { Prot::READ };
        let cause = match mm.prot_at(addr) {
            Some(p) if p.contains(need) => {
                if ctx.pagefault_disabled && !mm.is_present(addr) {
                    FaultCause::NotPresent
                } else if mem_tag.is_some_and(|t| !mm.layout().tags.matches(ptr_tag, t)) {
                    FaultCause::TagMismatch
                } else {
                    FaultCause::NoAccess
                }
            }
            _ => FaultCause::NoAccess,
        };
        FaultSite { addr, ptr_tag, mem_tag, cause }
    }
}

/// One thing a pass did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LoopEvent {
    /// A `fault_in_*()` call.
    FaultIn {
        /// The function.
        func: FaultInFn,
        /// The user range it was given.
        start: u64,
        /// Its length.
        len: u64,
        /// What it returned: bytes not faulted in (5.16+), or 0 / -EFAULT (5.15).
        result: i64,
    },
    /// A copy with page faults disabled.
    Copy {
        /// The kernel function doing it (`copy_page_from_iter_atomic`, `copy_to_user_nofault`).
        func: String,
        /// What it copied, in words ("the 32-byte search header of item (256, 1, 0)").
        what: String,
        /// Direction.
        dir: CopyDir,
        /// The user address it started at (tagged).
        start: u64,
        /// Bytes asked for.
        len: u64,
        /// Bytes it reported copied (accepted by the loop or not).
        copied: u64,
        /// Where the user access stopped, when it did.
        fault: Option<FaultSite>,
    },
    /// The loop's own step, in words.
    Note {
        /// The text.
        text: String,
    },
}

/// How a pass ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassEnd {
    /// The loop goes round again.
    Continue,
    /// The loop is over; the syscall returns this (negative errno on failure).
    Done(i64),
}

/// One pass as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PassLog {
    /// Pass number, from 0.
    pub pass: u64,
    /// The loop's progress position at the start of the pass (see
    /// [`KernelLoop::position_name`]).
    pub position: u64,
    /// What it did.
    pub events: Vec<LoopEvent>,
    /// The position at the end of the pass.
    pub position_after: u64,
    /// The user buffer at the start of the pass (the first [`picture::MAX_PICTURED_PASSES`]
    /// passes, when the kernel keeps pictures: [`crate::kernel_stub::KernelConfig::loop_pictures`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<BufferPicture>,
    /// The one-byte probes of the pass's `fault_in_*()` calls, in order (recorded with the
    /// pictures).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<UserProbe>,
    /// A digest of the loop's complete state at the start of the pass (what the live-lock
    /// proof compares), while the proof watches and the kernel keeps pictures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_digest: Option<u64>,
}

/// A kernel loop that can be run one pass at a time.
///
/// The contract the live-lock proof rests on: a pass's behaviour is a function of
/// [`KernelLoop::state`] and of the bytes, tags and page presence of
/// [`KernelLoop::user_ranges`] (plus fixed inputs such as a file's contents that the loop
/// only reads). A loop whose passes also depend on something else must put it in `state`.
pub trait KernelLoop {
    /// Short identifier (`generic_perform_write`, `search_ioctl`): what scenarios and sweeps
    /// name the loop by.
    fn id(&self) -> &'static str;
    /// The name shown to people (`generic_perform_write (tmpfs write)`).
    fn title(&self) -> String;
    /// What [`KernelLoop::position`] counts (`bytes written`, `sk_offset`).
    fn position_name(&self) -> &'static str;
    /// The loop's progress: where it would resume.
    fn position(&self) -> u64;
    /// Run one pass, logging what it does.
    fn step(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> PassEnd;
    /// The loop's own variables, for the proof.
    fn state(&self) -> Vec<u8>;
    /// The user ranges (tagged start, length) whose memory belongs to the state.
    fn user_ranges(&self) -> Vec<(u64, u64)>;
    /// Where the loop checks for a fatal signal, if it does (a live-locked task can then be
    /// killed); `None` for a loop that checks none and spins unkillably.
    fn signal_check(&self) -> Option<&'static str> {
        None
    }
}

/// How [`Kernel::run_kernel_loop`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopEnd {
    /// The loop returned this.
    Returned(i64),
    /// It was proven live-locked (or ran out of its budget) and the configured action is to
    /// fail the syscall with this errno (tagmmu's choice: a real kernel spins).
    Failed(crate::kernel_stub::errno::Errno),
    /// It was proven live-locked and the configured action kills the task (tagmmu's choice).
    Killed,
}

impl Kernel {
    /// The complete state of `l`: its variables, then the bytes, tags and page presence of
    /// its user ranges. A range that is not (or no longer) user memory is recorded as absent
    /// with its length, so the state never silently shrinks.
    pub fn kernel_loop_state(&self, l: &dyn KernelLoop) -> Vec<u8> {
        let mut state = l.state();
        for (start, len) in l.user_ranges() {
            state.extend_from_slice(&start.to_le_bytes());
            state.extend_from_slice(&len.to_le_bytes());
            let Some(a) = self.mm.untag(start) else {
                state.push(0xee);
                continue;
            };
            let mut bytes = vec![0; len as usize];
            let readable = self.mm.read_kernel(a, &mut bytes).is_ok();
            state.push(readable as u8);
            if readable {
                state.extend_from_slice(&bytes);
            }
            state.extend(self.mm.dump_tags(a, len).into_iter().map(|t| t.unwrap_or(0xff)));
            let page = self.mm.page_size();
            let mut p = a & !(page - 1);
            while p < a.saturating_add(len) {
                state.push(self.mm.is_present(p) as u8);
                p += page;
            }
        }
        state
    }

    /// Run `l` to its end under the live-lock watch and record its report. A proven
    /// live-lock (or an exhausted budget) ends as the machine's `livelock_action` says.
    pub fn run_kernel_loop(&mut self, l: &mut dyn KernelLoop) -> LoopEnd {
        let mut watch = LoopWatch::new(self.config.loop_budget);
        let mut report = LoopReport::new(l, self);
        let pictures = self.config.loop_pictures;
        let ubuf = l.user_ranges().first().copied();
        let outcome = loop {
            let t = std::time::Instant::now();
            let (watched, digest) = if watch.watching() {
                let state = self.kernel_loop_state(l);
                (watch.observe(&state), pictures.then(|| state_digest(&state)))
            } else {
                (watch.count(), None)
            };
            report.timing.proof_ns += t.elapsed().as_nanos() as u64;
            let pictured = pictures && report.passes.len() < picture::MAX_PICTURED_PASSES;
            let picture = match ubuf {
                Some((start, len)) if pictured || (pictures && watched != Watch::Running) => {
                    Some(self.buffer_picture(start, len))
                }
                _ => None,
            };
            if watched != Watch::Running {
                (report.end_picture, report.end_state_digest) = (picture, digest);
                break match watched {
                    Watch::Livelock(cycle) => Verdict::Livelock { cycle },
                    _ => Verdict::BudgetExhausted,
                };
            }
            let t = std::time::Instant::now();
            let mut events = Vec::new();
            let position = l.position();
            let pass = report.passes.len() as u64;
            if pictured {
                self.mm.record_probes();
            }
            let end = l.step(self, &mut events);
            let probes = self.mm.take_probes();
            report.timing.passes_ns += t.elapsed().as_nanos() as u64;
            report.passes.push(PassLog {
                pass,
                position,
                events,
                position_after: l.position(),
                before: picture,
                probes,
                state_digest: digest,
            });
            if let PassEnd::Done(ret) = end {
                if let Some((start, len)) = ubuf.filter(|_| pictures) {
                    report.end_picture = Some(self.buffer_picture(start, len));
                }
                break Verdict::Completed { ret };
            }
        };
        if let Some(pass) = watch.gave_up_at() {
            report.watch_note = Some(format!(
                "the live-lock watch stopped comparing states at pass {pass}: they grew past {} MiB (a repeat after it could not be proven)",
                crate::kernel_stub::livelock::MAX_WATCHED_BYTES >> 20
            ));
        }
        report.finish(outcome, l, self);
        let end = match (&report.verdict, &self.config.livelock_action) {
            (Verdict::Completed { ret }, _) => LoopEnd::Returned(*ret),
            (_, LivelockAction::Kill) => {
                let why = match &report.verdict {
                    Verdict::Livelock { cycle } => format!(
                        "{} is proven live-locked (cycle of {} pass(es), {} stuck at {})",
                        report.id,
                        cycle.length(),
                        report.position_name,
                        report.stuck_at.unwrap_or_default()
                    ),
                    _ => format!("{} ran out of its loop budget without a proof", report.id),
                };
                self.livelock_kill = Some(format!(
                    "tagmmu's `livelock: {{action: kill}}` ended the task, not the kernel: {why}; a real kernel would spin in this loop forever"
                ));
                LoopEnd::Killed
            }
            (_, LivelockAction::Fail { errno }) => LoopEnd::Failed(
                crate::kernel_stub::errno::Errno::from_name(errno).unwrap_or(crate::kernel_stub::errno::Errno::EINTR),
            ),
        };
        self.loop_reports.push(report);
        end
    }
}

/// A digest of a loop's complete state (FNV-1a, 64 bits): equal states have equal digests,
/// so the report can show the two states the proof found equal.
pub fn state_digest(state: &[u8]) -> u64 {
    state.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

impl LoopEnd {
    /// The syscall's result: the loop's return value, or the configured errno. A killed task
    /// returns nothing to the guest (the syscall layer sees [`Kernel::livelock_kill`]); the
    /// errno here is never delivered.
    pub fn syscall_result(&self) -> crate::kernel_stub::errno::KResult<u64> {
        use crate::kernel_stub::errno::Errno;
        match *self {
            LoopEnd::Returned(r) if r < 0 => Err(Errno::from_generic(-r).unwrap_or(Errno::EIO)),
            LoopEnd::Returned(r) => Ok(r as u64),
            LoopEnd::Failed(e) => Err(e),
            LoopEnd::Killed => Err(Errno::EINTR),
        }
    }
}

/// The rule a write loop applies to its prefault's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefaultRule {
    /// Any shortfall fails the chunk (5.15's 0 / -EFAULT, and the 5.16+ `!= 0` tests).
    AnyShortfall,
    /// Only "nothing could be faulted in" fails it (the 5.18+ `== bytes` tests).
    NothingFaultedIn,
}

/// A write loop's prefault of the next `bytes` of `iter`, logged: 5.15's
/// `iov_iter_fault_in_readable` (any failing probe is -EFAULT) or 5.16+'s
/// `fault_in_iov_iter_readable` judged by `rule`, with the page-fault state of `ctx`. True
/// when the loop must give the chunk up.
pub fn prefault_fails(
    k: &mut Kernel,
    ctx: UaccessCtx,
    iter: &crate::kernel_stub::iov_iter::IovIter,
    bytes: u64,
    rule: PrefaultRule,
    log: &mut Vec<LoopEvent>,
) -> bool {
    let start = iter.current();
    if !k.config.version.at_least(5, 16) {
        let r = iter.fault_in_readable_515(&mut k.mm, ctx, bytes);
        log.push(LoopEvent::FaultIn { func: FaultInFn::IovIterFaultInReadable, start, len: bytes, result: r });
        return r != 0;
    }
    let left = iter.fault_in_readable(&mut k.mm, ctx, k.config.version, bytes);
    log.push(LoopEvent::FaultIn { func: FaultInFn::IovIterReadable, start, len: bytes, result: left as i64 });
    match rule {
        PrefaultRule::AnyShortfall => left != 0,
        PrefaultRule::NothingFaultedIn => left == bytes,
    }
}

/// A loop's variables as state bytes: the words, then the pages of a set (uptodate or
/// cached file pages).
pub fn state_words(words: &[u64], pages: &std::collections::BTreeSet<u64>) -> Vec<u8> {
    words.iter().chain(pages.iter()).flat_map(|w| w.to_le_bytes()).collect()
}

/// How a loop that moves bytes ends: what it moved when it moved anything, else `status`
/// (negative errno or 0): `return written ? written : status`.
pub fn progress_result(moved: u64, status: i64) -> (Result<u64, crate::kernel_stub::errno::Errno>, PassEnd) {
    use crate::kernel_stub::errno::Errno;
    let r = if moved > 0 { moved as i64 } else { status };
    let result = if r < 0 { Err(Errno::from_generic(-r).unwrap_or(Errno::EIO)) } else { Ok(r as u64) };
    (result, PassEnd::Done(r))
}

/// Test set-up shared by the loops' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::arch::Arch;
    use crate::kernel_stub::loops::LivelockAction;
    use crate::kernel_stub::mm::{Access, MapRequest, Prot, VmaKind};
    use crate::kernel_stub::{Kernel, KernelConfig};

    /// An arm64 kernel of `version` whose thread checks tags synchronously, with `pages`
    /// PROT_MTE pages tagged 3 except the granule at `bad` (tag 9), present when `present`;
    /// a proven live-lock fails the syscall with EINTR. Returns it and the buffer's untagged
    /// address.
    pub fn tagged_kernel(version: &str, pages: u64, bad: u64, present: bool) -> (Kernel, u64) {
        let config = KernelConfig {
            version: version.parse().expect("a modelled version"),
            livelock_action: LivelockAction::Fail { errno: "EINTR".into() },
            ..Default::default()
        };
        let mut k = Kernel::new(Arch::Arm64, config);
        let req = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, pages * 4096, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).expect("room");
        for g in (0..pages * 4096).step_by(16) {
            k.mm.set_tag(a + g, 3);
        }
        k.mm.set_tag(a + bad, 9);
        if present {
            for p in 0..pages {
                k.mm.handle_user_fault(a + p * 4096, Access::Write).expect("mapped");
            }
        }
        k.uaccess.tagged_addr_abi = true;
        k.uaccess.check_loads = true;
        k.uaccess.check_stores = true;
        (k, a)
    }

    /// `a` with pointer tag 3.
    pub fn tag3(a: u64) -> u64 {
        a | (3 << 56)
    }
}
