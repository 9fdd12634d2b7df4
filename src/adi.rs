//! SPARC M7 Application Data Integrity (ADI): what is architectural about it.
//!
//! - **Memory versions**: a 4-bit version per 64-byte block of memory mapped with
//!   `PROT_ADI` (the page's TTE.mcd); the pointer carries its version in bits 63:60. Versions
//!   0 and 15 in memory match any pointer (the tag scheme is [`crate::tags::ADI`]).
//! - **Enabling**: the first `mmap`/`mprotect` with `PROT_ADI` sets the task's PSTATE.mcde
//!   (Linux: TSTATE_MCDE, never cleared again); from then on the MMU ignores bits 63:60 for
//!   translation (the kernel untags by sign-extending bit 59). `mprotect` without
//!   `PROT_ADI` turns checking off for the range (VM_SPARC_ADI is in VM_ARCH_CLEAR); the
//!   versions stay in memory.
//! - **Versions are set and read** with `stxa %r, [addr] ASI_MCD_PRIMARY (0x90)` (or the
//!   block-initialising ASI 0x92) and `ldxa [addr] 0x90, %r`, one 64-byte block per access,
//!   in the immediate-ASI form or through %asi. Unicorn ignores these ASIs silently, so
//!   tagmmu replaces each such instruction in the loaded text (and, in a shadow copy that only
//!   instruction fetches see, in code written at run time) by a trap ([`PATCH_TRAP`]) and
//!   emulates it.
//! - **Mismatches**: loads are always precise (SIGSEGV `SEGV_ADIPERR`, si_addr the data
//!   address); stores are disrupting (`SEGV_ADIDERR`, reported later) unless MCDPER is 1.
//!   Setting a version on memory that is not ADI-enabled, or while the task has not enabled
//!   ADI, is the "MCD disabled" trap: `SEGV_ACCADI`.
//!
//! Decisions where the reference is unsure (see also the README):
//! - **MCDPER's user interface**: there is no prctl; Linux saves and restores MCDPER (ASR 14)
//!   per thread (`arch_start_context_switch`/`finish_arch_post_lock_switch`) and fork
//!   copies it, so user code writes it directly (`wr %g0, 1, %asr14`). tagmmu emulates
//!   `rd`/`wr %asr14`. Its default for a new task is 0 (disrupting stores): nothing in exec
//!   sets it and the hardware resets it to 0.
//! - **si_addr of a disrupting error**: `Documentation/arch/sparc/adi.rst` says "PC where
//!   first mismatch occurred", but `do_mcd_err()` reports the error report's `err_raddr`, a
//!   *real* (physical) address. tagmmu follows the code: si_addr is the real address of the
//!   mismatching store in tagmmu's physical memory (meaningless to the program, as on the
//!   machine); the report also names the virtual address and the store's PC.
//! - **Tagging memory without PROT_ADI**: the model (and the MMU's TTE.mcd check):
//!   `SEGV_ACCADI`, as for a task that never enabled ADI.
//! - **`ASI_MCD_ST_BLKINIT_PRIMARY` (0x92)** sets the block's version and, being a
//!   block-initialising store, zeroes the block's 64 bytes.

use crate::tags::ADI;

/// `PROT_ADI` (arch/sparc/include/uapi/asm/mman.h).
pub const PROT_ADI: u64 = 0x10;
/// `ASI_MCD_PRIMARY`: set or read a version.
pub const ASI_MCD_PRIMARY: u8 = 0x90;
/// `ASI_MCD_ST_BLKINIT_PRIMARY`: set a version with a block-initialising store.
pub const ASI_MCD_ST_BLKINIT_PRIMARY: u8 = 0x92;
/// `AT_ADI_BLKSZ` on M7.
pub const ADI_BLKSZ: u64 = 64;
/// `AT_ADI_NBITS` on M7.
pub const ADI_NBITS: u64 = 4;
/// `AT_ADI_UEONADI`: the version the hardware gives memory with an uncorrectable error. The
/// M7 value comes from firmware and is not documented; tagmmu reports 0 (none).
pub const ADI_UEONADI: u64 = 0;
/// `HWCAP_SPARC_ADI` ("adp").
pub const HWCAP_SPARC_ADI: u64 = 0x0800_0000;
/// `ta 0x70`: what tagmmu puts in place of an instruction it must emulate.
pub const PATCH_TRAP: u32 = 0x91d0_2070;
/// The software trap number of [`PATCH_TRAP`].
pub const PATCH_TRAP_NUMBER: u32 = 0x70;

/// The ADI a SPARC machine offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdiMachine {
    /// The CPU has ADI (SPARC M7 and later).
    pub supported: bool,
}

impl Default for AdiMachine {
    fn default() -> Self {
        AdiMachine { supported: true }
    }
}

/// A disrupting (deferred) store mismatch waiting to be reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeferredError {
    /// The store's virtual address (with its version).
    pub vaddr: u64,
    /// Its real address (what Linux reports in si_addr).
    pub real_addr: u64,
    /// The store's PC.
    pub pc: u64,
    /// The pointer's version and the block's.
    pub versions: (u8, u8),
}

