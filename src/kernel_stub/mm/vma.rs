//! Virtual memory areas: the ranges of the address space and what backs them.

use std::collections::BTreeMap;
use std::fmt;

use crate::addr::PhysAddr;

/// Protection bits of a mapping, in the kernel's generic sense (`PROT_READ`, `PROT_WRITE`,
/// `PROT_EXEC`), plus the architecture's tagging bit when the mapping is tag-checked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Prot(u32);

impl Prot {
    /// No access.
    pub const NONE: Prot = Prot(0);
    /// Readable.
    pub const READ: Prot = Prot(1);
    /// Writable.
    pub const WRITE: Prot = Prot(2);
    /// Executable.
    pub const EXEC: Prot = Prot(4);
    /// Tag-checked memory (`PROT_MTE` on arm64, `PROT_ADI` on SPARC).
    pub const TAGGED: Prot = Prot(0x100);
    /// Read and write.
    pub const RW: Prot = Prot(3);
    /// Read, write and execute.
    pub const RWX: Prot = Prot(7);

    /// Does `self` include every bit of `other`?
    pub fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }
    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// From the generic `PROT_READ|PROT_WRITE|PROT_EXEC` bits.
    pub fn from_rwx(bits: u32) -> Prot {
        Prot(bits & 7)
    }
    /// `self` if it is exactly TAGGED, else NONE (helper for keeping the tag bit).
    pub fn into_tagged(self) -> Prot {
        if self.contains(Prot::TAGGED) {
            Prot::TAGGED
        } else {
            Prot::NONE
        }
    }
    /// Only the read/write/execute bits.
    pub fn rwx(self) -> Prot {
        Prot(self.0 & 7)
    }
}

impl std::ops::BitOr for Prot {
    type Output = Prot;
    fn bitor(self, rhs: Prot) -> Prot {
        Prot(self.0 | rhs.0)
    }
}

impl fmt::Debug for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |p: Prot, ch: char| if self.contains(p) { ch } else { '-' };
        write!(f, "{}{}{}", c(Prot::READ, 'r'), c(Prot::WRITE, 'w'), c(Prot::EXEC, 'x'))?;
        if self.contains(Prot::TAGGED) {
            f.write_str("t")?;
        }
        Ok(())
    }
}

/// What a mapping was created for (shown in traces and memory maps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// A segment of the executable.
    Image,
    /// The brk heap.
    Heap,
    /// The main thread's stack.
    Stack,
    /// Anonymous memory from mmap.
    Anon,
    /// A private copy of a file's contents, from mmap of a file.
    File(String),
    /// The page holding the signal-return trampoline (Linux's vDSO provides it).
    Vdso,
}

/// Whether a mapping is locked in memory: `VM_LOCKED`, with `VM_LOCKONFAULT` (mm/mlock.c).
/// Locked pages stay resident: reclaim passes them by and `MADV_DONTNEED` refuses them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VmLock {
    /// Not locked.
    #[default]
    Unlocked,
    /// `VM_LOCKED`: locked, and faulted in when locked (`mlock`, `MCL_CURRENT`, `MAP_LOCKED`).
    Locked,
    /// `VM_LOCKED | VM_LOCKONFAULT`: pages are locked as they are faulted in, none is
    /// faulted in by the lock (`MLOCK_ONFAULT`, `MCL_ONFAULT`).
    OnFault,
}

impl VmLock {
    /// Does the mapping carry `VM_LOCKED`?
    pub fn is_locked(self) -> bool {
        self != VmLock::Unlocked
    }
}

/// One virtual memory area `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First address (page aligned).
    pub start: u64,
    /// One past the last address (page aligned).
    pub end: u64,
    /// Protection.
    pub prot: Prot,
    /// Shared (MAP_SHARED) rather than private.
    pub shared: bool,
    /// What it is.
    pub kind: VmaKind,
    /// The physical segment backing it.
    pub seg: PhysAddr,
    /// Offset of `start` inside that segment.
    pub seg_off: u64,
    /// Locked in memory (mlock).
    pub locked: VmLock,
}

impl Vma {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    /// Never true: a VMA always covers at least one page.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    /// Does the VMA contain `addr`?
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
    /// The physical address of `addr` (which must be inside).
    pub fn phys(&self, addr: u64) -> PhysAddr {
        PhysAddr(self.seg.0 + self.seg_off + (addr - self.start))
    }
    /// The part `[from, to)` of this VMA, same backing.
    fn slice(&self, from: u64, to: u64) -> Vma {
        Vma { start: from, end: to, seg_off: self.seg_off + (from - self.start), ..self.clone() }
    }
}

