//! The SPARC64 backend: Unicorn's SPARC V9 CPU (UltraSPARC IV model, 8 register windows)
//! running a Linux user task, as `qemu-sparc64` does.
//!
//! Unicorn gives the CPU no reset and no trap handling, so tagmmu supplies what Linux's trap
//! table does for a user task:
//! - **State**: the CPU starts zeroed (no window to SAVE into, FPU off). tagmmu sets the window
//!   registers, PSTATE.PEF, FPRS.FEF and %asi as Linux's `start_thread` leaves them
//!   (`cpu` reaches the state Unicorn has no API for).
//! - **Traps** arrive in the interrupt hook with Unicorn having already set PC = NPC. For a
//!   software trap (`ta`) that is the instruction after it. For a trap that must be retried
//!   (spill, fill, clean window) the trapping instruction is found from NPC and the current
//!   translation block (a trap in a delay slot is the block's last instruction), and PC/NPC
//!   are set back to it. Emulation cannot resume with NPC ≠ PC + 4 through `emu_start`, so
//!   that case goes through a one-instruction resume trampoline.
//! - **Syscalls** (`ta 0x6d`): number in %g1, arguments in %o0-%o5, result in %o0, the carry
//!   flag (icc.C and xcc.C) set on error with %o0 the positive errno, as Linux does.
//! - **Memory**: translation is tagmmu's (a virtual TLB over the kernel stub's address space).
//!   Unicorn restores the precise PC/NPC before calling the TLB fill hook, so a refused access
//!   is reported at its instruction, even in a delay slot.
//! - No code hooks: Unicorn's SPARC code hook writes a placeholder into NPC after a `jmpl`
//!   (its "dynamic NPC" marker), which breaks every return. Instruction tracing is refused.
//!
//! Modules: `regs` (the user registers through Unicorn), `traps` (the trap table: dispatch,
//! window handlers, illegal instructions, non-faulting loads), `entry` (syscalls,
//! `rt_sigreturn`, the context traps), `signal` (delivery), `windows` and `cpu` (the window
//! model and the CPU state Unicorn has no API for), `nofault`, `adi`.

mod adi;
pub(crate) mod cpu;
mod engine;
mod entry;
mod exec;
pub mod nofault;
mod regs;
mod runtime_code;
mod signal;
mod t4;
mod threads;
mod traps;
mod vis3;
pub mod windows;

use unicorn_engine::{Arch as UcArch, HookType, MemType, Mode, Prot as UcProt, TlbEntry, TlbType, Unicorn};

use crate::emu::backend::{guarded, guarded_result, sync_memory, tlb_walk, uc_perms, Backend, MappedPage, RunState};
use crate::emu::disasm::Disassembler;
use crate::emu::run_loop::{self, RunLoop, UNTIL};
use crate::emu::{access_hook, EmuError, RunLimits, RunOutput, Stop, UcContext};
use crate::kernel_stub::exec::InitialState;
use crate::kernel_stub::mm::{Access, FaultKind, Prot};
use crate::kernel_stub::Kernel;
use cpu::{SparcEnv, WindowState, FPRS_FEF, PSTATE_PEF};
use windows::STACK_BIAS;

use regs::{global_reg_id, window_reg_id};
use signal::deliver;
use traps::{on_illegal, on_interrupt};

/// Physical window no memory is mapped at (below QEMU's 41-bit SPARC64 physical space): a TLB
/// fill for a forbidden page points there, so the access faults with its offset intact.
const FAULT_WINDOW_PA: u64 = 0x1f0_0000_0000;
/// Register windows of the modelled CPU (UltraSPARC and SPARC M7 both have 8).
const NWINDOWS: u32 = 8;
/// `ASI_PNF`, the %asi Linux's `start_thread` gives a new task.
const ASI_PNF: u8 = 0x82;

/// `ta 0x7f; nop`: where emulation restarts when NPC is not PC + 4.
const RESUME_CODE: [u32; 2] = [0x91d0_207f, 0x0100_0000];

