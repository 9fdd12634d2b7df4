//! A minimal emulated fuse file (its contents come from the scenario; the "server" acknowledges
//! every write in full) and the write loop of fs/fuse/file.c, `fuse_perform_write()` around
//! `fuse_fill_write_pages()`, as a [`KernelLoop`]. One pass is one page step of a fill: fault
//! the step in, copy it with page faults disabled into the page cache page, keep what was
//! copied; a fill ends at a page it could not fill whole and is sent to the server.
//!
//! Per version (fs/fuse/file.c of 5.15.16, 5.16.10, 5.18, 6.1, 6.6, 6.12, 6.13.7, 6.14, 6.17,
//! 6.18):
//! - **5.15**: `iov_iter_fault_in_readable(ii, bytes)` before each step (any failing probe is
//!   -EFAULT);
//! - **5.16 to 6.14**: `fault_in_iov_iter_readable(ii, bytes)`, still -EFAULT on any shortfall
//!   (fuse never took 5.18's `== bytes`); 6.13 converted it to folios (same logic);
//! - **6.16 and later** (6.17, 6.18 here): Dave Hansen's faa794dd2e17 "fuse: Move prefaulting
//!   out of hot write path": no fault-in before the copy; only after a copy of 0 bytes, with the
//!   folio unlocked, `fault_in_iov_iter_readable(ii, bytes) != 0` is -EFAULT, else the step is
//!   retried.
//!
//! fuse keeps a partial copy (it never rejects one): the bytes before a mistagged granule are
//! written, the fill stops at that page, and the next fill's fault-in (or, from 6.16, its
//! copy of 0 and the fault-in after it) starts on the granule and fails: a short write, no
//! live-lock. (A copy that returned 0 although the first byte is readable would repeat the
//! same step forever, with no signal check; the exact copy never does.)
//!
//! Modelled limits: `max_write` 128 KiB and `max_pages` 32 (the defaults of a server that
//! asks for big writes); folios of one page.

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

/// Pages one fill may take (`fc->max_pages`).
const MAX_PAGES: u64 = 32;

/// When the loop faults in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefault {
    /// 5.15: `iov_iter_fault_in_readable` before each step.
    Pages515,
    /// 5.16 - 6.15: `fault_in_iov_iter_readable` before each step, any shortfall is -EFAULT.
    AnyShortfall,
    /// 6.16+: only after a copy of 0 bytes.
    AfterNoProgress,
}

impl Prefault {
    /// The rule of `v`.
    pub fn for_version(v: KernelVersion) -> Prefault {
        if !v.at_least(5, 16) {
            Prefault::Pages515
        } else if !v.at_least(6, 16) {
            Prefault::AnyShortfall
        } else {
            Prefault::AfterNoProgress
        }
    }
}

/// One `fuse_perform_write()` call.
#[derive(Clone, Debug)]
pub struct FuseWrite {
    /// The source.
    pub iter: IovIter,
    /// The file.
    pub fd: u64,
    /// The file position.
    pub pos: u64,
    /// Bytes the server acknowledged.
    pub written: u64,
    /// Bytes in the fill being built.
    fill_bytes: u64,
    /// Pages in it.
    fill_pages: u64,
    /// The 6.16 form faults in before retrying a step that copied nothing.
    fault_in_next: bool,
    prefault: Prefault,
    uptodate: BTreeSet<u64>,
    /// How the loop ended.
    pub result: Option<Result<u64, Errno>>,
}

impl FuseWrite {
    /// A write of `iter` to `fd` at `pos` as `version` does it.
    pub fn new(iter: IovIter, fd: u64, pos: u64, version: KernelVersion) -> FuseWrite {
        FuseWrite {
            iter,
            fd,
            pos,
            written: 0,
            fill_bytes: 0,
            fill_pages: 0,
            fault_in_next: false,
            prefault: Prefault::for_version(version),
            uptodate: BTreeSet::new(),
            result: None,
        }
    }

    fn done(&mut self, err: Result<(), Errno>) -> PassEnd {
        let (r, end) = progress_result(self.written, err.map(|_| 0).unwrap_or_else(|e| -e.generic()));
        self.result = Some(r);
        end
    }

    /// The fill ends: its pages go to the server (which takes them all).
    fn send(&mut self, log: &mut Vec<LoopEvent>) {
        if self.fill_bytes > 0 {
            log.push(LoopEvent::Note {
                text: format!("fuse_send_write_pages: the server takes the fill's {} bytes.", self.fill_bytes),
            });
            self.written += self.fill_bytes;
        }
        self.fill_bytes = 0;
        self.fill_pages = 0;
    }

    /// A failed fault-in: the fill returns what it has (the error is dropped when it has
    /// something), else the write ends.
    fn fault_in_failed(&mut self, log: &mut Vec<LoopEvent>) -> PassEnd {
        if self.fill_bytes > 0 {
            log.push(LoopEvent::Note { text: "the fault-in failed: the fill ends with what it has.".into() });
            self.send(log);
            return PassEnd::Continue;
        }
        log.push(LoopEvent::Note { text: "the fault-in failed on an empty fill: -EFAULT.".into() });
        self.done(Err(Errno::EFAULT))
    }

