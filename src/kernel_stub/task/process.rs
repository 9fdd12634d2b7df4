//! Processes: fork (clone without CLONE_VM), exit and its zombie, the parent's wait and
//! SIGCHLD, and the context switch between processes.
//!
//! The running process's state lives in [`Kernel`]'s fields as the running thread's does;
//! another process's is parked in its [`ProcInfo`]: its address space (its mappings over
//! the machine's one physical memory), descriptor table and working directory (kept by the
//! VFS), signal handlers and process-wide pending signals, limits, name and ids.
//! `Kernel::switch_process` swaps them. The process table also keeps every process's
//! family (parent, group, session) and, once it has exited, its status until the parent
//! reaps it.

use super::{Parked, Resume, Spawn, Tid};
use crate::addr::UserAddr;
use crate::arch::StructWriter;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::mm::ProcessMm;
use crate::kernel_stub::signal::{code, sig, SignalState, SIG_IGN};
use crate::kernel_stub::task::{clone_flags, CloneArgs};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::{Kernel, Rlimits};

/// How a process ended, as its parent's wait reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)` (the low 8 bits).
    Exited(u8),
    /// Killed by this signal (with a core dump: `core`).
    Killed {
        /// The signal.
        signo: u32,
        /// The default action dumps core (WCOREDUMP).
        core: bool,
    },
}

impl ExitStatus {
    /// The `wstatus` word of wait4.
    pub fn wstatus(self) -> u32 {
        match self {
            ExitStatus::Exited(c) => u32::from(c) << 8,
            ExitStatus::Killed { signo, core } => signo | if core { 0x80 } else { 0 },
        }
    }
    /// The `si_code` and `si_status` of SIGCHLD and waitid.
    pub fn cld(self) -> (i32, u32) {
        match self {
            ExitStatus::Exited(c) => (code::CLD_EXITED, u32::from(c)),
            ExitStatus::Killed { signo, core: false } => (code::CLD_KILLED, signo),
            ExitStatus::Killed { signo, core: true } => (code::CLD_DUMPED, signo),
        }
    }
}

/// What a parked process owns (the running process's is in the kernel's fields).
pub(crate) struct ProcessState {
    mm: ProcessMm,
    /// `mm` is an empty placeholder: the address space is lent to (or borrowed from) the
    /// vfork partner that holds it.
    mm_lent: bool,
    /// Its System V shared-memory attachments.
    shm_attaches: crate::kernel_stub::shm::Attaches,
    pub(crate) signals: SignalState,
    rlimits: Rlimits,
    comm: String,
    exe_path: String,
    uid: u32,
    gid: u32,
}

/// One process of the table.
pub struct ProcInfo {
    /// The parent (1 once the parent is gone, and for the first process).
    pub ppid: u32,
    /// Process group.
    pub pgid: u32,
    /// Session.
    pub sid: u32,
    /// The signal the parent gets when it ends (SIGCHLD; 0: none).
    pub exit_signal: u32,
    /// Set once it has ended: a zombie until its parent reaps it.
    pub exited: Option<ExitStatus>,
    /// Its state while it does not run.
    pub(crate) parked: Option<ProcessState>,
    /// A vfork child running in this parent's address space (until it execs or exits).
    pub(crate) vfork_parent: Option<u32>,
}

/// Which children a wait accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Any child.
    Any,
    /// The child with this pid.
    Pid(u32),
    /// Any child in this process group.
    Group(u32),
}

/// The options of wait4 and waitid that tagmmu models.
pub mod wait_flags {
    #![allow(missing_docs)]
    pub const WNOHANG: u64 = 1;
    pub const WUNTRACED: u64 = 2;
    pub const WSTOPPED: u64 = 2;
    pub const WEXITED: u64 = 4;
    pub const WCONTINUED: u64 = 8;
    pub const WNOWAIT: u64 = 0x0100_0000;
    pub const WNOTHREAD: u64 = 0x2000_0000;
    pub const WALL: u64 = 0x4000_0000;
    pub const WCLONE: u64 = 0x8000_0000;
}

