//! System V shared memory (ipc/shm.c): `shmget`, `shmat`, `shmdt`, `shmctl`.
//!
//! A segment is physical memory kept by the segment table (pinned, so detaching the last
//! mapping does not free it) and mapped shared wherever it is attached; tag storage (MTE or
//! ADI) on it is shared by every attachment, as on a real machine. IPC_RMID frees it at once
//! when nothing is attached, else when the last attachment goes (the key becomes private at
//! once). sparc64's glibc reaches these through the `ipc` multiplexer ([`Kernel::sys_ipc`]);
//! arm64 has the direct syscalls.

use std::collections::BTreeMap;

use crate::addr::{PhysAddr, UserAddr};
use crate::arch::{Arch, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::mm::{MapRequest, Placement, Prot, VmaKind};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// `IPC_PRIVATE`.
pub const IPC_PRIVATE: i32 = 0;
/// `IPC_CREAT`.
pub const IPC_CREAT: u32 = 0o1000;
/// `IPC_EXCL`.
pub const IPC_EXCL: u32 = 0o2000;
/// `IPC_RMID`.
pub const IPC_RMID: u32 = 0;
/// `IPC_STAT`.
pub const IPC_STAT: u32 = 2;
/// `SHM_RDONLY`.
pub const SHM_RDONLY: u32 = 0o10000;
/// `SHM_RND`.
pub const SHM_RND: u32 = 0o20000;
/// `SHM_REMAP`.
pub const SHM_REMAP: u32 = 0o40000;
/// `SHM_EXEC`.
pub const SHM_EXEC: u32 = 0o100000;
/// `SHMMAX`: the default `kernel.shmmax` (ULONG_MAX - 2^24).
pub const SHMMAX: u64 = u64::MAX - (1 << 24);

/// One segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShmSegment {
    /// Its key (IPC_PRIVATE once removed).
    pub key: i32,
    /// Requested size.
    pub size: u64,
    /// Its memory.
    pub pa: PhysAddr,
    /// Permission bits.
    pub mode: u32,
    /// Attachments.
    pub nattch: u64,
    /// IPC_RMID was done while attached.
    pub removed: bool,
}

/// The segments and where they are attached.
#[derive(Clone, Debug, Default)]
pub struct ShmTable {
    segments: BTreeMap<u32, ShmSegment>,
    next_id: u32,
    /// Attach address → (segment id, mapped length).
    attaches: BTreeMap<u64, (u32, u64)>,
}

/// One process's attachments: attach address → (segment id, mapped length).
pub type Attaches = BTreeMap<u64, (u32, u64)>;

impl ShmTable {
    /// fork: the child's attachments, a copy of the running process's (each segment counts
    /// one more attach, as shm_open does for the child's copy of the mapping).
    pub(crate) fn fork_attaches(&mut self) -> Attaches {
        for (id, _) in self.attaches.values() {
            if let Some(s) = self.segments.get_mut(id) {
                s.nattch += 1;
            }
        }
        self.attaches.clone()
    }

    /// Context switch between processes: the running process's attachments become `other`.
    pub(crate) fn swap_attaches(&mut self, other: &mut Attaches) {
        std::mem::swap(&mut self.attaches, other);
    }

    /// The segment `id`.
    pub fn get(&self, id: u32) -> Option<&ShmSegment> {
        self.segments.get(&id)
    }
}

/// `SHMLBA`: the attach alignment (sparc64: 16 KiB, arm64: the page).
fn shmlba(arch: Arch) -> u64 {
    match arch {
        Arch::Arm64 => 4096,
        Arch::Sparc64 => 16384,
    }
}

