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
    /// What `uname -m` says and the page size: the programs of `programs/common` get them
    /// as TAGMMU_UNAME_MACHINE and TAGMMU_PAGE_SIZE.
    uname: &'static str,
    page_size: u32,
}

const TARGETS: &[Target] = &[
    Target { dir: "arm64", cc_env: "TAGMMU_CC_ARM64", cc: "aarch64-linux-gnu-gcc", uname: "aarch64", page_size: 4096 },
    Target {
        dir: "sparc64",
        cc_env: "TAGMMU_CC_SPARC64",
        cc: "sparc64-linux-gnu-gcc",
        uname: "sparc64",
        page_size: 8192,
    },
];

/// The C and assembly sources of a directory, sorted.
fn sources_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("c") | Some("S")))
        .collect();
    v.sort();
    v
}

/// The C headers of a directory.
fn headers_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("h"))
        .collect()
}

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

/// The Unicorn that tagmmu links: unicorn-engine-sys 2.1.5's sources with the patch queue of
/// `build_support/unicorn/`, built by `scripts/build-unicorn.sh` (`make setup`) into
/// `target/unicorn-tagmmu/` (the repository's own target directory, whatever
/// `CARGO_TARGET_DIR` says). `.cargo/config.toml` points
/// unicorn-engine-sys's pkg-config probe at its `prefix/`, so the crate links it instead of
/// building an unpatched copy. The probes read the CPU state from its (patched) `src/` and
/// its CMake `build/` (the generated config headers).
struct PatchedUnicorn {
    src: PathBuf,
    build: PathBuf,
    library: PathBuf,
}

/// The patch files, sorted: what the library must report (`uc_tagmmu_patches`).
fn unicorn_patches() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("build_support/unicorn")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".patch"));
    names.sort();
    names
}

/// Finds the patched Unicorn, or fails the build saying how to make it: linking the
/// unpatched engine would lose the fixes of the queue (see its README) without a word.
fn patched_unicorn() -> PatchedUnicorn {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR")).join("target/unicorn-tagmmu");
    let u =
        PatchedUnicorn { src: dir.join("src"), build: dir.join("build"), library: dir.join("prefix/lib/libunicorn.a") };
    if !u.library.is_file() || !u.build.join("sparc64-softmmu/config-target.h").is_file() {
        panic!(
            "the patched Unicorn is not built ({} is missing): run `make setup` or scripts/build-unicorn.sh \
             (see build_support/unicorn/README.md)",
            u.library.display()
        );
    }
    u
}

/// One build-time probe of Unicorn's private state: a C program compiled against the crate's
/// own QEMU headers for one target, whose output (Rust constants) becomes `$OUT_DIR/<out>`.
struct Probe {
    /// The C source in build_support/.
    source: &'static str,
    /// QEMU's per-target symbol-renaming header (qemu/<name>.h).
    target_header: &'static str,
    /// The target's directory under qemu/target.
    target_dir: &'static str,
    /// The generated-config directory of the target in the CMake build.
    softmmu: &'static str,
    /// The Rust file written into OUT_DIR.
    out: &'static str,
}

const PROBES: &[Probe] = &[
    // The SPARC64 CPU state tagmmu reaches (Unicorn offers no API for the register-window,
    // condition-code and ASI state), and the engine fields of the MMIO windows.
    Probe {
        source: "sparc_env_offsets.c",
        target_header: "sparc64.h",
        target_dir: "sparc",
        softmmu: "sparc64-softmmu",
        out: "sparc_env_offsets.rs",
    },
    // The arm64 CPU's soft-TLB descriptors (src/emu/soft_tlb.rs).
    Probe {
        source: "arm64_tlb_offsets.c",
        target_header: "aarch64.h",
        target_dir: "arm",
        softmmu: "aarch64-softmmu",
        out: "arm64_tlb_offsets.rs",
    },
];

