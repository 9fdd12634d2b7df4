//! uaccess: the kernel stub's accesses to user memory on behalf of a syscall.
//!
//! Every copy returns the number of bytes **not** copied, as Linux's `copy_{to,from}_user`
//! do: partial progress is a result, not an error. A user pointer first passes `access_ok`
//! (untagged only when the thread enabled the tagged-address ABI, as arm64 does). Then, as
//! the unprivileged LDTR/STTR accesses arm64's uaccess routines use:
//! - a page that is not present is faulted in, unless page faults are disabled
//!   (`pagefault_disable()`), when the copy stops there;
//! - on a tag-checked mapping, the user pointer's tag is checked against every granule the
//!   copy touches when the thread's mode makes uaccess checked (sync; loads in asymmetric
//!   mode). A mismatch stops the copy: no signal, a short copy (kernel accesses are done with
//!   TCO clear, so the user's TCO does not matter). In async mode the access happens and the
//!   recorded fault is dropped on return to user, so nothing is checked here.
//!
//! Two copy models: [`CopyModel::Exact`] copies every accessible byte; [`CopyModel::Arm64`]
//! runs arm64's copy routine access by access ([`arm64_copy`]: `copy_template.S` with the 5.14
//! one-byte retry; the modelled CPU has no FEAT_MOPS, so 6.15+ kernels take the same path):
//! the source is aligned first, pairs of 8-byte accesses, loads up to 64 bytes ahead of
//! stores in `copy_from_user`, and a count that can stop short of the fault.

pub mod arm64_copy;

use crate::addr::UserAddr;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::mm::{Access, AddressSpace, Prot};

/// How a copy makes progress up to a fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyModel {
    /// Byte-granular: every byte before the first inaccessible one is copied.
    #[default]
    Exact,
    /// arm64 `__arch_copy_{to,from}_user` (copy_template.S), access by access.
    Arm64,
}

/// The thread state that decides how a user access is done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UaccessCtx {
    /// `PR_TAGGED_ADDR_ENABLE`: tagged pointers are accepted by syscalls.
    pub tagged_addr_abi: bool,
    /// Loads from tag-checked memory are checked (sync or asymmetric mode).
    pub check_loads: bool,
    /// Stores to tag-checked memory are checked (sync mode).
    pub check_stores: bool,
    /// `pagefault_disable()`: a non-present page ends the copy instead of being faulted in.
    pub pagefault_disabled: bool,
    /// The copy model.
    pub model: CopyModel,
}

/// `access_ok()` plus untagging: the untagged start address of a user range of `len` bytes,
/// or `None` if the range is not a user range.
pub fn access_ok(mm: &AddressSpace, ctx: UaccessCtx, addr: UserAddr, len: u64) -> Option<u64> {
    let a = if ctx.tagged_addr_abi { mm.untag(addr.raw())? } else { addr.raw() };
    let end = a.checked_add(len)?;
    (end <= mm.layout().task_size).then_some(a)
}

/// How many leading bytes of `[addr, addr+len)` a user access of kind `access` can reach,
/// faulting pages in when page faults are enabled.
pub fn accessible(mm: &mut AddressSpace, ctx: UaccessCtx, addr: UserAddr, len: u64, access: Access) -> u64 {
    let Some(start) = access_ok(mm, ctx, addr, len) else { return 0 };
    let ptr_tag = mm.layout().tags.pointer_tag(addr.raw());
    let checked = match access {
        Access::Read => ctx.check_loads,
        Access::Write => ctx.check_stores,
        Access::Fetch => false,
    };
    let page = mm.page_size();
    let mut done = 0u64;
    while done < len {
        let a = start + done;
        let n = (page - a % page).min(len - done);
        let Some(prot) = mm.prot_at(a) else { break };
        let need = if access == Access::Write { Prot::WRITE } else { Prot::READ };
        if !prot.contains(need) {
            break;
        }
        if ctx.pagefault_disabled {
            if !mm.is_present(a) || mm.past_eof(a) {
                break;
            }
        } else if mm.handle_user_fault(a, access).is_err() {
            break;
        }
        if checked && prot.contains(Prot::TAGGED) {
            if let Some(bad) = mm.first_tag_mismatch(a, n, ptr_tag) {
                done += bad - a;
                break;
            }
        }
        done += n;
    }
    done
}

