//! Signals: numbers, `si_code` values, dispositions and masks.
//!
//! Numbers and codes follow `include/uapi/asm-generic/signal.h` and
//! `include/uapi/asm-generic/siginfo.h` (arm64 uses the generic numbering).

use crate::kernel_stub::errno::{Errno, KResult};

pub mod arm64;
pub mod sparc64;

/// Number of signals (`_NSIG`).
pub const NSIG: usize = 64;

/// Signal numbers (asm-generic).
pub mod sig {
    #![allow(missing_docs)]
    pub const SIGHUP: u32 = 1;
    pub const SIGINT: u32 = 2;
    pub const SIGQUIT: u32 = 3;
    pub const SIGILL: u32 = 4;
    pub const SIGTRAP: u32 = 5;
    pub const SIGABRT: u32 = 6;
    pub const SIGBUS: u32 = 7;
    pub const SIGFPE: u32 = 8;
    pub const SIGKILL: u32 = 9;
    pub const SIGUSR1: u32 = 10;
    pub const SIGSEGV: u32 = 11;
    pub const SIGUSR2: u32 = 12;
    pub const SIGPIPE: u32 = 13;
    pub const SIGALRM: u32 = 14;
    pub const SIGTERM: u32 = 15;
    pub const SIGSTKFLT: u32 = 16;
    pub const SIGCHLD: u32 = 17;
    pub const SIGCONT: u32 = 18;
    pub const SIGSTOP: u32 = 19;
    pub const SIGTSTP: u32 = 20;
    pub const SIGTTIN: u32 = 21;
    pub const SIGTTOU: u32 = 22;
    pub const SIGURG: u32 = 23;
    pub const SIGXCPU: u32 = 24;
    pub const SIGXFSZ: u32 = 25;
    pub const SIGVTALRM: u32 = 26;
    pub const SIGPROF: u32 = 27;
    pub const SIGWINCH: u32 = 28;
    pub const SIGIO: u32 = 29;
    pub const SIGPWR: u32 = 30;
    pub const SIGSYS: u32 = 31;
    /// SPARC's SIGEMT has no asm-generic number; internally it takes the slot of SIGSTKFLT,
    /// which SPARC does not have (the sparc64 ABI adapter maps it to SPARC's 7).
    pub const SIGEMT: u32 = SIGSTKFLT;
}

/// The name of a signal, e.g. `"SIGSEGV"`.
pub fn signal_name(signo: u32) -> String {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match signo {
        0..=31 => NAMES[signo as usize].to_string(),
        32..=64 => format!("SIGRT{}", signo - 32),
        _ => format!("signal {signo}"),
    }
}

/// `si_code` values (asm-generic siginfo.h).
pub mod code {
    #![allow(missing_docs)]
    pub const SI_USER: i32 = 0;
    pub const SI_KERNEL: i32 = 0x80;
    pub const SI_TKILL: i32 = -6;
    pub const CLD_EXITED: i32 = 1;
    pub const CLD_KILLED: i32 = 2;
    pub const CLD_DUMPED: i32 = 3;
    pub const SEGV_MAPERR: i32 = 1;
    pub const SEGV_ACCERR: i32 = 2;
    pub const SEGV_BNDERR: i32 = 3;
    pub const SEGV_PKUERR: i32 = 4;
    pub const SEGV_ACCADI: i32 = 5;
    pub const SEGV_ADIDERR: i32 = 6;
    pub const SEGV_ADIPERR: i32 = 7;
    pub const SEGV_MTEAERR: i32 = 8;
    pub const SEGV_MTESERR: i32 = 9;
    pub const ILL_ILLOPC: i32 = 1;
    pub const ILL_ILLOPN: i32 = 2;
    pub const ILL_ILLADR: i32 = 3;
    pub const ILL_ILLTRP: i32 = 4;
    pub const ILL_PRVOPC: i32 = 5;
    pub const FPE_INTDIV: i32 = 1;
    pub const FPE_FLTINV: i32 = 7;
    /// SPARC's tag-overflow trap (SIGEMT).
    pub const EMT_TAGOVF: i32 = 1;
    pub const BUS_ADRALN: i32 = 1;
    pub const BUS_ADRERR: i32 = 2;
    pub const TRAP_BRKPT: i32 = 1;
}

