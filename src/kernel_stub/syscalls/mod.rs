//! Syscall dispatch: the table of modelled syscalls, argument decoding for the trace, and the
//! handlers (grouped by subject in the submodules).

mod execve;
mod fs;
mod mem;
pub mod names;
mod pipe;
mod poll;
mod process;
mod signals;
mod thread;
mod time;
mod wait;

pub use execve::ExecRequest;

use crate::addr::UserAddr;
use crate::arch::Arch;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::trace::TraceEvent;
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// How an argument is shown in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A signed integer.
    Int,
    /// A file descriptor (`AT_FDCWD` shown by name).
    Fd,
    /// A hex value (pointers, flags).
    Hex,
    /// A size or count.
    Size,
    /// A NUL-terminated path, shown as a string.
    Path,
    /// A buffer whose length is the next argument; shown as a short preview on writes.
    OutBuf,
    /// Octal (file modes).
    Octal,
    /// A signal number.
    Signal,
}

macro_rules! sysnos {
    ($( $variant:ident = $name:literal, $arm64:expr, $sparc64:expr, [$($kind:ident),*]; )*) => {
        /// The syscalls tagmmu models, independent of the architecture's numbering.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Sysno { $( $variant, )* }

        impl Sysno {
            /// The syscall's name.
            pub fn name(self) -> &'static str { match self { $( Sysno::$variant => $name, )* } }
            /// Argument kinds, for the trace.
            pub fn args(self) -> &'static [ArgKind] { match self { $( Sysno::$variant => &[$(ArgKind::$kind),*], )* } }
            /// The arm64 (asm-generic) number, if arm64 has the syscall.
            pub fn arm64_nr(self) -> Option<u64> { match self { $( Sysno::$variant => $arm64, )* } }
            /// The sparc64 number, if sparc64 has the syscall.
            pub fn sparc64_nr(self) -> Option<u64> { match self { $( Sysno::$variant => $sparc64, )* } }
            /// Every modelled syscall.
            pub const ALL: &'static [Sysno] = &[$( Sysno::$variant, )*];
        }
    };
}

/// Decoding tables from numbers to syscalls, built once.
fn table(arch: Arch) -> &'static std::collections::HashMap<u64, Sysno> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static ARM64: OnceLock<HashMap<u64, Sysno>> = OnceLock::new();
    static SPARC64: OnceLock<HashMap<u64, Sysno>> = OnceLock::new();
    let (cell, nr): (_, fn(Sysno) -> Option<u64>) = match arch {
        Arch::Arm64 => (&ARM64, Sysno::arm64_nr),
        Arch::Sparc64 => (&SPARC64, Sysno::sparc64_nr),
    };
    cell.get_or_init(|| Sysno::ALL.iter().filter_map(|&s| nr(s).map(|n| (n, s))).collect())
}

impl Sysno {
    /// Decode an arm64 syscall number.
    pub fn from_arm64(nr: u64) -> Option<Sysno> {
        table(Arch::Arm64).get(&nr).copied()
    }
    /// Decode a sparc64 syscall number.
    pub fn from_sparc64(nr: u64) -> Option<Sysno> {
        table(Arch::Sparc64).get(&nr).copied()
    }
}

