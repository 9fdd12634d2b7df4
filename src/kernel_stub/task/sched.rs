//! The scheduler: one CPU, and a seeded choice among the runnable threads at every
//! scheduling point (a syscall that sleeps, yields or wakes someone, the end of a time slice,
//! a thread's exit). Equal seeds give equal interleavings; a different seed another.
//!
//! A thread that sleeps is parked with what it waits for ([`WaitOn`]) and an optional
//! deadline on CLOCK_MONOTONIC. It becomes runnable when that happens, when its deadline
//! passes, or when a signal it does not block arrives. When no thread can run, the guest's
//! clocks jump to the earliest deadline or interval-timer expiry (nobody runs meanwhile: a
//! virtual machine idles for free); with no deadline the process can never continue, and the
//! run ends as a deadlock that names what each thread waits for.

use rand::Rng;

use super::process::ProcInfo;
use super::{Parked, Tid};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::signal::flags::SA_RESTART;
use crate::kernel_stub::signal::SignalState;
use crate::kernel_stub::vfs::{OpenFile, Vfs, Wait};
use crate::kernel_stub::Kernel;

/// What a sleeping thread waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitOn {
    /// A `FUTEX_WAKE` of this (untagged) address whose bitset meets `bitset`.
    Futex {
        /// The futex word.
        key: super::futex::FutexKey,
        /// FUTEX_WAIT_BITSET's bitset (all ones for FUTEX_WAIT).
        bitset: u32,
    },
    /// A pipe that would block a read or write of this open file no longer would.
    Io {
        /// The open file description (whichever process's descriptor names it).
        file: OpenFile,
        /// Read, or write of so many bytes.
        wait: Wait,
    },
    /// One of these open files has one of its events (poll, select).
    Poll(Vec<(OpenFile, u16)>),
    /// Only the deadline (nanosleep).
    Sleep,
    /// The vfork child `child` has exec'd or exited (gave the address space back). Signals
    /// do not end this wait: they stay pending until it is over (Linux's is killable, so a
    /// SIGKILL would end it at once; tagmmu delivers it when the child is done).
    Vfork {
        /// The child.
        child: u32,
    },
    /// A child of `parent` that `which` accepts ends (or none is left).
    Child {
        /// The waiting process.
        parent: u32,
        /// Which children.
        which: super::process::WaitFor,
    },
}

/// A sleeping thread's wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// What ends it.
    pub on: WaitOn,
    /// When it ends anyway, on CLOCK_MONOTONIC (ns).
    pub deadline: Option<u64>,
    /// What the syscall returns when the deadline passes; `None`: it is executed again and
    /// learns that its time is up (poll, select).
    pub on_timeout: Option<KResult<u64>>,
    /// A signal handler with SA_RESTART restarts the syscall (a pipe read or write);
    /// otherwise an interrupting signal makes it return EINTR.
    pub restartable: bool,
    /// nanosleep's `rem` (a relative clock_nanosleep's too): where a signal that interrupts
    /// the sleep has the time left written (`nanosleep_copyout`; 0 or `None`: nowhere).
    pub rem: Option<u64>,
    /// For the deadlock report: what the thread is doing.
    pub reason: String,
}

/// How a thread's interrupted syscall goes on when it runs again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resume {
    /// It was not in a syscall (preempted), or yielded: nothing to do.
    #[default]
    Continue,
    /// The syscall instruction is executed again (the thread's PC is on it).
    Restart {
        /// The wait's deadline passed (the syscall then returns as its timeout says).
        timed_out: bool,
    },
    /// The syscall returns this.
    Return(KResult<u64>),
    /// The syscall returns this value and a second one (sparc64's %o1: vfork returns 0
    /// there in the parent).
    ReturnPair(u64, u64),
}

impl Resume {
    /// What the interrupted syscall returns, if it returns now: the value and, for a
    /// syscall with a second result, that too.
    pub fn result(&self) -> Option<(KResult<u64>, Option<u64>)> {
        match self {
            Resume::Return(r) => Some((*r, None)),
            Resume::ReturnPair(v, v1) => Some((Ok(*v), Some(*v1))),
            _ => None,
        }
    }
}

/// A context switch the scheduler decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Switch {
    /// The thread that ran.
    pub from: Tid,
    /// It still exists (it did not exit).
    pub from_alive: bool,
    /// The thread that runs next (may be `from`).
    pub to: Tid,
    /// How `to`'s syscall resumes.
    pub resume: Resume,
}

/// What a sleeper's wake-up depends on besides itself.
struct World<'a> {
    now: u64,
    vfs: &'a Vfs,
    procs: &'a std::collections::BTreeMap<u32, ProcInfo>,
    /// The running process and its signal state (a parked process's is in `procs`).
    current: (u32, &'a SignalState),
}

impl World<'_> {
    fn signals_of(&self, pid: u32) -> Option<&SignalState> {
        if pid == self.current.0 {
            Some(self.current.1)
        } else {
            self.procs.get(&pid)?.parked.as_ref().map(|s| &s.signals)
        }
    }
}

