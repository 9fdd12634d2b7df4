//! MTE on the arm64 CPU: tag-checked accesses and the tag instructions.
//!
//! **Checks.** A page of a PROT_MTE mapping whose granules all carry the pointer's tag (and
//! the next page's first granule too) is entered in the TLB at its own memory: no access
//! through that pointer tag can fault, so it runs on Unicorn's fast path; a tag store into it
//! takes the entry away again ([`tlb_page`], [`forget_unchecked`]). Any other is entered at one
//! of 16 physical aliases of its memory, chosen by the pointer's tag (bits 59:56 of the
//! virtual address): tag-checked MMIO windows whose callbacks see every access with the
//! pointer tag in its physical address, compare it with the allocation tags of the granules
//! the access touches, and perform it (`crate::emu::access_hook`).
//! - sync (and loads in asymmetric mode): the check records the fault and abandons the access:
//!   the instruction writes neither memory nor registers and the PC stays on it. A misaligned
//!   access, which Unicorn splits into pieces, is checked whole at its first piece. A store
//!   pair (STP) whose second half faults writes neither half: the check keeps the bytes the
//!   first half overwrote and puts them back when the second half faults (the architecture
//!   would allow either outcome; QEMU checks the whole access first and writes nothing, and so
//!   does tagmmu).
//! - async (and stores in asymmetric mode): the access is performed and the fault is recorded
//!   (TFSRE0_EL1); SIGSEGV/SEGV_MTEAERR with si_addr 0 is raised at the next kernel entry
//!   (a syscall) or at the next modelled timer tick.
//! - PSTATE.TCO set, or mode none: no check.
//!
//! **Instructions.** IRG, GMI, ADDG, SUBG, SUBP(S), LDG, STG, STZG, ST2G, STZ2G, STGP and
//! MSR/MRS TCO arrive as undefined instructions and are executed here (see [`crate::mte::insn`]).
//! LDGM, STGM and STZGM are UNDEFINED at EL0: SIGILL.

use unicorn_engine::{RegisterARM64, Unicorn};

use super::{xreg, Guest, PendingSignal, TagFault};
use crate::emu::access_hook::{TagCache, Verdict};
use crate::emu::{EmuError, UcContext};
use crate::kernel_stub::mm::FaultKind;
use crate::kernel_stub::signal::{code, sig};
use crate::mte::insn::{Index, MteInsn};
use crate::mte::{choose_non_excluded_tag, CheckKind};
use crate::tags::MTE;

/// Physical aliases of tag-checked memory: tag `t` of the segment at `pa` is mapped at
/// `pa + ((t + 1) << ALIAS_SHIFT)`.
pub const ALIAS_SHIFT: u32 = 43;
/// First address of the alias windows.
pub const ALIAS_BASE: u64 = 1 << ALIAS_SHIFT;

/// The physical alias of `pa` for pointer tag `tag`.
pub fn alias_pa(pa: u64, tag: u8) -> u64 {
    pa + ((tag as u64 + 1) << ALIAS_SHIFT)
}

/// Split an alias address into (pointer tag, physical address).
pub fn split_alias(paddr: u64) -> (u8, u64) {
    (((paddr >> ALIAS_SHIFT) - 1) as u8, paddr & (ALIAS_BASE - 1))
}

extern "C" {
    // QEMU's own, linked from Unicorn's static library (renamed per target).
    fn tlb_flush_page_aarch64(cpu: *mut std::ffi::c_void, addr: u64);
}

