//! Fuzz entry points: each takes arbitrary bytes and must return without panicking, hanging
//! or growing host memory without bound, whatever the bytes. The cargo-fuzz targets in
//! `fuzz/` call them under libFuzzer; `tests/fuzz_smoke.rs` runs them over the seed corpus
//! (`fuzz/corpus/<target>/`) and seeded mutations of it in every `make test`.
//!
//! The instruction-stream targets come in two forms: one machine per input ([`insns_arm64`],
//! [`insns_sparc64`]: exact, the form a crash is reproduced in) and one machine for many
//! inputs ([`PersistentInsns`]: what the long fuzz runs use, about a hundred times faster,
//! since a machine's start-up costs as much as thousands of inputs).

use std::path::Path;

use std::io::{BufRead, Read, Write};

use crate::arch::Arch;
use crate::kernel_stub::vfs::{HostStream, InputSource, OutputSink};
use crate::kernel_stub::{Kernel, KernelConfig};

/// The scenario parser and its translation into a machine (YAML guard, schema, checks of
/// the fields, confinement of host paths). The scenario is never run.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A directory that does not exist: host paths in the scenario cannot resolve.
    let path = Path::new("/nonexistent-tagmmu-fuzz/scenario.yaml");
    if let Ok(loaded) = crate::scenario::parse(text, path) {
        let _ = loaded.machine_config();
    }
}

/// The ELF loader: parse and validate an image for either architecture.
pub fn elf(data: &[u8]) {
    let _ = crate::kernel_stub::binfmt_elf::parse(data, None);
    let _ = crate::kernel_stub::binfmt_elf::parse(data, Some(Arch::Arm64));
}

/// Bytes one fuzzed syscall takes: the number (2) and six arguments (8 each), then a byte of
/// flags saying which arguments point into the scratch mapping.
pub const SYSCALL_RECORD: usize = 2 + 6 * 8 + 1;

/// The syscall layer through the library: a fresh kernel (arm64 or sparc64 by the first byte)
/// with a 64 KiB read-write scratch mapping serves up to 64 syscalls decoded from the bytes
/// (see [`SYSCALL_RECORD`]); an argument flagged as a pointer becomes an address inside the
/// scratch mapping. The guest memory limit is 8 MiB, stdin is empty and output captured.
pub fn syscalls(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return };
    let arch = if first & 1 == 0 { Arch::Arm64 } else { Arch::Sparc64 };
    let config = KernelConfig {
        stdin: InputSource::Empty,
        stdout: OutputSink::Capture,
        stderr: OutputSink::Capture,
        memory_limit: 8 << 20,
        loop_budget: 1000,
        ..Default::default()
    };
    let mut k = Kernel::new(arch, config);
    let mmap_nr = crate::kernel_stub::syscalls::Sysno::Mmap;
    let nr = match arch {
        Arch::Arm64 => mmap_nr.arm64_nr(),
        Arch::Sparc64 => mmap_nr.sparc64_nr(),
    };
    let (prot_rw, map_private_anon) = (3, 0x22);
    let scratch = match k.syscall(nr.unwrap_or(0), [0, 1 << 16, prot_rw, map_private_anon, u64::MAX, 0]) {
        crate::kernel_stub::syscalls::SyscallOutcome::Return(Ok(a)) => a,
        _ => return,
    };
    for rec in rest.chunks_exact(SYSCALL_RECORD).take(64) {
        let nr = u64::from(u16::from_le_bytes([rec[0], rec[1]]) % 512);
        let pointers = rec[SYSCALL_RECORD - 1];
        let mut args = [0u64; 6];
        for (i, a) in args.iter_mut().enumerate() {
            let raw = u64::from_le_bytes(rec[2 + i * 8..10 + i * 8].try_into().unwrap_or([0; 8]));
            *a = if pointers >> i & 1 != 0 { scratch + raw % (1 << 16) } else { raw };
        }
        use crate::kernel_stub::syscalls::SyscallOutcome;
        // The scheduler runs where the CPU backend would call it: after a syscall that slept,
        // ended a thread or asked for a switch, and when a process other than the first ends.
        let switch = match k.syscall(nr, args) {
            SyscallOutcome::Return(_) => k.threads.take_resched(),
            SyscallOutcome::Block | SyscallOutcome::ThreadExit => true,
            SyscallOutcome::Exit(code) if !k.is_first_process() => {
                k.exit_process(crate::kernel_stub::task::process::ExitStatus::Exited(code as u8));
                true
            }
            // The machine is done (exit, exec, deadlock, kill): nothing more to call.
            _ => return,
        };
        let _ = k.threads.take_spawn();
        if switch && k.schedule().is_err() {
            return;
        }
    }
}

