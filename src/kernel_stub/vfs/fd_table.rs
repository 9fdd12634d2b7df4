//! The descriptor table: descriptors refer to shared open file descriptions (one file
//! position and one set of status flags, shared by `dup`); close-on-exec is per descriptor.

use super::*;

/// A descriptor: the open file description it refers to (shared with the descriptors `dup`
/// made of it) and its own close-on-exec flag.
#[derive(Clone, Debug)]
pub(super) struct FdSlot {
    pub(super) desc: Rc<RefCell<OpenFile>>,
    pub(super) cloexec: bool,
}

/// A parked process's descriptor table and working directory.
#[derive(Clone, Debug, Default)]
pub(super) struct ProcessFiles {
    fds: Vec<Option<FdSlot>>,
    cwd: String,
}

impl Vfs {
    /// Every descriptor of every process (the ends of a pipe are counted over them all).
    pub(super) fn all_slots(&self) -> impl Iterator<Item = &FdSlot> {
        self.fds.iter().flatten().chain(self.parked_files.values().flat_map(|p| p.fds.iter().flatten()))
    }

    /// fork: the child `pid` gets a copy of the running process's descriptor table (each
    /// descriptor refers to the same open file description, close-on-exec flags kept) and
    /// its working directory.
    pub fn fork_files(&mut self, pid: u32) {
        self.parked_files.insert(pid, ProcessFiles { fds: self.fds.clone(), cwd: self.cwd.clone() });
    }

    /// Context switch between processes: park the running process's table under `from`
    /// (unless it exited) and take `to`'s.
    pub fn switch_process(&mut self, from: Option<u32>, to: u32) {
        let next = self.parked_files.remove(&to).unwrap_or_default();
        let cur = ProcessFiles {
            fds: std::mem::replace(&mut self.fds, next.fds),
            cwd: std::mem::replace(&mut self.cwd, next.cwd),
        };
        if let Some(from) = from {
            self.parked_files.insert(from, cur);
        }
    }

    /// exit_files: the running process's descriptors are all closed.
    pub fn exit_process(&mut self) {
        for fd in 0..self.fds.len() as u64 {
            let _ = self.close(fd);
        }
    }

    /// exec: close every descriptor marked close-on-exec (do_close_on_exec).
    pub fn close_on_exec(&mut self) {
        let marked: Vec<u64> = self
            .fds
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_ref().is_some_and(|s| s.cloexec))
            .map(|(i, _)| i as u64)
            .collect();
        for fd in marked {
            let _ = self.close(fd);
        }
    }

    pub(super) fn lowest_free_fd(&self) -> KResult<usize> {
        match self.fds.iter().position(Option::is_none) {
            Some(i) => Ok(i),
            None if self.fds.len() < MAX_FDS => Ok(self.fds.len()),
            None => Err(Errno::EMFILE),
        }
    }

    pub(super) fn install(&mut self, file: OpenFile) -> KResult<usize> {
        let cloexec = file.flags.cloexec;
        self.install_slot(FdSlot { desc: Rc::new(RefCell::new(file)), cloexec })
    }

    pub(super) fn install_slot(&mut self, slot: FdSlot) -> KResult<usize> {
        let fd = self.lowest_free_fd()?;
        if fd == self.fds.len() {
            self.fds.push(Some(slot));
        } else {
            self.fds[fd] = Some(slot);
        }
        Ok(fd)
    }

    pub(super) fn slot(&self, fd: u64) -> KResult<&FdSlot> {
        self.fds.get(usize::try_from(fd).map_err(|_| Errno::EBADF)?).and_then(Option::as_ref).ok_or(Errno::EBADF)
    }

    /// The open file description behind `fd` (a copy: its position and flags as they are now).
    pub fn file(&self, fd: u64) -> KResult<OpenFile> {
        Ok(self.slot(fd)?.desc.borrow().clone())
    }

    /// Set the file position of the description behind `fd` (shared with its dups).
    pub(super) fn set_pos(&mut self, fd: u64, pos: u64) -> KResult<()> {
        self.slot(fd)?.desc.borrow_mut().pos = pos;
        Ok(())
    }

    pub(super) fn ino_of(&self, fd: u64) -> KResult<usize> {
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::{rw_create, vfs};
    use super::*;

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
}
