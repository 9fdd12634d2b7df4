//! The trap table tagmmu supplies for a user task (see the backend's documentation): the
//! interrupt hook's dispatch of software and hardware traps, the register-window handlers
//! run on Unicorn's register file (spill, fill, clean window, flush), the illegal-instruction
//! traps, and the completion of non-faulting loads.

use unicorn_engine::Unicorn;

use crate::emu::{EmuError, UcContext};
use crate::kernel_stub::mm::Access;
use crate::kernel_stub::signal::sparc64::{BufferFull, HeldWindow};
use crate::kernel_stub::signal::{code, sig};
use crate::kernel_stub::Kernel;

use super::cpu::{FPRS_FEF, PSTATE_PEF};
use super::entry::{on_getcontext, on_setcontext, on_syscall};
use super::regs::{global_reg_id, read_int_reg, window_reg_id, write_int_reg, UcWindow};
use super::windows::BadFrame;
use super::{adi, nofault, read_insn, windows, Guest, PendingSignal};

/// Software trap numbers (`ta N` arrives as interrupt 0x100 + N).
pub(super) const TRAP_BASE: u32 = 0x100;
const ST_BREAKPOINT: u32 = 0x01;
const ST_DIV0: u32 = 0x02;
const ST_FLUSH_WINDOWS: u32 = 0x03;
pub(super) const ST_LINUX64_SYSCALL: u32 = 0x6d;
const ST_GETCONTEXT: u32 = 0x6e;
const ST_SETCONTEXT: u32 = 0x6f;
/// tagmmu's own trap: the resume trampoline.
const ST_TAGMMU_RESUME: u32 = 0x7f;
/// Hardware trap types (QEMU's TT_* for SPARC64).
const TT_PRIV_INSN: u32 = 0x11;
const TT_NFPU_INSN: u32 = 0x20;
const TT_FP_EXCP: u32 = 0x21;
const TT_TOVF: u32 = 0x23;
const TT_CLRWIN: u32 = 0x24;
const TT_DIV_ZERO: u32 = 0x28;
const TT_UNALIGNED: u32 = 0x34;
const TT_DMISS: u32 = 0x68;
const TT_SPILL: u32 = 0x80;
const TT_FILL: u32 = 0xc0;

/// Store to / load from the task's stack as a user access through the kernel stub.
fn user_store(k: &mut Kernel, addr: u64, data: &[u8]) -> bool {
    let ctx = k.uaccess;
    crate::kernel_stub::uaccess::copy_to_user(&mut k.mm, ctx, crate::addr::UserAddr(addr), data) == 0
}

/// See [`user_store`].
fn user_load(k: &mut Kernel, addr: u64, buf: &mut [u8]) -> bool {
    let ctx = k.uaccess;
    crate::kernel_stub::uaccess::copy_from_user(&mut k.mm, ctx, buf, crate::addr::UserAddr(addr)) == 0
}

/// Linux's spill handler: store the oldest window to its frame and `saved`.
fn spill_one(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    let w = windows::spill_target(&env);
    let (sp, regs) = windows::read_window(&env, &mut UcWindow(uc), w);
    let (at, wide) = windows::frame_of(sp);
    if !user_store(&mut uc.get_data_mut().kernel, at, &windows::encode(&regs, wide)) {
        return Err(BadFrame { addr: at });
    }
    env.set_windows(windows::saved(env.windows()));
    Ok(())
}

/// A spill the user's SAVE or FLUSHW trapped for. A window whose frame cannot be written is
/// held by the kernel and `saved` all the same (`spill_fixup`), and the fault is SIGSEGV
/// (SEGV_MAPERR at the frame) with the instruction retried after it; only when no slot is
/// left does the window stay in the register file.
fn spill_from_user(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    let w = windows::spill_target(&env);
    let (sp, regs) = windows::read_window(&env, &mut UcWindow(uc), w);
    spill_one(uc).inspect_err(|_| {
        if uc.get_data_mut().held.hold(HeldWindow { sp, regs }).is_ok() {
            env.set_windows(windows::saved(env.windows()));
        }
    })
}

