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
use crate::addr::PhysAddr;
use crate::tags::TagStore;

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
    /// Per page: is it resident? A page that is not resident must be faulted in before a
    /// kernel access with page faults disabled can reach it; its contents survive (as swap).
    present: Vec<bool>,
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
    /// Is this a file's page cache (whose pages past the file's end fault)?
    pub fn is_file_cache(&self) -> bool {
        self.eof.is_some()
    }
    /// Is the page holding `offset` resident?
    pub fn is_present(&self, offset: u64) -> bool {
        self.present[(offset / self.page_size) as usize]
    }
    /// Mark the page holding `offset` resident or not; returns the previous state.
    pub fn set_present(&mut self, offset: u64, present: bool) -> bool {
        let slot = &mut self.present[(offset / self.page_size) as usize];
        std::mem::replace(slot, present)
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
    /// Bytes of all live segments.
    reserved: u64,
    /// The most `reserved` may reach (the guest's memory limit).
    budget: u64,
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
            ever_tagged: false,
            shares: Default::default(),
        }
    }

    /// Limit the total size of live segments (mmap beyond it fails with ENOMEM).
    pub fn set_budget(&mut self, bytes: u64) {
        self.budget = bytes;
    }

    /// Bytes of all live segments.
    pub fn reserved(&self) -> u64 {
        self.reserved
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
    /// out of the arena, counted against the memory limit.
    pub fn allocate(&mut self, len: u64) -> Result<PhysAddr, PhysError> {
        if self.reserved.saturating_add(len) > self.budget {
            return Err(PhysError::Exhausted);
        }
        self.allocate_in_arena(len, true)
    }

    /// [`Self::allocate`], not counted against the memory limit: a reservation whose use is
    /// counted as it grows ([`Self::charge`]), the brk heap's.
    pub fn allocate_uncharged(&mut self, len: u64) -> Result<PhysAddr, PhysError> {
        self.allocate_in_arena(len, false)
    }

    /// Count `bytes` more against the memory limit; false (and nothing counted) past it.
    pub fn charge(&mut self, bytes: u64) -> bool {
        match self.reserved.checked_add(bytes).filter(|&r| r <= self.budget) {
            Some(r) => {
                self.reserved = r;
                true
            }
            None => false,
        }
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
        let pages = (len / self.page_size) as usize;
        self.segments.insert(
            pa,
            Segment {
                pa: PhysAddr(pa),
                mem: Backing { ptr: arena.host(off), len: len as usize, in_arena: true },
                pinned: false,
                charged,
                present: vec![false; pages],
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
        let pages = (len / self.page_size) as usize;
        self.segments.insert(
            pa,
            Segment {
                pa: PhysAddr(pa),
                mem: Backing { ptr: host, len: len as usize, in_arena: false },
                pinned: true,
                charged: false,
                present: vec![true; pages],
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
    /// CPU backend. Returns whether storage was created.
    pub fn enable_tags(&mut self, pa: PhysAddr, granule: u64) -> bool {
        let Some(seg) = self.segments.get_mut(&pa.0) else { return false };
        if seg.tags.is_some() {
            return false;
        }
        seg.tags = Some(TagStore::new(seg.len(), granule));
        self.ever_tagged = true;
        if !seg.mem.in_arena {
            let (len, host) = (seg.len(), seg.mem.as_mut_ptr());
            self.events.push(PhysEvent::Tagged { pa, len, host });
        }
        true
    }

    /// Whether any segment has ever had tag storage (memory of a tag-checked mapping).
    pub fn ever_tagged(&self) -> bool {
        self.ever_tagged
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(pm.enable_tags(c, 16) && pm.enable_tags(a, 16));
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
        let mut pm = PhysMemory::new(4096, 1 << 46);
        pm.set_budget(3 * 4096);
        let a = pm.allocate(2 * 4096).unwrap();
        assert!(matches!(pm.allocate(2 * 4096), Err(PhysError::Exhausted)));
        pm.release(a);
        assert_eq!(pm.reserved(), 0);
        assert!(pm.allocate(3 * 4096).is_ok());
    }
}
