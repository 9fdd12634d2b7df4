//! Builds the guest programs in `programs/<arch>/` with the cross compilers.
//!
//! Each `*.c` / `*.S` file becomes a static executable in `$OUT_DIR/guest/<arch>/<name>`;
//! the directory is exported to the crate as `TAGMMU_GUEST_DIR`. A line
//! `// tagmmu: cflags ...` in a source adds compiler flags. When a cross compiler is missing
//! the build warns and the programs of that architecture are not built (the tests that need
//! them then say what to install); when a compiler is present, a program that does not
//! compile fails the build.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Target {
    dir: &'static str,
    cc_env: &'static str,
    cc: &'static str,
}

const TARGETS: &[Target] = &[
    Target { dir: "arm64", cc_env: "TAGMMU_CC_ARM64", cc: "aarch64-linux-gnu-gcc" },
    Target { dir: "sparc64", cc_env: "TAGMMU_CC_SPARC64", cc: "sparc64-linux-gnu-gcc" },
];

fn extra_flags(src: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(src).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("// tagmmu: cflags"))
        .flat_map(|rest| rest.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect()
}

fn newer(src: &Path, out: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (m(src), m(out)) {
        (Some(s), Some(o)) => s > o,
        _ => true,
    }
}

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let guest_dir = out_dir.join("guest");
    println!("cargo:rustc-env=TAGMMU_GUEST_DIR={}", guest_dir.display());
    println!("cargo:rerun-if-changed=programs");
    for t in TARGETS {
        println!("cargo:rerun-if-env-changed={}", t.cc_env);
        let src_dir = Path::new("programs").join(t.dir);
        let Ok(entries) = std::fs::read_dir(&src_dir) else {
            continue;
        };
        let mut sources: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("c") | Some("S")))
            .collect();
        sources.sort();
        for s in &sources {
            println!("cargo:rerun-if-changed={}", s.display());
        }
        let cc = std::env::var(t.cc_env).unwrap_or_else(|_| t.cc.to_string());
        if Command::new(&cc).arg("--version").output().is_err() {
            println!(
                "cargo:warning=cross compiler {cc} not found: the {} guest programs are not built (run `make setup`)",
                t.dir
            );
            continue;
        }
        let dest = guest_dir.join(t.dir);
        std::fs::create_dir_all(&dest).expect("create guest dir");
        // Two compilers at a time: the machines this builds on have two cores.
        let jobs: Vec<(PathBuf, PathBuf)> = sources
            .iter()
            .map(|s| (s.clone(), dest.join(s.file_stem().expect("stem"))))
            .filter(|(s, o)| newer(s, o) || newer(Path::new("build.rs"), o))
            .collect();
        for chunk in jobs.chunks(2) {
            let handles: Vec<_> = chunk
                .iter()
                .cloned()
                .map(|(src, out)| {
                    let cc = cc.clone();
                    std::thread::spawn(move || {
                        let mut cmd = Command::new(&cc);
                        cmd.args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
                            .arg(&out)
                            .arg(&src)
                            .args(extra_flags(&src));
                        let r = cmd.output().expect("run the cross compiler");
                        (src, r)
                    })
                })
                .collect();
            for h in handles {
                let (src, r) = h.join().expect("compiler thread");
                if !r.status.success() {
                    panic!("guest program {} does not compile:\n{}", src.display(), String::from_utf8_lossy(&r.stderr));
                }
            }
        }
    }
}
