//! The CPU side of threads: each parked thread's registers (a Unicorn context) and the EL0
//! state tagmmu keeps beside Unicorn's CPU (PSTATE.TCO, an asynchronous tag fault recorded
//! in TFSRE0_EL1), the context a new thread starts from, and the switch itself.

use unicorn_engine::{Context, RegisterARM64, Unicorn};

use crate::emu::{EmuError, UcContext};
use crate::kernel_stub::errno::KResult;
use crate::kernel_stub::task::{Spawn, Switch, Tid};

use super::Guest;

/// A parked thread's CPU state.
pub(super) struct CpuThread {
    regs: Context,
    tco: bool,
    /// TFSRE0_EL1.TF0 at the switch away: Linux's mte_thread_switch turns it into the
    /// outgoing thread's TIF_MTE_ASYNC_FAULT, reported when that thread next enters the kernel.
    async_fault: bool,
}

/// A thread `clone` created: the creator's registers as they are at the syscall's return,
/// with the syscall returning 0 in the child, its own stack and thread pointer.
pub(super) fn spawn(uc: &mut Unicorn<Guest>, s: Spawn) -> Result<(), EmuError> {
    let mut regs = uc.context_init().op("save context")?;
    regs.reg_write(RegisterARM64::X0, 0).op("write child x0")?;
    if s.stack != 0 {
        regs.reg_write(RegisterARM64::SP, s.stack).op("write child sp")?;
    }
    if let Some(tls) = s.tls {
        regs.reg_write(RegisterARM64::TPIDR_EL0, tls).op("write child tpidr")?;
    }
    let g = uc.get_data_mut();
    let tco = g.tco;
    g.threads.insert(s.tid, CpuThread { regs, tco, async_fault: false });
    Ok(())
}

/// Carry out the scheduler's decision: save the outgoing thread's CPU state (unless it
/// exited), load the incoming one's, and finish its interrupted syscall as `sw.resume` says.
pub(super) fn switch(uc: &mut Unicorn<Guest>, sw: &Switch) -> Result<(), EmuError> {
    if sw.from != sw.to || !sw.from_alive {
        if sw.from_alive {
            let regs = uc.context_init().op("save context")?;
            let g = uc.get_data_mut();
            let (tco, async_fault) = (g.tco, std::mem::take(&mut g.async_fault));
            g.threads.insert(sw.from, CpuThread { regs, tco, async_fault });
        }
        let Some(next) = uc.get_data_mut().threads.remove(&sw.to) else {
            return Err(EmuError::Internal(format!("thread {} has no CPU context", sw.to)));
        };
        uc.context_restore(&next.regs).op("restore context")?;
        let g = uc.get_data_mut();
        g.tco = next.tco;
        g.async_fault = next.async_fault;
    }
    if let Some((r, _)) = sw.resume.result() {
        // The thread slept in a syscall with its PC on the SVC: the syscall returns now.
        uc.reg_write(RegisterARM64::X0, result_reg(&r)).op("write x0")?;
        let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
        uc.set_pc(pc + 4).op("advance pc")?;
    }
    let g = uc.get_data_mut();
    g.state.flush_tlb = true;
    g.slice_end = g.kernel.threads.slice_end(g.state.instructions());
    let next = crate::emu::backend::Backend::next_event(&*g);
    g.state.arm(next);
    Ok(())
}

/// x0 of a syscall's return: the value, or -errno.
pub(super) fn result_reg(r: &KResult<u64>) -> u64 {
    match r {
        Ok(v) => *v,
        Err(e) => (-e.generic()) as u64,
    }
}

/// The threads that are parked, by id (for the map's type).
pub(super) type Parked = std::collections::HashMap<Tid, CpuThread>;
