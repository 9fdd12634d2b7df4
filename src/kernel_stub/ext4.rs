//! ext4's O_DIRECT (fs/ext4/file.c `ext4_dio_read_iter` / `ext4_dio_write_iter`): the cover
//! letter's ext4 experiment. ext4 calls `iomap_dio_rw` with page faults *enabled*, without
//! `IOMAP_DIO_PARTIAL` and without a retry loop: GUP faults the user pages in itself and the
//! data moves through the kernel's mapping, so user tags are never checked and a buffer with a
//! mistagged granule is read or written whole. There is nothing to live-lock.
//!
//! - A position, length or buffer not aligned to the device's 512-byte logical block is
//!   -EINVAL from iomap (5.15-6.17: `iov_iter_alignment`, from 6.0 `bdev_iter_is_aligned`;
//!   6.18 checks position and length up front and a misaligned buffer fails in the block layer
//!   when the bio is split, which tagmmu also reports as -EINVAL); ext4 does not fall back to
//!   buffered I/O for that (only for inodes that cannot do direct I/O, which the emulated
//!   files never are).
//! - A page GUP cannot pin (unmapped, or read-only for a read) fails the whole request with
//!   -EFAULT (no `IOMAP_DIO_PARTIAL`).
//! - A write past the end of the file is still direct (ext4 extends the inode afterwards).

use crate::kernel_stub::btrfs::dio::{DioPass, DioReport};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::iomap_dio::{DioOp, DioRequest, LOGICAL_BLOCK_SIZE};
use crate::kernel_stub::Kernel;

impl Kernel {
    /// read() or write() of a file opened with O_DIRECT on the ext4 mount.
    pub fn ext4_direct(&mut self, op: DioOp, fd: u64, buf: u64, len: u64, pos: u64) -> KResult<u64> {
        let mut rep = DioReport::new(op, "ext4", self, fd, buf, len, pos)?;
        let addr = self.mm.untag(buf).unwrap_or(buf);
        let r = if !(pos | len | addr).is_multiple_of(LOGICAL_BLOCK_SIZE) {
            Err(Errno::EINVAL)
        } else {
            let req = DioRequest { op, fd, ubuf: buf, count: len, pos, done_before: 0, nofault: false, partial: false };
            let attempt = self.iomap_dio_rw(req);
            let ret = attempt.ret;
            rep.unchecked.extend(attempt.unchecked.iter().copied());
            rep.direct_bytes = attempt.transferred;
            rep.passes.push(DioPass { pass: 1, left: len, ubuf: buf, attempt, fault_in: None });
            if ret < 0 {
                Err(Errno::from_generic(-ret).unwrap_or(Errno::EIO))
            } else {
                Ok(ret as u64)
            }
        };
        rep.ret = match &r {
            Ok(n) => *n as i64,
            Err(e) => -e.generic(),
        };
        self.dio_reports.push(rep);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::mm::{MapRequest, Prot, VmaKind};
    use crate::kernel_stub::vfs::OpenFlags;
    use crate::kernel_stub::KernelConfig;

    #[test]
    fn direct_io_moves_mistagged_granules_unchecked_and_refuses_misalignment() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let req = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, 3 * 4096, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        for g in (0..3 * 4096).step_by(16) {
            k.mm.set_tag(a + g, 3);
        }
        k.mm.set_tag(a + 5000, 9);
        k.uaccess.tagged_addr_abi = true;
        k.uaccess.check_loads = true;
        k.uaccess.check_stores = true;
        k.vfs.add_file("/mnt/ext4/f", vec![5; 8192]).unwrap();
        let fd =
            k.vfs.open("/mnt/ext4/f", OpenFlags { read: true, write: true, ..Default::default() }, 0).unwrap() as u64;
        let buf = a | (3 << 56);
        // The pages are not even present: GUP faults them in (page faults are enabled).
        assert_eq!(k.ext4_direct(DioOp::Read, fd, buf, 8192, 0), Ok(8192));
        assert_eq!(k.dio_reports[0].unchecked.len(), 1, "the granule at 5000 was written unchecked");
        assert_eq!(k.ext4_direct(DioOp::Write, fd, buf, 8192, 4096), Ok(8192));
        assert_eq!(k.ext4_direct(DioOp::Read, fd, buf + 100, 4096, 0), Err(Errno::EINVAL));
        assert_eq!(k.ext4_direct(DioOp::Read, fd, buf, 4000, 0), Err(Errno::EINVAL));
        // An unmapped page fails the whole request (no IOMAP_DIO_PARTIAL).
        k.mm.munmap(a + 2 * 4096, 4096).unwrap();
        assert_eq!(k.ext4_direct(DioOp::Read, fd, buf, 3 * 4096, 0), Err(Errno::EFAULT));
    }
}