/// The name of an `si_code` for a given signal, e.g. `"SEGV_MAPERR"`.
pub fn code_name(signo: u32, si_code: i32) -> String {
    use code::*;
    let n = match (signo, si_code) {
        (_, SI_USER) => "SI_USER",
        (_, SI_KERNEL) => "SI_KERNEL",
        (_, SI_TKILL) => "SI_TKILL",
        (sig::SIGCHLD, CLD_EXITED) => "CLD_EXITED",
        (sig::SIGCHLD, CLD_KILLED) => "CLD_KILLED",
        (sig::SIGCHLD, CLD_DUMPED) => "CLD_DUMPED",
        (sig::SIGSEGV, SEGV_MAPERR) => "SEGV_MAPERR",
        (sig::SIGSEGV, SEGV_ACCERR) => "SEGV_ACCERR",
        (sig::SIGSEGV, SEGV_BNDERR) => "SEGV_BNDERR",
        (sig::SIGSEGV, SEGV_PKUERR) => "SEGV_PKUERR",
        (sig::SIGSEGV, SEGV_ACCADI) => "SEGV_ACCADI",
        (sig::SIGSEGV, SEGV_ADIDERR) => "SEGV_ADIDERR",
        (sig::SIGSEGV, SEGV_ADIPERR) => "SEGV_ADIPERR",
        (sig::SIGSEGV, SEGV_MTEAERR) => "SEGV_MTEAERR",
        (sig::SIGSEGV, SEGV_MTESERR) => "SEGV_MTESERR",
        (sig::SIGILL, ILL_ILLOPC) => "ILL_ILLOPC",
        (sig::SIGILL, ILL_ILLOPN) => "ILL_ILLOPN",
        (sig::SIGILL, ILL_ILLADR) => "ILL_ILLADR",
        (sig::SIGILL, ILL_ILLTRP) => "ILL_ILLTRP",
        (sig::SIGILL, ILL_PRVOPC) => "ILL_PRVOPC",
        (sig::SIGFPE, FPE_INTDIV) => "FPE_INTDIV",
        (sig::SIGFPE, FPE_FLTINV) => "FPE_FLTINV",
        (sig::SIGEMT, EMT_TAGOVF) => "EMT_TAGOVF",
        (sig::SIGBUS, BUS_ADRALN) => "BUS_ADRALN",
        (sig::SIGBUS, BUS_ADRERR) => "BUS_ADRERR",
        (sig::SIGTRAP, TRAP_BRKPT) => "TRAP_BRKPT",
        _ => return format!("si_code {si_code}"),
    };
    n.to_string()
}

/// `sa_flags` bits (asm-generic; the same values on arm64).
pub mod flags {
    #![allow(missing_docs)]
    pub const SA_NOCLDSTOP: u64 = 0x0000_0001;
    pub const SA_NOCLDWAIT: u64 = 0x0000_0002;
    pub const SA_SIGINFO: u64 = 0x0000_0004;
    pub const SA_UNSUPPORTED: u64 = 0x0000_0400;
    pub const SA_EXPOSE_TAGBITS: u64 = 0x0000_0800;
    pub const SA_RESTORER: u64 = 0x0400_0000;
    pub const SA_ONSTACK: u64 = 0x0800_0000;
    pub const SA_RESTART: u64 = 0x1000_0000;
    pub const SA_NODEFER: u64 = 0x4000_0000;
    pub const SA_RESETHAND: u64 = 0x8000_0000;
}

/// `SIG_DFL`.
pub const SIG_DFL: u64 = 0;
/// `SIG_IGN`.
pub const SIG_IGN: u64 = 1;

/// One signal's disposition (`struct k_sigaction` as the kernel keeps it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, or SIG_DFL / SIG_IGN.
    pub handler: u64,
    /// `sa_flags`.
    pub flags: u64,
    /// `sa_restorer`.
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

/// What the default action of a signal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// Terminate the process.
    Terminate,
    /// Terminate with a core dump.
    CoreDump,
    /// Ignore.
    Ignore,
    /// Stop (treated as ignore: there is no job control).
    Stop,
}

/// The default action of `signo` (signal(7)).
pub fn default_action(signo: u32) -> DefaultAction {
    use sig::*;
    match signo {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => {
            DefaultAction::CoreDump
        }
        SIGCHLD | SIGURG | SIGWINCH | SIGCONT => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        _ => DefaultAction::Terminate,
    }
}

fn bit(signo: u32) -> u64 {
    1u64 << (signo - 1)
}

