//! The address space: VMAs over host-backed physical memory, with per-page presence.
//!
//! Anonymous pages start not present. They become present when user code touches them (the CPU
//! backend's page walk calls [`AddressSpace::user_fault`]) or when the kernel stub faults
//! them in. [`AddressSpace::evict`] (and the guest's own `madvise(MADV_PAGEOUT)`) takes a page
//! out again, as reclaim would; its contents survive, as they would in swap.

pub(crate) mod arena;
mod fork;
pub mod limit;
mod mlock;
pub mod phys;
pub mod residency;
pub mod vma;

pub use mlock::LockLimit;
pub use phys::{PageState, PhysEvent, PhysMemory};
pub use vma::{Prot, VmLock, Vma, VmaKind, VmaSet};

/// `vm.max_map_count`'s default (DEFAULT_MAX_MAP_COUNT: USHRT_MAX - 5): the most mappings a
/// process may have.
pub const MAX_MAP_COUNT: usize = 65530;

use crate::addr::PhysAddr;

/// A user access's page after its fault handling ([`AddressSpace::fault_in`]): its segment
/// (None for memory without one), physical address, offset in the segment, and whether the
/// mapping is tag-checked.
struct Faulted<'a> {
    seg: Option<&'a mut phys::Segment>,
    pa: PhysAddr,
    off: u64,
    tagged: bool,
    prot: Prot,
}

/// A user page a fault made (or found) present, as a CPU backend's TLB fill needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserPage {
    /// The physical address of the faulting address.
    pub pa: PhysAddr,
    /// The mapping's protection.
    pub prot: Prot,
    /// The backing segment has allocation tags (tag storage).
    pub tag_storage: bool,
    /// The answer holds until the generation changes ([`AddressSpace::generation`]): the
    /// page is memory the model owns, not a file's page cache, which can shrink under the
    /// mapping (a later access past the end is SIGBUS).
    pub stable: bool,
}
use crate::kernel_stub::errno::{Errno, KResult};

/// The most retagged pages kept for the CPU backend before a full translation flush.
const MAX_RETAGGED: usize = 4096;

/// Where things go in a process's address space (per architecture).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Page size in bytes (4096 on arm64, 8192 on SPARC64).
    pub page_size: u64,
    /// One past the highest user address.
    pub task_size: u64,
    /// One past the top of the main stack.
    pub stack_top: u64,
    /// Size of the main stack mapping.
    pub stack_size: u64,
    /// mmap allocates top-down below this address.
    pub mmap_base: u64,
    /// mmap never allocates below this address.
    pub mmap_min: u64,
    /// The most the brk heap may grow.
    pub heap_max: u64,
    /// Bits of a user pointer that the MMU ignores for translation (arm64 TBI: the top byte).
    pub ignored_top_bits: u32,
    /// The tag scheme of tag-checked mappings (MTE on arm64, ADI on SPARC).
    pub tags: crate::tags::TagScheme,
    /// Once tag-checked, always (PROT_MTE cannot be removed); ADI's can be.
    pub sticky_tags: bool,
    /// One past the highest physical address of guest memory (room for the CPU backend's
    /// tag aliases above it).
    pub phys_limit: u64,
}

impl Layout {
    /// arm64 Linux with 48-bit virtual addresses and 4 KiB pages, no randomisation.
    pub fn arm64() -> Layout {
        let task_size = 1u64 << 48;
        let stack_top = task_size - 0x1000;
        let stack_size = 8 << 20;
        Layout {
            page_size: 4096,
            task_size,
            stack_top,
            stack_size,
            mmap_base: stack_top - stack_size - (128 << 20),
            mmap_min: 0x1_0000,
            heap_max: 1 << 30,
            ignored_top_bits: 8,
            tags: crate::tags::MTE,
            sticky_tags: true,
            phys_limit: 1 << 42,
        }
    }

    /// sparc64 Linux: 8 KiB pages, the stack below `STACK_TOP64` (0x80000000000 - 4 GiB),
    /// user addresses in the lower half of the 44-bit VA space.
    pub fn sparc64() -> Layout {
        let stack_top = 0x0000_0800_0000_0000 - (1u64 << 32);
        let stack_size = 8 << 20;
        Layout {
            page_size: 8192,
            task_size: 0x0000_0800_0000_0000,
            stack_top,
            stack_size,
            mmap_base: stack_top - stack_size - (128 << 20),
            mmap_min: 0x1_0000,
            heap_max: 1 << 30,
            ignored_top_bits: 0,
            tags: crate::tags::ADI,
            sticky_tags: false,
            // QEMU's SPARC64 physical space is 41 bits: guest memory below 2^36 leaves room
            // for the ADI check alias above it.
            phys_limit: 1 << 36,
        }
    }
}

/// Why a user access could not be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// No mapping at the address (`SEGV_MAPERR`).
    Unmapped,
    /// A mapping without the needed permission (`SEGV_ACCERR`).
    Protection,
    /// A page of a shared file mapping wholly past the file's end (`SIGBUS`, `BUS_ADRERR`,
    /// as shmem's fault handler gives: VM_FAULT_SIGBUS).
    PastEof,
    /// Making the page resident would pass the machine's RAM (VM_FAULT_OOM): the OOM killer
    /// kills the faulting process (`SIGKILL`, `SI_KERNEL`). See [`limit`].
    OutOfMemory,
}

impl FaultKind {
    /// The signal a user access that faulted this way raises (generic numbering).
    pub fn signo(self) -> u32 {
        match self {
            FaultKind::PastEof => crate::kernel_stub::signal::sig::SIGBUS,
            FaultKind::OutOfMemory => crate::kernel_stub::signal::sig::SIGKILL,
            _ => crate::kernel_stub::signal::sig::SIGSEGV,
        }
    }
    /// Its `si_code`.
    pub fn si_code(self) -> i32 {
        match self {
            FaultKind::Unmapped => crate::kernel_stub::signal::code::SEGV_MAPERR,
            FaultKind::Protection => crate::kernel_stub::signal::code::SEGV_ACCERR,
            FaultKind::PastEof => crate::kernel_stub::signal::code::BUS_ADRERR,
            FaultKind::OutOfMemory => crate::kernel_stub::signal::code::SI_KERNEL,
        }
    }
}

/// The kind of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Fetch,
}

impl Access {
    /// The protection bit the access needs.
    pub fn needs(self) -> Prot {
        match self {
            Access::Read => Prot::READ,
            Access::Write => Prot::WRITE,
            Access::Fetch => Prot::EXEC,
        }
    }
}

/// Counters of memory events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MmStats {
    /// Pages made present by a fault (user or kernel).
    pub page_faults: u64,
    /// Of those, pages that had been evicted before (major faults).
    pub major_faults: u64,
    /// Pages evicted.
    pub evictions: u64,
    /// Faults that found the machine out of memory (each killed its process).
    pub oom_kills: u64,
}

/// What one process's address space owns besides the machine's physical memory: its
/// mappings, its heap, the pages it had evicted. The running process's is inside
/// [`AddressSpace`]; a parked process keeps its own (see [`AddressSpace::swap_process`]).
#[derive(Clone, Debug)]
pub struct ProcessMm {
    layout: Layout,
    vmas: VmaSet,
    heap_seg: Option<PhysAddr>,
    brk_start: u64,
    brk: u64,
    /// Pages evicted and not yet faulted back: (segment, page offset).
    evicted: std::collections::HashSet<(u64, u64)>,
    /// The task has CAP_SYS_RAWIO (root): it may map below `mmap_min` with MAP_FIXED.
    cap_sys_rawio: bool,
    /// How new mappings are locked (`mm->def_flags`: `mlockall(MCL_FUTURE)`).
    def_lock: VmLock,
}

/// The running process's address space, over the machine's physical memory (which every
/// process shares, as a machine's RAM: a MAP_SHARED mapping is the same segment in each).
pub struct AddressSpace {
    space: ProcessMm,
    phys: PhysMemory,
    /// Physical pages whose allocation tags changed since the CPU backend last took them (it
    /// may have entered such a page in its TLB unchecked because every granule matched).
    retagged: Vec<u64>,
    /// The physical pages of executable mappings the kernel wrote into (a `read(2)` into JIT
    /// code, a signal frame on SPARC's RWX data segment) since the CPU backend last looked:
    /// its translations of code there are stale.
    code_written: CodeWrites,
    /// Bumped whenever translations or permissions change, so the CPU backend knows to flush
    /// its TLB.
    generation: u64,
    /// A fault found the machine out of memory since the kernel last looked
    /// ([`Self::take_out_of_memory`]).
    out_of_memory: bool,
    stats: MmStats,
    /// The one-byte probes of `fault_in_*()` since [`AddressSpace::record_probes`], when
    /// recording (the kernel loops' pictures show them).
    probes: Option<Vec<UserProbe>>,
}

