//! The user registers through Unicorn's API: the general registers and the state a signal
//! frame saves, and the ID registers of Unicorn's CPU (what EL0 may see of them is
//! [`sysregs`](super::sysregs)'s).

use unicorn_engine::{RegisterARM64, RegisterARM64CP, Unicorn};

use crate::emu::{EmuError, UcContext};
use crate::kernel_stub::signal::arm64::Arm64Regs;

use super::sysregs::IdRegs;
use super::Guest;

/// The general registers a signal frame holds, in [`read_regs`]'s order: x0..x30, then these.
const SP: usize = 31;
const PC: usize = 32;
const PSTATE: usize = 33;
const FPSR: usize = 34;
const FPCR: usize = 35;
const GENERAL: usize = 36;
/// With the 32 Q registers after them.
const ALL: usize = GENERAL + 32;

/// Unicorn's ids of the registers [`read_regs`] and [`write_regs`] move, in order.
fn register_ids() -> [i32; ALL] {
    let mut ids = [0i32; ALL];
    for (i, id) in ids.iter_mut().enumerate() {
        *id = match i {
            0..=30 => xreg(i as u32),
            SP => RegisterARM64::SP as i32,
            PC => RegisterARM64::PC as i32,
            PSTATE => RegisterARM64::PSTATE as i32,
            FPSR => RegisterARM64::FPSR as i32,
            FPCR => RegisterARM64::FPCR as i32,
            _ => RegisterARM64::Q0 as i32 + (i - GENERAL) as i32,
        };
    }
    ids
}

/// Read the thread's user registers (one call into Unicorn for all of them: one call per
/// register, each Q register through an allocating read, was a tenth of the arm64
/// instruction-stream fuzz target, whose words take a signal every few instructions).
pub(super) fn read_regs(uc: &Unicorn<Guest>) -> Result<Arm64Regs, EmuError> {
    let ids = register_ids();
    let mut general = [0u64; GENERAL];
    let mut q = [[0u8; 16]; 32];
    let mut sizes = [0usize; ALL];
    let mut values = [std::ptr::null_mut::<std::ffi::c_void>(); ALL];
    for (i, g) in general.iter_mut().enumerate() {
        values[i] = (g as *mut u64).cast();
        sizes[i] = 8;
    }
    for (i, v) in q.iter_mut().enumerate() {
        values[GENERAL + i] = v.as_mut_ptr().cast();
        sizes[GENERAL + i] = 16;
    }
    // SAFETY: the engine is live and used on its own thread; each of the ALL ids has a
    // buffer of the size given beside it (8 bytes for the general registers, some of which
    // Unicorn stores as 4, into zeroed u64s, little-endian as the host; 16 for a Q register).
    let err = unsafe {
        unicorn_engine_sys::uc_reg_read_batch2(
            uc.get_handle(),
            ids.as_ptr(),
            values.as_ptr(),
            sizes.as_mut_ptr(),
            ALL as i32,
        )
    };
    if err != unicorn_engine_sys::uc_error::OK {
        return Err(EmuError::Unicorn { op: "read the registers", err });
    }
    let mut r = Arm64Regs::default();
    r.x.copy_from_slice(&general[..SP]);
    r.sp = general[SP];
    r.pc = general[PC];
    r.pstate = general[PSTATE] & !crate::kernel_stub::signal::arm64::PSTATE_TCO;
    if uc.get_data().tco {
        r.pstate |= crate::kernel_stub::signal::arm64::PSTATE_TCO;
    }
    r.fpsr = general[FPSR] as u32;
    r.fpcr = general[FPCR] as u32;
    for (v, b) in r.v.iter_mut().zip(q) {
        *v = u128::from_le_bytes(b);
    }
    Ok(r)
}

/// The registers of `r` as [`read_regs`]'s order has them: the general ones as u64s, the Q
/// registers as bytes.
fn as_values(r: &Arm64Regs) -> ([u64; GENERAL], [[u8; 16]; 32]) {
    let mut general = [0u64; GENERAL];
    general[..SP].copy_from_slice(&r.x);
    general[SP] = r.sp;
    general[PC] = r.pc;
    general[PSTATE] = r.pstate & !crate::kernel_stub::signal::arm64::PSTATE_TCO;
    general[FPSR] = r.fpsr as u64;
    general[FPCR] = r.fpcr as u64;
    (general, std::array::from_fn(|i| r.v[i].to_le_bytes()))
}