/// What a copy of `len` bytes whose first `reach` bytes are reachable does: the bytes it
/// reports copied, and the destination ranges it actually wrote (offsets from the start; for
/// the arm64 routine a store pair whose second half faulted leaves its first 8 bytes written
/// but uncounted). `kernel_offset` and `user_addr` are the two sides' addresses (the low bits
/// of the source, kernel for `copy_to_user` and user for `copy_from_user`, steer the arm64
/// routine, which aligns its source first).
fn progress(
    model: CopyModel,
    dir: arm64_copy::Direction,
    kernel_offset: u64,
    user_addr: u64,
    reach: u64,
    len: u64,
) -> (u64, Vec<(u64, u64)>) {
    if reach >= len {
        return (len, vec![(0, len)]);
    }
    match model {
        CopyModel::Exact => (reach, vec![(0, reach)]),
        CopyModel::Arm64 => {
            // The routine's accesses go up in address order, so the first unreachable byte is
            // where its first faulting access is.
            let ok = |off: u64| off < reach;
            let (dst, src) = match dir {
                arm64_copy::Direction::ToUser => (user_addr, kernel_offset),
                arm64_copy::Direction::FromUser => (kernel_offset, user_addr),
            };
            let out = arm64_copy::simulate(dir, dst, src, len, &ok);
            (out.copied(len), out.written)
        }
    }
}

fn copy_user(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    addr: UserAddr,
    len: usize,
    access: Access,
    kernel_offset: u64,
    mut f: impl FnMut(&mut [u8], usize),
) -> usize {
    let reach = accessible(mm, ctx, addr, len as u64, access);
    let Some(start) = access_ok(mm, ctx, addr, len as u64) else { return len };
    let dir = if access == Access::Write { arm64_copy::Direction::ToUser } else { arm64_copy::Direction::FromUser };
    let (copied, written) = progress(ctx.model, dir, kernel_offset, start, reach, len as u64);
    let page = mm.page_size();
    for (from, to) in written {
        let mut done = from as usize;
        while done < to as usize {
            let a = start + done as u64;
            let k = ((page - a % page) as usize).min(to as usize - done);
            let Some((pa, exec)) = mm.vmas().find(a).map(|v| (v.phys(a), v.prot.contains(Prot::EXEC))) else { break };
            if exec && access == Access::Write {
                mm.note_code_written(pa);
            }
            let Some((seg_pa, off)) = mm.phys().containing(pa).map(|(s, off)| (s.pa(), off as usize)) else { break };
            let Some(seg) = mm.phys_mut().segment_mut(seg_pa) else { break };
            f(&mut seg.bytes_mut()[off..off + k], done);
            done += k;
        }
    }
    len - copied as usize
}

/// `copy_to_user`: returns the bytes not copied. The kernel source is taken to be 16-byte
/// aligned (see [`copy_to_user_from`]).
pub fn copy_to_user(mm: &mut AddressSpace, ctx: UaccessCtx, dst: UserAddr, src: &[u8]) -> usize {
    copy_to_user_from(mm, ctx, dst, src, 0)
}

/// `copy_to_user` from a kernel source whose address is `kernel_offset` past a 16-byte
/// boundary (a page-cache page read at file offset `pos` has `pos % 16`): the arm64 routine
/// aligns its source first, so this decides where its units fall.
pub fn copy_to_user_from(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    dst: UserAddr,
    src: &[u8],
    kernel_offset: u64,
) -> usize {
    copy_user(mm, ctx, dst, src.len(), Access::Write, kernel_offset % 16, |user, at| {
        user.copy_from_slice(&src[at..at + user.len()])
    })
}

