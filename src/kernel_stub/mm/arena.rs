//! The arena: one host address-space reservation that backs all anonymous guest memory.
//!
//! The CPU backend maps the whole arena once (and its tag aliases once), so a guest `mmap` or
//! `munmap` costs no change of the emulator's memory map: it only carves a range out of the
//! arena or gives one back. (One emulator region per mapping made every map and unmap rebuild
//! the emulator's flat view of all regions, quadratic in the number of mappings, and seventeen
//! times worse for tag-checked ones, which have sixteen aliases each.)
//!
//! The reservation is `PROT_NONE` and `MAP_NORESERVE`: it commits nothing. A range handed out
//! is made read-write (host pages are still only committed when touched); a range given back
//! is emptied with `MADV_DONTNEED` (so it reads as zeros when reused, and its host memory is
//! returned) and made `PROT_NONE` again. Ranges are handed out first-fit by address, so the
//! physical layout is a function of the guest's calls alone.

use std::collections::BTreeMap;

/// A host reservation carved into guest physical ranges.
pub struct Arena {
    /// Host address of the first byte.
    base: *mut u8,
    /// Bytes reserved.
    len: u64,
    /// Offsets below this have been handed out at some time; the rest is untouched.
    top: u64,
    /// Free ranges below `top`: offset -> length (coalesced: no two are adjacent).
    free: BTreeMap<u64, u64>,
}

impl Arena {
    /// Reserve `len` bytes of host address space (a multiple of the host page size).
    pub fn reserve(len: u64) -> std::io::Result<Arena> {
        let host_len = usize::try_from(len).map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        // SAFETY: a fresh anonymous private mapping at an address of the kernel's choosing;
        // it aliases nothing, and the result is checked before use.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                host_len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arena { base: base.cast(), len, top: 0, free: BTreeMap::new() })
    }

    /// Bytes reserved.
    #[cfg(test)]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The host address of offset `off`.
    pub fn host(&self, off: u64) -> *mut u8 {
        debug_assert!(off <= self.len);
        self.base.wrapping_add(off as usize)
    }

    /// Hand out `len` bytes (a multiple of the host page size), readable and writable and
    /// reading as zeros: the lowest free range that fits. None when the arena is full.
    pub fn take(&mut self, len: u64) -> std::io::Result<Option<u64>> {
        let found = self.free.iter().find(|(_, &l)| l >= len).map(|(&o, &l)| (o, l));
        let off = match found {
            Some((o, l)) => {
                self.free.remove(&o);
                if l > len {
                    self.free.insert(o + len, l - len);
                }
                o
            }
            None => {
                let Some(end) = self.top.checked_add(len).filter(|&e| e <= self.len) else { return Ok(None) };
                let o = self.top;
                self.top = end;
                o
            }
        };
        if let Err(e) = self.protect(off, len, libc::PROT_READ | libc::PROT_WRITE) {
            self.give_back(off, len);
            return Err(e);
        }
        Ok(Some(off))
    }

    /// Give back `len` bytes at `off` (a range [`Arena::take`] handed out): its host memory is
    /// released and it becomes inaccessible until handed out again.
    pub fn put(&mut self, off: u64, len: u64) {
        debug_assert!(off + len <= self.top);
        // SAFETY: the range lies inside the reservation; nothing refers to its contents any
        // more (the segment that used it is gone), and discarding private anonymous pages only
        // makes them read as zeros.
        unsafe { libc::madvise(self.host(off).cast(), len as usize, libc::MADV_DONTNEED) };
        // Failure only leaves the range accessible, which nothing relies on.
        let _ = self.protect(off, len, libc::PROT_NONE);
        self.give_back(off, len);
    }

    /// Record `[off, off + len)` as free, merging with its neighbours (and lowering `top`).
    fn give_back(&mut self, mut off: u64, mut len: u64) {
        if let Some((&o, &l)) = self.free.range(..off).next_back() {
            if o + l == off {
                self.free.remove(&o);
                off = o;
                len += l;
            }
        }
        if let Some(l) = self.free.remove(&(off + len)) {
            len += l;
        }
        if off + len == self.top {
            self.top = off;
        } else {
            self.free.insert(off, len);
        }
    }

    fn protect(&self, off: u64, len: u64, prot: libc::c_int) -> std::io::Result<()> {
        // SAFETY: the range lies inside the reservation, which this arena owns; changing its
        // protection affects no memory Rust code holds a reference into (callers hand out or
        // take back whole ranges).
        let r = unsafe { libc::mprotect(self.host(off).cast(), len as usize, prot) };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Number of free ranges below the high-water mark (fragmentation).
    #[cfg(test)]
    pub fn free_ranges(&self) -> usize {
        self.free.len()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: the reservation made in `reserve`, unmapped once; every segment carved from
        // it belongs to the same physical memory, which is being dropped.
        unsafe { libc::munmap(self.base.cast(), self.len as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_first_fit_zeroed_and_coalesced() {
        let page = 4096;
        let mut a = Arena::reserve(64 * page).unwrap();
        let x = a.take(2 * page).unwrap().unwrap();
        let y = a.take(page).unwrap().unwrap();
        let z = a.take(page).unwrap().unwrap();
        assert_eq!((x, y, z), (0, 2 * page, 3 * page));
        // SAFETY: the range was just handed out read-write.
        unsafe { *a.host(y) = 7 };
        a.put(y, page);
        assert_eq!(a.free_ranges(), 1);
        a.put(x, 2 * page);
        assert_eq!(a.free_ranges(), 1, "neighbours merge");
        let y2 = a.take(page).unwrap().unwrap();
        assert_eq!(y2, 0, "lowest fit first");
        assert_eq!(a.take(2 * page).unwrap(), Some(page));
        // SAFETY: handed out again (it held the 7); the old contents were discarded.
        unsafe { assert_eq!(*a.host(2 * page), 0) };
        assert_eq!(a.free_ranges(), 0);
        a.put(z, page);
        assert_eq!(a.take(61 * page).unwrap(), Some(3 * page), "the top comes down when its range is freed");
        assert_eq!(a.take(page).unwrap(), None, "full");
    }
}
