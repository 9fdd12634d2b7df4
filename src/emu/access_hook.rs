//! Tag checks that abandon an access precisely: a memory hook, a SYS-instruction hook and
//! MMIO windows whose callbacks are C.
//!
//! A tag check fault must leave the faulting load or store unperformed and the PC on it, with
//! nothing after it executed. A Rust hook can only return "go on": stopping the engine there
//! (`uc_emu_stop`) still performs the access. QEMU's `cpu_loop_exit` (or
//! `cpu_loop_exit_restore`, which first restores the instruction's state) leaves the helper
//! before it does, with a `siglongjmp` back into the CPU loop. That jump must not cross Rust
//! frames, so what Unicorn calls is a small C function (`build_support/tag_check_hook.c`): it
//! calls the Rust check, and jumps only after the check has returned. The checks never unwind
//! (panics are caught and become the run's error, with the access abandoned so the run stops).
//!
//! Three forms:
//! - a memory hook on a physical range (SPARC ADI's alias windows): Unicorn restores the
//!   instruction's state before calling it;
//! - a SYS-instruction hook (DC ZVA on arm64): Unicorn stores the PC before calling it;
//! - MMIO windows (arm64 MTE's alias windows): the callbacks check, then perform the access on
//!   the guest memory behind the window themselves. Unlike any memory hook, MMIO costs nothing
//!   for accesses elsewhere: Unicorn's translator drops its inline TLB fast path for *every*
//!   access as soon as one MEM_READ/MEM_WRITE hook exists, while an MMIO page only diverts the
//!   accesses that reach it. QEMU records the host address of the access (`mem_io_pc`), from
//!   which the instruction's state is restored when needed. The windows are also *direct*
//!   (Unicorn patch 0007, `uc_tagmmu_direct_window`): an access within one page that the TLB
//!   sends to one, misaligned or not, calls the same check (`tagmmu_window_check`) for the
//!   whole access and is then performed by QEMU's own load or store on the memory behind the
//!   window, without QEMU's memory dispatch. Only an access across two pages is split into
//!   pieces, each checked as below. The callbacks still serve what the direct path leaves to
//!   them (any access while a memory hook exists).
//!
//! (Before this, a fault took the alias region's permissions away from inside the hook so that
//! Unicorn's own permission re-check abandoned the access. That needs one Unicorn region per
//! tag-checked segment; with all guest memory in one region, changing a sub-range's
//! permissions splits the region, which costs a TLB flush per page of the whole region.)

use std::ffi::{c_int, c_void};

use unicorn_engine::{HookType, Unicorn};
use unicorn_engine_sys::{uc_engine, uc_error, uc_hook};

use crate::emu::sparc64::cpu::offsets;
use crate::emu::EmuError;

/// A check: given the engine, the user data, the access type (a `uc_mem_type`; 0 for a SYS
/// instruction), the address (for a SYS instruction: its `uc_arm64_cp_reg`) and the size, non-zero
/// to abandon. Must not unwind (wrap the body in `guard::catch`).
pub(crate) type Check =
    extern "C" fn(uc: *mut uc_engine, user: *mut c_void, ty: c_int, addr: u64, size: c_int) -> c_int;

/// The hook's data, as the C side reads it (`struct tagmmu_check_hook`).
#[repr(C)]
pub(crate) struct RawHook {
    check: Check,
    user: *mut c_void,
    uc_cpu_offset: usize,
    cpu_mem_io_pc_offset: usize,
    loop_exit: unsafe extern "C" fn(cpu: *mut c_void),
    loop_exit_restore: unsafe extern "C" fn(cpu: *mut c_void, host_pc: usize),
    restore_state: unsafe extern "C" fn(cpu: *mut c_void, host_pc: usize, will_exit: bool) -> bool,
    host: *mut u8,
    base: u64,
    uc_memory_mapping_offset: usize,
    uc_size_recur_mem_offset: usize,
    mr_ops_offset: usize,
    ops_impl_max_offset: usize,
    cache: *const TagCache,
    phys_base: u64,
    tag: u64,
    direct: u64,
    dispatched: u64,
    split_pieces: u64,
}

/// Pages held by a [`TagCache`].
const CACHE_PAGES: usize = 1024;
/// The page and granule sizes the cache is laid out for (arm64 MTE: 4 KiB pages, 16-byte
/// granules; `build_support/tag_check_hook.c` has the same).
const PAGE_SHIFT: u32 = 12;
const GRANULE_SHIFT: u32 = 4;
const PAGE_GRANULES: usize = 1 << (PAGE_SHIFT - GRANULE_SHIFT);

