//! The pictures of the granules: the tag maps `tagmmu run` draws in the terminal, and the HTML
//! report page, opened in a real browser (Debian's headless Chromium, which `make setup`
//! installs): its DOM with and without scripts, and a screenshot that must not be blank.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{require_tool, scratch, tagmmu, text};

/// `tagmmu run` of the scenarios with `--html` into `dir`; the page's path.
fn page(dir: &Path, scenarios: &[&str]) -> PathBuf {
    let html = dir.join("report.html");
    let out = tagmmu()
        .arg("run")
        .args(scenarios.iter().map(|s| format!("{}/configs/{s}.yaml", env!("CARGO_MANIFEST_DIR"))))
        .arg("--html")
        .arg(&html)
        .output()
        .expect("run tagmmu");
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("report page written to {}", html.display())));
    html
}

/// Headless Chromium with the flags a machine without network needs.
fn chromium(profile: &Path) -> Command {
    let bin = std::env::var_os("TAGMMU_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| require_tool("chromium", "Debian's chromium package"));
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Headless Chromium cannot dump a page with scripts disabled (its dump goes through
/// script), so the test looks at the page as a browser without scripts renders it: the same
/// file without its `<script>`. Into either copy goes a probe script of the test's own, run
/// after the page's, that measures what is displayed and writes it into the DOM: the number of
/// passes with a visible box, of visible step controls, and (when one is visible) the step
/// control's label after a click on the first "next pass".
fn probed_copy(page: &Path, keep_page_script: bool) -> PathBuf {
    let mut source = std::fs::read_to_string(page).unwrap();
    if !keep_page_script {
        let start = source.find("<script>").expect("the page's script");
        let end = source[start..].find("</script>").unwrap() + start + "</script>".len();
        source.replace_range(start..end, "");
        assert!(!source.contains("<script"));
    }
    let probe = r#"<script>
const shown = e => e.getBoundingClientRect().height > 0 && getComputedStyle(e).display !== 'none';
document.body.dataset.visiblePasses = Array.from(document.querySelectorAll('section.pass')).filter(shown).length;
const steppers = Array.from(document.querySelectorAll('.stepper')).filter(shown);
document.body.dataset.visibleSteppers = steppers.length;
if (steppers.length > 0) {
  steppers[0].querySelector('.next').click();
  document.body.dataset.afterNext = steppers[0].querySelector('.where').textContent + ' / ' +
    Array.from(steppers[0].closest('section.loop').querySelectorAll('section.pass')).filter(shown).map(p => p.dataset.pass).join(',');
}
</script></body>"#;
    let source = source.replace("</body>", probe);
    let copy = page.with_extension(if keep_page_script { "js.html" } else { "nojs.html" });
    std::fs::write(&copy, source).unwrap();
    copy
}

/// The DOM of `page` after its scripts ran.
fn dom(page: &Path, profile: &Path) -> String {
    let out =
        chromium(profile).arg("--dump-dom").arg(format!("file://{}", page.display())).output().expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_page_in_a_browser_shows_each_pass_the_verdict_and_the_proof() {
    let dir = scratch();
    let html = page(dir.path(), &["btrfs-5.16-livelock", "btrfs-5.19-efault"]);
    let source = std::fs::read_to_string(&html).unwrap();
    // Self-contained: nothing to fetch.
    assert!(!source.contains("<link") && !source.contains(" src="), "no external resources");
    assert_eq!(source.matches("http").count(), source.matches("http://www.w3.org/2000/svg").count());

    let profile = dir.path().join("profile");
    let with = dom(&probed_copy(&html, true), &profile);
    assert!(with.contains("class=\"js\""), "the page's script ran");
    // Two columns, side by side: 5.16's loop ran 2 passes, 5.19's one.
    assert_eq!(with.matches("<article class=\"scenario\"").count(), 2);
    let passes = with.matches("<section class=\"pass").count();
    assert_eq!(passes, 3);
    // One tag map per pass, plus the proof's two (5.16's live-lock only).
    assert_eq!(with.matches("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tagmap\"").count(), passes + 2);
    assert!(with.contains("verdict: LIVE-LOCK: live-lock proven"));
    assert!(with.contains("verdict: completed: returned -EFAULT"));
    assert!(with.contains("class=\"proof\""));
    // The mistagged granule is drawn, and the 5.16 copies fault on it.
    assert!(with.contains("class=\"cell mismatch\""));
    assert_eq!(with.matches("<g class=\"fault\"").count(), 2, "one fault per 5.16 pass");
    // The step control shows one pass per loop; "next" moves the first loop to its pass 1.
    assert!(with.contains("data-visible-passes=\"2\""), "one pass per loop displayed");
    assert!(with.contains("data-visible-steppers=\"2\""));
    assert!(
        with.contains("data-after-next=\"pass 1 (2 of 2) / 1\""),
        "{}",
        &with[with.find("<body").unwrap()..][..200]
    );

    // Without scripts: every pass is displayed and the step control is not.
    let without = dom(&probed_copy(&html, false), &profile);
    assert!(!without.contains("class=\"js\""));
    assert!(without.contains("data-visible-passes=\"3\""));
    assert!(without.contains("data-visible-steppers=\"0\""));
    assert!(without.contains("verdict: LIVE-LOCK"));

    // A screenshot that is not blank: many non-white pixels, and the mismatch red among them.
    let shot = dir.path().join("shot.png");
    let out = chromium(&profile)
        .arg("--window-size=1280,1000")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", text(&out.stderr));
    let (width, height, pixels) = decode_rgb(&shot);
    assert_eq!((width, height), (1280, 1000));
    let non_white = pixels.iter().filter(|p| p[0] < 240 || p[1] < 240 || p[2] < 240).count();
    assert!(non_white > pixels.len() / 50, "a blank page: {non_white} non-white pixels of {}", pixels.len());
    let red = pixels.iter().filter(|p| p[0] > 180 && p[1] < 60 && p[2] < 60).count();
    assert!(red > 20, "the mismatched granule's red frame and the fault cross are visible ({red} red pixels)");
}

/// The PNG's size and its pixels as RGB.
fn decode_rgb(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("the screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let pixels = buf[..info.buffer_size()].chunks(step).map(|c| [c[0], c[1], c[2]]).collect();
    (info.width, info.height, pixels)
}

#[test]
fn arm64_and_sparc_side_by_side_name_granules_and_blocks() {
    let dir = scratch();
    let html = page(dir.path(), &["btrfs-5.16-livelock", "sparc-adi-5.16-livelock"]);
    let source = std::fs::read_to_string(&html).unwrap();
    assert!(source.contains("grid-template-columns: repeat(2, minmax(0, 1fr))"));
    assert!(source.contains("250 granules of 16 bytes"), "arm64: 3992 bytes from 0x...068");
    assert!(source.contains("63 ADI blocks of 64 bytes"), "sparc: the same buffer in 64-byte blocks");
    assert!(source.contains("sparc64 ADI, upstream: no sub-page probe"));
}

#[test]
fn run_draws_a_plain_tag_map_per_pass_when_not_a_terminal() {
    let out = tagmmu()
        .args(["run", concat!(env!("CARGO_MANIFEST_DIR"), "/configs/btrfs-5.16-livelock.yaml")])
        .output()
        .expect("run tagmmu");
    let err = text(&out.stderr);
    assert!(!err.contains('\x1b'), "no colour into a pipe");
    assert!(err.contains("the pointer 0x300fffff77fd068 is tag 0x3 (bits 59:56) + address 0xfffff77fd068, written 0x3:0xfffff77fd068"), "{err}");
    assert_eq!(err.matches("  the buffer during pass").count(), 2, "{err}");
    // The granule at +0x10 of the row (the buffer starts 8 bytes into its first granule) is
    // tagged 5; fault-in probed the first byte only, the copy faulted on the next granule.
    assert_eq!(err.matches("    0xfffff77fd060  .5......").count(), 3, "two passes and the proof: {err}");
    assert_eq!(err.matches("\n                    pX\n").count(), 2, "{err}");
    assert!(err.contains("the proof: the loop's whole state before pass 1 (digest"), "{err}");
    assert!(err.contains("the kill and that errno are tagmmu's, not Linux's"), "{err}");

    // 5.19: the sub-page probe reads every granule and fails on the mistagged one.
    let out = tagmmu()
        .args(["run", concat!(env!("CARGO_MANIFEST_DIR"), "/configs/btrfs-5.19-efault.yaml")])
        .output()
        .expect("run tagmmu");
    let err = text(&out.stderr);
    assert!(err.contains("\n                    p!\n"), "{err}");
}

#[test]
fn json_carries_the_pictures_and_the_probes() {
    let out = tagmmu()
        .args(["run", "--json", concat!(env!("CARGO_MANIFEST_DIR"), "/configs/sparc-adi-5.19-probe-efault.yaml")])
        .output()
        .expect("run tagmmu");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let l = &v["result"]["loops"][0];
    let before = &l["passes"][0]["before"];
    assert_eq!(before["scheme"], "ADI");
    assert_eq!(before["unit"], 64);
    assert_eq!(before["tags"].as_array().unwrap().len(), 63);
    let probes = l["passes"][0]["probes"].as_array().unwrap();
    assert!(probes.iter().any(|p| p["ok"] == false), "the ADI probe fails on the mismatched block: {probes:?}");
}

#[test]
fn a_sweep_page_has_the_heat_map_and_a_pictured_point_per_outcome() {
    let dir = scratch();
    std::fs::write(
        dir.path().join("s.yaml"),
        "name: s\nbase: {loop: search_ioctl, kernel: '5.16', bad_offset: 8, align: 0x68, len: 4096}\naxes:\n  \
         kernel: ['5.16', '5.19']\n  bad_offset: [none, 8]\n",
    )
    .unwrap();
    let out = tagmmu()
        .args(["sweep", "s.yaml", "--no-progress", "--html", "s.html"])
        .current_dir(dir.path())
        .output()
        .expect("run tagmmu");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(dir.path().join("s.html")).unwrap();
    assert!(page.contains("<div class=\"heatmap\"><svg"), "the heat map inline");
    assert!(!page.contains("<?xml"));
    // Three outcomes: 5.16 with a bad granule live-locks, 5.19 gets EFAULT, no bad granule completes.
    assert_eq!(page.matches("<article class=\"scenario example\"").count(), 3, "{page}");
    assert!(page.contains("<h3>livelock: point "));
    assert!(page.contains("<h3>efault: point "));
    assert!(page.contains("<h3>completed: point "));
    assert!(page.contains("class=\"cell mismatch\""));
    assert!(page.contains("class=\"proof\""), "the live-lock's proof is drawn");
}

/// The README's `tagmmu run` blocks are the commands' exact output (stdout and stderr as a
/// terminal-less shell shows them, `2>&1`). `TAGMMU_BLESS=1 cargo test --test report_page
/// the_readme` rewrites them from the commands.
#[test]
fn the_readme_shows_what_tagmmu_run_prints() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let mut fresh = String::new();
    let mut rest = readme.as_str();
    let mut blocks = 0;
    let mut stale = Vec::new();
    while let Some(i) = rest.find("<!-- tagmmu run ") {
        let line_end = rest[i..].find(" -->\n").expect("a closed marker") + i;
        let args = rest[i + "<!-- tagmmu run ".len()..line_end].trim_end_matches(": begin").to_string();
        let body_start = line_end + " -->\n".len();
        let end_marker = "<!-- tagmmu run: end -->";
        let body_end = rest[body_start..].find(end_marker).expect("an end marker") + body_start;
        // stdout and stderr in the order tagmmu wrote them, as `2>&1` shows them.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("exec \"$0\" run {args} 2>&1"))
            .arg(env!("CARGO_BIN_EXE_tagmmu"))
            .env("NO_COLOR", "1")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run tagmmu");
        let out = text(&out.stdout);
        let want = format!("```console\n$ tagmmu run {args}\n{out}```\n");
        if rest[body_start..body_end] != want {
            stale.push(args.clone());
        }
        fresh.push_str(&rest[..body_start]);
        fresh.push_str(&want);
        rest = &rest[body_end..];
        blocks += 1;
    }
    fresh.push_str(rest);
    assert!(blocks >= 3, "the README's story blocks");
    if std::env::var_os("TAGMMU_BLESS").is_some() {
        std::fs::write(path, fresh).unwrap();
    } else {
        assert!(stale.is_empty(), "README blocks out of date: {stale:?}; regenerate with TAGMMU_BLESS=1 cargo test --test report_page the_readme");
    }
}

/// The README's table of the survey's claims is the committed survey report's (which
/// tests/sweep.rs ties to the survey file), row for row.
#[test]
fn the_readme_claims_table_is_the_survey_report_s() {
    let table = |text: &str| -> Vec<String> {
        let start = text.find("| claim | said | tagmmu's answer |").expect("the claims table");
        text[start..].lines().take_while(|l| l.starts_with('|')).map(String::from).collect()
    };
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let report = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/surveys/fault-in-loops.md")).unwrap();
    assert!(table(&readme).len() > 3);
    assert_eq!(table(&readme), table(&report), "copy the table from surveys/fault-in-loops.md into the README");
}