/// A spill of a user window by the kernel (`flushw` after a trap: before a signal frame, a
/// context trap, clone, a task switch): a window whose frame cannot be written is held
/// (`spill_fixup`) and the flush goes on.
fn spill_or_hold(uc: &mut Unicorn<Guest>) -> Result<(), BufferFull> {
    let env = uc.get_data().env();
    let w = windows::spill_target(&env);
    let (sp, regs) = windows::read_window(&env, &mut UcWindow(uc), w);
    if spill_one(uc).is_err() {
        uc.get_data_mut().held.hold(HeldWindow { sp, regs })?;
        env.set_windows(windows::saved(env.windows()));
    }
    Ok(())
}

/// Linux's fill handler: load window CWP - 1 from its frame and `restored`.
fn fill_one(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    let w = windows::fill_target(&env);
    let sp = windows::window_sp(&env, &mut UcWindow(uc), w);
    let (at, wide) = windows::frame_of(sp);
    let mut bytes = vec![0u8; if wide { 128 } else { 64 }];
    if !user_load(&mut uc.get_data_mut().kernel, at, &mut bytes) {
        return Err(BadFrame { addr: at });
    }
    windows::write_window(&env, &mut UcWindow(uc), w, &windows::decode(&bytes, wide));
    env.set_windows(windows::restored(env.windows(), env.nwindows()));
    Ok(())
}

/// Store the current window's locals and ins to its save area at %sp + 2047, as Linux's
/// flush does for the trapping window; held when that cannot be written. (The window stays
/// in tagmmu's register file after the flush, where Linux's is gone: a second flush before
/// the task runs again, as a context trap's `do_sigsegv` and the frame it leads to make,
/// finds it held already and does not hold it twice.)
fn store_current_window(uc: &mut Unicorn<Guest>) -> Result<(), BufferFull> {
    let env = uc.get_data().env();
    let (sp, regs) = windows::read_window(&env, &mut UcWindow(uc), env.cwp());
    let (at, wide) = windows::frame_of(sp);
    if !user_store(&mut uc.get_data_mut().kernel, at, &windows::encode(&regs, wide)) {
        let window = HeldWindow { sp, regs };
        let held = &mut uc.get_data_mut().held;
        if held.windows().last() != Some(&window) {
            held.hold(window)?;
        }
    }
    Ok(())
}

/// Load the current window's locals and ins from its save area at %sp + 2047: the return to
/// user after set_context or sigreturn, when every window was flushed.
pub(super) fn load_current_window(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    let sp = uc.reg_read(window_reg_id(6)).unwrap_or(0);
    let (at, wide) = windows::frame_of(sp);
    let mut bytes = vec![0u8; if wide { 128 } else { 64 }];
    if !user_load(&mut uc.get_data_mut().kernel, at, &mut bytes) {
        return Err(BadFrame { addr: at });
    }
    windows::write_window(&env, &mut UcWindow(uc), env.cwp(), &windows::decode(&bytes, wide));
    Ok(())
}

/// Every window flushed to the stack (those whose frame cannot be written held by the
/// kernel) and the register file left with none to restore, as after Linux's
/// `flush_user_windows` and a return to user that refills only the current window.
pub(super) fn flush_all(uc: &mut Unicorn<Guest>) -> Result<(), BufferFull> {
    flush_windows(uc)?;
    store_current_window(uc)
}

/// Linux's `synchronize_user_stack`: flush every window, then write the windows held to
/// their stacks again (those written are held no more). Whether none is left held.
pub(super) fn synchronize_user_stack(uc: &mut Unicorn<Guest>) -> Result<bool, BufferFull> {
    flush_all(uc)?;
    let g = uc.get_data_mut();
    Ok(g.held.is_empty() || g.kernel.write_held_windows(&mut g.held))
}

/// Flush every window before a trap handler reads or rewrites the user context (the `ta`
/// is at `after - 4`), as `synchronize_user_stack` does; windows that cannot be written
/// are held. False when more windows must be held than the kernel has slots for: the task
/// is killed with SIGSEGV, as for a frame that cannot be written.
pub(super) fn flush_at_trap(uc: &mut Unicorn<Guest>, after: u64) -> Result<bool, EmuError> {
    match synchronize_user_stack(uc) {
        Ok(_) => Ok(true),
        Err(BufferFull) => {
            uc.get_data().env().set_pc_npc(after - 4, after);
            force_segv(uc).map(|_| false)
        }
    }
}

