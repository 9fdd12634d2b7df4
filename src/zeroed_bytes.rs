//! Zero-initialised byte buffers whose host memory is committed only where they are written.
//!
//! Tag storage is sized by the guest's mappings, not by what the guest touches: a
//! `MAP_NORESERVE` mapping of a terabyte with `PROT_MTE` needs 64 GiB of tags, nearly all of
//! them zero forever. A large buffer is therefore a private anonymous host mapping with
//! `MAP_NORESERVE` (reads of untouched pages see the shared zero page; only written pages cost
//! host memory), and zeroing a range gives its whole host pages back. Small buffers stay on the
//! heap, so many small tagged mappings do not use up the host's mapping count.

use std::ops::{Deref, DerefMut, Range};

/// Buffers from this size on are host mappings; smaller ones live on the heap.
pub const MAPPED_FROM: usize = 64 << 10;

/// A zero-initialised byte buffer, committed on write.
pub struct ZeroedBytes(Repr);

enum Repr {
    Heap(Box<[u8]>),
    Mapped(memmap2::MmapMut),
}

impl ZeroedBytes {
    /// `len` zero bytes. Fails only when the host refuses the address space of a large buffer.
    pub fn new(len: usize) -> std::io::Result<ZeroedBytes> {
        if len < MAPPED_FROM {
            return Ok(ZeroedBytes(Repr::Heap(vec![0; len].into_boxed_slice())));
        }
        let map = memmap2::MmapOptions::new().len(len).no_reserve_swap().map_anon()?;
        Ok(ZeroedBytes(Repr::Mapped(map)))
    }

    /// Whether the buffer is a host mapping (committed on write) rather than heap memory.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped(_))
    }

    /// Set `range` (clipped to the buffer) to zero. The whole host pages inside it are given
    /// back to the host (`MADV_DONTNEED`), so zeroing costs no memory however large the range.
    pub fn zero(&mut self, range: Range<usize>) {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let Repr::Mapped(map) = &mut self.0 else {
            self[start..end].fill(0);
            return;
        };
        let page = host_page_size();
        // The mapping starts on a host page, so offsets align as addresses do.
        let inner = (start.next_multiple_of(page), end / page * page);
        if inner.0 >= inner.1 {
            map[start..end].fill(0);
            return;
        }
        map[start..inner.0].fill(0);
        map[inner.1..end].fill(0);
        // SAFETY: `[inner.0, inner.1)` is a page-aligned range inside this private anonymous
        // mapping, which only this buffer reaches (the `&mut self` excludes other
        // references); MADV_DONTNEED replaces its pages with zero-fill ones, which is exactly
        // the zeroing asked for.
        let given_back =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, inner.0, inner.1 - inner.0) };
        if given_back.is_err() {
            map[inner.0..inner.1].fill(0);
        }
    }
}

fn host_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

impl Deref for ZeroedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Heap(b) => b,
            Repr::Mapped(m) => m,
        }
    }
}

impl DerefMut for ZeroedBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Heap(b) => b,
            Repr::Mapped(m) => m,
        }
    }
}

impl std::fmt::Debug for ZeroedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroedBytes").field("len", &self.len()).field("mapped", &self.is_mapped()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's resident set, in bytes (Linux /proc/self/statm).
    fn resident() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * host_page_size()
    }

    #[test]
    fn small_buffers_are_heap_memory_and_large_ones_mappings() {
        assert!(!ZeroedBytes::new(MAPPED_FROM - 1).unwrap().is_mapped());
        let big = ZeroedBytes::new(MAPPED_FROM).unwrap();
        assert!(big.is_mapped() && big.len() == MAPPED_FROM && big.iter().all(|&b| b == 0));
    }

    #[test]
    fn a_huge_buffer_costs_only_what_is_written() {
        // 64 GiB: more than many hosts have, so committing it would fail or swap.
        let before = resident();
        let mut b = ZeroedBytes::new(64 << 30).unwrap();
        b[0] = 1;
        b[(64 << 30) - 1] = 2;
        b[5 << 30] = 3;
        assert_eq!((b[0], b[(64 << 30) - 1], b[5 << 30], b[7 << 30]), (1, 2, 3, 0));
        assert!(resident() < before + (16 << 20), "three written pages, not gigabytes");
        // Zeroing the whole of it gives the pages back without touching the rest.
        b.zero(0..64 << 30);
        assert_eq!((b[0], b[(64 << 30) - 1], b[5 << 30]), (0, 0, 0));
        assert!(resident() < before + (16 << 20));
    }

    #[test]
    fn zeroing_keeps_the_bytes_around_the_range() {
        for len in [100, MAPPED_FROM * 2] {
            let mut b = ZeroedBytes::new(len).unwrap();
            b.fill(7);
            b.zero(3..len - 5);
            assert!(b[..3].iter().all(|&x| x == 7), "len {len}");
            assert!(b[3..len - 5].iter().all(|&x| x == 0), "len {len}");
            assert!(b[len - 5..].iter().all(|&x| x == 7), "len {len}");
            b.zero(len - 2..len + 100);
            assert_eq!(&b[len - 5..], &[7, 7, 7, 0, 0], "clipped to the buffer");
        }
    }
}
