//! The sparc64 signal ABI, as an adapter over tagmmu's internal (asm-generic) numbering.
//!
//! SPARC keeps SunOS's signal numbers (arch/sparc/include/uapi/asm/signal.h) and its own
//! `sa_flags` bits. The kernel stub numbers signals as asm-generic does; every value that
//! crosses the sparc64 user ABI (kill, rt_sigaction, masks, frames, contexts) goes through
//! these maps. SPARC's SIGEMT takes the internal slot of SIGSTKFLT, which SPARC lacks.
//! Also here: the user registers the trap handlers save (`Sparc64Regs`); the context traps
//! are in `context`, the signal frame in `rt_frame`, the windows a task could not store in
//! `rwin`.

mod context;
mod rt_frame;
mod rwin;

pub use context::uctx;
pub use rt_frame::{encode_siginfo, frame};
pub use rwin::{BufferFull, HeldWindow, HeldWindows, NSWINS, RWIN_SIZE};

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

/// The big-endian u64 at `at` of `b`.
pub(super) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
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

    /// A sparc64 kernel stub with four anonymous pages mapped; their address.
    pub(super) fn kernel_with_stack() -> (crate::kernel_stub::Kernel, u64) {
        use crate::kernel_stub::mm::{MapRequest, Prot, VmaKind};
        let mut k = crate::kernel_stub::Kernel::new(crate::arch::Arch::Sparc64, Default::default());
        let req = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, 4 * 8192, Prot::RW, req, VmaKind::Anon).unwrap();
        (k, a)
    }
}
