//! Sweep speed, side by side in one run: a search_ioctl offset sweep (every granule of the
//! TREE_SEARCH buffer, 5.16, arm64 MTE sync) on one thread through the library, against whole
//! `tagmmu run configs/btrfs-5.16-livelock.yaml` runs (guest program, syscall, the same loop),
//! and the sweep's memory against its number of points.
//!
//! `cargo bench --bench sweep [-- --points N]`

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tagmmu::sweep::run::{run_streaming, RunOptions};
use tagmmu::sweep::spec;

/// Resident set size in KiB (Linux), to show memory stays flat in the number of points.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn sweep_rate(kernels: &str) -> (u64, f64, u64) {
    let text = format!(
        "name: bench\nbase: {{loop: search_ioctl}}\naxes:\n  kernel: {kernels}\n  absent: [[], [0]]\n  bad_offset: every_granule\n"
    );
    let plan = spec::parse(&text).expect("the bench's sweep");
    let cancel = AtomicBool::new(false);
    let mut n = 0u64;
    let mut livelocks = 0u64;
    let t = Instant::now();
    run_streaming(&plan, &RunOptions { jobs: Some(1), ..Default::default() }, &HashSet::new(), &cancel, &mut |r| {
        n += 1;
        livelocks += (r.verdict == tagmmu::sweep::Outcome::Livelock) as u64;
        Ok(())
    })
    .expect("the sweep runs");
    let secs = t.elapsed().as_secs_f64();
    assert!(livelocks > 0 || !kernels.contains("5.16"), "the 5.16 search live-locks");
    (n, n as f64 / secs, rss_kib())
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Whole runs: the scenario through the library (guest ELF, Unicorn, kernel model), best of 5.
    let scenario = tagmmu::scenario::load(&root.join("configs/btrfs-5.16-livelock.yaml")).expect("the scenario");
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let o = scenario.run(false).expect("it runs");
        assert!(o.passed());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "whole `tagmmu run configs/btrfs-5.16-livelock.yaml` (library, best of 5): {:.2} ms = {:.0} runs/s",
        best * 1e3,
        1.0 / best
    );
    let rss0 = rss_kib();
    let (n1, rate1, rss1) = sweep_rate("['5.16']");
    println!("sweep, search_ioctl every granule x 2 presence patterns, 5.16, one thread: {n1} points, {rate1:.0} points/s per core (RSS {rss1} KiB)");
    let (n2, rate2, rss2) = sweep_rate("all");
    println!("the same on all 11 kernels: {n2} points, {rate2:.0} points/s per core (RSS {rss2} KiB; {rss0} KiB before the sweeps)");
    println!("ratio: one sweep point costs 1/{:.0} of a whole run", rate1 * best);
}