/// What a stop signal at its default action does to the one task of the machine: SIGSTOP
/// stops it, and since no other task exists to send SIGCONT it stays stopped for ever (the
/// reason is returned; the machine ends the run there). SIGTSTP, SIGTTIN and SIGTTOU do
/// nothing: the task's process group is orphaned (its parent is init, in another session),
/// and Linux's get_signal discards job-control stops in an orphaned group. None for every
/// other signal.
pub fn stops_for_ever(signo: u32) -> Option<String> {
    (signo == sig::SIGSTOP).then(|| "stopped by SIGSTOP, and no other task can send it SIGCONT".to_string())
}

/// Signals that can never be blocked, caught or ignored.
pub const UNBLOCKABLE: u64 = (1 << (sig::SIGKILL - 1)) | (1 << (sig::SIGSTOP - 1));

/// `how` of rt_sigprocmask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskHow {
    /// SIG_BLOCK.
    Block,
    /// SIG_UNBLOCK.
    Unblock,
    /// SIG_SETMASK.
    SetMask,
}

/// What is delivered with a signal (`siginfo`), before an architecture lays it out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    /// Signal number.
    pub signo: u32,
    /// `si_code`.
    pub code: i32,
    /// `si_addr` for faults.
    pub addr: Option<u64>,
    /// Sender pid and uid for kill/tgkill.
    pub sender: Option<(u32, u32)>,
    /// The ESR value of a memory fault (arm64's esr_context record).
    pub esr: Option<u64>,
    /// `sigcontext.fault_address`.
    pub fault_address: u64,
}

/// An alternate signal stack (`stack_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    /// `ss_sp`.
    pub sp: u64,
    /// `ss_flags` (SS_DISABLE = 2 when none).
    pub flags: u32,
    /// `ss_size`.
    pub size: u64,
}

/// `SS_ONSTACK`.
pub const SS_ONSTACK: u32 = 1;
/// `SS_DISABLE`.
pub const SS_DISABLE: u32 = 2;
/// `SS_AUTODISARM`.
pub const SS_AUTODISARM: u32 = 1 << 31;

/// Per-process signal state.
#[derive(Clone, Debug)]
pub struct SignalState {
    actions: [SigAction; NSIG],
    /// Blocked signals (bit `n-1` for signal `n`).
    pub blocked: u64,
    /// Pending signals.
    pub pending: u64,
    /// The si_code and si_addr of each pending signal.
    pending_info: [(i32, Option<u64>); NSIG],
    /// The alternate stack.
    pub altstack: AltStack,
    /// Process-directed pending signals (`kill`): the first thread that does not block one
    /// takes it (Linux's `shared_pending`). `pending` above is the running thread's own.
    pub shared_pending: u64,
    shared_info: [(i32, Option<u64>); NSIG],
    /// A SIGALRM was dequeued for the process since the kernel last looked: its periodic
    /// ITIMER_REAL rearms (see [`crate::kernel_stub::itimer`]).
    pub alarm_dequeued: bool,
}

/// The part of [`SignalState`] that belongs to one thread (mask, its own pending signals,
/// alternate stack); the running thread's lives in the [`SignalState`] itself, a parked
/// thread's here (see [`SignalState::swap_thread`]).
#[derive(Clone, Debug)]
pub struct ThreadSignals {
    blocked: u64,
    pending: u64,
    pending_info: [(i32, Option<u64>); NSIG],
    altstack: AltStack,
}

impl ThreadSignals {
    /// Signals pending for this thread (its own and the process's) that it does not block.
    pub fn deliverable(&self, shared_pending: u64) -> u64 {
        (self.pending | shared_pending) & !self.blocked
    }

    /// Mark `signo` pending for this (parked) thread, as `tgkill` does.
    pub fn raise_with(&mut self, signo: u32, si_code: i32, addr: Option<u64>) {
        if self.pending & bit(signo) == 0 {
            self.pending_info[(signo - 1) as usize] = (si_code, addr);
        }
        self.pending |= bit(signo);
    }

    /// Is `signo` blocked by this thread?
    pub fn is_blocked(&self, signo: u32) -> bool {
        self.blocked & bit(signo) != 0
    }
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); NSIG],
            blocked: 0,
            pending: 0,
            pending_info: [(code::SI_USER, None); NSIG],
            altstack: AltStack { sp: 0, flags: SS_DISABLE, size: 0 },
            shared_pending: 0,
            shared_info: [(code::SI_USER, None); NSIG],
            alarm_dequeued: false,
        }
    }
}

fn check_signo(signo: u64) -> KResult<u32> {
    if (1..=NSIG as u64).contains(&signo) {
        Ok(signo as u32)
    } else {
        Err(Errno::EINVAL)
    }
}

