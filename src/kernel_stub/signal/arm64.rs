//! The arm64 signal frame (`struct rt_sigframe`), as arch/arm64/kernel/signal.c builds it,
//! and `rt_sigreturn`.
//!
//! Layout (all offsets in bytes):
//! - `siginfo` (128) at 0;
//! - `ucontext` at 128: `uc_flags` 0, `uc_link` 8, `uc_stack` 16 (ss_sp, ss_flags, ss_size),
//!   `uc_sigmask` 40, padding to 1024 bits of sigset, then `uc_mcontext` at 176 (16-aligned):
//!   `fault_address` 0, `regs[31]` 8, `sp` 256, `pc` 264, `pstate` 272, `__reserved[4096]` 288;
//! - the reserved area holds records: `fpsimd_context` (magic 0x46508001, 528 bytes: fpsr,
//!   fpcr, v0..v31), an `esr_context` (magic 0x45535201, 16 bytes) for memory faults, and a
//!   terminating null record.
//!
//! Above the frame sits a frame record {fp, lr} that x29 points at, so unwinders can walk
//! through the handler. The handler starts with x0 = signal, x1 = &info, x2 = &uc, sp = the
//! frame, x30 = the restorer (sa_restorer or tagmmu's sigreturn trampoline), pc = handler.

use crate::addr::UserAddr;
use crate::arch::{read_u32, read_u64, Arch, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::signal::{
    flags, AltStack, SigAction, SigInfo, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UNBLOCKABLE,
};
use crate::kernel_stub::uaccess::{self, UaccessCtx};
use crate::kernel_stub::Kernel;

/// Size of `struct siginfo`.
pub const SIGINFO_SIZE: u64 = 128;
/// Offset of `uc_mcontext` in `struct ucontext`.
pub const MCONTEXT_OFFSET: u64 = 176;
/// Size of `struct ucontext` (with the 4096-byte reserved area).
pub const UCONTEXT_SIZE: u64 = 4560;
/// Size of `struct rt_sigframe`.
pub const RT_SIGFRAME_SIZE: u64 = SIGINFO_SIZE + UCONTEXT_SIZE;
/// `FPSIMD_MAGIC`.
pub const FPSIMD_MAGIC: u32 = 0x4650_8001;
/// `ESR_MAGIC`.
pub const ESR_MAGIC: u32 = 0x4553_5201;
const FPSIMD_SIZE: u32 = 528;
const RESERVED_SIZE: usize = 4096;
/// PSTATE bits user space may set (NZCV, DAIF... as valid_native_regs keeps them): the mode
/// must be EL0t.
const PSTATE_USER_MASK: u64 = 0xf000_0000 | (1 << 25) | (1 << 12) | (0xf << 6) | (3 << 10);
/// PSTATE.TCO.
pub const PSTATE_TCO: u64 = 1 << 25;

/// The user-visible register state of an arm64 thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arm64Regs {
    /// x0..x30.
    pub x: [u64; 31],
    /// sp.
    pub sp: u64,
    /// pc.
    pub pc: u64,
    /// PSTATE (NZCV, TCO, ...).
    pub pstate: u64,
    /// FPSR.
    pub fpsr: u32,
    /// FPCR.
    pub fpcr: u32,
    /// v0..v31.
    pub v: [u128; 32],
}

fn encode_siginfo(info: &SigInfo) -> Vec<u8> {
    let mut w = StructWriter::new(Arch::Arm64);
    w.u32(info.signo).u32(0).u32(info.code as u32).u32(0);
    if let Some(a) = info.addr {
        w.u64(a);
    } else if let Some((pid, uid)) = info.sender {
        w.u32(pid).u32(uid);
    }
    let n = w.len();
    w.pad(SIGINFO_SIZE as usize - n);
    w.finish()
}

