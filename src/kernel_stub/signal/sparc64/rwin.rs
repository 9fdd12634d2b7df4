//! The register windows a 64-bit sparc task could not store to its stack: `thread_info`'s
//! `reg_window[]`, `rwbuf_stkptrs[]` and `w_saved` (arch/sparc/kernel/winfixup.S,
//! process_64.c, sigutil_64.c).
//!
//! When a window's spill faults (its `%sp` points nowhere writable), Linux's `spill_fixup`
//! keeps the window's 16 locals and ins, and the `%sp` it belongs at, in the thread's buffer.
//! The window is then held by the kernel, not lost:
//! - `synchronize_user_stack` (before a signal frame, a context trap, clone, sigreturn) and
//!   `fault_in_user_windows` (on every return to user with windows held) write each held
//!   window to its stack again, newest first, and keep those that still fail;
//! - on the way back to user, a window that still fails is `force_sig(SIGSEGV)`;
//! - `setup_rt_frame` hands the held windows to the handler in the frame's `rwin_save`
//!   (`__siginfo_rwin_t`) and the thread holds none any more; `do_rt_sigreturn` takes them
//!   back and tries again.
//!
//! For a 64-bit task every held window is a 64-bit one, written at `%sp + 2047`
//! (`test_thread_64bit_stack` is true for any `%sp` unless the task is 32-bit), although
//! the ordinary spill handler stores a window whose `%sp` is even as 32-bit words at `%sp`.

use super::{be64, STACK_BIAS};
use crate::addr::UserAddr;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::uaccess::{copy_to_user, read_user, write_user, UaccessCtx};
use crate::kernel_stub::Kernel;

/// `NSWINS` (arch/sparc/include/asm/thread_info_64.h) and `__SIGC_MAXWIN`: the windows a
/// thread can hold, and those a frame's `rwin_save` carries.
pub const NSWINS: usize = 7;

/// `sizeof(__siginfo_rwin_t)` on sparc64: `int wsaved` (padded to 8), seven 128-byte
/// `__siginfo_reg_window`s at 8, seven `rwbuf_stkptrs` at 904.
pub const RWIN_SIZE: u64 = 960;
const RWIN_WINDOWS: usize = 8;
const RWIN_STKPTRS: usize = 8 + NSWINS * 128;

/// One window the task could not store: its locals and ins, and its `%sp` (as the window
/// holds it: biased).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldWindow {
    /// `rwbuf_stkptrs[i]`: the window's `%sp`.
    pub sp: u64,
    /// `%l0`-`%l7` then `%i0`-`%i7`.
    pub regs: [u64; 16],
}

impl HeldWindow {
    /// The window as its frame stores it: 16 big-endian doublewords.
    fn bytes(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        for (i, r) in self.regs.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&r.to_be_bytes());
        }
        out
    }
}

/// The buffer was full: a spill fault found no slot left (Linux's `spill_fixup` does not
/// check; with eight windows at most seven user windows are ever held, so this takes a
/// frame's crafted `rwin_save` and more windows on top).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferFull;

/// The windows a thread holds, oldest first (`reg_window[0..w_saved]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldWindows {
    windows: Vec<HeldWindow>,
}

impl HeldWindows {
    /// `spill_fixup`: hold a window whose spill faulted.
    pub fn hold(&mut self, window: HeldWindow) -> Result<(), BufferFull> {
        if self.windows.len() >= NSWINS {
            return Err(BufferFull);
        }
        self.windows.push(window);
        Ok(())
    }

    /// `w_saved`.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// No window held.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// The windows held, oldest first.
    pub fn windows(&self) -> &[HeldWindow] {
        &self.windows
    }

    /// Drop them all (`set_thread_wsaved(0)`: a frame took them, or exec's `flush_thread`).
    pub fn clear(&mut self) {
        self.windows.clear();
    }
}

impl Kernel {
    /// The second half of `synchronize_user_stack` and the loop of `fault_in_user_windows`:
    /// write each held window to `%sp + 2047`, newest first; those written are held no
    /// more. Returns whether none is left.
    pub fn write_held_windows(&mut self, held: &mut HeldWindows) -> bool {
        let ctx = self.uaccess;
        for i in (0..held.windows.len()).rev() {
            let w = held.windows[i];
            let at = UserAddr(w.sp.wrapping_add(STACK_BIAS));
            if copy_to_user(&mut self.mm, ctx, at, &w.bytes()) == 0 {
                held.windows.remove(i);
            }
        }
        held.windows.is_empty()
    }