/// Instructions a fuzzed stream may run (the harness's start-up included, about 40,000 on
/// arm64 and 60,000 on SPARC) before the run stops.
pub const INSNS_BUDGET: u64 = 200_000;

/// Random instruction streams on the arm64 CPU: the bytes (at most 4096, little-endian
/// words) run in the `insn_fuzz` guest harness (programs/common/insn_fuzz.c) with MTE in
/// sync mode and most registers pointing into a tagged mapping, each fault counted and
/// skipped by a signal handler, under an instruction budget ([`INSNS_BUDGET`]), a 2 s wall
/// budget and a 64 MiB guest memory limit.
pub fn insns_arm64(data: &[u8]) {
    run_insns("arm64/insn_fuzz", data);
}

/// Random instruction streams on the SPARC64 CPU (an M7 with ADI): as [`insns_arm64`], the
/// words big-endian, the registers pointing into an ADI-versioned mapping with precise
/// store checks.
pub fn insns_sparc64(data: &[u8]) {
    run_insns("sparc64/insn_fuzz", data);
}

fn run_insns(harness: &str, data: &[u8]) {
    let program = crate::programs::guest_program(harness).unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = crate::machine::MachineConfig::new(program)
        .limits(crate::emu::RunLimits {
            insn_budget: Some(INSNS_BUDGET),
            time_budget: Some(std::time::Duration::from_secs(2)),
            ..Default::default()
        })
        .file("/input", &data[..data.len().min(4096)]);
    cfg.kernel.memory_limit = 64 << 20;
    // Guest faults, budgets and refusals are results; only a panic (or a hang or unbounded
    // host memory, which libFuzzer reports) is a finding.
    let _ = crate::machine::run(&cfg);
}

/// The cargo-fuzz targets `insns_arm64` and `insns_sparc64`: `data` through this thread's
/// [`PersistentInsns`] driver for `arch`, or, with `TAGMMU_FUZZ_ONE_SHOT` set in the
/// environment, through a machine of its own ([`insns_arm64`], [`insns_sparc64`]: how a
/// finding is reproduced on its own, without the inputs before it).
pub fn insns_target(arch: Arch, data: &[u8]) {
    thread_local! {
        static DRIVERS: std::cell::RefCell<Vec<PersistentInsns>> = const { std::cell::RefCell::new(Vec::new()) };
        static ONE_SHOT: bool = std::env::var_os("TAGMMU_FUZZ_ONE_SHOT").is_some();
    }
    if ONE_SHOT.with(|o| *o) {
        match arch {
            Arch::Arm64 => insns_arm64(data),
            Arch::Sparc64 => insns_sparc64(data),
        }
        return;
    }
    DRIVERS.with(|d| {
        let mut drivers = d.borrow_mut();
        let i = match drivers.iter().position(|p| p.arch == arch) {
            Some(i) => i,
            None => {
                drivers.push(PersistentInsns::new(arch));
                drivers.len() - 1
            }
        };
        let _ = drivers[i].run(data);
    });
}

/// Random instruction streams, many per machine: the `insn_fuzz` harness runs persistent
/// (`--persistent`, see programs/common/insn_fuzz.c) in a machine on its own thread, reads
/// each input from a host pipe as its stdin and answers on another as its stdout. Each input
/// runs with its words rewritten into the same code mapping, the data zeroed and retagged,
/// fresh handlers, mask, alternate stack and tag state, under an ITIMER_REAL of 20,000
/// virtual nanoseconds (instructions). The machine is replaced after
/// [`PersistentInsns::INPUTS_PER_MACHINE`] inputs, when it ends (the words exited, were
/// killed, ran out its budget of [`PersistentInsns::MACHINE_INSNS`]), or when an answer takes
/// longer than [`PersistentInsns::answer_timeout`] (the words blocked SIGALRM, or disarmed the
/// input's timer, and then spun: that machine's stop flag ends it on its thread, which is not
/// waited for). A panic on the machine's thread ends the machine: the call that sees it end
/// re-raises the panic. The host process must ignore SIGPIPE (Rust's `main` does; the
/// cargo-fuzz targets do it in their `init`): a machine that ended leaves the driver's pipe
/// without a reader.
pub struct PersistentInsns {
    arch: Arch,
    machine: Option<RunningHarness>,
    /// Inputs the current machine answered.
    served: u64,
    /// Machines started so far.
    pub machines: u64,
    /// How the machines that were replaced ended, and how many each way ("exited 0",
    /// "killed by SIGSEGV (SI_KERNEL)", "instruction budget", "no answer in time", ...).
    pub endings: std::collections::BTreeMap<String, u64>,
    /// The threads of machines given up on (stop flag raised), until they end.
    abandoned: Vec<std::thread::JoinHandle<String>>,
}

