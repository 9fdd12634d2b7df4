//! A user-backed `iov_iter` (lib/iov_iter.c): the segments of a read/write/readv/writev
//! with a position, and the helpers the fault-in loops call on it.
//!
//! - [`IovIter::fault_in_readable`]: 5.16+ `fault_in_iov_iter_readable` (per segment
//!   `fault_in_readable`, stop at the first segment not fully faulted in; returns the bytes
//!   not faulted in, including any part of `size` beyond the iterator's count);
//! - [`IovIter::fault_in_readable_515`]: <= 5.15 `iov_iter_fault_in_readable` (per segment
//!   `fault_in_pages_readable`; -EFAULT as soon as one fails, else 0);
//! - [`IovIter::copy_from_user_atomic`]: `copy_page_from_iter_atomic` (the user copies with
//!   page faults disabled, segment after segment, stopping at the first short one; returns the
//!   bytes copied and advances the iterator by them);
//! - [`IovIter::copy_to_user`]: `copy_page_to_iter`, the other way.

use crate::addr::UserAddr;
use crate::kernel_stub::fault_in;
use crate::kernel_stub::mm::AddressSpace;
use crate::kernel_stub::uaccess::{self, UaccessCtx};

/// A user-backed iterator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IovIter {
    /// The segments: (user base, possibly tagged; length).
    pub segs: Vec<(u64, u64)>,
    /// The current segment.
    pub seg: usize,
    /// Offset in it.
    pub offset: u64,
    /// Bytes left.
    pub count: u64,
}

impl IovIter {
    /// An iterator over `segs`.
    pub fn new(segs: Vec<(u64, u64)>) -> IovIter {
        let count = segs.iter().map(|s| s.1).sum();
        IovIter { segs, seg: 0, offset: 0, count }
    }

    /// The user address of the current position (tagged as the segment's base).
    pub fn current(&self) -> u64 {
        self.segs.get(self.seg).map(|(b, _)| b.wrapping_add(self.offset)).unwrap_or(0)
    }

    /// The pieces of the next `size` bytes from the current position: (address, length),
    /// empty segments skipped.
    pub fn pieces(&self, size: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut left = size.min(self.count);
        let (mut seg, mut skip) = (self.seg, self.offset);
        while left > 0 && seg < self.segs.len() {
            let (base, len) = self.segs[seg];
            let n = left.min(len - skip);
            if n > 0 {
                out.push((base.wrapping_add(skip), n));
                left -= n;
            }
            seg += 1;
            skip = 0;
        }
        out
    }

    /// Move the position `n` bytes on.
    pub fn advance(&mut self, n: u64) {
        let mut n = n.min(self.count);
        self.count -= n;
        while n > 0 && self.seg < self.segs.len() {
            let room = self.segs[self.seg].1 - self.offset;
            if n < room {
                self.offset += n;
                return;
            }
            n -= room;
            self.seg += 1;
            self.offset = 0;
        }
        // Skip empty segments so `current()` names a real byte.
        while self.seg < self.segs.len() && self.segs[self.seg].1 == self.offset && self.count > 0 {
            self.seg += 1;
            self.offset = 0;
        }
    }

    /// Move the position `n` bytes back (`iov_iter_revert`).
    pub fn revert(&mut self, n: u64) {
        let mut n = n;
        self.count += n;
        loop {
            if n <= self.offset {
                self.offset -= n;
                return;
            }
            n -= self.offset;
            if self.seg == 0 {
                self.offset = 0;
                return;
            }
            self.seg -= 1;
            self.offset = self.segs[self.seg].1;
        }
    }

    /// The 5.16+ `fault_in_iov_iter_*` walk: `fault_in` (returning bytes not faulted in) on
    /// each segment of the next `size` bytes, stopping at the first one not fully faulted
    /// in. Returns the bytes not faulted in, including the part of `size` beyond the count.
    fn fault_in_segments(&self, size: u64, mut fault_in: impl FnMut(u64, u64) -> u64) -> u64 {
        let count = size.min(self.count);
        let mut left = count;
        for (a, n) in self.pieces(count) {
            let ret = fault_in(a, n);
            left -= n - ret;
            if ret != 0 {
                break;
            }
        }
        left + (size - count)
    }

