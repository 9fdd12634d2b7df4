//! The kernel stub: a model of the parts of Linux a user program meets.
//!
//! It serves syscalls, owns the address space and the in-memory files, and performs the
//! kernel's own accesses to user memory. It never touches the CPU backend: the backend hands
//! it a trapped syscall or fault and mirrors the physical-memory changes it reports, so every
//! part of the stub runs in plain unit tests.

pub mod binfmt_elf;
pub mod btrfs;
pub mod errno;
pub mod exec;
pub mod ext4;
pub mod fault_in;
pub mod filemap;
pub mod fuse;
pub mod gfs2;
pub mod gup;
pub mod iomap_dio;
pub mod iov_iter;
pub mod itimer;
pub mod livelock;
pub mod loops;
pub mod mm;
pub mod mounts;
pub mod shm;
pub mod signal;
pub mod syscalls;
pub mod task;
pub mod trace;
pub mod uaccess;
pub mod version;
pub mod vfs;

use std::collections::BTreeSet;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::arch::Arch;
use crate::kernel_stub::mm::{AddressSpace, Layout};
use crate::kernel_stub::signal::SignalState;
use crate::kernel_stub::trace::Trace;
use crate::kernel_stub::uaccess::UaccessCtx;
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::vfs::{InputSource, OutputSink, Vfs};

/// Options of the modelled kernel and process.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KernelConfig {
    /// The kernel version whose behaviour is modelled.
    pub version: KernelVersion,
    /// Seed of every random source (getrandom, AT_RANDOM): equal seeds give equal runs.
    pub seed: u64,
    /// Real/effective user id.
    pub uid: u32,
    /// Real/effective group id.
    pub gid: u32,
    /// Process id (and the main thread's id).
    pub pid: u32,
    /// `uname -n`.
    pub hostname: String,
    /// Where fd 0 reads from.
    pub stdin: InputSource,
    /// Where fd 1 goes.
    pub stdout: OutputSink,
    /// Where fd 2 goes.
    pub stderr: OutputSink,
    /// arm64 MTE options of the machine: derived by the machine from the CPU options of
    /// [`crate::machine::MachineConfig`] (`mte`, `mte_far`, `mte_store_only`,
    /// `mte_preferred`), the one place they are set.
    pub(crate) mte: crate::mte::MteMachine,
    /// SPARC ADI of the machine: derived from [`crate::machine::MachineConfig::adi`].
    pub(crate) adi: crate::adi::AdiMachine,
    /// The architecture flavour's `probe_subpage_writeable()`.
    pub subpage_probe: Option<crate::kernel_stub::fault_in::SubpageProbe>,
    /// CAP_SYS_ADMIN (the btrfs search ioctls need it).
    pub cap_sys_admin: bool,
    /// Passes a kernel loop may run without a proof before tagmmu gives up on it.
    pub loop_budget: u64,
    /// What to do with a proven live-lock.
    pub livelock_action: crate::kernel_stub::loops::LivelockAction,
    /// Keep pictures of the user buffer and the fault-in probes of each kernel-loop pass
    /// ([`loops::BufferPicture`]); sweeps turn them off for speed.
    pub loop_pictures: bool,
    /// The guest's clocks.
    pub clock: GuestClock,
    /// The machine's RAM, in bytes, which mappings are charged against and anonymous memory
    /// may be resident in (see [`mm::limit`]); default: the host's RAM, at most 64 GiB.
    pub memory_limit: u64,
    /// How mappings are charged against it (`vm.overcommit_memory`; default: the heuristic).
    pub overcommit: mm::limit::Overcommit,
}

/// The guest's clocks. Virtual by default, so a run is a function of program, inputs and seed:
/// CLOCK_MONOTONIC (and BOOTTIME, the CPU-time clocks) is one nanosecond per instruction the
/// guest executed (a 1 GHz CPU retiring one instruction per cycle) plus the time it slept;
/// CLOCK_REALTIME (and TAI) is `epoch_ns` plus that. With `host`, both follow the host's
/// clocks instead (the realtime clock reads the host's; monotonic counts host time since the
/// start), plus the time slept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestClock {
    /// Follow the host's clocks instead of the instruction count.
    pub host: bool,
    /// CLOCK_REALTIME at the start of the run, in nanoseconds since 1970 (virtual clock only).
    pub epoch_ns: u64,
}

