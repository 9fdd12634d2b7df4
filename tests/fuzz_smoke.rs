//! A short, bounded run of the fuzz targets (src/fuzz.rs) in every `make test`: each target over
//! its seed corpus (fuzz/corpus/<target>/, plus the built guest programs for the ELF loader) and
//! seeded mutations of the seeds (bit flips, byte sets, truncations, splices, insertions). An
//! input that panics is saved under target/fuzz-failures/ and fails the test with its path;
//! each input is written to target/fuzz-failures/<target>-current before it runs, so one that
//! kills the test process (a crash in Unicorn's C code) is left there.

mod common;
use common::*;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    if target == "elf" {
        for p in ["arm64/hello", "sparc64/hello"] {
            out.push(std::fs::read(tagmmu::programs::guest_program(p).unwrap()).unwrap());
        }
    }
    out
}

fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = seeds[rng.gen_range(0..seeds.len())].clone();
    for _ in 0..rng.gen_range(1..8) {
        let len = d.len();
        match rng.gen_range(0..6) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                d[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                d[i] = [0, 0xff, 0x7f, 0x80, b'{', b'*', b'&', b'-'][rng.gen_range(0..8)];
            }
            2 if len > 0 => d.truncate(rng.gen_range(0..len)),
            3 => {
                let other = &seeds[rng.gen_range(0..seeds.len())];
                if !other.is_empty() {
                    let at = rng.gen_range(0..=len);
                    let from = rng.gen_range(0..other.len());
                    let n = rng.gen_range(0..=(other.len() - from).min(64));
                    d.splice(at..at, other[from..from + n].iter().copied());
                }
            }
            4 => {
                let at = rng.gen_range(0..=len);
                let n = rng.gen_range(1..16);
                d.splice(at..at, (0..n).map(|_| rng.gen::<u8>()));
            }
            _ if len > 8 => {
                // Overwrite a word with an interesting value.
                let i = rng.gen_range(0..len - 8);
                let v: u64 = [0, 1, u64::MAX, 1 << 63, 0x1000, 0xffff_ffff][rng.gen_range(0..6)];
                d[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            _ => {}
        }
    }
    d
}

fn run(target: &str, f: fn(&[u8]), budget: Duration) -> usize {
    let seeds = seeds(target);
    let mut rng = ChaCha8Rng::seed_from_u64(0x7a6d_6d75);
    let start = Instant::now();
    let mut inputs: Vec<Vec<u8>> = seeds.clone();
    let mut runs = 0;
    let mut failure = None;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let current = dir.join(format!("{target}-current"));
    while start.elapsed() < budget || runs < inputs.len() {
        let input = if runs < inputs.len() { std::mem::take(&mut inputs[runs]) } else { mutate(&mut rng, &seeds) };
        std::fs::write(&current, &input).unwrap();
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            failure = Some(input);
            break;
        }
        runs += 1;
    }
    if let Some(input) = failure {
        let path = dir.join(format!("{target}-{runs}"));
        std::fs::write(&path, &input).unwrap();
        panic!("fuzz target {target} panicked on input {runs}, saved to {}", path.display());
    }
    runs
}

/// Run `target` for `secs` seconds and check it ran at least `at_least` inputs.
fn survives(target: &str, f: fn(&[u8]), secs: u64, at_least: usize) {
    let n = run(target, f, Duration::from_secs(secs));
    eprintln!("{target}: {n} inputs");
    assert!(n > at_least, "{target}: {n} inputs");
}

#[test]
fn the_scenario_parser_survives_mutated_scenarios() {
    survives("scenario", tagmmu::fuzz::scenario, 4, 100);
}

#[test]
fn the_elf_loader_survives_mutated_images() {
    survives("elf", tagmmu::fuzz::elf, 4, 100);
}

#[test]
fn the_syscall_layer_survives_random_syscalls() {
    survives("syscalls", tagmmu::fuzz::syscalls, 6, 100);
}

#[test]
fn random_arm64_instruction_streams_do_not_panic() {
    survives("insns_arm64", tagmmu::fuzz::insns_arm64, 6, 20);
}

#[test]
fn random_sparc64_instruction_streams_do_not_panic() {
    survives("insns_sparc64", tagmmu::fuzz::insns_sparc64, 6, 20);
}