impl Kernel {
    /// Build the frame for `info` handled by `act` on the user stack (or the alternate stack)
    /// and set up `regs` to enter the handler. `restorer` is where the handler returns when
    /// the action has no SA_RESTORER. Fails with EFAULT when the frame cannot be written (the
    /// caller then kills the task with SIGSEGV, as `force_sigsegv` does).
    pub fn setup_rt_frame_arm64(
        &mut self,
        regs: &mut Arm64Regs,
        info: &SigInfo,
        act: &SigAction,
        restorer: u64,
    ) -> KResult<()> {
        let alt = self.signals.altstack;
        let on_alt = self.on_altstack(regs.sp);
        let use_alt = act.flags & flags::SA_ONSTACK != 0 && alt.flags & SS_DISABLE == 0 && !on_alt;
        let top = if use_alt { alt.sp.checked_add(alt.size).ok_or(Errno::EFAULT)? } else { regs.sp };
        // The stack pointer is the guest's: any value must give EFAULT, never an overflow.
        let record = top.checked_sub(16).ok_or(Errno::EFAULT)? & !15;
        let frame = record.checked_sub(RT_SIGFRAME_SIZE).ok_or(Errno::EFAULT)? & !15;
        let ctx = UaccessCtx::default();

        let mut uc = StructWriter::new(Arch::Arm64);
        uc.u64(0).u64(0);
        let ss_flags = if on_alt { SS_ONSTACK } else { alt.flags };
        uc.u64(alt.sp).u32(ss_flags).u32(0).u64(alt.size);
        uc.u64(self.signals.blocked);
        uc.pad((MCONTEXT_OFFSET - 48) as usize);
        // sigcontext
        uc.u64(info.fault_address);
        for r in regs.x {
            uc.u64(r);
        }
        uc.u64(regs.sp).u64(regs.pc).u64(regs.pstate);
        uc.pad(8);
        let reserved_start = uc.len();
        uc.u32(FPSIMD_MAGIC).u32(FPSIMD_SIZE).u32(regs.fpsr).u32(regs.fpcr);
        for v in regs.v {
            uc.u64(v as u64).u64((v >> 64) as u64);
        }
        if let Some(esr) = info.esr {
            uc.u32(ESR_MAGIC).u32(16).u64(esr);
        }
        uc.u32(0).u32(0);
        let used = uc.len() - reserved_start;
        uc.pad(RESERVED_SIZE - used);
        debug_assert_eq!(uc.len() as u64, UCONTEXT_SIZE);

        let mut bytes = encode_siginfo(info);
        bytes.extend_from_slice(&uc.finish());
        uaccess::write_user(&mut self.mm, ctx, UserAddr(frame), &bytes)?;
        let mut fr = StructWriter::new(Arch::Arm64);
        fr.u64(regs.x[29]).u64(regs.x[30]);
        uaccess::write_user(&mut self.mm, ctx, UserAddr(record), &fr.finish())?;

        if use_alt && alt.flags & SS_AUTODISARM != 0 {
            self.signals.altstack = AltStack { sp: 0, flags: SS_DISABLE, size: 0 };
        }
        regs.x[0] = info.signo as u64;
        if act.flags & flags::SA_SIGINFO != 0 {
            regs.x[1] = frame;
            regs.x[2] = frame + SIGINFO_SIZE;
        }
        regs.sp = frame;
        regs.x[29] = record;
        regs.x[30] = if act.flags & flags::SA_RESTORER != 0 { act.restorer } else { restorer };
        regs.pc = act.handler;
        // The handler starts as after a BLR (BTYPE cleared) with tag checking on (TCO = 0).
        regs.pstate &= !(PSTATE_TCO | (3 << 10));
        // Mask for the handler; SA_RESETHAND restores the default action.
        let mut mask = act.mask;
        if act.flags & flags::SA_NODEFER == 0 {
            mask |= 1 << (info.signo - 1);
        }
        self.signals.blocked = (self.signals.blocked | mask) & !UNBLOCKABLE;
        if act.flags & flags::SA_RESETHAND != 0 {
            let _ = self.signals.set_action(info.signo as u64, Some(SigAction::default()));
        }
        Ok(())
    }