/// The allocation tags of one resident page ([`AddressSpace::resident_page_tags`]).
pub struct ResidentPageTags<'a> {
    /// The page's physical address.
    pub pa: PhysAddr,
    /// Its mapping is writable.
    pub writable: bool,
    /// One tag per granule of the page (fewer only if the storage's granule does not divide
    /// the page).
    pub tags: &'a mut [u8],
}

/// One probe of a `fault_in_*()` function: a one-byte user load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UserProbe {
    /// The byte probed (untagged).
    pub addr: u64,
    /// A store (`__put_user`) rather than a load (`__get_user`).
    pub write: bool,
    /// It succeeded.
    pub ok: bool,
}

/// Probes recorded per loop pass at most (a fault-in over a huge range probes a byte per page).
pub const MAX_RECORDED_PROBES: usize = 4096;

impl AddressSpace {
    /// An empty address space.
    pub fn new(layout: Layout) -> AddressSpace {
        // Physical addresses stay below 2^42: the tag aliases and the fault window live above.
        let phys = PhysMemory::new(layout.page_size, layout.phys_limit);
        AddressSpace {
            space: ProcessMm {
                layout,
                vmas: VmaSet::default(),
                heap_seg: None,
                brk_start: 0,
                brk: 0,
                evicted: Default::default(),
                cap_sys_rawio: false,
                def_lock: VmLock::Unlocked,
            },
            phys,
            retagged: Vec::new(),
            code_written: CodeWrites::default(),
            generation: 0,
            out_of_memory: false,
            stats: MmStats::default(),
            probes: None,
        }
    }

    /// Start (or restart) recording the probes of `fault_in_*()` (see [`UserProbe`]).
    pub fn record_probes(&mut self) {
        self.probes = Some(Vec::new());
    }

    /// Stop recording and return what was recorded (empty when nothing was).
    pub fn take_probes(&mut self) -> Vec<UserProbe> {
        self.probes.take().unwrap_or_default()
    }

    /// Note a probe, when recording; past [`MAX_RECORDED_PROBES`] they are dropped.
    pub fn note_probe(&mut self, addr: u64, write: bool, ok: bool) {
        let addr = self.untag(addr).unwrap_or(addr);
        if let Some(p) = &mut self.probes {
            if p.len() < MAX_RECORDED_PROBES {
                p.push(UserProbe { addr, write, ok });
            }
        }
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.space.layout
    }
    /// The page size.
    pub fn page_size(&self) -> u64 {
        self.space.layout.page_size
    }
    /// Counters.
    pub fn stats(&self) -> MmStats {
        self.stats
    }
    /// The translation generation (see the field doc).
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// The VMAs.
    pub fn vmas(&self) -> &VmaSet {
        &self.space.vmas
    }
    /// Physical memory, for the CPU backend.
    pub fn phys_mut(&mut self) -> &mut PhysMemory {
        &mut self.phys
    }
    /// Physical memory.
    pub fn phys(&self) -> &PhysMemory {
        &self.phys
    }

    fn page_down(&self, a: u64) -> u64 {
        a & !(self.space.layout.page_size - 1)
    }
    fn page_up(&self, a: u64) -> Option<u64> {
        a.checked_add(self.space.layout.page_size - 1).map(|x| self.page_down(x))
    }
    fn is_page_aligned(&self, a: u64) -> bool {
        a.is_multiple_of(self.space.layout.page_size)
    }

    /// Change how many top pointer bits translation ignores (SPARC: 4 once the task enables
    /// ADI). The TLB must be refilled: the generation changes.
    pub fn set_ignored_top_bits(&mut self, bits: u32) {
        self.space.layout.ignored_top_bits = bits;
        self.generation += 1;
    }

    /// Strip the bits the MMU ignores (arm64 TBI) from a user pointer. Returns `None` for an
    /// address that can never be a user address (for example a kernel address).
    pub fn untag(&self, addr: u64) -> Option<u64> {
        let bits = self.space.layout.ignored_top_bits;
        let a = if bits == 0 { addr } else { (addr << bits) >> bits };
        (a < self.space.layout.task_size).then_some(a)
    }

    /// Fresh memory for a mapping, charged when accountable (see [`limit`]: as Linux's
    /// `accountable_mapping` and shmem's accounting, a private writable or a shared anonymous
    /// mapping, unless `noreserve`).
    fn new_mapping(
        &mut self,
        start: u64,
        len: u64,
        prot: Prot,
        shared: bool,
        noreserve: bool,
        kind: VmaKind,
    ) -> KResult<()> {
        let accountable = !noreserve && (shared || prot.contains(Prot::WRITE));
        let seg = if accountable { self.phys.allocate(len) } else { self.phys.allocate_uncharged(len) };
        let seg = seg.map_err(|_| Errno::ENOMEM)?;
        self.space.vmas.insert(Vma {
            start,
            end: start + len,
            prot,
            shared,
            kind,
            seg,
            seg_off: 0,
            locked: VmLock::Unlocked,
        });
        Ok(())
    }

    /// Map fresh zeroed memory at a fixed page-aligned range that must be free (used by exec).
    pub fn map_fixed(&mut self, start: u64, len: u64, prot: Prot, kind: VmaKind) -> KResult<()> {
        if !self.is_page_aligned(start) || len == 0 || !self.is_page_aligned(len) {
            return Err(Errno::EINVAL);
        }
        let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end > self.space.layout.task_size || self.space.vmas.overlaps(start, end) {
            return Err(Errno::EEXIST);
        }
        self.new_mapping(start, len, prot, false, false, kind)
    }

    /// Create the main stack mapping; returns its top.
    pub fn map_stack(&mut self) -> KResult<u64> {
        let top = self.space.layout.stack_top;
        self.map_fixed(top - self.space.layout.stack_size, self.space.layout.stack_size, Prot::RW, VmaKind::Stack)?;
        Ok(top)
    }

    /// Set where the brk heap starts (the page-aligned end of the executable's bss).
    pub fn init_brk(&mut self, start: u64) -> KResult<()> {
        let start = self.page_up(start).ok_or(Errno::ENOMEM)?;
        // The heap's whole range is reserved now, but counts against the memory limit only as
        // the break grows into it.
        let seg = self.phys.allocate_uncharged(self.space.layout.heap_max).map_err(|_| Errno::ENOMEM)?;
        self.space.heap_seg = Some(seg);
        self.space.brk_start = start;
        self.space.brk = start;
        Ok(())
    }

    /// The current program break.
    pub fn brk(&self) -> u64 {
        self.space.brk
    }

    /// `brk(2)`: move the break; returns the new break (the old one when the move fails), as
    /// the raw syscall does.
    pub fn set_brk(&mut self, requested: u64) -> u64 {
        let Some(seg) = self.space.heap_seg else {
            return self.space.brk;
        };
        if requested < self.space.brk_start || requested > self.space.brk_start + self.space.layout.heap_max {
            return self.space.brk;
        }
        let (Some(old_end), Some(new_end)) = (self.page_up(self.space.brk), self.page_up(requested)) else {
            return self.space.brk;
        };
        if new_end > old_end {
            if self.space.vmas.overlaps(old_end, new_end) || !self.phys.charge(new_end - old_end) {
                return self.space.brk;
            }
            let seg_off = old_end - self.space.brk_start;
            // Extend the heap VMA (or create it on first growth).
            let extended = match self.space.vmas.find(old_end - 1) {
                // do_brk_flags extends the heap's mapping only when its flags are those of
                // the growth (mlockall(MCL_FUTURE) makes new heap locked).
                Some(v) if v.kind == VmaKind::Heap && v.end == old_end && v.locked == self.space.def_lock => {
                    let v = v.clone();
                    self.space.vmas.remove_range(v.start, v.end);
                    self.space.vmas.insert(Vma { end: new_end, ..v });
                    true
                }
                _ => false,
            };
            if !extended {
                self.space.vmas.insert(Vma {
                    start: old_end,
                    end: new_end,
                    prot: Prot::RW,
                    shared: false,
                    kind: VmaKind::Heap,
                    seg,
                    seg_off,
                    locked: self.space.def_lock,
                });
            }
        } else if new_end < old_end {
            self.space.vmas.remove_range(new_end, old_end);
            self.phys.uncharge(old_end - new_end);
            // Pages given back are zero when the heap grows again.
            if let Some(s) = self.phys.segment_mut(seg) {
                let from = (new_end - self.space.brk_start) as usize;
                let to = (old_end - self.space.brk_start) as usize;
                s.drop_pages(from as u64, (to - from) as u64);
            }
            self.generation += 1;
        }
        self.space.brk = requested;
        self.space.brk
    }

    /// `mmap(2)` of anonymous memory (or, with `contents`, a private copy of a file).
    /// `addr` must already be untagged. Returns the start address.
    pub fn mmap(&mut self, addr: u64, len: u64, prot: Prot, request: MapRequest, kind: VmaKind) -> KResult<u64> {
        self.mmap_backed(addr, len, prot, request, kind, None)
    }

