//! The tag map as a static SVG (no script): one square per granule (ADI block), filled with its
//! tag's colour, 64 to a row, pages divided by a line and hatched when not present; a red frame
//! on cells whose tag does not match the pointer's; triangles for fault-in probes, a bar for the
//! bytes a copy moved and a cross where it faulted. Elements carry classes (`cell mismatch`,
//! `probe ok`, `copied`, `fault`, `absent`) so a page's tests can find them.

use std::fmt::Write;

use super::{unit_name, CellMarks};
use crate::kernel_stub::loops::BufferPicture;

const CELL_W: u64 = 11;
const CELL_H: u64 = 16;
const ROW_GAP: u64 = 12;
const LABEL_W: u64 = 118;
const ROW_CELLS: usize = super::terminal::ROW_CELLS;

/// The fill colour of memory tag `t` (a 16-colour qualitative palette).
pub fn tag_colour(t: u8) -> &'static str {
    const PALETTE: [&str; 16] = [
        "#e0e0e0", "#a6cee3", "#b2df8a", "#8dd3c7", "#fdbf6f", "#fb9a99", "#cab2d6", "#ffff99", "#bebada", "#80b1d3",
        "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f", "#f4cae4",
    ];
    PALETTE[(t & 0xf) as usize]
}

/// The SVG of `picture` with the pass's `marks` (when given); `id` names it in the page.
pub fn draw(picture: &BufferPicture, marks: Option<&[CellMarks]>, id: &str) -> String {
    let cells = picture.tags.len();
    let rows = cells.div_ceil(ROW_CELLS).max(1) as u64;
    let width = LABEL_W + ROW_CELLS as u64 * CELL_W + 4;
    let height = rows * (CELL_H + ROW_GAP) + 6;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="tagmap" id="{id}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="tag map of the user buffer: {cells} {unit}s of {} bytes">"#,
        picture.unit,
        unit = unit_name(picture),
    );
    let _ = write!(
        s,
        r##"<defs><pattern id="{id}-hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="#ffffff" fill-opacity="0.35"/><line x1="0" y1="0" x2="0" y2="4" stroke="#555" stroke-width="1.5"/></pattern></defs>"##
    );
    for i in 0..cells {
        let (x, y) = cell_xy(i);
        let addr = picture.cell_addr(i);
        if i % ROW_CELLS == 0 {
            let _ = write!(
                s,
                r#"<text x="2" y="{}" font-family="monospace" font-size="11">{addr:#x}</text>"#,
                y + CELL_H - 4
            );
        }
        let (fill, class, title) = match picture.tags[i] {
            None => ("#ffffff", "cell untagged", "no tags".to_string()),
            Some(t) if picture.matches(t) => (tag_colour(t), "cell match", format!("tag {t:#x}")),
            Some(t) => (
                tag_colour(t),
                "cell mismatch",
                format!("tag {t:#x}: does not match the pointer's {:#x}", picture.ptr_tag),
            ),
        };
        let stroke = if class == "cell mismatch" {
            r##"stroke="#d00000" stroke-width="2""##
        } else {
            r##"stroke="#666" stroke-width="0.5""##
        };
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{x}" y="{y}" width="{}" height="{CELL_H}" fill="{fill}" {stroke}><title>{addr:#x}: {title}</title></rect>"#,
            CELL_W - 1
        );
        if let Some(t) = picture.tags[i].filter(|&t| !picture.matches(t)) {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" font-family="monospace" font-size="10" text-anchor="middle">{t:x}</text>"#,
                x + CELL_W / 2,
                y + CELL_H - 4
            );
        }
        if !picture.present_at(addr).unwrap_or(true) {
            let _ = write!(
                s,
                r#"<rect class="absent" x="{x}" y="{y}" width="{}" height="{CELL_H}" fill="url(#{id}-hatch)"/>"#,
                CELL_W - 1
            );
        }
        if addr.is_multiple_of(picture.page_size) && i % ROW_CELLS != 0 {
            let _ = write!(
                s,
                r##"<line class="page" x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#000" stroke-width="2"/>"##,
                x - 1,
                y - 3,
                y + CELL_H + 3
            );
        }
        let Some(m) = marks.and_then(|m| m.get(i)) else { continue };
        if m.copied > 0 {
            let w = (CELL_W * m.copied).div_ceil(picture.unit).max(1);
            let _ = write!(
                s,
                r##"<rect class="copied" x="{x}" y="{}" width="{w}" height="4" fill="#1f4fd0"><title>{} byte(s) copied</title></rect>"##,
                y + CELL_H + 1,
                m.copied
            );
        }
        if let Some(ok) = m.probe {
            let (class, fill) = if ok { ("probe ok", "#008a3e") } else { ("probe failed", "#d00000") };
            let _ = write!(
                s,
                r#"<polygon class="{class}" points="{},{} {},{} {},{}" fill="{fill}"><title>fault-in probe{}</title></polygon>"#,
                x,
                y + CELL_H + 9,
                x + CELL_W - 1,
                y + CELL_H + 9,
                x + CELL_W / 2,
                y + CELL_H + 2,
                if ok { "" } else { " (failed)" }
            );
        }
        if m.fault {
            let _ = write!(
                s,
                r##"<g class="fault" stroke="#d00000" stroke-width="2.5"><line x1="{x}" y1="{y}" x2="{}" y2="{}"/><line x1="{}" y1="{y}" x2="{x}" y2="{}"/><title>the copy faulted here</title></g>"##,
                x + CELL_W - 1,
                y + CELL_H,
                x + CELL_W - 1,
                y + CELL_H
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn cell_xy(i: usize) -> (u64, u64) {
    let col = (i % ROW_CELLS) as u64;
    let row = (i / ROW_CELLS) as u64;
    (LABEL_W + col * CELL_W, 3 + row * (CELL_H + ROW_GAP))
}

/// A small SVG legend for pictures of `picture`'s kind.
pub fn legend(picture: &BufferPicture) -> String {
    let tag = if picture.scheme == "ADI" { "version" } else { "tag" };
    let mut s = String::from(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="legend" width="760" height="44" viewBox="0 0 760 44" font-family="sans-serif" font-size="12">"#,
    );
    let items: [(&str, String); 5] = [
        (
            "match",
            format!(r##"<rect x="0" y="4" width="10" height="16" fill="{}" stroke="#666" stroke-width="0.5"/>"##, tag_colour(picture.ptr_tag)),
        ),
        (
            "mismatch",
            format!(r##"<rect x="0" y="4" width="10" height="16" fill="{}" stroke="#d00000" stroke-width="2"/>"##, tag_colour(5)),
        ),
        ("probe", r##"<polygon points="0,20 10,20 5,12" fill="#008a3e"/>"##.to_string()),
        ("copied", r##"<rect x="0" y="16" width="10" height="4" fill="#1f4fd0"/>"##.to_string()),
        (
            "fault",
            r##"<g stroke="#d00000" stroke-width="2.5"><line x1="0" y1="4" x2="10" y2="20"/><line x1="10" y1="4" x2="0" y2="20"/></g>"##.to_string(),
        ),
    ];
    let words = [
        format!("{tag} matches the pointer's ({:#x})", picture.ptr_tag),
        format!("another {tag}: an access faults"),
        "fault-in probe".to_string(),
        "bytes copied".to_string(),
        "copy faulted".to_string(),
    ];
    for (k, ((_, shape), text)) in items.iter().zip(words.iter()).enumerate() {
        let x = 4 + (k as u64 % 3) * 250;
        let y = (k as u64 / 3) * 22;
        let _ = write!(s, r#"<g transform="translate({x},{y})">{shape}<text x="16" y="16">{text}</text></g>"#);
    }
    s.push_str(r##"<g transform="translate(504,22)"><rect x="0" y="4" width="10" height="16" fill="url(#legend-hatch)" stroke="#666" stroke-width="0.5"/><text x="16" y="16">page not present</text></g>"##);
    s.push_str(r##"<defs><pattern id="legend-hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="4" stroke="#555" stroke-width="1.5"/></pattern></defs>"##);
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_has_a_cell_per_granule_and_marks_the_fault() {
        let p = crate::tagmap::sample_picture(vec![Some(3), Some(5), Some(3), None], vec![false]);
        let mut m = vec![CellMarks::default(); 4];
        m[0] = CellMarks { probe: Some(true), copied: 8, fault: false };
        m[1].fault = true;
        let s = draw(&p, Some(&m), "p0");
        assert_eq!(s.matches("class=\"cell ").count(), 4);
        assert_eq!(s.matches("class=\"cell mismatch\"").count(), 1);
        assert_eq!(s.matches("class=\"fault\"").count(), 1);
        assert_eq!(s.matches("class=\"probe ok\"").count(), 1);
        assert_eq!(s.matches("class=\"absent\"").count(), 4);
        assert!(s.contains("width=\"6\" height=\"4\""), "8 of 16 bytes copied: half a cell");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
    }
}
