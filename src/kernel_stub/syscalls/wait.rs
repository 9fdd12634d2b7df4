//! Waiting for children: wait4 and waitid (do_wait). A child that has ended is reported
//! (and reaped, unless WNOWAIT) at once; with WNOHANG and none ended, 0; with no child at all
//! that the wait accepts, ECHILD; otherwise the caller sleeps until one ends (the syscall is
//! executed again then, as Linux's wait loop looks again after its wake-up).

use crate::addr::UserAddr;
use crate::arch::StructWriter;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::signal::sig;
use crate::kernel_stub::task::process::{wait_flags::*, ExitStatus, WaitFor};
use crate::kernel_stub::task::{Blocked, WaitOn};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// `sizeof(struct rusage)` on 64-bit Linux.
const RUSAGE_SIZE: usize = 144;

impl Kernel {
    /// `wait4(pid, wstatus, options, rusage)`: pid > 0 that child, -1 any, 0 the caller's
    /// group, < -1 group -pid. Stopped and continued children are not modelled (no job
    /// control): WUNTRACED and WCONTINUED are accepted and never report.
    pub(super) fn sys_wait4(&mut self, pid: i32, wstatus: u64, options: u64, rusage: u64) -> KResult<u64> {
        if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
            return Err(Errno::EINVAL);
        }
        let which = match pid {
            -1 => WaitFor::Any,
            0 => WaitFor::Group(self.pgid_sid().0),
            p if p < -1 => WaitFor::Group(p.unsigned_abs()),
            p => WaitFor::Pid(p as u32),
        };
        let Some((child, status)) = self.wait_for(which, options & WNOHANG != 0, "wait4")? else { return Ok(0) };
        if wstatus != 0 {
            let b = StructWriter::new(self.arch).u32(status.wstatus()).finish();
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(wstatus), &b)?;
        }
        if rusage != 0 {
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(rusage), &[0; RUSAGE_SIZE])?;
        }
        self.reap(child);
        Ok(u64::from(child))
    }

    /// `waitid(idtype, id, infop, options, rusage)`: P_ALL (0), P_PID (1), P_PGID (2); the
    /// options must ask for WEXITED (stopped/continued children are not modelled). The child's
    /// siginfo (SIGCHLD, CLD_*, pid, uid, status) goes to `infop`; with WNOHANG and nothing
    /// to report, `infop`'s si_signo and si_pid are zeroed.
    pub(super) fn sys_waitid(&mut self, idtype: u64, id: u64, infop: u64, options: u64, rusage: u64) -> KResult<u64> {
        if options & !(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE) != 0
            || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
        {
            return Err(Errno::EINVAL);
        }
        let which = match idtype {
            0 => WaitFor::Any,
            1 if id as i32 > 0 => WaitFor::Pid(id as u32),
            2 if id as i32 >= 0 => WaitFor::Group(if id == 0 { self.pgid_sid().0 } else { id as u32 }),
            _ => return Err(Errno::EINVAL),
        };
        let found = if options & WEXITED != 0 {
            self.wait_for(which, options & WNOHANG != 0, "waitid")?
        } else {
            // Only stops or continues asked for: none ever comes.
            if self.children(which).is_empty() {
                return Err(Errno::ECHILD);
            }
            None
        };
        if infop != 0 {
            let mut w = StructWriter::new(self.arch);
            match found {
                Some((child, status)) => {
                    let (si_code, si_status) = status.cld();
                    let uid = self.config.uid;
                    w.u32(sig::SIGCHLD).u32(0).u32(si_code as u32).u32(0);
                    w.u32(child).u32(uid).u32(si_status);
                }
                None => {
                    w.u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0);
                }
            }
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(infop), &w.finish())?;
        }
        if rusage != 0 {
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(rusage), &[0; RUSAGE_SIZE])?;
        }
        if let Some((child, _)) = found {
            if options & WNOWAIT == 0 {
                self.reap(child);
            }
        }
        Ok(0)
    }

    /// The first ended child `which` accepts (oldest first); `None` with `nohang` when none
    /// has ended; ECHILD when there is no such child. Otherwise the caller sleeps (the
    /// syscall is executed again when a child ends or a signal comes: EINTR, or a restart
    /// with SA_RESTART, as ERESTARTSYS does).
    fn wait_for(&mut self, which: WaitFor, nohang: bool, what: &str) -> KResult<Option<(u32, ExitStatus)>> {
        let children = self.children(which);
        if children.is_empty() {
            return Err(Errno::ECHILD);
        }
        if let Some((c, Some(st))) = children.into_iter().find(|(_, st)| st.is_some()) {
            return Ok(Some((c, st)));
        }
        if nohang {
            return Ok(None);
        }
        let parent = self.config.pid;
        self.block(Blocked {
            on: WaitOn::Child { parent, which },
            deadline: None,
            on_timeout: None,
            restartable: true,
            rem: None,
            reason: format!("{what} for a child ({which:?})"),
        });
        Err(Errno::EINTR)
    }
}