    /// `rt_sigreturn`: restore `regs`, the signal mask and the alternate stack from the frame
    /// at `regs.sp`. EFAULT/EINVAL for a bad frame (the caller kills with SIGSEGV).
    pub fn restore_rt_frame_arm64(&mut self, regs: &mut Arm64Regs) -> KResult<()> {
        let frame = regs.sp;
        if !frame.is_multiple_of(16) {
            return Err(Errno::EFAULT);
        }
        let ctx = UaccessCtx::default();
        let uc = uaccess::read_user(&mut self.mm, ctx, UserAddr(frame + SIGINFO_SIZE), UCONTEXT_SIZE as usize)?;
        let a = Arch::Arm64;
        let mask = read_u64(a, &uc[40..]);
        let mc = MCONTEXT_OFFSET as usize;
        let mut new = regs.clone();
        for (i, r) in new.x.iter_mut().enumerate() {
            *r = read_u64(a, &uc[mc + 8 + 8 * i..]);
        }
        new.sp = read_u64(a, &uc[mc + 256..]);
        new.pc = read_u64(a, &uc[mc + 264..]);
        let pstate = read_u64(a, &uc[mc + 272..]);
        // valid_user_regs: only AArch64 EL0t with user-settable bits.
        if pstate & 0x1f != 0 {
            return Err(Errno::EINVAL);
        }
        new.pstate = pstate & PSTATE_USER_MASK;
        // Walk the records for the FP/SIMD state (it must be there).
        let mut off = mc + 288;
        let end = off + RESERVED_SIZE;
        let mut have_fpsimd = false;
        while off + 8 <= end {
            let magic = read_u32(a, &uc[off..]);
            let size = read_u32(a, &uc[off + 4..]) as usize;
            if magic == 0 {
                break;
            }
            if size < 8 || !size.is_multiple_of(16) || off + size > end {
                return Err(Errno::EINVAL);
            }
            if magic == FPSIMD_MAGIC {
                if size != FPSIMD_SIZE as usize {
                    return Err(Errno::EINVAL);
                }
                new.fpsr = read_u32(a, &uc[off + 8..]);
                new.fpcr = read_u32(a, &uc[off + 12..]);
                for (i, v) in new.v.iter_mut().enumerate() {
                    let lo = read_u64(a, &uc[off + 16 + 16 * i..]) as u128;
                    let hi = read_u64(a, &uc[off + 24 + 16 * i..]) as u128;
                    *v = lo | (hi << 64);
                }
                have_fpsimd = true;
            }
            off += size;
        }
        if !have_fpsimd {
            return Err(Errno::EINVAL);
        }
        self.signals.blocked = mask & !UNBLOCKABLE;
        // restore_altstack: uc_stack goes through sigaltstack's rules; errors are ignored.
        let ss = &uc[16..40];
        let st = AltStack { sp: read_u64(a, ss), flags: read_u32(a, &ss[8..]), size: read_u64(a, &ss[16..]) };
        if !self.on_altstack(new.sp) {
            let mode = st.flags & !SS_AUTODISARM & !SS_ONSTACK;
            if mode == SS_DISABLE {
                self.signals.altstack = AltStack { sp: 0, flags: SS_DISABLE, size: 0 };
            } else if st.size >= 2048 {
                self.signals.altstack = AltStack { flags: st.flags & SS_AUTODISARM, ..st };
            }
        }
        *regs = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::mm::{MapRequest, Prot, VmaKind};
    use crate::kernel_stub::signal::sig;
    use crate::kernel_stub::KernelConfig;

    fn kernel_with_stack() -> (Kernel, u64) {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let req = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, 64 << 10, Prot::RW, req, VmaKind::Anon).unwrap();
        (k, a + (64 << 10))
    }