sysnos! {
    Getcwd = "getcwd", Some(17), Some(119), [Hex, Size];
    Dup = "dup", Some(23), Some(41), [Fd];
    Dup3 = "dup3", Some(24), Some(320), [Fd, Fd, Hex];
    Fcntl = "fcntl", Some(25), Some(92), [Fd, Int, Hex];
    Ioctl = "ioctl", Some(29), Some(54), [Fd, Hex, Hex];
    Mkdirat = "mkdirat", Some(34), Some(285), [Fd, Path, Octal];
    Unlinkat = "unlinkat", Some(35), Some(290), [Fd, Path, Hex];
    Ftruncate = "ftruncate", Some(46), Some(130), [Fd, Int];
    Faccessat = "faccessat", Some(48), Some(296), [Fd, Path, Octal];
    Chdir = "chdir", Some(49), Some(12), [Path];
    Openat = "openat", Some(56), Some(284), [Fd, Path, Hex, Octal];
    Close = "close", Some(57), Some(6), [Fd];
    Getdents64 = "getdents64", Some(61), Some(154), [Fd, Hex, Size];
    Lseek = "lseek", Some(62), Some(19), [Fd, Int, Int];
    Read = "read", Some(63), Some(3), [Fd, Hex, Size];
    Write = "write", Some(64), Some(4), [Fd, OutBuf, Size];
    Readv = "readv", Some(65), Some(120), [Fd, Hex, Int];
    Writev = "writev", Some(66), Some(121), [Fd, Hex, Int];
    Pread64 = "pread64", Some(67), Some(67), [Fd, Hex, Size, Int];
    Pwrite64 = "pwrite64", Some(68), Some(68), [Fd, OutBuf, Size, Int];
    Readlinkat = "readlinkat", Some(78), Some(294), [Fd, Path, Hex, Size];
    Newfstatat = "newfstatat", Some(79), Some(289), [Fd, Path, Hex, Hex];
    Fstat = "fstat", Some(80), Some(62), [Fd, Hex];
    Exit = "exit", Some(93), Some(1), [Int];
    ExitGroup = "exit_group", Some(94), Some(188), [Int];
    SetTidAddress = "set_tid_address", Some(96), Some(166), [Hex];
    Futex = "futex", Some(98), Some(142), [Hex, Int, Int, Hex, Hex, Int];
    SetRobustList = "set_robust_list", Some(99), Some(300), [Hex, Size];
    Nanosleep = "nanosleep", Some(101), Some(249), [Hex, Hex];
    Getitimer = "getitimer", Some(102), Some(86), [Int, Hex];
    Setitimer = "setitimer", Some(103), Some(83), [Int, Hex, Hex];
    Alarm = "alarm", None, Some(27), [Int];
    ClockGettime = "clock_gettime", Some(113), Some(257), [Int, Hex];
    ClockGetres = "clock_getres", Some(114), Some(258), [Int, Hex];
    ClockNanosleep = "clock_nanosleep", Some(115), Some(259), [Int, Hex, Hex, Hex];
    SchedYield = "sched_yield", Some(124), Some(245), [];
    Kill = "kill", Some(129), Some(37), [Int, Signal];
    Tkill = "tkill", Some(130), Some(187), [Int, Signal];
    Tgkill = "tgkill", Some(131), Some(211), [Int, Int, Signal];
    Sigaltstack = "sigaltstack", Some(132), Some(28), [Hex, Hex];
    RtSigaction = "rt_sigaction", Some(134), Some(102), [Signal, Hex, Hex, Size];
    RtSigprocmask = "rt_sigprocmask", Some(135), Some(103), [Int, Hex, Hex, Size];
    RtSigreturn = "rt_sigreturn", Some(139), Some(101), [];
    Uname = "uname", Some(160), Some(189), [Hex];
    Getrlimit = "getrlimit", Some(163), Some(144), [Int, Hex];
    Prctl = "prctl", Some(167), Some(147), [Int, Hex, Hex, Hex, Hex];
    Gettimeofday = "gettimeofday", Some(169), Some(116), [Hex, Hex];
    Getpid = "getpid", Some(172), Some(20), [];
    Getppid = "getppid", Some(173), Some(197), [];
    Getuid = "getuid", Some(174), Some(24), [];
    Geteuid = "geteuid", Some(175), Some(49), [];
    Getgid = "getgid", Some(176), Some(47), [];
    Getegid = "getegid", Some(177), Some(50), [];
    Gettid = "gettid", Some(178), Some(143), [];
    Sysinfo = "sysinfo", Some(179), Some(214), [Hex];
    Brk = "brk", Some(214), Some(17), [Hex];
    Munmap = "munmap", Some(215), Some(73), [Hex, Size];
    Mremap = "mremap", Some(216), Some(250), [Hex, Size, Size, Hex, Hex];
    Mmap = "mmap", Some(222), Some(71), [Hex, Size, Hex, Hex, Fd, Int];
    Mprotect = "mprotect", Some(226), Some(74), [Hex, Size, Hex];
    Madvise = "madvise", Some(233), Some(75), [Hex, Size, Int];
    Msync = "msync", Some(227), Some(65), [Hex, Size, Hex];
    Mincore = "mincore", Some(232), Some(78), [Hex, Size, Hex];
    Mlock = "mlock", Some(228), Some(237), [Hex, Size];
    Munlock = "munlock", Some(229), Some(238), [Hex, Size];
    Mlockall = "mlockall", Some(230), Some(239), [Hex];
    Munlockall = "munlockall", Some(231), Some(240), [];
    Mlock2 = "mlock2", Some(284), Some(356), [Hex, Size, Hex];
    Fsync = "fsync", Some(82), Some(95), [Fd];
    Fdatasync = "fdatasync", Some(83), Some(253), [Fd];
    Prlimit64 = "prlimit64", Some(261), Some(331), [Int, Int, Hex, Hex];
    Getrandom = "getrandom", Some(278), Some(347), [Hex, Size, Hex];
    Rseq = "rseq", Some(293), Some(365), [Hex, Size, Hex, Hex];
    // Path-based syscalls asm-generic dropped; sparc64's glibc still uses some of them.
    Open = "open", None, Some(5), [Path, Hex, Octal];
    Readlink = "readlink", None, Some(58), [Path, Hex, Size];
    Unlink = "unlink", None, Some(10), [Path];
    Mkdir = "mkdir", None, Some(136), [Path, Octal];
    Access = "access", None, Some(33), [Path, Octal];
    Dup2 = "dup2", None, Some(90), [Fd, Fd];
    Stat = "stat", None, Some(38), [Path, Hex];
    Llseek = "_llseek", None, Some(236), [Fd, Int, Int, Hex, Int];
    Ipc = "ipc", None, Some(215), [Int, Int, Hex, Hex, Hex, Int];
    Shmget = "shmget", Some(194), Some(395), [Int, Size, Hex];
    Shmctl = "shmctl", Some(195), Some(396), [Int, Int, Hex];
    Shmat = "shmat", Some(196), Some(397), [Int, Hex, Hex];
    Shmdt = "shmdt", Some(197), Some(398), [Hex];
    Lstat = "lstat", None, Some(40), [Path, Hex];
    Pipe2 = "pipe2", Some(59), Some(321), [Hex, Hex];
    Pselect6 = "pselect6", Some(72), Some(297), [Int, Hex, Hex, Hex, Hex, Hex];
    Ppoll = "ppoll", Some(73), Some(298), [Hex, Int, Hex, Hex, Size];
    Poll = "poll", None, Some(153), [Hex, Int, Int];
    Setgid = "setgid", Some(144), Some(46), [Int];
    Setuid = "setuid", Some(146), Some(23), [Int];
    Setpgid = "setpgid", Some(154), Some(185), [Int, Int];
    Getpgid = "getpgid", Some(155), Some(224), [Int];
    Getsid = "getsid", Some(156), Some(252), [Int];
    Setsid = "setsid", Some(157), Some(175), [];
    Getgroups = "getgroups", Some(158), Some(79), [Int, Hex];
    Execve = "execve", Some(221), Some(59), [Path, Hex, Hex];
    // arm64's clone (CLONE_BACKWARDS) and sparc64's take flags, stack, parent_tid, tls and
    // child_tid in that order.
    Clone = "clone", Some(220), Some(217), [Hex, Hex, Hex, Hex, Hex];
    Clone3 = "clone3", Some(435), None, [Hex, Size];
    // sparc64's own fork and vfork (arm64 has only clone).
    Fork = "fork", None, Some(2), [];
    Vfork = "vfork", None, Some(66), [];
    GetRobustList = "get_robust_list", Some(100), Some(301), [Int, Hex, Hex];
    Wait4 = "wait4", Some(260), Some(7), [Int, Hex, Hex, Hex];
    Waitid = "waitid", Some(95), Some(279), [Int, Int, Hex, Hex, Hex];
    // sparc64's original pipe: no arguments, the read end in %o0, the write end in %o1.
    Pipe = "pipe", None, Some(42), [];
}