    /// `save_rwin_state`: the held windows as `__siginfo_rwin_t` at `at`.
    pub(super) fn save_rwin_state(&mut self, held: &HeldWindows, at: u64) -> KResult<()> {
        let mut b = vec![0u8; RWIN_SIZE as usize];
        b[..4].copy_from_slice(&(held.len() as i32).to_be_bytes());
        for (i, w) in held.windows.iter().enumerate() {
            b[RWIN_WINDOWS + i * 128..][..128].copy_from_slice(&w.bytes());
            b[RWIN_STKPTRS + i * 8..][..8].copy_from_slice(&w.sp.to_be_bytes());
        }
        write_user(&mut self.mm, UaccessCtx::default(), UserAddr(at), &b)
    }

    /// `restore_rwin_state`: take back the windows of the `__siginfo_rwin_t` at `at` (more
    /// than [`NSWINS`], or an unreadable one, is EFAULT), then write them to their stacks;
    /// EFAULT when one still cannot be written, and the thread holds those that could not.
    pub(super) fn restore_rwin_state(&mut self, at: u64, held: &mut HeldWindows) -> KResult<()> {
        let ctx = UaccessCtx::default();
        let head = read_user(&mut self.mm, ctx, UserAddr(at), 4)?;
        let wsaved = i32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
        // The kernel compares the int with NSWINS: a negative count restores nothing.
        if wsaved > NSWINS as i32 {
            return Err(Errno::EFAULT);
        }
        let n = wsaved.max(0) as usize;
        let b = read_user(&mut self.mm, ctx, UserAddr(at), RWIN_SIZE as usize)?;
        held.clear();
        for i in 0..n {
            let regs = std::array::from_fn(|r| be64(&b, RWIN_WINDOWS + i * 128 + r * 8));
            held.windows.push(HeldWindow { sp: be64(&b, RWIN_STKPTRS + i * 8), regs });
        }
        if self.write_held_windows(held) {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::signal::sparc64::tests::kernel_with_stack;

    fn window(sp: u64, base: u64) -> HeldWindow {
        HeldWindow { sp, regs: std::array::from_fn(|i| base + i as u64) }
    }

    #[test]
    fn held_windows_are_written_newest_first_and_those_that_fail_stay() {
        let (mut k, a) = kernel_with_stack();
        let good = a + 0x1000 - STACK_BIAS;
        let mut held = HeldWindows::default();
        held.hold(window(0x10u64.wrapping_sub(STACK_BIAS), 100)).unwrap();
        held.hold(window(good, 200)).unwrap();
        assert!(!k.write_held_windows(&mut held));
        assert_eq!(held.windows(), &[window(0x10u64.wrapping_sub(STACK_BIAS), 100)], "the unwritable one stays");
        let mut b = [0u8; 128];
        k.mm.read_kernel(good + STACK_BIAS, &mut b).unwrap();
        assert_eq!(be64(&b, 0), 200);
        assert_eq!(be64(&b, 120), 215);
        for i in 1..NSWINS {
            held.hold(window(0x10, i as u64)).unwrap();
        }
        assert_eq!(held.hold(window(0x10, 0)), Err(BufferFull));
    }

    #[test]
    fn rwin_state_round_trips_and_a_count_past_nswins_is_refused() {
        let (mut k, a) = kernel_with_stack();
        let at = a + 0x2000;
        let mut held = HeldWindows::default();
        held.hold(window(a + 0x3000 - STACK_BIAS, 7)).unwrap();
        held.hold(window(a + 0x3100 - STACK_BIAS, 9)).unwrap();
        k.save_rwin_state(&held, at).unwrap();
        let mut b = [0u8; RWIN_SIZE as usize];
        k.mm.read_kernel(at, &mut b).unwrap();
        assert_eq!(&b[..4], &2i32.to_be_bytes());
        assert_eq!(be64(&b, 8 + 128), 9, "reg_window[1].locals[0]");
        assert_eq!(be64(&b, 904 + 8), a + 0x3100 - STACK_BIAS, "rwbuf_stkptrs[1]");
        // Back: both are writable now, so none is held and the stacks have them.
        let mut back = HeldWindows::default();
        k.restore_rwin_state(at, &mut back).unwrap();
        assert!(back.is_empty());
        let mut w = [0u8; 8];
        k.mm.read_kernel(a + 0x3000 + 8, &mut w).unwrap();
        assert_eq!(u64::from_be_bytes(w), 8);
        // One the handler pointed nowhere stays held, and sigreturn fails.
        k.mm.write_kernel(at + 904, &0x40u64.to_be_bytes()).unwrap();
        assert_eq!(k.restore_rwin_state(at, &mut back), Err(Errno::EFAULT));
        assert_eq!(back.windows(), &[window(0x40, 7)]);
        k.mm.write_kernel(at, &8i32.to_be_bytes()).unwrap();
        assert_eq!(k.restore_rwin_state(at, &mut back), Err(Errno::EFAULT));
    }
}
