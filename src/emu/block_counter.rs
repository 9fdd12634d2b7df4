//! Counting translation blocks without a Rust call per block.
//!
//! Budgets, time slices, timer ticks and deferred errors are all taken at a block boundary,
//! so every block that runs calls a block hook. A Rust closure there (the unicorn-engine
//! crate's proxy, then a panic guard, then the check) measured about a third of busybox gzip's
//! run time (`perf record`, issue 12). The hook is now C (`build_support/block_counter.c`): it
//! adds the block's instructions, records the block, and calls the backend
//! ([`Backend::at_mark`]) only when the count reaches a *mark*: an instruction count (the
//! budget, the earliest event the backend asked for with [`Backend::next_event`]) or a block
//! count (the next look at the wall clock). The run loop re-arms the marks before every start
//! of the CPU, and the backend after each call.

use std::ffi::c_void;

use unicorn_engine::{HookType, Unicorn};
use unicorn_engine_sys::{uc_engine, uc_error, uc_hook};

use crate::emu::backend::Backend;
use crate::emu::guard::catch;
use crate::emu::EmuError;

/// How often (in translation blocks) the wall clock is checked.
pub(crate) const CLOCK_CHECK_BLOCKS: u64 = 4096;

/// Called by the C hook when a mark is reached, with the engine and the guest.
type MarkFn = extern "C" fn(uc: *mut uc_engine, user: *mut c_void);

/// The counters and marks, as the C hook reads and writes them
/// (`struct tagmmu_block_counter`).
#[repr(C)]
pub(crate) struct BlockCounter {
    /// Instructions of the blocks run (a block left early still counts whole).
    instructions: u64,
    /// Blocks run.
    blocks: u64,
    /// Call `at_mark` once `instructions` reaches this.
    insn_mark: u64,
    /// Call `at_mark` once `blocks` reaches this.
    block_mark: u64,
    /// The block running now: its address and size in bytes.
    last_addr: u64,
    last_size: u64,
    at_mark: MarkFn,
    user: *mut c_void,
}

extern "C" fn not_installed(_uc: *mut uc_engine, _user: *mut c_void) {}

extern "C" {
    fn tagmmu_block_hook(uc: *mut uc_engine, addr: u64, size: u32, data: *mut c_void);
}

impl Default for BlockCounter {
    fn default() -> Self {
        BlockCounter {
            instructions: 0,
            blocks: 0,
            insn_mark: u64::MAX,
            block_mark: CLOCK_CHECK_BLOCKS,
            last_addr: 0,
            last_size: 0,
            at_mark: not_installed,
            user: std::ptr::null_mut(),
        }
    }
}

impl BlockCounter {
    /// Instructions run so far.
    pub(crate) fn instructions(&self) -> u64 {
        self.instructions
    }
    /// Blocks run so far.
    pub(crate) fn blocks(&self) -> u64 {
        self.blocks
    }
    /// The block running now (address, size in bytes).
    pub(crate) fn current_block(&self) -> (u64, u64) {
        (self.last_addr, self.last_size)
    }
    /// Call the backend at the first block at which the instruction count is `at` or more
    /// (an earlier mark is replaced).
    pub(crate) fn set_insn_mark(&mut self, at: u64) {
        self.insn_mark = at;
    }
    /// Call the backend at the next block whatever the count.
    pub(crate) fn mark_next_block(&mut self) {
        self.insn_mark = 0;
    }
    /// Run the C hook once, as for a block at `addr` of `size` bytes.
    #[cfg(test)]
    pub(crate) fn run_block(&mut self, addr: u64, size: u32) {
        // SAFETY: the hook reads and writes only the counter, and calls `at_mark` with `user`
        // (the test's own), never the engine (null here).
        unsafe { tagmmu_block_hook(std::ptr::null_mut(), addr, size, (self as *mut BlockCounter).cast()) }
    }
    /// Whether the block mark (the clock check) is reached; if so, set the next one.
    pub(crate) fn take_block_mark(&mut self) -> bool {
        if self.blocks < self.block_mark {
            return false;
        }
        self.block_mark = self.blocks + CLOCK_CHECK_BLOCKS;
        true
    }
}

