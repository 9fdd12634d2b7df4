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
//! page served from a shadow drops the shadow and goes on; the CPU stops at the next block,
//! where the TLB is flushed ([`before_store`]): the rest of the storing block runs the old
//! words, as SPARC V9 allows (a store to instruction memory need not be seen by fetches
//! before a FLUSH). (The store was refused until the flush, and retried: a store in the
//! shadowed page itself then found a new shadow made again before it, and was refused again
//! for ever.)
//!
//! Which pages: executable pages of a mapping that is not the exec'd image's text (mmap'd,
//! or the image made writable by mprotect). The image's text was patched at exec and
//! tagmmu's own trampoline needs nothing, so an ordinary program pays nothing for this.
//!
//! The last scan of each page is kept with the bytes it was made from: a later fill (after a
//! TLB flush, an eviction, or a store that took the execute permission away) finding the same
//! bytes uses it again, and one finding other bytes classifies only the words that changed.
//! (A full scan at each fill cost the persistent SPARC fuzz harness, whose words store into
//! their own page, a third of its time.) A shadow page is kept for its virtual page while the
//! page's bytes are those of its scan. Finding other bytes (or a store to the page), the
//! translations made from the old shadow are stale, and QEMU never learns it (the stores went
//! to the real page). They are keyed by the shadow's
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

/// Scans kept before they are all forgotten (each holds a page's bytes).
const KEPT_SCANS: usize = 512;

/// The last scan of a page of run-time code.
#[derive(Debug)]
struct Scan {
    /// The page's bytes it was made from.
    made_from: Vec<u8>,
    /// The words it replaced, by address: (address, word).
    patched: Vec<(u64, u32)>,
}

/// Whether a word of run-time code is replaced by the patch trap (see the module's doc).
fn must_patch(w: u32) -> bool {
    crate::adi::must_intercept(w) || super::t4::classify(w).is_some()
}

impl Scan {
    /// Scan `real`, the bytes of the page at `va`, classifying only the words that differ
    /// from `last`'s (a word decides alike wherever it is).
    fn of(real: &[u8], va: u64, last: Option<&Scan>) -> Scan {
        let mut patched = Vec::new();
        let mut last_patched = last.map(|l| l.patched.iter().peekable());
        for (i, word) in real.chunks_exact(4).enumerate() {
            let at = va + 4 * i as u64;
            let w = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            let patch = match (last, last_patched.as_mut()) {
                (Some(l), Some(lp)) if l.made_from[4 * i..4 * i + 4] == *word => {
                    while lp.next_if(|&&(a, _)| a < at).is_some() {}
                    lp.next_if(|&&(a, _)| a == at).is_some()
                }
                _ => must_patch(w),
            };
            if patch {
                patched.push((at, w));
            }
        }
        Scan { made_from: real.to_vec(), patched }
    }

    /// The bytes fetches are served from: the page with the patched words replaced.
    fn served(&self, va: u64) -> Vec<u8> {
        let mut words = self.made_from.clone();
        for &(at, _) in &self.patched {
            let i = (at - va) as usize;
            words[i..i + 4].copy_from_slice(&crate::adi::PATCH_TRAP.to_be_bytes());
        }
        words
    }
}

