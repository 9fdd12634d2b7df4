//! The page walks of TLB fills, remembered until the address space changes.
//!
//! A tag-checked page is entered in QEMU's TLB once per pointer tag (the tag is part of the
//! virtual address), so a heap under glibc's tagging, with a fresh tag per chunk, fills the
//! TLB for the same page again and again: 270,000 fills in a run of the heap benchmark, each
//! a walk of the kernel model's mappings, segments and page states. The walk's answer for a
//! page depends only on the address space, which bumps its generation whenever mappings,
//! permissions or residency change; so it is kept per (untagged page, kind of access) for
//! the generation it was found in, in a direct-mapped table of fixed size (no clearing when
//! the generation changes: each slot carries its own). Only answers that hold that long are
//! kept ([`UserPage::stable`]: not a file's page cache, whose end can move under the mapping).

use crate::kernel_stub::mm::{Access, UserPage};

/// Slots of the direct-mapped cache (a power of two): a page's slot is picked by its page
/// number and the kind of access; a walk that lands on a taken slot replaces what was there.
const SLOTS: usize = 4096;

/// One kept walk: the key (page and access), the generation it was found in, the answer.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u64,
    generation: u64,
    page: UserPage,
}

/// Walks of the address space, each valid for the generation it was found in.
#[derive(Debug, Default)]
pub(crate) struct WalkCache {
    /// Allocated at the first walk kept (a machine that never fills a TLB pays nothing).
    slots: Vec<Option<Slot>>,
}

impl WalkCache {
    fn key(page_va: u64, access: Access) -> u64 {
        page_va
            | match access {
                Access::Read => 0,
                Access::Write => 1,
                Access::Fetch => 2,
            }
    }

    fn index(key: u64) -> usize {
        // Page number and access in the low bits; folding the high half in spreads mappings
        // that lie far apart.
        let k = (key >> 12) ^ ((key & 3) << 10) ^ (key >> 30);
        (k as usize) & (SLOTS - 1)
    }

    /// The walk of the page at `page_va` (untagged, page-aligned) for `access` in address-space
    /// generation `generation`, if one was kept; its `pa` is the page's.
    pub fn get(&self, generation: u64, page_va: u64, access: Access) -> Option<UserPage> {
        let key = Self::key(page_va, access);
        match self.slots.get(Self::index(key)) {
            Some(Some(s)) if s.key == key && s.generation == generation => Some(s.page),
            _ => None,
        }
    }

    /// Keep the walk `page` (its `pa` the page's) of `page_va` for `access`, found in
    /// `generation`, if it is stable.
    pub fn put(&mut self, generation: u64, page_va: u64, access: Access, page: UserPage) {
        if !page.stable {
            return;
        }
        if self.slots.is_empty() {
            self.slots = vec![None; SLOTS];
        }
        let key = Self::key(page_va, access);
        self.slots[Self::index(key)] = Some(Slot { key, generation, page });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;
    use crate::kernel_stub::mm::Prot;

    fn page(stable: bool) -> UserPage {
        UserPage { pa: PhysAddr(0x5000), prot: Prot::RW, tag_storage: true, stable }
    }

    #[test]
    fn walks_are_kept_per_access_for_their_generation_only() {
        let mut c = WalkCache::default();
        assert_eq!(c.get(0, 0x1000, Access::Read), None);
        c.put(0, 0x1000, Access::Read, page(true));
        assert_eq!(c.get(0, 0x1000, Access::Read), Some(page(true)));
        assert_eq!(c.get(0, 0x1000, Access::Write), None, "a write walks again");
        assert_eq!(c.get(1, 0x1000, Access::Read), None, "the address space changed");
        assert_eq!(c.get(0, 0x1000 + (SLOTS as u64) * 0x1000, Access::Read), None, "another page, same slot");
        c.put(1, 0x2000, Access::Read, page(false));
        assert_eq!(c.get(1, 0x2000, Access::Read), None, "a file's page cache is walked each time");
    }

    #[test]
    fn a_walk_replaces_the_one_in_its_slot() {
        let mut c = WalkCache::default();
        let far = (SLOTS as u64) << 12;
        c.put(0, 0x1000, Access::Read, page(true));
        c.put(0, 0x1000 + far, Access::Read, page(true));
        assert_eq!(c.get(0, 0x1000 + far, Access::Read), Some(page(true)));
        assert_eq!(c.get(0, 0x1000, Access::Read), None);
        assert_eq!(c.slots.len(), SLOTS, "bounded");
    }
}
