//! The threads of the process: what each owns, how one is created (`clone` with
//! CLONE_THREAD), how one ends (`exit`, with its clear_child_tid and robust list), and the
//! context switch between them.
//!
//! The running thread's state lives in [`Kernel`]'s own fields (`signals`' mask and pending
//! set, `mte`, `uaccess`, `clear_child_tid`, ...), as Linux reaches it through `current`; every
//! other thread is parked in [`Threads`] with its copy of them. [`Kernel::schedule`] swaps
//! the two, so the rest of the kernel model needs no notion of threads. What each thread owns
//! follows Linux: the signal mask, its own pending signals and alternate stack, the tag-check
//! mode and the tagged-address ABI (`prctl(PR_SET_TAGGED_ADDR_CTRL)` is per thread), the
//! TID addresses and the robust list. The address space, files, signal handlers and the
//! process's pending signals are shared.

pub mod futex;
pub mod process;
pub mod sched;

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::addr::UserAddr;
use crate::arch::{read_u32, read_u64, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::signal::ThreadSignals;
use crate::kernel_stub::uaccess::{self, UaccessCtx};
use crate::kernel_stub::Kernel;
pub use sched::{Blocked, Resume, Switch, WaitOn};

/// A thread id (the main thread's is the process id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tid(pub u32);

impl std::fmt::Display for Tid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What one thread owns, while it is parked (not running).
#[derive(Clone, Debug)]
pub struct ThreadState {
    pub(crate) signals: ThreadSignals,
    pub(crate) mte: crate::mte::MteState,
    /// SPARC ADI's per-thread state (PSTATE.mcde, MCDPER, a pending disrupting error).
    pub(crate) adi: crate::adi::AdiState,
    pub(crate) uaccess: UaccessCtx,
    pub(crate) clear_child_tid: u64,
    pub(crate) robust_list: u64,
    pub(crate) current_sp: u64,
}

/// A parked thread: its state, what it waits for (if it sleeps), and how its interrupted
/// syscall resumes.
#[derive(Clone, Debug)]
pub(crate) struct Parked {
    /// Its process.
    pub(crate) pid: u32,
    pub(crate) state: ThreadState,
    pub(crate) wait: Option<Blocked>,
    pub(crate) resume: Resume,
    /// When it went to sleep (the futex queues wake in this order).
    pub(crate) since: u64,
    /// Its sleep was interrupted: write the time left (ns) at this address when it runs.
    pub(crate) rem_out: Option<(u64, u64)>,
}

/// A thread `clone` created, for the CPU backend to give a CPU context: a copy of the
/// creator's registers with the syscall returning 0, on `stack` (0: the creator's stack
/// pointer) and with `tls` as the thread pointer when CLONE_SETTLS was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spawn {
    /// The new thread.
    pub tid: Tid,
    /// Its stack pointer (0: the creator's).
    pub stack: u64,
    /// Its thread pointer (TPIDR_EL0), with CLONE_SETTLS.
    pub tls: Option<u64>,
    /// It is a new process (fork, vfork), not a thread of the creator's.
    pub process: bool,
}

/// Default instructions a thread runs before the scheduler may switch (the actual slice is
/// drawn from the seeded generator between half and one and a half of it).
pub const DEFAULT_QUANTUM: u64 = 20_000;

/// The process's threads other than the running one, and the scheduler's state.
#[derive(Debug)]
pub struct Threads {
    /// Every thread of every process but the running one.
    pub(crate) parked: BTreeMap<Tid, Parked>,
    /// The next thread (and process) id.
    pub(crate) next_tid: u32,
    /// The scheduler's own seeded generator (kept apart from the guest-visible one, so
    /// scheduling does not change what getrandom returns).
    pub(crate) rng: ChaCha8Rng,
    /// A thread `clone` just created (the backend takes it after the syscall).
    spawned: Option<Spawn>,
    /// The running thread asked to give up the CPU (sched_yield) or a syscall made another
    /// thread runnable: the backend switches at the syscall's return.
    pub(crate) resched: bool,
    /// The running thread went to sleep in the current syscall.
    pub(crate) blocking: Option<Blocked>,
    /// The running thread ended (`exit` while others remain).
    pub(crate) exited: bool,
    /// How the running thread's syscall resumes after it slept (set by the switch; the
    /// restarted syscall reads `timed_out` from it).
    pub(crate) resumed: Resume,
    /// A counter that orders sleepers.
    pub(crate) clock: u64,
    /// Instructions between scheduling points (see [`DEFAULT_QUANTUM`]).
    pub quantum: u64,
    /// Context switches so far.
    pub switches: u64,
}