    /// `mmap(2)` of existing physical memory (a file's page cache at `backing.0`, from
    /// offset `backing.1`), or of fresh memory when `backing` is `None`.
    pub fn mmap_backed(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        request: MapRequest,
        kind: VmaKind,
        backing: Option<(PhysAddr, u64)>,
    ) -> KResult<u64> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = self.page_up(len).ok_or(Errno::ENOMEM)?;
        if len > self.space.layout.task_size {
            return Err(Errno::ENOMEM);
        }
        // vm.max_map_count: a new mapping past the limit is ENOMEM (do_mmap). tagmmu does not
        // merge adjacent mappings as Linux does, so it counts more; the limit also bounds the
        // host memory the mappings' records take.
        if self.space.vmas.count() > MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        let start = match request.placement {
            Placement::Fixed | Placement::FixedNoReplace => {
                if !self.is_page_aligned(addr) {
                    return Err(Errno::EINVAL);
                }
                let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
                if end > self.space.layout.task_size {
                    return Err(Errno::ENOMEM);
                }
                // security_mmap_addr (cap_mmap_addr): below vm.mmap_min_addr only with
                // CAP_SYS_RAWIO.
                if addr < self.space.layout.mmap_min && !self.space.cap_sys_rawio {
                    return Err(Errno::EPERM);
                }
                if self.space.vmas.overlaps(addr, end) {
                    if request.placement == Placement::FixedNoReplace {
                        return Err(Errno::EEXIST);
                    }
                    self.munmap(addr, len)?;
                }
                addr
            }
            Placement::Hint => {
                let hint = self.page_down(addr);
                let fits = hint >= self.space.layout.mmap_min
                    && hint
                        .checked_add(len)
                        .is_some_and(|e| e <= self.space.layout.mmap_base && !self.space.vmas.overlaps(hint, e));
                if hint != 0 && fits {
                    hint
                } else {
                    self.space
                        .vmas
                        .find_free_top_down(len, self.space.layout.mmap_min, self.space.layout.mmap_base)
                        .ok_or(Errno::ENOMEM)?
                }
            }
        };
        match backing {
            None => {
                let noreserve = request.noreserve && self.phys.overcommit() != limit::Overcommit::Never;
                self.new_mapping(start, len, prot, request.shared, noreserve, kind)?
            }
            Some((seg, seg_off)) => {
                let seg_len = self.phys.segment(seg).map(|s| s.len()).ok_or(Errno::EINVAL)?;
                if seg_off.checked_add(len).is_none_or(|e| e > seg_len) {
                    return Err(Errno::ENOMEM);
                }
                self.space.vmas.insert(Vma {
                    start,
                    end: start + len,
                    prot,
                    shared: request.shared,
                    kind,
                    seg,
                    seg_off,
                    locked: VmLock::Unlocked,
                });
            }
        }
        if prot.contains(Prot::TAGGED) {
            if let Err(e) = self.enable_tags(start, start + len) {
                let _ = self.munmap(start, len);
                return Err(e);
            }
        }
        self.generation += 1;
        Ok(start)
    }

    /// `munmap(2)`; `addr` already untagged.
    pub fn munmap(&mut self, addr: u64, len: u64) -> KResult<()> {
        if !self.is_page_aligned(addr) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = self.page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if end > self.space.layout.task_size {
            return Err(Errno::EINVAL);
        }
        // A split past vm.max_map_count is ENOMEM (__split_vma via do_vmi_munmap).
        if self.space.vmas.count() >= MAX_MAP_COUNT && self.space.vmas.splits_at(addr, end) {
            return Err(Errno::ENOMEM);
        }
        let removed = self.space.vmas.remove_range(addr, end);
        for piece in removed {
            if Some(piece.seg) != self.space.heap_seg && !self.space.vmas.uses_segment(piece.seg) {
                self.space.evicted.retain(|&(s, _)| s != piece.seg.0);
                self.phys.release(piece.seg);
            }
        }
        self.generation += 1;
        Ok(())
    }

    /// `mprotect(2)`; `addr` already untagged. `prot` is the new protection (its TAGGED bit,
    /// once set on a VMA, is kept: PROT_MTE cannot be removed).
    pub fn mprotect(&mut self, addr: u64, len: u64, prot: Prot) -> KResult<()> {
        if !self.is_page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = self.page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if !self.space.vmas.covers(addr, end) {
            return Err(Errno::ENOMEM);
        }
        // An MTE mapping stays tag-checked (PROT_MTE cannot be removed); an ADI one loses its
        // checking without PROT_ADI (VM_SPARC_ADI is in VM_ARCH_CLEAR), keeping its versions.
        let sticky = self.space.layout.sticky_tags;
        // arm64 arch_validate_flags(): PROT_MTE needs VM_MTE_ALLOWED, which anonymous memory,
        // brk, the stack (VM_DATA_DEFAULT_FLAGS) and shmem/tmpfs files have, and the ELF's
        // file-backed segments and the vDSO do not: EINVAL. (Linux changes the range's VMAs in
        // order and stops at the first refused one; tagmmu refuses before changing any.)
        if sticky && prot.contains(Prot::TAGGED) {
            let refused =
                self.space.vmas.intersecting(addr, end).any(|v| matches!(v.kind, VmaKind::Image | VmaKind::Vdso));
            if refused {
                return Err(Errno::EINVAL);
            }
        }
        // A split past vm.max_map_count is ENOMEM (__split_vma), before anything changes.
        if self.space.vmas.count() >= MAX_MAP_COUNT && self.space.vmas.splits_at(addr, end) {
            return Err(Errno::ENOMEM);
        }
        let new_prot = |v: &Vma| if sticky { prot | v.prot.into_tagged() } else { prot };
        // Nothing changes (mprotect_fixup: newflags == oldflags): no split, no TLB flush.
        if self.space.vmas.intersecting(addr, end).all(|v| new_prot(v) == v.prot) {
            return Ok(());
        }
        // Tag storage first: when the host refuses it, nothing has changed.
        if prot.contains(Prot::TAGGED) {
            self.enable_tags(addr, end)?;
        }
        self.space.vmas.update_range(addr, end, |v| v.prot = new_prot(v));
        self.generation += 1;
        Ok(())
    }

    /// `madvise(2)`; `addr` already untagged.
    pub fn madvise(&mut self, addr: u64, len: u64, advice: Advice) -> KResult<()> {
        if !self.is_page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        let len = self.page_up(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if !self.space.vmas.covers(addr, end) {
            return Err(Errno::ENOMEM);
        }
        match advice {
            Advice::Hint => Ok(()),
            Advice::DontNeed | Advice::DontNeedLocked => {
                let vmas: Vec<Vma> = self.space.vmas.intersecting(addr, end).cloned().collect();
                for v in &vmas {
                    // madvise_dontneed_free_valid_vma: a locked mapping is EINVAL, unless
                    // MADV_DONTNEED_LOCKED; the mappings before it were done.
                    if v.locked.is_locked() && advice == Advice::DontNeed {
                        self.generation += 1;
                        return Err(Errno::EINVAL);
                    }
                    if v.shared {
                        continue;
                    }
                    let (from, to) = (v.start.max(addr), v.end.min(end));
                    let seg_from = v.seg_off + (from - v.start);
                    if let Some(s) = self.phys.segment_mut(v.seg) {
                        s.drop_pages(seg_from, to - from);
                    }
                }
                self.generation += 1;
                Ok(())
            }
            // madvise_cold / madvise_pageout: a locked mapping is EINVAL (can_madv_lru_vma),
            // the mappings before it were done.
            Advice::Cold | Advice::PageOut => {
                let vmas: Vec<(u64, u64, bool)> =
                    self.space.vmas.intersecting(addr, end).map(|v| (v.start, v.end, v.locked.is_locked())).collect();
                for (start, stop, locked) in vmas {
                    if locked {
                        return Err(Errno::EINVAL);
                    }
                    if advice == Advice::PageOut {
                        let (from, to) = (start.max(addr), stop.min(end));
                        self.evict(from, to - from);
                    }
                }
                Ok(())
            }
            // madvise_populate: a permission the access lacks is EINVAL (faultin_vma_page_range
            // reports permission problems so), SIGBUS past a file's end EFAULT, no room ENOMEM
            // (the OOM killer has picked the process by then).
            Advice::Populate(access) => self.populate(addr, len, access).map_err(|kind| match kind {
                FaultKind::Unmapped => Errno::ENOMEM,
                FaultKind::Protection => Errno::EINVAL,
                FaultKind::PastEof => Errno::EFAULT,
                FaultKind::OutOfMemory => Errno::ENOMEM,
            }),
        }
    }

    /// Fault in every page of `[addr, addr + len)` (untagged) as a user access of kind
    /// `access` would, through GUP (no tag checks): MADV_POPULATE_* (`faultin_vma_page_range`;
    /// mmap's and mlock's populate is [`Self::mm_populate`]). Stops at the first page that
    /// cannot be faulted in. Costs at most the pages the machine's RAM holds (past it the
    /// fault is out of memory) plus those already resident.
    pub fn populate(&mut self, addr: u64, len: u64, access: Access) -> Result<(), FaultKind> {
        let end = addr.checked_add(len).ok_or(FaultKind::Unmapped)?;
        self.fault_in_range(self.page_down(addr), end, access.needs())
    }

    /// Fault in the pages from `from` (page-aligned) up to `to`, each an access needing
    /// `needs` ([`Self::fault_in_needing`]); stops at the first that fails.
    fn fault_in_range(&mut self, from: u64, to: u64, needs: Prot) -> Result<(), FaultKind> {
        let page = self.space.layout.page_size;
        let mut at = from;
        while at < to {
            self.fault_in_needing(at, needs)?;
            at += page;
        }
        Ok(())
    }

    /// `msync(2)`'s walk of the mappings; `addr` already untagged, `flags` checked. Every
    /// mapping here is in memory and the page cache needs no writeback, so only the errors
    /// are observable: ENOMEM for a range with holes (at the first hole for MS_ASYNC alone,
    /// else after the walk), as mm/msync.c has them; with `invalidate` (MS_INVALIDATE), a
    /// locked mapping reached is EBUSY.
    pub fn msync(&self, addr: u64, len: u64, async_only: bool, invalidate: bool) -> KResult<()> {
        if !self.is_page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        let len = self.page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        let mut start = addr;
        let mut unmapped = false;
        while start < end {
            let Some(v) = self.space.vmas.find_vma(start) else { return Err(Errno::ENOMEM) };
            if start < v.start {
                if async_only || v.start >= end {
                    return Err(Errno::ENOMEM);
                }
                unmapped = true;
            }
            if invalidate && v.locked.is_locked() {
                return Err(Errno::EBUSY);
            }
            start = v.end;
        }
        if unmapped {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }

    /// `mincore(2)`'s answer for `pages` pages from `addr` (untagged, page-aligned): a byte
    /// per page, 1 when resident, up to the end of the first mapping (do_mincore); ENOMEM
    /// when no mapping holds `addr`.
    pub fn mincore_chunk(&self, addr: u64, pages: u64) -> KResult<Vec<u8>> {
        let page = self.space.layout.page_size;
        let v = self.space.vmas.find(addr).ok_or(Errno::ENOMEM)?;
        let end = v.end.min(addr.saturating_add(pages.saturating_mul(page)));
        Ok((addr..end).step_by(page as usize).map(|a| self.is_present(a) as u8).collect())
    }

    /// Evict the resident pages of `[addr, addr+len)` as reclaim would: they become not
    /// present, their contents are kept; locked mappings' pages are unevictable and stay.
    /// Returns how many pages were evicted.
    pub fn evict(&mut self, addr: u64, len: u64) -> u64 {
        let (start, Some(end)) = (self.page_down(addr), addr.checked_add(len).and_then(|e| self.page_up(e))) else {
            return 0;
        };
        let vmas: Vec<Vma> = self.space.vmas.intersecting(start, end).cloned().collect();
        let mut n = 0;
        for v in vmas.into_iter().filter(|v| !v.locked.is_locked()) {
            let (from, to) = (v.start.max(start), v.end.min(end));
            if let Some(s) = self.phys.segment_mut(v.seg) {
                for off in s.evict_pages(v.seg_off + (from - v.start), to - from) {
                    n += 1;
                    self.space.evicted.insert((v.seg.0, off));
                }
            }
        }
        self.stats.evictions += n;
        self.generation += 1;
        n
    }

    /// Give every segment under `[start, end)` tag storage (tags start at 0).
    /// ENOMEM when the host refuses the address space for the storage.
    fn enable_tags(&mut self, start: u64, end: u64) -> KResult<()> {
        let segs: Vec<PhysAddr> = self.space.vmas.intersecting(start, end).map(|v| v.seg).collect();
        for seg in segs {
            self.phys.enable_tags(seg, self.space.layout.tags.granule).map_err(|_| Errno::ENOMEM)?;
        }
        Ok(())
    }

    /// The allocation tag of the granule at the untagged address `addr`, or `None` when the
    /// mapping there is not tag-checked (or there is none).
    pub fn tag_at(&self, addr: u64) -> Option<u8> {
        let v = self.space.vmas.find(addr)?;
        if !v.prot.contains(Prot::TAGGED) {
            return None;
        }
        let (seg, off) = self.phys.containing(v.phys(addr))?;
        seg.tags().map(|t| t.get(off))
    }

    /// Set the allocation tag of the granule at the untagged address `addr`. Returns false
    /// (and changes nothing) when the mapping is not tag-checked: tag stores to untagged
    /// memory are ignored.
    pub fn set_tag(&mut self, addr: u64, tag: u8) -> bool {
        let Some(v) = self.space.vmas.find(addr) else { return false };
        if !v.prot.contains(Prot::TAGGED) {
            return false;
        }
        let pa = v.phys(addr);
        let Some((seg_pa, off)) = self.phys.containing(pa).map(|(s, o)| (s.pa(), o)) else { return false };
        match self.phys.segment_mut(seg_pa).and_then(|s| s.tags_mut()) {
            Some(t) => {
                t.set(off, tag);
                self.note_retagged(pa);
                true
            }
            None => false,
        }
    }

    /// A tag store by the task itself (STG and its kind) at the untagged address `addr`:
    /// the fault handling of a write ([`Self::handle_user_fault`]: permission, end of file,
    /// the page made present), then the granule's tag, which memory without PROT_MTE ignores
    /// (as [`Self::set_tag`]). One mapping lookup and one segment lookup: a program that tags
    /// its memory does this for every granule.
    pub fn store_tag(&mut self, addr: u64, tag: u8) -> Result<(), FaultKind> {
        self.store_tags(addr, 1, tag)
    }

    /// [`Self::store_tag`] for every granule of `[addr, addr + len)` (ST2G, DC GVA), which must
    /// lie in one page: one fault handling, one mapping lookup and one segment lookup for
    /// them all. An empty range, or one across pages, is refused as a misuse (the fault kind
    /// of an unmapped address, with nothing stored).
    pub fn store_tags(&mut self, addr: u64, len: u64, tag: u8) -> Result<(), FaultKind> {
        let page_size = self.space.layout.page_size;
        let last = addr.checked_add(len.saturating_sub(1));
        if len == 0 || last.is_none_or(|l| l / page_size != addr / page_size) {
            return Err(FaultKind::Unmapped);
        }
        let Faulted { seg, pa, off, tagged, .. } = self.fault_in(addr, Access::Write)?;
        let stored = match seg.and_then(|s| s.tags_mut()) {
            Some(t) if tagged => {
                let granule = t.granule();
                let mut g = off - off % granule;
                while g < off + len {
                    t.set(g, tag);
                    g += granule;
                }
                true
            }
            _ => false,
        };
        if stored {
            self.note_retagged(pa);
        }
        Ok(())
    }

    /// A tag load by the task itself (LDG) at the untagged address `addr`: the fault handling
    /// of a read, then the granule's tag (None: memory without PROT_MTE, which reads as tag
    /// 0). One mapping lookup and one segment lookup, as [`Self::store_tags`].
    pub fn load_tag(&mut self, addr: u64) -> Result<Option<u8>, FaultKind> {
        let Faulted { seg, off, tagged, .. } = self.fault_in(addr, Access::Read)?;
        Ok(seg.and_then(|s| s.tags()).filter(|_| tagged).map(|t| t.get(off)))
    }

    /// The allocation tags of the page holding the untagged user address `addr`, for a CPU
    /// backend that emulates tag instructions on them without this model (see
    /// `emu::arm64::tag_insn`). Some only when a user access there needs no fault handling
    /// until the mappings, permissions or residency change (which bump [`Self::generation`]):
    /// a readable, tag-checked mapping over a resident page of anonymous memory (a file's page
    /// cache can shrink under it) with a tag for every granule of the page.
    pub fn resident_page_tags(&mut self, addr: u64) -> Option<ResidentPageTags<'_>> {
        let page = self.space.layout.page_size;
        let vma = self.space.vmas.find(addr)?;
        if !vma.prot.contains(Prot::TAGGED) || !vma.prot.contains(Prot::READ) {
            return None;
        }
        let writable = vma.prot.contains(Prot::WRITE);
        let pa = vma.phys(addr - addr % page);
        let off = pa.0 - vma.seg.0;
        let s = self.phys.segment_mut(vma.seg)?;
        if s.is_file_cache() || off + page > s.len() || !s.is_present(off) {
            return None;
        }
        let tags = s.tags_mut()?.granules_mut(off, page);
        Some(ResidentPageTags { pa, writable, tags })
    }

    /// The fault handling of a user access to the untagged address `addr`: the mapping, its
    /// permission for `access`, the end of a file, the page made present (counted as a
    /// fault, and a major one when it had been evicted). One mapping lookup and one segment
    /// lookup; the segment is handed back for what the access does next.
    fn fault_in(&mut self, addr: u64, access: Access) -> Result<Faulted<'_>, FaultKind> {
        self.fault_in_needing(addr, access.needs())
    }

    /// [`Self::fault_in`] for an access needing the protection `needs`; `Prot::NONE` is GUP's
    /// FOLL_FORCE read (mlock's populate), which any mapping allows.
    fn fault_in_needing(&mut self, addr: u64, needs: Prot) -> Result<Faulted<'_>, FaultKind> {
        let vma = self.space.vmas.find(addr).ok_or(FaultKind::Unmapped)?;
        if !vma.prot.contains(needs) {
            return Err(FaultKind::Protection);
        }
        let tagged = vma.prot.contains(Prot::TAGGED);
        let prot = vma.prot;
        let pa = vma.phys(addr);
        let seg_pa = vma.seg;
        let off = pa.0 - seg_pa.0;
        let page_off = off - off % self.space.layout.page_size;
        let ram = self.phys.budget();
        let Some(s) = self.phys.segment_mut(seg_pa) else { return Ok(Faulted { seg: None, pa, off, tagged, prot }) };
        if s.past_eof(page_off) {
            return Err(FaultKind::PastEof);
        }
        let state = s.page_state(off);
        if state != PageState::Present {
            // A new page needs room; an evicted one still has its own (see `PageState`).
            let page = self.space.layout.page_size;
            if state == PageState::Absent && s.machine_resident().is_some_and(|r| r.saturating_add(page) > ram) {
                // The OOM killer: the page is not made resident; the faulting process dies.
                self.out_of_memory = true;
                self.stats.oom_kills += 1;
                return Err(FaultKind::OutOfMemory);
            }
            s.set_present(off, true);
            self.stats.page_faults += 1;
            if self.space.evicted.remove(&(seg_pa.0, page_off)) {
                self.stats.major_faults += 1;
            }
        }
        Ok(Faulted { seg: Some(s), pa, off, tagged, prot })
    }

    /// The tags of the page holding `pa` changed: record it for [`Self::take_retagged`].
    fn note_retagged(&mut self, pa: PhysAddr) {
        let page = pa.0 & !(self.space.layout.page_size - 1);
        if self.retagged.last() != Some(&page) {
            if self.retagged.len() >= MAX_RETAGGED {
                // Too many to track one by one: every translation is redone.
                self.retagged.clear();
                self.generation += 1;
            }
            self.retagged.push(page);
        }
    }

    /// Give the task CAP_SYS_RAWIO or take it away (MAP_FIXED below `mmap_min`).
    pub fn set_cap_sys_rawio(&mut self, cap: bool) {
        self.space.cap_sys_rawio = cap;
    }

    /// Whether a fault found the machine out of memory since the last call (the kernel then
    /// kills the process, see [`FaultKind::OutOfMemory`]).
    pub fn take_out_of_memory(&mut self) -> bool {
        std::mem::take(&mut self.out_of_memory)
    }

    /// Total size of the running process's mappings, in bytes (`total-vm`).
    pub fn total_vm(&self) -> u64 {
        self.space.vmas.iter().map(|v| v.end - v.start).sum()
    }

    /// Record that the kernel wrote into the page at physical `pa` of an executable mapping
    /// (see [`Self::take_code_written`]).
    pub fn note_code_written(&mut self, pa: PhysAddr) {
        let page = PhysAddr(pa.0 & !(self.page_size() - 1));
        self.code_written.note(page);
    }

    /// The pages of executable mappings the kernel wrote into since the last call: the CPU
    /// backend's translations of code there may be stale (Linux's user copies write memory
    /// the CPU then fetches from; only the CPU's own stores are seen by the translator).
    pub fn take_code_written(&mut self) -> CodeWrites {
        std::mem::take(&mut self.code_written)
    }

    /// Take the physical pages whose allocation tags changed (through [`Self::set_tag`])
    /// since the last call. (Changes that also change translations, such as a new mapping or
    /// `MADV_DONTNEED`, bump the generation instead.)
    pub fn take_retagged(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.retagged)
    }

    /// [`Self::take_retagged`] into `pages` (cleared first), keeping both buffers' capacity:
    /// no allocation per tag store.
    pub fn swap_retagged(&mut self, pages: &mut Vec<u64>) {
        pages.clear();
        std::mem::swap(&mut self.retagged, pages);
    }

    /// The physical address the untagged user address `addr` maps to, if mapped (present or
    /// not).
    pub fn phys_of(&self, addr: u64) -> Option<PhysAddr> {
        self.space.vmas.find(addr).map(|v| v.phys(addr))
    }

    /// The tags of `[addr, addr+len)` (one per granule), for dumps and teaching output; `None`
    /// where the memory is not tag-checked.
    pub fn dump_tags(&self, addr: u64, len: u64) -> Vec<Option<u8>> {
        let g = self.space.layout.tags.granule;
        let mut out = Vec::new();
        let mut a = addr - addr % g;
        while a < addr.saturating_add(len) {
            out.push(self.tag_at(a));
            a += g;
        }
        out
    }

    /// The first byte of `[addr, addr+len)` (untagged, within one mapping) in a granule whose
    /// tag does not match `ptr_tag`; `None` if all match or the mapping is not tag-checked.
    pub fn first_tag_mismatch(&self, addr: u64, len: u64, ptr_tag: u8) -> Option<u64> {
        let v = self.space.vmas.find(addr)?;
        if !v.prot.contains(Prot::TAGGED) {
            return None;
        }
        let pa = v.phys(addr);
        self.first_tag_mismatch_at(pa, len, ptr_tag).map(|bad| addr + (bad.0 - pa.0))
    }

    /// [`Self::first_tag_mismatch`] by physical address (of a tag-checked mapping, which the
    /// caller knows): the physical address of the first granule of `[pa, pa + len)` whose tag
    /// `ptr_tag` does not match, if any.
    pub fn first_tag_mismatch_at(&self, pa: PhysAddr, len: u64, ptr_tag: u8) -> Option<PhysAddr> {
        let (seg, off) = self.phys.containing(pa)?;
        let tags = seg.tags()?;
        tags.first_mismatch(&self.space.layout.tags, off, len, ptr_tag).map(|bad| PhysAddr(pa.0 + (bad - off)))
    }

    /// The user address at which physical address `pa` is mapped (the first mapping found).
    pub fn va_of(&self, pa: PhysAddr) -> Option<u64> {
        self.space.vmas.iter().find_map(|v| {
            let start = v.seg.0 + v.seg_off;
            (pa.0 >= start && pa.0 < start + v.len()).then(|| v.start + (pa.0 - start))
        })
    }

    /// Is the page holding the untagged address `addr` present?
    pub fn is_present(&self, addr: u64) -> bool {
        self.space
            .vmas
            .find(addr)
            .and_then(|v| self.phys.containing(v.phys(addr)))
            .is_some_and(|(s, off)| s.is_present(off))
    }

    /// The page-fault handler: an access of kind `access` to the untagged address `addr`.
    /// On success the page is present and its physical address is returned.
    pub fn handle_user_fault(&mut self, addr: u64, access: Access) -> Result<PhysAddr, FaultKind> {
        self.fault_in(addr, access).map(|f| f.pa)
    }

    /// [`Self::handle_user_fault`] with what a TLB fill needs besides the physical address,
    /// from the same two lookups (the mapping, the segment).
    pub fn user_fault(&mut self, addr: u64, access: Access) -> Result<UserPage, FaultKind> {
        self.fault_in(addr, access).map(|f| {
            let (tag_storage, stable) = f.seg.map_or((false, false), |s| (s.tags().is_some(), !s.is_file_cache()));
            UserPage { pa: f.pa, prot: f.prot, tag_storage, stable }
        })
    }

    /// Is the page holding the untagged address `addr` a page of a file's page cache wholly
    /// past the file's end (an access to it is SIGBUS)?
    pub fn past_eof(&self, addr: u64) -> bool {
        let Some(v) = self.space.vmas.find(addr) else { return false };
        let pa = v.phys(addr);
        self.phys.containing(pa).is_some_and(|(s, off)| s.past_eof(off - off % self.space.layout.page_size))
    }

    /// The protection of the mapping at the untagged address `addr`.
    pub fn prot_at(&self, addr: u64) -> Option<Prot> {
        self.space.vmas.find(addr).map(|v| v.prot)
    }

    /// Copy bytes at the untagged address `addr` into `buf` through the kernel's own mapping:
    /// no permission or presence check (used by exec and diagnostics). Fails on a hole.
    pub fn read_kernel(&self, addr: u64, buf: &mut [u8]) -> Result<(), FaultKind> {
        self.for_each_chunk(addr, buf.len() as u64, |seg, off, i, n| {
            buf[i..i + n].copy_from_slice(&seg.bytes()[off..off + n]);
        })
    }

    /// Copy the pages of `[from, from + len)` that hold contents onto the same pages of
    /// `[to, to + len)` (both untagged and page-aligned, the target mapped): contents,
    /// residency and allocation tags move as mremap moves pages. Costs the pages that hold
    /// contents, not the span.
    pub fn copy_user_pages(&mut self, from: u64, to: u64, len: u64) -> KResult<()> {
        let end = from.checked_add(len).ok_or(Errno::EFAULT)?;
        let sources: Vec<Vma> = self.space.vmas.intersecting(from, end).cloned().collect();
        for v in sources {
            let (a, b) = (v.start.max(from), v.end.min(end));
            let held =
                self.phys.segment(v.seg).map(|s| s.held_pages(v.seg_off + (a - v.start), b - a)).unwrap_or_default();
            for (off, _) in held {
                let target = to + (v.start + (off - v.seg_off) - from);
                let d = self.space.vmas.find(target).ok_or(Errno::EFAULT)?;
                let dst = (d.seg, d.seg_off + (target - d.start));
                self.phys.copy_page((v.seg, off), dst);
            }
        }
        Ok(())
    }

    /// Write bytes at the untagged address `addr` through the kernel's own mapping. The pages
    /// written are resident afterwards (the kernel writes a page it holds; a page that is not
    /// resident reads as zero, so it may not hold contents).
    pub fn write_kernel(&mut self, addr: u64, data: &[u8]) -> Result<(), FaultKind> {
        let page = self.space.layout.page_size as usize;
        let chunks = self.chunks(addr, data.len() as u64)?;
        for (seg, off, i, n) in chunks {
            let s = self.phys.segment_mut(seg).ok_or(FaultKind::Unmapped)?;
            s.bytes_mut()[off..off + n].copy_from_slice(&data[i..i + n]);
            let mut p = off - off % page;
            while p < off + n {
                if s.page_state(p as u64) == PageState::Evicted {
                    self.space.evicted.remove(&(seg.0, p as u64));
                }
                s.set_state(p as u64, PageState::Present);
                p += page;
            }
        }
        Ok(())
    }

    /// The per-VMA pieces of `[addr, addr+len)` in turn: (segment, offset in it, offset in the
    /// caller's buffer, length); a hole ends them with an error.
    fn pieces(
        &self,
        addr: u64,
        len: u64,
    ) -> impl Iterator<Item = Result<(PhysAddr, usize, usize, usize), FaultKind>> + '_ {
        let mut done = 0u64;
        std::iter::from_fn(move || {
            if done >= len {
                return None;
            }
            let piece = addr.checked_add(done).and_then(|a| self.space.vmas.find(a).map(|v| (a, v)));
            let Some((a, v)) = piece else {
                done = len;
                return Some(Err(FaultKind::Unmapped));
            };
            let n = (v.end - a).min(len - done);
            let off = v.seg_off + (a - v.start);
            let item = (v.seg, off as usize, done as usize, n as usize);
            done += n;
            Some(Ok(item))
        })
    }

    /// Split `[addr, addr+len)` into per-VMA pieces (see [`Self::pieces`]), all or none.
    fn chunks(&self, addr: u64, len: u64) -> Result<Vec<(PhysAddr, usize, usize, usize)>, FaultKind> {
        self.pieces(addr, len).collect()
    }

    /// Call `f` on each per-VMA piece of `[addr, addr+len)` in turn, without collecting them
    /// (instruction fetches for emulation come through here). A hole stops the walk with an
    /// error after the pieces before it.
    fn for_each_chunk(
        &self,
        addr: u64,
        len: u64,
        mut f: impl FnMut(&phys::Segment, usize, usize, usize),
    ) -> Result<(), FaultKind> {
        for piece in self.pieces(addr, len) {
            let (seg, off, i, n) = piece?;
            let s = self.phys.segment(seg).ok_or(FaultKind::Unmapped)?;
            f(s, off, i, n);
        }
        Ok(())
    }

    /// A user-visible summary of the mappings, like `/proc/self/maps`.
    pub fn maps(&self) -> String {
        let mut s = String::new();
        for v in self.space.vmas.iter() {
            let name = match &v.kind {
                VmaKind::Image => "[image]".to_string(),
                VmaKind::Heap => "[heap]".to_string(),
                VmaKind::Stack => "[stack]".to_string(),
                VmaKind::Anon => String::new(),
                VmaKind::File(p) => p.clone(),
                VmaKind::Vdso => "[vdso]".to_string(),
            };
            s.push_str(&format!(
                "{:012x}-{:012x} {}{} {}\n",
                v.start,
                v.end,
                v.prot,
                if v.shared { 's' } else { 'p' },
                name
            ));
        }
        s
    }
}