impl Kernel {
    /// `shmget(key, size, shmflg)`.
    pub fn shmget(&mut self, key: i32, size: u64, flags: u32) -> KResult<u64> {
        if key != IPC_PRIVATE {
            if let Some((&id, seg)) = self.shm.segments.iter().find(|(_, s)| s.key == key) {
                if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                if size > seg.size {
                    return Err(Errno::EINVAL);
                }
                return Ok(id as u64);
            }
            if flags & IPC_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
        }
        if size == 0 || size > SHMMAX {
            return Err(Errno::EINVAL);
        }
        let page = self.mm.page_size();
        let len = size.checked_add(page - 1).ok_or(Errno::EINVAL)? & !(page - 1);
        // newseg: accountable unless SHM_NORESERVE (0o10000), which strict overcommit ignores.
        let noreserve =
            flags & 0o10000 != 0 && self.mm.phys().overcommit() != crate::kernel_stub::mm::limit::Overcommit::Never;
        let phys = self.mm.phys_mut();
        let pa = if noreserve { phys.allocate_uncharged(len) } else { phys.allocate(len) };
        let pa = pa.map_err(|_| Errno::ENOMEM)?;
        self.mm.phys_mut().set_pinned(pa, true);
        let id = self.shm.next_id;
        self.shm.next_id += 1;
        self.shm.segments.insert(id, ShmSegment { key, size, pa, mode: flags & 0o777, nattch: 0, removed: false });
        Ok(id as u64)
    }

    /// `shmat(shmid, shmaddr, shmflg)`: the attach address.
    pub fn shmat(&mut self, id: u64, addr: u64, flags: u32) -> KResult<u64> {
        let seg = self.shm.segments.get(&(id as u32)).filter(|_| id <= u32::MAX as u64).ok_or(Errno::EINVAL)?;
        let (pa, size) = (seg.pa, seg.size);
        let page = self.mm.page_size();
        let len = (size + page - 1) & !(page - 1);
        let lba = shmlba(self.arch);
        let mut prot = if flags & SHM_RDONLY != 0 { Prot::READ } else { Prot::RW };
        if flags & SHM_EXEC != 0 {
            prot = prot | Prot::EXEC;
        }
        let kind = VmaKind::File(format!("/SYSV{:08x}", seg.key as u32));
        let at = if addr != 0 {
            let a = if flags & SHM_RND != 0 { addr & !(lba - 1) } else { addr };
            if a & (lba - 1) != 0 {
                return Err(Errno::EINVAL);
            }
            let end = a.checked_add(len).ok_or(Errno::EINVAL)?;
            if flags & SHM_REMAP == 0 && self.mm.vmas().overlaps(a, end) {
                return Err(Errno::EINVAL);
            }
            let req = MapRequest { placement: Placement::Fixed, shared: true, noreserve: false };
            self.mm.mmap_backed(a, len, prot, req, kind, Some((pa, 0)))?
        } else {
            // Find room aligned to SHMLBA: reserve a little more, then map inside it.
            let req = MapRequest::PRIVATE;
            let room = self.mm.mmap(0, len + lba - page, Prot::NONE, req, VmaKind::Anon)?;
            self.mm.munmap(room, len + lba - page)?;
            let a = (room + lba - 1) & !(lba - 1);
            let req = MapRequest { placement: Placement::Fixed, shared: true, noreserve: false };
            self.mm.mmap_backed(a, len, prot, req, kind, Some((pa, 0)))?
        };
        self.shm.attaches.insert(at, (id as u32, len));
        if let Some(s) = self.shm.segments.get_mut(&(id as u32)) {
            s.nattch += 1;
        }
        Ok(at)
    }

    /// exec and exit (exit_shm, and exec's release of the old address space): the running
    /// process's attachments go; a segment marked for removal goes with its last one. The
    /// segments themselves stay until IPC_RMID, as in Linux (their memory is the machine's).
    pub fn shm_detach_all(&mut self) {
        let attaches = std::mem::take(&mut self.shm.attaches);
        for (id, _) in attaches.into_values() {
            if let Some(s) = self.shm.segments.get_mut(&id) {
                s.nattch -= 1;
                if s.removed && s.nattch == 0 {
                    self.destroy_shm(id);
                }
            }
        }
    }