/// `copy_from_user`: returns the bytes not copied (the uncopied tail of `dst` is zeroed, as
/// Linux does).
pub fn copy_from_user(mm: &mut AddressSpace, ctx: UaccessCtx, dst: &mut [u8], src: UserAddr) -> usize {
    let left =
        copy_user(mm, ctx, src, dst.len(), Access::Read, 0, |user, at| dst[at..at + user.len()].copy_from_slice(user));
    let n = dst.len();
    dst[n - left..].fill(0);
    left
}

/// `get_user(x, ptr)` of a 1-, 2-, 4- or 8-byte value as one access: 0, or -EFAULT with the
/// value read as zero. A value that straddles a fault (a page or a granule) is not read at all.
pub fn get_user(mm: &mut AddressSpace, ctx: UaccessCtx, src: UserAddr, val: &mut [u8]) -> KResult<()> {
    debug_assert!(matches!(val.len(), 1 | 2 | 4 | 8), "get_user sizes are 1, 2, 4 or 8");
    let n = val.len() as u64;
    if accessible(mm, ctx, src, n, Access::Read) < n {
        val.fill(0);
        return Err(Errno::EFAULT);
    }
    let exact = UaccessCtx { model: CopyModel::Exact, ..ctx };
    if copy_from_user(mm, exact, val, src) != 0 {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// `put_user(x, ptr)` of a 1-, 2-, 4- or 8-byte value as one access: 0 or -EFAULT (nothing
/// stored when any byte of it would fault).
pub fn put_user(mm: &mut AddressSpace, ctx: UaccessCtx, dst: UserAddr, val: &[u8]) -> KResult<()> {
    debug_assert!(matches!(val.len(), 1 | 2 | 4 | 8), "put_user sizes are 1, 2, 4 or 8");
    let n = val.len() as u64;
    if accessible(mm, ctx, dst, n, Access::Write) < n {
        return Err(Errno::EFAULT);
    }
    let exact = UaccessCtx { model: CopyModel::Exact, ..ctx };
    if copy_to_user(mm, exact, dst, val) != 0 {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// `__copy_to_user_inatomic`: `copy_to_user` with page faults disabled (bytes not copied).
pub fn copy_to_user_inatomic(mm: &mut AddressSpace, ctx: UaccessCtx, dst: UserAddr, src: &[u8]) -> usize {
    copy_to_user(mm, UaccessCtx { pagefault_disabled: true, ..ctx }, dst, src)
}

/// `__copy_from_user_inatomic`: `copy_from_user` with page faults disabled (bytes not copied;
/// unlike `copy_from_user` the uncopied tail of `dst` is left as it was).
pub fn copy_from_user_inatomic(mm: &mut AddressSpace, ctx: UaccessCtx, dst: &mut [u8], src: UserAddr) -> usize {
    let atomic = UaccessCtx { pagefault_disabled: true, ..ctx };
    copy_user(mm, atomic, src, dst.len(), Access::Read, 0, |user, at| dst[at..at + user.len()].copy_from_slice(user))
}

/// `copy_to_user_nofault` (mm/maccess.c): -EFAULT when `access_ok` fails or the copy (with page
/// faults disabled) comes back short at all; the partial count is discarded, but the bytes
/// stored before the fault stay in user memory.
pub fn copy_to_user_nofault(mm: &mut AddressSpace, ctx: UaccessCtx, dst: UserAddr, src: &[u8]) -> KResult<()> {
    if access_ok(mm, ctx, dst, src.len() as u64).is_none() {
        return Err(Errno::EFAULT);
    }
    match copy_to_user_inatomic(mm, ctx, dst, src) {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// `copy_from_user_nofault`: as [`copy_to_user_nofault`], reading.
pub fn copy_from_user_nofault(mm: &mut AddressSpace, ctx: UaccessCtx, dst: &mut [u8], src: UserAddr) -> KResult<()> {
    if access_ok(mm, ctx, src, dst.len() as u64).is_none() {
        return Err(Errno::EFAULT);
    }
    match copy_from_user_inatomic(mm, ctx, dst, src) {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// `clear_user`: zero `len` user bytes; returns the bytes not cleared (`len` when `access_ok`
/// fails). The arm64 model stores 8-byte units (STTR xzr) as the `__arch_clear_user`
/// rewritten in 5.14 does, so a unit that would fault is not stored and the count starts at it.
pub fn clear_user(mm: &mut AddressSpace, ctx: UaccessCtx, dst: UserAddr, len: u64) -> u64 {
    if access_ok(mm, ctx, dst, len).is_none() {
        return len;
    }
    let reach = accessible(mm, ctx, dst, len, Access::Write);
    let n = match ctx.model {
        _ if reach >= len => len,
        CopyModel::Exact => reach,
        CopyModel::Arm64 => reach / 8 * 8,
    };
    let exact = UaccessCtx { model: CopyModel::Exact, ..ctx };
    let zeros = vec![0u8; n as usize];
    let left = copy_to_user(mm, exact, dst, &zeros) as u64;
    len - (n - left)
}

/// Read a whole user buffer or fail with EFAULT.
pub fn read_user(mm: &mut AddressSpace, ctx: UaccessCtx, src: UserAddr, len: usize) -> KResult<Vec<u8>> {
    let mut v = vec![0; len];
    if copy_from_user(mm, ctx, &mut v, src) != 0 {
        return Err(Errno::EFAULT);
    }
    Ok(v)
}

/// Write a whole user buffer or fail with EFAULT.
pub fn write_user(mm: &mut AddressSpace, ctx: UaccessCtx, dst: UserAddr, data: &[u8]) -> KResult<()> {
    if copy_to_user(mm, ctx, dst, data) != 0 {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// `strncpy_from_user`: a NUL-terminated string of at most `max` bytes (without the NUL).
/// EFAULT if unreadable, ENAMETOOLONG if no NUL within `max`.
pub fn read_cstring(mm: &mut AddressSpace, ctx: UaccessCtx, src: UserAddr, max: usize) -> KResult<Vec<u8>> {
    let mut out = Vec::new();
    let page = mm.page_size() as usize;
    while out.len() < max {
        let at = src.wrapping_add(out.len() as u64);
        let chunk = (page - (at.raw() as usize % page)).min(max - out.len());
        let mut buf = vec![0; chunk];
        let left = copy_from_user(mm, ctx, &mut buf, at);
        let got = chunk - left;
        if let Some(nul) = buf[..got].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..nul]);
            return Ok(out);
        }
        if left != 0 {
            return Err(Errno::EFAULT);
        }
        out.extend_from_slice(&buf);
    }
    Err(Errno::ENAMETOOLONG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::mm::{Layout, MapRequest, Prot, VmaKind};

    fn setup() -> (AddressSpace, u64) {
        let mut mm = AddressSpace::new(Layout::arm64());
        let req = MapRequest::PRIVATE;
        let a = mm.mmap(0, 3 * 4096, Prot::RW, req, VmaKind::Anon).unwrap();
        mm.munmap(a + 2 * 4096, 4096).unwrap();
        (mm, a)
    }

    #[test]
    fn a_copy_into_an_executable_mapping_tells_the_cpu_its_code_changed() {
        let (mut mm, a) = setup();
        let ctx = UaccessCtx::default();
        let mut back = [0u8; 8];
        assert_eq!(copy_to_user(&mut mm, ctx, UserAddr(a), b"data"), 0);
        assert_eq!(copy_from_user(&mut mm, ctx, &mut back, UserAddr(a)), 0);
        assert!(mm.take_code_written().is_empty(), "a copy into data");
        mm.mprotect(a + 4096, 4096, Prot::RW | Prot::EXEC).unwrap();
        assert_eq!(copy_from_user(&mut mm, ctx, &mut back, UserAddr(a + 4096)), 0);
        assert!(mm.take_code_written().is_empty(), "a copy out of code");
        assert_eq!(copy_to_user(&mut mm, ctx, UserAddr(a + 4096 - 2), b"code"), 0);
        // Only the code page: its physical page, once (the copy's first two bytes went to
        // the data page before it).
        let code_pa = mm.vmas().find(a + 4096).unwrap().phys(a + 4096);
        assert_eq!(mm.take_code_written().pages(), Some(&[code_pa][..]), "a copy into code");
        assert!(mm.take_code_written().is_empty(), "taken once");
    }

    #[test]
    fn partial_copy_reports_bytes_not_copied() {
        let (mut mm, a) = setup();
        let ctx = UaccessCtx::default();
        let data = vec![7u8; 100];
        assert_eq!(copy_to_user(&mut mm, ctx, UserAddr(a + 2 * 4096 - 40), &data), 60);
        let mut back = vec![1u8; 100];
        assert_eq!(copy_from_user(&mut mm, ctx, &mut back, UserAddr(a + 2 * 4096 - 40)), 60);
        assert!(back[..40].iter().all(|&b| b == 7) && back[40..].iter().all(|&b| b == 0));
        assert!(mm.is_present(a + 4096), "the copy faulted the page in");
    }

    #[test]
    fn readonly_and_tagged_pointers() {
        let (mut mm, a) = setup();
        mm.mprotect(a, 4096, Prot::READ).unwrap();
        let ctx = UaccessCtx::default();
        assert_eq!(copy_to_user(&mut mm, ctx, UserAddr(a), b"xy"), 2);
        let tagged = UserAddr(a | (3 << 56));
        assert_eq!(read_user(&mut mm, ctx, tagged, 4), Err(Errno::EFAULT), "tagged pointer without the ABI");
        let abi = UaccessCtx { tagged_addr_abi: true, ..Default::default() };
        assert_eq!(read_user(&mut mm, abi, tagged, 4), Ok(vec![0; 4]));
    }

    fn tagged_setup() -> (AddressSpace, u64) {
        let mut mm = AddressSpace::new(Layout::arm64());
        let req = MapRequest::PRIVATE;
        let a = mm.mmap(0, 2 * 4096, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        // Tag 3 on the first 48 bytes; granule 3 (bytes 48..64) stays 0.
        for g in 0..3 {
            assert!(mm.set_tag(a + 16 * g, 3));
        }
        (mm, a)
    }

    #[test]
    fn sync_checks_stop_the_copy_at_the_bad_granule() {
        let (mut mm, a) = tagged_setup();
        let sync = UaccessCtx { check_loads: true, check_stores: true, ..Default::default() };
        let ptr = UserAddr(a | (3 << 56));
        let abi = UaccessCtx { tagged_addr_abi: true, ..sync };
        assert_eq!(copy_to_user(&mut mm, abi, ptr, &[1u8; 64]), 16, "bytes 48..64 are in a tag-0 granule");
        assert_eq!(copy_to_user(&mut mm, abi, UserAddr(a | (5 << 56)), &[1u8; 8]), 8, "wrong tag: nothing");
        let off = UaccessCtx { tagged_addr_abi: true, ..Default::default() };
        assert_eq!(copy_to_user(&mut mm, off, ptr, &[1u8; 64]), 0, "unchecked mode: complete");
        let loads_only = UaccessCtx { tagged_addr_abi: true, check_loads: true, ..Default::default() };
        let mut b = [0u8; 64];
        assert_eq!(copy_from_user(&mut mm, loads_only, &mut b, ptr), 16);
        assert_eq!(copy_to_user(&mut mm, loads_only, ptr, &[1u8; 64]), 0, "asymmetric: stores unchecked");
    }

    fn sync_abi() -> UaccessCtx {
        UaccessCtx { tagged_addr_abi: true, check_loads: true, check_stores: true, ..Default::default() }
    }

    #[test]
    fn get_and_put_user_are_single_accesses() {
        let (mut mm, a) = tagged_setup();
        let ctx = sync_abi();
        let p = |off: u64| UserAddr((a + off) | (3 << 56));
        assert_eq!(put_user(&mut mm, ctx, p(40), &7u64.to_le_bytes()), Ok(()));
        let mut v = [0xffu8; 8];
        assert_eq!(get_user(&mut mm, ctx, p(40), &mut v), Ok(()));
        assert_eq!(u64::from_le_bytes(v), 7);
        // An 8-byte value straddling the tag-0 granule at 48: nothing stored, zero read.
        assert_eq!(put_user(&mut mm, ctx, p(44), &u64::MAX.to_le_bytes()), Err(Errno::EFAULT));
        let mut b = [0u8; 4];
        mm.read_kernel(a + 44, &mut b).unwrap();
        assert_eq!(b, [0; 4], "the first half was not stored either");
        let mut v = [0xffu8; 8];
        assert_eq!(get_user(&mut mm, ctx, p(44), &mut v), Err(Errno::EFAULT));
        assert_eq!(v, [0; 8]);
        let mut one = [0u8];
        assert_eq!(get_user(&mut mm, ctx, UserAddr(u64::MAX - 4), &mut one), Err(Errno::EFAULT), "not a user address");
    }

    #[test]
    fn inatomic_and_nofault_copies() {
        let (mut mm, a) = tagged_setup();
        let ctx = sync_abi();
        let p = UserAddr(a | (3 << 56));
        // The second page was never touched: not present, so an atomic copy stops there.
        let far = UserAddr((a + 4096 - 8) | (3 << 56));
        mm.handle_user_fault(a, Access::Write).unwrap();
        assert_eq!(
            copy_to_user_inatomic(&mut mm, UaccessCtx { tagged_addr_abi: true, ..Default::default() }, far, &[1; 16]),
            8
        );
        // copy_to_user_nofault: all or -EFAULT, but the bytes before the fault stay.
        assert_eq!(copy_to_user_nofault(&mut mm, ctx, p, &[9u8; 64]), Err(Errno::EFAULT));
        let mut b = [0u8; 48];
        mm.read_kernel(a, &mut b).unwrap();
        assert_eq!(b, [9u8; 48], "the copied prefix stays in user memory");
        assert_eq!(copy_to_user_nofault(&mut mm, ctx, p, &[5u8; 48]), Ok(()));
        let mut d = [0xaau8; 64];
        assert_eq!(copy_from_user_nofault(&mut mm, ctx, &mut d, p), Err(Errno::EFAULT));
        assert_eq!(d[48..], [0xaa; 16], "the inatomic copy leaves the uncopied tail alone");
        assert_eq!(copy_from_user_nofault(&mut mm, ctx, &mut d[..48], p), Ok(()));
        assert_eq!(copy_from_user_nofault(&mut mm, ctx, &mut d, UserAddr(1 << 60)), Err(Errno::EFAULT), "access_ok");
        assert_eq!(copy_from_user_inatomic(&mut mm, ctx, &mut d[..0], p), 0, "zero size");
    }

    #[test]
    fn clear_user_counts_what_it_did_not_clear() {
        let (mut mm, a) = tagged_setup();
        let ctx = sync_abi();
        let p = |off: u64| UserAddr((a + off) | (3 << 56));
        mm.write_kernel(a, &[0xee; 64]).unwrap();
        assert_eq!(clear_user(&mut mm, ctx, p(3), 61), 16, "exact: up to the tag-0 granule at 48");
        let mut b = [0u8; 64];
        mm.read_kernel(a, &mut b).unwrap();
        assert_eq!((b[2], b[3], b[47], b[48]), (0xee, 0, 0, 0xee));
        mm.write_kernel(a, &[0xee; 64]).unwrap();
        let arm64 = UaccessCtx { model: CopyModel::Arm64, ..ctx };
        // 8-byte units from 3: 3..11, ..., 35..43; the unit 43..51 would fault.
        assert_eq!(clear_user(&mut mm, arm64, p(3), 61), 21);
        mm.read_kernel(a, &mut b).unwrap();
        assert_eq!((b[42], b[43]), (0, 0xee));
        assert_eq!(clear_user(&mut mm, ctx, p(0), 0), 0);
        assert_eq!(clear_user(&mut mm, ctx, UserAddr(u64::MAX - 2), 8), 8, "access_ok fails: nothing");
    }

    #[test]
    fn arm64_model_copies_whole_units_then_one_byte() {
        let (mut mm, a) = tagged_setup();
        let arm =
            UaccessCtx { tagged_addr_abi: true, check_stores: true, model: CopyModel::Arm64, ..Default::default() };
        let ptr = |o: u64| UserAddr((a + o) | (3 << 56));
        // From byte 5: 43 accessible bytes -> two whole units (32 bytes).
        assert_eq!(copy_to_user(&mut mm, arm, ptr(5), &[1u8; 59]), 59 - 32);
        // From byte 40: 8 accessible bytes, no whole unit -> the one-byte retry.
        assert_eq!(copy_to_user(&mut mm, arm, ptr(40), &[1u8; 24]), 23);
        // From byte 48: nothing accessible.
        assert_eq!(copy_to_user(&mut mm, arm, ptr(48), &[1u8; 16]), 16);
        // Converges: each call resumes where the previous stopped, reaching byte 48.
        let mut at = 37u64;
        let mut calls = 0;
        while at < 48 {
            let left = copy_to_user(&mut mm, arm, ptr(at), &vec![1u8; (64 - at) as usize]);
            at = 64 - left as u64;
            calls += 1;
        }
        assert_eq!(at, 48);
        assert!(calls <= 11, "{calls} calls");
    }

    #[test]
    fn pagefault_disabled_stops_at_a_page_that_is_not_present() {
        let (mut mm, a) = setup();
        let nofault = UaccessCtx { pagefault_disabled: true, ..Default::default() };
        assert_eq!(copy_to_user(&mut mm, nofault, UserAddr(a), &[1u8; 8]), 8, "never touched: not present");
        let faulting = UaccessCtx::default();
        assert_eq!(copy_to_user(&mut mm, faulting, UserAddr(a), &[1u8; 8]), 0);
        assert_eq!(
            copy_to_user(&mut mm, nofault, UserAddr(a + 4096 - 4), &[1u8; 8]),
            4,
            "the second page is not present"
        );
        mm.evict(a, 4096);
        assert_eq!(copy_to_user(&mut mm, nofault, UserAddr(a), &[1u8; 8]), 8, "evicted");
    }

    #[test]
    fn cstrings() {
        let (mut mm, a) = setup();
        let ctx = UaccessCtx::default();
        mm.write_kernel(a + 4096 - 3, b"abcdef\0").unwrap();
        assert_eq!(read_cstring(&mut mm, ctx, UserAddr(a + 4096 - 3), 100).unwrap(), b"abcdef");
        assert_eq!(read_cstring(&mut mm, ctx, UserAddr(a + 4096 - 3), 4), Err(Errno::ENAMETOOLONG));
        mm.write_kernel(a + 2 * 4096 - 2, b"zz").unwrap();
        assert_eq!(read_cstring(&mut mm, ctx, UserAddr(a + 2 * 4096 - 2), 100), Err(Errno::EFAULT));
    }
}