/// What the instruction-stream harness prints for one seed under `tagmmu exec`.
fn harness_output(arch: &str, seed: &str, extra: &[&str]) -> String {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/corpus/insns_{arch}/{seed}"));
    let out = tagmmu()
        .args(["exec", "--insn-budget", "1000000"])
        .args(extra)
        .arg("--file")
        .arg(format!("/input={}", seed.display()))
        .arg(guest(&format!("{arch}/insn_fuzz")))
        .output()
        .unwrap();
    assert!(out.status.success(), "{arch}/{seed:?}: {out:?}");
    text(&out.stdout)
}

/// The harness is a real oracle, not only a crash detector: on arm64 every seed stream takes
/// the same faults under tagmmu as under `qemu-aarch64 -cpu max` (MTE sync mode, tags checked
/// by QEMU's own implementation), and the counts are the ones the seeds' comments work out.
#[test]
fn the_arm64_seed_streams_fault_as_under_qemu() {
    let qemu = require_tool("qemu-aarch64", "qemu-user");
    let expected = [
        // ldgm (EL1 only) and the end word: SIGILL; x1 carries tag 2 over a tag-1 granule (SEGV_MTESERR).
        ("mte", "insn_fuzz: 3 faults (2 ill, 1 segv, 0 bus, 0 fpe, 0 trap)"),
        ("mem", "insn_fuzz: 10 faults (1 ill, 9 segv, 0 bus, 0 fpe, 0 trap)"),
        // gcr_el1 (EL1), hlt, udf #1 and the end word: SIGILL; brk #1: SIGTRAP.
        ("sys", "insn_fuzz: 5 faults (4 ill, 0 segv, 0 bus, 0 fpe, 1 trap)"),
    ];
    for (seed, counts) in expected {
        let ours = harness_output("arm64", seed, &[]);
        assert_eq!(ours, format!("{counts}, ended at the end of the words\n"), "{seed}");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/corpus/insns_arm64/{seed}"));
        let theirs = std::process::Command::new(&qemu)
            .args(["-cpu", "max"])
            .arg(guest("arm64/insn_fuzz"))
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(ours, text(&theirs.stdout), "{seed}: tagmmu and qemu disagree");
    }
}

/// On SPARC (no oracle: qemu-sparc64 has no ADI and aborts on the data-access traps), the
/// counts worked out by hand from the seeds.
#[test]
fn the_sparc64_seed_streams_fault_as_the_architecture_says() {
    // adi: ldx and stx through %o1 (version 2 over a version-1 block) and swap through %l5:
    // SEGV_ADIDERR/ADIPERR, skipped; sth at an odd address: SIGBUS; the end word: SIGILL.
    assert_eq!(
        harness_output("sparc64", "adi", &[]),
        "insn_fuzz: 5 faults (1 ill, 3 segv, 1 bus, 0 fpe, 0 trap), ended at the end of the words\n"
    );
    // windows: udivx and sdiv by zero (SIGFPE), two misaligned loads (SIGBUS), illtrap,
    // ta 5 and the end word (SIGILL); saves, restores, flushw and a syscall do not fault.
    assert_eq!(
        harness_output("sparc64", "windows", &[]),
        "insn_fuzz: 7 faults (3 ill, 0 segv, 2 bus, 2 fpe, 0 trap), ended at the end of the words\n"
    );
    // Without ADI the versioned pointers are addresses in the VA hole: every access through
    // one faults (SEGV_MAPERR); the three ASI 0x90/0x92 accesses are SIGILL/ILL_ILLADR (as
    // in an image's text), %asr14 and the end word SIGILL/ILL_ILLOPC.
    assert_eq!(
        harness_output("sparc64", "adi", &["--no-adi"]),
        "insn_fuzz: 16 faults (6 ill, 9 segv, 1 bus, 0 fpe, 0 trap), ended at the end of the words\n"
    );
    // Run-time code gets the image's patches (src/emu/sparc64/runtime_code.rs): the CBcond
    // is emulated (taken, over an illtrap), BPr/MOVr/FMOVr with a reserved rcond and LDDFA
    // through a twin ASI are SIGILL (the BPr crashed the host before, the LDDFA aborted it),
    // the version accesses are emulated and the load through the mismatched %o1 is SEGV.
    // Without the patches the CBcond, run as a BPr, jumps out of the words.
    assert_eq!(
        harness_output("sparc64", "runtime_patches", &[]),
        "insn_fuzz: 6 faults (5 ill, 1 segv, 0 bus, 0 fpe, 0 trap), ended at the end of the words\n"
    );
}

