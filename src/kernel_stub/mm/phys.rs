//! Physical memory: host-backed segments that both the kernel stub and the CPU backend see.
//!
//! Every mapping the guest can touch is backed by a [`Segment`] of host memory. Anonymous
//! memory is carved out of one `Arena` (a host reservation where untouched pages cost
//! nothing), which the CPU backend maps once at [`PHYS_BASE`]; a file's page cache, owned by
//! the VFS, is adopted as a segment of its own above the arena, which the backend maps when it
//! appears. The stub reads and writes the same bytes through its own pointer, the way the
//! kernel reaches user memory through its linear map. Segments never move, so a host pointer
//! handed to the backend stays valid until the segment is released.

use std::collections::BTreeMap;

use super::arena::Arena;
use super::limit::Overcommit;
use crate::addr::PhysAddr;
use crate::tags::TagStore;

pub use super::residency::PageState;
use super::residency::PageStates;

/// Where the arena (anonymous guest memory) starts in the physical address space.
pub const PHYS_BASE: u64 = 0x1_0000_0000;

/// One contiguous block of physical memory.
pub struct Segment {
    pa: PhysAddr,
    mem: Backing,
    /// A file's page cache: never released when its last mapping goes.
    pinned: bool,
    /// Counted against the memory limit (the brk heap's reservation is not: its growth is).
    charged: bool,
    /// Per page: resident, evicted or neither. A page that is not resident must be faulted in
    /// before a kernel access with page faults disabled can reach it; an evicted page's
    /// contents survive (as swap).
    pages: PageStates,
    /// For anonymous memory (the arena's): the machine's count of resident anonymous bytes,
    /// which this segment's resident pages are part of.
    resident: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    page_size: u64,
    /// Allocation tags, once a tag-checked mapping uses this memory.
    tags: Option<TagStore>,
    /// For a file's page cache: the file's size, as the VFS keeps it (pages wholly past it
    /// fault with SIGBUS).
    eof: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

/// The host memory behind a segment: a range of the arena, or a page cache owned by someone
/// who outlives the segment (the VFS).
struct Backing {
    ptr: *mut u8,
    len: usize,
    /// Carved out of the arena (given back when the segment is released).
    in_arena: bool,
}

impl Backing {
    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    fn len(&self) -> usize {
        self.len
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: an arena range stays read-write and owned by this segment until it is
        // released; `adopt`'s caller guarantees an adopted `ptr` is valid for `len` bytes for as
        // long as the segment exists. Either way no other Rust reference accesses it meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `bytes`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Segment {
    /// The physical address of the first byte.
    pub fn pa(&self) -> PhysAddr {
        self.pa
    }
    /// Length in bytes (a multiple of the page size).
    pub fn len(&self) -> u64 {
        self.mem.len() as u64
    }
    /// Is this a file's page cache (kept when unmapped)?
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }
    /// True for a zero-length segment (never created).
    pub fn is_empty(&self) -> bool {
        self.mem.len() == 0
    }
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        self.mem.bytes()
    }
    /// The bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.mem.bytes_mut()
    }
    /// Drop the contents of `[offset, offset + len)` (page-aligned): they read as zero. The
    /// arena's host pages are given back to the host (MADV_DONTNEED on its private
    /// anonymous reservation), so memory the guest drops stops costing host memory.
    pub fn discard(&mut self, offset: u64, len: u64) {
        let end = (offset.saturating_add(len) as usize).min(self.mem.len());
        let start = (offset as usize).min(end);
        let page = self.page_size as usize;
        // SAFETY: `[start, end)` lies inside this segment's arena range (clamped above), which
        // this segment owns and no reference reaches meanwhile; MADV_DONTNEED on a private
        // anonymous mapping only replaces its pages with zero-fill ones.
        let given_back = self.mem.in_arena
            && start.is_multiple_of(page)
            && end.is_multiple_of(page)
            && unsafe { libc::madvise(self.mem.as_mut_ptr().add(start).cast(), end - start, libc::MADV_DONTNEED) } == 0;
        if !given_back {
            self.bytes_mut()[start..end].fill(0);
        }
    }
    /// The tag storage, if this memory has ever been mapped tag-checked.
    pub fn tags(&self) -> Option<&TagStore> {
        self.tags.as_ref()
    }
    /// The tag storage, writable.
    pub fn tags_mut(&mut self) -> Option<&mut TagStore> {
        self.tags.as_mut()
    }
    /// Does the page starting at `page_off` lie wholly past the end of the file whose page
    /// cache this is?
    pub fn past_eof(&self, page_off: u64) -> bool {
        self.eof.as_ref().is_some_and(|e| page_off >= e.load(std::sync::atomic::Ordering::Relaxed))
    }
    /// Is this segment's reservation charged (accountable memory)?
    pub fn is_charged(&self) -> bool {
        self.charged
    }
    /// Is this a file's page cache (whose pages past the file's end fault)?
    pub fn is_file_cache(&self) -> bool {
        self.eof.is_some()
    }
    /// Is the page holding `offset` resident?
    pub fn is_present(&self, offset: u64) -> bool {
        self.page_state(offset) == PageState::Present
    }
    /// The state of the page holding `offset`.
    pub fn page_state(&self, offset: u64) -> PageState {
        self.pages.get(offset / self.page_size)
    }
    /// Mark the page holding `offset` resident, or empty (its contents dropped); returns
    /// whether it was resident. An evicted page made resident again comes back from swap.
    pub fn set_present(&mut self, offset: u64, present: bool) -> bool {
        let was = self.page_state(offset);
        self.set_state(offset, if present { PageState::Present } else { PageState::Absent });
        was == PageState::Present
    }
    /// Set the state of the page holding `offset`. Anonymous memory counts the pages that
    /// hold contents (resident or evicted: the machine has no swap of its own, so an evicted
    /// page still takes its RAM) in the machine's count ([`PhysMemory::resident`]).
    pub fn set_state(&mut self, offset: u64, state: PageState) {
        let was = self.pages.set(offset / self.page_size, state);
        if let (Some(r), true) = (&self.resident, was.holds() != state.holds()) {
            use std::sync::atomic::Ordering::Relaxed;
            if state.holds() {
                r.fetch_add(self.page_size, Relaxed);
            } else {
                r.fetch_sub(self.page_size, Relaxed);
            }
        }
    }
    /// The machine's resident anonymous bytes, for a segment of anonymous memory.
    pub fn machine_resident(&self) -> Option<u64> {
        self.resident.as_ref().map(|r| r.load(std::sync::atomic::Ordering::Relaxed))
    }
    /// The pages of `[offset, offset + len)` that hold contents (resident or evicted), by
    /// offset, with their states. Costs what they number, not what the range spans.
    pub fn held_pages(&self, offset: u64, len: u64) -> Vec<(u64, PageState)> {
        let (from, to) = self.page_range(offset, len);
        self.pages.holding_in(from, to).into_iter().map(|(i, s)| (i * self.page_size, s)).collect()
    }
    /// Drop the pages of `[offset, offset + len)` (page-aligned) as MADV_DONTNEED does: their
    /// contents and allocation tags read as zero, and they are resident no more.
    pub fn drop_pages(&mut self, offset: u64, len: u64) {
        self.discard(offset, len);
        if let Some(t) = self.tags.as_mut() {
            t.fill(offset, len, 0);
        }
        let (from, to) = self.page_range(offset, len);
        let dropped = self.pages.clear(from, to);
        if let Some(r) = &self.resident {
            r.fetch_sub(dropped * self.page_size, std::sync::atomic::Ordering::Relaxed);
        }
    }
    /// Evict the resident pages of `[offset, offset + len)` (contents kept, as swap); returns
    /// their offsets.
    pub fn evict_pages(&mut self, offset: u64, len: u64) -> Vec<u64> {
        let resident: Vec<u64> = self
            .held_pages(offset, len)
            .into_iter()
            .filter(|&(_, s)| s == PageState::Present)
            .map(|(o, _)| o)
            .collect();
        for &off in &resident {
            self.set_state(off, PageState::Evicted);
        }
        resident
    }
    /// The page indices `[from, to)` of the byte range `[offset, offset + len)`, clipped to
    /// the segment.
    fn page_range(&self, offset: u64, len: u64) -> (u64, u64) {
        let end = offset.saturating_add(len).min(self.len());
        (offset / self.page_size, end.div_ceil(self.page_size))
    }
}