/// The set of VMAs of an address space, ordered and non-overlapping.
#[derive(Clone, Debug, Default)]
pub struct VmaSet {
    by_start: BTreeMap<u64, Vma>,
    /// How many VMAs each segment backs (by physical address), so that a munmap learns in
    /// constant time whether a segment is still used.
    seg_users: rustc_hash::FxHashMap<u64, u32>,
    /// The search hint of [`Self::find_free_top_down`]: `(top, hint)` where every address of
    /// `[hint, top)` is mapped, so a top-down search for a gap below `top` may start at `hint`
    /// (as Linux's free_area_cache did). Mappings placed one below the other then cost a
    /// lookup each, not a walk over all of them. A removal above the hint raises it.
    free_hint: std::cell::Cell<Option<(u64, u64)>>,
    /// The hint a search found, `(top, start, end, hint)`: it holds once `[start, end)` is
    /// mapped (see [`Self::put`]).
    pending_hint: std::cell::Cell<Option<(u64, u64, u64, u64)>>,
}

impl VmaSet {
    /// Add `v` to the map and its segment's count.
    fn put(&mut self, v: Vma) {
        if let Some((top, start, end, hint)) = self.pending_hint.get() {
            if (v.start, v.end) == (start, end) {
                self.free_hint.set(Some((top, hint)));
                self.pending_hint.set(None);
            }
        }
        *self.seg_users.entry(v.seg.0).or_insert(0) += 1;
        self.by_start.insert(v.start, v);
    }
    /// Take the VMA starting at `start` out of the map and its segment's count.
    fn take(&mut self, start: u64) -> Option<Vma> {
        let v = self.by_start.remove(&start)?;
        if let std::collections::hash_map::Entry::Occupied(mut n) = self.seg_users.entry(v.seg.0) {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
        if let Some((top, hint)) = self.free_hint.get() {
            if v.end > hint {
                self.free_hint.set(Some((top, v.end.min(top).max(hint))));
            }
        }
        Some(v)
    }
    /// The VMA containing `addr`.
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        let (_, v) = self.by_start.range(..=addr).next_back()?;
        v.contains(addr).then_some(v)
    }
    /// `find_vma()`: the first VMA that ends above `addr` (it contains `addr` or lies above).
    pub fn find_vma(&self, addr: u64) -> Option<&Vma> {
        if let Some((_, v)) = self.by_start.range(..=addr).next_back().filter(|(_, v)| v.end > addr) {
            return Some(v);
        }
        self.by_start.range(addr..).next().map(|(_, v)| v)
    }
    /// Does any VMA intersect `[start, end)`?
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.intersecting(start, end).next().is_some()
    }
    /// The VMAs intersecting `[start, end)`, in order.
    pub fn intersecting(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first =
            self.by_start.range(..=start).next_back().filter(|(_, v)| v.end > start).map(|(k, _)| *k).unwrap_or(start);
        self.by_start.range(first..end).map(|(_, v)| v).filter(move |v| v.end > start && v.start < end)
    }
    /// Insert a VMA; the caller guarantees the range is free.
    pub fn insert(&mut self, vma: Vma) {
        debug_assert!(!self.overlaps(vma.start, vma.end));
        self.put(vma);
    }
    /// Remove `[start, end)` from every VMA it touches, splitting at the edges. Returns the
    /// removed pieces.
    pub fn remove_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        let hit: Vec<Vma> = self.intersecting(start, end).cloned().collect();
        let mut removed = Vec::new();
        for v in hit {
            self.take(v.start);
            if v.start < start {
                self.put(v.slice(v.start, start));
            }
            if v.end > end {
                self.put(v.slice(end, v.end));
            }
            removed.push(v.slice(v.start.max(start), v.end.min(end)));
        }
        removed
    }
    /// Apply `f` to the parts of the VMAs inside `[start, end)`, splitting at the edges.
    pub fn update_range(&mut self, start: u64, end: u64, mut f: impl FnMut(&mut Vma)) {
        let hint = self.free_hint.get();
        for mut piece in self.remove_range(start, end) {
            f(&mut piece);
            self.put(piece);
        }
        // The same addresses stay mapped: the hint still holds.
        self.free_hint.set(hint);
    }
    /// Is `[start, end)` entirely covered by VMAs, without holes?
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for v in self.intersecting(start, end) {
            if v.start > at {
                return false;
            }
            at = v.end;
        }
        at >= end
    }
    /// Is any VMA backed by the segment at `seg`?
    pub fn uses_segment(&self, seg: PhysAddr) -> bool {
        self.seg_users.contains_key(&seg.0)
    }
    /// How many VMAs there are (`mm->map_count`).
    pub fn count(&self) -> usize {
        self.by_start.len()
    }
    /// Would changing `[start, end)` split a VMA (a boundary strictly inside one)?
    pub fn splits_at(&self, start: u64, end: u64) -> bool {
        [start, end].into_iter().any(|a| self.find(a).is_some_and(|v| v.start < a))
    }
    /// All VMAs in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.by_start.values()
    }
    /// The highest free gap of `len` bytes ending at or below `top` and starting at or above
    /// `bottom`.
    pub fn find_free_top_down(&self, len: u64, bottom: u64, top: u64) -> Option<u64> {
        // Every address of [hint, top) is mapped: the search starts at the hint.
        let from = match self.free_hint.get() {
            Some((t, hint)) if t == top => hint,
            _ => top,
        };
        let mut hi = from;
        // Whether [hi, from) is mapped throughout (no gap passed over yet).
        let mut solid = true;
        let mut found = None;
        for v in self.by_start.range(..from).rev().map(|(_, v)| v) {
            if v.end <= hi && hi - v.end >= len {
                found = Some(hi - len);
                break;
            }
            solid &= v.end >= hi;
            hi = hi.min(v.start);
            if hi < bottom {
                return None;
            }
        }
        let start = match found {
            Some(start) => start,
            None if hi >= bottom.saturating_add(len) => hi - len,
            None => return None,
        };
        if start < bottom {
            return None;
        }
        // Once the caller maps [start, start + len), with no gap passed over, everything from
        // `start` up is mapped.
        self.free_hint.set(Some((top, from)));
        if solid && start + len == hi {
            self.pending_hint.set(Some((top, start, start + len, start)));
        }
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vma(start: u64, end: u64) -> Vma {
        Vma {
            start,
            end,
            prot: Prot::RW,
            shared: false,
            kind: VmaKind::Anon,
            seg: PhysAddr(0x1000_0000),
            seg_off: 0,
            locked: VmLock::Unlocked,
        }
    }

    /// The search hint keeps the top-down placement exact: mappings go one below the other,
    /// a hole opened above reuses it, and a hole too small for one request is still found by
    /// the next smaller one.
    #[test]
    fn top_down_search_with_its_hint_places_as_a_full_search_would() {
        let mut s = VmaSet::default();
        let top = 0x10_0000;
        let map = |s: &mut VmaSet, len: u64| {
            let a = s.find_free_top_down(len, 0x1000, top).unwrap();
            s.insert(vma(a, a + len));
            a
        };
        assert_eq!([map(&mut s, 0x1000), map(&mut s, 0x1000), map(&mut s, 0x1000)], [0xff000, 0xfe000, 0xfd000]);
        s.remove_range(0xfe000, 0xff000);
        assert_eq!(map(&mut s, 0x1000), 0xfe000, "the hole above");
        assert_eq!(map(&mut s, 0x1000), 0xfc000);
        s.remove_range(0xfe000, 0xff000);
        assert_eq!(map(&mut s, 0x2000), 0xfa000, "the hole is too small");
        assert_eq!(map(&mut s, 0x1000), 0xfe000, "but not for this one");
        assert_eq!(map(&mut s, 0x1000), 0xf9000);
        // A search whose mapping is never made leaves the hint where it was.
        assert_eq!(s.find_free_top_down(0x1000, 0x1000, top), Some(0xf8000));
        s.remove_range(0xff000, 0x10_0000);
        assert_eq!(map(&mut s, 0x1000), 0xff000);
    }

    #[test]
    fn split_on_remove_keeps_backing_offsets() {
        let mut s = VmaSet::default();
        s.insert(vma(0x10000, 0x14000));
        let removed = s.remove_range(0x11000, 0x12000);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].seg_off, 0x1000);
        let rest: Vec<_> = s.iter().map(|v| (v.start, v.end, v.seg_off)).collect();
        assert_eq!(rest, vec![(0x10000, 0x11000, 0), (0x12000, 0x14000, 0x2000)]);
        assert_eq!(s.find(0x12345).unwrap().phys(0x12345), PhysAddr(0x1000_0000 + 0x2345));
        assert!(s.find(0x11800).is_none());
        assert!(!s.covers(0x10000, 0x13000));
        assert!(s.covers(0x12000, 0x14000));
    }

    #[test]
    fn update_range_splits_and_changes_prot() {
        let mut s = VmaSet::default();
        s.insert(vma(0x10000, 0x14000));
        s.update_range(0x11000, 0x12000, |v| v.prot = Prot::READ);
        let prots: Vec<_> = s.iter().map(|v| (v.start, v.prot)).collect();
        assert_eq!(prots, vec![(0x10000, Prot::RW), (0x11000, Prot::READ), (0x12000, Prot::RW)]);
    }

    #[test]
    fn free_gap_search_is_top_down() {
        let mut s = VmaSet::default();
        s.insert(vma(0x20000, 0x30000));
        s.insert(vma(0x38000, 0x40000));
        assert_eq!(s.find_free_top_down(0x4000, 0x10000, 0x40000), Some(0x34000));
        assert_eq!(s.find_free_top_down(0x9000, 0x10000, 0x40000), Some(0x17000));
        assert_eq!(s.find_free_top_down(0x20000, 0x10000, 0x40000), None);
        assert_eq!(s.find_free_top_down(0x1000, 0x10000, 0x50000), Some(0x4f000));
    }
}
