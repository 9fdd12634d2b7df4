//! The arm64 backend: Unicorn's AArch64 CPU running the guest at EL0.
//!
//! - **Translation** is ours: Unicorn runs with a virtual TLB, and every TLB fill asks the
//!   kernel stub's address space (top-byte-ignore, VMA permissions, page presence). A fill for
//!   a page the guest may not touch maps it onto an unmapped "fault window" in physical space,
//!   so the access itself traps with its exact address and the faulting instruction not
//!   performed (the PC stays on it).
//! - **Syscalls** (`svc #0`) arrive as interrupt 2 with the PC already past the `svc`.
//! - **Undefined instructions** arrive as interrupt 1 with the PC on the instruction: an MRS of
//!   an ID register is emulated as Linux does; anything else is SIGILL.
//!
//! Modules: `regs` (the user registers through Unicorn), `traps` (syscalls, undefined
//! instructions, the interrupt dispatch), `signal` (delivery), `mte` (the tag checks and the
//! MTE instructions), `sysregs` (the ID registers EL0 sees).

mod cpu_env;
mod ea;
mod exec;
mod mte;
mod regs;
mod signal;
pub mod sysregs;
mod tag_insn;
mod threads;
mod traps;

use unicorn_engine::{Arch as UcArch, Mode, Prot as UcProt, RegisterARM64, TlbEntry, TlbType, Unicorn};
use unicorn_engine::{HookType, MemType};

use crate::emu::access_hook::Verdict;
use crate::emu::backend::{guarded, guarded_result, sync_memory, tlb_walk, uc_perms, Backend, MappedPage, RunState};
use crate::emu::disasm::Disassembler;
use crate::emu::run_loop::{self, RunLoop, UNTIL};
use crate::emu::{access_hook, EmuError, RunLimits, RunOutput, Stop, UcContext};
use crate::kernel_stub::exec::InitialState;
use crate::kernel_stub::mm::{Access, FaultKind, Prot};
use crate::kernel_stub::signal::{code, sig};
use crate::kernel_stub::trace::TraceEvent;
use crate::kernel_stub::Kernel;
use sysregs::{IdRegs, MteLevel};

use regs::{cp, read_system_id_regs, xreg};
use signal::deliver;
use traps::on_interrupt;

/// User virtual ranges no guest physical address falls in (see `install_hooks`): below
/// the arena, and from above the highest tag alias (the 16th alias of the top of the
/// physical space, 2^42 + 16 * 2^43) to the end of user space.
const CODE_RANGES_WITHOUT_PHYS: [(u64, u64); 2] =
    [(0, crate::kernel_stub::mm::phys::PHYS_BASE - 1), (0x8800_0000_0000, (1 << 48) - 1)];

/// Physical window that no memory is mapped at: a TLB fill for a forbidden page points there,
/// so the access faults with its in-page offset intact.
const FAULT_WINDOW_PA: u64 = 0x07f0_0000_0000;

/// Options of the arm64 CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arm64Options {
    /// The MTE level offered to the guest (ID registers and HWCAP2).
    pub mte: MteLevel,
    /// FEAT_MTE_TAGGED_FAR (as the modelled kernel exposes it).
    pub mte_far: bool,
    /// FEAT_MTE_STORE_ONLY (as the modelled kernel exposes it).
    pub mte_store_only: bool,
    /// Trace every instruction.
    pub trace_insns: bool,
    /// Budgets.
    pub limits: RunLimits,
    /// Address of the `rt_sigreturn` trampoline (see [`map_sigreturn_trampoline`]).
    pub sigreturn_trampoline: u64,
    /// Instructions between modelled timer ticks (async tag faults are reported at a tick
    /// when no syscall comes first).
    pub tick_interval: u64,
}

/// The arm64 sigreturn trampoline: `mov x8, #139; svc #0` (Linux's vDSO `__kernel_rt_sigreturn`).
pub const SIGRETURN_CODE: [u32; 2] = [0xd280_1168, 0xd400_0001];

/// Map the page that signal handlers return to when they have no SA_RESTORER (Linux uses
/// the vDSO's sigreturn trampoline; tagmmu has no vDSO and maps this one page, named
/// `[vdso]`, at the top of the address space). Returns its address.
pub fn map_sigreturn_trampoline(kernel: &mut Kernel) -> Result<u64, crate::kernel_stub::errno::Errno> {
    let page = kernel.mm.page_size();
    let at = kernel.mm.layout().task_size - page;
    kernel.mm.map_fixed(at, page, Prot::READ | Prot::EXEC, crate::kernel_stub::mm::VmaKind::Vdso)?;
    let code: Vec<u8> = SIGRETURN_CODE.iter().flat_map(|w| w.to_le_bytes()).collect();
    kernel.mm.write_kernel(at, &code).map_err(|_| crate::kernel_stub::errno::Errno::EFAULT)?;
    Ok(at)
}

