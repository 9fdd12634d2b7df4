//! The sparc64 signal ABI, as an adapter over tagmmu's internal (asm-generic) numbering.
//!
//! SPARC keeps SunOS's signal numbers (arch/sparc/include/uapi/asm/signal.h) and its own
//! `sa_flags` bits. The kernel stub numbers signals as asm-generic does; every value that
//! crosses the sparc64 user ABI (kill, rt_sigaction, masks, frames, contexts) goes through
//! these maps. SPARC's SIGEMT takes the internal slot of SIGSTKFLT, which SPARC lacks.

use crate::kernel_stub::signal::flags as generic;

/// sparc signal number → internal (asm-generic) number, for 1..=31 (index 0 unused).
const TO_GENERIC: [u32; 32] = [
    0, 1, 2, 3, 4, 5, 6, 16, // HUP INT QUIT ILL TRAP ABRT EMT
    8, 9, 7, 11, 31, 13, 14, 15, // FPE KILL BUS SEGV SYS PIPE ALRM TERM
    23, 19, 20, 18, 17, 21, 22, 29, // URG STOP TSTP CONT CHLD TTIN TTOU IO
    24, 25, 26, 27, 28, 30, 10, 12, // XCPU XFSZ VTALRM PROF WINCH LOST/PWR USR1 USR2
];

/// Internal number of the sparc signal `signo` (real-time signals keep their numbers).
pub fn to_generic(signo: u32) -> u32 {
    match signo {
        1..=31 => TO_GENERIC[signo as usize],
        _ => signo,
    }
}

/// sparc number of the internal signal `signo`.
pub fn to_sparc(signo: u32) -> u32 {
    match signo {
        1..=31 => TO_GENERIC.iter().position(|&g| g == signo).map_or(signo, |i| i as u32),
        _ => signo,
    }
}

/// A sparc `sigset_t` word (bit n-1 = signal n) in internal numbering.
pub fn mask_to_generic(mask: u64) -> u64 {
    remap_mask(mask, to_generic)
}

/// An internal mask as a sparc `sigset_t` word.
pub fn mask_to_sparc(mask: u64) -> u64 {
    remap_mask(mask, to_sparc)
}

fn remap_mask(mask: u64, f: fn(u32) -> u32) -> u64 {
    let mut out = 0u64;
    for bit in 0..64u32 {
        if mask & (1 << bit) != 0 {
            out |= 1 << (f(bit + 1) - 1);
        }
    }
    out
}

/// sparc `sa_flags` bits (arch/sparc/include/uapi/asm/signal.h).
pub mod flags {
    #![allow(missing_docs)]
    pub const SA_ONSTACK: u64 = 0x01;
    pub const SA_RESTART: u64 = 0x02;
    pub const SA_RESETHAND: u64 = 0x04;
    pub const SA_NOCLDSTOP: u64 = 0x08;
    pub const SA_NODEFER: u64 = 0x20;
    pub const SA_NOCLDWAIT: u64 = 0x100;
    pub const SA_SIGINFO: u64 = 0x200;
}

const FLAG_PAIRS: [(u64, u64); 7] = [
    (flags::SA_ONSTACK, generic::SA_ONSTACK),
    (flags::SA_RESTART, generic::SA_RESTART),
    (flags::SA_RESETHAND, generic::SA_RESETHAND),
    (flags::SA_NOCLDSTOP, generic::SA_NOCLDSTOP),
    (flags::SA_NODEFER, generic::SA_NODEFER),
    (flags::SA_NOCLDWAIT, generic::SA_NOCLDWAIT),
    (flags::SA_SIGINFO, generic::SA_SIGINFO),
];

/// sparc `sa_flags` in internal bits (unknown bits are kept out of the way, above 32).
pub fn flags_to_generic(f: u64) -> u64 {
    let mut out = 0;
    let mut rest = f;
    for (s, g) in FLAG_PAIRS {
        if f & s != 0 {
            out |= g;
            rest &= !s;
        }
    }
    out | (rest << 32)
}

/// Internal `sa_flags` as sparc bits.
pub fn flags_to_sparc(f: u64) -> u64 {
    let mut out = f >> 32;
    for (s, g) in FLAG_PAIRS {
        if f & g != 0 {
            out |= s;
        }
    }
    out
}

