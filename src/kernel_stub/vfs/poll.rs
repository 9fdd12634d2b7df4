//! What `poll` and `select` see of a descriptor (the `->poll` of each kind of file), and the
//! `POLL*` bits (the same in asm-generic and sparc numbering).
#![allow(missing_docs)]

use super::*;

pub const POLLIN: u16 = 0x001;
pub const POLLPRI: u16 = 0x002;
pub const POLLOUT: u16 = 0x004;
pub const POLLERR: u16 = 0x008;
pub const POLLHUP: u16 = 0x010;
pub const POLLNVAL: u16 = 0x020;
pub const POLLRDNORM: u16 = 0x040;
pub const POLLRDBAND: u16 = 0x080;
pub const POLLWRNORM: u16 = 0x100;

impl Vfs {
    /// The `POLL*` events `fd` has now (before masking with what was asked; POLLERR and
    /// POLLHUP are always reported). Regular files, directories and devices are always
    /// ready (`DEFAULT_POLLMASK`); stdin is readable when it holds bytes or is at its end.
    pub fn poll_events(&self, fd: u64) -> KResult<u16> {
        Ok(self.poll_file(&self.file(fd)?))
    }

    /// [`Self::poll_events`] of an open file description (what a sleeping poller watches,
    /// whichever process's descriptor table names it).
    pub fn poll_file(&self, f: &OpenFile) -> u16 {
        let rd = POLLIN | POLLRDNORM;
        let wr = POLLOUT | POLLWRNORM;
        match &self.inodes[f.ino].node {
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
            Node::Stream(Stream::In) => {
                if self.stdin.host_fd().is_none() || self.host_stdin_readable() {
                    rd
                } else {
                    0
                }
            }
            Node::Stream(_) => wr,
            _ => rd | wr,
        }
    }
}
