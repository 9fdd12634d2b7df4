//! `iomap_dio_rw()` (fs/iomap/direct-io.c, 5.15-5.19): one direct-I/O attempt on a file.
//!
//! Direct I/O does not copy through `copy_to_user`: the user pages are pinned with GUP
//! (`bio_iov_iter_get_pages` -> `iov_iter_get_pages`) and the data moves through the kernel's
//! mapping of those pages (here [`gup::kmap_write`]/[`gup::kmap_read`], standing for the block
//! layer's DMA). So **user tags are never checked** (kernel-spec §D.2 (a)). What can stop an
//! attempt is GUP: with `nofault` (5.16+ btrfs) a page that is not present ends it. Partial
//! progress is trimmed down to the device's logical block size (the "block-size rewind" of
//! Andreas Gruenbacher's objection): a bio cannot carry part of a block.
//!
//! Return convention (5.16 `IOMAP_DIO_PARTIAL`): bytes done in this attempt plus `done_before`;
//! -EFAULT when GUP stopped before any byte could be done; 0 at end of file. Reads are clamped
//! to the file size as `iomap_dio_complete()` does for a short read.

use serde::Serialize;

use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::gup::{self, GupFlags, GupStop, PinnedPage};
use crate::kernel_stub::Kernel;

/// The emulated block device's logical block size (bytes): partial direct I/O is trimmed to
/// a multiple of it (`bdev_logical_block_size()`; 512 on the usual disk).
pub const LOGICAL_BLOCK_SIZE: u64 = 512;

/// The direction of a direct I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DioOp {
    /// read(): file -> user pages (GUP with FOLL_WRITE).
    Read,
    /// write(): user pages -> file.
    Write,
}

/// One direct-I/O request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DioRequest {
    /// Direction.
    pub op: DioOp,
    /// The open file.
    pub fd: u64,
    /// User buffer (possibly tagged) where this attempt starts.
    pub ubuf: u64,
    /// Bytes asked for in this attempt.
    pub count: u64,
    /// File position of this attempt.
    pub pos: u64,
    /// Bytes done by earlier attempts of the same call (`done_before`).
    pub done_before: u64,
    /// `iter->nofault`: GUP may not fault pages in.
    pub nofault: bool,
    /// `IOMAP_DIO_PARTIAL`: partial progress is a result rather than an error.
    pub partial: bool,
}

/// A granule the kernel read or wrote through its own mapping although its allocation tag
/// does not match the user pointer's tag: a user access there would have been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct UncheckedGranule {
    /// The granule's untagged user address.
    pub addr: u64,
    /// Its allocation tag.
    pub mem_tag: u8,
    /// The pointer's tag.
    pub ptr_tag: u8,
}

/// What one attempt did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DioAttempt {
    /// User pages the attempt needed.
    pub pages_wanted: u64,
    /// Pages GUP pinned.
    pub pages_pinned: u64,
    /// Where and why GUP stopped early.
    pub gup_stopped: Option<(u64, GupStop)>,
    /// Bytes dropped from the end of the pinned range to end on a block boundary.
    pub rewound: u64,
    /// Bytes moved by this attempt.
    pub transferred: u64,
    /// `iomap_dio_rw()`'s return value (negative errno).
    pub ret: i64,
    /// Mismatched granules the data went through without a check.
    pub unchecked: Vec<UncheckedGranule>,
}

/// The pieces of the user range `[ustart, ustart+len)` on the pinned pages: (page, offset in
/// the page, range in the transfer buffer).
fn page_pieces(
    page: u64,
    ustart: u64,
    len: u64,
    pages: &[PinnedPage],
) -> impl Iterator<Item = (PinnedPage, u64, std::ops::Range<usize>)> + '_ {
    let mut done = 0u64;
    pages.iter().map_while(move |p| {
        if done == len {
            return None;
        }
        let off = (ustart + done) - p.uaddr;
        let n = (page - off).min(len - done);
        let range = done as usize..(done + n) as usize;
        done += n;
        Some((*p, off, range))
    })
}

