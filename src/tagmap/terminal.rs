//! The tag map in a terminal: one character per granule (ADI block), 64 to a row, a `|` at
//! each page boundary, and under it a line of marks for what the pass did there.
//!
//! ```text
//!     0xfffff77fd060  .5..............................................................
//!                     p=X
//! ```
//!
//! A cell whose memory tag lets the pointer through is `.`, any other shows its tag in hex, `-`
//! memory without tags. Marks: `p` a fault-in probe that succeeded, `!` one that failed, `=`
//! bytes a copy moved (`-` part of the cell), `X` where a copy faulted, `_` a page that is not
//! present. Colour (green for matching cells, red for the rest and for faults) only when the
//! output is a terminal and `NO_COLOR` is not set; the characters alone carry everything.

use std::fmt::Write;

use super::{pass_marks, unit_name, CellMarks};
use crate::kernel_stub::loops::{BufferPicture, LoopReport, Verdict};

/// Cells per row.
pub const ROW_CELLS: usize = 64;

/// Colour or plain ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Use ANSI colours.
    pub color: bool,
}

impl Style {
    /// Plain ASCII.
    pub const PLAIN: Style = Style { color: false };

    /// Colour when `is_terminal` and the `NO_COLOR` convention (<https://no-color.org>) is not
    /// in force.
    pub fn for_output(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { color: is_terminal && !no_color }
    }