/// Granule tags of recently checked pages, which the MMIO windows' C callbacks read to let a
/// matching access through without calling the Rust check (`struct tagmmu_tag_cache`), and
/// which the tag instructions' C fast path keeps equal to the tags (`emu::arm64::tag_insn`).
///
/// A page is entered after the Rust check let an access to it through, and must be dropped
/// whenever a tag of it may change other than through the C fast path: exactly when a page
/// entered without checks must be (a retag drops its pages, anything else flushes the TLB
/// and drops all), so the backend drops both at the same places. Measured on the mixed-tag
/// heap benchmark (issue 12): most checked accesses hit the cache. It holds 1,024 pages
/// (4 MiB of guest memory in 264 KiB): with 64, the benchmark's heap of about 700 pages
/// thrashed it, and the run took 1.12 s instead of 1.05 s. The page numbers are kept apart
/// from the tags, so the 8 KiB every check reads stay in the host's caches.
#[repr(C)]
pub(crate) struct TagCache {
    /// Per slot: the physical page number held, or `u64::MAX` for none.
    page: [u64; CACHE_PAGES],
    /// Per slot: the page's granule tags.
    tags: [[u8; PAGE_GRANULES]; CACHE_PAGES],
}

impl TagCache {
    /// An empty cache, boxed (the C side holds its address).
    pub(crate) fn new() -> Box<TagCache> {
        Box::new(TagCache { page: [u64::MAX; CACHE_PAGES], tags: [[0; PAGE_GRANULES]; CACHE_PAGES] })
    }
    fn slot(page: u64) -> usize {
        (page % CACHE_PAGES as u64) as usize
    }
    /// Whether the page holding physical address `pa` is cached.
    pub(crate) fn holds(&self, pa: u64) -> bool {
        let page = pa >> PAGE_SHIFT;
        self.page[Self::slot(page)] == page
    }
    /// Cache the page holding physical address `pa`, with its granule tags (one per granule
    /// of the page; anything else is not entered).
    pub(crate) fn enter(&mut self, pa: u64, tags: &[u8]) {
        if tags.len() != PAGE_GRANULES {
            return;
        }
        let page = pa >> PAGE_SHIFT;
        let slot = Self::slot(page);
        self.page[slot] = page;
        self.tags[slot].copy_from_slice(tags);
    }
    /// Drop the page holding physical address `pa`.
    pub(crate) fn forget(&mut self, pa: u64) {
        let page = pa >> PAGE_SHIFT;
        let slot = Self::slot(page);
        if self.page[slot] == page {
            self.page[slot] = u64::MAX;
        }
    }
    /// The cached tag of the granule holding physical address `pa`, if its page is cached.
    #[cfg(test)]
    pub(crate) fn tag_of(&self, pa: u64) -> Option<u8> {
        let slot = Self::slot(pa >> PAGE_SHIFT);
        self.holds(pa).then(|| self.tags[slot][((pa & (Self::PAGE - 1)) >> GRANULE_SHIFT) as usize])
    }
    /// Drop every page.
    pub(crate) fn clear(&mut self) {
        self.page.fill(u64::MAX);
    }
    /// The page size the cache works in.
    pub(crate) const PAGE: u64 = 1 << PAGE_SHIFT;
    /// The granule size.
    pub(crate) const GRANULE: u64 = 1 << GRANULE_SHIFT;
}

/// The fast path of MTE windows: the cache and the physical address of the memory behind
/// offset 0 of the windows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastPath {
    pub cache: *const TagCache,
    pub phys_base: u64,
}

