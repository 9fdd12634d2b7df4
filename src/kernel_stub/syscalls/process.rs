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

    pub(super) fn sys_kill(&mut self, pid: i64, signo: u64, si_code: i32) -> KResult<u64> {
        if signo > NSIG as u64 {
            return Err(Errno::EINVAL);
        }
        let me = self.config.pid as i64;
        if !(pid == me || pid == 0 || pid == -1 || pid == -me) {
            return Err(Errno::ESRCH);
        }
        if signo != 0 {
            self.signals.raise_process(signo as u32, si_code, None);
            self.threads.resched = !self.threads.alone();
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

    /// `getpgid` / `getsid`: the task leads its own process group and session (as a program
    /// a shell started in its own job, with its own terminal session, would); another pid
    /// is ESRCH.
    pub(super) fn sys_getpgid(&mut self, pid: i32) -> KResult<u64> {
        if pid != 0 && pid as u32 != self.config.pid {
            return Err(Errno::ESRCH);
        }
        Ok(self.config.pid as u64)
    }

    /// `setpgid(pid, pgid)`: the task already leads its group, so only making it the leader
    /// again succeeds; joining another (non-existent) group is EPERM. (`setsid` is EPERM: a
    /// group leader cannot start a session.)
    pub(super) fn sys_setpgid(&mut self, pid: i32, pgid: i32) -> KResult<u64> {
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        if pid != 0 && pid as u32 != self.config.pid {
            return Err(Errno::ESRCH);
        }
        if pgid != 0 && pgid as u32 != self.config.pid {
            return Err(Errno::EPERM);
        }
        Ok(0)
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