/// Where `mmap` may place a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `addr` is a hint.
    Hint,
    /// MAP_FIXED: exactly at `addr`, replacing what is there.
    Fixed,
    /// MAP_FIXED_NOREPLACE: exactly at `addr`, failing with EEXIST if anything is there.
    FixedNoReplace,
}

/// The placement and sharing of an mmap request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// Placement.
    pub placement: Placement,
    /// MAP_SHARED.
    pub shared: bool,
    /// MAP_NORESERVE: not accountable, unless the overcommit mode is `never`.
    pub noreserve: bool,
}

impl MapRequest {
    /// A private mapping placed by the kernel (`addr` a hint), accountable.
    pub const PRIVATE: MapRequest = MapRequest { placement: Placement::Hint, shared: false, noreserve: false };
    /// A shared mapping placed by the kernel, accountable.
    pub const SHARED: MapRequest = MapRequest { placement: Placement::Hint, shared: true, noreserve: false };
}

/// What `madvise` does with a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// An advice that changes nothing observable (MADV_NORMAL, WILLNEED, ...).
    Hint,
    /// MADV_DONTNEED / MADV_FREE: private anonymous pages read back as zero; EINVAL on a
    /// locked mapping.
    DontNeed,
    /// MADV_DONTNEED_LOCKED (5.18+): MADV_DONTNEED that drops locked pages too.
    DontNeedLocked,
    /// MADV_PAGEOUT: reclaim the pages now (they become not present; contents kept); EINVAL
    /// on a locked mapping.
    PageOut,
    /// MADV_COLD: nothing observable, but EINVAL on a locked mapping.
    Cold,
    /// MADV_POPULATE_READ / MADV_POPULATE_WRITE (5.14+): fault the pages in as a read or a
    /// write would, without tag checks (GUP).
    Populate(Access),
}