/// Linux's `fault_in_user_windows`, on the way back to user: write the windows the task
/// holds to their stacks; one that still cannot be written is `force_sig(SIGSEGV)`
/// (SI_KERNEL), whose frame then takes them (`rwin_save`). Nothing when a signal is
/// already pending: its frame takes them.
pub(super) fn fault_in_user_windows(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let g = uc.get_data_mut();
    if g.held.is_empty() || g.pending.is_some() || g.kernel.write_held_windows(&mut g.held) {
        return Ok(());
    }
    force_segv(uc)
}

/// `force_sig(SIGSEGV)`: the kernel could not complete a context operation.
pub(super) fn force_segv(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    uc.get_data_mut().pending =
        Some(PendingSignal { signo: sig::SIGSEGV, si_code: code::SI_KERNEL, addr: None, forced: true, at: None });
    uc.emu_stop().op("stop")
}

/// `flushw` in the kernel: spill every window the task has in the register file, holding
/// those whose frame cannot be written.
fn flush_windows(uc: &mut Unicorn<Guest>) -> Result<(), BufferFull> {
    let env = uc.get_data().env();
    while env.windows().cansave < env.nwindows() - 2 {
        spill_or_hold(uc)?;
    }
    Ok(())
}

/// The address of the instruction that raised a hardware trap, from the NPC it left (Unicorn
/// has already moved it into the PC) and the translation block running: the instruction
/// before NPC when that one is in the block and `is_it` accepts it, else the block's last
/// instruction (a trap in a delay slot).
fn trapping_insn(g: &Guest, npc: u64, is_it: impl Fn(u32) -> bool) -> u64 {
    let (start, size) = g.state.current_block();
    let before = npc.wrapping_sub(4);
    if before >= start && before < start + size && read_insn(g, before).is_some_and(&is_it) {
        return before;
    }
    start + size.max(4) - 4
}

/// Instruction classes the window traps come from.
fn is_save(w: u32) -> bool {
    w >> 30 == 2 && (w >> 19) & 0x3f == 0x3c
}

fn is_restore(w: u32) -> bool {
    w >> 30 == 2 && (w >> 19) & 0x3f == 0x3d
}

/// RETURN (V9): a restore and a jump in one; it fills like RESTORE.
fn is_return(w: u32) -> bool {
    w >> 30 == 2 && (w >> 19) & 0x3f == 0x39
}

fn is_flushw(w: u32) -> bool {
    w >> 30 == 2 && (w >> 19) & 0x3f == 0x2b
}

/// Run a window handler, then continue at `at` with `npc` (the trapping instruction, to
/// retry it). A frame the handler cannot reach kills the task with SIGSEGV, as Linux does
/// when a user window cannot be saved or restored.
fn window_trap(
    uc: &mut Unicorn<Guest>,
    at: u64,
    npc: u64,
    f: impl FnOnce(&mut Unicorn<Guest>) -> Result<(), BadFrame>,
) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let r = f(uc);
    env.set_pc_npc(at, npc);
    if let Err(bad) = r {
        uc.get_data_mut().pending = Some(PendingSignal {
            signo: sig::SIGSEGV,
            si_code: code::SEGV_MAPERR,
            addr: Some(bad.addr),
            forced: true,
            at: Some((at, npc)),
        });
        uc.emu_stop().op("stop")?;
    }
    Ok(())
}

/// Stop at the instruction at `at` (with `npc`) for a fault raising `signo`/`si_code` at
/// `addr`; the run loop delivers it.
pub(super) fn fault(
    uc: &mut Unicorn<Guest>,
    signo: u32,
    si_code: i32,
    at: u64,
    npc: u64,
    addr: u64,
) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    env.set_pc_npc(at, npc);
    uc.get_data_mut().pending =
        Some(PendingSignal { signo, si_code, addr: Some(addr), forced: true, at: Some((at, npc)) });
    uc.emu_stop().op("stop")
}

