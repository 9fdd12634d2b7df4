//! Memory-heavy arm64 workload, four ways in one run: tagmmu with MTE off (`--mte none`),
//! tagmmu on the default (MTE) machine running the untagged variant (goal: the same speed as
//! MTE off: untagged code pays nothing for tags), tagmmu with MTE sync (every access
//! tag-checked, all matching), and `qemu-aarch64 -cpu max` (MTE sync).
//! Then a mixed-tag heap (glibc's heap tagging) against the same heap untagged.
//! Prints wall times and ratios. `cargo bench --bench memops [-- MIB ROUNDS REPEATS]`.

use std::process::Command;
use std::time::{Duration, Instant};

fn time(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("run");
    let d = t.elapsed();
    assert!(out.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    d
}

fn best(repeats: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..repeats).map(|_| f()).min().expect("at least one run")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let mib = args.first().cloned().unwrap_or_else(|| "8".into());
    let rounds = args.get(1).cloned().unwrap_or_else(|| "4".into());
    let repeats: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    let prog = tagmmu::programs::guest_program("arm64/bench_memops").unwrap_or_else(|e| panic!("{e}"));
    // The release binary when available (cargo bench builds the library in release).
    let exe = std::env::var("TAGMMU_BIN").unwrap_or_else(|_| {
        let release = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/tagmmu");
        if std::path::Path::new(release).exists() {
            release.into()
        } else {
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/tagmmu").into()
        }
    });
    println!("workload: memset + memcpy over {mib} MiB x {rounds} rounds; best of {repeats}; tagmmu = {exe}");
    let off = best(repeats, || {
        time(Command::new(&exe).args(["exec", "--clear-env", "--mte", "none"]).arg(&prog).args(["none", &mib, &rounds]))
    });
    let untagged = best(repeats, || {
        time(Command::new(&exe).args(["exec", "--clear-env"]).arg(&prog).args(["none", &mib, &rounds]))
    });
    let sync = best(repeats, || {
        time(Command::new(&exe).args(["exec", "--clear-env"]).arg(&prog).args(["sync", &mib, &rounds]))
    });
    // The same with no rounds: start-up, and for sync the tagging of the buffers (one
    // emulated STG per granule), so the accesses alone can be compared.
    let off_setup = best(repeats, || {
        time(Command::new(&exe).args(["exec", "--clear-env", "--mte", "none"]).arg(&prog).args(["none", &mib, "0"]))
    });
    let sync_setup =
        best(repeats, || time(Command::new(&exe).args(["exec", "--clear-env"]).arg(&prog).args(["sync", &mib, "0"])));
    let qemu = Command::new("qemu-aarch64").arg("--version").output().is_ok().then(|| {
        best(repeats, || {
            time(Command::new("qemu-aarch64").args(["-cpu", "max"]).arg(&prog).args(["sync", &mib, &rounds]))
        })
    });
    println!("tagmmu, MTE off:   {:>8.1} ms", off.as_secs_f64() * 1e3);
    println!(
        "tagmmu, MTE machine, untagged program: {:>8.1} ms   (speed {:.2}x of MTE off)",
        untagged.as_secs_f64() * 1e3,
        off.as_secs_f64() / untagged.as_secs_f64()
    );
    println!(
        "tagmmu, MTE sync:  {:>8.1} ms   ({:.2}x MTE off)",
        sync.as_secs_f64() * 1e3,
        sync.as_secs_f64() / off.as_secs_f64()
    );
    let rounds_only = |total: Duration, setup: Duration| total.saturating_sub(setup).as_secs_f64() * 1e3;
    let (off_rounds, sync_rounds) = (rounds_only(off, off_setup), rounds_only(sync, sync_setup));
    println!(
        "the rounds alone (minus a 0-round run: start-up, and for sync the tagging, {:.1} ms): \
         MTE off {off_rounds:.1} ms, MTE sync {sync_rounds:.1} ms (speed {:.2}x of MTE off)",
        sync_setup.as_secs_f64() * 1e3,
        off_rounds / sync_rounds.max(1e-3)
    );
    match qemu {
        Some(q) => {
            println!("qemu-aarch64 -cpu max, MTE sync: {:>8.1} ms", q.as_secs_f64() * 1e3);
            println!(
                "ratios: tagmmu sync / qemu = {:.2}x, tagmmu off / qemu = {:.2}x",
                sync.as_secs_f64() / q.as_secs_f64(),
                off.as_secs_f64() / q.as_secs_f64()
            );
        }
        None => println!("qemu-aarch64 not installed: no qemu column"),
    }
    heap(&exe, repeats);
}

/// The mixed-tag heap: `bench_heap` (malloc/fill/sum/free of small chunks) with glibc's heap
/// tagging in sync mode (every chunk its own tag, so heap pages mix tags) against the same
/// program untagged, on tagmmu and on qemu-aarch64.
fn heap(exe: &str, repeats: usize) {
    let prog = tagmmu::programs::guest_program("arm64/bench_heap").unwrap_or_else(|e| panic!("{e}"));
    let tunable = "GLIBC_TUNABLES=glibc.mem.tagging=3";
    let untagged = best(repeats, || time(Command::new(exe).args(["exec", "--clear-env"]).arg(&prog)));
    let tagged = best(repeats, || time(Command::new(exe).args(["exec", "--clear-env", "-E", tunable]).arg(&prog)));
    println!("heap workload: 20000 chunks of 16..256 bytes x 10 rounds");
    println!(
        "tagmmu, untagged heap: {:>8.1} ms; glibc heap tagging (sync): {:>8.1} ms ({:.2}x untagged)",
        untagged.as_secs_f64() * 1e3,
        tagged.as_secs_f64() * 1e3,
        tagged.as_secs_f64() / untagged.as_secs_f64()
    );
    if Command::new("qemu-aarch64").arg("--version").output().is_ok() {
        let q_untagged = best(repeats, || time(Command::new("qemu-aarch64").args(["-cpu", "max"]).arg(&prog)));
        let q_tagged = best(repeats, || {
            time(
                Command::new("qemu-aarch64")
                    .args(["-cpu", "max"])
                    .arg(&prog)
                    .env("GLIBC_TUNABLES", "glibc.mem.tagging=3"),
            )
        });
        println!(
            "qemu-aarch64 -cpu max, untagged heap: {:>8.1} ms; heap tagging: {:>8.1} ms ({:.2}x); tagmmu tagged / qemu tagged = {:.2}x",
            q_untagged.as_secs_f64() * 1e3,
            q_tagged.as_secs_f64() * 1e3,
            q_tagged.as_secs_f64() / q_untagged.as_secs_f64(),
            tagged.as_secs_f64() / q_tagged.as_secs_f64()
        );
    }
}