/// Why a parked thread can run now, if it can.
fn wake(p: &Parked, w: &World) -> Option<Resume> {
    let Some(b) = &p.wait else { return Some(p.resume.clone()) };
    let (now, vfs) = (w.now, w.vfs);
    let signals = w.signals_of(p.pid);
    let shared_pending = signals.map_or(0, |s| s.shared_pending);
    let restart_on = |signo: u64| signals.is_some_and(|s| s.action(signo as u32).flags & SA_RESTART != 0);
    let ready = match &b.on {
        WaitOn::Vfork { child } => {
            let done = w.procs.get(child).is_none_or(|c| c.vfork_parent.is_none());
            return done.then_some(Resume::ReturnPair(u64::from(*child), 0));
        }
        WaitOn::Futex { .. } | WaitOn::Sleep => false,
        WaitOn::Child { parent, which } => super::process::child_ready(w.procs, *parent, *which),
        // A pipe whose other end went away: the syscall, executed again, returns what it now
        // returns (EOF, EPIPE).
        WaitOn::Io { file, wait } => !vfs.would_block_file(file, *wait),
        WaitOn::Poll(files) => files.iter().any(|(f, mask)| vfs.poll_file(f) & mask != 0),
    };
    if ready {
        return Some(Resume::Restart { timed_out: false });
    }
    let signals = p.state.signals.deliverable(shared_pending);
    if signals != 0 {
        let signo = signals.trailing_zeros() + 1;
        return Some(if b.restartable && restart_on(u64::from(signo)) {
            Resume::Restart { timed_out: false }
        } else {
            Resume::Return(Err(Errno::EINTR))
        });
    }
    match b.deadline {
        Some(d) if now >= d => Some(match &b.on_timeout {
            Some(r) => Resume::Return(*r),
            None => Resume::Restart { timed_out: true },
        }),
        _ => None,
    }
}

impl Kernel {
    /// Nobody can run and nothing has a deadline: if a thread waits to read the host's
    /// stdin, wait on the host until it is readable (the loop then wakes the thread), or until
    /// the run's wall-time budget, past which the read is interrupted (the run then stops on
    /// the budget). False when no thread waits on the host's stdin.
    fn wait_for_host_stdin(&mut self) -> bool {
        let vfs = &self.vfs;
        let waiter = self.threads.parked.iter().find_map(|(&tid, p)| match &p.wait {
            Some(Blocked { on: WaitOn::Io { file, wait: crate::kernel_stub::vfs::Wait::Read }, .. })
                if vfs.is_host_stdin_file(file) =>
            {
                Some(tid)
            }
            _ => None,
        });
        let Some(tid) = waiter else { return false };
        // A day at a time: the wait ends earlier at the budget (see `wait_host_stdin`).
        let until = std::time::Instant::now() + std::time::Duration::from_secs(86_400);
        if !self.vfs.wait_host_stdin(until) {
            if let Some(p) = self.threads.parked.get_mut(&tid) {
                p.wait = None;
                p.resume = Resume::Return(Err(Errno::EINTR));
            }
        }
        true
    }

    /// The running thread sleeps in the current syscall until `b` ends (the syscall layer
    /// turns the syscall into [`crate::kernel_stub::syscalls::SyscallOutcome::Block`]).
    pub(crate) fn block(&mut self, b: Blocked) {
        self.threads.blocking = Some(b);
    }

    /// The running syscall was executed again after its wait's deadline passed: it should
    /// now time out. (Taken once.)
    pub(crate) fn take_timed_out(&mut self) -> bool {
        matches!(std::mem::take(&mut self.threads.resumed), Resume::Restart { timed_out: true })
    }

    /// A deadline `ns` from now on CLOCK_MONOTONIC.
    pub(crate) fn deadline_in(&self, ns: u64) -> u64 {
        self.monotonic_ns().saturating_add(ns)
    }

    /// Pick the thread that runs next: the running one is parked (with its wait, if it
    /// sleeps), every parked thread whose wait ended becomes runnable, and the seeded
    /// generator chooses among the runnable ones. When none can run, the clocks advance to
    /// the earliest deadline; with none, `Err` says why each thread sleeps for ever.
    pub fn schedule(&mut self) -> Result<Switch, String> {
        let from = self.tid;
        let from_alive = !self.threads.exited;
        self.park_current();
        loop {
            // An interval timer that expired signals its process (which may wake a sleeper).
            self.run_timers();
            let now = self.monotonic_ns();
            let world = World { now, vfs: &self.vfs, procs: &self.procs, current: (self.config.pid, &self.signals) };
            let mut ready = Vec::new();
            for (&tid, p) in self.threads.parked.iter_mut() {
                if let Some(resume) = wake(p, &world) {
                    // An interrupted sleep tells the thread how long it had left (once woken,
                    // a thread not picked yet keeps what its wake decided).
                    if let (Some(Blocked { rem: Some(at), deadline: Some(d), .. }), Resume::Return(Err(Errno::EINTR))) =
                        (&p.wait, &resume)
                    {
                        p.rem_out = (*at != 0).then(|| (*at, d.saturating_sub(now)));
                    }
                    p.wait = None;
                    p.resume = resume;
                    ready.push(tid);
                }
            }
            if !ready.is_empty() {
                let to = ready[self.threads.rng.gen_range(0..ready.len())];
                let resume = self.unpark(to);
                return Ok(Switch { from, from_alive, to, resume });
            }
            let sleepers = self.threads.parked.values().filter_map(|p| p.wait.as_ref()?.deadline);
            let next_deadline = sleepers.chain(self.itimers.next_expiry()).min();
            match next_deadline {
                Some(d) => self.sleep(d.saturating_sub(now).max(1)),
                None if self.wait_for_host_stdin() => {}
                None => {
                    let why: Vec<String> = self
                        .threads
                        .parked
                        .iter()
                        .map(|(tid, p)| {
                            let what = p.wait.as_ref().map_or("runnable", |b| b.reason.as_str());
                            format!("thread {tid}: {what}")
                        })
                        .collect();
                    // Leave the thread that ran current, for the report.
                    self.unpark(from);
                    return Err(format!("every thread sleeps and none can wake another ({})", why.join("; ")));
                }
            }
        }
    }
}
