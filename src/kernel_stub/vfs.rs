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

/// Where guest output on fd 1 or 2 goes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum OutputSink {
    /// Straight to the host's stdout / stderr.
    #[default]
    Inherit,
    /// Into a buffer the caller reads after the run.
    Capture,
}

/// The most bytes of one guest stream a capture keeps (the rest is dropped, after a marker
/// saying so): a printing loop must not exhaust the host.
pub const CAPTURE_LIMIT: usize = 64 << 20;

/// The marker that ends a capture that reached [`CAPTURE_LIMIT`].
pub const CAPTURE_MARKER: &[u8] = b"\n[tagmmu: capture limit of 64 MiB reached; the rest of this stream was dropped]\n";

/// Append `data` to the capture `buf`, up to [`CAPTURE_LIMIT`] bytes and then the marker.
fn capture(buf: &mut Vec<u8>, data: &[u8]) {
    // Past the limit the marker is already there.
    if buf.len() > CAPTURE_LIMIT {
        return;
    }
    let room = CAPTURE_LIMIT - buf.len();
    buf.extend_from_slice(&data[..data.len().min(room)]);
    if data.len() > room {
        buf.extend_from_slice(CAPTURE_MARKER);
    }
}

/// Where guest input on fd 0 comes from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum InputSource {
    /// The host's stdin.
    Inherit,
    /// Fixed bytes, then end of file.
    Bytes(Vec<u8>),
    /// Immediately end of file.
    #[default]
    Empty,
}

/// Which standard stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// fd 0.
    In,
    /// fd 1.
    Out,
    /// fd 2.
    Err,
}

/// The bytes of a regular file. A file starts on the heap; when it is first mapped
/// MAP_SHARED it moves into a fixed host buffer (its page cache) that the CPU backend maps
/// directly, so the mapping, read() and write() all see the same bytes, and the tags of a
/// tag-checked shared mapping belong to the file's pages.
#[derive(Debug)]
pub struct FileData {
    heap: Vec<u8>,
    paged: Option<PageCache>,
}

/// A file's page cache: a host buffer of fixed capacity, and where it is mapped in physical
/// memory.
#[derive(Debug)]
struct PageCache {
    buf: memmap2::MmapMut,
    len: usize,
    pa: Option<crate::addr::PhysAddr>,
    /// `len`, shared with the physical memory that maps this page cache (SIGBUS past it).
    eof: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Room a file gets beyond its size when it moves into a page cache.
pub const PAGE_CACHE_SLACK: u64 = 64 << 20;

impl FileData {
    /// A file holding `bytes`.
    pub fn new(bytes: Vec<u8>) -> FileData {
        FileData { heap: bytes, paged: None }
    }
    fn bytes(&self) -> &[u8] {
        match &self.paged {
            Some(p) => &p.buf[..p.len],
            None => &self.heap,
        }
    }
    /// The size.
    pub fn size(&self) -> u64 {
        self.bytes().len() as u64
    }
    /// The most this file can grow to.
    fn capacity(&self) -> u64 {
        match &self.paged {
            Some(p) => p.buf.len() as u64,
            None => MAX_FILE_SIZE,
        }
    }
    /// Set the size, zero-filling growth.
    pub fn resize(&mut self, n: u64) -> KResult<()> {
        if n > self.capacity() {
            return Err(Errno::EFBIG);
        }
        match &mut self.paged {
            Some(p) => {
                if (n as usize) < p.len {
                    p.buf[n as usize..p.len].fill(0);
                }
                p.len = n as usize;
                p.eof.store(n, std::sync::atomic::Ordering::Relaxed);
            }
            None => self.heap.resize(n as usize, 0),
        }
        Ok(())
    }
    /// Write `data` at `pos`, growing the file.
    pub fn write_at(&mut self, pos: u64, data: &[u8]) -> KResult<()> {
        let end = pos.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
        if end > self.size() {
            self.resize(end)?;
        }
        let dst = match &mut self.paged {
            Some(p) => &mut p.buf[..p.len],
            None => &mut self.heap[..],
        };
        dst[pos as usize..end as usize].copy_from_slice(data);
        Ok(())
    }
    /// Move the file into a page cache (if it is not yet) and return the host buffer, its
    /// capacity and the physical address it is mapped at, if it already is.
    pub(crate) fn page_cache(&mut self) -> KResult<(*mut u8, u64, Option<crate::addr::PhysAddr>)> {
        if self.paged.is_none() {
            let cap = (self.heap.len() as u64 + PAGE_CACHE_SLACK).div_ceil(1 << 16) << 16;
            let mut buf = memmap2::MmapOptions::new()
                .len(cap as usize)
                .no_reserve_swap()
                .map_anon()
                .map_err(|_| Errno::ENOMEM)?;
            buf[..self.heap.len()].copy_from_slice(&self.heap);
            let len = self.heap.len();
            self.heap = Vec::new();
            let eof = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(len as u64));
            self.paged = Some(PageCache { buf, len, pa: None, eof });
        }
        let p = self.paged.as_mut().expect("just created");
        Ok((p.buf.as_mut_ptr(), p.buf.len() as u64, p.pa))
    }
    /// The file's size as its page cache's mappings see it (None before it has one).
    pub(crate) fn eof_handle(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        self.paged.as_ref().map(|p| p.eof.clone())
    }
    /// Has it moved into a page cache (mapped shared)?
    pub fn is_paged(&self) -> bool {
        self.paged.is_some()
    }
    /// Record where the page cache is mapped in physical memory.
    pub fn set_page_cache_pa(&mut self, pa: crate::addr::PhysAddr) {
        if let Some(p) = &mut self.paged {
            p.pa = Some(pa);
        }
    }
}

