//! The user registers through Unicorn's API: the general registers and the state a signal
//! frame saves, and the ID registers of Unicorn's CPU (what EL0 may see of them is
//! [`sysregs`](super::sysregs)'s).

use unicorn_engine::{RegisterARM64, RegisterARM64CP, Unicorn};

use crate::emu::{EmuError, UcContext};
use crate::kernel_stub::signal::arm64::Arm64Regs;

use super::sysregs::IdRegs;
use super::Guest;

/// Read the thread's user registers.
pub(super) fn read_regs(uc: &Unicorn<Guest>) -> Result<Arm64Regs, EmuError> {
    let mut r = Arm64Regs::default();
    for (i, x) in r.x.iter_mut().enumerate() {
        *x = uc.reg_read(xreg(i as u32)).op("read x")?;
    }
    r.sp = uc.reg_read(RegisterARM64::SP).op("read sp")?;
    r.pc = uc.reg_read(RegisterARM64::PC).op("read pc")?;
    r.pstate = uc.reg_read(RegisterARM64::PSTATE).op("read pstate")? & !crate::kernel_stub::signal::arm64::PSTATE_TCO;
    if uc.get_data().tco {
        r.pstate |= crate::kernel_stub::signal::arm64::PSTATE_TCO;
    }
    r.fpsr = uc.reg_read(RegisterARM64::FPSR).op("read fpsr")? as u32;
    r.fpcr = uc.reg_read(RegisterARM64::FPCR).op("read fpcr")? as u32;
    for (i, v) in r.v.iter_mut().enumerate() {
        let b = uc.reg_read_long(RegisterARM64::Q0 as i32 + i as i32).op("read q")?;
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[..16]);
        *v = u128::from_le_bytes(a);
    }
    Ok(r)
}

/// Write the thread's user registers.
pub(super) fn write_regs(uc: &mut Unicorn<Guest>, r: &Arm64Regs) -> Result<(), EmuError> {
    for (i, x) in r.x.iter().enumerate() {
        uc.reg_write(xreg(i as u32), *x).op("write x")?;
    }
    uc.reg_write(RegisterARM64::SP, r.sp).op("write sp")?;
    uc.reg_write(RegisterARM64::PSTATE, r.pstate & !crate::kernel_stub::signal::arm64::PSTATE_TCO)
        .op("write pstate")?;
    uc.get_data_mut().tco = r.pstate & crate::kernel_stub::signal::arm64::PSTATE_TCO != 0;
    uc.reg_write(RegisterARM64::FPSR, r.fpsr as u64).op("write fpsr")?;
    uc.reg_write(RegisterARM64::FPCR, r.fpcr as u64).op("write fpcr")?;
    for (i, v) in r.v.iter().enumerate() {
        uc.reg_write_long(RegisterARM64::Q0 as i32 + i as i32, &v.to_le_bytes()).op("write q")?;
    }
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