/// Options of the SPARC64 CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sparc64Options {
    /// Budgets.
    pub limits: RunLimits,
    /// Address of tagmmu's trampoline page (see [`map_trampoline`]).
    pub trampoline: u64,
    /// Instructions replaced in the loaded text by a trap, to emulate (address → original).
    pub patches: std::collections::HashMap<u64, u32>,
    /// What every exec of this machine passes besides the program and its arguments
    /// (hwcaps, the ADI auxv entries).
    pub exec_template: crate::kernel_stub::exec::ExecParams,
}

/// Replace the instructions tagmmu must emulate (ADI version accesses, `%asi` forms, and the
/// T4/M7 words Unicorn gets wrong, see `t4`) in the code of the loaded image; returns the
/// patch table. `code` is the image's executable sections ([`crate::kernel_stub::binfmt_elf::ElfImage::code_ranges`]):
/// only they are scanned, never data sharing an executable segment; without them, the whole
/// executable mappings.
pub fn patch_image(kernel: &mut Kernel, code: &[(u64, u64)]) -> std::collections::HashMap<u64, u32> {
    let mut table = std::collections::HashMap::new();
    let ranges: Vec<(u64, u64)> = kernel
        .mm
        .vmas()
        .iter()
        .filter(|v| v.prot.contains(Prot::EXEC) && v.kind == crate::kernel_stub::mm::VmaKind::Image)
        .map(|v| (v.start, v.end))
        .collect();
    let ranges: Vec<(u64, u64)> = if code.is_empty() {
        ranges
    } else {
        // Each code section clipped to the executable mappings, on whole words.
        ranges
            .iter()
            .flat_map(|&(vs, ve)| {
                code.iter().filter_map(move |&(cs, ce)| {
                    let (s, e) = (cs.max(vs).next_multiple_of(4), ce.min(ve) & !3);
                    (s < e).then_some((s, e))
                })
            })
            .collect()
    };
    for (start, end) in ranges {
        let mut code = vec![0u8; (end - start) as usize];
        if kernel.mm.read_kernel(start, &mut code).is_err() {
            continue;
        }
        let mut patched = crate::adi::patch_text(&mut code, start);
        patched.extend(t4::patch_text(&mut code, start));
        if !patched.is_empty() {
            let _ = kernel.mm.write_kernel(start, &code);
            table.extend(patched);
        }
    }
    table
}

/// Map tagmmu's trampoline page (named `[vdso]`) at the top of the address space: the resume
/// trampoline. Returns its address.
pub fn map_trampoline(kernel: &mut Kernel) -> Result<u64, crate::kernel_stub::errno::Errno> {
    let page = kernel.mm.page_size();
    let at = kernel.mm.layout().task_size - page;
    kernel.mm.map_fixed(at, page, Prot::READ | Prot::EXEC, crate::kernel_stub::mm::VmaKind::Vdso)?;
    let code: Vec<u8> = RESUME_CODE.iter().flat_map(|w| w.to_be_bytes()).collect();
    kernel.mm.write_kernel(at, &code).map_err(|_| crate::kernel_stub::errno::Errno::EFAULT)?;
    Ok(at)
}

/// AT_HWCAP of the modelled CPU (arch/sparc/include/uapi/asm/elf.h HWCAP_SPARC_*): what an
/// UltraSPARC IV offers: FLUSH, STBAR, SWAP, MULDIV, V9, ULTRA3, V8PLUS, POPC, VIS, VIS2.
pub const HWCAP: u64 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x800 | 0x1000 | 0x2000 | 0x4000;

/// A signal waiting to be delivered when the CPU is stopped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingSignal {
    signo: u32,
    si_code: i32,
    addr: Option<u64>,
    /// Raised by a fault the thread cannot continue past (force_sig_fault).
    forced: bool,
    /// The precise PC/NPC of the faulting instruction, to put back before delivery.
    at: Option<(u64, u64)>,
}

