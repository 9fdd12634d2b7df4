//! `generic_perform_write()` (mm/filemap.c): the buffered write loop of tmpfs, ext4 and most
//! filesystems, as a [`KernelLoop`]. One pass is one attempt at one chunk: (fault in,)
//! `write_begin`, `copy_page_from_iter_atomic` with page faults disabled, `write_end`.
//!
//! Per version (read in mm/filemap.c and lib/iov_iter.c of each release):
//! - **5.15** (5.15.0 to 5.15.36; the 5.15.37 backport of the fault-in series behaves as
//!   5.16): before each attempt, `iov_iter_fault_in_readable(i, bytes)`, which runs the
//!   pre-5.16 `fault_in_pages_readable` on each segment (first byte, every `PAGE_SIZE` further,
//!   and the last byte when its page was not reached) and fails the write with -EFAULT when
//!   *any* probe fails. (Al Viro's 5.14 "saner logics for short copy": a short copy that
//!   `write_end` rejects entirely retries with `bytes = copied`.)
//! - **5.16, 5.17**: `fault_in_iov_iter_readable(i, bytes)` (5.16, commit a6294593e8a1
//!   "iov_iter: Turn iov_iter_fault_in_readable into fault_in_iov_iter_readable") now returns
//!   the bytes not faulted in, but the caller still fails on any non-zero return: a chunk
//!   whose later page cannot be faulted in is -EFAULT although its first bytes could be
//!   copied.
//! - **5.18 to 6.13**: -EFAULT only when *nothing* could be faulted in (`== bytes`; 5.18,
//!   631f871f0717 "fs/iomap: Fix buffered write page prefaulting", filemap and iomap
//!   together, never backported to 5.15.y), so a chunk ending in a bad page is a short copy
//!   instead.
//! - **6.14 and later**: Dave Hansen's 665575cff098 "filemap: move prefaulting out of hot
//!   write path" (merged through mm-hotfixes before 6.14):
//!   no fault-in before the copy; only after a copy that made no progress at all is the chunk
//!   faulted in (`== bytes` -> -EFAULT, else retry).
//!
//! `write_end` decides what a short copy is worth: tmpfs (`shmem_write_end`) keeps the bytes
//! copied; ext4 (`block_write_end`) treats a short copy into a page that is not uptodate as
//! zero bytes, and the loop retries with exactly the bytes that were copyable. The loop never
//! rewinds past bytes it accepted and its fault-in probes the current position, so a sub-page
//! fault ends it with a short write (or -EFAULT when nothing was written): it cannot live-lock.
//!
//! Modelled limits: chunks are one page (`mapping_max_folio_size` of a mapping without large
//! folios); `balance_dirty_pages` and `fatal_signal_pending` never stop the loop.

use std::collections::BTreeSet;

use super::{
    prefault_fails, progress_result, state_words, CopyDir, FaultSite, KernelLoop, LoopEvent, PassEnd, PrefaultRule,
};
use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::iov_iter::IovIter;
use crate::kernel_stub::mm::Access;
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::Kernel;

/// When and how the loop faults the source in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefault {
    /// <= 5.15: `iov_iter_fault_in_readable` before every attempt; any failure is -EFAULT.
    Pages515,
    /// 5.16, 5.17: `fault_in_iov_iter_readable` before every attempt; any shortfall is -EFAULT.
    AnyShortfall,
    /// 5.18 - 6.13: before every attempt; -EFAULT only when nothing was faulted in.
    NothingFaultedIn,
    /// 6.14+: only after an attempt that copied nothing; -EFAULT when nothing was faulted in.
    AfterNoProgress,
}

impl Prefault {
    /// The rule of `version`.
    pub fn for_version(v: KernelVersion) -> Prefault {
        if !v.at_least(5, 16) {
            Prefault::Pages515
        } else if !v.at_least(5, 18) {
            Prefault::AnyShortfall
        } else if !v.at_least(6, 14) {
            Prefault::NothingFaultedIn
        } else {
            Prefault::AfterNoProgress
        }
    }
}

