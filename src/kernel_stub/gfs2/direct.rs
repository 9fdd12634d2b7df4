//! gfs2's direct-I/O loops (fs/gfs2/file.c `gfs2_file_direct_read` / `gfs2_file_direct_write`)
//! as [`KernelLoop`]s. Both run `iomap_dio_rw` with `IOMAP_DIO_PARTIAL` and a `nofault`
//! iterator (reads also under `pagefault_disable()`), and after a partial result fault a
//! window in and retry:
//! - **5.15** ([`Form::Pre`]): one `iomap_dio_rw` with page faults enabled, no loop.
//! - **5.16, 5.17** ([`Form::A`]) and **5.18 to 6.3** ([`Form::C`]): retry while the fault-in
//!   faulted anything in. A direct *write* whose source buffer is a shared mapping of the very
//!   range it writes never gets anywhere: `iomap_dio_rw` invalidates the page cache of the
//!   target range first, which unmaps the source pages; GUP (no faults) then pins nothing,
//!   `fault_in_iov_iter_readable` faults them back in, and the retry invalidates them again:
//!   forever (reported by Jan Kara; the model proves it).
//! - **6.4 to 6.18** ([`Form::D`]): fa58cc888d67 "gfs2: Don't get stuck writing page onto itself
//!   under direct I/O": after a round without progress on a window of at most one page
//!   (`enough_retries`), the direct write gives up (`ret = 0`) and `gfs2_file_write_iter`
//!   writes the rest through the buffered path.
//!
//! Direct I/O moves the data through GUP and the kernel's mapping: user tags are never
//! checked (the data of holes and inline files, copied with tag-checked uaccess, is not
//! modelled: the emulated files are fully mapped). A write past the end of the file is done as
//! buffered I/O (gfs2 falls back for it); misalignment to the 512-byte logical block is
//! -EINVAL from iomap, with no fall-back.

use super::{should_fault_in_pages, Form, Window};
use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::fault_in::FaultInFn;
use crate::kernel_stub::iomap_dio::{DioOp, DioRequest, LOGICAL_BLOCK_SIZE};
use crate::kernel_stub::iov_iter::IovIter;
use crate::kernel_stub::loops::{state_words, KernelLoop, LoopEvent, PassEnd};
use crate::kernel_stub::mm::VmaKind;
use crate::kernel_stub::Kernel;

/// One `gfs2_file_direct_read()` or `gfs2_file_direct_write()` call.
#[derive(Clone, Debug)]
pub struct Gfs2Direct {
    /// Direction.
    pub op: DioOp,
    /// The user buffer.
    pub iter: IovIter,
    /// The file.
    pub fd: u64,
    /// `iocb->ki_pos`.
    pub pos: u64,
    /// Bytes done by direct I/O.
    pub done: u64,
    window: Window,
    form: Form,
    /// The direct write gave up (`ret = 0`): the rest goes to the buffered path.
    pub fallback: bool,
    /// How the loop ended (negative errno).
    pub result: Option<i64>,
}

impl Gfs2Direct {
    /// A direct `op` of `iter` on `fd` at `pos` as `version` does it.
    pub fn new(
        op: DioOp,
        iter: IovIter,
        fd: u64,
        pos: u64,
        version: crate::kernel_stub::version::KernelVersion,
    ) -> Gfs2Direct {
        Gfs2Direct {
            op,
            iter,
            fd,
            pos,
            done: 0,
            window: Window::default(),
            form: Form::for_version(version),
            fallback: false,
            result: None,
        }
    }

    fn done(&mut self, ret: i64) -> PassEnd {
        // `return ret < 0 ? ret : read` (and `written` for writes).
        let r = if ret < 0 { ret } else { self.done as i64 };
        self.result = Some(r);
        PassEnd::Done(r)
    }

