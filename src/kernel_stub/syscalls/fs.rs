//! File syscalls over the in-memory filesystem.

use crate::addr::UserAddr;
use crate::arch::{read_u64, Arch, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::iomap_dio::DioOp;
use crate::kernel_stub::loops::perform_write::WriteEnd;
use crate::kernel_stub::mounts::FsKind;
use crate::kernel_stub::uaccess;
use crate::kernel_stub::vfs::{mode, Node, OpenFlags, StatInfo, Whence};
use crate::kernel_stub::Kernel;

/// `MAX_RW_COUNT`: the most one read or write transfers (INT_MAX rounded down to a page).
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// `UIO_MAXIOV`.
pub const UIO_MAXIOV: u64 = 1024;
/// Largest single transfer buffered at once from an endless source such as /dev/zero.
const ENDLESS_CHUNK: usize = 16 << 20;

/// Decode the architecture's `O_*` bits.
pub fn decode_open_flags(arch: Arch, raw: u64) -> OpenFlags {
    let acc = raw & 3;
    let (creat, excl, trunc, append, nonblock, directory, direct, cloexec) = match arch {
        // include/uapi/asm-generic/fcntl.h with arm64's own O_DIRECTORY/O_DIRECT values.
        Arch::Arm64 => (0o100, 0o200, 0o1000, 0o2000, 0o4000, 0o40000, 0o200000, 0o2000000),
        // arch/sparc/include/uapi/asm/fcntl.h
        Arch::Sparc64 => (0x200, 0x800, 0x400, 0x8, 0x4000, 0x10000, 0x100000, 0x400000),
    };
    OpenFlags {
        read: acc == 0 || acc == 2,
        write: acc == 1 || acc == 2,
        create: raw & creat != 0,
        excl: raw & excl != 0,
        trunc: raw & trunc != 0,
        append: raw & append != 0,
        // sparc64's distinct O_NDELAY bit (0x4) means O_NONBLOCK too.
        nonblock: raw & nonblock != 0 || (arch == Arch::Sparc64 && raw & 0x4 != 0),
        directory: raw & directory != 0,
        direct: raw & direct != 0,
        cloexec: raw & cloexec != 0,
    }
}

fn encode_open_flags(arch: Arch, f: &OpenFlags) -> u64 {
    let (append, nonblock, direct) = match arch {
        Arch::Arm64 => (0o2000, 0o4000, 0o200000),
        Arch::Sparc64 => (0x8, 0x4000, 0x100000),
    };
    let acc = match (f.read, f.write) {
        (true, true) => 2,
        (false, true) => 1,
        _ => 0,
    };
    acc | if f.append { append } else { 0 } | if f.nonblock { nonblock } else { 0 } | if f.direct { direct } else { 0 }
}

/// Encode `struct stat` as the architecture lays it out.
pub fn encode_stat(arch: Arch, st: &StatInfo, uid: u32, gid: u32) -> Vec<u8> {
    let mut w = StructWriter::new(arch);
    match arch {
        // asm-generic/stat.h (arm64): 128 bytes.
        Arch::Arm64 => {
            w.u64(st.dev).u64(st.ino).u32(st.mode).u32(st.nlink).u32(uid).u32(gid).u64(st.rdev).u64(0);
            w.u64(st.size).u32(st.blksize).u32(0).u64(st.blocks);
            w.pad(6 * 8).u32(0).u32(0);
        }
        // arch/sparc/include/uapi/asm/stat.h `struct stat64` (fstatat64, fstat64, stat64,
        // lstat64; what glibc uses): 144 bytes, times zero.
        Arch::Sparc64 => {
            w.u64(st.dev).u64(st.ino).u64(st.nlink as u64).u32(st.mode).u32(uid).u32(gid).u32(0);
            w.u64(st.rdev).u64(st.size).u64(st.blksize as u64).u64(st.blocks);
            w.pad(6 * 8).pad(3 * 8);
        }
    }
    w.finish()
}

/// sparc64's legacy 104-byte `struct stat` (stat, lstat, fstat: 38, 40, 62), which glibc no
/// longer uses: 32-bit dev/rdev, 16-bit nlink, times without nanoseconds.
pub fn encode_stat_sparc_legacy(st: &StatInfo, uid: u32, gid: u32) -> Vec<u8> {
    let mut w = StructWriter::new(Arch::Sparc64);
    w.u32(st.dev as u32).u32(0).u64(st.ino).u32(st.mode).u16(st.nlink as u16).u16(0);
    w.u32(uid).u32(gid).u32(st.rdev as u32).u32(0).u64(st.size);
    w.pad(3 * 8).u64(st.blksize as u64).u64(st.blocks).pad(2 * 8);
    w.finish()
}

impl Kernel {
    pub(super) fn sys_openat(&mut self, dirfd: u64, path: u64, flags: u64, perm: u64) -> KResult<u64> {
        let p = self.user_path(path)?;
        let p = self.at_path(dirfd, &p)?;
        let f = decode_open_flags(self.arch, flags);
        let fd = self.vfs.open(&p, f, perm as u32)? as u64;
        // do_dentry_open: O_DIRECT needs the mapping's ->direct_IO (FMODE_CAN_ODIRECT in
        // 6.x). btrfs has it (files and directories share btrfs_aops), and so do ext4, gfs2
        // and fuse; tmpfs gained it only in 6.6 and devices have none. tagmmu models O_DIRECT
        // on btrfs, ext4, gfs2 and tmpfs so far: on fuse the open is refused (EINVAL) with a
        // notice, rather than run a direct-I/O path it does not model.
        if f.direct {
            let fs = self.fd_fs(fd);
            // tmpfs from 6.6 ("tmpfs: trivial support for direct IO") accepts O_DIRECT and
            // serves it through its ordinary (buffered) read and write paths.
            let tmpfs_6_6 = fs == FsKind::Tmpfs && self.config.version.at_least(6, 6);
            if !matches!(fs, FsKind::Btrfs | FsKind::Ext4 | FsKind::Gfs2) && !tmpfs_6_6 {
                self.vfs.close(fd)?;
                let linux_accepts = fs == FsKind::Fuse;
                if linux_accepts {
                    self.notice(format!(
                        "O_DIRECT on {} is not modelled yet: open() fails with EINVAL instead",
                        fs.name()
                    ));
                }
                return Err(Errno::EINVAL);
            }
        }
        Ok(fd)
    }

    pub(super) fn sys_read(&mut self, fd: u64, buf: u64, len: u64, at: Option<u64>) -> KResult<u64> {
        let len = len.min(MAX_RW_COUNT) as usize;
        let f = self.vfs.file(fd)?;
        if !f.flags.read {
            return Err(Errno::EBADF);
        }
        if uaccess::access_ok(&self.mm, self.uaccess, UserAddr(buf), len as u64).is_none() {
            return Err(Errno::EFAULT);
        }
        // Regular files read at the position (O_DIRECT on btrfs through GUP, else the page
        // cache with copy_to_user), then the position advances by what reached the user.
        if matches!(self.vfs.node(fd)?, Node::File(_)) {
            let pos = at.unwrap_or(f.pos);
            let n = match self.fd_fs(fd) {
                FsKind::Btrfs if f.flags.direct => self.btrfs_direct_read(fd, buf, len as u64, pos)?,
                FsKind::Ext4 if f.flags.direct => self.ext4_direct(DioOp::Read, fd, buf, len as u64, pos)?,
                FsKind::Gfs2 if f.flags.direct => self.gfs2_direct_read(fd, buf, len as u64, pos)?,
                FsKind::Gfs2 => self.gfs2_read(fd, buf, len as u64, pos)?,
                _ => self.filemap_read(fd, buf, len as u64, pos)?,
            };
            if at.is_none() {
                self.vfs.lseek(fd, (pos + n) as i64, Whence::Set)?;
            }
            return Ok(n);
        }
        if matches!(self.vfs.node(fd)?, Node::Pipe(_)) {
            return self.read_pipe(fd, buf, len);
        }
        if len > 0 && self.vfs.is_host_stdin(fd) {
            // Nothing on the host's stdin yet: the thread sleeps while the others run.
            self.wait_or_deadlock(fd, crate::kernel_stub::vfs::Wait::Read, "read")?;
        }
        let want = if matches!(self.vfs.node(fd)?, Node::Zero) { len.min(ENDLESS_CHUNK) } else { len };
        let data = self.vfs.read(fd, want, None)?;
        let left = uaccess::copy_to_user(&mut self.mm, self.uaccess, UserAddr(buf), &data);
        let copied = data.len() - left;
        if copied == 0 && !data.is_empty() {
            return Err(Errno::EFAULT);
        }
        Ok(copied as u64)
    }

    /// A read of a pipe (pipe_read): what the user buffer takes leaves the pipe, the rest
    /// stays (EFAULT when nothing could be copied).
    fn read_pipe(&mut self, fd: u64, buf: u64, len: usize) -> KResult<u64> {
        if len == 0 {
            return Ok(0);
        }
        self.wait_or_deadlock(fd, crate::kernel_stub::vfs::Wait::Read, "read")?;
        let data = self.vfs.pipe_peek(fd, len)?;
        if data.is_empty() {
            // End of file (no writer), or EAGAIN for a non-blocking read.
            return self.vfs.read(fd, len, None).map(|d| d.len() as u64);
        }
        let left = uaccess::copy_to_user(&mut self.mm, self.uaccess, UserAddr(buf), &data);
        let copied = data.len() - left;
        if copied == 0 {
            return Err(Errno::EFAULT);
        }
        self.vfs.read(fd, copied, None)?;
        Ok(copied as u64)
    }

    pub(super) fn sys_write(&mut self, fd: u64, buf: u64, len: u64, at: Option<u64>) -> KResult<u64> {
        let len = len.min(MAX_RW_COUNT);
        let f = self.vfs.file(fd)?;
        if !f.flags.write {
            return Err(Errno::EBADF);
        }
        if uaccess::access_ok(&self.mm, self.uaccess, UserAddr(buf), len).is_none() {
            return Err(Errno::EFAULT);
        }
        if matches!(self.vfs.node(fd)?, Node::Pipe(_)) {
            if at.is_some() {
                return Err(Errno::ESPIPE);
            }
            self.wait_or_deadlock(fd, crate::kernel_stub::vfs::Wait::Write(len as usize), "write")?;
        }
        // /dev/null never looks at the buffer (write_null returns the count).
        if matches!(self.vfs.node(fd)?, Node::Null) {
            return Ok(len);
        }
        if matches!(self.vfs.node(fd)?, Node::File(_)) {
            return self.write_regular(fd, vec![(buf, len)], at);
        }
        // Copy in bounded chunks, as the kernel's write loops do: a huge length over a short
        // buffer writes what is readable and stops at the first byte that is not.
        const CHUNK: u64 = 64 << 10;
        let mut written = 0u64;
        while written < len {
            let n = CHUNK.min(len - written) as usize;
            let mut data = vec![0; n];
            let left = uaccess::copy_from_user(&mut self.mm, self.uaccess, &mut data, UserAddr(buf + written));
            data.truncate(n - left);
            if data.is_empty() {
                break;
            }
            let pos = at.map(|a| a + written);
            match self.vfs.write(fd, &data, pos) {
                Ok(w) => written += w as u64,
                Err(e) if written == 0 => return Err(self.on_broken_pipe(e)),
                Err(_) => break,
            }
            if left != 0 {
                break;
            }
        }
        if written == 0 && len > 0 {
            return Err(Errno::EFAULT);
        }
        Ok(written)
    }

    /// A write to a regular file of the user segments `segs` at `at` (or the file position):
    /// btrfs O_DIRECT through its retry loop, btrfs buffered writes through
    /// `btrfs_buffered_write`, ext4 and tmpfs through `generic_perform_write` (with their
    /// `write_end`). The position advances by what was written.
    fn write_regular(&mut self, fd: u64, segs: Vec<(u64, u64)>, at: Option<u64>) -> KResult<u64> {
        let f = self.vfs.file(fd)?;
        let size = match self.vfs.node(fd)? {
            Node::File(data) => data.size(),
            _ => return Err(Errno::EINVAL),
        };
        let pos = match at {
            Some(p) => p,
            None if f.flags.append => size,
            None => f.pos,
        };
        let len: u64 = segs.iter().map(|s| s.1).sum();
        if len == 0 {
            return Ok(0);
        }
        let n = match self.fd_fs(fd) {
            FsKind::Btrfs if f.flags.direct && segs.len() == 1 => self.btrfs_direct_write(fd, segs[0].0, len, pos)?,
            FsKind::Btrfs => self.btrfs_buffered_write(fd, segs, pos)?,
            FsKind::Ext4 if f.flags.direct && segs.len() == 1 => {
                self.ext4_direct(DioOp::Write, fd, segs[0].0, len, pos)?
            }
            FsKind::Ext4 => self.generic_perform_write(fd, segs, pos, WriteEnd::Block, "ext4")?,
            FsKind::Gfs2 if f.flags.direct && segs.len() == 1 => self.gfs2_direct_write(fd, segs[0].0, len, pos)?,
            FsKind::Gfs2 => self.gfs2_buffered_write(fd, segs, pos)?,
            FsKind::Fuse => self.fuse_write(fd, segs, pos)?,
            FsKind::Tmpfs => self.generic_perform_write(fd, segs, pos, WriteEnd::Shmem, "tmpfs")?,
        };
        if at.is_none() {
            self.vfs.lseek(fd, (pos + n) as i64, Whence::Set)?;
        }
        Ok(n)
    }

    pub(super) fn sys_pread(&mut self, fd: u64, buf: u64, len: u64, off: u64) -> KResult<u64> {
        self.positional(fd, off)?;
        self.sys_read(fd, buf, len, Some(off))
    }

    pub(super) fn sys_pwrite(&mut self, fd: u64, buf: u64, len: u64, off: u64) -> KResult<u64> {
        self.positional(fd, off)?;
        self.sys_write(fd, buf, len, Some(off))
    }

    /// The checks `ksys_pread64`/`ksys_pwrite64` make before `vfs_read`/`vfs_write`: a
    /// negative offset is EINVAL, a bad descriptor EBADF, and a file opened without
    /// FMODE_PREAD/FMODE_PWRITE (pipes and the std streams, which `stream_open` them, like a
    /// tty or a pipe) ESPIPE, before the access mode or the buffer is looked at. (Without it
    /// a pread of a pipe read it as read(2) would, and one of the host's stdin waited for
    /// input: words in the persistent fuzz harness blocked on the driver's pipe that way.)
    fn positional(&mut self, fd: u64, off: u64) -> KResult<()> {
        if (off as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        match self.vfs.node(fd)? {
            Node::Pipe(_) | Node::Stream(_) => Err(Errno::ESPIPE),
            _ => Ok(()),
        }
    }

    fn read_iovecs(&mut self, iov: u64, cnt: u64) -> KResult<Vec<(u64, u64)>> {
        if cnt > UIO_MAXIOV {
            return Err(Errno::EINVAL);
        }
        let raw = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(iov), (cnt * 16) as usize)?;
        let mut v = Vec::with_capacity(cnt as usize);
        let mut total: u64 = 0;
        for c in raw.chunks(16) {
            let (base, len) = (read_u64(self.arch, &c[..8]), read_u64(self.arch, &c[8..]));
            if (len as i64) < 0 {
                return Err(Errno::EINVAL);
            }
            total = total.checked_add(len).filter(|t| *t <= i64::MAX as u64).ok_or(Errno::EINVAL)?;
            v.push((base, len));
        }
        Ok(v)
    }

    pub(super) fn sys_readv(&mut self, fd: u64, iov: u64, cnt: u64) -> KResult<u64> {
        let iovs = self.read_iovecs(iov, cnt)?;
        let mut total = 0u64;
        for (base, len) in iovs {
            match self.sys_read(fd, base, len, None) {
                Ok(n) => {
                    total += n;
                    if n < len {
                        break;
                    }
                }
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(total)
    }

    pub(super) fn sys_writev(&mut self, fd: u64, iov: u64, cnt: u64) -> KResult<u64> {
        let iovs = self.read_iovecs(iov, cnt)?;
        // A regular file takes the whole iovec array as one iov_iter: one write loop over all
        // segments (do_iter_write -> ->write_iter), as the kernel does.
        if matches!(self.vfs.node(fd)?, Node::File(_)) && !self.vfs.file(fd)?.flags.direct {
            if !self.vfs.file(fd)?.flags.write {
                return Err(Errno::EBADF);
            }
            for &(base, len) in &iovs {
                if uaccess::access_ok(&self.mm, self.uaccess, UserAddr(base), len).is_none() {
                    return Err(Errno::EFAULT);
                }
            }
            return self.write_regular(fd, iovs, None);
        }
        let mut total = 0u64;
        for (base, len) in iovs {
            if len == 0 {
                continue;
            }
            match self.sys_write(fd, base, len, None) {
                Ok(n) => {
                    total += n;
                    if n < len {
                        break;
                    }
                }
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(total)
    }

    pub(super) fn sys_lseek(&mut self, fd: u64, off: u64, whence: u64) -> KResult<u64> {
        let w = match whence {
            0 => Whence::Set,
            1 => Whence::Cur,
            2 => Whence::End,
            _ => return Err(Errno::EINVAL),
        };
        self.vfs.lseek(fd, off as i64, w)
    }

    /// `_llseek(fd, offset_high, offset_low, result, whence)` (sparc64's glibc lseek): the
    /// new position is stored at `result` and the call returns 0.
    pub(super) fn sys_llseek(&mut self, fd: u64, hi: u64, lo: u64, result: u64, whence: u64) -> KResult<u64> {
        let off = ((hi as u32 as u64) << 32) | (lo as u32 as u64);
        let pos = self.sys_lseek(fd, off, whence)?;
        let mut w = StructWriter::new(self.arch);
        w.u64(pos);
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(result), &w.finish())?;
        Ok(0)
    }

    /// The legacy sparc64 stat calls (38, 40, 62) and their 104-byte struct.
    pub(super) fn sys_stat_legacy(&mut self, path: Option<u64>, fd: u64, buf: u64) -> KResult<u64> {
        let st = match path {
            Some(p) => {
                let p = self.user_path(p)?;
                let p = self.at_path(crate::kernel_stub::syscalls::AT_FDCWD as u64, &p)?;
                self.vfs.stat(&p)?
            }
            None => self.vfs.fstat(fd)?,
        };
        let bytes = encode_stat_sparc_legacy(&st, self.config.uid, self.config.gid);
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(buf), &bytes)?;
        Ok(0)
    }

    fn put_stat(&mut self, st: StatInfo, buf: u64) -> KResult<u64> {
        let bytes = encode_stat(self.arch, &st, self.config.uid, self.config.gid);
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(buf), &bytes)?;
        Ok(0)
    }

    /// `fsync(2)` / `fdatasync(2)`: the files live in memory, so there is nothing to write
    /// back; what shows is which files have an fsync operation. Regular files and directories
    /// (tmpfs: noop_fsync) do; pipes, the standard streams (a tty or a pipe on the host) and
    /// /dev/null and /dev/zero (mem.c's fops) do not: EINVAL.
    pub(super) fn sys_fsync(&mut self, fd: u64) -> KResult<u64> {
        match self.vfs.node(fd)? {
            Node::Dir | Node::File(_) => Ok(0),
            Node::Null | Node::Zero | Node::Stream(_) | Node::Pipe(_) => Err(Errno::EINVAL),
        }
    }

    pub(super) fn sys_fstat(&mut self, fd: u64, buf: u64) -> KResult<u64> {
        let st = self.vfs.fstat(fd)?;
        self.put_stat(st, buf)
    }

    pub(super) fn sys_newfstatat(&mut self, dirfd: u64, path: u64, buf: u64, flags: u64) -> KResult<u64> {
        const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
        const AT_NO_AUTOMOUNT: u64 = 0x800;
        const AT_EMPTY_PATH: u64 = 0x1000;
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        let p = self.user_path(path)?;
        if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
            return self.sys_fstat(dirfd, buf);
        }
        let p = self.at_path(dirfd, &p)?;
        let st = self.vfs.stat(&p)?;
        self.put_stat(st, buf)
    }

    pub(super) fn sys_unlinkat(&mut self, dirfd: u64, path: u64, flags: u64) -> KResult<u64> {
        const AT_REMOVEDIR: u64 = 0x200;
        if flags & !AT_REMOVEDIR != 0 {
            return Err(Errno::EINVAL);
        }
        let p = self.user_path(path)?;
        let p = self.at_path(dirfd, &p)?;
        self.vfs.unlink(&p, flags & AT_REMOVEDIR != 0).map(|_| 0)
    }

    pub(super) fn sys_mkdirat(&mut self, dirfd: u64, path: u64, perm: u64) -> KResult<u64> {
        let p = self.user_path(path)?;
        let p = self.at_path(dirfd, &p)?;
        self.vfs.mkdir(&p, perm as u32).map(|_| 0)
    }

    pub(super) fn sys_chdir(&mut self, path: u64) -> KResult<u64> {
        let p = self.user_path(path)?;
        self.vfs.chdir(&p).map(|_| 0)
    }

    pub(super) fn sys_faccessat(&mut self, dirfd: u64, path: u64) -> KResult<u64> {
        let p = self.user_path(path)?;
        let p = self.at_path(dirfd, &p)?;
        self.vfs.stat(&p).map(|_| 0)
    }

    pub(super) fn sys_readlinkat(&mut self, dirfd: u64, path: u64, buf: u64, size: u64) -> KResult<u64> {
        let p = self.user_path(path)?;
        let p = self.at_path(dirfd, &p)?;
        if (size as i64) <= 0 {
            return Err(Errno::EINVAL);
        }
        // The one symbolic link there is: /proc/self/exe names the executable (readlink does
        // not NUL-terminate and truncates silently).
        if self.vfs.resolve(&p)? == "/proc/self/exe" && !self.exe_path.is_empty() {
            let target = self.exe_path.clone().into_bytes();
            let n = target.len().min(size as usize);
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(buf), &target[..n])?;
            return Ok(n as u64);
        }
        self.vfs.stat(&p).map(|_| 0).and(Err(Errno::EINVAL))
    }

    pub(super) fn sys_getcwd(&mut self, buf: u64, size: u64) -> KResult<u64> {
        let mut cwd = self.vfs.cwd().as_bytes().to_vec();
        cwd.push(0);
        if (size as usize) < cwd.len() {
            return Err(Errno::ERANGE);
        }
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(buf), &cwd)?;
        Ok(cwd.len() as u64)
    }

    pub(super) fn sys_dup3(&mut self, fd: u64, newfd: u64, flags: u64) -> KResult<u64> {
        let cloexec_bit = match self.arch {
            Arch::Arm64 => 0o2000000,
            Arch::Sparc64 => 0x400000,
        };
        if flags & !cloexec_bit != 0 {
            return Err(Errno::EINVAL);
        }
        self.vfs.dup(fd, Some(newfd), flags != 0).map(|fd| fd as u64)
    }

    /// `dup2`: as dup3 without flags, except that `oldfd == newfd` returns it (if valid).
    pub(super) fn sys_dup2(&mut self, fd: u64, newfd: u64) -> KResult<u64> {
        if fd == newfd {
            self.vfs.file(fd)?;
            return Ok(newfd);
        }
        self.vfs.dup(fd, Some(newfd), false).map(|fd| fd as u64)
    }

    pub(super) fn sys_fcntl(&mut self, fd: u64, cmd: u64, arg: u64) -> KResult<u64> {
        const F_DUPFD: u64 = 0;
        const F_GETFD: u64 = 1;
        const F_SETFD: u64 = 2;
        const F_GETFL: u64 = 3;
        const F_SETFL: u64 = 4;
        const F_DUPFD_CLOEXEC: u64 = 1030;
        const F_SETPIPE_SZ: u64 = 1031;
        const F_GETPIPE_SZ: u64 = 1032;
        const FD_CLOEXEC: u64 = 1;
        let f = self.vfs.file(fd)?;
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => {
                // The lowest free descriptor at or above arg.
                if arg >= self.rlimits.0[7].0.min(1024) {
                    return Err(Errno::EINVAL);
                }
                self.vfs.dup_from(fd, arg, cmd == F_DUPFD_CLOEXEC).map(|n| n as u64)
            }
            F_GETFD => Ok(if self.vfs.cloexec(fd)? { FD_CLOEXEC } else { 0 }),
            F_SETFD => self.vfs.set_cloexec(fd, arg & FD_CLOEXEC != 0).map(|_| 0),
            F_GETFL => Ok(encode_open_flags(self.arch, &f.flags)),
            F_SETFL => {
                // Only O_APPEND, O_NONBLOCK and O_DIRECT (and O_ASYNC/O_NOATIME, not modelled)
                // change; the access mode and creation flags are ignored (fs/fcntl.c setfl).
                let new = decode_open_flags(self.arch, arg);
                if new.direct && !matches!(self.vfs.node(fd)?, Node::File(_)) {
                    return Err(Errno::EINVAL);
                }
                self.vfs.set_status_flags(fd, new.append, new.nonblock, new.direct).map(|_| 0)
            }
            F_GETPIPE_SZ => match self.vfs.node(fd)? {
                Node::Pipe(p) => Ok(p.capacity() as u64),
                _ => Err(Errno::EBADF),
            },
            F_SETPIPE_SZ => {
                let privileged = self.config.uid == 0;
                self.vfs.set_pipe_size(fd, arg as u32 as u64, privileged).map(|n| n as u64)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    pub(super) fn sys_ioctl(&mut self, fd: u64, req: u64, arg: u64) -> KResult<u64> {
        // (FIONCLEX, FIOCLEX, FIONBIO): asm-generic's, and sparc's _IO/_IOW('f', ...) forms.
        let (fionclex, fioclex, fionbio) = match self.arch {
            Arch::Arm64 => (0x5450, 0x5451, 0x5421),
            Arch::Sparc64 => (0x2000_6602, 0x2000_6601, 0x8004_667e),
        };
        self.vfs.file(fd)?;
        // FIONREAD: sparc's _IOR('f', 127, int); asm-generic's 0x541B.
        let fionread = match self.arch {
            Arch::Arm64 => 0x541b,
            Arch::Sparc64 => 0x4004_667f,
        };
        match req {
            r if r == fionclex || r == fioclex => self.vfs.set_cloexec(fd, r == fioclex).map(|_| 0),
            r if r == fionbio => {
                let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(arg), 4)?;
                let on = crate::arch::read_u32(self.arch, &b) != 0;
                let f = self.vfs.file(fd)?;
                self.vfs.set_status_flags(fd, f.flags.append, on, f.flags.direct).map(|_| 0)
            }
            r if r == fionread && matches!(self.vfs.node(fd)?, Node::Pipe(_)) => {
                let Node::Pipe(p) = self.vfs.node(fd)? else { return Err(Errno::EBADF) };
                let n = p.len() as u32;
                uaccess::write_user(
                    &mut self.mm,
                    self.uaccess,
                    UserAddr(arg),
                    &StructWriter::new(self.arch).u32(n).finish(),
                )?;
                Ok(0)
            }
            // No descriptor is a terminal (the standard streams present themselves as pipes),
            // and no other ioctl is modelled for these files.
            _ => Err(Errno::ENOTTY),
        }
    }

    pub(super) fn sys_getdents64(&mut self, fd: u64, buf: u64, size: u64) -> KResult<u64> {
        let f = self.vfs.file(fd)?;
        if !matches!(self.vfs.node(fd)?, Node::Dir) {
            return Err(Errno::ENOTDIR);
        }
        let entries = self.vfs.list_dir(&f.path)?;
        let mut out = Vec::new();
        let mut idx = f.pos as usize;
        while idx < entries.len() {
            let (name, ino, m) = &entries[idx];
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            if out.len() + reclen > size as usize {
                break;
            }
            let dtype = match m & 0o170000 {
                mode::S_IFDIR => 4,
                mode::S_IFREG => 8,
                mode::S_IFCHR => 2,
                mode::S_IFIFO => 1,
                _ => 0,
            };
            let mut w = StructWriter::new(self.arch);
            w.u64(*ino).u64(idx as u64 + 1).u16(reclen as u16).bytes(&[dtype]).bytes(name.as_bytes());
            w.pad(reclen - w.len());
            out.extend_from_slice(&w.finish());
            idx += 1;
        }
        if out.is_empty() && idx < entries.len() {
            return Err(Errno::EINVAL);
        }
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(buf), &out)?;
        self.vfs.lseek(fd, idx as i64, Whence::Set)?;
        Ok(out.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_open_flags() {
        let f = decode_open_flags(Arch::Arm64, 0o2 | 0o100 | 0o1000 | 0o2000000);
        assert!(f.read && f.write && f.create && f.trunc && f.cloexec && !f.excl && !f.directory);
        let f = decode_open_flags(Arch::Arm64, 0o40000);
        assert!(f.directory && f.read && !f.write);
        assert!(decode_open_flags(Arch::Arm64, 0o200000).direct);
    }

    #[test]
    fn arm64_stat_layout() {
        let st =
            StatInfo { dev: 1, ino: 2, mode: 0o100644, nlink: 1, rdev: 0, size: 0x1234, blksize: 4096, blocks: 10 };
        let b = encode_stat(Arch::Arm64, &st, 1000, 1001);
        assert_eq!(b.len(), 128);
        assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 0o100644);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 1000);
        assert_eq!(u64::from_le_bytes(b[48..56].try_into().unwrap()), 0x1234);
        assert_eq!(u32::from_le_bytes(b[56..60].try_into().unwrap()), 4096);
        assert_eq!(u64::from_le_bytes(b[64..72].try_into().unwrap()), 10);
    }
}
