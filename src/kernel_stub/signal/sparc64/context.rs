//! `getcontext` / `setcontext` of a 64-bit sparc task (`ta 0x6e` / `ta 0x6f`), as
//! arch/sparc/kernel/signal_64.c's `sparc64_get_context` and `sparc64_set_context` do.

use super::{be64, mask_to_generic, mask_to_sparc, Sparc64Regs, STACK_BIAS};

/// `struct ucontext` (arch/sparc/include/asm/uctx.h): `mc_gregs[19]` at 32 (TSTATE, PC, NPC,
/// Y, G1-G7, O0-O7), `mc_fp` at 184, `mc_i7` at 192, `mc_fpregs.mcfpu_enab` at 498; 512 bytes.
pub mod uctx {
    #![allow(missing_docs)]
    pub const SIZE: usize = 512;
    pub const SIGMASK: usize = 16;
    pub const GREGS: usize = 32;
    pub const MC_TSTATE: usize = 0;
    pub const MC_PC: usize = 1;
    pub const MC_NPC: usize = 2;
    pub const MC_Y: usize = 3;
    pub const MC_G1: usize = 4;
    pub const MC_O0: usize = 11;
    pub const FP: usize = 184;
    pub const I7: usize = 192;
    pub const FPU_ENAB: usize = 498;
}
/// Offset of `ins[6]` (the saved %fp) in a 64-bit register-window save area.
const WINDOW_FP: u64 = 14 * 8;
impl crate::kernel_stub::Kernel {
    fn put_user_u64(&mut self, addr: u64, v: u64) -> crate::kernel_stub::errno::KResult<()> {
        let ctx = self.uaccess;
        crate::kernel_stub::uaccess::write_user(&mut self.mm, ctx, crate::addr::UserAddr(addr), &v.to_be_bytes())
    }

