//! `btrfs_buffered_write()` (fs/btrfs/file.c) as a [`KernelLoop`]: btrfs's own buffered write
//! loop, which does not go through `generic_perform_write`. One pass is one iteration of its
//! loop: fault the chunk in, prepare the pages (reading those that must be uptodate), copy
//! page by page with page faults disabled, keep what was copied.
//!
//! Per version (read in the 5.15.16, 5.16.10, 5.19, 6.1, 6.6, 6.12, 6.13.7, 6.14, 6.17 and
//! 6.18 sources):
//! - **5.15** (5.15.0-5.15.36): `iov_iter_fault_in_readable(i, write_bytes)` (any failing
//!   probe is -EFAULT); a chunk of up to `nrptrs` pages (`nrptrs` = the pages the write needs,
//!   at most 512 and the task's dirty-pause budget of 32, at least 8).
//! - **5.16 to 6.12**: `fault_in_iov_iter_readable(i, write_bytes)`, still -EFAULT on any
//!   shortfall (btrfs never took 5.18's `== bytes`). `btrfs_copy_from_user` copies page by
//!   page; a short copy into a page that is not uptodate is reverted and counts 0, and the copy
//!   stops. After a short copy the chunk shrinks to one page (`nrptrs = 1`); after a copy of 0
//!   bytes `force_page_uptodate` makes the next iteration read the first page, so the short
//!   copy is then accepted into an uptodate page: progress, then -EFAULT at the bad granule.
//! - **6.13 to 6.15** (Qu Wenruo's c87c299776e4 "btrfs: make buffered write to copy one page a
//!   time", 6.13): one page per iteration, and `force_page_uptodate` became a variable of the
//!   loop body, reset to false on every iteration: the forced read never happens.
//! - **6.16 to 6.18** (Qu Wenruo's "btrfs: remove force_page_uptodate variable from
//!   btrfs_buffered_write()", 6.16, and `copy_one_range()`): the same behaviour on purpose: a
//!   short copy is rejected "until either the short copy is gone, or we failed to fault in the
//!   buffer".
//!
//! So from 6.13, a write whose chunk is page aligned at both ends (the folio is never read)
//! and whose bad granule is not on a byte the fault-in probes (the first byte and page
//! starts) copies short, is rejected, reverted to 0, and repeats exactly: a live-lock that
//! tagmmu proves. (It follows from the code as read; the research notes mark it as derived from
//! source, not observed on hardware.) btrfs's loop checks no signal, so it cannot be killed.
//!
//! Pages are uptodate when they were read (`prepare_uptodate_page`: the first page when the
//! write starts mid-page or the read is forced, the last page when the write ends mid-page)
//! or written before (`btrfs_dirty_pages` marks every page of an accepted copy uptodate).

use std::collections::BTreeSet;

use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::iov_iter::IovIter;
use crate::kernel_stub::loops::{
    prefault_fails, progress_result, state_words, CopyDir, FaultSite, KernelLoop, LoopEvent, PassEnd, PrefaultRule,
};
use crate::kernel_stub::mm::Access;
use crate::kernel_stub::uaccess::UaccessCtx;
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::Kernel;

/// The code path of a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// 5.15: `iov_iter_fault_in_readable`, multi-page chunks, the forced read.
    B1,
    /// 5.16 - 6.12: `fault_in_iov_iter_readable` (any shortfall), multi-page chunks, the
    /// forced read.
    B2,
    /// 6.13+: one page per iteration, no forced read.
    OnePageNoForce,
}

impl Form {
    /// The form of `v`.
    pub fn for_version(v: KernelVersion) -> Form {
        if !v.at_least(5, 16) {
            Form::B1
        } else if !v.at_least(6, 13) {
            Form::B2
        } else {
            Form::OnePageNoForce
        }
    }
}

/// One `btrfs_buffered_write()` call.
#[derive(Clone, Debug)]
pub struct BtrfsBufferedWrite {
    /// The source.
    pub iter: IovIter,
    /// The destination file.
    pub fd: u64,
    /// The file position.
    pub pos: u64,
    /// Bytes written.
    pub written: u64,
    nrptrs: u64,
    force_page_uptodate: bool,
    /// Pages of the file in the page cache and uptodate.
    uptodate: BTreeSet<u64>,
    form: Form,
    /// How the loop ended.
    pub result: Option<Result<u64, Errno>>,
}

