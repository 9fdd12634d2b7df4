//! The CPU side of threads and processes on sparc64: each parked task's registers, the
//! registers a new thread or forked child starts with, and the switch.
//!
//! Unicorn 2.1.5 saves no CPU context for sparc64 (its `cpu_context_size` is never set for
//! that target: `uc_context_save` copies nothing), so a task is parked as Linux parks a
//! user task on sparc: its register windows flushed to its own stack, and its globals, outs,
//! PC/NPC, %y, CCR, %asi and FP state kept; when it runs again its current window is
//! refilled from the stack and the rest come back through window fills as it returns.

use unicorn_engine::Unicorn;

use crate::emu::{EmuError, UcContext};
use crate::kernel_stub::errno::KResult;
use crate::kernel_stub::signal::sparc64::{HeldWindows, Sparc64Regs};
use crate::kernel_stub::task::{Spawn, Switch, Tid};

use super::cpu::{WindowState, CCR_ICC_C, CCR_XCC_C};
use super::regs::{read_regs, window_reg_id, write_regs};
use super::traps::{flush_all, load_current_window};
use super::Guest;

/// A task that is not running: its registers, and the windows the kernel holds for it.
#[derive(Clone, Debug)]
pub(super) struct ParkedTask {
    regs: Sparc64Regs,
    held: HeldWindows,
}

/// The parked tasks, by id.
pub(super) type Parked = std::collections::HashMap<Tid, ParkedTask>;

/// A child `clone` created, as sparc64's copy_thread leaves it: the parent's registers at
/// the syscall's return (its windows were flushed before the address space was copied),
/// with %o0 the parent's pid, %o1 1 (what tells glibc it is the child), the carry clear,
/// and its own stack if it was given one. It holds what the parent holds (the thread_info
/// is copied).
pub(super) fn spawn(uc: &mut Unicorn<Guest>, s: Spawn, parent: u32) -> Result<(), EmuError> {
    let mut regs = read_regs(uc)?;
    regs.o[0] = u64::from(parent);
    regs.o[1] = 1;
    if s.stack != 0 {
        regs.o[6] = clone_stackframe(uc, s.stack, regs.o[6]).unwrap_or(s.stack);
    }
    // CLONE_SETTLS: the thread pointer is %g7.
    if let Some(tls) = s.tls {
        regs.g[7] = tls;
    }
    regs.ccr &= !((CCR_ICC_C | CCR_XCC_C) as u8);
    let g = uc.get_data_mut();
    let held = g.held.clone();
    g.threads.insert(s.tid, ParkedTask { regs, held });
    // A new process runs the same image: it starts with the same patched instructions.
    if s.process {
        let table = g.patches.clone();
        g.patches_of.insert(s.tid.0, table);
    }
    Ok(())
}

/// Linux's clone_stackframe: a child given its own stack starts with a copy of the
/// parent's current frame (from %sp to its %fp) at the 16-byte-aligned top of that stack,
/// the copy's saved %fp pointing at the top, so its window can be filled from there. Returns
/// the child's %sp; `None` (the stack taken as given) for a 32-bit frame or a frame that
/// cannot be copied.
fn clone_stackframe(uc: &mut Unicorn<Guest>, csp: u64, psp: u64) -> Option<u64> {
    use super::windows::STACK_BIAS;
    const INS6: u64 = (8 + 6) * 8;
    if psp & 1 == 0 {
        return None;
    }
    let k = &mut uc.get_data_mut().kernel;
    let ctx = k.uaccess;
    let load = |k: &mut crate::kernel_stub::Kernel, at: u64, buf: &mut [u8]| {
        crate::kernel_stub::uaccess::copy_from_user(&mut k.mm, ctx, buf, crate::addr::UserAddr(at)) == 0
    };
    let psp = psp.wrapping_add(STACK_BIAS);
    let mut b = [0u8; 8];
    if !load(k, psp + INS6, &mut b) {
        return None;
    }
    let fp = u64::from_be_bytes(b).wrapping_add(STACK_BIAS);
    let csp = csp.wrapping_add(STACK_BIAS) & !15;
    let distance = fp.checked_sub(psp).filter(|&d| (INS6 + 8..=1 << 20).contains(&d))?;
    let mut frame = vec![0u8; distance as usize];
    if !load(k, psp, &mut frame) {
        return None;
    }
    let rval = csp.checked_sub(distance)?;
    frame[INS6 as usize..INS6 as usize + 8].copy_from_slice(&(csp - STACK_BIAS).to_be_bytes());
    let stored = crate::kernel_stub::uaccess::copy_to_user(&mut k.mm, ctx, crate::addr::UserAddr(rval), &frame) == 0;
    stored.then(|| rval - STACK_BIAS)
}