extern "C" {
    fn tagmmu_check_hook(uc: *mut uc_engine, ty: c_int, addr: u64, size: c_int, value: i64, data: *mut c_void) -> bool;
    fn tagmmu_sys_hook(uc: *mut uc_engine, reg: c_int, cp: *const c_void, data: *mut c_void) -> u32;
    fn tagmmu_mmio_read(uc: *mut uc_engine, offset: u64, size: u32, data: *mut c_void) -> u64;
    fn tagmmu_mmio_write(uc: *mut uc_engine, offset: u64, size: u32, value: u64, data: *mut c_void);
    fn tagmmu_mmio_sync_pc(uc: *mut uc_engine, data: *const RawHook);
    fn tagmmu_widen_mmio(uc: *mut uc_engine, data: *const RawHook, addr: u64) -> c_int;
    fn tagmmu_io_retaddr(uc: *mut uc_engine, data: *const RawHook) -> usize;
    fn tagmmu_window_check(uc: *mut uc_engine, offset: u64, size: u32, store: bool, data: *mut c_void);
    /// Unicorn patch 0007 (`build_support/unicorn/`).
    fn uc_tagmmu_direct_window(
        uc: *mut uc_engine,
        address: u64,
        host: *mut c_void,
        check: unsafe extern "C" fn(*mut uc_engine, u64, u32, bool, *mut c_void),
        data: *mut c_void,
    ) -> uc_error;
    fn tagmmu_window_fast(
        data: *mut c_void,
        offset: u64,
        tags: *mut *const u8,
        slot: *mut *const u64,
        page_tag: *mut u64,
    );
    /// Unicorn patch 0013.
    fn uc_tagmmu_inline_window_checks(
        uc: *mut uc_engine,
        fast: Option<unsafe extern "C" fn(*mut c_void, u64, *mut *const u8, *mut *const u64, *mut u64)>,
    ) -> uc_error;
    fn uc_tagmmu_inline_window_check_count(uc: *mut uc_engine) -> u64;
    /// Unicorn patch 0013: the virtual address of the access the load or store helper serves.
    pub(crate) fn uc_tagmmu_access_va(uc: *mut uc_engine) -> u64;
    fn cpu_loop_exit_aarch64(cpu: *mut c_void);
    fn cpu_loop_exit_sparc64(cpu: *mut c_void);
    fn cpu_loop_exit_restore_aarch64(cpu: *mut c_void, host_pc: usize);
    fn cpu_loop_exit_restore_sparc64(cpu: *mut c_void, host_pc: usize);
    fn cpu_restore_state_aarch64(cpu: *mut c_void, host_pc: usize, will_exit: bool) -> bool;
    fn cpu_restore_state_sparc64(cpu: *mut c_void, host_pc: usize, will_exit: bool) -> bool;
}

/// Which target's QEMU functions the engine needs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Arm64,
    Sparc64,
}

/// What a check decided about one access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let the access happen.
    Allow,
    /// Do not perform it; stop the engine with the PC on the accessing instruction.
    Abandon,
}

impl Verdict {
    /// As the C side wants it.
    pub(crate) fn code(self) -> c_int {
        match self {
            Verdict::Allow => 0,
            Verdict::Abandon => 1,
        }
    }
}

/// Installed hooks or windows. Owns the data the C side reads; keep it as long as the engine
/// (drop it only after the engine is closed, or never).
pub(crate) struct PreciseHook {
    // Boxed: the C side holds each one's address, which must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    raw: Vec<Box<RawHook>>,
}

impl PreciseHook {
    /// Give the CPU the state of the instruction whose MMIO access is being served, so the PC
    /// can be read (only from inside an MMIO check).
    pub(crate) fn sync_pc(uc: *mut uc_engine, raw: *const RawHook) {
        if raw.is_null() {
            return;
        }
        // SAFETY: `uc` is the engine serving the access; `raw` is a window's data, alive as
        // long as the engine. QEMU set `mem_io_pc` for this access.
        unsafe { tagmmu_mmio_sync_pc(uc, raw) }
    }
    /// The host return address of the MMIO access being served (only from inside an MMIO
    /// check): the pieces of one split access share it.
    pub(crate) fn io_retaddr(uc: *mut uc_engine, raw: *const RawHook) -> usize {
        if raw.is_null() {
            return 0;
        }
        // SAFETY: as for `sync_pc`; this only reads the CPU's `mem_io_pc`.
        unsafe { tagmmu_io_retaddr(uc, raw) }
    }
    /// Accesses to these windows so far: those checked on the direct path (Unicorn patch 0007),
    /// those the MMIO callbacks served, and the pieces of split accesses among both.
    pub(crate) fn window_accesses(&self) -> [u64; 3] {
        self.raw.iter().fold([0; 3], |[d, m, s], r| [d + r.direct, m + r.dispatched, s + r.split_pieces])
    }
    /// The C data of the first hook or window (for [`PreciseHook::sync_pc`]).
    pub(crate) fn data(&self) -> *const RawHook {
        self.raw.first().map_or(std::ptr::null(), |r| &**r as *const RawHook)
    }
}

fn raw(target: Target, check: Check, user: *mut c_void, host: *mut u8, base: u64) -> Box<RawHook> {
    raw_with(target, check, user, host, base, None, 0)
}

