//! A small in-memory filesystem (tmpfs-like) and the process's file descriptor table.
//!
//! The guest never reaches host files: `/`, `/tmp`, `/dev/shm` and the files a scenario
//! provides live in memory. File descriptors 0, 1 and 2 are streams connected to the host's
//! standard streams (or to capture buffers when tagmmu is used as a library); they present
//! themselves to the guest as pipes, never as terminals.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::rc::Rc;

use crate::kernel_stub::errno::{Errno, KResult};

mod fd_table;
mod page_cache;
mod pipe;
pub mod poll;
mod streams;

use fd_table::FdSlot;
pub use page_cache::{FileData, PAGE_CACHE_SLACK};
pub use pipe::{Pipe, Wait, PIPE_BUF, PIPE_DEF_CAPACITY, PIPE_MAX_SIZE};
use streams::capture;
pub use streams::{HostStream, InputSource, OutputSink, Stream, CAPTURE_LIMIT, CAPTURE_MARKER};

/// File type bits of `st_mode`.
pub mod mode {
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// FIFO (how the standard streams present themselves).
    pub const S_IFIFO: u32 = 0o010000;
}

/// What an inode is.
#[derive(Debug)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file with its bytes.
    File(FileData),
    /// `/dev/null`.
    Null,
    /// `/dev/zero`.
    Zero,
    /// A standard stream.
    Stream(Stream),
    /// A pipe (`pipe2`): the bytes in flight between its two ends.
    Pipe(Pipe),
}

/// Metadata the guest can stat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatInfo {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Device number of a character device.
    pub rdev: u64,
    /// Size in bytes.
    pub size: u64,
    /// Preferred I/O size.
    pub blksize: u32,
    /// 512-byte blocks allocated.
    pub blocks: u64,
}

struct Inode {
    node: Node,
    perm: u32,
}

/// Open-file flags, decoded from the architecture's `O_*` bits by the ABI adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags {
    /// O_RDONLY / O_WRONLY / O_RDWR: may read.
    pub read: bool,
    /// May write.
    pub write: bool,
    /// O_CREAT.
    pub create: bool,
    /// O_EXCL.
    pub excl: bool,
    /// O_TRUNC.
    pub trunc: bool,
    /// O_APPEND.
    pub append: bool,
    /// O_DIRECTORY.
    pub directory: bool,
    /// O_CLOEXEC.
    pub cloexec: bool,
    /// O_DIRECT.
    pub direct: bool,
    /// O_NONBLOCK.
    pub nonblock: bool,
}

/// An open file description: what `open` creates and `dup` (and, in Linux, `fork`) shares,
/// with one file position and one set of status flags (`flags.cloexec` is the flag it was
/// opened with; close-on-exec itself belongs to each descriptor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenFile {
    ino: usize,
    /// The path it was opened by.
    pub path: String,
    /// File position.
    pub pos: u64,
    /// The flags it was opened with.
    pub flags: OpenFlags,
}

/// `lseek` whence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    /// SEEK_SET.
    Set,
    /// SEEK_CUR.
    Cur,
    /// SEEK_END.
    End,
}

/// Upper bound on a file's size (keeps a runaway guest from exhausting host memory).
pub const MAX_FILE_SIZE: u64 = 1 << 30;
const MAX_FDS: usize = 1024;

/// The filesystem plus the descriptor table of the one process.
pub struct Vfs {
    inodes: Vec<Inode>,
    names: BTreeMap<String, usize>,
    fds: Vec<Option<FdSlot>>,
    cwd: String,
    stdout: OutputSink,
    stderr: OutputSink,
    stdin: InputSource,
    /// When a blocking read of the host's stdin gives up (the run's wall-time budget).
    stdin_deadline: Option<std::time::Instant>,
    stdin_pos: usize,
    captured_out: Vec<u8>,
    captured_err: Vec<u8>,
    /// The most bytes all regular files together may hold (tmpfs `size=`).
    tmpfs_limit: u64,
    /// Bytes all regular files hold now (their sizes: sparse files count in full).
    tmpfs_used: u64,
    /// The descriptor tables and working directories of the processes not running now
    /// (`fds` and `cwd` above are the running process's).
    parked_files: BTreeMap<u32, fd_table::ProcessFiles>,
}

