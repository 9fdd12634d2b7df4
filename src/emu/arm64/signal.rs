//! Signal delivery at a clean stop: the handler's frame, an ignored signal, or the end of the
//! guest with the report of why (with the tag check fault's details).

use unicorn_engine::Unicorn;

use crate::emu::{EmuError, FatalSignal, Stop, UcContext};
use crate::kernel_stub::signal::SigInfo;
use crate::kernel_stub::signal::{code, default_action, sig, DefaultAction, SIG_DFL, SIG_IGN};
use crate::kernel_stub::trace::TraceEvent;

use super::regs::{read_regs, write_regs};
use super::{disasm_at, Guest, PendingSignal};

/// Deliver a signal at a clean stop: run its handler (building the signal frame), ignore it,
/// or end the guest. Returns the stop if it ends the guest.
pub(super) fn deliver(uc: &mut Unicorn<Guest>, p: PendingSignal) -> Result<Option<Stop>, EmuError> {
    let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")?;
    let g = uc.get_data_mut();
    if p.forced {
        g.kernel.signals.force(p.signo);
    }
    let act = g.kernel.signals.action(p.signo);
    // si_addr: Linux clears the top byte (tag bits) unless the handler asked for them with
    // SA_EXPOSE_TAGBITS; then a tag check fault shows the logical tag in bits 59:56, and bits
    // 63:60 as accessed with FEAT_MTE_TAGGED_FAR, else 0 (do_tag_check_fault).
    let exposed = act.flags & crate::kernel_stub::signal::flags::SA_EXPOSE_TAGBITS != 0;
    let is_tag_fault = p.signo == sig::SIGSEGV && p.si_code == code::SEGV_MTESERR;
    let far = g.kernel.mte.machine.tagged_far;
    let si_addr = p.addr.map(|a| match (exposed, is_tag_fault) {
        (false, _) => a & 0x00ff_ffff_ffff_ffff,
        (true, true) if !far => a & 0x0fff_ffff_ffff_ffff,
        (true, _) => a,
    });
    let detail = if is_tag_fault {
        g.tag_fault.take().map(|t| {
            format!(
                "{} through pointer tag {:#x}, granule's memory tag {:#x}",
                if t.store { "store" } else { "load" },
                t.ptr_tag,
                t.mem_tag
            )
        })
    } else {
        None
    };
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
        let info = SigInfo {
            signo: p.signo,
            code: p.si_code,
            addr: if p.si_code > 0 { si_addr } else { None },
            sender: (p.si_code <= 0).then_some((g.kernel.config.pid, g.kernel.config.uid)),
            esr: p.esr,
            fault_address: si_addr.unwrap_or(0),
        };
        let trampoline = g.sigreturn_trampoline;
        if g.kernel.trace.syscalls {
            g.kernel.trace.emit(TraceEvent::Signal {
                signo: p.signo,
                si_code: p.si_code,
                addr: p.addr,
                action: format!("handler {:#x}", act.handler),
            });
        }
        let held = read_regs(uc)?;
        let mut regs = held.clone();
        let g = uc.get_data_mut();
        match g.kernel.setup_rt_frame_arm64(&mut regs, &info, &act, trampoline) {
            Ok(()) => {
                write_regs(uc, &regs, &held)?;
                return Ok(None);
            }
            Err(_) => {
                // The frame could not be written: force_sigsegv.
                g.kernel.signals.force(sig::SIGSEGV);
                let _ = g.kernel.signals.set_action(sig::SIGSEGV as u64, Some(Default::default()));
                let insn = disasm_at(g, pc);
                return Ok(Some(Stop::Killed {
                    signal: FatalSignal::new(sig::SIGSEGV, code::SI_KERNEL, None, pc, insn),
                }));
            }
        }
    };
    let action = if fatal { "killed" } else { "ignored" };
    if g.kernel.trace.syscalls {
        g.kernel.trace.emit(TraceEvent::Signal {
            signo: p.signo,
            si_code: p.si_code,
            addr: si_addr,
            action: action.into(),
        });
    }
    if !fatal {
        return Ok(None);
    }
    let insn = disasm_at(g, pc);
    let mut signal = FatalSignal::new(p.signo, p.si_code, si_addr, pc, insn);
    signal.detail = detail;
    Ok(Some(Stop::Killed { signal }))
}
