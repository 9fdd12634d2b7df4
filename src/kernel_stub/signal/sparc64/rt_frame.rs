//! The signal frame of a 64-bit sparc task (`struct rt_signal_frame`), as
//! arch/sparc/kernel/signal_64.c builds it in `setup_rt_frame` and reads it back in
//! `do_rt_sigreturn`.

use super::rwin::{HeldWindows, RWIN_SIZE};
use super::{be64, mask_to_generic, mask_to_sparc, to_sparc, Sparc64Regs, MINSIGSTKSZ, STACK_BIAS};

/// `struct rt_signal_frame` (arch/sparc/kernel/signal_64.c): the 192-byte `sparc_stackf`
/// (whose first 128 bytes are the interrupted window's save area), siginfo at 192, `pt_regs`
/// at 320 (`u_regs[16]`, tstate 448, tpc 456, tnpc 464, y 472, magic 476), `fpu_save` at 480,
/// `stack_t` at 488, the mask at 512, `rwin_save` at 520; 528 bytes, then the 280-byte FPU
/// state when the task uses the FPU, then the held register windows (`__siginfo_rwin_t`,
/// 960 bytes) when the task holds any (see [`super::HeldWindows`]).
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
    /// `setup_rt_frame` for a 64-bit sparc task whose register windows are all flushed (to
    /// its stack, or into `held` for those that could not be stored): build the frame below
    /// the interrupted %sp (or on the alternate stack) and set `regs` to enter the handler:
    /// %sp = frame - 2047, %o0 = signal, %o1 = %o2 = &siginfo, %o7 = the restorer
    /// rt_sigaction was given, PC = handler. `trap_type` goes into the frame's magic word.
    /// Held windows go into the frame's `rwin_save` and the task holds none any more; the
    /// newest of them, not the stack's copy, heads the frame. EFAULT when the frame cannot
    /// be written (the caller then kills with SIGSEGV).
    pub fn setup_rt_frame_sparc64(
        &mut self,
        regs: &mut Sparc64Regs,
        info: &crate::kernel_stub::signal::SigInfo,
        act: &crate::kernel_stub::signal::SigAction,
        trap_type: u32,
        held: &mut HeldWindows,
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
        let rwin_size = if held.is_empty() { 0 } else { RWIN_SIZE };
        let size = frame::SIZE + frame::FPU_SIZE + rwin_size;
        let sf = top.checked_sub(size).ok_or(Errno::EFAULT)? & !15;
        let ctx = crate::kernel_stub::uaccess::UaccessCtx::default();
        let put = |k: &mut Self, at: u64, bytes: &[u8]| {
            crate::kernel_stub::uaccess::write_user(&mut k.mm, ctx, crate::addr::UserAddr(at), bytes)
        };
        // The interrupted window's save area (flushed there) heads the new frame; with
        // windows held, the newest held one does (`reg_window[wsaved - 1]`).
        let window = match held.windows().last() {
            Some(w) => w.regs.iter().flat_map(|r| r.to_be_bytes()).collect(),
            None => crate::kernel_stub::uaccess::read_user(&mut self.mm, ctx, crate::addr::UserAddr(old_sp), 128)?,
        };
        let rwin_save = if held.is_empty() { 0 } else { sf + frame::SIZE + frame::FPU_SIZE };
        if rwin_save != 0 {
            self.save_rwin_state(held, rwin_save)?;
        }
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
        w.u64(mask_to_sparc(self.signals.blocked)).u64(rwin_save);
        for d in regs.fpr {
            w.u64(d);
        }
        w.u64(regs.fsr).u64(regs.gsr).u64(FPRS_ALL);
        put(self, sf + frame::REGS, &w.finish())?;

        held.clear();
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
    /// may change), the FPU state when saved, the mask and the alternate stack, and takes
    /// back the windows of the frame's `rwin_save` into `held`, writing them to their stacks
    /// (`restore_rwin_state`). An error (misaligned frame or PC, unreadable memory, a held
    /// window that still cannot be written) means SIGSEGV for the caller; the windows not
    /// written stay in `held`. (Linux has restored %g/%o, %y and the alternate stack by
    /// then and leaves PC/NPC and the mask; tagmmu leaves all of them, so the SIGSEGV's
    /// frame shows the task as it was at the sigreturn trap.)
    pub fn restore_rt_frame_sparc64(
        &mut self,
        regs: &mut Sparc64Regs,
        held: &mut HeldWindows,
    ) -> crate::kernel_stub::errno::KResult<()> {
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
        let rwin_save = at(frame::RWIN_SAVE);
        if rwin_save != 0 {
            self.restore_rwin_state(rwin_save, held)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::signal::sig;
    use crate::kernel_stub::signal::sparc64::tests::kernel_with_stack;

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
        k.setup_rt_frame_sparc64(&mut regs, &info, &act, 0x30, &mut HeldWindows::default()).unwrap();
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
        k.restore_rt_frame_sparc64(&mut back, &mut HeldWindows::default()).unwrap();
        assert_eq!((back.g, back.o, back.pc, back.npc, back.y), (before.g, before.o, before.pc, before.npc, 5));
        assert_eq!((back.ccr, back.asi, back.fpr, back.fsr), (0x11, 0x82, before.fpr, 0x400));
        assert_eq!(k.signals.blocked, 1 << (sig::SIGUSR2 - 1));
        // A misaligned frame pointer is refused.
        let mut bad = Sparc64Regs { o: [0, 0, 0, 0, 0, 0, sf - STACK_BIAS + 8, 0], ..Default::default() };
        assert!(k.restore_rt_frame_sparc64(&mut bad, &mut HeldWindows::default()).is_err());
    }

    #[test]
    fn held_windows_go_into_rwin_save_and_the_newest_heads_the_frame() {
        use super::super::rwin::HeldWindow;
        use crate::kernel_stub::signal::SigInfo;
        use crate::kernel_stub::signal::{code, flags as gf, SigAction};
        let (mut k, a) = kernel_with_stack();
        let sp = a + 0x7000 - STACK_BIAS;
        k.mm.write_kernel(sp + STACK_BIAS, &[0x5a; 128]).unwrap();
        let mut held = HeldWindows::default();
        let older = HeldWindow { sp: 0x10, regs: [1; 16] };
        let newest = HeldWindow { sp: 0x20, regs: std::array::from_fn(|i| 100 + i as u64) };
        held.hold(older).unwrap();
        held.hold(newest).unwrap();
        let mut regs =
            Sparc64Regs { o: [0, 0, 0, 0, 0, 0, sp, 0], pc: 0x10_2000, npc: 0x10_2004, ..Default::default() };
        let act = SigAction { handler: 0x10_5000, flags: gf::SA_SIGINFO, restorer: 0x10_6000 - 8, mask: 0 };
        let info = SigInfo { signo: sig::SIGSEGV, code: code::SI_KERNEL, ..Default::default() };
        k.setup_rt_frame_sparc64(&mut regs, &info, &act, 0, &mut held).unwrap();
        assert!(held.is_empty(), "the frame took them");
        let sf = regs.o[6] + STACK_BIAS;
        assert!(sf + frame::SIZE + frame::FPU_SIZE + RWIN_SIZE <= sp + STACK_BIAS);
        let mut b = [0u8; 8];
        k.mm.read_kernel(sf + frame::RWIN_SAVE, &mut b).unwrap();
        let rwin = u64::from_be_bytes(b);
        assert_eq!(rwin, sf + frame::SIZE + frame::FPU_SIZE);
        let mut r = [0u8; RWIN_SIZE as usize];
        k.mm.read_kernel(rwin, &mut r).unwrap();
        assert_eq!(&r[..4], &2i32.to_be_bytes(), "wsaved");
        assert_eq!(be64(&r, 904 + 8), 0x20, "rwbuf_stkptrs[1]");
        let mut head = [0u8; 128];
        k.mm.read_kernel(sf, &mut head).unwrap();
        assert_eq!(be64(&head, 0), 100, "the newest held window, not the stack's copy, heads the frame");
        assert_eq!(be64(&head, 120), 115);
        // Back at sigreturn: both stacks are unwritable, so both stay held and it fails.
        let mut back = Sparc64Regs { o: [0, 0, 0, 0, 0, 0, sf - STACK_BIAS, 0], ..Default::default() };
        assert!(k.restore_rt_frame_sparc64(&mut back, &mut held).is_err());
        assert_eq!(held.windows(), &[older, newest]);
    }
}
