//! The standard streams: where fd 1 and 2 go (the host's streams, a host file or pipe the
//! caller gives, or bounded capture buffers) and where fd 0 reads from (the host's stdin, a
//! host file or pipe, fixed bytes, or nothing).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use super::*;

/// A host file descriptor (a pipe, a file) the caller hands the machine as a standard
/// stream: a library user feeds the guest's stdin, or reads its stdout, while it runs.
/// Clones share the descriptor, which closes when the last clone goes.
#[derive(Clone)]
pub struct HostStream(Arc<std::fs::File>);

impl HostStream {
    /// Take ownership of `fd` (e.g. one end of `std::io::pipe()`).
    pub fn new(fd: impl Into<OwnedFd>) -> HostStream {
        HostStream(Arc::new(std::fs::File::from(fd.into())))
    }

    /// The descriptor's number in the host process.
    pub fn raw_fd(&self) -> i32 {
        self.0.as_raw_fd()
    }

    fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.0).read(buf)
    }

    fn write_all(&self, data: &[u8]) -> std::io::Result<()> {
        (&*self.0).write_all(data)
    }
}

impl PartialEq for HostStream {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for HostStream {}

impl std::fmt::Debug for HostStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostStream(fd {})", self.raw_fd())
    }
}

/// Where guest output on fd 1 or 2 goes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum OutputSink {
    /// Straight to the host's stdout / stderr.
    #[default]
    Inherit,
    /// Into a buffer the caller reads after the run.
    Capture,
    /// To this host descriptor, as the guest writes (a write error is EPIPE).
    Host(HostStream),
}

/// The most bytes of one guest stream a capture keeps (the rest is dropped, after a marker
/// saying so): a printing loop must not exhaust the host.
pub const CAPTURE_LIMIT: usize = 64 << 20;

/// The marker that ends a capture that reached [`CAPTURE_LIMIT`].
pub const CAPTURE_MARKER: &[u8] = b"\n[tagmmu: capture limit of 64 MiB reached; the rest of this stream was dropped]\n";

/// Append `data` to the capture `buf`, up to [`CAPTURE_LIMIT`] bytes and then the marker.
pub(super) fn capture(buf: &mut Vec<u8>, data: &[u8]) {
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
    /// This host descriptor: reads wait on it as on the host's stdin.
    Host(HostStream),
}

impl InputSource {
    /// The host descriptor reads come from, if they come from the host.
    pub fn host_fd(&self) -> Option<i32> {
        match self {
            InputSource::Inherit => Some(0),
            InputSource::Host(h) => Some(h.raw_fd()),
            InputSource::Bytes(_) | InputSource::Empty => None,
        }
    }
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

/// Is the host's `fd` readable now (or at its end, or in error)?
fn host_readable(fd: i32) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd on the stack, for the duration of the call.
    unsafe { libc::poll(&mut p, 1, 0) != 0 }
}

/// Wait until `fd` is readable (or at end of file or in error: a read then returns at once),
/// or until `deadline`. True when a read will not block.
pub(super) fn wait_readable(fd: i32, deadline: std::time::Instant) -> bool {
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

impl Vfs {
    /// Everything the guest wrote to fd 1 while captured.
    pub fn captured_stdout(&self) -> &[u8] {
        &self.captured_out
    }
    /// Everything the guest wrote to fd 2 while captured.
    pub fn captured_stderr(&self) -> &[u8] {
        &self.captured_err
    }

    /// Give up blocking reads of the host's stdin at `deadline` (the run's wall-time budget).
    pub fn set_stdin_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.stdin_deadline = deadline;
    }

    pub(super) fn read_stdin(&mut self, len: usize) -> KResult<Vec<u8>> {
        match &self.stdin {
            InputSource::Empty => Ok(Vec::new()),
            InputSource::Bytes(b) => {
                let start = self.stdin_pos.min(b.len());
                let end = start + len.min(b.len() - start);
                self.stdin_pos = end;
                Ok(b[start..end].to_vec())
            }
            InputSource::Inherit | InputSource::Host(_) => {
                let fd = self.stdin.host_fd().unwrap_or(0);
                if let Some(deadline) = self.stdin_deadline {
                    // Wait for input no longer than the run's wall-time budget: past it the
                    // read is interrupted (the run then stops on the budget, before the guest
                    // sees EINTR).
                    if !wait_readable(fd, deadline) {
                        return Err(Errno::EINTR);
                    }
                }
                let mut buf = vec![0; len.min(1 << 16)];
                let n = match &self.stdin {
                    InputSource::Host(h) => h.read(&mut buf),
                    _ => std::io::stdin().read(&mut buf),
                }
                .map_err(|_| Errno::EIO)?;
                buf.truncate(n);
                Ok(buf)
            }
        }
    }

    /// Write `data` to a host descriptor sink.
    pub(super) fn write_host(h: &HostStream, data: &[u8]) -> KResult<()> {
        h.write_all(data).map_err(|_| Errno::EPIPE)
    }

    /// Is the host's stdin (or the host descriptor given as stdin) readable now?
    pub(super) fn host_stdin_readable(&self) -> bool {
        self.stdin.host_fd().is_some_and(host_readable)
    }

    /// Does the open file `f` read from the host (its stdin, or a descriptor given as
    /// stdin)?
    pub fn is_host_stdin_file(&self, f: &OpenFile) -> bool {
        matches!(self.inodes[f.ino].node, Node::Stream(Stream::In)) && self.stdin.host_fd().is_some()
    }

    /// Does `fd` read from the host (a poll of it may wait on the host)?
    pub fn is_host_stdin(&self, fd: u64) -> bool {
        matches!(self.node(fd), Ok(Node::Stream(Stream::In))) && self.stdin.host_fd().is_some()
    }

    /// Wait up to `until` for the host's stdin (or the descriptor given as stdin) to become
    /// readable.
    pub fn wait_host_stdin(&self, until: std::time::Instant) -> bool {
        let until = match self.stdin_deadline {
            Some(d) if d < until => d,
            _ => until,
        };
        self.stdin.host_fd().is_some_and(|fd| wait_readable(fd, until))
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn host_descriptors_serve_as_stdin_and_stdout_while_the_machine_runs() {
        let (in_r, mut in_w) = std::io::pipe().unwrap();
        let (mut out_r, out_w) = std::io::pipe().unwrap();
        let mut vfs = Vfs::new(
            InputSource::Host(HostStream::new(in_r)),
            OutputSink::Host(HostStream::new(out_w)),
            OutputSink::Capture,
        );
        assert!(vfs.is_host_stdin(0));
        assert_eq!(vfs.poll_events(0).unwrap() & crate::kernel_stub::vfs::poll::POLLIN, 0, "nothing to read yet");
        assert!(vfs.would_block(0, Wait::Read).unwrap(), "a read would wait on the host");
        in_w.write_all(b"abc").unwrap();
        assert!(!vfs.would_block(0, Wait::Read).unwrap());
        assert_eq!(vfs.read(0, 16, None).unwrap(), b"abc");
        assert_eq!(vfs.write(1, b"out\n", None).unwrap(), 4);
        let mut got = [0u8; 4];
        out_r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"out\n", "written through at once");
        drop(in_w);
        assert_eq!(vfs.read(0, 16, None).unwrap(), b"", "the host closed it: end of file");
        drop(out_r);
        assert_eq!(vfs.write(1, b"x", None), Err(Errno::EPIPE), "no reader left");
    }
}