/// The TLB entry of a tag-checked page accessed through `vaddr` (untagged `va`, physical
/// `pa`). When every granule of the page carries the pointer's tag, and so does the first
/// granule of the next page (an access or a store pair running off this page's end is
/// checked from here), no access through this pointer tag can fault: the page is entered at
/// its own physical address, outside the alias windows, and runs on Unicorn's fast path with
/// no hook. Otherwise it is entered at the alias of the pointer's tag, where the memory hook
/// checks every access. A page entered unchecked is remembered under its physical page (and
/// the next page's) until its tags change ([`forget_unchecked`]).
pub(super) fn tlb_page(g: &mut Guest, vaddr: u64, va: u64, pa: crate::addr::PhysAddr) -> u64 {
    let ptr_tag = MTE.pointer_tag(vaddr);
    let (page_va, pa_page, vpage) = (va & !0xfff, pa.0 & !0xfff, vaddr & !0xfff);
    let mm = &g.kernel.mm;
    let next = page_va + 0x1000;
    // The page first: on a page of mixed tags (a tagged heap's) the next one is not looked at.
    let unchecked = mm.first_tag_mismatch_at(crate::addr::PhysAddr(pa_page), 0x1000, ptr_tag).is_none()
        && mm.tag_at(next).is_none_or(|t| MTE.matches(ptr_tag, t));
    if unchecked {
        let next_pa = mm.tag_at(next).and_then(|_| mm.phys_of(next)).map(|p| p.0 & !0xfff);
        for p in std::iter::once(pa_page).chain(next_pa) {
            let entered = match g.unchecked_pages.entry(p) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    // Tag stores to it must now drop TLB entries: the Rust path's job.
                    g.tag_insns.note_unchecked(p, true);
                    v.insert(Vec::new())
                }
            };
            if !entered.contains(&vpage) {
                entered.push(vpage);
            }
        }
        g.state.stats.unchecked_tlb_fills += 1;
        return pa_page;
    }
    alias_pa(pa_page, ptr_tag)
}

/// The allocation tags of physical `pages` changed: drop every TLB entry made unchecked on the
/// strength of their old tags, so the next access walks again ([`tlb_page`]). Only those
/// virtual pages are flushed (QEMU's `tlb_flush_page`), not the whole TLB: tag stores are
/// frequent (glibc tags every allocation).
pub(super) fn forget_unchecked(uc: &mut Unicorn<Guest>, pages: &[u64]) {
    let handle = uc.get_handle();
    let g = uc.get_data_mut();
    for &p in pages {
        g.tag_cache.forget(p);
    }
    if g.unchecked_pages.is_empty() {
        return;
    }
    // SAFETY: `handle` is the live engine; its `cpu` field (offset from the build-time probe)
    // is the CPUState once the engine has run, which it has if any page was entered.
    let cpu = unsafe {
        *((handle as *const u8).add(crate::emu::sparc64::cpu::offsets::UC_CPU) as *const *mut std::ffi::c_void)
    };
    if cpu.is_null() {
        return;
    }
    for p in pages {
        let Some(entered) = g.unchecked_pages.remove(p) else { continue };
        g.tag_insns.note_unchecked(*p, false);
        for vpage in entered {
            // SAFETY: `cpu` is the engine's CPU; flushing one page of its TLB is what QEMU's
            // own helpers do mid-execution (from a hook, on the engine's thread).
            unsafe { tlb_flush_page_aarch64(cpu, vpage) };
        }
    }
}

/// Enter the page of an access to alias address `paddr` that the check let through in the
/// windows' tag cache (`access_hook::TagCache`), when the page is one tagged segment's.
pub(super) fn cache_page_tags(g: &mut Guest, paddr: u64) {
    let (_, pa) = split_alias(paddr);
    if g.tag_cache.holds(pa) {
        return;
    }
    let page = pa & !(TagCache::PAGE - 1);
    let Some((seg, off)) = g.kernel.mm.phys().containing(crate::addr::PhysAddr(page)) else { return };
    let Some(tags) = seg.tags() else { return };
    if off + TagCache::PAGE > seg.len() || tags.granule() != TagCache::GRANULE {
        return;
    }
    g.tag_cache.enter(page, tags.granules(off, TagCache::PAGE));
}

/// The bytes a checked store overwrote, kept until the next store in case it was the first
/// half of a store pair whose second half faults.
#[derive(Clone, Copy, Debug)]
pub(super) struct StoreUndo {
    pc: u64,
    pa: u64,
    len: usize,
    old: [u8; 16],
}

/// The ESR of a synchronous tag check fault from EL0 (DFSC 0x11).
fn tag_fault_esr(store: bool) -> u64 {
    (0x24 << 26) | (1 << 25) | if store { 1 << 6 } else { 0 } | 0x11
}