/// A signal waiting to be delivered when the CPU is stopped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingSignal {
    signo: u32,
    si_code: i32,
    addr: Option<u64>,
    /// ESR_EL1 of a memory fault, for the frame's esr_context.
    esr: Option<u64>,
    /// Raised by a fault the thread cannot continue past (force_sig_fault).
    forced: bool,
}

/// A misaligned access Unicorn is performing in pieces (see `tag_check`).
#[derive(Clone, Copy, Debug)]
struct SplitAccess {
    /// The host return address of the access (the same for every piece).
    retaddr: usize,
    /// The whole access's size.
    size: u64,
    /// Where the next piece starts, and the end of the pieces.
    next: u64,
    end: u64,
}

/// Everything the hooks need: the state lives in Unicorn's user data, not in globals.
pub(crate) struct Guest {
    kernel: Kernel,
    /// PSTATE.TCO (Unicorn's CPU has no MTE, so tagmmu keeps it).
    tco: bool,
    /// A tag check fault was recorded in async mode (TFSRE0_EL1.TF0).
    async_fault: bool,
    /// The first half of a store pair, to undo if its second half faults.
    undo: Option<mte::StoreUndo>,
    /// Details of the last precise tag fault, for the report.
    tag_fault: Option<TagFault>,
    /// The virtual address (with all its top bits) of the access being checked, as the
    /// engine's load or store helper has it (Unicorn patch 0013), so a tag fault reports the
    /// address as the program formed it, whichever of the page's mappings it used.
    access_va: u64,
    /// Tag-checked pages entered in the TLB without checks (every granule matched the
    /// pointer's tag): physical page -> the virtual pages (with their top bits) entered on the
    /// strength of its tags. See `mte::tlb_page`.
    unchecked_pages: rustc_hash::FxHashMap<u64, Vec<u64>>,
    /// Granule tags of pages the arena's MMIO windows check without calling Rust (dropped
    /// where `unchecked_pages` are). See `access_hook::TagCache`.
    tag_cache: Box<access_hook::TagCache>,
    /// The pages the C fast path of the tag instructions works on (emptied where `tag_cache`
    /// is). See `tag_insn`.
    tag_insns: Box<tag_insn::TagInsnTable>,
    /// The pages a tag instruction retagged (a buffer kept between instructions).
    retagged_buf: Vec<u64>,
    /// Instruction count at which the next modelled timer tick happens.
    next_tick: u64,
    /// Instructions between modelled timer ticks.
    tick_interval: u64,
    disasm: Disassembler,
    user_regs: IdRegs,
    pending: Option<PendingSignal>,
    /// A data access the TLB fill refused: (untagged page, the tagged page as accessed, kind).
    refused: Option<(u64, u64, FaultKind, Access)>,
    /// Where a handler returns without SA_RESTORER (tagmmu's sigreturn trampoline page).
    sigreturn_trampoline: u64,
    /// Whether the tag-check hooks are installed (see [`install_tag_hooks`]).
    tag_hooks: bool,
    /// The misaligned access being served in pieces by the MMIO windows, once its first piece
    /// passed the check.
    split: Option<SplitAccess>,
    /// The tag-checked MMIO windows' data (lives as long as the engine).
    mte_windows: Option<access_hook::PreciseHook>,
    /// The tag-checked windows of page caches (their data lives as long as the engine).
    segment_windows: Vec<access_hook::PreciseHook>,
    /// The DC ZVA check's data (lives as long as the engine).
    dc_zva_hook: Option<access_hook::PreciseHook>,
    /// Stop, error, TLB generation, budgets, counters.
    state: RunState,
    /// The CPU state of the threads that are not running.
    threads: threads::Parked,
    /// The instruction count at which the running thread's time slice ends (never while
    /// the process has one thread).
    slice_end: u64,
    /// What every exec of this machine passes besides the program and its arguments
    /// (hwcaps, the architecture's auxv entries).
    exec_template: crate::kernel_stub::exec::ExecParams,
}