impl Kernel {
    /// One `iomap_dio_rw()` attempt (see the module documentation).
    pub fn iomap_dio_rw(&mut self, req: DioRequest) -> DioAttempt {
        let page = self.mm.page_size();
        let mut att = DioAttempt {
            pages_wanted: 0,
            pages_pinned: 0,
            gup_stopped: None,
            rewound: 0,
            transferred: 0,
            ret: 0,
            unchecked: Vec::new(),
        };
        let size = match self.vfs.file_bytes(req.fd) {
            Ok(b) => b.len() as u64,
            Err(e) => {
                att.ret = -e.generic();
                return att;
            }
        };
        let count = match req.op {
            DioOp::Read => req.count.min(size.saturating_sub(req.pos)),
            DioOp::Write => req.count,
        };
        if count == 0 {
            att.ret = 0;
            return att;
        }
        let Some(ustart) = self.mm.untag(req.ubuf) else {
            att.ret = -Errno::EFAULT.generic();
            return att;
        };
        let first_page = ustart & !(page - 1);
        let nr_pages = (ustart + count).div_ceil(page) - first_page / page;
        att.pages_wanted = nr_pages;
        let flags = GupFlags { write: req.op == DioOp::Read, nofault: req.nofault };
        let pinned = gup::get_user_pages(&mut self.mm, req.ubuf, nr_pages, flags);
        att.pages_pinned = pinned.pages.len() as u64;
        att.gup_stopped = pinned.stopped;
        let mut avail = match pinned.stopped {
            None => count,
            Some((stop, _)) => stop.saturating_sub(ustart).min(count),
        };
        if avail < count {
            // Without IOMAP_DIO_PARTIAL (5.15) a failed GUP fails the whole request.
            if !req.partial {
                att.ret = -Errno::EFAULT.generic();
                return att;
            }
            att.rewound = avail % LOGICAL_BLOCK_SIZE;
            avail -= att.rewound;
        }
        if avail == 0 {
            att.ret = -Errno::EFAULT.generic();
            return att;
        }
        if let Err(e) = self.dio_transfer(&req, ustart, avail, &pinned.pages) {
            att.ret = -e.generic();
            return att;
        }
        att.unchecked = self.unchecked_granules(req.ubuf, ustart, avail);
        att.transferred = avail;
        att.ret = (avail + req.done_before) as i64;
        att
    }

    /// Move `len` bytes between the file and the pinned pages through the kernel mapping.
    fn dio_transfer(&mut self, req: &DioRequest, ustart: u64, len: u64, pages: &[PinnedPage]) -> Result<(), Errno> {
        let mut data = match req.op {
            DioOp::Read => self.vfs.file_bytes(req.fd)?[req.pos as usize..(req.pos + len) as usize].to_vec(),
            DioOp::Write => vec![0u8; len as usize],
        };
        for (p, off, range) in page_pieces(self.mm.page_size(), ustart, len, pages) {
            match req.op {
                DioOp::Read => gup::kmap_write(&mut self.mm, p, off, &data[range]),
                DioOp::Write => gup::kmap_read(&self.mm, p, off, &mut data[range]),
            }
        }
        if req.op == DioOp::Write {
            self.vfs.write(req.fd, &data, Some(req.pos))?;
        }
        Ok(())
    }