/// A machine running the persistent harness.
struct RunningHarness {
    input: std::io::PipeWriter,
    answers: std::io::BufReader<std::io::PipeReader>,
    /// The machine's thread: how the machine ended.
    thread: std::thread::JoinHandle<String>,
    /// The number of the last input sent.
    seq: u64,
    /// Ends the machine when the driver gives up on it (see [`PersistentInsns::stop`]).
    stop_flag: crate::emu::StopFlag,
}

/// What one input came to in a [`PersistentInsns`] machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsnOutcome {
    /// The harness's line for it (its faults and how it ended).
    Answered(String),
    /// The machine ended, or gave no answer in time, before the line came.
    MachineEnded,
}

impl PersistentInsns {
    /// Inputs one machine serves before it is replaced.
    pub const INPUTS_PER_MACHINE: u64 = 10_000;
    /// Instructions one machine may run (its harness included).
    pub const MACHINE_INSNS: u64 = 5_000_000_000;
    /// How long the driver waits for an answer on `arch`'s CPU before it gives the machine
    /// up. Nothing in the guest bounds words that disarmed the input's timer
    /// (`setitimer(ITIMER_REAL, &zero, ...)`) or blocked SIGALRM and then loop, and a loop of
    /// syscalls runs too few instructions a second (about 8 million, arm64) for an
    /// instruction bound to end it sooner: the wall clock does.
    ///
    /// arm64: 1 s. The slowest answered input of a 7,264-input libFuzzer corpus took under
    /// 0.25 s (4,096 faults, the harness's cap, take about 45 ms); the 5 unanswered ones,
    /// loops of `setitimer` after disarming it, took 25 s of that corpus's 57 s replay with
    /// a 5 s wait. SPARC: 2 s. Its signals cost more, and words that fork have each copy
    /// fault up to the cap: the slowest answered input of 15,424 (four libFuzzer corpora)
    /// took 1.36 s, with the harness's bound of 64 processes. Words that `vfork` in a loop
    /// leave every ancestor, the harness too, waiting for the deepest copy, which loops; 39
    /// such inputs of a 4,716-input corpus took 195 s of its 228 s replay with a 5 s wait.
    pub fn answer_timeout(arch: Arch) -> std::time::Duration {
        match arch {
            Arch::Arm64 => std::time::Duration::from_secs(1),
            Arch::Sparc64 => std::time::Duration::from_secs(2),
        }
    }

    /// A driver for `arch`'s CPU; the machine starts with the first input.
    pub fn new(arch: Arch) -> PersistentInsns {
        PersistentInsns {
            arch,
            machine: None,
            served: 0,
            machines: 0,
            endings: Default::default(),
            abandoned: Vec::new(),
        }
    }

    /// Machines given up on whose threads have not ended yet.
    pub fn abandoned_machines(&mut self) -> usize {
        self.abandoned.retain(|t| !t.is_finished());
        self.abandoned.len()
    }

    /// Run `data` (its first 4096 bytes: words in the architecture's byte order).
    pub fn run(&mut self, data: &[u8]) -> InsnOutcome {
        self.abandoned.retain(|t| !t.is_finished());
        if self.served >= Self::INPUTS_PER_MACHINE {
            self.stop(true);
        }
        if self.machine.is_none() {
            self.start();
        }
        let Some(m) = self.machine.as_mut() else { return InsnOutcome::MachineEnded };
        let words = &data[..data.len().min(4096)];
        m.seq += 1;
        let mut msg = (words.len() as u32).to_le_bytes().to_vec();
        msg.extend_from_slice(words);
        if m.input.write_all(&msg).is_err() {
            self.stop(true);
            return InsnOutcome::MachineEnded;
        }
        match Self::answer(m, Self::answer_timeout(self.arch)) {
            Ok(line) => {
                self.served += 1;
                InsnOutcome::Answered(line)
            }
            Err(timed_out) => {
                // At end of file the machine is ending: wait for it (a panic there shows).
                self.stop(!timed_out);
                InsnOutcome::MachineEnded
            }
        }
    }