impl SignalState {
    /// The disposition of `signo` (1..=64).
    pub fn action(&self, signo: u32) -> SigAction {
        self.actions[(signo - 1) as usize]
    }

    /// `rt_sigaction`: returns the old action; installs `new` if given.
    pub fn set_action(&mut self, signo: u64, new: Option<SigAction>) -> KResult<SigAction> {
        let signo = check_signo(signo)?;
        let old = self.action(signo);
        if let Some(mut act) = new {
            if signo == sig::SIGKILL || signo == sig::SIGSTOP {
                return Err(Errno::EINVAL);
            }
            act.mask &= !UNBLOCKABLE;
            // The kernel clears flag bits it does not know, so user space can probe them.
            act.flags &= !flags::SA_UNSUPPORTED;
            self.actions[(signo - 1) as usize] = act;
            if act.handler == SIG_IGN || (act.handler == SIG_DFL && default_action(signo) == DefaultAction::Ignore) {
                self.pending &= !bit(signo);
                self.shared_pending &= !bit(signo);
            }
        }
        Ok(old)
    }

    /// `rt_sigprocmask`: returns the old mask.
    pub fn set_mask(&mut self, how: MaskHow, set: Option<u64>) -> u64 {
        let old = self.blocked;
        if let Some(set) = set {
            let set = set & !UNBLOCKABLE;
            self.blocked = match how {
                MaskHow::Block => old | set,
                MaskHow::Unblock => old & !set,
                MaskHow::SetMask => set,
            };
        }
        old
    }

    /// Is `signo` blocked?
    pub fn is_blocked(&self, signo: u32) -> bool {
        self.blocked & bit(signo) != 0
    }

    /// Mark `signo` pending (sent with kill: SI_USER).
    pub fn raise(&mut self, signo: u32) {
        self.raise_with(signo, code::SI_USER, None);
    }

    /// Mark `signo` pending with its si_code and si_addr. A standard signal already pending
    /// is not queued twice.
    pub fn raise_with(&mut self, signo: u32, si_code: i32, addr: Option<u64>) {
        if self.pending & bit(signo) == 0 {
            self.pending_info[(signo - 1) as usize] = (si_code, addr);
        }
        self.pending |= bit(signo);
    }

    /// Mark `signo` pending for the whole process (`kill`): the running thread takes it
    /// unless it blocks it, else the first thread that does not.
    pub fn raise_process(&mut self, signo: u32, si_code: i32, addr: Option<u64>) {
        if self.shared_pending & bit(signo) == 0 {
            self.shared_info[(signo - 1) as usize] = (si_code, addr);
        }
        self.shared_pending |= bit(signo);
    }

    /// Take the lowest pending signal that is not blocked: (signo, si_code, si_addr). The
    /// thread's own pending signals come before the process's (dequeue_signal).
    pub fn take_deliverable(&mut self) -> Option<(u32, i32, Option<u64>)> {
        let own = self.pending & !self.blocked;
        let shared = self.shared_pending & !self.blocked;
        if own | shared == 0 {
            return None;
        }
        let signo = (own | shared).trailing_zeros() + 1;
        let (c, a) = if own & bit(signo) != 0 {
            self.pending &= !bit(signo);
            self.pending_info[(signo - 1) as usize]
        } else {
            self.shared_pending &= !bit(signo);
            self.shared_info[(signo - 1) as usize]
        };
        if signo == sig::SIGALRM {
            self.alarm_dequeued = true;
        }
        Some((signo, c, a))
    }

    /// Signals pending for the running thread (its own and the process's), blocked or not.
    pub fn all_pending(&self) -> u64 {
        self.pending | self.shared_pending
    }

    /// A new thread's signal state (clone): the creator's mask, nothing pending, no
    /// alternate stack (copy_process clears sas_ss_sp for CLONE_VM without CLONE_VFORK).
    pub fn new_thread(&self) -> ThreadSignals {
        ThreadSignals {
            blocked: self.blocked,
            pending: 0,
            pending_info: [(code::SI_USER, None); NSIG],
            altstack: AltStack { sp: 0, flags: SS_DISABLE, size: 0 },
        }
    }

    /// fork: the child's signal state. Handlers, ignored signals and the mask are inherited
    /// and the alternate stack too (copy_process keeps sas_ss_sp without CLONE_VM); nothing
    /// is pending in the child (its pending sets start empty).
    pub fn fork(&self) -> SignalState {
        SignalState {
            pending: 0,
            pending_info: [(code::SI_USER, None); NSIG],
            shared_pending: 0,
            shared_info: [(code::SI_USER, None); NSIG],
            alarm_dequeued: false,
            ..self.clone()
        }
    }