impl std::ops::Deref for FileData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
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

/// A pipe's buffer (fs/pipe.c). Linux holds up to 16 page-sized slots (`PIPE_DEF_BUFFERS`);
/// tagmmu counts bytes instead, which agrees with Linux whenever writes fill whole pages and
/// is otherwise a little more generous (Linux merges a small write into the last slot only
/// while that page has room).
#[derive(Debug)]
pub struct Pipe {
    buf: VecDeque<u8>,
    capacity: usize,
}

/// The default capacity of a pipe: 16 pages (`PIPE_DEF_BUFFERS`).
pub const PIPE_DEF_CAPACITY: usize = 16 * 4096;
/// `PIPE_BUF`: writes of at most this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;
/// `/proc/sys/fs/pipe-max-size`: the most an unprivileged `F_SETPIPE_SZ` may ask for.
pub const PIPE_MAX_SIZE: usize = 1 << 20;

impl Pipe {
    fn new() -> Pipe {
        Pipe { buf: VecDeque::new(), capacity: PIPE_DEF_CAPACITY }
    }

    /// Bytes waiting to be read.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Nothing waiting to be read?
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes a write can add now.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    /// The capacity (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
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
#[derive(Clone, Debug)]
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

/// A descriptor: the open file description it refers to (shared with the descriptors `dup`
/// made of it) and its own close-on-exec flag.
#[derive(Clone, Debug)]
struct FdSlot {
    desc: Rc<RefCell<OpenFile>>,
    cloexec: bool,
}

/// Which way a blocking read or write of a descriptor waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A read: for bytes to arrive.
    Read,
    /// A write of this many bytes: for room.
    Write(usize),
}