impl Drop for Segment {
    /// A released segment's resident pages are resident no more.
    fn drop(&mut self) {
        if let Some(r) = &self.resident {
            r.fetch_sub(self.pages.held() * self.page_size, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A change of the physical map that the CPU backend must mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhysEvent {
    /// The arena was reserved (once, before any anonymous segment): map `len` bytes at `pa`
    /// onto host memory at `host`, and its tag aliases too. Segments carved out of it later
    /// need no event: their translations reach the CPU through the page walk.
    Arena {
        /// Physical address.
        pa: PhysAddr,
        /// Length in bytes.
        len: u64,
        /// Host pointer to the reservation (valid as long as the physical memory).
        host: *mut u8,
    },
    /// A new adopted segment: map `len` bytes at `pa` onto host memory at `host`.
    Mapped {
        /// Physical address.
        pa: PhysAddr,
        /// Length in bytes.
        len: u64,
        /// Host pointer to the backing memory (valid until the matching `Unmapped`).
        host: *mut u8,
    },
    /// An adopted segment became tag-checked: map its tag aliases (same host memory).
    Tagged {
        /// Physical address.
        pa: PhysAddr,
        /// Length in bytes.
        len: u64,
        /// Host pointer to the backing memory.
        host: *mut u8,
    },
    /// An adopted segment was released: unmap it (and its tag aliases when `tagged`).
    Unmapped {
        /// Was it tagged?
        tagged: bool,
        /// Physical address.
        pa: PhysAddr,
        /// Length in bytes.
        len: u64,
    },
}

/// Errors of the physical allocator.
#[derive(Debug, thiserror::Error)]
pub enum PhysError {
    /// The host refused the backing memory.
    #[error("host could not provide {len} bytes of guest memory: {source}")]
    Host {
        /// Requested length.
        len: u64,
        /// Host error.
        source: std::io::Error,
    },
    /// The physical address space is used up.
    #[error("guest physical address space exhausted")]
    Exhausted,
}

/// All physical segments, by physical address.
pub struct PhysMemory {
    segments: BTreeMap<u64, Segment>,
    /// Anonymous memory, reserved at the first allocation.
    arena: Option<Arena>,
    /// Where the next adopted segment goes (above the arena's span).
    next_pa: u64,
    limit: u64,
    page_size: u64,
    events: Vec<PhysEvent>,
    /// Accountable bytes of the live segments (Linux's Committed_AS).
    reserved: u64,
    /// The machine's RAM (the guest's memory limit): what commit and residency are measured
    /// against (see [`super::limit`]).
    budget: u64,
    /// How reservations are charged (`vm.overcommit_memory`).
    overcommit: Overcommit,
    /// Resident bytes of anonymous memory, shared with every arena segment.
    resident: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Some segment has had tag storage (sticky: the CPU backend installs its tag checks
    /// once and keeps them).
    ever_tagged: bool,
    /// Segments mapped shared by more than one process: how many more (a release by one of
    /// them drops a share instead of the memory).
    shares: std::collections::HashMap<u64, u32>,
}

/// Default limit on the guest's mapped memory (its address-space reservations).
pub const DEFAULT_MEMORY_BUDGET: u64 = 64 << 30;

/// The most host address space an arena reserves.
const MAX_ARENA: u64 = 2 << 40;

impl PhysMemory {
    /// An empty physical memory whose addresses stay below `limit`.
    pub fn new(page_size: u64, limit: u64) -> PhysMemory {
        PhysMemory {
            segments: BTreeMap::new(),
            arena: None,
            next_pa: PHYS_BASE + Self::arena_span(page_size, limit) + page_size,
            limit,
            page_size,
            events: Vec::new(),
            reserved: 0,
            budget: DEFAULT_MEMORY_BUDGET,
            overcommit: Overcommit::default(),
            resident: Default::default(),
            ever_tagged: false,
            shares: Default::default(),
        }
    }

    /// Set the machine's RAM: reservations are charged against it as the overcommit mode
    /// says, and anonymous memory may not be resident beyond it.
    pub fn set_budget(&mut self, bytes: u64) {
        self.budget = bytes;
    }

    /// The machine's RAM.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Set how reservations are charged (`vm.overcommit_memory`).
    pub fn set_overcommit(&mut self, mode: Overcommit) {
        self.overcommit = mode;
    }

    /// How reservations are charged.
    pub fn overcommit(&self) -> Overcommit {
        self.overcommit
    }

    /// Accountable bytes of the live segments (Linux's Committed_AS).
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Resident bytes of anonymous memory.
    pub fn resident(&self) -> u64 {
        self.resident.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The physical span of the arena: half the space below `limit` (adopted page caches get
    /// the other half), at most 2 TiB of host address space (reserved, not committed: only
    /// the pages the guest touches cost host memory; 2 TiB hold a thousand processes, each
    /// with its 1 GiB brk reservation).
    fn arena_span(page_size: u64, limit: u64) -> u64 {
        (limit.saturating_sub(PHYS_BASE) / 2).min(MAX_ARENA) / page_size * page_size
    }

    /// The arena's physical address, length and host address, once it is reserved.
    #[cfg(test)]
    pub(crate) fn arena(&self) -> Option<(PhysAddr, u64, *mut u8)> {
        self.arena.as_ref().map(|a| (PhysAddr(PHYS_BASE), a.len(), a.host(0)))
    }

    /// Allocate a zeroed, non-resident segment of `len` bytes (a multiple of the page size)
    /// out of the arena, accountable: charged as the overcommit mode says (refused with
    /// [`PhysError::Exhausted`] when it may not be committed).
    pub fn allocate(&mut self, len: u64) -> Result<PhysAddr, PhysError> {
        if !self.overcommit.allows(self.reserved, len, self.budget) {
            return Err(PhysError::Exhausted);
        }
        self.allocate_in_arena(len, true)
    }

    /// [`Self::allocate`], not accountable: a reservation whose use is charged as it grows
    /// ([`Self::charge`], the brk heap's), or one Linux does not account (read-only private,
    /// MAP_NORESERVE).
    pub fn allocate_uncharged(&mut self, len: u64) -> Result<PhysAddr, PhysError> {
        self.allocate_in_arena(len, false)
    }

    /// Charge `bytes` more (the brk heap's growth) as the overcommit mode says; false (and
    /// nothing charged) when they may not be committed.
    pub fn charge(&mut self, bytes: u64) -> bool {
        if !self.overcommit.allows(self.reserved, bytes, self.budget) {
            return false;
        }
        self.reserved = self.reserved.saturating_add(bytes);
        true
    }

    /// Count `bytes` less (what [`Self::charge`] counted).
    pub fn uncharge(&mut self, bytes: u64) {
        self.reserved = self.reserved.saturating_sub(bytes);
    }

    fn allocate_in_arena(&mut self, len: u64, charged: bool) -> Result<PhysAddr, PhysError> {
        debug_assert!(len > 0 && len.is_multiple_of(self.page_size));
        if self.arena.is_none() {
            let span = Self::arena_span(self.page_size, self.limit);
            let arena = Arena::reserve(span).map_err(|source| PhysError::Host { len: span, source })?;
            self.events.push(PhysEvent::Arena { pa: PhysAddr(PHYS_BASE), len: span, host: arena.host(0) });
            self.arena = Some(arena);
        }
        let Some(arena) = self.arena.as_mut() else { return Err(PhysError::Exhausted) };
        // Leave one guard page after each segment so an access running off the end of one can
        // never land in the next.
        let span = len.checked_add(self.page_size).ok_or(PhysError::Exhausted)?;
        let off = arena.take(span).map_err(|source| PhysError::Host { len, source })?.ok_or(PhysError::Exhausted)?;
        let pa = PHYS_BASE + off;
        if charged {
            self.reserved += len;
        }
        self.segments.insert(
            pa,
            Segment {
                pa: PhysAddr(pa),
                mem: Backing { ptr: arena.host(off), len: len as usize, in_arena: true },
                pinned: false,
                charged,
                pages: PageStates::new(len / self.page_size, PageState::Absent),
                resident: Some(self.resident.clone()),
                page_size: self.page_size,
                tags: None,
                eof: None,
            },
        );
        Ok(PhysAddr(pa))
    }

    /// Make `len` bytes of host memory at `host`, owned elsewhere, a (pinned, resident)
    /// segment: a file's page cache.
    ///
    /// # Safety
    /// `host` must stay valid for `len` bytes, and not be moved or freed, for as long as this
    /// physical memory exists; while the segment is used, no other reference may access it.
    pub unsafe fn adopt(&mut self, host: *mut u8, len: u64) -> Result<PhysAddr, PhysError> {
        let pa = self.next_pa;
        let end = pa.checked_add(len).ok_or(PhysError::Exhausted)?;
        if end > self.limit || !len.is_multiple_of(self.page_size) {
            return Err(PhysError::Exhausted);
        }
        self.segments.insert(
            pa,
            Segment {
                pa: PhysAddr(pa),
                mem: Backing { ptr: host, len: len as usize, in_arena: false },
                pinned: true,
                charged: false,
                pages: PageStates::new(len / self.page_size, PageState::Present),
                resident: None,
                page_size: self.page_size,
                tags: None,
                eof: None,
            },
        );
        self.next_pa = end + self.page_size;
        self.events.push(PhysEvent::Mapped { pa: PhysAddr(pa), len, host });
        Ok(PhysAddr(pa))
    }

    /// Tie the segment at `pa` (a file's page cache) to the file's size, which the VFS keeps
    /// up to date: a page wholly past it faults with SIGBUS.
    pub fn set_eof(&mut self, pa: PhysAddr, eof: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        if let Some(s) = self.segments.get_mut(&pa.0) {
            s.eof = Some(eof);
        }
    }

    /// Pin or unpin the segment at `pa` (a pinned segment survives its last mapping).
    pub fn set_pinned(&mut self, pa: PhysAddr, pinned: bool) {
        if let Some(s) = self.segments.get_mut(&pa.0) {
            s.pinned = pinned;
        }
    }

    /// Another process maps the segment at `pa` too (fork of a MAP_SHARED mapping): it is
    /// released only when every process has released it.
    pub fn share(&mut self, pa: PhysAddr) {
        *self.shares.entry(pa.0).or_insert(0) += 1;
    }

    /// Release the segment starting at `pa` (or one process's share of it).
    pub fn release(&mut self, pa: PhysAddr) {
        if self.segments.get(&pa.0).is_some_and(|s| s.pinned) {
            return;
        }
        if let Some(n) = self.shares.get_mut(&pa.0) {
            *n -= 1;
            if *n == 0 {
                self.shares.remove(&pa.0);
            }
            return;
        }
        if let Some(seg) = self.segments.remove(&pa.0) {
            if seg.mem.in_arena {
                if seg.charged {
                    self.reserved -= seg.len();
                }
                if let Some(arena) = self.arena.as_mut() {
                    arena.put(pa.0 - PHYS_BASE, seg.len() + self.page_size);
                }
            } else {
                self.events.push(PhysEvent::Unmapped { pa, len: seg.len(), tagged: seg.tags.is_some() });
            }
        }
    }

    /// Give the segment at `pa` tag storage (all tags 0) if it has none; reports it to the
    /// CPU backend. Returns whether storage was created; fails when the host refuses the
    /// address space for it.
    pub fn enable_tags(&mut self, pa: PhysAddr, granule: u64) -> Result<bool, PhysError> {
        let Some(seg) = self.segments.get_mut(&pa.0) else { return Ok(false) };
        if seg.tags.is_some() {
            return Ok(false);
        }
        seg.tags =
            Some(TagStore::new(seg.len(), granule).map_err(|source| PhysError::Host { len: seg.len(), source })?);
        self.ever_tagged = true;
        if !seg.mem.in_arena {
            let (len, host) = (seg.len(), seg.mem.as_mut_ptr());
            self.events.push(PhysEvent::Tagged { pa, len, host });
        }
        Ok(true)
    }

    /// Whether any segment has ever had tag storage (memory of a tag-checked mapping).
    pub fn ever_tagged(&self) -> bool {
        self.ever_tagged
    }

    /// Copy the page at offset `from.1` of segment `from.0` onto the page at offset `to.1` of
    /// segment `to.0`: its contents (a page of zeros is not written: the target's page reads
    /// as zero already), its state, and its allocation tags when both segments have tag
    /// storage. Both offsets are page-aligned.
    pub fn copy_page(&mut self, from: (PhysAddr, u64), to: (PhysAddr, u64)) {
        let page = self.page_size;
        let Some(src) = self.segments.get(&from.0 .0) else { return };
        if from.1 + page > src.len() {
            return;
        }
        let bytes = &src.bytes()[from.1 as usize..(from.1 + page) as usize];
        let data = (!is_zero(bytes)).then(|| bytes.to_vec());
        let tags = src.tags().map(|t| t.granules(from.1, page).to_vec());
        let state = src.page_state(from.1);
        let Some(dst) = self.segments.get_mut(&to.0 .0) else { return };
        if to.1 + page > dst.len() {
            return;
        }
        if let Some(d) = data {
            dst.bytes_mut()[to.1 as usize..(to.1 + page) as usize].copy_from_slice(&d);
        }
        dst.set_state(to.1, state);
        if let (Some(t), Some(d)) = (tags, dst.tags_mut()) {
            d.granules_mut(to.1, page).copy_from_slice(&t);
        }
    }

    /// The segment starting exactly at `pa`.
    pub fn segment(&self, pa: PhysAddr) -> Option<&Segment> {
        self.segments.get(&pa.0)
    }

    /// The segment starting exactly at `pa`, writable.
    pub fn segment_mut(&mut self, pa: PhysAddr) -> Option<&mut Segment> {
        self.segments.get_mut(&pa.0)
    }

    /// The segment containing `pa` and the offset of `pa` in it.
    pub fn containing(&self, pa: PhysAddr) -> Option<(&Segment, u64)> {
        let (_, seg) = self.segments.range(..=pa.0).next_back()?;
        let off = pa.0 - seg.pa.0;
        (off < seg.len()).then_some((seg, off))
    }

    /// Take the changes the CPU backend has not mirrored yet.
    pub fn take_events(&mut self) -> Vec<PhysEvent> {
        std::mem::take(&mut self.events)
    }

    /// Every live segment, for a backend that attaches late.
    pub fn segments(&mut self) -> impl Iterator<Item = &mut Segment> {
        self.segments.values_mut()
    }

    /// Number of live segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// Whether `bytes` are all zero, compared a 4 KiB chunk at a time against a static page of
/// zeros: slice equality is one `memcmp` (vectorised libc code). A byte-by-byte `any` was a
/// third of a fork-heavy fuzz profile (`perf record` of `insns_arm64`; fork scans every held
/// page, and the fuzz build instruments every iteration of a loop written in Rust).
fn is_zero(bytes: &[u8]) -> bool {
    static ZEROS: [u8; 4096] = [0; 4096];
    bytes.chunks(ZEROS.len()).all(|c| c == &ZEROS[..c.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_zero_sees_a_set_byte_anywhere() {
        let mut page = vec![0u8; 4096 + 3];
        assert!(is_zero(&page));
        for at in [0, 63, 64, 4095, 4096, 4098] {
            page[at] = 0x80;
            assert!(!is_zero(&page), "byte {at}");
            page[at] = 0;
        }
        assert!(is_zero(&[]));
    }

    #[test]
    fn allocate_release_and_events() {
        let mut pm = PhysMemory::new(4096, 1 << 40);
        let a = pm.allocate(8192).unwrap();
        let b = pm.allocate(4096).unwrap();
        assert!(b.0 >= a.0 + 8192 + 4096, "a guard page separates segments");
        assert_eq!(pm.containing(PhysAddr(a.0 + 4097)).map(|(_, o)| o), Some(4097));
        assert!(pm.containing(PhysAddr(a.0 + 8192)).is_none());
        let seg = pm.segment_mut(a).unwrap();
        assert!(!seg.is_present(0));
        assert!(!seg.set_present(4096, true));
        assert!(seg.is_present(5000));
        assert!(seg.bytes().iter().all(|&x| x == 0));
        pm.release(a);
        let ev = pm.take_events();
        assert_eq!(ev.len(), 1, "anonymous segments come out of the arena, mapped once: {ev:?}");
        assert!(matches!(ev[0], PhysEvent::Arena { pa, .. } if pa.0 == PHYS_BASE));
        assert_eq!(pm.allocate(4096).unwrap(), a, "the released range is reused first");
        assert!(pm.take_events().is_empty());
    }

    #[test]
    fn adopted_segments_sit_above_the_arena_and_have_their_own_events() {
        let mut pm = PhysMemory::new(4096, 1 << 40);
        let a = pm.allocate(4096).unwrap();
        let mut cache = vec![0u8; 8192];
        // SAFETY: `cache` outlives `pm` (dropped after it) and is not touched meanwhile.
        let c = unsafe { pm.adopt(cache.as_mut_ptr(), 8192) }.unwrap();
        let (arena_pa, arena_len, _) = pm.arena().unwrap();
        assert!(c.0 > arena_pa.0 + arena_len && a.0 < arena_pa.0 + arena_len);
        assert!(pm.enable_tags(c, 16).unwrap() && pm.enable_tags(a, 16).unwrap());
        pm.set_pinned(c, false);
        pm.release(c);
        pm.release(a);
        let ev = pm.take_events();
        assert!(
            matches!(
                ev[..],
                [
                    PhysEvent::Arena { .. },
                    PhysEvent::Mapped { len: 8192, .. },
                    PhysEvent::Tagged { len: 8192, .. },
                    PhysEvent::Unmapped { tagged: true, len: 8192, .. }
                ]
            ),
            "{ev:?}"
        );
        drop(pm);
        drop(cache);
    }

    #[test]
    fn exhaustion_is_an_error() {
        let mut pm = PhysMemory::new(4096, PHYS_BASE + 4 * 4096);
        assert!(pm.allocate(4096).is_ok());
        assert!(matches!(pm.allocate(4096), Err(PhysError::Exhausted)));
        // Strict overcommit: at most half the RAM committed in all.
        let mut pm = PhysMemory::new(4096, 1 << 46);
        pm.set_budget(6 * 4096);
        pm.set_overcommit(Overcommit::Never);
        let a = pm.allocate(2 * 4096).unwrap();
        assert!(matches!(pm.allocate(2 * 4096), Err(PhysError::Exhausted)));
        assert!(pm.allocate_uncharged(2 * 4096).is_ok(), "what is not accountable is not charged");
        pm.release(a);
        assert_eq!(pm.reserved(), 0);
        assert!(pm.allocate(3 * 4096).is_ok());
        // The heuristic (the default): only a single request beyond the RAM fails.
        let mut pm = PhysMemory::new(4096, 1 << 46);
        pm.set_budget(3 * 4096);
        assert!(pm.allocate(2 * 4096).is_ok());
        assert!(pm.allocate(2 * 4096).is_ok());
        assert!(pm.charge(3 * 4096));
        assert!(matches!(pm.allocate(4 * 4096), Err(PhysError::Exhausted)));
        assert!(!pm.charge(4 * 4096));
        assert_eq!(pm.reserved(), 7 * 4096);
    }

    /// Anonymous memory counts its resident pages machine-wide, until they are dropped or
    /// their segment is released; a page cache does not.
    #[test]
    fn resident_anonymous_pages_are_counted() {
        let mut pm = PhysMemory::new(4096, 1 << 40);
        let a = pm.allocate(4 * 4096).unwrap();
        let b = pm.allocate(4096).unwrap();
        let seg = pm.segment_mut(a).unwrap();
        seg.set_present(0, true);
        seg.set_present(100, true);
        seg.set_present(3 * 4096, true);
        assert_eq!(seg.machine_resident(), Some(2 * 4096));
        seg.set_present(0, false);
        // An evicted page keeps its contents, and so its memory (the machine has no swap).
        assert_eq!(seg.evict_pages(3 * 4096, 4096), vec![3 * 4096]);
        assert!(seg.evict_pages(2 * 4096, 4096).is_empty(), "not resident");
        assert_eq!((seg.page_state(3 * 4096), seg.machine_resident()), (PageState::Evicted, Some(4096)));
        assert!(!seg.set_present(3 * 4096, true), "it comes back from swap");
        assert_eq!(seg.machine_resident(), Some(4096));
        seg.evict_pages(3 * 4096, 4096);
        // Dropped contents read as zero and cost the host nothing more.
        seg.bytes_mut()[4096] = 7;
        seg.discard(4096, 4096);
        assert_eq!(seg.bytes()[4096], 0);
        pm.segment_mut(b).unwrap().set_present(0, true);
        assert_eq!(pm.resident(), 2 * 4096);
        pm.segment_mut(a).unwrap().set_present(4096, false);
        assert_eq!(pm.resident(), 2 * 4096);
        pm.release(a);
        assert_eq!(pm.resident(), 4096, "a released segment's pages, evicted too, are resident no more");
        let mut cache = vec![0u8; 4096];
        // SAFETY: `cache` outlives `pm` (dropped after it) and is not touched meanwhile.
        let c = unsafe { pm.adopt(cache.as_mut_ptr(), 4096) }.unwrap();
        assert_eq!(pm.segment(c).and_then(Segment::machine_resident), None);
        assert_eq!(pm.resident(), 4096);
        drop(pm);
        drop(cache);
    }
}
