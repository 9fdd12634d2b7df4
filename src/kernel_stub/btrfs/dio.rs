//! btrfs O_DIRECT: `btrfs_direct_read()` / `btrfs_direct_write()` (fs/btrfs/file.c) and their
//! fall-back to buffered I/O, for the modelled kernel versions (kernel-spec §D.2).
//!
//! - Alignment (`check_direct_read` / `check_direct_IO`): the file position, the buffer address
//!   and the length must be multiples of the sector size (4096), or btrfs does the whole
//!   request as buffered I/O (Catalin Marinas's finding (b): buffered I/O then copies with
//!   `copy_to_user`/`copy_from_user`, which *are* tag-checked, and returns a short count).
//! - 5.15: one `iomap_dio_rw()` with page faults allowed: GUP faults the pages in itself.
//! - 5.16-5.19 (commit "btrfs: fix deadlock due to page faults during direct IO reads and
//!   writes"): the attempt runs with `nofault` (reads also under `pagefault_disable()`) and
//!   `IOMAP_DIO_PARTIAL`. While bytes are left, it faults the rest in
//!   (`fault_in_iov_iter_writeable` = GUP-based `fault_in_safe_writeable` for reads,
//!   `fault_in_iov_iter_readable` for writes) and retries; a retry that made no progress since
//!   the previous one stops the loop and the remainder is done as buffered I/O (reads: the
//!   rest through `filemap_read`; writes: `-ENOTBLK`, then the buffered write). The loop is
//!   bounded by that rule, so it cannot live-lock; an iteration guard backs it up anyway.
//! - Writes on 5.16+ return the error of a failed buffered fall-back even after direct
//!   progress (`return err < 0 ? err : written`); 5.15 returns `written ? written : err`.
//!   The buffered write itself is `btrfs_buffered_write()` ([`super::buffered_write`]), with
//!   its own fault-in and short-copy handling per version.
//!
//! - 6.1-6.18 keep the same loop (6.1 8184620ae212 retries through `relock`, 6.11 939b656bc8ab
//!   through `again`; 6.11 moved the code to fs/btrfs/direct-io.c), and from 6.15 a direct
//!   *write* to a file with data checksums (the default, and every emulated file) is done as
//!   buffered I/O altogether (968f19c5b1b7). Filipe Manana's 2022 "fault in pages for dio
//!   reads/writes in a more controlled way" never reached a release (reverted from misc-next).
//!
//! Since direct I/O goes through GUP and the kernel mapping, a buffer whose tags do not match
//! the pointer completes under MTE: the report lists the granules that went unchecked.

use serde::Serialize;

use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::fault_in;
use crate::kernel_stub::iomap_dio::{DioAttempt, DioOp, DioRequest, UncheckedGranule};
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::Kernel;

/// btrfs's sector size (the alignment direct I/O needs).
pub const BTRFS_SECTORSIZE: u64 = 4096;

/// Why some or all of a direct I/O request was done as buffered I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Position, buffer or length not sector aligned: all of it is buffered.
    Unaligned,
    /// A retry made no progress since the previous attempt: the rest is buffered.
    NoProgress,
    /// 6.15+: a write to a file with data checksums (every emulated file, as by default) is
    /// always buffered (968f19c5b1b7 "btrfs: always fallback to buffered write if the inode
    /// requires checksum").
    Checksum,
}

/// One pass of the direct-I/O retry loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DioPass {
    /// 1-based.
    pub pass: u64,
    /// Bytes left when it started.
    pub left: u64,
    /// The user address it started at.
    pub ubuf: u64,
    /// The attempt.
    pub attempt: DioAttempt,
    /// The fault-in that followed, if any: (name, start, length, bytes not faulted in).
    pub fault_in: Option<(String, u64, u64, u64)>,
}

