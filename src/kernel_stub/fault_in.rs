//! The `fault_in_*()` primitives of mm/gup.c and include/linux/pagemap.h, 5.15 to 5.19, with
//! their exact return values and probe patterns (kernel-spec §A).
//!
//! They run with page faults enabled: a probe faults its page in. The probes that use
//! `put_user`/`get_user` are unprivileged accesses on arm64 (STTRB/LDTRB), so in sync mode they
//! are tag-checked, but only at the bytes they touch: the first byte and one byte per page.
//! That blind spot is what lets a loop live-lock on sub-page faults.
//!
//! Return conventions:
//! - pre-5.16 `fault_in_pages_*`: 0 or -EFAULT;
//! - 5.16+ `fault_in_*`: the number of bytes **not** faulted in (0 = all; `size` = none);
//!   the count is page-granular, so a failure is reported from the start of the failing page.

use crate::addr::UserAddr;
use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::gup;
use crate::kernel_stub::mm::AddressSpace;
use crate::kernel_stub::uaccess::{self, UaccessCtx};

/// Which `probe_subpage_writeable()` the architecture provides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubpageProbe {
    /// The generic stub (every architecture but arm64): returns 0, probes nothing.
    #[default]
    Generic,
    /// arm64 with MTE: `mte_probe_user_range`, one read per 16-byte granule.
    #[serde(rename = "arm64")]
    Arm64Mte,
    /// tagmmu's SPARC ADI probe, the fix upstream never made for SPARC: one read per 64-byte
    /// ADI block (loads are always checked precisely by ADI).
    #[serde(rename = "sparc-adi")]
    SparcAdi,
}

impl SubpageProbe {
    /// Does this flavour exist on `arch` (the generic stub everywhere, the MTE probe on arm64,
    /// tagmmu's ADI probe on SPARC)?
    pub fn fits(self, arch: crate::arch::Arch) -> bool {
        use crate::arch::Arch;
        matches!(
            (self, arch),
            (SubpageProbe::Generic, _)
                | (SubpageProbe::Arm64Mte, Arch::Arm64)
                | (SubpageProbe::SparcAdi, Arch::Sparc64)
        )
    }
}

/// The kernel's fault-in functions, by name (what a loop report says it called).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultInFn {
    /// <= 5.15 `fault_in_pages_writeable` (0 / -EFAULT).
    PagesWriteable,
    /// <= 5.15 `fault_in_pages_readable` (0 / -EFAULT).
    PagesReadable,
    /// <= 5.15 `iov_iter_fault_in_readable` (0 / -EFAULT: any page failing fails it).
    IovIterFaultInReadable,
    /// 5.16+ `fault_in_writeable`.
    Writeable,
    /// 5.16+ `fault_in_readable`.
    Readable,
    /// 5.16+ `fault_in_safe_writeable` (GUP based, no user access).
    SafeWriteable,
    /// 5.19+ `fault_in_subpage_writeable`.
    SubpageWriteable,
    /// 5.16+ `fault_in_iov_iter_readable` (`fault_in_readable` per segment).
    IovIterReadable,
    /// 5.16+ `fault_in_iov_iter_writeable` (`fault_in_safe_writeable` per segment).
    IovIterWriteable,
}

