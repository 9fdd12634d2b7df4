//! `search_ioctl()` and `copy_to_sk()` of fs/btrfs/ioctl.c (kernel-spec §C), as a loop that
//! can be stepped one pass at a time, for each modelled kernel version:
//! - up to 5.15: `fault_in_pages_writeable()` (0 or -EFAULT);
//! - 5.16 to 5.18: `fault_in_writeable()` (page granular): live-locks on sub-page faults;
//! - 5.19: `fault_in_subpage_writeable()`: on arm64 with MTE the whole remaining buffer is
//!   probed granule by granule, so a bad granule ends the ioctl with -EFAULT; on every other
//!   architecture (`generic`) the probe is a no-op and the loop still live-locks.
//!
//! A pass: fault in `ubuf + sk_offset .. ubuf + buf_size`, search forward from `key`, copy
//! items with page faults disabled. A copy fault returns 0 from `copy_to_sk`: the loop
//! "continues" from the same `sk_offset` (rewound to the header boundary) and the same key.

use super::{Key, Tree};
use crate::addr::UserAddr;
use crate::arch::{read_u32, read_u64, Arch, StructWriter};
use crate::kernel_stub::errno::Errno;
use crate::kernel_stub::fault_in::{self, SubpageProbe};
use crate::kernel_stub::mm::AddressSpace;
use crate::kernel_stub::uaccess::{self, UaccessCtx};
use crate::kernel_stub::version::KernelVersion;

/// Size of `struct btrfs_ioctl_search_key`.
pub const SEARCH_KEY_SIZE: usize = 104;
/// Size of `struct btrfs_ioctl_search_header`.
pub const SEARCH_HEADER_SIZE: u64 = 32;
/// `BTRFS_SEARCH_ARGS_BUFSIZE`.
pub const SEARCH_ARGS_BUFSIZE: u64 = 4096 - 104;
/// `BTRFS_IOC_TREE_SEARCH` = _IOWR(0x94, 17, struct btrfs_ioctl_search_args).
pub const BTRFS_IOC_TREE_SEARCH: u64 = 0xD000_9411;
/// `BTRFS_IOC_TREE_SEARCH_V2` = _IOWR(0x94, 17, struct btrfs_ioctl_search_args_v2).
pub const BTRFS_IOC_TREE_SEARCH_V2: u64 = 0xC070_9411;

/// `struct btrfs_ioctl_search_key`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct SearchKey {
    pub tree_id: u64,
    pub min_objectid: u64,
    pub max_objectid: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    pub min_transid: u64,
    pub max_transid: u64,
    pub min_type: u32,
    pub max_type: u32,
    pub nr_items: u32,
}

impl SearchKey {
    /// Decode the 104-byte UAPI struct (native byte order of `arch`).
    pub fn decode(arch: Arch, b: &[u8]) -> SearchKey {
        let q = |o: usize| read_u64(arch, &b[o..]);
        let d = |o: usize| read_u32(arch, &b[o..]);
        SearchKey {
            tree_id: q(0),
            min_objectid: q(8),
            max_objectid: q(16),
            min_offset: q(24),
            max_offset: q(32),
            min_transid: q(40),
            max_transid: q(48),
            min_type: d(56),
            max_type: d(60),
            nr_items: d(64),
        }
    }

    /// Encode as the 104-byte UAPI struct.
    pub fn encode(&self, arch: Arch) -> Vec<u8> {
        let mut w = StructWriter::new(arch);
        w.u64(self.tree_id).u64(self.min_objectid).u64(self.max_objectid).u64(self.min_offset).u64(self.max_offset);
        w.u64(self.min_transid).u64(self.max_transid).u32(self.min_type).u32(self.max_type).u32(self.nr_items).u32(0);
        w.pad(32);
        w.finish()
    }

    fn min_key(&self) -> Key {
        Key { objectid: self.min_objectid, typ: self.min_type.min(255) as u8, offset: self.min_offset }
    }

    fn max_key(&self) -> Key {
        Key { objectid: self.max_objectid, typ: self.max_type.min(255) as u8, offset: self.max_offset }
    }

