//! execve on the running machine: the process's CPU goes on with the new image (the kernel
//! stub has already released the old mappings and reset what exec resets), as Linux's
//! start_thread does: registers cleared, the stack pointer and entry point of the new
//! program, no FP/SIMD state, translations of the old code dropped.

use unicorn_engine::{RegisterARM64, Unicorn};

use crate::emu::backend::sync_memory;
use crate::emu::{EmuError, FatalSignal, Stop, UcContext};
use crate::kernel_stub::exec::{ExecParams, InitialState};
use crate::kernel_stub::signal::{code, sig};

use super::regs::xreg;
use super::Guest;

/// Load the program the committed execve left in `kernel.pending_exec` and point the CPU
/// at it. A failure past the point of no return kills the process with SIGSEGV, as
/// bprm_execve's force_fatal_sig does: the stop to report.
pub(super) fn exec_in_place(uc: &mut Unicorn<Guest>, template: &ExecParams) -> Result<Option<Stop>, EmuError> {
    let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
    let g = uc.get_data_mut();
    let Some(req) = g.kernel.pending_exec.take() else {
        return Err(EmuError::Internal("execve committed without a program".into()));
    };
    let params = ExecParams { argv: req.argv, envp: req.envp, execfn: req.execfn, ..template.clone() };
    let loaded = g.kernel.exec(&req.image, &params).and_then(|start| {
        let trampoline = super::map_sigreturn_trampoline(&mut g.kernel)?;
        Ok((start, trampoline))
    });
    let (start, trampoline) = match loaded {
        Ok(l) => l,
        Err(errno) => {
            let mut signal = FatalSignal::new(sig::SIGSEGV, code::SI_KERNEL, None, pc.wrapping_sub(4), "svc #0".into());
            signal.detail = Some(format!("exec of {} failed past the point of no return: {errno}", req.path));
            return Ok(Some(Stop::Killed { signal }));
        }
    };
    g.kernel.exe_path = req.path;
    g.sigreturn_trampoline = trampoline;
    // de_thread took the other threads of the process: their CPU state goes too.
    let kernel = &g.kernel;
    g.threads.retain(|t, _| kernel.threads.is_parked(*t));
    g.tco = false;
    g.async_fault = false;
    g.undo = None;
    g.split = None;
    g.slice_end = if g.kernel.threads.alone() { u64::MAX } else { g.slice_end };
    g.state.flush_tlb = true;
    start_thread(uc, start)?;
    // The old program's translated code is stale (the new image was written behind the
    // translator's back).
    uc.ctl_flush_tb().op("flush translations")?;
    sync_memory(uc)?;
    Ok(None)
}

/// start_thread: every general register 0, FP/SIMD cleared, SP and PC of the new program,
/// EL0 with all flags clear, no thread pointer.
fn start_thread(uc: &mut Unicorn<Guest>, start: InitialState) -> Result<(), EmuError> {
    uc.reg_write(RegisterARM64::PSTATE, 0).op("write pstate")?;
    for n in 0..=30 {
        uc.reg_write(xreg(n), 0).op("clear registers")?;
    }
    for q in 0..32 {
        let reg = RegisterARM64::Q0 as i32 + q;
        uc.reg_write_long(reg, &[0u8; 16]).op("clear fp/simd registers")?;
    }
    uc.reg_write(RegisterARM64::FPCR, 0).op("clear fpcr")?;
    uc.reg_write(RegisterARM64::FPSR, 0).op("clear fpsr")?;
    uc.reg_write(RegisterARM64::SP, start.sp).op("write sp")?;
    uc.reg_write(RegisterARM64::TPIDR_EL0, 0).op("write tpidr")?;
    uc.set_pc(start.pc).op("write pc")?;
    Ok(())
}