/// What `write_end` does with a short copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteEnd {
    /// tmpfs `shmem_write_end`: the bytes copied are kept.
    Shmem,
    /// ext4 `block_write_end`: a short copy into a page that is not uptodate counts as 0.
    Block,
}

/// One `generic_perform_write()` call.
#[derive(Clone, Debug)]
pub struct PerformWrite {
    /// The source.
    pub iter: IovIter,
    /// The destination file descriptor.
    pub fd: u64,
    /// The file position.
    pub pos: u64,
    /// Bytes written so far.
    pub written: u64,
    /// The chunk being retried after a short copy (`bytes = copied`), or 0 for a new chunk.
    retry_bytes: u64,
    /// The 6.14 form faults in after a copy that made no progress.
    fault_in_next: bool,
    prefault: Prefault,
    write_end: WriteEnd,
    /// Pages of the file that are uptodate (for [`WriteEnd::Block`]).
    uptodate: BTreeSet<u64>,
    fs: &'static str,
    /// How the loop ended, once it has.
    pub result: Option<Result<u64, Errno>>,
}

impl PerformWrite {
    /// A write of `iter` to `fd` at `pos` as `version` does it, on a filesystem whose
    /// `write_end` is `write_end` (`fs` names it).
    pub fn new(
        iter: IovIter,
        fd: u64,
        pos: u64,
        version: KernelVersion,
        write_end: WriteEnd,
        fs: &'static str,
    ) -> PerformWrite {
        PerformWrite {
            iter,
            fd,
            pos,
            written: 0,
            retry_bytes: 0,
            fault_in_next: false,
            prefault: Prefault::for_version(version),
            write_end,
            uptodate: BTreeSet::new(),
            fs,
            result: None,
        }
    }

    fn done(&mut self, status: Result<u64, Errno>) -> PassEnd {
        let (r, end) = progress_result(self.written, status.map(|_| 0).unwrap_or_else(|e| -e.generic()));
        self.result = Some(r);
        end
    }

    /// The fault-in of this version over the next `bytes`; true when the chunk fails.
    fn fault_in(&self, k: &mut Kernel, bytes: u64, log: &mut Vec<LoopEvent>) -> bool {
        let rule = match self.prefault {
            Prefault::Pages515 | Prefault::AnyShortfall => PrefaultRule::AnyShortfall,
            _ => PrefaultRule::NothingFaultedIn,
        };
        let ctx = k.uaccess;
        prefault_fails(k, ctx, &self.iter, bytes, rule, log)
    }
}

impl KernelLoop for PerformWrite {
    fn id(&self) -> &'static str {
        "generic_perform_write"
    }

    fn title(&self) -> String {
        format!("generic_perform_write ({} write)", self.fs)
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
        let bytes = match self.retry_bytes {
            0 => (page - offset).min(self.iter.count),
            n => n,
        };
        let before_copy = self.prefault != Prefault::AfterNoProgress || self.fault_in_next;
        if before_copy && self.fault_in(k, bytes, log) {
            log.push(LoopEvent::Note { text: "generic_perform_write gives up on this chunk: -EFAULT.".into() });
            return self.done(Err(Errno::EFAULT));
        }
        self.fault_in_next = false;
        let start = self.iter.current();
        let ctx = k.uaccess;
        let data = self.iter.copy_from_user_atomic(&mut k.mm, ctx, bytes);
        let copied = data.len() as u64;
        let fault = (copied < bytes).then(|| {
            let nofault = crate::kernel_stub::uaccess::UaccessCtx { pagefault_disabled: true, ..ctx };
            let reach = self.iter.current();
            FaultSite::at(&k.mm, nofault, reach, Access::Read)
        });
        log.push(LoopEvent::Copy {
            func: "copy_page_from_iter_atomic".into(),
            what: format!("{bytes} bytes for file offset {}", self.pos),
            dir: CopyDir::FromUser,
            start,
            len: bytes,
            copied,
            fault,
        });
        // write_end: how many of the copied bytes the filesystem accepts.
        let page_index = self.pos / page;
        let status = match self.write_end {
            WriteEnd::Block if copied < bytes && !self.uptodate.contains(&page_index) => 0,
            _ => copied,
        };
        if status != copied {
            self.iter.revert(copied - status);
            log.push(LoopEvent::Note {
                text: format!(
                    "write_end() rejects the short copy: the page is not uptodate, so {copied} byte(s) count as 0."
                ),
            });
        }
        if status == 0 {
            if copied > 0 {
                self.retry_bytes = copied;
                log.push(LoopEvent::Note { text: format!("retry the chunk with bytes = {copied}.") });
            } else {
                self.retry_bytes = 0;
                if self.prefault == Prefault::AfterNoProgress {
                    self.fault_in_next = true;
                    log.push(LoopEvent::Note { text: "no progress: fault the chunk in, then retry.".into() });
                } else {
                    log.push(LoopEvent::Note { text: "no progress: retry the chunk.".into() });
                }
            }
            return PassEnd::Continue;
        }
        if let Err(e) = k.vfs.write(self.fd, &data[..status as usize], Some(self.pos)) {
            return self.done(Err(e));
        }
        // block_commit_write marks the page uptodate: its one block now is.
        self.uptodate.insert(page_index);
        self.retry_bytes = 0;
        self.pos += status;
        self.written += status;
        if self.iter.count == 0 {
            return self.done(Ok(0));
        }
        PassEnd::Continue
    }

    fn state(&self) -> Vec<u8> {
        let words = [
            self.pos,
            self.written,
            self.retry_bytes,
            self.fault_in_next as u64,
            self.iter.seg as u64,
            self.iter.offset,
            self.iter.count,
        ];
        state_words(&words, &self.uptodate)
    }

    fn user_ranges(&self) -> Vec<(u64, u64)> {
        self.iter.segs.clone()
    }

    fn signal_check(&self) -> Option<&'static str> {
        Some("fatal_signal_pending() on every attempt")
    }
}

