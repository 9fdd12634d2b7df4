//! execve on the running machine (sparc64): the process's CPU goes on with the new image,
//! as start_thread leaves a new task (registers cleared, an empty register file, the
//! argument block above %sp), with the new image's patched instructions, and the old code's
//! translations dropped.

use unicorn_engine::Unicorn;

use crate::emu::backend::sync_memory;
use crate::emu::{EmuError, FatalSignal, Stop, UcContext};
use crate::kernel_stub::exec::ExecParams;
use crate::kernel_stub::signal::{code, sig};

use super::Guest;

/// Load the program the committed execve left in `kernel.pending_exec` and point the CPU
/// at it. A failure past the point of no return kills the process with SIGSEGV, as
/// bprm_execve's force_fatal_sig does: the stop to report.
pub(super) fn exec_in_place(uc: &mut Unicorn<Guest>, template: &ExecParams, at: u64) -> Result<Option<Stop>, EmuError> {
    let g = uc.get_data_mut();
    let Some(req) = g.kernel.pending_exec.take() else {
        return Err(EmuError::Internal("execve committed without a program".into()));
    };
    let params = ExecParams { argv: req.argv, envp: req.envp, execfn: req.execfn, ..template.clone() };
    let code = req.image.code_ranges.clone();
    let loaded = g.kernel.exec(&req.image, &params).and_then(|start| {
        let trampoline = super::map_trampoline(&mut g.kernel)?;
        Ok((start, trampoline))
    });
    let (start, trampoline) = match loaded {
        Ok(l) => l,
        Err(errno) => {
            let mut signal = FatalSignal::new(sig::SIGSEGV, code::SI_KERNEL, None, at, "ta 0x6d".into());
            signal.detail = Some(format!("exec of {} failed past the point of no return: {errno}", req.path));
            return Ok(Some(Stop::Killed { signal }));
        }
    };
    g.kernel.exe_path = req.path;
    g.trampoline = trampoline;
    g.patches = super::patch_image(&mut g.kernel, &code);
    // de_thread took the other threads of the process: their registers go too.
    let kernel = &g.kernel;
    g.threads.retain(|t, _| kernel.threads.is_parked(*t));
    g.resume = None;
    // flush_thread: the new program holds no window of the old one.
    g.held.clear();
    g.state.flush_tlb = true;
    super::start_thread(uc, start)?;
    // The old program's translated code is stale (the new image was written behind the
    // translator's back).
    uc.ctl_flush_tb().op("flush translations")?;
    sync_memory(uc)?;
    Ok(None)
}