    /// `key_in_sk`: min key <= key <= max key, lexicographically.
    fn contains(&self, key: Key) -> bool {
        self.min_key() <= key && key <= self.max_key()
    }
}

/// Which fault-in call the modelled kernel makes before each pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultInCall {
    /// <= 5.15: `fault_in_pages_writeable`.
    PagesWriteable,
    /// 5.16 - 5.18: `fault_in_writeable`.
    Writeable,
    /// 5.19: `fault_in_subpage_writeable`.
    SubpageWriteable,
}

impl FaultInCall {
    /// The call `search_ioctl` makes in `version`.
    pub fn for_version(version: KernelVersion) -> FaultInCall {
        let v = (version.major, version.minor);
        if v < (5, 16) {
            FaultInCall::PagesWriteable
        } else if v < (5, 19) {
            FaultInCall::Writeable
        } else {
            FaultInCall::SubpageWriteable
        }
    }

    /// Its name in the kernel source.
    pub fn name(self) -> &'static str {
        match self {
            FaultInCall::PagesWriteable => "fault_in_pages_writeable",
            FaultInCall::Writeable => "fault_in_writeable",
            FaultInCall::SubpageWriteable => "fault_in_subpage_writeable",
        }
    }
}

/// What `copy_to_user_nofault` was copying when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyWhat {
    /// The 32-byte search header.
    Header,
    /// The item's data.
    Item,
}

/// A failed copy in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CopyFault {
    /// What was being copied.
    pub what: CopyWhat,
    /// The key of the item.
    pub key: Key,
    /// The user address the copy started at.
    pub start: u64,
    /// Its length.
    pub len: u64,
    /// Bytes the copy could reach before it faulted.
    pub reached: u64,
    /// The allocation tag of the granule it stopped at (None: not tag-checked memory).
    pub mem_tag: Option<u8>,
    /// The pointer's tag.
    pub ptr_tag: u8,
}

/// What one pass of the loop did (for the trace and the narrative).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PassRecord {
    /// Pass number, from 0.
    pub pass: u64,
    /// The fault-in call.
    pub fault_in: FaultInCall,
    /// The user range it was asked to fault in.
    pub fault_in_start: u64,
    /// Its length.
    pub fault_in_len: u64,
    /// What it returned (bytes not faulted in, or 0 / -EFAULT before 5.16).
    pub fault_in_result: i64,
    /// The key searched from.
    pub key: Key,
    /// `sk_offset` at the start of the pass.
    pub sk_offset: u64,
    /// Items copied in this pass.
    pub copied_items: u32,
    /// The copy that failed, if one did.
    pub copy_fault: Option<CopyFault>,
    /// `sk_offset` at the end of the pass.
    pub sk_offset_after: u64,
}

/// The result of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The loop goes on.
    Continue(PassRecord),
    /// The loop ended: `Ok(())` or the errno (`EOVERFLOW` included) search_ioctl returns.
    Done(PassRecord, Result<(), Errno>),
}

/// The state of one `search_ioctl()` call.
#[derive(Clone, Debug)]
pub struct SearchIoctl {
    /// The search key (nr_items is updated on completion).
    pub sk: SearchKey,
    /// The current key.
    pub key: Key,
    /// Where the next record goes in the user buffer.
    pub sk_offset: u64,
    /// Items found so far.
    pub num_found: u32,
    /// Size of the user buffer (updated with the needed size on -EOVERFLOW).
    pub buf_size: u64,
    /// The user buffer as the program passed it (tag included).
    pub ubuf: u64,
    call: FaultInCall,
    probe: SubpageProbe,
    mte: bool,
    passes: u64,
    /// Byte order of the search headers.
    arch: Arch,
}

impl SearchIoctl {
    /// A search of `tree` into `ubuf` (`buf_size` bytes) for kernel `version` with the
    /// architecture's sub-page probe.
    pub fn new(
        sk: SearchKey,
        ubuf: u64,
        buf_size: u64,
        version: KernelVersion,
        probe: SubpageProbe,
        mte: bool,
    ) -> SearchIoctl {
        SearchIoctl {
            key: sk.min_key(),
            sk,
            sk_offset: 0,
            num_found: 0,
            buf_size,
            ubuf,
            call: FaultInCall::for_version(version),
            probe,
            mte,
            passes: 0,
            arch: Arch::Arm64,
        }
    }

