//! Futex wait queues between the threads of the process. A sleeper is a parked thread whose
//! wait is [`WaitOn::Futex`]; the key names the futex word as get_futex_key does: in a
//! private mapping by the process and the word's untagged address, in a MAP_SHARED mapping
//! by its physical address (so processes sharing the memory share the futex). Waiters are woken in the order
//! they went to sleep (Linux's hash-bucket plist is FIFO among equal priorities).

use super::sched::WaitOn;

/// What names a futex word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// A word of private memory: the process and its untagged address.
    Private {
        /// The process.
        pid: u32,
        /// The untagged user address.
        addr: u64,
    },
    /// A word of shared memory: its physical address.
    Shared(u64),
}
use super::Tid;
use crate::kernel_stub::errno::KResult;
use crate::kernel_stub::task::Resume;
use crate::kernel_stub::Kernel;

impl Kernel {
    /// The futex key of `uaddr`.
    pub(crate) fn futex_key(&self, uaddr: u64) -> FutexKey {
        let addr = self.mm.untag(uaddr).unwrap_or(uaddr);
        match self.mm.vmas().find(addr) {
            Some(v) if v.shared => FutexKey::Shared(v.phys(addr).0),
            _ => FutexKey::Private { pid: self.config.pid, addr },
        }
    }

    /// The sleepers on `key` whose bitset meets `bitset`, oldest first.
    fn futex_waiters(&self, key: FutexKey, bitset: u32) -> Vec<Tid> {
        let mut w: Vec<(u64, Tid)> = self
            .threads
            .parked
            .iter()
            .filter(|(_, p)| {
                matches!(p.wait.as_ref().map(|b| &b.on), Some(WaitOn::Futex { key: k, bitset: b }) if *k == key && b & bitset != 0)
            })
            .map(|(&tid, p)| (p.since, tid))
            .collect();
        w.sort();
        w.into_iter().map(|(_, t)| t).collect()
    }

    /// FUTEX_WAKE / FUTEX_WAKE_BITSET: wake up to `n` sleepers on `uaddr`; their FUTEX_WAIT
    /// returns 0. Returns how many were woken.
    pub(crate) fn futex_wake(&mut self, uaddr: u64, n: u32, bitset: u32) -> KResult<u64> {
        let key = self.futex_key(uaddr);
        let woken: Vec<Tid> = self.futex_waiters(key, bitset).into_iter().take(n as usize).collect();
        for tid in &woken {
            if let Some(p) = self.threads.parked.get_mut(tid) {
                p.wait = None;
                p.resume = Resume::Return(Ok(0));
            }
        }
        Ok(woken.len() as u64)
    }

    /// FUTEX_REQUEUE / FUTEX_CMP_REQUEUE (the value already compared): wake up to `n_wake`
    /// sleepers on `uaddr` and move up to `n_requeue` more to `uaddr2`. Returns the number
    /// woken plus the number moved.
    pub(crate) fn futex_requeue(&mut self, uaddr: u64, n_wake: u32, uaddr2: u64, n_requeue: u32) -> KResult<u64> {
        let key = self.futex_key(uaddr);
        let key2 = self.futex_key(uaddr2);
        let waiters = self.futex_waiters(key, u32::MAX);
        let woken = self.futex_wake(uaddr, n_wake, u32::MAX)?;
        let mut moved = 0u64;
        for tid in waiters.into_iter().skip(woken as usize).take(n_requeue as usize) {
            if let Some(b) = self.threads.parked.get_mut(&tid).and_then(|p| p.wait.as_mut()) {
                if let WaitOn::Futex { key, .. } = &mut b.on {
                    *key = key2;
                    b.reason = format!("futex wait at {uaddr2:#x} (requeued)");
                    moved += 1;
                }
            }
        }
        Ok(woken + moved)
    }
}
