//! What a kernel loop's user buffer looked like at the start of a pass: the allocation tag
//! (ADI version) of each 16-byte granule (64-byte block), the pages' presence, the pointer's
//! tag. With the pass's fault-in probes and copies ([`super::PassLog`]), it is everything the
//! pictures of `tagmmu run` and its report page draw, as data (`--json`).
//!
//! Pictures are bounded: at most [`MAX_CELLS`] cells per picture and pictures for the first
//! [`MAX_PICTURED_PASSES`] passes (plus the state the run ended in), so a loop over a huge
//! buffer or a long run costs a fixed amount of memory.

use serde::Serialize;

use crate::kernel_stub::Kernel;

/// Cells (granules or ADI blocks) a picture holds at most; the rest are counted, not drawn.
pub const MAX_CELLS: u64 = 4096;

/// Passes that get a picture at most (the proof's passes come first in every loop modelled).
pub const MAX_PICTURED_PASSES: usize = 64;

/// The user buffer's tags and pages at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BufferPicture {
    /// The tag architecture: `MTE` (16-byte granules, tag in bits 59:56) or `ADI` (64-byte
    /// blocks, version in bits 63:60).
    pub scheme: &'static str,
    /// Bytes per cell: the granule (block) size.
    pub unit: u64,
    /// The page size.
    pub page_size: u64,
    /// Bit position of the pointer's 4-bit tag.
    pub tag_shift: u32,
    /// Memory tags that match every pointer tag (ADI's 0 and 15), as a bit mask.
    pub match_all: u16,
    /// The buffer as the loop was given it (tagged pointer).
    pub ubuf: u64,
    /// The buffer's untagged start.
    pub buf_start: u64,
    /// Its length.
    pub buf_len: u64,
    /// The pointer's tag (ADI: version).
    pub ptr_tag: u8,
    /// The first byte of the first cell: `buf_start` rounded down to the granule.
    pub base: u64,
    /// The memory tag of each cell from `base`; `None` where the memory carries no tags
    /// (a mapping without PROT_MTE / ADI, or no mapping).
    pub tags: Vec<Option<u8>>,
    /// The presence of each page from the one holding `base`.
    pub present: Vec<bool>,
    /// Cells past [`MAX_CELLS`] not drawn.
    pub cells_left_out: u64,
}

impl BufferPicture {
    /// Does the cell's memory tag let the pointer's tag through?
    pub fn matches(&self, mem_tag: u8) -> bool {
        mem_tag == self.ptr_tag || self.match_all & (1 << mem_tag) != 0
    }

    /// The untagged address of cell `i`.
    pub fn cell_addr(&self, i: usize) -> u64 {
        self.base + i as u64 * self.unit
    }

    /// The cell holding the untagged address `addr`, if drawn.
    pub fn cell_of(&self, addr: u64) -> Option<usize> {
        let i = addr.checked_sub(self.base)? / self.unit;
        ((i as usize) < self.tags.len()).then_some(i as usize)
    }

    /// Is the page holding the untagged address `addr` present? (`None` outside the picture.)
    pub fn present_at(&self, addr: u64) -> Option<bool> {
        let first = self.base & !(self.page_size - 1);
        let i = addr.checked_sub(first)? / self.page_size;
        self.present.get(i as usize).copied()
    }

    /// `ptr` split into its tag and its address, as tagmmu writes pointers to people:
    /// `0x3:0xfffff77fd068` (tag, then the untagged address).
    pub fn split_pointer(&self, ptr: u64) -> String {
        split_pointer(ptr, self.tag_shift)
    }

    /// `ptr` without its tag bits.
    pub fn untag(&self, ptr: u64) -> u64 {
        untag(ptr, self.tag_shift)
    }
}

/// `ptr` as `TAG:ADDRESS` (`0x3:0xfffff77fd068`): the 4-bit tag at `tag_shift` and the
/// address with every bit from `tag_shift` up cleared (MTE's top-byte ignore; ADI's top 4 bits).
pub fn split_pointer(ptr: u64, tag_shift: u32) -> String {
    format!("{:#x}:{:#x}", (ptr >> tag_shift) & 0xf, untag(ptr, tag_shift))
}

/// `ptr` with every bit from `tag_shift` up cleared.
pub fn untag(ptr: u64, tag_shift: u32) -> u64 {
    ptr & ((1u64 << tag_shift) - 1)
}

impl Kernel {
    /// The picture of the user buffer `(ubuf, len)` (tagged pointer) now.
    pub fn buffer_picture(&self, ubuf: u64, len: u64) -> BufferPicture {
        let scheme = self.mm.layout().tags;
        let unit = scheme.granule;
        let page_size = self.mm.page_size();
        let buf_start = self.mm.untag(ubuf).unwrap_or(ubuf);
        let base = buf_start - buf_start % unit;
        let end = buf_start.saturating_add(len);
        let all_cells = end.saturating_sub(base).div_ceil(unit).max(1);
        let cells = all_cells.min(MAX_CELLS);
        let tags = (0..cells).map(|i| self.mm.tag_at(base + i * unit)).collect();
        let drawn_end = base + cells * unit;
        let first_page = base & !(page_size - 1);
        let present = (first_page..drawn_end).step_by(page_size as usize).map(|p| self.mm.is_present(p)).collect();
        BufferPicture {
            scheme: if unit == 64 { "ADI" } else { "MTE" },
            unit,
            page_size,
            tag_shift: scheme.tag_shift,
            match_all: scheme.match_all,
            ubuf,
            buf_start,
            buf_len: len,
            ptr_tag: scheme.pointer_tag(ubuf),
            base,
            tags,
            present,
            cells_left_out: all_cells - cells,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::loops::testing::{tag3, tagged_kernel};

    #[test]
    fn a_picture_holds_the_granules_tags_and_pages_of_the_buffer() {
        let (k, a) = tagged_kernel("5.16", 2, 0x70, true);
        let p = k.buffer_picture(tag3(a + 0x68), 4096);
        assert_eq!((p.base, p.unit, p.ptr_tag), (a + 0x60, 16, 3));
        // 0x68 + 4096 bytes end at a + 0x1068: granules 0x60..0x1070.
        assert_eq!(p.tags.len(), (0x1070 - 0x60) / 16);
        assert_eq!(p.tags[0], Some(3));
        assert_eq!(p.tags[1], Some(9), "the bad granule at +0x70");
        assert!(!p.matches(9) && p.matches(3));
        assert_eq!(p.present, vec![true, true]);
        assert_eq!(p.cell_of(a + 0x7f), Some(1));
        assert_eq!(p.cell_of(a), None);
        assert_eq!(p.split_pointer(tag3(a + 0x68)), format!("0x3:{:#x}", a + 0x68));
    }

    #[test]
    fn pictures_are_bounded_and_show_absent_pages() {
        let (k, a) = tagged_kernel("5.16", 100, 0, false);
        let p = k.buffer_picture(tag3(a), 100 * 4096);
        assert_eq!(p.tags.len() as u64, MAX_CELLS);
        assert_eq!(p.cells_left_out, 100 * 256 - MAX_CELLS);
        assert_eq!(p.present.len() as u64, MAX_CELLS * 16 / 4096);
        assert!(p.present.iter().all(|&x| !x));
    }

    #[test]
    fn adi_pointers_split_at_bit_60() {
        assert_eq!(split_pointer(0x3000_07fe_f77f_c068, 60), "0x3:0x7fef77fc068");
        assert_eq!(split_pointer(0x0300_ffff_f77f_d068, 56), "0x3:0xfffff77fd068");
    }
}