/// The check of an access to the alias windows against the allocation tags (called by the
/// precise memory hook, see `crate::emu::access_hook`); `pc` reads the accessing
/// instruction's address (Unicorn has restored it). A precise mismatch raises
/// SIGSEGV/SEGV_MTESERR and abandons the access.
/// `first_byte` gives how far past `paddr` the access really starts, for a misaligned load
/// that Unicorn split into the aligned words around it (asked only when the first granule
/// faults, to report the load's own address).
pub(super) fn on_tagged_access(
    g: &mut Guest,
    pc: impl Fn() -> u64,
    first_byte: impl FnOnce(&Guest) -> u64,
    store: bool,
    paddr: u64,
    size: usize,
) -> Verdict {
    if g.tco {
        return Verdict::Allow;
    }
    let kind = g.kernel.mte.check(store);
    if kind == CheckKind::Off {
        return Verdict::Allow;
    }
    let (ptr_tag, pa) = split_alias(paddr);
    let Some((seg, off)) = g.kernel.mm.phys().containing(crate::addr::PhysAddr(pa)) else { return Verdict::Allow };
    let Some(tags) = seg.tags() else { return Verdict::Allow };
    let Some(bad_off) = tags.first_mismatch(&MTE, off, size as u64, ptr_tag) else {
        // A store ending at a granule boundary may be the first half of a store pair whose
        // second half faults: keep the bytes it overwrites so that half can be undone.
        // Only when the next granule's tag would make a following half fault.
        let next = off + size as u64;
        if store
            && kind == CheckKind::Precise
            && (pa + size as u64).is_multiple_of(MTE.granule)
            && size <= 16
            && next < seg.len()
            && !MTE.matches(ptr_tag, tags.get(next))
        {
            let mut old = [0u8; 16];
            old[..size].copy_from_slice(&seg.bytes()[off as usize..off as usize + size]);
            let pc = pc();
            // Only an instruction that stores through several accesses (a pair or a
            // multiple-structure store) can have a later half that faults.
            let multi = super::read_insn(g, pc).is_some_and(is_multi_access_store);
            g.undo = multi.then_some(StoreUndo { pc, pa, len: size, old });
        }
        return Verdict::Allow;
    };
    let mem_tag = tags.get(bad_off);
    let seg_pa = seg.pa();
    match kind {
        CheckKind::Precise => {
            // The first half of this instruction's store pair, already written: undo it, so
            // the faulting instruction changes no memory at all (as QEMU's whole-access check
            // and the "access is not performed" rule have it).
            if store {
                let undo = g.undo.take();
                let pc = pc();
                if let Some(u) = undo.filter(|u| u.pc == pc && u.pa + u.len as u64 == pa) {
                    if let Some((seg_pa_u, off_u)) =
                        g.kernel.mm.phys().containing(crate::addr::PhysAddr(u.pa)).map(|(s, o)| (s.pa(), o))
                    {
                        if let Some(seg) = g.kernel.mm.phys_mut().segment_mut(seg_pa_u) {
                            seg.bytes_mut()[off_u as usize..off_u as usize + u.len].copy_from_slice(&u.old[..u.len]);
                        }
                    }
                }
            }
            let bad_off = if bad_off == off { off + first_byte(g) } else { bad_off };
            let bad_pa = seg_pa.0 + bad_off;
            // The virtual address as accessed (it keeps bits 63:60 too): the page of the
            // access the engine is serving (a piece of a split access has its own), which is
            // the faulting granule's; else from the mappings.
            // The checked access (or piece) lies in the page of the access the engine serves,
            // and a whole-access check may find the granule in the next page, which the same
            // mapping places next in both spaces.
            let addr = match g.access_va {
                0 => MTE.with_tag(g.kernel.mm.va_of(crate::addr::PhysAddr(bad_pa)).unwrap_or(0), ptr_tag),
                va => (va & !0xfff).wrapping_add(bad_pa.wrapping_sub(pa & !0xfff)),
            };
            g.pending = Some(PendingSignal {
                signo: sig::SIGSEGV,
                si_code: code::SEGV_MTESERR,
                addr: Some(addr),
                esr: Some(tag_fault_esr(store)),
                forced: true,
            });
            g.tag_fault = Some(TagFault { ptr_tag, mem_tag, store });
            Verdict::Abandon
        }
        CheckKind::Deferred => {
            g.async_fault = true;
            Verdict::Allow
        }
        CheckKind::Off => Verdict::Allow,
    }
}

/// Is `w` a store made of several memory accesses: STP/STNP (integer or SIMD), or ST1-ST4
/// (multiple structures)?
fn is_multi_access_store(w: u32) -> bool {
    let pair = w & 0x3a40_0000 == 0x2800_0000;
    let multiple = w & 0xbf40_0000 == 0x0c00_0000;
    pair || multiple
}