/// A data access the TLB fill refused.
#[derive(Clone, Copy, Debug)]
struct Refused {
    /// The page as accessed.
    vpage: u64,
    kind: FaultKind,
    /// PC/NPC of the access (restored by Unicorn before the fill).
    pc: u64,
    npc: u64,
}

/// Everything the hooks need: the state lives in Unicorn's user data, not in globals.
pub(crate) struct Guest {
    kernel: Kernel,
    env: Option<SparcEnv>,
    disasm: Disassembler,
    pending: Option<PendingSignal>,
    refused: Option<Refused>,
    /// PC/NPC to continue at when the resume trampoline traps.
    resume: Option<(u64, u64)>,
    trampoline: u64,
    /// Stop, error, TLB generation, budgets, counters.
    state: RunState,
    /// Instructions replaced by a trap in the running process's image and in its run-time code's
    /// shadow pages (address → original).
    patches: std::collections::HashMap<u64, u32>,
    /// The process whose image `patches` describes, and the other processes' tables.
    patches_pid: u32,
    patches_of: std::collections::HashMap<u32, std::collections::HashMap<u64, u32>>,
    /// See [`Sparc64Options::exec_template`].
    exec_template: crate::kernel_stub::exec::ExecParams,
    /// Patched words already reported as not modelled (one notice per address).
    t4_noticed: std::collections::HashSet<u64>,
    /// For each ADI alias page entered in the TLB: the virtual page (with its version bits).
    alias_va: std::collections::HashMap<u64, u64>,
    /// The (untagged) ADI pages entered in the TLB since the last flush.
    adi_tlb_pages: std::collections::HashSet<u64>,
    /// The ADI check hook is installed.
    adi_hook: bool,
    /// The precise ADI check hook's data (lives as long as the engine).
    adi_check_hook: Option<crate::emu::access_hook::PreciseHook>,
    /// The versions of the last precise ADI fault, for the report.
    adi_fault: Option<adi::AdiFault>,
    /// The last disrupting ADI error delivered, for the report.
    deferred_report: Option<crate::adi::DeferredError>,
    /// The registers of the tasks that are not running.
    threads: threads::Parked,
    /// Shadow pages serving fetches from run-time code (see [`runtime_code`]).
    shadows: runtime_code::ShadowPool,
    /// The running task's registers and held windows, kept before the scheduler ran (see
    /// `threads::park`).
    outgoing: Option<threads::ParkedTask>,
    /// The register windows the kernel holds for the running task (see
    /// [`crate::kernel_stub::signal::sparc64::HeldWindows`]).
    held: crate::kernel_stub::signal::sparc64::HeldWindows,
    /// The instruction count at which the running task's time slice ends (never while it
    /// is the only one).
    slice_end: u64,
}

impl Backend for Guest {
    const TLB_LAYOUT: crate::emu::soft_tlb::TlbLayout = crate::emu::soft_tlb::SPARC64;
    fn kernel(&mut self) -> &mut Kernel {
        &mut self.kernel
    }
    fn run(&mut self) -> &mut RunState {
        &mut self.state
    }
    fn next_event(&self) -> u64 {
        if self.kernel.adi.deferred.is_some() {
            return 0;
        }
        self.slice_end.min(self.kernel.timer_check_at())
    }
    fn at_mark(&mut self) -> bool {
        at_block_mark(self)
    }
    fn tlb_flushed(&mut self) {
        self.alias_va.clear();
        self.adi_tlb_pages.clear();
    }
    fn tag_alias(pa: u64, tag: u8) -> u64 {
        adi::alias_pa(pa, tag)
    }
}

impl RunLoop for Guest {
    type Signal = PendingSignal;