/// What `poll` sees of a descriptor (`POLL*` bits in asm-generic and sparc numbering alike).
pub mod poll {
    #![allow(missing_docs)]
    pub const POLLIN: u16 = 0x001;
    pub const POLLPRI: u16 = 0x002;
    pub const POLLOUT: u16 = 0x004;
    pub const POLLERR: u16 = 0x008;
    pub const POLLHUP: u16 = 0x010;
    pub const POLLNVAL: u16 = 0x020;
    pub const POLLRDNORM: u16 = 0x040;
    pub const POLLRDBAND: u16 = 0x080;
    pub const POLLWRNORM: u16 = 0x100;
}

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
        self.add_node(&path, Node::File(FileData::new(contents)), 0o644);
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
        if self.names.values().any(|&i| i == ino) || self.fds.iter().flatten().any(|f| f.desc.borrow().ino == ino) {
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

    /// Everything the guest wrote to fd 1 while captured.
    pub fn captured_stdout(&self) -> &[u8] {
        &self.captured_out
    }
    /// Everything the guest wrote to fd 2 while captured.
    pub fn captured_stderr(&self) -> &[u8] {
        &self.captured_err
    }

    /// The resolved absolute path for a guest path (relative to the cwd).
    pub fn resolve(&self, path: &str) -> KResult<String> {
        normalize(&self.cwd, path)
    }

    /// The current directory.
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    fn lowest_free_fd(&self) -> KResult<usize> {
        match self.fds.iter().position(Option::is_none) {
            Some(i) => Ok(i),
            None if self.fds.len() < MAX_FDS => Ok(self.fds.len()),
            None => Err(Errno::EMFILE),
        }
    }

    fn install(&mut self, file: OpenFile) -> KResult<usize> {
        let cloexec = file.flags.cloexec;
        self.install_slot(FdSlot { desc: Rc::new(RefCell::new(file)), cloexec })
    }

    fn install_slot(&mut self, slot: FdSlot) -> KResult<usize> {
        let fd = self.lowest_free_fd()?;
        if fd == self.fds.len() {
            self.fds.push(Some(slot));
        } else {
            self.fds[fd] = Some(slot);
        }
        Ok(fd)
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

    fn slot(&self, fd: u64) -> KResult<&FdSlot> {
        self.fds.get(usize::try_from(fd).map_err(|_| Errno::EBADF)?).and_then(Option::as_ref).ok_or(Errno::EBADF)
    }

    /// The open file description behind `fd` (a copy: its position and flags as they are now).
    pub fn file(&self, fd: u64) -> KResult<OpenFile> {
        Ok(self.slot(fd)?.desc.borrow().clone())
    }

    /// Set the file position of the description behind `fd` (shared with its dups).
    fn set_pos(&mut self, fd: u64, pos: u64) -> KResult<()> {
        self.slot(fd)?.desc.borrow_mut().pos = pos;
        Ok(())
    }

    fn ino_of(&self, fd: u64) -> KResult<usize> {
        Ok(self.slot(fd)?.desc.borrow().ino)
    }

    /// What `fd` refers to.
    pub fn node(&self, fd: u64) -> KResult<&Node> {
        Ok(&self.inodes[self.ino_of(fd)?].node)
    }

    /// The close-on-exec flag of `fd` (`F_GETFD`).
    pub fn cloexec(&self, fd: u64) -> KResult<bool> {
        Ok(self.slot(fd)?.cloexec)
    }

    /// Set the close-on-exec flag of `fd` alone (`F_SETFD`, `FIOCLEX`, `FIONCLEX`).
    pub fn set_cloexec(&mut self, fd: u64, on: bool) -> KResult<()> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.fds.get_mut(i).and_then(Option::as_mut).ok_or(Errno::EBADF)?.cloexec = on;
        Ok(())
    }

    /// `F_SETFL`: change the status flags Linux lets change (O_APPEND, O_NONBLOCK, O_DIRECT;
    /// setfl() in fs/fcntl.c) on the open file description, so every dup sees them.
    pub fn set_status_flags(&mut self, fd: u64, append: bool, nonblock: bool, direct: bool) -> KResult<()> {
        let slot = self.slot(fd)?;
        let mut d = slot.desc.borrow_mut();
        d.flags.append = append;
        d.flags.nonblock = nonblock;
        d.flags.direct = direct;
        Ok(())
    }

    /// `close(fd)`.
    pub fn close(&mut self, fd: u64) -> KResult<()> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let slot = self.fds.get_mut(i).ok_or(Errno::EBADF)?;
        let f = slot.take().ok_or(Errno::EBADF)?;
        let ino = f.desc.borrow().ino;
        drop(f);
        self.forget_if_unused(ino);
        Ok(())
    }

    /// `fcntl(F_DUPFD)`: like `dup`, at the lowest free descriptor at or above `min`.
    pub fn dup_from(&mut self, fd: u64, min: u64, cloexec: bool) -> KResult<usize> {
        let f = FdSlot { desc: Rc::clone(&self.slot(fd)?.desc), cloexec };
        let min = usize::try_from(min).map_err(|_| Errno::EINVAL)?;
        let n = (min..MAX_FDS).find(|&i| self.fds.get(i).is_none_or(Option::is_none)).ok_or(Errno::EMFILE)?;
        if n >= self.fds.len() {
            self.fds.resize(n + 1, None);
        }
        self.fds[n] = Some(f);
        Ok(n)
    }

    /// `dup(fd)` / `dup3(fd, newfd)`: a new descriptor for the same open file description
    /// (one position, one set of status flags), with its own close-on-exec flag.
    pub fn dup(&mut self, fd: u64, newfd: Option<u64>, cloexec: bool) -> KResult<usize> {
        let f = FdSlot { desc: Rc::clone(&self.slot(fd)?.desc), cloexec };
        match newfd {
            None => self.install_slot(f),
            Some(n) => {
                let n = n as usize;
                if n >= MAX_FDS {
                    return Err(Errno::EBADF);
                }
                if n == fd as usize {
                    return Err(Errno::EINVAL);
                }
                if n >= self.fds.len() {
                    self.fds.resize(n + 1, None);
                }
                // newfd is closed first, silently (its description may be the last of a file).
                if let Some(old) = self.fds[n].replace(f) {
                    let ino = old.desc.borrow().ino;
                    drop(old);
                    self.forget_if_unused(ino);
                }
                Ok(n)
            }
        }
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

    /// Give up blocking reads of the host's stdin at `deadline` (the run's wall-time budget).
    pub fn set_stdin_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.stdin_deadline = deadline;
    }

    fn read_stdin(&mut self, len: usize) -> KResult<Vec<u8>> {
        match &self.stdin {
            InputSource::Empty => Ok(Vec::new()),
            InputSource::Bytes(b) => {
                let start = self.stdin_pos.min(b.len());
                let end = start + len.min(b.len() - start);
                self.stdin_pos = end;
                Ok(b[start..end].to_vec())
            }
            InputSource::Inherit => {
                if let Some(deadline) = self.stdin_deadline {
                    // Wait for input no longer than the run's wall-time budget: past it the
                    // read is interrupted (the run then stops on the budget, before the guest
                    // sees EINTR).
                    if !wait_readable(0, deadline) {
                        return Err(Errno::EINTR);
                    }
                }
                let mut buf = vec![0; len.min(1 << 16)];
                let n = std::io::stdin().read(&mut buf).map_err(|_| Errno::EIO)?;
                buf.truncate(n);
                Ok(buf)
            }
        }
    }

    /// The bytes a read of the pipe `fd` would return now, without consuming them (the
    /// syscall layer copies them to the user first and consumes what arrived, as pipe_read
    /// leaves in the pipe what a faulting copy did not take).
    pub fn pipe_peek(&self, fd: u64, len: usize) -> KResult<Vec<u8>> {
        match self.node(fd)? {
            Node::Pipe(p) => Ok(p.buf.iter().take(len).copied().collect()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// (readers, writers): the descriptors open on each end of the pipe `ino`.
    fn pipe_ends(&self, ino: usize) -> (usize, usize) {
        let mut ends = (0, 0);
        for slot in self.fds.iter().flatten() {
            let d = slot.desc.borrow();
            if d.ino == ino {
                ends.0 += d.flags.read as usize;
                ends.1 += d.flags.write as usize;
            }
        }
        ends
    }

    /// `pipe2`: a new pipe; returns the descriptors of its read and write ends. Both or
    /// neither are installed (EMFILE when two descriptors are not free).
    pub fn pipe(&mut self, nonblock: bool, cloexec: bool) -> KResult<(usize, usize)> {
        let free = self.fds.iter().filter(|f| f.is_none()).count() + MAX_FDS.saturating_sub(self.fds.len());
        if free < 2 {
            return Err(Errno::EMFILE);
        }
        let ino = self.inodes.len();
        self.inodes.push(Inode { node: Node::Pipe(Pipe::new()), perm: 0o600 });
        let path = format!("pipe:[{}]", ino + 1);
        let end = |read: bool| OpenFile {
            ino,
            path: path.clone(),
            pos: 0,
            flags: OpenFlags { read, write: !read, nonblock, cloexec, ..Default::default() },
        };
        let r = self.install(end(true))?;
        let w = self.install(end(false))?;
        Ok((r, w))
    }

    /// `F_SETPIPE_SZ`: the capacity becomes `size` rounded up to a power-of-two number of
    /// pages (at least one); EBUSY when the bytes in the pipe would not fit, EPERM past
    /// pipe-max-size without privilege.
    pub fn set_pipe_size(&mut self, fd: u64, size: u64, privileged: bool) -> KResult<usize> {
        let ino = self.ino_of(fd)?;
        let Node::Pipe(p) = &mut self.inodes[ino].node else { return Err(Errno::EBADF) };
        if size > (1 << 31) {
            return Err(Errno::EINVAL);
        }
        let pages = (size.max(1)).div_ceil(4096).next_power_of_two();
        let cap = (pages * 4096) as usize;
        if cap > PIPE_MAX_SIZE && !privileged {
            return Err(Errno::EPERM);
        }
        if p.buf.len() > cap {
            return Err(Errno::EBUSY);
        }
        p.capacity = cap;
        Ok(cap)
    }

    /// Would a blocking `wait` on `fd` sleep now? A read of an empty pipe with a writer, a
    /// write to a pipe with a reader and less room than the bytes (Linux writes them all
    /// before it returns); never for other files, nor with O_NONBLOCK.
    pub fn would_block(&self, fd: u64, wait: Wait) -> KResult<bool> {
        let f = self.file(fd)?;
        let Node::Pipe(p) = &self.inodes[f.ino].node else { return Ok(false) };
        if f.flags.nonblock {
            return Ok(false);
        }
        let (readers, writers) = self.pipe_ends(f.ino);
        Ok(match wait {
            Wait::Read => f.flags.read && p.is_empty() && writers > 0,
            Wait::Write(n) => f.flags.write && readers > 0 && p.room() < n,
        })
    }

    /// The `POLL*` events `fd` has now (before masking with what was asked; POLLERR and
    /// POLLHUP are always reported). Regular files, directories and devices are always
    /// ready (`DEFAULT_POLLMASK`); stdin is readable when it holds bytes or is at its end.
    pub fn poll_events(&self, fd: u64) -> KResult<u16> {
        use poll::*;
        let f = self.file(fd)?;
        let rd = POLLIN | POLLRDNORM;
        let wr = POLLOUT | POLLWRNORM;
        Ok(match &self.inodes[f.ino].node {
            Node::Pipe(p) => {
                let (readers, writers) = self.pipe_ends(f.ino);
                let mut ev = 0;
                if f.flags.read {
                    if !p.is_empty() {
                        ev |= rd;
                    }
                    if writers == 0 {
                        ev |= POLLHUP;
                    }
                }
                if f.flags.write {
                    if p.room() > 0 {
                        ev |= wr;
                    }
                    if readers == 0 {
                        ev |= POLLERR;
                    }
                }
                ev
            }
            Node::Stream(Stream::In) => match &self.stdin {
                InputSource::Inherit => {
                    if host_readable(0) {
                        rd
                    } else {
                        0
                    }
                }
                _ => rd,
            },
            Node::Stream(_) => wr,
            _ => rd | wr,
        })
    }

    /// Does `fd` read the host's stdin (a poll of it may wait on the host)?
    pub fn is_host_stdin(&self, fd: u64) -> bool {
        matches!(self.node(fd), Ok(Node::Stream(Stream::In))) && self.stdin == InputSource::Inherit
    }

    /// Wait up to `until` for the host's stdin to become readable.
    pub fn wait_host_stdin(&self, until: std::time::Instant) -> bool {
        let until = match self.stdin_deadline {
            Some(d) if d < until => d,
            _ => until,
        };
        wait_readable(0, until)
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
mod capture_tests {
    use super::*;

    #[test]
    fn a_capture_keeps_at_most_its_limit_then_says_so() {
        let mut buf = Vec::new();
        capture(&mut buf, &vec![b'a'; CAPTURE_LIMIT - 3]);
        capture(&mut buf, b"abc");
        assert_eq!(buf.len(), CAPTURE_LIMIT, "exactly full: nothing dropped yet");
        capture(&mut buf, b"d");
        capture(&mut buf, &[b'e'; 1000]);
        assert_eq!(buf.len(), CAPTURE_LIMIT + CAPTURE_MARKER.len());
        assert!(buf.ends_with(CAPTURE_MARKER));
    }
}

/// Is the host's `fd` readable now (or at its end, or in error)?
fn host_readable(fd: i32) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd on the stack, for the duration of the call.
    unsafe { libc::poll(&mut p, 1, 0) != 0 }
}

/// Wait until `fd` is readable (or at end of file or in error: a read then returns at once),
/// or until `deadline`. True when a read will not block.
fn wait_readable(fd: i32, deadline: std::time::Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let ms = left.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: one valid pollfd on the stack, for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r > 0 {
            return true;
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // poll itself failed: let the read report it.
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw_create() -> OpenFlags {
        OpenFlags { read: true, write: true, create: true, ..Default::default() }
    }

    fn vfs() -> Vfs {
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
    fn a_dup_shares_the_open_file_description_but_not_close_on_exec() {
        let mut v = vfs();
        let fd = v.open("/tmp/f", rw_create(), 0o600).unwrap() as u64;
        v.write(fd, b"abcdef", None).unwrap();
        let d = v.dup(fd, None, true).unwrap() as u64;
        v.lseek(fd, 2, Whence::Set).unwrap();
        assert_eq!(v.read(d, 2, None).unwrap(), b"cd", "one file position");
        assert_eq!(v.file(fd).unwrap().pos, 4);
        v.set_status_flags(d, false, true, false).unwrap();
        assert!(v.file(fd).unwrap().flags.nonblock, "one set of status flags");
        assert_eq!((v.cloexec(fd), v.cloexec(d)), (Ok(false), Ok(true)), "close-on-exec per descriptor");
        v.close(fd).unwrap();
        assert_eq!(v.read(d, 9, None).unwrap(), b"ef", "the description outlives the first descriptor");
        assert_eq!(v.dup_from(d, 10, false), Ok(10));
    }

    #[test]
    fn a_pipe_moves_bytes_in_order_and_knows_its_ends() {
        let mut v = vfs();
        let (r, w) = v.pipe(false, false).unwrap();
        let (r, w) = (r as u64, w as u64);
        assert_eq!(v.would_block(r, Wait::Read), Ok(true), "empty, with a writer");
        assert_eq!(v.write(w, b"abc", None), Ok(3));
        assert_eq!(v.pipe_peek(r, 2).unwrap(), b"ab");
        assert_eq!(v.read(r, 2, None).unwrap(), b"ab");
        assert_eq!(v.poll_events(r), Ok(poll::POLLIN | poll::POLLRDNORM));
        assert_eq!(v.read(r, 9, None).unwrap(), b"c");
        assert_eq!(v.read(r, 9, None), Err(Errno::EAGAIN), "empty with a writer: would wait");
        assert_eq!(v.write(w, &vec![0; PIPE_DEF_CAPACITY + 1], None), Ok(PIPE_DEF_CAPACITY));
        assert_eq!(v.would_block(w, Wait::Write(1)), Ok(true), "full, with a reader");
        assert_eq!(v.write(w, b"x", None), Err(Errno::EAGAIN));
        assert_eq!(v.set_pipe_size(w, 4096, false), Err(Errno::EBUSY));
        assert_eq!(v.set_pipe_size(w, 2 << 20, false), Err(Errno::EPERM));
        v.close(w).unwrap();
        assert_eq!(v.would_block(r, Wait::Read), Ok(false), "no writer left");
        assert_eq!(v.read(r, PIPE_DEF_CAPACITY, None).unwrap().len(), PIPE_DEF_CAPACITY);
        assert_eq!(v.read(r, 9, None).unwrap(), b"", "end of file");
        assert_eq!(v.poll_events(r), Ok(poll::POLLHUP));
        let (r2, w2) = v.pipe(true, true).unwrap();
        v.close(r2 as u64).unwrap();
        assert_eq!(v.write(w2 as u64, b"x", None), Err(Errno::EPIPE));
        assert_eq!(v.cloexec(w2 as u64), Ok(true));
        assert_eq!(v.lseek(r, 0, Whence::Set), Err(Errno::ESPIPE));
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