/// What a syscall did, for the CPU backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyscallOutcome {
    /// Return this value, or this errno, to the guest.
    Return(KResult<u64>),
    /// The process exits with this status.
    Exit(i32),
    /// `rt_sigreturn`: the backend restores the signal frame.
    SigReturn,
    /// A kernel loop was proven live-locked and the machine kills the task (SIGKILL).
    KillLivelock(String),
    /// The task sleeps in the syscall and nothing can ever wake it (the machine stops).
    Deadlock(String),
    /// `execve` committed: the CPU stops and the machine loads [`Kernel::pending_exec`].
    Exec,
    /// The running thread sleeps in the syscall (see [`crate::kernel_stub::task::sched`]):
    /// the backend parks it with its PC on the syscall instruction and switches threads.
    Block,
    /// The running thread ended (`exit` while other threads remain): the backend switches.
    ThreadExit,
}

/// `AT_FDCWD`.
pub const AT_FDCWD: i64 = -100;

impl Kernel {
    /// Map an architecture syscall number to the modelled syscall.
    pub fn decode_sysno(&self, nr: u64) -> Option<Sysno> {
        match self.arch {
            Arch::Arm64 => Sysno::from_arm64(nr),
            Arch::Sparc64 => Sysno::from_sparc64(nr),
        }
    }

    /// Serve syscall `nr` with arguments `args`.
    pub fn syscall(&mut self, nr: u64, args: [u64; 6]) -> SyscallOutcome {
        self.stats.syscalls += 1;
        let sysno = self.decode_sysno(nr);
        let tracing = self.trace.syscalls && (self.trace.print || self.trace.keep);
        // Arguments are decoded before the call: a write's buffer or a path is shown as the
        // guest passed it.
        let decoded = if tracing { sysno.map(|s| self.decode_args(s, &args)) } else { None };
        let outcome = match sysno {
            Some(s) => match self.dispatch(s, args) {
                // A kernel loop inside the syscall was proven live-locked: tagmmu kills the
                // task (a real kernel would spin forever).
                _ if self.livelock_kill.is_some() => {
                    SyscallOutcome::KillLivelock(self.livelock_kill.take().unwrap_or_default())
                }
                _ if self.blocked_forever.is_some() => {
                    SyscallOutcome::Deadlock(self.blocked_forever.take().unwrap_or_default())
                }
                _ if self.threads.blocking.is_some() => SyscallOutcome::Block,
                o => o,
            },
            None => {
                self.stats.unknown_syscalls += 1;
                if self.unknown_reported.insert(nr) {
                    let msg = match self.table_name(nr) {
                        Some(name) => format!("syscall {name} ({nr}) is not modelled: returning -ENOSYS"),
                        None => format!("unknown syscall {nr} ({} numbering): returning -ENOSYS", self.arch),
                    };
                    self.notice(msg);
                }
                SyscallOutcome::Return(Err(Errno::ENOSYS))
            }
        };
        if tracing {
            // Every number the architecture defines is named, modelled or not; the arguments
            // of one tagmmu does not model are shown raw.
            // (sparc64's 289 is `fstatat64`, modelled as Newfstatat with its stat64 layout.)
            let name = self.table_name(nr).or(sysno.map(Sysno::name)).unwrap_or("unknown").to_string();
            let args_text = decoded.unwrap_or_else(|| {
                let raw: Vec<String> = args.iter().map(|a| format!("{a:#x}")).collect();
                format!("nr={nr}, {}", raw.join(", "))
            });
            let (ret, result) = match &outcome {
                SyscallOutcome::Return(Ok(v)) => (*v as i64, format_ok(sysno, *v)),
                SyscallOutcome::Return(Err(e)) => (-e.generic(), format!("-1 {} ({})", e.name(), e.description())),
                SyscallOutcome::Exit(code) => (0, format!("? (exit status {code})")),
                SyscallOutcome::SigReturn => (0, "? (return from signal handler)".into()),
                SyscallOutcome::KillLivelock(_) => {
                    (0, "? (live-lock proven: tagmmu killed the task; a real kernel spins)".into())
                }
                SyscallOutcome::Deadlock(_) => (0, "? (blocks for ever: nothing can wake the task)".into()),
                SyscallOutcome::Exec => (0, "0 (the new program starts)".into()),
                SyscallOutcome::Block => {
                    let why = self.threads.blocking.as_ref().map_or("", |b| b.reason.as_str());
                    (0, format!("? (sleeps: {why}; executed again or completed when it wakes)"))
                }
                SyscallOutcome::ThreadExit => (0, "? (the thread ends; the process goes on)".into()),
            };
            // The calling thread is named once the process has several (or had: the exit of
            // the next-to-last one is still a multi-threaded event).
            let tid = (!self.threads.alone() || outcome == SyscallOutcome::ThreadExit).then_some(self.tid.0);
            self.trace.emit(TraceEvent::Syscall { nr, name, args: args_text, ret, result, tid });
        }
        // A user access of the kernel's found the machine out of memory: the OOM killer's
        // SIGKILL, delivered on the way back to user space (the syscall itself failed where
        // the access did, as with -EFAULT).
        if self.take_oom_kill() {
            self.signals.raise_with(
                crate::kernel_stub::signal::sig::SIGKILL,
                crate::kernel_stub::signal::code::SI_KERNEL,
                None,
            );
        }
        // A restarted syscall has now seen how its wait ended.
        self.threads.resumed = crate::kernel_stub::task::Resume::Continue;
        outcome
    }