    /// Install the ADI check hook once the task has enabled ADI; start at the PC, or at the
    /// resume trampoline when NPC is not PC + 4 (Unicorn starts with NPC = PC + 4).
    fn begin(uc: &mut Unicorn<Guest>) -> Result<u64, EmuError> {
        runtime_code::recycle_if_needed(uc)?;
        if uc.get_data().kernel.adi.checking() && !uc.get_data().adi_hook {
            install_adi_hook(uc)?;
        }
        let g = uc.get_data_mut();
        let (pc, npc) = (g.env().pc(), g.env().npc());
        if npc == pc.wrapping_add(4) {
            return Ok(pc);
        }
        g.resume = Some((pc, npc));
        Ok(g.trampoline)
    }
    fn take_pending(&mut self) -> Option<PendingSignal> {
        self.pending.take()
    }
    fn before_delivery(uc: &mut Unicorn<Guest>, p: &PendingSignal) -> Result<(), EmuError> {
        if let Some((pc, npc)) = p.at {
            uc.get_data().env().set_pc_npc(pc, npc);
        }
        Ok(())
    }
    fn signal(signo: u32, si_code: i32, addr: Option<u64>, forced: bool) -> PendingSignal {
        PendingSignal { signo, si_code, addr, forced, at: None }
    }
    fn deliver(uc: &mut Unicorn<Guest>, p: PendingSignal) -> Result<Option<Stop>, EmuError> {
        deliver(uc, p)
    }
    fn pc(uc: &Unicorn<Guest>) -> Result<u64, EmuError> {
        Ok(uc.get_data().env().pc())
    }
    fn before_schedule(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
        threads::park(uc)
    }
    fn switch_threads(uc: &mut Unicorn<Guest>, sw: &crate::kernel_stub::task::Switch) -> Result<(), EmuError> {
        threads::switch(uc, sw)
    }
    fn forget_threads(uc: &mut Unicorn<Guest>, tids: &[crate::kernel_stub::task::Tid]) {
        let g = uc.get_data_mut();
        for t in tids {
            g.threads.remove(t);
        }
    }
    fn fault_on_return(uc: &mut Unicorn<Guest>) -> Result<Option<PendingSignal>, EmuError> {
        let g = uc.get_data_mut();
        if g.held.is_empty() || g.kernel.write_held_windows(&mut g.held) {
            return Ok(None);
        }
        Ok(Some(PendingSignal {
            signo: crate::kernel_stub::signal::sig::SIGSEGV,
            si_code: crate::kernel_stub::signal::code::SI_KERNEL,
            addr: None,
            forced: true,
            at: None,
        }))
    }
}

impl Guest {
    fn env(&self) -> SparcEnv {
        self.env.expect("the CPU state is attached before the guest runs")
    }
}

fn read_insn(g: &Guest, pc: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    let a = g.kernel.mm.untag(pc)?;
    g.kernel.mm.read_kernel(a, &mut b).ok()?;
    Some(u32::from_be_bytes(b))
}

fn disasm_at(g: &Guest, pc: u64) -> String {
    match g.patches.get(&pc).copied().or_else(|| read_insn(g, pc)) {
        Some(w) => g.disasm.one(&w.to_be_bytes(), pc),
        None => "(unreadable)".into(),
    }
}

