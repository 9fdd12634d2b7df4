//! Counting translation blocks in the generated code.
//!
//! Budgets, time slices, timer ticks and deferred errors are all taken at a block boundary.
//! A Rust block hook (the unicorn-engine crate's proxy, a panic guard, the check) measured
//! about a third of busybox gzip's run time (`perf record`, issue 12); a C hook called from
//! every block still cost about a quarter (measured with the hook left out). Now each
//! translated block updates the counter itself, inline (tagmmu's Unicorn patch 0005,
//! `uc_tagmmu_set_block_counter`): it adds its instructions, records itself, and calls out
//! (`build_support/block_counter.c`, then [`Backend::at_mark`]) only when the count reaches
//! a *mark*: an instruction count (the budget, the earliest event the backend asked for
//! with [`Backend::next_event`]) or a block count (the next look at the wall clock). The
//! run loop re-arms the marks before every start of the CPU, and the backend after each
//! call. A mark that stops the CPU stops it before the block runs.

use std::ffi::c_void;

use unicorn_engine::Unicorn;
use unicorn_engine_sys::{uc_engine, uc_error};

use crate::emu::backend::Backend;
use crate::emu::guard::catch;
use crate::emu::EmuError;

/// How often (in translation blocks) the wall clock is checked.
pub(crate) const CLOCK_CHECK_BLOCKS: u64 = 4096;

/// Called when a mark is reached, with the engine and the guest.
type MarkFn = extern "C" fn(uc: *mut uc_engine, user: *mut c_void);

/// The counters and marks, as the generated code reads and writes them (the first six
/// fields are Unicorn's `struct uc_tagmmu_block_counter`; all of it is
/// `struct tagmmu_block_counter` in `build_support/block_counter.c`).
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

/// The mark function's signature (Unicorn's `uc_cb_hookcode_t`).
type HookCodeFn = unsafe extern "C" fn(uc: *mut uc_engine, addr: u64, size: u32, data: *mut c_void);

extern "C" {
    /// `build_support/block_counter.c`: calls the counter's `at_mark`.
    fn tagmmu_block_mark(uc: *mut uc_engine, addr: u64, size: u32, data: *mut c_void);
    /// tagmmu's Unicorn patch 0005.
    fn uc_tagmmu_set_block_counter(uc: *mut uc_engine, counter: *mut BlockCounter, mark: HookCodeFn) -> uc_error;
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
    /// Count a block as the generated code does (without calling out at a mark): for tests
    /// of what reads the counter.
    #[cfg(test)]
    pub(crate) fn count_block(&mut self, addr: u64, size: u64) {
        self.instructions += size / 4;
        self.blocks += 1;
        (self.last_addr, self.last_size) = (addr, size);
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

/// The entry into the backend at a mark: `user` is the engine's guest `G`.
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

/// Have `uc`'s generated code count blocks into the counter its guest's [`Backend::run`]
/// state holds.
pub(crate) fn install<G: Backend>(uc: &mut Unicorn<G>) -> Result<(), EmuError> {
    let guest: *mut G = uc.get_data_mut();
    let counter: *mut BlockCounter = {
        let c = uc.get_data_mut().run().counter_mut();
        c.at_mark = at_mark::<G>;
        c.user = guest.cast();
        c
    };
    // SAFETY: the counter is boxed inside the guest's run state, which lives as long as the
    // engine and does not move (the box is never replaced); it begins with the fields the
    // generated code updates; `tagmmu_block_mark` has the signature of uc_cb_hookcode_t.
    let err = unsafe { uc_tagmmu_set_block_counter(uc.get_handle(), counter, tagmmu_block_mark) };
    if err != uc_error::OK {
        return Err(EmuError::Unicorn { op: "set block counter", err });
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

    /// What a test's mark function sees: the calls, and whether the first one stops.
    struct Marks {
        calls: u32,
        stop_at_first: bool,
    }

    extern "C" fn count_marks(uc: *mut uc_engine, user: *mut c_void) {
        // SAFETY: the test passes a `Marks` it owns for the whole run.
        let m = unsafe { &mut *user.cast::<Marks>() };
        m.calls += 1;
        if m.stop_at_first && m.calls == 1 {
            // SAFETY: `uc` is the engine running the test's code.
            unsafe { unicorn_engine_sys::uc_emu_stop(uc) };
        }
    }

    /// Run the loop `mov x0, #0; 1: add x0, x0, #1; cmp x0, #10; b.ne 1b` (at 0x1000, up to
    /// 0x1010) with the counter's marks at `insn_mark` and `block_mark`. Its blocks: one of 4
    /// instructions (0x1000), then 9 of 3 (0x1004): 31 instructions in 10 blocks.
    fn run_loop(insn_mark: u64, block_mark: u64, stop_at_first: bool) -> (BlockCounter, Marks, u64, u64) {
        use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
        use unicorn_engine::RegisterARM64;
        let mut marks = Marks { calls: 0, stop_at_first };
        let mut c = Box::new(BlockCounter {
            insn_mark,
            block_mark,
            at_mark: count_marks,
            user: (&mut marks as *mut Marks).cast(),
            ..Default::default()
        });
        let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).unwrap();
        uc.mem_map(0x1000, 0x1000, Prot::ALL).unwrap();
        let code: [u32; 4] = [0xd280_0000, 0x9100_0400, 0xf100_281f, 0x54ff_ffc1];
        let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
        uc.mem_write(0x1000, &bytes).unwrap();
        // SAFETY: `c` is boxed and outlives the engine (dropped after it, below).
        let err = unsafe { uc_tagmmu_set_block_counter(uc.get_handle(), &mut *c, tagmmu_block_mark) };
        assert_eq!(err, uc_error::OK);
        uc.emu_start(0x1000, 0x1010, 0, 0).unwrap();
        let (x0, pc) = (uc.reg_read(RegisterARM64::X0).unwrap(), uc.reg_read(RegisterARM64::PC).unwrap());
        drop(uc);
        (*c, marks, x0, pc)
    }

    #[test]
    fn the_generated_code_counts_blocks_and_calls_at_the_marks() {
        let (c, m, x0, pc) = run_loop(u64::MAX, u64::MAX, false);
        assert_eq!((c.instructions(), c.blocks(), c.current_block()), (31, 10, (0x1004, 12)));
        assert_eq!((m.calls, x0, pc), (0, 10, 0x1010));
        // The instruction mark: the blocks ending at 22, 25, 28 and 31 instructions.
        assert_eq!(run_loop(20, u64::MAX, false).1.calls, 4);
        // The block mark: blocks 5 to 10.
        assert_eq!(run_loop(u64::MAX, 5, false).1.calls, 6);
    }

    #[test]
    fn a_mark_that_stops_the_cpu_stops_it_before_the_block_runs() {
        // The 7th block (x0 = 6 before it) reaches 22 instructions: it is counted, not run.
        let (c, m, x0, pc) = run_loop(20, u64::MAX, true);
        assert_eq!((c.instructions(), c.blocks(), m.calls), (22, 7, 1));
        assert_eq!((x0, pc), (6, 0x1004));
    }
}
