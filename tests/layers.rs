//! The layers stay one-way: the kernel model (and the tag architectures under it) never
//! import the CPU backends or Unicorn, so they stay unit-testable without an engine.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_kernel_model_and_the_tag_schemes_never_import_the_cpu_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("kernel_stub"), &mut files);
    rust_files(&src.join("mte"), &mut files);
    files.push(src.join("adi.rs"));
    assert!(files.len() > 40, "{files:?}");
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("crate::emu") || code.contains("unicorn_engine") {
                offenders.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
    // mte is below the kernel model: it does not use the kernel's errno either.
    for f in files.iter().filter(|f| f.starts_with(src.join("mte")) || f.ends_with("adi.rs")) {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains("crate::kernel_stub"), "{} imports the kernel model", f.display());
    }
}