/// TLB fill: the page walk, against the kernel stub's address space.
fn on_tlb_fill(uc: &mut Unicorn<Guest>, vaddr: u64, ty: MemType) -> Option<TlbEntry> {
    let (access, walk) = tlb_walk(uc, vaddr, ty)?;
    let g = uc.get_data_mut();
    let page = g.kernel.mm.page_size();
    match walk {
        Ok(MappedPage { va, pa, prot, tag_storage }) => {
            let mut perms = uc_perms(prot);
            if runtime_code::is_runtime_code(g, va, prot) {
                if access == Access::Fetch {
                    g.state.note_code_page(pa.0 & !(page - 1));
                    return runtime_code::fetch_entry(uc, va, pa.0, perms);
                }
                if access == Access::Write {
                    runtime_code::before_store(g, va);
                }
                // Never writable and executable at once: a fetch refills the entry and scans.
                perms = UcProt(perms.0 & !UcProt::EXEC.0);
            } else if prot.contains(Prot::EXEC) {
                g.state.note_code_page(pa.0 & !(page - 1));
            }
            let mut paddr = pa.0 & !(page - 1);
            // An ADI page of a task that enabled ADI (the mapping was looked up just above).
            let checked = g.kernel.adi.checking() && prot.contains(Prot::TAGGED);
            if checked && tag_storage {
                paddr = adi::fill(g, vaddr, va, paddr);
            }
            Some(TlbEntry { paddr, perms })
        }
        Err(kind) if access == Access::Fetch => {
            // When a stop is requested, Unicorn looks up the block at `until`: not a fetch.
            if vaddr & !(page - 1) != UNTIL & !(page - 1) && g.pending.is_none() && g.state.stop.is_none() {
                let code = kind.si_code();
                let env = g.env();
                let (pc, npc) = (env.pc(), env.npc());
                g.pending = Some(PendingSignal {
                    signo: kind.signo(),
                    si_code: code,
                    addr: Some(pc),
                    forced: true,
                    at: Some((pc, npc)),
                });
            }
            None
        }
        Err(kind) => {
            let env = g.env();
            g.refused = Some(Refused { vpage: vaddr & !(page - 1), kind, pc: env.pc(), npc: env.npc() });
            g.state.flush_tlb_page(vaddr);
            let perms = if access == Access::Write { UcProt::WRITE } else { UcProt::READ };
            Some(TlbEntry { paddr: FAULT_WINDOW_PA, perms })
        }
    }
}

/// An access that reached unmapped physical memory: a refused page's fault window.
fn on_unmapped(uc: &mut Unicorn<Guest>, addr: u64) -> bool {
    let g = uc.get_data_mut();
    let page = g.kernel.mm.page_size();
    match g.refused.take() {
        Some(r) if (FAULT_WINDOW_PA..FAULT_WINDOW_PA + page).contains(&addr) => {
            let code = r.kind.si_code();
            g.pending = Some(PendingSignal {
                signo: r.kind.signo(),
                si_code: code,
                addr: Some(r.vpage | (addr - FAULT_WINDOW_PA)),
                forced: true,
                at: Some((r.pc, r.npc)),
            });
        }
        _ => {
            g.state.error =
                Some(EmuError::Internal(format!("access to unmapped physical address {addr:#x} with no refused page")))
        }
    }
    false
}

/// At a block where the block counter reached a mark (see `crate::emu::block_counter`): a
/// budget ran out, the TLB thrashed, a store dropped a shadow of run-time code, the time slice
/// ended, an interval timer expired, or a deferred ADI error waits. True: stop the CPU.
fn at_block_mark(g: &mut Guest) -> bool {
    if let Some(stop) = g.state.budget_stop() {
        g.state.stop = Some(stop);
        return true;
    }
    if g.state.take_tlb_grow() {
        return true;
    }
    // A store dropped a shadow of run-time code: its translations go before the next block.
    if g.shadows.stale {
        return true;
    }
    // The running task's time slice is over: the scheduler picks who runs next (a block
    // boundary is a clean stop: PC and NPC are the block's).
    if g.state.instructions() >= g.slice_end {
        g.slice_end = u64::MAX;
        g.state.reschedule = true;
        return true;
    }
    // An interval timer expired (or a periodic one rearms after its SIGALRM was taken).
    let n = g.state.instructions();
    match crate::emu::backend::fire_timers(&mut g.kernel, n) {
        Some(crate::emu::backend::TimerStop::Reschedule) => {
            g.state.reschedule = true;
            return true;
        }
        Some(crate::emu::backend::TimerStop::Deliver(signo, si_code, addr)) => {
            g.pending = Some(PendingSignal { signo, si_code, addr, forced: false, at: None });
            return true;
        }
        None => {}
    }
    // A disrupting ADI error is taken at the next block boundary.
    if g.kernel.adi.deferred.is_some() && g.pending.is_none() {
        g.pending = adi::take_deferred(g);
        return true;
    }
    let next = g.next_event();
    g.state.arm(next);
    false
}