    /// `iomap_dio_rw()`'s page-cache invalidation of the target range before a write: every
    /// shared mapping of those file pages loses them (they are unmapped from user space).
    fn invalidate(&self, k: &mut Kernel, len: u64, log: &mut Vec<LoopEvent>) {
        let Ok(path) = k.vfs.file(self.fd).map(|f| f.path.clone()) else { return };
        let page = k.mm.page_size();
        let (first, end) = (self.pos / page * page, (self.pos + len).div_ceil(page) * page);
        let maps: Vec<(u64, u64, u64)> =
            k.mm.vmas()
                .iter()
                .filter(|v| v.shared && v.kind == VmaKind::File(path.clone()))
                .map(|v| (v.start, v.end, v.seg_off))
                .collect();
        for (start, vend, seg_off) in maps {
            // The file offset `seg_off` is mapped at `start`.
            let lo = first.max(seg_off);
            let hi = end.min(seg_off + (vend - start));
            if lo < hi && k.mm.evict(start + (lo - seg_off), hi - lo) > 0 {
                log.push(LoopEvent::Note {
                    text: format!(
                        "iomap_dio_rw invalidates the page cache of file range [{lo}, {hi}): the shared mapping at {:#x} loses those pages.",
                        start + (lo - seg_off)
                    ),
                });
            }
        }
    }

    fn attempt(&mut self, k: &mut Kernel, nofault: bool, log: &mut Vec<LoopEvent>) -> i64 {
        let count = self.iter.count;
        if self.op == DioOp::Write {
            self.invalidate(k, count, log);
        }
        let ubuf = self.iter.current();
        let req = DioRequest {
            op: self.op,
            fd: self.fd,
            ubuf,
            count,
            pos: self.pos,
            done_before: self.done,
            nofault,
            partial: nofault,
        };
        let att = k.iomap_dio_rw(req);
        log.push(LoopEvent::Note {
            text: format!(
                "iomap_dio_rw: GUP pinned {} of {} page(s){}; {} bytes moved through the kernel mapping (no tag check); it returned {}.",
                att.pages_pinned,
                att.pages_wanted,
                match att.gup_stopped {
                    Some((a, why)) => format!(" (stopped at {a:#x}: {why:?})"),
                    None => String::new(),
                },
                att.transferred,
                att.ret
            ),
        });
        self.iter.advance(att.transferred);
        self.pos += att.transferred;
        att.ret
    }
}

impl KernelLoop for Gfs2Direct {
    fn id(&self) -> &'static str {
        match self.op {
            DioOp::Read => "gfs2_file_direct_read",
            DioOp::Write => "gfs2_file_direct_write",
        }
    }

    fn title(&self) -> String {
        format!("{} (gfs2 O_DIRECT)", self.id())
    }

    fn position_name(&self) -> &'static str {
        "bytes done"
    }

    fn position(&self) -> u64 {
        self.done
    }

    fn step(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> PassEnd {
        let efault = -Errno::EFAULT.generic();
        if self.iter.count == 0 {
            return self.done(0);
        }
        let addr = k.mm.untag(self.iter.current()).unwrap_or(0);
        if !(self.pos | self.iter.count | addr).is_multiple_of(LOGICAL_BLOCK_SIZE) {
            log.push(LoopEvent::Note { text: "not aligned to the 512-byte logical block: -EINVAL.".into() });
            return self.done(-Errno::EINVAL.generic());
        }
        if self.op == DioOp::Write {
            let size = k.vfs.file_bytes(self.fd).map(|b| b.len() as u64).unwrap_or(0);
            if self.pos + self.iter.count > size {
                log.push(LoopEvent::Note {
                    text: "the write goes past the end of the file: buffered I/O does it.".into(),
                });
                self.fallback = true;
                return self.done(0);
            }
        }
        if self.form == Form::Pre {
            let ret = self.attempt(k, false, log);
            if ret > 0 {
                self.done = ret as u64;
            }
            return self.done(ret);
        }
        let ret = self.attempt(k, true, log);
        if ret > 0 {
            self.done = ret as u64;
        }
        if ret <= 0 && ret != efault {
            return self.done(ret);
        }
        let page = k.mm.page_size();
        let enough_retries = self.op == DioOp::Write
            && self.form == Form::D
            && self.window.prev_count == self.iter.count
            && self.window.size <= page;
        if !should_fault_in_pages(self.form, &self.iter, self.pos, page, &mut self.window) {
            return self.done(ret);
        }
        let start = self.iter.current();
        let win = self.window.size;
        let ctx = k.uaccess;
        let (func, left) = match self.op {
            DioOp::Read => {
                (FaultInFn::IovIterWriteable, self.iter.fault_in_writeable(&mut k.mm, ctx, k.config.version, win))
            }
            DioOp::Write => {
                (FaultInFn::IovIterReadable, self.iter.fault_in_readable(&mut k.mm, ctx, k.config.version, win))
            }
        };
        log.push(LoopEvent::FaultIn { func, start, len: win, result: left as i64 });
        let retry = match self.form {
            Form::A => left != win,
            _ => {
                self.window.size = win - left;
                self.window.size != 0
            }
        };
        if !retry {
            return self.done(ret);
        }
        if enough_retries {
            log.push(LoopEvent::Note {
                text: "enough_retries: no progress on a one-page window; the rest goes to buffered I/O (ret = 0)."
                    .into(),
            });
            self.fallback = true;
            return self.done(0);
        }
        log.push(LoopEvent::Note { text: "the window was faulted in: retry.".into() });
        PassEnd::Continue
    }

    fn state(&self) -> Vec<u8> {
        let words = [
            self.pos,
            self.done,
            self.window.prev_count,
            self.window.size,
            self.fallback as u64,
            self.iter.seg as u64,
            self.iter.offset,
            self.iter.count,
        ];
        state_words(&words, &Default::default())
    }

    fn user_ranges(&self) -> Vec<(u64, u64)> {
        self.iter.segs.clone()
    }
}

