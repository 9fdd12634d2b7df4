//! docs/scenario.md, the scenario schema's reference, is generated from `src/scenario/schema.rs`
//! (every struct the YAML deserialises into, every field with its YAML key, type and doc
//! comment) and this test fails when the two drift apart. `TAGMMU_BLESS=1 cargo test --test
//! schema_docs` regenerates it. The example at its end is a scenario from `configs/` that
//! `make test` runs.

const SCHEMA: &str = include_str!("../src/scenario/schema.rs");
const EXAMPLE: &str = "configs/btrfs-5.16-livelock.yaml";

/// One field: YAML key, Rust type, doc text.
struct Field {
    key: String,
    ty: String,
    doc: String,
}

/// The structs of the schema with their doc and fields, in source order.
fn structs() -> Vec<(String, String, Vec<Field>)> {
    let mut out = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    let mut rename: Option<String> = None;
    let mut current: Option<(String, String, Vec<Field>)> = None;
    for line in SCHEMA.lines() {
        let t = line.trim();
        if let Some(d) = t.strip_prefix("///") {
            doc.push(d.trim().to_string());
        } else if let Some(name) = t.strip_prefix("pub struct ").and_then(|r| r.strip_suffix(" {")) {
            current = Some((name.to_string(), doc.join(" "), Vec::new()));
            doc.clear();
        } else if t.starts_with("#[serde(") && t.contains("rename = \"") {
            let r = t.split("rename = \"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
            rename = Some(r.to_string());
        } else if t.starts_with("#[") {
        } else if let (Some(field), Some(cur)) = (t.strip_prefix("pub "), current.as_mut()) {
            let (name, ty) = field.split_once(": ").expect("a field");
            let key = rename.take().unwrap_or_else(|| name.to_string());
            cur.2.push(Field { key, ty: ty.trim_end_matches(',').to_string(), doc: doc.join(" ") });
            doc.clear();
        } else if t == "}" {
            if let Some(c) = current.take() {
                out.push(c);
            }
            doc.clear();
        } else {
            doc.clear();
        }
    }
    out
}

fn generate() -> String {
    let mut s = String::from(
        "# The scenario schema\n\n\
         Generated from `src/scenario/schema.rs` by `TAGMMU_BLESS=1 cargo test --test schema_docs`\n\
         (the test fails when this file and the source differ). A scenario is a YAML file that\n\
         `tagmmu run` executes and checks; unknown fields are errors naming the file, line and\n\
         field. A scenario whose `expect` checks nothing is refused. Paths (`program`,\n\
         `files[].host`) resolve inside the scenario's directory unless `--allow-host-paths` is\n\
         given; `guest:ARCH/NAME` names a program built from `programs/`.\n\n",
    );
    for (name, doc, fields) in structs() {
        s.push_str(&format!("## {name}\n\n{doc}\n\n| key | type | meaning |\n|---|---|---|\n"));
        for f in fields {
            s.push_str(&format!("| `{}` | `{}` | {} |\n", f.key, f.ty.replace('|', "\\|"), f.doc.replace('|', "\\|")));
        }
        s.push('\n');
    }
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/btrfs-5.16-livelock.yaml"))
        .expect("the example scenario");
    s.push_str(&format!("## Example\n\n`{EXAMPLE}`, which `make test` runs:\n\n```yaml\n{example}```\n"));
    s
}

#[test]
fn the_schema_reference_matches_the_source() {
    let all = structs();
    let names: Vec<&str> = all.iter().map(|s| s.0.as_str()).collect();
    for expected in ["Scenario", "FileSpec", "MachineSpec", "BtrfsSpec", "ItemSpec", "Expect", "ExpectLoop"] {
        assert!(names.contains(&expected), "the parser finds {expected}: {names:?}");
    }
    let item = &all.iter().find(|s| s.0 == "ItemSpec").unwrap().2;
    assert!(item.iter().any(|f| f.key == "type"), "serde renames are followed");
    assert!(all.iter().all(|s| s.2.iter().all(|f| !f.doc.is_empty())), "every field has a doc comment");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenario.md");
    let fresh = generate();
    if std::env::var_os("TAGMMU_BLESS").is_some() {
        std::fs::write(path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == fresh, "docs/scenario.md is out of date: TAGMMU_BLESS=1 cargo test --test schema_docs");
}