impl Threads {
    fn new(seed: u64, first_tid: u32) -> Threads {
        Threads {
            parked: BTreeMap::new(),
            next_tid: first_tid + 1,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5c4e_d01e_7a5c_0001),
            spawned: None,
            resched: false,
            blocking: None,
            exited: false,
            resumed: Resume::Continue,
            clock: 0,
            quantum: DEFAULT_QUANTUM,
            switches: 0,
        }
    }

    /// How many threads the machine has (the running one included).
    pub fn count(&self) -> usize {
        self.parked.len() + 1
    }

    /// The running thread is the machine's only one: nothing else can run while it waits.
    pub fn alone(&self) -> bool {
        self.parked.is_empty()
    }

    /// How many other threads process `pid` has (besides the running one, if it is its).
    pub fn others_in(&self, pid: u32) -> usize {
        self.parked.values().filter(|p| p.pid == pid).count()
    }

    /// The thread `clone` created in the last syscall, for the backend.
    pub fn take_spawn(&mut self) -> Option<Spawn> {
        self.spawned.take()
    }

    /// Whether the backend should switch threads at this syscall's return (and forget the
    /// request).
    pub fn take_resched(&mut self) -> bool {
        std::mem::take(&mut self.resched)
    }

    /// The length of the next time slice, in instructions (seeded).
    pub fn next_slice(&mut self) -> u64 {
        use rand::Rng;
        let q = self.quantum.max(2);
        self.rng.gen_range(q / 2..q + q / 2)
    }

    /// The instruction count at which the slice of a thread starting now (at `now`) ends:
    /// never while it is the only thread.
    pub fn slice_end(&mut self, now: u64) -> u64 {
        if self.alone() {
            u64::MAX
        } else {
            now.saturating_add(self.next_slice())
        }
    }

    /// Whether the scheduler switches at this syscall's return anyway (seeded: one time in
    /// four), so that threads interleave at syscalls as well as at time slices.
    pub fn preempt_at_syscall(&mut self) -> bool {
        use rand::Rng;
        self.rng.gen_ratio(1, 4)
    }

    /// Has the running thread ended (its state is not parked at the next switch)?
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// Is `tid` a parked thread of the process?
    pub fn is_parked(&self, tid: Tid) -> bool {
        self.parked.contains_key(&tid)
    }
}

/// `CLONE_*` flags.
pub mod clone_flags {
    #![allow(missing_docs)]
    pub const CSIGNAL: u64 = 0xff;
    pub const CLONE_VM: u64 = 0x100;
    pub const CLONE_FS: u64 = 0x200;
    pub const CLONE_FILES: u64 = 0x400;
    pub const CLONE_SIGHAND: u64 = 0x800;
    pub const CLONE_PIDFD: u64 = 0x1000;
    pub const CLONE_PTRACE: u64 = 0x2000;
    pub const CLONE_VFORK: u64 = 0x4000;
    pub const CLONE_PARENT: u64 = 0x8000;
    pub const CLONE_THREAD: u64 = 0x10000;
    pub const CLONE_NEWNS: u64 = 0x20000;
    pub const CLONE_SYSVSEM: u64 = 0x40000;
    pub const CLONE_SETTLS: u64 = 0x80000;
    pub const CLONE_PARENT_SETTID: u64 = 0x100000;
    pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
    pub const CLONE_DETACHED: u64 = 0x400000;
    pub const CLONE_UNTRACED: u64 = 0x800000;
    pub const CLONE_CHILD_SETTID: u64 = 0x1000000;
    pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
    pub const CLONE_NEWUTS: u64 = 0x0400_0000;
    pub const CLONE_NEWIPC: u64 = 0x0800_0000;
    pub const CLONE_NEWUSER: u64 = 0x1000_0000;
    pub const CLONE_NEWPID: u64 = 0x2000_0000;
    pub const CLONE_NEWNET: u64 = 0x4000_0000;
    pub const CLONE_IO: u64 = 0x8000_0000;
    pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
    pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
}

/// What `clone` and `clone3` were asked (their arguments, decoded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloneArgs {
    /// `CLONE_*` flags (without the exit signal).
    pub flags: u64,
    /// The signal the parent gets when the child exits.
    pub exit_signal: u64,
    /// The child's stack pointer (0: the parent's).
    pub stack: u64,
    /// Where CLONE_PARENT_SETTID writes the new tid.
    pub parent_tid: u64,
    /// Where CLONE_CHILD_SETTID writes (and CLONE_CHILD_CLEARTID later clears) the tid.
    pub child_tid: u64,
    /// The thread pointer for CLONE_SETTLS.
    pub tls: u64,
}