/// Configure the CPU as Linux's `start_thread` leaves a new 64-bit task.
fn setup_cpu(uc: &mut Unicorn<Guest>, start: InitialState) -> Result<(), EmuError> {
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).op("set tlb type")?;
    uc.get_data().env().set_nwindows(NWINDOWS);
    start_thread(uc, start)
}

/// Linux's `start_thread` for a 64-bit task (a new program: at the first exec, and at every
/// exec after): every register clear, an empty register file, the argument block above %sp.
fn start_thread(uc: &mut Unicorn<Guest>, start: InitialState) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    env.set_cwp(0);
    env.set_windows(WindowState {
        cansave: NWINDOWS - 2,
        canrestore: 0,
        otherwin: 0,
        cleanwin: NWINDOWS - 1,
        wstate: 0,
    });
    env.set_pstate(PSTATE_PEF);
    env.set_fprs(FPRS_FEF);
    env.set_asi(ASI_PNF);
    env.set_ccr(0);
    env.set_y(0);
    for n in 1..8 {
        uc.reg_write(global_reg_id(n), 0).op("clear globals")?;
    }
    for n in 0..24 {
        uc.reg_write(window_reg_id(n), 0).op("clear window")?;
    }
    // The argument block starts one register window (16 doublewords) above the biased %sp.
    uc.reg_write(window_reg_id(6), start.sp - 128 - STACK_BIAS).op("write sp")?;
    env.set_pc_npc(start.pc, start.pc + 4);
    Ok(())
}

/// Run the guest whose image `kernel` has exec'd, from `start`, until it ends.
pub fn run(kernel: Kernel, start: InitialState, opts: Sparc64Options) -> Result<RunOutput, EmuError> {
    let mut kernel = kernel;
    let kernel_pid = kernel.config.pid;
    // A blocking read of the host's stdin gives up when the wall-time budget runs out: at
    // the run's own deadline, so the check after the syscall then stops the run (a deadline
    // of its own, taken a moment earlier, let the guest see EINTR and go on).
    let state = RunState::new(opts.limits);
    kernel.vfs.set_stdin_deadline(state.deadline());
    let guest = Guest {
        kernel,
        env: None,
        disasm: Disassembler::new(crate::arch::Arch::Sparc64),
        pending: None,
        refused: None,
        resume: None,
        trampoline: opts.trampoline,
        state,
        patches: opts.patches,
        patches_pid: kernel_pid,
        patches_of: Default::default(),
        exec_template: opts.exec_template,
        t4_noticed: std::collections::HashSet::new(),
        alias_va: std::collections::HashMap::new(),
        adi_tlb_pages: std::collections::HashSet::new(),
        adi_hook: false,
        adi_check_hook: None,
        adi_fault: None,
        deferred_report: None,
        threads: Default::default(),
        outgoing: None,
        held: Default::default(),
        slice_end: u64::MAX,
        shadows: Default::default(),
    };
    crate::emu::engine_build::check()?;
    let mut uc =
        engine::Engine::new(Unicorn::new_with_data(UcArch::SPARC, Mode::SPARC64 | Mode::BIG_ENDIAN, guest).op("open")?);
    crate::emu::translation_cache::bound(&mut uc)?;
    // Unicorn creates the CPU at the first register access.
    let pc0 = uc.reg_read(unicorn_engine::RegisterSPARC::PC).op("read pc")?;
    // SAFETY: the engine was just opened for SPARC64 and outlives every use of the handle
    // (the guest data holding it is dropped with the engine).
    let env = unsafe { SparcEnv::of(uc.get_handle()) }
        .ok_or_else(|| EmuError::Internal("Unicorn created no SPARC64 CPU".into()))?;
    if env.pc() != pc0 || env.nwindows() != NWINDOWS {
        return Err(EmuError::Internal(format!(
            "the build-time offsets of Unicorn's SPARC64 CPU state do not match this engine (pc {:#x} vs {pc0:#x}, {} windows)",
            env.pc(),
            env.nwindows()
        )));
    }
    uc.get_data_mut().env = Some(env);
    setup_cpu(&mut uc, start)?;
    runtime_code::map_pool(&mut uc)?;
    sync_memory(&mut uc)?;
    install_hooks(&mut uc)?;

    let stop = run_loop::run_until_stop(&mut uc)?;
    Ok(run_loop::finish(&mut uc, stop))
}

