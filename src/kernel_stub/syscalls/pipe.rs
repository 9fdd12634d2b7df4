//! Pipes: `pipe2`, and what reading and writing them means for a task that would wait.

use crate::addr::UserAddr;
use crate::arch::{Arch, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::vfs::Wait;
use crate::kernel_stub::Kernel;

impl Kernel {
    /// `pipe2(fds, flags)`: O_CLOEXEC and O_NONBLOCK are modelled; O_DIRECT (packet mode)
    /// is refused with a notice; any other flag is EINVAL, as in Linux.
    pub(super) fn sys_pipe2(&mut self, fds: u64, flags: u64) -> KResult<u64> {
        let (cloexec, nonblock, direct) = match self.arch {
            Arch::Arm64 => (0o2000000, 0o4000, 0o200000),
            Arch::Sparc64 => (0x400000, 0x4000, 0x100000),
        };
        if flags & !(cloexec | nonblock | direct) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & direct != 0 {
            self.notice("pipe2(O_DIRECT): packet-mode pipes are not modelled: returning -EINVAL".into());
            return Err(Errno::EINVAL);
        }
        // The array is written before the descriptors exist for the guest: a fault leaves
        // none behind (do_pipe2 installs them only after copy_to_user succeeds).
        if uaccess::access_ok(&self.mm, self.uaccess, UserAddr(fds), 8).is_none() {
            return Err(Errno::EFAULT);
        }
        let (r, w) = self.vfs.pipe(flags & nonblock != 0, flags & cloexec != 0)?;
        let bytes = StructWriter::new(self.arch).u32(r as u32).u32(w as u32).finish();
        if let Err(e) = uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(fds), &bytes) {
            let _ = self.vfs.close(r as u64);
            let _ = self.vfs.close(w as u64);
            return Err(e);
        }
        Ok(0)
    }

    /// Before a read or write of `fd`: if it would sleep, the thread sleeps until the pipe
    /// can be read or written (another thread may feed or drain it; the syscall is executed
    /// again then). A process with one thread sleeps for ever, which ends the run as a
    /// deadlock.
    pub(super) fn wait_or_deadlock(&mut self, fd: u64, wait: Wait, what: &str) -> KResult<()> {
        // A read of the host's stdin with nothing there yet: the thread sleeps while the
        // others run (the scheduler waits on the host once nobody else can run); alone, the
        // read itself waits on the host, unless an interval timer is armed (the scheduler
        // then fires it first: its SIGALRM interrupts the read).
        let host_stdin = self.vfs.is_host_stdin(fd);
        let sleeps = !self.threads.alone() || self.itimers.next_expiry().is_some();
        if self.vfs.would_block(fd, wait)? && sleeps {
            let on = if host_stdin { "waits for the host's stdin" } else { "on a pipe" };
            self.block(crate::kernel_stub::task::Blocked {
                on: crate::kernel_stub::task::WaitOn::Io { file: self.vfs.file(fd)?, wait },
                deadline: None,
                on_timeout: None,
                restartable: true,
                rem: None,
                reason: format!("{what}(fd {fd}) {on}"),
            });
            return Err(Errno::EINTR);
        }
        if host_stdin {
            return Ok(());
        }
        if self.vfs.would_block(fd, wait)? {
            let why = match wait {
                Wait::Read => "the pipe is empty and its only writers belong to this task",
                Wait::Write(_) => "the pipe has no room and its only readers belong to this task",
            };
            self.block_forever(format!("{what}(fd {fd}) blocks: {why}"));
            return Err(Errno::EINTR);
        }
        Ok(())
    }

    /// A write to a pipe with no reader: SIGPIPE to the writer with the EPIPE (pipe_write's
    /// `send_sig(SIGPIPE, current, 0)`: SI_USER from the task itself).
    pub(super) fn on_broken_pipe(&mut self, e: Errno) -> Errno {
        if e == Errno::EPIPE {
            use crate::kernel_stub::signal::{code, sig};
            self.signals.raise_with(sig::SIGPIPE, code::SI_USER, None);
        }
        e
    }
}
