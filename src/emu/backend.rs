//! What the CPU backends share: the run state every hook may touch, mirroring the kernel
//! stub's physical memory into Unicorn (with the tag aliases of tag-checked memory), the
//! permissions of a TLB entry, the run budgets, and turning a hook's failure into an error.

use std::time::Instant;

use unicorn_engine::{MemType, Prot as UcProt, Unicorn};

use crate::addr::PhysAddr;
use crate::emu::block_counter::BlockCounter;
use crate::emu::guard::catch;
use crate::emu::{EmuError, EmuStats, RunLimits, Stop, StopFlag, UcContext};
use crate::kernel_stub::mm::{Access, FaultKind, PhysEvent, Prot};
use crate::kernel_stub::Kernel;

/// The run state of a backend's guest.
pub(crate) struct RunState {
    /// How the run ended, once it has.
    pub stop: Option<Stop>,
    /// A backend error raised inside a hook.
    pub error: Option<EmuError>,
    /// The address-space generation the TLB was last flushed for.
    pub tlb_gen: u64,
    /// Flush the TLB before running again.
    pub flush_tlb: bool,
    /// Pages whose entries alone must go before the CPU runs again (the fault windows of
    /// refused accesses), each as the fill hook was given it (the pointer tag included: the
    /// entry is that alias's). See [`RunState::flush_tlb_page`].
    flush_pages: Vec<u64>,
    /// TLB fills since the last flush that evicted another page's entry, and how many make
    /// the TLB thrash ([`crate::emu::soft_tlb::thrash_limit`]).
    evictions_since_flush: u64,
    thrash_limit: u64,
    /// The MMU mode whose evictions count (the largest table at the last flush); none while
    /// the TLB cannot grow (before the first flush, or at the cap).
    thrash_mode: Option<usize>,
    /// The TLB thrashed: stop at the next block so that a flush lets QEMU grow it.
    grow_tlb: bool,
    /// Set while tagmmu itself changes Unicorn's memory map: Unicorn then probes the TLB with
    /// the physical address of the region, which is not a guest access.
    pub remapping: bool,
    /// Budgets.
    pub limits: RunLimits,
    /// Counters (instructions and blocks: see [`RunState::stats`]).
    pub stats: EmuStats,
    /// The per-block counter the C block hook keeps (boxed: the hook holds its address).
    counter: Box<BlockCounter>,
    /// When the run started.
    pub started: Instant,
    /// The page walks of TLB fills, for the address space's current generation.
    walks: crate::emu::walk_cache::WalkCache,
    /// The scheduler should pick the thread to run at this stop (a syscall slept, yielded or
    /// woke someone, a thread exited, or a time slice ended).
    pub reschedule: bool,
    /// The physical pages the TLB was given execute permission for since translations and
    /// TLB were last dropped together: the only pages QEMU can have translated code from
    /// (see [`sync_memory`]).
    code_pages: std::collections::HashSet<u64>,
}

impl RunState {
    /// A fresh run with `limits`.
    pub fn new(limits: RunLimits) -> RunState {
        RunState {
            stop: None,
            error: None,
            tlb_gen: u64::MAX,
            flush_tlb: true,
            flush_pages: Vec::new(),
            evictions_since_flush: 0,
            thrash_limit: u64::MAX,
            thrash_mode: None,
            grow_tlb: false,
            remapping: false,
            limits,
            stats: EmuStats::default(),
            counter: Box::default(),
            started: Instant::now(),
            walks: Default::default(),
            code_pages: Default::default(),
            reschedule: false,
        }
    }

    /// Drop the TLB entries of the page holding `vaddr` (as a fill hook was given it) before
    /// the CPU runs again: a refused access's fault window, which must not serve the next
    /// access to that page. Past [`FLUSH_PAGES_MAX`] pages, the whole TLB is flushed instead.
    pub fn flush_tlb_page(&mut self, vaddr: u64) {
        if self.flush_pages.len() < FLUSH_PAGES_MAX {
            self.flush_pages.push(vaddr);
        } else {
            self.flush_tlb = true;
        }
    }

    /// Instructions run so far (counted per translation block).
    pub fn instructions(&self) -> u64 {
        self.counter.instructions()
    }

    /// The translation block running now (address, size in bytes).
    pub fn current_block(&self) -> (u64, u64) {
        self.counter.current_block()
    }

