//! The page cache's read (mm/filemap.c): `filemap_read()` copies a file to the user with
//! `copy_to_user`. Its write loop, `generic_perform_write()`, is a kernel loop of its own:
//! [`crate::kernel_stub::loops::perform_write`].

use crate::addr::UserAddr;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

impl Kernel {
    /// `filemap_read()` for a regular file: copy the file's bytes at `pos` to the user with
    /// `copy_to_user` (tag-checked, faults allowed). The bytes copied, or -EFAULT when none.
    pub fn filemap_read(&mut self, fd: u64, buf: u64, len: u64, pos: u64) -> KResult<u64> {
        let data = self.vfs.read(fd, len as usize, Some(pos))?;
        let left = uaccess::copy_to_user(&mut self.mm, self.uaccess, UserAddr(buf), &data);
        let copied = data.len() - left;
        if copied == 0 && !data.is_empty() {
            return Err(Errno::EFAULT);
        }
        Ok(copied as u64)
    }
}
