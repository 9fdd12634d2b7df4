//! Process-wide syscalls: uname, rlimits, prctl, sysinfo, kill, ids.

use crate::addr::UserAddr;
use crate::arch::{read_u64, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::signal::NSIG;
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// `prctl` options tagmmu models.
pub mod pr {
    #![allow(missing_docs)]
    pub const PR_SET_PDEATHSIG: u64 = 1;
    pub const PR_GET_PDEATHSIG: u64 = 2;
    pub const PR_GET_DUMPABLE: u64 = 3;
    pub const PR_SET_DUMPABLE: u64 = 4;
    pub const PR_SET_NAME: u64 = 15;
    pub const PR_GET_NAME: u64 = 16;
    pub const PR_GET_SECCOMP: u64 = 21;
    pub const PR_SET_NO_NEW_PRIVS: u64 = 38;
    pub const PR_GET_NO_NEW_PRIVS: u64 = 39;
    pub const PR_SET_TAGGED_ADDR_CTRL: u64 = 55;
    pub const PR_GET_TAGGED_ADDR_CTRL: u64 = 56;
}

impl Kernel {
    pub(super) fn sys_uname(&mut self, buf: u64) -> KResult<u64> {
        let mut w = StructWriter::new(self.arch);
        w.cstr_field("Linux", 65)
            .cstr_field(&self.config.hostname, 65)
            .cstr_field(&self.config.version.release(), 65)
            .cstr_field("#1 SMP PREEMPT tagmmu", 65)
            .cstr_field(self.arch.machine(), 65)
            .cstr_field("(none)", 65);
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(buf), &w.finish())?;
        Ok(0)
    }

    pub(super) fn sys_prlimit(&mut self, pid: u64, resource: u64, new: u64, old: u64) -> KResult<u64> {
        if pid != 0 && pid as u32 != self.config.pid {
            return Err(Errno::ESRCH);
        }
        if resource >= 16 {
            return Err(Errno::EINVAL);
        }
        let current = self.rlimits.0[resource as usize];
        let new_limit = if new != 0 {
            let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(new), 16)?;
            let (cur, max) = (read_u64(self.arch, &b[..8]), read_u64(self.arch, &b[8..]));
            if cur > max {
                return Err(Errno::EINVAL);
            }
            if max > current.1 && self.config.uid != 0 {
                return Err(Errno::EPERM);
            }
            Some((cur, max))
        } else {
            None
        };
        if old != 0 {
            let mut w = StructWriter::new(self.arch);
            w.u64(current.0).u64(current.1);
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(old), &w.finish())?;
        }
        if let Some(l) = new_limit {
            self.rlimits.0[resource as usize] = l;
        }
        Ok(0)
    }

    pub(super) fn sys_prctl(&mut self, a: [u64; 6]) -> KResult<u64> {
        use pr::*;
        match a[0] {
            PR_SET_NAME => {
                let mut b = vec![0; 16];
                let left = uaccess::copy_from_user(&mut self.mm, self.uaccess, &mut b, UserAddr(a[1]));
                // Like strncpy_from_user into a 16-byte comm: fault only if nothing was read.
                if left == 16 {
                    return Err(Errno::EFAULT);
                }
                b[15] = 0;
                let end = b.iter().position(|&c| c == 0).unwrap_or(15);
                self.comm = String::from_utf8_lossy(&b[..end]).into_owned();
                Ok(0)
            }
            PR_GET_NAME => {
                let mut b = self.comm.as_bytes().to_vec();
                b.resize(16, 0);
                uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(a[1]), &b)?;
                Ok(0)
            }
            PR_GET_DUMPABLE => Ok(1),
            PR_SET_DUMPABLE => {
                if a[1] > 1 {
                    Err(Errno::EINVAL)
                } else {
                    Ok(0)
                }
            }
            PR_SET_PDEATHSIG => {
                if a[1] > NSIG as u64 {
                    Err(Errno::EINVAL)
                } else {
                    Ok(0)
                }
            }
            PR_GET_PDEATHSIG => {
                uaccess::write_user(
                    &mut self.mm,
                    self.uaccess,
                    UserAddr(a[1]),
                    &StructWriter::new(self.arch).u32(0).finish(),
                )?;
                Ok(0)
            }
            PR_GET_SECCOMP => Ok(0),
            PR_SET_NO_NEW_PRIVS => {
                if a[1] != 1 || a[2] | a[3] | a[4] != 0 {
                    Err(Errno::EINVAL)
                } else {
                    Ok(0)
                }
            }
            PR_GET_NO_NEW_PRIVS => Ok(0),
            PR_SET_TAGGED_ADDR_CTRL => {
                // arm64 only (arch/arm64/kernel/process.c set_tagged_addr_ctrl).
                if self.arch != crate::arch::Arch::Arm64 || a[2] | a[3] | a[4] != 0 {
                    return Err(Errno::EINVAL);
                }
                self.uaccess.tagged_addr_abi = self.mte.set_ctrl(a[1]).map_err(|_| Errno::EINVAL)?;
                // Which kernel accesses to user memory are tag-checked follows the mode.
                // (store-only mode leaves the kernel's LDTR loads unchecked too: TCSO0 covers EL0
                // and unprivileged accesses).
                self.uaccess.check_loads = self.mte.check(false) == crate::mte::CheckKind::Precise;
                self.uaccess.check_stores = self.mte.check(true) == crate::mte::CheckKind::Precise;
                Ok(0)
            }
            PR_GET_TAGGED_ADDR_CTRL => {
                if self.arch != crate::arch::Arch::Arm64 || a[1] | a[2] | a[3] | a[4] != 0 {
                    return Err(Errno::EINVAL);
                }
                Ok(self.mte.get_ctrl(self.uaccess.tagged_addr_abi))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    pub(super) fn sys_sysinfo(&mut self, buf: u64) -> KResult<u64> {
        let mut w = StructWriter::new(self.arch);
        let uptime = self.monotonic_ns() / 1_000_000_000;
        w.u64(uptime).u64(0).u64(0).u64(0);
        w.u64(4 << 30).u64(3 << 30).u64(0).u64(0).u64(0).u64(0);
        w.u16(1).u16(0).u32(0).u64(0).u64(0).u32(1).pad(4);
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(buf), &w.finish())?;
        Ok(0)
    }

    /// `kill(pid, sig)`: pid > 0 that process, 0 the caller's group, -1 every process but
    /// the caller (and init, outside the machine), < -1 group -pid. ESRCH when nobody is
    /// there; signal 0 only checks.
    pub(super) fn sys_kill(&mut self, pid: i64, signo: u64, si_code: i32) -> KResult<u64> {
        if signo > NSIG as u64 {
            return Err(Errno::EINVAL);
        }
        let me = self.config.pid;
        let (my_group, _) = self.pgid_sid();
        let targets = match pid {
            p if p > 0 => self.processes_where(|q, _| i64::from(q) == p),
            0 => self.processes_where(|_, i| i.pgid == my_group),
            -1 => self.processes_where(|q, _| q != me),
            p => self.processes_where(|_, i| i64::from(i.pgid) == -p),
        };
        // kill(-1) never signals the caller. On Linux it finds the system's other processes
        // (init's children of other users among them, EPERM, which kill(-1) does not report),
        // so it succeeds; the machine's are the only ones tagmmu has.
        if targets.is_empty() {
            return if pid == -1 { Ok(0) } else { Err(Errno::ESRCH) };
        }
        if signo != 0 {
            for t in targets {
                self.raise_in_process(t, signo as u32, si_code);
            }
        }
        Ok(0)
    }

    /// `setuid` / `setgid`: the task has one id of each kind (real = effective = saved);
    /// root may set any, others only the id they have (EPERM), as without CAP_SETUID.
    pub(super) fn sys_setid(&mut self, id: u32, user: bool) -> KResult<u64> {
        if id == u32::MAX {
            return Err(Errno::EINVAL);
        }
        let current = if user { self.config.uid } else { self.config.gid };
        if id != current && self.config.uid != 0 {
            return Err(Errno::EPERM);
        }
        if user {
            self.config.uid = id;
        } else {
            self.config.gid = id;
        }
        Ok(0)
    }

    /// `getpgid` / `getsid` of the caller (pid 0) or any live process (ESRCH otherwise).
    pub(super) fn sys_getpgid(&mut self, pid: i32, session: bool) -> KResult<u64> {
        let pid = if pid == 0 { self.config.pid } else { pid as u32 };
        let info = self.proc_info(pid).filter(|p| p.exited.is_none()).ok_or(Errno::ESRCH)?;
        Ok(u64::from(if session { info.sid } else { info.pgid }))
    }

    /// `setpgid(pid, pgid)` (pid 0: the caller; pgid 0: pid): the caller or one of its
    /// children (ESRCH otherwise), in the caller's session (EPERM), not a session leader
    /// (EPERM), into a new group or one that exists in the session (EPERM).
    pub(super) fn sys_setpgid(&mut self, pid: i32, pgid: i32) -> KResult<u64> {
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        let me = self.config.pid;
        let pid = if pid == 0 { me } else { pid as u32 };
        let pgid = if pgid == 0 { pid } else { pgid as u32 };
        let (_, my_sid) = self.pgid_sid();
        let info = self.proc_info(pid).filter(|p| p.exited.is_none()).ok_or(Errno::ESRCH)?;
        if pid != me && info.ppid != me {
            return Err(Errno::ESRCH);
        }
        if info.sid != my_sid || info.sid == pid {
            return Err(Errno::EPERM);
        }
        if pgid != pid && self.processes_where(|_, i| i.pgid == pgid && i.sid == my_sid).is_empty() {
            return Err(Errno::EPERM);
        }
        if let Some(p) = self.proc_info_mut(pid) {
            p.pgid = pgid;
        }
        Ok(0)
    }

    /// `setsid()`: EPERM for a group leader (or when a group has the caller's id); else the
    /// caller leads a new session and group.
    pub(super) fn sys_setsid(&mut self) -> KResult<u64> {
        let me = self.config.pid;
        if !self.processes_where(|_, i| i.pgid == me).is_empty() {
            return Err(Errno::EPERM);
        }
        if let Some(p) = self.proc_info_mut(me) {
            p.pgid = me;
            p.sid = me;
        }
        Ok(u64::from(me))
    }

    /// `getgroups(size, list)`: one supplementary group, the task's gid.
    pub(super) fn sys_getgroups(&mut self, size: i32, list: u64) -> KResult<u64> {
        match size {
            s if s < 0 => Err(Errno::EINVAL),
            0 => Ok(1),
            _ => {
                let b = StructWriter::new(self.arch).u32(self.config.gid).finish();
                uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(list), &b)?;
                Ok(1)
            }
        }
    }
}