fn install_hooks(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    uc.add_tlb_hook(0, u64::MAX, |uc, vaddr, ty| guarded(uc, "TLB fill", None, |uc| on_tlb_fill(uc, vaddr, ty)))
        .op("add tlb hook")?;
    let page = uc.get_data().kernel.mm.page_size();
    uc.add_mem_hook(
        HookType::MEM_UNMAPPED,
        FAULT_WINDOW_PA,
        FAULT_WINDOW_PA + page - 1,
        |uc, _ty, addr, _size, _val| guarded(uc, "fault hook", false, |uc| on_unmapped(uc, addr)),
    )
    .op("add unmapped hook")?;
    uc.add_insn_invalid_hook(|uc| {
        guarded_result(uc, "illegal-instruction hook", true, |uc| on_illegal(uc).map(|()| true))
    })
    .op("add invalid-instruction hook")?;
    uc.add_intr_hook(|uc, intno| guarded_result(uc, "interrupt hook", (), |uc| on_interrupt(uc, intno)))
        .op("add interrupt hook")?;
    crate::emu::block_counter::install(uc)?;
    Ok(())
}

/// The ADI check of an access to the alias windows, called by the precise C memory hook;
/// `user` is the engine's `Guest`. Non-zero: abandon the access.
extern "C" fn adi_check(
    _uc: *mut unicorn_engine_sys::uc_engine,
    user: *mut std::ffi::c_void,
    ty: std::ffi::c_int,
    addr: u64,
    size: std::ffi::c_int,
) -> std::ffi::c_int {
    // SAFETY: `user` is the `Guest` inside the engine's data (a heap allocation that lives as
    // long as the engine, see `install_adi_hook`); hooks run one at a time on this thread and
    // no other reference to the guest is used while this one lives.
    let guest = unsafe { &mut *user.cast::<Guest>() };
    let store = access_hook::is_store(ty);
    let r = crate::emu::guard::catch(|| adi::on_checked_access(guest, store, addr, size.max(0) as usize));
    let err = match r {
        Ok(Ok(access_hook::Verdict::Allow)) => return 0,
        Ok(Ok(access_hook::Verdict::Abandon)) => return 1,
        Ok(Err(e)) => e,
        Err(m) => EmuError::Internal(format!("panic in ADI check: {m}")),
    };
    if guest.state.error.is_none() {
        guest.state.error = Some(err);
    }
    1
}

/// The ADI version check on the alias windows, added when the task enables ADI: any memory
/// hook sends every guest access through Unicorn's slow path, so programs that never use
/// ADI do not pay for it. Translated code predates the hook, so the translation cache is
/// flushed (outside emulation).
fn install_adi_hook(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let guest: *mut Guest = uc.get_data_mut();
    let hook = access_hook::install(
        uc,
        access_hook::Target::Sparc64,
        adi::ALIAS_BASE,
        adi::ALIAS_END - 1,
        adi_check,
        guest.cast(),
    )?;
    uc.get_data_mut().adi_check_hook = Some(hook);
    uc.ctl_flush_tb().op("flush translations")?;
    let g = uc.get_data_mut();
    g.adi_hook = true;
    g.state.stats.tag_checks_installed = true;
    Ok(())
}
