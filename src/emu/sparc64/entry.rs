//! The kernel entries of a user task: the Linux syscall trap (`ta 0x6d`), `rt_sigreturn`,
//! the `getcontext` / `setcontext` traps (`ta 0x6e` / `ta 0x6f`), and the way back to user
//! space they share.

use unicorn_engine::Unicorn;

use crate::emu::backend::{check_time_budget, sync_memory};
use crate::emu::{EmuError, FatalSignal, Stop, UcContext};
use crate::kernel_stub::signal::{code, sig};
use crate::kernel_stub::syscalls::SyscallOutcome;

use super::cpu::{CCR_ICC_C, CCR_XCC_C};
use super::regs::{global_reg_id, read_regs, window_reg_id, write_regs};
use super::traps::{fault, fault_in_user_windows, flush_at_trap, force_segv, load_current_window};
use super::{adi, disasm_at, Guest, PendingSignal};

/// The Linux syscall trap (`ta 0x6d`): number in %g1, arguments in %o0-%o5; the result in
/// %o0, with the carry flags set and %o0 the positive errno on error.
pub(super) fn on_syscall(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    // Unicorn moved NPC (the instruction after the `ta`) into PC.
    let resume = env.npc();
    let nr = uc.reg_read(global_reg_id(1)).op("read g1")?;
    let mut args = [0u64; 6];
    for (i, a) in args.iter_mut().enumerate() {
        *a = uc.reg_read(window_reg_id(i)).op("read syscall argument")?;
    }
    let sp = uc.reg_read(window_reg_id(6)).op("read sp")?;
    // clone copies the address space: the windows go to the stack first, so the child's
    // copy of the stack holds them (synchronize_user_stack).
    if uc.get_data().kernel.decode_sysno(nr) == Some(crate::kernel_stub::syscalls::Sysno::Clone)
        && !super::traps::flush_at_trap(uc, resume)?
    {
        return Ok(());
    }
    let g = uc.get_data_mut();
    g.kernel.current_sp = sp;
    // A disrupting ADI error from a store just before the trap is delivered on the way back.
    let deferred = adi::take_deferred(g);
    g.kernel.set_retired(g.state.instructions());
    let outcome = g.kernel.syscall(nr, args);
    if let Some(p) = deferred {
        g.kernel.signals.raise_with(p.signo, p.si_code, p.addr);
    }
    env.set_pc_npc(resume, resume + 4);
    match outcome {
        SyscallOutcome::Return(r) => {
            let ccr = env.ccr() & !(CCR_ICC_C | CCR_XCC_C);
            super::threads::write_result(uc, &r, ccr)?;
            if r.is_ok() {
                // A syscall with a second result (sparc's pipe, clone) returns it in %o1.
                if let Some(v1) = uc.get_data_mut().kernel.second_result.take() {
                    uc.reg_write(window_reg_id(1), v1).op("write o1")?;
                }
            }
            if let Some(spawn) = uc.get_data_mut().kernel.threads.take_spawn() {
                let parent = uc.get_data().kernel.config.pid;
                super::threads::spawn(uc, spawn, parent)?;
            }
        }
        SyscallOutcome::Exec => {
            let template = uc.get_data().exec_template.clone();
            let stop = super::exec::exec_in_place(uc, &template, resume - 4)?;
            uc.get_data_mut().state.stop = stop;
            // Leave the old program's block: the run loop starts the new one at its entry.
            uc.emu_stop().op("stop")?;
            return Ok(());
        }
        SyscallOutcome::Exit(_) | SyscallOutcome::Deadlock(_) => {
            uc.get_data_mut().state.stop = crate::emu::backend::stop_for(&outcome);
            uc.emu_stop().op("stop")?;
            return Ok(());
        }
        SyscallOutcome::Block | SyscallOutcome::ThreadExit => {
            // A task that sleeps is parked with PC on its `ta` (arguments intact): the
            // syscall is executed again, or completed, when it wakes.
            if outcome == SyscallOutcome::Block {
                // vfork sleeps in the clone that made the child: the child starts from the
                // registers as they are after the `ta`.
                if let Some(spawn) = uc.get_data_mut().kernel.threads.take_spawn() {
                    let parent = uc.get_data().kernel.config.pid;
                    super::threads::spawn(uc, spawn, parent)?;
                }
                env.set_pc_npc(resume - 4, resume);
            }
            uc.get_data_mut().state.reschedule = true;
            uc.emu_stop().op("stop")?;
            return Ok(());
        }
        SyscallOutcome::KillLivelock(msg) => {
            let g = uc.get_data_mut();
            let at = resume - 4;
            let insn = disasm_at(g, at);
            let mut signal = FatalSignal::new(sig::SIGKILL, code::SI_KERNEL, None, at, insn);
            signal.detail = Some(msg);
            g.state.stop = Some(Stop::Killed { signal });
            uc.emu_stop().op("stop")?;
            return Ok(());
        }
        SyscallOutcome::SigReturn => return on_rt_sigreturn(uc),
    }
    return_to_user(uc)
}