impl Backend for Guest {
    const TLB_LAYOUT: crate::emu::soft_tlb::TlbLayout = crate::emu::soft_tlb::ARM64;
    fn kernel(&mut self) -> &mut Kernel {
        &mut self.kernel
    }
    fn run(&mut self) -> &mut RunState {
        &mut self.state
    }
    fn next_event(&self) -> u64 {
        self.slice_end.min(self.next_tick).min(self.kernel.timer_check_at())
    }
    fn at_mark(&mut self) -> bool {
        at_block_mark(self)
    }
    fn kernel_left(&mut self) {
        let exclude = self.kernel.mte.ctrl.exclude();
        self.tag_insns.set_exclude(exclude);
    }
    fn tlb_flushed(&mut self) {
        self.unchecked_pages.clear();
        self.tag_cache.clear();
        self.tag_insns.clear();
    }
    fn tag_alias(pa: u64, tag: u8) -> u64 {
        mte::alias_pa(pa, tag)
    }
    /// The arena as RAM, and its tag aliases as tag-checked MMIO windows on a machine with MTE.
    fn map_arena(uc: &mut Unicorn<Guest>, pa: u64, len: u64, host: *mut u8) -> Result<(), EmuError> {
        // SAFETY: as for `backend::map_arena_ram`: the arena outlives the engine's use of it.
        unsafe { uc.mem_map_ptr(pa, len, UcProt::ALL, host.cast()) }.op("map guest memory")?;
        if uc.get_data().kernel.mte.supported() {
            map_windows(uc, pa, len, host)?;
        }
        Ok(())
    }
    /// A tag-checked page cache (a MAP_SHARED file mapping with PROT_MTE): its tag aliases
    /// are tag-checked MMIO windows too, as the arena's are.
    fn map_tagged(uc: &mut Unicorn<Guest>, pa: u64, len: u64, host: *mut u8) -> Result<(), EmuError> {
        let guest: *mut Guest = uc.get_data_mut();
        let windows = (0..16).map(|tag| (mte::alias_pa(pa, tag), tag));
        // SAFETY: `host` is the segment's memory, valid until its `Unmapped` event unmaps
        // these windows (the page cache is owned by the VFS inside the engine's data); `guest`
        // is the engine's data, which lives as long as the engine.
        let held = unsafe {
            access_hook::map_mmio(uc, access_hook::Target::Arm64, windows, len, host, tag_check, guest.cast(), None)
        }?;
        uc.get_data_mut().segment_windows.push(held);
        Ok(())
    }
    fn retagged(uc: &mut Unicorn<Guest>, pages: Vec<u64>) -> Result<(), EmuError> {
        mte::forget_unchecked(uc, &pages);
        Ok(())
    }
}

impl RunLoop for Guest {
    type Signal = PendingSignal;

    /// Install the tag checks once the task needs them; start at the PC.
    fn begin(uc: &mut Unicorn<Guest>) -> Result<u64, EmuError> {
        if !uc.get_data().tag_hooks && tag_checks_wanted(uc.get_data()) {
            install_tag_hooks(uc)?;
        }
        uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")
    }
    fn take_pending(&mut self) -> Option<PendingSignal> {
        self.pending.take()
    }
    fn before_delivery(_: &mut Unicorn<Guest>, _: &PendingSignal) -> Result<(), EmuError> {
        Ok(())
    }
    fn signal(signo: u32, si_code: i32, addr: Option<u64>, forced: bool) -> PendingSignal {
        PendingSignal { signo, si_code, addr, esr: None, forced }
    }
    fn deliver(uc: &mut Unicorn<Guest>, p: PendingSignal) -> Result<Option<Stop>, EmuError> {
        deliver(uc, p)
    }
    fn pc(uc: &Unicorn<Guest>) -> Result<u64, EmuError> {
        uc.reg_read(unicorn_engine::RegisterARM64::PC).op("read pc")
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
}

/// The tags of a precise tag check fault.
#[derive(Clone, Copy, Debug)]
struct TagFault {
    ptr_tag: u8,
    mem_tag: u8,
    store: bool,
}

/// ESR_EL1 as Linux reports it for a user memory fault: EC (data or instruction abort from
/// EL0), IL, WnR for stores, and the fault status code (level-3 translation or permission).
fn esr_for(access: Access, kind: FaultKind) -> u64 {
    let ec: u64 = if access == Access::Fetch { 0x20 } else { 0x24 };
    // A translation fault, except for a permission fault.
    let fsc: u64 = if kind == FaultKind::Protection { 0x0f } else { 0x07 };
    let wnr: u64 = if access == Access::Write { 1 << 6 } else { 0 };
    (ec << 26) | (1 << 25) | wnr | fsc
}

/// The user-visible ID registers of tagmmu's arm64 CPU with `opts` (for HWCAPs before a run).
pub fn user_id_regs(opts: &Arm64Options) -> Result<IdRegs, EmuError> {
    let mut uc = Unicorn::new(UcArch::ARM64, Mode::ARM).op("open")?;
    uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::MAX as i32).op("set cpu model")?;
    let mut regs = IdRegs::default();
    let rd = |uc: &Unicorn<()>, crm, op2| {
        let mut r = cp(3, 0, 0, crm, op2);
        uc.reg_read_arm64_coproc(&mut r).map(|_| r.val).unwrap_or(0)
    };
    regs.midr = rd(&uc, 0, 0);
    regs.pfr0 = rd(&uc, 4, 0);
    regs.pfr1 = rd(&uc, 4, 1);
    regs.zfr0 = rd(&uc, 4, 4);
    regs.isar0 = rd(&uc, 6, 0);
    regs.isar1 = rd(&uc, 6, 1);
    regs.isar2 = rd(&uc, 6, 2);
    regs.mmfr0 = rd(&uc, 7, 0);
    regs.mmfr1 = rd(&uc, 7, 1);
    regs.mmfr2 = rd(&uc, 7, 2);
    uc.emu_stop().ok();
    Ok(regs.user_view(opts.mte, opts.mte_far, opts.mte_store_only))
}

