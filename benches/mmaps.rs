//! Mapping scaling (issue 12, goal 4: 4096 mmaps/munmaps in under 0.5 s, with or without
//! PROT_MTE, cost linear in the number of mappings): `mmap_churn` (plain pages, arm64 and
//! sparc64) and `mte_many_maps` (PROT_MTE pages, each with its own tag, checked in sync mode)
//! at 1024, 2048 and 4096 mappings under the release `tagmmu exec`, with `qemu-aarch64 -cpu
//! max` beside them. Prints wall times (best of three) and the cost per mapping.
//! `cargo bench --bench mmaps`.

use std::process::Command;
use std::time::{Duration, Instant};

/// The wall time of `cmd`, which must succeed when `strict` (qemu-aarch64 7.2 fails one
/// check of mte_many_maps: it reports si_addr with the tag, which Linux clears).
fn time(cmd: &mut Command, strict: bool) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("run");
    let d = t.elapsed();
    assert!(!strict || out.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stdout));
    d
}

fn best(mut f: impl FnMut() -> Duration) -> Duration {
    (0..3).map(|_| f()).min().expect("at least one run")
}

fn main() {
    let exe = std::env::var("TAGMMU_BIN").unwrap_or_else(|_| {
        let release = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/tagmmu");
        if std::path::Path::new(release).exists() {
            release.into()
        } else {
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/tagmmu").into()
        }
    });
    let qemu = Command::new("qemu-aarch64").arg("--version").output().is_ok();
    println!("tagmmu = {exe}; best of 3; ms total (us per mapping)");
    for prog_name in ["arm64/mmap_churn", "sparc64/mmap_churn", "arm64/mte_many_maps"] {
        let prog = match tagmmu::programs::guest_program(prog_name) {
            Ok(p) => p,
            Err(e) => {
                println!("{prog_name}: {e}");
                continue;
            }
        };
        for n in [1024u32, 2048, 4096] {
            let arg = n.to_string();
            let t = best(|| time(Command::new(&exe).args(["exec", "--clear-env"]).arg(&prog).arg(&arg), true));
            let per = t.as_secs_f64() * 1e6 / n as f64;
            let mut line = format!("{prog_name:<22} n={n:<5} tagmmu {:>8.1} ms ({per:>5.1} us)", t.as_secs_f64() * 1e3);
            if qemu && prog_name.starts_with("arm64/") {
                let q = best(|| time(Command::new("qemu-aarch64").args(["-cpu", "max"]).arg(&prog).arg(&arg), false));
                line += &format!("   qemu-aarch64 {:>8.1} ms", q.as_secs_f64() * 1e3);
            }
            println!("{line}");
        }
    }
}