/// The interrupt hook: a software trap (`ta N`, interrupt 0x100 + N) or a hardware trap
/// type, handled as Linux's trap table does for a user task.
pub(super) fn on_interrupt(uc: &mut Unicorn<Guest>, intno: u32) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let npc = env.npc();
    match intno {
        n if n == TRAP_BASE + ST_LINUX64_SYSCALL => on_syscall(uc),
        n if n == TRAP_BASE + ST_TAGMMU_RESUME && uc.get_data().resume.is_some() => {
            let (pc, npc) = uc.get_data_mut().resume.take().expect("checked");
            env.set_pc_npc(pc, npc);
            Ok(())
        }
        n if n == TRAP_BASE + ST_GETCONTEXT => on_getcontext(uc, npc),
        n if n == TRAP_BASE + ST_SETCONTEXT => on_setcontext(uc, npc),
        n if n == TRAP_BASE + ST_FLUSH_WINDOWS => {
            // `ta 3`: the kernel flushes the windows (holding those it cannot store), and
            // the task continues after the trap, unless a held window still cannot be
            // written on the way back.
            env.set_pc_npc(npc, npc + 4);
            if flush_windows(uc).is_err() {
                return force_segv(uc);
            }
            fault_in_user_windows(uc)
        }
        n if (TT_SPILL..TT_FILL).contains(&n) => {
            let at = trapping_insn(uc.get_data(), npc, |w| is_save(w) || is_flushw(w));
            window_trap(uc, at, npc, spill_from_user)
        }
        n if (TT_FILL..TT_FILL + 0x40).contains(&n) => {
            let at = trapping_insn(uc.get_data(), npc, |w| is_restore(w) || is_return(w));
            window_trap(uc, at, npc, fill_one)
        }
        TT_CLRWIN => {
            let at = trapping_insn(uc.get_data(), npc, is_save);
            window_trap(uc, at, npc, |uc| {
                let env = uc.get_data().env();
                windows::clean_window(&env, &mut UcWindow(uc));
                Ok(())
            })
        }
        TT_DMISS => on_nofault_load(uc, npc),
        TT_NFPU_INSN => {
            // Linux enables the FPU for the task on its first FP instruction and retries.
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            env.set_pstate(env.pstate() | PSTATE_PEF);
            env.set_fprs(env.fprs() | FPRS_FEF);
            env.set_pc_npc(at, npc);
            Ok(())
        }
        n if n == TRAP_BASE + ST_BREAKPOINT => {
            let at = npc - 4;
            fault(uc, sig::SIGTRAP, code::TRAP_BRKPT, at, npc, at)
        }
        n if n == TRAP_BASE + ST_DIV0 => {
            let at = npc - 4;
            fault(uc, sig::SIGFPE, code::FPE_INTDIV, at, npc, at)
        }
        TT_DIV_ZERO => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            fault(uc, sig::SIGFPE, code::FPE_INTDIV, at, npc, at)
        }
        n if n == TRAP_BASE + crate::adi::PATCH_TRAP_NUMBER
            && uc.get_data().patches.contains_key(&npc.wrapping_sub(4)) =>
        {
            let at = npc - 4;
            let orig = uc.get_data().patches[&at];
            if crate::adi::must_intercept(orig) {
                adi::on_patched(uc, at, npc, orig)
            } else {
                on_patched_t4(uc, at, npc, orig)
            }
        }
        TT_PRIV_INSN => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            fault(uc, sig::SIGILL, code::ILL_PRVOPC, at, npc, at)
        }
        TT_UNALIGNED => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            let addr = effective_address(uc, at).unwrap_or(at);
            fault(uc, sig::SIGBUS, code::BUS_ADRALN, at, npc, addr)
        }
        TT_FP_EXCP => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            fault(uc, sig::SIGFPE, code::FPE_FLTINV, at, npc, at)
        }
        TT_TOVF => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            fault(uc, sig::SIGEMT, code::EMT_TAGOVF, at, npc, at)
        }
        n if n >= TRAP_BASE => {
            // An unused software trap: Linux's bad_trap gives SIGILL/ILL_ILLTRP.
            let at = npc - 4;
            fault(uc, sig::SIGILL, code::ILL_ILLTRP, at, npc, at)
        }
        other => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            uc.get_data_mut().kernel.notice(format!("unexpected CPU trap {other:#x} at {at:#x}: delivering SIGILL"));
            fault(uc, sig::SIGILL, code::ILL_ILLOPC, at, npc, at)
        }
    }
}