    /// The name the architecture's syscall table gives `nr` (modelled or not).
    fn table_name(&self, nr: u64) -> Option<&'static str> {
        match self.arch {
            Arch::Arm64 => names::arm64_name(nr),
            Arch::Sparc64 => names::sparc64_name(nr),
        }
    }

    fn dispatch(&mut self, s: Sysno, a: [u64; 6]) -> SyscallOutcome {
        use Sysno::*;
        let r = match s {
            // `exit` ends the calling thread; the process ends with its last thread (or with
            // exit_group, whatever the other threads do).
            Exit if self.threads.others_in(self.config.pid) > 0 => {
                self.exit_thread();
                return SyscallOutcome::ThreadExit;
            }
            Exit | ExitGroup => return SyscallOutcome::Exit((a[0] & 0xff) as i32),
            Clone => self.sys_clone(a),
            Fork | Vfork => self.sys_fork(s == Vfork),
            Clone3 => self.sys_clone3(a[0], a[1]),
            GetRobustList => self.sys_get_robust_list(a[0] as i32, a[1], a[2]),
            Wait4 => self.sys_wait4(a[0] as i32, a[1], a[2], a[3]),
            Waitid => self.sys_waitid(a[0], a[1], a[2], a[3], a[4]),
            Execve => match self.sys_execve(a[0], a[1], a[2]) {
                Ok(req) => {
                    self.begin_new_exec(&req);
                    self.pending_exec = Some(req);
                    return SyscallOutcome::Exec;
                }
                Err(e) => Err(e),
            },
            RtSigreturn => return SyscallOutcome::SigReturn,
            Getcwd => self.sys_getcwd(a[0], a[1]),
            Dup => self.vfs.dup(a[0], None, false).map(|fd| fd as u64),
            Dup3 => self.sys_dup3(a[0], a[1], a[2]),
            Fcntl => self.sys_fcntl(a[0], a[1], a[2]),
            Ioctl => {
                if let Some(end) = self.btrfs_ioctl(a[0], a[1], a[2]) {
                    return end;
                }
                self.sys_ioctl(a[0], a[1], a[2])
            }
            Mkdirat => self.sys_mkdirat(a[0], a[1], a[2]),
            Unlinkat => self.sys_unlinkat(a[0], a[1], a[2]),
            Ftruncate => self.vfs.ftruncate(a[0], a[1] as i64).map(|_| 0),
            Faccessat => self.sys_faccessat(a[0], a[1]),
            Chdir => self.sys_chdir(a[0]),
            Openat => self.sys_openat(a[0], a[1], a[2], a[3]),
            Open => self.sys_openat(AT_FDCWD as u64, a[0], a[1], a[2]),
            Readlink => self.sys_readlinkat(AT_FDCWD as u64, a[0], a[1], a[2]),
            Unlink => self.sys_unlinkat(AT_FDCWD as u64, a[0], 0),
            Mkdir => self.sys_mkdirat(AT_FDCWD as u64, a[0], a[1]),
            Access => self.sys_faccessat(AT_FDCWD as u64, a[0]),
            Dup2 => self.sys_dup2(a[0], a[1]),
            Stat | Lstat => self.sys_stat_legacy(Some(a[0]), 0, a[1]),
            Close => self.vfs.close(a[0]).map(|_| 0),
            Getdents64 => self.sys_getdents64(a[0], a[1], a[2]),
            Lseek => self.sys_lseek(a[0], a[1], a[2]),
            Read => self.sys_read(a[0], a[1], a[2], None),
            Write => self.sys_write(a[0], a[1], a[2], None),
            Readv => self.sys_readv(a[0], a[1], a[2]),
            Writev => self.sys_writev(a[0], a[1], a[2]),
            Pread64 => self.sys_pread(a[0], a[1], a[2], a[3]),
            Pwrite64 => self.sys_pwrite(a[0], a[1], a[2], a[3]),
            Readlinkat => self.sys_readlinkat(a[0], a[1], a[2], a[3]),
            Newfstatat => self.sys_newfstatat(a[0], a[1], a[2], a[3]),
            Fstat if self.arch == Arch::Sparc64 => self.sys_stat_legacy(None, a[0], a[1]),
            Fstat => self.sys_fstat(a[0], a[1]),
            Llseek => self.sys_llseek(a[0], a[1], a[2], a[3], a[4]),
            Ipc => self.sys_ipc(a[0], a[1], a[2], a[3], a[4]),
            Shmget => self.shmget(a[0] as i32, a[1], a[2] as u32),
            Shmctl => self.shmctl(a[0], a[1] as u32, a[2]),
            Shmat => self.shmat(a[0], a[1], a[2] as u32),
            Shmdt => self.shmdt(a[0]),
            SetTidAddress => {
                self.clear_child_tid = a[0];
                Ok(u64::from(self.tid.0))
            }
            Futex => self.sys_futex(a[0], a[1], a[2], a[3], a[4], a[5]),
            SetRobustList => self.set_robust_list(a[0], a[1]),
            Nanosleep => self.sys_nanosleep(a[0], a[1]),
            Getitimer => self.sys_getitimer(a[0], a[1]),
            Setitimer => self.sys_setitimer(a[0], a[1], a[2]),
            Alarm => self.sys_alarm(a[0]),
            ClockNanosleep => self.sys_clock_nanosleep(a[0], a[1], a[2], a[3]),
            ClockGettime => self.sys_clock_gettime(a[0], a[1]),
            ClockGetres => self.sys_clock_getres(a[0], a[1]),
            Gettimeofday => self.sys_gettimeofday(a[0]),
            SchedYield => {
                self.threads.resched = !self.threads.alone();
                Ok(0)
            }
            // pid_t and int arguments: Linux uses the low 32 bits (the upper half of the
            // register is not part of the argument), so kill(-1, 0) passed as 0xffffffff is -1.
            Kill => self.sys_kill(
                a[0] as i32 as i64,
                self.user_signo(a[1] as u32 as u64),
                crate::kernel_stub::signal::code::SI_USER,
            ),
            Tkill => self.sys_tgkill(None, a[0] as i32, self.user_signo(a[1] as u32 as u64)),
            Tgkill => self.sys_tgkill(Some(a[0] as i32), a[1] as i32, self.user_signo(a[2] as u32 as u64)),
            Sigaltstack => self.sys_sigaltstack(a[0], a[1]),
            // sparc64 passes the handler's return trampoline as a fourth argument.
            RtSigaction if self.arch == Arch::Sparc64 => self.sys_rt_sigaction(a[0], a[1], a[2], a[4], Some(a[3])),
            RtSigaction => self.sys_rt_sigaction(a[0], a[1], a[2], a[3], None),
            // sparc's SIG_SETMASK is 4 (SIG_BLOCK 1, SIG_UNBLOCK 2); asm-generic counts 0, 1, 2.
            RtSigprocmask if self.arch == Arch::Sparc64 => {
                let how = match a[0] {
                    1 => 0,
                    2 => 1,
                    4 => 2,
                    _ => 3,
                };
                self.sys_rt_sigprocmask(if a[1] == 0 { 0 } else { how }, a[1], a[2], a[3])
            }
            RtSigprocmask => self.sys_rt_sigprocmask(a[0], a[1], a[2], a[3]),
            Uname => self.sys_uname(a[0]),
            Getrlimit => self.sys_prlimit(0, self.user_rlimit(a[0]), 0, a[1]),
            Prlimit64 => self.sys_prlimit(a[0], self.user_rlimit(a[1]), a[2], a[3]),
            Prctl => self.sys_prctl(a),
            Getpid => Ok(self.config.pid as u64),
            Gettid => Ok(u64::from(self.tid.0)),
            Getppid => Ok(u64::from(self.ppid())),
            Getuid | Geteuid => Ok(self.config.uid as u64),
            Getgid | Getegid => Ok(self.config.gid as u64),
            Sysinfo => self.sys_sysinfo(a[0]),
            Brk => Ok(self.sys_brk(a[0])),
            Munmap => self.sys_munmap(a[0], a[1]),
            Mremap => self.sys_mremap(a[0], a[1], a[2], a[3], a[4]),
            Mmap => self.sys_mmap(a[0], a[1], a[2], a[3], a[4], a[5]),
            Mprotect => self.sys_mprotect(a[0], a[1], a[2]),
            Madvise => self.sys_madvise(a[0], a[1], a[2]),
            Msync => self.sys_msync(a[0], a[1], a[2]),
            Mincore => self.sys_mincore(a[0], a[1], a[2]),
            Mlock => self.sys_mlock(a[0], a[1], 0),
            Mlock2 => self.sys_mlock(a[0], a[1], a[2]),
            Munlock => self.sys_munlock(a[0], a[1]),
            Mlockall => self.sys_mlockall(a[0]),
            Munlockall => {
                self.mm.munlockall();
                Ok(0)
            }
            Fsync | Fdatasync => self.sys_fsync(a[0]),
            Getrandom => self.sys_getrandom(a[0], a[1], a[2]),
            Rseq => Err(Errno::ENOSYS),
            Pipe2 => self.sys_pipe2(a[0], a[1]),
            Pipe => self.vfs.pipe(false, false).map(|(r, w)| {
                self.second_result = Some(w as u64);
                r as u64
            }),
            Ppoll => self.sys_ppoll(a[0], a[1], a[2], a[3], a[4]),
            Poll => self.sys_poll(a[0], a[1], a[2]),
            Pselect6 => self.sys_pselect6(a),
            Setuid => self.sys_setid(a[0] as u32, true),
            Setgid => self.sys_setid(a[0] as u32, false),
            Getpgid => self.sys_getpgid(a[0] as i32, false),
            Getsid => self.sys_getpgid(a[0] as i32, true),
            Setpgid => self.sys_setpgid(a[0] as i32, a[1] as i32),
            Setsid => self.sys_setsid(),
            Getgroups => self.sys_getgroups(a[0] as i32, a[1]),
        };
        SyscallOutcome::Return(r)
    }

    /// A btrfs search ioctl on an fd of the btrfs mount, or `None` for any other ioctl.
    fn btrfs_ioctl(&mut self, fd: u64, req: u64, arg: u64) -> Option<SyscallOutcome> {
        use crate::kernel_stub::btrfs::search::{BTRFS_IOC_TREE_SEARCH, BTRFS_IOC_TREE_SEARCH_V2};
        if req != BTRFS_IOC_TREE_SEARCH && req != BTRFS_IOC_TREE_SEARCH_V2 {
            return None;
        }
        let path = self.vfs.file(fd).ok()?.path.clone();
        if !self.on_btrfs(&path) {
            return None;
        }
        Some(SyscallOutcome::Return(self.btrfs_tree_search(req, arg)))
    }

    /// A resource number from the user ABI in asm-generic numbering: sparc swaps
    /// RLIMIT_NOFILE (6) and RLIMIT_NPROC (7).
    fn user_rlimit(&self, r: u64) -> u64 {
        match (self.arch, r) {
            (Arch::Sparc64, 6) => 7,
            (Arch::Sparc64, 7) => 6,
            _ => r,
        }
    }

    /// Read a user path for a syscall (PATH_MAX = 4096 including the NUL).
    pub(crate) fn user_path(&mut self, addr: u64) -> KResult<String> {
        let bytes = uaccess::read_cstring(&mut self.mm, self.uaccess, UserAddr(addr), 4096)?;
        String::from_utf8(bytes).map_err(|_| Errno::EINVAL)
    }

    /// The directory a `*at` syscall resolves against: only AT_FDCWD and absolute paths are
    /// supported besides directory fds.
    pub(crate) fn at_path(&mut self, dirfd: u64, path: &str) -> KResult<String> {
        if path.starts_with('/') || dirfd as i64 == AT_FDCWD || dirfd as i32 == AT_FDCWD as i32 {
            return Ok(path.to_string());
        }
        let f = self.vfs.file(dirfd)?;
        match self.vfs.node(dirfd)? {
            crate::kernel_stub::vfs::Node::Dir => Ok(format!("{}/{path}", f.path)),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn decode_args(&mut self, s: Sysno, args: &[u64; 6]) -> String {
        // sparc64's rt_sigaction has the handler's return trampoline before sigsetsize.
        let kinds = match (self.arch, s) {
            (Arch::Sparc64, Sysno::RtSigaction) => {
                &[ArgKind::Signal, ArgKind::Hex, ArgKind::Hex, ArgKind::Hex, ArgKind::Size]
            }
            _ => s.args(),
        };
        let mut out = Vec::with_capacity(kinds.len());
        for (i, k) in kinds.iter().enumerate() {
            let v = args[i];
            out.push(match k {
                ArgKind::Int => (v as i64).to_string(),
                ArgKind::Fd if v as i32 == AT_FDCWD as i32 => "AT_FDCWD".into(),
                ArgKind::Fd => (v as i32).to_string(),
                ArgKind::Hex => format!("{v:#x}"),
                ArgKind::Size => v.to_string(),
                ArgKind::Octal => format!("{v:#o}"),
                ArgKind::Signal => match self.arch {
                    Arch::Sparc64 => crate::kernel_stub::signal::sparc64::name(self.user_signo(v) as u32),
                    Arch::Arm64 => crate::kernel_stub::signal::signal_name(v as u32),
                },
                ArgKind::Path => match uaccess::read_cstring(&mut self.mm, self.uaccess, UserAddr(v), 4096) {
                    Ok(b) => format!("{:?}", String::from_utf8_lossy(&b)),
                    Err(_) => format!("{v:#x}"),
                },
                ArgKind::OutBuf => {
                    let n = (args[i + 1] as usize).min(32);
                    match uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(v), n) {
                        Ok(b) => {
                            let more = if (args[i + 1] as usize) > n { "..." } else { "" };
                            format!("{:?}{more}", String::from_utf8_lossy(&b))
                        }
                        Err(_) => format!("{v:#x}"),
                    }
                }
            });
        }
        out.join(", ")
    }
}

