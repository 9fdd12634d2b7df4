//! The fast path of the emulated MTE tag instructions: IRG, GMI, LDG, STG, ST2G and DC GVA in C,
//! without the Rust interrupt hook (Unicorn patch 0010, `build_support/tag_insn.c`).
//!
//! glibc's heap tagging runs millions of tag instructions (measured on the mixed-tag heap
//! benchmark: 1.5 M STG/ST2G, 0.8 M LDG, 0.4 M DC GVA and 0.2 M GMI per run), and each one
//! through the Rust hook (decode, fault handling, tag store, TLB bookkeeping) took 100-200 ns,
//! a quarter of the run. The C function handles them on pages entered in a table
//! ([`TagInsnTable`]) and hands anything else to the hook, which stays the reference:
//! - a page is entered after the Rust path performed a tag instruction on it, and only when
//!   the model says a user access there needs no fault handling
//!   ([`AddressSpace::resident_page_tags`](crate::kernel_stub::mm::AddressSpace::resident_page_tags)):
//!   the C side then writes the tags into the segment's tag storage itself;
//! - the table is emptied whenever the soft TLB is flushed, which every change of mappings,
//!   permissions, residency or segments causes (`Backend::tlb_flushed`), so an entry never
//!   outlives the storage or the facts it was made from;
//! - a tag store keeps the MMIO windows' tag cache equal to the tags, and is left to Rust when
//!   its physical page may be entered in the soft TLB without checks (the table counts those
//!   pages per hash slot, kept by [`mte::tlb_page`](super::mte) and `forget_unchecked`):
//!   dropping those TLB entries is the Rust path's job.
//! - IRG draws from a generator of the machine's own, seeded from the kernel's seed, whose
//!   state is in the table: the C side and the Rust path ([`TagInsnTable::irg_draw`], when
//!   tracing sends IRG there) draw from the same sequence through the same C function. The
//!   thread's GCR_EL1.Exclude is copied in after every kernel entry ([`TagInsnTable::set_exclude`]).
//! - ADDG/SUBG, SUBP, the zeroing stores, STGP and anything unaligned, page-crossing or
//!   faulting stay on the Rust path.

use std::ffi::c_void;

use unicorn_engine::Unicorn;
use unicorn_engine_sys::{uc_engine, uc_error};

use crate::emu::access_hook::TagCache;
use crate::emu::soft_tlb::arm64_offsets as o;
use crate::emu::EmuError;
use crate::kernel_stub::mm::AddressSpace;

/// Entries of the table (one per slot, slots hashed from the virtual page: [`TagInsnTable::slot`]): the C side's `TAGMMU_INSN_PAGES`.
const PAGES: usize = 1024;
/// Hash slots of the unchecked-page counts: the C side's `TAGMMU_UNCHECKED_SLOTS`. One per
/// page of 256 MiB of physical memory, so pages entered unchecked seldom share a slot with a
/// page being retagged (with 4,096, bench_memops' 16 MiB of matching pages filled them all and
/// sent every tag store back to Rust).
const UNCHECKED_SLOTS: usize = 1 << 16;
/// The page size and granules per page the C side works in (`tag_cache.h`).
const PAGE: u64 = TagCache::PAGE;
const PAGE_GRANULES: usize = (TagCache::PAGE / TagCache::GRANULE) as usize;

/// One page the C side may emulate tag instructions on (`struct tagmmu_tag_insn_page`).
#[repr(C)]
#[derive(Clone, Copy)]
struct TagInsnPage {
    /// Untagged virtual page number, or `u64::MAX` for none.
    va_page: u64,
    /// The page's granule tags, in its segment's tag storage.
    tags: *mut u8,
    /// Physical page number.
    pa_page: u64,
    /// Non-zero: the mapping is writable.
    writable: u64,
}

const EMPTY: TagInsnPage = TagInsnPage { va_page: u64::MAX, tags: std::ptr::null_mut(), pa_page: 0, writable: 0 };

