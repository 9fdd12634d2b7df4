//! The machine: assembles a guest (executable, kernel stub, CPU) and runs it.

use std::path::PathBuf;
use std::time::Instant;

use crate::arch::Arch;
use crate::emu::arm64::sysregs::MteLevel;
use crate::emu::arm64::{self, Arm64Options};
use crate::emu::sparc64::{self, Sparc64Options};
use crate::emu::{EmuError, RunLimits};
use crate::kernel_stub::binfmt_elf::{self as elf, LoadError};
use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::exec::{at, ExecParams};
use crate::kernel_stub::vfs::OutputSink;
use crate::kernel_stub::{Kernel, KernelConfig};
use crate::mte::{MteMachine, TcfMode};
use crate::report::{RunResult, RunStats};

/// `AT_MINSIGSTKSZ` on arm64 without SVE/SME: sizeof(struct rt_sigframe) (4688) plus the
/// frame record and alignment (arch/arm64/kernel/signal.c).
pub const ARM64_MINSIGSTKSZ: u64 = 4720;

/// Default instructions between modelled timer ticks (about 4 ms of a 250 Hz kernel on a
/// core retiring a few hundred million instructions a second).
pub const DEFAULT_TICK_INTERVAL: u64 = 1_000_000;

/// What to trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceOptions {
    /// Syscalls and signals.
    pub syscalls: bool,
    /// Every instruction.
    pub insns: bool,
    /// Print events to stderr as they happen.
    pub print: bool,
    /// Keep events in the result.
    pub keep: bool,
}

/// Everything that defines a machine and its guest.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MachineConfig {
    /// The static executable to run (a host path).
    pub program: PathBuf,
    /// `argv[0]` and AT_EXECFN (defaults to the program path as given).
    pub argv0: Option<String>,
    /// Arguments after `argv[0]`.
    pub args: Vec<String>,
    /// Environment, as `KEY=value`.
    pub env: Vec<String>,
    /// Required architecture (default: whatever the executable is).
    pub arch: Option<Arch>,
    /// The kernel stub's options.
    pub kernel: KernelConfig,
    /// The MTE level the arm64 CPU offers.
    pub mte: MteLevel,
    /// FEAT_MTE_TAGGED_FAR (HWCAP3_MTE_FAR; used by 6.16+ kernels).
    pub mte_far: bool,
    /// FEAT_MTE_STORE_ONLY (HWCAP3_MTE_STORE_ONLY, `PR_MTE_STORE_ONLY`; used by 6.17+ kernels).
    pub mte_store_only: bool,
    /// The CPU's preferred tag-check mode (used when a thread asks for several).
    pub mte_preferred: TcfMode,
    /// The SPARC CPU has ADI (an M7; false: a T4-like CPU without it). Like the MTE options
    /// above, the CPU's tag hardware is set here and only here.
    pub adi: bool,
    /// Instructions between modelled timer ticks (where async tag faults are reported when
    /// no syscall comes first).
    pub tick_interval: u64,
    /// A thread's time slice, in instructions (the scheduler draws each slice between half
    /// and one and a half of it from the seed; see [`crate::kernel_stub::task::sched`]).
    pub quantum: u64,
    /// Budgets.
    pub limits: RunLimits,
    /// Tracing.
    pub trace: TraceOptions,
    /// Files placed in the guest's filesystem before it starts: (guest path, contents).
    pub files: Vec<(String, Vec<u8>)>,
    /// An emulated btrfs mount.
    pub btrfs: Option<crate::kernel_stub::btrfs::ioctl::BtrfsMount>,
    /// Emulated ext4, gfs2 and fuse mounts (their files go in `files`).
    pub mounts: Vec<crate::kernel_stub::mounts::Mount>,
    /// How the kernel's user copies progress up to a fault.
    pub copy_model: crate::kernel_stub::uaccess::CopyModel,
}

impl MachineConfig {
    /// A machine running `program` with no arguments, an empty environment, captured output
    /// and default options.
    pub fn new(program: impl Into<PathBuf>) -> MachineConfig {
        MachineConfig {
            program: program.into(),
            argv0: None,
            args: Vec::new(),
            env: Vec::new(),
            arch: None,
            kernel: KernelConfig { stdout: OutputSink::Capture, stderr: OutputSink::Capture, ..Default::default() },
            mte: MteLevel::Mte2,
            mte_far: true,
            mte_store_only: false,
            mte_preferred: TcfMode::Async,
            adi: true,
            tick_interval: DEFAULT_TICK_INTERVAL,
            quantum: crate::kernel_stub::task::DEFAULT_QUANTUM,
            limits: RunLimits::default(),
            trace: TraceOptions::default(),
            files: Vec::new(),
            btrfs: None,
            mounts: Vec::new(),
            copy_model: Default::default(),
        }
    }

