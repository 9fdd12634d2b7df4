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
    /// The FP registers as 32 doubles (%d0..%d62).
    pub fpr: [u64; 32],
    /// %fsr.
    pub fsr: u64,
    /// %gsr.
    pub gsr: u64,
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

/// `struct rt_signal_frame` (arch/sparc/kernel/signal_64.c): the 192-byte `sparc_stackf`
/// (whose first 128 bytes are the interrupted window's save area), siginfo at 192, `pt_regs`
/// at 320 (`u_regs[16]`, tstate 448, tpc 456, tnpc 464, y 472, magic 476), `fpu_save` at 480,
/// `stack_t` at 488, the mask at 512, `rwin_save` at 520; 528 bytes, then the 280-byte FPU
/// state when the task uses the FPU.
pub mod frame {
    #![allow(missing_docs)]
    pub const SIZE: u64 = 528;
    pub const INFO: u64 = 192;
    pub const REGS: u64 = 320;
    pub const TSTATE: u64 = 448;
    pub const TPC: u64 = 456;
    pub const TNPC: u64 = 464;
    pub const Y: u64 = 472;
    pub const MAGIC: u64 = 476;
    pub const FPU_SAVE: u64 = 480;
    pub const STACK: u64 = 488;
    pub const MASK: u64 = 512;
    pub const RWIN_SAVE: u64 = 520;
    /// `__siginfo_fpu_t`: 64 single-precision words, fsr, gsr, fprs.
    pub const FPU_SIZE: u64 = 280;
    /// `PT_REGS_MAGIC`, or'ed with the trap type.
    pub const PT_REGS_MAGIC: u32 = 0x57ac_6c00;
    /// `SI_NOINFO`: the si_code of a handler without SA_SIGINFO.
    pub const SI_NOINFO: i32 = 32767;
}

/// FPRS.DL | FPRS.DU | FPRS.FEF: both halves of the FP file live, FPU enabled.
const FPRS_ALL: u64 = 7;

/// A sparc64 `siginfo_t` (128 bytes): the signal in sparc numbering, si_errno 0, si_code;
/// for faults si_addr at 16 and si_trapno at 24, for kill/tkill the sender's pid and uid.
pub fn encode_siginfo(info: &crate::kernel_stub::signal::SigInfo, trapno: u32) -> Vec<u8> {
    let mut w = crate::arch::StructWriter::new(crate::arch::Arch::Sparc64);
    w.u32(to_sparc(info.signo)).u32(0).u32(info.code as u32).u32(0);
    if let Some(a) = info.addr {
        w.u64(a).u32(trapno);
    } else if let Some((pid, uid)) = info.sender {
        w.u32(pid).u32(uid);
    }
    let n = w.len();
    w.pad(128 - n);
    w.finish()
}