/// Bytes from a hex string (inputs recorded from libFuzzer corpora).
fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Little-endian arm64 words.
fn arm64_words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Big-endian SPARC words.
fn sparc64_words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// The persistent driver (many inputs per machine, what the long fuzz runs use) answers every
/// seed as the one-shot harness does, ends a loop at its time limit (ITIMER_REAL), also one
/// after a read of stdin, and replaces a machine the words ended.
#[test]
fn the_persistent_harness_answers_as_the_one_shot_one_and_survives_its_inputs() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    for (arch, dir) in [(tagmmu::arch::Arch::Arm64, "arm64"), (tagmmu::arch::Arch::Sparc64, "sparc64")] {
        let mut p = PersistentInsns::new(arch);
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/corpus/insns_{dir}"));
        let mut names: Vec<String> =
            std::fs::read_dir(&seeds).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        for (i, name) in names.iter().enumerate() {
            let data = std::fs::read(seeds.join(name)).unwrap();
            let InsnOutcome::Answered(line) = p.run(&data) else { panic!("{dir}/{name}: no answer") };
            let one_shot = harness_output(dir, name, &[]);
            assert_eq!(
                line.replacen(&format!("insn_fuzz {}: ", i + 1), "insn_fuzz: ", 1),
                one_shot.trim_end(),
                "{dir}/{name}"
            );
        }
        assert_eq!(p.machines, 1, "one machine served every seed");
    }
    let mut p = PersistentInsns::new(tagmmu::arch::Arch::Arm64);
    let spin = arm64_words(&[0x1400_0000]); // b .
                                            // read(0, x1, 16), then b .: stdin is /dev/null for the words (end of file at once), not
                                            // the driver's pipe, which holds the next input.
    let read_stdin = arm64_words(&[0xd280_0000, 0xd280_0202, 0xd280_07e8, 0xd400_0001, 0x1400_0000]);
    let exit = arm64_words(&[0xd280_00e0, 0xd280_0bc8, 0xd400_0001]); // exit(7)
    let outcome = |o: InsnOutcome| match o {
        InsnOutcome::Answered(l) => l,
        InsnOutcome::MachineEnded => "ended".into(),
    };
    assert!(outcome(p.run(&spin)).ends_with("ended at the time limit"));
    assert!(outcome(p.run(&read_stdin)).ends_with("ended at the time limit"));
    assert!(outcome(p.run(&spin)).starts_with("insn_fuzz 3: "), "the machine goes on after both");
    // clone(SIGCHLD): the copy runs on to the end word and exits there; only the harness
    // answers, and the next input is not read by the copy.
    let fork = arm64_words(&[0xd280_0220, 0xd280_0001, 0xd280_1b88, 0xd400_0001]);
    // msr tpidr_el0, x1 (a tagged data pointer): the handler and siglongjmp still find TLS.
    let thread_pointer = arm64_words(&[0xd51b_d041]);
    assert!(outcome(p.run(&fork)).starts_with("insn_fuzz 4: "));
    assert!(outcome(p.run(&thread_pointer)).starts_with("insn_fuzz 5: "));
    assert!(outcome(p.run(&spin)).starts_with("insn_fuzz 6: "), "the same machine goes on");
    assert_eq!(p.machines, 1, "{:?}", p.endings);
    assert_eq!(outcome(p.run(&exit)), "ended");
    assert_eq!(
        outcome(p.run(&spin)),
        "insn_fuzz 1: 0 faults (0 ill, 0 segv, 0 bus, 0 fpe, 0 trap), ended at the time limit"
    );
    assert_eq!(p.machines, 2, "a new machine after the words exited");
    assert_eq!(p.endings.get("exited 7"), Some(&1), "{:?}", p.endings);
}