    /// Set the arguments (after `argv[0]`).
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Add an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Set the budgets.
    pub fn limits(mut self, limits: RunLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Place a file in the guest's filesystem.
    pub fn file(mut self, guest_path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((guest_path.to_string(), contents.into()));
        self
    }
}

/// Errors that keep a machine from running (guest faults are results, not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MachineError {
    /// The executable could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// exec failed in the kernel stub.
    #[error("exec of {path} failed: {errno} ({})", errno.description())]
    Exec {
        /// The program.
        path: String,
        /// Why.
        errno: Errno,
    },
    /// A file for the guest's filesystem could not be placed.
    #[error("cannot place guest file {path}: {errno}")]
    File {
        /// Guest path.
        path: String,
        /// Why.
        errno: Errno,
    },
    /// The CPU backend failed.
    #[error(transparent)]
    Emu(#[from] EmuError),
    /// The btrfs tree is not valid.
    #[error("{0}")]
    Btrfs(String),
}

/// Build the machine described by `cfg`, run its guest to the end, and return the result.
pub fn run(cfg: &MachineConfig) -> Result<RunResult, MachineError> {
    let started = Instant::now();
    let image = elf::load_file(&cfg.program, cfg.arch)?;
    let mut kcfg = cfg.kernel.clone();
    // The kernel uses FEAT_MTE_TAGGED_FAR from 6.16 (HWCAP3_MTE_FAR, tag bits 63:60 kept in
    // si_addr) and FEAT_MTE_STORE_ONLY from 6.17; an older kernel neither reports nor uses them.
    let v = kcfg.version;
    kcfg.mte = MteMachine {
        level: cfg.mte,
        preferred: cfg.mte_preferred,
        tagged_far: cfg.mte_far && v.at_least(6, 16),
        store_only: cfg.mte_store_only && v.at_least(6, 17),
    };
    kcfg.adi = crate::adi::AdiMachine { supported: cfg.adi };
    let mut kernel = Kernel::new(image.arch, kcfg);
    kernel.trace.syscalls = cfg.trace.syscalls;
    kernel.trace.insns = cfg.trace.insns;
    kernel.trace.print = cfg.trace.print;
    kernel.trace.keep = cfg.trace.keep;
    kernel.threads.quantum = cfg.quantum.max(2);
    kernel.uaccess.model = cfg.copy_model;
    if let Some(m) = &cfg.btrfs {
        m.tree.validate().map_err(|e| MachineError::Btrfs(e.to_string()))?;
        kernel.vfs.add_dir(&m.path).map_err(|errno| MachineError::File { path: m.path.clone(), errno })?;
        kernel.btrfs = Some(m.clone());
    }
    for m in &cfg.mounts {
        kernel.vfs.add_dir(&m.path).map_err(|errno| MachineError::File { path: m.path.clone(), errno })?;
        kernel.mounts.push(m.clone());
    }
    for (path, contents) in &cfg.files {
        kernel
            .vfs
            .add_file(path, contents.clone())
            .map_err(|errno| MachineError::File { path: path.clone(), errno })?;
    }
    let execfn = cfg.argv0.clone().unwrap_or_else(|| cfg.program.display().to_string());
    let mut argv = vec![execfn.clone()];
    argv.extend(cfg.args.iter().cloned());
    // /proc/self/exe names the executable by its absolute path, as Linux does.
    let exe = std::fs::canonicalize(&cfg.program).unwrap_or_else(|_| cfg.program.clone());
    if let Some(p) = kernel.config.subpage_probe.filter(|p| !p.fits(image.arch)) {
        return Err(MachineError::Emu(EmuError::Unsupported(format!(
            "the {p:?} sub-page probe flavour on {} (it models another architecture's probe)",
            image.arch
        ))));
    }
    // Every execve after this one runs in place, on the same CPU and memory (the backends
    // load `kernel.pending_exec` themselves).
    let step = Step { image: &image, argv, envp: cfg.env.clone(), execfn, exe: &exe, limits: cfg.limits.clone() };
    let out = match image.arch {
        Arch::Arm64 => run_arm64(cfg, step, kernel)?,
        Arch::Sparc64 => run_sparc64(cfg, step, kernel)?,
    };
    let (stop, stats, mut kernel) = (out.stop, out.stats, out.kernel);
    Ok(RunResult {
        stop,
        stdout: kernel.vfs.captured_stdout().to_vec(),
        stderr: kernel.vfs.captured_stderr().to_vec(),
        stats: RunStats {
            cpu: stats,
            mm: kernel.mm.stats(),
            kernel: kernel.stats.clone(),
            wall_us: started.elapsed().as_micros() as u64,
        },
        trace: kernel.trace.take(),
        loops: std::mem::take(&mut kernel.loop_reports),
        direct_io: std::mem::take(&mut kernel.dio_reports),
        notices: std::mem::take(&mut kernel.notices),
    })
}

/// One program of the run: the image and what its exec gets.
struct Step<'a> {
    image: &'a elf::ElfImage,
    argv: Vec<String>,
    envp: Vec<String>,
    execfn: String,
    exe: &'a std::path::Path,
    limits: RunLimits,
}