fn format_ok(s: Option<Sysno>, v: u64) -> String {
    match s {
        Some(Sysno::Mmap | Sysno::Brk | Sysno::Mremap) => format!("{v:#x}"),
        _ => (v as i64).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_numbers_round_trip() {
        for &s in Sysno::ALL {
            if let Some(n) = s.arm64_nr() {
                assert_eq!(Sysno::from_arm64(n), Some(s), "{}", s.name());
            }
            if let Some(n) = s.sparc64_nr() {
                assert_eq!(Sysno::from_sparc64(n), Some(s), "{}", s.name());
            }
        }
        assert_eq!(Sysno::from_arm64(64), Some(Sysno::Write));
        assert_eq!(Sysno::from_arm64(222), Some(Sysno::Mmap));
        assert_eq!(Sysno::from_arm64(4000), None);
        assert_eq!(Sysno::from_sparc64(4), Some(Sysno::Write));
        assert_eq!(Sysno::from_sparc64(71), Some(Sysno::Mmap));
        assert_eq!(Sysno::from_sparc64(289), Some(Sysno::Newfstatat));
        assert_eq!(Sysno::from_arm64(5), None, "no open on arm64");
    }

    #[test]
    fn kill_takes_pid_and_signal_as_32_bit_ints() {
        let mut k = Kernel::new(Arch::Arm64, crate::kernel_stub::KernelConfig::default());
        let kill = Sysno::Kill.arm64_nr().unwrap();
        // kill(-1, 0) with the int in the low half of the register only.
        assert_eq!(k.syscall(kill, [0xffff_ffff, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        // A pid whose low 32 bits are another process's is ESRCH; a negative signal EINVAL.
        let other = u64::from(k.config.pid) + 1;
        assert_eq!(k.syscall(kill, [0x1_0000_0000 | other, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::ESRCH)));
        assert_eq!(k.syscall(kill, [0, 0xffff_ffff, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::EINVAL)));
    }

    /// pread64/pwrite64 on a pipe or a std stream are ESPIPE, before the access mode and the
    /// buffer are looked at, and take nothing from the pipe; on the host's stdin the pread
    /// does not wait for input (it did, and read it as read(2) would).
    #[test]
    fn positional_io_on_pipes_and_streams_is_espipe() {
        let (host_r, host_w) = std::io::pipe().unwrap();
        let config = crate::kernel_stub::KernelConfig {
            stdin: crate::kernel_stub::vfs::InputSource::Host(crate::kernel_stub::vfs::HostStream::new(host_r)),
            stdout: crate::kernel_stub::vfs::OutputSink::Capture,
            stderr: crate::kernel_stub::vfs::OutputSink::Capture,
            ..Default::default()
        };
        let mut k = Kernel::new(Arch::Arm64, config);
        let nr = |s: Sysno| s.arm64_nr().unwrap();
        let SyscallOutcome::Return(Ok(buf)) = k.syscall(nr(Sysno::Mmap), [0, 4096, 3, 0x22, u64::MAX, 0]) else {
            panic!("mmap")
        };
        let espipe = SyscallOutcome::Return(Err(Errno::ESPIPE));
        // pread of the write end (not readable) is still ESPIPE, as is pwrite of the read end.
        assert_eq!(k.syscall(nr(Sysno::Pipe2), [buf, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        let fds = crate::kernel_stub::uaccess::read_user(&mut k.mm, k.uaccess, crate::addr::UserAddr(buf), 8).unwrap();
        let (r, w) = (
            u64::from(u32::from_le_bytes(fds[..4].try_into().unwrap())),
            u64::from(u32::from_le_bytes(fds[4..].try_into().unwrap())),
        );
        assert_eq!(k.syscall(nr(Sysno::Write), [w, buf, 8, 0, 0, 0]), SyscallOutcome::Return(Ok(8)));
        assert_eq!(k.syscall(nr(Sysno::Pread64), [r, buf + 64, 8, 0, 0, 0]), espipe);
        assert_eq!(k.syscall(nr(Sysno::Pread64), [w, buf + 64, 8, 0, 0, 0]), espipe);
        assert_eq!(k.syscall(nr(Sysno::Pwrite64), [r, buf, 8, 0, 0, 0]), espipe);
        assert_eq!(k.syscall(nr(Sysno::Pwrite64), [w, 0, 8, 0, 0, 0]), espipe);
        // A negative offset is EINVAL first; a bad descriptor EBADF.
        assert_eq!(
            k.syscall(nr(Sysno::Pread64), [r, buf, 8, u64::MAX, 0, 0]),
            SyscallOutcome::Return(Err(Errno::EINVAL))
        );
        assert_eq!(k.syscall(nr(Sysno::Pread64), [77, buf, 8, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::EBADF)));
        // The pipe still holds its 8 bytes.
        assert_eq!(k.syscall(nr(Sysno::Read), [r, buf + 64, 64, 0, 0, 0]), SyscallOutcome::Return(Ok(8)));
        // stdin (the host pipe, nothing written: a read would wait), stdout; a NULL buffer
        // and a huge count change nothing.
        assert_eq!(k.syscall(nr(Sysno::Pread64), [0, 0, 1 << 60, 0, 0, 0]), espipe);
        assert_eq!(k.syscall(nr(Sysno::Pread64), [0, buf, 16, 0, 0, 0]), espipe);
        assert_eq!(k.syscall(nr(Sysno::Pwrite64), [1, buf, 16, 0, 0, 0]), espipe);
        drop(host_w);
    }

    /// A kernel access that faults the machine out of memory (getrandom into a buffer larger
    /// than the RAM): the copy stops short, the OOM killer's SIGKILL (SI_KERNEL) is pending on
    /// the way back to user space, and its report is a notice.
    #[test]
    fn a_kernel_fault_past_the_ram_is_an_oom_kill() {
        let config = crate::kernel_stub::KernelConfig {
            stderr: crate::kernel_stub::vfs::OutputSink::Capture,
            memory_limit: 16 << 12,
            ..Default::default()
        };
        let mut k = Kernel::new(Arch::Arm64, config);
        let nr = |s: Sysno| s.arm64_nr().unwrap();
        let len = 12 << 12;
        let fill = |k: &mut Kernel| {
            let SyscallOutcome::Return(Ok(buf)) = k.syscall(nr(Sysno::Mmap), [0, len, 3, 0x22, u64::MAX, 0]) else {
                panic!("mmap")
            };
            match k.syscall(nr(Sysno::Getrandom), [buf, len, 0, 0, 0, 0]) {
                SyscallOutcome::Return(Ok(n)) => n,
                other => panic!("getrandom: {other:?}"),
            }
        };
        assert_eq!(fill(&mut k), len, "12 of the 16 pages");
        assert!(k.signals.take_deliverable().is_none());
        assert_eq!(fill(&mut k), 4 << 12, "the copy stops at the page the machine has no room for");
        assert_eq!(k.signals.take_deliverable(), Some((crate::kernel_stub::signal::sig::SIGKILL, 0x80, None)));
        assert!(k.notices.iter().any(|n| n.starts_with("Out of memory: Killed process")), "{:?}", k.notices);
        assert_eq!(k.mm.stats().oom_kills, 1);
    }

    /// getrandom fills a block at a time and stops at the first block the copy cannot
    /// finish: a 32 MiB count into a 64 KiB buffer draws (and holds on the host) 64 KiB, not
    /// 32 MiB, and returns the bytes copied; the random stream is the one a single draw gives.
    #[test]
    fn getrandom_copies_block_by_block_and_returns_what_fit() {
        let nr = |s: Sysno| s.arm64_nr().unwrap();
        let mut k = Kernel::new(Arch::Arm64, crate::kernel_stub::KernelConfig::default());
        let SyscallOutcome::Return(Ok(buf)) = k.syscall(nr(Sysno::Mmap), [0, 16 << 12, 3, 0x22, u64::MAX, 0]) else {
            panic!("mmap")
        };
        let started = std::time::Instant::now();
        assert_eq!(
            k.syscall(nr(Sysno::Getrandom), [buf + 100, 32 << 20, 0, 0, 0, 0]),
            SyscallOutcome::Return(Ok((16 << 12) - 100))
        );
        let mut got = vec![0; (16 << 12) - 100];
        k.mm.read_kernel(buf + 100, &mut got).unwrap();
        let mut same = Kernel::new(Arch::Arm64, crate::kernel_stub::KernelConfig::default());
        let mut want = vec![0; got.len()];
        same.random_bytes(&mut want);
        assert_eq!(got, want, "block by block, the bytes of one draw");
        // Drawn: the sixteen 4 KiB blocks the copy reached, not 32 MiB.
        let (mut next, mut expected) = ([0u8; 8], [0u8; 8]);
        k.random_bytes(&mut next);
        same.random_bytes(&mut [0; 100]);
        same.random_bytes(&mut expected);
        assert_eq!(next, expected);
        assert_eq!(
            k.syscall(nr(Sysno::Getrandom), [buf + (16 << 12), 8, 0, 0, 0, 0]),
            SyscallOutcome::Return(Err(Errno::EFAULT))
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn ids_process_groups_and_sessions() {
        let mut k = Kernel::new(Arch::Arm64, crate::kernel_stub::KernelConfig::default());
        let nr = |s: Sysno| s.arm64_nr().unwrap();
        let pid = u64::from(k.config.pid);
        assert_eq!(k.syscall(nr(Sysno::Setuid), [0, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::EPERM)));
        assert_eq!(k.syscall(nr(Sysno::Setuid), [1000, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        assert_eq!(k.syscall(nr(Sysno::Getpgid), [0, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(pid)));
        assert_eq!(k.syscall(nr(Sysno::Getsid), [pid + 1, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::ESRCH)));
        assert_eq!(k.syscall(nr(Sysno::Setpgid), [0, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        assert_eq!(k.syscall(nr(Sysno::Setpgid), [0, 7, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::EPERM)));
        assert_eq!(k.syscall(nr(Sysno::Setsid), [0; 6]), SyscallOutcome::Return(Err(Errno::EPERM)), "a group leader");
        assert_eq!(k.syscall(nr(Sysno::Getgroups), [0; 6]), SyscallOutcome::Return(Ok(1)));
        k.config.uid = 0;
        assert_eq!(k.syscall(nr(Sysno::Setgid), [5, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(0)));
        assert_eq!(k.config.gid, 5, "root may change its gid");
    }

    /// Address-space syscalls untag their address as `untagged_addr()` does: sparc64 drops
    /// the ADI version bits on a CPU with ADI, whether or not the task enabled ADI, and keeps
    /// them on one without (where they make an address in the VA hole).
    #[test]
    fn sparc64_untags_versioned_addresses_on_a_cpu_with_adi() {
        for adi in [true, false] {
            let mut k = Kernel::new(Arch::Sparc64, crate::kernel_stub::KernelConfig::default());
            k.adi.machine.supported = adi;
            let nr = |s: Sysno| s.sparc64_nr().unwrap();
            let SyscallOutcome::Return(Ok(p)) = k.syscall(nr(Sysno::Mmap), [0, 8192, 3, 0x22, u64::MAX, 0]) else {
                panic!("mmap")
            };
            let versioned = p | (5 << 60);
            let r = k.syscall(nr(Sysno::Mprotect), [versioned, 8192, 1, 0, 0, 0]);
            let want = if adi { Ok(0) } else { Err(Errno::ENOMEM) };
            assert_eq!(r, SyscallOutcome::Return(want), "adi {adi}");
        }
    }

    #[test]
    fn mlockall_flags_are_each_architectures_and_memlock_follows_the_version() {
        for (arch, current, future) in [(Arch::Arm64, 1, 2), (Arch::Sparc64, 0x2000, 0x4000)] {
            let mut k = Kernel::new(arch, crate::kernel_stub::KernelConfig::default());
            let nr = |s: Sysno| if arch == Arch::Arm64 { s.arm64_nr() } else { s.sparc64_nr() }.unwrap();
            let other = if arch == Arch::Arm64 { 0x4000 } else { 2 };
            let call = |k: &mut Kernel, flags: u64| k.syscall(nr(Sysno::Mlockall), [flags, 0, 0, 0, 0, 0]);
            assert_eq!(call(&mut k, other), SyscallOutcome::Return(Err(Errno::EINVAL)), "{arch}");
            assert_eq!(call(&mut k, future), SyscallOutcome::Return(Ok(0)), "{arch}");
            assert_eq!(k.mm.default_lock(), crate::kernel_stub::mm::VmLock::Locked);
            // brk to the top of the address space under MCL_FUTURE: refused, no overflow.
            let brk = nr(Sysno::Brk);
            let SyscallOutcome::Return(Ok(now)) = k.syscall(brk, [0; 6]) else { panic!("brk") };
            assert_eq!(k.syscall(brk, [u64::MAX, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Ok(now)), "{arch}");
            // Nothing mapped yet: the whole (empty) address space fits.
            assert_eq!(call(&mut k, current), SyscallOutcome::Return(Ok(0)), "{arch}");
            assert_eq!(k.mm.default_lock(), crate::kernel_stub::mm::VmLock::Unlocked, "MCL_FUTURE cleared");
        }
        let old = crate::kernel_stub::KernelConfig {
            version: crate::kernel_stub::version::KernelVersion { major: 5, minor: 15 },
            ..Default::default()
        };
        assert_eq!(Kernel::new(Arch::Arm64, old).rlimits.0[8], (64 << 10, 64 << 10));
        let new = Kernel::new(Arch::Arm64, crate::kernel_stub::KernelConfig::default());
        assert_eq!(new.rlimits.0[8], (8 << 20, 8 << 20));
    }

    #[test]
    fn the_modelled_numbers_carry_the_tables_names() {
        let mut mismatches = Vec::new();
        for &s in Sysno::ALL {
            for (arch, nr, table) in [
                ("arm64", s.arm64_nr(), names::arm64_name as fn(u64) -> Option<&'static str>),
                ("sparc64", s.sparc64_nr(), names::sparc64_name),
            ] {
                if let Some(nr) = nr {
                    // sparc64's 289 is fstatat64 (struct stat64), modelled as Newfstatat.
                    let alias = arch == "sparc64" && nr == 289 && table(nr) == Some("fstatat64");
                    if table(nr) != Some(s.name()) && !alias {
                        mismatches.push(format!("{arch} {nr}: {} vs {:?}", s.name(), table(nr)));
                    }
                }
            }
        }
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }

    #[test]
    fn the_trace_names_every_syscall_number_modelled_or_not() {
        use crate::kernel_stub::trace::TraceEvent;
        for (arch, nr, name) in [(Arch::Arm64, 89, "acct"), (Arch::Sparc64, 51, "acct"), (Arch::Arm64, 4000, "unknown")]
        {
            let mut k = Kernel::new(arch, crate::kernel_stub::KernelConfig::default());
            k.trace.syscalls = true;
            k.trace.keep = true;
            assert_eq!(k.syscall(nr, [1, 2, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::ENOSYS)));
            let Some(TraceEvent::Syscall { name: traced, args, .. }) = k.trace.events().last() else {
                panic!("no syscall event")
            };
            assert_eq!(
                (traced.as_str(), args.as_str()),
                (name, format!("nr={nr}, 0x1, 0x2, 0x0, 0x0, 0x0, 0x0").as_str())
            );
            let notice = k.notices.last().unwrap();
            if name == "unknown" {
                assert!(notice.contains("unknown syscall 4000"), "{notice}");
            } else {
                assert!(notice.contains(&format!("syscall acct ({nr}) is not modelled")), "{notice}");
            }
        }
    }
}