/// The C hook's entry into the backend: `user` is the engine's guest `G`.
extern "C" fn at_mark<G: Backend>(uc: *mut uc_engine, user: *mut c_void) {
    // SAFETY: `user` is the guest inside the engine's data (a heap allocation that lives as
    // long as the engine, see `install`); hooks run one at a time on this thread and no other
    // reference to the guest is used while this one lives.
    let g = unsafe { &mut *user.cast::<G>() };
    let stop = match catch(|| g.at_mark()) {
        Ok(stop) => stop,
        Err(m) => {
            let run = g.run();
            if run.error.is_none() {
                run.error = Some(EmuError::Internal(format!("panic in block hook: {m}")));
            }
            true
        }
    };
    if stop {
        // SAFETY: `uc` is the engine calling the hook.
        unsafe { unicorn_engine_sys::uc_emu_stop(uc) };
    }
}

/// Install the counting block hook on `uc`, whose guest's [`Backend::run`] state holds the
/// counter.
pub(crate) fn install<G: Backend>(uc: &mut Unicorn<G>) -> Result<(), EmuError> {
    let guest: *mut G = uc.get_data_mut();
    let counter: *mut BlockCounter = {
        let c = uc.get_data_mut().run().counter_mut();
        c.at_mark = at_mark::<G>;
        c.user = guest.cast();
        c
    };
    let mut hh: uc_hook = 0;
    // SAFETY: `tagmmu_block_hook` has the signature of uc_cb_hookcode_t; its data is the boxed
    // counter inside the guest's run state, which lives as long as the engine and does not
    // move (the box is never replaced).
    let err = unsafe {
        unicorn_engine_sys::uc_hook_add(
            uc.get_handle(),
            &mut hh,
            HookType::BLOCK.0 as i32,
            tagmmu_block_hook as *mut c_void,
            counter.cast(),
            1u64,
            0u64,
        )
    };
    if err != uc_error::OK {
        return Err(EmuError::Unicorn { op: "add block hook", err });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_mark_moves_on_when_taken() {
        let mut c = BlockCounter::default();
        assert!(!c.take_block_mark());
        c.blocks = CLOCK_CHECK_BLOCKS;
        assert!(c.take_block_mark());
        assert!(!c.take_block_mark());
        assert_eq!(c.block_mark, 2 * CLOCK_CHECK_BLOCKS);
    }

    extern "C" fn count_calls(_uc: *mut uc_engine, user: *mut c_void) {
        // SAFETY: the test passes a `u32` it owns.
        unsafe { *user.cast::<u32>() += 1 };
    }

    #[test]
    fn the_c_hook_counts_and_calls_at_the_marks() {
        let calls = Box::into_raw(Box::new(0u32));
        let mut c = BlockCounter { at_mark: count_calls, user: calls.cast(), ..Default::default() };
        // SAFETY: `calls` is a live box until the end of the test.
        let calls_now = || unsafe { *calls };
        c.set_insn_mark(10);
        c.run_block(0x1000, 16);
        c.run_block(0x2000, 16);
        assert_eq!((c.instructions(), c.blocks(), c.current_block()), (8, 2, (0x2000, 16)));
        assert_eq!(calls_now(), 0);
        c.run_block(0x3000, 8);
        assert_eq!(calls_now(), 1, "the instruction mark");
        c.set_insn_mark(u64::MAX);
        c.mark_next_block();
        c.run_block(0x3000, 8);
        assert_eq!(calls_now(), 2, "marked for the next block");
        c.set_insn_mark(u64::MAX);
        c.blocks = CLOCK_CHECK_BLOCKS - 1;
        c.run_block(0x3000, 8);
        assert_eq!(calls_now(), 3, "the clock's block mark");
        // SAFETY: made by Box::into_raw above, no longer used by the counter.
        drop(unsafe { Box::from_raw(calls) });
    }
}
