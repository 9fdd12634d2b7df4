//! A short, bounded run of the fuzz targets (src/fuzz.rs) in every `make test`: each target over
//! its seed corpus (fuzz/corpus/<target>/, plus the built guest programs for the ELF loader) and
//! seeded mutations of the seeds (bit flips, byte sets, truncations, splices, insertions). An
//! input that panics is saved under target/fuzz-failures/ and fails the test with its path.

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
    while start.elapsed() < budget || runs < inputs.len() {
        let input = if runs < inputs.len() { std::mem::take(&mut inputs[runs]) } else { mutate(&mut rng, &seeds) };
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            failure = Some(input);
            break;
        }
        runs += 1;
    }
    if let Some(input) = failure {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{target}-{runs}"));
        std::fs::write(&path, &input).unwrap();
        panic!("fuzz target {target} panicked on input {runs}, saved to {}", path.display());
    }
    runs
}

#[test]
fn the_scenario_parser_survives_mutated_scenarios() {
    let n = run("scenario", tagmmu::fuzz::scenario, Duration::from_secs(4));
    eprintln!("{n} inputs");
    assert!(n > 100, "{n} inputs");
}

#[test]
fn the_elf_loader_survives_mutated_images() {
    let n = run("elf", tagmmu::fuzz::elf, Duration::from_secs(4));
    eprintln!("{n} inputs");
    assert!(n > 100, "{n} inputs");
}

#[test]
fn the_syscall_layer_survives_random_syscalls() {
    let n = run("syscalls", tagmmu::fuzz::syscalls, Duration::from_secs(6));
    eprintln!("{n} inputs");
    assert!(n > 100, "{n} inputs");
}