/// Mutated streams through the persistent driver: no panic, and many inputs a second (the
/// count is printed; the long runs' figures are in fuzz/README.md).
#[test]
fn mutated_streams_survive_the_persistent_driver() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    for (arch, target) in [(tagmmu::arch::Arch::Arm64, "insns_arm64"), (tagmmu::arch::Arch::Sparc64, "insns_sparc64")] {
        let seeds = seeds(target);
        let mut rng = ChaCha8Rng::seed_from_u64(0x7065_7273);
        let mut p = PersistentInsns::new(arch);
        let (start, mut answered, mut runs) = (Instant::now(), 0, 0);
        while start.elapsed() < Duration::from_secs(4) {
            let input = mutate(&mut rng, &seeds);
            if matches!(p.run(&input), InsnOutcome::Answered(_)) {
                answered += 1;
            }
            runs += 1;
        }
        eprintln!(
            "{target} persistent: {runs} inputs in {:?}, {answered} answered, {} machines (ended: {:?})",
            start.elapsed(),
            p.machines,
            p.endings
        );
        assert!(answered * 10 >= runs * 9, "{target}: most inputs answered ({answered} of {runs})");
        assert!(runs > 200, "{target}: {runs} inputs");
    }
}

/// The SPARC machine survives what random words do to register windows: a window whose
/// %sp points nowhere is held by the kernel and handed to the handler (it killed the
/// harness before, 38 of 40 machines in four seconds), a misaligned %sp ends the input,
/// and a SIGSEGV forced while the handler runs or returns reaches the handler (SA_NODEFER)
/// instead of killing the process.
#[test]
fn sparc_words_that_break_register_windows_do_not_end_the_machine() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    let seeds = seeds("insns_sparc64");
    let mut rng = ChaCha8Rng::seed_from_u64(0x7065_7273);
    let mut p = PersistentInsns::new(tagmmu::arch::Arch::Sparc64);
    let mut endings = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..400 {
        let input = mutate(&mut rng, &seeds);
        let InsnOutcome::Answered(line) = p.run(&input) else { panic!("no answer: {:?}", p.endings) };
        let how = line.split("ended ").nth(1).unwrap_or_default().to_string();
        *endings.entry(how).or_default() += 1;
    }
    assert_eq!(p.machines, 1, "{:?}", p.endings);
    assert!(endings.contains_key("with a misaligned stack pointer"), "{endings:?}");
    assert!(endings.contains_key("outside the words"), "{endings:?}");
}

/// Words that write above their stack pointer trashed the frame of the persistent loop on
/// the harness's own stack: the next input was read and never answered (a 5 s timeout and a
/// new machine; five times in the first 600 inputs of a SPARC libFuzzer corpus, where
/// `save %sp, 320, %sp` and a flush spill over the harness's frames, and once in 2,000 of an
/// arm64 one). The words now run on a stack of their own (on SPARC with the harness's
/// windows flushed first). Each pair: the input that trashed the stack, then the one that
/// went unanswered.
#[test]
fn words_cannot_trash_the_harness_stack() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    let pairs = [
        (
            tagmmu::arch::Arch::Sparc64,
            "9de3a1409d926a0000927a0000000102ffffc8e3a1409d926a0000927a0000000102ffffc800d00300c02f980dfd55000000006d0000e3a1409d926a0000927a0000000102ffffc80000e3a127",
            "12c000400000000100c67300817800dfdfdfdfdfdfdfdfdfdfdfdfcddfdfdfdfdfdfdfdfdfdfdfdfdfdfdf46dfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdf0081a800a000ca81a80073008178000081a8008178000081a800ffc8f25200c45a4000",
        ),
        (tagmmu::arch::Arch::Arm64, "2710df9a010000d449d03bd50429413d039fd5d5d4813e3e3eb9c1c1290738d5d4813e3e3434343434343e6900f903d529043dd5d4813e3e3eb9c1c1290738d5d4813e3e29043dd5d4813e3e3eb9c1c1290738d53eb9c1c1", "0905ffffffff042a80d47e2c2456f229d922000be00381916d01c09a7f01f98888887089694a8b55000023d52d0128000080008111000000001e1e1ec71e1e3e1e1e1e1e1e1e1e1e0640acd92a8060d9220100010000d4498c4fbc55000040f94c0403f9215b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5bc2c2c2c2c2c2c2c2c2c2c21e70896900ba00000005d5290637d56900f90f0b04812909206b78942056000001006cfaffff000000009f0005686f5f4a55008b23d52d8101010000000100000080110100ffff000400001e1e1ec71eac00008060d9220100010000d4b07a8e4fbc55005b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b7e5b5b5b5b5b5b5b5b5b5b5b23232323232323232323d11f7200484848484fb3b7480280f9201e1e1e1e1e1e3e1e1e1e1e1e1e1e010000d449d03bd5f99f41005b5b5b5b5b5b5b5b5b5b5bc2c2c2c2c2c2c2c2c2c2c21e70896900ba00000005d5290637d56900f90f0b04812909206b78942056000001006cfaffff000000009f0005685b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5bc2c2c2c2c2000000000000000000000000000000000000c2c2c2c2c2c21e70896900ba00000005d5290637d56900f90f0b04812909206b781c60d964740b8070c4a848560000000000004ccefd4f36ee"),
    ];
    for (arch, trash, next) in pairs {
        let (trash, next) = (hex(trash), hex(next));
        let mut p = PersistentInsns::new(arch);
        for (i, input) in [&trash, &next, &trash, &next].into_iter().enumerate() {
            let started = Instant::now();
            let r = p.run(input);
            assert!(
                matches!(r, InsnOutcome::Answered(_)),
                "{arch:?} input {i}: {r:?} after {:?} ({:?})",
                started.elapsed(),
                p.endings
            );
        }
        assert_eq!(p.machines, 1, "{arch:?}");
    }
}