/// A task's ADI state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdiState {
    /// What the machine offers.
    pub machine: AdiMachine,
    /// PSTATE.mcde: the task enabled ADI (first PROT_ADI).
    pub mcde: bool,
    /// MCDPER: store mismatches are precise.
    pub precise_stores: bool,
    /// A disrupting error not yet delivered.
    pub deferred: Option<DeferredError>,
}

impl AdiState {
    /// Are ADI versions checked for this task at all?
    pub fn checking(&self) -> bool {
        self.machine.supported && self.mcde
    }
}

/// A decoded LDXA or STXA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsiAccess {
    /// STXA (else LDXA).
    pub store: bool,
    /// Data register.
    pub rd: u32,
    /// Base register.
    pub rs1: u32,
    /// Index register (when `imm` is `None`).
    pub rs2: u32,
    /// Immediate offset; its presence means the ASI comes from %asi.
    pub imm: Option<i64>,
    /// The instruction's ASI (immediate form).
    pub imm_asi: u8,
}

/// Decode LDXA (op3 0x1b) and STXA (op3 0x1e).
pub fn decode_xa(w: u32) -> Option<AsiAccess> {
    if w >> 30 != 3 {
        return None;
    }
    let store = match (w >> 19) & 0x3f {
        0x1b => false,
        0x1e => true,
        _ => return None,
    };
    let i = w & (1 << 13) != 0;
    Some(AsiAccess {
        store,
        rd: (w >> 25) & 31,
        rs1: (w >> 14) & 31,
        rs2: w & 31,
        imm: i.then_some((((w & 0x1fff) << 19) as i32 >> 19) as i64),
        imm_asi: ((w >> 5) & 0xff) as u8,
    })
}

/// Must tagmmu intercept `w`? The version accesses (ASI 0x90, 0x92) in the immediate form, and
/// every LDXA/STXA through %asi (whose ASI is known only when it runs).
pub fn must_intercept(w: u32) -> bool {
    decode_xa(w).is_some_and(|a| a.imm.is_some() || matches!(a.imm_asi, ASI_MCD_PRIMARY | ASI_MCD_ST_BLKINIT_PRIMARY))
}

/// Replace every instruction to intercept in the big-endian text `code` at `base` by
/// [`PATCH_TRAP`]; returns the (address, original instruction) pairs.
pub fn patch_text(code: &mut [u8], base: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    for (i, word) in code.chunks_exact_mut(4).enumerate() {
        let w = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        if must_intercept(w) {
            out.push((base + 4 * i as u64, w));
            word.copy_from_slice(&PATCH_TRAP.to_be_bytes());
        }
    }
    out
}

/// The version a pointer carries (bits 63:60).
pub fn pointer_version(ptr: u64) -> u8 {
    ADI.pointer_tag(ptr)
}

/// `ptr` with version `v`, as the doc's example forms it: the top `nbits` replaced.
pub fn with_version(ptr: u64, v: u8) -> u64 {
    ADI.with_tag(ptr, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stxa_imm(rd: u32, rs1: u32, asi: u8) -> u32 {
        (3 << 30) | (rd << 25) | (0x1e << 19) | (rs1 << 14) | ((asi as u32) << 5)
    }

    #[test]
    fn decodes_every_form() {
        // stxa %o1, [%o0] 0x90
        let w = stxa_imm(9, 8, 0x90);
        let a = decode_xa(w).unwrap();
        assert_eq!((a.store, a.rd, a.rs1, a.imm, a.imm_asi), (true, 9, 8, None, 0x90));
        // ldxa [%o0 + 16] %asi, %o2
        let w = (3 << 30) | (10 << 25) | (0x1b << 19) | (8 << 14) | (1 << 13) | 16;
        let a = decode_xa(w).unwrap();
        assert_eq!((a.store, a.rd, a.imm), (false, 10, Some(16)));
        assert!(must_intercept(w), "%asi forms are intercepted");
        assert!(must_intercept(stxa_imm(1, 2, 0x92)));
        assert!(!must_intercept(stxa_imm(1, 2, 0x80)), "ordinary immediate ASIs run natively");
        assert!(!must_intercept(0xd6da_5040), "ldxa ASI_PNF runs natively");
        assert_eq!(decode_xa(0x0100_0000), None);
    }

    #[test]
    fn patching_replaces_only_what_must_be_emulated() {
        let words = [0x0100_0000u32, stxa_imm(9, 8, 0x90), 0xd6da_5040, stxa_imm(1, 2, 0x92)];
        let mut code: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        let patched = patch_text(&mut code, 0x1000);
        assert_eq!(patched, vec![(0x1004, words[1]), (0x100c, words[3])]);
        assert_eq!(&code[4..8], &PATCH_TRAP.to_be_bytes());
        assert_eq!(&code[8..12], &words[2].to_be_bytes());
    }

    #[test]
    fn versions_in_pointers() {
        assert_eq!(pointer_version(0xa000_0000_0010_0000), 0xa);
        assert_eq!(with_version(0x0000_0000_0010_0000, 10), 0xa000_0000_0010_0000);
        assert!(AdiState { mcde: true, ..Default::default() }.checking());
        assert!(!AdiState { mcde: true, machine: AdiMachine { supported: false }, ..Default::default() }.checking());
    }
}
