//! Third-party programs (issue 12, goals 1 and 3): Debian's static busybox for arm64 (fetched
//! by `make setup` into target/corpus) running `gzip -c` and `sha256sum` over the same 2 MiB
//! file under the release `tagmmu exec` on the default machine (MTE offered, unused), with
//! `--mte none`, and under `qemu-aarch64 -cpu max`, side by side in one run. Prints the best of
//! three and the ratios (goal 1: default >= 0.9x of `--mte none`; goal 3: >= 0.5x of qemu).
//! `cargo bench --bench busybox`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn time(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("run");
    let d = t.elapsed();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    d
}

fn best(mut f: impl FnMut() -> Duration) -> f64 {
    (0..3).map(|_| f()).min().expect("three runs").as_secs_f64() * 1e3
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::var("TAGMMU_BIN").map(PathBuf::from).unwrap_or_else(|_| root.join("target/release/tagmmu"));
    let bb = root.join("target/corpus/arm64/busybox");
    if !bb.is_file() || !exe.is_file() {
        println!("needs {} (make setup) and {} (cargo build --release)", bb.display(), exe.display());
        return;
    }
    // 2 MiB of compressible, deterministic text.
    let dir = std::env::temp_dir().join(format!("tagmmu-bench-busybox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input.txt");
    let mut text = String::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while text.len() < 2 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(&format!("line {} value {:x}\n", text.len(), x % 100_000));
    }
    std::fs::write(&input, &text).unwrap();
    let placed = format!("/input.txt={}", input.display());
    println!("busybox over a 2 MiB file; best of 3, ms");
    for applet in [&["gzip", "-c", "input.txt"][..], &["sha256sum", "input.txt"][..]] {
        let tagmmu = |mte: Option<&str>| {
            best(|| {
                let mut c = Command::new(&exe);
                c.current_dir(&dir).args(["exec", "--clear-env"]);
                if let Some(m) = mte {
                    c.args(["--mte", m]);
                }
                time(c.args(["--file", &placed]).arg(&bb).args(applet))
            })
        };
        let default = tagmmu(None);
        let none = tagmmu(Some("none"));
        let qemu =
            best(|| time(Command::new("qemu-aarch64").current_dir(&dir).args(["-cpu", "max"]).arg(&bb).args(applet)));
        println!(
            "{:<10} default {default:>7.1}  --mte none {none:>7.1}  qemu-aarch64 {qemu:>7.1}   default/none speed {:.2}x, vs qemu {:.2}x",
            applet[0],
            none / default,
            qemu / default
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