/// What the words do to the harness's descriptors and mappings does not reach the next
/// input: `dup3(0, 1)` (stdout onto stdin's pipe: the answer went nowhere and the driver
/// waited 5 s for it, three times in 1,500 new corpus inputs), `mprotect(code, 8192,
/// PROT_NONE)` (the harness could no longer write the next words) and `mlock` of the data
/// (MADV_DONTNEED refused it: seven of those 1,500 inputs ended their machine so). The harness
/// answers on private copies of its descriptors, gives its mappings their protection back,
/// and unlocks memory before each input.
#[test]
fn words_cannot_take_the_harness_descriptors_or_mappings() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    let words = |w: &[u32]| w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    // mov x0, #0; mov x1, #1; mov x2, #0; mov x8, #24 (dup3); svc #0
    let dup_stdout = words(&[0xd2800000, 0xd2800021, 0xd2800002, 0xd2800308, 0xd4000001]);
    // mov x0, x30 (the code page); mov x1, #8192; mov x2, #0; mov x8, #226 (mprotect); svc #0
    let protect_code = words(&[0xaa1e03e0, 0xd2840001, 0xd2800002, 0xd2801c48, 0xd4000001]);
    // mov x0, x1 (a pointer into the data); mov x1, #4096; mov x8, #228 (mlock); svc #0:
    // MADV_DONTNEED then refused the locked data (EINVAL) and the harness exited
    let lock_data = words(&[0xaa0103e0, 0xd2820001, 0xd2801c88, 0xd4000001]);
    // nop
    let plain = words(&[0xd503201f]);
    let mut p = PersistentInsns::new(tagmmu::arch::Arch::Arm64);
    for (i, input) in [&dup_stdout, &plain, &protect_code, &plain, &lock_data, &plain].into_iter().enumerate() {
        let r = p.run(input);
        let InsnOutcome::Answered(line) = r else { panic!("input {i}: no answer ({:?})", p.endings) };
        if i % 2 == 1 {
            assert!(
                line.ends_with(": 1 faults (1 ill, 0 segv, 0 bus, 0 fpe, 0 trap), ended at the end of the words"),
                "{line}"
            );
        }
    }
    assert_eq!(p.machines, 1, "{:?}", p.endings);
}

/// The address of the persistent harness's `state` (the pages it keeps read-only while the
/// words run), from the guest program's symbol table.
fn harness_state_address(arch: &str) -> u64 {
    let path = tagmmu::programs::guest_program(&format!("{arch}/insn_fuzz")).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    elf.syms
        .iter()
        .find(|s| elf.strtab.get_at(s.st_name) == Some("state"))
        .expect("the harness's state symbol")
        .st_value
}

