//! The page cache's read (mm/filemap.c): `filemap_read()` copies a file to the user with
//! `copy_to_user`. Its write loop, `generic_perform_write()`, is a kernel loop of its own:
//! [`crate::kernel_stub::loops::perform_write`].

use crate::addr::UserAddr;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::uaccess::{self, UaccessCtx};
use crate::kernel_stub::Kernel;

impl Kernel {
    /// `filemap_read()` for a regular file: copy the file's bytes at `pos` to the user with
    /// `copy_to_user` (tag-checked, faults allowed). The bytes copied, or -EFAULT when none.
    pub fn filemap_read(&mut self, fd: u64, buf: u64, len: u64, pos: u64) -> KResult<u64> {
        let data = self.vfs.read(fd, len as usize, Some(pos))?;
        // The source is the page-cache page at the file offset.
        let left = uaccess::copy_to_user_from(&mut self.mm, self.uaccess, UserAddr(buf), &data, pos);
        let copied = data.len() - left;
        if copied == 0 && !data.is_empty() {
            return Err(Errno::EFAULT);
        }
        Ok(copied as u64)
    }
}

/// How [`Kernel::filemap_read_iter`] runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadFlags {
    /// `pagefault_disable()` around the copies: a page of the user buffer that is not present
    /// ends the copy instead of being faulted in.
    pub nofault: bool,
    /// `IOCB_NOIO`: a file page that is not in the page cache ends the read (-EAGAIN when
    /// nothing was read) instead of being read in.
    pub noio: bool,
}

impl Kernel {
    /// `generic_file_read_iter` -> `filemap_read` of the regular file `fd` at `pos` into
    /// `iter`, file page by file page with `copy_page_to_iter`. `cache` holds the file pages
    /// in the page cache (read ones are added). Returns what `filemap_read` returns (the bytes
    /// read, or -EFAULT / -EAGAIN when none) and logs each copy into `log`.
    pub fn filemap_read_iter(
        &mut self,
        fd: u64,
        iter: &mut crate::kernel_stub::iov_iter::IovIter,
        pos: u64,
        flags: ReadFlags,
        cache: &mut std::collections::BTreeSet<u64>,
        log: &mut Vec<crate::kernel_stub::loops::LoopEvent>,
    ) -> i64 {
        use crate::kernel_stub::loops::{CopyDir, FaultSite, LoopEvent};
        let page = self.mm.page_size();
        let size = self.vfs.file_bytes(fd).map(|b| b.len() as u64).unwrap_or(0);
        let ctx = UaccessCtx { pagefault_disabled: flags.nofault, ..self.uaccess };
        let mut at = pos;
        let mut already = 0u64;
        let mut error = 0i64;
        while iter.count > 0 && at < size {
            let index = at / page;
            if !cache.contains(&index) {
                if flags.noio {
                    error = -Errno::EAGAIN.generic();
                    break;
                }
                cache.insert(index);
            }
            let n = (page - at % page).min(size - at).min(iter.count);
            let data = self.vfs.read(fd, n as usize, Some(at)).unwrap_or_default();
            let start = iter.current();
            let copied = iter.copy_to_user(&mut self.mm, ctx, &data, at);
            let fault = (copied < n)
                .then(|| FaultSite::at(&self.mm, ctx, iter.current(), crate::kernel_stub::mm::Access::Write));
            log.push(LoopEvent::Copy {
                func: "copy_page_to_iter".into(),
                what: format!("{n} bytes of file offset {at}"),
                dir: CopyDir::ToUser,
                start,
                len: n,
                copied,
                fault,
            });
            already += copied;
            at += copied;
            if copied < n {
                error = -Errno::EFAULT.generic();
                break;
            }
        }
        if already > 0 {
            already as i64
        } else {
            error
        }
    }
}
