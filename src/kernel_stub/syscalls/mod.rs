//! Syscall dispatch: the table of modelled syscalls, argument decoding for the trace, and the
//! handlers (grouped by subject in the submodules).

mod fs;
mod mem;
mod process;
mod signals;
mod time;

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
    ($( $variant:ident = $name:literal, $arm64:expr, [$($kind:ident),*]; )*) => {
        /// The syscalls tagmmu models, independent of the architecture's numbering.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Sysno { $( $variant, )* }

        impl Sysno {
            /// The syscall's name.
            pub fn name(self) -> &'static str { match self { $( Sysno::$variant => $name, )* } }
            /// Argument kinds, for the trace.
            pub fn args(self) -> &'static [ArgKind] { match self { $( Sysno::$variant => &[$(ArgKind::$kind),*], )* } }
            /// The arm64 (asm-generic) number.
            pub fn arm64_nr(self) -> u64 { match self { $( Sysno::$variant => $arm64, )* } }
            /// Decode an arm64 syscall number.
            pub fn from_arm64(nr: u64) -> Option<Sysno> { match nr { $( $arm64 => Some(Sysno::$variant), )* _ => None } }
            /// Every modelled syscall.
            pub const ALL: &'static [Sysno] = &[$( Sysno::$variant, )*];
        }
    };
}

sysnos! {
    Getcwd = "getcwd", 17, [Hex, Size];
    Dup = "dup", 23, [Fd];
    Dup3 = "dup3", 24, [Fd, Fd, Hex];
    Fcntl = "fcntl", 25, [Fd, Int, Hex];
    Ioctl = "ioctl", 29, [Fd, Hex, Hex];
    Mkdirat = "mkdirat", 34, [Fd, Path, Octal];
    Unlinkat = "unlinkat", 35, [Fd, Path, Hex];
    Ftruncate = "ftruncate", 46, [Fd, Int];
    Faccessat = "faccessat", 48, [Fd, Path, Octal];
    Chdir = "chdir", 49, [Path];
    Openat = "openat", 56, [Fd, Path, Hex, Octal];
    Close = "close", 57, [Fd];
    Getdents64 = "getdents64", 61, [Fd, Hex, Size];
    Lseek = "lseek", 62, [Fd, Int, Int];
    Read = "read", 63, [Fd, Hex, Size];
    Write = "write", 64, [Fd, OutBuf, Size];
    Readv = "readv", 65, [Fd, Hex, Int];
    Writev = "writev", 66, [Fd, Hex, Int];
    Pread64 = "pread64", 67, [Fd, Hex, Size, Int];
    Pwrite64 = "pwrite64", 68, [Fd, OutBuf, Size, Int];
    Readlinkat = "readlinkat", 78, [Fd, Path, Hex, Size];
    Newfstatat = "newfstatat", 79, [Fd, Path, Hex, Hex];
    Fstat = "fstat", 80, [Fd, Hex];
    Exit = "exit", 93, [Int];
    ExitGroup = "exit_group", 94, [Int];
    SetTidAddress = "set_tid_address", 96, [Hex];
    Futex = "futex", 98, [Hex, Int, Int, Hex, Hex, Int];
    SetRobustList = "set_robust_list", 99, [Hex, Size];
    Nanosleep = "nanosleep", 101, [Hex, Hex];
    ClockGettime = "clock_gettime", 113, [Int, Hex];
    ClockGetres = "clock_getres", 114, [Int, Hex];
    ClockNanosleep = "clock_nanosleep", 115, [Int, Hex, Hex, Hex];
    SchedYield = "sched_yield", 124, [];
    Kill = "kill", 129, [Int, Signal];
    Tkill = "tkill", 130, [Int, Signal];
    Tgkill = "tgkill", 131, [Int, Int, Signal];
    Sigaltstack = "sigaltstack", 132, [Hex, Hex];
    RtSigaction = "rt_sigaction", 134, [Signal, Hex, Hex, Size];
    RtSigprocmask = "rt_sigprocmask", 135, [Int, Hex, Hex, Size];
    RtSigreturn = "rt_sigreturn", 139, [];
    Uname = "uname", 160, [Hex];
    Getrlimit = "getrlimit", 163, [Int, Hex];
    Prctl = "prctl", 167, [Int, Hex, Hex, Hex, Hex];
    Gettimeofday = "gettimeofday", 169, [Hex, Hex];
    Getpid = "getpid", 172, [];
    Getppid = "getppid", 173, [];
    Getuid = "getuid", 174, [];
    Geteuid = "geteuid", 175, [];
    Getgid = "getgid", 176, [];
    Getegid = "getegid", 177, [];
    Gettid = "gettid", 178, [];
    Sysinfo = "sysinfo", 179, [Hex];
    Brk = "brk", 214, [Hex];
    Munmap = "munmap", 215, [Hex, Size];
    Mremap = "mremap", 216, [Hex, Size, Size, Hex, Hex];
    Mmap = "mmap", 222, [Hex, Size, Hex, Hex, Fd, Int];
    Mprotect = "mprotect", 226, [Hex, Size, Hex];
    Madvise = "madvise", 233, [Hex, Size, Int];
    Prlimit64 = "prlimit64", 261, [Int, Int, Hex, Hex];
    Getrandom = "getrandom", 278, [Hex, Size, Hex];
    Rseq = "rseq", 293, [Hex, Size, Hex, Hex];
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
}