    /// The same search for a task of `arch` (the headers in its byte order).
    pub fn for_arch(mut self, arch: Arch) -> SearchIoctl {
        self.arch = arch;
        self
    }

    /// The loop's own state, for the live-lock proof (the caller adds the user memory).
    pub fn state_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [
            self.key.objectid,
            self.key.typ as u64,
            self.key.offset,
            self.sk_offset,
            self.num_found as u64,
            self.buf_size,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }

    /// The user range the loop touches: `[ubuf, ubuf + buf_size)`.
    pub fn user_range(&self) -> (u64, u64) {
        (self.ubuf, self.buf_size)
    }

    /// Run one pass.
    pub fn step(&mut self, mm: &mut AddressSpace, ctx: UaccessCtx, tree: &Tree) -> Step {
        let pass = self.passes;
        self.passes += 1;
        let mut rec = PassRecord {
            pass,
            fault_in: self.call,
            fault_in_start: self.ubuf.wrapping_add(self.sk_offset),
            fault_in_len: self.buf_size - self.sk_offset,
            fault_in_result: 0,
            key: self.key,
            sk_offset: self.sk_offset,
            copied_items: 0,
            copy_fault: None,
            sk_offset_after: self.sk_offset,
        };
        if self.buf_size < SEARCH_HEADER_SIZE {
            self.buf_size = SEARCH_HEADER_SIZE;
            return Step::Done(rec, Err(Errno::EOVERFLOW));
        }
        let (start, len) = (rec.fault_in_start, rec.fault_in_len);
        let faulted = match self.call {
            FaultInCall::PagesWriteable => fault_in::fault_in_pages_writeable(mm, ctx, start, len),
            FaultInCall::Writeable => fault_in::fault_in_writeable(mm, ctx, start, len) as i64,
            FaultInCall::SubpageWriteable => {
                fault_in::fault_in_subpage_writeable(mm, ctx, self.probe, self.mte, start, len) as i64
            }
        };
        rec.fault_in_result = faulted;
        if faulted != 0 {
            self.sk.nr_items = self.num_found;
            return Step::Done(rec, Err(Errno::EFAULT));
        }
        let Some((leaf, slot)) = tree.search_forward(self.key, self.sk.min_transid) else {
            self.sk.nr_items = self.num_found;
            return Step::Done(rec, Ok(()));
        };
        let ret = self.copy_to_sk(mm, ctx, tree, leaf, slot, &mut rec);
        rec.sk_offset_after = self.sk_offset;
        match ret {
            0 => Step::Continue(rec),
            r => {
                self.sk.nr_items = self.num_found;
                let result = if r < 0 { Err(Errno::EOVERFLOW) } else { Ok(()) };
                Step::Done(rec, result)
            }
        }
    }