    /// The counters, with the block counter's.
    pub fn stats(&self) -> EmuStats {
        EmuStats { instructions: self.counter.instructions(), blocks: self.counter.blocks(), ..self.stats }
    }

    /// The block counter (for installing its hook).
    pub(crate) fn counter_mut(&mut self) -> &mut BlockCounter {
        &mut self.counter
    }

    /// Set the instruction mark: the block hook calls the backend at the budget (once the
    /// count exceeds it) or at `next_event`, whichever comes first.
    pub fn arm(&mut self, next_event: u64) {
        let budget = self.limits.insn_budget.map_or(u64::MAX, |b| b.saturating_add(1));
        self.counter.set_insn_mark(budget.min(next_event));
    }

    /// Have the block hook call the backend at the next block (a deferred error to take).
    pub fn mark_next_block(&mut self) {
        self.counter.mark_next_block();
    }

    /// Count a TLB fill, and whether it `evicts` another page's entry. Once the evictions
    /// since the last flush pass the thrash limit, the TLB is flushed at the next block,
    /// where QEMU's resize at the flush doubles the full table. Fills into slots emptied by
    /// a page flush (a retag, a tag-checked page dropped), or held by the same page under
    /// another pointer tag, do not count: a bigger table would not spare them.
    fn note_tlb_fill(&mut self, evicts: bool) {
        if !evicts {
            return;
        }
        self.evictions_since_flush += 1;
        if self.evictions_since_flush > self.thrash_limit && !self.grow_tlb {
            self.grow_tlb = true;
            self.flush_tlb = true;
            self.stats.tlb_grow_flushes += 1;
            self.counter.mark_next_block();
        }
    }

    /// A TLB fill gave execute permission for the physical page `pa` (a page-aligned address,
    /// the page's own, not an alias or a shadow): translations may be made from it.
    pub fn note_code_page(&mut self, pa: u64) {
        self.code_pages.insert(pa);
    }

    /// At a mark: whether to stop for a TLB that thrashed (see [`RunState::note_tlb_fill`]).
    pub fn take_tlb_grow(&mut self) -> bool {
        std::mem::take(&mut self.grow_tlb)
    }

    /// At a mark: the stop if a budget ran out (the instruction budget, or the wall time,
    /// looked at every few thousand blocks).
    pub fn budget_stop(&mut self) -> Option<Stop> {
        if let Some(b) = self.limits.insn_budget {
            let n = self.counter.instructions();
            if n > b {
                return Some(Stop::InsnBudget { executed: n });
            }
        }
        if self.counter.take_block_mark() {
            return self.time_exceeded();
        }
        None
    }

    /// The stop if the wall-time budget ran out or the stop flag was raised. Checked every few
    /// thousand blocks and after every kernel entry (a syscall can take long: a huge write).
    pub fn time_exceeded(&self) -> Option<Stop> {
        let now = Instant::now();
        let stop = || Stop::TimeBudget { elapsed_ms: (now - self.started).as_millis() as u64 };
        if self.limits.stop_flag.as_ref().is_some_and(StopFlag::is_raised) {
            return Some(stop());
        }
        (now >= self.deadline()?).then(stop)
    }

    /// When the wall-time budget runs out, if there is one (and the instant can be held).
    pub fn deadline(&self) -> Option<Instant> {
        self.limits.time_budget.and_then(|t| self.started.checked_add(t))
    }
}

/// The stop a syscall's outcome ends the CPU's run with, when it ends it without a signal:
/// the program exited, went to sleep for ever, or was replaced by `execve` (the machine then
/// loads the next program from `kernel.pending_exec`; that stop is not reported).
pub(crate) fn stop_for(outcome: &crate::kernel_stub::syscalls::SyscallOutcome) -> Option<Stop> {
    use crate::kernel_stub::syscalls::SyscallOutcome;
    match outcome {
        SyscallOutcome::Exit(status) => Some(Stop::Exited { status: *status }),
        SyscallOutcome::Deadlock(reason) => Some(Stop::Deadlock { reason: reason.clone() }),
        SyscallOutcome::Exec => Some(Stop::Exited { status: 0 }),
        _ => None,
    }
}

