//! `gfs2_file_buffered_write()` as a [`KernelLoop`]: gfs2's retry loop around
//! `iomap_file_buffered_write()` ([`crate::kernel_stub::loops::iomap_write`]), which runs with
//! page faults disabled under the inode glock.
//!
//! - **5.15** ([`Form::Pre`]): one `iomap_file_buffered_write` with page faults enabled.
//! - **5.16, 5.17** ([`Form::A`]; 00bfe02f4796, 554c577cee95 "gfs2: Prevent endless loops in
//!   gfs2_file_buffered_write"): write with page faults disabled; after a short write or
//!   -EFAULT, `should_fault_in_pages` (one page minus the user offset), drop the glock,
//!   `fault_in_iov_iter_readable(window)`, and when it faulted anything in, retry with the
//!   iterator limited to what was faulted in.
//! - **5.18 to 6.18** ([`Form::C`], [`Form::D`]; fa5dfa645d85 "gfs2: buffered write
//!   prefaulting"): fault the window in *before* taking the glock (`win -=
//!   fault_in_iov_iter_readable(from, win)`, -EFAULT when nothing), limit the iterator to it,
//!   write, and go round again while `should_fault_in_pages` says so.
//!
//! Its fault-in probes the current position with `get_user` (tag-checked), so a copy that
//! stops exactly at a mistagged granule ends the write there: it makes progress. (A copy
//! that stopped *before* the granule without progress would let the probe succeed forever;
//! the exact copy model never does that.)

use std::collections::BTreeSet;

use super::{should_fault_in_pages, Form, Window};
use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::fault_in::FaultInFn;
use crate::kernel_stub::iov_iter::IovIter;
use crate::kernel_stub::loops::{progress_result, state_words, KernelLoop, LoopEvent, PassEnd};
use crate::kernel_stub::Kernel;

/// One `gfs2_file_buffered_write()` call.
#[derive(Clone, Debug)]
pub struct Gfs2BufferedWrite {
    /// The source (its count is limited to the fault-in window while writing).
    pub iter: IovIter,
    /// The file.
    pub fd: u64,
    /// `iocb->ki_pos`.
    pub pos: u64,
    /// Bytes written.
    pub written: u64,
    orig_count: u64,
    window: Window,
    form: Form,
    started: bool,
    uptodate: BTreeSet<u64>,
    /// How the loop ended.
    pub result: Option<Result<u64, Errno>>,
}

impl Gfs2BufferedWrite {
    /// A write of `iter` to `fd` at `pos` as `version` does it.
    pub fn new(
        iter: IovIter,
        fd: u64,
        pos: u64,
        version: crate::kernel_stub::version::KernelVersion,
    ) -> Gfs2BufferedWrite {
        let orig_count = iter.count;
        Gfs2BufferedWrite {
            iter,
            fd,
            pos,
            written: 0,
            orig_count,
            window: Window::default(),
            form: Form::for_version(version),
            started: false,
            uptodate: BTreeSet::new(),
            result: None,
        }
    }

    fn done(&mut self, ret: i64) -> PassEnd {
        self.iter.count = self.orig_count - self.written;
        let (r, end) = progress_result(self.written, ret);
        self.result = Some(r);
        end
    }

    fn fault_in(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> u64 {
        let start = self.iter.current();
        let win = self.window.size;
        let ctx = k.uaccess;
        let left = self.iter.fault_in_readable(&mut k.mm, ctx, k.config.version, win);
        log.push(LoopEvent::FaultIn { func: FaultInFn::IovIterReadable, start, len: win, result: left as i64 });
        left
    }

    fn write(&mut self, k: &mut Kernel, nofault: bool, log: &mut Vec<LoopEvent>) -> i64 {
        let ret = k.iomap_write_iter(self.fd, &mut self.iter, self.pos, nofault, &mut self.uptodate, log);
        if ret > 0 {
            self.pos += ret as u64;
            self.written += ret as u64;
        }
        ret
    }
}

impl KernelLoop for Gfs2BufferedWrite {
    fn id(&self) -> &'static str {
        "gfs2_file_buffered_write"
    }

    fn title(&self) -> String {
        "gfs2_file_buffered_write (gfs2 write, iomap_write_iter)".into()
    }

