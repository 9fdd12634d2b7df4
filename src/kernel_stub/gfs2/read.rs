//! `gfs2_file_read_iter()` for a buffered read, as a [`KernelLoop`].
//!
//! - **5.15** ([`Form::Pre`]): one `generic_file_read_iter` under the glock with page faults
//!   enabled: a tag mismatch ends the read short (or -EFAULT), no loop.
//! - **5.16, 5.17** ([`Form::A`]): a lockless pass (`IOCB_NOIO`, page faults *enabled*) that
//!   returns at once unless it hit a file page not in the page cache (-EAGAIN); then under the
//!   glock: read with page faults disabled; on a short read or -EFAULT,
//!   `should_fault_in_pages`, drop the glock, `fault_in_iov_iter_writeable(window)` and retry
//!   when it faulted anything in.
//! - **5.18 to 6.18** ([`Form::C`], [`Form::D`]; 52f3f033a5db "gfs2: Disable page faults
//!   during lockless buffered reads" and the 5.18-rc7 rework): the lockless pass also runs with
//!   page faults disabled and an -EFAULT goes on to the locked loop; the retry condition is
//!   "the fault-in window is not empty" (`win -= fault_in_iov_iter_writeable(to, win); if (win)
//!   goto retry`).
//!
//! `fault_in_iov_iter_writeable` is `fault_in_safe_writeable`: it faults pages in through the
//! page tables and never touches user memory, so it never sees a tag. A read into a buffer
//! with a mistagged granule therefore copies up to the granule, then every pass copies nothing
//! (-EFAULT), the fault-in reports the whole window faulted in, and the loop retries, with no
//! bound in any version: tagmmu proves the live-lock (5.16+). The research notes read it from
//! the source, not on hardware; `filemap_read` checks for a fatal signal, so a real task
//! would spin until it is killed.

use std::collections::BTreeSet;

use super::{should_fault_in_pages, Form, Window};
use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::fault_in::FaultInFn;
use crate::kernel_stub::filemap::ReadFlags;
use crate::kernel_stub::iov_iter::IovIter;
use crate::kernel_stub::loops::{progress_result, state_words, KernelLoop, LoopEvent, PassEnd};
use crate::kernel_stub::Kernel;

/// Where the read is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The lockless pass comes next.
    Lockless,
    /// The locked retry loop.
    Locked,
}

/// One `gfs2_file_read_iter()` call (buffered).
#[derive(Clone, Debug)]
pub struct Gfs2Read {
    /// The destination.
    pub iter: IovIter,
    /// The file.
    pub fd: u64,
    /// `iocb->ki_pos`.
    pub pos: u64,
    /// Bytes read so far.
    pub read: u64,
    window: Window,
    phase: Phase,
    form: Form,
    /// File pages in the page cache (the file starts on disk, not cached).
    cache: BTreeSet<u64>,
    /// How the loop ended.
    pub result: Option<Result<u64, Errno>>,
}

impl Gfs2Read {
    /// A read of `fd` at `pos` into `iter` as `version` does it.
    pub fn new(iter: IovIter, fd: u64, pos: u64, version: crate::kernel_stub::version::KernelVersion) -> Gfs2Read {
        Gfs2Read {
            iter,
            fd,
            pos,
            read: 0,
            window: Window::default(),
            phase: Phase::Lockless,
            form: Form::for_version(version),
            cache: BTreeSet::new(),
            result: None,
        }
    }

    fn done(&mut self, ret: i64) -> PassEnd {
        // `return read ? read : ret`
        let (r, end) = progress_result(self.read, ret);
        self.result = Some(r);
        end
    }

    fn read_pass(&mut self, k: &mut Kernel, flags: ReadFlags, log: &mut Vec<LoopEvent>) -> i64 {
        let ret = k.filemap_read_iter(self.fd, &mut self.iter, self.pos, flags, &mut self.cache, log);
        if ret > 0 {
            self.pos += ret as u64;
        }
        ret
    }
}

