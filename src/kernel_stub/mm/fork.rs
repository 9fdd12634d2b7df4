//! An address space's life across processes: `fork` gives the child a copy of every private
//! mapping (bytes, allocation tags and residency: what copy-on-write would show it) and the
//! very segments of the shared ones (MAP_SHARED memory and its tags are the same memory in
//! both, as Linux shares the pages); a process's exit releases its mappings; a context switch
//! between processes swaps the running one's mappings.

use std::collections::HashMap;

use super::{AddressSpace, ProcessMm, VmLock, Vma, VmaKind, VmaSet};
use crate::addr::PhysAddr;
use crate::kernel_stub::errno::{Errno, KResult};

impl AddressSpace {
    /// Context switch between processes: the running process's mappings become `other`'s.
    /// The TLB must be refilled: the generation changes.
    pub fn swap_process(&mut self, other: &mut ProcessMm) {
        std::mem::swap(&mut self.space, other);
        self.generation += 1;
    }

    /// An address space with no mappings, of the running one's layout.
    pub fn empty_process(&self) -> ProcessMm {
        ProcessMm {
            layout: self.space.layout.clone(),
            vmas: VmaSet::default(),
            heap_seg: None,
            brk_start: 0,
            brk: 0,
            evicted: Default::default(),
            cap_sys_rawio: self.space.cap_sys_rawio,
            def_lock: VmLock::Unlocked,
        }
    }

    /// fork (dup_mmap): the child's mappings. Private memory is copied now (tagmmu copies at
    /// fork what Linux copies on the first write: both processes see the same bytes), charged
    /// as Linux charges accountable memory at fork (`mm::limit`), and resident at once: when
    /// the copies would not fit in the machine's RAM, ENOMEM. Shared memory is shared.
    pub fn fork(&mut self) -> KResult<ProcessMm> {
        let mut copies: HashMap<u64, PhysAddr> = HashMap::new();
        let mut shared: Vec<PhysAddr> = Vec::new();
        let mut vmas = VmaSet::default();
        let result = (|| -> KResult<()> {
            if let Some(heap) = self.space.heap_seg {
                let used = self.space.brk.saturating_sub(self.space.brk_start);
                let used = used.div_ceil(self.space.layout.page_size) * self.space.layout.page_size;
                let seg = self.phys.allocate_uncharged(self.space.layout.heap_max).map_err(|_| Errno::ENOMEM)?;
                copies.insert(heap.0, seg);
                if !self.phys.charge(used) {
                    return Err(Errno::ENOMEM);
                }
            }
            let parent: Vec<Vma> = self.space.vmas.iter().cloned().collect();
            for v in parent {
                let seg = if v.shared {
                    if !shared.contains(&v.seg) {
                        shared.push(v.seg);
                    }
                    v.seg
                } else {
                    let seg = match copies.get(&v.seg.0) {
                        Some(&s) => s,
                        None => {
                            let len = self.phys.segment(v.seg).map(|s| s.len()).ok_or(Errno::EFAULT)?;
                            // Charged as the parent's is (dup_mmap: VM_ACCOUNT).
                            let charged = self.phys.segment(v.seg).is_some_and(|s| s.is_charged());
                            let s = if charged { self.phys.allocate(len) } else { self.phys.allocate_uncharged(len) };
                            let s = s.map_err(|_| Errno::ENOMEM)?;
                            copies.insert(v.seg.0, s);
                            s
                        }
                    };
                    self.copy_range(v.seg, seg, v.seg_off, v.end - v.start)?;
                    seg
                };
                vmas.insert(Vma { seg, locked: VmLock::Unlocked, ..v });
            }
            // The copies are resident at once (Linux would share them copy-on-write and
            // OOM-kill at a later write): past the RAM, the fork fails instead, so the host
            // never holds more than the machine's RAM of guest memory.
            if self.phys.resident() > self.phys.budget() {
                return Err(Errno::ENOMEM);
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (_, s) in copies {
                self.phys.release(s);
            }
            return Err(e);
        }
        for s in shared {
            self.phys.share(s);
        }
        let remap = |pa: u64| copies.get(&pa).map_or(pa, |s| s.0);
        Ok(ProcessMm {
            layout: self.space.layout.clone(),
            vmas,
            heap_seg: self.space.heap_seg.map(|h| PhysAddr(remap(h.0))),
            brk_start: self.space.brk_start,
            brk: self.space.brk,
            evicted: self.space.evicted.iter().map(|&(s, off)| (remap(s), off)).collect(),
            cap_sys_rawio: self.space.cap_sys_rawio,
            // Locks are not inherited (dup_mmap clears VM_LOCKED; mm_init keeps no lock flag
            // of def_flags).
            def_lock: VmLock::Unlocked,
        })
    }

    /// Copy `len` bytes at `off` of segment `from` into `to` at the same offset, with their
    /// allocation tags and page residency. Only the pages that hold contents are visited
    /// (the others read as zero, as the copy's memory does already), and pages of zeros are
    /// not written: a fork costs the host only the pages the parent has filled, however large
    /// its reservations.
    fn copy_range(&mut self, from: PhysAddr, to: PhysAddr, off: u64, len: u64) -> KResult<()> {
        let Some(src) = self.phys.segment(from) else { return Ok(()) };
        let held = src.held_pages(off, len);
        if src.tags().is_some() {
            self.phys.enable_tags(to, self.space.layout.tags.granule).map_err(|_| Errno::ENOMEM)?;
        }
        for (at, _) in held {
            self.phys.copy_page((from, at), (to, at));
        }
        Ok(())
    }

    /// exit_mmap: the running process is gone; release all its memory (a shared segment
    /// only loses this process's share).
    pub fn exit_process(&mut self) {
        let mut segs: Vec<PhysAddr> = self.space.vmas.iter().map(|v| v.seg).collect();
        segs.extend(self.space.heap_seg);
        segs.sort();
        segs.dedup();
        let heap_used = self.space.brk.saturating_sub(self.space.brk_start);
        if self.space.heap_seg.is_some() {
            let page = self.space.layout.page_size;
            self.phys.uncharge(heap_used.div_ceil(page) * page);
        }
        for s in segs {
            self.phys.release(s);
        }
        self.space.vmas = VmaSet::default();
        self.space.heap_seg = None;
        self.space.evicted.clear();
        // execve's new mm keeps no lock flag of def_flags either.
        self.space.def_lock = VmLock::Unlocked;
        self.generation += 1;
    }

    /// The kinds of the running process's mappings (for fork's refusals).
    pub fn kinds(&self) -> impl Iterator<Item = &VmaKind> {
        self.space.vmas.iter().map(|v| &v.kind)
    }
}