/// The flags a thread-creating clone may carry besides the required ones (glibc passes
/// CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
/// CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID).
const THREAD_FLAGS_MODELLED: u64 = {
    use clone_flags::*;
    CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SIGHAND
        | CLONE_THREAD
        | CLONE_SYSVSEM
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_CHILD_SETTID
        | CLONE_DETACHED
        | CLONE_UNTRACED
        | CLONE_IO
};

/// `FUTEX_WAITERS`, `FUTEX_OWNER_DIED` and `FUTEX_TID_MASK` of a robust futex word.
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// `ROBUST_LIST_LIMIT`: the most entries the exit walk follows (a cyclic list ends there).
const ROBUST_LIST_LIMIT: usize = 2048;

impl Kernel {
    pub(crate) fn new_threads(seed: u64, pid: u32) -> Threads {
        Threads::new(seed, pid)
    }

    /// The running thread's id.
    pub fn tid(&self) -> Tid {
        self.tid
    }

    /// `clone`/`clone3` of a thread (CLONE_VM | CLONE_SIGHAND | CLONE_THREAD). The flag rules
    /// are copy_process's: CLONE_THREAD needs CLONE_SIGHAND, which needs CLONE_VM (EINVAL).
    /// A clone that makes a new process (no CLONE_VM), or a thread with its own files or
    /// filesystem context, is not modelled: ENOSYS with a notice, never a silent half-model.
    pub(crate) fn clone_thread(&mut self, a: CloneArgs) -> KResult<u64> {
        use clone_flags::*;
        if a.flags & CLONE_THREAD != 0 && a.flags & CLONE_SIGHAND == 0 {
            return Err(Errno::EINVAL);
        }
        if a.flags & CLONE_SIGHAND != 0 && a.flags & CLONE_VM == 0 {
            return Err(Errno::EINVAL);
        }
        let vfork = a.flags & (CLONE_VM | CLONE_VFORK | CLONE_THREAD) == CLONE_VM | CLONE_VFORK;
        if a.flags & (CLONE_VM | CLONE_THREAD) == 0 || vfork {
            return self.fork_process(a);
        }
        if a.flags & CLONE_THREAD == 0 || a.flags & !THREAD_FLAGS_MODELLED != 0 {
            self.notice(format!(
                "clone with flags {:#x}: tagmmu models threads (CLONE_VM|CLONE_SIGHAND|CLONE_THREAD with \
                 CLONE_FS|CLONE_FILES), fork and vfork, not CLONE_VM without a thread or vfork: returning -ENOSYS",
                a.flags
            ));
            return Err(Errno::ENOSYS);
        }
        if a.flags & (CLONE_FS | CLONE_FILES) != CLONE_FS | CLONE_FILES {
            self.notice(format!(
                "clone of a thread without CLONE_FS|CLONE_FILES (flags {:#x}): a thread with its own \
                 descriptor table is not modelled: returning -ENOSYS",
                a.flags
            ));
            return Err(Errno::ENOSYS);
        }
        // A thread's exit signal must be 0 (CSIGNAL with CLONE_THREAD is ignored by Linux
        // for clone, refused by clone3's checks).
        let tid = Tid(self.threads.next_tid);
        if self.threads.others_in(self.config.pid) >= 4096 {
            return Err(Errno::EAGAIN);
        }
        let tid_bytes = StructWriter::new(self.arch).u32(tid.0).finish();
        // copy_process writes the parent's copy before the thread exists (a fault: EFAULT, no
        // thread); the child's is written by the child (schedule_tail), faults ignored.
        if a.flags & CLONE_PARENT_SETTID != 0 {
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(a.parent_tid), &tid_bytes)?;
        }
        if a.flags & CLONE_CHILD_SETTID != 0 {
            let _ = uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(a.child_tid), &tid_bytes);
        }
        self.threads.next_tid += 1;
        let state = self.child_thread(self.signals.new_thread(), &a);
        let since = self.threads.clock;
        let pid = self.config.pid;
        self.threads
            .parked
            .insert(tid, Parked { pid, state, wait: None, resume: Resume::Continue, since, rem_out: None });
        self.threads.spawned =
            Some(Spawn { tid, stack: a.stack, tls: (a.flags & CLONE_SETTLS != 0).then_some(a.tls), process: false });
        self.threads.resched = true;
        // sparc64's clone returns 0 in the parent's %o1 (1 in the child's).
        if self.arch == crate::arch::Arch::Sparc64 {
            self.second_result = Some(0);
        }
        Ok(u64::from(tid.0))
    }

    /// `exit` of one thread while others remain (do_exit): its clear_child_tid word is
    /// zeroed and one waiter woken (what pthread_join waits on), its robust futexes are
    /// released, and it is gone.
    pub(crate) fn exit_thread(&mut self) {
        self.exit_robust_list();
        if self.clear_child_tid != 0 {
            let addr = self.clear_child_tid;
            let zero = StructWriter::new(self.arch).u32(0).finish();
            if uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(addr), &zero).is_ok() {
                let _ = self.futex_wake(addr, 1, u32::MAX);
            }
        }
        self.threads.exited = true;
    }

    /// `set_robust_list(head, len)`: `len` must be sizeof(struct robust_list_head) (24).
    pub(crate) fn set_robust_list(&mut self, head: u64, len: u64) -> KResult<u64> {
        if len != 24 {
            return Err(Errno::EINVAL);
        }
        self.robust_list = head;
        Ok(0)
    }

    /// exit_robust_list: walk the dying thread's robust list (`{ next, futex_offset,
    /// list_op_pending }`) and release every futex it still holds: the word keeps its
    /// FUTEX_WAITERS bit, gains FUTEX_OWNER_DIED, and one waiter is woken.
    fn exit_robust_list(&mut self) {
        let head = std::mem::take(&mut self.robust_list);
        if head == 0 {
            return;
        }
        let read = |k: &mut Kernel, a: u64| -> Option<u64> {
            let b = uaccess::read_user(&mut k.mm, k.uaccess, UserAddr(a), 8).ok()?;
            Some(read_u64(k.arch, &b))
        };
        let Some(mut entry) = read(self, head) else { return };
        let Some(offset) = read(self, head + 8) else { return };
        let pending = read(self, head + 16).unwrap_or(0) & !1;
        let mut seen = 0;
        // The entries' low bit flags a PI futex; the address is the rest.
        entry &= !1;
        while entry != head && entry != 0 && seen < ROBUST_LIST_LIMIT {
            let next = read(self, entry).map(|n| n & !1);
            if entry != pending {
                self.futex_owner_died(entry.wrapping_add(offset));
            }
            let Some(n) = next else { break };
            entry = n;
            seen += 1;
        }
        if pending != 0 {
            self.futex_owner_died(pending.wrapping_add(offset));
        }
    }

    /// handle_futex_death for one robust futex word.
    fn futex_owner_died(&mut self, uaddr: u64) {
        if !uaddr.is_multiple_of(4) {
            return;
        }
        let Ok(b) = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(uaddr), 4) else { return };
        let val = read_u32(self.arch, &b);
        if val & FUTEX_TID_MASK != self.tid.0 {
            return;
        }
        let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        let bytes = StructWriter::new(self.arch).u32(new).finish();
        if uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(uaddr), &bytes).is_ok() && val & FUTEX_WAITERS != 0
        {
            let _ = self.futex_wake(uaddr, 1, u32::MAX);
        }
    }

    /// A new thread's or forked child's state: the creator's tag-check state and user-access
    /// mode, `signals`, no robust list, and CLONE_CHILD_CLEARTID's address.
    pub(crate) fn child_thread(&self, signals: ThreadSignals, a: &CloneArgs) -> ThreadState {
        let clear = a.flags & clone_flags::CLONE_CHILD_CLEARTID != 0;
        ThreadState {
            signals,
            mte: self.mte,
            adi: crate::adi::AdiState { deferred: None, ..self.adi },
            uaccess: self.uaccess,
            clear_child_tid: if clear { a.child_tid } else { 0 },
            robust_list: 0,
            current_sp: 0,
        }
    }

    /// Park the running thread (unless it exited): its state goes into the parked set with
    /// what it waits for. Until [`Kernel::unpark`], the kernel's per-thread fields are
    /// meaningless.
    pub(crate) fn park_current(&mut self) {
        let mut st = ThreadState {
            signals: self.signals.new_thread(),
            mte: self.mte,
            adi: crate::adi::AdiState { deferred: None, ..self.adi },
            uaccess: self.uaccess,
            clear_child_tid: 0,
            robust_list: 0,
            current_sp: 0,
        };
        self.swap_thread_state(&mut st);
        let wait = self.threads.blocking.take();
        if !std::mem::take(&mut self.threads.exited) {
            self.threads.clock += 1;
            let since = self.threads.clock;
            let pid = self.config.pid;
            self.threads
                .parked
                .insert(self.tid, Parked { pid, state: st, wait, resume: Resume::Continue, since, rem_out: None });
        }
    }

    /// Make parked thread `tid` the running one; how its syscall resumes is left in
    /// `threads.resumed`.
    pub(crate) fn unpark(&mut self, tid: Tid) -> Resume {
        let Some(Parked { pid, mut state, mut resume, rem_out, .. }) = self.threads.parked.remove(&tid) else {
            return Resume::Continue;
        };
        self.switch_process(pid);
        self.swap_thread_state(&mut state);
        self.tid = tid;
        if let Some((at, ns)) = rem_out {
            if self.write_time_left(at, ns).is_err() {
                resume = Resume::Return(Err(Errno::EFAULT));
            }
        }
        self.threads.resumed = resume.clone();
        resume
    }

    /// exec's de_thread: every other thread of the process is gone; the running one becomes
    /// the leader (its id the process id) and has no robust list. Returns the threads gone
    /// (the CPU backend drops their state).
    pub fn exit_other_threads(&mut self) -> Vec<Tid> {
        let pid = self.config.pid;
        let gone: Vec<Tid> = self.threads.parked.iter().filter(|(_, p)| p.pid == pid).map(|(&t, _)| t).collect();
        for t in &gone {
            self.threads.parked.remove(t);
        }
        self.threads.blocking = None;
        self.threads.spawned = None;
        self.tid = Tid(pid);
        self.robust_list = 0;
        gone
    }

    /// Swap every per-thread field of the kernel with `st`.
    fn swap_thread_state(&mut self, st: &mut ThreadState) {
        self.signals.swap_thread(&mut st.signals);
        std::mem::swap(&mut self.mte, &mut st.mte);
        std::mem::swap(&mut self.adi, &mut st.adi);
        std::mem::swap(&mut self.uaccess, &mut st.uaccess);
        std::mem::swap(&mut self.clear_child_tid, &mut st.clear_child_tid);
        std::mem::swap(&mut self.robust_list, &mut st.robust_list);
        std::mem::swap(&mut self.current_sp, &mut st.current_sp);
    }

    /// `tgkill`/`tkill`: send `signo` to thread `tid` of this process (ESRCH for any other).
    pub(crate) fn signal_thread(&mut self, tid: Tid, signo: u32, si_code: i32) -> KResult<u64> {
        if tid == self.tid {
            if signo != 0 {
                self.signals.raise_with(signo, si_code, None);
            }
            return Ok(0);
        }
        let Some(p) = self.threads.parked.get_mut(&tid) else { return Err(Errno::ESRCH) };
        if signo != 0 {
            p.state.signals.raise_with(signo, si_code, None);
            // A sleeping thread that does not block it wakes to take it.
            self.threads.resched = true;
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::clone_flags::*;
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::mm::{MapRequest, Prot, VmaKind};
    use crate::kernel_stub::signal::{code, sig};
    use crate::kernel_stub::syscalls::{SyscallOutcome, Sysno};
    use crate::kernel_stub::KernelConfig;

    /// glibc's pthread_create flags.
    const PTHREAD: u64 = CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SIGHAND
        | CLONE_THREAD
        | CLONE_SYSVSEM
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID;

    fn kernel() -> (Kernel, u64) {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let req = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, 64 << 10, Prot::RW, req, VmaKind::Anon).unwrap();
        (k, a)
    }

    fn sys(k: &mut Kernel, s: Sysno, a: [u64; 6]) -> SyscallOutcome {
        k.syscall(s.arm64_nr().unwrap(), a)
    }

    fn read_u32_at(k: &mut Kernel, a: u64) -> u32 {
        let mut b = [0u8; 4];
        k.mm.read_kernel(a, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    /// Run the scheduler until `tid` is the running thread.
    fn run_thread(k: &mut Kernel, tid: Tid) -> Resume {
        for _ in 0..1000 {
            let sw = k.schedule().unwrap();
            if sw.to == tid {
                return sw.resume;
            }
        }
        panic!("thread {tid} never ran")
    }

    #[test]
    fn clone_flag_rules_and_what_is_not_modelled() {
        let (mut k, a) = kernel();
        let clone = |k: &mut Kernel, flags: u64| sys(k, Sysno::Clone, [flags, a + 0x8000, a, 0, a + 4, 0]);
        assert_eq!(clone(&mut k, CLONE_THREAD | CLONE_VM), SyscallOutcome::Return(Err(Errno::EINVAL)));
        assert_eq!(clone(&mut k, CLONE_SIGHAND), SyscallOutcome::Return(Err(Errno::EINVAL)));
        // CLONE_VM without a thread or vfork, and a thread with its own files: refused loudly.
        let shared_mm = CLONE_VM | u64::from(sig::SIGCHLD);
        assert_eq!(clone(&mut k, shared_mm), SyscallOutcome::Return(Err(Errno::ENOSYS)));
        assert!(k.notices.last().unwrap().contains("not CLONE_VM without a thread or vfork"), "{:?}", k.notices);
        assert_eq!(clone(&mut k, PTHREAD & !CLONE_FILES), SyscallOutcome::Return(Err(Errno::ENOSYS)));
        assert!(k.threads.alone());
        // A thread: the tid is written at parent_tid, and the backend gets the spawn.
        let SyscallOutcome::Return(Ok(tid)) = clone(&mut k, PTHREAD) else { panic!() };
        assert_eq!(read_u32_at(&mut k, a), tid as u32);
        assert_eq!(k.threads.count(), 2);
        assert_eq!(
            k.threads.take_spawn(),
            Some(Spawn { tid: Tid(tid as u32), stack: a + 0x8000, tls: Some(0), process: false }),
            "CLONE_SETTLS with tls 0"
        );
        assert!(k.threads.take_resched(), "the new thread may run at once");
    }

    #[test]
    fn clone3_checks_its_struct() {
        let (mut k, a) = kernel();
        let put = |k: &mut Kernel, fields: &[u64]| {
            let b: Vec<u8> = fields.iter().flat_map(|f| f.to_le_bytes()).collect();
            k.mm.write_kernel(a + 0x100, &b).unwrap();
        };
        // flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls
        put(&mut k, &[PTHREAD, 0, a + 8, a, 0, a + 0x1000, 0x1000, 0x77]);
        assert_eq!(sys(&mut k, Sysno::Clone3, [a + 0x100, 32, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::EINVAL)));
        assert_eq!(
            sys(&mut k, Sysno::Clone3, [a + 0x100, 8192, 0, 0, 0, 0]),
            SyscallOutcome::Return(Err(Errno::E2BIG))
        );
        put(&mut k, &[PTHREAD, 0, a + 8, a, 17, a + 0x1000, 0x1000, 0x77]);
        assert_eq!(
            sys(&mut k, Sysno::Clone3, [a + 0x100, 88, 0, 0, 0, 0]),
            SyscallOutcome::Return(Err(Errno::EINVAL)),
            "a thread with an exit signal"
        );
        put(&mut k, &[PTHREAD, 0, a + 8, a, 0, a + 0x1000, 0x1000, 0x77]);
        let SyscallOutcome::Return(Ok(tid)) = sys(&mut k, Sysno::Clone3, [a + 0x100, 88, 0, 0, 0, 0]) else { panic!() };
        assert_eq!(
            k.threads.take_spawn(),
            Some(Spawn { tid: Tid(tid as u32), stack: a + 0x2000, tls: Some(0x77), process: false }),
            "the stack is stack + stack_size"
        );
    }

    #[test]
    fn futex_wakes_in_order_by_bitset_and_requeues() {
        let (mut k, a) = kernel();
        let main = k.tid();
        let mut tids = Vec::new();
        for _ in 0..3 {
            let SyscallOutcome::Return(Ok(t)) = sys(&mut k, Sysno::Clone, [PTHREAD, 0, a, 0, 0, 0]) else { panic!() };
            tids.push(Tid(t as u32));
        }
        // Each new thread waits on the word at a+64 (value 0); the third with bitset 2.
        for (i, &t) in tids.iter().enumerate() {
            run_thread(&mut k, t);
            let (op, bitset) = if i == 2 { (9, 2) } else { (0, u64::MAX) };
            assert_eq!(sys(&mut k, Sysno::Futex, [a + 64, op, 0, 0, 0, bitset]), SyscallOutcome::Block);
            // A mismatched value does not sleep.
            assert!(k.threads.blocking.is_some());
        }
        run_thread(&mut k, main);
        assert_eq!(sys(&mut k, Sysno::Futex, [a + 64, 0, 5, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::EAGAIN)));
        // WAKE_BITSET with bitset 1 wakes the oldest matching sleeper only.
        assert_eq!(sys(&mut k, Sysno::Futex, [a + 64, 10, 1, 0, 0, 1]), SyscallOutcome::Return(Ok(1)));
        assert_eq!(k.threads.parked[&tids[0]].resume, Resume::Return(Ok(0)));
        assert!(k.threads.parked[&tids[1]].wait.is_some());
        // CMP_REQUEUE: wake none, move both remaining to a+128; a wrong value is EAGAIN.
        assert_eq!(
            sys(&mut k, Sysno::Futex, [a + 64, 4, 0, 10, a + 128, 1]),
            SyscallOutcome::Return(Err(Errno::EAGAIN))
        );
        assert_eq!(sys(&mut k, Sysno::Futex, [a + 64, 4, 0, 10, a + 128, 0]), SyscallOutcome::Return(Ok(2)));
        assert_eq!(sys(&mut k, Sysno::Futex, [a + 64, 1, 10, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        assert_eq!(sys(&mut k, Sysno::Futex, [a + 128, 1, 10, 0, 0, 0]), SyscallOutcome::Return(Ok(2)));
    }

    #[test]
    fn sleepers_wake_at_their_deadlines_and_signals_interrupt_them() {
        let (mut k, a) = kernel();
        let main = k.tid();
        let SyscallOutcome::Return(Ok(t)) = sys(&mut k, Sysno::Clone, [PTHREAD, 0, a, 0, 0, 0]) else { panic!() };
        let t = Tid(t as u32);
        // The main thread sleeps 5 ms (rem at a+288: a signal that interrupts the sleep has the
        // time left written there); the other waits on a futex with a 1 ms timeout.
        k.mm.write_kernel(a + 256, &[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x42, 0x0f, 0, 0, 0, 0, 0]).unwrap(); // 1 ms
        k.mm.write_kernel(a + 272, &[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x4b, 0x4c, 0, 0, 0, 0, 0]).unwrap(); // 5 ms
        assert_eq!(sys(&mut k, Sysno::Nanosleep, [a + 272, a + 288, 0, 0, 0, 0]), SyscallOutcome::Block);
        run_thread(&mut k, t);
        let start = k.monotonic_ns();
        assert_eq!(sys(&mut k, Sysno::Futex, [a + 64, 0, 0, a + 256, 0, 0]), SyscallOutcome::Block);
        // Nobody can run: the clock jumps to the first deadline, the futex wait's.
        let sw = k.schedule().unwrap();
        assert_eq!((sw.to, sw.resume), (t, Resume::Return(Err(Errno::ETIMEDOUT))));
        assert_eq!(k.monotonic_ns() - start, 1_000_000);
        // A signal for the sleeping main thread interrupts its nanosleep (no SA_RESTART
        // matters for it: EINTR).
        assert_eq!(k.signal_thread(main, sig::SIGUSR1, code::SI_TKILL), Ok(0));
        let pid = u64::from(k.config.pid);
        assert_eq!(sys(&mut k, Sysno::Tgkill, [pid, 9999, 10, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::ESRCH)));
        assert_eq!(sys(&mut k, Sysno::SchedYield, [0; 6]), SyscallOutcome::Return(Ok(0)));
        assert_eq!(run_thread(&mut k, main), Resume::Return(Err(Errno::EINTR)));
        assert_eq!(k.signals.take_deliverable(), Some((sig::SIGUSR1, code::SI_TKILL, None)));
        let mut rem = [0u8; 16];
        k.mm.read_kernel(a + 288, &mut rem).unwrap();
        assert_eq!(
            (u64::from_le_bytes(rem[..8].try_into().unwrap()), u64::from_le_bytes(rem[8..].try_into().unwrap())),
            (0, 4_000_000),
            "5 ms asked, 1 ms slept: 4 ms left"
        );
        // A rem that cannot be written turns the EINTR into EFAULT (nanosleep_copyout); an
        // absolute clock_nanosleep has no time left to write.
        assert_eq!(sys(&mut k, Sysno::Nanosleep, [a + 272, 8, 0, 0, 0, 0]), SyscallOutcome::Block);
        assert_eq!(k.signal_thread(main, sig::SIGUSR1, code::SI_TKILL), Ok(0));
        assert_eq!(run_thread(&mut k, main), Resume::Return(Err(Errno::EFAULT)));
        k.signals.take_deliverable();
        k.mm.write_kernel(a + 288, &[0xaa; 16]).unwrap();
        let until = k.monotonic_ns() + 5_000_000;
        k.mm.write_kernel(a + 304, &(until / 1_000_000_000).to_le_bytes()).unwrap();
        k.mm.write_kernel(a + 312, &(until % 1_000_000_000).to_le_bytes()).unwrap();
        assert_eq!(sys(&mut k, Sysno::ClockNanosleep, [1, 1, a + 304, a + 288, 0, 0]), SyscallOutcome::Block);
        assert_eq!(k.signal_thread(main, sig::SIGUSR1, code::SI_TKILL), Ok(0));
        assert_eq!(run_thread(&mut k, main), Resume::Return(Err(Errno::EINTR)));
        k.mm.read_kernel(a + 288, &mut rem).unwrap();
        assert_eq!(rem, [0xaa; 16], "TIMER_ABSTIME: rem untouched");
    }

    #[test]
    fn a_thread_exit_clears_its_tid_wakes_the_joiner_and_releases_robust_futexes() {
        let (mut k, a) = kernel();
        let main = k.tid();
        // clear_child_tid at a+8, written with the tid by CLONE_CHILD_SETTID.
        let flags = PTHREAD | CLONE_CHILD_SETTID;
        let SyscallOutcome::Return(Ok(t)) = sys(&mut k, Sysno::Clone, [flags, 0, a, 0, a + 8, 0]) else { panic!() };
        let t = Tid(t as u32);
        assert_eq!(read_u32_at(&mut k, a + 8), t.0);
        // The main thread joins: it waits on the tid word.
        assert_eq!(sys(&mut k, Sysno::Futex, [a + 8, 0, u64::from(t.0), 0, 0, 0]), SyscallOutcome::Block);
        run_thread(&mut k, t);
        // The thread holds a robust futex (word at a+0x210 = its tid | FUTEX_WAITERS): the list
        // head at a+0x100 points at an entry at a+0x200 whose futex_offset is 0x10.
        let head = a + 0x100;
        let entry = a + 0x200;
        k.mm.write_kernel(head, &entry.to_le_bytes()).unwrap();
        k.mm.write_kernel(head + 8, &0x10u64.to_le_bytes()).unwrap();
        k.mm.write_kernel(head + 16, &0u64.to_le_bytes()).unwrap();
        k.mm.write_kernel(entry, &head.to_le_bytes()).unwrap();
        k.mm.write_kernel(entry + 0x10, &(t.0 | 0x8000_0000).to_le_bytes()).unwrap();
        assert_eq!(sys(&mut k, Sysno::SetRobustList, [head, 24, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        assert_eq!(
            sys(&mut k, Sysno::SetRobustList, [head, 16, 0, 0, 0, 0]),
            SyscallOutcome::Return(Err(Errno::EINVAL))
        );
        assert_eq!(sys(&mut k, Sysno::Exit, [3, 0, 0, 0, 0, 0]), SyscallOutcome::ThreadExit);
        assert_eq!(read_u32_at(&mut k, a + 8), 0, "clear_child_tid");
        assert_eq!(read_u32_at(&mut k, entry + 0x10), 0x8000_0000 | 0x4000_0000, "FUTEX_OWNER_DIED, waiters kept");
        let sw = k.schedule().unwrap();
        assert_eq!((sw.from, sw.from_alive, sw.to, sw.resume), (t, false, main, Resume::Return(Ok(0))));
        assert!(k.threads.alone());
        // The last thread's exit ends the process.
        assert_eq!(sys(&mut k, Sysno::Exit, [4, 0, 0, 0, 0, 0]), SyscallOutcome::Exit(4));
    }

    #[test]
    fn per_thread_state_follows_the_switch() {
        let (mut k, a) = kernel();
        k.mte.machine.level = crate::mte::MteLevel::Mte2;
        let main = k.tid();
        let SyscallOutcome::Return(Ok(t)) = sys(&mut k, Sysno::Clone, [PTHREAD, 0, a, 0, 0, 0]) else { panic!() };
        let t = Tid(t as u32);
        k.signals.set_mask(crate::kernel_stub::signal::MaskHow::Block, Some(1 << 9));
        assert_eq!(sys(&mut k, Sysno::Gettid, [0; 6]), SyscallOutcome::Return(Ok(u64::from(main.0))));
        run_thread(&mut k, t);
        assert_eq!(sys(&mut k, Sysno::Gettid, [0; 6]), SyscallOutcome::Return(Ok(u64::from(t.0))));
        assert_eq!(sys(&mut k, Sysno::Getpid, [0; 6]), SyscallOutcome::Return(Ok(u64::from(main.0))));
        assert_eq!(k.signals.blocked, 0, "the new thread got the mask at clone time, not later changes");
        // prctl is per thread.
        let ctrl = 1 | (1 << 1) | (0x6 << 3);
        assert_eq!(sys(&mut k, Sysno::Prctl, [55, ctrl, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        run_thread(&mut k, main);
        assert_eq!(k.signals.blocked, 1 << 9);
        assert_eq!(sys(&mut k, Sysno::Prctl, [56, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        run_thread(&mut k, t);
        assert_eq!(sys(&mut k, Sysno::Prctl, [56, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(ctrl)));
    }
}