/// A backend's guest, as the shared code sees it.
pub(crate) trait Backend {
    /// Where the target's CPU keeps its soft TLB.
    const TLB_LAYOUT: crate::emu::soft_tlb::TlbLayout;
    /// The kernel stub.
    fn kernel(&mut self) -> &mut Kernel;
    /// The run state.
    fn run(&mut self) -> &mut RunState;
    /// The instruction count at which the backend wants [`Backend::at_mark`] called next (a
    /// time slice's end, a timer tick; 0: at the next block), besides the budgets.
    fn next_event(&self) -> u64;
    /// Called by the block hook at a block where a mark was reached (the backend re-arms with
    /// [`RunState::arm`]); true: stop the CPU.
    fn at_mark(&mut self) -> bool;
    /// The TLB was flushed: forget what was recorded per TLB entry.
    fn tlb_flushed(&mut self) {}
    /// The kernel model is done for now (after [`sync_memory`]): copy into the CPU side's
    /// state what the C fast paths read of it.
    fn kernel_left(&mut self) {}
    /// The physical address of tag `tag`'s alias of guest physical address `pa`.
    fn tag_alias(pa: u64, tag: u8) -> u64;
    /// Map the arena (all anonymous guest memory: `len` bytes at physical `pa`, host memory at
    /// `host`) and its tag aliases. The default maps the aliases as RAM too.
    fn map_arena(uc: &mut Unicorn<Self>, pa: u64, len: u64, host: *mut u8) -> Result<(), EmuError>
    where
        Self: Sized,
    {
        map_arena_ram(uc, pa, len, host)
    }
    /// A segment outside the arena (a file's page cache) became tag-checked: map its tag
    /// aliases (`len` bytes at each alias of `pa`, host memory at `host`). The default maps
    /// them as RAM too.
    fn map_tagged(uc: &mut Unicorn<Self>, pa: u64, len: u64, host: *mut u8) -> Result<(), EmuError>
    where
        Self: Sized,
    {
        for tag in 0..16 {
            // SAFETY: as for a `Mapped` segment: the aliases share the segment's host memory,
            // which lives until its `Unmapped` event unmaps them too.
            unsafe { uc.mem_map_ptr(Self::tag_alias(pa, tag), len, UcProt::ALL, host.cast()) }.op("map tag alias")?;
        }
        Ok(())
    }
    /// The allocation tags of these physical pages changed: drop any TLB entry that was made
    /// on the strength of their old tags. (The default keeps none.)
    fn retagged(_uc: &mut Unicorn<Self>, _pages: Vec<u64>) -> Result<(), EmuError>
    where
        Self: Sized,
    {
        Ok(())
    }
}

/// A page a TLB fill found mapped: its untagged virtual address, physical address and
/// protection, and whether its memory has allocation tags.
pub(crate) struct MappedPage {
    pub va: u64,
    pub pa: PhysAddr,
    pub prot: Prot,
    pub tag_storage: bool,
}

/// The page walk of a TLB fill for `vaddr`, against the kernel stub's address space (a fault
/// it can serve, such as a first touch, is served): the kind of access and the page, or why
/// the access faults. None while tagmmu itself changes the memory map (Unicorn then probes
/// the TLB with a region's physical address, which is not a guest access).
pub(crate) fn tlb_walk<G: Backend>(
    uc: &mut Unicorn<G>,
    vaddr: u64,
    ty: MemType,
) -> Option<(Access, Result<MappedPage, FaultKind>)> {
    if uc.get_data_mut().run().remapping {
        return None;
    }
    let page_bits = uc.get_data_mut().kernel().mm.page_size().trailing_zeros();
    let evicts = uc.get_data_mut().run().thrash_mode.is_some_and(|mode| {
        // SAFETY: the engine is live and filling its TLB on this thread (the CPU is in a
        // memory access); its target is laid out as `G::TLB_LAYOUT`, which has `mode`.
        unsafe {
            engine_cpu(uc.get_handle())
                .is_some_and(|cpu| crate::emu::soft_tlb::fill_evicts(cpu, &G::TLB_LAYOUT, mode, vaddr, page_bits))
        }
    });
    let g = uc.get_data_mut();
    let run = g.run();
    run.stats.tlb_fills += 1;
    run.note_tlb_fill(evicts);
    let access = match ty {
        MemType::WRITE => Access::Write,
        MemType::FETCH => Access::Fetch,
        _ => Access::Read,
    };
    let Some(va) = g.kernel().mm.untag(vaddr) else { return Some((access, Err(FaultKind::Unmapped))) };
    let page_size = 1u64 << page_bits;
    let (page_va, in_page) = (va & !(page_size - 1), va & (page_size - 1));
    let generation = g.kernel().mm.generation();
    let found = match g.run().walks.get(generation, page_va, access) {
        Some(p) => Ok(p),
        None => {
            let walked = g.kernel().mm.user_fault(page_va, access);
            if let Ok(p) = walked {
                // A first touch bumps no generation: the walk holds as found.
                g.run().walks.put(generation, page_va, access, p);
            }
            walked
        }
    };
    let page =
        found.map(|p| MappedPage { va, pa: PhysAddr(p.pa.0 + in_page), prot: p.prot, tag_storage: p.tag_storage });
    Some((access, page))
}