/// The default virtual epoch: 2024-01-01T00:00:00Z.
pub const DEFAULT_EPOCH_SECS: u64 = 1_704_067_200;

impl Default for GuestClock {
    fn default() -> Self {
        GuestClock { host: false, epoch_ns: DEFAULT_EPOCH_SECS * 1_000_000_000 }
    }
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            version: KernelVersion::default(),
            seed: 0,
            uid: 1000,
            gid: 1000,
            pid: 4242,
            hostname: "tagmmu".into(),
            stdin: InputSource::Empty,
            stdout: OutputSink::Inherit,
            stderr: OutputSink::Inherit,
            mte: crate::mte::MteMachine::default(),
            adi: crate::adi::AdiMachine::default(),
            subpage_probe: None,
            cap_sys_admin: true,
            loop_budget: 100_000,
            livelock_action: Default::default(),
            loop_pictures: true,
            clock: GuestClock::default(),
            memory_limit: mm::limit::default_memory_limit(),
            overcommit: Default::default(),
        }
    }
}

/// Resource limits (`RLIMIT_*`), as (soft, hard).
#[derive(Clone, Debug)]
pub struct Rlimits(pub [(u64, u64); 16]);

impl Rlimits {
    /// The limits init starts with under kernel `version`: RLIMIT_MEMLOCK (MLOCK_LIMIT) is
    /// 8 MiB from 5.16, 64 KiB before (commit 9dcc38e2813e, "Increase default MLOCK_LIMIT to
    /// 8 MiB").
    pub fn for_version(version: KernelVersion) -> Rlimits {
        let mut l = Rlimits::default();
        if !version.at_least(5, 16) {
            l.0[8] = (64 << 10, 64 << 10);
        }
        l
    }
}

/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;

impl Default for Rlimits {
    fn default() -> Self {
        let inf = (RLIM_INFINITY, RLIM_INFINITY);
        let mut l = [inf; 16];
        l[3] = (8 << 20, RLIM_INFINITY); // RLIMIT_STACK
        l[4] = (0, RLIM_INFINITY); // RLIMIT_CORE
        l[6] = (63_704, 63_704); // RLIMIT_NPROC
        l[7] = (1024, 1_048_576); // RLIMIT_NOFILE
        l[8] = (8 << 20, 8 << 20); // RLIMIT_MEMLOCK (MLOCK_LIMIT since 5.16)
        l[11] = (63_704, 63_704); // RLIMIT_SIGPENDING
        l[12] = (819_200, 819_200); // RLIMIT_MSGQUEUE
        l[13] = (0, 0); // RLIMIT_NICE
        l[14] = (0, 0); // RLIMIT_RTPRIO
        Rlimits(l)
    }
}

/// Counters of kernel-stub activity.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct KernelStats {
    /// Syscalls served (including failed and unknown ones).
    pub syscalls: u64,
    /// Syscalls that returned -ENOSYS because tagmmu does not model them.
    pub unknown_syscalls: u64,
}