/// A direct read() or write() on a btrfs (or ext4) file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DioReport {
    /// Direction.
    pub op: DioOp,
    /// The filesystem (`btrfs`, `ext4`).
    pub fs: String,
    /// The modelled kernel.
    pub kernel: String,
    /// The file.
    pub path: String,
    /// User buffer.
    pub ubuf: u64,
    /// Bytes asked for.
    pub len: u64,
    /// File position.
    pub pos: u64,
    /// The retry loop's passes.
    pub passes: Vec<DioPass>,
    /// Bytes moved by direct I/O.
    pub direct_bytes: u64,
    /// Why buffered I/O took over, if it did.
    pub fallback: Option<Fallback>,
    /// Bytes moved by the buffered fall-back (or its errno).
    pub buffered: Option<i64>,
    /// The syscall's result (negative errno).
    pub ret: i64,
    /// Mismatched granules the data went through without a tag check.
    pub unchecked: Vec<UncheckedGranule>,
    /// Bit position of the pointer's tag (56 on arm64, 60 for SPARC ADI), to write pointers
    /// as `TAG:ADDRESS`.
    pub tag_shift: u32,
}

impl DioReport {
    /// An empty report of a direct `op` of `len` bytes at `buf` on the file `fd` at `pos`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(op: DioOp, fs: &str, k: &Kernel, fd: u64, buf: u64, len: u64, pos: u64) -> KResult<DioReport> {
        Ok(DioReport {
            op,
            fs: fs.into(),
            kernel: k.config.version.to_string(),
            path: k.vfs.file(fd)?.path.clone(),
            ubuf: buf,
            len,
            pos,
            passes: Vec::new(),
            direct_bytes: 0,
            fallback: None,
            buffered: None,
            ret: 0,
            unchecked: Vec::new(),
            tag_shift: k.mm.layout().tags.tag_shift,
        })
    }
}

/// A guard far above what the no-progress rule allows (one pass per page plus two).
const MAX_PASSES: u64 = 1 << 20;

impl Kernel {
    /// Is `fd` a regular file on the emulated btrfs mount?
    pub fn is_btrfs_file(&self, fd: u64) -> bool {
        let Ok(f) = self.vfs.file(fd) else { return false };
        matches!(self.vfs.node(fd), Ok(crate::kernel_stub::vfs::Node::File(_))) && self.on_btrfs(&f.path)
    }

    /// read() of a file opened with O_DIRECT on the btrfs mount (`btrfs_file_read_iter`).
    pub fn btrfs_direct_read(&mut self, fd: u64, buf: u64, len: u64, pos: u64) -> KResult<u64> {
        self.btrfs_direct(DioOp::Read, fd, buf, len, pos)
    }

    /// write() of a file opened with O_DIRECT on the btrfs mount (`btrfs_direct_write`).
    pub fn btrfs_direct_write(&mut self, fd: u64, buf: u64, len: u64, pos: u64) -> KResult<u64> {
        self.btrfs_direct(DioOp::Write, fd, buf, len, pos)
    }

    fn btrfs_direct(&mut self, op: DioOp, fd: u64, buf: u64, len: u64, pos: u64) -> KResult<u64> {
        let version = self.config.version;
        let mut rep = DioReport::new(op, "btrfs", self, fd, buf, len, pos)?;
        if len == 0 {
            self.dio_reports.push(rep);
            return Ok(0);
        }
        let aligned = (pos | buf | len).is_multiple_of(BTRFS_SECTORSIZE);
        let mut err: Option<Errno> = None;
        if op == DioOp::Write && version.at_least(6, 15) {
            rep.fallback = Some(Fallback::Checksum);
        } else if !aligned {
            rep.fallback = Some(Fallback::Unaligned);
        } else {
            err = self.dio_retry_loop(fd, version, &mut rep);
        }
        let done = rep.direct_bytes;
        // btrfs_direct_read returns `ret < 0 ? ret : read`; the write path returns its error.
        let r = match err {
            Some(e) => Err(e),
            None if done < len && rep.fallback.is_some() => self.dio_buffered_rest(fd, version, &mut rep),
            None => Ok(done),
        };
        rep.ret = syscall_ret(&r);
        self.dio_reports.push(rep);
        r
    }

