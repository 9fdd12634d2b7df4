//! The report page: one self-contained HTML file (no network, no external script or style)
//! telling one or more scenario runs, side by side when there are several (5.16 next to 5.19,
//! arm64 next to SPARC). Per kernel loop: each pass's tag map as a static SVG with the pass's
//! narrative beside it, the verdict with its reason, and for a live-lock the two states the
//! proof found equal, side by side. A small script adds a step control (one pass at a time);
//! without scripts every pass is shown, so the page reads the same with them disabled.

use std::fmt::Write;

use crate::kernel_stub::loops::{LoopReport, Verdict};
use crate::scenario::Outcome;
use crate::tagmap::{pass_marks, svg, terminal};

/// One column of the page: a scenario's run, or why it could not run.
#[derive(Clone, Copy, Debug)]
pub struct Column<'a> {
    /// The scenario's name.
    pub name: &'a str,
    /// Its file, as given.
    pub path: &'a str,
    /// The run, when there was one.
    pub outcome: Option<&'a Outcome>,
    /// Why there was none.
    pub error: Option<&'a str>,
}

/// The short glossary the page starts with.
pub const GLOSSARY: &[(&str, &str)] = &[
    ("tag (MTE) / version (ADI)", "4 bits at the top of a pointer (arm64 bits 59:56, SPARC bits 63:60) that must match the memory's tag for an access to go through."),
    ("granule / ADI block", "the unit memory is tagged in: 16 bytes on arm64 MTE, 64 bytes on SPARC ADI. A mismatch faults in the middle of a page."),
    ("uaccess", "the kernel copying to or from user memory (copy_to_user, copy_from_user); with tags checked, as if the user had made the access."),
    ("page faults disabled", "filesystems copy while holding locks (page locks, extent locks); taking a page fault there could need the same locks and deadlock, so the copy runs with page faults disabled and stops short instead."),
    ("fault_in_*()", "what the loop calls after a short copy: it touches the user range so the retry can succeed. Before Linux 5.19 it touched one byte per page, so it never saw a mistagged granule."),
    ("live-lock", "the loop's whole state (its variables, the buffer's bytes, tags and pages) repeats, so it retries for ever. A real kernel spins; tagmmu proves the repeat and ends the run with its own SIGKILL (or errno)."),
    ("GUP", "get_user_pages: O_DIRECT pins the user pages and copies through the kernel's own mapping, where user tags are not checked."),
];

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #111; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
dl.glossary { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; font-size: 0.9em; }
dl.glossary dt { font-weight: 600; }
dl.glossary dd { margin: 0; }
.columns { display: grid; gap: 1.5em; align-items: start; }
article.scenario { border: 1px solid #bbb; border-radius: 6px; padding: 0.8em 1em; min-width: 0; }
.pass, .proof { border-top: 1px solid #ddd; padding-top: 0.5em; margin-top: 0.5em; }
.pass .narrative, .proof p { font-size: 0.9em; }
.narrative p { margin: 0.2em 0; }
svg.tagmap { max-width: 100%; height: auto; display: block; }
.heatmap svg { max-width: 100%; height: auto; }
article.example { margin-bottom: 1em; }
svg.legend { max-width: 100%; height: auto; }
.proof .pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.verdict { font-weight: 600; }
.verdict.livelock { color: #b00000; }
.verdict.completed { color: #006a2e; }
.checks { font-family: monospace; font-size: 0.85em; }
.checks .fail { color: #b00000; font-weight: 600; }
pre { background: #f5f5f5; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
.stepper button { font-size: 1em; margin-right: 0.5em; }
.js .pass { display: none; }
.js .pass.current { display: block; }
"#;

/// The step control: shows one pass of each loop at a time, with buttons. An enhancement only:
/// without it every pass is visible.
const SCRIPT: &str = r#"
document.documentElement.classList.add('js');
for (const loop of document.querySelectorAll('section.loop')) {
  const passes = Array.from(loop.querySelectorAll('section.pass'));
  const stepper = loop.querySelector('.stepper');
  if (!stepper || passes.length === 0) continue;
  let i = 0;
  const label = stepper.querySelector('.where');
  const show = () => {
    passes.forEach((p, k) => p.classList.toggle('current', k === i));
    label.textContent = 'pass ' + passes[i].dataset.pass + ' (' + (i + 1) + ' of ' + passes.length + ')';
  };
  stepper.querySelector('.prev').addEventListener('click', () => { i = Math.max(0, i - 1); show(); });
  stepper.querySelector('.next').addEventListener('click', () => { i = Math.min(passes.length - 1, i + 1); show(); });
  stepper.hidden = false;
  show();
}
"#;

/// The page for `columns`, titled `title`.
pub fn page(title: &str, columns: &[Column]) -> String {
    let mut s = head(title);
    // Up to three runs side by side; more wrap.
    let template = match columns.len() {
        0..=3 => format!("repeat({}, minmax(0, 1fr))", columns.len().max(1)),
        _ => "repeat(auto-fill, minmax(40em, 1fr))".to_string(),
    };
    let _ = writeln!(s, "<div class=\"columns\" style=\"grid-template-columns: {template};\">");
    for (k, c) in columns.iter().enumerate() {
        column(&mut s, k, c);
    }
    s.push_str("</div>\n");
    s.push_str(&tail());
    s
}

/// The page of a sweep titled `title`: its summary `table`, its `heat_map` (SVG) and, per
/// outcome, a caption and the kernel loops of the sweep's first point with that outcome.
pub fn sweep_page(
    title: &str,
    table: &str,
    heat_map: &str,
    examples: &[(String, Vec<crate::kernel_stub::loops::LoopReport>)],
) -> String {
    let mut s = head(title);
    s.push_str("<h2>the heat map</h2>\n<div class=\"heatmap\">");
    // Inline SVG: without an XML declaration.
    let svg_start = heat_map.find("<svg").unwrap_or(0);
    s.push_str(&heat_map[svg_start..]);
    s.push_str("</div>\n<h2>the table</h2>\n");
    let _ = writeln!(s, "<pre class=\"table\">{}</pre>", esc(table));
    s.push_str("<h2>one point of each outcome</h2>\n");
    for (k, (caption, loops)) in examples.iter().enumerate() {
        let _ = writeln!(s, "<article class=\"scenario example\">\n<h3>{}</h3>", esc(caption));
        if loops.is_empty() {
            s.push_str("<p>No kernel loop ran at this point (the request never reached one).</p>\n");
        }
        for (j, l) in loops.iter().enumerate() {
            kernel_loop(&mut s, &format!("x{k}l{j}"), l);
        }
        s.push_str("</article>\n");
    }
    s.push_str(&tail());
    s
}

fn head(title: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(title)
    );
    let _ = write!(s, "<h1>{}</h1>\n<p>Made by tagmmu {}, a model of the tag-checking MMUs of arm64 MTE and SPARC ADI and of the Linux kernel loops that copy to user memory with page faults disabled.</p>\n", esc(title), env!("CARGO_PKG_VERSION"));
    s.push_str("<details><summary>Words used here (tag, granule, uaccess, page faults disabled, fault-in, live-lock, GUP)</summary>\n<dl class=\"glossary\">\n");
    for (term, def) in GLOSSARY {
        let _ = writeln!(s, "<dt>{}</dt><dd>{}</dd>", esc(term), esc(def));
    }
    s.push_str("</dl></details>\n");
    s
}

fn tail() -> String {
    format!("<script>{SCRIPT}</script>\n</body>\n</html>\n")
}

fn column(s: &mut String, k: usize, c: &Column) {
    let _ = write!(s, "<article class=\"scenario\" data-name=\"{}\">\n<h2>{}</h2>\n", esc(c.name), esc(c.name));
    let _ = writeln!(s, "<p><code>{}</code></p>", esc(c.path));
    let Some(o) = c.outcome else {
        let _ = writeln!(
            s,
            "<p class=\"verdict error\">could not run: {}</p>\n</article>",
            esc(c.error.unwrap_or("unknown error"))
        );
        return;
    };
    if let Some(d) = &o.description {
        let _ = writeln!(s, "<p>{}</p>", esc(d));
    }
    let status = if o.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(
        s,
        "<p class=\"scenario-status\">scenario {status}: every expectation {}; exit status {}.</p>",
        if o.passed() { "held" } else { "did not hold" },
        o.result.exit_code()
    );
    for (j, l) in o.result.loops.iter().enumerate() {
        kernel_loop(s, &format!("s{k}l{j}"), l);
    }
    for d in &o.result.direct_io {
        let _ = writeln!(s, "<section class=\"dio\"><h3>O_DIRECT</h3><pre>{}</pre></section>", esc(&d.narrative()));
    }
    if let Some(line) = o.result.report_line() {
        let _ = writeln!(s, "<p class=\"stop\">{}</p>", esc(&line));
    }
    if !o.result.stdout.is_empty() || !o.result.stderr.is_empty() {
        let out = String::from_utf8_lossy(&o.result.stdout);
        let err = String::from_utf8_lossy(&o.result.stderr);
        let _ = writeln!(
            s,
            "<details><summary>the program's output</summary><pre>{}{}</pre></details>",
            esc(&out),
            esc(&err)
        );
    }
    if !o.checks.is_empty() {
        s.push_str("<details><summary>the scenario's checks</summary><ul class=\"checks\">\n");
        for ch in &o.checks {
            let (class, mark) = if ch.ok { ("ok", "ok") } else { ("fail", "FAIL") };
            let _ = writeln!(
                s,
                "<li class=\"{class}\">{mark} {}: expected {}, got {}</li>",
                esc(&ch.what),
                esc(&ch.expected),
                esc(&ch.actual)
            );
        }
        s.push_str("</ul></details>\n");
    }
    s.push_str("</article>\n");
}

fn kernel_loop(s: &mut String, id: &str, r: &LoopReport) {
    let parts = r.narrative_parts();
    let _ = writeln!(
        s,
        "<section class=\"loop\" id=\"{id}\">\n<h3>{}</h3>",
        esc(parts.header.trim().trim_start_matches("== "))
    );
    let first = r.passes.iter().find_map(|p| p.before.as_ref()).or(r.end_picture.as_ref());
    if let Some(p) = first {
        let _ = writeln!(s, "<p>{}</p>", esc(terminal::pointer_line(p).trim()));
        s.push_str(&svg::legend(p));
        s.push('\n');
    }
    let (class, word) = match &r.verdict {
        Verdict::Livelock { .. } => ("livelock", "LIVE-LOCK"),
        Verdict::Completed { .. } => ("completed", "completed"),
        Verdict::BudgetExhausted => ("unproven", "no proof"),
    };
    let _ = writeln!(s, "<p class=\"verdict {class}\">verdict: {word}: {}</p>", esc(&r.reason));
    s.push_str("<div class=\"stepper\" hidden><button class=\"prev\" type=\"button\">&larr; previous pass</button><button class=\"next\" type=\"button\">next pass &rarr;</button><span class=\"where\"></span></div>\n");
    for (p, text) in r.passes.iter().zip(&parts.passes) {
        let _ = writeln!(s, "<section class=\"pass\" data-pass=\"{}\">\n<h4>pass {}</h4>", p.pass, p.pass);
        if let Some(pic) = &p.before {
            s.push_str(&svg::draw(pic, Some(&pass_marks(pic, p)), &format!("{id}p{}", p.pass)));
            s.push('\n');
        }
        s.push_str("<div class=\"narrative\">");
        for line in text.lines() {
            let line = line.trim().trim_start_matches(&format!("pass {}: ", p.pass));
            let _ = write!(s, "<p>{}</p>", esc(line));
        }
        s.push_str("</div>\n</section>\n");
    }
    proof(s, id, r);
    let footer: Vec<&str> = parts.footer.lines().skip(1).collect();
    let _ = writeln!(
        s,
        "<div class=\"footer\">{}</div>",
        footer.iter().map(|l| format!("<p>{}</p>", esc(l))).collect::<String>()
    );
    s.push_str("</section>\n");
}

fn proof(s: &mut String, id: &str, r: &LoopReport) {
    let Verdict::Livelock { cycle } = &r.verdict else { return };
    let Some(first) = r.passes.get(cycle.first_pass as usize) else { return };
    let (Some(before), Some(after)) = (&first.before, &r.end_picture) else { return };
    let digest = |d: Option<u64>| d.map(|d| format!("{d:016x}")).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        s,
        "<section class=\"proof\">\n<h4>the proof</h4>\n<p>The loop's whole state (its variables, and the buffer's bytes, tags and page presence) before pass {} and after pass {} are equal: every later pass does the same again.</p>\n<div class=\"pair\">",
        cycle.first_pass,
        cycle.repeat_pass - 1
    );
    let _ = writeln!(
        s,
        "<figure class=\"state before\">{}<figcaption>before pass {} (state digest {})</figcaption></figure>",
        svg::draw(before, None, &format!("{id}before")),
        cycle.first_pass,
        digest(first.state_digest)
    );
    let _ = writeln!(
        s,
        "<figure class=\"state after\">{}<figcaption>after pass {} (state digest {})</figcaption></figure>",
        svg::draw(after, None, &format!("{id}after")),
        cycle.repeat_pass - 1,
        digest(r.end_state_digest)
    );
    s.push_str("</div>\n</section>\n");
}

/// `t` escaped for HTML text and attribute values.
pub fn esc(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn a_column_that_could_not_run_says_why_and_the_page_is_self_contained() {
        let p = page("t <1>", &[Column { name: "bad", path: "x.yaml", outcome: None, error: Some("no <file>") }]);
        assert!(p.contains("could not run: no &lt;file&gt;"));
        assert!(p.contains("<title>t &lt;1&gt;</title>"));
        assert!(
            !p.contains("http://") || p.matches("http://").count() == p.matches("http://www.w3.org/2000/svg").count()
        );
        assert!(!p.contains("src=") && !p.contains("<link"), "nothing is fetched");
    }
}
