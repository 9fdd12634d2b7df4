//! The run loop both CPU backends share: start the CPU, and at each stop either end the run,
//! deliver the signal a hook left (then every other deliverable one, as Linux stacks their
//! frames), resume after a memory-map change, or turn a jump out of user space into SIGSEGV.
//! What differs per architecture (where to begin, the signal record, the frame) is
//! [`RunLoop`]'s.

use unicorn_engine::Unicorn;

use crate::emu::backend::{sync_memory, Backend};
use crate::emu::{EmuError, RunOutput, Stop};
use crate::kernel_stub::mm::Prot;
use crate::kernel_stub::signal::{code, sig};
use crate::kernel_stub::Kernel;

/// Emulation stops when the PC reaches this (a kernel address no user code can run at).
pub(crate) const UNTIL: u64 = 0xffff_ffff_ffff_fff0;

/// What the shared run loop needs of a backend's guest.
pub(crate) trait RunLoop: Backend + Sized {
    /// A signal waiting for a clean stop to be delivered.
    type Signal;

    /// Get the CPU ready to run again; the address to start it at.
    fn begin(uc: &mut Unicorn<Self>) -> Result<u64, EmuError>;
    /// The signal a hook left for delivery, if any.
    fn take_pending(&mut self) -> Option<Self::Signal>;
    /// Undo what the hook that raised `p` did to stop the CPU precisely (the tag alias it
    /// took away, the PC it stopped at), before the frame is built.
    fn before_delivery(uc: &mut Unicorn<Self>, p: &Self::Signal) -> Result<(), EmuError>;
    /// A signal raised by the kernel (`forced`: by a fault the task cannot continue past).
    fn signal(signo: u32, si_code: i32, addr: Option<u64>, forced: bool) -> Self::Signal;
    /// Deliver `p`: run its handler, ignore it, or end the guest (the stop).
    fn deliver(uc: &mut Unicorn<Self>, p: Self::Signal) -> Result<Option<Stop>, EmuError>;
    /// The guest's PC.
    fn pc(uc: &Unicorn<Self>) -> Result<u64, EmuError>;
    /// Carry out a context switch the scheduler decided (save and load CPU state, finish the
    /// incoming thread's interrupted syscall).
    fn switch_threads(uc: &mut Unicorn<Self>, sw: &crate::kernel_stub::task::Switch) -> Result<(), EmuError>;
    /// Before the scheduler picks (the address space is still the running thread's): keep
    /// what of the running thread's CPU state must be kept now.
    fn before_schedule(_uc: &mut Unicorn<Self>) -> Result<(), EmuError> {
        Ok(())
    }
    /// These threads are gone (their process ended): drop their CPU state.
    fn forget_threads(_uc: &mut Unicorn<Self>, _tids: &[crate::kernel_stub::task::Tid]) {}
    /// On the way back to user, a fault the kernel raises for CPU state it could not hand
    /// back (sparc64: register windows it holds and still cannot store), to deliver before
    /// the CPU runs.
    fn fault_on_return(_uc: &mut Unicorn<Self>) -> Result<Option<Self::Signal>, EmuError> {
        Ok(None)
    }
}

/// Run the guest until its first process ends. Another process that ends (exit, or a fatal
/// signal) becomes a zombie for its parent and the scheduler goes on with the others.
pub(crate) fn run_until_stop<G: RunLoop>(uc: &mut Unicorn<G>) -> Result<Stop, EmuError> {
    use crate::kernel_stub::task::process::ExitStatus;
    loop {
        let stop = run_until_process_stop(uc)?;
        let k = uc.get_data_mut().kernel();
        let status = match &stop {
            _ if k.is_first_process() => return Ok(stop),
            Stop::Exited { status } => ExitStatus::Exited(*status as u8),
            // No core is written (RLIMIT_CORE is 0, as the machine starts), so no WCOREDUMP.
            Stop::Killed { signal } => ExitStatus::Killed { signo: signal.signo, core: false },
            _ => return Ok(stop),
        };
        let (pid, signo) =
            (k.config.pid, matches!(status, ExitStatus::Killed { .. }).then_some(status.wstatus() & 0x7f));
        if let Some(signo) = signo {
            k.notice(format!(
                "process {pid} killed by {} (its parent sees it in wait)",
                crate::kernel_stub::signal::signal_name(signo)
            ));
        }
        let gone = k.exit_process(status);
        G::forget_threads(uc, &gone);
        if let Some(stop) = switch_threads(uc)? {
            return Ok(stop);
        }
    }
}

