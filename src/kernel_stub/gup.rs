//! GUP (mm/gup.c) and the kernel's own mapping of user pages.
//!
//! `get_user_pages()` and `fixup_user_fault()` work at page granularity: they walk the VMAs,
//! check the mapping allows the access, fault the page in (unless `FOLL_NOFAULT`) and hand the
//! kernel the page itself. The kernel then reads or writes the data through its *own* mapping
//! of that page (the linear map, `kmap`, or a DMA engine), never through the user's tagged
//! pointer, so user memory tags are **not checked** there (kernel-spec §D.2, Catalin Marinas:
//! "the access here cannot cope with exceptions, it must be unchecked"). This is why O_DIRECT
//! moves data to and from a buffer whose tags do not match, and why fault-in that goes through
//! GUP (`fault_in_safe_writeable`) cannot see a sub-page fault.
//!
//! Addresses are untagged first, as `get_user_pages_fast()` does with `untagged_addr()`.

use crate::addr::PhysAddr;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::mm::{Access, AddressSpace};

/// The `FOLL_*` flags that matter here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GupFlags {
    /// `FOLL_WRITE`: the kernel will write to the pages (a read from a file into them).
    pub write: bool,
    /// `FOLL_NOFAULT`: never fault a page in; stop at the first page that is not present
    /// (the iov_iter `nofault` mode that btrfs uses for direct I/O from 5.16).
    pub nofault: bool,
}

/// A user page GUP handed to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedPage {
    /// The page's untagged user address (page aligned).
    pub uaddr: u64,
    /// The physical page.
    pub pa: PhysAddr,
}

/// Why GUP stopped before pinning every page asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GupStop {
    /// No mapping at the address.
    Unmapped,
    /// The mapping does not allow the access.
    Protection,
    /// The page is not present and `FOLL_NOFAULT` forbids faulting it in.
    NotPresent,
}

/// What one `get_user_pages()` call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gup {
    /// The pages pinned, in order from the first.
    pub pages: Vec<PinnedPage>,
    /// Where and why it stopped early (`None` when every page was pinned).
    pub stopped: Option<(u64, GupStop)>,
}

/// Untag a user address as GUP does (`untagged_addr()`): on arm64 the top byte is ignored
/// whatever the thread's tagged-address ABI setting.
fn untag(mm: &AddressSpace, addr: u64) -> Option<u64> {
    mm.untag(addr)
}

/// `get_user_pages()` / `pin_user_pages_fast()` for `nr_pages` pages from the page holding
/// `start`. Pins pages in order and stops at the first one it cannot get. Linux returns the
/// number pinned, or -EFAULT when it could pin none: here the pages and the reason it stopped.
pub fn get_user_pages(mm: &mut AddressSpace, start: u64, nr_pages: u64, flags: GupFlags) -> Gup {
    let page = mm.page_size();
    let mut pages = Vec::new();
    let Some(first) = untag(mm, start) else {
        return Gup { pages, stopped: Some((start, GupStop::Unmapped)) };
    };
    let first = first & !(page - 1);
    let access = if flags.write { Access::Write } else { Access::Read };
    for i in 0..nr_pages {
        let Some(a) = first.checked_add(i * page) else {
            return Gup { pages, stopped: Some((first, GupStop::Unmapped)) };
        };
        let Some(prot) = mm.prot_at(a) else {
            return Gup { pages, stopped: Some((a, GupStop::Unmapped)) };
        };
        if !prot.contains(access.needs()) {
            return Gup { pages, stopped: Some((a, GupStop::Protection)) };
        }
        if flags.nofault && !mm.is_present(a) {
            return Gup { pages, stopped: Some((a, GupStop::NotPresent)) };
        }
        match mm.handle_user_fault(a, access) {
            Ok(pa) => pages.push(PinnedPage { uaddr: a, pa }),
            Err(_) => return Gup { pages, stopped: Some((a, GupStop::Protection)) },
        }
    }
    Gup { pages, stopped: None }
}

/// `fixup_user_fault()`: resolve a fault at `addr` as the page-fault handler would, for
/// the kernel (futex, `fault_in_safe_writeable`). 0 or -EFAULT; no tag is checked and no
/// data is touched.
pub fn fixup_user_fault(mm: &mut AddressSpace, addr: u64, write: bool) -> KResult<()> {
    let a = untag(mm, addr).ok_or(Errno::EFAULT)?;
    let access = if write { Access::Write } else { Access::Read };
    mm.handle_user_fault(a, access).map(|_| ()).map_err(|_| Errno::EFAULT)
}

