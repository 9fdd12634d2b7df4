//! Fuzz entry points: each takes arbitrary bytes and must return without panicking, hanging
//! or growing host memory without bound, whatever the bytes. The cargo-fuzz targets in
//! `fuzz/` call them under libFuzzer; `tests/fuzz_smoke.rs` runs them over the seed corpus
//! (`fuzz/corpus/<target>/`) and seeded mutations of it in every `make test`.

use std::path::Path;

use crate::arch::Arch;
use crate::kernel_stub::vfs::{InputSource, OutputSink};
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
        })
        .file("/input", &data[..data.len().min(4096)]);
    cfg.kernel.memory_limit = 64 << 20;
    // Guest faults, budgets and refusals are results; only a panic (or a hang or unbounded
    // host memory, which libFuzzer reports) is a finding.
    let _ = crate::machine::run(&cfg);
}