/// The kernel stub's state: the machine's (files, physical memory, the process table, the
/// scheduler) and, in the per-process and per-thread fields, the running process's and
/// thread's (the others are parked: see [`task`]).
pub struct Kernel {
    /// The architecture.
    pub arch: Arch,
    /// Options.
    pub config: KernelConfig,
    /// The address space.
    pub mm: AddressSpace,
    /// Files and descriptors.
    pub vfs: Vfs,
    /// Signal dispositions, mask, pending set.
    pub signals: SignalState,
    /// How user pointers are treated.
    pub uaccess: UaccessCtx,
    /// The thread's MTE state (arm64).
    pub mte: crate::mte::MteState,
    /// The task's ADI state (sparc64).
    pub adi: crate::adi::AdiState,
    /// Resource limits.
    pub rlimits: Rlimits,
    /// `prctl(PR_SET_NAME)`.
    pub comm: String,
    /// `set_tid_address` (the running thread's).
    pub clear_child_tid: u64,
    /// `set_robust_list` (the running thread's).
    robust_list: u64,
    /// The running thread.
    tid: task::Tid,
    /// The other threads (of every process), and the scheduler.
    pub threads: task::Threads,
    /// Every process: its family, its state while parked, its status once ended.
    procs: std::collections::BTreeMap<u32, task::process::ProcInfo>,
    /// The process the machine started: the run ends when it does.
    first_pid: u32,
    /// The syscall and event trace.
    pub trace: Trace,
    /// Counters.
    pub stats: KernelStats,
    /// The guest's stack pointer at the current syscall (set by the CPU backend).
    pub current_sp: u64,
    /// The emulated mounts other than btrfs (ext4, gfs2, fuse).
    pub mounts: Vec<crate::kernel_stub::mounts::Mount>,
    /// The emulated btrfs mount, if any.
    pub btrfs: Option<crate::kernel_stub::btrfs::ioctl::BtrfsMount>,
    /// Reports of the kernel fault-in + uaccess loops run, in order.
    pub loop_reports: Vec<crate::kernel_stub::loops::LoopReport>,
    /// Set when a kernel loop was proven live-locked and the action is to kill the task:
    /// the syscall layer ends the syscall with [`syscalls::SyscallOutcome::KillLivelock`].
    pub livelock_kill: Option<String>,
    /// Set when the task went to sleep in a syscall that nothing can end (a blocking read of
    /// a pipe only it writes, a poll with no timeout): the syscall layer ends the syscall
    /// with [`syscalls::SyscallOutcome::Deadlock`].
    pub blocked_forever: Option<String>,
    /// A second result the syscall returns in another register (sparc64's `pipe`: the write
    /// end in %o1); the backend takes it on a successful return.
    pub second_result: Option<u64>,
    /// An `execve` that committed: the program the machine loads next.
    pub pending_exec: Option<syscalls::ExecRequest>,
    /// Reports of O_DIRECT reads and writes on the btrfs mount.
    pub dio_reports: Vec<crate::kernel_stub::btrfs::dio::DioReport>,
    /// System V shared-memory segments.
    pub shm: crate::kernel_stub::shm::ShmTable,
    /// The executable's path, as exec was given it.
    pub exe_path: String,
    /// Unknown syscall numbers already reported.
    pub unknown_reported: BTreeSet<u64>,
    /// Messages for the user (unknown syscalls, ...), in order.
    pub notices: Vec<String>,
    rng: ChaCha8Rng,
    started: Instant,
    /// Instructions the guest has executed, as the CPU backend last reported.
    retired: u64,
    /// Nanoseconds added to the clocks by guest sleeps (sleeping does not block the host).
    slept_ns: u64,
    /// Every process's ITIMER_REAL.
    pub itimers: itimer::ITimers,
}

impl Kernel {
    /// A fresh kernel with an empty address space.
    pub fn new(arch: Arch, config: KernelConfig) -> Kernel {
        let layout = match arch {
            Arch::Arm64 => Layout::arm64(),
            Arch::Sparc64 => Layout::sparc64(),
        };
        let mut vfs = Vfs::new(config.stdin.clone(), config.stdout.clone(), config.stderr.clone());
        // tmpfs's default size: half the memory (here the guest's memory limit).
        vfs.set_tmpfs_limit(config.memory_limit / 2);
        let mut mm = AddressSpace::new(layout);
        mm.phys_mut().set_budget(config.memory_limit);
        mm.phys_mut().set_overcommit(config.overcommit);
        mm.set_cap_sys_rawio(config.uid == 0);
        Kernel {
            arch,
            mm,
            vfs,
            signals: SignalState::default(),
            uaccess: UaccessCtx::default(),
            mte: crate::mte::MteState { machine: config.mte, ..Default::default() },
            adi: crate::adi::AdiState { machine: config.adi, ..Default::default() },
            rlimits: Rlimits::for_version(config.version),
            comm: String::new(),
            clear_child_tid: 0,
            robust_list: 0,
            tid: task::Tid(config.pid),
            threads: Kernel::new_threads(config.seed, config.pid),
            procs: task::process::first_process(config.pid),
            first_pid: config.pid,
            current_sp: 0,
            exe_path: String::new(),
            btrfs: None,
            mounts: Vec::new(),
            loop_reports: Vec::new(),
            livelock_kill: None,
            blocked_forever: None,
            pending_exec: None,
            second_result: None,
            dio_reports: Vec::new(),
            shm: Default::default(),
            trace: Trace::default(),
            stats: KernelStats::default(),
            unknown_reported: BTreeSet::new(),
            notices: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            started: Instant::now(),
            retired: 0,
            slept_ns: 0,
            itimers: Default::default(),
            config,
        }
    }

    /// Fill `buf` from the seeded random source.
    pub fn random_bytes(&mut self, buf: &mut [u8]) {
        use rand::RngCore;
        self.rng.fill_bytes(buf);
    }