/// The C side's state (`struct tagmmu_tag_insns`); boxed inside the engine's data.
#[repr(C)]
pub(super) struct TagInsnTable {
    env_xregs: usize,
    cache: *mut TagCache,
    emulated: u64,
    irg_state: u64,
    irg_exclude: u64,
    unchecked: [u16; UNCHECKED_SLOTS],
    pages: [TagInsnPage; PAGES],
    // Rust only, after everything the C side reads: the slots to empty at the next flush
    // (a flush comes with every mmap; emptying all of both arrays cost 160 KiB of stores).
    used_slots: Vec<u32>,
    used_pages: Vec<u16>,
}

extern "C" {
    fn tagmmu_tag_insn(uc: *mut uc_engine, env: *mut c_void, insn: u32, data: *mut c_void) -> bool;
    fn tagmmu_irg_draw(state: *mut u64, exclude: u16) -> u64;
    /// tagmmu's Unicorn patch 0010.
    fn uc_tagmmu_udef_fast(
        uc: *mut uc_engine,
        f: Option<unsafe extern "C" fn(*mut uc_engine, *mut c_void, u32, *mut c_void) -> bool>,
        data: *mut c_void,
    ) -> uc_error;
}

impl TagInsnTable {
    /// An empty table over the windows' tag cache `cache` (which the C side updates on tag
    /// stores; it must outlive the table's use by the engine), IRG's generator seeded from
    /// `seed`.
    pub(super) fn new(cache: *mut TagCache, seed: u64) -> Box<TagInsnTable> {
        Box::new(TagInsnTable {
            env_xregs: o::ENV_XREGS,
            cache,
            emulated: 0,
            // Apart from the other uses of the seed (the kernel's ChaCha8 stream).
            irg_state: seed ^ 0x4952_4720_7461_6773,
            // Linux's default: no tag allowed (PR_MTE_TAG_MASK 0) until the task says.
            irg_exclude: 0xffff,
            unchecked: [0; UNCHECKED_SLOTS],
            pages: [EMPTY; PAGES],
            used_slots: Vec::new(),
            used_pages: Vec::new(),
        })
    }