impl crate::kernel_stub::Kernel {
    /// `setup_rt_frame` for a 64-bit sparc task whose register windows are all flushed: build
    /// the frame below the interrupted %sp (or on the alternate stack) and set `regs` to enter
    /// the handler: %sp = frame - 2047, %o0 = signal, %o1 = %o2 = &siginfo, %o7 = the restorer
    /// rt_sigaction was given, PC = handler. `trap_type` goes into the frame's magic word.
    /// EFAULT when the frame cannot be written (the caller then kills with SIGSEGV).
    pub fn setup_rt_frame_sparc64(
        &mut self,
        regs: &mut Sparc64Regs,
        info: &crate::kernel_stub::signal::SigInfo,
        act: &crate::kernel_stub::signal::SigAction,
        trap_type: u32,
    ) -> crate::kernel_stub::errno::KResult<()> {
        use crate::kernel_stub::errno::Errno;
        use crate::kernel_stub::signal::{
            flags as gf, AltStack, SigAction, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UNBLOCKABLE,
        };
        let old_sp = regs.o[6].wrapping_add(STACK_BIAS);
        let alt = self.signals.altstack;
        let on_alt = self.on_altstack(old_sp);
        let use_alt = act.flags & gf::SA_ONSTACK != 0 && alt.flags & SS_DISABLE == 0 && !on_alt;
        let top = if use_alt { alt.sp.checked_add(alt.size).ok_or(Errno::EFAULT)? } else { old_sp };
        let size = frame::SIZE + frame::FPU_SIZE;
        let sf = top.checked_sub(size).ok_or(Errno::EFAULT)? & !15;
        let ctx = crate::kernel_stub::uaccess::UaccessCtx::default();
        let put = |k: &mut Self, at: u64, bytes: &[u8]| {
            crate::kernel_stub::uaccess::write_user(&mut k.mm, ctx, crate::addr::UserAddr(at), bytes)
        };
        // The interrupted window's save area (flushed there) heads the new frame.
        let window = crate::kernel_stub::uaccess::read_user(&mut self.mm, ctx, crate::addr::UserAddr(old_sp), 128)?;
        put(self, sf, &window)?;
        if act.flags & gf::SA_SIGINFO != 0 {
            put(self, sf + frame::INFO, &encode_siginfo(info, 0))?;
        } else {
            let mut w = crate::arch::StructWriter::new(crate::arch::Arch::Sparc64);
            w.u32(to_sparc(info.signo)).u32(0).u32(frame::SI_NOINFO as u32);
            put(self, sf + frame::INFO, &w.finish())?;
        }
        let mut w = crate::arch::StructWriter::new(crate::arch::Arch::Sparc64);
        for v in regs.g.iter().chain(regs.o.iter()) {
            w.u64(*v);
        }
        w.u64(regs.tstate()).u64(regs.pc).u64(regs.npc).u32(regs.y as u32).u32(frame::PT_REGS_MAGIC | trap_type);
        w.u64(sf + frame::SIZE);
        let ss_flags = if on_alt { SS_ONSTACK } else { alt.flags & !SS_AUTODISARM };
        w.u64(alt.sp).u32(ss_flags).u32(0).u64(alt.size);
        w.u64(mask_to_sparc(self.signals.blocked)).u64(0);
        for d in regs.fpr {
            w.u64(d);
        }
        w.u64(regs.fsr).u64(regs.gsr).u64(FPRS_ALL);
        put(self, sf + frame::REGS, &w.finish())?;

        if use_alt && alt.flags & SS_AUTODISARM != 0 {
            self.signals.altstack = AltStack { sp: 0, flags: SS_DISABLE, size: 0 };
        }
        regs.o[6] = sf.wrapping_sub(STACK_BIAS);
        regs.o[0] = to_sparc(info.signo) as u64;
        regs.o[1] = sf + frame::INFO;
        regs.o[2] = sf + frame::INFO;
        regs.o[7] = act.restorer;
        regs.pc = act.handler;
        regs.npc = act.handler.wrapping_add(4);
        let mut mask = act.mask;
        if act.flags & gf::SA_NODEFER == 0 {
            mask |= 1 << (info.signo - 1);
        }
        self.signals.blocked = (self.signals.blocked | mask) & !UNBLOCKABLE;
        if act.flags & gf::SA_RESETHAND != 0 {
            let _ = self.signals.set_action(info.signo as u64, Some(SigAction::default()));
        }
        Ok(())
    }

    /// `do_rt_sigreturn` for a 64-bit sparc task whose windows are all flushed: the frame is
    /// at %sp + 2047. Restores %g/%o, PC/NPC, %y, CCR and %asi (the only TSTATE fields a user
    /// may change), the FPU state when saved, the mask and the alternate stack. An error
    /// (misaligned frame or PC, unreadable memory) means SIGSEGV for the caller.
    pub fn restore_rt_frame_sparc64(&mut self, regs: &mut Sparc64Regs) -> crate::kernel_stub::errno::KResult<()> {
        use crate::kernel_stub::errno::Errno;
        use crate::kernel_stub::signal::{AltStack, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UNBLOCKABLE};
        let sf = regs.o[6].wrapping_add(STACK_BIAS);
        if sf & 15 != 0 {
            return Err(Errno::EFAULT);
        }
        let ctx = crate::kernel_stub::uaccess::UaccessCtx::default();
        let b = crate::kernel_stub::uaccess::read_user(
            &mut self.mm,
            ctx,
            crate::addr::UserAddr(sf + frame::REGS),
            (frame::SIZE - frame::REGS) as usize,
        )?;
        let at = |off: u64| be64(&b, (off - frame::REGS) as usize);
        let (pc, npc) = (at(frame::TPC), at(frame::TNPC));
        if (pc | npc) & 3 != 0 {
            return Err(Errno::EFAULT);
        }
        let mut new = *regs;
        for i in 0..8 {
            new.g[i] = at(frame::REGS + 8 * i as u64);
            new.o[i] = at(frame::REGS + 64 + 8 * i as u64);
        }
        if new.o[6].wrapping_add(STACK_BIAS) & 7 != 0 {
            return Err(Errno::EFAULT);
        }
        new.restore_tstate(at(frame::TSTATE));
        new.pc = pc;
        new.npc = npc;
        new.y = u32::from_be_bytes(b[(frame::Y - frame::REGS) as usize..][..4].try_into().expect("4 bytes")) as u64;
        let fpu_save = at(frame::FPU_SAVE);
        if fpu_save != 0 {
            let f = crate::kernel_stub::uaccess::read_user(
                &mut self.mm,
                ctx,
                crate::addr::UserAddr(fpu_save),
                frame::FPU_SIZE as usize,
            )?;
            let fprs = be64(&f, 272);
            if fprs & 1 != 0 {
                for i in 0..16 {
                    new.fpr[i] = be64(&f, 8 * i);
                }
            }
            if fprs & 2 != 0 {
                for i in 16..32 {
                    new.fpr[i] = be64(&f, 8 * i);
                }
            }
            new.fsr = be64(&f, 256);
            new.gsr = be64(&f, 264);
        }
        let mask = mask_to_generic(at(frame::MASK));
        self.signals.blocked = mask & !UNBLOCKABLE;
        let ss = &b[(frame::STACK - frame::REGS) as usize..];
        let st = AltStack {
            sp: be64(ss, 0),
            flags: u32::from_be_bytes(ss[8..12].try_into().expect("4 bytes")),
            size: be64(ss, 16),
        };
        if !self.on_altstack(new.o[6].wrapping_add(STACK_BIAS)) {
            let mode = st.flags & !SS_AUTODISARM & !SS_ONSTACK;
            if mode == SS_DISABLE {
                self.signals.altstack = AltStack { sp: 0, flags: SS_DISABLE, size: 0 };
            } else if st.size >= MINSIGSTKSZ {
                self.signals.altstack = AltStack { flags: st.flags & SS_AUTODISARM, ..st };
            }
        }
        *regs = new;
        Ok(())
    }
}