    #[test]
    fn frame_round_trip_restores_everything() {
        let (mut k, top) = kernel_with_stack();
        let mut regs = Arm64Regs {
            sp: top - 0x100,
            pc: 0x40_1234,
            pstate: 0x6000_0000 | PSTATE_TCO,
            fpsr: 0x10,
            fpcr: 0x0300_0000,
            ..Default::default()
        };
        for i in 0..31 {
            regs.x[i] = 0x1000 + i as u64;
        }
        regs.v[7] = 0x1122_3344_5566_7788_99aa_bbcc_ddee_ff00;
        let saved = regs.clone();
        k.signals.blocked = 1 << 3;
        let act = SigAction {
            handler: 0x40_5000,
            flags: flags::SA_SIGINFO | flags::SA_RESTORER,
            restorer: 0x40_6000,
            mask: 1 << 9,
        };
        let info = SigInfo {
            signo: sig::SIGSEGV,
            code: 9,
            addr: Some(0x1234),
            esr: Some(0x9200_0011),
            fault_address: 0x1234,
            ..Default::default()
        };
        k.setup_rt_frame_arm64(&mut regs, &info, &act, 0).unwrap();
        assert_eq!(regs.pc, 0x40_5000);
        assert_eq!(regs.x[0], 11);
        assert_eq!(regs.x[1], regs.sp);
        assert_eq!(regs.x[2], regs.sp + 128);
        assert_eq!(regs.x[30], 0x40_6000);
        assert_eq!(regs.sp % 16, 0);
        assert!(regs.sp + RT_SIGFRAME_SIZE <= saved.sp - 16);
        assert_eq!(regs.pstate & PSTATE_TCO, 0, "handlers start with TCO clear");
        assert_eq!(k.signals.blocked, (1 << 3) | (1 << 9) | (1 << 10), "sa_mask and the signal itself");
        // The handler moves the PC on, as the MTE selftests do.
        let mut b = [0u8; 8];
        let pc_at = regs.sp + 128 + MCONTEXT_OFFSET + 264;
        k.mm.read_kernel(pc_at, &mut b).unwrap();
        k.mm.write_kernel(pc_at, &(u64::from_le_bytes(b) + 4).to_le_bytes()).unwrap();
        let mut si = [0u8; 24];
        k.mm.read_kernel(regs.sp, &mut si).unwrap();
        assert_eq!(u32::from_le_bytes(si[8..12].try_into().unwrap()), 9, "si_code");
        assert_eq!(u64::from_le_bytes(si[16..24].try_into().unwrap()), 0x1234, "si_addr");
        let mut restored = regs.clone();
        k.restore_rt_frame_arm64(&mut restored).unwrap();
        assert_eq!(restored.pc, saved.pc + 4);
        assert_eq!(restored.x, saved.x);
        assert_eq!(restored.v, saved.v);
        assert_eq!((restored.sp, restored.fpsr, restored.fpcr), (saved.sp, saved.fpsr, saved.fpcr));
        assert_eq!(restored.pstate, saved.pstate, "sigreturn restores TCO");
        assert_eq!(k.signals.blocked, 1 << 3);
    }

    #[test]
    fn altstack_resethand_and_bad_frames() {
        let (mut k, top) = kernel_with_stack();
        k.signals.altstack = AltStack { sp: top - 0x8000, flags: 0, size: 0x4000 };
        let mut regs = Arm64Regs { sp: top - 0x100, ..Default::default() };
        let act = SigAction {
            handler: 0x40_5000,
            flags: flags::SA_ONSTACK | flags::SA_RESETHAND | flags::SA_NODEFER,
            restorer: 0,
            mask: 0,
        };
        k.signals.set_action(sig::SIGUSR1 as u64, Some(act)).unwrap();
        let info = SigInfo { signo: sig::SIGUSR1, code: -6, sender: Some((1, 2)), ..Default::default() };
        k.setup_rt_frame_arm64(&mut regs, &info, &act, 0xdead_0000).unwrap();
        assert!(regs.sp >= top - 0x8000 && regs.sp < top - 0x4000, "on the alternate stack");
        assert_eq!(regs.x[30], 0xdead_0000, "the trampoline without SA_RESTORER");
        assert_eq!(k.signals.action(sig::SIGUSR1).handler, 0, "SA_RESETHAND");
        assert_eq!(k.signals.blocked, 0, "SA_NODEFER");
        let mut bad = Arm64Regs { sp: top - 8, ..Default::default() };
        assert!(k.restore_rt_frame_arm64(&mut bad).is_err());
        let mut unmapped = Arm64Regs { sp: top + 0x10_0000, ..Default::default() };
        assert_eq!(k.restore_rt_frame_arm64(&mut unmapped), Err(Errno::EFAULT));
        let mut low = Arm64Regs { sp: 0x1000, ..Default::default() };
        let plain = SigAction { handler: 0x40_5000, ..Default::default() };
        assert_eq!(k.setup_rt_frame_arm64(&mut low, &info, &plain, 0), Err(Errno::EFAULT));
    }
}
