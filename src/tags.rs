//! What MTE and ADI have in common: a tag scheme (granule size, where the pointer carries
//! its tag, which memory tags match any pointer) and tag storage (a 4-bit tag per granule).

use crate::zeroed_bytes::ZeroedBytes;

/// A tag scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagScheme {
    /// Bytes per tag granule (16 for MTE, 64 for ADI).
    pub granule: u64,
    /// Bit position of the 4-bit pointer tag (56 for MTE, 60 for ADI).
    pub tag_shift: u32,
    /// Memory tags that match any pointer tag, as a bit mask (none for MTE user space;
    /// 0 and 15 for ADI).
    pub match_all: u16,
}

/// arm64 MTE as Linux configures it for user space: no match-all tag (TCMA0 is clear).
pub const MTE: TagScheme = TagScheme { granule: 16, tag_shift: 56, match_all: 0 };
/// SPARC M7 ADI: versions 0 and 15 match everything.
pub const ADI: TagScheme = TagScheme { granule: 64, tag_shift: 60, match_all: (1 << 0) | (1 << 15) };

impl TagScheme {
    /// The tag a pointer carries.
    pub fn pointer_tag(&self, ptr: u64) -> u8 {
        ((ptr >> self.tag_shift) & 0xf) as u8
    }
    /// `ptr` with its tag replaced by `tag`.
    pub fn with_tag(&self, ptr: u64, tag: u8) -> u64 {
        (ptr & !(0xf << self.tag_shift)) | ((tag as u64 & 0xf) << self.tag_shift)
    }
    /// Does a pointer tag match a memory tag?
    pub fn matches(&self, ptr_tag: u8, mem_tag: u8) -> bool {
        ptr_tag == mem_tag || self.match_all & (1 << mem_tag) != 0
    }
    /// The granule holding `addr`.
    pub fn granule_of(&self, addr: u64) -> u64 {
        addr & !(self.granule - 1)
    }
}

/// Tag storage for one block of memory: one tag (low nibble of a byte) per granule.
///
/// The storage is committed on write (a zero-initialised `ZeroedBytes`): a huge mapping
/// whose memory is reserved but never touched costs no host memory for its tags either.
#[derive(Debug)]
pub struct TagStore {
    granule: u64,
    tags: ZeroedBytes,
}

impl TagStore {
    /// Storage for `len` bytes of memory, every tag 0 (as on freshly mapped pages). Fails
    /// when the host refuses the address space for it.
    pub fn new(len: u64, granule: u64) -> std::io::Result<TagStore> {
        let n = usize::try_from(len.div_ceil(granule))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        Ok(TagStore { granule, tags: ZeroedBytes::new(n)? })
    }
    /// The granule size in bytes.
    pub fn granule(&self) -> u64 {
        self.granule
    }
    /// The tag of the granule holding byte `offset`.
    pub fn get(&self, offset: u64) -> u8 {
        self.tags[(offset / self.granule) as usize]
    }
    /// The tags of the granules holding bytes `[offset, offset + len)` (clipped to the
    /// store), one per granule.
    pub fn granules(&self, offset: u64, len: u64) -> &[u8] {
        let first = ((offset / self.granule) as usize).min(self.tags.len());
        let end = (offset.saturating_add(len).div_ceil(self.granule) as usize).clamp(first, self.tags.len());
        &self.tags[first..end]
    }
    /// [`Self::granules`], writable.
    pub fn granules_mut(&mut self, offset: u64, len: u64) -> &mut [u8] {
        let first = ((offset / self.granule) as usize).min(self.tags.len());
        let end = (offset.saturating_add(len).div_ceil(self.granule) as usize).clamp(first, self.tags.len());
        &mut self.tags[first..end]
    }
    /// Set the tag of the granule holding byte `offset`.
    pub fn set(&mut self, offset: u64, tag: u8) {
        self.tags[(offset / self.granule) as usize] = tag & 0xf;
    }
    /// Set every granule overlapping `[offset, offset+len)` to `tag`.
    pub fn fill(&mut self, offset: u64, len: u64, tag: u8) {
        if len == 0 {
            return;
        }
        let first = (offset / self.granule) as usize;
        let last = ((offset + len - 1) / self.granule) as usize;
        if tag & 0xf == 0 {
            // Zeroing gives whole host pages of a large store back instead of writing them.
            self.tags.zero(first..last + 1);
        } else {
            self.tags[first..=last].fill(tag & 0xf);
        }
    }
    /// The first granule in `[offset, offset+len)` whose tag does not match `ptr_tag` under
    /// `scheme`, as the offset of the first byte of the access inside it.
    pub fn first_mismatch(&self, scheme: &TagScheme, offset: u64, len: u64, ptr_tag: u8) -> Option<u64> {
        if len == 0 {
            return None;
        }
        // One pass over the granules' tags (a TLB fill checks a whole page: 256 of them), no
        // division per granule.
        let first = offset / self.granule;
        let tags = self.granules(offset, len);
        let bad = tags.iter().position(|&t| !scheme.matches(ptr_tag, t))?;
        Some(((first + bad as u64) * self.granule).max(offset))
    }
    /// The tags of `[offset, offset+len)`, one per granule.
    pub fn dump(&self, offset: u64, len: u64) -> Vec<u8> {
        if len == 0 {
            return Vec::new();
        }
        let first = (offset / self.granule) as usize;
        let last = ((offset + len - 1) / self.granule) as usize;
        self.tags[first..=last].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tags_and_matching() {
        assert_eq!(MTE.pointer_tag(0x0500_0000_0000_1234), 5);
        assert_eq!(MTE.pointer_tag(0xf000_0000_0000_1234), 0, "bits 63:60 are not the MTE tag");
        assert_eq!(ADI.pointer_tag(0xa000_0000_0000_1234), 0xa);
        assert_eq!(MTE.with_tag(0x0500_0000_0000_1234, 3), 0x0300_0000_0000_1234);
        assert!(!MTE.matches(0, 5), "no match-all tag for MTE user space");
        assert!(ADI.matches(3, 0) && ADI.matches(3, 15) && !ADI.matches(3, 4));
    }

    #[test]
    fn store_fill_and_first_mismatch() {
        let mut s = TagStore::new(4096, 16).unwrap();
        s.fill(32, 20, 7);
        assert_eq!(s.dump(0, 80), vec![0, 0, 7, 7, 0]);
        assert_eq!(s.first_mismatch(&MTE, 0, 64, 0), Some(32));
        assert_eq!(s.first_mismatch(&MTE, 40, 8, 7), None);
        assert_eq!(s.first_mismatch(&MTE, 44, 8, 7), None);
        assert_eq!(s.first_mismatch(&MTE, 60, 8, 7), Some(64), "an access spanning into a 0 granule");
        assert_eq!(s.first_mismatch(&MTE, 30, 4, 7), Some(30));
    }
}
