//! ADI on the Unicorn SPARC64 CPU: version checks on user accesses, and the emulated
//! version instructions (see [`crate::adi`] for the architecture and the decisions).
//!
//! **Checks.** A TLB fill for a page of an ADI mapping (task's PSTATE.mcde set) compares the
//! pointer's version with every block of the page. When all match (the usual case: memory
//! versioned like the pointer, or 0/15), the page is entered normally and costs nothing more.
//! Otherwise it is entered at the *alias* of the pointer's version (the same host memory
//! mapped again above guest memory, once per version), where a memory hook checks each
//! access against the block's version. Unicorn restores the precise PC and NPC before it calls
//! a memory hook, so the hook knows the accessing instruction, even in a delay slot. A
//! mismatching load (or store with MCDPER = 1) is abandoned before it writes anything (the
//! hook leaves QEMU's access helper, see `crate::emu::access_hook`) and becomes a precise SIGSEGV/SEGV_ADIPERR at that instruction; a mismatching store otherwise
//! completes and is reported at the next translation-block boundary or kernel entry
//! (disrupting, SEGV_ADIDERR). (Flushing the TLB from inside a store hook is not possible:
//! Unicorn reads the TLB entry again after the hook.)
//!
//! **Instructions.** `stxa`/`ldxa` with ASI 0x90/0x92, and every `ldxa`/`stxa` through %asi,
//! were replaced in the loaded text (in run-time code: in its shadow page, `runtime_code`) by
//! `ta 0x70` ([`crate::adi::patch_text`]); the trap emulates the original instruction from the
//! patch table.

use unicorn_engine::Unicorn;

use super::regs::{read_int_reg, write_int_reg};
use super::traps::{fault, nofault_value};
use super::{Guest, PendingSignal};
use crate::adi::{self, AsiAccess, DeferredError};
use crate::emu::access_hook::Verdict;
use crate::emu::EmuError;
use crate::kernel_stub::mm::{Access, Prot};
use crate::kernel_stub::signal::{code, sig};

/// Alias windows: version `v`'s alias of guest physical address `pa` is
/// `pa + ((v + 1) << ALIAS_SHIFT)` (guest memory is below 2^36; 17 << 36 stays inside QEMU's
/// 41-bit SPARC64 physical space).
pub(super) const ALIAS_SHIFT: u32 = 36;
/// First address of the alias windows.
pub(super) const ALIAS_BASE: u64 = 1 << ALIAS_SHIFT;
/// One past the last alias window.
pub(super) const ALIAS_END: u64 = 17 << ALIAS_SHIFT;

/// Version `v`'s alias of `pa`.
pub(super) fn alias_pa(pa: u64, v: u8) -> u64 {
    pa + ((v as u64 + 1) << ALIAS_SHIFT)
}

/// Split an alias address into (pointer version, guest physical address).
fn split_alias(paddr: u64) -> (u8, u64) {
    (((paddr >> ALIAS_SHIFT) - 1) as u8, paddr & (ALIAS_BASE - 1))
}

/// The details of a precise ADI fault, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AdiFault {
    /// Pointer version.
    pub ptr: u8,
    /// Block version.
    pub mem: u8,
    /// A store.
    pub store: bool,
}

/// The TLB entry for an ADI-checked page: its physical page when every block matches the
/// pointer's version, else the version's alias (the virtual page is remembered for reports).
pub(super) fn fill(g: &mut Guest, vaddr: u64, va: u64, pa_page: u64) -> u64 {
    let page = g.kernel.mm.page_size();
    let v = adi::pointer_version(vaddr);
    let page_va = va & !(page - 1);
    g.adi_tlb_pages.insert(page_va);
    if g.kernel.mm.first_tag_mismatch(page_va, page, v).is_none() {
        return pa_page;
    }
    let alias = alias_pa(pa_page, v);
    g.alias_va.insert(alias, vaddr & !(page - 1));
    alias
}

/// The memory hook on the alias windows: compare the block's version with the pointer's.
/// A precise fault abandons the access (the caller, the precise C hook, leaves the helper).
pub(super) fn on_checked_access(g: &mut Guest, store: bool, addr: u64, size: usize) -> Result<Verdict, EmuError> {
    let page = g.kernel.mm.page_size();
    let (ptr, pa) = split_alias(addr);
    let alias_page = addr & !(page - 1);
    let Some(vpage) = g.alias_va.get(&alias_page).copied() else {
        return Err(EmuError::Internal(format!("ADI-checked access at {addr:#x} with no TLB fill recorded")));
    };
    let vaddr = vpage | (addr & (page - 1));
    let va = g.kernel.mm.untag(vaddr).unwrap_or(vaddr);
    let Some(bad_va) = g.kernel.mm.first_tag_mismatch(va, size.max(1) as u64, ptr) else {
        return Ok(Verdict::Allow);
    };
    let mem = g.kernel.mm.tag_at(bad_va).unwrap_or(0);
    let fault_vaddr = vaddr.wrapping_add(bad_va - va);
    // Unicorn restored PC and NPC to the accessing instruction before calling the hook.
    let env = g.env();
    let (pc, npc) = (env.pc(), env.npc());
    if store && !g.kernel.adi.precise_stores {
        // Disrupting: the store completes; the error is reported a little later.
        if g.kernel.adi.deferred.is_none() {
            let real = pa + (bad_va - va);
            g.kernel.adi.deferred =
                Some(DeferredError { vaddr: fault_vaddr, real_addr: real, pc, versions: (ptr, mem) });
            g.state.mark_next_block();
        }
        return Ok(Verdict::Allow);
    }
    g.adi_fault = Some(AdiFault { ptr, mem, store });
    g.pending = Some(PendingSignal {
        signo: sig::SIGSEGV,
        si_code: code::SEGV_ADIPERR,
        addr: Some(fault_vaddr),
        forced: true,
        at: Some((pc, npc)),
    });
    // Nothing is loaded or stored: the hook leaves the access helper and the CPU stops.
    Ok(Verdict::Abandon)
}