/// Words that store over the harness's own data (its answer descriptor, input number and
/// jump buffer) do not lose the answer: they fault (the state is read-only while they run),
/// and the machine goes on. A SPARC corpus input did it through a `sethi`-built address: the
/// answer went to descriptor 604043135 (EBADF), and the driver waited 5 s for it, twice in
/// 1,500 corpus inputs. Here 128 doublewords of all ones go over the state, on both CPUs.
#[test]
fn words_cannot_overwrite_the_harness_state() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    let a = harness_state_address("arm64");
    let mut arm: Vec<u32> = vec![
        0xd280_0009 | ((a & 0xffff) as u32) << 5,       // movz x9, #a[15:0]
        0xf2a0_0009 | ((a >> 16 & 0xffff) as u32) << 5, // movk x9, #a[31:16], lsl 16
        0xf2c0_0009 | ((a >> 32 & 0xffff) as u32) << 5, // movk x9, #a[47:32], lsl 32
        0x9280_000a,                                    // movn x10, #0 (all ones)
    ];
    arm.extend((0..128).map(|k| 0xf900_012a | (k << 10))); // str x10, [x9, #8k]
    let s = harness_state_address("sparc64");
    assert!(s < 1 << 32);
    let mut sparc: Vec<u32> = vec![
        0x0300_0000 | (s >> 10) as u32,   // sethi %hi(s), %g1
        0x8210_6000 | (s & 0x3ff) as u32, // or %g1, %lo(s), %g1
        0x8410_3fff,                      // mov -1, %g2
    ];
    sparc.extend((0..128).map(|k| 0xc470_6000 | (k * 8))); // stx %g2, [%g1 + 8k]
    let cases = [
        (tagmmu::arch::Arch::Arm64, arm.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>(), 128),
        (tagmmu::arch::Arch::Sparc64, sparc64_words(&sparc), 128),
        // The corpus input (ldstuba through ASI 0, then a wild store into the harness's data).
        (
            tagmmu::arch::Arch::Sparc64,
            hex("c45a0000e6ee4000c6720000c673401c1c1c1c1c1c1c1c1c1c1c1c1c1c1c271c1c1c1c03ca6d0000ca7d40009fe3bffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0561b363e560000ffffffffffffffffffffffffff409f834380009d8020ffffffffbfffffffffffffff26ff9d9dd0400000009de3bfdfffff307a44a21556000073000000000000001c1c1c1c1c1cc16e0000"),
            0,
        ),
    ];
    for (arch, words, segv) in cases {
        let mut p = PersistentInsns::new(arch);
        for seq in 1..=3 {
            let r = p.run(&words);
            let InsnOutcome::Answered(line) = r else { panic!("{arch:?} input {seq}: no answer ({:?})", p.endings) };
            assert!(line.starts_with(&format!("insn_fuzz {seq}: ")), "{line}");
            if segv != 0 {
                assert!(
                    // (The zero word at the end is the one SIGILL.)
                    line.ends_with(&format!(
                        ": {} faults (1 ill, {segv} segv, 0 bus, 0 fpe, 0 trap), ended at the end of the words",
                        segv + 1
                    )),
                    "{arch:?}: {line}"
                );
            }
        }
        assert_eq!(p.machines, 1, "{arch:?}: {:?}", p.endings);
    }
}

/// Words that break the harness itself (here a SPARC sequence whose second input leaves the
/// harness faulting in its own code as it reads the next input): the machine ends at that
/// fault, at once. The harness went back for the next input instead, took four bytes of the
/// pipe as a header, faulted again, and so on: the driver waited 5 s for an answer, seven
/// times in 1,402 inputs of a SPARC libFuzzer run. (The sequence breaks this build of the
/// harness; a change to programs/common/insn_fuzz.c that moves its data may make it harmless,
/// and this test then fails at the first assertion: take a new sequence from a libFuzzer
/// corpus with `examples/insns_replay.rs`, which names the input before each unanswered one.)
#[test]
fn a_harness_the_words_broke_ends_its_machine_at_once() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    let inputs = [
        "40000000c00012730000c60181e5a0b8edc300",
        "c4ffff4040000000bde3bf880a17000000550000409d00",
        "00b7c242b7b72bb7b7b7e22c00b7c242b7b72bb7b7b7e22cb7b7e2c6b7b7427ff7ffb7b7b7b7e2c6b7b7427ff7ffb7b7",
    ];
    let mut p = PersistentInsns::new(tagmmu::arch::Arch::Sparc64);
    let outcomes: Vec<(InsnOutcome, Duration)> = inputs
        .iter()
        .map(|h| {
            let t = Instant::now();
            (p.run(&hex(h)), t.elapsed())
        })
        .collect();
    assert!(matches!(outcomes[0].0, InsnOutcome::Answered(_)) && matches!(outcomes[1].0, InsnOutcome::Answered(_)));
    assert_eq!(outcomes[2].0, InsnOutcome::MachineEnded);
    assert!(outcomes[2].1 < Duration::from_secs(2), "{:?}", outcomes[2].1);
    assert_eq!(p.endings.get("exited 6"), Some(&1), "{:?}", p.endings);
}