/// The Unicorn permissions of a mapping's protection.
pub(crate) fn uc_perms(prot: Prot) -> UcProt {
    let mut perms = UcProt::NONE;
    if prot.contains(Prot::READ) {
        perms |= UcProt::READ;
    }
    if prot.contains(Prot::WRITE) {
        perms |= UcProt::WRITE;
    }
    if prot.contains(Prot::EXEC) {
        perms |= UcProt::EXEC;
    }
    perms
}

/// After a kernel entry: stop the run if its wall-time budget ran out meanwhile.
pub(crate) fn check_time_budget<G: Backend>(uc: &mut Unicorn<G>) -> Result<(), EmuError> {
    let run = uc.get_data_mut().run();
    if run.stop.is_none() {
        if let Some(stop) = run.time_exceeded() {
            run.stop = Some(stop);
            uc.emu_stop().op("stop")?;
        }
    }
    Ok(())
}

/// What an interval timer's expiry asks of the CPU backend at a block mark.
pub(crate) enum TimerStop {
    /// The scheduler runs (the timer signalled a process whose thread sleeps or is parked).
    Reschedule,
    /// The running thread takes this signal: (signo, si_code, si_addr).
    Deliver(u32, i32, Option<u64>),
}

/// At a block mark at instruction `n`: fire the interval timers that are due, or rearm a
/// periodic one whose SIGALRM was taken (see `crate::kernel_stub::itimer`). `Some` when the
/// CPU must stop for it.
pub(crate) fn fire_timers(k: &mut Kernel, n: u64) -> Option<TimerStop> {
    if n < k.timer_check_at() {
        return None;
    }
    k.set_retired(n);
    k.run_timers();
    if k.threads.take_resched() {
        return Some(TimerStop::Reschedule);
    }
    k.signals.take_deliverable().map(|(signo, si_code, addr)| TimerStop::Deliver(signo, si_code, addr))
}

/// The most single pages [`RunState::flush_tlb_page`] keeps before it flushes the whole TLB.
const FLUSH_PAGES_MAX: usize = 16;

unsafe extern "C" {
    /// Unicorn patch 0017: QEMU's `tlb_flush_page` of the engine's CPU (every MMU mode, the
    /// victim TLB and the jump cache of the page), for the whole address given.
    fn uc_tagmmu_flush_tlb_page(uc: *mut unicorn_engine_sys::uc_engine, address: u64) -> unicorn_engine_sys::uc_error;
    /// Unicorn patch 0018: drop the translations of the code in `len` bytes of host memory
    /// at `host` (in every RAM block holding them), which tagmmu wrote behind QEMU's back.
    fn uc_tagmmu_invalidate_host_code(
        uc: *mut unicorn_engine_sys::uc_engine,
        host: *mut std::ffi::c_void,
        len: usize,
    ) -> unicorn_engine_sys::uc_error;
}