/// The DC ZVA / GVA / GZVA block: DCZID_EL0.BS = 4 (64 bytes), what Unicorn's CPU reports
/// and what MTE hardware (Neoverse V2, Cortex-X3/A715) has; glibc's tag-region functions use
/// DC GVA / GZVA only with this block size.
pub const DCZ_BLOCK: u64 = 64;

/// DC ZVA, Xt on a machine with MTE: a tag-checked store of the whole block (Arm ARM; QEMU's
/// `mte_check_zva`): every granule's allocation tag must match the pointer's. Called by the
/// SYS hook before Unicorn zeroes the block, with the PC on the DC ZVA. On a precise mismatch
/// the instruction is abandoned (the block is not zeroed, the PC stays on it) and
/// SIGSEGV/SEGV_MTESERR is raised with si_addr at the first mismatching granule; a deferred
/// mismatch is recorded and the block zeroed.
pub(super) fn check_dc_zva(g: &mut Guest, ptr: u64) -> Verdict {
    if g.tco {
        return Verdict::Allow;
    }
    let kind = g.kernel.mte.check(true);
    if kind == CheckKind::Off {
        return Verdict::Allow;
    }
    let block = ptr & !(DCZ_BLOCK - 1);
    let Some(va) = g.kernel.mm.untag(block) else { return Verdict::Allow };
    // Not writable or not mapped: Unicorn's own store faults through the TLB fill.
    if !g.kernel.mm.prot_at(va).is_some_and(|p| p.contains(crate::kernel_stub::mm::Prot::WRITE)) {
        return Verdict::Allow;
    }
    let ptr_tag = MTE.pointer_tag(ptr);
    let bad = (0..DCZ_BLOCK / MTE.granule).find_map(|i| {
        let tag = g.kernel.mm.tag_at(va + i * MTE.granule)?;
        (!MTE.matches(ptr_tag, tag)).then_some((i, tag))
    });
    let Some((i, mem_tag)) = bad else { return Verdict::Allow };
    match kind {
        CheckKind::Deferred => {
            g.async_fault = true;
            Verdict::Allow
        }
        CheckKind::Precise => {
            g.pending = Some(PendingSignal {
                signo: sig::SIGSEGV,
                si_code: code::SEGV_MTESERR,
                addr: Some(block + i * MTE.granule),
                esr: Some(tag_fault_esr(true)),
                forced: true,
            });
            g.tag_fault = Some(TagFault { ptr_tag, mem_tag, store: true });
            Verdict::Abandon
        }
        CheckKind::Off => Verdict::Allow,
    }
}

/// X`n` of the instruction, with `n` = 31 as SP (`sp`) or XZR. Read in the CPU's state directly
/// (`cpu_env`), falling back on Unicorn's accessor.
fn get(uc: &Unicorn<Guest>, n: u8, sp: bool) -> Result<u64, EmuError> {
    if n == 31 && !sp {
        return Ok(0);
    }
    if let Some(v) = super::cpu_env::x(uc, n) {
        return Ok(v);
    }
    if n == 31 {
        return uc.reg_read(RegisterARM64::SP).op("read sp");
    }
    uc.reg_read(xreg(n as u32)).op("read x")
}

/// Write X`n`, with `n` = 31 as SP (`sp`) or XZR (the write is dropped).
fn set(uc: &mut Unicorn<Guest>, n: u8, v: u64, sp: bool) -> Result<(), EmuError> {
    if n == 31 && !sp {
        return Ok(());
    }
    if super::cpu_env::set_x(uc, n, v) {
        return Ok(());
    }
    if n == 31 {
        return uc.reg_write(RegisterARM64::SP, v).op("write sp");
    }
    uc.reg_write(xreg(n as u32), v).op("write x")
}

fn fault(uc: &mut Unicorn<Guest>, signo: u32, si_code: i32, addr: u64, esr: Option<u64>) -> Result<bool, EmuError> {
    uc.get_data_mut().pending = Some(PendingSignal { signo, si_code, addr: Some(addr), esr, forced: true });
    uc.emu_stop().op("stop")?;
    Ok(false)
}

