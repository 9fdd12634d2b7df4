//! The page cache's copies (mm/filemap.c, 5.16-5.19, kernel-spec §D.1): `filemap_read()`
//! copies a file to the user with `copy_to_user`; `generic_perform_write()` copies a user
//! buffer into a tmpfs file page by page with page faults disabled, faulting the
//! source in first, and never live-locks: its fault-in probes the *current* position,
//! and the loop never rewinds past bytes it accepted.

use crate::addr::UserAddr;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::fault_in;
use crate::kernel_stub::uaccess::{self, UaccessCtx};
use crate::kernel_stub::Kernel;

/// What one `generic_perform_write()` call did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteReport {
    /// Bytes asked for.
    pub requested: u64,
    /// Bytes written.
    pub written: u64,
    /// Atomic copies attempted.
    pub copy_attempts: u64,
    /// Attempts that copied less than they were asked to (the "extra" attempts).
    pub short_copies: u64,
    /// The errno when nothing was written.
    pub error: Option<String>,
}

impl Kernel {
    /// write()/pwrite() of `len` bytes at user `buf` to the regular file `fd`, at `pos`.
    /// Returns the bytes written (short on a fault after progress) or the errno.
    pub fn generic_perform_write(&mut self, fd: u64, buf: u64, len: u64, pos: u64) -> KResult<u64> {
        let page = self.mm.page_size();
        let ctx = self.uaccess;
        let atomic = UaccessCtx { pagefault_disabled: true, ..ctx };
        let mut report = WriteReport { requested: len, ..Default::default() };
        let mut written = 0u64;
        let mut status: KResult<u64> = Ok(0);
        let mut pos = pos;
        while written < len {
            let offset = pos % page;
            let mut bytes = (page - offset).min(len - written);
            loop {
                let src = buf.wrapping_add(written);
                // fault_in_iov_iter_readable: nothing at all faultable is -EFAULT.
                if fault_in::fault_in_readable(&mut self.mm, ctx, src, bytes) == bytes {
                    status = Err(Errno::EFAULT);
                    break;
                }
                let mut data = vec![0u8; bytes as usize];
                let left = uaccess::copy_from_user(&mut self.mm, atomic, &mut data, UserAddr(src));
                report.copy_attempts += 1;
                let copied = bytes - left as u64;
                if copied < bytes {
                    report.short_copies += 1;
                }
                if copied == 0 {
                    // Short copy rejected entirely: retry the same chunk (the fault-in decides).
                    continue;
                }
                data.truncate(copied as usize);
                self.vfs.write(fd, &data, Some(pos))?;
                pos += copied;
                written += copied;
                bytes = 0;
                break;
            }
            if status.is_err() || bytes != 0 {
                break;
            }
        }
        report.written = written;
        let r = if written > 0 { Ok(written) } else { status };
        if let Err(e) = &r {
            report.error = Some(e.name().to_string());
        }
        self.write_reports.push(report);
        r
    }
}

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

#[cfg(test)]
mod tests {
    use crate::arch::Arch;
    use crate::kernel_stub::mm::{MapRequest, Placement, Prot, VmaKind};
    use crate::kernel_stub::uaccess::CopyModel;
    use crate::kernel_stub::vfs::OpenFlags;
    use crate::kernel_stub::{Kernel, KernelConfig};

    fn setup(model: CopyModel) -> (Kernel, u64, u64) {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let req = MapRequest { placement: Placement::Hint, shared: false };
        let a = k.mm.mmap(0, 2 * 4096, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        let mut g = 0;
        while g < 2 * 4096 {
            k.mm.set_tag(a + g, 3);
            g += 16;
        }
        k.mm.set_tag(a + 4096 + 0x100, 9);
        k.uaccess.tagged_addr_abi = true;
        k.uaccess.check_loads = true;
        k.uaccess.check_stores = true;
        k.uaccess.model = model;
        let fd = k
            .vfs
            .open("/tmp/f", OpenFlags { read: true, write: true, create: true, ..Default::default() }, 0o600)
            .unwrap() as u64;
        (k, a | (3 << 56), fd)
    }

    #[test]
    fn a_bad_granule_mid_buffer_gives_a_short_write_not_a_livelock() {
        let (mut k, buf, fd) = setup(CopyModel::Exact);
        let r = k.generic_perform_write(fd, buf, 2 * 4096, 0);
        assert_eq!(r, Ok(4096 + 0x100), "written up to the bad granule");
        let rep = &k.write_reports[0];
        assert_eq!((rep.copy_attempts, rep.short_copies), (2, 1));
        assert_eq!(
            k.generic_perform_write(fd, buf.wrapping_add(4096 + 0x100), 16, 0),
            Err(crate::kernel_stub::errno::Errno::EFAULT)
        );
    }

    #[test]
    fn the_arm64_copy_model_converges_within_fifteen_extra_attempts() {
        let (mut k, buf, fd) = setup(CopyModel::Arm64);
        // Start 7 bytes past a granule boundary so the 16-byte units straddle granules.
        let start = buf.wrapping_add(4096 + 0x100 - 0x47);
        let r = k.generic_perform_write(fd, start, 0x80, 0);
        assert_eq!(r, Ok(0x47), "ends exactly at the bad granule");
        let rep = &k.write_reports[0];
        assert!(rep.short_copies <= 15, "{rep:?}");
        assert!(rep.short_copies >= 1);
    }
}