/// `AT_FDCWD`.
pub const AT_FDCWD: i64 = -100;

impl Kernel {
    /// Map an architecture syscall number to the modelled syscall.
    pub fn decode_sysno(&self, nr: u64) -> Option<Sysno> {
        match self.arch {
            Arch::Arm64 => Sysno::from_arm64(nr),
            Arch::Sparc64 => None,
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
            Some(s) => self.dispatch(s, args),
            None => {
                self.stats.unknown_syscalls += 1;
                if self.unknown_reported.insert(nr) {
                    self.notice(format!("unknown syscall {nr} ({} numbering): returning -ENOSYS", self.arch));
                }
                SyscallOutcome::Return(Err(Errno::ENOSYS))
            }
        };
        if tracing {
            let name = sysno.map_or("unknown", Sysno::name).to_string();
            let args_text = decoded.unwrap_or_else(|| format!("nr={nr}"));
            let (ret, result) = match &outcome {
                SyscallOutcome::Return(Ok(v)) => (*v as i64, format_ok(sysno, *v)),
                SyscallOutcome::Return(Err(e)) => (-e.generic(), format!("-1 {} ({})", e.name(), e.description())),
                SyscallOutcome::Exit(code) => (0, format!("? (exit status {code})")),
                SyscallOutcome::SigReturn => (0, "? (return from signal handler)".into()),
                SyscallOutcome::KillLivelock(_) => (0, "? (live-lock proven: task killed)".into()),
            };
            self.trace.emit(TraceEvent::Syscall { nr, name, args: args_text, ret, result });
        }
        outcome
    }