    /// The table's slot of virtual page number `vp` (the C side's `page_slot`): Fibonacci
    /// hashing, so that buffers a power of two apart do not share a slot (bench_memops tags
    /// two 8 MiB halves in turn: with `vp % 1024` they evicted each other at every STG).
    fn slot(vp: u64) -> usize {
        (vp.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - PAGES.trailing_zeros())) as usize
    }

    fn unchecked_slot(pa: u64) -> usize {
        ((pa / PAGE) % UNCHECKED_SLOTS as u64) as usize
    }

    /// Physical page `pa` was entered in the soft TLB without checks (`entered`), or no longer
    /// is: tag stores to it must take the Rust path while it may be.
    pub(super) fn note_unchecked(&mut self, pa: u64, entered: bool) {
        // Saturated counts stay: the slot then refuses for good (until the next flush).
        let slot = Self::unchecked_slot(pa);
        let n = &mut self.unchecked[slot];
        if *n == u16::MAX {
            return;
        }
        if entered && *n == 0 {
            self.used_slots.push(slot as u32);
        }
        *n = if entered { n.saturating_add(1) } else { n.saturating_sub(1) };
    }

    /// Enter the page holding the untagged user address `va`, if the model says tag
    /// instructions there need no fault handling (see the module doc).
    pub(super) fn enter(&mut self, mm: &mut AddressSpace, va: u64) {
        if mm.page_size() != PAGE {
            return;
        }
        // Entered already (entries go only at a flush): the C side turned this instruction
        // down for another reason (an unchecked page, an unaligned address...).
        let va_page = va / PAGE;
        if self.pages[Self::slot(va_page)].va_page == va_page {
            return;
        }
        let Some(page) = mm.resident_page_tags(va) else { return };
        if page.tags.len() != PAGE_GRANULES {
            return;
        }
        let index = Self::slot(va_page);
        if self.pages[index].va_page == u64::MAX {
            self.used_pages.push(index as u16);
        }
        self.pages[index] = TagInsnPage {
            va_page,
            tags: page.tags.as_mut_ptr(),
            pa_page: page.pa.0 / PAGE,
            writable: page.writable.into(),
        };
    }

    /// Drop every page and every unchecked count: the soft TLB was flushed.
    pub(super) fn clear(&mut self) {
        for i in self.used_pages.drain(..) {
            self.pages[usize::from(i)] = EMPTY;
        }
        for s in self.used_slots.drain(..) {
            self.unchecked[s as usize] = 0;
        }
    }

    /// The running thread's GCR_EL1.Exclude, for IRG.
    pub(super) fn set_exclude(&mut self, exclude: u16) {
        self.irg_exclude = u64::from(exclude);
    }

    /// IRG's tag for the exclusion mask `exclude` (GCR_EL1's and the instruction's), the
    /// next draw of the machine's generator (the C side's function).
    pub(super) fn irg_draw(&mut self, exclude: u16) -> u8 {
        // SAFETY: the function only steps the state it is given, a live u64.
        unsafe { tagmmu_irg_draw(&mut self.irg_state, exclude) as u8 }
    }

    /// The instructions the C side emulated so far.
    pub(super) fn emulated(&self) -> u64 {
        self.emulated
    }

    /// Let the engine call the C side on every unallocated encoding it offers the interrupt
    /// hook inline (patch 0010).
    ///
    /// # Safety
    /// `table` must stay valid, and its pages' tag pointers valid while entered, for as long
    /// as the engine runs; the engine must be one that calls the interrupt hook inline.
    pub(super) unsafe fn install<D>(uc: &mut Unicorn<D>, table: *mut TagInsnTable) -> Result<(), EmuError> {
        // SAFETY: `uc` is a live engine, not running; the caller keeps `table` valid.
        let err = unsafe { uc_tagmmu_udef_fast(uc.get_handle(), Some(tagmmu_tag_insn), table.cast()) };
        if err != uc_error::OK {
            return Err(EmuError::Unicorn { op: "install the fast tag instructions", err });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `word` through the C side with registers `x` (x[31] is SP) over a table with one
    /// page entered (va page 0x10, pa page 0x99, writable as given) whose tags are `tags`.
    fn run_c(word: u32, x: &mut [u64; 32], tags: &mut [u8; PAGE_GRANULES], writable: bool) -> (bool, u64) {
        let mut cache = TagCache::new();
        let mut t = TagInsnTable::new(&mut *cache, 1);
        t.pages[TagInsnTable::slot(0x10)] =
            TagInsnPage { va_page: 0x10, tags: tags.as_mut_ptr(), pa_page: 0x99, writable: writable.into() };
        // A stand-in CPUARMState: the xregs at their offset.
        let mut env = vec![0u64; o::ENV_XREGS / 8 + 32];
        env[o::ENV_XREGS / 8..].copy_from_slice(x);
        let t_ptr: *mut TagInsnTable = &mut *t;
        // SAFETY: `env` has the xregs at the probed offset (8-aligned); the table and the tags
        // are live for the call.
        let done = unsafe { tagmmu_tag_insn(std::ptr::null_mut(), env.as_mut_ptr().cast(), word, t_ptr.cast()) };
        x.copy_from_slice(&env[o::ENV_XREGS / 8..]);
        (done, t.emulated())
    }

    const VA: u64 = 0x10_000;
    const TAG5: u64 = 5 << 56;

    /// The encodings (from `aarch64-linux-gnu-as -march=armv8.5-a+memtag`) and what they do
    /// to the registers and tags, as `mte::execute` does.
    #[test]
    fn the_c_side_emulates_tag_instructions_on_entered_pages() {
        // stg x0, [x1]: the granule at x1 takes x0's tag.
        let mut tags = [0u8; PAGE_GRANULES];
        let mut x = [0u64; 32];
        x[0] = TAG5;
        x[1] = VA + 0x40;
        assert_eq!(run_c(0xd920_0820, &mut x, &mut tags, true), (true, 1));
        assert_eq!(tags[4], 5);
        assert_eq!(tags.iter().filter(|&&t| t != 0).count(), 1);

        // st2g x0, [x1], #32 (post-index): two granules, then x1 += 32.
        let mut tags = [0u8; PAGE_GRANULES];
        let mut x = [0u64; 32];
        x[0] = TAG5;
        x[1] = VA + 0x100;
        assert!(run_c(0xd9a0_2420, &mut x, &mut tags, true).0, "st2g x0, [x1], #32");
        assert_eq!((tags[16], tags[17], tags[18]), (5, 5, 0));
        assert_eq!(x[1], VA + 0x120);

        // stg x0, [x1, #16]! (pre-index): the granule at x1 + 16, and x1 += 16.
        let mut tags = [0u8; PAGE_GRANULES];
        let mut x = [0u64; 32];
        x[0] = TAG5;
        x[1] = VA;
        assert!(run_c(0xd920_1c20, &mut x, &mut tags, true).0);
        assert_eq!((tags[0], tags[1]), (0, 5));
        assert_eq!(x[1], VA + 16);

        // dc gva, x2: the 64-byte block holding x2.
        let mut tags = [0u8; PAGE_GRANULES];
        let mut x = [0u64; 32];
        x[2] = TAG5 | (VA + 0x85);
        assert!(run_c(0xd50b_7462, &mut x, &mut tags, true).0);
        assert_eq!(&tags[7..13], &[0, 5, 5, 5, 5, 0]);

        // ldg x0, [x1, #-16]: x0's tag bits become the granule's tag, the rest is kept.
        let mut tags = [0u8; PAGE_GRANULES];
        tags[3] = 9;
        let mut x = [0u64; 32];
        x[0] = (3 << 56) | 0x1234;
        x[1] = VA + 0x40;
        assert!(run_c(0xd97f_f020, &mut x, &mut tags, false).0, "a read-only page serves LDG");
        assert_eq!(x[0], (9 << 56) | 0x1234);

        // gmi x0, x1, x2: x2 with the bit of x1's tag.
        let mut x = [0u64; 32];
        x[1] = TAG5 | VA;
        x[2] = 0b1;
        assert!(run_c(0x9ac2_1420, &mut x, &mut [0; PAGE_GRANULES], false).0);
        assert_eq!(x[0], 0b10_0001);
    }

    /// Run `word` through the C side over `t` with registers `x` (x[31] is SP).
    fn run_on(t: &mut TagInsnTable, word: u32, x: &mut [u64; 32]) -> bool {
        let mut env = vec![0u64; o::ENV_XREGS / 8 + 32];
        env[o::ENV_XREGS / 8..].copy_from_slice(x);
        let t_ptr: *mut TagInsnTable = t;
        // SAFETY: as in `run_c`.
        let done = unsafe { tagmmu_tag_insn(std::ptr::null_mut(), env.as_mut_ptr().cast(), word, t_ptr.cast()) };
        x.copy_from_slice(&env[o::ENV_XREGS / 8..]);
        done
    }

    /// IRG in C: Xn's address with a tag neither GCR_EL1.Exclude nor Xm excludes, drawn from
    /// the machine's generator, which the Rust path shares; tag 0 when all are excluded.
    #[test]
    fn irg_draws_allowed_tags_from_the_shared_generator() {
        let mut cache = TagCache::new();
        let mut t = TagInsnTable::new(&mut *cache, 7);
        let mut twin = TagInsnTable::new(&mut *cache, 7);
        // Tags 3 and 9 allowed: GCR excludes all but 3, 9 and 12; x2 excludes 12.
        let exclude = !((1u16 << 3) | (1 << 9) | (1 << 12));
        t.set_exclude(exclude);
        let mut seen = [0u32; 16];
        for _ in 0..200 {
            // irg x0, x1, x2
            let mut x = [0u64; 32];
            x[1] = TAG5 | VA | 0x30;
            x[2] = 1 << 12;
            assert!(run_on(&mut t, 0x9ac2_1020, &mut x), "C emulates IRG");
            let tag = (x[0] >> 56) as usize;
            assert_eq!(x[0] & 0x00ff_ffff_ffff_ffff, VA | 0x30, "the address is Xn's");
            seen[tag] += 1;
            assert_eq!(twin.irg_draw(exclude | (1 << 12)) as usize, tag, "the Rust path draws the same");
        }
        assert!(seen[3] > 50 && seen[9] > 50 && seen[3] + seen[9] == 200, "{seen:?}");
        // irg sp, sp (XZR as Xm): SP is register 31 both ways.
        let mut x = [0u64; 32];
        x[31] = VA | 0x100;
        assert!(run_on(&mut t, 0x9adf_13ff, &mut x));
        assert!([3, 9].contains(&(x[31] >> 56)) && x[31] & 0xfff == 0x100, "{:#x}", x[31]);
        // Every tag excluded (Linux's default mask): tag 0, no draw.
        t.set_exclude(0xffff);
        let mut x = [0u64; 32];
        x[1] = TAG5 | VA;
        assert!(run_on(&mut t, 0x9ac2_1020, &mut x));
        assert_eq!(x[0], VA);
        assert_eq!(
            t.irg_state,
            twin.irg_state.wrapping_add(0x9e37_79b9_7f4a_7c15),
            "one draw ahead of the twin: none for tag 0"
        );
    }

    /// What the C side leaves to the Rust hook changes nothing.
    #[test]
    fn the_c_side_leaves_the_rest_to_the_rust_hook() {
        let cases: [(u32, u64, bool, &str); 7] = [
            (0xd920_0820, VA + 0x2000, true, "stg on a page not entered"),
            (0xd920_0820, VA + 0x40, false, "stg on a read-only page"),
            (0xd920_0820, VA + 0x48, true, "stg unaligned (SIGBUS)"),
            (0xd9a0_0820, VA + 0xff0, true, "st2g across pages"),
            (0xd960_0820, VA + 0x40, true, "stzg (zeroes memory)"),
            (0x6900_0820, VA + 0x40, true, "stgp"),
            (0xd503_201f, VA, true, "nop (not a tag instruction)"),
        ];
        for (word, x1, writable, what) in cases {
            let mut tags = [0u8; PAGE_GRANULES];
            let mut x = [0u64; 32];
            x[0] = TAG5;
            x[1] = x1;
            x[2] = 7;
            let before = x;
            assert_eq!(run_c(word, &mut x, &mut tags, writable), (false, 0), "{what}");
            assert_eq!(x, before, "{what}");
            assert_eq!(tags, [0; PAGE_GRANULES], "{what}");
        }
    }

    /// A tag store keeps the windows' cache equal to the tags, and is left to Rust while its
    /// physical page may be entered in the TLB without checks.
    #[test]
    fn tag_stores_keep_the_cache_and_respect_unchecked_pages() {
        let mut cache = TagCache::new();
        cache.enter(0x99 * PAGE, &[0u8; PAGE_GRANULES]);
        let mut tags = [0u8; PAGE_GRANULES];
        let mut t = TagInsnTable::new(&mut *cache, 1);
        t.pages[TagInsnTable::slot(0x10)] =
            TagInsnPage { va_page: 0x10, tags: tags.as_mut_ptr(), pa_page: 0x99, writable: 1 };
        t.used_pages.push(TagInsnTable::slot(0x10) as u16);
        let mut env = vec![0u64; o::ENV_XREGS / 8 + 32];
        env[o::ENV_XREGS / 8] = TAG5;
        env[o::ENV_XREGS / 8 + 1] = VA + 0x40;
        let t_ptr: *mut TagInsnTable = &mut *t;
        // SAFETY: as in `run_c`.
        let run = |env: &mut Vec<u64>| unsafe {
            tagmmu_tag_insn(std::ptr::null_mut(), env.as_mut_ptr().cast(), 0xd920_0820, t_ptr.cast())
        };
        // SAFETY: the table is live; no call is under way.
        unsafe { (*t_ptr).note_unchecked(0x99 * PAGE, true) };
        assert!(!run(&mut env), "an unchecked page's tags go through Rust");
        // SAFETY: as above.
        unsafe { (*t_ptr).note_unchecked(0x99 * PAGE, false) };
        assert!(run(&mut env));
        assert_eq!(tags[4], 5);
        assert!(cache.holds(0x99 * PAGE));
        assert_eq!(cache.tag_of(0x99 * PAGE + 0x40), Some(5), "the cache follows the store");
        // SAFETY: as above.
        unsafe { (*t_ptr).clear() };
        assert!(!run(&mut env), "a flush empties the table");
    }
}