/// Write `data` into a pinned page at `offset` through the kernel's mapping (no tag check).
pub fn kmap_write(mm: &mut AddressSpace, page: PinnedPage, offset: u64, data: &[u8]) {
    let len = data.len() as u64;
    assert!(offset + len <= mm.page_size(), "kmap_write beyond its page");
    mm.write_kernel(page.uaddr + offset, data).expect("a pinned page is mapped");
}

/// Read from a pinned page at `offset` through the kernel's mapping (no tag check).
pub fn kmap_read(mm: &AddressSpace, page: PinnedPage, offset: u64, buf: &mut [u8]) {
    let len = buf.len() as u64;
    assert!(offset + len <= mm.page_size(), "kmap_read beyond its page");
    mm.read_kernel(page.uaddr + offset, buf).expect("a pinned page is mapped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::mm::{Layout, MapRequest, Prot, VmaKind};

    const PAGE: u64 = 4096;

    fn space() -> (AddressSpace, u64) {
        let mut mm = AddressSpace::new(Layout::arm64());
        let req = MapRequest::PRIVATE;
        let a = mm.mmap(0, 3 * PAGE, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        for g in (0..3 * PAGE).step_by(16) {
            mm.set_tag(a + g, 3);
        }
        mm.set_tag(a + PAGE + 0x40, 9);
        (mm, a)
    }

    #[test]
    fn gup_faults_pages_in_and_ignores_tags() {
        let (mut mm, a) = space();
        let tagged = a | (5 << 56);
        let g = get_user_pages(&mut mm, tagged + 8, 3, GupFlags { write: true, nofault: false });
        assert_eq!(g.stopped, None);
        assert_eq!(g.pages.iter().map(|p| p.uaddr).collect::<Vec<_>>(), vec![a, a + PAGE, a + 2 * PAGE]);
        assert!(mm.is_present(a + 2 * PAGE));
        // The kernel mapping writes over the mistagged granule without a check.
        kmap_write(&mut mm, g.pages[1], 0x40, b"unchecked");
        let mut b = [0u8; 9];
        kmap_read(&mm, g.pages[1], 0x40, &mut b);
        assert_eq!(&b, b"unchecked");
        assert_eq!(mm.tag_at(a + PAGE + 0x40), Some(9), "tags untouched");
    }

    #[test]
    fn nofault_stops_at_the_first_page_not_present() {
        let (mut mm, a) = space();
        fixup_user_fault(&mut mm, a, true).unwrap();
        assert!(!mm.is_present(a + PAGE));
        let g = get_user_pages(&mut mm, a, 3, GupFlags { write: false, nofault: true });
        assert_eq!(g.pages.len(), 1);
        assert_eq!(g.stopped, Some((a + PAGE, GupStop::NotPresent)));
        assert!(!mm.is_present(a + PAGE), "nothing faulted in");
    }

    #[test]
    fn gup_checks_the_mapping_not_the_tags() {
        let (mut mm, a) = space();
        mm.mprotect(a + PAGE, PAGE, Prot::READ | Prot::TAGGED).unwrap();
        let g = get_user_pages(&mut mm, a, 3, GupFlags { write: true, nofault: false });
        assert_eq!((g.pages.len(), g.stopped), (1, Some((a + PAGE, GupStop::Protection))));
        let g = get_user_pages(&mut mm, a, 3, GupFlags { write: false, nofault: false });
        assert_eq!((g.pages.len(), g.stopped), (3, None), "a read-only page can be read");
        let g = get_user_pages(&mut mm, a + 3 * PAGE, 1, GupFlags::default());
        assert_eq!(g.stopped, Some((a + 3 * PAGE, GupStop::Unmapped)));
        assert_eq!(fixup_user_fault(&mut mm, a + 3 * PAGE, false), Err(Errno::EFAULT));
        assert_eq!(fixup_user_fault(&mut mm, a + PAGE, true), Err(Errno::EFAULT));
        assert_eq!(fixup_user_fault(&mut mm, (a + PAGE + 0x40) | (3 << 56), false), Ok(()));
    }

    #[test]
    fn on_sparc_gup_strips_the_adi_version_and_ignores_versions() {
        let mut mm = AddressSpace::new(Layout::sparc64());
        mm.set_ignored_top_bits(4);
        let req = MapRequest::PRIVATE;
        let a = mm.mmap(0, 2 * 8192, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        mm.set_tag(a + 64, 5);
        let g = get_user_pages(&mut mm, a | (3 << 60), 2, GupFlags { write: true, nofault: false });
        assert_eq!((g.pages.len(), g.stopped), (2, None));
        kmap_write(&mut mm, g.pages[0], 64, &[1; 64]);
        let mut b = [0u8; 64];
        kmap_read(&mm, g.pages[0], 64, &mut b);
        assert_eq!(b, [1; 64], "the kernel mapping never checks the block's version");
    }
}
