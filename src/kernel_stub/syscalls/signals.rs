//! Signal syscalls: rt_sigaction, rt_sigprocmask, sigaltstack.

use crate::addr::UserAddr;
use crate::arch::{read_u32, read_u64, Arch, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::signal::{sparc64, AltStack, MaskHow, SigAction, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// `MINSIGSTKSZ` on arm64 (the kernel checks against it in sigaltstack).
const MINSIGSTKSZ: u64 = 5120;

impl Kernel {
    /// A signal number from the user ABI, in internal numbering.
    pub(crate) fn user_signo(&self, signo: u64) -> u64 {
        match self.arch {
            Arch::Sparc64 if signo <= 64 => sparc64::to_generic(signo as u32) as u64,
            _ => signo,
        }
    }

    /// A signal mask from the user ABI, in internal numbering.
    pub(crate) fn user_mask(&self, mask: u64) -> u64 {
        match self.arch {
            Arch::Sparc64 => sparc64::mask_to_generic(mask),
            Arch::Arm64 => mask,
        }
    }

    /// An internal signal mask in the user ABI's numbering.
    pub(crate) fn abi_mask(&self, mask: u64) -> u64 {
        match self.arch {
            Arch::Sparc64 => sparc64::mask_to_sparc(mask),
            Arch::Arm64 => mask,
        }
    }

    /// Encode a `struct sigaction` as rt_sigaction's user ABI lays it out (handler, flags,
    /// restorer, mask on both arm64 and sparc64; sparc64's flag and signal bits differ).
    fn encode_sigaction(&self, a: &SigAction) -> Vec<u8> {
        let flags = match self.arch {
            Arch::Sparc64 => sparc64::flags_to_sparc(a.flags),
            Arch::Arm64 => a.flags,
        };
        let restorer = if self.arch == Arch::Sparc64 { 0 } else { a.restorer };
        let mut w = StructWriter::new(self.arch);
        w.u64(a.handler).u64(flags).u64(restorer).u64(self.abi_mask(a.mask));
        w.finish()
    }

    /// `rt_sigaction`. On sparc64 the return trampoline comes as its own argument
    /// (`restorer`, kept as the handler's return address) and the struct's field is unused.
    pub(super) fn sys_rt_sigaction(
        &mut self,
        signo: u64,
        act: u64,
        oact: u64,
        sigsetsize: u64,
        restorer: Option<u64>,
    ) -> KResult<u64> {
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        let signo = self.user_signo(signo);
        let new = if act != 0 {
            let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(act), 32)?;
            let flags = read_u64(self.arch, &b[8..]);
            Some(SigAction {
                handler: read_u64(self.arch, &b[0..]),
                flags: match self.arch {
                    Arch::Sparc64 => sparc64::flags_to_generic(flags),
                    Arch::Arm64 => flags,
                },
                restorer: restorer.unwrap_or_else(|| read_u64(self.arch, &b[16..])),
                mask: self.user_mask(read_u64(self.arch, &b[24..])),
            })
        } else {
            None
        };
        let old = self.signals.set_action(signo, new)?;
        if oact != 0 {
            let bytes = self.encode_sigaction(&old);
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(oact), &bytes)?;
        }
        Ok(0)
    }

    pub(super) fn sys_rt_sigprocmask(&mut self, how: u64, set: u64, oset: u64, sigsetsize: u64) -> KResult<u64> {
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        let new = if set != 0 {
            let how = match how {
                0 => MaskHow::Block,
                1 => MaskHow::Unblock,
                2 => MaskHow::SetMask,
                _ => return Err(Errno::EINVAL),
            };
            let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(set), 8)?;
            Some((how, self.user_mask(read_u64(self.arch, &b))))
        } else {
            None
        };
        let old = self.signals.blocked;
        if oset != 0 {
            let mut w = StructWriter::new(self.arch);
            w.u64(self.abi_mask(old));
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(oset), &w.finish())?;
        }
        if let Some((how, set)) = new {
            self.signals.set_mask(how, Some(set));
        }
        Ok(0)
    }

    /// Is `sp` on the alternate signal stack?
    pub fn on_altstack(&self, sp: u64) -> bool {
        let s = self.signals.altstack;
        s.flags & SS_DISABLE == 0 && sp > s.sp && sp - s.sp <= s.size
    }

    pub(super) fn sys_sigaltstack_at(&mut self, ss: u64, oss: u64, sp: u64) -> KResult<u64> {
        let on = self.on_altstack(sp);
        let cur = self.signals.altstack;
        let new = if ss != 0 {
            let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(ss), 24)?;
            let st = AltStack {
                sp: read_u64(self.arch, &b[0..]),
                flags: read_u32(self.arch, &b[8..]),
                size: read_u64(self.arch, &b[16..]),
            };
            if on {
                return Err(Errno::EPERM);
            }
            let mode = st.flags & !SS_AUTODISARM;
            if mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0 {
                return Err(Errno::EINVAL);
            }
            if mode == SS_DISABLE {
                Some(AltStack { sp: 0, flags: SS_DISABLE, size: 0 })
            } else {
                let min = match self.arch {
                    Arch::Arm64 => MINSIGSTKSZ,
                    Arch::Sparc64 => sparc64::MINSIGSTKSZ,
                };
                if st.size < min {
                    return Err(Errno::ENOMEM);
                }
                Some(AltStack { flags: st.flags & SS_AUTODISARM, ..st })
            }
        } else {
            None
        };
        if oss != 0 {
            let flags = if on { SS_ONSTACK } else { cur.flags };
            let mut w = StructWriter::new(self.arch);
            w.u64(cur.sp).u32(flags).u32(0).u64(cur.size);
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(oss), &w.finish())?;
        }
        if let Some(n) = new {
            self.signals.altstack = n;
        }
        Ok(0)
    }

    pub(super) fn sys_sigaltstack(&mut self, ss: u64, oss: u64) -> KResult<u64> {
        let sp = self.current_sp;
        self.sys_sigaltstack_at(ss, oss, sp)
    }
}
