//! The syscalls of threads: clone and clone3 (of a thread), futex, tkill/tgkill,
//! get_robust_list. The threads themselves are [`crate::kernel_stub::task`]'s.

use crate::addr::UserAddr;
use crate::arch::{read_u32, read_u64, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::signal::NSIG;
use crate::kernel_stub::task::{clone_flags, Blocked, CloneArgs, Tid, WaitOn};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// `futex` operations.
mod op {
    pub const FUTEX_WAIT: u64 = 0;
    pub const FUTEX_WAKE: u64 = 1;
    pub const FUTEX_REQUEUE: u64 = 3;
    pub const FUTEX_CMP_REQUEUE: u64 = 4;
    pub const FUTEX_WAIT_BITSET: u64 = 9;
    pub const FUTEX_WAKE_BITSET: u64 = 10;
    pub const FUTEX_PRIVATE_FLAG: u64 = 128;
    pub const FUTEX_CLOCK_REALTIME: u64 = 256;
}

/// `sizeof(struct clone_args)` of the first clone3 (CLONE_ARGS_SIZE_VER0), and of the
/// latest (VER2, with cgroup).
const CLONE_ARGS_SIZE_VER0: u64 = 64;
const CLONE_ARGS_SIZE_VER2: u64 = 88;

impl Kernel {
    /// `clone(flags, newsp, parent_tid, tls, child_tid)` (arm64's CLONE_BACKWARDS order).
    pub(super) fn sys_clone(&mut self, a: [u64; 6]) -> KResult<u64> {
        let args = CloneArgs {
            flags: a[0] & !clone_flags::CSIGNAL,
            exit_signal: a[0] & clone_flags::CSIGNAL,
            stack: a[1],
            parent_tid: a[2],
            tls: a[3],
            child_tid: a[4],
        };
        self.clone_thread(args)
    }

    /// sparc64's `fork` and `vfork` (sparc_fork, sparc_vfork): clone with SIGCHLD (and
    /// CLONE_VM | CLONE_VFORK), the child on the caller's stack pointer (copy_thread then
    /// gives it a copy of the caller's frame just below it, as for any given stack).
    pub(super) fn sys_fork(&mut self, vfork: bool) -> KResult<u64> {
        let flags = if vfork { clone_flags::CLONE_VM | clone_flags::CLONE_VFORK } else { 0 };
        // The exit signal as the user ABI numbers it (clone's CSIGNAL bits).
        let generic = crate::kernel_stub::signal::sig::SIGCHLD;
        let sigchld = u64::from(match self.arch {
            crate::arch::Arch::Sparc64 => crate::kernel_stub::signal::sparc64::to_sparc(generic),
            crate::arch::Arch::Arm64 => generic,
        });
        let stack = if vfork { self.current_sp } else { 0 };
        self.clone_thread(CloneArgs { flags, exit_signal: sigchld, stack, ..Default::default() })
    }

    /// `clone3(uargs, size)`: `struct clone_args` of at least 64 bytes (EINVAL) and at most
    /// a page (E2BIG), unknown trailing bytes zero (E2BIG); the stack is `stack` +
    /// `stack_size` (the stack grows down); a thread's exit signal must be 0.
    pub(super) fn sys_clone3(&mut self, uargs: u64, size: u64) -> KResult<u64> {
        if size < CLONE_ARGS_SIZE_VER0 {
            return Err(Errno::EINVAL);
        }
        if size > self.mm.page_size() {
            return Err(Errno::E2BIG);
        }
        let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(uargs), size as usize)?;
        if b.len() as u64 > CLONE_ARGS_SIZE_VER2 && b[CLONE_ARGS_SIZE_VER2 as usize..].iter().any(|&x| x != 0) {
            return Err(Errno::E2BIG);
        }
        let mut field = [0u64; 11];
        for (i, f) in field.iter_mut().enumerate() {
            if let Some(c) = b.get(i * 8..i * 8 + 8) {
                *f = read_u64(self.arch, c);
            }
        }
        let [flags, _pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, _cgroup] =
            field;
        // clone3_args_valid.
        if flags & clone_flags::CSIGNAL != 0 || exit_signal > NSIG as u64 {
            return Err(Errno::EINVAL);
        }
        if flags & (clone_flags::CLONE_THREAD | clone_flags::CLONE_PARENT) != 0 && exit_signal != 0 {
            return Err(Errno::EINVAL);
        }
        if (stack == 0) != (stack_size == 0) {
            return Err(Errno::EINVAL);
        }
        if set_tid != 0 || set_tid_size != 0 || flags & (clone_flags::CLONE_INTO_CGROUP | clone_flags::CLONE_PIDFD) != 0
        {
            self.notice("clone3 with set_tid, a pidfd or a cgroup is not modelled: returning -ENOSYS".into());
            return Err(Errno::ENOSYS);
        }
        let stack = if stack == 0 {
            0
        } else {
            uaccess::access_ok(&self.mm, self.uaccess, UserAddr(stack), stack_size).ok_or(Errno::EFAULT)?;
            stack.wrapping_add(stack_size)
        };
        self.clone_thread(CloneArgs { flags, exit_signal, stack, parent_tid, child_tid, tls })
    }

    /// `tkill(tid, sig)` and `tgkill(tgid, tid, sig)`: ids must be positive (EINVAL); a thread
    /// not of this process is ESRCH.
    pub(super) fn sys_tgkill(&mut self, tgid: Option<i32>, tid: i32, signo: u64) -> KResult<u64> {
        if tid <= 0 || tgid.is_some_and(|t| t <= 0) || signo > NSIG as u64 {
            return Err(Errno::EINVAL);
        }
        if tgid.is_some_and(|t| t as u32 != self.config.pid) {
            return Err(Errno::ESRCH);
        }
        self.signal_thread(Tid(tid as u32), signo as u32, crate::kernel_stub::signal::code::SI_TKILL)
    }

    /// `get_robust_list(pid, head_ptr, len_ptr)`: the calling thread's (pid 0) or another
    /// thread's of the process.
    pub(super) fn sys_get_robust_list(&mut self, pid: i32, head_ptr: u64, len_ptr: u64) -> KResult<u64> {
        let head = if pid == 0 || pid as u32 == self.tid.0 {
            self.robust_list
        } else {
            self.threads.parked.get(&Tid(pid as u32)).map(|p| p.state.robust_list).ok_or(Errno::ESRCH)?
        };
        let len = StructWriter::new(self.arch).u64(24).finish();
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(len_ptr), &len)?;
        let head = StructWriter::new(self.arch).u64(head).finish();
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(head_ptr), &head)?;
        Ok(0)
    }

    /// `futex(uaddr, op, val, timeout | val2, uaddr2, val3)`: WAIT, WAIT_BITSET, WAKE,
    /// WAKE_BITSET, REQUEUE and CMP_REQUEUE. WAIT compares the word (EAGAIN on a mismatch)
    /// and sleeps until a WAKE (0), its timeout (ETIMEDOUT; WAIT: relative on
    /// CLOCK_MONOTONIC; WAIT_BITSET: absolute, on CLOCK_REALTIME with FUTEX_CLOCK_REALTIME)
    /// or a signal (EINTR). A process with one thread has nobody to wake it: with a timeout it
    /// sleeps all of it, without one the run ends as a deadlock. The PI operations and
    /// WAKE_OP are refused with a notice (ENOSYS).
    pub(super) fn sys_futex(
        &mut self,
        uaddr: u64,
        op: u64,
        val: u64,
        timeout: u64,
        uaddr2: u64,
        val3: u64,
    ) -> KResult<u64> {
        use op::*;
        if !uaddr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
        if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET {
            return Err(Errno::ENOSYS);
        }
        // `val` and the counts are ints (the low half of the register).
        let count = |v: u64| -> u32 {
            let n = v as u32 as i32;
            // futex_wake's loop wakes at least one sleeper whatever nr_wake is.
            n.max(1) as u32
        };
        match cmd {
            FUTEX_WAKE_BITSET | FUTEX_WAIT_BITSET if val3 as u32 == 0 => Err(Errno::EINVAL),
            FUTEX_WAKE | FUTEX_WAKE_BITSET => {
                let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { val3 as u32 };
                let woken = self.futex_wake(uaddr, count(val), bitset)?;
                self.threads.resched |= woken > 0;
                Ok(woken)
            }
            FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
                let (n_wake, n_requeue) = (val as u32 as i32, timeout as u32 as i32);
                if n_wake < 0 || n_requeue < 0 || !uaddr2.is_multiple_of(4) {
                    return Err(Errno::EINVAL);
                }
                if cmd == FUTEX_CMP_REQUEUE {
                    let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(uaddr), 4)?;
                    if read_u32(self.arch, &b) != val3 as u32 {
                        return Err(Errno::EAGAIN);
                    }
                }
                let n = self.futex_requeue(uaddr, n_wake as u32, uaddr2, n_requeue as u32)?;
                self.threads.resched |= n > 0;
                Ok(n)
            }
            FUTEX_WAIT | FUTEX_WAIT_BITSET => {
                let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { val3 as u32 };
                let t = if timeout == 0 { None } else { Some(self.get_timespec(timeout)?) };
                let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(uaddr), 4)?;
                if read_u32(self.arch, &b) != val as u32 {
                    return Err(Errno::EAGAIN);
                }
                // The deadline on CLOCK_MONOTONIC.
                let deadline = t.map(|t| match cmd {
                    FUTEX_WAIT => self.deadline_in(t),
                    _ if op & FUTEX_CLOCK_REALTIME != 0 => {
                        t.saturating_sub(self.realtime_ns().saturating_sub(self.monotonic_ns()))
                    }
                    _ => t,
                });
                if self.threads.alone() {
                    return match deadline {
                        None => {
                            self.block_forever(format!(
                                "futex wait at {uaddr:#x} with no timeout: no other thread can wake the only one"
                            ));
                            Err(Errno::EINTR)
                        }
                        Some(d) => {
                            self.sleep(d.saturating_sub(self.monotonic_ns()));
                            Err(Errno::ETIMEDOUT)
                        }
                    };
                }
                let key = self.futex_key(uaddr);
                self.block(Blocked {
                    on: WaitOn::Futex { key, bitset },
                    deadline,
                    on_timeout: Some(Err(Errno::ETIMEDOUT)),
                    restartable: false,
                    rem: None,
                    reason: format!("futex wait at {uaddr:#x}"),
                });
                Err(Errno::EINTR)
            }
            _ => {
                self.notice(format!("futex operation {cmd} is not modelled: returning -ENOSYS"));
                Err(Errno::ENOSYS)
            }
        }
    }
}