/// What a non-faulting load of `size` bytes at `ea` gives: the bytes if a user load could
/// reach them (a page that is mapped but not present is faulted in), else zero.
pub(super) fn nofault_value(uc: &mut Unicorn<Guest>, ea: u64, size: usize, little_endian: bool, signed: bool) -> u64 {
    let mut bytes = vec![0u8; size];
    let k = &mut uc.get_data_mut().kernel;
    let readable =
        k.mm.untag(ea).filter(|a| a.checked_add(size as u64).is_some()).is_some_and(|a| {
            k.mm.handle_user_fault(a, Access::Read).is_ok() && k.mm.read_kernel(a, &mut bytes).is_ok()
        });
    if !readable {
        bytes.fill(0);
    }
    nofault::value(&bytes, little_endian, signed)
}

/// Complete a non-faulting load that QEMU's own TLB check turned into a data-TLB miss (see
/// [`nofault`]): the bytes if the address is readable, else zero.
fn on_nofault_load(uc: &mut Unicorn<Guest>, npc: u64) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let at = trapping_insn(uc.get_data(), npc, |w| nofault::decode(w).is_some());
    let load = read_insn(uc.get_data(), at).and_then(nofault::decode);
    let Some(l) = load else {
        uc.get_data_mut().kernel.notice(format!("data TLB miss at {at:#x} that is no alternate-space load: SIGSEGV"));
        return fault(uc, sig::SIGSEGV, code::SEGV_MAPERR, at, npc, at);
    };
    let asi = if l.imm.is_some() { env.asi() } else { l.imm_asi };
    if !nofault::is_nofault_asi(asi) {
        uc.get_data_mut()
            .kernel
            .notice(format!("alternate-space load with ASI {asi:#x} at {at:#x} is not modelled: SIGILL"));
        return fault(uc, sig::SIGILL, code::ILL_ILLOPC, at, npc, at);
    }
    let base = read_int_reg(uc, l.rs1)?;
    let off = match l.imm {
        Some(i) => i as u64,
        None => read_int_reg(uc, l.rs2)?,
    };
    let ea = base.wrapping_add(off);
    let le = asi & 0x8 != 0;
    if l.pair {
        let hi = nofault_value(uc, ea, 4, le, false);
        let lo = nofault_value(uc, ea.wrapping_add(4), 4, le, false);
        write_int_reg(uc, l.rd & !1, hi)?;
        write_int_reg(uc, l.rd | 1, lo)?;
    } else {
        let v = nofault_value(uc, ea, l.size as usize, le, l.signed);
        write_int_reg(uc, l.rd, v)?;
    }
    uc.get_data_mut().state.stats.emulated_insns += 1;
    env.set_pc_npc(npc, npc + 4);
    Ok(())
}

/// A T4/M7 instruction patched at load time (see [`super::t4`]): a CBcond is executed (it
/// has no delay slot: the next PC is the target or the next instruction); the words Unicorn
/// would run wrong are SIGILL/ILL_ILLOPC, with a notice naming what the program used.
fn on_patched_t4(uc: &mut Unicorn<Guest>, at: u64, npc: u64, orig: u32) -> Result<(), EmuError> {
    use super::t4::{classify, Operand, Patched};
    match classify(orig) {
        Some(Patched::Cbcond(c)) => {
            let a = read_int_reg(uc, c.rs1)?;
            let b = match c.rs2 {
                Operand::Reg(r) => read_int_reg(uc, r)?,
                Operand::Imm(i) => i as u64,
            };
            let next = if c.taken(a, b) { at.wrapping_add(c.disp as u64) } else { at.wrapping_add(4) };
            uc.get_data_mut().state.stats.emulated_insns += 1;
            uc.get_data().env().set_pc_npc(next, next.wrapping_add(4));
            Ok(())
        }
        Some(Patched::Illegal(what)) => {
            let g = uc.get_data_mut();
            if g.t4_noticed.insert(at) {
                g.kernel
                    .notice(format!("{what} at {at:#x} ({orig:#010x}): not modelled on this CPU, delivering SIGILL"));
            }
            fault(uc, sig::SIGILL, code::ILL_ILLOPC, at, npc, at)
        }
        None => Err(EmuError::Internal(format!("patched word {orig:#010x} at {at:#x} needs no patch"))),
    }
}

