//! The register-window traps Linux handles for a user task: spill, fill, clean window, and
//! the window flush (`flushw`, `ta 3`).
//!
//! A SAVE with no window left (CANSAVE = 0) traps to spill the oldest window to its stack
//! frame; a RESTORE into a window that is not in the register file (CANRESTORE = 0) traps to
//! fill it from the stack; a SAVE into a window that may hold another context's data
//! (CLEANWIN = CANRESTORE) traps to clean it. Linux's handlers store and load the window's 16
//! locals and ins at `%sp + 2047` (64-bit frames, `%sp` odd) or at `%sp` (32-bit frames,
//! `%sp` even, one word per register), then retry the instruction. Unicorn hands these traps
//! to tagmmu without running any handler, so tagmmu does the handlers' work here, on the
//! register file Unicorn keeps, and retries the instruction.

use crate::emu::sparc64::cpu::{SparcEnv, WindowState};

/// V9 STACK_BIAS.
pub const STACK_BIAS: u64 = 2047;

/// The registers of one window tagmmu moves: %l0-%l7 then %i0-%i7 (a `struct reg_window`).
pub trait WindowRegs {
    /// Read register `n` of the current window (0..8 = %o, 8..16 = %l, 16..24 = %i).
    fn get(&mut self, n: usize) -> u64;
    /// Write register `n` of the current window.
    fn set(&mut self, n: usize, v: u64);
}

const O6: usize = 6;
const L0: usize = 8;

/// Where a window's frame is, and whether it is a 64-bit (biased) one.
pub fn frame_of(sp: u64) -> (u64, bool) {
    if sp & 1 == 1 {
        (sp.wrapping_add(STACK_BIAS), true)
    } else {
        (sp & 0xffff_ffff, false)
    }
}

/// Encode the 16 registers of a window as its frame stores them (big-endian).
pub fn encode(regs: &[u64; 16], wide: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for r in regs {
        if wide {
            out.extend_from_slice(&r.to_be_bytes());
        } else {
            out.extend_from_slice(&(*r as u32).to_be_bytes());
        }
    }
    out
}

/// Decode a window's frame.
pub fn decode(bytes: &[u8], wide: bool) -> [u64; 16] {
    let mut regs = [0u64; 16];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = if wide {
            u64::from_be_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
        } else {
            u32::from_be_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes")) as u64
        };
    }
    regs
}

/// Why a window trap could not be handled: the stack frame is not writable/readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFrame {
    /// The frame address that faulted.
    pub addr: u64,
}

/// The window a spill stores: the oldest one, CWP + CANSAVE + 2.
pub fn spill_target(env: &SparcEnv) -> u32 {
    (env.cwp() + env.windows().cansave + 2) % env.nwindows()
}

/// The window a fill loads: CWP - 1.
pub fn fill_target(env: &SparcEnv) -> u32 {
    let n = env.nwindows();
    (env.cwp() + n - 1) % n
}

/// Window `w`'s %sp and its 16 locals and ins.
pub fn read_window(env: &SparcEnv, regs: &mut dyn WindowRegs, w: u32) -> (u64, [u64; 16]) {
    let cwp = env.cwp();
    env.set_cwp(w);
    let sp = regs.get(O6);
    let mut out = [0u64; 16];
    for (i, r) in out.iter_mut().enumerate() {
        *r = regs.get(L0 + i);
    }
    env.set_cwp(cwp);
    (sp, out)
}

/// Window `w`'s %sp (which the fill reads its frame address from).
pub fn window_sp(env: &SparcEnv, regs: &mut dyn WindowRegs, w: u32) -> u64 {
    let cwp = env.cwp();
    env.set_cwp(w);
    let sp = regs.get(O6);
    env.set_cwp(cwp);
    sp
}

/// Set window `w`'s locals and ins.
pub fn write_window(env: &SparcEnv, regs: &mut dyn WindowRegs, w: u32, values: &[u64; 16]) {
    let cwp = env.cwp();
    env.set_cwp(w);
    for (i, v) in values.iter().enumerate() {
        regs.set(L0 + i, *v);
    }
    env.set_cwp(cwp);
}

/// The clean-window handler: zero the locals and outs of window CWP + 1 (its ins are our
/// outs) and count it clean.
pub fn clean_window(env: &SparcEnv, regs: &mut dyn WindowRegs) {
    let n = env.nwindows();
    let cwp = env.cwp();
    env.set_cwp((cwp + 1) % n);
    for r in 0..16 {
        regs.set(r, 0);
    }
    env.set_cwp(cwp);
    let mut ws = env.windows();
    ws.cleanwin += 1;
    env.set_windows(ws);
}

/// The `saved` instruction.
pub fn saved(mut ws: WindowState) -> WindowState {
    ws.cansave += 1;
    if ws.otherwin == 0 {
        ws.canrestore = ws.canrestore.saturating_sub(1);
    } else {
        ws.otherwin -= 1;
    }
    ws
}

/// The `restored` instruction.
pub fn restored(mut ws: WindowState, nwindows: u32) -> WindowState {
    ws.canrestore += 1;
    if ws.cleanwin < nwindows - 1 {
        ws.cleanwin += 1;
    }
    if ws.otherwin == 0 {
        ws.cansave = ws.cansave.saturating_sub(1);
    } else {
        ws.otherwin -= 1;
    }
    ws
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_encoding() {
        assert_eq!(frame_of(0x7fe_ffff_e001), (0x7fe_ffff_e001 + 2047, true));
        assert_eq!(frame_of(0xffff_e000), (0xffff_e000, false));
        let regs: [u64; 16] = std::array::from_fn(|i| 0x0102_0304_0506_0700 + i as u64);
        let wide = encode(&regs, true);
        assert_eq!(wide.len(), 128);
        assert_eq!(&wide[..8], &[1, 2, 3, 4, 5, 6, 7, 0]);
        assert_eq!(decode(&wide, true), regs);
        let narrow = encode(&regs, false);
        assert_eq!(narrow.len(), 64);
        assert_eq!(decode(&narrow, false)[15], 0x0506_070f);
    }

    #[test]
    fn saved_and_restored_move_windows_between_the_counters() {
        let ws = WindowState { cansave: 0, canrestore: 6, otherwin: 0, cleanwin: 7, wstate: 0 };
        assert_eq!(saved(ws), WindowState { cansave: 1, canrestore: 5, ..ws });
        let ws = WindowState { cansave: 6, canrestore: 0, otherwin: 0, cleanwin: 5, wstate: 0 };
        assert_eq!(restored(ws, 8), WindowState { cansave: 5, canrestore: 1, cleanwin: 6, ..ws });
        let full = WindowState { cleanwin: 7, ..ws };
        assert_eq!(restored(full, 8).cleanwin, 7);
    }
}