    /// The harness's line for input `m.seq`: lines the words wrote themselves are skipped
    /// (a line holding the answer's prefix counts from there). `Err(timed_out)` at end of
    /// file (false) or after `timeout` without one (true).
    fn answer(m: &mut RunningHarness, timeout: std::time::Duration) -> Result<String, bool> {
        let prefix = format!("insn_fuzz {}: ", m.seq);
        let deadline = std::time::Instant::now() + timeout;
        let mut line = Vec::new();
        loop {
            if m.answers.buffer().is_empty() {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if !readable_within(m.answers.get_ref(), left.as_millis() as i32) {
                    return Err(true);
                }
            }
            line.clear();
            // A line longer than 1 MiB is words' output: cut it there.
            match (&mut m.answers).take(1 << 20).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return Err(false),
                Ok(_) => {}
            }
            if let Some(at) = line.windows(prefix.len()).position(|w| w == prefix.as_bytes()) {
                return Ok(String::from_utf8_lossy(&line[at..]).trim_end().to_string());
            }
        }
    }

    fn start(&mut self) {
        let harness = match self.arch {
            Arch::Arm64 => "arm64/insn_fuzz",
            Arch::Sparc64 => "sparc64/insn_fuzz",
        };
        let program = crate::programs::guest_program(harness).unwrap_or_else(|e| panic!("{e}"));
        let stop_flag = crate::emu::StopFlag::new();
        let (Ok((in_r, in_w)), Ok((out_r, out_w))) = (std::io::pipe(), std::io::pipe()) else {
            panic!("no host pipe for the persistent harness");
        };
        let mut cfg =
            crate::machine::MachineConfig::new(program).args(["--persistent"]).limits(crate::emu::RunLimits {
                insn_budget: Some(Self::MACHINE_INSNS),
                stop_flag: Some(stop_flag.clone()),
                ..Default::default()
            });
        cfg.kernel.memory_limit = 64 << 20;
        cfg.kernel.stdin = InputSource::Host(HostStream::new(in_r));
        cfg.kernel.stdout = OutputSink::Host(HostStream::new(out_w));
        cfg.kernel.stderr = OutputSink::Capture;
        // Guest faults, budgets and refusals are results; a panic is a finding.
        let thread = std::thread::spawn(move || match crate::machine::run(&cfg) {
            Ok(r) => match r.stop {
                crate::emu::Stop::Exited { status } => format!("exited {status}"),
                crate::emu::Stop::Killed { signal } => format!("killed by {} ({})", signal.name, signal.code_name),
                crate::emu::Stop::InsnBudget { .. } => "instruction budget".into(),
                crate::emu::Stop::TimeBudget { .. } => "time budget".into(),
                crate::emu::Stop::Deadlock { .. } => "deadlock".into(),
            },
            Err(e) => format!("error: {e}"),
        });
        self.machine =
            Some(RunningHarness { input: in_w, answers: std::io::BufReader::new(out_r), thread, seq: 0, stop_flag });
        self.served = 0;
        self.machines += 1;
    }

    /// Replace the machine: its stdin closes (the harness exits at end of file). `join`:
    /// wait for its thread (re-raising a panic there); otherwise raise its stop flag and leave
    /// its thread to end. (Left to its budgets, a machine whose words blocked SIGALRM and
    /// spun in no-fault loads, one trap each, ran on for an hour on a thread nobody joined:
    /// three at once took most of a core from a libFuzzer run.)
    fn stop(&mut self, join: bool) {
        let Some(m) = self.machine.take() else { return };
        drop(m.input);
        drop(m.answers);
        let ending = if join {
            match m.thread.join() {
                Ok(ending) => ending,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        } else {
            m.stop_flag.raise();
            self.abandoned.push(m.thread);
            "no answer in time".into()
        };
        *self.endings.entry(ending).or_default() += 1;
    }
}

impl Drop for PersistentInsns {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.stop(true);
        }
    }
}

/// Is the host descriptor readable (data or end of file) within `ms` milliseconds?
fn readable_within(f: &impl std::os::fd::AsRawFd, ms: i32) -> bool {
    let mut p = libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd on the stack, for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, ms.max(0)) };
        if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return r > 0;
        }
    }
}