    fn paint(self, s: &str, code: &str) -> String {
        if self.color && !code.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

const GREEN: &str = "32";
const RED: &str = "1;31";
const DIM: &str = "2";
const CYAN: &str = "36";

/// The legend for pictures of `picture`'s kind.
pub fn legend(picture: &BufferPicture, style: Style) -> String {
    let unit = unit_name(picture);
    let tag = if picture.scheme == "ADI" { "version" } else { "tag" };
    format!(
        "tag map: one character per {}-byte {unit}, 64 to a row, | between pages. {} {unit} whose {tag} matches the pointer's ({:#x}{}), \
         {} another {tag} (shown in hex; an access there faults), - memory without {tag}s.\n\
         marks under it: {} fault-in probe, {} failed probe, {} bytes a copy moved ({} part of the {unit}), {} where the copy faulted, _ page not present.\n",
        picture.unit,
        style.paint(".", GREEN),
        picture.ptr_tag,
        if picture.match_all != 0 { ", or 0x0 / 0xf, which match every version" } else { "" },
        style.paint("5", RED),
        style.paint("p", CYAN),
        style.paint("!", RED),
        style.paint("=", CYAN),
        style.paint("-", CYAN),
        style.paint("X", RED),
    )
}

/// The picture drawn, with the pass's `marks` under it when given. Runs of rows identical to
/// the one before (tags and marks) are folded into one line.
pub fn draw(picture: &BufferPicture, marks: Option<&[CellMarks]>, style: Style) -> String {
    let mut out = String::new();
    let mut folded = 0usize;
    let mut previous: Option<(String, String)> = None;
    for row_start in (0..picture.tags.len()).step_by(ROW_CELLS) {
        let row_end = (row_start + ROW_CELLS).min(picture.tags.len());
        let (tags, marked) = row(picture, marks, row_start..row_end, style);
        let plain = (strip(&tags), strip(&marked));
        if previous.as_ref() == Some(&plain) {
            folded += 1;
            continue;
        }
        flush_folded(&mut out, &mut folded, picture.unit);
        let _ = writeln!(out, "    {:#014x}  {tags}", picture.cell_addr(row_start));
        if plain.1.chars().any(|c| c != ' ' && c != '|') {
            let _ = writeln!(out, "    {:14}  {}", "", marked.trim_end());
        }
        previous = Some(plain);
    }
    flush_folded(&mut out, &mut folded, picture.unit);
    if picture.cells_left_out > 0 {
        let _ = writeln!(out, "    ({} more {}s of the buffer not drawn)", picture.cells_left_out, unit_name(picture));
    }
    out
}

fn flush_folded(out: &mut String, folded: &mut usize, unit: u64) {
    if *folded > 0 {
        let bytes = *folded as u64 * ROW_CELLS as u64 * unit;
        let _ = writeln!(out, "    {:14}  ({} more row(s) like the one above, {bytes} bytes)", "", *folded);
        *folded = 0;
    }
}

/// One row: the tags line and the marks line.
fn row(
    picture: &BufferPicture,
    marks: Option<&[CellMarks]>,
    cells: std::ops::Range<usize>,
    style: Style,
) -> (String, String) {
    let (mut tags, mut marked) = (String::new(), String::new());
    for i in cells.clone() {
        let addr = picture.cell_addr(i);
        if i != cells.start && addr.is_multiple_of(picture.page_size) {
            tags.push('|');
            marked.push('|');
        }
        let present = picture.present_at(addr).unwrap_or(true);
        let (c, code) = match picture.tags[i] {
            None => ("-".to_string(), DIM),
            Some(t) if picture.matches(t) => (".".to_string(), if present { GREEN } else { DIM }),
            Some(t) => (format!("{t:x}"), RED),
        };
        tags.push_str(&style.paint(&c, code));
        let m = marks.and_then(|m| m.get(i)).copied().unwrap_or_default();
        let (mark, code) = if m.fault {
            ("X", RED)
        } else if m.probe == Some(false) {
            ("!", RED)
        } else if m.probe == Some(true) {
            ("p", CYAN)
        } else if m.copied == picture.unit {
            ("=", CYAN)
        } else if m.copied > 0 {
            ("-", CYAN)
        } else if !present {
            ("_", DIM)
        } else {
            (" ", "")
        };
        marked.push_str(&style.paint(mark, code));
    }
    (tags, marked)
}

/// How a pointer splits: `pointer 0x3:0xfffff77fd068 = tag 0x3 (bits 59:56) + address ...`.
pub fn pointer_line(picture: &BufferPicture) -> String {
    let (tag, bits) = if picture.scheme == "ADI" { ("version", "63:60") } else { ("tag", "59:56") };
    let cells = picture.tags.len() as u64 + picture.cells_left_out;
    format!(
        "the pointer {:#x} is {tag} {:#x} (bits {bits}) + address {:#x}, written {}; the buffer spans {cells} {}s of {} bytes from {:#x}.\n",
        picture.ubuf,
        picture.ptr_tag,
        picture.buf_start,
        picture.split_pointer(picture.ubuf),
        unit_name(picture),
        picture.unit,
        picture.base
    )
}

/// A loop's narrative with the tag map of each pass drawn under its lines, the legend once,
/// and, for a proven live-lock, the state the proof found repeated.
pub fn narrative_with_maps(r: &LoopReport, style: Style) -> String {
    let parts = r.narrative_parts();
    let mut s = parts.header;
    if let Some(p) = r.passes.iter().find_map(|p| p.before.as_ref()).or(r.end_picture.as_ref()) {
        s.push_str(&pointer_line(p));
        s.push_str(&legend(p, style));
    }
    for (pass, text) in r.passes.iter().zip(&parts.passes) {
        s.push_str(text);
        if let Some(pic) = &pass.before {
            let _ = writeln!(s, "  the buffer during pass {}:", pass.pass);
            s.push_str(&draw(pic, Some(&pass_marks(pic, pass)), style));
        }
    }
    if r.passes.len() > crate::kernel_stub::loops::picture::MAX_PICTURED_PASSES {
        let _ = writeln!(
            s,
            "  (tag maps are drawn for the first {} passes)",
            crate::kernel_stub::loops::picture::MAX_PICTURED_PASSES
        );
    }
    s.push_str(&proof(r, style));
    s.push_str(&parts.footer);
    s
}

/// For a proven live-lock: the state before the cycle's first pass and the state the run
/// ended in, which the proof found equal, with their digests.
fn proof(r: &LoopReport, style: Style) -> String {
    let Verdict::Livelock { cycle } = &r.verdict else { return String::new() };
    let Some(first) = r.passes.get(cycle.first_pass as usize) else { return String::new() };
    let (Some(a), Some(b)) = (first.state_digest, r.end_state_digest) else { return String::new() };
    let mut s = format!(
        "the proof: the loop's whole state before pass {} (digest {a:016x}) and after pass {} (digest {b:016x}) are equal{}.\n",
        cycle.first_pass,
        cycle.repeat_pass - 1,
        if a == b { "" } else { " (the digests differ: this is a bug, please report it)" }
    );
    if let Some(end) = &r.end_picture {
        let _ = writeln!(
            s,
            "  the buffer after pass {} (what pass {} will find):",
            cycle.repeat_pass - 1,
            cycle.repeat_pass
        );
        s.push_str(&draw(end, None, style));
    }
    s
}

/// `s` without ANSI colour sequences.
pub fn strip(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(cells: usize) -> BufferPicture {
        let mut tags = vec![Some(3); cells];
        tags[1] = Some(5);
        crate::tagmap::sample_picture(tags, vec![true, false])
    }

    #[test]
    fn a_row_shows_the_mistagged_granule_and_the_marks() {
        let p = picture(64);
        let mut m = vec![CellMarks::default(); 64];
        m[0] = CellMarks { probe: Some(true), copied: 8, fault: false };
        m[1].fault = true;
        let s = draw(&p, Some(&m), Style::PLAIN);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2, "{s}");
        assert!(lines[0].ends_with(&format!(".5{}", ".".repeat(62))), "{s}");
        assert!(lines[1].trim_start().starts_with("pX"), "{s}");
        assert!(!s.contains('\x1b'), "plain output has no colour");
    }

    #[test]
    fn pages_are_separated_absent_ones_marked_and_runs_folded() {
        // Two pages of 256 granules; the second is absent.
        let p = picture(512);
        let s = draw(&p, None, Style::PLAIN);
        assert!(s.contains("(2 more row(s) like the one above, 2048 bytes)"), "{s}");
        // Page 2 starts a row: its tags are dim dots, its marks underscores.
        assert!(s.contains(&"_".repeat(64)), "{s}");
        assert!(!s.contains('|'), "rows are page aligned here: {s}");
        let colored = draw(&p, None, Style { color: true });
        assert!(colored.contains("\x1b[1;31m5\x1b[0m"));
        assert_eq!(strip(&colored), s);
    }

    #[test]
    fn a_page_boundary_inside_a_row_is_drawn() {
        let mut p = picture(64);
        p.base = 0x1000_0000 - 32 * 16;
        p.present = vec![true, true];
        let s = draw(&p, None, Style::PLAIN);
        assert_eq!(s.lines().next().unwrap().matches('|').count(), 1, "{s}");
    }
}