    /// The fault-in of a step (fuse never took 5.18's "nothing faulted in" rule).
    fn fault_in(&self, k: &mut Kernel, bytes: u64, log: &mut Vec<LoopEvent>) -> bool {
        let ctx = k.uaccess;
        prefault_fails(k, ctx, &self.iter, bytes, PrefaultRule::AnyShortfall, log)
    }
}

impl KernelLoop for FuseWrite {
    fn id(&self) -> &'static str {
        "fuse_perform_write"
    }

    fn title(&self) -> String {
        "fuse_perform_write (fuse_fill_write_pages)".into()
    }

    fn position_name(&self) -> &'static str {
        "bytes written"
    }

    fn position(&self) -> u64 {
        self.written + self.fill_bytes
    }

    fn step(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> PassEnd {
        if self.iter.count == 0 {
            self.send(log);
            return self.done(Ok(()));
        }
        let page = k.mm.page_size();
        let offset = self.pos % page;
        let bytes = (page - offset).min(self.iter.count);
        if (self.prefault != Prefault::AfterNoProgress || self.fault_in_next) && self.fault_in(k, bytes, log) {
            self.fault_in_next = false;
            return self.fault_in_failed(log);
        }
        self.fault_in_next = false;
        let ctx = UaccessCtx { pagefault_disabled: true, ..k.uaccess };
        let start = self.iter.current();
        let data = self.iter.copy_from_user_atomic(&mut k.mm, ctx, bytes);
        let tmp = data.len() as u64;
        let fault = (tmp < bytes).then(|| FaultSite::at(&k.mm, ctx, self.iter.current(), Access::Read));
        log.push(LoopEvent::Copy {
            func: "copy_page_from_iter_atomic".into(),
            what: format!("{bytes} bytes for file offset {}", self.pos),
            dir: CopyDir::FromUser,
            start,
            len: bytes,
            copied: tmp,
            fault,
        });
        if tmp == 0 {
            if self.prefault == Prefault::AfterNoProgress {
                self.fault_in_next = true;
                log.push(LoopEvent::Note { text: "nothing copied: fault the step in, then retry it.".into() });
            } else {
                log.push(LoopEvent::Note { text: "nothing copied: retry the step (goto again).".into() });
            }
            return PassEnd::Continue;
        }
        if let Err(e) = k.vfs.write(self.fd, &data, Some(self.pos)) {
            return self.done(Err(e));
        }
        let index = self.pos / page;
        if tmp == page {
            self.uptodate.insert(index);
        }
        self.pos += tmp;
        self.fill_bytes += tmp;
        self.fill_pages += 1;
        // A page that is not uptodate stays locked and ends the fill; so does a full fill
        // or a fill whose page is not complete.
        if !self.uptodate.contains(&index) || self.fill_pages == MAX_PAGES || !self.pos.is_multiple_of(page) {
            self.send(log);
        }
        if self.iter.count == 0 {
            self.send(log);
            return self.done(Ok(()));
        }
        PassEnd::Continue
    }

    fn state(&self) -> Vec<u8> {
        let words = [
            self.pos,
            self.written,
            self.fill_bytes,
            self.fill_pages,
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
}

impl Kernel {
    /// write() of the user segments `segs` to the fuse file `fd` at `pos` through
    /// [`FuseWrite`].
    pub fn fuse_write(&mut self, fd: u64, segs: Vec<(u64, u64)>, pos: u64) -> crate::kernel_stub::errno::KResult<u64> {
        let mut w = FuseWrite::new(IovIter::new(segs), fd, pos, self.config.version);
        self.run_kernel_loop(&mut w).syscall_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::loops::testing::{tag3, tagged_kernel};
    use crate::kernel_stub::loops::LoopEnd;
    use crate::kernel_stub::vfs::OpenFlags;

    fn write(version: &str, start: u64, bad: u64, len: u64) -> (LoopEnd, Kernel) {
        let (mut k, a) = tagged_kernel(version, 3, bad, true);
        k.vfs.add_dir("/mnt/fuse").unwrap();
        let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
        let fd = k.vfs.open("/mnt/fuse/f", flags, 0o600).unwrap() as u64;
        let mut w = FuseWrite::new(IovIter::new(vec![(tag3(a + start), len)]), fd, 0, k.config.version);
        let e = k.run_kernel_loop(&mut w);
        (e, k)
    }

    #[test]
    fn a_partial_copy_is_kept_and_the_next_fill_fails() {
        for v in ["5.15", "5.16", "6.14", "6.17", "6.18"] {
            let (e, k) = write(v, 0, 5000, 8000);
            assert_eq!(e, LoopEnd::Returned(4992), "{v}: {}", k.loop_reports[0].narrative());
        }
        // Up to 6.15 a fault-in before every step; from 6.16 only after a copy of nothing.
        let (_, k) = write("6.14", 0, 5000, 8000);
        assert_eq!(k.loop_reports[0].attempts.fault_in_calls, 3);
        let (_, k) = write("6.17", 0, 5000, 8000);
        assert_eq!(k.loop_reports[0].attempts.fault_in_calls, 1);
    }

    #[test]
    fn any_shortfall_of_a_step_is_efault_until_6_16() {
        // The step [100, 4196) reaches into the page whose first granule is bad.
        let (e, _) = write("5.16", 100, 4096, 6000);
        assert_eq!(e, LoopEnd::Returned(-14));
        let (e, _) = write("6.17", 100, 4096, 6000);
        assert_eq!(e, LoopEnd::Returned(3996));
    }
}
