//! uaccess: the kernel stub's accesses to user memory on behalf of a syscall.
//!
//! Every copy returns the number of bytes **not** copied, as Linux's `copy_{to,from}_user`
//! do: partial progress is a result, not an error. A user pointer first passes `access_ok`
//! (untagged only when the thread enabled the tagged-address ABI, as arm64 does), then each
//! page is faulted in as the page-fault handler would when page faults are enabled.

use crate::addr::UserAddr;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::mm::{Access, AddressSpace};

/// The thread state that decides how a user pointer is treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UaccessCtx {
    /// `PR_TAGGED_ADDR_ENABLE`: tagged pointers are accepted by syscalls.
    pub tagged_addr_abi: bool,
}

/// `access_ok()` plus untagging: the untagged start address of a user range of `len` bytes,
/// or `None` if the range is not a user range.
pub fn access_ok(mm: &AddressSpace, ctx: UaccessCtx, addr: UserAddr, len: u64) -> Option<u64> {
    let a = if ctx.tagged_addr_abi { mm.untag(addr.raw())? } else { addr.raw() };
    let end = a.checked_add(len)?;
    (end <= mm.layout().task_size).then_some(a)
}

fn copy_user(
    mm: &mut AddressSpace,
    ctx: UaccessCtx,
    addr: UserAddr,
    len: usize,
    access: Access,
    mut f: impl FnMut(&mut [u8], usize),
) -> usize {
    let Some(start) = access_ok(mm, ctx, addr, len as u64) else {
        return len;
    };
    let page = mm.page_size();
    let mut done = 0usize;
    while done < len {
        let a = start + done as u64;
        let Ok(pa) = mm.handle_user_fault(a, access) else {
            break;
        };
        let n = ((page - a % page) as usize).min(len - done);
        let Some((seg_pa, off)) = mm.phys().containing(pa).map(|(s, off)| (s.pa(), off as usize)) else {
            break;
        };
        let Some(seg) = mm.phys_mut().segment_mut(seg_pa) else {
            break;
        };
        f(&mut seg.bytes_mut()[off..off + n], done);
        done += n;
    }
    len - done
}

/// `copy_to_user`: returns the bytes not copied.
pub fn copy_to_user(mm: &mut AddressSpace, ctx: UaccessCtx, dst: UserAddr, src: &[u8]) -> usize {
    copy_user(mm, ctx, dst, src.len(), Access::Write, |user, at| user.copy_from_slice(&src[at..at + user.len()]))
}

/// `copy_from_user`: returns the bytes not copied (the uncopied tail of `dst` is zeroed, as
/// Linux does).
pub fn copy_from_user(mm: &mut AddressSpace, ctx: UaccessCtx, dst: &mut [u8], src: UserAddr) -> usize {
    let left =
        copy_user(mm, ctx, src, dst.len(), Access::Read, |user, at| dst[at..at + user.len()].copy_from_slice(user));
    let n = dst.len();
    dst[n - left..].fill(0);
    left
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
    use crate::kernel_stub::mm::{Layout, MapRequest, Placement, Prot, VmaKind};

    fn setup() -> (AddressSpace, u64) {
        let mut mm = AddressSpace::new(Layout::arm64());
        let req = MapRequest { placement: Placement::Hint, shared: false };
        let a = mm.mmap(0, 3 * 4096, Prot::RW, req, VmaKind::Anon).unwrap();
        mm.munmap(a + 2 * 4096, 4096).unwrap();
        (mm, a)
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
        let abi = UaccessCtx { tagged_addr_abi: true };
        assert_eq!(read_user(&mut mm, abi, tagged, 4), Ok(vec![0; 4]));
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