impl FaultInFn {
    /// Its name in the kernel source.
    pub fn name(self) -> &'static str {
        match self {
            FaultInFn::PagesWriteable => "fault_in_pages_writeable",
            FaultInFn::PagesReadable => "fault_in_pages_readable",
            FaultInFn::IovIterFaultInReadable => "iov_iter_fault_in_readable",
            FaultInFn::Writeable => "fault_in_writeable",
            FaultInFn::Readable => "fault_in_readable",
            FaultInFn::SafeWriteable => "fault_in_safe_writeable",
            FaultInFn::SubpageWriteable => "fault_in_subpage_writeable",
            FaultInFn::IovIterReadable => "fault_in_iov_iter_readable",
            FaultInFn::IovIterWriteable => "fault_in_iov_iter_writeable",
        }
    }

    /// Does it return 0 / -EFAULT (the pre-5.16 API) rather than bytes not faulted in?
    pub fn returns_errno(self) -> bool {
        matches!(self, FaultInFn::PagesWriteable | FaultInFn::PagesReadable | FaultInFn::IovIterFaultInReadable)
    }

    /// What it touches, in words.
    pub fn how(self, probe: SubpageProbe) -> &'static str {
        match (self, probe) {
            (FaultInFn::SubpageWriteable, SubpageProbe::Arm64Mte) => {
                "touched one byte per page, then read one byte in every 16-byte granule"
            }
            (FaultInFn::SubpageWriteable, SubpageProbe::SparcAdi) => {
                "touched one byte per page, then read one byte in every 64-byte ADI block"
            }
            (FaultInFn::SubpageWriteable, SubpageProbe::Generic) => {
                "touched one byte per page; its sub-page probe does nothing on this architecture"
            }
            (FaultInFn::SafeWriteable | FaultInFn::IovIterWriteable, _) => {
                "faulted the pages in through the page tables (no user access, so no tag check)"
            }
            (FaultInFn::PagesWriteable | FaultInFn::PagesReadable | FaultInFn::IovIterFaultInReadable, _) => {
                "touched the first byte, one byte a page further on each time, and the last byte"
            }
            _ => "touched only the first byte and the first byte of each later page",
        }
    }

    /// Why it cannot see a sub-page fault, in words (for a live-lock's reason).
    pub fn blind_spot(self, probe: SubpageProbe) -> String {
        match (self, probe) {
            (FaultInFn::SubpageWriteable, SubpageProbe::Generic) => "fault_in_subpage_writeable() (whose probe_subpage_writeable() does nothing on this architecture) probes only the first byte and page starts".into(),
            (FaultInFn::SafeWriteable | FaultInFn::IovIterWriteable, _) => format!("{}() never touches user memory (it walks the page tables, so tags are never checked)", self.name()),
            _ => format!("{}() probes only the first byte and page starts", self.name()),
        }
    }
}

/// The probes' context: tag checks as the thread's mode makes them.
///
/// The probes run with the caller's page-fault state: normally enabled, so a probe faults its
/// page in; inside `pagefault_disable()` (gfs2 runs `iomap_file_buffered_write`, whose
/// `iomap_write_iter` prefaults, with page faults disabled) a page that is not present fails
/// the probe.
fn probe_ctx(ctx: UaccessCtx) -> UaccessCtx {
    ctx
}

/// `__put_user(0, addr)`: store one zero byte. True on success.
pub fn put_user_byte(mm: &mut AddressSpace, ctx: UaccessCtx, addr: u64) -> bool {
    let ok = uaccess::put_user(mm, probe_ctx(ctx), UserAddr(addr), &[0]).is_ok();
    mm.note_probe(addr, true, ok);
    ok
}

/// `__get_user(c, addr)`: load one byte. True on success.
pub fn get_user_byte(mm: &mut AddressSpace, ctx: UaccessCtx, addr: u64) -> bool {
    let mut b = [0u8];
    let ok = uaccess::get_user(mm, probe_ctx(ctx), UserAddr(addr), &mut b).is_ok();
    mm.note_probe(addr, false, ok);
    ok
}

/// One probe of the fault-in loops: a zero-byte store when faulting in for writing, else a
/// load. True on success.
fn probe_byte(mm: &mut AddressSpace, ctx: UaccessCtx, addr: u64, write: bool) -> bool {
    if write {
        put_user_byte(mm, ctx, addr)
    } else {
        get_user_byte(mm, ctx, addr)
    }
}

fn page_align_up(a: u64, page: u64) -> u64 {
    a.wrapping_add(page - 1) & !(page - 1)
}

fn pages_common(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64, write: bool) -> i64 {
    let probe = |mm: &mut AddressSpace, a: u64| probe_byte(mm, ctx, a, write);
    if size == 0 {
        return 0;
    }
    let page = mm.page_size();
    let end = uaddr.wrapping_add(size - 1);
    if uaddr > end {
        return -Errno::EFAULT.generic();
    }
    let mut a = uaddr;
    loop {
        if !probe(mm, a) {
            return -Errno::EFAULT.generic();
        }
        let next = a.wrapping_add(page);
        if next < a {
            // Wrapped past the top: nothing above can be user memory.
            return 0;
        }
        a = next;
        if a > end {
            break;
        }
    }
    // The last page may not have been touched yet.
    if a & !(page - 1) == end & !(page - 1) {
        return if probe(mm, end) { 0 } else { -Errno::EFAULT.generic() };
    }
    0
}