/// Mirror the kernel stub's physical-memory changes into Unicorn and flush the TLB when the
/// translations changed; then hand the CPU side what its fast paths read of the kernel
/// ([`Backend::kernel_left`]).
pub(crate) fn sync_memory<G: Backend>(uc: &mut Unicorn<G>) -> Result<(), EmuError> {
    let events = uc.get_data_mut().kernel().mm.phys_mut().take_events();
    if !events.is_empty() {
        uc.get_data_mut().run().remapping = true;
        let r = apply_phys_events(uc, events);
        uc.get_data_mut().run().remapping = false;
        r?;
        let regions = uc.mem_regions().op("list memory regions")?.len() as u64;
        let stats = &mut uc.get_data_mut().run().stats;
        stats.engine_regions_peak = stats.engine_regions_peak.max(regions);
    }
    let retagged = uc.get_data_mut().kernel().mm.take_retagged();
    if !retagged.is_empty() {
        G::retagged(uc, retagged)?;
    }
    let written = uc.get_data_mut().kernel().mm.take_code_written();
    invalidate_written_code(uc, written.pages())?;
    let g = uc.get_data_mut();
    let gen = g.kernel().mm.generation();
    let run = g.run();
    if gen != run.tlb_gen || run.flush_tlb {
        run.tlb_gen = gen;
        run.flush_tlb = false;
        run.flush_pages.clear();
        run.stats.tlb_flushes += 1;
        g.tlb_flushed();
        // SAFETY: the engine is live and stopped (the CPU runs only inside emu_start), and
        // its target is laid out as `G::TLB_LAYOUT`.
        if let Some(cpu) = unsafe { engine_cpu(uc.get_handle()) } {
            // SAFETY: as above.
            let entries = unsafe {
                crate::emu::soft_tlb::recount_used(cpu, &G::TLB_LAYOUT);
                crate::emu::soft_tlb::total_entries(cpu, &G::TLB_LAYOUT)
            };
            let stats = &mut uc.get_data_mut().run().stats;
            stats.tlb_entries_peak = stats.tlb_entries_peak.max(entries as u64);
        }
        uc.ctl_flush_tlb().op("flush tlb")?;
        // QEMU resized the tables in the flush: the thrash limit follows the new size.
        // SAFETY: as above.
        let largest = unsafe {
            engine_cpu(uc.get_handle()).and_then(|cpu| crate::emu::soft_tlb::largest_mode(cpu, &G::TLB_LAYOUT))
        };
        let run = uc.get_data_mut().run();
        run.evictions_since_flush = 0;
        run.thrash_limit = largest.map_or(u64::MAX, |(_, n)| crate::emu::soft_tlb::thrash_limit(n));
        run.thrash_mode = largest.filter(|_| run.thrash_limit != u64::MAX).map(|(mode, _)| mode);
    } else if !run.flush_pages.is_empty() {
        let mut pages = std::mem::take(&mut run.flush_pages);
        run.stats.tlb_page_flushes += pages.len() as u64;
        let handle = uc.get_handle();
        for &page in &pages {
            // SAFETY: `handle` is the live engine, stopped (the CPU runs only inside
            // emu_start), used on its own thread.
            let err = unsafe { uc_tagmmu_flush_tlb_page(handle, page) };
            if err != unicorn_engine_sys::uc_error::OK {
                return Err(EmuError::Unicorn { op: "flush a TLB page", err });
            }
        }
        // The vector's storage serves the next stop.
        pages.clear();
        uc.get_data_mut().run().flush_pages = pages;
    }
    uc.get_data_mut().kernel_left();
    Ok(())
}

/// Drop the translations the kernel's writes into executable pages made stale (`pages`, the
/// physical pages written; `None`: too many to list).
///
/// Pages of executable mappings the TLB never gave execute permission for hold no
/// translations: a write there (SPARC's data segment is RWX, and every signal frame on an
/// alternate stack in .bss, every read(2) into a static buffer, wrote it) costs nothing. A
/// page the CPU may have fetched from loses its own translations (Unicorn patch 0018, as
/// QEMU's stores into translated code do), and the TLB is flushed so that the next fetch
/// refills it (SPARC rescans run-time code then, and a page served from a shadow copy gets a
/// new one). Only when the pages are too many to list, or one is not guest memory the engine
/// maps, is every translation dropped. A page stays in the set until its translations are
/// dropped here and the TLB with them.
fn invalidate_written_code<G: Backend>(uc: &mut Unicorn<G>, pages: Option<&[PhysAddr]>) -> Result<(), EmuError> {
    let handle = uc.get_handle();
    let g = uc.get_data_mut();
    let page_size = g.kernel().mm.page_size();
    let code: Vec<PhysAddr> = match pages {
        Some(pages) => pages.iter().copied().filter(|p| g.run().code_pages.contains(&p.0)).collect(),
        None => Vec::new(),
    };
    let mut whole = pages.is_none();
    for &page in &code {
        let host = g.kernel().mm.phys().containing(page).map(|(seg, off)| seg.bytes()[off as usize..].as_ptr());
        let Some(host) = host else {
            whole = true;
            break;
        };
        // SAFETY: `handle` is the live engine, stopped, used on its own thread; `host` points
        // at the page's bytes in the kernel stub's physical memory (the buffer Unicorn maps),
        // which hold at least a page from there, and are only read.
        let err = unsafe { uc_tagmmu_invalidate_host_code(handle, host.cast_mut().cast(), page_size as usize) };
        if err != unicorn_engine_sys::uc_error::OK {
            return Err(EmuError::Unicorn { op: "drop the translations of a page", err });
        }
    }
    let run = g.run();
    if whole {
        run.code_pages.clear();
        run.flush_tlb = true;
        run.stats.code_flushes += 1;
        uc.ctl_flush_tb().op("flush translations")?;
    } else if !code.is_empty() {
        for page in &code {
            run.code_pages.remove(&page.0);
        }
        run.flush_tlb = true;
        run.stats.code_pages_invalidated += code.len() as u64;
    }
    Ok(())
}