/// The way back to user space after a syscall or rt_sigreturn: mirror the memory changes,
/// then stop for a signal that became deliverable, or for the ADI hook the task now needs.
fn return_to_user(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    sync_memory(uc)?;
    check_time_budget(uc)?;
    // A scheduling point: the syscall made another task runnable or yielded, or, with other
    // tasks, the seeded scheduler preempts here one time in four (sparc64's only points:
    // its tasks are not preempted inside a time slice).
    let g = uc.get_data_mut();
    if g.kernel.threads.take_resched() || (!g.kernel.threads.alone() && g.kernel.threads.preempt_at_syscall()) {
        g.state.reschedule = true;
        uc.emu_stop().op("stop")?;
    }
    let g = uc.get_data_mut();
    if let Some((signo, si_code, addr)) = g.kernel.signals.take_deliverable() {
        g.pending = Some(PendingSignal { signo, si_code, addr, forced: false, at: None });
        uc.emu_stop().op("stop")?;
    } else if !g.held.is_empty() {
        // Windows the kernel holds (a flush before clone could not store them).
        fault_in_user_windows(uc)?;
    } else if g.kernel.adi.checking() && !g.adi_hook {
        // The task just enabled ADI: stop so the run loop installs the check hook.
        uc.emu_stop().op("stop")?;
    }
    // The syscall may have set an interval timer: the block counter marks its expiry.
    let g = uc.get_data_mut();
    let next = crate::emu::backend::Backend::next_event(&*g);
    g.state.arm(next);
    Ok(())
}

/// `rt_sigreturn`: Linux's `do_rt_sigreturn`, returning straight to the restored PC/NPC
/// (no syscall return: no carry or %o0 update). A bad frame is SIGSEGV.
fn on_rt_sigreturn(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let after = uc.get_data().env().pc();
    if !flush_at_trap(uc, after)? {
        return Ok(());
    }
    let mut regs = read_regs(uc)?;
    let g = uc.get_data_mut();
    // The frame's held windows come back and are written; those that cannot be stay held
    // and SIGSEGV's frame takes them.
    if g.kernel.restore_rt_frame_sparc64(&mut regs, &mut g.held).is_err() {
        return force_segv(uc);
    }
    write_regs(uc, &regs)?;
    if let Err(bad) = load_current_window(uc) {
        return fault(uc, sig::SIGSEGV, code::SEGV_MAPERR, regs.pc, regs.npc, bad.addr);
    }
    return_to_user(uc)
}

/// `ta 0x6e` (glibc's setjmp): Linux's `sparc64_get_context`.
pub(super) fn on_getcontext(uc: &mut Unicorn<Guest>, after: u64) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    if !flush_at_trap(uc, after)? {
        return Ok(());
    }
    // A window still held: `do_sigsegv`, at the trap.
    if !uc.get_data().held.is_empty() {
        env.set_pc_npc(after - 4, after);
        return force_segv(uc);
    }
    let mut regs = read_regs(uc)?;
    regs.pc = after;
    regs.npc = after + 4;
    let r = uc.get_data_mut().kernel.sparc64_get_context(&regs);
    env.set_pc_npc(after, after + 4);
    if r.is_err() {
        return force_segv(uc);
    }
    Ok(())
}

/// `ta 0x6f` (glibc's longjmp): Linux's `sparc64_set_context`.
pub(super) fn on_setcontext(uc: &mut Unicorn<Guest>, after: u64) -> Result<(), EmuError> {
    if !flush_at_trap(uc, after)? {
        return Ok(());
    }
    // A window still held: `do_sigsegv`, at the trap.
    if !uc.get_data().held.is_empty() {
        uc.get_data().env().set_pc_npc(after - 4, after);
        return force_segv(uc);
    }
    let mut regs = read_regs(uc)?;
    let r = uc.get_data_mut().kernel.sparc64_set_context(&mut regs);
    if r.is_err() {
        let env = uc.get_data().env();
        env.set_pc_npc(after, after + 4);
        return force_segv(uc);
    }
    write_regs(uc, &regs)?;
    if let Err(bad) = load_current_window(uc) {
        return fault(uc, sig::SIGSEGV, code::SEGV_MAPERR, regs.pc, regs.npc, bad.addr);
    }
    Ok(())
}