fn raw_with(
    target: Target,
    check: Check,
    user: *mut c_void,
    host: *mut u8,
    base: u64,
    fast: Option<FastPath>,
    tag: u8,
) -> Box<RawHook> {
    let (loop_exit, loop_exit_restore, restore_state): (
        unsafe extern "C" fn(*mut c_void),
        unsafe extern "C" fn(*mut c_void, usize),
        unsafe extern "C" fn(*mut c_void, usize, bool) -> bool,
    ) = match target {
        Target::Arm64 => (cpu_loop_exit_aarch64, cpu_loop_exit_restore_aarch64, cpu_restore_state_aarch64),
        Target::Sparc64 => (cpu_loop_exit_sparc64, cpu_loop_exit_restore_sparc64, cpu_restore_state_sparc64),
    };
    // `UC_CPU` and `CPU_MEM_IO_PC` are offsets in `struct uc_struct` and `CPUState`, which are
    // the same for every target of the build (the probe compiles against one of them).
    Box::new(RawHook {
        check,
        user,
        uc_cpu_offset: offsets::UC_CPU,
        cpu_mem_io_pc_offset: offsets::CPU_MEM_IO_PC,
        loop_exit,
        loop_exit_restore,
        restore_state,
        host,
        base,
        uc_memory_mapping_offset: offsets::UC_MEMORY_MAPPING,
        uc_size_recur_mem_offset: offsets::UC_SIZE_RECUR_MEM,
        mr_ops_offset: offsets::MR_OPS,
        ops_impl_max_offset: offsets::OPS_IMPL_MAX_ACCESS_SIZE,
        cache: fast.map_or(std::ptr::null(), |f| f.cache),
        phys_base: fast.map_or(0, |f| f.phys_base),
        tag: tag as u64,
        direct: 0,
        dispatched: 0,
        split_pieces: 0,
    })
}

/// Install `check` as a MEM_READ|MEM_WRITE hook on physical `[begin, end]` of `uc`, with
/// `user` as its data. `user` must stay valid as long as the engine (the engine's own guest
/// data is).
pub(crate) fn install<D>(
    uc: &mut Unicorn<D>,
    target: Target,
    begin: u64,
    end: u64,
    check: Check,
    user: *mut c_void,
) -> Result<PreciseHook, EmuError> {
    let mut raw = raw(target, check, user, std::ptr::null_mut(), 0);
    let data: *mut RawHook = &mut *raw;
    let mut hh: uc_hook = 0;
    // SAFETY: `tagmmu_check_hook` has the signature of uc_cb_hookmem_t; its data is the boxed
    // `RawHook`, whose address does not change when the box moves and which the returned
    // `PreciseHook` keeps alive (the caller keeps that as long as the engine).
    let err = unsafe {
        unicorn_engine_sys::uc_hook_add(
            uc.get_handle(),
            &mut hh,
            (HookType::MEM_READ | HookType::MEM_WRITE).0 as i32,
            tagmmu_check_hook as *mut c_void,
            data.cast(),
            begin,
            end,
        )
    };
    if err != uc_error::OK {
        return Err(EmuError::Unicorn { op: "add tag check hook", err });
    }
    Ok(PreciseHook { raw: vec![raw] })
}

/// Install `check` as the arm64 SYS-instruction hook; it receives the instruction's
/// `uc_arm64_cp_reg` as its address. Non-zero: the instruction is abandoned with the PC on it.
pub(crate) fn install_sys<D>(uc: &mut Unicorn<D>, check: Check, user: *mut c_void) -> Result<PreciseHook, EmuError> {
    let mut raw = raw(Target::Arm64, check, user, std::ptr::null_mut(), 0);
    let data: *mut RawHook = &mut *raw;
    let mut hh: uc_hook = 0;
    // SAFETY: `tagmmu_sys_hook` has the signature of uc_cb_insn_sys_t (returning uint32_t);
    // its data is the boxed `RawHook`, kept alive as for `install`.
    let err = unsafe {
        unicorn_engine_sys::uc_hook_add(
            uc.get_handle(),
            &mut hh,
            HookType::INSN.0 as i32,
            tagmmu_sys_hook as *mut c_void,
            data.cast(),
            1,
            0,
            unicorn_engine_sys::Arm64Insn::UC_ARM64_INS_SYS as i32,
        )
    };
    if err != uc_error::OK {
        return Err(EmuError::Unicorn { op: "add SYS hook", err });
    }
    Ok(PreciseHook { raw: vec![raw] })
}