/// The engine's CPU (`uc_struct.cpu`, at the same offset for every target of the build), `None`
/// until Unicorn has created it.
///
/// # Safety
/// `uc` must be a live engine.
pub(crate) unsafe fn engine_cpu(uc: *mut unicorn_engine_sys::uc_engine) -> Option<*mut u8> {
    // SAFETY: per the contract; the field's offset comes from the build-time probe.
    let cpu = unsafe { *((uc as *const u8).add(crate::emu::sparc64::cpu::offsets::UC_CPU) as *const *mut u8) };
    (!cpu.is_null()).then_some(cpu)
}

fn apply_phys_events<G: Backend>(uc: &mut Unicorn<G>, events: Vec<PhysEvent>) -> Result<(), EmuError> {
    for ev in events {
        match ev {
            PhysEvent::Arena { pa, len, host } => G::map_arena(uc, pa.0, len, host)?,
            PhysEvent::Mapped { pa, len, host } => {
                // SAFETY: `host` points at `len` bytes of a segment owned by the kernel stub's
                // physical memory, which neither moves nor is freed before the matching
                // `Unmapped` event; that event is applied here before the CPU runs again.
                unsafe { uc.mem_map_ptr(pa.0, len, UcProt::ALL, host.cast()) }.op("map guest memory")?;
            }
            PhysEvent::Unmapped { pa, len, tagged } => {
                uc.mem_unmap(pa.0, len).op("unmap guest memory")?;
                if tagged {
                    for tag in 0..16 {
                        uc.mem_unmap(G::tag_alias(pa.0, tag), len).op("unmap tag alias")?;
                    }
                }
            }
            PhysEvent::Tagged { pa, len, host } => G::map_tagged(uc, pa.0, len, host)?,
        }
    }
    Ok(())
}

/// Map the arena at `pa` and its 16 tag aliases (if the backend has any) as RAM.
pub(crate) fn map_arena_ram<G: Backend>(uc: &mut Unicorn<G>, pa: u64, len: u64, host: *mut u8) -> Result<(), EmuError> {
    // SAFETY: `host` is the arena's reservation, `len` bytes owned by the kernel stub's
    // physical memory, which outlives the engine's use of it (the engine is closed before the
    // kernel stub it belongs to is dropped). Ranges not handed out are inaccessible on the
    // host, but no guest translation reaches them: the page walk only enters pages of live
    // segments.
    unsafe { uc.mem_map_ptr(pa, len, UcProt::ALL, host.cast()) }.op("map guest memory")?;
    if G::tag_alias(pa, 0) != pa {
        for tag in 0..16 {
            // SAFETY: as above: the aliases share the arena's host memory.
            unsafe { uc.mem_map_ptr(G::tag_alias(pa, tag), len, UcProt::ALL, host.cast()) }.op("map tag alias")?;
        }
    }
    Ok(())
}

/// Run a hook's `body` so that no panic crosses Unicorn's C callback: a panic is recorded as
/// the run's error ("panic in `hook`"), the CPU stops, and the hook returns `fallback`. For
/// bodies that cannot fail otherwise; the per-access tag checks use it, so it adds nothing
/// but the unwind guard.
#[inline(always)]
pub(crate) fn guarded<G: Backend, R>(
    uc: &mut Unicorn<G>,
    hook: &str,
    fallback: R,
    body: impl FnOnce(&mut Unicorn<G>) -> R,
) -> R {
    match catch(|| body(uc)) {
        Ok(r) => r,
        Err(m) => hook_failed(uc, EmuError::Internal(format!("panic in {hook}: {m}")), fallback),
    }
}