impl Kernel {
    /// write()/pwrite()/writev() of the user segments `segs` to the regular file `fd` at
    /// `pos` through [`PerformWrite`] on a filesystem with `write_end`, under the live-lock
    /// watch. Returns the bytes written or the errno.
    pub fn generic_perform_write(
        &mut self,
        fd: u64,
        segs: Vec<(u64, u64)>,
        pos: u64,
        write_end: WriteEnd,
        fs: &'static str,
    ) -> crate::kernel_stub::errno::KResult<u64> {
        let mut w = PerformWrite::new(IovIter::new(segs), fd, pos, self.config.version, write_end, fs);
        self.run_kernel_loop(&mut w).syscall_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::fault_in::FaultInFn;
    use crate::kernel_stub::loops::testing::{tag3, tagged_kernel};
    use crate::kernel_stub::loops::{LoopEnd, Verdict};
    use crate::kernel_stub::vfs::OpenFlags;

    /// Three present pages tagged 3, the granule at `bad` tagged 9 (sync mode), and a tmpfs
    /// file: the kernel, the tagged buffer and the file's descriptor.
    fn setup(version: &str, bad: u64) -> (Kernel, u64, u64) {
        let (mut k, a) = tagged_kernel(version, 3, bad, true);
        let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
        let fd = k.vfs.open("/tmp/f", flags, 0o600).unwrap() as u64;
        (k, tag3(a), fd)
    }

    fn write(version: &str, start: u64, bad: u64, len: u64, end: WriteEnd) -> (LoopEnd, Kernel) {
        let (mut k, buf, fd) = setup(version, bad);
        let v = k.config.version;
        let mut w = PerformWrite::new(IovIter::new(vec![(buf + start, len)]), fd, 0, v, end, "test");
        let e = k.run_kernel_loop(&mut w);
        (e, k)
    }

    #[test]
    fn a_bad_page_start_inside_the_first_chunk_is_efault_on_5_16_and_5_17_only() {
        // write_partial 100 4096 8000: the chunk [100, 4196) crosses into the page whose
        // first granule is bad.
        for (v, want) in [
            ("5.15", LoopEnd::Returned(3996)),
            ("5.16", LoopEnd::Returned(-14)),
            ("5.17", LoopEnd::Returned(-14)),
            ("5.18", LoopEnd::Returned(3996)),
            ("5.19", LoopEnd::Returned(3996)),
            ("6.12", LoopEnd::Returned(3996)),
            ("6.14", LoopEnd::Returned(3996)),
        ] {
            let (e, _) = write(v, 100, 4096, 8000, WriteEnd::Shmem);
            assert_eq!(e, want, "{v}");
        }
    }

    #[test]
    fn a_write_larger_than_the_watch_runs_on_unwatched_and_says_so() {
        // 72 MiB: its first state alone is past the watch's 64 MiB, so the watch stops
        // comparing at once and the write completes page by page without a state per pass.
        let pages = (72 << 20) / 4096;
        let (mut k, a) = tagged_kernel("5.19", pages, pages * 4096 - 16, true);
        let fd = k.vfs.open("/tmp/f", OpenFlags { write: true, create: true, ..Default::default() }, 0o600).unwrap();
        let len = pages * 4096 - 16;
        let mut w = PerformWrite::new(
            IovIter::new(vec![(tag3(a), len)]),
            fd as u64,
            0,
            k.config.version,
            WriteEnd::Shmem,
            "test",
        );
        assert_eq!(k.run_kernel_loop(&mut w), LoopEnd::Returned(len as i64));
        let r = k.loop_reports.last().unwrap();
        assert!(
            r.watch_note.as_deref().is_some_and(|n| n.contains("stopped comparing states at pass 0")),
            "{:?}",
            r.watch_note
        );
        assert!(r.narrative().contains("note: the live-lock watch stopped comparing states"), "{}", r.narrative());
    }

    #[test]
    fn kernel_5_15_also_probes_the_chunk_s_last_byte() {
        // Chunk [200, 4296): fault_in_pages_readable probes 200 and the last byte 4295, in the
        // bad granule 4288..4304; 5.16's fault_in_readable probes 200 and 4096 only.
        let (e, _) = write("5.15", 200, 4288, 8000, WriteEnd::Shmem);
        assert_eq!(e, LoopEnd::Returned(-14));
        let (e, _) = write("5.16", 200, 4288, 8000, WriteEnd::Shmem);
        assert_eq!(e, LoopEnd::Returned(4288 - 200));
    }

    #[test]
    fn kernel_6_14_faults_in_only_after_no_progress() {
        let (e, k) = write("6.14", 0, 5000, 8000, WriteEnd::Shmem);
        assert_eq!(e, LoopEnd::Returned(5000 - 5000 % 16));
        let r = &k.loop_reports[0];
        // Chunk 1 complete, chunk 2 short at the granule, chunk 3 copies nothing, then the
        // fault-in finds nothing faultable: -EFAULT, written returned.
        assert_eq!(r.attempts.fault_in_calls, 1, "{}", r.narrative());
        // Pages that are not present: each chunk's first copy makes no progress, then the
        // fault-in brings the page in.
        let (mut k, buf, fd) = setup("6.14", 5000);
        k.mm.evict(k.mm.untag(buf).unwrap(), 3 * 4096);
        let v = k.config.version;
        let mut w = PerformWrite::new(IovIter::new(vec![(buf, 8000)]), fd, 0, v, WriteEnd::Shmem, "test");
        assert_eq!(k.run_kernel_loop(&mut w), LoopEnd::Returned(4992));
        assert_eq!(k.loop_reports[0].attempts.fault_in_calls, 3);
        assert_eq!(r.fault_in, Some(FaultInFn::IovIterReadable));
        let (_, k) = write("6.12", 0, 5000, 8000, WriteEnd::Shmem);
        assert_eq!(k.loop_reports[0].attempts.fault_in_calls, 3, "one before every attempt");
    }

    #[test]
    fn block_write_end_rejects_short_copies_into_pages_not_uptodate() {
        let (e, k) = write("5.19", 0, 5000, 8000, WriteEnd::Block);
        assert_eq!(e, LoopEnd::Returned(4992));
        let r = &k.loop_reports[0];
        assert!(matches!(r.verdict, Verdict::Completed { ret: 4992 }));
        // Chunk 1; chunk 2 short (rejected), retried with bytes = 896, accepted; then the
        // next attempt starts on the bad granule and its fault-in fails.
        assert_eq!((r.attempts.passes, r.attempts.short_copies), (4, 1));
    }
}