    /// fork: the child's thread part: the caller's mask and alternate stack, nothing pending.
    pub fn fork_thread(&self) -> ThreadSignals {
        ThreadSignals {
            blocked: self.blocked,
            pending: 0,
            pending_info: [(code::SI_USER, None); NSIG],
            altstack: self.altstack,
        }
    }

    /// Context switch between processes: the process-wide part (handlers and the process's
    /// pending signals) is swapped with `other`'s; the thread part stays (it is swapped by
    /// [`Self::swap_thread`]).
    pub fn swap_process(&mut self, other: &mut SignalState) {
        std::mem::swap(&mut self.actions, &mut other.actions);
        std::mem::swap(&mut self.shared_pending, &mut other.shared_pending);
        std::mem::swap(&mut self.shared_info, &mut other.shared_info);
        std::mem::swap(&mut self.alarm_dequeued, &mut other.alarm_dequeued);
    }

    /// Context switch: swap the running thread's part with a parked thread's.
    pub fn swap_thread(&mut self, t: &mut ThreadSignals) {
        std::mem::swap(&mut self.blocked, &mut t.blocked);
        std::mem::swap(&mut self.pending, &mut t.pending);
        std::mem::swap(&mut self.pending_info, &mut t.pending_info);
        std::mem::swap(&mut self.altstack, &mut t.altstack);
    }

    /// For a fault the thread cannot survive without a handler (force_sig_fault): if the
    /// signal is blocked or ignored, reset it to the default action and unblock it, as the
    /// kernel's `force_sig_info_to_task` does.
    pub fn force(&mut self, signo: u32) {
        let act = &mut self.actions[(signo - 1) as usize];
        let blocked = self.blocked & bit(signo) != 0;
        if act.handler == SIG_IGN || blocked {
            act.handler = SIG_DFL;
            self.blocked &= !bit(signo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigaction_rules() {
        let mut s = SignalState::default();
        let act = SigAction {
            handler: 0x1234,
            flags: flags::SA_SIGINFO | flags::SA_UNSUPPORTED,
            restorer: 0,
            mask: u64::MAX,
        };
        assert_eq!(s.set_action(sig::SIGSEGV as u64, Some(act)).unwrap(), SigAction::default());
        let got = s.action(sig::SIGSEGV);
        assert_eq!(got.flags, flags::SA_SIGINFO, "unknown flags are cleared");
        assert_eq!(got.mask & UNBLOCKABLE, 0);
        assert_eq!(s.set_action(sig::SIGKILL as u64, Some(act)), Err(Errno::EINVAL));
        assert_eq!(s.set_action(0, None), Err(Errno::EINVAL));
        assert_eq!(s.set_action(65, None), Err(Errno::EINVAL));
        assert!(s.set_action(64, None).is_ok());
    }

    #[test]
    fn masks_and_delivery_order() {
        let mut s = SignalState::default();
        s.set_mask(MaskHow::Block, Some(bit(sig::SIGUSR1) | UNBLOCKABLE));
        assert!(s.is_blocked(sig::SIGUSR1) && !s.is_blocked(sig::SIGKILL));
        s.raise(sig::SIGUSR1);
        s.raise(sig::SIGTERM);
        assert_eq!(s.take_deliverable(), Some((sig::SIGTERM, code::SI_USER, None)));
        assert_eq!(s.take_deliverable(), None);
        s.set_mask(MaskHow::Unblock, Some(bit(sig::SIGUSR1)));
        assert_eq!(s.take_deliverable(), Some((sig::SIGUSR1, code::SI_USER, None)));
        s.raise_with(sig::SIGSEGV, code::SEGV_MTEAERR, Some(0));
        assert_eq!(s.take_deliverable(), Some((sig::SIGSEGV, code::SEGV_MTEAERR, Some(0))));
    }

    #[test]
    fn forced_fault_resets_ignored_handler() {
        let mut s = SignalState::default();
        s.set_action(sig::SIGSEGV as u64, Some(SigAction { handler: SIG_IGN, ..Default::default() })).unwrap();
        s.force(sig::SIGSEGV);
        assert_eq!(s.action(sig::SIGSEGV).handler, SIG_DFL);
        assert_eq!(code_name(sig::SIGSEGV, code::SEGV_MTESERR), "SEGV_MTESERR");
        assert_eq!(code_name(sig::SIGCHLD, code::CLD_KILLED), "CLD_KILLED");
        assert_eq!(signal_name(11), "SIGSEGV");
    }
}