    /// `copy_to_sk()`: 0 = continue, 1 = stop, -1 = -EOVERFLOW.
    fn copy_to_sk(
        &mut self,
        mm: &mut AddressSpace,
        ctx: UaccessCtx,
        tree: &Tree,
        leaf: usize,
        slot: usize,
        rec: &mut PassRecord,
    ) -> i32 {
        let l = &tree.leaves[leaf];
        let nofault = UaccessCtx { pagefault_disabled: true, ..ctx };
        let mut ret = 0;
        let mut key = self.key;
        if l.generation <= self.sk.max_transid {
            for it in &l.items[slot..] {
                key = it.key;
                self.key = key;
                if !self.sk.contains(key) {
                    continue;
                }
                let mut item_len = it.data.len() as u64;
                if SEARCH_HEADER_SIZE + item_len > self.buf_size {
                    if self.num_found > 0 {
                        return 1;
                    }
                    self.buf_size = SEARCH_HEADER_SIZE + item_len;
                    item_len = 0;
                    ret = -1;
                }
                if SEARCH_HEADER_SIZE + item_len + self.sk_offset > self.buf_size {
                    return 1;
                }
                let mut sh = StructWriter::new(self.arch);
                sh.u64(l.generation).u64(key.objectid).u64(key.offset).u32(key.typ as u32).u32(item_len as u32);
                let at = self.ubuf.wrapping_add(self.sk_offset);
                if uaccess::copy_to_user_nofault(mm, nofault, UserAddr(at), &sh.finish()).is_err() {
                    let reached = uaccess::accessible(
                        mm,
                        nofault,
                        UserAddr(at),
                        SEARCH_HEADER_SIZE,
                        crate::kernel_stub::mm::Access::Write,
                    );
                    rec.copy_fault = Some(copy_fault(mm, CopyWhat::Header, key, at, SEARCH_HEADER_SIZE, reached));
                    return 0;
                }
                self.sk_offset += SEARCH_HEADER_SIZE;
                if item_len > 0 {
                    let at = self.ubuf.wrapping_add(self.sk_offset);
                    if uaccess::copy_to_user_nofault(mm, nofault, UserAddr(at), &it.data).is_err() {
                        let reached = uaccess::accessible(
                            mm,
                            nofault,
                            UserAddr(at),
                            item_len,
                            crate::kernel_stub::mm::Access::Write,
                        );
                        rec.copy_fault = Some(copy_fault(mm, CopyWhat::Item, key, at, item_len, reached));
                        self.sk_offset -= SEARCH_HEADER_SIZE;
                        return 0;
                    }
                    self.sk_offset += item_len;
                }
                self.num_found += 1;
                rec.copied_items += 1;
                if ret != 0 {
                    return ret;
                }
                if self.num_found >= self.sk.nr_items {
                    return 1;
                }
            }
        } else {
            key = l.items.last().map(|i| i.key).unwrap_or(key);
        }
        // advance_key
        let max = self.sk.max_key();
        if key >= max {
            return 1;
        }
        if key.offset < u64::MAX {
            key.offset += 1;
        } else if key.typ < u8::MAX {
            key.offset = 0;
            key.typ += 1;
        } else if key.objectid < u64::MAX {
            key.offset = 0;
            key.typ = 0;
            key.objectid += 1;
        } else {
            return 1;
        }
        self.key = key;
        0
    }
}