/// A tag store by the instruction to `[addr, addr + len)` (a user pointer; within one page):
/// the fault handling of a store and the tags (`AddressSpace::store_tags`). The untagged
/// address, or None once the fault is raised (the instruction then does nothing more).
fn store_tags(uc: &mut Unicorn<Guest>, addr: u64, len: u64, tag: u8) -> Result<Option<u64>, EmuError> {
    let mm = &mut uc.get_data_mut().kernel.mm;
    let stored = match mm.untag(addr) {
        Some(va) => mm.store_tags(va, len, tag).map(|()| va),
        None => Err(FaultKind::Unmapped),
    };
    match stored {
        Ok(va) => {
            // The page's next tag instructions can take the C path.
            let g = uc.get_data_mut();
            g.tag_insns.enter(&mut g.kernel.mm, va);
            Ok(Some(va))
        }
        Err(k) => fault(uc, k.signo(), k.si_code(), addr & 0x00ff_ffff_ffff_ffff, Some(esr_mem(true, k))).map(|_| None),
    }
}

fn esr_mem(store: bool, kind: FaultKind) -> u64 {
    let fsc = if kind == FaultKind::Unmapped { 0x07 } else { 0x0f };
    (0x24 << 26) | (1 << 25) | if store { 1 << 6 } else { 0 } | fsc
}

/// Execute an MTE instruction at the PC. Returns false when it raised a signal instead
/// (the PC then stays on it).
pub(super) fn execute(uc: &mut Unicorn<Guest>, insn: MteInsn) -> Result<bool, EmuError> {
    let exclude_gcr = uc.get_data().kernel.mte.ctrl.exclude();
    match insn {
        MteInsn::El1Only => {
            let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
            return fault(uc, sig::SIGILL, code::ILL_ILLOPC, pc, None);
        }
        MteInsn::Irg { d, n, m } => {
            let base = get(uc, n, true)?;
            let exclude = (get(uc, m, false)? as u16) | exclude_gcr;
            // The machine's IRG generator, which the C fast path draws from too.
            let tag = uc.get_data_mut().tag_insns.irg_draw(exclude);
            set(uc, d, MTE.with_tag(base, tag), true)?;
        }
        MteInsn::Gmi { d, n, m } => {
            let tag = MTE.pointer_tag(get(uc, n, true)?);
            let v = get(uc, m, false)? | (1 << tag);
            set(uc, d, v, false)?;
        }
        MteInsn::AddSubG { sub, d, n, offset, tag_offset } => {
            let base = get(uc, n, true)?;
            let tag = choose_non_excluded_tag(MTE.pointer_tag(base), tag_offset, exclude_gcr);
            let addr = if sub { base.wrapping_sub(offset) } else { base.wrapping_add(offset) };
            set(uc, d, MTE.with_tag(addr, tag), true)?;
        }
        MteInsn::Subp { set_flags, d, n, m } => {
            let sext56 = |v: u64| (((v << 8) as i64) >> 8) as u64;
            let a = sext56(get(uc, n, true)?);
            let b = sext56(get(uc, m, true)?);
            let r = a.wrapping_sub(b);
            if set_flags {
                let nf = (r >> 63) & 1;
                let zf = (r == 0) as u64;
                let cf = (a >= b) as u64;
                let vf = (((a ^ b) & (a ^ r)) >> 63) & 1;
                uc.reg_write(RegisterARM64::NZCV, (nf << 31) | (zf << 30) | (cf << 29) | (vf << 28))
                    .op("write nzcv")?;
            }
            set(uc, d, r, false)?;
        }
        MteInsn::Ldg { t, n, imm } => {
            let addr = get(uc, n, true)?.wrapping_add(imm as u64) & !15;
            let mm = &mut uc.get_data_mut().kernel.mm;
            let loaded = match mm.untag(addr) {
                Some(va) => mm.load_tag(va),
                None => Err(FaultKind::Unmapped),
            };
            let tag = match loaded {
                Ok(tag) => {
                    if let Some(va) = uc.get_data().kernel.mm.untag(addr) {
                        let g = uc.get_data_mut();
                        g.tag_insns.enter(&mut g.kernel.mm, va);
                    }
                    tag.unwrap_or(0)
                }
                Err(k) => {
                    return fault(uc, k.signo(), k.si_code(), addr & 0x00ff_ffff_ffff_ffff, Some(esr_mem(false, k)))
                }
            };
            let old = get(uc, t, false)?;
            set(uc, t, MTE.with_tag(old, tag), false)?;
        }
        MteInsn::Store { kind, t, n, imm, index } => {
            let base = get(uc, n, true)?;
            let addr = if index == Index::Post { base } else { base.wrapping_add(imm as u64) };
            if addr % 16 != 0 {
                return fault(uc, sig::SIGBUS, code::BUS_ADRALN, addr & 0x00ff_ffff_ffff_ffff, None);
            }
            let tag = MTE.pointer_tag(get(uc, t, true)?);
            // The granules within one page at once; ST2G across pages one by one.
            let whole = 16 * kind.granules();
            let page = uc.get_data().kernel.mm.page_size();
            let per = if addr % page + whole <= page { whole } else { 16 };
            for i in 0..whole / per {
                let Some(va) = store_tags(uc, addr.wrapping_add(per * i), per, tag)? else { return Ok(false) };
                let mm = &mut uc.get_data_mut().kernel.mm;
                if kind.zeroes() {
                    mm.write_kernel(va, &[0u8; 32][..per as usize])
                        .map_err(|_| EmuError::Internal("zeroing a translated granule".into()))?;
                }
            }
            writeback(uc, n, base, imm, index)?;
        }
        MteInsn::Stgp { t1, t2, n, imm, index } => {
            let base = get(uc, n, true)?;
            let addr = if index == Index::Post { base } else { base.wrapping_add(imm as u64) };
            if addr % 16 != 0 {
                return fault(uc, sig::SIGBUS, code::BUS_ADRALN, addr & 0x00ff_ffff_ffff_ffff, None);
            }
            let Some(va) = store_tags(uc, addr, 16, MTE.pointer_tag(base))? else { return Ok(false) };
            let mut data = [0u8; 16];
            data[..8].copy_from_slice(&get(uc, t1, false)?.to_le_bytes());
            data[8..].copy_from_slice(&get(uc, t2, false)?.to_le_bytes());
            let mm = &mut uc.get_data_mut().kernel.mm;
            mm.write_kernel(va, &data).map_err(|_| EmuError::Internal("STGP to a translated granule".into()))?;
            writeback(uc, n, base, imm, index)?;
        }
        MteInsn::DcGva { t } | MteInsn::DcGzva { t } => {
            // Not tag-checked (they set the tags); translated as a store of the whole block.
            let ptr = get(uc, t, false)?;
            let block = ptr & !(DCZ_BLOCK - 1);
            let tag = MTE.pointer_tag(ptr);
            // The block's fault handling as a store, and its tags (which untagged memory has
            // no storage for: ignored), with one lookup.
            let Some(va) = store_tags(uc, block, DCZ_BLOCK, tag)? else { return Ok(false) };
            if matches!(insn, MteInsn::DcGzva { .. }) {
                let mm = &mut uc.get_data_mut().kernel.mm;
                mm.write_kernel(va, &[0u8; DCZ_BLOCK as usize])
                    .map_err(|_| EmuError::Internal("DC GZVA on a translated block".into()))?;
            }
        }
        MteInsn::MsrTcoImm { value } => uc.get_data_mut().tco = value,
        MteInsn::MsrTco { t } => {
            let v = get(uc, t, false)?;
            uc.get_data_mut().tco = v & (1 << 25) != 0;
        }
        MteInsn::MrsTco { t } => {
            let v = if uc.get_data().tco { 1 << 25 } else { 0 };
            set(uc, t, v, false)?;
        }
    }
    Ok(true)
}

