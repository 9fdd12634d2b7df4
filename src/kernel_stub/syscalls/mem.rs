//! Memory syscalls: mmap, munmap, mprotect, madvise, mremap, brk, msync, mincore, and the
//! mlock family (the model is `mm::mlock`).

use crate::addr::UserAddr;
use crate::arch::Arch;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::mm::{Access, Advice, LockLimit, MapRequest, Placement, Prot, VmLock, VmaKind};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::vfs::Node;
use crate::kernel_stub::Kernel;

const PROT_READ: u64 = 1;
const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;
const PROT_GROWSDOWN: u64 = 0x0100_0000;
const PROT_GROWSUP: u64 = 0x0200_0000;
/// sparc `PROT_SEM`.
const PROT_SEM: u64 = 0x8;
/// arm64 `PROT_BTI`.
const PROT_BTI: u64 = 0x10;
use crate::mte::PROT_MTE;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// asm-generic MAP_HUGETLB.
const MAP_HUGETLB: u64 = 0x4_0000;
/// Flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK plus MAP_SYNC is not supported here).
const LEGACY_MAP_MASK: u64 =
    0x01 | 0x02 | 0x10 | 0x20 | 0x0100 | 0x0800 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x1_0000 | 0x2_0000 | 0x4_0000;

/// MLOCK_ONFAULT, mlock2's one flag.
const MLOCK_ONFAULT: u64 = 1;

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MREMAP_DONTUNMAP: u64 = 4;