impl BtrfsBufferedWrite {
    /// A write of `iter` to `fd` at `pos` as `version` does it; `page` is the page size.
    pub fn new(iter: IovIter, fd: u64, pos: u64, version: KernelVersion, page: u64) -> BtrfsBufferedWrite {
        // nrptrs = min(pages the write needs, PAGE_SIZE / sizeof(struct page *), the task's
        // nr_dirtied_pause (32 for a new task) - nr_dirtied), at least 8.
        let nrptrs = iter.count.div_ceil(page).min(page / 8).clamp(8, 32);
        BtrfsBufferedWrite {
            iter,
            fd,
            pos,
            written: 0,
            nrptrs,
            force_page_uptodate: false,
            uptodate: BTreeSet::new(),
            form: Form::for_version(version),
            result: None,
        }
    }

    fn done(&mut self, status: Result<u64, Errno>) -> PassEnd {
        let (r, end) = progress_result(self.written, status.map(|_| 0).unwrap_or_else(|e| -e.generic()));
        self.result = Some(r);
        end
    }
}

impl KernelLoop for BtrfsBufferedWrite {
    fn id(&self) -> &'static str {
        "btrfs_buffered_write"
    }

    fn title(&self) -> String {
        "btrfs_buffered_write (btrfs write)".into()
    }

    fn position_name(&self) -> &'static str {
        "bytes written"
    }

    fn position(&self) -> u64 {
        self.written
    }

    fn step(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> PassEnd {
        if self.iter.count == 0 {
            return self.done(Ok(0));
        }
        let page = k.mm.page_size();
        let offset = self.pos % page;
        let span = match self.form {
            Form::OnePageNoForce => page,
            _ => self.nrptrs * page,
        };
        let write_bytes = self.iter.count.min(span - offset);
        let ctx = k.uaccess;
        // btrfs never took 5.18's "nothing faulted in" rule: any shortfall is -EFAULT.
        let failed = prefault_fails(k, ctx, &self.iter, write_bytes, PrefaultRule::AnyShortfall, log);
        if failed {
            log.push(LoopEvent::Note { text: "btrfs_buffered_write gives up: -EFAULT.".into() });
            return self.done(Err(Errno::EFAULT));
        }
        // prepare_pages: the first page is read when the write starts mid-page or the read is
        // forced, the last when the write ends mid-page (reading makes a page uptodate).
        let first = self.pos / page;
        let last = (self.pos + write_bytes - 1) / page;
        let force = self.force_page_uptodate && self.form != Form::OnePageNoForce;
        if (offset != 0 || force) && self.uptodate.insert(first) {
            log.push(LoopEvent::Note {
                text: format!(
                    "prepare_pages reads page {first} of the file ({}): it is uptodate now.",
                    if force { "force_page_uptodate" } else { "the write starts inside it" }
                ),
            });
        }
        if !(self.pos + write_bytes).is_multiple_of(page) && self.uptodate.insert(last) {
            log.push(LoopEvent::Note {
                text: format!("prepare_pages reads page {last} of the file (the write ends inside it)."),
            });
        }
        // btrfs_copy_from_user: page by page; a short copy into a page that is not uptodate
        // is reverted and counts 0, and the copy stops at a page that took nothing.
        let mut data = Vec::new();
        let mut at = self.pos;
        let mut left = write_bytes;
        while left > 0 {
            let n = left.min(page - at % page);
            let from = self.iter.current();
            let chunk = self.iter.copy_from_user_atomic(&mut k.mm, ctx, n);
            let mut copied = chunk.len() as u64;
            let fault = (copied < n).then(|| {
                let nofault = UaccessCtx { pagefault_disabled: true, ..ctx };
                FaultSite::at(&k.mm, nofault, self.iter.current(), Access::Read)
            });
            log.push(LoopEvent::Copy {
                func: "copy_page_from_iter_atomic".into(),
                what: format!("{n} bytes for file offset {at}"),
                dir: CopyDir::FromUser,
                start: from,
                len: n,
                copied,
                fault,
            });
            if copied < n && !self.uptodate.contains(&(at / page)) {
                self.iter.revert(copied);
                log.push(LoopEvent::Note {
                    text: format!(
                        "the page is not uptodate: the short copy is reverted ({copied} byte(s) count as 0)."
                    ),
                });
                copied = 0;
            }
            data.extend_from_slice(&chunk[..copied as usize]);
            at += copied;
            left -= copied;
            if copied < n {
                break;
            }
        }
        let copied = data.len() as u64;
        if copied < write_bytes && self.form != Form::OnePageNoForce {
            self.nrptrs = 1;
        }
        self.force_page_uptodate = copied == 0;
        if copied == 0 {
            log.push(LoopEvent::Note {
                text: match self.form {
                    Form::OnePageNoForce => {
                        "nothing copied: the loop goes round again (force_page_uptodate is gone since 6.13).".into()
                    }
                    _ => "nothing copied: force_page_uptodate, and the next chunk is one page.".into(),
                },
            });
            return PassEnd::Continue;
        }
        if let Err(e) = k.vfs.write(self.fd, &data, Some(self.pos)) {
            return self.done(Err(e));
        }
        // btrfs_dirty_pages marks the pages written uptodate.
        for p in self.pos / page..=(self.pos + copied - 1) / page {
            self.uptodate.insert(p);
        }
        self.pos += copied;
        self.written += copied;
        if self.iter.count == 0 {
            return self.done(Ok(0));
        }
        PassEnd::Continue
    }

    fn state(&self) -> Vec<u8> {
        let words = [
            self.pos,
            self.written,
            self.nrptrs,
            self.force_page_uptodate as u64,
            self.iter.seg as u64,
            self.iter.offset,
            self.iter.count,
        ];
        state_words(&words, &self.uptodate)
    }

    fn user_ranges(&self) -> Vec<(u64, u64)> {
        self.iter.segs.clone()
    }
}