fn writeback(uc: &mut Unicorn<Guest>, n: u8, base: u64, imm: i64, index: Index) -> Result<(), EmuError> {
    match index {
        Index::Offset => Ok(()),
        Index::Pre | Index::Post => set(uc, n, base.wrapping_add(imm as u64), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_addresses_round_trip() {
        let pa = 0x1_2345_6000;
        for t in 0..16u8 {
            let a = alias_pa(pa, t);
            assert!((ALIAS_BASE..17 << ALIAS_SHIFT).contains(&a));
            assert_eq!(split_alias(a + 0x10), (t, pa + 0x10));
        }
        assert_eq!(tag_fault_esr(true) & 0x3f, 0x11);
        assert_eq!(tag_fault_esr(true) >> 26, 0x24);
        assert!(is_multi_access_store(0xa900_0801), "stp x1, x2, [x0]");
        assert!(is_multi_access_store(0xad00_0060), "stp q0, q0, [x3]");
        assert!(is_multi_access_store(0x4c00_a000), "st1 {{v0.16b, v1.16b}}, [x0]");
        assert!(!is_multi_access_store(0x3820_6a7a), "strb w26, [x19, x0]");
        assert!(!is_multi_access_store(0xa940_0801), "ldp x1, x2, [x0]");
        assert!(!is_multi_access_store(0xf900_0001), "str x1, [x0]");
    }
}
