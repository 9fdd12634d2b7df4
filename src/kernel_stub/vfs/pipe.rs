//! Pipes (fs/pipe.c): the buffer between the two ends, who holds each end, and when a
//! read or write would wait.

use super::*;

/// A pipe's buffer (fs/pipe.c). Linux holds up to 16 page-sized slots (`PIPE_DEF_BUFFERS`);
/// tagmmu counts bytes instead, which agrees with Linux whenever writes fill whole pages and
/// is otherwise a little more generous (Linux merges a small write into the last slot only
/// while that page has room).
#[derive(Debug)]
pub struct Pipe {
    pub(super) buf: VecDeque<u8>,
    pub(super) capacity: usize,
}

/// The default capacity of a pipe: 16 pages (`PIPE_DEF_BUFFERS`).
pub const PIPE_DEF_CAPACITY: usize = 16 * 4096;
/// `PIPE_BUF`: writes of at most this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;
/// `/proc/sys/fs/pipe-max-size`: the most an unprivileged `F_SETPIPE_SZ` may ask for.
pub const PIPE_MAX_SIZE: usize = 1 << 20;

impl Pipe {
    pub(super) fn new() -> Pipe {
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

/// Which way a blocking read or write of a descriptor waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A read: for bytes to arrive.
    Read,
    /// A write of this many bytes: for room.
    Write(usize),
}

impl Vfs {
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
    pub(super) fn pipe_ends(&self, ino: usize) -> (usize, usize) {
        let mut ends = (0, 0);
        for slot in self.all_slots() {
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
        Ok(self.would_block_file(&self.file(fd)?, wait))
    }

    /// [`Self::would_block`] of an open file description.
    pub fn would_block_file(&self, f: &OpenFile, wait: Wait) -> bool {
        // The host's stdin: a read waits while the host has nothing to give.
        if self.is_host_stdin_file(f) {
            return wait == Wait::Read && !f.flags.nonblock && !self.host_stdin_readable();
        }
        let Node::Pipe(p) = &self.inodes[f.ino].node else { return false };
        if f.flags.nonblock {
            return false;
        }
        let (readers, writers) = self.pipe_ends(f.ino);
        match wait {
            Wait::Read => f.flags.read && p.is_empty() && writers > 0,
            Wait::Write(n) => f.flags.write && readers > 0 && p.room() < n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::vfs;
    use super::*;

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
}