/// Pre-5.16 `fault_in_pages_writeable`: probes (writing a zero byte) at `uaddr`, every
/// `PAGE_SIZE` after it, and at the last byte if its page was not reached. 0 or -EFAULT.
pub fn fault_in_pages_writeable(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64) -> i64 {
    pages_common(mm, ctx, uaddr, size, true)
}

/// Pre-5.16 `fault_in_pages_readable`: as [`fault_in_pages_writeable`], reading.
pub fn fault_in_pages_readable(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64) -> i64 {
    pages_common(mm, ctx, uaddr, size, false)
}

fn fault_in_common(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64, write: bool) -> u64 {
    let probe = |mm: &mut AddressSpace, a: u64| probe_byte(mm, ctx, a, write);
    if size == 0 {
        return 0;
    }
    let page = mm.page_size();
    let start = uaddr;
    let mut a = uaddr;
    if !a.is_multiple_of(page) {
        if !probe(mm, a) {
            return size;
        }
        a = page_align_up(a, page);
    }
    let mut end = page_align_up(start.wrapping_add(size), page);
    if end < start {
        end = 0;
    }
    while a != end {
        if !probe(mm, a) {
            break;
        }
        a = a.wrapping_add(page);
    }
    let done = a.wrapping_sub(start);
    size.saturating_sub(done)
}

/// 5.16+ `fault_in_writeable`: writes a zero byte at `uaddr` and at the start of every later
/// page of the range. Returns the bytes not faulted in.
pub fn fault_in_writeable(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64) -> u64 {
    fault_in_common(mm, ctx, uaddr, size, true)
}

/// 5.16+ `fault_in_readable`: as [`fault_in_writeable`], reading (nothing is written).
pub fn fault_in_readable(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64) -> u64 {
    fault_in_common(mm, ctx, uaddr, size, false)
}

/// `fault_in_safe_writeable` with the 5.18 semantics (fixup_user_fault per page): faults the
/// pages in for writing without any user access, so without any tag check and without
/// touching the data. Returns the bytes not faulted in.
pub fn fault_in_safe_writeable(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    let page = mm.page_size();
    // fixup_user_fault untags the address itself (whatever the tagged-address ABI setting).
    let _ = ctx;
    let mut end = page_align_up(uaddr.wrapping_add(size), page);
    if end < uaddr {
        end = 0;
    }
    let mut start = uaddr;
    loop {
        if gup::fixup_user_fault(mm, start, true).is_err() {
            break;
        }
        start = start.wrapping_add(page) & !(page - 1);
        if start == end {
            break;
        }
    }
    let done = start.wrapping_sub(uaddr);
    size.saturating_sub(done)
}

/// 5.16/5.17 `fault_in_safe_writeable` (mm/gup.c, from the gfs2 series "iov_iter: Introduce
/// fault_in_iov_iter_writeable", before Linus's 5.18 commit fe673d3f5bf1 "mm: gup: make
/// fault_in_safe_writeable() use fixup_user_fault()"): `__get_user_pages_locked(FOLL_TOUCH |
/// FOLL_WRITE)` VMA by VMA from the *page-aligned* start. A hole before the next VMA is
/// skipped as if it were faulted in, and the result is `size - min(nstart - start, size)`
/// with `nstart` page aligned: when an unaligned start's first page fails, `nstart < start`,
/// the unsigned difference wraps, and the function reports 0 (all faulted in). (No VMA here
/// is VM_IO/VM_PFNMAP, which the kernel also skips.)
pub fn fault_in_safe_writeable_gup(mm: &mut AddressSpace, uaddr: u64, size: u64) -> u64 {
    let page = mm.page_size();
    let start = mm.untag(uaddr).unwrap_or(uaddr);
    let mut nstart = start & !(page - 1);
    let mut end = page_align_up(start.wrapping_add(size), page);
    if end < nstart {
        end = 0;
    }
    while nstart != end {
        let Some((vstart, vend)) = mm.vmas().find_vma(nstart).map(|v| (v.start, v.end)) else { break };
        if end != 0 && vstart >= end {
            break;
        }
        let nend = if end != 0 { end.min(vend) } else { vend };
        if nstart < vstart {
            nstart = vstart;
        }
        let nr_pages = (nend - nstart) / page;
        let got = gup::get_user_pages(mm, nstart, nr_pages, gup::GupFlags { write: true, nofault: false });
        if got.pages.is_empty() {
            break;
        }
        nstart += got.pages.len() as u64 * page;
        if got.stopped.is_some() {
            // The next call would start on the failing page and pin nothing.
            break;
        }
    }
    if nstart == end {
        return 0;
    }
    size - nstart.wrapping_sub(start).min(size)
}