/// A disrupting error, if one is waiting: the signal to deliver (SIGSEGV/SEGV_ADIDERR with
/// the real address, as `do_mcd_err` reports `err_raddr`).
pub(super) fn take_deferred(g: &mut Guest) -> Option<PendingSignal> {
    let d = g.kernel.adi.deferred.take()?;
    g.deferred_report = Some(d);
    Some(PendingSignal {
        signo: sig::SIGSEGV,
        si_code: code::SEGV_ADIDERR,
        addr: Some(d.real_addr),
        forced: true,
        at: None,
    })
}

/// The `ta 0x70` that replaced an intercepted `ldxa`/`stxa`: emulate the original.
pub(super) fn on_patched(uc: &mut Unicorn<Guest>, at: u64, npc: u64, orig: u32) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let Some(a) = adi::decode_xa(orig) else {
        return Err(EmuError::Internal(format!("patched instruction {orig:#010x} at {at:#x} is no ldxa/stxa")));
    };
    let asi = if a.imm.is_some() { env.asi() } else { a.imm_asi };
    let base = read_int_reg(uc, a.rs1)?;
    let off = match a.imm {
        Some(i) => i as u64,
        None => read_int_reg(uc, a.rs2)?,
    };
    let ea = base.wrapping_add(off);
    let r = match asi {
        adi::ASI_MCD_PRIMARY | adi::ASI_MCD_ST_BLKINIT_PRIMARY if a.store => set_version(uc, &a, ea, asi),
        adi::ASI_MCD_PRIMARY => get_version(uc, &a, ea),
        0x82 | 0x83 | 0x8a | 0x8b if !a.store => {
            // A non-faulting load through %asi.
            let v = nofault_value(uc, ea, 8, asi & 8 != 0, false);
            write_int_reg(uc, a.rd, v).map_err(|_| (sig::SIGILL, code::ILL_ILLOPC, ea))
        }
        0x80 | 0x81 | 0x88 | 0x89 | 0xe2 | 0xe3 | 0xea | 0xeb => plain_access(uc, &a, ea, asi),
        _ => Err((sig::SIGILL, code::ILL_ILLADR, ea)),
    };
    match r {
        Ok(()) => {
            uc.get_data_mut().state.stats.emulated_insns += 1;
            env.set_pc_npc(npc, npc + 4);
            Ok(())
        }
        Err((signo, si_code, addr)) => fault(uc, signo, si_code, at, npc, addr),
    }
}

type Trap = Result<(), (u32, i32, u64)>;

/// The page of `ea` for a version access: it must be mapped, ADI-enabled, and the task must
/// have enabled ADI; else the "MCD disabled" trap (SEGV_ACCADI).
fn version_page(uc: &mut Unicorn<Guest>, ea: u64, access: Access) -> Result<u64, (u32, i32, u64)> {
    let k = &mut uc.get_data_mut().kernel;
    if !k.adi.machine.supported {
        // No ADI in the CPU: the ASI does not exist.
        return Err((sig::SIGILL, code::ILL_ILLADR, ea));
    }
    if !k.adi.mcde {
        return Err((sig::SIGSEGV, code::SEGV_ACCADI, ea));
    }
    let va = k.mm.untag(ea).ok_or((sig::SIGSEGV, code::SEGV_MAPERR, ea))?;
    match k.mm.handle_user_fault(va, access) {
        Ok(_) => {}
        Err(kind) => return Err((kind.signo(), kind.si_code(), ea)),
    }
    if !k.mm.prot_at(va).is_some_and(|p| p.contains(Prot::TAGGED)) {
        return Err((sig::SIGSEGV, code::SEGV_ACCADI, ea));
    }
    Ok(va)
}