/// Map an MMIO window of `len` bytes at each address of `windows` (with the pointer tag the
/// window stands for), all backed by the host memory at `host`: every access is checked by
/// `check` (which receives the window's physical
/// address of the access, and as its size the piece's size with, in bits 8 and up, the size
/// of the whole access when Unicorn split a misaligned one into pieces: bytes for a store,
/// the two aligned words around it for a load) and then performed on `host + offset`. With
/// `fast`, an access the cache shows to match is performed without calling `check`. Inside
/// the check, [`PreciseHook::sync_pc`] with [`PreciseHook::data`] makes the PC readable. The
/// windows take accesses of up to 8 bytes whole (Unicorn's default would split them in 4s).
///
/// # Safety
/// `host` must stay valid for `len` bytes as long as the engine, and `user` and `fast`'s
/// cache too.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn map_mmio<D>(
    uc: &mut Unicorn<D>,
    target: Target,
    windows: impl Iterator<Item = (u64, u8)>,
    len: u64,
    host: *mut u8,
    check: Check,
    user: *mut c_void,
    fast: Option<FastPath>,
) -> Result<PreciseHook, EmuError> {
    let mut held = Vec::new();
    for (base, tag) in windows {
        let mut raw = raw_with(target, check, user, host, base, fast, tag);
        let data: *mut RawHook = &mut *raw;
        // SAFETY: the callbacks have the signatures of uc_cb_mmio_read_t / uc_cb_mmio_write_t;
        // their data is the boxed `RawHook`, kept alive by the returned value; they touch
        // `host + offset` for offsets below `len`, which the caller guarantees valid.
        let err = unsafe {
            unicorn_engine_sys::uc_mmio_map(
                uc.get_handle(),
                base,
                len,
                Some(tagmmu_mmio_read),
                data.cast(),
                Some(tagmmu_mmio_write),
                data.cast(),
            )
        };
        if err != uc_error::OK {
            return Err(EmuError::Unicorn { op: "map a tag-checked window", err });
        }
        // SAFETY: the window was just mapped at `base`; this sets its (Unicorn-owned, heap)
        // ops' impl.max_access_size through build-time offsets.
        if unsafe { tagmmu_widen_mmio(uc.get_handle(), data, base) } != 0 {
            return Err(EmuError::Internal(format!("cannot find the tag-checked window at {base:#x}")));
        }
        // SAFETY: the window was just mapped at `base`, over `len` bytes of `host` (valid as
        // long as the engine, per the contract); the check's data is the boxed `RawHook`, kept
        // alive by the returned value. The check is the MMIO callbacks' own, without the copy.
        let err =
            unsafe { uc_tagmmu_direct_window(uc.get_handle(), base, host.cast(), tagmmu_window_check, data.cast()) };
        if err != uc_error::OK {
            return Err(EmuError::Unicorn { op: "make a tag-checked window direct", err });
        }
        held.push(raw);
    }
    Ok(PreciseHook { raw: held })
}

/// Check accesses to the direct windows inline, in the slow path of the generated code
/// (Unicorn patch 0013, arm64 only): an access within one granule whose tag is the window's,
/// on a page the windows' tag cache holds, no longer calls QEMU's load or store helper and the
/// window's check ([`FastPath`]): together they were about two fifths of the tagged heap
/// benchmark. What the inline code does not pass takes the helper and the check as before, so
/// faults stay precise. Call before the engine runs: translations made earlier lack the code.
pub(crate) fn inline_window_checks<D>(uc: &mut Unicorn<D>) -> Result<(), EmuError> {
    // SAFETY: `uc` is a live AArch64 engine, not running; `tagmmu_window_fast` has the
    // callback's signature and is given the windows' own check data (a `RawHook`, whose cache
    // pointer the engine's data keeps alive as long as the windows).
    let err = unsafe { uc_tagmmu_inline_window_checks(uc.get_handle(), Some(tagmmu_window_fast)) };
    if err != uc_error::OK {
        return Err(EmuError::Unicorn { op: "check tag-checked windows inline", err });
    }
    Ok(())
}

/// How many window accesses the inline checks ([`inline_window_checks`]) have passed.
pub(crate) fn inline_window_check_count<D>(uc: &mut Unicorn<D>) -> u64 {
    // SAFETY: `uc` is a live engine; the call only reads a counter.
    unsafe { uc_tagmmu_inline_window_check_count(uc.get_handle()) }
}