    /// The seeded random source (getrandom, AT_RANDOM; IRG has a generator of its own, seeded
    /// from the same seed, in the CPU backend's tag-instruction table).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// CLOCK_MONOTONIC: the guest's run time (virtual: its instruction count, see
    /// [`GuestClock`]), plus the time it slept.
    pub fn monotonic_ns(&self) -> u64 {
        let ran = if self.config.clock.host { self.started.elapsed().as_nanos() as u64 } else { self.retired };
        ran.saturating_add(self.slept_ns)
    }

    /// CLOCK_REALTIME: the epoch (virtual) or the host's clock, plus the run time and sleeps.
    pub fn realtime_ns(&self) -> u64 {
        if self.config.clock.host {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            now.saturating_add(self.slept_ns)
        } else {
            self.config.clock.epoch_ns.saturating_add(self.monotonic_ns())
        }
    }

    /// Tell the kernel how many instructions the guest has executed (the CPU backend does
    /// before each syscall): the virtual clocks advance with it.
    pub fn set_retired(&mut self, instructions: u64) {
        self.retired = instructions;
    }

    /// Nanoseconds the guest has slept (added to every clock).
    pub fn slept_ns(&self) -> u64 {
        self.slept_ns
    }

    /// Sleep: advance the guest's clocks without blocking the host.
    pub fn sleep(&mut self, ns: u64) {
        self.slept_ns = self.slept_ns.saturating_add(ns);
    }

    /// The `probe_subpage_writeable()` in effect: the configured flavour, else the
    /// architecture's upstream one (arm64: the MTE probe; SPARC: none, the generic stub).
    pub fn subpage_probe(&self) -> crate::kernel_stub::fault_in::SubpageProbe {
        use crate::kernel_stub::fault_in::SubpageProbe;
        self.config.subpage_probe.unwrap_or(match self.arch {
            Arch::Arm64 => SubpageProbe::Arm64Mte,
            Arch::Sparc64 => SubpageProbe::Generic,
        })
    }

    /// Does the machine check memory tags at all (arm64 MTE, SPARC ADI)?
    pub fn tags_supported(&self) -> bool {
        match self.arch {
            Arch::Arm64 => self.mte.supported(),
            Arch::Sparc64 => self.adi.machine.supported,
        }
    }

    /// The first `PROT_ADI`: set the task's PSTATE.mcde (Linux: TSTATE_MCDE, never cleared).
    /// From then on versioned pointers translate (bits 63:60 ignored, as the kernel's
    /// `untagged_addr` does) and the kernel's own accesses to user memory are checked
    /// precisely (Linux's trap entry sets PSTATE.mcde and PMCDPER for the kernel).
    pub fn enable_adi(&mut self) {
        if self.adi.mcde {
            return;
        }
        self.adi.mcde = true;
        self.mm.set_ignored_top_bits(4);
        self.uaccess.tagged_addr_abi = true;
        self.uaccess.check_loads = true;
        self.uaccess.check_stores = true;
    }

    /// The task sleeps in the current syscall and nothing can wake it: the one task of the
    /// machine would wait for itself (Linux would hang; tagmmu stops the run and says why).
    pub fn block_forever(&mut self, why: String) {
        self.blocked_forever = Some(why);
    }

    /// If a fault found the machine out of memory since the last call, the OOM killer's
    /// report (as the kernel log has it) becomes a notice and true is returned: the faulting
    /// process is to die of SIGKILL. See [`mm::limit`] for the victim tagmmu picks.
    pub fn take_oom_kill(&mut self) -> bool {
        if !self.mm.take_out_of_memory() {
            return false;
        }
        let (pid, comm, total_vm, rss) =
            (self.config.pid, self.comm.clone(), self.mm.total_vm() >> 10, self.mm.phys().resident() >> 10);
        let ram = self.mm.phys().budget() >> 10;
        self.notice(format!(
            "Out of memory: Killed process {pid} ({comm}) total-vm:{total_vm}kB, anon-rss:{rss}kB \
             (the machine's resident anonymous memory; RAM {ram}kB, no swap)"
        ));
        true
    }

    /// Record a notice for the user (printed at once when the guest's stderr is the host's).
    pub fn notice(&mut self, msg: String) {
        if self.config.stderr == OutputSink::Inherit {
            eprintln!("tagmmu: {msg}");
        }
        self.notices.push(msg);
    }
}