fn copy_fault(mm: &AddressSpace, what: CopyWhat, key: Key, start: u64, len: u64, reached: u64) -> CopyFault {
    let bad = start.wrapping_add(reached);
    let mem_tag = mm.untag(bad).and_then(|a| mm.tag_at(a));
    CopyFault { what, key, start, len, reached, mem_tag, ptr_tag: mm.layout().tags.pointer_tag(start) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::btrfs::{Item, Leaf};
    use crate::kernel_stub::livelock::{LoopWatch, Watch};
    use crate::kernel_stub::mm::{Layout, MapRequest, Placement, Prot, VmaKind};

    fn tree() -> Tree {
        let item = |o: u64, n: usize| Item { key: Key { objectid: o, typ: 1, offset: 0 }, data: vec![o as u8; n] };
        Tree {
            leaves: vec![
                Leaf { generation: 7, items: vec![item(256, 40), item(257, 24)] },
                Leaf { generation: 9, items: vec![item(258, 8)] },
            ],
        }
    }

    fn sk() -> SearchKey {
        SearchKey {
            max_objectid: u64::MAX,
            max_offset: u64::MAX,
            max_transid: u64::MAX,
            max_type: 255,
            nr_items: 100,
            ..Default::default()
        }
    }

    /// A PROT_MTE buffer tagged 3 everywhere but granule `bad` (tag 5); sync mode.
    fn buffer(bad: Option<u64>) -> (AddressSpace, u64, UaccessCtx) {
        let mut mm = AddressSpace::new(Layout::arm64());
        let req = MapRequest { placement: Placement::Hint, shared: false };
        let a = mm.mmap(0, 4096, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        for g in 0..256 {
            mm.set_tag(a + 16 * g, if Some(g) == bad { 5 } else { 3 });
        }
        let ctx = UaccessCtx { tagged_addr_abi: true, check_loads: true, check_stores: true, ..Default::default() };
        (mm, a | (3 << 56), ctx)
    }

    fn run(version: &str, probe: SubpageProbe, bad: Option<u64>) -> (Result<(), Errno>, u64, SearchIoctl) {
        let (mut mm, ubuf, ctx) = buffer(bad);
        let mut s = SearchIoctl::new(sk(), ubuf, SEARCH_ARGS_BUFSIZE, version.parse().unwrap(), probe, true);
        let t = tree();
        let mut watch = LoopWatch::new(1000);
        loop {
            let mut state = s.state_bytes();
            let (start, len) = s.user_range();
            let mut bytes = vec![0; len as usize];
            mm.read_kernel(mm.untag(start).unwrap(), &mut bytes).unwrap();
            state.extend_from_slice(&bytes);
            state.extend(mm.dump_tags(mm.untag(start).unwrap(), len).into_iter().map(|t| t.unwrap_or(0xff)));
            if let Watch::Livelock(c) = watch.observe(&state) {
                return (Err(Errno::EDEADLK), c.length(), s);
            }
            match s.step(&mut mm, ctx, &t) {
                Step::Continue(_) => {}
                Step::Done(_, r) => return (r, watch.passes(), s),
            }
        }
    }

    #[test]
    fn every_item_is_copied_with_good_tags() {
        let (r, _, s) = run("5.16", SubpageProbe::Arm64Mte, None);
        assert_eq!(r, Ok(()));
        assert_eq!(s.sk.nr_items, 3);
        assert_eq!(s.sk_offset, 3 * 32 + 40 + 24 + 8);
    }

    #[test]
    fn kernel_5_16_live_locks_on_a_bad_granule_inside_a_record() {
        // Granule 1 (bytes 16..32) is inside the first header: ubuf[0] is fine.
        let (r, cycle, s) = run("5.16", SubpageProbe::Arm64Mte, Some(1));
        assert_eq!(r, Err(Errno::EDEADLK), "proven live-lock");
        assert_eq!(cycle, 1, "every pass is the same pass");
        assert_eq!((s.sk_offset, s.num_found), (0, 0));
        let (r, _, _) = run("5.15", SubpageProbe::Arm64Mte, Some(1));
        assert_eq!(r, Err(Errno::EDEADLK), "5.15 as well");
    }

    #[test]
    fn kernel_5_19_returns_efault_on_arm64_and_still_live_locks_generically() {
        let (r, passes, _) = run("5.19", SubpageProbe::Arm64Mte, Some(1));
        assert_eq!((r, passes), (Err(Errno::EFAULT), 1), "the sub-page probe finds the granule at once");
        let (r, _, _) = run("5.19", SubpageProbe::Generic, Some(1));
        assert_eq!(r, Err(Errno::EDEADLK), "no sub-page probe: still a live-lock");
        // A bad granule far beyond the data still fails 5.19 (the whole buffer is probed).
        let (r, _, _) = run("5.19", SubpageProbe::Arm64Mte, Some(200));
        assert_eq!(r, Err(Errno::EFAULT));
        let (r, _, s) = run("5.16", SubpageProbe::Arm64Mte, Some(200));
        assert_eq!((r, s.sk.nr_items), (Ok(()), 3), "5.16 never touches it");
    }

    #[test]
    fn small_buffers_overflow() {
        let (mut mm, ubuf, ctx) = buffer(None);
        let mut s = SearchIoctl::new(sk(), ubuf, 50, "5.19".parse().unwrap(), SubpageProbe::Arm64Mte, true);
        let t = tree();
        let r = loop {
            match s.step(&mut mm, ctx, &t) {
                Step::Continue(_) => {}
                Step::Done(_, r) => break r,
            }
        };
        assert_eq!(r, Err(Errno::EOVERFLOW));
        assert_eq!(s.buf_size, 32 + 40, "the size the first item needs");
        assert_eq!(s.num_found, 1, "one empty header was emitted");
    }
}