/// Is a hook's access type a store?
pub(crate) fn is_store(ty: c_int) -> bool {
    ty == unicorn_engine_sys::MemType::WRITE as c_int
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Counts the calls of the Rust check in the `u32` at `user`; never abandons.
    pub(crate) extern "C" fn counting_check(
        _uc: *mut uc_engine,
        user: *mut c_void,
        _ty: c_int,
        _addr: u64,
        _size: c_int,
    ) -> c_int {
        // SAFETY: the test passes a live `u32`.
        unsafe { *user.cast::<u32>() += 1 };
        0
    }

    /// The MMIO callbacks' fast path, driven directly: a fake engine (zeroed, so no access is
    /// a split one), a window of tag 3 over a two-page buffer at physical 0x10_0000.
    #[test]
    fn the_windows_let_cached_matching_accesses_through_without_the_rust_check() {
        let calls = Box::into_raw(Box::new(0u32));
        let mut cache = TagCache::new();
        let mut memory = vec![0u8; 2 * TagCache::PAGE as usize];
        let mut fake_uc = vec![0u8; offsets::UC_SIZE_RECUR_MEM + 64];
        let uc: *mut uc_engine = fake_uc.as_mut_ptr().cast();
        let phys = 0x10_0000u64;
        let fast = FastPath { cache: &*cache, phys_base: phys };
        let mut hook =
            raw_with(Target::Arm64, counting_check, calls.cast(), memory.as_mut_ptr(), 0x5000_0000, Some(fast), 3);
        let data: *mut c_void = (&mut *hook as *mut RawHook).cast();
        // SAFETY: `calls` is live until the end of the test.
        let calls_now = || unsafe { *calls };
        // SAFETY (for every call below): the callbacks read the fake engine's split size (0),
        // the cache and `memory` within its two pages, and call `counting_check`.
        let read = |off: u64, size: u32| unsafe { tagmmu_mmio_read(uc, off, size, data) };
        let write = |off: u64, size: u32, v: u64| unsafe { tagmmu_mmio_write(uc, off, size, v, data) };

        // Not cached: the Rust check decides.
        write(0x10, 8, 0x1122_3344_5566_7788);
        assert_eq!(calls_now(), 1);
        // Page 0 cached: granules 0..4 tag 3, granule 4 tag 5, the rest tag 3.
        let mut tags = [3u8; 256];
        tags[4] = 5;
        cache.enter(phys, &tags);
        assert_eq!(read(0x10, 8), 0x1122_3344_5566_7788, "the access is performed");
        assert_eq!(read(0x08, 16), 0, "across granules 0 and 1");
        write(0x20, 8, 1);
        assert_eq!(calls_now(), 1, "matching accesses of a cached page skip the check");
        read(0x40, 4);
        assert_eq!(calls_now(), 2, "a mismatching granule goes to the check");
        write(0x38, 8, 2);
        assert_eq!(calls_now(), 3, "a store ending before a mismatching granule may be half of a pair");
        read(0x38, 8);
        assert_eq!(calls_now(), 3, "a load there needs no check");
        write(0xff8, 8, 2);
        assert_eq!(calls_now(), 4, "the granule after the page is not cached");
        read(TagCache::PAGE + 8, 8);
        assert_eq!(calls_now(), 5, "page 1 is not cached");
        cache.forget(phys + 0x123);
        read(0x10, 8);
        assert_eq!(calls_now(), 6, "a forgotten page goes to the check");
        cache.enter(phys, &tags);
        cache.clear();
        read(0x10, 8);
        assert_eq!(calls_now(), 7, "a cleared cache too");
        drop(hook);
        // SAFETY: made by Box::into_raw above; the hook that held it is gone.
        drop(unsafe { Box::from_raw(calls) });
    }

    #[test]
    fn the_cache_enters_only_whole_pages_and_keeps_one_page_per_slot() {
        let mut c = TagCache::new();
        c.enter(0x4000, &[1; 16]);
        assert!(!c.holds(0x4000));
        c.enter(0x4000, &[1; PAGE_GRANULES]);
        assert!(c.holds(0x4fff) && !c.holds(0x5000));
        c.enter(0x4000 + CACHE_PAGES as u64 * TagCache::PAGE, &[2; PAGE_GRANULES]);
        assert!(!c.holds(0x4000), "the same slot holds one page");
    }
}
