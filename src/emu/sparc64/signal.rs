//! Signal delivery at a clean stop: the handler's frame (after flushing the windows; those
//! that cannot be stored go into the frame), an ignored signal, or the end of the guest with
//! the report of why.

use unicorn_engine::Unicorn;

use crate::emu::{EmuError, FatalSignal, Stop};
use crate::kernel_stub::signal::{code, default_action, sig, DefaultAction, SIG_DFL, SIG_IGN};
use crate::kernel_stub::trace::TraceEvent;

use super::regs::{read_regs, write_regs};
use super::traps::synchronize_user_stack;
use super::traps::{ST_LINUX64_SYSCALL, TRAP_BASE};
use super::{disasm_at, Guest, PendingSignal};

/// Deliver a signal at a clean stop: run its handler (flushing the windows and building the
/// sparc64 frame), ignore it, or end the guest. Returns the stop if it ends the guest.
pub(super) fn deliver(uc: &mut Unicorn<Guest>, p: PendingSignal) -> Result<Option<Stop>, EmuError> {
    let env = uc.get_data().env();
    let pc = env.pc();
    let g = uc.get_data_mut();
    if p.forced {
        g.kernel.signals.force(p.signo);
    }
    let act = g.kernel.signals.action(p.signo);
    let name = crate::kernel_stub::signal::sparc64::name(p.signo);
    if act.handler == SIG_DFL {
        if let Some(reason) = crate::kernel_stub::signal::stops_for_ever(p.signo) {
            return Ok(Some(Stop::Deadlock { reason }));
        }
    }
    let fatal = if act.handler == SIG_IGN {
        false
    } else if act.handler == SIG_DFL {
        matches!(default_action(p.signo), DefaultAction::Terminate | DefaultAction::CoreDump)
    } else {
        if g.kernel.trace.syscalls {
            g.kernel.trace.emit(TraceEvent::Signal {
                signo: p.signo,
                si_code: p.si_code,
                addr: p.addr,
                action: format!("handler {:#x}", act.handler),
            });
        }
        let info = crate::kernel_stub::signal::SigInfo {
            signo: p.signo,
            code: p.si_code,
            addr: if p.si_code > 0 { p.addr } else { None },
            sender: (p.si_code <= 0).then_some((g.kernel.config.pid, g.kernel.config.uid)),
            esr: None,
            fault_address: p.addr.unwrap_or(0),
        };
        // The windows go to the stack, those that cannot be written into the frame's
        // `rwin_save` (more than the kernel can hold: as a frame that cannot be written).
        let framed = match synchronize_user_stack(uc) {
            Ok(_) => {
                let mut regs = read_regs(uc)?;
                let tt = if p.forced { 0 } else { TRAP_BASE + ST_LINUX64_SYSCALL };
                let g = uc.get_data_mut();
                match g.kernel.setup_rt_frame_sparc64(&mut regs, &info, &act, tt, &mut g.held) {
                    Ok(()) => {
                        write_regs(uc, &regs)?;
                        true
                    }
                    Err(_) => false,
                }
            }
            Err(_) => false,
        };
        if framed {
            return Ok(None);
        }
        // The frame could not be written: force_sigsegv.
        let g = uc.get_data_mut();
        g.kernel.signals.force(sig::SIGSEGV);
        let _ = g.kernel.signals.set_action(sig::SIGSEGV as u64, Some(Default::default()));
        let insn = disasm_at(g, pc);
        let mut signal = FatalSignal::new(sig::SIGSEGV, code::SI_KERNEL, None, pc, insn);
        signal.name = "SIGSEGV".into();
        return Ok(Some(Stop::Killed { signal }));
    };
    let action = if fatal { "killed" } else { "ignored" };
    if g.kernel.trace.syscalls {
        g.kernel.trace.emit(TraceEvent::Signal {
            signo: p.signo,
            si_code: p.si_code,
            addr: p.addr,
            action: action.into(),
        });
    }
    if !fatal {
        return Ok(None);
    }
    let insn = disasm_at(g, pc);
    let mut signal = FatalSignal::new(p.signo, p.si_code, p.addr, pc, insn);
    signal.name = name;
    signal.detail = match p.si_code {
        code::SEGV_ADIPERR => g.adi_fault.take().map(|f| {
            format!(
                "{} through pointer version {:#x}, block's version {:#x}",
                if f.store { "store" } else { "load" },
                f.ptr,
                f.mem
            )
        }),
        code::SEGV_ADIDERR => g.deferred_report.take().map(|d| {
            format!(
                "disrupting: store at {:#x} (pc {:#x}) through pointer version {:#x}, block's version {:#x}; si_addr is its real address",
                d.vaddr, d.pc, d.versions.0, d.versions.1
            )
        }),
        _ => None,
    };
    Ok(Some(Stop::Killed { signal }))
}
