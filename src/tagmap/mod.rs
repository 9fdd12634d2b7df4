//! Pictures of a kernel loop's user buffer, one cell per 16-byte MTE granule (64-byte ADI
//! block): the cell's allocation tag against the pointer's, the pages' presence, the bytes
//! `fault_in_*()` probed, how far the copies got and where they faulted. Drawn for the terminal
//! ([`terminal`]) and as SVG for the report page ([`svg`]), from the data a loop's run keeps
//! ([`crate::kernel_stub::loops::BufferPicture`] and the pass's events).

pub mod svg;
pub mod terminal;

use crate::kernel_stub::loops::{BufferPicture, LoopEvent, PassLog};
use crate::kernel_stub::mm::UserProbe;

/// What happened to one cell during a pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CellMarks {
    /// A fault-in probe touched the cell: `Some(true)` when every probe there succeeded,
    /// `Some(false)` when one failed.
    pub probe: Option<bool>,
    /// Bytes of the cell a copy moved (0 to the cell size).
    pub copied: u64,
    /// A copy's access faulted in this cell.
    pub fault: bool,
}

/// What a pass did to each cell of `picture`: its probes, copies and faults.
pub fn pass_marks(picture: &BufferPicture, pass: &PassLog) -> Vec<CellMarks> {
    let mut marks = vec![CellMarks::default(); picture.tags.len()];
    mark_probes(picture, &pass.probes, &mut marks);
    for e in &pass.events {
        if let LoopEvent::Copy { start, copied, fault, .. } = e {
            let from = picture.untag(*start);
            mark_bytes(picture, from, from.saturating_add(*copied), &mut marks);
            if let Some(i) = fault.and_then(|f| picture.cell_of(f.addr)) {
                marks[i].fault = true;
            }
        }
    }
    marks
}

fn mark_probes(picture: &BufferPicture, probes: &[UserProbe], marks: &mut [CellMarks]) {
    for p in probes {
        if let Some(i) = picture.cell_of(p.addr) {
            let m = &mut marks[i];
            m.probe = Some(m.probe.unwrap_or(true) && p.ok);
        }
    }
}

/// Count the bytes of `[from, to)` (untagged) into the cells they fall in.
fn mark_bytes(picture: &BufferPicture, from: u64, to: u64, marks: &mut [CellMarks]) {
    let unit = picture.unit;
    let mut a = from.max(picture.base);
    let end = to.min(picture.cell_addr(marks.len()));
    while a < end {
        let Some(i) = picture.cell_of(a) else { break };
        let cell_end = picture.cell_addr(i) + unit;
        let n = cell_end.min(end) - a;
        marks[i].copied = (marks[i].copied + n).min(unit);
        a += n;
    }
}

/// The words for a cell's unit: `granule` (MTE) or `block` (ADI).
pub fn unit_name(picture: &BufferPicture) -> &'static str {
    if picture.scheme == "ADI" {
        "ADI block"
    } else {
        "granule"
    }
}

/// A picture for the renderers' tests: an MTE buffer at 0x1000_0008 (pointer tag 3), cells
/// from 0x1000_0000 with `tags`, pages with `present`.
#[cfg(test)]
pub(crate) fn sample_picture(tags: Vec<Option<u8>>, present: Vec<bool>) -> BufferPicture {
    BufferPicture {
        scheme: "MTE",
        unit: 16,
        page_size: 4096,
        tag_shift: 56,
        match_all: 0,
        ubuf: 0x0300_0000_1000_0008,
        buf_start: 0x1000_0008,
        buf_len: tags.len() as u64 * 16 - 8,
        ptr_tag: 3,
        base: 0x1000_0000,
        tags,
        present,
        cells_left_out: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::loops::{CopyDir, FaultCause, FaultSite, PassLog};

    fn picture() -> BufferPicture {
        sample_picture(vec![Some(3), Some(5), Some(3), Some(3), Some(3)], vec![true])
    }

    #[test]
    fn marks_follow_probes_copies_and_faults() {
        let p = picture();
        let pass = PassLog {
            pass: 0,
            position: 0,
            events: vec![LoopEvent::Copy {
                func: "copy_to_user_nofault".into(),
                what: "a header".into(),
                dir: CopyDir::ToUser,
                start: p.ubuf,
                len: 32,
                copied: 8,
                fault: Some(FaultSite {
                    addr: 0x1000_0010,
                    ptr_tag: 3,
                    mem_tag: Some(5),
                    cause: FaultCause::TagMismatch,
                }),
            }],
            position_after: 0,
            before: None,
            probes: vec![
                UserProbe { addr: 0x1000_0008, write: true, ok: true },
                UserProbe { addr: 0x1000_0040, write: false, ok: true },
                UserProbe { addr: 0x1000_0041, write: false, ok: false },
            ],
            state_digest: None,
        };
        let m = pass_marks(&p, &pass);
        assert_eq!(m[0], CellMarks { probe: Some(true), copied: 8, fault: false });
        assert_eq!(m[1], CellMarks { probe: None, copied: 0, fault: true });
        assert_eq!(m[4].probe, Some(false), "one failed probe marks the cell failed");
        assert_eq!(m[2], CellMarks::default());
    }
}