    fn dispatch(&mut self, s: Sysno, a: [u64; 6]) -> SyscallOutcome {
        use Sysno::*;
        let r = match s {
            Exit | ExitGroup => return SyscallOutcome::Exit((a[0] & 0xff) as i32),
            RtSigreturn => return SyscallOutcome::SigReturn,
            Getcwd => self.sys_getcwd(a[0], a[1]),
            Dup => self.vfs.dup(a[0], None, false).map(|fd| fd as u64),
            Dup3 => self.sys_dup3(a[0], a[1], a[2]),
            Fcntl => self.sys_fcntl(a[0], a[1], a[2]),
            Ioctl => {
                if let Some(end) = self.btrfs_ioctl(a[0], a[1], a[2]) {
                    return end;
                }
                self.sys_ioctl(a[0], a[1])
            }
            Mkdirat => self.sys_mkdirat(a[0], a[1], a[2]),
            Unlinkat => self.sys_unlinkat(a[0], a[1], a[2]),
            Ftruncate => self.vfs.ftruncate(a[0], a[1] as i64).map(|_| 0),
            Faccessat => self.sys_faccessat(a[0], a[1]),
            Chdir => self.sys_chdir(a[0]),
            Openat => self.sys_openat(a[0], a[1], a[2], a[3]),
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
            Fstat => self.sys_fstat(a[0], a[1]),
            SetTidAddress => {
                self.clear_child_tid = a[0];
                Ok(self.config.pid as u64)
            }
            Futex => self.sys_futex(a[0], a[1], a[2]),
            SetRobustList => {
                if a[1] != 24 {
                    Err(Errno::EINVAL)
                } else {
                    Ok(0)
                }
            }
            Nanosleep => self.sys_nanosleep(a[0]),
            ClockNanosleep => self.sys_clock_nanosleep(a[0], a[1], a[2]),
            ClockGettime => self.sys_clock_gettime(a[0], a[1]),
            ClockGetres => self.sys_clock_getres(a[0], a[1]),
            Gettimeofday => self.sys_gettimeofday(a[0]),
            SchedYield => Ok(0),
            Kill => self.sys_kill(a[0] as i64, a[1], crate::kernel_stub::signal::code::SI_USER),
            Tkill => self.sys_kill(a[0] as i64, a[1], crate::kernel_stub::signal::code::SI_TKILL),
            Tgkill => {
                if a[0] as u32 != self.config.pid {
                    Err(Errno::ESRCH)
                } else {
                    self.sys_kill(a[1] as i64, a[2], crate::kernel_stub::signal::code::SI_TKILL)
                }
            }
            Sigaltstack => self.sys_sigaltstack(a[0], a[1]),
            RtSigaction => self.sys_rt_sigaction(a[0], a[1], a[2], a[3]),
            RtSigprocmask => self.sys_rt_sigprocmask(a[0], a[1], a[2], a[3]),
            Uname => self.sys_uname(a[0]),
            Getrlimit => self.sys_prlimit(0, a[0], 0, a[1]),
            Prlimit64 => self.sys_prlimit(a[0], a[1], a[2], a[3]),
            Prctl => self.sys_prctl(a),
            Getpid | Gettid => Ok(self.config.pid as u64),
            Getppid => Ok(1),
            Getuid | Geteuid => Ok(self.config.uid as u64),
            Getgid | Getegid => Ok(self.config.gid as u64),
            Sysinfo => self.sys_sysinfo(a[0]),
            Brk => Ok(self.mm.set_brk(a[0])),
            Munmap => self.sys_munmap(a[0], a[1]),
            Mremap => self.sys_mremap(a[0], a[1], a[2], a[3], a[4]),
            Mmap => self.sys_mmap(a[0], a[1], a[2], a[3], a[4], a[5]),
            Mprotect => self.sys_mprotect(a[0], a[1], a[2]),
            Madvise => self.sys_madvise(a[0], a[1], a[2]),
            Getrandom => self.sys_getrandom(a[0], a[1], a[2]),
            Rseq => Err(Errno::ENOSYS),
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
        Some(match self.btrfs_tree_search(req, arg) {
            crate::kernel_stub::btrfs::ioctl::IoctlEnd::Return(r) => SyscallOutcome::Return(r),
            crate::kernel_stub::btrfs::ioctl::IoctlEnd::KillLivelock(m) => SyscallOutcome::KillLivelock(m),
        })
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
        let kinds = s.args();
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
                ArgKind::Signal => crate::kernel_stub::signal::signal_name(v as u32),
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
            assert_eq!(Sysno::from_arm64(s.arm64_nr()), Some(s), "{}", s.name());
        }
        assert_eq!(Sysno::from_arm64(64), Some(Sysno::Write));
        assert_eq!(Sysno::from_arm64(222), Some(Sysno::Mmap));
        assert_eq!(Sysno::from_arm64(4000), None);
    }
}