/// Words that break what the harness calls to answer (arm64: `dc zva` at 0x490000, built
/// with `movz`, zeroes glibc's data there; strlen then jumps to 0) end the machine at once.
/// The fault handler called finish() again and faulted again, a signal storm that never
/// answered: 5 s of the driver's wait each, 34 of 3,983 inputs of an arm64 libFuzzer corpus,
/// which fell to 22 inputs/s. (Tied to this build of the harness, as the test above.)
#[test]
fn a_harness_broken_while_answering_ends_its_machine_at_once() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    let mut p = PersistentInsns::new(tagmmu::arch::Arch::Arm64);
    let t = Instant::now();
    let outcome = p.run(&hex("f90001010000969a2909a0d22a01002029740bd5851cd59a29740bd585742c000000000000000000"));
    assert_eq!(outcome, InsnOutcome::MachineEnded);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(p.endings.get("exited 6"), Some(&1), "{:?}", p.endings);
    // The next input runs in a new machine.
    assert!(matches!(p.run(&arm64_words(&[0xd503_201f])), InsnOutcome::Answered(_)));
}

/// A machine the driver gives up on (no answer in time: the words blocked every signal, so
/// the input's SIGALRM never came, and spun) ends on its thread once its stop flag is raised.
/// Left to its budgets, such a machine ran on for up to an hour (no-fault loads, one trap
/// each, count one instruction), and three at once took most of a core from a libFuzzer run.
#[test]
fn a_machine_given_up_on_ends_on_its_thread() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    // movn x9, #0; str x9, [sp]; mov x0, #0 (SIG_BLOCK); mov x1, sp; mov x2, #0; mov x3, #8;
    // mov x8, #135 (rt_sigprocmask); svc #0; b .
    let block_and_spin = arm64_words(&[
        0x9280_0009,
        0xf900_03e9,
        0xd280_0000,
        0x9100_03e1,
        0xd280_0002,
        0xd280_0103,
        0xd280_10e8,
        0xd400_0001,
        0x1400_0000,
    ]);
    let mut p = PersistentInsns::new(tagmmu::arch::Arch::Arm64);
    assert_eq!(p.run(&block_and_spin), InsnOutcome::MachineEnded);
    assert_eq!(p.endings.get("no answer in time"), Some(&1), "{:?}", p.endings);
    let given_up = Instant::now();
    while p.abandoned_machines() > 0 {
        assert!(given_up.elapsed() < Duration::from_secs(3), "the machine runs on");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(p.run(&arm64_words(&[0xd503_201f])), InsnOutcome::Answered(_)), "a new machine");
}

