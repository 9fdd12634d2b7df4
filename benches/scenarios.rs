//! Time per scenario and per kernel-loop pass, including the live-lock proof.
//!
//! Runs every `configs/*.yaml` (or the ones named) through the library, `REPEATS` times each
//! (best run kept), and prints: the whole run's wall time, the kernel loops' passes, the host
//! time per pass spent in the loop itself (fault-in, search, copies) and in the live-lock
//! proof (capturing and comparing the loop's complete state), and the O_DIRECT passes.
//!
//! `cargo bench --bench scenarios [-- [--repeats N] [NAME...]]`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Row {
    name: String,
    wall: Duration,
    passes: u64,
    pass_ns: u64,
    proof_ns: u64,
    verdict: String,
    dio_passes: usize,
}

fn run_once(path: &Path) -> Row {
    let s = tagmmu::scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let o = s.run(false).unwrap_or_else(|e| panic!("{e}"));
    let wall = t.elapsed();
    assert!(o.passed(), "{} failed its expectations", path.display());
    let r = &o.result;
    let passes = r.loops.iter().map(|l| l.passes.len() as u64).sum();
    let pass_ns = r.loops.iter().map(|l| l.timing.passes_ns).sum();
    let proof_ns = r.loops.iter().map(|l| l.timing.proof_ns).sum();
    let verdict = match r.loops.last().map(|l| &l.verdict) {
        Some(tagmmu::kernel_stub::loops::Verdict::Livelock { cycle }) => {
            format!("livelock (cycle {})", cycle.length())
        }
        Some(tagmmu::kernel_stub::loops::Verdict::Completed { ret }) => format!("completed ({ret})"),
        Some(tagmmu::kernel_stub::loops::Verdict::BudgetExhausted) => "budget".into(),
        Some(other) => format!("{other:?}"),
        None => "-".into(),
    };
    let dio_passes = r.direct_io.iter().map(|d| d.passes.len()).sum();
    Row { name: o.name.clone(), wall, passes, pass_ns, proof_ns, verdict, dio_passes }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mut repeats = 3usize;
    if let Some(i) = args.iter().position(|a| a == "--repeats") {
        repeats = args.get(i + 1).and_then(|r| r.parse().ok()).unwrap_or(repeats);
        args.drain(i..(i + 2).min(args.len()));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("configs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| args.is_empty() || args.iter().any(|a| p.file_stem().is_some_and(|s| s == a.as_str())))
        .collect();
    paths.sort();
    println!("best of {repeats} runs per scenario (library, this build's profile)");
    println!(
        "{:<34} {:>9} {:>7} {:>11} {:>11} {:>5}  verdict",
        "scenario", "run ms", "passes", "us/pass", "proof us/p", "dio"
    );
    for p in &paths {
        let row = (0..repeats).map(|_| run_once(p)).min_by_key(|r| r.wall).expect("one run");
        let per = |ns: u64| {
            if row.passes == 0 {
                "-".to_string()
            } else {
                format!("{:.1}", ns as f64 / row.passes as f64 / 1e3)
            }
        };
        println!(
            "{:<34} {:>9.1} {:>7} {:>11} {:>11} {:>5}  {}",
            row.name,
            row.wall.as_secs_f64() * 1e3,
            row.passes,
            per(row.pass_ns),
            per(row.proof_ns),
            row.dio_passes,
            row.verdict
        );
    }
}
