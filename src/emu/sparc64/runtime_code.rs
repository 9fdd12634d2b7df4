//! Code the program writes at run time (a JIT, the instruction-stream fuzz harness), given the
//! treatment the loaded image's text gets at exec ([`super::patch_image`]): the words Unicorn
//! would run silently wrong or that crash its code generator (ADI version accesses, CBcond,
//! BPr/MOVr/FMOVr with a reserved `rcond`, ..., see [`super::t4`] and
//! [`crate::adi::patch_text`]) are replaced by the patch trap and handled when they run.
//!
//! The guest's memory is never changed: a page of run-time code is scanned when the CPU
//! fetches from it (at the TLB fill), and when it holds such words, fetches are served from a
//! *shadow* copy with the words replaced (a TLB entry with execute permission only, so loads
//! and stores still reach the real page). So that a word written after the scan is scanned
//! too, such pages are never writable and executable in the TLB at once: a store refills the
//! entry without execute permission, the next fetch refills it and scans again. A store to a
//! page served from a shadow first drops every translation ([`before_store`]).
//!
//! Which pages: executable pages of a mapping that is not the exec'd image's text (mmap'd,
//! or the image made writable by mprotect). The image's text was patched at exec and
//! tagmmu's own trampoline needs nothing, so an ordinary program pays nothing for this.
//!
//! A shadow page is kept for its virtual page with the bytes it was made from: a later fill
//! (after a TLB flush or an eviction) finding the same bytes uses it again. Finding other
//! bytes (or a store to the page), the translations made from the old shadow are stale, and
//! QEMU never learns it (the stores went to the real page). They are keyed by the shadow's
//! physical address, which the page never maps to again until the pool starts over, so only
//! QEMU's jump cache, which finds translations by virtual PC alone, could still reach them:
//! the run loop flushes the TLB (which empties the jump cache) and the fetch is retried,
//! from a new slot. When the pool of [`SHADOW_SLOTS`] pages runs out, the run loop drops
//! every translation and TLB entry and the pool starts over. (Dropping every translation at
//! each change made the persistent SPARC fuzz harness, which rewrites its words for every
//! input, retranslate all of its code each time: a third of its profile.)

use unicorn_engine::{Prot as UcProt, TlbEntry, Unicorn};

use super::Guest;
use crate::addr::PhysAddr;
use crate::emu::EmuError;
use crate::kernel_stub::mm::{Prot, VmaKind};

/// Physical address of the shadow pool: above guest memory (below 2^36) and its ADI aliases
/// (below 17 << 36), below [`super::FAULT_WINDOW_PA`], inside QEMU's 41-bit physical space.
pub(super) const SHADOW_PA: u64 = 0x1e0_0000_0000;
/// Shadow pages before the pool is recycled.
pub(super) const SHADOW_SLOTS: u64 = 512;

/// The shadow pool's state.
#[derive(Debug, Default)]
pub(super) struct ShadowPool {
    /// Slots handed out since the last recycle.
    used: u64,
    /// For each virtual page served from a shadow since the last recycle: the slot, and the
    /// page's bytes the shadow was made from.
    pages: std::collections::HashMap<u64, (u64, Vec<u8>)>,
    /// The pool ran out: drop every translation before the CPU runs again.
    pub(super) recycle: bool,
    /// A page's shadow was dropped: the translations made from it must become unreachable
    /// (a TLB flush, which empties the jump cache) before the CPU runs again.
    pub(super) stale: bool,
}

/// Whether fetches from `va` (a page of a mapping with protection `prot`) are run-time code.
pub(super) fn is_runtime_code(g: &Guest, va: u64, prot: Prot) -> bool {
    if !prot.contains(Prot::EXEC) {
        return false;
    }
    match g.kernel.mm.vmas().find(va).map(|v| &v.kind) {
        Some(VmaKind::Vdso) => false,
        Some(VmaKind::Image) => prot.contains(Prot::WRITE),
        _ => true,
    }
}