impl Kernel {
    /// Validate and convert the `prot` argument (arch_validate_prot).
    fn decode_prot(&mut self, prot: u64) -> KResult<Prot> {
        let (arch_ok, tagged_bit) = match self.arch {
            // PROT_MTE is valid only when the system supports MTE (arch_validate_prot).
            Arch::Arm64 => (PROT_BTI | if self.mte.supported() { PROT_MTE } else { 0 }, PROT_MTE),
            // sparc_validate_prot accepts PROT_SEM and PROT_ADI whatever the CPU; on a CPU
            // without ADI, PROT_ADI then does nothing (5.11+ arch_calc_vm_prot_bits).
            Arch::Sparc64 => (PROT_SEM | crate::adi::PROT_ADI, crate::adi::PROT_ADI),
        };
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP | arch_ok) != 0 {
            return Err(Errno::EINVAL);
        }
        let mut p = Prot::from_rwx((prot & 7) as u32);
        if tagged_bit != 0 && prot & tagged_bit != 0 {
            match self.arch {
                Arch::Arm64 => p = p | Prot::TAGGED,
                Arch::Sparc64 if self.adi.machine.supported => {
                    p = p | Prot::TAGGED;
                    self.enable_adi();
                }
                Arch::Sparc64 => {}
            }
        }
        Ok(p)
    }

    /// Untag an address argument of an address-space syscall (munmap, mprotect, madvise,
    /// msync, mincore, mremap's old address, the mlock family), as the kernel's
    /// `untagged_addr()` does there, whether or not the thread enabled the tagged-address
    /// ABI (Documentation/arch/arm64/tagged-address-abi.rst: that prctl governs the addresses
    /// the kernel accesses; addresses only used to manage the address space always accept a
    /// tag). arm64: the top byte of an address whose bit 55 is clear (`addr &
    /// sign_extend64(addr, 55)`). sparc64: on a CPU with ADI, the version bits, sign-extending
    /// bit 59 (`__untagged_addr`, adi_capable()). mmap, brk and mremap's new address are
    /// never untagged (since 5.6: a tag there would alias another address).
    fn untag_arg(&self, addr: u64) -> u64 {
        match self.arch {
            Arch::Arm64 => addr & ((((addr << 8) as i64) >> 8) as u64),
            Arch::Sparc64 if self.adi.machine.supported => (((addr << 4) as i64) >> 4) as u64,
            Arch::Sparc64 => addr,
        }
    }

    /// What bounds the task's locked memory: RLIMIT_MEMLOCK, and CAP_IPC_LOCK (root).
    fn lock_limit(&self) -> LockLimit {
        LockLimit { bytes: self.rlimits.0[8].0, capable: self.config.uid == 0 }
    }

    /// `MAP_LOCKED`: asm-generic 0x2000, sparc 0x100.
    fn map_locked_flag(&self) -> u64 {
        if self.arch == Arch::Sparc64 {
            0x100
        } else {
            0x2000
        }
    }

    pub(super) fn sys_mmap(&mut self, addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64) -> KResult<u64> {
        // do_mmap's VM_LOCKED: MAP_LOCKED, or mm->def_flags (mlockall(MCL_FUTURE), which may
        // add VM_LOCKONFAULT).
        let lock = match self.mm.default_lock() {
            VmLock::OnFault => VmLock::OnFault,
            _ if flags & self.map_locked_flag() != 0 => VmLock::Locked,
            def => def,
        };
        let at = self.map_area(addr, len, prot, flags, fd, off, lock)?;
        if lock.is_locked() {
            // The new mapping is locked and, unless VM_LOCKONFAULT, faulted in (mm_populate,
            // errors ignored).
            let len = len.div_ceil(self.mm.page_size()) * self.mm.page_size();
            self.mm.lock_new_mapping(at, len, lock);
        }
        // MAP_POPULATE (0x8000 on both architectures) unless MAP_NONBLOCK (0x10000): the
        // mapping is faulted in as mlock's is (mm_populate), failures ignored (the mapping
        // stands; out of memory, the OOM killer acts).
        const MAP_POPULATE: u64 = 0x8000;
        const MAP_NONBLOCK: u64 = 0x1_0000;
        if flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE {
            let _ = self.mm.mm_populate(at, at.saturating_add(len), true);
        }
        Ok(at)
    }

    /// do_mmap: the mapping itself, without MAP_POPULATE's faulting in or the lock, which
    /// is checked here (`lock`, as the mapping will be locked).
    #[allow(clippy::too_many_arguments)]
    fn map_area(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        fd: u64,
        off: u64,
        lock: VmLock,
    ) -> KResult<u64> {
        let page = self.mm.page_size();
        if !off.is_multiple_of(page) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let p = self.decode_prot(prot)?;
        let shared = match flags & MAP_TYPE {
            MAP_SHARED => true,
            MAP_PRIVATE => false,
            MAP_SHARED_VALIDATE => {
                if flags & !LEGACY_MAP_MASK != 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
                true
            }
            _ => return Err(Errno::EINVAL),
        };
        if flags & MAP_HUGETLB != 0 {
            // No hugetlbfs pool is configured, as on a machine with nr_hugepages = 0.
            return Err(Errno::ENOMEM);
        }
        // MAP_LOCKED needs can_do_mlock (EPERM), and a locked mapping must fit in
        // RLIMIT_MEMLOCK (mlock_future_ok: EAGAIN). Linux checks both after placing the
        // mapping; tagmmu checks before, so a request that is also misplaced reports these.
        let limit = self.lock_limit();
        if flags & self.map_locked_flag() != 0 && !limit.can_lock() {
            return Err(Errno::EPERM);
        }
        if !self.mm.lock_future_ok(lock, len.div_ceil(page).saturating_mul(page), limit) {
            return Err(Errno::EAGAIN);
        }
        let placement = if flags & MAP_FIXED_NOREPLACE != 0 {
            Placement::FixedNoReplace
        } else if flags & MAP_FIXED != 0 {
            Placement::Fixed
        } else {
            Placement::Hint
        };
        // MAP_NORESERVE: asm-generic 0x4000, sparc 0x40.
        let noreserve = flags & if self.arch == Arch::Sparc64 { 0x40 } else { 0x4000 } != 0;
        let req = MapRequest { placement, shared, noreserve };
        if flags & MAP_ANONYMOUS != 0 {
            return self.mm.mmap(addr, len, p, req, VmaKind::Anon);
        }
        // A file mapping.
        let f = self.vfs.file(fd)?.clone();
        match self.vfs.node(fd)? {
            Node::File(_) => {}
            Node::Zero if !shared => return self.mm.mmap(addr, len, p, req, VmaKind::Anon),
            // Only anonymous and RAM-based (tmpfs) memory can be tag-checked
            // (arch_validate_flags: VM_MTE_ALLOWED); a device mapping cannot.
            _ if p.contains(Prot::TAGGED) => return Err(Errno::EINVAL),
            _ => return Err(Errno::ENODEV),
        }
        if !f.flags.read || (shared && p.contains(Prot::WRITE) && !f.flags.write) {
            return Err(Errno::EACCES);
        }
        if shared {
            // The mapping is the file's page cache itself: read(), write() and every shared
            // mapping see the same bytes (and, when tag-checked, the same tags).
            let (host, cap, pa) = self.vfs.file_data_mut(fd)?.page_cache()?;
            let pa = match pa {
                Some(pa) => pa,
                None => {
                    // SAFETY: the page cache buffer belongs to the file's inode, which the VFS
                    // keeps (inodes are never freed) for as long as this kernel exists; it
                    // never moves, and the VFS only touches it between guest instructions.
                    let pa = unsafe { self.mm.phys_mut().adopt(host, cap) }.map_err(|_| Errno::ENOMEM)?;
                    let data = self.vfs.file_data_mut(fd)?;
                    data.set_page_cache_pa(pa);
                    if let Some(eof) = data.eof_handle() {
                        self.mm.phys_mut().set_eof(pa, eof);
                    }
                    pa
                }
            };
            return self.mm.mmap_backed(addr, len, p, req, VmaKind::File(f.path.clone()), Some((pa, off)));
        }
        let contents = self.vfs.file_bytes(fd)?;
        let start = (off as usize).min(contents.len());
        let end = (off as usize).saturating_add(len as usize).min(contents.len());
        let data = contents[start..end].to_vec();
        let size = contents.len() as u64;
        let at = self.mm.mmap(addr, len, p, req, VmaKind::File(f.path.clone()))?;
        self.mm.write_kernel(at, &data).map_err(|_| Errno::EFAULT)?;
        // Pages wholly past the end of the file are SIGBUS, as filemap_fault makes them. The
        // private copy is taken now, so the end is the file's size at mmap time (a file that
        // grows later does not extend an existing private mapping here; in Linux it would).
        if let Some(seg) = self.mm.vmas().find(at).map(|v| v.seg) {
            let eof = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(size.saturating_sub(off)));
            self.mm.phys_mut().set_eof(seg, eof);
        }
        Ok(at)
    }

    pub(super) fn sys_munmap(&mut self, addr: u64, len: u64) -> KResult<u64> {
        let a = self.untag_arg(addr);
        self.mm.munmap(a, len).map(|_| 0)
    }

    pub(super) fn sys_mprotect(&mut self, addr: u64, len: u64, prot: u64) -> KResult<u64> {
        let p = self.decode_prot(prot)?;
        let a = self.untag_arg(addr);
        self.mm.mprotect(a, len, p).map(|_| 0)
    }

    pub(super) fn sys_madvise(&mut self, addr: u64, len: u64, advice: u64) -> KResult<u64> {
        let adv = match advice {
            // NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTFORK, DOFORK, MERGEABLE, UNMERGEABLE,
            // HUGEPAGE, NOHUGEPAGE, DONTDUMP, DODUMP, WIPEONFORK, KEEPONFORK: nothing
            // observable for one process.
            0..=3 | 10..=19 => Advice::Hint,
            20 => Advice::Cold,
            4 | 8 => Advice::DontNeed,
            // MADV_DONTNEED_LOCKED (5.18+): DONTNEED that also drops locked pages.
            24 if self.config.version.at_least(5, 18) => Advice::DontNeedLocked,
            21 => Advice::PageOut,
            22 => Advice::Populate(Access::Read),
            23 => Advice::Populate(Access::Write),
            _ => return Err(Errno::EINVAL),
        };
        let a = self.untag_arg(addr);
        self.mm.madvise(a, len, adv).map(|_| 0)
    }

    /// `msync(2)`: everything is in memory, so only the checks and the walk's errors show.
    pub(super) fn sys_msync(&mut self, addr: u64, len: u64, flags: u64) -> KResult<u64> {
        const MS_ASYNC: u64 = 1;
        const MS_INVALIDATE: u64 = 2;
        const MS_SYNC: u64 = 4;
        let a = self.untag_arg(addr);
        if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC {
            return Err(Errno::EINVAL);
        }
        self.mm.msync(a, len, flags == MS_ASYNC, flags & MS_INVALIDATE != 0).map(|_| 0)
    }

    /// `mincore(2)`: a byte per page of `[addr, addr + len)`, 1 when the page is resident,
    /// copied out a mapping (at most a page of bytes) at a time as mm/mincore.c does, so a
    /// hole found later leaves the earlier bytes written and returns ENOMEM.
    pub(super) fn sys_mincore(&mut self, addr: u64, len: u64, vec: u64) -> KResult<u64> {
        let page = self.mm.page_size();
        let start = self.untag_arg(addr);
        if !start.is_multiple_of(page) {
            return Err(Errno::EINVAL);
        }
        if uaccess::access_ok(&self.mm, self.uaccess, UserAddr(start), len).is_none() {
            return Err(Errno::ENOMEM);
        }
        let mut pages = len / page + u64::from(!len.is_multiple_of(page));
        if uaccess::access_ok(&self.mm, self.uaccess, UserAddr(vec), pages).is_none() {
            return Err(Errno::EFAULT);
        }
        let (mut at, mut out) = (start, vec);
        while pages > 0 {
            let chunk = self.mm.mincore_chunk(at, pages.min(page))?;
            if uaccess::copy_to_user(&mut self.mm, self.uaccess, UserAddr(out), &chunk) != 0 {
                return Err(Errno::EFAULT);
            }
            let n = chunk.len() as u64;
            pages -= n;
            out = out.wrapping_add(n);
            at += n * page;
        }
        Ok(0)
    }

    pub(super) fn sys_mremap(
        &mut self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> KResult<u64> {
        let page = self.mm.page_size();
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 || !old.is_multiple_of(page) {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_DONTUNMAP != 0 {
            return Err(Errno::EINVAL);
        }
        let old = self.untag_arg(old);
        let round = |x: u64| x.checked_add(page - 1).map(|v| v & !(page - 1));
        let (Some(old_len), Some(new_len)) = (round(old_len), round(new_len)) else {
            return Err(Errno::EINVAL);
        };
        if new_len == 0 || old_len == 0 {
            return Err(Errno::EINVAL);
        }
        let vma = self.mm.vmas().find(old).cloned().ok_or(Errno::EFAULT)?;
        if old + old_len > vma.end {
            return Err(Errno::EFAULT);
        }
        if flags & MREMAP_FIXED == 0 && new_len <= old_len {
            if new_len < old_len {
                self.mm.munmap(old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        // A locked mapping's growth must fit in RLIMIT_MEMLOCK (resize_is_valid: EAGAIN).
        let limit = self.lock_limit();
        if new_len > old_len && !self.mm.lock_future_ok(vma.locked, new_len - old_len, limit) {
            return Err(Errno::EAGAIN);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            // Growing in place would need the backing segment to grow; report what Linux
            // reports when the next range is taken.
            return Err(Errno::ENOMEM);
        }
        let placement = if flags & MREMAP_FIXED != 0 { Placement::Fixed } else { Placement::Hint };
        // The moved mapping keeps its accounting (VM_ACCOUNT moves with it).
        let noreserve = self.mm.phys().segment(vma.seg).is_some_and(|s| !s.is_charged());
        let req = MapRequest { placement, shared: vma.shared, noreserve };
        let hint = if flags & MREMAP_FIXED != 0 { new_addr } else { 0 };
        // The pages move with their contents, residency and allocation tags (Linux moves the
        // page tables; a PROT_MTE mapping keeps its tags); only the pages holding contents are
        // copied, so a huge mostly-untouched mapping moves cheaply.
        let at = self.mm.mmap(hint, new_len, vma.prot, req, vma.kind.clone())?;
        self.mm.copy_user_pages(old, at, old_len.min(new_len))?;
        self.mm.munmap(old, old_len)?;
        if vma.locked.is_locked() {
            // The lock moves with the mapping, and a locked mapping's growth is faulted in
            // (mremap's mm_populate of the new tail).
            self.mm.lock_new_mapping(at, new_len, vma.locked);
        }
        Ok(at)
    }

    /// `brk(2)`: under `mlockall(MCL_FUTURE)` the new heap is locked: it must fit in
    /// RLIMIT_MEMLOCK (else the break stays), and is faulted in unless VM_LOCKONFAULT.
    pub(super) fn sys_brk(&mut self, requested: u64) -> u64 {
        let lock = self.mm.default_lock();
        let old = self.mm.brk();
        let page = self.mm.page_size();
        // A break near the top of the address space fails in set_brk; here it must not overflow.
        let up = |a: u64| a.checked_next_multiple_of(page).unwrap_or(!(page - 1));
        if lock.is_locked()
            && requested > old
            && !self.mm.lock_future_ok(lock, up(requested) - up(old), self.lock_limit())
        {
            return old;
        }
        let new = self.mm.set_brk(requested);
        if lock.is_locked() && new == requested && up(new) > up(old) {
            self.mm.lock_new_mapping(up(old), up(new) - up(old), lock);
        }
        new
    }

    /// `mlock(2)` (`flags` 0) and `mlock2(2)`: EINVAL for an unknown flag, EPERM when the task
    /// may lock nothing (RLIMIT_MEMLOCK 0 without CAP_IPC_LOCK), then `mm::mlock`.
    pub(super) fn sys_mlock(&mut self, addr: u64, len: u64, flags: u64) -> KResult<u64> {
        if flags & !MLOCK_ONFAULT != 0 {
            return Err(Errno::EINVAL);
        }
        let limit = self.lock_limit();
        if !limit.can_lock() {
            return Err(Errno::EPERM);
        }
        let lock = if flags & MLOCK_ONFAULT != 0 { VmLock::OnFault } else { VmLock::Locked };
        let a = self.untag_arg(addr);
        self.mm.mlock(a, len, lock, limit).map(|_| 0)
    }

    /// `munlock(2)`.
    pub(super) fn sys_munlock(&mut self, addr: u64, len: u64) -> KResult<u64> {
        let a = self.untag_arg(addr);
        self.mm.munlock(a, len).map(|_| 0)
    }

    /// `mlockall(2)`: MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT (asm-generic 1, 2, 4; sparc
    /// 0x2000, 0x4000, 0x8000). No flag, an unknown one, or MCL_ONFAULT alone is EINVAL;
    /// then EPERM as for mlock.
    pub(super) fn sys_mlockall(&mut self, flags: u64) -> KResult<u64> {
        let (current, future, onfault) = if self.arch == Arch::Sparc64 { (0x2000, 0x4000, 0x8000) } else { (1, 2, 4) };
        if flags == 0 || flags & !(current | future | onfault) != 0 || flags == onfault {
            return Err(Errno::EINVAL);
        }
        let limit = self.lock_limit();
        if !limit.can_lock() {
            return Err(Errno::EPERM);
        }
        let lock = if flags & onfault != 0 { VmLock::OnFault } else { VmLock::Locked };
        let pick = |bit: u64| (flags & bit != 0).then_some(lock);
        self.mm.mlockall(pick(current), pick(future), limit).map(|_| 0)
    }

    pub(super) fn sys_getrandom(&mut self, buf: u64, len: u64, flags: u64) -> KResult<u64> {
        if flags & !7 != 0 || flags & 6 == 6 {
            return Err(Errno::EINVAL);
        }
        // As get_random_bytes_user: a block at a time, stopping at the first block the copy
        // cannot finish, so a huge count costs what the buffer takes, not what was asked (the
        // 32 MiB cap bounds the time of one call; a short count is allowed to a caller).
        let len = len.min(super::fs::MAX_RW_COUNT).min(32 << 20);
        let mut block = [0u8; 4096];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(block.len() as u64) as usize;
            self.random_bytes(&mut block[..n]);
            let left = uaccess::copy_to_user(&mut self.mm, self.uaccess, UserAddr(buf.wrapping_add(done)), &block[..n]);
            done += (n - left) as u64;
            if left > 0 {
                break;
            }
        }
        if done == 0 && len > 0 {
            return Err(Errno::EFAULT);
        }
        Ok(done)
    }
}
