//! Waiting for descriptors: `poll`, `ppoll` and `pselect6` (fs/select.c).
//!
//! tagmmu runs one task, so while it waits nothing else can make a pipe readable or writable:
//! a wait with a timeout that finds nothing ready sleeps the whole timeout (advancing the
//! guest's clocks, as `nanosleep` does) and returns 0; a wait without one can never end and is
//! reported as a deadlock (see [`Kernel::block_forever`]). Only the host's stdin can become
//! ready on its own: a wait that includes it waits for it on the host, up to the timeout and
//! the run's wall-time budget.

use std::time::{Duration, Instant};

use crate::addr::UserAddr;
use crate::arch::{read_u16, read_u32, read_u64, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::vfs::poll::*;
use crate::kernel_stub::vfs::OpenFile;
use crate::kernel_stub::Kernel;

/// Events `select` counts as readable, writable and exceptional (fs/select.c POLL*_SET).
const POLLIN_SET: u16 = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
const POLLOUT_SET: u16 = POLLWRNORM | POLLOUT | POLLERR | 0x200; // | POLLWRBAND
const POLLEX_SET: u16 = POLLPRI;

/// What a wait found.
enum Ready<T> {
    /// Something is ready (or the wait timed out with nothing): the result.
    Done(T),
    /// Nothing is ready and the wait has no timeout.
    Never,
    /// Nothing is ready and the thread sleeps until something is, its timeout passes or a
    /// signal comes (other threads can make a descriptor ready); the syscall is executed
    /// again when it wakes.
    Slept,
}

impl Kernel {
    /// `ppoll(fds, nfds, tsp, sigmask, sigsetsize)`.
    pub(super) fn sys_ppoll(&mut self, fds: u64, nfds: u64, tsp: u64, sigmask: u64, sigsetsize: u64) -> KResult<u64> {
        let timeout = if tsp == 0 { None } else { Some(self.get_timespec(tsp)?) };
        self.check_wait_sigmask(sigmask, sigsetsize)?;
        let r = self.poll_fds(fds, nfds, timeout, "ppoll")?;
        if tsp != 0 {
            // The remaining time is written back (ignoring a fault, as poll_select_finish does).
            let left = if r == 0 { 0 } else { timeout.unwrap_or(0) };
            let _ = self.put_timespec(tsp, left);
        }
        Ok(r)
    }

    /// `poll(fds, nfds, timeout_ms)` (sparc64; a negative timeout waits forever).
    pub(super) fn sys_poll(&mut self, fds: u64, nfds: u64, timeout_ms: u64) -> KResult<u64> {
        let ms = timeout_ms as i32;
        let timeout = (ms >= 0).then(|| ms as u64 * 1_000_000);
        self.poll_fds(fds, nfds, timeout, "poll")
    }

    /// The temporary signal mask of ppoll/pselect6: a size other than the kernel's sigset is
    /// EINVAL and the mask must be readable. (While the task waits no signal can arrive in a
    /// one-task machine, so the mask changes nothing else; a pending signal it would unblock
    /// is reported as a notice, since tagmmu then does not return EINTR as Linux would.)
    fn check_wait_sigmask(&mut self, sigmask: u64, sigsetsize: u64) -> KResult<()> {
        if sigmask == 0 {
            return Ok(());
        }
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(sigmask), 8)?;
        let mask = self.user_mask(read_u64(self.arch, &b));
        if self.signals.all_pending() & !mask != 0 {
            self.notice(
                "ppoll/pselect6 with a mask that unblocks a pending signal: the wait is not interrupted (not modelled)"
                    .into(),
            );
        }
        Ok(())
    }

    fn poll_fds(&mut self, fds: u64, nfds: u64, timeout: Option<u64>, name: &str) -> KResult<u64> {
        if nfds > self.rlimits.0[7].0 {
            return Err(Errno::EINVAL);
        }
        let raw = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(fds), nfds as usize * 8)?;
        let entries: Vec<(i32, u16)> =
            raw.chunks(8).map(|c| (read_u32(self.arch, c) as i32, read_u16(self.arch, &c[4..]))).collect();
        let scan = |k: &Kernel| -> Vec<u16> {
            entries
                .iter()
                .map(|&(fd, events)| {
                    if fd < 0 {
                        return 0;
                    }
                    match k.vfs.poll_events(fd as u64) {
                        Ok(ev) => ev & (events | POLLERR | POLLHUP),
                        Err(_) => POLLNVAL,
                    }
                })
                .collect()
        };
        let host_stdin =
            entries.iter().any(|&(fd, ev)| fd >= 0 && ev & POLLIN != 0 && self.vfs.is_host_stdin(fd as u64));
        let watched: Vec<(OpenFile, u16)> = entries
            .iter()
            .filter(|e| e.0 >= 0)
            .filter_map(|&(fd, ev)| Some((self.vfs.file(fd as u64).ok()?, ev | POLLERR | POLLHUP)))
            .collect();
        let revents = match self.wait_until_ready(timeout, host_stdin, watched, name, |k| {
            let r = scan(k);
            r.iter().any(|&e| e != 0).then_some(r)
        }) {
            Ready::Done(r) => r.unwrap_or_else(|| vec![0; entries.len()]),
            Ready::Slept => return Err(Errno::EINTR),
            Ready::Never => {
                self.block_forever(format!(
                    "{name} on {} descriptor(s) with no timeout, none of which can become ready",
                    entries.len()
                ));
                return Err(Errno::EINTR);
            }
        };
        let mut w = StructWriter::new(self.arch);
        for (&(fd, events), &re) in entries.iter().zip(&revents) {
            w.u32(fd as u32).u16(events).u16(re);
        }
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(fds), &w.finish())?;
        Ok(revents.iter().filter(|&&e| e != 0).count() as u64)
    }

    /// `pselect6(nfds, readfds, writefds, exceptfds, tsp, sig)`, where `sig` points to
    /// `{ const sigset_t *ss; size_t ss_len; }`.
    pub(super) fn sys_pselect6(&mut self, a: [u64; 6]) -> KResult<u64> {
        let nfds = a[0] as i32;
        if nfds < 0 {
            return Err(Errno::EINVAL);
        }
        // Past the descriptor table, select looks no further (core_sys_select clamps n).
        let n = (nfds as usize).min(1024);
        let tsp = a[4];
        let timeout = if tsp == 0 { None } else { Some(self.get_timespec(tsp)?) };
        if a[5] != 0 {
            let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(a[5]), 16)?;
            let (ss, len) = (read_u64(self.arch, &b), read_u64(self.arch, &b[8..]));
            self.check_wait_sigmask(ss, len)?;
        }
        let words = n.div_ceil(64);
        let mut sets = [Vec::new(), Vec::new(), Vec::new()];
        for (i, set) in sets.iter_mut().enumerate() {
            let addr = a[1 + i];
            if addr != 0 && words > 0 {
                let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(addr), words * 8)?;
                *set = b.chunks(8).map(|c| read_u64(self.arch, c)).collect();
            }
        }
        let wanted = |set: &Vec<u64>, fd: usize| set.get(fd / 64).is_some_and(|w| w >> (fd % 64) & 1 != 0);
        // Every descriptor named in a set must be open (EBADF otherwise).
        for fd in 0..n {
            if sets.iter().any(|s| wanted(s, fd)) {
                self.vfs.file(fd as u64)?;
            }
        }
        let host_stdin = wanted(&sets[0], 0) && self.vfs.is_host_stdin(0);
        let scan = |k: &Kernel| -> Option<[Vec<u64>; 3]> {
            let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
            let mut any = false;
            for fd in 0..n {
                let ev = match k.vfs.poll_events(fd as u64) {
                    Ok(ev) => ev,
                    Err(_) => continue,
                };
                for (i, mask) in [POLLIN_SET, POLLOUT_SET, POLLEX_SET].into_iter().enumerate() {
                    if wanted(&sets[i], fd) && ev & mask != 0 {
                        out[i][fd / 64] |= 1 << (fd % 64);
                        any = true;
                    }
                }
            }
            any.then_some(out)
        };
        let watched: Vec<(OpenFile, u16)> = (0..n)
            .filter_map(|fd| {
                let mask = [POLLIN_SET, POLLOUT_SET, POLLEX_SET]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| wanted(&sets[*i], fd))
                    .fold(0u16, |m, (_, &bits)| m | bits);
                (mask != 0).then(|| Some((self.vfs.file(fd as u64).ok()?, mask))).flatten()
            })
            .collect();
        let out = match self.wait_until_ready(timeout, host_stdin, watched, "pselect6", scan) {
            Ready::Done(r) => r.unwrap_or_else(|| [vec![0u64; words], vec![0u64; words], vec![0u64; words]]),
            Ready::Slept => return Err(Errno::EINTR),
            Ready::Never => {
                self.block_forever(format!(
                    "pselect6 on {n} descriptor(s) with no timeout, none of which can become ready"
                ));
                return Err(Errno::EINTR);
            }
        };
        let mut count = 0u64;
        for (i, set) in out.iter().enumerate() {
            let addr = a[1 + i];
            if addr == 0 || words == 0 {
                continue;
            }
            count += set.iter().map(|w| u64::from(w.count_ones())).sum::<u64>();
            let mut w = StructWriter::new(self.arch);
            for &word in set {
                w.u64(word);
            }
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(addr), &w.finish())?;
        }
        if tsp != 0 {
            let left = if count == 0 { 0 } else { timeout.unwrap_or(0) };
            let _ = self.put_timespec(tsp, left);
        }
        Ok(count)
    }

    /// Scan until `ready` finds something: at once; else, when the host's stdin is among the
    /// descriptors, by waiting on the host (up to the timeout); else, when other threads can
    /// make one of the `watched` descriptors ready, by sleeping until one is (the syscall is
    /// executed again then, and learns when its timeout has passed); else by sleeping the whole
    /// timeout (nothing else can change in a one-thread machine). `Done(None)` is a timeout.
    fn wait_until_ready<T>(
        &mut self,
        timeout: Option<u64>,
        host_stdin: bool,
        watched: Vec<(OpenFile, u16)>,
        name: &str,
        ready: impl Fn(&Kernel) -> Option<T>,
    ) -> Ready<Option<T>> {
        let timed_out = self.take_timed_out();
        if let Some(r) = ready(self) {
            return Ready::Done(Some(r));
        }
        if timeout == Some(0) || timed_out {
            return Ready::Done(None);
        }
        if !host_stdin && !self.threads.alone() {
            let n = watched.len();
            self.block(crate::kernel_stub::task::Blocked {
                on: crate::kernel_stub::task::WaitOn::Poll(watched),
                deadline: timeout.map(|t| self.deadline_in(t)),
                on_timeout: None,
                restartable: false,
                rem: None,
                reason: format!("{name} on {n} descriptor(s)"),
            });
            return Ready::Slept;
        }
        if host_stdin {
            let start = Instant::now();
            let until = match timeout {
                Some(ns) => start + Duration::from_nanos(ns),
                None => start + Duration::from_secs(365 * 24 * 3600),
            };
            self.vfs.wait_host_stdin(until);
            self.sleep(start.elapsed().as_nanos() as u64);
            return Ready::Done(ready(self));
        }
        match timeout {
            Some(ns) => {
                self.sleep(ns);
                Ready::Done(None)
            }
            None => Ready::Never,
        }
    }
}