/// The shadow pool's state, and the last scan of each page.
#[derive(Debug, Default)]
pub(super) struct ShadowPool {
    /// Slots handed out since the last recycle.
    used: u64,
    /// For each virtual page served from a shadow: the slot (its bytes are the page's last
    /// scan's).
    slots: std::collections::HashMap<u64, u64>,
    /// The last scan of each page.
    scans: std::collections::HashMap<u64, Scan>,
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
    let real = &seg.bytes()[off as usize..(off + page) as usize];
    // Entries of this page from an earlier scan whose word is gone; an entry whose word in
    // memory is still the patch trap is an exec-time patch of an image page. (The patches
    // are the running process's; the scans are kept per virtual page for every process.)
    g.patches.retain(|&at, _| {
        at & !(page - 1) != va || {
            let i = (at - va) as usize;
            u32::from_be_bytes([real[i], real[i + 1], real[i + 2], real[i + 3]]) == crate::adi::PATCH_TRAP
        }
    });
    let shadows = &mut g.shadows;
    let last = shadows.scans.get(&va);
    if last.is_none_or(|l| l.made_from != real) {
        let scan = Scan::of(real, va, last);
        if shadows.scans.len() >= KEPT_SCANS {
            shadows.scans.clear();
        }
        shadows.scans.insert(va, scan);
        // The code changed under an earlier shadow: its translations are stale. (The fetch is
        // retried once they are unreachable, and finds this scan.)
        if shadows.slots.remove(&va).is_some() {
            shadows.stale = true;
            return None;
        }
    }
    let scan = shadows.scans.get(&va)?;
    g.patches.extend(scan.patched.iter().copied());
    if scan.patched.is_empty() {
        return Some(direct);
    }
    if let Some(&slot) = shadows.slots.get(&va) {
        return Some(TlbEntry { paddr: slot, perms: UcProt::EXEC });
    }
    if shadows.used == SHADOW_SLOTS {
        shadows.recycle = true;
        return None;
    }
    let slot = SHADOW_PA + shadows.used * page;
    shadows.used += 1;
    shadows.slots.insert(va, slot);
    let words = scan.served(va);
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
/// dropped, the store goes on, and the CPU stops at the next block (see the module's doc),
/// where the run loop makes those translations unreachable.
pub(super) fn before_store(g: &mut Guest, va: u64) {
    let page = g.kernel.mm.page_size();
    if g.shadows.slots.remove(&(va & !(page - 1))).is_some() {
        g.shadows.stale = true;
        g.state.mark_next_block();
    }
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
    shadows.slots.clear();
    uc.ctl_flush_tb().map_err(|err| EmuError::Unicorn { op: "flush translations", err })?;
    uc.ctl_flush_tlb().map_err(|err| EmuError::Unicorn { op: "flush tlb", err })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan made from the last one, classifying only the changed words, equals a full scan.
    #[test]
    fn a_rescan_from_the_last_scan_equals_a_full_scan() {
        let va = 0x7fe_0000_0000;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u32
        };
        // Words that are patched: a CBcond, an ADI version load (ldxa [%o0] 0x90, %g1), a
        // BPr with a reserved rcond (000); and random ones.
        let special = [0x32c2_400au32, 0xc2da_1200, 0x00c0_0000];
        assert!(special.iter().all(|&w| must_patch(w)));
        let mut page: Vec<u8> =
            (0..2048).flat_map(|i| if i % 7 == 0 { special[i % 3] } else { next() }.to_be_bytes()).collect();
        let full = |p: &[u8]| Scan::of(p, va, None);
        let mut last = full(&page);
        assert!(last.patched.len() >= 290, "{} patched", last.patched.len());
        assert!(last.patched.windows(2).all(|w| w[0].0 < w[1].0));
        for round in 0..20 {
            for _ in 0..(round * 13 + 1) {
                let i = (next() % 2048) as usize * 4;
                let w = if next() % 3 == 0 { special[(next() % 3) as usize] } else { next() };
                page[i..i + 4].copy_from_slice(&w.to_be_bytes());
            }
            let rescan = Scan::of(&page, va, Some(&last));
            let whole = full(&page);
            assert_eq!(rescan.patched, whole.patched, "round {round}");
            assert_eq!(rescan.made_from, page);
            last = rescan;
        }
        let served = last.served(va);
        for &(at, w) in &last.patched {
            let i = (at - va) as usize;
            assert_eq!(u32::from_be_bytes(served[i..i + 4].try_into().unwrap()), crate::adi::PATCH_TRAP);
            assert_eq!(u32::from_be_bytes(page[i..i + 4].try_into().unwrap()), w);
        }
    }
}