/// Before the scheduler runs (the address space is still the running task's): flush its
/// windows to its stack and keep its registers, unless it has ended.
pub(super) fn park(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    if uc.get_data_mut().kernel.threads.exited() {
        return Ok(());
    }
    // Windows that cannot be stored are held for it (they come back at its return to user).
    // A task parks at a return to user, where it holds none (a held one is SIGSEGV first),
    // so its at most NWINDOWS - 1 windows always find a slot.
    flush_all(uc).map_err(|_| {
        EmuError::Internal("a parked task's register windows need more than the kernel's NSWINS slots".into())
    })?;
    let regs = read_regs(uc)?;
    let g = uc.get_data_mut();
    let held = std::mem::take(&mut g.held);
    g.outgoing = Some(ParkedTask { regs, held });
    Ok(())
}

/// Carry out the scheduler's decision: keep the outgoing task's registers (unless it
/// ended), load the incoming one's and its current window, and finish its interrupted
/// syscall as `sw.resume` says.
pub(super) fn switch(uc: &mut Unicorn<Guest>, sw: &Switch) -> Result<(), EmuError> {
    let outgoing = uc.get_data_mut().outgoing.take();
    if let Some(task) = outgoing.filter(|_| sw.from_alive) {
        uc.get_data_mut().threads.insert(sw.from, task);
    }
    let Some(ParkedTask { regs: next, held }) = uc.get_data_mut().threads.remove(&sw.to) else {
        return Err(EmuError::Internal(format!("task {} has no CPU state", sw.to)));
    };
    uc.get_data_mut().held = held;
    // The register file holds none of its windows (they were flushed when it was parked):
    // every RESTORE fills from its stack, as after Linux's return to a switched-in task.
    let env = uc.get_data().env();
    let ws = env.windows();
    env.set_windows(WindowState { cansave: env.nwindows() - 2, canrestore: 0, otherwin: 0, ..ws });
    write_regs(uc, &next)?;
    // On its way back to user: the windows held for it are written first; one that still
    // cannot be is SIGSEGV (the run loop's `fault_on_return`) before the window is filled.
    let g = uc.get_data_mut();
    let held_left = !g.held.is_empty() && !g.kernel.write_held_windows(&mut g.held);
    if let Err(bad) = load_current_window(uc) {
        // A window that cannot be filled (its stack went away while the task slept):
        // SIGSEGV at the fault, as `fill_fixup` raises it, unless the SIGSEGV for the held
        // windows comes first.
        if !held_left {
            let k = &mut uc.get_data_mut().kernel;
            k.signals.force(crate::kernel_stub::signal::sig::SIGSEGV);
            k.signals.raise_with(
                crate::kernel_stub::signal::sig::SIGSEGV,
                crate::kernel_stub::signal::code::SEGV_MAPERR,
                Some(bad.addr),
            );
        }
    }
    if let Some((r, second)) = sw.resume.result() {
        // The task slept with PC on its `ta`: the syscall returns now, after it.
        let env = uc.get_data().env();
        let (pc, ccr) = (env.pc(), env.ccr() & !(CCR_ICC_C | CCR_XCC_C));
        write_result(uc, &r, ccr)?;
        if let Some(v1) = second {
            uc.reg_write(window_reg_id(1), v1).op("write o1")?;
        }
        env.set_pc_npc(pc + 4, pc + 8);
    }
    let g = uc.get_data_mut();
    // The patched instructions are the incoming process's image's.
    let pid = g.kernel.config.pid;
    if pid != g.patches_pid {
        let table = std::mem::take(&mut g.patches);
        if g.kernel.proc_info(g.patches_pid).is_some_and(|p| p.exited.is_none()) {
            g.patches_of.insert(g.patches_pid, table);
        }
        g.patches = g.patches_of.remove(&pid).unwrap_or_default();
        g.patches_pid = pid;
    }
    g.state.flush_tlb = true;
    g.slice_end = g.kernel.threads.slice_end(g.state.instructions());
    let next = crate::emu::backend::Backend::next_event(&*g);
    g.state.arm(next);
    Ok(())
}

/// A syscall's result: %o0 the value with the carry clear, or the positive errno with it set.
pub(super) fn write_result(uc: &mut Unicorn<Guest>, r: &KResult<u64>, ccr: u64) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    match r {
        Ok(v) => {
            uc.reg_write(window_reg_id(0), *v).op("write o0")?;
            env.set_ccr(ccr);
        }
        Err(e) => {
            uc.reg_write(window_reg_id(0), e.sparc() as u64).op("write o0")?;
            env.set_ccr(ccr | CCR_ICC_C | CCR_XCC_C);
        }
    }
    Ok(())
}