/// 5.17 - 6.14 `fault_in_safe_writeable`: Linus's fe673d3f5bf1 "mm: gup: make
/// fault_in_safe_writeable() use fixup_user_fault()" (5.17-rc; also 5.16.y and the 5.15.y
/// backport) walks the pages with `fixup_user_fault`, but computes its result from
/// `uaddr - start`, which wraps once the walk moved on: it returns `size` only when the very
/// first page failed and 0 otherwise, even when a later page failed. Fixed in 6.15 by
/// 8c03ebd7cdc0 "mm/gup: fix wrongly calculated returned value in fault_in_safe_writeable()".
pub fn fault_in_safe_writeable_517(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64) -> u64 {
    match fault_in_safe_writeable(mm, ctx, uaddr, size) {
        left if left == size => size,
        _ => 0,
    }
}

/// `fault_in_safe_writeable` as `version` (its .0 release) has it: the GUP form in 5.16, the
/// `fixup_user_fault` form with the wrapping result from 5.17 (5.17-6.14), the corrected
/// result from 6.15 (of the modelled releases: 6.17 and 6.18).
pub fn fault_in_safe_writeable_for(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    version: crate::kernel_stub::version::KernelVersion,
    uaddr: u64,
    size: u64,
) -> u64 {
    if version.at_least(6, 15) {
        fault_in_safe_writeable(mm, ctx, uaddr, size)
    } else if version.at_least(5, 17) {
        fault_in_safe_writeable_517(mm, ctx, uaddr, size)
    } else {
        fault_in_safe_writeable_gup(mm, uaddr, size)
    }
}

/// `fault_in_writeable` as `version` has it: from 5.17 (Christophe Leroy's 677b2a8c1f25
/// "gup: avoid multiple user access locking/unlocking in fault_in_{read/write}able") the
/// probes run inside `user_write_access_begin(uaddr, size)`, whose `access_ok` of the whole
/// range fails a range reaching past TASK_SIZE at once: `size`. 5.16 probes byte by byte.
pub fn fault_in_writeable_for(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    version: crate::kernel_stub::version::KernelVersion,
    uaddr: u64,
    size: u64,
) -> u64 {
    fault_in_for(mm, ctx, version, uaddr, size, true)
}

/// `fault_in_readable` as `version` has it (the same `access_ok` from 5.17).
pub fn fault_in_readable_for(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    version: crate::kernel_stub::version::KernelVersion,
    uaddr: u64,
    size: u64,
) -> u64 {
    fault_in_for(mm, ctx, version, uaddr, size, false)
}

fn fault_in_for(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    version: crate::kernel_stub::version::KernelVersion,
    uaddr: u64,
    size: u64,
    write: bool,
) -> u64 {
    if version.at_least(5, 17) && size != 0 && uaccess::access_ok(mm, ctx, UserAddr(uaddr), size).is_none() {
        return size;
    }
    fault_in_common(mm, ctx, uaddr, size, write)
}

/// arm64 `mte_probe_user_range` (5.19): a read at `uaddr`, then one at every 16-byte granule
/// start below the end. Returns 0, or the bytes not probed (from the failing granule).
pub fn mte_probe_user_range(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64) -> u64 {
    granule_probe(mm, ctx, uaddr, size, 16)
}

/// tagmmu's ADI `probe_subpage_writeable`: the same walk over 64-byte ADI blocks.
pub fn adi_probe_user_range(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64) -> u64 {
    granule_probe(mm, ctx, uaddr, size, 64)
}

/// A read at `uaddr`, then one at every `granule` boundary below the end.
fn granule_probe(mm: &mut AddressSpace, ctx: UaccessCtx, uaddr: u64, size: u64, granule: u64) -> u64 {
    let end = uaddr.wrapping_add(size);
    if !get_user_byte(mm, ctx, uaddr) {
        return size;
    }
    let mut p = uaddr.wrapping_add(granule - 1) & !(granule - 1);
    while p < end {
        if !get_user_byte(mm, ctx, p) {
            return end - p;
        }
        p += granule;
    }
    0
}