    fn position_name(&self) -> &'static str {
        "bytes written"
    }

    fn position(&self) -> u64 {
        self.written
    }

    fn step(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> PassEnd {
        let page = k.mm.page_size();
        let efault = -Errno::EFAULT.generic();
        match self.form {
            Form::Pre => {
                let ret = self.write(k, false, log);
                self.done(ret)
            }
            Form::A => {
                let ret = self.write(k, true, log);
                self.iter.count = self.orig_count - self.written;
                if (ret <= 0 && ret != efault)
                    || !should_fault_in_pages(self.form, &self.iter, self.pos, page, &mut self.window)
                {
                    return self.done(ret);
                }
                let win = self.window.size;
                let left = self.fault_in(k, log);
                if left == win {
                    return self.done(ret);
                }
                self.iter.count = self.iter.count.min(win - left);
                log.push(LoopEvent::Note { text: format!("retry with the iterator limited to {} bytes.", win - left) });
                PassEnd::Continue
            }
            Form::C | Form::D => {
                if !self.started {
                    self.started = true;
                    if !should_fault_in_pages(self.form, &self.iter, self.pos, page, &mut self.window) {
                        let ret = self.write(k, true, log);
                        return self.done(ret);
                    }
                }
                let left = self.fault_in(k, log);
                self.window.size -= left;
                if self.window.size == 0 {
                    log.push(LoopEvent::Note { text: "nothing of the window could be faulted in: -EFAULT.".into() });
                    return self.done(efault);
                }
                self.iter.count = self.iter.count.min(self.window.size);
                let ret = self.write(k, true, log);
                if ret <= 0 && ret != efault {
                    return self.done(ret);
                }
                self.iter.count = self.orig_count - self.written;
                if should_fault_in_pages(self.form, &self.iter, self.pos, page, &mut self.window) {
                    PassEnd::Continue
                } else {
                    self.done(ret)
                }
            }
        }
    }

    fn state(&self) -> Vec<u8> {
        let words = [
            self.pos,
            self.written,
            self.window.prev_count,
            self.window.size,
            self.started as u64,
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
    /// write() of the user segments `segs` to the gfs2 file `fd` at `pos` through
    /// [`Gfs2BufferedWrite`].
    pub fn gfs2_buffered_write(
        &mut self,
        fd: u64,
        segs: Vec<(u64, u64)>,
        pos: u64,
    ) -> crate::kernel_stub::errno::KResult<u64> {
        let mut w = Gfs2BufferedWrite::new(IovIter::new(segs), fd, pos, self.config.version);
        self.run_kernel_loop(&mut w).syscall_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::loops::testing::{tag3, tagged_kernel};
    use crate::kernel_stub::loops::LoopEnd;
    use crate::kernel_stub::vfs::OpenFlags;

    fn write(version: &str, start: u64, bad: u64, len: u64, present: bool) -> (LoopEnd, Kernel) {
        let (mut k, a) = tagged_kernel(version, 3, bad, present);
        let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
        k.vfs.add_dir("/mnt/gfs2").unwrap();
        let fd = k.vfs.open("/mnt/gfs2/f", flags, 0o600).unwrap() as u64;
        let mut w = Gfs2BufferedWrite::new(IovIter::new(vec![(tag3(a + start), len)]), fd, 0, k.config.version);
        let e = k.run_kernel_loop(&mut w);
        (e, k)
    }

    #[test]
    fn a_mistagged_granule_ends_the_write_there_on_every_form() {
        for v in ["5.15", "5.16", "5.17", "5.18", "6.1", "6.6", "6.14", "6.18"] {
            let (e, k) = write(v, 0, 5000, 8000, true);
            assert_eq!(e, LoopEnd::Returned(4992), "{v}: {}", k.loop_reports[0].narrative());
        }
    }

    #[test]
    fn pages_that_are_not_present_are_faulted_in_by_the_outer_loop() {
        // 5.16: the write under pagefault_disable stops at the first page that is not
        // present; the one-page window is faulted in and the write goes on, page by page.
        let (e, k) = write("5.16", 0, 8192 + 100, 8000, false);
        assert_eq!(e, LoopEnd::Returned(8000));
        assert!(k.loop_reports[0].attempts.passes >= 2, "{}", k.loop_reports[0].narrative());
        // 6.18 faults a 32-page window in before the first write: one pass.
        let (e, k) = write("6.18", 0, 8192 + 100, 8000, false);
        assert_eq!(e, LoopEnd::Returned(8000));
        assert_eq!(k.loop_reports[0].attempts.passes, 1);
        // 5.16/5.17: iomap_write_iter's prefault of the chunk [100, 4196) fails on any
        // shortfall (page 1's first granule is bad and probed): -EFAULT; gfs2 then faults in
        // its one-page window [100, 4096), limits the iterator to it and retries, which
        // writes 3996 bytes. 5.18 writes them in the first pass.
        let prefault_failed = |k: &Kernel| {
            k.loop_reports[0].passes[0].events.iter().any(
                |e| matches!(e, LoopEvent::Note { text } if text.starts_with("iomap_write_iter: the prefault failed")),
            )
        };
        let (e, k) = write("5.16", 100, 4096, 6000, true);
        assert_eq!(e, LoopEnd::Returned(3996));
        assert!(prefault_failed(&k), "{}", k.loop_reports[0].narrative());
        let (e, k) = write("5.18", 100, 4096, 6000, true);
        assert_eq!(e, LoopEnd::Returned(3996));
        assert!(!prefault_failed(&k), "{}", k.loop_reports[0].narrative());
    }
}