    /// The granules of `[ustart, ustart+len)` whose allocation tag does not match the tag of
    /// the user pointer `ubuf`.
    fn unchecked_granules(&self, ubuf: u64, ustart: u64, len: u64) -> Vec<UncheckedGranule> {
        let scheme = self.mm.layout().tags;
        let ptr_tag = scheme.pointer_tag(ubuf);
        let mut out = Vec::new();
        let mut g = scheme.granule_of(ustart);
        while g < ustart + len {
            if let Some(mem_tag) = self.mm.tag_at(g) {
                if !scheme.matches(ptr_tag, mem_tag) {
                    out.push(UncheckedGranule { addr: g, mem_tag, ptr_tag });
                }
            }
            g += scheme.granule;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::mm::{MapRequest, Prot, VmaKind};
    use crate::kernel_stub::vfs::OpenFlags;
    use crate::kernel_stub::KernelConfig;

    const PAGE: u64 = 4096;

    /// A kernel with a 3-page PROT_MTE buffer (tag 3, one granule tagged 9 at page 1 + 0x40)
    /// and a 3-page file of 'f' bytes.
    fn setup() -> (Kernel, u64, u64) {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let req = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, 3 * PAGE, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        for g in (0..3 * PAGE).step_by(16) {
            k.mm.set_tag(a + g, 3);
        }
        k.mm.set_tag(a + PAGE + 0x40, 9);
        k.vfs.add_file("/mnt/f", vec![b'f'; 3 * PAGE as usize]).unwrap();
        let fd = k.vfs.open("/mnt/f", OpenFlags { read: true, write: true, ..Default::default() }, 0).unwrap() as u64;
        (k, a | (3 << 56), fd)
    }

    fn read(fd: u64, ubuf: u64, count: u64, nofault: bool) -> DioRequest {
        DioRequest { op: DioOp::Read, fd, ubuf, count, pos: 0, done_before: 0, nofault, partial: true }
    }

    #[test]
    fn a_read_goes_through_a_mismatched_granule_unchecked() {
        let (mut k, buf, fd) = setup();
        let att = k.iomap_dio_rw(read(fd, buf, 2 * PAGE, false));
        assert_eq!((att.ret, att.transferred, att.pages_pinned), (2 * PAGE as i64, 2 * PAGE, 2));
        let untagged = buf & ((1 << 56) - 1);
        assert_eq!(att.unchecked, vec![UncheckedGranule { addr: untagged + PAGE + 0x40, mem_tag: 9, ptr_tag: 3 }]);
        let mut b = [0u8; 16];
        k.mm.read_kernel(untagged + PAGE + 0x40, &mut b).unwrap();
        assert_eq!(b, [b'f'; 16], "the data landed in the mismatched granule");
    }

    #[test]
    fn nofault_partial_progress_stops_at_the_missing_page_and_rewinds_to_a_block() {
        let (mut k, buf, fd) = setup();
        let untagged = buf & ((1 << 56) - 1);
        k.mm.handle_user_fault(untagged, crate::kernel_stub::mm::Access::Write).unwrap();
        // Start 0x300 into the first page: 0xd00 bytes reach the missing second page, and the
        // 512-byte block rewind leaves 0xc00.
        let att = k.iomap_dio_rw(read(fd, buf + 0x300, 2 * PAGE, true));
        assert_eq!(att.gup_stopped, Some((untagged + PAGE, GupStop::NotPresent)));
        assert_eq!((att.transferred, att.rewound, att.ret), (0xc00, 0x100, 0xc00));
        // Nothing present at all: -EFAULT, and without IOMAP_DIO_PARTIAL any gap fails it all.
        let att = k.iomap_dio_rw(read(fd, buf + PAGE, PAGE, true));
        assert_eq!(att.ret, -14);
        let att = k.iomap_dio_rw(DioRequest { partial: false, ..read(fd, buf + 0x300, 2 * PAGE, true) });
        assert_eq!((att.ret, att.transferred), (-14, 0));
    }

    #[test]
    fn done_before_is_added_and_reads_stop_at_end_of_file() {
        let (mut k, buf, fd) = setup();
        let att = k.iomap_dio_rw(DioRequest { pos: 2 * PAGE + 100, done_before: 7, ..read(fd, buf, PAGE, false) });
        assert_eq!((att.transferred, att.ret), (PAGE - 100, (PAGE - 100 + 7) as i64));
        let att = k.iomap_dio_rw(DioRequest { pos: 3 * PAGE, ..read(fd, buf, PAGE, false) });
        assert_eq!(att.ret, 0, "at end of file");
    }

    #[test]
    fn a_write_reads_the_user_pages_through_the_kernel_mapping() {
        let (mut k, buf, fd) = setup();
        let untagged = buf & ((1 << 56) - 1);
        k.mm.write_kernel(untagged + PAGE, &[b'u'; PAGE as usize]).unwrap();
        let req = DioRequest { op: DioOp::Write, pos: 8, ..read(fd, buf + PAGE, PAGE, false) };
        let att = k.iomap_dio_rw(req);
        assert_eq!(att.ret, PAGE as i64);
        assert_eq!(att.unchecked.len(), 1);
        let f = k.vfs.file_bytes(fd).unwrap();
        assert_eq!(&f[..8], b"ffffffff");
        assert!(f[8..8 + PAGE as usize].iter().all(|&c| c == b'u'));
    }
}