/// The sparc name of an internal signal number.
pub fn name(signo: u32) -> String {
    if signo == crate::kernel_stub::signal::sig::SIGEMT {
        return "SIGEMT".into();
    }
    crate::kernel_stub::signal::signal_name(signo)
}

/// V9 STACK_BIAS: a 64-bit frame is at `%sp + 2047`.
pub const STACK_BIAS: u64 = 2047;

/// The user state the sparc64 trap handlers save and restore (`struct pt_regs` less the
/// kernel's own fields): the globals, the trapping window's outs, PC/NPC, %y and the parts
/// of TSTATE a user may change (CCR and %asi).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sparc64Regs {
    /// %g0-%g7.
    pub g: [u64; 8],
    /// %o0-%o7 (`u_regs[8..16]`; %o6 is the stack pointer, %o7 the return address).
    pub o: [u64; 8],
    /// PC (`tpc`).
    pub pc: u64,
    /// NPC (`tnpc`).
    pub npc: u64,
    /// %y.
    pub y: u64,
    /// CCR (xcc in bits 7:4, icc in 3:0).
    pub ccr: u8,
    /// %asi.
    pub asi: u8,
    /// PSTATE (reported in TSTATE; not restorable by the user).
    pub pstate: u32,
    /// CWP (reported in TSTATE).
    pub cwp: u32,
}

impl Sparc64Regs {
    /// TSTATE as the kernel saves it: CCR 39:32, ASI 31:24, PSTATE 19:8, CWP 4:0.
    pub fn tstate(&self) -> u64 {
        ((self.ccr as u64) << 32) | ((self.asi as u64) << 24) | (((self.pstate & 0xfff) as u64) << 8) | self.cwp as u64
    }

    /// Take what a user may change of a saved TSTATE: CCR and %asi
    /// (`TSTATE_ASI | TSTATE_ICC | TSTATE_XCC`).
    pub fn restore_tstate(&mut self, tstate: u64) {
        self.ccr = (tstate >> 32) as u8;
        self.asi = (tstate >> 24) as u8;
    }
}

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

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

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

    #[test]
    fn numbers_map_both_ways() {
        assert_eq!(to_generic(10), sig::SIGBUS);
        assert_eq!(to_generic(30), sig::SIGUSR1);
        assert_eq!(to_generic(20), sig::SIGCHLD);
        assert_eq!(to_generic(7), sig::SIGEMT);
        assert_eq!(to_sparc(sig::SIGSEGV), 11);
        assert_eq!(to_sparc(sig::SIGUSR2), 31);
        assert_eq!(to_sparc(sig::SIGSYS), 12);
        for s in 1..=64 {
            assert_eq!(to_sparc(to_generic(s)), s);
        }
        let mut seen = [false; 32];
        for s in 1..=31 {
            seen[to_generic(s) as usize] = true;
        }
        assert!(seen[1..].iter().all(|&b| b), "a bijection on 1..=31");
    }

    #[test]
    fn masks_and_flags() {
        // sparc SIGUSR1 (30) and SIGBUS (10).
        let m = (1u64 << 29) | (1 << 9);
        assert_eq!(mask_to_generic(m), (1 << (sig::SIGUSR1 - 1)) | (1 << (sig::SIGBUS - 1)));
        assert_eq!(mask_to_sparc(mask_to_generic(m | (1 << 40))), m | (1 << 40));
        let f = flags::SA_SIGINFO | flags::SA_ONSTACK | flags::SA_NODEFER;
        let g = flags_to_generic(f);
        assert_eq!(g, generic::SA_SIGINFO | generic::SA_ONSTACK | generic::SA_NODEFER);
        assert_eq!(flags_to_sparc(g), f);
        assert_eq!(flags_to_sparc(flags_to_generic(0x4000)), 0x4000, "unknown bits survive");
        assert_eq!(name(sig::SIGEMT), "SIGEMT");
    }

    fn kernel_with_stack() -> (crate::kernel_stub::Kernel, u64) {
        use crate::kernel_stub::mm::{MapRequest, Placement, Prot, VmaKind};
        let mut k = crate::kernel_stub::Kernel::new(crate::arch::Arch::Sparc64, Default::default());
        let req = MapRequest { placement: Placement::Hint, shared: false };
        let a = k.mm.mmap(0, 4 * 8192, Prot::RW, req, VmaKind::Anon).unwrap();
        (k, a)
    }

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