impl Kernel {
    /// write() of the user segments `segs` to the btrfs file `fd` at `pos` through
    /// [`BtrfsBufferedWrite`], under the live-lock watch.
    pub fn btrfs_buffered_write(
        &mut self,
        fd: u64,
        segs: Vec<(u64, u64)>,
        pos: u64,
    ) -> crate::kernel_stub::errno::KResult<u64> {
        let page = self.mm.page_size();
        let mut w = BtrfsBufferedWrite::new(IovIter::new(segs), fd, pos, self.config.version, page);
        self.run_kernel_loop(&mut w).syscall_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::loops::testing::{tag3, tagged_kernel};
    use crate::kernel_stub::loops::{LoopEnd, Verdict};
    use crate::kernel_stub::vfs::OpenFlags;

    /// A page-cache write of `len` bytes from buffer offset `start` to file position `pos`,
    /// over three present pages with the granule at `bad` tagged 9.
    fn write(version: &str, start: u64, bad: u64, len: u64, pos: u64) -> (LoopEnd, Kernel) {
        let (mut k, a) = tagged_kernel(version, 3, bad, true);
        let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
        let fd = k.vfs.open("/tmp/f", flags, 0o600).unwrap() as u64;
        let mut w =
            BtrfsBufferedWrite::new(IovIter::new(vec![(tag3(a + start), len)]), fd, pos, k.config.version, 4096);
        let e = k.run_kernel_loop(&mut w);
        (e, k)
    }

    #[test]
    fn up_to_6_12_the_forced_read_makes_progress() {
        for v in ["5.15", "5.16", "5.19", "6.1", "6.12"] {
            let (e, k) = write(v, 0, 16, 6000, 0);
            assert_eq!(e, LoopEnd::Returned(16), "{v}: {}", k.loop_reports[0].narrative());
            // Pass 0: 6000 bytes, the first page is not read: short copy reverted, 0.
            // Pass 1: one page, forced read, 16 bytes kept. Pass 2: fault-in at the granule.
            assert_eq!(k.loop_reports[0].attempts.passes, 3, "{v}");
        }
    }

    #[test]
    fn from_6_13_a_page_aligned_write_live_locks() {
        for v in ["6.14", "6.17", "6.18"] {
            let (e, k) = write(v, 0, 16, 6000, 0);
            assert_eq!(e, LoopEnd::Failed(Errno::EINTR), "{v}");
            let r = &k.loop_reports[0];
            let Verdict::Livelock { cycle } = r.verdict else { panic!("{v}: {}", r.narrative()) };
            assert_eq!((cycle.length(), r.stuck_at), (1, Some(0)));
            assert_eq!(r.fault.map(|f| f.addr & 0xfff), Some(16));
        }
        // The same write starting inside a page reads that page: the copy is kept.
        let (e, _) = write("6.18", 0, 16, 6000, 100);
        assert_eq!(e, LoopEnd::Returned(16));
        // A bad granule on a probed byte (a user page start) is EFAULT on every version.
        let (e, _) = write("6.18", 0, 4096, 6000, 0);
        assert_eq!(e, LoopEnd::Returned(4096));
    }
}