/// Execute a VIS3/M7 integer instruction or FP <-> integer move (see [`super::vis3`]). A move
/// touching the FP registers enables the FPU first (as Linux does on the fp_disabled trap)
/// and marks the written half of the register file dirty (FPRS.DL/DU, which decide what a
/// signal frame saves).
fn execute_vis3(uc: &mut Unicorn<Guest>, insn: super::vis3::Vis3) -> Result<(), EmuError> {
    use super::vis3::{double_pair, int_op, Vis3};
    let env = uc.get_data().env();
    let enable_fpu = || {
        env.set_pstate(env.pstate() | PSTATE_PEF);
        env.set_fprs(env.fprs() | FPRS_FEF);
    };
    // Single register n is the upper (even n) or lower (odd n) word of pair n / 2.
    let single = |n: u32| {
        let pair = env.fpr(n as usize / 2);
        if n.is_multiple_of(2) {
            (pair >> 32) as u32
        } else {
            pair as u32
        }
    };
    let dirty = |pair: usize| env.set_fprs(env.fprs() | if pair < 16 { 1 } else { 2 });
    match insn {
        Vis3::Int { op, rs1, rs2, rd } => {
            let (a, b) = (read_int_reg(uc, rs1)?, read_int_reg(uc, rs2)?);
            let (r, ccr) = int_op(op, a, b, env.ccr());
            write_int_reg(uc, rd, r)?;
            if let Some(ccr) = ccr {
                env.set_ccr(ccr);
            }
        }
        Vis3::MovDtoX { rs2, rd } => {
            enable_fpu();
            let v = env.fpr(double_pair(rs2));
            write_int_reg(uc, rd, v)?;
        }
        Vis3::MovStoW { signed, rs2, rd } => {
            enable_fpu();
            let w = single(rs2);
            write_int_reg(uc, rd, if signed { w as i32 as i64 as u64 } else { w as u64 })?;
        }
        Vis3::MovXtoD { rs2, rd } => {
            enable_fpu();
            let v = read_int_reg(uc, rs2)?;
            env.set_fpr(double_pair(rd), v);
            dirty(double_pair(rd));
        }
        Vis3::MovWtoS { rs2, rd } => {
            enable_fpu();
            let v = read_int_reg(uc, rs2)? as u32 as u64;
            let pair = rd as usize / 2;
            let old = env.fpr(pair);
            let new = if rd.is_multiple_of(2) { (old & 0xffff_ffff) | v << 32 } else { (old & !0xffff_ffff) | v };
            env.set_fpr(pair, new);
            dirty(pair);
        }
    }
    Ok(())
}

/// An illegal instruction (TT 0x10, which Unicorn hands to the invalid-instruction hook
/// with PC and NPC still on the instruction): MCDPER's `rd`/`wr %asr14` are emulated;
/// anything else is SIGILL/ILL_ILLOPC.
pub(super) fn on_illegal(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let (at, npc) = (env.pc(), env.npc());
    if let Some(w) = read_insn(uc.get_data(), at) {
        if let Some(insn) = super::vis3::decode(w) {
            execute_vis3(uc, insn)?;
            uc.get_data_mut().state.stats.emulated_insns += 1;
            env.set_pc_npc(npc, npc + 4);
            return Ok(());
        }
        if adi::on_mcdper(uc, w)? {
            uc.get_data_mut().state.stats.emulated_insns += 1;
            env.set_pc_npc(npc, npc + 4);
            return Ok(());
        }
    }
    fault(uc, sig::SIGILL, code::ILL_ILLOPC, at, npc, at)
}

/// The effective address of the load/store at `pc` (rs1 + simm13 or rs1 + rs2), from the
/// registers it has not changed yet.
fn effective_address(uc: &Unicorn<Guest>, pc: u64) -> Option<u64> {
    let w = read_insn(uc.get_data(), pc)?;
    if w >> 30 != 3 {
        return None;
    }
    let reg = |r: u32| -> Option<u64> {
        match r {
            0 => Some(0),
            1..=7 => uc.reg_read(global_reg_id(r as usize)).ok(),
            _ => uc.reg_read(window_reg_id(r as usize - 8)).ok(),
        }
    };
    let rs1 = reg((w >> 14) & 31)?;
    let off = if w & (1 << 13) != 0 { (((w & 0x1fff) << 19) as i32 >> 19) as i64 as u64 } else { reg(w & 31)? };
    Some(rs1.wrapping_add(off))
}