/// The process table of a new machine: its first process, child of init (pid 1, outside
/// the machine), leading its own process group (a job) in init's session 1, as a program
/// started by a shell leads its job in the shell's session.
pub(crate) fn first_process(pid: u32) -> std::collections::BTreeMap<u32, ProcInfo> {
    let info = ProcInfo {
        ppid: 1,
        pgid: pid,
        sid: 1,
        exit_signal: sig::SIGCHLD,
        exited: None,
        parked: None,
        vfork_parent: None,
    };
    std::iter::once((pid, info)).collect()
}

/// Can a wait of `parent` for `which` go on: a child it accepts has ended, or none is left
/// (the wait, executed again, then reports ECHILD)?
pub(crate) fn child_ready(procs: &std::collections::BTreeMap<u32, ProcInfo>, parent: u32, which: WaitFor) -> bool {
    let accepted = |c: u32, p: &ProcInfo| {
        p.ppid == parent
            && match which {
                WaitFor::Any => true,
                WaitFor::Pid(x) => c == x,
                WaitFor::Group(g) => p.pgid == g,
            }
    };
    let mut any = false;
    for (&c, p) in procs {
        if accepted(c, p) {
            if p.exited.is_some() {
                return true;
            }
            any = true;
        }
    }
    !any
}

impl Kernel {
    /// The running process's parent.
    pub fn ppid(&self) -> u32 {
        self.procs.get(&self.config.pid).map_or(1, |p| p.ppid)
    }

    /// The running process's group and session.
    pub fn pgid_sid(&self) -> (u32, u32) {
        self.procs.get(&self.config.pid).map_or((self.config.pid, self.config.pid), |p| (p.pgid, p.sid))
    }

    /// Is the running process the one the machine started (whose end ends the run)?
    pub fn is_first_process(&self) -> bool {
        self.config.pid == self.first_pid
    }

    /// Processes that have not ended, the running one included.
    pub fn live_processes(&self) -> usize {
        self.procs.values().filter(|p| p.exited.is_none()).count()
    }

    /// How many live processes make `fork` fail with EAGAIN. copy_process checks RLIMIT_NPROC
    /// for every user but root (INIT_USER; tagmmu's uid 0 also stands for CAP_SYS_RESOURCE and
    /// CAP_SYS_ADMIN, which exempt a process too). tagmmu counts the machine's live processes,
    /// where Linux counts the real user's tasks, threads included; and it never makes more than
    /// 4096, root or not (a bound on the host's memory).
    fn process_limit(&self) -> u64 {
        const MACHINE_PROCESSES: u64 = 4096;
        if self.config.uid == 0 {
            MACHINE_PROCESSES
        } else {
            self.rlimits.0[6].0.min(MACHINE_PROCESSES)
        }
    }