/// sparc's `MINSIGSTKSZ` (uapi asm/signal.h).
pub const MINSIGSTKSZ: u64 = 4096;

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

    #[test]
    fn a_signal_frame_round_trips_and_enters_the_handler_as_linux_does() {
        use crate::kernel_stub::signal::SigInfo;
        use crate::kernel_stub::signal::{code, flags as gf, SigAction};
        let (mut k, a) = kernel_with_stack();
        let sp = a + 0x7000 - STACK_BIAS;
        k.mm.write_kernel(sp + STACK_BIAS, &[0x5a; 128]).unwrap();
        let mut regs = Sparc64Regs {
            g: [0, 11, 12, 13, 14, 15, 16, 17],
            o: [20, 21, 22, 23, 24, 25, sp, 27],
            pc: 0x10_2000,
            npc: 0x10_3000,
            y: 5,
            ccr: 0x11,
            asi: 0x82,
            fpr: std::array::from_fn(|i| i as u64 * 3),
            fsr: 0x400,
            ..Default::default()
        };
        let before = regs;
        k.signals.blocked = 1 << (sig::SIGUSR2 - 1);
        let act = SigAction { handler: 0x10_5000, flags: gf::SA_SIGINFO, restorer: 0x10_6000 - 8, mask: 0 };
        let info = SigInfo { signo: sig::SIGSEGV, code: code::SEGV_MAPERR, addr: Some(0x1234), ..Default::default() };
        k.setup_rt_frame_sparc64(&mut regs, &info, &act, 0x30).unwrap();
        let sf = regs.o[6] + STACK_BIAS;
        assert_eq!(sf % 16, 0);
        assert!(sf + frame::SIZE + frame::FPU_SIZE <= sp + STACK_BIAS);
        assert_eq!((regs.o[0], regs.o[1], regs.o[2], regs.o[7]), (11, sf + 192, sf + 192, 0x10_6000 - 8));
        assert_eq!((regs.pc, regs.npc), (0x10_5000, 0x10_5004));
        let mut b = [0u8; 24];
        k.mm.read_kernel(sf + 192, &mut b).unwrap();
        assert_eq!(&b[..4], &11u32.to_be_bytes(), "si_signo in sparc numbering");
        assert_eq!(&b[16..24], &0x1234u64.to_be_bytes(), "si_addr");
        let mut w = [0u8; 128];
        k.mm.read_kernel(sf, &mut w).unwrap();
        assert_eq!(w, [0x5a; 128], "the window save area is copied");
        assert_ne!(k.signals.blocked & (1 << (sig::SIGSEGV - 1)), 0, "blocked in the handler");
        // The handler returns: the restorer's window has the frame at %sp.
        let mut back = Sparc64Regs { o: [0, 0, 0, 0, 0, 0, sf - STACK_BIAS, 0], ..Default::default() };
        k.restore_rt_frame_sparc64(&mut back).unwrap();
        assert_eq!((back.g, back.o, back.pc, back.npc, back.y), (before.g, before.o, before.pc, before.npc, 5));
        assert_eq!((back.ccr, back.asi, back.fpr, back.fsr), (0x11, 0x82, before.fpr, 0x400));
        assert_eq!(k.signals.blocked, 1 << (sig::SIGUSR2 - 1));
        // A misaligned frame pointer is refused.
        let mut bad = Sparc64Regs { o: [0, 0, 0, 0, 0, 0, sf - STACK_BIAS + 8, 0], ..Default::default() };
        assert!(k.restore_rt_frame_sparc64(&mut bad).is_err());
    }
}