/// [`guarded`] for a body that returns an error: the error, too, is recorded as the run's
/// error, the CPU stops, and the hook returns `fallback`.
#[inline(always)]
pub(crate) fn guarded_result<G: Backend, R>(
    uc: &mut Unicorn<G>,
    hook: &str,
    fallback: R,
    body: impl FnOnce(&mut Unicorn<G>) -> Result<R, EmuError>,
) -> R {
    match catch(|| body(uc)) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => hook_failed(uc, e, fallback),
        Err(m) => hook_failed(uc, EmuError::Internal(format!("panic in {hook}: {m}")), fallback),
    }
}

/// Record an error from inside a hook, stop the CPU, and give the hook's fallback result.
fn hook_failed<G: Backend, R>(uc: &mut Unicorn<G>, e: EmuError, fallback: R) -> R {
    let run = uc.get_data_mut().run();
    if run.error.is_none() {
        run.error = Some(e);
    }
    let _ = uc.emu_stop();
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_stop_the_run() {
        let mut r = RunState::new(RunLimits { insn_budget: Some(10), ..Default::default() });
        r.arm(u64::MAX);
        r.counter_mut().count_block(0x1000, 40);
        assert_eq!(r.budget_stop(), None);
        r.counter_mut().count_block(0x1028, 4);
        assert_eq!(r.budget_stop(), Some(Stop::InsnBudget { executed: 11 }));
        assert_eq!(r.stats().instructions, 11);
        assert_eq!(r.stats().blocks, 2);
        assert_eq!(uc_perms(Prot::READ | Prot::EXEC), UcProt::READ | UcProt::EXEC);
    }

    /// A raised stop flag ends the run at the next look at the wall clock, as the wall-time
    /// budget does; until then nothing stops it.
    #[test]
    fn a_raised_stop_flag_stops_the_run() {
        let flag = StopFlag::new();
        let r = RunState::new(RunLimits { stop_flag: Some(flag.clone()), ..Default::default() });
        assert_eq!(r.time_exceeded(), None);
        flag.raise();
        assert!(matches!(r.time_exceeded(), Some(Stop::TimeBudget { .. })));
        assert_ne!(flag, StopFlag::new(), "another flag");
    }

    struct TestGuest {
        kernel: Kernel,
        state: RunState,
    }

    impl Backend for TestGuest {
        const TLB_LAYOUT: crate::emu::soft_tlb::TlbLayout = crate::emu::soft_tlb::ARM64;
        fn kernel(&mut self) -> &mut Kernel {
            &mut self.kernel
        }
        fn run(&mut self) -> &mut RunState {
            &mut self.state
        }
        fn next_event(&self) -> u64 {
            u64::MAX
        }
        fn at_mark(&mut self) -> bool {
            false
        }
        fn tag_alias(pa: u64, _tag: u8) -> u64 {
            pa
        }
    }

    fn engine() -> Unicorn<'static, TestGuest> {
        let guest = TestGuest {
            kernel: Kernel::new(crate::arch::Arch::Arm64, Default::default()),
            state: RunState::new(RunLimits::default()),
        };
        Unicorn::new_with_data(unicorn_engine::Arch::ARM64, unicorn_engine::Mode::ARM, guest).expect("open")
    }

    #[test]
    fn a_hook_panic_or_error_becomes_the_run_error_and_the_fallback() {
        let mut uc = engine();
        assert_eq!(guarded(&mut uc, "test hook", 0, |_| 5), 5);
        assert!(uc.get_data_mut().run().error.is_none());
        let r = guarded(&mut uc, "test hook", 7, |_| -> i32 { panic!("boom") });
        assert_eq!(r, 7);
        let err = uc.get_data_mut().run().error.take().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("panic in test hook: boom"), "{err}");
        let r = guarded_result(&mut uc, "test hook", 9, |_| Err(EmuError::Internal("refused".into())));
        assert_eq!(r, 9);
        let err = uc.get_data_mut().run().error.take().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("refused"), "{err}");
        assert_eq!(guarded_result(&mut uc, "test hook", 0, |_| Ok(3)), 3);
    }
}