    /// The direct attempts of the request `rep` describes, recorded in it. Returns the error
    /// that ends the request, if any.
    fn dio_retry_loop(&mut self, fd: u64, version: KernelVersion, rep: &mut DioReport) -> Option<Errno> {
        let (op, buf, len, pos) = (rep.op, rep.ubuf, rep.len, rep.pos);
        let nofault_loop = version >= KernelVersion { major: 5, minor: 16 };
        let mut done = 0u64;
        let mut prev_left = 0u64;
        for pass in 1..=MAX_PASSES {
            let ubuf = buf.wrapping_add(done);
            let req = DioRequest {
                op,
                fd,
                ubuf,
                count: len - done,
                pos: pos + done,
                done_before: done,
                nofault: nofault_loop,
                partial: nofault_loop,
            };
            let attempt = self.iomap_dio_rw(req);
            let ret = attempt.ret;
            rep.unchecked.extend(attempt.unchecked.iter().copied());
            if ret > 0 {
                done = ret as u64;
            }
            rep.direct_bytes = done;
            let left = len - done;
            rep.passes.push(DioPass { pass, left: len - (req.done_before), ubuf, attempt, fault_in: None });
            if !nofault_loop {
                return (ret < 0).then(|| Errno::from_generic(-ret).unwrap_or(Errno::EIO));
            }
            let efault = ret == -Errno::EFAULT.generic();
            if left == 0 || !(efault || ret > 0) {
                // End of file (0) or a hard error.
                return (ret < 0).then(|| Errno::from_generic(-ret).unwrap_or(Errno::EIO));
            }
            if left == prev_left {
                rep.fallback = Some(Fallback::NoProgress);
                return None;
            }
            let start = buf.wrapping_add(done);
            let (name, not) = match op {
                DioOp::Read => (
                    "fault_in_safe_writeable",
                    fault_in::fault_in_safe_writeable_for(&mut self.mm, self.uaccess, version, start, left),
                ),
                DioOp::Write => {
                    ("fault_in_readable", fault_in::fault_in_readable(&mut self.mm, self.uaccess, start, left))
                }
            };
            if let Some(p) = rep.passes.last_mut() {
                p.fault_in = Some((name.to_string(), start, left, not));
            }
            prev_left = left;
        }
        Some(Errno::EFAULT)
    }