/// Run the guest until the running process ends (or the run does).
fn run_until_process_stop<G: RunLoop>(uc: &mut Unicorn<G>) -> Result<Stop, EmuError> {
    loop {
        // A stop for a thrashing TLB (`RunState::note_tlb_fill`) is taken here: the flush
        // lets QEMU grow the table.
        if uc.get_data_mut().run().flush_tlb {
            sync_memory(uc)?;
        }
        if let Some(p) = G::fault_on_return(uc)? {
            if let Some(stop) = G::deliver(uc, p)? {
                return Ok(stop);
            }
        }
        let begin = G::begin(uc)?;
        let g = uc.get_data_mut();
        let next = g.next_event();
        g.run().arm(next);
        let r = uc.emu_start(begin, UNTIL, 0, 0);
        let g = uc.get_data_mut();
        if let Some(e) = g.run().error.take() {
            return Err(e);
        }
        if let Some(stop) = g.run().stop.take() {
            return Ok(stop);
        }
        if let Some(p) = g.take_pending() {
            // A user access that found the machine out of memory: its SIGKILL is `p`; the
            // OOM killer's report goes to the notices.
            uc.get_data_mut().kernel().take_oom_kill();
            G::before_delivery(uc, &p)?;
            sync_memory(uc)?;
            if let Some(stop) = G::deliver(uc, p)? {
                return Ok(stop);
            }
            if let Some(stop) = deliver_pending(uc)? {
                return Ok(stop);
            }
            if !std::mem::take(&mut uc.get_data_mut().run().reschedule) {
                continue;
            }
            if let Some(stop) = switch_threads(uc)? {
                return Ok(stop);
            }
            continue;
        }
        if std::mem::take(&mut g.run().reschedule) {
            if let Some(stop) = switch_threads(uc)? {
                return Ok(stop);
            }
            continue;
        }
        if let Err(err) = r {
            if err != unicorn_engine::uc_error::EXCEPTION {
                return Err(EmuError::Unicorn { op: "run", err });
            }
        }
        // Unicorn also returns when a hook changed the memory map (it abandons the current
        // block): resume. Reaching UNTIL, or a refused fetch there, means a jump into
        // kernel space: SIGSEGV.
        let pc = G::pc(uc)?;
        if !user_executable(uc.get_data_mut().kernel(), pc) {
            let p = G::signal(sig::SIGSEGV, code::SEGV_MAPERR, Some(pc), true);
            if let Some(stop) = G::deliver(uc, p)? {
                return Ok(stop);
            }
        }
    }
}

/// A scheduling point: the scheduler picks the next thread, the backend switches to it, and
/// what became deliverable for it is delivered. Every thread asleep for ever is a deadlock.
fn switch_threads<G: RunLoop>(uc: &mut Unicorn<G>) -> Result<Option<Stop>, EmuError> {
    G::before_schedule(uc)?;
    let sw = match uc.get_data_mut().kernel().schedule() {
        Ok(sw) => sw,
        Err(reason) => return Ok(Some(Stop::Deadlock { reason })),
    };
    G::switch_threads(uc, &sw)?;
    sync_memory(uc)?;
    deliver_pending(uc)
}

/// Deliver every signal that is pending and not blocked (after a handler's frame is built,
/// the next one stacks on top, as Linux does).
pub(crate) fn deliver_pending<G: RunLoop>(uc: &mut Unicorn<G>) -> Result<Option<Stop>, EmuError> {
    while let Some((signo, si_code, addr)) = uc.get_data_mut().kernel().signals.take_deliverable() {
        if let Some(stop) = G::deliver(uc, G::signal(signo, si_code, addr, false))? {
            return Ok(Some(stop));
        }
    }
    Ok(None)
}

/// Whether `pc` lies in an executable user mapping.
fn user_executable(kernel: &Kernel, pc: u64) -> bool {
    kernel.mm.untag(pc).and_then(|a| kernel.mm.prot_at(a)).is_some_and(|p| p.contains(Prot::EXEC))
}

/// The run's result: the kernel stub moved out of the engine's data, with `stop` and the
/// CPU counters.
pub(crate) fn finish<G: Backend>(uc: &mut Unicorn<G>, stop: Stop) -> RunOutput {
    let g = uc.get_data_mut();
    let stats = g.run().stats();
    let arch = g.kernel().arch;
    let kernel = std::mem::replace(g.kernel(), Kernel::new(arch, Default::default()));
    RunOutput { kernel, stop, stats }
}