/// `stxa %rd, [ea] 0x90/0x92`: the low four bits of %rd become the block's version.
fn set_version(uc: &mut Unicorn<Guest>, a: &AsiAccess, ea: u64, asi: u8) -> Trap {
    let value = read_int_reg(uc, a.rd).map_err(|_| (sig::SIGILL, code::ILL_ILLOPC, ea))?;
    let va = version_page(uc, ea, Access::Write)?;
    let g = uc.get_data_mut();
    let block = va & !(adi::ADI_BLKSZ - 1);
    g.kernel.mm.set_tag(block, (value & 0xf) as u8);
    if asi == adi::ASI_MCD_ST_BLKINIT_PRIMARY {
        let _ = g.kernel.mm.write_kernel(block, &[0u8; adi::ADI_BLKSZ as usize]);
    }
    // A page the TLB holds was judged against the old versions: flush (this is a trap, not a
    // memory hook, so the TLB may be flushed here). Pages not entered yet need nothing.
    let page = g.kernel.mm.page_size();
    if g.adi_tlb_pages.contains(&(va & !(page - 1))) {
        g.adi_tlb_pages.clear();
        g.alias_va.clear();
        let _ = uc.ctl_flush_tlb();
    }
    Ok(())
}

/// `ldxa [ea] 0x90, %rd`: the block's version.
fn get_version(uc: &mut Unicorn<Guest>, a: &AsiAccess, ea: u64) -> Trap {
    let va = version_page(uc, ea, Access::Read)?;
    let v = uc.get_data().kernel.mm.tag_at(va).unwrap_or(0) as u64;
    write_int_reg(uc, a.rd, v).map_err(|_| (sig::SIGILL, code::ILL_ILLOPC, ea))
}

/// An ordinary 64-bit access through %asi (primary/secondary, either byte order, or a
/// block-initialising store): done through the user's view of memory, with the ADI check a
/// normal access would have.
fn plain_access(uc: &mut Unicorn<Guest>, a: &AsiAccess, ea: u64, asi: u8) -> Trap {
    if ea & 7 != 0 {
        return Err((sig::SIGBUS, code::BUS_ADRALN, ea));
    }
    let little = asi & 8 != 0;
    let access = if a.store { Access::Write } else { Access::Read };
    let k = &mut uc.get_data_mut().kernel;
    let va = k.mm.untag(ea).ok_or((sig::SIGSEGV, code::SEGV_MAPERR, ea))?;
    match k.mm.handle_user_fault(va, access) {
        Ok(_) => {}
        Err(kind) => return Err((kind.signo(), kind.si_code(), ea)),
    }
    if k.adi.checking() && k.mm.prot_at(va).is_some_and(|p| p.contains(Prot::TAGGED)) {
        if let Some(bad) = k.mm.first_tag_mismatch(va, 8, adi::pointer_version(ea)) {
            return Err((sig::SIGSEGV, code::SEGV_ADIPERR, ea.wrapping_add(bad - va)));
        }
    }
    if a.store {
        let v = read_int_reg(uc, a.rd).map_err(|_| (sig::SIGILL, code::ILL_ILLOPC, ea))?;
        let bytes = if little { v.to_le_bytes() } else { v.to_be_bytes() };
        let k = &mut uc.get_data_mut().kernel;
        k.mm.write_kernel(va, &bytes).map_err(|_| (sig::SIGSEGV, code::SEGV_MAPERR, ea))?;
    } else {
        let mut b = [0u8; 8];
        uc.get_data().kernel.mm.read_kernel(va, &mut b).map_err(|_| (sig::SIGSEGV, code::SEGV_MAPERR, ea))?;
        let v = if little { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) };
        write_int_reg(uc, a.rd, v).map_err(|_| (sig::SIGILL, code::ILL_ILLOPC, ea))?;
    }
    Ok(())
}

/// `rd %asr14, %rd` / `wr %rs1, reg_or_imm, %asr14`: MCDPER, which Linux keeps per thread
/// and user code writes directly (bit 0: store mismatches are precise). Returns whether `w`
/// was one of them.
pub(super) fn on_mcdper(uc: &mut Unicorn<Guest>, w: u32) -> Result<bool, EmuError> {
    if w >> 30 != 2 {
        return Ok(false);
    }
    let op3 = (w >> 19) & 0x3f;
    let (rd, rs1) = ((w >> 25) & 31, (w >> 14) & 31);
    if !uc.get_data().kernel.adi.machine.supported {
        return Ok(false);
    }
    match op3 {
        // rd %asr14, %rd
        0x28 if rs1 == 14 => {
            let v = uc.get_data().kernel.adi.precise_stores as u64;
            write_int_reg(uc, rd, v)?;
            Ok(true)
        }
        // wr %rs1, reg_or_imm, %asr14 (the value written is rs1 XOR operand)
        0x30 if rd == 14 => {
            let a = read_int_reg(uc, rs1)?;
            let b = if w & (1 << 13) != 0 {
                (((w & 0x1fff) << 19) as i32 >> 19) as i64 as u64
            } else {
                read_int_reg(uc, w & 31)?
            };
            uc.get_data_mut().kernel.adi.precise_stores = (a ^ b) & 1 != 0;
            Ok(true)
        }
        _ => Ok(false),
    }
}