/// `probe_subpage_writeable(uaddr, size)` for the architecture flavour: arm64 probes when
/// the system has MTE, tagmmu's SPARC flavour when it has ADI (`mte` = the machine has tag
/// checking); the generic version returns 0.
pub fn probe_subpage_writeable(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    probe: SubpageProbe,
    mte: bool,
    uaddr: u64,
    size: u64,
) -> u64 {
    match probe {
        SubpageProbe::Arm64Mte if mte => mte_probe_user_range(mm, ctx, uaddr, size),
        SubpageProbe::SparcAdi if mte => adi_probe_user_range(mm, ctx, uaddr, size),
        _ => 0,
    }
}

/// 5.19 `fault_in_subpage_writeable`: [`fault_in_writeable`], then the sub-page probe over the
/// prefix that was faulted in. Returns the bytes not faulted in.
pub fn fault_in_subpage_writeable(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    probe: SubpageProbe,
    mte: bool,
    uaddr: u64,
    size: u64,
) -> u64 {
    // 5.19 has the 5.17 fault_in_writeable, with its access_ok of the whole range.
    let v5_19 = crate::kernel_stub::version::KernelVersion::new(5, 19);
    let mut faulted_in = size - fault_in_writeable_for(mm, ctx, v5_19, uaddr, size);
    if faulted_in != 0 {
        faulted_in -= probe_subpage_writeable(mm, ctx, probe, mte, uaddr, faulted_in);
    }
    size - faulted_in
}