/// Write the thread's user registers `r`, where `held` is what the CPU holds now (as
/// [`read_regs`] gave it): only the registers that differ are written, in one call into
/// Unicorn, and then the PC. (A signal frame's setup changes a handful of the 68; its
/// sigreturn, what the handler changed.)
pub(super) fn write_regs(uc: &mut Unicorn<Guest>, r: &Arm64Regs, held: &Arm64Regs) -> Result<(), EmuError> {
    let ids = register_ids();
    let (general, q) = as_values(r);
    let (held_general, held_q) = as_values(held);
    // The PC is set last, through set_pc (a write of the PC id also asks the engine to stop).
    let mut batch_ids = [0i32; ALL];
    let mut values = [std::ptr::null::<std::ffi::c_void>(); ALL];
    let mut sizes = [0usize; ALL];
    let changed = general
        .iter()
        .enumerate()
        .filter(|&(i, g)| i != PC && *g != held_general[i])
        .map(|(i, g)| (ids[i], (g as *const u64).cast(), 8))
        .chain(
            q.iter()
                .enumerate()
                .filter(|&(i, v)| *v != held_q[i])
                .map(|(i, v)| (ids[GENERAL + i], v.as_ptr().cast(), 16)),
        );
    let mut n = 0;
    for (id, value, size) in changed {
        (batch_ids[n], values[n], sizes[n]) = (id, value, size);
        n += 1;
    }
    if n > 0 {
        // SAFETY: the engine is live, stopped and used on its own thread; each of the first
        // `n` ids has a value of the size beside it, alive for the call (`general`, `q`).
        let err = unsafe {
            unicorn_engine_sys::uc_reg_write_batch2(
                uc.get_handle(),
                batch_ids.as_ptr(),
                values.as_ptr(),
                sizes.as_mut_ptr(),
                n as i32,
            )
        };
        if err != unicorn_engine_sys::uc_error::OK {
            return Err(EmuError::Unicorn { op: "write the registers", err });
        }
    }
    uc.get_data_mut().tco = r.pstate & crate::kernel_stub::signal::arm64::PSTATE_TCO != 0;
    uc.set_pc(r.pc).op("write pc")?;
    Ok(())
}

/// Unicorn's register id of X`n` (31: XZR).
pub(super) fn xreg(n: u32) -> i32 {
    match n {
        0..=28 => RegisterARM64::X0 as i32 + n as i32,
        29 => RegisterARM64::X29 as i32,
        30 => RegisterARM64::X30 as i32,
        _ => RegisterARM64::XZR as i32,
    }
}

/// A system register by its encoding, for Unicorn's coprocessor-register access.
pub(super) fn cp(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> RegisterARM64CP {
    RegisterARM64CP { crn, crm, op0, op1, op2, val: 0 }
}

/// The CPU's ID registers as Unicorn's model implements them.
pub(super) fn read_system_id_regs(uc: &Unicorn<Guest>) -> IdRegs {
    let rd = |op0, op1, crn, crm, op2| {
        let mut r = cp(op0, op1, crn, crm, op2);
        uc.reg_read_arm64_coproc(&mut r).map(|_| r.val).unwrap_or(0)
    };
    IdRegs {
        midr: rd(3, 0, 0, 0, 0),
        pfr0: rd(3, 0, 0, 4, 0),
        pfr1: rd(3, 0, 0, 4, 1),
        pfr2: 0,
        zfr0: rd(3, 0, 0, 4, 4),
        isar0: rd(3, 0, 0, 6, 0),
        isar1: rd(3, 0, 0, 6, 1),
        isar2: rd(3, 0, 0, 6, 2),
        mmfr0: rd(3, 0, 0, 7, 0),
        mmfr1: rd(3, 0, 0, 7, 1),
        mmfr2: rd(3, 0, 0, 7, 2),
    }
}