    /// 5.16+ `fault_in_iov_iter_readable(i, size)` (`fault_in_readable` of `version` per
    /// segment): bytes not faulted in.
    pub fn fault_in_readable(
        &self,
        mm: &mut AddressSpace,
        ctx: UaccessCtx,
        version: crate::kernel_stub::version::KernelVersion,
        size: u64,
    ) -> u64 {
        self.fault_in_segments(size, |a, n| fault_in::fault_in_readable_for(mm, ctx, version, a, n))
    }

    /// 5.16+ `fault_in_iov_iter_writeable(i, size)` (`fault_in_safe_writeable` of `version`
    /// per segment): bytes not faulted in.
    pub fn fault_in_writeable(
        &self,
        mm: &mut AddressSpace,
        ctx: UaccessCtx,
        version: crate::kernel_stub::version::KernelVersion,
        size: u64,
    ) -> u64 {
        self.fault_in_segments(size, |a, n| fault_in::fault_in_safe_writeable_for(mm, ctx, version, a, n))
    }

    /// <= 5.15 `iov_iter_fault_in_readable(i, bytes)`: 0, or -EFAULT when any segment's
    /// `fault_in_pages_readable` fails.
    pub fn fault_in_readable_515(&self, mm: &mut AddressSpace, ctx: UaccessCtx, bytes: u64) -> i64 {
        for (a, n) in self.pieces(bytes) {
            let err = fault_in::fault_in_pages_readable(mm, ctx, a, n);
            if err != 0 {
                return err;
            }
        }
        0
    }

    /// `copy_page_from_iter_atomic`: copy up to `bytes` from the user with page faults
    /// disabled into a new buffer, segment by segment, stopping at the first short segment.
    /// Returns the bytes (their count is what was copied) and advances the iterator.
    pub fn copy_from_user_atomic(&mut self, mm: &mut AddressSpace, ctx: UaccessCtx, bytes: u64) -> Vec<u8> {
        let atomic = UaccessCtx { pagefault_disabled: true, ..ctx };
        let mut out = Vec::new();
        for (a, n) in self.pieces(bytes) {
            let mut buf = vec![0u8; n as usize];
            let left = uaccess::copy_from_user_inatomic(mm, atomic, &mut buf, UserAddr(a)) as u64;
            buf.truncate((n - left) as usize);
            out.extend_from_slice(&buf);
            if left != 0 {
                break;
            }
        }
        self.advance(out.len() as u64);
        out
    }
}

impl IovIter {
    /// `copy_page_to_iter` / `copy_to_iter`: copy `data` (whose kernel address is
    /// `kernel_offset` past a 16-byte boundary) to the user segments from the current position
    /// with `copy_to_user` (`ctx` says whether page faults are disabled), stopping at the first
    /// short segment. Returns the bytes copied and advances by them.
    pub fn copy_to_user(&mut self, mm: &mut AddressSpace, ctx: UaccessCtx, data: &[u8], kernel_offset: u64) -> u64 {
        let mut done = 0u64;
        for (a, n) in self.pieces(data.len() as u64) {
            let src = &data[done as usize..(done + n) as usize];
            let left = uaccess::copy_to_user_from(mm, ctx, UserAddr(a), src, kernel_offset + done) as u64;
            done += n - left;
            if left != 0 {
                break;
            }
        }
        self.advance(done);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_revert_cross_segments() {
        let mut i = IovIter::new(vec![(0x1000, 10), (0x2000, 0), (0x3000, 5)]);
        assert_eq!(i.count, 15);
        i.advance(4);
        assert_eq!((i.current(), i.count), (0x1004, 11));
        assert_eq!(i.pieces(100), vec![(0x1004, 6), (0x3000, 5)]);
        i.advance(6);
        assert_eq!(i.current(), 0x3000, "the empty segment is skipped");
        i.advance(2);
        assert_eq!((i.current(), i.count), (0x3002, 3));
        i.revert(5);
        assert_eq!(i.current(), 0x1007);
        assert_eq!(i.count, 8);
    }
}