    /// fork: clone without CLONE_VM (the child a copy of the process with one thread, the
    /// caller's); vfork: CLONE_VM | CLONE_VFORK (the child runs in the parent's address
    /// space, on the stack it was given, while the parent sleeps until the child execs or
    /// exits; the address space goes back to the parent then). The flags Linux allows there
    /// are checked; what tagmmu does not model (CLONE_VM without CLONE_VFORK, shared
    /// descriptor or handler tables, namespaces, pidfds) is refused with a notice. System V
    /// shared-memory attachments are inherited.
    pub(crate) fn fork_process(&mut self, a: CloneArgs) -> KResult<u64> {
        use clone_flags::*;
        let vfork = a.flags & (CLONE_VM | CLONE_VFORK) == CLONE_VM | CLONE_VFORK;
        let a = CloneArgs { flags: a.flags & !(CLONE_VM | CLONE_VFORK), ..a };
        let modelled = CLONE_CHILD_SETTID
            | CLONE_CHILD_CLEARTID
            | CLONE_PARENT_SETTID
            | CLONE_SETTLS
            | CLONE_DETACHED
            | CLONE_UNTRACED;
        if a.flags & !modelled != 0 {
            self.notice(format!(
                "clone with flags {:#x}: of new processes tagmmu models fork (clone without CLONE_VM, \
                 CLONE_FS, CLONE_FILES, CLONE_SIGHAND) and vfork (CLONE_VM|CLONE_VFORK), not shared tables \
                 or namespaces: returning -ENOSYS",
                a.flags
            ));
            return Err(Errno::ENOSYS);
        }
        if self.live_processes() as u64 >= self.process_limit() {
            return Err(Errno::EAGAIN);
        }
        let pid = self.threads.next_tid;
        let tid_bytes = StructWriter::new(self.arch).u32(pid).finish();
        if a.flags & CLONE_PARENT_SETTID != 0 {
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(a.parent_tid), &tid_bytes)?;
        }
        // A vfork child borrows the parent's address space (its own is an empty placeholder
        // while it does: see `switch_process`).
        let mut mm = if vfork { self.mm.empty_process() } else { self.mm.fork()? };
        self.threads.next_tid += 1;
        // CLONE_CHILD_SETTID writes the child's copy of the word (faults ignored).
        if vfork && a.flags & CLONE_CHILD_SETTID != 0 {
            let _ = uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(a.child_tid), &tid_bytes);
        } else if a.flags & CLONE_CHILD_SETTID != 0 {
            self.mm.swap_process(&mut mm);
            let _ = uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(a.child_tid), &tid_bytes);
            self.mm.swap_process(&mut mm);
        }
        self.vfs.fork_files(pid);
        let (pgid, sid) = self.pgid_sid();
        let state = ProcessState {
            mm,
            mm_lent: vfork,
            shm_attaches: self.shm.fork_attaches(),
            signals: self.signals.fork(),
            rlimits: self.rlimits.clone(),
            comm: self.comm.clone(),
            exe_path: self.exe_path.clone(),
            uid: self.config.uid,
            gid: self.config.gid,
        };
        self.procs.insert(
            pid,
            ProcInfo {
                ppid: self.config.pid,
                pgid,
                sid,
                // The exit signal in the kernel's numbering (sparc's SIGCHLD is 20).
                exit_signal: self.user_signo(a.exit_signal) as u32,
                exited: None,
                parked: Some(state),
                vfork_parent: vfork.then_some(self.config.pid),
            },
        );
        let thread = self.child_thread(self.signals.fork_thread(), &a);
        self.threads.clock += 1;
        let since = self.threads.clock;
        self.threads.parked.insert(
            Tid(pid),
            Parked { pid, state: thread, wait: None, resume: Resume::Continue, since, rem_out: None },
        );
        self.threads.spawned = Some(Spawn {
            tid: Tid(pid),
            stack: a.stack,
            tls: (a.flags & CLONE_SETTLS != 0).then_some(a.tls),
            process: true,
        });
        self.threads.resched = true;
        // sparc64's clone returns in %o1 too: 0 in the parent, 1 in the child (whose %o0 is
        // the parent's pid: the CPU backend sets the child's registers).
        if self.arch == crate::arch::Arch::Sparc64 && !vfork {
            self.second_result = Some(0);
        }
        if vfork {
            // The parent sleeps (killable only, as in wait_for_vfork_done) until the child
            // gives the address space back; clone then returns the child's pid.
            self.block(super::Blocked {
                on: super::WaitOn::Vfork { child: pid },
                deadline: None,
                on_timeout: None,
                restartable: false,
                rem: None,
                reason: format!("vfork: waits for child {pid} to exec or exit"),
            });
        }
        Ok(u64::from(pid))
    }

    /// A vfork child execs or exits: the address space it borrowed goes back to its parent
    /// (the child keeps an empty one, which exec fills), and the parent's vfork returns.
    /// Returns whether the running process was such a child.
    pub(crate) fn end_vfork(&mut self) -> bool {
        let me = self.config.pid;
        let Some(parent) = self.procs.get_mut(&me).and_then(|p| p.vfork_parent.take()) else { return false };
        let mut borrowed = self.mm.empty_process();
        self.mm.swap_process(&mut borrowed);
        if let Some(state) = self.procs.get_mut(&parent).and_then(|p| p.parked.as_mut()) {
            state.mm = borrowed;
            state.mm_lent = false;
        }
        self.threads.resched = true;
        true
    }

    /// Swap the running process's state with parked process `to`'s (the running one is
    /// parked unless it has ended).
    pub(crate) fn switch_process(&mut self, to: u32) {
        let from = self.config.pid;
        if from == to {
            return;
        }
        let Some(mut next) = self.procs.get_mut(&to).and_then(|p| p.parked.take()) else { return };
        // A vfork child and its parent use one address space; whichever of the two is not
        // running holds a placeholder (`mm_lent`). Between the two it stays in place; from a
        // third process, the incoming one takes it from its partner's parked state.
        let mut keep = false;
        if next.mm_lent {
            let partner = self
                .procs
                .get(&to)
                .and_then(|p| p.vfork_parent)
                .or_else(|| self.procs.iter().find(|(_, p)| p.vfork_parent == Some(to)).map(|(&c, _)| c));
            if partner == Some(from) {
                keep = true;
            } else if let Some(st) = partner.and_then(|x| self.procs.get_mut(&x)).and_then(|p| p.parked.as_mut()) {
                std::mem::swap(&mut st.mm, &mut next.mm);
                st.mm_lent = true;
                next.mm_lent = false;
            }
        }
        if !keep {
            self.mm.swap_process(&mut next.mm);
        }
        // `next` becomes the outgoing process's state: its address space is the placeholder
        // when the real one stayed in place.
        next.mm_lent = keep;
        self.signals.swap_process(&mut next.signals);
        self.shm.swap_attaches(&mut next.shm_attaches);
        std::mem::swap(&mut self.rlimits, &mut next.rlimits);
        std::mem::swap(&mut self.comm, &mut next.comm);
        std::mem::swap(&mut self.exe_path, &mut next.exe_path);
        std::mem::swap(&mut self.config.uid, &mut next.uid);
        std::mem::swap(&mut self.config.gid, &mut next.gid);
        let alive = self.procs.get(&from).is_some_and(|p| p.exited.is_none());
        self.vfs.switch_process(alive.then_some(from), to);
        if let Some(p) = self.procs.get_mut(&from).filter(|_| alive) {
            p.parked = Some(next);
        }
        self.config.pid = to;
        self.mm.set_cap_sys_rawio(self.config.uid == 0);
    }

    /// The running process ends with `status` (do_exit of its last thread, exit_group or a
    /// fatal signal): its other threads are gone, its memory and descriptors released, its
    /// children handed to init, and its parent told (SIGCHLD, or reaped at once when the
    /// parent ignores SIGCHLD). Returns the ids of the threads that went with it (the CPU
    /// backend drops their contexts).
    pub fn exit_process(&mut self, status: ExitStatus) -> Vec<Tid> {
        let pid = self.config.pid;
        let gone: Vec<Tid> = self.threads.parked.iter().filter(|(_, p)| p.pid == pid).map(|(&t, _)| t).collect();
        for t in &gone {
            self.threads.parked.remove(t);
        }
        self.threads.exited = true;
        self.threads.blocking = None;
        if !self.end_vfork() {
            self.mm.exit_process();
        }
        self.shm_detach_all();
        self.vfs.exit_process();
        self.itimers.exit_process(pid);
        // Orphans go to init (which reaps the zombies among them).
        let orphans: Vec<u32> = self.procs.iter().filter(|(_, p)| p.ppid == pid).map(|(&c, _)| c).collect();
        for c in orphans {
            if self.procs[&c].exited.is_some() {
                self.procs.remove(&c);
            } else if let Some(p) = self.procs.get_mut(&c) {
                p.ppid = 1;
            }
        }
        let (ppid, exit_signal) = match self.procs.get_mut(&pid) {
            Some(me) => {
                me.exited = Some(status);
                (me.ppid, me.exit_signal)
            }
            None => (1, 0),
        };
        if !self.procs.contains_key(&ppid) {
            // The parent is init (outside the machine): reaped at once.
            self.procs.remove(&pid);
            return gone;
        }
        // do_notify_parent: a parent that ignores SIGCHLD (or set SA_NOCLDWAIT) reaps it now.
        let act = self.process_signals(ppid).map(|s| s.action(sig::SIGCHLD));
        let autoreap =
            act.is_some_and(|a| a.handler == SIG_IGN || a.flags & crate::kernel_stub::signal::flags::SA_NOCLDWAIT != 0);
        // Legacy clone(2) takes any exit signal in CSIGNAL's 8 bits; do_notify_parent sends
        // it only when valid_signal() (at most _NSIG), and nothing otherwise (found by the
        // `syscalls` fuzz target: signal 219 indexed past the pending table).
        if exit_signal != 0 && exit_signal as usize <= crate::kernel_stub::signal::NSIG {
            let (si_code, _) = status.cld();
            self.raise_in_process(ppid, exit_signal, si_code);
        }
        if autoreap {
            self.procs.remove(&pid);
        }
        // A parent waiting for it runs again (the scheduler rechecks its wait).
        self.threads.resched = true;
        gone
    }

    /// The signal state (handlers, process pending set) of process `pid`.
    pub(crate) fn process_signals(&self, pid: u32) -> Option<&SignalState> {
        if pid == self.config.pid {
            Some(&self.signals)
        } else {
            self.procs.get(&pid)?.parked.as_ref().map(|s| &s.signals)
        }
    }

    /// Send `signo` to process `pid` (process-directed, as kill does).
    pub(crate) fn raise_in_process(&mut self, pid: u32, signo: u32, si_code: i32) {
        if pid == self.config.pid {
            self.signals.raise_process(signo, si_code, None);
        } else if let Some(s) = self.procs.get_mut(&pid).and_then(|p| p.parked.as_mut()) {
            s.signals.raise_process(signo, si_code, None);
        }
        self.threads.resched = !self.threads.alone();
    }

    /// The children of the running process `which` accepts: (pid, its status if it ended).
    pub(crate) fn children(&self, which: WaitFor) -> Vec<(u32, Option<ExitStatus>)> {
        let me = self.config.pid;
        self.procs
            .iter()
            .filter(|(&c, p)| {
                p.ppid == me
                    && match which {
                        WaitFor::Any => true,
                        WaitFor::Pid(x) => c == x,
                        WaitFor::Group(g) => p.pgid == g,
                    }
            })
            .map(|(&c, p)| (c, p.exited))
            .collect()
    }

    /// Reap zombie `pid` (release_task).
    pub(crate) fn reap(&mut self, pid: u32) {
        self.procs.remove(&pid);
    }

    /// Every process that is alive and `filter` accepts (for kill).
    pub(crate) fn processes_where(&self, filter: impl Fn(u32, &ProcInfo) -> bool) -> Vec<u32> {
        self.procs.iter().filter(|(&p, i)| i.exited.is_none() && filter(p, i)).map(|(&p, _)| p).collect()
    }

    /// The process table entry of `pid`.
    pub fn proc_info(&self, pid: u32) -> Option<&ProcInfo> {
        self.procs.get(&pid)
    }

    /// The process table entry of `pid`, writable.
    pub(crate) fn proc_info_mut(&mut self, pid: u32) -> Option<&mut ProcInfo> {
        self.procs.get_mut(&pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::mm::{MapRequest, Prot, VmaKind};
    use crate::kernel_stub::syscalls::{SyscallOutcome, Sysno};
    use crate::kernel_stub::KernelConfig;

    fn sys(k: &mut Kernel, s: Sysno, a: [u64; 6]) -> SyscallOutcome {
        k.syscall(s.arm64_nr().unwrap(), a)
    }

    fn fork(k: &mut Kernel) -> u32 {
        match sys(k, Sysno::Clone, [u64::from(sig::SIGCHLD), 0, 0, 0, 0, 0]) {
            SyscallOutcome::Return(Ok(pid)) => pid as u32,
            other => panic!("{other:?}"),
        }
    }

    /// Run the scheduler until a thread of process `pid` runs.
    fn run_process(k: &mut Kernel, pid: u32) {
        for _ in 0..1000 {
            k.schedule().unwrap();
            if k.config.pid == pid {
                return;
            }
        }
        panic!("process {pid} never ran")
    }

    #[test]
    fn fork_copies_private_memory_and_shares_shared_memory_and_exit_gives_it_back() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let parent = k.config.pid;
        let private = MapRequest::PRIVATE;
        let shared = MapRequest::SHARED;
        let a = k.mm.mmap(0, 8192, Prot::RW, private, VmaKind::Anon).unwrap();
        let s = k.mm.mmap(0, 4096, Prot::RW, shared, VmaKind::Anon).unwrap();
        k.mm.write_kernel(a, b"parent").unwrap();
        k.mm.write_kernel(s, b"shared").unwrap();
        let before = k.mm.phys().reserved();
        let child = fork(&mut k);
        assert_eq!(k.mm.phys().reserved() - before, 8192, "the private pages are copied, the shared ones not");
        assert_eq!(k.threads.take_spawn(), Some(Spawn { tid: Tid(child), stack: 0, tls: None, process: true }));
        run_process(&mut k, child);
        assert_eq!(sys(&mut k, Sysno::Getppid, [0; 6]), SyscallOutcome::Return(Ok(u64::from(parent))));
        let mut b = [0u8; 6];
        k.mm.read_kernel(a, &mut b).unwrap();
        assert_eq!(&b, b"parent", "the child's copy");
        k.mm.write_kernel(a, b"child!").unwrap();
        k.mm.write_kernel(s, b"child!").unwrap();
        // The child ends: its copy is released, the shared page stays (the parent maps it).
        k.exit_process(ExitStatus::Exited(3));
        assert_eq!(k.mm.phys().reserved(), before);
        run_process(&mut k, parent);
        k.mm.read_kernel(a, &mut b).unwrap();
        assert_eq!(&b, b"parent", "the child's write to private memory is its own");
        k.mm.read_kernel(s, &mut b).unwrap();
        assert_eq!(&b, b"child!", "its write to shared memory is the parent's too");
        // The parent got SIGCHLD and reaps the status.
        assert_eq!(k.signals.take_deliverable(), Some((sig::SIGCHLD, code::CLD_EXITED, None)));
        assert_eq!(k.mm.write_kernel(a + 4096, &7u32.to_le_bytes()), Ok(()));
        assert_eq!(
            sys(&mut k, Sysno::Wait4, [u64::MAX, a + 4096, 0, 0, 0, 0]),
            SyscallOutcome::Return(Ok(u64::from(child)))
        );
        let mut w = [0u8; 4];
        k.mm.read_kernel(a + 4096, &mut w).unwrap();
        assert_eq!(u32::from_le_bytes(w), 3 << 8);
        assert_eq!(sys(&mut k, Sysno::Wait4, [u64::MAX, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::ECHILD)));
    }

    #[test]
    fn rlimit_nproc_binds_fork_for_every_user_but_root() {
        let clone = |k: &mut Kernel| sys(k, Sysno::Clone, [u64::from(sig::SIGCHLD), 0, 0, 0, 0, 0]);
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        assert_ne!(k.config.uid, 0);
        k.rlimits.0[6] = (2, 2);
        fork(&mut k);
        assert_eq!(clone(&mut k), SyscallOutcome::Return(Err(Errno::EAGAIN)), "a third process");
        // Root is exempt (copy_process: INIT_USER, or CAP_SYS_RESOURCE/CAP_SYS_ADMIN).
        k.config.uid = 0;
        fork(&mut k);
        fork(&mut k);
        assert_eq!(k.live_processes(), 4);
    }

    #[test]
    fn an_exit_signal_past_nsig_is_not_sent_and_the_child_is_still_waited_for() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let parent = k.config.pid;
        let child = match sys(&mut k, Sysno::Clone, [219, 0, 0, 0, 0, 0]) {
            SyscallOutcome::Return(Ok(pid)) => pid as u32,
            other => panic!("{other:?}"),
        };
        run_process(&mut k, child);
        k.exit_process(ExitStatus::Exited(0));
        run_process(&mut k, parent);
        assert_eq!(k.signals.take_deliverable(), None);
        // __WALL: a child whose exit signal is not SIGCHLD is waited for only with __WALL or
        // __WCLONE.
        assert_eq!(
            sys(&mut k, Sysno::Wait4, [u64::MAX, 0, 0x4000_0000, 0, 0, 0]),
            SyscallOutcome::Return(Ok(u64::from(child)))
        );
    }

    #[test]
    fn a_wait_sleeps_until_a_child_ends_and_nohang_does_not() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let parent = k.config.pid;
        let child = fork(&mut k);
        assert_eq!(sys(&mut k, Sysno::Wait4, [u64::from(child), 0, 1, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        assert_eq!(
            sys(&mut k, Sysno::Wait4, [u64::from(child) + 7, 0, 0, 0, 0, 0]),
            SyscallOutcome::Return(Err(Errno::ECHILD))
        );
        assert_eq!(sys(&mut k, Sysno::Wait4, [u64::MAX, 0, 0, 0, 0, 0]), SyscallOutcome::Block);
        let sw = k.schedule().unwrap();
        assert_eq!(sw.to, Tid(child), "the only runnable thread");
        k.exit_process(ExitStatus::Killed { signo: sig::SIGTERM, core: false });
        let sw = k.schedule().unwrap();
        assert_eq!((sw.to, sw.resume), (Tid(parent), Resume::Restart { timed_out: false }), "the wait runs again");
        assert_eq!(sys(&mut k, Sysno::Wait4, [u64::MAX, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(u64::from(child))));
        assert_eq!(ExitStatus::Killed { signo: 15, core: false }.wstatus(), 15);
        assert_eq!(ExitStatus::Killed { signo: 11, core: true }.cld(), (code::CLD_DUMPED, 11));
    }

    #[test]
    fn an_ignored_sigchld_reaps_at_once_and_kill_reaches_groups() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let parent = k.config.pid;
        k.signals
            .set_action(
                u64::from(sig::SIGCHLD),
                Some(crate::kernel_stub::signal::SigAction { handler: SIG_IGN, ..Default::default() }),
            )
            .unwrap();
        let a = fork(&mut k);
        let b = fork(&mut k);
        assert_eq!(
            sys(&mut k, Sysno::Setpgid, [u64::from(b), u64::from(b), 0, 0, 0, 0]),
            SyscallOutcome::Return(Ok(0))
        );
        assert_eq!(
            sys(&mut k, Sysno::Setpgid, [u64::from(a), 99, 0, 0, 0, 0]),
            SyscallOutcome::Return(Err(Errno::EPERM))
        );
        assert_eq!(
            sys(&mut k, Sysno::Getpgid, [u64::from(b), 0, 0, 0, 0, 0]),
            SyscallOutcome::Return(Ok(u64::from(b)))
        );
        // kill(-b) reaches b only; kill(0) the parent's group (the parent and a).
        assert_eq!(
            sys(&mut k, Sysno::Kill, [u64::from(b).wrapping_neg(), 15, 0, 0, 0, 0]),
            SyscallOutcome::Return(Ok(0))
        );
        assert_eq!(k.signals.all_pending(), 0);
        assert_eq!(sys(&mut k, Sysno::Kill, [0, 10, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        assert_eq!(k.signals.take_deliverable().map(|s| s.0), Some(10));
        run_process(&mut k, a);
        assert_eq!(k.signals.take_deliverable().map(|s| s.0), Some(10));
        k.exit_process(ExitStatus::Exited(0));
        assert!(k.proc_info(a).is_none(), "reaped at once: the parent ignores SIGCHLD");
        run_process(&mut k, b);
        assert_eq!(k.signals.take_deliverable().map(|s| s.0), Some(15));
        assert_eq!(sys(&mut k, Sysno::Setsid, [0; 6]), SyscallOutcome::Return(Err(Errno::EPERM)), "b leads a group");
        k.exit_process(ExitStatus::Exited(0));
        run_process(&mut k, parent);
        assert_eq!(sys(&mut k, Sysno::Wait4, [u64::MAX, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::ECHILD)));
    }

    #[test]
    fn futexes_are_per_process_in_private_memory_and_shared_in_shared_memory() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let parent = k.config.pid;
        let private = MapRequest::PRIVATE;
        let shared = MapRequest::SHARED;
        let a = k.mm.mmap(0, 4096, Prot::RW, private, VmaKind::Anon).unwrap();
        let s = k.mm.mmap(0, 4096, Prot::RW, shared, VmaKind::Anon).unwrap();
        let (c1, c2) = (fork(&mut k), fork(&mut k));
        // c1 sleeps on its private word at `a`, c2 on the shared word at `s`.
        run_process(&mut k, c1);
        assert_eq!(sys(&mut k, Sysno::Futex, [a, 0, 0, 0, 0, 0]), SyscallOutcome::Block);
        run_process(&mut k, c2);
        assert_eq!(sys(&mut k, Sysno::Futex, [s, 0, 0, 0, 0, 0]), SyscallOutcome::Block);
        run_process(&mut k, parent);
        // The parent's word at the same address is another futex; the shared one is one.
        assert_eq!(sys(&mut k, Sysno::Futex, [a, 1, 1, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        assert!(k.threads.parked[&Tid(c1)].wait.is_some(), "c1 still asleep");
        assert_eq!(sys(&mut k, Sysno::Futex, [s, 1, 1, 0, 0, 0]), SyscallOutcome::Return(Ok(1)));
        assert_eq!(k.threads.parked[&Tid(c2)].resume, Resume::Return(Ok(0)));
    }

    #[test]
    fn a_vfork_child_borrows_the_parents_memory_across_other_switches_and_gives_it_back() {
        use crate::kernel_stub::task::clone_flags::{CLONE_VFORK, CLONE_VM};
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let parent = k.config.pid;
        let private = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, 4096, Prot::RW, private, VmaKind::Anon).unwrap();
        let other = fork(&mut k);
        let flags = CLONE_VM | CLONE_VFORK | u64::from(sig::SIGCHLD);
        assert_eq!(sys(&mut k, Sysno::Clone, [flags, 0, 0, 0, 0, 0]), SyscallOutcome::Block, "the parent sleeps");
        let child = other + 1;
        assert!(k.threads.take_spawn().is_some_and(|s| s.tid == Tid(child)));
        // Whatever runs in between, the child has the parent's memory and the other process
        // its own.
        for _ in 0..20 {
            let sw = k.schedule().unwrap();
            assert_ne!(sw.to, Tid(parent), "the parent sleeps until the child is done");
            if k.config.pid == child {
                k.mm.write_kernel(a, b"child").unwrap();
            } else {
                let mut b = [0u8; 5];
                k.mm.read_kernel(a, &mut b).unwrap();
                assert_eq!(&b, &[0; 5], "the other process's copy");
            }
        }
        run_process(&mut k, child);
        k.exit_process(ExitStatus::Exited(0));
        run_process(&mut k, parent);
        assert_eq!(k.threads.resumed, Resume::ReturnPair(u64::from(child), 0), "vfork returns the child's pid");
        let mut b = [0u8; 5];
        k.mm.read_kernel(a, &mut b).unwrap();
        assert_eq!(&b, b"child", "the child wrote the parent's memory");
    }

    #[test]
    fn sysv_shm_attachments_are_inherited_and_dropped_at_exit() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let parent = k.config.pid;
        let id = k.shmget(0, 4096, 0o1600).unwrap();
        let at = k.shmat(id, 0, 0).unwrap();
        k.mm.write_kernel(at, b"parent").unwrap();
        let child = fork(&mut k);
        assert_eq!(k.shm.get(id as u32).unwrap().nattch, 2, "the child's attachment counts");
        run_process(&mut k, child);
        let mut b = [0u8; 6];
        k.mm.read_kernel(at, &mut b).unwrap();
        assert_eq!(&b, b"parent");
        k.mm.write_kernel(at, b"child!").unwrap();
        k.exit_process(ExitStatus::Exited(0));
        assert_eq!(k.shm.get(id as u32).unwrap().nattch, 1, "its attachment went with it");
        run_process(&mut k, parent);
        k.mm.read_kernel(at, &mut b).unwrap();
        assert_eq!(&b, b"child!", "one segment for both");
        assert_eq!(k.shmdt(at), Ok(0));
    }
}