/// The v1 series' `fault_in_exact_writeable` with its arm64 `__mte_probe_user_range`, which
/// aligned the start *down* to a granule: when the first granule fails it reports more bytes
/// than it was given, and the caller's unsigned arithmetic wraps (the quirk v3 fixed). The
/// wrap is kept, as the v1 code had it.
pub fn fault_in_exact_writeable_v1(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    probe: SubpageProbe,
    mte: bool,
    uaddr: u64,
    size: u64,
) -> u64 {
    let mut accessible = size - fault_in_writeable(mm, ctx, uaddr, size);
    if accessible != 0 && probe == SubpageProbe::Arm64Mte && mte {
        let end = uaddr.wrapping_add(accessible);
        let mut p = uaddr & !15;
        let mut not_probed = 0;
        while p < end {
            if !get_user_byte(mm, ctx, p) {
                not_probed = end - p;
                break;
            }
            p += 16;
        }
        accessible = accessible.wrapping_sub(not_probed);
    }
    size.wrapping_sub(accessible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_belong_to_their_architecture() {
        use crate::arch::Arch;
        assert!(SubpageProbe::Generic.fits(Arch::Arm64) && SubpageProbe::Generic.fits(Arch::Sparc64));
        assert!(SubpageProbe::Arm64Mte.fits(Arch::Arm64) && !SubpageProbe::Arm64Mte.fits(Arch::Sparc64));
        assert!(SubpageProbe::SparcAdi.fits(Arch::Sparc64) && !SubpageProbe::SparcAdi.fits(Arch::Arm64));
    }
    use crate::kernel_stub::mm::{Layout, MapRequest, Prot, VmaKind};

    const PAGE: u64 = 4096;

    /// Three writable pages, the second tag-checked with tag 3 except one bad granule at
    /// +0x40 of it; then an unmapped page.
    fn space() -> (AddressSpace, u64) {
        let mut mm = AddressSpace::new(Layout::arm64());
        let req = MapRequest::PRIVATE;
        let a = mm.mmap(0, 4 * PAGE, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        mm.munmap(a + 3 * PAGE, PAGE).unwrap();
        let mut g = 0;
        while g < 3 * PAGE {
            mm.set_tag(a + g, 3);
            g += 16;
        }
        mm.set_tag(a + PAGE + 0x40, 7);
        (mm, a)
    }

    fn sync() -> UaccessCtx {
        UaccessCtx { tagged_addr_abi: true, check_loads: true, check_stores: true, ..Default::default() }
    }

    fn t(a: u64) -> u64 {
        a | (3 << 56)
    }

    #[test]
    fn fault_in_writeable_probes_first_byte_and_page_starts_only() {
        let (mut mm, a) = space();
        let ctx = sync();
        // The bad granule at +PAGE+0x40 is never probed: everything "faults in".
        assert_eq!(fault_in_writeable(&mut mm, ctx, t(a + 5), 2 * PAGE), 0);
        assert!(mm.is_present(a) && mm.is_present(a + PAGE) && mm.is_present(a + 2 * PAGE));
        // Zero size.
        assert_eq!(fault_in_writeable(&mut mm, ctx, t(a), 0), 0);
        // First byte failing (in the bad granule): nothing.
        assert_eq!(fault_in_writeable(&mut mm, ctx, t(a + PAGE + 0x40), 100), 100);
        // Across the end of the mapping: counted from the start of the failing page.
        assert_eq!(fault_in_writeable(&mut mm, ctx, t(a + 2 * PAGE + 10), PAGE + 20), PAGE + 20 - (PAGE - 10));
        // The probe writes a zero byte.
        mm.write_kernel(a + 2 * PAGE, &[9]).unwrap();
        fault_in_writeable(&mut mm, ctx, t(a + 2 * PAGE), 1);
        let mut b = [1u8];
        mm.read_kernel(a + 2 * PAGE, &mut b).unwrap();
        assert_eq!(b, [0]);
        // Wrap-around: the end wraps to 0; 5.16 probes byte by byte and stops at the first
        // non-user address; from 5.17 access_ok of the whole range fails it at once.
        assert_eq!(fault_in_writeable(&mut mm, ctx, t(a), u64::MAX - a), u64::MAX - a - 3 * PAGE);
        let v = |s: &str| s.parse().unwrap();
        assert_eq!(fault_in_writeable_for(&mut mm, ctx, v("5.16"), t(a), u64::MAX - a), u64::MAX - a - 3 * PAGE);
        assert_eq!(fault_in_writeable_for(&mut mm, ctx, v("5.17"), t(a), u64::MAX - a), u64::MAX - a);
        assert_eq!(fault_in_readable_for(&mut mm, ctx, v("6.18"), t(a), u64::MAX - a), u64::MAX - a);
        assert_eq!(fault_in_writeable_for(&mut mm, ctx, v("6.18"), t(a + 5), 2 * PAGE), 0);
    }

    #[test]
    fn fault_in_readable_reads_only() {
        let (mut mm, a) = space();
        mm.write_kernel(a, &[9]).unwrap();
        assert_eq!(fault_in_readable(&mut mm, sync(), t(a), 10), 0);
        let mut b = [0u8];
        mm.read_kernel(a, &mut b).unwrap();
        assert_eq!(b, [9]);
        assert_eq!(fault_in_readable(&mut mm, sync(), t(a + 3 * PAGE), 10), 10);
    }

    #[test]
    fn pre_5_16_pages_writeable_is_zero_or_efault() {
        let (mut mm, a) = space();
        let ctx = sync();
        assert_eq!(fault_in_pages_writeable(&mut mm, ctx, t(a + 100), 2 * PAGE), 0);
        assert_eq!(fault_in_pages_writeable(&mut mm, ctx, t(a), 0), 0);
        assert_eq!(
            fault_in_pages_writeable(&mut mm, ctx, t(a + 2 * PAGE + 1), PAGE),
            -14,
            "the last byte's page is unmapped"
        );
        assert_eq!(fault_in_pages_writeable(&mut mm, ctx, t(a + PAGE + 0x40), 1), -14);
        assert_eq!(fault_in_pages_writeable(&mut mm, ctx, u64::MAX - 5, 10), -14, "overflowing range");
        assert_eq!(fault_in_pages_readable(&mut mm, ctx, t(a), 3 * PAGE), 0);
    }

    #[test]
    fn safe_writeable_ignores_tags_and_data() {
        let (mut mm, a) = space();
        mm.write_kernel(a + PAGE + 0x40, &[9]).unwrap();
        assert_eq!(fault_in_safe_writeable(&mut mm, sync(), t(a + PAGE + 0x40), 16), 0, "no tag check");
        let mut b = [0u8];
        mm.read_kernel(a + PAGE + 0x40, &mut b).unwrap();
        assert_eq!(b, [9], "nothing written");
        assert_eq!(fault_in_safe_writeable(&mut mm, sync(), t(a + 2 * PAGE + 8), 2 * PAGE), 2 * PAGE - (PAGE - 8));
        assert_eq!(fault_in_safe_writeable(&mut mm, sync(), t(a + 3 * PAGE), 5), 5, "first page failing");
        assert_eq!(fault_in_safe_writeable(&mut mm, sync(), t(a), 0), 0);
    }

    #[test]
    fn safe_writeable_of_5_16_wraps_on_an_unaligned_first_page_and_skips_holes() {
        let (mut mm, a) = space();
        // Page 3 is unmapped. From an unaligned start inside it, nothing can be faulted in:
        // 5.18+ says `size`, the 5.16 GUP form wraps and says 0.
        let v516 = "5.16".parse().unwrap();
        let v518 = "5.18".parse().unwrap();
        assert_eq!(fault_in_safe_writeable_for(&mut mm, sync(), v518, t(a + 3 * PAGE + 8), 100), 100);
        assert_eq!(fault_in_safe_writeable_for(&mut mm, sync(), v516, t(a + 3 * PAGE + 8), 100), 0);
        // Aligned: no wrap, `size`.
        assert_eq!(fault_in_safe_writeable_for(&mut mm, sync(), v516, t(a + 3 * PAGE), 100), 100);
        // A later page failing: 5.17-6.14 report 0 (the wrapped result), 6.15+ the truth.
        let (v517, v615) = ("6.14".parse().unwrap(), "6.17".parse().unwrap());
        assert_eq!(fault_in_safe_writeable_for(&mut mm, sync(), v517, t(a + 2 * PAGE + 8), 2 * PAGE), 0);
        assert_eq!(
            fault_in_safe_writeable_for(&mut mm, sync(), v615, t(a + 2 * PAGE + 8), 2 * PAGE),
            2 * PAGE - (PAGE - 8)
        );
        assert_eq!(fault_in_safe_writeable_for(&mut mm, sync(), v517, t(a + 3 * PAGE + 8), 100), 100);
        // Stopping inside the range: counted from the failing page, as 5.18.
        assert_eq!(fault_in_safe_writeable_gup(&mut mm, t(a + 2 * PAGE + 8), 2 * PAGE), 2 * PAGE - (PAGE - 8));
        // A hole between two mappings is skipped as if it were faulted in.
        mm.munmap(a + PAGE, PAGE).unwrap();
        assert_eq!(fault_in_safe_writeable_gup(&mut mm, t(a), 3 * PAGE), 0);
        assert_eq!(fault_in_safe_writeable(&mut mm, sync(), t(a), 3 * PAGE), 2 * PAGE);
        assert!(mm.is_present(a) && mm.is_present(a + 2 * PAGE));
    }

    #[test]
    fn subpage_writeable_finds_the_bad_granule_on_arm64_only() {
        let (mut mm, a) = space();
        let ctx = sync();
        let start = t(a + PAGE + 3);
        // arm64: one read per granule; the bad one is at +0x40 (granule start), so
        // everything from there is "not faulted in".
        let left = fault_in_subpage_writeable(&mut mm, ctx, SubpageProbe::Arm64Mte, true, start, 200);
        assert_eq!(left, (a + PAGE + 3 + 200) - (a + PAGE + 0x40));
        // Generic: page granular, the bad granule is invisible.
        assert_eq!(fault_in_subpage_writeable(&mut mm, ctx, SubpageProbe::Generic, true, start, 200), 0);
        // Without MTE the arm64 probe does nothing.
        assert_eq!(fault_in_subpage_writeable(&mut mm, ctx, SubpageProbe::Arm64Mte, false, start, 200), 0);
        // The first (unaligned) byte in the bad granule: everything.
        assert_eq!(mte_probe_user_range(&mut mm, ctx, t(a + PAGE + 0x45), 10), 10);
        assert_eq!(fault_in_subpage_writeable(&mut mm, ctx, SubpageProbe::Arm64Mte, true, t(a), 0), 0);
    }

    #[test]
    fn v1_exact_writeable_keeps_its_first_granule_quirk() {
        let (mut mm, a) = space();
        let ctx = sync();
        // Start 5 bytes into the granule *before* the bad one: fault_in_writeable passes
        // (it probes that byte), the v1 probe aligns down and also passes that granule,
        // then fails at the bad granule.
        let start = t(a + PAGE + 0x35);
        assert_eq!(
            fault_in_exact_writeable_v1(&mut mm, ctx, SubpageProbe::Arm64Mte, true, start, 64),
            (a + PAGE + 0x35 + 64) - (a + PAGE + 0x40)
        );
        // A bad first granule is already caught by fault_in_writeable's probe of the first
        // byte, so the probe is never reached and nothing wraps.
        let (mut mm2, b) = space();
        mm2.set_tag(b + PAGE, 7);
        assert_eq!(fault_in_exact_writeable_v1(&mut mm2, ctx, SubpageProbe::Arm64Mte, true, t(b + PAGE), 16), 16);
    }
}
