//! The SPARC64 backend: Unicorn's SPARC V9 CPU (UltraSPARC IV model, 8 register windows)
//! running a Linux user task, as `qemu-sparc64` does.
//!
//! Unicorn gives the CPU no reset and no trap handling, so tagmmu supplies what Linux's trap
//! table does for a user task:
//! - **State**: the CPU starts zeroed (no window to SAVE into, FPU off). tagmmu sets the window
//!   registers, PSTATE.PEF, FPRS.FEF and %asi as Linux's `start_thread` leaves them
//!   ([`cpu`] reaches the state Unicorn has no API for).
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

mod adi;
pub mod cpu;
pub mod nofault;
pub mod windows;

use unicorn_engine::{Arch as UcArch, HookType, MemType, Mode, Prot as UcProt, TlbEntry, TlbType, Unicorn};

use crate::emu::backend::{guarded, guarded_result, sync_memory, tlb_walk, uc_perms, Backend, MappedPage, RunState};
use crate::emu::disasm::Disassembler;
use crate::emu::run_loop::{self, RunLoop, UNTIL};
use crate::emu::{EmuError, FatalSignal, RunLimits, RunOutput, Stop, UcContext};
use crate::kernel_stub::exec::InitialState;
use crate::kernel_stub::mm::{Access, FaultKind, Prot};
use crate::kernel_stub::signal::sparc64::Sparc64Regs;
use crate::kernel_stub::signal::{code, default_action, sig, DefaultAction, SIG_DFL, SIG_IGN};
use crate::kernel_stub::syscalls::SyscallOutcome;
use crate::kernel_stub::trace::TraceEvent;
use crate::kernel_stub::Kernel;
use cpu::{SparcEnv, WindowState, CCR_ICC_C, CCR_XCC_C, FPRS_FEF, PSTATE_PEF};
use windows::{BadFrame, WindowRegs, STACK_BIAS};

/// Physical window no memory is mapped at (below QEMU's 41-bit SPARC64 physical space): a TLB
/// fill for a forbidden page points there, so the access faults with its offset intact.
const FAULT_WINDOW_PA: u64 = 0x1f0_0000_0000;
/// Register windows of the modelled CPU (UltraSPARC and SPARC M7 both have 8).
const NWINDOWS: u32 = 8;
/// `ASI_PNF`, the %asi Linux's `start_thread` gives a new task.
const ASI_PNF: u8 = 0x82;
/// Software trap numbers (`ta N` arrives as interrupt 0x100 + N).
const TRAP_BASE: u32 = 0x100;
const ST_BREAKPOINT: u32 = 0x01;
const ST_DIV0: u32 = 0x02;
const ST_FLUSH_WINDOWS: u32 = 0x03;
const ST_LINUX64_SYSCALL: u32 = 0x6d;
const ST_GETCONTEXT: u32 = 0x6e;
const ST_SETCONTEXT: u32 = 0x6f;
/// tagmmu's own trap: the resume trampoline.
const ST_TAGMMU_RESUME: u32 = 0x7f;
/// Hardware trap types (QEMU's TT_* for SPARC64).
const TT_PRIV_INSN: u32 = 0x11;
const TT_NFPU_INSN: u32 = 0x20;
const TT_FP_EXCP: u32 = 0x21;
const TT_TOVF: u32 = 0x23;
const TT_CLRWIN: u32 = 0x24;
const TT_DIV_ZERO: u32 = 0x28;
const TT_UNALIGNED: u32 = 0x34;
const TT_DMISS: u32 = 0x68;
const TT_SPILL: u32 = 0x80;
const TT_FILL: u32 = 0xc0;

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
}