/// The TLB entry for a fetch from the run-time code page `va` (physical page `pa`, the
/// mapping's permissions `perms`): the page itself (never writable: a store refills the entry
/// without execute permission), or a shadow copy with the patched words; `None` when the pool
/// must be recycled first (the fetch is then retried; see the module's doc).
pub(super) fn fetch_entry(uc: &mut Unicorn<Guest>, va: u64, pa: u64, perms: UcProt) -> Option<TlbEntry> {
    let g = uc.get_data_mut();
    let page = g.kernel.mm.page_size();
    let (va, pa) = (va & !(page - 1), pa & !(page - 1));
    let direct = TlbEntry { paddr: pa, perms: UcProt(perms.0 & !UcProt::WRITE.0) };
    let Some((seg, off)) = g.kernel.mm.phys().containing(PhysAddr(pa)) else {
        return Some(direct);
    };
    let real = seg.bytes()[off as usize..(off + page) as usize].to_vec();
    let mut words = real.clone();
    let mut patched = crate::adi::patch_text(&mut words, va);
    patched.extend(super::t4::patch_text(&mut words, va));
    // Entries of this page from an earlier scan whose word is gone; an entry whose word in
    // memory is still the patch trap is an exec-time patch of an image page.
    g.patches.retain(|&at, _| {
        at & !(page - 1) != va || {
            let i = (at - va) as usize;
            u32::from_be_bytes([real[i], real[i + 1], real[i + 2], real[i + 3]]) == crate::adi::PATCH_TRAP
        }
    });
    match g.shadows.pages.get(&va) {
        Some((slot, made_from)) if *made_from == real => {
            let slot = *slot;
            g.patches.extend(patched);
            return Some(TlbEntry { paddr: slot, perms: UcProt::EXEC });
        }
        // The code changed under an earlier shadow: its translations are stale.
        Some(_) => {
            g.shadows.pages.remove(&va);
            g.shadows.stale = true;
            return None;
        }
        None if patched.is_empty() => return Some(direct),
        None => {}
    }
    if g.shadows.used == SHADOW_SLOTS {
        g.shadows.recycle = true;
        return None;
    }
    let slot = SHADOW_PA + g.shadows.used * page;
    g.shadows.used += 1;
    g.shadows.pages.insert(va, (slot, real));
    g.patches.extend(patched);
    if uc.mem_write(slot, &words).is_err() {
        uc.get_data_mut().state.error = Some(EmuError::Internal("cannot write a shadow code page".into()));
        return None;
    }
    // Execute only: loads and stores refill the entry and reach the real page.
    Some(TlbEntry { paddr: slot, perms: UcProt::EXEC })
}

/// A store is about to reach the run-time code page `va`. When fetches from it are served from
/// a shadow, the translations made from that shadow would outlive the change (QEMU drops the
/// translations of the page stored to, and finds translations by virtual PC): the shadow is
/// dropped, and the store is refused for now (`None`) and retried once the run loop has made
/// those translations unreachable.
pub(super) fn before_store(g: &mut Guest, va: u64) -> Option<()> {
    let page = g.kernel.mm.page_size();
    if g.shadows.pages.remove(&(va & !(page - 1))).is_some() {
        g.shadows.stale = true;
        return None;
    }
    Some(())
}

/// Map the shadow pool (at the start of a run).
pub(super) fn map_pool(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let page = uc.get_data().kernel.mm.page_size();
    uc.mem_map(SHADOW_PA, SHADOW_SLOTS * page, UcProt::ALL)
        .map_err(|err| EmuError::Unicorn { op: "map the shadow code pool", err })
}

/// Before the CPU runs again: when the pool ran out, drop every translation and every TLB
/// entry, and start the pool over; when a shadow was dropped, flush the TLB and with it the
/// jump cache.
pub(super) fn recycle_if_needed(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let stale = std::mem::take(&mut uc.get_data_mut().shadows.stale);
    if !std::mem::take(&mut uc.get_data_mut().shadows.recycle) {
        if stale {
            uc.ctl_flush_tlb().map_err(|err| EmuError::Unicorn { op: "flush tlb", err })?;
        }
        return Ok(());
    }
    let shadows = &mut uc.get_data_mut().shadows;
    shadows.used = 0;
    shadows.pages.clear();
    uc.ctl_flush_tb().map_err(|err| EmuError::Unicorn { op: "flush translations", err })?;
    uc.ctl_flush_tlb().map_err(|err| EmuError::Unicorn { op: "flush tlb", err })?;
    Ok(())
}