    /// The buffered remainder of the request `rep` describes, and the syscall's result.
    fn dio_buffered_rest(&mut self, fd: u64, version: KernelVersion, rep: &mut DioReport) -> KResult<u64> {
        let (op, buf, len, pos) = (rep.op, rep.ubuf, rep.len, rep.pos);
        let done = rep.direct_bytes;
        let (ubuf, rest, at) = (buf.wrapping_add(done), len - done, pos + done);
        match op {
            DioOp::Read => {
                // btrfs_file_read_iter: filemap_read(iocb, to, already_read) returns the bytes
                // read before it when it can copy none.
                if at >= self.vfs.file_bytes(fd)?.len() as u64 {
                    rep.buffered = Some(0);
                    return Ok(done);
                }
                let r = self.filemap_read(fd, ubuf, rest, at);
                rep.buffered = Some(syscall_ret(&r));
                match r {
                    Ok(n) => Ok(done + n),
                    Err(_) if done > 0 => Ok(done),
                    Err(e) => Err(e),
                }
            }
            DioOp::Write => {
                let r = self.btrfs_buffered_write(fd, vec![(ubuf, rest)], at);
                rep.buffered = Some(syscall_ret(&r));
                let new_convention = version >= KernelVersion { major: 5, minor: 16 };
                match r {
                    Ok(n) => Ok(done + n),
                    Err(_) if !new_convention && done > 0 => Ok(done),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

impl DioReport {
    /// The request told in plain words.
    pub fn narrative(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let (verb, dir) = match self.op {
            DioOp::Read => ("read", "from the file into"),
            DioOp::Write => ("write", "from"),
        };
        let _ = writeln!(
            s,
            "== O_DIRECT {verb} on {}, Linux {}: {} bytes at file offset {} {dir} the buffer at {}",
            self.fs,
            self.kernel,
            self.len,
            self.pos,
            crate::kernel_stub::loops::picture::split_pointer(self.ubuf, self.tag_shift)
        );
        if self.passes.is_empty() && self.ret == -Errno::EINVAL.generic() {
            let _ = writeln!(
                s,
                "        the position, buffer or length is not a multiple of the {}-byte logical block: iomap_dio_rw returns -EINVAL (no buffered fall-back).",
                crate::kernel_stub::iomap_dio::LOGICAL_BLOCK_SIZE
            );
        } else if self.fallback == Some(Fallback::Checksum) {
            let _ = writeln!(
                s,
                "        the file has data checksums: since 6.15 btrfs does direct writes to it as buffered I/O, which copies with the user's tag checks."
            );
        } else if self.fallback == Some(Fallback::Unaligned) {
            let _ = writeln!(
                s,
                "        the position, buffer or length is not a multiple of {BTRFS_SECTORSIZE}: btrfs does it all as buffered I/O, which copies with the user's tag checks."
            );
        } else {
            let _ = writeln!(
                s,
                "        direct I/O pins the user pages with GUP and moves the data through the kernel's own mapping: user tags are not checked."
            );
        }
        for p in &self.passes {
            let a = &p.attempt;
            let stop = match a.gup_stopped {
                Some((addr, why)) => format!(" (stopped at page {addr:#x}: {})", gup_stop_words(why)),
                None => String::new(),
            };
            let rewind = if a.rewound > 0 {
                format!(
                    ", {} bytes given back to end on a {}-byte block",
                    a.rewound,
                    crate::kernel_stub::iomap_dio::LOGICAL_BLOCK_SIZE
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "pass {}: {} bytes left; GUP pinned {} of {} page(s){stop}; {} bytes moved{rewind}; iomap_dio_rw returned {}.",
                p.pass, p.left, a.pages_pinned, a.pages_wanted, a.transferred, a.ret
            );
            for g in &a.unchecked {
                let _ = writeln!(
                    s,
                    "        granule {:#x} is tagged {:#x} but the pointer carries {:#x}: a user access would fault; the kernel mapping never checks.",
                    g.addr, g.mem_tag, g.ptr_tag
                );
            }
            if let Some((name, start, len, not)) = &p.fault_in {
                let res = if *not == 0 {
                    "all of it is now present".to_string()
                } else {
                    format!("{not} bytes could not be")
                };
                let start = crate::kernel_stub::loops::picture::split_pointer(*start, self.tag_shift);
                let _ = writeln!(s, "        {name}({start}, {len}) faulted the rest in: {res}; retry.");
            }
        }
        if self.fallback == Some(Fallback::NoProgress) {
            let _ = writeln!(
                s,
                "        no progress since the previous pass: btrfs falls back to buffered I/O for the rest."
            );
        }
        if let Some(b) = self.buffered {
            let _ = writeln!(s, "        buffered {verb} of the remaining bytes returned {b}.");
        }
        let _ = writeln!(
            s,
            "verdict: completed, returned {} ({} bytes by direct I/O; {} mismatched granule(s) moved without a tag check).",
            self.ret,
            self.direct_bytes,
            self.unchecked.len()
        );
        s
    }
}

/// A syscall result as Linux returns it: the count, or the negative errno.
fn syscall_ret(r: &KResult<u64>) -> i64 {
    match r {
        Ok(n) => *n as i64,
        Err(e) => -e.generic(),
    }
}

fn gup_stop_words(why: crate::kernel_stub::gup::GupStop) -> &'static str {
    match why {
        crate::kernel_stub::gup::GupStop::Unmapped => "not mapped",
        crate::kernel_stub::gup::GupStop::Protection => "the mapping forbids the access",
        crate::kernel_stub::gup::GupStop::NotPresent => "not present, and faults are off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::btrfs::ioctl::BtrfsMount;
    use crate::kernel_stub::mm::{MapRequest, Prot, VmaKind};
    use crate::kernel_stub::uaccess::UaccessCtx;
    use crate::kernel_stub::vfs::OpenFlags;
    use crate::kernel_stub::KernelConfig;

    const PAGE: u64 = 4096;

    /// MTE sync; a 4-page buffer tagged 3 with one granule tagged 9 at page 1 + 0x40; a
    /// 4-page file on the btrfs mount; the buffer's pages 1 and 2 evicted.
    fn setup(version: &str) -> (Kernel, u64, u64) {
        let cfg = KernelConfig { version: version.parse().unwrap(), ..Default::default() };
        let mut k = Kernel::new(Arch::Arm64, cfg);
        k.btrfs = Some(BtrfsMount { path: "/mnt/btrfs".into(), tree: Default::default() });
        let req = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, 4 * PAGE, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        for g in (0..4 * PAGE).step_by(16) {
            k.mm.set_tag(a + g, 3);
        }
        k.mm.set_tag(a + PAGE + 0x40, 9);
        k.mm.handle_user_fault(a, crate::kernel_stub::mm::Access::Write).unwrap();
        k.mm.handle_user_fault(a + 3 * PAGE, crate::kernel_stub::mm::Access::Write).unwrap();
        k.uaccess = UaccessCtx { tagged_addr_abi: true, check_loads: true, check_stores: true, ..k.uaccess };
        let data: Vec<u8> = (0..4 * PAGE).map(|i| (i % 251) as u8).collect();
        k.vfs.add_file("/mnt/btrfs/data", data).unwrap();
        let f = OpenFlags { read: true, write: true, direct: true, ..Default::default() };
        let fd = k.vfs.open("/mnt/btrfs/data", f, 0).unwrap() as u64;
        (k, a | (3 << 56), fd)
    }

    #[test]
    fn a_516_direct_read_faults_in_retries_and_completes_over_a_bad_granule() {
        let (mut k, buf, fd) = setup("5.16");
        assert!(k.is_btrfs_file(fd));
        assert_eq!(k.btrfs_direct_read(fd, buf, 4 * PAGE, 0), Ok(4 * PAGE));
        let rep = &k.dio_reports[0];
        assert_eq!(rep.passes.len(), 2, "{}", rep.narrative());
        assert_eq!(rep.passes[0].attempt.transferred, PAGE, "pass 1 stops at the evicted page");
        assert_eq!(rep.passes[0].fault_in.as_ref().unwrap().3, 0);
        assert_eq!(rep.fallback, None);
        assert_eq!(rep.unchecked.len(), 1);
        let mut b = [0u8; 4];
        k.mm.read_kernel((buf & ((1 << 56) - 1)) + PAGE + 0x40, &mut b).unwrap();
        let i = (PAGE + 0x40) as usize;
        assert_eq!(b, [(i % 251) as u8, ((i + 1) % 251) as u8, ((i + 2) % 251) as u8, ((i + 3) % 251) as u8]);
        assert!(rep.narrative().contains("the kernel mapping never checks"));
    }

    #[test]
    fn a_515_direct_read_lets_gup_fault_pages_in() {
        let (mut k, buf, fd) = setup("5.15");
        assert_eq!(k.btrfs_direct_read(fd, buf, 4 * PAGE, 0), Ok(4 * PAGE));
        assert_eq!(k.dio_reports[0].passes.len(), 1);
    }

    #[test]
    fn an_unaligned_buffer_falls_back_to_a_checked_buffered_read() {
        let (mut k, buf, fd) = setup("5.19");
        // 16 bytes into the buffer: not sector aligned. The buffered copy stops at the bad
        // granule (page 1 + 0x40).
        assert_eq!(k.btrfs_direct_read(fd, buf + 16, 2 * PAGE, 0), Ok(PAGE + 0x40 - 16));
        let rep = &k.dio_reports[0];
        assert_eq!((rep.fallback, rep.passes.len()), (Some(Fallback::Unaligned), 0));
        assert_eq!(k.btrfs_direct_read(fd, buf + PAGE + 0x40, 2 * PAGE, 0), Err(Errno::EFAULT), "nothing copied");
    }

    #[test]
    fn no_progress_falls_back_to_buffered_for_the_rest() {
        let (mut k, buf, fd) = setup("5.19");
        // Page 2 of the buffer becomes read-only: GUP for a read (FOLL_WRITE) stops there
        // every time and fault_in_safe_writeable cannot help.
        let untagged = buf & ((1 << 56) - 1);
        k.mm.mprotect(untagged + 2 * PAGE, PAGE, Prot::READ | Prot::TAGGED).unwrap();
        let r = k.btrfs_direct_read(fd, buf, 4 * PAGE, 0);
        let rep = k.dio_reports[0].clone();
        assert_eq!(rep.fallback, Some(Fallback::NoProgress), "{}", rep.narrative());
        assert_eq!(rep.direct_bytes, 2 * PAGE);
        assert_eq!(rep.buffered, Some(-14), "the buffered copy cannot write a read-only page");
        assert_eq!(r, Ok(2 * PAGE), "the direct bytes are returned");
    }

    #[test]
    fn direct_writes_complete_and_a_failed_buffered_fallback_loses_them_on_516() {
        let (mut k, buf, fd) = setup("5.16");
        assert_eq!(k.btrfs_direct_write(fd, buf, 2 * PAGE, 0), Ok(2 * PAGE));
        assert_eq!(k.dio_reports[0].unchecked.len(), 1);
        // An unmapped third page: the direct part stops, no progress, -ENOTBLK, and the
        // buffered write of the rest fails at its first byte: 5.16 returns -EFAULT...
        let untagged = buf & ((1 << 56) - 1);
        k.mm.munmap(untagged + 2 * PAGE, PAGE).unwrap();
        assert_eq!(k.btrfs_direct_write(fd, buf, 4 * PAGE, 0), Err(Errno::EFAULT));
        assert_eq!(k.dio_reports[1].direct_bytes, 2 * PAGE);
        // ... while 5.15 fails the direct write outright (no partial direct I/O).
        let (mut k, buf, fd) = setup("5.15");
        k.mm.munmap((buf & ((1 << 56) - 1)) + 2 * PAGE, PAGE).unwrap();
        assert_eq!(k.btrfs_direct_write(fd, buf, 4 * PAGE, 0), Err(Errno::EFAULT));
        assert_eq!(k.dio_reports[0].direct_bytes, 0);
    }

    #[test]
    fn from_6_15_direct_writes_to_checksummed_files_are_buffered() {
        // 6.14 still writes directly (the granule tagged 9 goes through unchecked)...
        let (mut k, buf, fd) = setup("6.14");
        assert_eq!(k.btrfs_direct_write(fd, buf, 2 * PAGE, 0), Ok(2 * PAGE));
        assert_eq!((k.dio_reports[0].fallback, k.dio_reports[0].unchecked.len()), (None, 1));
        // ... 6.17 writes through btrfs_buffered_write, whose copy is tag-checked and which,
        // since 6.13, live-locks on a page-aligned page with a mistagged granule (page 1 +
        // 0x40, not a probed byte): the direct write live-locks through its fall-back.
        let (mut k, buf, fd) = setup("6.17");
        let _ = k.btrfs_direct_write(fd, buf, 2 * PAGE, 0);
        assert_eq!(k.dio_reports[0].fallback, Some(Fallback::Checksum));
        let rep = k.loop_reports.last().unwrap();
        assert_eq!(rep.id, "btrfs_buffered_write");
        assert!(matches!(rep.verdict, crate::kernel_stub::loops::Verdict::Livelock { .. }), "{}", rep.narrative());
        assert_eq!(rep.stuck_at, Some(PAGE));
        assert!(k.livelock_kill.is_some());
        // Reads are still direct.
        assert_eq!(k.btrfs_direct_read(fd, buf, PAGE, 0), Ok(PAGE));
        assert_eq!(k.dio_reports[1].fallback, None);
    }
}