/// What an exec step (loading the image, mapping the trampoline) of `exe` that failed with
/// an errno reports.
fn exec_error(exe: &std::path::Path) -> impl Fn(crate::kernel_stub::errno::Errno) -> MachineError + '_ {
    move |errno| MachineError::Exec { path: exe.display().to_string(), errno }
}

/// exec and run an arm64 image.
fn run_arm64(cfg: &MachineConfig, step: Step, mut kernel: Kernel) -> Result<crate::emu::RunOutput, MachineError> {
    let Step { image, argv, envp, execfn, exe, limits } = step;
    let mut opts = Arm64Options {
        mte: cfg.mte,
        mte_far: kernel.mte.machine.tagged_far,
        mte_store_only: kernel.mte.machine.store_only,
        trace_insns: cfg.trace.insns,
        limits,
        sigreturn_trampoline: 0,
        tick_interval: cfg.tick_interval,
    };
    let regs = arm64::user_id_regs(&opts)?;
    let (hwcap, hwcap2) = regs.hwcaps();
    let params = ExecParams {
        argv,
        envp,
        execfn,
        arch_auxv: vec![(at::AT_MINSIGSTKSZ, ARM64_MINSIGSTKSZ)],
        hwcap,
        hwcap2: Some(hwcap2),
        // AT_HWCAP3 carries HWCAP3_MTE_FAR (6.16) and HWCAP3_MTE_STORE_ONLY (6.17): modelled
        // for the kernels that have a bit to report in it.
        hwcap3: (cfg.mte != MteLevel::None && kernel.config.version.at_least(6, 16)).then(|| regs.hwcap3()),
    };
    let template = ExecParams { argv: Vec::new(), envp: Vec::new(), execfn: String::new(), ..params.clone() };
    let start = kernel.exec(image, &params).map_err(exec_error(exe))?;
    kernel.exe_path = exe.display().to_string();
    // begin_new_exec: the task's name is the executable file's base name (15 bytes).
    kernel.comm = exe.file_name().map(|n| n.to_string_lossy().chars().take(15).collect()).unwrap_or_default();
    opts.sigreturn_trampoline = arm64::map_sigreturn_trampoline(&mut kernel).map_err(exec_error(exe))?;
    Ok(arm64::run(kernel, start, opts, template)?)
}

/// exec and run a sparc64 image.
fn run_sparc64(cfg: &MachineConfig, step: Step, mut kernel: Kernel) -> Result<crate::emu::RunOutput, MachineError> {
    let Step { image, argv, envp, execfn, exe, limits } = step;
    if cfg.trace.insns {
        return Err(MachineError::Emu(EmuError::Unsupported(
            "instruction tracing on sparc64 (Unicorn's SPARC code hooks corrupt NPC after jmpl)".into(),
        )));
    }
    // ARCH_DLINFO's ADI entries come first, always (0 without ADI).
    let adi = kernel.adi.machine.supported;
    let adi_aux = |v: u64| if adi { v } else { 0 };
    let params = ExecParams {
        argv,
        envp,
        execfn,
        arch_auxv: vec![
            (at::AT_ADI_BLKSZ, adi_aux(crate::adi::ADI_BLKSZ)),
            (at::AT_ADI_NBITS, adi_aux(crate::adi::ADI_NBITS)),
            (at::AT_ADI_UEONADI, adi_aux(crate::adi::ADI_UEONADI)),
        ],
        hwcap: crate::emu::sparc64::HWCAP | if adi { crate::adi::HWCAP_SPARC_ADI } else { 0 },
        hwcap2: None,
        hwcap3: None,
    };
    let code = image.code_ranges.clone();
    let exec_template = ExecParams { argv: Vec::new(), envp: Vec::new(), execfn: String::new(), ..params.clone() };
    let start = kernel.exec(image, &params).map_err(exec_error(exe))?;
    kernel.exe_path = exe.display().to_string();
    // begin_new_exec: the task's name is the executable file's base name (15 bytes).
    kernel.comm = exe.file_name().map(|n| n.to_string_lossy().chars().take(15).collect()).unwrap_or_default();
    let trampoline = sparc64::map_trampoline(&mut kernel).map_err(exec_error(exe))?;
    let patches = sparc64::patch_image(&mut kernel, &code);
    let opts = Sparc64Options { limits, trampoline, patches, exec_template };
    Ok(sparc64::run(kernel, start, opts)?)
}
