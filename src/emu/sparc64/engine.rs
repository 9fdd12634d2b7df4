//! Closing a SPARC64 engine. Unicorn 2.1.5's `sparc_release` (`qemu/target/sparc/unicorn64.c`)
//! frees none of the CPU's soft-TLB tables (`neg.tlb.d[i].iotlb` and `neg.tlb.f[i].table`,
//! one pair per MMU mode, about 20 KB), where the aarch64 release frees them: every closed
//! engine leaked them (found by the `insns_sparc64` fuzz target under LeakSanitizer). An
//! [`Engine`] takes the tables' pointers just before the engine closes and frees them after,
//! when nothing refers to them any more.
//!
//! Closing flushes the TLB, and a flush may resize the tables (`tlb_mmu_resize_locked`:
//! it doubles them when the most entries seen in the current window exceed 70% of the
//! table, shrinks them below 30% once the 100 ms window is over), freeing the pointers taken.
//! So before taking them, each mode's window is set to half its table: neither bound is
//! crossed and the flushes of the close keep the tables (a window that expires is reset,
//! which starts a new 100 ms window, longer than a close).

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use unicorn_engine::Unicorn;

use super::cpu::offsets;
use crate::emu::soft_tlb;

/// A SPARC64 Unicorn engine that frees, when dropped, what closing it leaves behind.
pub(super) struct Engine<'a, D>(ManuallyDrop<Unicorn<'a, D>>);

impl<'a, D> Engine<'a, D> {
    /// Own `uc` (an engine opened for SPARC64).
    pub(super) fn new(uc: Unicorn<'a, D>) -> Engine<'a, D> {
        Engine(ManuallyDrop::new(uc))
    }
}

impl<'a, D> Deref for Engine<'a, D> {
    type Target = Unicorn<'a, D>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<D> DerefMut for Engine<'_, D> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<D> Drop for Engine<'_, D> {
    fn drop(&mut self) {
        let tables = tlb_tables_kept_by_close(self.0.get_handle());
        // SAFETY: the engine is dropped once, here, and never used again.
        unsafe { ManuallyDrop::drop(&mut self.0) };
        for p in tables {
            // SAFETY: each pointer was allocated by Unicorn's g_malloc (malloc in its
            // glib_compat) for the CPU's TLB; closing the engine freed the CPU but not the
            // tables, and nothing else holds them. (The Rust engine closes at this drop: the
            // hooks hold no strong reference; ASan saw no use after this free.)
            unsafe { libc::free(p) };
        }
    }
}

/// The CPU's soft-TLB tables, each mode's resize window set so that the flushes of closing
/// the engine keep them (see the module's doc).
fn tlb_tables_kept_by_close(uc: *mut unicorn_engine_sys::uc_engine) -> Vec<*mut c_void> {
    // SAFETY: `uc` is the live engine of an `Engine`.
    let Some(cpu) = (unsafe { super::cpu::cpu_of(uc) }) else { return Vec::new() };
    for (desc, fast) in tlb_modes(cpu) {
        // SAFETY: the CPU is stopped; the mask is a uintptr_t of the mode's CPUTLBDescFast,
        // the fields written plain size_t counters of its CPUTLBDesc.
        unsafe {
            let entries = soft_tlb::entries(fast, &soft_tlb::SPARC64);
            std::ptr::write_unaligned(desc.add(offsets::TLB_DESC_WINDOW_MAX) as *mut usize, entries / 2);
            std::ptr::write_unaligned(desc.add(offsets::TLB_DESC_N_USED) as *mut usize, 0);
        }
    }
    tlb_tables(cpu)
}

/// Each MMU mode's TLB descriptor and fast-path descriptor of the SPARCCPU `cpu`.
fn tlb_modes(cpu: *mut u8) -> impl Iterator<Item = (*mut u8, *mut u8)> {
    soft_tlb::modes(cpu, &soft_tlb::SPARC64)
}

/// The soft-TLB tables (`iotlb` and `table` of each mode) of the SPARCCPU `cpu`.
fn tlb_tables(cpu: *mut u8) -> Vec<*mut c_void> {
    tlb_modes(cpu)
        .flat_map(|(desc, fast)| {
            // SAFETY: both are pointer fields of a live CPU's descriptors, at probed offsets.
            unsafe {
                [
                    *(desc.add(offsets::TLB_DESC_IOTLB) as *const *mut c_void),
                    *(fast.add(offsets::TLB_FAST_TABLE) as *const *mut c_void),
                ]
            }
        })
        .filter(|p| !p.is_null())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_cpu_has_a_pair_of_tlb_tables_per_mmu_mode_and_closing_frees_them() {
        let uc =
            Unicorn::new(unicorn_engine::Arch::SPARC, unicorn_engine::Mode::SPARC64 | unicorn_engine::Mode::BIG_ENDIAN)
                .unwrap();
        let uc = Engine::new(uc);
        // Unicorn creates the CPU at the first register access.
        uc.reg_read(unicorn_engine::RegisterSPARC::PC).unwrap();
        // SAFETY: the engine is live.
        let cpu = unsafe { crate::emu::sparc64::cpu::cpu_of(uc.get_handle()) }.unwrap();
        let tables = tlb_tables(cpu);
        assert_eq!(tables.len(), 2 * offsets::NB_MMU_MODES, "{tables:?}");
        let mut distinct = tables.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), tables.len(), "every table is its own allocation");
        // Closing frees them (a double free or a bad pointer would abort here; the leak
        // itself is what LeakSanitizer reports in `cargo fuzz run insns_sparc64`).
        drop(uc);
    }
}