fn read_insn(g: &Guest, pc: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    let a = g.kernel.mm.untag(pc)?;
    g.kernel.mm.read_kernel(a, &mut b).ok()?;
    Some(u32::from_le_bytes(b))
}

fn disasm_at(g: &Guest, pc: u64) -> String {
    match read_insn(g, pc) {
        Some(w) => g.disasm.one(&w.to_le_bytes(), pc),
        None => "(unreadable)".into(),
    }
}

/// TLB fill: the page walk, against the kernel stub's address space.
fn on_tlb_fill(uc: &mut Unicorn<Guest>, vaddr: u64, ty: MemType) -> Option<TlbEntry> {
    let (access, walk) = tlb_walk(uc, vaddr, ty)?;
    let g = uc.get_data_mut();
    match walk {
        Ok(MappedPage { pa, prot, va, tag_storage }) => {
            let perms = uc_perms(prot);
            if prot.contains(Prot::EXEC) {
                g.state.note_code_page(pa.0 & !0xfff);
            }
            let tagged = prot.contains(Prot::TAGGED) && g.kernel.mte.supported() && tag_storage;
            let paddr = if tagged { mte::tlb_page(g, vaddr, va, pa) } else { pa.0 & !0xfff };
            Some(TlbEntry { paddr, perms })
        }
        Err(kind) if access == Access::Fetch => {
            // When a stop is requested, Unicorn looks up the block at the `until` address;
            // that is not a guest fetch. A real one is reported from the PC once stopped.
            if vaddr & !0xfff != UNTIL & !0xfff && g.pending.is_none() && g.state.stop.is_none() {
                let pc = uc.reg_read(unicorn_engine::RegisterARM64::PC).unwrap_or(vaddr);
                let code = kind.si_code();
                uc.get_data_mut().pending = Some(PendingSignal {
                    signo: kind.signo(),
                    si_code: code,
                    addr: Some(pc),
                    esr: Some(esr_for(Access::Fetch, kind)),
                    forced: true,
                });
            }
            None
        }
        Err(kind) => {
            let page = g.kernel.mm.untag(vaddr).unwrap_or(vaddr);
            g.refused = Some((page, vaddr, kind, access));
            g.state.flush_tlb_page(vaddr);
            let perms = if access == Access::Write { UcProt::WRITE } else { UcProt::READ };
            Some(TlbEntry { paddr: FAULT_WINDOW_PA, perms })
        }
    }
}

