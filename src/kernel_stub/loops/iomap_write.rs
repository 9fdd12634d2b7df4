//! `iomap_write_iter()` (fs/iomap/buffered-io.c): the buffered write of iomap filesystems
//! (gfs2, xfs, zonefs), called once per mapped extent by `iomap_file_buffered_write()`. It is
//! the same shape as `generic_perform_write` and changed with it, except for the 6.14 prefault
//! move, which iomap never took (still a prefault before every chunk in 6.18):
//! - **5.15**: `iov_iter_fault_in_readable` (any failing probe is -EFAULT). (`iomap_write_actor`
//!   became `iomap_write_iter` in 5.15 already.)
//! - **5.16, 5.17**: `fault_in_iov_iter_readable != 0` is -EFAULT.
//! - **5.18 to 6.18**: `== bytes` (631f871f0717 "fs/iomap: Fix buffered write page
//!   prefaulting"). 6.6 copies larger chunks (5d8edfb900d5, `mapping_max_folio_size` chunks
//!   from 6.10); during 6.6-rc1..rc6 a rejected short copy lost its `bytes = copied` and the
//!   same chunk repeated forever (LTP writev07), fixed by Jan Stancek's 3ac974796e5d in
//!   6.6-rc7, so no released kernel has it. tagmmu models released kernels; with folios of one
//!   page the chunking changes nothing here.
//!
//! A short copy into a folio that is not uptodate is rejected (`__iomap_write_end` returns 0;
//! from 6.10 `iomap_write_end` returns false) and retried with `bytes = copied`. The folio is
//! uptodate when it was read by `__iomap_write_begin`, which reads the blocks the chunk covers
//! only partly (one block per page here), or written before. iomap checks for no signal.
//!
//! This is not a [`super::KernelLoop`] of its own: it runs inside one pass of its caller
//! (gfs2's write loop), logging into that pass; it is bounded because every retry either
//! copies what the previous attempt reached or ends on a failed prefault.

use std::collections::BTreeSet;

use super::{prefault_fails, CopyDir, FaultSite, LoopEvent, PrefaultRule};
use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::iov_iter::IovIter;
use crate::kernel_stub::mm::Access;
use crate::kernel_stub::uaccess::UaccessCtx;
use crate::kernel_stub::Kernel;

/// A guard far above the attempts one call can take (two per page plus one).
const MAX_ATTEMPTS: u64 = 1 << 20;

impl Kernel {
    /// `iomap_write_iter` over all of `iter` into the file `fd` at `pos`, with the caller's
    /// page-fault state `nofault` (`pagefault_disable()` around the call). `uptodate` holds
    /// the file's uptodate pages. Returns the bytes written, or the error when none were.
    pub fn iomap_write_iter(
        &mut self,
        fd: u64,
        iter: &mut IovIter,
        pos: u64,
        nofault: bool,
        uptodate: &mut BTreeSet<u64>,
        log: &mut Vec<LoopEvent>,
    ) -> i64 {
        let page = self.mm.page_size();
        let version = self.config.version;
        let ctx = UaccessCtx { pagefault_disabled: nofault, ..self.uaccess };
        let mut pos = pos;
        let mut written = 0u64;
        let mut status = 0i64;
        let mut retry_bytes = 0u64;
        for _ in 0..MAX_ATTEMPTS {
            if iter.count == 0 {
                break;
            }
            let offset = pos % page;
            let bytes = match retry_bytes {
                0 => (page - offset).min(iter.count),
                n => n,
            };
            let start = iter.current();
            // 5.16/5.17 fail on any shortfall, 5.18+ only when nothing was faulted in.
            let rule =
                if version.at_least(5, 18) { PrefaultRule::NothingFaultedIn } else { PrefaultRule::AnyShortfall };
            let failed = prefault_fails(self, ctx, iter, bytes, rule, log);
            if failed {
                status = -Errno::EFAULT.generic();
                log.push(LoopEvent::Note { text: "iomap_write_iter: the prefault failed, -EFAULT.".into() });
                break;
            }
            // __iomap_write_begin reads a block the chunk covers only partly.
            let index = pos / page;
            if (offset != 0 || offset + bytes != page) && uptodate.insert(index) {
                log.push(LoopEvent::Note { text: format!("iomap_write_begin reads page {index} of the file.") });
            }
            let data = iter.copy_from_user_atomic(&mut self.mm, ctx, bytes);
            let copied = data.len() as u64;
            let fault = (copied < bytes).then(|| {
                let atomic = UaccessCtx { pagefault_disabled: true, ..ctx };
                FaultSite::at(&self.mm, atomic, iter.current(), Access::Read)
            });
            log.push(LoopEvent::Copy {
                func: "copy_page_from_iter_atomic".into(),
                what: format!("{bytes} bytes for file offset {pos}"),
                dir: CopyDir::FromUser,
                start,
                len: bytes,
                copied,
                fault,
            });
            if copied < bytes && !uptodate.contains(&index) {
                iter.revert(copied);
                log.push(LoopEvent::Note {
                    text: format!("iomap_write_end rejects the short copy into a folio not uptodate ({copied} byte(s) count as 0)."),
                });
                retry_bytes = copied;
                continue;
            }
            retry_bytes = 0;
            if copied == 0 {
                continue;
            }
            if let Err(e) = self.vfs.write(fd, &data, Some(pos)) {
                status = -e.generic();
                break;
            }
            uptodate.insert(index);
            pos += copied;
            written += copied;
        }
        if written > 0 {
            written as i64
        } else {
            status
        }
    }
}
