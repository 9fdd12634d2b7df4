//! Locking memory: `mlock`, `mlock2`, `munlock`, `mlockall`, `munlockall` and the locks
//! `MAP_LOCKED`, `mlockall(MCL_FUTURE)` put on new mappings, as mm/mlock.c has them.
//!
//! A lock is a flag of the mapping ([`VmLock`]). It is counted against `RLIMIT_MEMLOCK`
//! (`mm->locked_vm`, here the pages of the locked mappings) unless the task has
//! CAP_IPC_LOCK, and a `VM_LOCKED` mapping is faulted in when it is locked (`__mm_populate`:
//! a write fault for a private writable mapping, else a forced read, as GUP does), unless
//! `VM_LOCKONFAULT`. What the lock changes afterwards lives where the behaviour does: reclaim
//! (`AddressSpace::evict`, MADV_PAGEOUT) passes locked pages by, MADV_DONTNEED and MADV_FREE
//! refuse them (EINVAL), msync(MS_INVALIDATE) is EBUSY, and fork and execve drop the locks.
//!
//! Not modelled: the vDSO and other VM_SPECIAL mappings are skipped (never locked or
//! counted) as Linux skips them; there are no hugetlb, DAX or secretmem mappings to skip.
//! tagmmu does not break copy-on-write (it copies at fork), so mprotect making a locked
//! mapping writable has nothing to fault in.

use super::{AddressSpace, FaultKind, Prot, VmLock, Vma, VmaKind, MAX_MAP_COUNT};
use crate::kernel_stub::errno::{Errno, KResult};

/// What bounds a task's locked memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockLimit {
    /// `RLIMIT_MEMLOCK`'s soft limit, in bytes.
    pub bytes: u64,
    /// The task has CAP_IPC_LOCK: no limit applies.
    pub capable: bool,
}

impl LockLimit {
    /// `can_do_mlock()`: a lock may be asked for at all (else EPERM).
    pub fn can_lock(self) -> bool {
        self.bytes != 0 || self.capable
    }
}

/// Is the mapping one that a lock applies to (mlock_fixup's VM_SPECIAL exclusion: the vDSO
/// is a special mapping with VM_DONTEXPAND)?
fn lockable(v: &Vma) -> bool {
    v.kind != VmaKind::Vdso
}

impl AddressSpace {
    /// `mm->locked_vm`: pages of the running process's locked mappings.
    pub fn locked_vm(&self) -> u64 {
        let page = self.space.layout.page_size;
        self.space.vmas.iter().filter(|v| v.locked.is_locked()).map(|v| v.len() / page).sum()
    }

    /// How new mappings are locked (`mlockall(MCL_FUTURE)`), [`VmLock::Unlocked`] normally.
    pub fn default_lock(&self) -> VmLock {
        self.space.def_lock
    }

    /// `mlock_future_ok`: may `len` more bytes be mapped with `lock`?
    pub fn lock_future_ok(&self, lock: VmLock, len: u64, limit: LockLimit) -> bool {
        let page = self.space.layout.page_size;
        !lock.is_locked() || limit.capable || self.locked_vm().saturating_add(len / page) <= limit.bytes / page
    }

    /// `count_mm_mlocked_page_nr`: pages of `[start, start + len)` in locked mappings.
    fn locked_pages_in(&self, start: u64, len: u64) -> u64 {
        let end = start.saturating_add(len);
        let page = self.space.layout.page_size;
        self.space
            .vmas
            .intersecting(start, end)
            .filter(|v| v.locked.is_locked())
            .map(|v| (v.end.min(end) - v.start.max(start)) / page)
            .sum()
    }

    /// The pages `[addr, addr + len)` covers, as do_mlock and munlock round it: the start down
    /// to its page, `PAGE_ALIGN(len + offset_in_page(start))` in the kernel's unsigned
    /// arithmetic (a length near the top of the address space wraps to a small one).
    fn pages_of(&self, addr: u64, len: u64) -> (u64, u64) {
        let page = self.space.layout.page_size;
        let off = addr % page;
        (addr - off, len.wrapping_add(off).wrapping_add(page - 1) & !(page - 1))
    }