/// The physical pages of executable mappings the kernel wrote into (see
/// [`AddressSpace::take_code_written`]): each page once, up to [`CodeWrites::MAX_PAGES`], past
/// which the writes count as "many pages" (the CPU backend then drops all of its code).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeWrites {
    pages: Vec<PhysAddr>,
    overflowed: bool,
}

impl CodeWrites {
    /// Pages listed one by one before the list gives up.
    pub const MAX_PAGES: usize = 64;

    fn note(&mut self, page: PhysAddr) {
        if self.overflowed || self.pages.contains(&page) {
            return;
        }
        if self.pages.len() == Self::MAX_PAGES {
            self.overflowed = true;
            self.pages.clear();
            return;
        }
        self.pages.push(page);
    }

    /// Nothing was written.
    pub fn is_empty(&self) -> bool {
        !self.overflowed && self.pages.is_empty()
    }

    /// The pages written (page-aligned), or `None` for more than [`Self::MAX_PAGES`].
    pub fn pages(&self) -> Option<&[PhysAddr]> {
        (!self.overflowed).then_some(&self.pages[..])
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> AddressSpace {
        AddressSpace::new(Layout::arm64())
    }

    /// Code writes are listed by physical page, each once; past the cap they are "many".
    #[test]
    fn code_writes_list_each_page_once_up_to_the_cap() {
        let mut mm = space();
        mm.note_code_written(PhysAddr(0x5123));
        mm.note_code_written(PhysAddr(0x5fff));
        mm.note_code_written(PhysAddr(0x7000));
        assert_eq!(mm.take_code_written().pages(), Some(&[PhysAddr(0x5000), PhysAddr(0x7000)][..]));
        assert!(mm.take_code_written().is_empty());
        for i in 0..=CodeWrites::MAX_PAGES as u64 {
            mm.note_code_written(PhysAddr(i << 12));
        }
        let many = mm.take_code_written();
        assert!(!many.is_empty() && many.pages().is_none());
    }
    const ANON: MapRequest = MapRequest::PRIVATE;

    #[test]
    fn mmap_hint_fixed_and_noreplace() {
        let mut mm = space();
        let a = mm.mmap(0, 5000, Prot::RW, ANON, VmaKind::Anon).unwrap();
        assert_eq!(a % 4096, 0);
        assert_eq!(mm.vmas().find(a).unwrap().len(), 8192);
        let fixed = MapRequest { placement: Placement::FixedNoReplace, shared: false, noreserve: false };
        assert_eq!(mm.mmap(a, 4096, Prot::RW, fixed, VmaKind::Anon), Err(Errno::EEXIST));
        let fixed = MapRequest { placement: Placement::Fixed, shared: false, noreserve: false };
        assert_eq!(mm.mmap(a + 1, 4096, Prot::RW, fixed, VmaKind::Anon), Err(Errno::EINVAL));
        mm.write_kernel(a, b"abc").unwrap();
        assert_eq!(mm.mmap(a, 4096, Prot::READ, fixed, VmaKind::Anon), Ok(a));
        let mut b = [1u8; 3];
        mm.read_kernel(a, &mut b).unwrap();
        assert_eq!(b, [0, 0, 0], "MAP_FIXED replaced the old page with a fresh one");
        assert_eq!(mm.mmap(0, 0, Prot::RW, ANON, VmaKind::Anon), Err(Errno::EINVAL));
    }

    /// vm.max_map_count: a new mapping past 65530 is ENOMEM (do_mmap allows the count to reach
    /// one more), and so is a munmap or mprotect that would split a mapping at the limit; one
    /// that splits nothing still works.
    #[test]
    fn the_mapping_count_stops_at_max_map_count() {
        let mut mm = space();
        let mut last = 0;
        while let Ok(a) = mm.mmap(0, 8192, Prot::NONE, ANON, VmaKind::Anon) {
            last = a;
        }
        assert_eq!(mm.vmas().count(), MAX_MAP_COUNT + 1);
        assert_eq!(mm.mprotect(last, 4096, Prot::READ), Err(Errno::ENOMEM), "a split");
        assert_eq!(mm.munmap(last + 4096, 4096), Err(Errno::ENOMEM), "a split");
        assert_eq!(mm.mprotect(last, 8192, Prot::READ), Ok(()), "no split");
        assert_eq!(mm.munmap(last, 8192), Ok(()));
        assert_eq!(mm.munmap(last + 4096, 4096), Ok(()), "nothing mapped there: no split");
        assert!(mm.mmap(0, 4096, Prot::NONE, ANON, VmaKind::Anon).is_ok());
        assert_eq!(mm.mmap(0, 4096, Prot::NONE, ANON, VmaKind::Anon), Err(Errno::ENOMEM));
    }

    #[test]
    fn munmap_middle_and_segment_release() {
        let mut mm = space();
        let a = mm.mmap(0, 3 * 4096, Prot::RW, ANON, VmaKind::Anon).unwrap();
        assert_eq!(mm.phys().segment_count(), 1);
        mm.munmap(a + 4096, 4096).unwrap();
        assert!(mm.vmas().find(a + 4096).is_none());
        assert_eq!(mm.phys().segment_count(), 1, "segment still used by the two halves");
        mm.munmap(a, 3 * 4096).unwrap();
        assert_eq!(mm.phys().segment_count(), 0);
        assert_eq!(mm.phys().reserved(), 0);
        assert_eq!(mm.munmap(a + 1, 4096), Err(Errno::EINVAL));
        assert_eq!(mm.munmap(a, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn a_user_tag_store_faults_as_a_write_and_tags_only_tagged_memory() {
        let mut mm = space();
        let tagged = mm.mmap(0, 2 * 4096, Prot::RW | Prot::TAGGED, ANON, VmaKind::Anon).unwrap();
        let plain = mm.mmap(0, 4096, Prot::RW, ANON, VmaKind::Anon).unwrap();
        let ro = mm.mmap(0, 4096, Prot::READ | Prot::TAGGED, ANON, VmaKind::Anon).unwrap();
        assert!(!mm.is_present(tagged + 4096));
        mm.store_tag(tagged + 4096 + 32, 7).unwrap();
        assert_eq!((mm.tag_at(tagged + 4096 + 32), mm.tag_at(tagged + 4096 + 48)), (Some(7), Some(0)));
        assert!(mm.is_present(tagged + 4096), "the page is faulted in, as by a write");
        assert_eq!(mm.stats().page_faults, 1);
        let pa = mm.phys_of(tagged + 4096).unwrap().0;
        assert_eq!(mm.take_retagged(), vec![pa & !0xfff]);
        mm.store_tag(plain, 7).unwrap();
        assert_eq!(mm.tag_at(plain), None, "memory without PROT_MTE ignores the tag");
        assert!(mm.take_retagged().is_empty());
        assert_eq!(mm.store_tag(ro, 7), Err(FaultKind::Protection));
        assert_eq!(mm.tag_at(ro), Some(0));
        assert_eq!(mm.store_tag(tagged - 4096 * 64, 7), Err(FaultKind::Unmapped));
        let mut buf = vec![1];
        mm.store_tag(tagged, 3).unwrap();
        mm.swap_retagged(&mut buf);
        assert_eq!(buf, vec![mm.phys_of(tagged).unwrap().0]);
    }

    #[test]
    fn a_run_of_tag_stores_and_a_tag_load_fault_and_tag_as_one_access() {
        let mut mm = space();
        let tagged = mm.mmap(0, 2 * 4096, Prot::RW | Prot::TAGGED, ANON, VmaKind::Anon).unwrap();
        let plain = mm.mmap(0, 4096, Prot::RW, ANON, VmaKind::Anon).unwrap();
        let wo = mm.mmap(0, 4096, Prot::WRITE | Prot::TAGGED, ANON, VmaKind::Anon).unwrap();
        // A DC GVA block: four granules, one fault.
        mm.store_tags(tagged + 64, 64, 9).unwrap();
        let tags: Vec<_> = (0..6).map(|g| mm.tag_at(tagged + 48 + 16 * g)).collect();
        assert_eq!(tags, [Some(0), Some(9), Some(9), Some(9), Some(9), Some(0)]);
        assert_eq!(mm.stats().page_faults, 1);
        assert_eq!(mm.take_retagged(), vec![mm.phys_of(tagged).unwrap().0]);
        // Across pages, or nothing: refused, nothing stored.
        assert_eq!(mm.store_tags(tagged + 4096 - 16, 32, 5), Err(FaultKind::Unmapped));
        assert_eq!(mm.store_tags(tagged, 0, 5), Err(FaultKind::Unmapped));
        assert_eq!((mm.tag_at(tagged + 4096 - 16), mm.tag_at(tagged + 4096)), (Some(0), Some(0)));
        // LDG: a read's fault handling, then the tag; untagged memory has none.
        assert!(!mm.is_present(tagged + 4096));
        assert_eq!(mm.load_tag(tagged + 4096), Ok(Some(0)));
        assert!(mm.is_present(tagged + 4096), "the page is faulted in, as by a read");
        assert_eq!(mm.load_tag(tagged + 80), Ok(Some(9)));
        assert_eq!(mm.load_tag(plain), Ok(None));
        assert_eq!(mm.load_tag(wo), Err(FaultKind::Protection));
        assert_eq!(mm.load_tag(tagged - 4096 * 64), Err(FaultKind::Unmapped));
    }

    #[test]
    fn faults_presence_and_eviction() {
        let mut mm = space();
        let a = mm.mmap(0, 2 * 4096, Prot::READ, ANON, VmaKind::Anon).unwrap();
        assert!(!mm.is_present(a));
        assert_eq!(mm.handle_user_fault(a + 8, Access::Write), Err(FaultKind::Protection));
        assert_eq!(mm.handle_user_fault(a - 8, Access::Read), Err(FaultKind::Unmapped));
        mm.handle_user_fault(a + 8, Access::Read).unwrap();
        assert!(mm.is_present(a) && !mm.is_present(a + 4096));
        assert_eq!(mm.stats().page_faults, 1);
        let g = mm.generation();
        assert_eq!(mm.evict(a, 8192), 1);
        assert!(mm.generation() > g);
        assert!(!mm.is_present(a));
        mm.handle_user_fault(a, Access::Read).unwrap();
        assert_eq!(mm.stats().major_faults, 1);
    }

    #[test]
    fn map_fixed_below_mmap_min_addr_needs_cap_sys_rawio() {
        let mut mm = space();
        let fixed = MapRequest { placement: Placement::Fixed, shared: false, noreserve: false };
        let noreplace = MapRequest { placement: Placement::FixedNoReplace, shared: false, noreserve: false };
        assert_eq!(mm.mmap(0x1000, 4096, Prot::RW, fixed, VmaKind::Anon), Err(Errno::EPERM));
        assert_eq!(mm.mmap(0, 4096, Prot::RW, noreplace, VmaKind::Anon), Err(Errno::EPERM));
        assert_eq!(mm.mmap(0x10000, 4096, Prot::RW, fixed, VmaKind::Anon), Ok(0x10000));
        assert!(mm.mmap(0x1000, 4096, Prot::RW, ANON, VmaKind::Anon).unwrap() >= 0x10000, "a hint is moved up");
        mm.set_cap_sys_rawio(true);
        assert_eq!(mm.mmap(0x1000, 4096, Prot::RW, fixed, VmaKind::Anon), Ok(0x1000));
    }

    /// Under strict overcommit (64 KiB may be committed of 128 KiB of RAM).
    #[test]
    fn the_memory_limit_counts_the_heap_as_it_grows() {
        let mut mm = space();
        mm.phys_mut().set_budget(128 << 10);
        mm.phys_mut().set_overcommit(limit::Overcommit::Never);
        mm.init_brk(0x40_0000).unwrap();
        assert_eq!(mm.phys().reserved(), 0, "the heap's reservation is not counted");
        assert_eq!(mm.set_brk(0x40_0000 + (32 << 10)), 0x40_0000 + (32 << 10));
        assert_eq!(mm.phys().reserved(), 32 << 10);
        assert_eq!(mm.set_brk(0x40_0000 + (96 << 10)), 0x40_0000 + (32 << 10), "past the limit: unchanged");
        assert!(mm.mmap(0, 64 << 10, Prot::RW, ANON, VmaKind::Anon).is_err(), "32 KiB left");
        assert_eq!(mm.set_brk(0x40_0000), 0x40_0000);
        assert_eq!(mm.phys().reserved(), 0);
        assert!(mm.mmap(0, 64 << 10, Prot::RW, ANON, VmaKind::Anon).is_ok());
    }

    /// A fault that would make more anonymous memory resident than the machine's RAM is out
    /// of memory: the page stays absent and the kernel is told (once); pages dropped or
    /// unmapped make room again.
    #[test]
    fn a_fault_past_the_ram_is_out_of_memory() {
        let mut mm = AddressSpace::new(Layout::arm64());
        mm.phys_mut().set_budget(4 * 4096);
        assert_eq!(
            mm.mmap(0, 8 * 4096, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon),
            Err(Errno::ENOMEM),
            "the heuristic: one request larger than the RAM"
        );
        let a = mm
            .mmap(0, 8 * 4096, Prot::RW, MapRequest { noreserve: true, ..MapRequest::PRIVATE }, VmaKind::Anon)
            .unwrap();
        for p in 0..4 {
            mm.handle_user_fault(a + p * 4096, Access::Write).unwrap();
        }
        assert_eq!(mm.phys().resident(), 4 * 4096);
        assert_eq!(mm.handle_user_fault(a + 4 * 4096, Access::Write), Err(FaultKind::OutOfMemory));
        assert!(!mm.is_present(a + 4 * 4096));
        assert_eq!(mm.phys().resident(), 4 * 4096);
        assert!(mm.take_out_of_memory());
        assert!(!mm.take_out_of_memory(), "told once");
        assert_eq!(mm.stats().oom_kills, 1);
        assert_eq!(FaultKind::OutOfMemory.signo(), crate::kernel_stub::signal::sig::SIGKILL);
        mm.madvise(a, 4096, Advice::DontNeed).unwrap();
        assert_eq!(mm.phys().resident(), 3 * 4096);
        mm.handle_user_fault(a + 4 * 4096, Access::Write).unwrap();
        mm.munmap(a, 8 * 4096).unwrap();
        assert_eq!(mm.phys().resident(), 0);
    }

    /// fork copies private memory at once: when the copies would not fit in the RAM, it
    /// fails with ENOMEM and nothing stays resident for them.
    #[test]
    fn a_fork_whose_copies_do_not_fit_in_the_ram_fails() {
        let mut mm = AddressSpace::new(Layout::arm64());
        mm.phys_mut().set_budget(8 * 4096);
        let a = mm.mmap(0, 6 * 4096, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        for p in 0..6 {
            mm.handle_user_fault(a + p * 4096, Access::Write).unwrap();
        }
        assert!(matches!(mm.fork(), Err(Errno::ENOMEM)));
        assert_eq!(mm.phys().resident(), 6 * 4096);
        mm.madvise(a, 4 * 4096, Advice::DontNeed).unwrap();
        assert!(mm.fork().is_ok());
        assert_eq!(mm.phys().resident(), 4 * 4096, "the child's copies of the two resident pages");
    }

    /// What is charged, as Linux's `accountable_mapping` and shmem have it: private writable
    /// and shared anonymous mappings, not read-only private ones, and MAP_NORESERVE ones only
    /// under strict overcommit.
    #[test]
    fn accountable_mappings_are_charged() {
        let mut mm = AddressSpace::new(Layout::arm64());
        mm.phys_mut().set_budget(64 * 4096);
        let noreserve = MapRequest { noreserve: true, ..MapRequest::PRIVATE };
        mm.mmap(0, 4 * 4096, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        mm.mmap(0, 100 * 4096, Prot::READ, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        mm.mmap(0, 100 * 4096, Prot::RW, noreserve, VmaKind::Anon).unwrap();
        mm.mmap(0, 2 * 4096, Prot::RW, MapRequest::SHARED, VmaKind::Anon).unwrap();
        assert_eq!(mm.phys().reserved(), 6 * 4096);
        assert_eq!(mm.mmap(0, 65 * 4096, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon), Err(Errno::ENOMEM));
        mm.phys_mut().set_overcommit(limit::Overcommit::Never);
        mm.mmap(0, 4 * 4096, Prot::RW, noreserve, VmaKind::Anon).unwrap();
        assert_eq!(mm.phys().reserved(), 10 * 4096, "strict overcommit ignores MAP_NORESERVE");
        assert_eq!(mm.mmap(0, 23 * 4096, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon), Err(Errno::ENOMEM));
        mm.mmap(0, 22 * 4096, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
    }

    #[test]
    fn brk_grows_shrinks_and_zeroes() {
        let mut mm = space();
        mm.init_brk(0x41_2345).unwrap();
        let base = mm.brk();
        assert_eq!(base, 0x41_3000);
        assert_eq!(mm.set_brk(0), base, "brk(0) queries");
        assert_eq!(mm.set_brk(base + 10000), base + 10000);
        mm.write_kernel(base + 9000, b"x").unwrap();
        assert_eq!(mm.set_brk(base + 100), base + 100);
        assert!(mm.vmas().find(base + 9000).is_none());
        mm.set_brk(base + 10000);
        let mut b = [9u8];
        mm.read_kernel(base + 9000, &mut b).unwrap();
        assert_eq!(b, [0]);
        assert_eq!(mm.set_brk(base + (2 << 30)), base + 10000, "beyond the heap limit fails");
    }

    #[test]
    fn mprotect_and_madvise() {
        let mut mm = space();
        let a = mm.mmap(0, 2 * 4096, Prot::RW, ANON, VmaKind::Anon).unwrap();
        mm.write_kernel(a, b"data").unwrap();
        mm.mprotect(a, 4096, Prot::READ).unwrap();
        assert_eq!(mm.prot_at(a), Some(Prot::READ));
        assert_eq!(mm.prot_at(a + 4096), Some(Prot::RW));
        assert_eq!(mm.mprotect(a, 3 * 4096, Prot::READ), Err(Errno::ENOMEM));
        mm.madvise(a, 4096, Advice::DontNeed).unwrap();
        let mut b = [1u8; 4];
        mm.read_kernel(a, &mut b).unwrap();
        assert_eq!(b, [0; 4]);
        mm.handle_user_fault(a + 4096, Access::Read).unwrap();
        mm.madvise(a + 4096, 4096, Advice::PageOut).unwrap();
        assert!(!mm.is_present(a + 4096));
        assert_eq!(mm.madvise(a + 8192, 4096, Advice::Hint), Err(Errno::ENOMEM));
    }

    /// An mprotect that changes nothing splits nothing and flushes no TLB (the generation
    /// stays); one that changes a page does both.
    #[test]
    fn an_mprotect_that_changes_nothing_leaves_the_tlb() {
        let mut mm = space();
        let a = mm.mmap(0, 2 * 4096, Prot::RW, ANON, VmaKind::Anon).unwrap();
        let gen = mm.generation();
        mm.mprotect(a, 4096, Prot::RW).unwrap();
        assert_eq!((mm.generation(), mm.vmas().count()), (gen, 1));
        assert_eq!(mm.mprotect(a, 3 * 4096, Prot::RW), Err(Errno::ENOMEM), "still checked");
        mm.mprotect(a + 4096, 4096, Prot::READ).unwrap();
        assert_eq!((mm.generation(), mm.vmas().count()), (gen + 1, 2));
        mm.mprotect(a, 2 * 4096, Prot::READ).unwrap();
        assert_eq!(mm.generation(), gen + 2);
        mm.mprotect(a, 2 * 4096, Prot::READ).unwrap();
        assert_eq!(mm.generation(), gen + 2);
    }

    #[test]
    fn prot_mte_is_refused_on_the_elf_image_and_allowed_on_anonymous_memory() {
        let mut mm = space();
        let img = mm.mmap(0, 4096, Prot::RW, ANON, VmaKind::Image).unwrap();
        let anon = mm.mmap(0, 4096, Prot::RW, ANON, VmaKind::Anon).unwrap();
        assert_eq!(mm.mprotect(img, 4096, Prot::RW | Prot::TAGGED), Err(Errno::EINVAL));
        assert_eq!(mm.prot_at(img), Some(Prot::RW), "unchanged");
        mm.mprotect(anon, 4096, Prot::RW | Prot::TAGGED).unwrap();
        assert_eq!(mm.prot_at(anon), Some(Prot::RW | Prot::TAGGED));
    }

    #[test]
    fn untag_strips_top_byte_only_for_user_addresses() {
        let mm = space();
        assert_eq!(mm.untag(0x0300_0000_0040_0000), Some(0x40_0000));
        assert_eq!(mm.untag(0xffff_0000_0000_0000), None);
        assert_eq!(mm.untag(1 << 48), None);
    }
}