/// Words that disarm the input's timer (`setitimer(ITIMER_REAL, &zero, ...)`, x0 = 0) and
/// then loop on `setitimer` with the last error as `which`: nothing in the guest ends them,
/// and the driver gives the machine up after [`PersistentInsns::answer_timeout`], 1 s on
/// arm64. It waited 5 s: five such inputs of a 7,264-input arm64 libFuzzer corpus took 25 s
/// of its 57 s replay. (Recorded from that corpus.)
#[test]
fn words_that_disarm_their_timer_are_given_up_after_a_second() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    let disarm_and_loop = hex(concat!(
        "0910df9a014f407b0d2b75550000fdee4010132b75550000f17a1f0901000024f255000000682840b301300100326400",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000000000000000004f9214c00ebd9643bd50a421bd53b0920d92a0160d922d92a0160d9220100f94c",
        "d9042a6d0101ce9898989898989898989898989898989898989898989898989898989898989898fd4f36ee0a28285e0e",
        "289a28282ae0e210c75324f255000000012840b3010100d4490400f9211cebd9647400f94c0400f9210136ce4ffdeef1",
        "7a1f0901000024f255000000682840b301300100d4642222d9420100f94c0400f9211cebd96474b3f828280100000028",
        "282ae0e210c722d9220100f94c0400f9211cebd96474b3f828285e0e289a28e02a28e210c75324f255000000682840b3",
        "a95624f255000028283848b3010100d42a6d0130ceff4f36ee1c60d964",
    ));
    let mut p = PersistentInsns::new(tagmmu::arch::Arch::Arm64);
    assert_eq!(PersistentInsns::answer_timeout(tagmmu::arch::Arch::Arm64), Duration::from_secs(1));
    let t = Instant::now();
    assert_eq!(p.run(&disarm_and_loop), InsnOutcome::MachineEnded);
    let waited = t.elapsed();
    // (poll's timeout is whole milliseconds, rounded down: a wait of 999.5 ms was seen.)
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(p.endings.get("no answer in time"), Some(&1), "{:?}", p.endings);
    assert!(matches!(p.run(&arm64_words(&[0xd503_201f])), InsnOutcome::Answered(_)), "a new machine");
}

/// The harness keeps the words to 64 processes (RLIMIT_NPROC, programs/common/insn_fuzz.c).
/// These SPARC words `vfork` in a loop, and so does each copy, so the copies form a chain that
/// waits for its deepest one, which loops on EAGAIN. Without the bound the chain grew to the
/// machine's cap of 4,096 processes (a libFuzzer corpus filled with such inputs, and every
/// scheduling point looked at every process of the chain).
#[test]
fn the_harness_keeps_the_words_to_64_processes() {
    use std::io::Write;
    let words = sparc_vfork_loop();
    let mut framed = (words.len() as u32).to_le_bytes().to_vec();
    framed.extend_from_slice(&words);
    let mut child = tagmmu()
        .args(["exec", "--clear-env", "--trace", "--insn-budget", "100000"])
        .arg(guest("sparc64/insn_fuzz"))
        .arg("--persistent")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&framed).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(125), "stopped by the instruction budget");
    let trace = String::from_utf8_lossy(&out.stderr);
    let tids: std::collections::BTreeSet<u32> =
        trace.lines().filter_map(|l| l.strip_prefix("[tagmmu] [tid ")?.split(']').next()?.parse().ok()).collect();
    assert!(trace.contains("vfork() = -1 EAGAIN"), "the chain met the limit");
    // The harness is pid 4242 and its copies take the next ids.
    assert_eq!(tids, (4242..4242 + 64).collect(), "64 processes");
}

/// SPARC words that `vfork` in a loop: loop: mov 66 (vfork), %g1; ta 0x6d; ba loop; nop.
fn sparc_vfork_loop() -> Vec<u8> {
    sparc64_words(&[0x8210_2042, 0x91d0_206d, 0x10bf_fffe, 0x0100_0000])
}

/// A `vfork` chain never answers: the harness waits for its copy, which waits for its own,
/// down to one that loops, with no timer of its own (as on Linux, whose vfork wait takes only
/// SIGKILL). The SPARC driver gives it up after 2 s; it waited 5 s.
#[test]
fn a_sparc_vfork_chain_is_given_up_after_two_seconds() {
    use tagmmu::fuzz::{InsnOutcome, PersistentInsns};
    let sparc = tagmmu::arch::Arch::Sparc64;
    assert_eq!(PersistentInsns::answer_timeout(sparc), Duration::from_secs(2));
    let mut p = PersistentInsns::new(sparc);
    let t = Instant::now();
    assert_eq!(p.run(&sparc_vfork_loop()), InsnOutcome::MachineEnded);
    let waited = t.elapsed();
    // (poll's timeout is whole milliseconds, rounded down.)
    assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4), "{waited:?}");
    assert_eq!(p.endings.get("no answer in time"), Some(&1), "{:?}", p.endings);
}