impl Kernel {
    /// read() of a gfs2 file opened with O_DIRECT.
    pub fn gfs2_direct_read(
        &mut self,
        fd: u64,
        buf: u64,
        len: u64,
        pos: u64,
    ) -> crate::kernel_stub::errno::KResult<u64> {
        let mut r = Gfs2Direct::new(DioOp::Read, IovIter::new(vec![(buf, len)]), fd, pos, self.config.version);
        self.run_kernel_loop(&mut r).syscall_result()
    }

    /// write() of a gfs2 file opened with O_DIRECT (`gfs2_file_write_iter`): the direct loop,
    /// then the buffered path for what it left.
    pub fn gfs2_direct_write(
        &mut self,
        fd: u64,
        buf: u64,
        len: u64,
        pos: u64,
    ) -> crate::kernel_stub::errno::KResult<u64> {
        let mut w = Gfs2Direct::new(DioOp::Write, IovIter::new(vec![(buf, len)]), fd, pos, self.config.version);
        let done = self.run_kernel_loop(&mut w).syscall_result()?;
        if done >= len || self.livelock_kill.is_some() {
            return Ok(done);
        }
        match self.gfs2_buffered_write(fd, vec![(buf.wrapping_add(done), len - done)], pos + done) {
            Ok(n) => Ok(done + n),
            Err(_) if done > 0 => Ok(done),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::loops::testing::{tag3, tagged_kernel};
    use crate::kernel_stub::loops::LoopEnd;
    use crate::kernel_stub::vfs::OpenFlags;

    fn read(version: &str, offset: u64, len: u64) -> (LoopEnd, Kernel) {
        let (mut k, a) = tagged_kernel(version, 4, 5000, false);
        k.vfs.add_file("/mnt/gfs2/f", vec![1; 3 * 4096]).unwrap();
        let fd = k.vfs.open("/mnt/gfs2/f", OpenFlags { read: true, ..Default::default() }, 0).unwrap() as u64;
        let iter = IovIter::new(vec![(tag3(a + offset), len)]);
        let mut r = Gfs2Direct::new(DioOp::Read, iter, fd, 0, k.config.version);
        let e = k.run_kernel_loop(&mut r);
        (e, k)
    }

    #[test]
    fn direct_reads_fault_pages_in_with_gup_and_never_check_tags() {
        // The buffer's pages were never touched: the nofault attempt pins nothing, the GUP-based
        // fault-in brings them in, the retry moves all 8192 bytes over the granule tagged 9.
        let (e, k) = read("6.18", 0, 8192);
        assert_eq!(e, LoopEnd::Returned(8192));
        assert_eq!((k.loop_reports[0].attempts.passes, k.loop_reports[0].attempts.fault_in_calls), (2, 1));
        // 5.15: GUP with faults enabled, one attempt.
        let (e, k) = read("5.15", 0, 8192);
        assert_eq!(e, LoopEnd::Returned(8192));
        assert_eq!(k.loop_reports[0].attempts.passes, 1);
        // Not 512-byte aligned: -EINVAL, no fall-back.
        let (e, _) = read("6.1", 100, 4096);
        assert_eq!(e, LoopEnd::Returned(-22));
    }
}
