//! The exceptions of a task at EL0 that reach the kernel: the syscall (`svc #0`), undefined
//! instructions (MRS of an ID register emulated as Linux does, else SIGILL), and the
//! interrupt hook's dispatch of those and of aborts and breakpoints.

use unicorn_engine::{RegisterARM64, Unicorn};

use crate::emu::backend::{check_time_budget, sync_memory};
use crate::emu::{EmuError, FatalSignal, Stop, UcContext};
use crate::kernel_stub::signal::{code, sig};
use crate::kernel_stub::syscalls::SyscallOutcome;

use super::regs::{read_regs, write_regs, xreg};
use super::{disasm_at, mte, read_insn, sysregs, tag_checks_wanted, Guest, PendingSignal};

/// Interrupt numbers Unicorn reports (QEMU's EXCP_*).
const EXCP_UDEF: u32 = 1;
const EXCP_SWI: u32 = 2;
const EXCP_PREFETCH_ABORT: u32 = 3;
const EXCP_DATA_ABORT: u32 = 4;
const EXCP_BKPT: u32 = 7;

/// The syscall (`svc #0`): number in x8, arguments in x0-x5, the result (or -errno) in x0.
fn on_syscall(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let nr = uc.reg_read(RegisterARM64::X8).op("read x8")?;
    let mut args = [0u64; 6];
    for (i, a) in args.iter_mut().enumerate() {
        *a = uc.reg_read(xreg(i as u32)).op("read syscall argument")?;
    }
    let sp = uc.reg_read(RegisterARM64::SP).op("read sp")?;
    let g = uc.get_data_mut();
    g.kernel.current_sp = sp;
    // Kernel entry: an asynchronous tag check fault recorded in TFSRE0_EL1 becomes a
    // SIGSEGV/SEGV_MTEAERR (si_addr 0) delivered on the way back to user space.
    let async_fault = std::mem::take(&mut g.async_fault);
    g.kernel.set_retired(g.state.instructions());
    let outcome = g.kernel.syscall(nr, args);
    if async_fault {
        g.kernel.signals.raise_with(sig::SIGSEGV, code::SEGV_MTEAERR, Some(0));
    }
    match outcome {
        SyscallOutcome::Return(r) => {
            uc.reg_write(RegisterARM64::X0, super::threads::result_reg(&r)).op("write x0")?;
            if let Some(spawn) = uc.get_data_mut().kernel.threads.take_spawn() {
                super::threads::spawn(uc, spawn)?;
            }
        }
        SyscallOutcome::Block | SyscallOutcome::ThreadExit => {
            // A thread that sleeps is parked with its PC on the SVC, arguments intact: the
            // syscall is executed again, or completed, when it wakes (see `threads::switch`).
            if outcome == SyscallOutcome::Block {
                // vfork sleeps in the clone that made the child: the child starts from the
                // registers as they are after the SVC.
                if let Some(spawn) = uc.get_data_mut().kernel.threads.take_spawn() {
                    super::threads::spawn(uc, spawn)?;
                }
                let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
                uc.set_pc(pc - 4).op("rewind pc")?;
            }
            uc.get_data_mut().state.reschedule = true;
            uc.emu_stop().op("stop")?;
            return Ok(());
        }
        SyscallOutcome::Exec => {
            let template = uc.get_data().exec_template.clone();
            let stop = super::exec::exec_in_place(uc, &template)?;
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
        SyscallOutcome::KillLivelock(msg) => {
            // The real kernel would spin here forever; the watchdog ends the task with SIGKILL.
            let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
            let g = uc.get_data_mut();
            let insn = disasm_at(g, pc.wrapping_sub(4));
            let mut signal = FatalSignal::new(sig::SIGKILL, code::SI_KERNEL, None, pc.wrapping_sub(4), insn);
            signal.detail = Some(msg);
            g.state.stop = Some(Stop::Killed { signal });
            uc.emu_stop().op("stop")?;
            return Ok(());
        }
        SyscallOutcome::SigReturn => {
            let held = read_regs(uc)?;
            let mut regs = held.clone();
            let sp = regs.sp;
            if uc.get_data_mut().kernel.restore_rt_frame_arm64(&mut regs).is_ok() {
                write_regs(uc, &regs, &held)?;
            } else {
                // A bad frame: arm64_notify_segfault(sp), SEGV_ACCERR when sp lies in a
                // mapping (the usual case: a garbage frame on the stack), else SEGV_MAPERR
                // (the find_vma_intersection form of the check).
                let g = uc.get_data_mut();
                let mapped = g.kernel.mm.untag(sp).is_some_and(|a| g.kernel.mm.vmas().find(a).is_some());
                g.pending = Some(PendingSignal {
                    signo: sig::SIGSEGV,
                    si_code: if mapped { code::SEGV_ACCERR } else { code::SEGV_MAPERR },
                    addr: Some(sp),
                    esr: None,
                    forced: true,
                });
                uc.emu_stop().op("stop")?;
                return Ok(());
            }
        }
    }
    sync_memory(uc)?;
    check_time_budget(uc)?;
    // A scheduling point: the syscall made another thread runnable or yielded, or, with
    // other threads, the seeded scheduler preempts here one time in four.
    let g = uc.get_data_mut();
    if g.kernel.threads.take_resched() || (!g.kernel.threads.alone() && g.kernel.threads.preempt_at_syscall()) {
        g.state.reschedule = true;
        uc.emu_stop().op("stop")?;
    }
    // Return to user: deliver what became pending (kill/tgkill to self, async tag faults).
    let g = uc.get_data_mut();
    if let Some((signo, si_code, addr)) = g.kernel.signals.take_deliverable() {
        g.pending = Some(PendingSignal { signo, si_code, addr, esr: None, forced: false });
        uc.emu_stop().op("stop")?;
    } else if !g.tag_hooks && tag_checks_wanted(g) {
        // This syscall gave the task tag-checked memory with checking on (mmap/mprotect
        // PROT_MTE, prctl): stop here, after the SVC, so the run loop installs the checks
        // before the next user instruction.
        uc.emu_stop().op("stop")?;
    }
    // The syscall may have set an interval timer: the block counter marks its expiry.
    let g = uc.get_data_mut();
    let next = crate::emu::backend::Backend::next_event(&*g);
    g.state.arm(next);
    Ok(())
}

/// An undefined instruction (the PC on it): an MRS of an ID register is emulated with
/// the value EL0 sees, as Linux's `emulate_mrs` does; an MTE instruction is executed on a
/// machine with MTE (Unicorn's CPU has none); anything else is SIGILL.
fn on_undefined(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    // The PC from the CPU's state: `Unicorn::pc_read` first asks the engine for its mode
    // (`uc_ctl`), which was 2.5 % of the tagged heap benchmark, one call per tag instruction.
    let pc = match super::cpu_env::pc(uc) {
        Some(pc) => pc,
        None => uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?,
    };
    // Called inline (Unicorn patch 0008), the engine has the word it decoded; else read it.
    let insn = inline_insn(uc).or_else(|| read_insn(uc.get_data(), pc));
    if let Some((3, 0, 0, crm, op2, rt)) = insn.and_then(sysregs::decode_mrs) {
        if let Some(v) = uc.get_data().user_regs.read_el0(crm, op2) {
            if rt != 31 {
                uc.reg_write(xreg(rt), v).op("write mrs result")?;
            }
            uc.get_data_mut().state.stats.emulated_insns += 1;
            step_past(uc, pc)?;
            return Ok(());
        }
    }
    // The MTE instructions exist only on a machine with MTE.
    if uc.get_data().kernel.mte.supported() {
        if let Some(m) = insn.and_then(crate::mte::insn::decode) {
            if mte::execute(uc, m)? {
                // A tag store may invalidate pages entered unchecked.
                let g = uc.get_data_mut();
                let mut retagged = std::mem::take(&mut g.retagged_buf);
                g.kernel.mm.swap_retagged(&mut retagged);
                if !retagged.is_empty() {
                    mte::forget_unchecked(uc, &retagged);
                }
                uc.get_data_mut().retagged_buf = retagged;
                uc.get_data_mut().state.stats.emulated_insns += 1;
                step_past(uc, pc)?;
            }
            return Ok(());
        }
    }
    uc.get_data_mut().pending =
        Some(PendingSignal { signo: sig::SIGILL, si_code: code::ILL_ILLOPC, addr: Some(pc), esr: None, forced: true });
    uc.emu_stop().op("stop")
}

/// Step the PC past the instruction at `pc` that the interrupt hook emulated. Writing the PC
/// through `uc_reg_write` makes Unicorn leave its CPU loop and enter it again, which measured
/// about a fifth of an emulated tag store (`cpu_exec`, `resume_all_vcpus`); from inside the
/// hook QEMU goes on at the CPU's PC anyway, so it is written there. For an unallocated
/// encoding called inline ([`emulate_undefined_inline`]) this PC is also what tells the
/// engine that the instruction was emulated, so the block goes on.
fn step_past<D>(uc: &mut Unicorn<D>, pc: u64) -> Result<(), EmuError> {
    if super::cpu_env::set_pc(uc, pc + 4) {
        return Ok(());
    }
    uc.set_pc(pc + 4).op("advance pc")
}

extern "C" {
    /// tagmmu's Unicorn patch 0008.
    fn uc_tagmmu_inline_udef(uc: *mut unicorn_engine_sys::uc_engine, enable: bool) -> unicorn_engine_sys::uc_error;
    /// tagmmu's Unicorn patch 0008.
    fn uc_tagmmu_udef_insn(uc: *mut unicorn_engine_sys::uc_engine, insn: *mut u32) -> unicorn_engine_sys::uc_error;
}

/// The word of the unallocated instruction whose interrupt hook runs inline (patch 0008),
/// as the translator decoded it; None for an exception raised the normal way.
fn inline_insn<D>(uc: &Unicorn<D>) -> Option<u32> {
    let mut w = 0u32;
    // SAFETY: `uc` is the live engine, calling its interrupt hook; `w` is a valid u32.
    let err = unsafe { uc_tagmmu_udef_insn(uc.get_handle(), &mut w) };
    (err == unicorn_engine_sys::uc_error::OK).then_some(w)
}

/// Have unallocated encodings (the MTE instructions, which Unicorn's QEMU 5.0 does not
/// know) call the interrupt hook from inside their translation block instead of raising
/// EXCP_UDEF (tagmmu's Unicorn patch 0008). The hook ([`on_undefined`]) always either
/// emulates the instruction and steps the PC past it, or stops the CPU with the PC on it,
/// which is what the engine needs to tell the two apart. An exception left the block, went
/// through QEMU's CPU loop and looked the next block up: measured on the tagged heap
/// benchmark (one tag instruction per few dozen), that was about a sixth of the run.
pub(super) fn emulate_undefined_inline(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    // SAFETY: `uc` is the live engine, not running.
    let err = unsafe { uc_tagmmu_inline_udef(uc.get_handle(), true) };
    if err != unicorn_engine_sys::uc_error::OK {
        return Err(EmuError::Unicorn { op: "call the undefined-instruction hook inline", err });
    }
    Ok(())
}

/// The interrupt hook: syscalls, undefined instructions, aborts and breakpoints.
pub(super) fn on_interrupt(uc: &mut Unicorn<Guest>, intno: u32) -> Result<(), EmuError> {
    match intno {
        EXCP_SWI => on_syscall(uc),
        EXCP_UDEF => on_undefined(uc),
        EXCP_BKPT => {
            let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
            uc.get_data_mut().pending = Some(PendingSignal {
                signo: sig::SIGTRAP,
                si_code: code::TRAP_BRKPT,
                addr: Some(pc),
                esr: None,
                forced: true,
            });
            uc.emu_stop().op("stop")
        }
        EXCP_DATA_ABORT | EXCP_PREFETCH_ABORT => {
            // Translation faults come through the TLB fill; what is left are alignment faults
            // (SP alignment, exclusive accesses), which Linux reports as SIGBUS.
            let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
            uc.get_data_mut().pending = Some(PendingSignal {
                signo: sig::SIGBUS,
                si_code: code::BUS_ADRALN,
                addr: Some(pc),
                esr: None,
                forced: true,
            });
            uc.emu_stop().op("stop")
        }
        other => {
            let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
            uc.get_data_mut().pending = Some(PendingSignal {
                signo: sig::SIGILL,
                si_code: code::ILL_ILLOPC,
                addr: Some(pc),
                esr: None,
                forced: true,
            });
            uc.get_data_mut().kernel.notice(format!("unexpected CPU exception {other} at {pc:#x}: delivering SIGILL"));
            uc.emu_stop().op("stop")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::access_hook::tests::counting_check;
    use unicorn_engine::{Arch, Mode, Prot};

    const BASE: u64 = 0x10_000;
    /// An unallocated encoding (bits 28:25 = 0), then `mov x0, #1`.
    const UNALLOCATED: [u32; 2] = [0x0000_1234, 0xd280_0020];
    /// `stg x0, [x0]` (an MTE instruction: unallocated in Unicorn's CPU, emulated by tagmmu),
    /// then `mov x0, #1`.
    const TAG_INSN: [u32; 2] = [0xd920_0800, 0xd280_0020];
    /// `dc gva, x2` (MTE's, unknown to Unicorn's QEMU: its SYS register is not found),
    /// then `mov x0, #1`.
    const DC_GVA: [u32; 2] = [0xd50b_7462, 0xd280_0020];
    /// An unallocated "three same (FP16)" encoding (U=0, a=0, opcode 101), then `mov x0, #1`.
    const FP16_UNALLOCATED: [u32; 2] = [0x0e40_2c00, 0xd280_0020];

    /// What the hooks saw, and how the interrupt hook answers.
    #[derive(Default)]
    struct Seen {
        calls: Vec<(u32, u64, Option<u32>)>,
        sys_calls: u32,
        stop: bool,
    }

    /// Run `code` on a bare engine whose interrupt hook records each call and then steps
    /// past the instruction, or stops the engine (`stop`); with `sys_hook`, a SYS hook (as
    /// tagmmu's DC ZVA check) that counts its calls and lets the instruction go on.
    fn run(code: [u32; 2], inline: bool, stop: bool, sys_hook: bool) -> (Seen, u64, u64) {
        let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::ARM, Seen { stop, ..Seen::default() }).unwrap();
        // The CPU tagmmu runs (with FP16, for the encoding below).
        uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::MAX as i32).unwrap();
        uc.mem_map(BASE, 0x1000, Prot::ALL).unwrap();
        let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
        uc.mem_write(BASE, &bytes).unwrap();
        if inline {
            // SAFETY: `uc` is a live engine, not running.
            assert_eq!(unsafe { uc_tagmmu_inline_udef(uc.get_handle(), true) }, unicorn_engine_sys::uc_error::OK);
        }
        uc.add_intr_hook(|uc, intno| {
            let pc = super::super::cpu_env::pc(uc).unwrap();
            let word = inline_insn(uc);
            uc.get_data_mut().calls.push((intno, pc, word));
            if uc.get_data().stop {
                uc.emu_stop().unwrap();
            } else {
                step_past(uc, pc).unwrap();
            }
        })
        .unwrap();
        // tagmmu's own SYS hook (a C function returning uint32_t; the crate's Rust proxy
        // returns a bool where Unicorn reads a uint32_t), with a check that counts its calls.
        let sys_calls = Box::into_raw(Box::new(0u32));
        let _held =
            sys_hook.then(|| crate::emu::access_hook::install_sys(&mut uc, counting_check, sys_calls.cast()).unwrap());
        uc.emu_start(BASE, BASE + 8, 0, 0).unwrap();
        // SAFETY: made by Box::into_raw above; the engine no longer runs.
        uc.get_data_mut().sys_calls = *unsafe { Box::from_raw(sys_calls) };
        let x0 = uc.reg_read(RegisterARM64::X0).unwrap();
        let pc = uc.reg_read(RegisterARM64::PC).unwrap();
        (std::mem::take(uc.get_data_mut()), x0, pc)
    }

    /// Unicorn patch 0008: an unallocated encoding calls the interrupt hook with EXCP_UDEF
    /// from inside its block, with the PC on it and the decoded word at hand; stepping the
    /// PC lets the block go on, stopping leaves the PC on the instruction.
    #[test]
    fn an_unallocated_encoding_calls_the_interrupt_hook_inline() {
        let (seen, x0, pc) = run(TAG_INSN, true, false, false);
        assert_eq!(seen.calls, vec![(EXCP_UDEF, BASE, Some(TAG_INSN[0]))]);
        assert_eq!((x0, pc), (1, BASE + 8), "the block went on after the hook");

        let (seen, x0, pc) = run(TAG_INSN, true, true, false);
        assert_eq!(seen.calls, vec![(EXCP_UDEF, BASE, Some(TAG_INSN[0]))]);
        assert_eq!((x0, pc), (0, BASE), "stopped on the instruction, nothing after it ran");

        // Without it, the exception: the same call, but no word from the engine.
        let (seen, x0, pc) = run(TAG_INSN, false, false, false);
        assert_eq!(seen.calls, vec![(EXCP_UDEF, BASE, None)]);
        assert_eq!((x0, pc), (1, BASE + 8));
    }

    /// Unicorn patch 0014: a word tagmmu cannot emulate (not a tag or system instruction)
    /// raises the exception even with the inline path on, which ends its block (resuming
    /// after it does not translate again what the block would have gone on through).
    #[test]
    fn an_unallocated_word_tagmmu_cannot_emulate_takes_the_exception() {
        let (seen, x0, pc) = run(UNALLOCATED, true, false, false);
        assert_eq!(seen.calls, vec![(EXCP_UDEF, BASE, None)], "the exception path: no inline word");
        assert_eq!((x0, pc), (1, BASE + 8), "stepping past it goes on");
    }

    /// An unknown SYS instruction (DC GVA, which glibc's heap tagging uses) is called inline
    /// too when a SYS hook runs first: measured on the tagged heap, 375,000 of them took the
    /// exception before.
    #[test]
    fn an_unknown_sys_instruction_after_a_sys_hook_calls_the_interrupt_hook_inline() {
        let (seen, x0, pc) = run(DC_GVA, true, false, true);
        assert_eq!(seen.sys_calls, 1, "the SYS hook ran first");
        assert_eq!(seen.calls, vec![(EXCP_UDEF, BASE, Some(DC_GVA[0]))]);
        assert_eq!((x0, pc), (1, BASE + 8));
        let (seen, ..) = run(DC_GVA, true, false, false);
        assert_eq!(seen.calls, vec![(EXCP_UDEF, BASE, Some(DC_GVA[0]))]);
    }

    /// Unicorn patch 0009: an unallocated FP16 "three same" encoding is UNDEFINED. QEMU 5.0
    /// reached `g_assert_not_reached()` in its translator and aborted the host process
    /// (found by the `insns_arm64` fuzz target).
    #[test]
    fn unallocated_fp16_two_register_misc_encodings_are_undefined() {
        // Unicorn patch 0012 (found by a scan of every Rm with examples/translate_scan): the
        // vector form with an unallocated U:a:opcode (U=0 a=0 opcode 0), the scalar FABS and
        // the vector FRECPX, which the table does not have, aborted the host in QEMU 5.0.
        for word in [0x0e78_0822, 0x5ef8_f822, 0x0ef9_f822] {
            let (seen, x0, pc) = run([word, 0xd280_0020], true, false, false);
            // Not a word tagmmu emulates: the exception (patch 0014), no inline word.
            assert_eq!(seen.calls, vec![(EXCP_UDEF, BASE, None)], "{word:#010x}");
            assert_eq!((x0, pc), (1, BASE + 8), "{word:#010x}");
        }
    }

    #[test]
    fn an_unallocated_fp16_three_same_encoding_is_undefined() {
        let (seen, x0, pc) = run(FP16_UNALLOCATED, true, false, false);
        // Not a word tagmmu emulates: the exception (patch 0014), no inline word.
        assert_eq!(seen.calls, vec![(EXCP_UDEF, BASE, None)]);
        assert_eq!((x0, pc), (1, BASE + 8));
    }
}