    /// `apply_vma_lock_flags`: give the mappings of `[start, start + len)` (page-aligned) the
    /// lock `lock`, in order; a hole ends the walk with ENOMEM, the mappings before it
    /// changed. A range that wraps is EINVAL.
    fn apply_lock(&mut self, start: u64, len: u64, lock: VmLock) -> KResult<()> {
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        let mut covered = start;
        for v in self.space.vmas.intersecting(start, end) {
            if v.start > covered {
                break;
            }
            covered = v.end.min(end);
        }
        if covered == start {
            return Err(Errno::ENOMEM);
        }
        // mlock_fixup splits a mapping whose flags change: past vm.max_map_count, ENOMEM.
        if self.space.vmas.count() >= MAX_MAP_COUNT && self.space.vmas.splits_at(start, covered) {
            return Err(Errno::ENOMEM);
        }
        self.space.vmas.update_range(start, covered, |v| {
            if lockable(v) {
                v.locked = lock;
            }
        });
        if covered < end {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }

    /// `__mm_populate`, which MAP_POPULATE and the locks share: fault in the pages of the
    /// mappings in `[start, end)` (holes skipped; `VM_LOCKONFAULT` mappings left alone), a
    /// write fault for a private writable mapping, else a read, forced (FOLL_FORCE) when the
    /// mapping is accessible at all: a PROT_NONE mapping fails (populate_vma_page_range).
    /// With `ignore_errors` (mmap, mlockall) a mapping that fails is skipped; else the first
    /// failure is returned.
    pub fn mm_populate(&mut self, start: u64, end: u64, ignore_errors: bool) -> Result<(), FaultKind> {
        let ranges: Vec<(u64, u64, Prot)> = self
            .space
            .vmas
            .intersecting(start, end)
            .filter(|v| v.locked != VmLock::OnFault)
            .map(|v| {
                let needs = if v.prot.contains(Prot::WRITE) && !v.shared {
                    Prot::WRITE
                } else if v.prot.rwx() != Prot::NONE {
                    Prot::NONE
                } else {
                    Prot::READ
                };
                (v.start.max(start), v.end.min(end), needs)
            })
            .collect();
        for (from, to, needs) in ranges {
            if let Err(kind) = self.fault_in_range(from, to, needs) {
                if !ignore_errors {
                    return Err(kind);
                }
            }
        }
        Ok(())
    }

    /// `mlock(2)` / `mlock2(2)` after `can_do_mlock` (the caller's EPERM): lock the pages of
    /// `[addr, addr + len)` (untagged; rounded out to pages) with `lock` and fault them in
    /// (do_mlock). ENOMEM past the limit (pages already locked in the range do not count
    /// twice) or for a hole; a fault-in that fails reports as POSIX wants: a bad page ENOMEM,
    /// no memory EAGAIN.
    pub fn mlock(&mut self, addr: u64, len: u64, lock: VmLock, limit: LockLimit) -> KResult<()> {
        let page = self.space.layout.page_size;
        let (start, len) = self.pages_of(addr, len);
        let mut locked = (len / page).saturating_add(self.locked_vm());
        if locked > limit.bytes / page && !limit.capable {
            locked -= self.locked_pages_in(start, len);
        }
        if locked > limit.bytes / page && !limit.capable {
            return Err(Errno::ENOMEM);
        }
        self.apply_lock(start, len, lock)?;
        self.mm_populate(start, start + len, false).map_err(|kind| match kind {
            FaultKind::OutOfMemory => Errno::EAGAIN,
            _ => Errno::ENOMEM,
        })
    }

    /// `munlock(2)`: unlock the pages of `[addr, addr + len)` (untagged; rounded out to
    /// pages). ENOMEM for a hole; no limit or capability is involved.
    pub fn munlock(&mut self, addr: u64, len: u64) -> KResult<()> {
        let (start, len) = self.pages_of(addr, len);
        self.apply_lock(start, len, VmLock::Unlocked)
    }

    /// `mlockall(2)` with its flags decoded and checked, after `can_do_mlock`: `current`
    /// locks every mapping now (ENOMEM when the whole address space is over the limit) and
    /// faults them in (errors ignored), `future` every mapping made later; whichever is
    /// absent is cleared, as `apply_mlockall_flags` does.
    pub fn mlockall(&mut self, current: Option<VmLock>, future: Option<VmLock>, limit: LockLimit) -> KResult<()> {
        let page = self.space.layout.page_size;
        if current.is_some() && !limit.capable && self.total_vm() / page > limit.bytes / page {
            return Err(Errno::ENOMEM);
        }
        self.space.def_lock = future.unwrap_or_default();
        if let Some(lock) = current {
            self.space.vmas.update_range(0, u64::MAX, |v| {
                if lockable(v) {
                    v.locked = lock;
                }
            });
            let _ = self.mm_populate(0, u64::MAX, true);
        }
        Ok(())
    }

    /// `munlockall(2)`: no mapping is locked, nor will new ones be.
    pub fn munlockall(&mut self) {
        self.space.def_lock = VmLock::Unlocked;
        self.space.vmas.update_range(0, u64::MAX, |v| v.locked = VmLock::Unlocked);
    }

    /// Lock the new mapping `[addr, addr + len)` (page-aligned) with `lock` and, for
    /// `VM_LOCKED`, fault it in with errors ignored, as `do_mmap` and `mm_populate` do for
    /// MAP_LOCKED or under `mlockall(MCL_FUTURE)` (the caller checked
    /// [`Self::lock_future_ok`]).
    pub fn lock_new_mapping(&mut self, addr: u64, len: u64, lock: VmLock) {
        let end = addr.saturating_add(len);
        // A heap that grew under MCL_FUTURE is locked already (`set_brk`): no split for it.
        if self.space.vmas.intersecting(addr, end).any(|v| lockable(v) && v.locked != lock) {
            self.space.vmas.update_range(addr, end, |v| {
                if lockable(v) {
                    v.locked = lock;
                }
            });
        }
        let _ = self.mm_populate(addr, end, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::mm::{Layout, MapRequest};

    const PAGE: u64 = 4096;
    const NO_LIMIT: LockLimit = LockLimit { bytes: u64::MAX, capable: false };

    fn space() -> AddressSpace {
        AddressSpace::new(Layout::arm64())
    }

    fn resident(mm: &AddressSpace, at: u64, pages: u64) -> String {
        (0..pages).map(|i| if mm.is_present(at + i * PAGE) { '1' } else { '0' }).collect()
    }

    #[test]
    fn mlock_locks_and_faults_in_and_onfault_does_not() {
        let mut mm = space();
        let a = mm.mmap(0, 8 * PAGE, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        // An unaligned start rounds out: bytes in pages 1..=2.
        mm.mlock(a + PAGE + 100, PAGE, VmLock::Locked, NO_LIMIT).unwrap();
        assert_eq!(resident(&mm, a, 8), "01100000");
        assert_eq!(mm.locked_vm(), 2);
        mm.mlock(a + 4 * PAGE, 2 * PAGE, VmLock::OnFault, NO_LIMIT).unwrap();
        assert_eq!(resident(&mm, a, 8), "01100000");
        assert_eq!(mm.locked_vm(), 4);
        mm.munlock(a, 8 * PAGE).unwrap();
        assert_eq!(mm.locked_vm(), 0);
    }

    #[test]
    fn mlock_forces_a_read_of_an_accessible_mapping_and_fails_on_prot_none() {
        let mut mm = space();
        let x = mm.mmap(0, 2 * PAGE, Prot::from_rwx(4), MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        mm.mlock(x, 2 * PAGE, VmLock::Locked, NO_LIMIT).unwrap();
        assert_eq!(resident(&mm, x, 2), "11");
        let a = mm.mmap(0, 2 * PAGE, Prot::NONE, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        assert_eq!(mm.mlock(a, 2 * PAGE, VmLock::Locked, NO_LIMIT), Err(Errno::ENOMEM));
        assert_eq!(resident(&mm, a, 2), "00");
        assert_eq!(mm.locked_vm(), 4, "locked all the same");
    }

    /// MAP_POPULATE's populate is mlock's: an exec-only mapping is faulted in by a forced
    /// read, a PROT_NONE one is not (as a native Linux 6.18 run shows).
    #[test]
    fn mm_populate_forces_accessible_mappings_only() {
        let mut mm = space();
        let x = mm.mmap(0, 2 * PAGE, Prot::from_rwx(4), MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        let n = mm.mmap(0, 2 * PAGE, Prot::NONE, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        let _ = mm.mm_populate(x, x + 2 * PAGE, true);
        let _ = mm.mm_populate(n, n + 2 * PAGE, true);
        assert_eq!((resident(&mm, x, 2).as_str(), resident(&mm, n, 2).as_str()), ("11", "00"));
        assert_eq!(mm.locked_vm(), 0, "populating locks nothing");
    }

    #[test]
    fn the_limit_counts_pages_locked_already_once() {
        let mut mm = space();
        let limit = LockLimit { bytes: 16 * PAGE, capable: false };
        let a = mm.mmap(0, 64 * PAGE, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        assert_eq!(mm.mlock(a, 17 * PAGE, VmLock::Locked, limit), Err(Errno::ENOMEM));
        assert_eq!(mm.locked_vm(), 0);
        mm.mlock(a, 8 * PAGE, VmLock::Locked, limit).unwrap();
        assert_eq!(mm.mlock(a + 8 * PAGE, 12 * PAGE, VmLock::Locked, limit), Err(Errno::ENOMEM));
        // 8 locked + 12 asked = 20 > 16, less the 8 of the range locked already: 12.
        mm.mlock(a, 12 * PAGE, VmLock::Locked, limit).unwrap();
        assert_eq!(mm.locked_vm(), 12);
        let capable = LockLimit { bytes: 0, capable: true };
        mm.mlock(a, 64 * PAGE, VmLock::Locked, capable).unwrap();
        assert_eq!(mm.locked_vm(), 64);
    }

    #[test]
    fn a_hole_is_enomem_after_the_mappings_before_it_are_locked() {
        let mut mm = space();
        let a = mm.mmap(0, 4 * PAGE, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        mm.munmap(a + 2 * PAGE, PAGE).unwrap();
        assert_eq!(mm.mlock(a, 4 * PAGE, VmLock::Locked, NO_LIMIT), Err(Errno::ENOMEM));
        assert_eq!(mm.locked_vm(), 2);
        assert_eq!(mm.mlock(a + 2 * PAGE, PAGE, VmLock::Locked, NO_LIMIT), Err(Errno::ENOMEM));
        assert_eq!(mm.munlock(a + 2 * PAGE, 2 * PAGE), Err(Errno::ENOMEM));
        // A length that wraps to zero pages asks for nothing.
        assert_eq!(mm.mlock(a, u64::MAX, VmLock::Locked, NO_LIMIT), Ok(()));
    }

    #[test]
    fn mlockall_current_and_future() {
        let mut mm = space();
        let a = mm.mmap(0, 4 * PAGE, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        let small = LockLimit { bytes: 2 * PAGE, capable: false };
        assert_eq!(mm.mlockall(Some(VmLock::Locked), None, small), Err(Errno::ENOMEM));
        mm.mlockall(None, Some(VmLock::Locked), small).unwrap();
        assert_eq!((mm.locked_vm(), mm.default_lock()), (0, VmLock::Locked));
        mm.mlockall(Some(VmLock::Locked), None, NO_LIMIT).unwrap();
        assert_eq!((mm.locked_vm(), mm.default_lock()), (4, VmLock::Unlocked));
        assert_eq!(resident(&mm, a, 4), "1111");
        mm.munlockall();
        assert_eq!(mm.locked_vm(), 0);
    }

    #[test]
    fn locked_pages_are_not_evicted_and_dontneed_refuses_them() {
        let mut mm = space();
        let a = mm.mmap(0, 4 * PAGE, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        mm.mlock(a, 2 * PAGE, VmLock::Locked, NO_LIMIT).unwrap();
        mm.populate(a, 4 * PAGE, crate::kernel_stub::mm::Access::Write).unwrap();
        assert_eq!(mm.evict(a, 4 * PAGE), 2);
        assert_eq!(resident(&mm, a, 4), "1100");
        use crate::kernel_stub::mm::Advice;
        for advice in [Advice::DontNeed, Advice::PageOut, Advice::Cold] {
            assert_eq!(mm.madvise(a, 4 * PAGE, advice), Err(Errno::EINVAL), "{advice:?}");
        }
        assert_eq!(resident(&mm, a, 4), "1100");
        assert_eq!(mm.madvise(a, 2 * PAGE, Advice::DontNeedLocked), Ok(()));
        assert_eq!(resident(&mm, a, 4), "0000");
        assert_eq!(mm.msync(a, PAGE, false, true), Err(Errno::EBUSY));
        assert_eq!(mm.msync(a + 2 * PAGE, PAGE, false, true), Ok(()));
    }

    #[test]
    fn the_heap_grows_locked_under_mcl_future_in_one_mapping() {
        let mut mm = space();
        mm.init_brk(0x40_0000).unwrap();
        let base = mm.brk();
        mm.mlockall(None, Some(VmLock::Locked), NO_LIMIT).unwrap();
        for step in 1..=4u64 {
            let old = mm.brk();
            mm.set_brk(base + step * PAGE);
            mm.lock_new_mapping(old, PAGE, VmLock::Locked);
        }
        assert_eq!(mm.locked_vm(), 4);
        assert_eq!(mm.vmas().iter().filter(|v| v.kind == VmaKind::Heap).count(), 1, "the heap is one mapping");
        assert_eq!(resident(&mm, base, 4), "1111");
    }

    #[test]
    fn fork_and_exec_drop_the_locks() {
        let mut mm = space();
        let a = mm.mmap(0, 4 * PAGE, Prot::RW, MapRequest::PRIVATE, VmaKind::Anon).unwrap();
        mm.mlock(a, 4 * PAGE, VmLock::Locked, NO_LIMIT).unwrap();
        mm.mlockall(None, Some(VmLock::OnFault), NO_LIMIT).unwrap();
        let mut child = mm.fork().unwrap();
        mm.swap_process(&mut child);
        assert_eq!((mm.locked_vm(), mm.default_lock()), (0, VmLock::Unlocked));
        mm.swap_process(&mut child);
        assert_eq!((mm.locked_vm(), mm.default_lock()), (4, VmLock::OnFault));
        mm.exit_process();
        assert_eq!(mm.default_lock(), VmLock::Unlocked);
    }
}
