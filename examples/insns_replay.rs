//! Replay a corpus of the instruction-stream fuzz targets through the persistent driver
//! (`tagmmu::fuzz::PersistentInsns`, what the libFuzzer targets run), without libFuzzer or
//! its instrumentation: the time the inputs took, the machines they needed and how the
//! replaced ones ended, and every input slower than 200 ms or left unanswered (with the input
//! before it, which may have left the state that made it so). How fuzz/README.md measures
//! the cost of an input before and after a change, on the same files.
//!
//! `cargo run --release --example insns_replay -- <arm64|sparc64> <corpus dir> [count] [skip]`
//! (the files in name order; `count` of them, default all, after the first `skip`).

use std::time::{Duration, Instant};

use tagmmu::arch::Arch;
use tagmmu::fuzz::{InsnOutcome, PersistentInsns};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: insns_replay <arm64|sparc64> <corpus dir> [count] [skip]";
    let (Some(arch), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let arch = match arch.as_str() {
        "arm64" => Arch::Arm64,
        "sparc64" => Arch::Sparc64,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let number = |i: usize| args.get(i).map(|v| v.parse::<usize>().unwrap_or_else(|_| panic!("{usage}")));
    let (count, skip) = (number(2).unwrap_or(usize::MAX), number(3).unwrap_or(0));
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect(),
        Err(e) => {
            eprintln!("{dir}: {e}");
            std::process::exit(1);
        }
    };
    files.sort();
    let mut driver = PersistentInsns::new(arch);
    let (started, mut ran, mut unanswered) = (Instant::now(), 0u64, 0u64);
    let mut previous = None;
    for path in files.iter().skip(skip).take(count) {
        let Ok(input) = std::fs::read(path) else { continue };
        let t = Instant::now();
        let outcome = driver.run(&input);
        let took = t.elapsed();
        ran += 1;
        let ended = outcome == InsnOutcome::MachineEnded;
        unanswered += u64::from(ended);
        if took > Duration::from_millis(200) || ended {
            let before = previous.as_ref().map_or("-".into(), |p: &std::path::PathBuf| p.display().to_string());
            println!("{} after {before}: {took:?} {outcome:?}", path.display());
        }
        previous = Some(path.clone());
    }
    let elapsed = started.elapsed();
    println!(
        "{ran} inputs in {elapsed:.2?} ({:.0}/s), {unanswered} unanswered, {} machines",
        ran as f64 / elapsed.as_secs_f64().max(1e-9),
        driver.machines
    );
    println!("replaced machines: {:?}", driver.endings);
}