/// Normalise `path` (relative to `cwd`) into an absolute path without `.`, `..` or `//`.
pub fn normalize(cwd: &str, path: &str) -> KResult<String> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() > 4095 {
        return Err(Errno::ENAMETOOLONG);
    }
    let joined = if path.starts_with('/') { path.to_string() } else { format!("{cwd}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p if p.len() > 255 => return Err(Errno::ENAMETOOLONG),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

impl Vfs {
    /// A filesystem with `/`, `/tmp`, `/dev`, `/dev/shm`, `/dev/null`, `/dev/zero` and the
    /// three standard streams open.
    pub fn new(stdin: InputSource, stdout: OutputSink, stderr: OutputSink) -> Vfs {
        let mut v = Vfs {
            inodes: Vec::new(),
            names: BTreeMap::new(),
            fds: Vec::new(),
            cwd: "/".into(),
            stdout,
            stderr,
            stdin,
            stdin_deadline: None,
            tmpfs_limit: u64::MAX,
            tmpfs_used: 0,
            stdin_pos: 0,
            captured_out: Vec::new(),
            captured_err: Vec::new(),
            parked_files: BTreeMap::new(),
        };
        for d in ["/", "/tmp", "/dev", "/dev/shm", "/proc"] {
            v.add_node(d, Node::Dir, if d == "/tmp" || d == "/dev/shm" { 0o1777 } else { 0o755 });
        }
        v.add_node("/dev/null", Node::Null, 0o666);
        v.add_node("/dev/zero", Node::Zero, 0o666);
        for (i, s) in [Stream::In, Stream::Out, Stream::Err].into_iter().enumerate() {
            let ino = v.inodes.len();
            v.inodes.push(Inode { node: Node::Stream(s), perm: 0o600 });
            let flags = OpenFlags { read: i == 0, write: i != 0, ..Default::default() };
            let desc = Rc::new(RefCell::new(OpenFile { ino, path: format!("pipe:[{i}]"), pos: 0, flags }));
            v.fds.push(Some(FdSlot { desc, cloexec: false }));
        }
        v
    }

    fn add_node(&mut self, path: &str, node: Node, perm: u32) -> usize {
        let ino = self.inodes.len();
        self.inodes.push(Inode { node, perm });
        self.names.insert(path.to_string(), ino);
        ino
    }

    /// Create (or replace) a regular file with `contents`, creating missing parent directories.
    pub fn add_file(&mut self, path: &str, contents: Vec<u8>) -> KResult<()> {
        let path = normalize("/", path)?;
        self.add_dir(parent_of(&path))?;
        let replaced = match self.names.get(&path) {
            Some(&ino) => match &self.inodes[ino].node {
                Node::Dir => return Err(Errno::EISDIR),
                Node::File(d) => Some((ino, d.size())),
                _ => None,
            },
            None => None,
        };
        let freed = replaced.map_or(0, |(_, size)| size);
        if (contents.len() as u64).saturating_sub(freed) > self.tmpfs_room() {
            return Err(Errno::ENOSPC);
        }
        self.tmpfs_used += contents.len() as u64;
        // Placed files carry no mode of their own: an ELF image or a script is executable
        // (0755, so the guest can execve it), anything else 0644.
        let perm = if contents.starts_with(b"\x7fELF") || contents.starts_with(b"#!") { 0o755 } else { 0o644 };
        self.add_node(&path, Node::File(FileData::new(contents)), perm);
        if let Some((ino, _)) = replaced {
            self.forget_if_unused(ino);
        }
        Ok(())
    }

    /// Limit the bytes all regular files together may hold (tmpfs `size=`; past it writes
    /// fail with ENOSPC).
    pub fn set_tmpfs_limit(&mut self, bytes: u64) {
        self.tmpfs_limit = bytes;
    }

    /// Bytes all regular files hold.
    pub fn tmpfs_used(&self) -> u64 {
        self.tmpfs_used
    }

    fn tmpfs_room(&self) -> u64 {
        self.tmpfs_limit.saturating_sub(self.tmpfs_used)
    }

    /// Set file `ino`'s size to `n`, counting the change against the tmpfs limit.
    fn resize_file(&mut self, ino: usize, n: u64) -> KResult<()> {
        let room = self.tmpfs_room();
        let Node::File(d) = &mut self.inodes[ino].node else { return Err(Errno::EINVAL) };
        let old = d.size();
        if n > old && n - old > room {
            return Err(Errno::ENOSPC);
        }
        d.resize(n)?;
        self.tmpfs_used = self.tmpfs_used + n - old;
        Ok(())
    }

    /// A regular file with no name and no descriptor left is gone: free its bytes (a file
    /// whose page cache is mapped keeps them, as its mapping does).
    fn forget_if_unused(&mut self, ino: usize) {
        if self.names.values().any(|&i| i == ino) || self.all_slots().any(|f| f.desc.borrow().ino == ino) {
            return;
        }
        if let Node::File(d) = &mut self.inodes[ino].node {
            if !d.is_paged() {
                self.tmpfs_used -= d.size();
                *d = FileData::new(Vec::new());
            }
        }
    }

    /// Create the directory `path` and its missing parents (a mount point).
    pub fn add_dir(&mut self, path: &str) -> KResult<()> {
        let path = normalize("/", path)?;
        let mut dir = String::new();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            dir.push('/');
            dir.push_str(comp);
            match self.names.get(&dir).map(|&i| &self.inodes[i].node) {
                None => {
                    self.add_node(&dir.clone(), Node::Dir, 0o755);
                }
                Some(Node::Dir) => {}
                Some(_) => return Err(Errno::ENOTDIR),
            }
        }
        Ok(())
    }

    /// The contents of the regular file at `path`, if there is one.
    pub fn file_contents(&self, path: &str) -> Option<&[u8]> {
        let ino = *self.names.get(&normalize("/", path).ok()?)?;
        match &self.inodes[ino].node {
            Node::File(d) => Some(d),
            _ => None,
        }
    }

    /// The resolved absolute path for a guest path (relative to the cwd).
    pub fn resolve(&self, path: &str) -> KResult<String> {
        normalize(&self.cwd, path)
    }

    /// The current directory.
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// `openat(AT_FDCWD, path, flags, mode)`.
    pub fn open(&mut self, path: &str, flags: OpenFlags, perm: u32) -> KResult<usize> {
        let path = self.resolve(path)?;
        let ino = match self.names.get(&path) {
            Some(&ino) => {
                if flags.create && flags.excl {
                    return Err(Errno::EEXIST);
                }
                ino
            }
            None => {
                if !flags.create {
                    return Err(Errno::ENOENT);
                }
                match self.names.get(parent_of(&path)).map(|&i| &self.inodes[i].node) {
                    Some(Node::Dir) => {}
                    Some(_) => return Err(Errno::ENOTDIR),
                    None => return Err(Errno::ENOENT),
                }
                if flags.directory {
                    return Err(Errno::EINVAL);
                }
                self.add_node(&path, Node::File(FileData::new(Vec::new())), perm & 0o7777)
            }
        };
        match &mut self.inodes[ino].node {
            Node::Dir if flags.write => {
                return Err(Errno::EISDIR);
            }
            Node::Dir => {}
            Node::File(data) => {
                if flags.directory {
                    return Err(Errno::ENOTDIR);
                }
                if flags.trunc && flags.write {
                    let size = data.size();
                    data.resize(0)?;
                    self.tmpfs_used -= size;
                }
            }
            _ if flags.directory => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.install(OpenFile { ino, path, pos: 0, flags })
    }

    /// Read up to `len` bytes at the file position (advancing it), or at `at` (pread).
    pub fn read(&mut self, fd: u64, len: usize, at: Option<u64>) -> KResult<Vec<u8>> {
        let f = self.file(fd)?;
        if !f.flags.read {
            return Err(Errno::EBADF);
        }
        let out = match &self.inodes[f.ino].node {
            Node::Dir => return Err(Errno::EISDIR),
            Node::Null => Vec::new(),
            Node::Zero => vec![0; len],
            Node::File(data) => {
                let pos = at.unwrap_or(f.pos);
                let start = (pos.min(data.len() as u64)) as usize;
                let end = start + len.min(data.len() - start);
                data[start..end].to_vec()
            }
            Node::Stream(s) => {
                if at.is_some() {
                    return Err(Errno::ESPIPE);
                }
                if *s != Stream::In {
                    return Err(Errno::EBADF);
                }
                self.read_stdin(len)?
            }
            Node::Pipe(_) if at.is_some() => return Err(Errno::ESPIPE),
            Node::Pipe(p) if p.is_empty() => {
                // No writer left: end of file. Else the read would wait (a blocking read is
                // the syscall layer's to decide: see `would_block`).
                if self.pipe_ends(f.ino).1 == 0 {
                    Vec::new()
                } else {
                    return Err(Errno::EAGAIN);
                }
            }
            Node::Pipe(_) => match &mut self.inodes[f.ino].node {
                Node::Pipe(p) => {
                    let n = len.min(p.buf.len());
                    p.buf.drain(..n).collect()
                }
                _ => Vec::new(),
            },
        };
        if at.is_none() && matches!(self.inodes[f.ino].node, Node::File(_)) {
            self.set_pos(fd, f.pos + out.len() as u64)?;
        }
        Ok(out)
    }

    /// Write `data` at the file position (or the end with O_APPEND), or at `at` (pwrite).
    /// Returns the bytes written.
    pub fn write(&mut self, fd: u64, data: &[u8], at: Option<u64>) -> KResult<usize> {
        let f = self.file(fd)?;
        if !f.flags.write {
            return Err(Errno::EBADF);
        }
        if let Node::Pipe(_) = &self.inodes[f.ino].node {
            if at.is_some() {
                return Err(Errno::ESPIPE);
            }
            if self.pipe_ends(f.ino).0 == 0 {
                // The syscall layer sends SIGPIPE with it (pipe_write).
                return Err(Errno::EPIPE);
            }
            let Node::Pipe(p) = &mut self.inodes[f.ino].node else { return Err(Errno::EBADF) };
            // Up to PIPE_BUF bytes go in at once or not at all; more may be split.
            if data.len() <= PIPE_BUF && p.room() < data.len() || p.room() == 0 {
                return Err(Errno::EAGAIN);
            }
            let n = data.len().min(p.room());
            p.buf.extend(&data[..n]);
            return Ok(n);
        }
        match &mut self.inodes[f.ino].node {
            Node::Dir => Err(Errno::EISDIR),
            // (Written above.)
            Node::Pipe(_) => Err(Errno::EBADF),
            Node::Null | Node::Zero => Ok(data.len()),
            Node::File(content) => {
                let pos = match at {
                    Some(p) => p,
                    None if f.flags.append => content.len() as u64,
                    None => f.pos,
                };
                let end = pos.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
                if end > MAX_FILE_SIZE {
                    return Err(Errno::EFBIG);
                }
                // Growth counts against the tmpfs size: a write that does not fit is short
                // (what fits is written), or ENOSPC when nothing does.
                let size = content.size();
                let room = self.tmpfs_limit.saturating_sub(self.tmpfs_used);
                let end = if end > size && end - size > room {
                    let fits = (size + room).saturating_sub(pos);
                    if fits == 0 {
                        return Err(Errno::ENOSPC);
                    }
                    pos + fits
                } else {
                    end
                };
                let data = &data[..(end - pos) as usize];
                content.write_at(pos, data)?;
                self.tmpfs_used += content.size() - size;
                if at.is_none() {
                    self.set_pos(fd, end)?;
                }
                Ok(data.len())
            }
            Node::Stream(s) => {
                if at.is_some() {
                    return Err(Errno::ESPIPE);
                }
                let (sink, buf) = match s {
                    Stream::Out => (&self.stdout, &mut self.captured_out),
                    Stream::Err => (&self.stderr, &mut self.captured_err),
                    Stream::In => return Err(Errno::EBADF),
                };
                match sink {
                    OutputSink::Capture => capture(buf, data),
                    OutputSink::Host(h) => Vfs::write_host(h, data)?,
                    OutputSink::Inherit => {
                        let r = if *s == Stream::Out {
                            let mut o = std::io::stdout().lock();
                            o.write_all(data).and_then(|_| o.flush())
                        } else {
                            std::io::stderr().write_all(data)
                        };
                        r.map_err(|_| Errno::EPIPE)?;
                    }
                }
                Ok(data.len())
            }
        }
    }

    /// `lseek(fd, off, whence)`.
    pub fn lseek(&mut self, fd: u64, off: i64, whence: Whence) -> KResult<u64> {
        let f = self.file(fd)?;
        let size = match &self.inodes[f.ino].node {
            Node::File(d) => d.len() as i64,
            Node::Stream(_) | Node::Pipe(_) => return Err(Errno::ESPIPE),
            _ => 0,
        };
        let base = match whence {
            Whence::Set => 0,
            Whence::Cur => f.pos as i64,
            Whence::End => size,
        };
        let new = base.checked_add(off).ok_or(Errno::EOVERFLOW)?;
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        self.set_pos(fd, new as u64)?;
        Ok(new as u64)
    }

    /// `ftruncate(fd, len)`.
    pub fn ftruncate(&mut self, fd: u64, len: i64) -> KResult<()> {
        let f = self.file(fd)?;
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        if len as u64 > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        match &self.inodes[f.ino].node {
            Node::File(_) if f.flags.write => self.resize_file(f.ino, len as u64),
            Node::File(_) | Node::Stream(_) | Node::Pipe(_) | Node::Null | Node::Zero => Err(Errno::EINVAL),
            Node::Dir => Err(Errno::EISDIR),
        }
    }

    fn stat_ino(&self, ino: usize) -> StatInfo {
        let inode = &self.inodes[ino];
        let (kind, size, rdev) = match &inode.node {
            Node::Dir => (mode::S_IFDIR, 4096, 0),
            Node::File(d) => (mode::S_IFREG, d.len() as u64, 0),
            Node::Null => (mode::S_IFCHR, 0, (1 << 8) | 3),
            Node::Zero => (mode::S_IFCHR, 0, (1 << 8) | 5),
            Node::Stream(_) | Node::Pipe(_) => (mode::S_IFIFO, 0, 0),
        };
        StatInfo {
            dev: 0x16,
            ino: ino as u64 + 1,
            mode: kind | inode.perm,
            nlink: 1,
            rdev,
            size,
            blksize: 4096,
            blocks: size.div_ceil(512),
        }
    }

    /// `fstat(fd)`.
    pub fn fstat(&self, fd: u64) -> KResult<StatInfo> {
        Ok(self.stat_ino(self.ino_of(fd)?))
    }

    /// `stat(path)`.
    pub fn stat(&self, path: &str) -> KResult<StatInfo> {
        let p = self.resolve(path)?;
        self.names.get(&p).map(|&i| self.stat_ino(i)).ok_or(Errno::ENOENT)
    }

    /// `unlinkat(path)` (with `dir`: AT_REMOVEDIR).
    pub fn unlink(&mut self, path: &str, dir: bool) -> KResult<()> {
        let p = self.resolve(path)?;
        let &ino = self.names.get(&p).ok_or(Errno::ENOENT)?;
        match (&self.inodes[ino].node, dir) {
            (Node::Dir, false) => return Err(Errno::EISDIR),
            (Node::Dir, true) => {
                if p == "/" {
                    return Err(Errno::EBUSY);
                }
                let prefix = format!("{p}/");
                if self.names.keys().any(|k| k.starts_with(&prefix)) {
                    return Err(Errno::ENOTEMPTY);
                }
            }
            (_, true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.names.remove(&p);
        self.forget_if_unused(ino);
        Ok(())
    }

    /// `mkdirat(path, mode)`.
    pub fn mkdir(&mut self, path: &str, perm: u32) -> KResult<()> {
        let p = self.resolve(path)?;
        if self.names.contains_key(&p) {
            return Err(Errno::EEXIST);
        }
        match self.names.get(parent_of(&p)).map(|&i| &self.inodes[i].node) {
            Some(Node::Dir) => {}
            Some(_) => return Err(Errno::ENOTDIR),
            None => return Err(Errno::ENOENT),
        }
        self.add_node(&p, Node::Dir, perm & 0o7777);
        Ok(())
    }

    /// `chdir(path)`.
    pub fn chdir(&mut self, path: &str) -> KResult<()> {
        let p = self.resolve(path)?;
        match self.names.get(&p).map(|&i| &self.inodes[i].node) {
            Some(Node::Dir) => {
                self.cwd = p;
                Ok(())
            }
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    /// The contents of a regular file opened as `fd` (for a private mmap of it).
    pub fn file_bytes(&self, fd: u64) -> KResult<&[u8]> {
        match self.node(fd)? {
            Node::File(d) => Ok(d),
            _ => Err(Errno::ENODEV),
        }
    }

    /// The file behind `fd`, writable (for a shared mmap of it).
    pub fn file_data_mut(&mut self, fd: u64) -> KResult<&mut FileData> {
        let ino = self.ino_of(fd)?;
        match &mut self.inodes[ino].node {
            Node::File(d) => Ok(d),
            _ => Err(Errno::ENODEV),
        }
    }

    /// The names in the directory `path` (for getdents64).
    pub fn list_dir(&self, path: &str) -> KResult<Vec<(String, u64, u32)>> {
        let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
        Ok(self
            .names
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix) && k.len() > prefix.len() && !k[prefix.len()..].contains('/'))
            .map(|(k, &i)| (k[prefix.len()..].to_string(), i as u64 + 1, self.stat_ino(i).mode))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn rw_create() -> OpenFlags {
        OpenFlags { read: true, write: true, create: true, ..Default::default() }
    }

    pub(super) fn vfs() -> Vfs {
        Vfs::new(InputSource::Bytes(b"in".to_vec()), OutputSink::Capture, OutputSink::Capture)
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("/tmp", "a/../b/./c").unwrap(), "/tmp/b/c");
        assert_eq!(normalize("/", "/../..//x").unwrap(), "/x");
        assert_eq!(normalize("/", ""), Err(Errno::ENOENT));
    }

    #[test]
    fn file_lifecycle() {
        let mut v = vfs();
        let fd = v.open("/tmp/f", rw_create(), 0o600).unwrap() as u64;
        assert_eq!(fd, 3);
        assert_eq!(v.write(fd, b"hello", None).unwrap(), 5);
        assert_eq!(v.lseek(fd, 1, Whence::Set).unwrap(), 1);
        assert_eq!(v.read(fd, 10, None).unwrap(), b"ello");
        assert_eq!(v.write(fd, b"Z", Some(8)).unwrap(), 1);
        assert_eq!(v.read(fd, 20, Some(0)).unwrap(), b"hello\0\0\0Z");
        assert_eq!(v.fstat(fd).unwrap().size, 9);
        v.ftruncate(fd, 2).unwrap();
        assert_eq!(v.read(fd, 20, Some(0)).unwrap(), b"he");
        let excl = OpenFlags { excl: true, ..rw_create() };
        assert_eq!(v.open("/tmp/f", excl, 0), Err(Errno::EEXIST));
        v.unlink("/tmp/f", false).unwrap();
        assert_eq!(v.open("/tmp/f", OpenFlags { read: true, ..Default::default() }, 0), Err(Errno::ENOENT));
        assert_eq!(v.read(fd, 1, Some(0)).unwrap(), b"h", "an unlinked open file stays readable");
        v.close(fd).unwrap();
        assert_eq!(v.close(fd), Err(Errno::EBADF));
        assert_eq!(v.open("/nodir/f", rw_create(), 0), Err(Errno::ENOENT));
    }

    #[test]
    fn streams_capture_and_refuse_seek() {
        let mut v = vfs();
        v.write(1, b"out", None).unwrap();
        v.write(2, b"err", None).unwrap();
        assert_eq!(v.captured_stdout(), b"out");
        assert_eq!(v.captured_stderr(), b"err");
        assert_eq!(v.lseek(1, 0, Whence::Set), Err(Errno::ESPIPE));
        assert_eq!(v.read(0, 10, None).unwrap(), b"in");
        assert_eq!(v.read(0, 10, None).unwrap(), b"");
        assert_eq!(v.write(0, b"x", None), Err(Errno::EBADF));
    }

    #[test]
    fn provided_files_and_dirs() {
        let mut v = vfs();
        v.add_file("/data/in/x.txt", b"abc".to_vec()).unwrap();
        assert_eq!(v.stat("/data/in").unwrap().mode & mode::S_IFDIR, mode::S_IFDIR);
        assert_eq!(v.file_contents("/data/in/x.txt"), Some(&b"abc"[..]));
        assert_eq!(v.unlink("/data", true), Err(Errno::ENOTEMPTY));
        v.mkdir("/tmp/d", 0o755).unwrap();
        assert_eq!(v.mkdir("/tmp/d", 0o755), Err(Errno::EEXIST));
        let dir_flags = OpenFlags { read: true, directory: true, ..Default::default() };
        assert!(v.open("/tmp/d", dir_flags, 0).is_ok(), "O_DIRECTORY on a directory");
        assert_eq!(v.open("/data/in/x.txt", dir_flags, 0), Err(Errno::ENOTDIR));
        assert_eq!(v.open("/dev/null", dir_flags, 0), Err(Errno::ENOTDIR));
        v.chdir("/tmp/d").unwrap();
        let fd = v.open("rel", rw_create(), 0o644).unwrap();
        assert_eq!(v.file(fd as u64).unwrap().path, "/tmp/d/rel");
        assert_eq!(v.list_dir("/tmp/d").unwrap()[0].0, "rel");
    }

    #[test]
    fn regular_files_count_against_the_tmpfs_size() {
        let mut v = vfs();
        v.set_tmpfs_limit(8192);
        let rw = OpenFlags { read: true, write: true, create: true, ..Default::default() };
        let fd = v.open("/tmp/a", rw, 0o600).unwrap() as u64;
        assert_eq!(v.write(fd, &[1; 5000], None), Ok(5000));
        assert_eq!(v.write(fd, &[2; 5000], None), Ok(3192), "what fits is written: a short write");
        assert_eq!(v.write(fd, &[3; 10], None), Err(Errno::ENOSPC));
        assert_eq!(v.write(fd, &[4; 10], Some(0)), Ok(10), "overwriting needs no room");
        assert_eq!(v.ftruncate(fd, 9000), Err(Errno::ENOSPC), "sizes count in full (no sparse files)");
        v.ftruncate(fd, 1000).unwrap();
        assert_eq!(v.tmpfs_used(), 1000);
        let fd2 = v.open("/tmp/b", rw, 0o600).unwrap() as u64;
        assert_eq!(v.write(fd2, &[5; 7192], None), Ok(7192));
        v.unlink("/tmp/a", false).unwrap();
        assert_eq!(v.tmpfs_used(), 8192, "an unlinked file open on a descriptor keeps its bytes");
        v.close(fd).unwrap();
        assert_eq!(v.tmpfs_used(), 7192, "freed at its last close");
        let trunc = OpenFlags { trunc: true, ..rw };
        v.open("/tmp/b", trunc, 0).unwrap();
        assert_eq!(v.tmpfs_used(), 0);
        assert_eq!(v.add_file("/tmp/c", vec![0; 9000]), Err(Errno::ENOSPC));
    }
}