/// Replace the instructions tagmmu must emulate (ADI version accesses, `%asi` forms) in the
/// executable mappings of the loaded image; returns the patch table.
pub fn patch_image(kernel: &mut Kernel) -> std::collections::HashMap<u64, u32> {
    let mut table = std::collections::HashMap::new();
    let ranges: Vec<(u64, u64)> = kernel
        .mm
        .vmas()
        .iter()
        .filter(|v| v.prot.contains(Prot::EXEC) && v.kind == crate::kernel_stub::mm::VmaKind::Image)
        .map(|v| (v.start, v.end))
        .collect();
    for (start, end) in ranges {
        let mut code = vec![0u8; (end - start) as usize];
        if kernel.mm.read_kernel(start, &mut code).is_err() {
            continue;
        }
        let patched = crate::adi::patch_text(&mut code, start);
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
    /// The translation block running: (start, size in bytes).
    block: (u64, u64),
    /// PC/NPC to continue at when the resume trampoline traps.
    resume: Option<(u64, u64)>,
    trampoline: u64,
    /// Stop, error, TLB generation, budgets, counters.
    state: RunState,
    /// Instructions replaced by a trap (address → original).
    patches: std::collections::HashMap<u64, u32>,
    /// For each ADI alias page entered in the TLB: the virtual page (with its version bits).
    alias_va: std::collections::HashMap<u64, u64>,
    /// The (untagged) ADI pages entered in the TLB since the last flush.
    adi_tlb_pages: std::collections::HashSet<u64>,
    /// The ADI check hook is installed.
    adi_hook: bool,
    /// The alias page a precise ADI fault protected.
    protected_alias: Option<u64>,
    /// The versions of the last precise ADI fault, for the report.
    adi_fault: Option<adi::AdiFault>,
    /// The last disrupting ADI error delivered, for the report.
    deferred_report: Option<crate::adi::DeferredError>,
}

impl Backend for Guest {
    fn kernel(&mut self) -> &mut Kernel {
        &mut self.kernel
    }
    fn run(&mut self) -> &mut RunState {
        &mut self.state
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
        adi::restore_alias(uc)?;
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
}

impl Guest {
    fn env(&self) -> SparcEnv {
        self.env.expect("the CPU state is attached before the guest runs")
    }
}

/// Register numbers of the current window in Unicorn's numbering: %o0-%o7, %l0-%l7, %i0-%i7.
fn window_reg_id(n: usize) -> i32 {
    const O0: i32 = 78;
    const L0: i32 = 70;
    const I0: i32 = 61;
    match n {
        0..=7 => O0 + n as i32,
        8..=15 => L0 + (n - 8) as i32,
        16..=23 => I0 + (n - 16) as i32,
        _ => panic!("window register {n}"),
    }
}

/// %g0-%g7 in Unicorn's numbering.
fn global_reg_id(n: usize) -> i32 {
    53 + n as i32
}

/// Integer register `r` (0..32: %g, %o, %l, %i) in Unicorn's numbering.
fn int_reg_id(r: u32) -> i32 {
    match r {
        0..=7 => global_reg_id(r as usize),
        _ => window_reg_id(r as usize - 8),
    }
}

fn read_int_reg(uc: &Unicorn<Guest>, r: u32) -> Result<u64, EmuError> {
    if r == 0 {
        return Ok(0);
    }
    uc.reg_read(int_reg_id(r)).op("read register")
}

fn write_int_reg(uc: &mut Unicorn<Guest>, r: u32, v: u64) -> Result<(), EmuError> {
    if r == 0 {
        return Ok(());
    }
    uc.reg_write(int_reg_id(r), v).op("write register")
}

/// The current window's registers through Unicorn's API.
struct UcWindow<'a, 'b>(&'a mut Unicorn<'b, Guest>);

impl WindowRegs for UcWindow<'_, '_> {
    fn get(&mut self, n: usize) -> u64 {
        self.0.reg_read(window_reg_id(n)).expect("window registers are readable")
    }
    fn set(&mut self, n: usize, v: u64) {
        self.0.reg_write(window_reg_id(n), v).expect("window registers are writable");
    }
}

/// Store to / load from the task's stack as a user access through the kernel stub.
fn user_store(k: &mut Kernel, addr: u64, data: &[u8]) -> bool {
    let ctx = k.uaccess;
    crate::kernel_stub::uaccess::copy_to_user(&mut k.mm, ctx, crate::addr::UserAddr(addr), data) == 0
}

fn user_load(k: &mut Kernel, addr: u64, buf: &mut [u8]) -> bool {
    let ctx = k.uaccess;
    crate::kernel_stub::uaccess::copy_from_user(&mut k.mm, ctx, buf, crate::addr::UserAddr(addr)) == 0
}

/// Linux's spill handler: store the oldest window to its frame and `saved`.
fn spill_one(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    let w = windows::spill_target(&env);
    let (sp, regs) = windows::read_window(&env, &mut UcWindow(uc), w);
    let (at, wide) = windows::frame_of(sp);
    if !user_store(&mut uc.get_data_mut().kernel, at, &windows::encode(&regs, wide)) {
        return Err(BadFrame { addr: at });
    }
    env.set_windows(windows::saved(env.windows()));
    Ok(())
}

/// Linux's fill handler: load window CWP - 1 from its frame and `restored`.
fn fill_one(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    let w = windows::fill_target(&env);
    let sp = windows::window_sp(&env, &mut UcWindow(uc), w);
    let (at, wide) = windows::frame_of(sp);
    let mut bytes = vec![0u8; if wide { 128 } else { 64 }];
    if !user_load(&mut uc.get_data_mut().kernel, at, &mut bytes) {
        return Err(BadFrame { addr: at });
    }
    windows::write_window(&env, &mut UcWindow(uc), w, &windows::decode(&bytes, wide));
    env.set_windows(windows::restored(env.windows(), env.nwindows()));
    Ok(())
}

/// Store the current window's locals and ins to its save area at %sp + 2047, as Linux's
/// flush does for the trapping window.
fn store_current_window(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    let (sp, regs) = windows::read_window(&env, &mut UcWindow(uc), env.cwp());
    let (at, wide) = windows::frame_of(sp);
    if !user_store(&mut uc.get_data_mut().kernel, at, &windows::encode(&regs, wide)) {
        return Err(BadFrame { addr: at });
    }
    Ok(())
}

/// Load the current window's locals and ins from its save area at %sp + 2047: the return to
/// user after set_context or sigreturn, when every window was flushed.
fn load_current_window(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    let sp = uc.reg_read(window_reg_id(6)).unwrap_or(0);
    let (at, wide) = windows::frame_of(sp);
    let mut bytes = vec![0u8; if wide { 128 } else { 64 }];
    if !user_load(&mut uc.get_data_mut().kernel, at, &mut bytes) {
        return Err(BadFrame { addr: at });
    }
    windows::write_window(&env, &mut UcWindow(uc), env.cwp(), &windows::decode(&bytes, wide));
    Ok(())
}

/// The user state the trap handlers see.
fn read_regs(uc: &Unicorn<Guest>) -> Result<Sparc64Regs, EmuError> {
    let env = uc.get_data().env();
    let mut r = Sparc64Regs {
        pc: env.pc(),
        npc: env.npc(),
        y: env.y(),
        ccr: env.ccr() as u8,
        asi: env.asi(),
        pstate: env.pstate(),
        cwp: env.cwp(),
        ..Default::default()
    };
    for i in 1..8 {
        r.g[i] = uc.reg_read(global_reg_id(i)).op("read globals")?;
    }
    for i in 0..8 {
        r.o[i] = uc.reg_read(window_reg_id(i)).op("read outs")?;
    }
    for (i, d) in r.fpr.iter_mut().enumerate() {
        *d = env.fpr(i);
    }
    r.fsr = env.fsr();
    r.gsr = env.gsr();
    Ok(r)
}

/// Put back what a trap handler changed (the globals, outs, PC/NPC, %y, CCR, %asi).
fn write_regs(uc: &mut Unicorn<Guest>, r: &Sparc64Regs) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    for i in 1..8 {
        uc.reg_write(global_reg_id(i), r.g[i]).op("write globals")?;
    }
    for i in 0..8 {
        uc.reg_write(window_reg_id(i), r.o[i]).op("write outs")?;
    }
    env.set_y(r.y);
    env.set_ccr(r.ccr as u64);
    env.set_asi(r.asi);
    env.set_pc_npc(r.pc, r.npc);
    for (i, d) in r.fpr.iter().enumerate() {
        env.set_fpr(i, *d);
    }
    env.set_fsr(r.fsr);
    env.set_gsr(r.gsr);
    Ok(())
}

/// Every window flushed to the stack and the register file left with none to restore, as
/// after Linux's `synchronize_user_stack` and a return to user that refills only the
/// current window.
fn flush_all(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    flush_windows(uc)?;
    store_current_window(uc)
}

/// Flush every window before a trap handler reads or rewrites the user context (the `ta`
/// is at `after - 4`). False when a window's frame cannot be written: SIGSEGV is pending.
fn flush_at_trap(uc: &mut Unicorn<Guest>, after: u64) -> Result<bool, EmuError> {
    match flush_all(uc) {
        Ok(()) => Ok(true),
        Err(bad) => fault(uc, sig::SIGSEGV, code::SEGV_MAPERR, after - 4, after, bad.addr).map(|_| false),
    }
}

/// `ta 0x6e` (glibc's setjmp): Linux's `sparc64_get_context`.
fn on_getcontext(uc: &mut Unicorn<Guest>, after: u64) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    if !flush_at_trap(uc, after)? {
        return Ok(());
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
fn on_setcontext(uc: &mut Unicorn<Guest>, after: u64) -> Result<(), EmuError> {
    if !flush_at_trap(uc, after)? {
        return Ok(());
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

/// `force_sig(SIGSEGV)`: the kernel could not complete a context operation.
fn force_segv(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    uc.get_data_mut().pending =
        Some(PendingSignal { signo: sig::SIGSEGV, si_code: code::SI_KERNEL, addr: None, forced: true, at: None });
    uc.emu_stop().op("stop")
}

/// `flushw`: spill every window the task holds in the register file.
fn flush_windows(uc: &mut Unicorn<Guest>) -> Result<(), BadFrame> {
    let env = uc.get_data().env();
    while env.windows().cansave < env.nwindows() - 2 {
        spill_one(uc)?;
    }
    Ok(())
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

/// The address of the instruction that raised a hardware trap, from the NPC it left (Unicorn
/// has already moved it into the PC) and the translation block running: the instruction
/// before NPC when that one is in the block and `is_it` accepts it, else the block's last
/// instruction (a trap in a delay slot).
fn trapping_insn(g: &Guest, npc: u64, is_it: impl Fn(u32) -> bool) -> u64 {
    let (start, size) = g.block;
    let before = npc.wrapping_sub(4);
    if before >= start && before < start + size && read_insn(g, before).is_some_and(&is_it) {
        return before;
    }
    start + size.max(4) - 4
}

/// Instruction classes the window traps come from.
fn is_save(w: u32) -> bool {
    w >> 30 == 2 && (w >> 19) & 0x3f == 0x3c
}
fn is_restore(w: u32) -> bool {
    w >> 30 == 2 && (w >> 19) & 0x3f == 0x3d
}
/// RETURN (V9): a restore and a jump in one; it fills like RESTORE.
fn is_return(w: u32) -> bool {
    w >> 30 == 2 && (w >> 19) & 0x3f == 0x39
}
fn is_flushw(w: u32) -> bool {
    w >> 30 == 2 && (w >> 19) & 0x3f == 0x2b
}

/// TLB fill: the page walk, against the kernel stub's address space.
fn on_tlb_fill(uc: &mut Unicorn<Guest>, vaddr: u64, ty: MemType) -> Option<TlbEntry> {
    let g = uc.get_data_mut();
    let (access, walk) = tlb_walk(g, vaddr, ty)?;
    let page = g.kernel.mm.page_size();
    match walk {
        Ok(MappedPage { va, pa, prot }) => {
            let perms = uc_perms(prot);
            let mut paddr = pa.0 & !(page - 1);
            // An ADI page of a task that enabled ADI (the mapping was looked up just above).
            let checked = g.kernel.adi.checking() && prot.contains(Prot::TAGGED);
            if checked && g.kernel.mm.phys().containing(pa).is_some_and(|(s, _)| s.tags().is_some()) {
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
                    signo: sig::SIGSEGV,
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
            g.state.flush_tlb = true;
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
                signo: sig::SIGSEGV,
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

fn on_syscall(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    // Unicorn moved NPC (the instruction after the `ta`) into PC.
    let resume = env.npc();
    let nr = uc.reg_read(global_reg_id(1)).op("read g1")?;
    let mut args = [0u64; 6];
    for (i, a) in args.iter_mut().enumerate() {
        *a = uc.reg_read(window_reg_id(i)).op("read syscall argument")?;
    }
    let sp = uc.reg_read(window_reg_id(6)).op("read sp")?;
    let g = uc.get_data_mut();
    g.kernel.current_sp = sp;
    // A disrupting ADI error from a store just before the trap is delivered on the way back.
    let deferred = adi::take_deferred(g);
    let outcome = g.kernel.syscall(nr, args);
    if let Some(p) = deferred {
        g.kernel.signals.raise_with(p.signo, p.si_code, p.addr);
    }
    env.set_pc_npc(resume, resume + 4);
    match outcome {
        SyscallOutcome::Return(r) => {
            let ccr = env.ccr() & !(CCR_ICC_C | CCR_XCC_C);
            match r {
                Ok(v) => {
                    uc.reg_write(window_reg_id(0), v).op("write o0")?;
                    env.set_ccr(ccr);
                }
                Err(e) => {
                    uc.reg_write(window_reg_id(0), e.sparc() as u64).op("write o0")?;
                    env.set_ccr(ccr | CCR_ICC_C | CCR_XCC_C);
                }
            }
        }
        SyscallOutcome::Exit(status) => {
            uc.get_data_mut().state.stop = Some(Stop::Exited { status });
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
    let g = uc.get_data_mut();
    if let Some((signo, si_code, addr)) = g.kernel.signals.take_deliverable() {
        g.pending = Some(PendingSignal { signo, si_code, addr, forced: false, at: None });
        uc.emu_stop().op("stop")?;
    } else if g.kernel.adi.checking() && !g.adi_hook {
        // The task just enabled ADI: stop so the run loop installs the check hook.
        uc.emu_stop().op("stop")?;
    }
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
    if uc.get_data_mut().kernel.restore_rt_frame_sparc64(&mut regs).is_err() {
        return force_segv(uc);
    }
    write_regs(uc, &regs)?;
    if let Err(bad) = load_current_window(uc) {
        return fault(uc, sig::SIGSEGV, code::SEGV_MAPERR, regs.pc, regs.npc, bad.addr);
    }
    return_to_user(uc)
}

/// Run a window handler, then continue at `at` with `npc` (the trapping instruction, to
/// retry it). A frame the handler cannot reach kills the task with SIGSEGV, as Linux does
/// when a user window cannot be saved or restored.
fn window_trap(
    uc: &mut Unicorn<Guest>,
    at: u64,
    npc: u64,
    f: impl FnOnce(&mut Unicorn<Guest>) -> Result<(), BadFrame>,
) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let r = f(uc);
    env.set_pc_npc(at, npc);
    if let Err(bad) = r {
        uc.get_data_mut().pending = Some(PendingSignal {
            signo: sig::SIGSEGV,
            si_code: code::SEGV_MAPERR,
            addr: Some(bad.addr),
            forced: true,
            at: Some((at, npc)),
        });
        uc.emu_stop().op("stop")?;
    }
    Ok(())
}

fn fault(uc: &mut Unicorn<Guest>, signo: u32, si_code: i32, at: u64, npc: u64, addr: u64) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    env.set_pc_npc(at, npc);
    uc.get_data_mut().pending =
        Some(PendingSignal { signo, si_code, addr: Some(addr), forced: true, at: Some((at, npc)) });
    uc.emu_stop().op("stop")
}

fn on_interrupt(uc: &mut Unicorn<Guest>, intno: u32) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let npc = env.npc();
    match intno {
        n if n == TRAP_BASE + ST_LINUX64_SYSCALL => on_syscall(uc),
        n if n == TRAP_BASE + ST_TAGMMU_RESUME && uc.get_data().resume.is_some() => {
            let (pc, npc) = uc.get_data_mut().resume.take().expect("checked");
            env.set_pc_npc(pc, npc);
            Ok(())
        }
        n if n == TRAP_BASE + ST_GETCONTEXT => on_getcontext(uc, npc),
        n if n == TRAP_BASE + ST_SETCONTEXT => on_setcontext(uc, npc),
        n if n == TRAP_BASE + ST_FLUSH_WINDOWS => {
            // `ta 3`: flush the windows, continue after the trap.
            window_trap(uc, npc, npc + 4, flush_windows)
        }
        n if (TT_SPILL..TT_FILL).contains(&n) => {
            let at = trapping_insn(uc.get_data(), npc, |w| is_save(w) || is_flushw(w));
            window_trap(uc, at, npc, spill_one)
        }
        n if (TT_FILL..TT_FILL + 0x40).contains(&n) => {
            let at = trapping_insn(uc.get_data(), npc, |w| is_restore(w) || is_return(w));
            window_trap(uc, at, npc, fill_one)
        }
        TT_CLRWIN => {
            let at = trapping_insn(uc.get_data(), npc, is_save);
            window_trap(uc, at, npc, |uc| {
                let env = uc.get_data().env();
                windows::clean_window(&env, &mut UcWindow(uc));
                Ok(())
            })
        }
        TT_DMISS => on_nofault_load(uc, npc),
        TT_NFPU_INSN => {
            // Linux enables the FPU for the task on its first FP instruction and retries.
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            env.set_pstate(env.pstate() | PSTATE_PEF);
            env.set_fprs(env.fprs() | FPRS_FEF);
            env.set_pc_npc(at, npc);
            Ok(())
        }
        n if n == TRAP_BASE + ST_BREAKPOINT => {
            let at = npc - 4;
            fault(uc, sig::SIGTRAP, code::TRAP_BRKPT, at, npc, at)
        }
        n if n == TRAP_BASE + ST_DIV0 => {
            let at = npc - 4;
            fault(uc, sig::SIGFPE, code::FPE_INTDIV, at, npc, at)
        }
        TT_DIV_ZERO => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            fault(uc, sig::SIGFPE, code::FPE_INTDIV, at, npc, at)
        }
        n if n == TRAP_BASE + crate::adi::PATCH_TRAP_NUMBER
            && uc.get_data().patches.contains_key(&npc.wrapping_sub(4)) =>
        {
            let at = npc - 4;
            let orig = uc.get_data().patches[&at];
            adi::on_patched(uc, at, npc, orig)
        }
        TT_PRIV_INSN => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            fault(uc, sig::SIGILL, code::ILL_PRVOPC, at, npc, at)
        }
        TT_UNALIGNED => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            let addr = effective_address(uc, at).unwrap_or(at);
            fault(uc, sig::SIGBUS, code::BUS_ADRALN, at, npc, addr)
        }
        TT_FP_EXCP => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            fault(uc, sig::SIGFPE, code::FPE_FLTINV, at, npc, at)
        }
        TT_TOVF => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            fault(uc, sig::SIGEMT, code::EMT_TAGOVF, at, npc, at)
        }
        n if n >= TRAP_BASE => {
            // An unused software trap: Linux's bad_trap gives SIGILL/ILL_ILLTRP.
            let at = npc - 4;
            fault(uc, sig::SIGILL, code::ILL_ILLTRP, at, npc, at)
        }
        other => {
            let at = trapping_insn(uc.get_data(), npc, |_| true);
            uc.get_data_mut().kernel.notice(format!("unexpected CPU trap {other:#x} at {at:#x}: delivering SIGILL"));
            fault(uc, sig::SIGILL, code::ILL_ILLOPC, at, npc, at)
        }
    }
}

/// What a non-faulting load of `size` bytes at `ea` gives: the bytes if a user load could
/// reach them (a page that is mapped but not present is faulted in), else zero.
fn nofault_value(uc: &mut Unicorn<Guest>, ea: u64, size: usize, little_endian: bool, signed: bool) -> u64 {
    let mut bytes = vec![0u8; size];
    let k = &mut uc.get_data_mut().kernel;
    let readable =
        k.mm.untag(ea).filter(|a| a.checked_add(size as u64).is_some()).is_some_and(|a| {
            k.mm.handle_user_fault(a, Access::Read).is_ok() && k.mm.read_kernel(a, &mut bytes).is_ok()
        });
    if !readable {
        bytes.fill(0);
    }
    nofault::value(&bytes, little_endian, signed)
}

/// Complete a non-faulting load that QEMU's own TLB check turned into a data-TLB miss (see
/// [`nofault`]): the bytes if the address is readable, else zero.
fn on_nofault_load(uc: &mut Unicorn<Guest>, npc: u64) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let at = trapping_insn(uc.get_data(), npc, |w| nofault::decode(w).is_some());
    let load = read_insn(uc.get_data(), at).and_then(nofault::decode);
    let Some(l) = load else {
        uc.get_data_mut().kernel.notice(format!("data TLB miss at {at:#x} that is no alternate-space load: SIGSEGV"));
        return fault(uc, sig::SIGSEGV, code::SEGV_MAPERR, at, npc, at);
    };
    let asi = if l.imm.is_some() { env.asi() } else { l.imm_asi };
    if !nofault::is_nofault_asi(asi) {
        uc.get_data_mut()
            .kernel
            .notice(format!("alternate-space load with ASI {asi:#x} at {at:#x} is not modelled: SIGILL"));
        return fault(uc, sig::SIGILL, code::ILL_ILLOPC, at, npc, at);
    }
    let base = read_int_reg(uc, l.rs1)?;
    let off = match l.imm {
        Some(i) => i as u64,
        None => read_int_reg(uc, l.rs2)?,
    };
    let ea = base.wrapping_add(off);
    let le = asi & 0x8 != 0;
    if l.pair {
        let hi = nofault_value(uc, ea, 4, le, false);
        let lo = nofault_value(uc, ea.wrapping_add(4), 4, le, false);
        write_int_reg(uc, l.rd & !1, hi)?;
        write_int_reg(uc, l.rd | 1, lo)?;
    } else {
        let v = nofault_value(uc, ea, l.size as usize, le, l.signed);
        write_int_reg(uc, l.rd, v)?;
    }
    uc.get_data_mut().state.stats.emulated_insns += 1;
    env.set_pc_npc(npc, npc + 4);
    Ok(())
}

/// An illegal instruction (TT 0x10, which Unicorn hands to the invalid-instruction hook
/// with PC and NPC still on the instruction): MCDPER's `rd`/`wr %asr14` are emulated;
/// anything else is SIGILL/ILL_ILLOPC.
fn on_illegal(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    let env = uc.get_data().env();
    let (at, npc) = (env.pc(), env.npc());
    if let Some(w) = read_insn(uc.get_data(), at) {
        if adi::on_mcdper(uc, w)? {
            uc.get_data_mut().state.stats.emulated_insns += 1;
            env.set_pc_npc(npc, npc + 4);
            return Ok(());
        }
    }
    fault(uc, sig::SIGILL, code::ILL_ILLOPC, at, npc, at)
}

/// The effective address of the load/store at `pc` (rs1 + simm13 or rs1 + rs2), from the
/// registers it has not changed yet.
fn effective_address(uc: &Unicorn<Guest>, pc: u64) -> Option<u64> {
    let w = read_insn(uc.get_data(), pc)?;
    if w >> 30 != 3 {
        return None;
    }
    let reg = |r: u32| -> Option<u64> {
        match r {
            0 => Some(0),
            1..=7 => uc.reg_read(global_reg_id(r as usize)).ok(),
            _ => uc.reg_read(window_reg_id(r as usize - 8)).ok(),
        }
    };
    let rs1 = reg((w >> 14) & 31)?;
    let off = if w & (1 << 13) != 0 { (((w & 0x1fff) << 19) as i32 >> 19) as i64 as u64 } else { reg(w & 31)? };
    Some(rs1.wrapping_add(off))
}

fn on_block(uc: &mut Unicorn<Guest>, addr: u64, size: u32) {
    let g = uc.get_data_mut();
    g.block = (addr, size as u64);
    if let Some(stop) = g.state.count_block(size) {
        g.state.stop = Some(stop);
        let _ = uc.emu_stop();
        return;
    }
    // A disrupting ADI error is taken at the next block boundary.
    if g.kernel.adi.deferred.is_some() && g.pending.is_none() {
        g.pending = adi::take_deferred(g);
        let _ = uc.emu_stop();
    }
}

/// Configure the CPU as Linux's `start_thread` leaves a new 64-bit task.
fn setup_cpu(uc: &mut Unicorn<Guest>, start: InitialState) -> Result<(), EmuError> {
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).op("set tlb type")?;
    let env = uc.get_data().env();
    env.set_nwindows(NWINDOWS);
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
    let guest = Guest {
        kernel,
        env: None,
        disasm: Disassembler::new(crate::arch::Arch::Sparc64),
        pending: None,
        refused: None,
        block: (0, 0),
        resume: None,
        trampoline: opts.trampoline,
        state: RunState::new(opts.limits),
        patches: opts.patches,
        alias_va: std::collections::HashMap::new(),
        adi_tlb_pages: std::collections::HashSet::new(),
        adi_hook: false,
        protected_alias: None,
        adi_fault: None,
        deferred_report: None,
    };
    let mut uc = Unicorn::new_with_data(UcArch::SPARC, Mode::SPARC64 | Mode::BIG_ENDIAN, guest).op("open")?;
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
    sync_memory(&mut uc)?;
    install_hooks(&mut uc)?;

    let stop = run_loop::run_until_stop(&mut uc)?;
    Ok(run_loop::finish(&mut uc, stop))
}

/// Deliver a signal at a clean stop: run its handler (flushing the windows and building the
/// sparc64 frame), ignore it, or end the guest. Returns the stop if it ends the guest.
fn deliver(uc: &mut Unicorn<Guest>, p: PendingSignal) -> Result<Option<Stop>, EmuError> {
    let env = uc.get_data().env();
    let pc = env.pc();
    let g = uc.get_data_mut();
    if p.forced {
        g.kernel.signals.force(p.signo);
    }
    let act = g.kernel.signals.action(p.signo);
    let name = crate::kernel_stub::signal::sparc64::name(p.signo);
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
        let info = crate::kernel_stub::signal::arm64::SigInfo {
            signo: p.signo,
            code: p.si_code,
            addr: if p.si_code > 0 { p.addr } else { None },
            sender: (p.si_code <= 0).then_some((g.kernel.config.pid, g.kernel.config.uid)),
            esr: None,
            fault_address: p.addr.unwrap_or(0),
        };
        let framed = match flush_all(uc) {
            Ok(()) => {
                let mut regs = read_regs(uc)?;
                let tt = if p.forced { 0 } else { TRAP_BASE + ST_LINUX64_SYSCALL };
                match uc.get_data_mut().kernel.setup_rt_frame_sparc64(&mut regs, &info, &act, tt) {
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
    uc.add_block_hook(1, 0, |uc, addr, size| guarded(uc, "block hook", (), |uc| on_block(uc, addr, size)))
        .op("add block hook")?;
    Ok(())
}

/// The ADI version check on the alias windows, added when the task enables ADI: any memory
/// hook sends every guest access through Unicorn's slow path, so programs that never use
/// ADI do not pay for it. Translated code predates the hook, so the translation cache is
/// flushed (outside emulation).
fn install_adi_hook(uc: &mut Unicorn<Guest>) -> Result<(), EmuError> {
    uc.add_mem_hook(
        HookType::MEM_READ | HookType::MEM_WRITE,
        adi::ALIAS_BASE,
        adi::ALIAS_END - 1,
        |uc, ty, addr, size, _val| {
            guarded_result(uc, "ADI check", true, |uc| {
                adi::on_checked_access(uc, ty == MemType::WRITE, addr, size).map(|()| true)
            })
        },
    )
    .op("add ADI check hook")?;
    uc.ctl_flush_tb().op("flush translations")?;
    uc.get_data_mut().adi_hook = true;
    Ok(())
}