    /// `sparc64_get_context` (`ta 0x6e`), with the windows already flushed and `regs.pc` /
    /// `regs.npc` already past the trap: clear the 512-byte ucontext at %o0, then store the
    /// blocked mask, TSTATE, PC, NPC, Y, %g1-%g7, %o0-%o7, and the %fp/%i7 the window save
    /// area at %sp holds. The FPU state is not saved (`mcfpu_enab` = 0), as Linux does.
    pub fn sparc64_get_context(&mut self, regs: &Sparc64Regs) -> crate::kernel_stub::errno::KResult<()> {
        let ucp = regs.o[0];
        let ctx = self.uaccess;
        let zeros = [0u8; uctx::SIZE];
        crate::kernel_stub::uaccess::write_user(&mut self.mm, ctx, crate::addr::UserAddr(ucp), &zeros)?;
        let mut g = [0u64; 19];
        g[uctx::MC_TSTATE] = regs.tstate();
        g[uctx::MC_PC] = regs.pc;
        g[uctx::MC_NPC] = regs.npc;
        g[uctx::MC_Y] = regs.y;
        g[uctx::MC_G1..uctx::MC_G1 + 7].copy_from_slice(&regs.g[1..8]);
        g[uctx::MC_O0..uctx::MC_O0 + 8].copy_from_slice(&regs.o);
        let mut bytes = Vec::with_capacity(19 * 8);
        for v in g {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        crate::kernel_stub::uaccess::write_user(
            &mut self.mm,
            ctx,
            crate::addr::UserAddr(ucp + uctx::GREGS as u64),
            &bytes,
        )?;
        let blocked = mask_to_sparc(self.signals.blocked);
        self.put_user_u64(ucp + uctx::SIGMASK as u64, blocked)?;
        let save_area = regs.o[6].wrapping_add(STACK_BIAS);
        let win = crate::kernel_stub::uaccess::read_user(
            &mut self.mm,
            ctx,
            crate::addr::UserAddr(save_area + WINDOW_FP),
            16,
        )?;
        self.put_user_u64(ucp + uctx::FP as u64, be64(&win, 0))?;
        self.put_user_u64(ucp + uctx::I7 as u64, be64(&win, 8))?;
        Ok(())
    }

    /// `sparc64_set_context` (`ta 0x6f`), with the windows already flushed: load the context
    /// at %o0 into `regs` (PC, NPC, Y, CCR and %asi of TSTATE, %g1-%g6, %o0-%o7; not %g7),
    /// take its signal mask if %o1 is not zero, and store its %fp and %i7 into the window
    /// save area at the new %sp (where the return to user fills the window from). SIGSEGV
    /// (an error here) for a misaligned or unreadable context or a misaligned PC/NPC.
    pub fn sparc64_set_context(&mut self, regs: &mut Sparc64Regs) -> crate::kernel_stub::errno::KResult<()> {
        use crate::kernel_stub::errno::Errno;
        let ucp = regs.o[0];
        if ucp & 7 != 0 {
            return Err(Errno::EFAULT);
        }
        let ctx = self.uaccess;
        let uc = crate::kernel_stub::uaccess::read_user(&mut self.mm, ctx, crate::addr::UserAddr(ucp), uctx::SIZE)?;
        let greg = |i: usize| be64(&uc, uctx::GREGS + i * 8);
        let (pc, npc) = (greg(uctx::MC_PC), greg(uctx::MC_NPC));
        if (pc | npc) & 3 != 0 {
            return Err(Errno::EFAULT);
        }
        if regs.o[1] != 0 {
            let set = mask_to_generic(be64(&uc, uctx::SIGMASK));
            self.signals.set_mask(crate::kernel_stub::signal::MaskHow::SetMask, Some(set));
        }
        regs.pc = pc;
        regs.npc = npc;
        regs.y = greg(uctx::MC_Y);
        regs.restore_tstate(greg(uctx::MC_TSTATE));
        for i in 1..7 {
            regs.g[i] = greg(uctx::MC_G1 + i - 1);
        }
        for i in 0..8 {
            regs.o[i] = greg(uctx::MC_O0 + i);
        }
        let save_area = regs.o[6].wrapping_add(STACK_BIAS);
        self.put_user_u64(save_area + WINDOW_FP, be64(&uc, uctx::FP))?;
        self.put_user_u64(save_area + WINDOW_FP + 8, be64(&uc, uctx::I7))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::signal::sig;
    use crate::kernel_stub::signal::sparc64::tests::kernel_with_stack;

    #[test]
    fn get_then_set_context_round_trips_the_registers() {
        let (mut k, a) = kernel_with_stack();
        let ucp = a + 0x1000;
        let sp = a + 0x4000 - STACK_BIAS;
        // The window save area at %sp holds %fp and %i7 (as a flush leaves them).
        k.put_user_u64(sp + STACK_BIAS + 14 * 8, 0x1111).unwrap();
        k.put_user_u64(sp + STACK_BIAS + 15 * 8, 0x2222).unwrap();
        k.signals.blocked = 1 << (sig::SIGUSR1 - 1);
        let mut o = [0u64; 8];
        o[0] = ucp;
        o[6] = sp;
        o[7] = 0x10_0040;
        let regs = Sparc64Regs {
            g: [0, 1, 2, 3, 4, 5, 6, 7],
            o,
            pc: 0x10_0100,
            npc: 0x10_0104,
            y: 9,
            ccr: 0x11,
            asi: 0x82,
            pstate: 0x14,
            cwp: 3,
            ..Default::default()
        };
        k.sparc64_get_context(&regs).unwrap();
        let mut b = [0u8; 8];
        k.mm.read_kernel(ucp + 16, &mut b).unwrap();
        assert_eq!(u64::from_be_bytes(b), 1 << 29, "the mask in sparc numbering (SIGUSR1 = 30)");
        k.mm.read_kernel(ucp + 32 + 8, &mut b).unwrap();
        assert_eq!(u64::from_be_bytes(b), 0x10_0100);
        k.mm.read_kernel(ucp + 184, &mut b).unwrap();
        assert_eq!(u64::from_be_bytes(b), 0x1111);
        // longjmp: glibc stores the value in the saved %g1, then setcontext.
        k.put_user_u64(ucp + 32 + 4 * 8, 42).unwrap();
        k.signals.blocked = 0;
        let mut now =
            Sparc64Regs { o: [ucp, 1, 0, 0, 0, 0, 0x9999, 0], g: [0, 0, 0, 0, 0, 0, 0, 0x77], ..Default::default() };
        k.sparc64_set_context(&mut now).unwrap();
        assert_eq!((now.pc, now.npc, now.y, now.ccr, now.asi), (0x10_0100, 0x10_0104, 9, 0x11, 0x82));
        assert_eq!(now.g[1], 42);
        assert_eq!(now.g[7], 0x77, "%g7 (the thread pointer) is not restored");
        assert_eq!(now.o[6], sp);
        assert_eq!(k.signals.blocked, 1 << (sig::SIGUSR1 - 1), "%o1 != 0 restores the mask");
        let mut bad = Sparc64Regs { o: [ucp + 4, 0, 0, 0, 0, 0, 0, 0], ..Default::default() };
        assert!(k.sparc64_set_context(&mut bad).is_err(), "misaligned context");
    }
}