/// Run `probe`. Fails the build if it cannot be compiled: guessing the offsets would corrupt
/// the emulator silently.
fn run_probe(out_dir: &Path, unicorn: &PatchedUnicorn, probe: &Probe) {
    let source = Path::new("build_support").join(probe.source);
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build_support/tlb_offsets.h");
    let (src, build) = (&unicorn.src, &unicorn.build);
    let exe = out_dir.join(probe.source.trim_end_matches(".c"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let inc = |p: &Path| format!("-I{}", p.display());
    let r = Command::new(&cc)
        .arg("-DNEED_CPU_H")
        .arg("-include")
        .arg(src.join("qemu").join(probe.target_header))
        .args([
            inc(&src.join("qemu/include")),
            inc(&src.join("qemu/tcg/i386")),
            inc(&src.join("qemu/target").join(probe.target_dir)),
            inc(&build.join(probe.softmmu)),
            inc(build),
            inc(&src.join("include")),
            inc(&src.join("glib_compat")),
            inc(&src.join("qemu")),
            inc(&src.join("qemu/tcg")),
            inc(src),
        ])
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the host C compiler {cc}: {e}"));
    if !r.status.success() {
        panic!(
            "the offset probe {} does not compile against {}:\n{}",
            probe.source,
            src.display(),
            String::from_utf8_lossy(&r.stderr)
        );
    }
    let out = Command::new(&exe).output().expect("run the offset probe");
    assert!(out.status.success(), "the offset probe {} failed", probe.source);
    std::fs::write(out_dir.join(probe.out), &out.stdout).expect("write the offsets");
}

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let unicorn = patched_unicorn();
    // A rebuilt library relinks every binary; the patch list is checked against it at run time.
    println!("cargo:rerun-if-changed={}", unicorn.library.display());
    println!("cargo:rerun-if-changed=build_support/unicorn");
    println!("cargo:rustc-env=TAGMMU_UNICORN_PATCHES={}", unicorn_patches().join(" "));
    for probe in PROBES {
        run_probe(&out_dir, &unicorn, probe);
    }
    // The precise tag-check memory hook (see src/emu/access_hook.rs).
    println!("cargo:rerun-if-changed=build_support/tag_check_hook.c");
    println!("cargo:rerun-if-changed=build_support/tag_insn.c");
    println!("cargo:rerun-if-changed=build_support/tag_cache.h");
    cc::Build::new()
        .file("build_support/tag_check_hook.c")
        .file("build_support/tag_insn.c")
        .include("build_support")
        .warnings_into_errors(true)
        .compile("tagmmu_check_hook");
    // The per-block counter (see src/emu/block_counter.rs).
    println!("cargo:rerun-if-changed=build_support/block_counter.c");
    cc::Build::new().file("build_support/block_counter.c").warnings_into_errors(true).compile("tagmmu_block_counter");
    let guest_dir = out_dir.join("guest");
    println!("cargo:rustc-env=TAGMMU_GUEST_DIR={}", guest_dir.display());
    println!("cargo:rerun-if-changed=programs");
    for t in TARGETS {
        println!("cargo:rerun-if-env-changed={}", t.cc_env);
        // Each architecture's own programs, and the architecture-neutral ones of
        // programs/common built for every architecture.
        let mut sources = sources_in(&Path::new("programs").join(t.dir));
        sources.extend(sources_in(Path::new("programs/common")));
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
        // A program is rebuilt when a header it may include (its architecture's or the
        // common ones) changed too.
        let headers: Vec<PathBuf> = [Path::new("programs").join(t.dir), PathBuf::from("programs/common")]
            .iter()
            .flat_map(|d| headers_in(d))
            .collect();
        let dest = guest_dir.join(t.dir);
        std::fs::create_dir_all(&dest).expect("create guest dir");
        // Two compilers at a time: the machines this builds on have two cores.
        let jobs: Vec<(PathBuf, PathBuf)> = sources
            .iter()
            .map(|s| (s.clone(), dest.join(s.file_stem().expect("stem"))))
            .filter(|(s, o)| newer(s, o) || newer(Path::new("build.rs"), o) || headers.iter().any(|h| newer(h, o)))
            .collect();
        for chunk in jobs.chunks(2) {
            let handles: Vec<_> = chunk
                .iter()
                .cloned()
                .map(|(src, out)| {
                    let cc = cc.clone();
                    let defines = [
                        format!("-DTAGMMU_UNAME_MACHINE=\"{}\"", t.uname),
                        format!("-DTAGMMU_PAGE_SIZE={}", t.page_size),
                    ];
                    std::thread::spawn(move || {
                        let mut cmd = Command::new(&cc);
                        cmd.args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
                            .arg(&out)
                            .arg(&src)
                            .args(&defines)
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
