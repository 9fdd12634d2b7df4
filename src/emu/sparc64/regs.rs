//! The user registers through Unicorn's API: register numbering of the current window and the
//! globals, single registers by number (for decoded instructions), the current window as
//! [`WindowRegs`], and the whole user state the trap handlers read and write back.

use unicorn_engine::Unicorn;

use crate::emu::{EmuError, UcContext};
use crate::kernel_stub::signal::sparc64::Sparc64Regs;

use super::windows::WindowRegs;
use super::Guest;

/// Register numbers of the current window in Unicorn's numbering: %o0-%o7, %l0-%l7, %i0-%i7.
pub(super) fn window_reg_id(n: usize) -> i32 {
    const O0: i32 = 78;
    const L0: i32 = 70;
    const I0: i32 = 61;
    match n {
        0..=7 => O0 + n as i32,
        8..=15 => L0 + (n - 8) as i32,
        16..=23 => I0 + (n - 16) as i32,
        _ => panic!("window register {n}"),
    }
}

/// %g0-%g7 in Unicorn's numbering.
pub(super) fn global_reg_id(n: usize) -> i32 {
    53 + n as i32
}

/// Integer register `r` (0..32: %g, %o, %l, %i) in Unicorn's numbering.
fn int_reg_id(r: u32) -> i32 {
    match r {
        0..=7 => global_reg_id(r as usize),
        _ => window_reg_id(r as usize - 8),
    }
}

/// Read integer register `r` (0..32) of the current window.
pub(super) fn read_int_reg(uc: &Unicorn<Guest>, r: u32) -> Result<u64, EmuError> {
    if r == 0 {
        return Ok(0);
    }
    uc.reg_read(int_reg_id(r)).op("read register")
}

/// Write integer register `r` (0..32) of the current window (%g0 stays zero).
pub(super) fn write_int_reg(uc: &mut Unicorn<Guest>, r: u32, v: u64) -> Result<(), EmuError> {
    if r == 0 {
        return Ok(());
    }
    uc.reg_write(int_reg_id(r), v).op("write register")
}

/// The current window's registers through Unicorn's API.
pub(super) struct UcWindow<'a, 'b>(pub(super) &'a mut Unicorn<'b, Guest>);

impl WindowRegs for UcWindow<'_, '_> {
    fn get(&mut self, n: usize) -> u64 {
        self.0.reg_read(window_reg_id(n)).expect("window registers are readable")
    }
    fn set(&mut self, n: usize, v: u64) {
        self.0.reg_write(window_reg_id(n), v).expect("window registers are writable");
    }
}

/// The user state the trap handlers see.
pub(super) fn read_regs(uc: &Unicorn<Guest>) -> Result<Sparc64Regs, EmuError> {
    let env = uc.get_data().env();
    let mut r = Sparc64Regs {
        pc: env.pc(),
        npc: env.npc(),
        y: env.y(),
        ccr: env.ccr() as u8,
        asi: env.asi(),
        pstate: env.pstate(),
        cwp: env.cwp(),
        ..Default::default()
    };
    for i in 1..8 {
        r.g[i] = uc.reg_read(global_reg_id(i)).op("read globals")?;
    }
    for i in 0..8 {
        r.o[i] = uc.reg_read(window_reg_id(i)).op("read outs")?;
    }
    for (i, d) in r.fpr.iter_mut().enumerate() {
        *d = env.fpr(i);
    }
    r.fsr = env.fsr();
    r.gsr = env.gsr();
    Ok(r)
}

/// Put back what a trap handler changed (the globals, outs, PC/NPC, %y, CCR, %asi).
pub(super) fn write_regs(uc: &mut Unicorn<Guest>, r: &Sparc64Regs) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    for i in 1..8 {
        uc.reg_write(global_reg_id(i), r.g[i]).op("write globals")?;
    }
    for i in 0..8 {
        uc.reg_write(window_reg_id(i), r.o[i]).op("write outs")?;
    }
    env.set_y(r.y);
    env.set_ccr(r.ccr as u64);
    env.set_asi(r.asi);
    env.set_pc_npc(r.pc, r.npc);
    for (i, d) in r.fpr.iter().enumerate() {
        env.set_fpr(i, *d);
    }
    env.set_fsr(r.fsr);
    env.set_gsr(r.gsr);
    Ok(())
}