/// An access that reached unmapped physical memory: a refused page's fault window.
fn on_unmapped(uc: &mut Unicorn<Guest>, addr: u64) -> bool {
    let g = uc.get_data_mut();
    match g.refused.take() {
        Some((_, tagged_page, kind, access)) if (FAULT_WINDOW_PA..FAULT_WINDOW_PA + 0x1000).contains(&addr) => {
            let fault_addr = tagged_page | (addr - FAULT_WINDOW_PA);
            let code = kind.si_code();
            g.pending = Some(PendingSignal {
                signo: kind.signo(),
                si_code: code,
                addr: Some(fault_addr),
                esr: Some(esr_for(access, kind)),
                forced: true,
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
/// budget ran out, the time slice ended, an interval timer expired, or a modelled timer
/// tick. True: stop the CPU.
fn at_block_mark(g: &mut Guest) -> bool {
    if let Some(stop) = g.state.budget_stop() {
        g.state.stop = Some(stop);
        return true;
    }
    if g.state.take_tlb_grow() {
        return true;
    }
    let n = g.state.instructions();
    // The running thread's time slice is over: the scheduler picks who runs next.
    if n >= g.slice_end {
        g.slice_end = u64::MAX;
        g.state.reschedule = true;
        return true;
    }
    // An interval timer expired (or a periodic one rearms after its SIGALRM was taken).
    match crate::emu::backend::fire_timers(&mut g.kernel, n) {
        Some(crate::emu::backend::TimerStop::Reschedule) => {
            g.state.reschedule = true;
            return true;
        }
        Some(crate::emu::backend::TimerStop::Deliver(signo, si_code, addr)) => {
            g.pending = Some(PendingSignal { signo, si_code, addr, esr: None, forced: false });
            return true;
        }
        None => {}
    }
    // A modelled timer tick is a kernel entry too: report an asynchronous tag fault there.
    if n >= g.next_tick {
        g.next_tick = n + g.tick_interval;
        if std::mem::take(&mut g.async_fault) {
            g.kernel.signals.raise_with(sig::SIGSEGV, code::SEGV_MTEAERR, Some(0));
            if let Some((signo, si_code, addr)) = g.kernel.signals.take_deliverable() {
                g.pending = Some(PendingSignal { signo, si_code, addr, esr: None, forced: false });
                return true;
            }
        }
    }
    let next = g.next_event();
    g.state.arm(next);
    false
}

/// Configure the CPU as Linux leaves it for a new EL0 task.
fn setup_cpu(uc: &mut Unicorn<Guest>, start: InitialState) -> Result<(), EmuError> {
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).op("set tlb type")?;
    // EL0t, all flags clear.
    uc.reg_write(RegisterARM64::PSTATE, 0).op("write pstate")?;
    // SCTLR_EL1 as Linux sets it for EL0: cache-type and DC ZVA access (UCT, DZE), cache
    // maintenance (UCI); the MMU stays off (translation is the TLB hook's).
    let mut sctlr = cp(3, 0, 1, 0, 0);
    uc.reg_read_arm64_coproc(&mut sctlr).op("read sctlr")?;
    sctlr.val |= (1 << 14) | (1 << 15) | (1 << 26);
    uc.reg_write_arm64_coproc(&sctlr).op("write sctlr")?;
    // CPACR_EL1.FPEN: FP/SIMD usable at EL0 (SVE stays trapped: tagmmu offers no SVE).
    let mut cpacr = cp(3, 0, 1, 0, 2);
    cpacr.val = 3 << 20;
    uc.reg_write_arm64_coproc(&cpacr).op("write cpacr")?;
    // CNTKCTL_EL1.EL0VCTEN: the virtual counter is readable at EL0, as Linux configures it.
    let mut cntkctl = cp(3, 0, 14, 1, 0);
    cntkctl.val = 1 << 1;
    uc.reg_write_arm64_coproc(&cntkctl).op("write cntkctl")?;
    for n in 0..=30 {
        uc.reg_write(xreg(n), 0).op("clear registers")?;
    }
    uc.reg_write(RegisterARM64::SP, start.sp).op("write sp")?;
    uc.reg_write(RegisterARM64::TPIDR_EL0, 0).op("write tpidr")?;
    uc.set_pc(start.pc).op("write pc")?;
    Ok(())
}

/// Run the guest whose image `kernel` has exec'd, from `start`, until it ends. Later
/// execs of its processes run on the same CPU and memory, with `exec_template`'s hwcaps and
/// auxv entries.
pub fn run(
    kernel: Kernel,
    start: InitialState,
    opts: Arm64Options,
    exec_template: crate::kernel_stub::exec::ExecParams,
) -> Result<RunOutput, EmuError> {
    let mut kernel = kernel;
    // A blocking read of the host's stdin gives up when the wall-time budget runs out: at
    // the run's own deadline, so the check after the syscall then stops the run (a deadline
    // of its own, taken a moment earlier, let the guest see EINTR and go on).
    let state = RunState::new(opts.limits.clone());
    kernel.vfs.set_stdin_deadline(state.deadline());
    let mut tag_cache = access_hook::TagCache::new();
    // The table keeps a pointer to the boxed cache, which moving the box does not move.
    let tag_insns = tag_insn::TagInsnTable::new(&mut *tag_cache, kernel.config.seed);
    let guest = Guest {
        kernel,
        disasm: Disassembler::new(crate::arch::Arch::Arm64),
        user_regs: IdRegs::default(),
        pending: None,
        refused: None,
        sigreturn_trampoline: opts.sigreturn_trampoline,
        tco: false,
        async_fault: false,
        mte_windows: None,
        segment_windows: Vec::new(),
        split: None,
        dc_zva_hook: None,
        tag_fault: None,
        undo: None,
        access_va: 0,
        unchecked_pages: Default::default(),
        tag_cache,
        tag_insns,
        retagged_buf: Vec::new(),
        next_tick: opts.tick_interval.max(1),
        tick_interval: opts.tick_interval.max(1),
        tag_hooks: false,
        state,
        threads: Default::default(),
        slice_end: u64::MAX,
        exec_template,
    };
    crate::emu::engine_build::check()?;
    let mut uc = Unicorn::new_with_data(UcArch::ARM64, Mode::ARM, guest).op("open")?;
    crate::emu::translation_cache::bound(&mut uc)?;
    uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::MAX as i32).op("set cpu model")?;
    // QEMU's ARM targets default to 1 KiB target pages; Linux/arm64 here uses 4 KiB.
    uc.ctl_set_page_size(4096).op("set page size")?;
    let sys = read_system_id_regs(&uc);
    uc.get_data_mut().user_regs = sys.user_view(opts.mte, opts.mte_far, opts.mte_store_only);
    setup_cpu(&mut uc, start)?;
    traps::emulate_undefined_inline(&mut uc)?;
    if uc.get_data().kernel.mte.supported() {
        let table: *mut tag_insn::TagInsnTable = &mut *uc.get_data_mut().tag_insns;
        // SAFETY: the table is boxed inside the engine's data (never replaced), so it lives as
        // long as the engine; its pages are dropped at every TLB flush, before the storage
        // they point into can change (see `tag_insn`); the engine calls hooks inline (above).
        unsafe { tag_insn::TagInsnTable::install(&mut uc, table) }?;
        access_hook::inline_window_checks(&mut uc)?;
    }
    sync_memory(&mut uc)?;
    install_hooks(&mut uc, opts.trace_insns)?;

    let stop = run_loop::run_until_stop(&mut uc)?;
    let inline = access_hook::inline_window_check_count(&mut uc);
    let g = uc.get_data_mut();
    let [direct, dispatched, split] = g
        .mte_windows
        .iter()
        .chain(&g.segment_windows)
        .map(access_hook::PreciseHook::window_accesses)
        .fold([0; 3], |[d, m, s], [d1, m1, s1]| [d + d1, m + m1, s + s1]);
    g.state.stats.window_accesses_direct = direct;
    g.state.stats.window_accesses_inline = inline;
    g.state.stats.window_accesses_dispatched = dispatched;
    g.state.stats.window_split_pieces = split;
    g.state.stats.emulated_insns_fast = g.tag_insns.emulated();
    g.state.stats.emulated_insns += g.state.stats.emulated_insns_fast;
    Ok(run_loop::finish(&mut uc, stop))
}

extern "C" {
    /// tagmmu's Unicorn patch 0011.
    fn uc_tagmmu_fill_keeps_state(uc: *mut unicorn_engine_sys::uc_engine, keep: bool) -> unicorn_engine_sys::uc_error;
}

/// Tell the engine that the TLB-fill hook ([`on_tlb_fill`]) reads no CPU register for a data
/// access, so that a fill no longer restores the accessing instruction's state first (Unicorn
/// patch 0011). That restore searched the translation tree and re-decoded the block at every
/// fill: measured 4 % of the tagged heap benchmark, whose chunks each take a fresh tag and so
/// a fresh TLB entry. The hook reads the PC only for an instruction fetch, which is filled at
/// translation time, where there is no state to restore. A refused data access is reported
/// later, from the fault window's hook, where the state is restored.
fn fills_keep_state<D>(uc: &mut Unicorn<D>) -> Result<(), EmuError> {
    // SAFETY: `uc` is a live engine, not running.
    let err = unsafe { uc_tagmmu_fill_keeps_state(uc.get_handle(), true) };
    if err != unicorn_engine_sys::uc_error::OK {
        return Err(EmuError::Unicorn { op: "skip the state restore of TLB fills", err });
    }
    Ok(())
}

fn install_hooks(uc: &mut Unicorn<Guest>, trace_insns: bool) -> Result<(), EmuError> {
    uc.add_tlb_hook(0, u64::MAX, |uc, vaddr, ty| guarded(uc, "TLB fill", None, |uc| on_tlb_fill(uc, vaddr, ty)))
        .op("add tlb hook")?;
    fills_keep_state(uc)?;
    // Limited to the fault window: an unbounded memory hook would send every guest access
    // through Unicorn's slow path (measured: 5x slower stores).
    uc.add_mem_hook(HookType::MEM_UNMAPPED, FAULT_WINDOW_PA, FAULT_WINDOW_PA + 0xfff, |uc, _ty, addr, _size, _val| {
        guarded(uc, "fault hook", false, |uc| on_unmapped(uc, addr))
    })
    .op("add unmapped hook")?;
    // Every translation of a block (tb_gen_code) resets the dirty bit of every TLB entry
    // for the block's page, scanning the whole TLB (grown to 2^22 entries by a tag-checked
    // workload's fills): measured 58% of a run of glibc's heap tagging. Unicorn skips it for
    // an address some memory hook covers. The reset is redundant under tagmmu's MMU: an
    // entry gets dirty only without execute permission, and any permission change flushes
    // the TLB. So inert fetch-unmapped hooks (they decline, as if absent) cover the user
    // addresses that no physical address uses (a hook on a physical address would slow
    // stores there): below the arena, and above the highest tag alias.
    for (lo, hi) in CODE_RANGES_WITHOUT_PHYS {
        uc.add_mem_hook(HookType::MEM_FETCH_UNMAPPED, lo, hi, |_uc, _ty, _addr, _size, _val| false)
            .op("add code-range hook")?;
    }
    uc.add_intr_hook(|uc, intno| guarded_result(uc, "interrupt hook", (), |uc| on_interrupt(uc, intno)))
        .op("add interrupt hook")?;
    crate::emu::block_counter::install(uc)?;
    if trace_insns {
        uc.add_code_hook(1, 0, |uc, addr, _size| {
            guarded(uc, "trace hook", (), |uc| {
                let g = uc.get_data_mut();
                let text = disasm_at(g, addr);
                g.kernel.trace.emit(TraceEvent::Insn { pc: addr, text });
            })
        })
        .op("add code hook")?;
    }
    Ok(())
}

/// Does the task need its accesses tag-checked: a machine with MTE, memory of a tag-checked
/// mapping (PROT_MTE, ever), and a check mode other than none for loads or stores. Until then
/// no memory hook exists, so untagged programs run on Unicorn's inline fast path.
fn tag_checks_wanted(g: &Guest) -> bool {
    use crate::mte::CheckKind;
    g.kernel.mte.supported()
        && g.kernel.mm.phys().ever_tagged()
        && (g.kernel.mte.check(false) != CheckKind::Off || g.kernel.mte.check(true) != CheckKind::Off)
}

/// Install the DC ZVA tag check (outside emulation, at a clean stop), once the task has
/// tag-checked memory with checking on. The loads and stores need no hook: a page whose
/// granules all match the pointer's tag is entered in the TLB at its own memory, any other at
/// a tag-checked MMIO window (`mte::tlb_page`, `map_windows`). DC ZVA is performed by
/// Unicorn straight on host memory when the block is entered unchecked, so the SYS hook checks
/// it (only SYS instructions pay). Translated code predates the hook, so the translation cache
/// is flushed. It stays installed for the rest of the run.
fn install_tag_hooks(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let guest: *mut Guest = uc.get_data_mut();
    let hook = access_hook::install_sys(uc, dc_zva_check, guest.cast())?;
    uc.get_data_mut().dc_zva_hook = Some(hook);
    uc.ctl_flush_tb().op("flush translations")?;
    let g = uc.get_data_mut();
    g.tag_hooks = true;
    g.state.stats.tag_checks_installed = true;
    Ok(())
}

/// Map the arena's 16 tag aliases as tag-checked MMIO windows (see `crate::emu::access_hook`).
fn map_windows(uc: &mut Unicorn<Guest>, pa: u64, len: u64, host: *mut u8) -> Result<(), EmuError> {
    let guest: *mut Guest = uc.get_data_mut();
    let windows = (0..16).map(|tag| (mte::alias_pa(pa, tag), tag));
    let fast = access_hook::FastPath { cache: &*uc.get_data().tag_cache, phys_base: pa };
    // SAFETY: `host` is the arena's reservation of `len` bytes, which lives as long as the
    // kernel stub inside the engine's data; `guest` is that data, which lives as long as the
    // engine, and the cache is boxed inside it (never replaced).
    let held = unsafe {
        access_hook::map_mmio(uc, access_hook::Target::Arm64, windows, len, host, tag_check, guest.cast(), Some(fast))
    }?;
    uc.get_data_mut().mte_windows = Some(held);
    Ok(())
}

/// The tag check of an access to the MMIO windows, called by their C callbacks;
/// `user` is the engine's `Guest`. Non-zero: abandon the access.
extern "C" fn tag_check(
    uc: *mut unicorn_engine_sys::uc_engine,
    user: *mut std::ffi::c_void,
    ty: std::ffi::c_int,
    addr: u64,
    size: std::ffi::c_int,
) -> std::ffi::c_int {
    // SAFETY: `user` is the `Guest` inside the engine's data (a heap allocation that lives as
    // long as the engine, see `install_tag_hooks`); hooks run one at a time on this thread and
    // no other reference to the guest is used while this one lives.
    let guest = unsafe { &mut *user.cast::<Guest>() };
    // SAFETY: `uc` is the engine calling us; the call reads one field.
    guest.access_va = unsafe { access_hook::uc_tagmmu_access_va(uc) };
    let window = guest.mte_windows.as_ref().map_or(std::ptr::null(), |w| w.data());
    let pc = || {
        // The CPU's PC is the translation block's until restored from the access.
        access_hook::PreciseHook::sync_pc(uc, window);
        let mut pc = 0u64;
        // SAFETY: `uc` is the engine calling us; PC is a 64-bit register written into `pc`.
        unsafe { unicorn_engine_sys::uc_reg_read(uc, RegisterARM64::PC as i32, (&raw mut pc).cast()) };
        pc
    };
    let store = access_hook::is_store(ty);
    let (piece, whole) = ((size & 0xff) as u64, (size >> 8).max(0) as u64);
    let r = crate::emu::guard::catch(|| {
        if whole == 0 {
            let v = mte::on_tagged_access(guest, pc, |_| 0, store, addr, piece as usize);
            if v == Verdict::Allow {
                mte::cache_page_tags(guest, addr);
            }
            return v;
        }
        // A misaligned access Unicorn split into pieces (bytes for a store, the two aligned
        // words around it for a load): the first piece checks the whole access, so a fault
        // leaves all of it unperformed; the following pieces of the same access pass.
        let retaddr = access_hook::PreciseHook::io_retaddr(uc, window);
        if let Some(s) = guest.split.filter(|s| s.retaddr == retaddr && s.size == whole && s.next == addr) {
            let next = addr + piece;
            guest.split = (next < s.end).then_some(SplitAccess { next, ..s });
            return Verdict::Allow;
        }
        let len = if store { whole } else { 2 * whole };
        let first_byte = |g: &Guest| {
            if store {
                return 0;
            }
            // The load's own first byte inside the aligned word, from its address operand.
            let pc = pc();
            let word = read_insn(g, pc);
            let ea = word.and_then(|w| ea::effective_address(w, pc, |n| read_x(uc, n)));
            ea.map_or(0, |ea| ea & (whole - 1))
        };
        let v = mte::on_tagged_access(guest, pc, first_byte, store, addr, len as usize);
        if v == Verdict::Allow {
            guest.split = Some(SplitAccess { retaddr, size: whole, next: addr + piece, end: addr + len });
        }
        v
    });
    match r {
        Ok(v) => v.code(),
        Err(m) => {
            guest.state.error = Some(EmuError::Internal(format!("panic in tag check: {m}")));
            1
        }
    }
}

/// Xn (n = 31: SP) of the engine, from inside a hook.
fn read_x(uc: *mut unicorn_engine_sys::uc_engine, n: u32) -> u64 {
    let reg = if n == 31 { RegisterARM64::SP as i32 } else { xreg(n) };
    let mut v = 0u64;
    // SAFETY: `uc` is the engine calling the hook; the register is 64 bits, written into `v`.
    unsafe { unicorn_engine_sys::uc_reg_read(uc, reg, (&raw mut v).cast()) };
    v
}

/// The DC ZVA check, called by the C SYS-instruction hook (Unicorn has stored the PC of the
/// instruction); `addr` is the instruction's `uc_arm64_cp_reg`, `user` the engine's `Guest`.
/// Non-zero: abandon the instruction.
extern "C" fn dc_zva_check(
    _uc: *mut unicorn_engine_sys::uc_engine,
    user: *mut std::ffi::c_void,
    _ty: std::ffi::c_int,
    addr: u64,
    _size: std::ffi::c_int,
) -> std::ffi::c_int {
    // SAFETY: Unicorn passes a valid register description for the duration of the call.
    let Some(cp) = (unsafe { (addr as usize as *const unicorn_engine_sys::RegisterARM64CP).as_ref() }) else {
        return 0;
    };
    if (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2) != (1, 3, 7, 4, 1) {
        return 0; // not DC ZVA
    }
    // SAFETY: `user` is the `Guest` inside the engine's data (a heap allocation that lives as
    // long as the engine, see `install_tag_hooks`); hooks run one at a time on this thread and
    // no other reference to the guest is used while this one lives.
    let guest = unsafe { &mut *user.cast::<Guest>() };
    let ptr = cp.val;
    match crate::emu::guard::catch(|| mte::check_dc_zva(guest, ptr)) {
        Ok(v) => v.code(),
        Err(m) => {
            guest.state.error = Some(EmuError::Internal(format!("panic in DC ZVA tag check: {m}")));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unicorn patch 0011: with `fills_keep_state`, a TLB fill for a load in the middle of a
    /// block sees the state of the block's start (the PC not restored to the load); without
    /// it, the load's own PC. The load is performed either way.
    #[test]
    fn tlb_fills_skip_the_state_restore_when_told() {
        const CODE: u64 = 0x10_000;
        const DATA: u64 = 0x20_000;
        // mov x1, #0x20000; add x2, x2, #1; ldr x0, [x1]
        let words: [u32; 3] = [0xd2a0_0041, 0x9100_0442, 0xf940_0020];
        let fill_pc = |keep: bool| {
            let mut uc = Unicorn::new_with_data(UcArch::ARM64, Mode::ARM, Vec::<(u64, u64)>::new()).unwrap();
            uc.ctl_set_tlb_type(TlbType::VIRTUAL).unwrap();
            uc.mem_map(CODE, 0x1000, UcProt::ALL).unwrap();
            uc.mem_map(DATA, 0x1000, UcProt::ALL).unwrap();
            uc.mem_write(DATA, &0x1234u64.to_le_bytes()).unwrap();
            let code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            uc.mem_write(CODE, &code).unwrap();
            uc.add_tlb_hook(0, u64::MAX, |uc, vaddr, _ty| {
                let pc = uc.reg_read(RegisterARM64::PC).unwrap();
                uc.get_data_mut().push((vaddr, pc));
                Some(TlbEntry { paddr: vaddr, perms: UcProt::ALL })
            })
            .unwrap();
            if keep {
                fills_keep_state(&mut uc).unwrap();
            }
            uc.emu_start(CODE, CODE + 12, 0, 0).unwrap();
            assert_eq!(uc.reg_read(RegisterARM64::X0).unwrap(), 0x1234, "the load was performed");
            uc.get_data().iter().find(|(va, _)| *va == DATA).map(|&(_, pc)| pc)
        };
        assert_eq!(fill_pc(false), Some(CODE + 8), "restored: the load's PC");
        assert_eq!(fill_pc(true), Some(CODE), "kept: the block's start");
    }

    #[test]
    fn the_code_range_hooks_cover_no_physical_address() {
        let top_pa = crate::kernel_stub::mm::Layout::arm64().phys_limit - 1;
        let highest_alias = mte::alias_pa(top_pa, 15);
        let [(lo0, hi0), (lo1, hi1)] = CODE_RANGES_WITHOUT_PHYS;
        assert_eq!((lo0, hi0 + 1), (0, crate::kernel_stub::mm::phys::PHYS_BASE));
        assert!(highest_alias < lo1 && FAULT_WINDOW_PA + 0xfff < lo1, "{highest_alias:#x}");
        assert_eq!(hi1 + 1, crate::kernel_stub::mm::Layout::arm64().task_size);
    }
}