    /// `shmdt(shmaddr)`.
    pub fn shmdt(&mut self, addr: u64) -> KResult<u64> {
        let a = self.mm.untag(addr).unwrap_or(addr);
        let (id, len) = self.shm.attaches.remove(&a).ok_or(Errno::EINVAL)?;
        self.mm.munmap(a, len)?;
        if let Some(s) = self.shm.segments.get_mut(&id) {
            s.nattch -= 1;
            if s.removed && s.nattch == 0 {
                self.destroy_shm(id);
            }
        }
        Ok(0)
    }

    fn destroy_shm(&mut self, id: u32) {
        if let Some(s) = self.shm.segments.remove(&id) {
            self.mm.phys_mut().set_pinned(s.pa, false);
            if !self.mm.vmas().uses_segment(s.pa) {
                self.mm.phys_mut().release(s.pa);
            }
        }
    }

    /// `shmctl(shmid, cmd, buf)`: IPC_RMID and IPC_STAT.
    pub fn shmctl(&mut self, id: u64, cmd: u32, buf: u64) -> KResult<u64> {
        let id32 = u32::try_from(id).map_err(|_| Errno::EINVAL)?;
        let seg = self.shm.segments.get(&id32).cloned().ok_or(Errno::EINVAL)?;
        // The IPC_64 flag (0x100) selects the 64-bit layout, the only one here.
        match cmd & !0x100 {
            IPC_RMID => {
                if seg.nattch == 0 {
                    self.destroy_shm(id32);
                } else if let Some(s) = self.shm.segments.get_mut(&id32) {
                    s.removed = true;
                    s.key = IPC_PRIVATE;
                }
                Ok(0)
            }
            IPC_STAT => {
                let bytes = self.encode_shmid_ds(&seg);
                uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(buf), &bytes)?;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `struct shmid64_ds` (112 bytes on both): `ipc64_perm` (key, uid, gid, cuid, cgid,
    /// mode, seq, two unused words), then the times, size, pids and attach count, in the
    /// architecture's order (sparc64 puts the times before the size).
    fn encode_shmid_ds(&self, seg: &ShmSegment) -> Vec<u8> {
        let (uid, gid, pid) = (self.config.uid, self.config.gid, self.config.pid);
        let mode = seg.mode | if seg.removed { 0o1000 } else { 0 };
        let mut w = StructWriter::new(self.arch);
        w.u32(seg.key as u32).u32(uid).u32(gid).u32(uid).u32(gid).u32(mode);
        w.u16(0).u16(0).pad(4).u64(0).u64(0);
        match self.arch {
            Arch::Arm64 => {
                w.u64(seg.size).u64(0).u64(0).u64(0);
            }
            Arch::Sparc64 => {
                w.u64(0).u64(0).u64(0).u64(seg.size);
            }
        }
        w.u32(pid).u32(pid).u64(seg.nattch).u64(0).u64(0);
        w.finish()
    }

    /// sparc64's `ipc(call, first, second, third, ptr, fifth)` for the shared-memory calls
    /// (SHMAT 21 stores the address at `third` and returns 0; SHMDT 22, SHMGET 23, SHMCTL 24).
    /// The semaphore and message-queue calls are not modelled: ENOSYS.
    pub fn sys_ipc(&mut self, call: u64, first: u64, second: u64, third: u64, ptr: u64) -> KResult<u64> {
        match call & 0xffff {
            21 => {
                let at = self.shmat(first as u32 as u64, ptr, second as u32)?;
                let mut w = StructWriter::new(self.arch);
                w.u64(at);
                uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(third), &w.finish())?;
                Ok(0)
            }
            22 => self.shmdt(ptr),
            23 => self.shmget(first as i32, second, third as u32),
            24 => self.shmctl(first as u32 as u64, second as u32, ptr),
            _ => Err(Errno::ENOSYS),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::Arch;
    use crate::kernel_stub::errno::Errno;
    use crate::kernel_stub::shm::*;
    use crate::kernel_stub::{Kernel, KernelConfig};

    #[test]
    fn segments_are_shared_kept_while_attached_and_freed_after() {
        let mut k = Kernel::new(Arch::Sparc64, KernelConfig::default());
        let id = k.shmget(IPC_PRIVATE, 100_000, IPC_CREAT | 0o600).unwrap();
        let a = k.shmat(id, 0, 0).unwrap();
        let b = k.shmat(id, 0, 0).unwrap();
        assert_ne!(a, b);
        assert_eq!((a % 16384, b % 16384), (0, 0), "SHMLBA-aligned on sparc64");
        k.mm.write_kernel(a + 5000, b"shared").unwrap();
        let mut buf = [0u8; 6];
        k.mm.read_kernel(b + 5000, &mut buf).unwrap();
        assert_eq!(&buf, b"shared");
        assert_eq!(k.shm.get(id as u32).unwrap().nattch, 2);
        k.shmdt(a).unwrap();
        assert_eq!(k.shmdt(a), Err(Errno::EINVAL), "not attached any more");
        k.shmctl(id, IPC_RMID, 0).unwrap();
        assert!(k.shm.get(id as u32).is_some(), "still attached once");
        k.mm.read_kernel(b + 5000, &mut buf).unwrap();
        assert_eq!(&buf, b"shared");
        k.shmdt(b).unwrap();
        assert!(k.shm.get(id as u32).is_none(), "freed with the last detach");
        assert_eq!(k.shmat(id, 0, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn keys_flags_and_stat() {
        let mut k = Kernel::new(Arch::Sparc64, KernelConfig::default());
        assert_eq!(k.shmget(7, 8192, 0), Err(Errno::ENOENT));
        let id = k.shmget(7, 8192, IPC_CREAT | 0o640).unwrap();
        assert_eq!(k.shmget(7, 100, 0), Ok(id));
        assert_eq!(k.shmget(7, 100, IPC_CREAT | IPC_EXCL), Err(Errno::EEXIST));
        assert_eq!(k.shmget(7, 1 << 20, 0), Err(Errno::EINVAL), "bigger than the segment");
        assert_eq!(k.shmget(IPC_PRIVATE, 0, IPC_CREAT), Err(Errno::EINVAL));
        let a = k.shmat(id, 0, SHM_RDONLY).unwrap();
        assert_eq!(k.mm.prot_at(a), Some(crate::kernel_stub::mm::Prot::READ));
        assert_eq!(k.shmat(id, a + 8192, 0), Err(Errno::EINVAL), "not SHMLBA-aligned");
        // IPC_STAT through the sparc ipc multiplexer into user memory.
        // Into the read-only attachment: the copy fails with EFAULT.
        assert_eq!(k.sys_ipc(24, id, IPC_STAT as u64, 0, a), Err(Errno::EFAULT));
        let req = crate::kernel_stub::mm::MapRequest::PRIVATE;
        let m =
            k.mm.mmap(0, 8192, crate::kernel_stub::mm::Prot::RW, req, crate::kernel_stub::mm::VmaKind::Anon).unwrap();
        assert_eq!(k.sys_ipc(24, id, IPC_STAT as u64 | 0x100, 0, m), Ok(0));
        let mut b = [0u8; 112];
        k.mm.read_kernel(m, &mut b).unwrap();
        assert_eq!(u32::from_be_bytes(b[0..4].try_into().unwrap()), 7, "key");
        assert_eq!(u32::from_be_bytes(b[20..24].try_into().unwrap()), 0o640, "mode");
        assert_eq!(u64::from_be_bytes(b[72..80].try_into().unwrap()), 8192, "shm_segsz");
        assert_eq!(u64::from_be_bytes(b[88..96].try_into().unwrap()), 1, "shm_nattch");
        // SHMAT stores the address through the pointer and returns 0.
        assert_eq!(k.sys_ipc(21, id, 0, m + 200, 0), Ok(0));
        let mut p = [0u8; 8];
        k.mm.read_kernel(m + 200, &mut p).unwrap();
        assert_ne!(u64::from_be_bytes(p), 0);
        assert_eq!(k.sys_ipc(1, 0, 0, 0, 0), Err(Errno::ENOSYS), "semaphores are not modelled");
    }
}
