//! A regular file's bytes: on the heap, or, once mapped MAP_SHARED, in a fixed host buffer
//! (its page cache) that the CPU backend maps directly.

use super::*;

/// The bytes of a regular file. A file starts on the heap; when it is first mapped
/// MAP_SHARED it moves into a fixed host buffer (its page cache) that the CPU backend maps
/// directly, so the mapping, read() and write() all see the same bytes, and the tags of a
/// tag-checked shared mapping belong to the file's pages.
#[derive(Debug)]
pub struct FileData {
    heap: Vec<u8>,
    paged: Option<PageCache>,
}

/// A file's page cache: a host buffer of fixed capacity, and where it is mapped in physical
/// memory.
#[derive(Debug)]
struct PageCache {
    buf: memmap2::MmapMut,
    len: usize,
    pa: Option<crate::addr::PhysAddr>,
    /// `len`, shared with the physical memory that maps this page cache (SIGBUS past it).
    eof: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Room a file gets beyond its size when it moves into a page cache.
pub const PAGE_CACHE_SLACK: u64 = 64 << 20;

impl FileData {
    /// A file holding `bytes`.
    pub fn new(bytes: Vec<u8>) -> FileData {
        FileData { heap: bytes, paged: None }
    }
    fn bytes(&self) -> &[u8] {
        match &self.paged {
            Some(p) => &p.buf[..p.len],
            None => &self.heap,
        }
    }
    /// The size.
    pub fn size(&self) -> u64 {
        self.bytes().len() as u64
    }
    /// The most this file can grow to.
    fn capacity(&self) -> u64 {
        match &self.paged {
            Some(p) => p.buf.len() as u64,
            None => MAX_FILE_SIZE,
        }
    }
    /// Set the size, zero-filling growth.
    pub fn resize(&mut self, n: u64) -> KResult<()> {
        if n > self.capacity() {
            return Err(Errno::EFBIG);
        }
        match &mut self.paged {
            Some(p) => {
                if (n as usize) < p.len {
                    p.buf[n as usize..p.len].fill(0);
                }
                p.len = n as usize;
                p.eof.store(n, std::sync::atomic::Ordering::Relaxed);
            }
            None => self.heap.resize(n as usize, 0),
        }
        Ok(())
    }
    /// Write `data` at `pos`, growing the file.
    pub fn write_at(&mut self, pos: u64, data: &[u8]) -> KResult<()> {
        let end = pos.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
        if end > self.size() {
            self.resize(end)?;
        }
        let dst = match &mut self.paged {
            Some(p) => &mut p.buf[..p.len],
            None => &mut self.heap[..],
        };
        dst[pos as usize..end as usize].copy_from_slice(data);
        Ok(())
    }
    /// Move the file into a page cache (if it is not yet) and return the host buffer, its
    /// capacity and the physical address it is mapped at, if it already is.
    pub(crate) fn page_cache(&mut self) -> KResult<(*mut u8, u64, Option<crate::addr::PhysAddr>)> {
        if self.paged.is_none() {
            let cap = (self.heap.len() as u64 + PAGE_CACHE_SLACK).div_ceil(1 << 16) << 16;
            let mut buf = memmap2::MmapOptions::new()
                .len(cap as usize)
                .no_reserve_swap()
                .map_anon()
                .map_err(|_| Errno::ENOMEM)?;
            buf[..self.heap.len()].copy_from_slice(&self.heap);
            let len = self.heap.len();
            self.heap = Vec::new();
            let eof = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(len as u64));
            self.paged = Some(PageCache { buf, len, pa: None, eof });
        }
        let p = self.paged.as_mut().expect("just created");
        Ok((p.buf.as_mut_ptr(), p.buf.len() as u64, p.pa))
    }
    /// The file's size as its page cache's mappings see it (None before it has one).
    pub(crate) fn eof_handle(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        self.paged.as_ref().map(|p| p.eof.clone())
    }
    /// Has it moved into a page cache (mapped shared)?
    pub fn is_paged(&self) -> bool {
        self.paged.is_some()
    }

    /// Record where the page cache is mapped in physical memory.
    pub fn set_page_cache_pa(&mut self, pa: crate::addr::PhysAddr) {
        if let Some(p) = &mut self.paged {
            p.pa = Some(pa);
        }
    }
}

impl std::ops::Deref for FileData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}
