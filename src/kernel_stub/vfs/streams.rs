//! The standard streams: where fd 1 and 2 go (the host's streams or bounded capture
//! buffers) and where fd 0 reads from (the host's stdin, fixed bytes, or nothing).

use super::*;

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
pub(super) fn host_readable(fd: i32) -> bool {
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

    /// Does the open file `f` read the host's stdin?
    pub fn is_host_stdin_file(&self, f: &OpenFile) -> bool {
        matches!(self.inodes[f.ino].node, Node::Stream(Stream::In)) && self.stdin == InputSource::Inherit
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