impl KernelLoop for Gfs2Read {
    fn id(&self) -> &'static str {
        "gfs2_file_read_iter"
    }

    fn title(&self) -> String {
        "gfs2_file_read_iter (gfs2 buffered read)".into()
    }

    fn position_name(&self) -> &'static str {
        "bytes read"
    }

    fn position(&self) -> u64 {
        self.read
    }

    fn step(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> PassEnd {
        let efault = -Errno::EFAULT.generic();
        if self.phase == Phase::Lockless {
            self.phase = Phase::Locked;
            if self.form == Form::Pre {
                log.push(LoopEvent::Note { text: "5.15: one read under the glock with page faults enabled.".into() });
                let ret = self.read_pass(k, ReadFlags::default(), log);
                if ret > 0 {
                    self.read = ret as u64;
                }
                return self.done(ret);
            }
            let nofault = self.form != Form::A;
            log.push(LoopEvent::Note {
                text: format!(
                    "lockless pass (IOCB_NOIO, page faults {}).",
                    if nofault { "disabled" } else { "enabled" }
                ),
            });
            let ret = self.read_pass(k, ReadFlags { nofault, noio: true }, log);
            if ret >= 0 {
                self.read = ret as u64;
                if self.iter.count == 0 {
                    return self.done(ret);
                }
            } else if (ret != efault || self.form == Form::A) && ret != -Errno::EAGAIN.generic() {
                // A returns any error but -EAGAIN; C/D go on to the locked loop on -EFAULT too.
                return self.done(ret);
            }
            log.push(LoopEvent::Note { text: "on to the locked loop.".into() });
            return PassEnd::Continue;
        }
        let ret = self.read_pass(k, ReadFlags { nofault: true, noio: false }, log);
        if ret > 0 {
            self.read += ret as u64;
        }
        if ret <= 0 && ret != efault {
            return self.done(ret);
        }
        let page = k.mm.page_size();
        if !should_fault_in_pages(self.form, &self.iter, self.pos, page, &mut self.window) {
            return self.done(ret);
        }
        let start = self.iter.current();
        let ctx = k.uaccess;
        let win = self.window.size;
        let left = self.iter.fault_in_writeable(&mut k.mm, ctx, k.config.version, win);
        log.push(LoopEvent::FaultIn { func: FaultInFn::IovIterWriteable, start, len: win, result: left as i64 });
        let retry = match self.form {
            Form::A => left != win,
            _ => {
                self.window.size = win - left;
                self.window.size != 0
            }
        };
        if retry {
            log.push(LoopEvent::Note { text: "the window was faulted in: drop the glock and retry.".into() });
            PassEnd::Continue
        } else {
            self.done(ret)
        }
    }

    fn state(&self) -> Vec<u8> {
        let words = [
            self.pos,
            self.read,
            self.window.prev_count,
            self.window.size,
            (self.phase == Phase::Locked) as u64,
            self.iter.seg as u64,
            self.iter.offset,
            self.iter.count,
        ];
        state_words(&words, &self.cache)
    }

    fn user_ranges(&self) -> Vec<(u64, u64)> {
        self.iter.segs.clone()
    }

    fn signal_check(&self) -> Option<&'static str> {
        Some("filemap_read() -> filemap_get_pages() returns -EINTR on a fatal signal")
    }
}

impl Kernel {
    /// read() of the gfs2 file `fd` at `pos` into `buf` through [`Gfs2Read`].
    pub fn gfs2_read(&mut self, fd: u64, buf: u64, len: u64, pos: u64) -> crate::kernel_stub::errno::KResult<u64> {
        let mut r = Gfs2Read::new(IovIter::new(vec![(buf, len)]), fd, pos, self.config.version);
        self.run_kernel_loop(&mut r).syscall_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::loops::testing::{tag3, tagged_kernel};
    use crate::kernel_stub::loops::{LoopEnd, Verdict};
    use crate::kernel_stub::vfs::OpenFlags;

    fn read(version: &str, bad: u64, len: u64) -> (LoopEnd, Kernel) {
        let (mut k, a) = tagged_kernel(version, 3, bad, true);
        k.vfs.add_file("/mnt/gfs2/f", vec![7; 10_000]).unwrap();
        let fd = k.vfs.open("/mnt/gfs2/f", OpenFlags { read: true, ..Default::default() }, 0).unwrap() as u64;
        let mut r = Gfs2Read::new(IovIter::new(vec![(tag3(a), len)]), fd, 0, k.config.version);
        let e = k.run_kernel_loop(&mut r);
        (e, k)
    }

    #[test]
    fn kernel_5_15_reads_short_without_a_loop() {
        let (e, k) = read("5.15", 5000, 8000);
        assert_eq!(e, LoopEnd::Returned(4992));
        assert_eq!(k.loop_reports[0].attempts.passes, 1);
    }

    #[test]
    fn from_5_16_a_mistagged_granule_live_locks_the_read() {
        for v in ["5.16", "5.17", "5.18", "6.1", "6.6", "6.18"] {
            let (e, k) = read(v, 5000, 8000);
            let r = &k.loop_reports[0];
            assert_eq!(e, LoopEnd::Failed(Errno::EINTR), "{v}: {}", r.narrative());
            let Verdict::Livelock { cycle } = r.verdict else { panic!() };
            assert_eq!(cycle.length(), 1, "{v}");
            assert_eq!(r.stuck_at, Some(4992), "{v}: the bytes before the granule were read");
            assert_eq!(r.fault_in, Some(FaultInFn::IovIterWriteable));
            assert_eq!(r.fault.map(|f| f.addr % 4096), Some(4992 % 4096));
        }
    }

    #[test]
    fn a_clean_buffer_reads_to_the_end_of_the_file() {
        let (e, _) = read("6.18", 3 * 4096 - 16, 10_000);
        assert_eq!(e, LoopEnd::Returned(10_000));
    }
}
