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
use crate::kernel_stub::fault_in::{self, FaultInFn, SubpageProbe};
use crate::kernel_stub::loops::{CopyDir, FaultSite, KernelLoop, LoopEvent, PassEnd};
use crate::kernel_stub::mm::{Access, AddressSpace};
use crate::kernel_stub::uaccess::{self, UaccessCtx};
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::Kernel;

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
    /// A key that matches every item of every transaction, up to 4096 items (the search of
    /// the loops table and of sweeps).
    pub fn whole_tree() -> SearchKey {
        SearchKey {
            max_objectid: u64::MAX,
            max_offset: u64::MAX,
            max_transid: u64::MAX,
            max_type: 255,
            nr_items: 4096,
            ..Default::default()
        }
    }
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

/// The fault-in call `search_ioctl` makes before each pass in `version`: <= 5.15
/// `fault_in_pages_writeable`, 5.16-5.18 `fault_in_writeable`, 5.19 and later (up to 6.18,
/// unchanged) `fault_in_subpage_writeable` (commit 18788e34642e, "btrfs: Avoid live-lock in
/// search_ioctl() on hardware with sub-page faults").
pub fn fault_in_call(version: KernelVersion) -> FaultInFn {
    if !version.at_least(5, 16) {
        FaultInFn::PagesWriteable
    } else if !version.at_least(5, 19) {
        FaultInFn::Writeable
    } else {
        FaultInFn::SubpageWriteable
    }
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
    /// The tree searched (read only).
    tree: Tree,
    call: FaultInFn,
    version: KernelVersion,
    probe: SubpageProbe,
    mte: bool,
    /// Byte order of the search headers.
    arch: Arch,
    /// TREE_SEARCH_V2 (for the title only).
    v2: bool,
    /// How the loop ended, once it has: `Ok(())` or the errno (`EOVERFLOW` included).
    pub result: Option<Result<(), Errno>>,
}

impl SearchIoctl {
    /// A search of `tree` into `ubuf` (`buf_size` bytes) for kernel `version` with the
    /// architecture's sub-page probe (`mte`: the machine checks tags at all).
    pub fn new(
        sk: SearchKey,
        tree: Tree,
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
            tree,
            call: fault_in_call(version),
            version,
            probe,
            mte,
            arch: Arch::Arm64,
            v2: false,
            result: None,
        }
    }

    /// The same search for a task of `arch` (the headers in its byte order).
    pub fn for_arch(mut self, arch: Arch) -> SearchIoctl {
        self.arch = arch;
        self
    }

    /// The same search as TREE_SEARCH_V2.
    pub fn v2(mut self, v2: bool) -> SearchIoctl {
        self.v2 = v2;
        self
    }

    fn done(&mut self, r: Result<(), Errno>) -> PassEnd {
        self.sk.nr_items = self.num_found;
        self.result = Some(r);
        PassEnd::Done(r.map(|_| 0).unwrap_or_else(|e| -e.generic()))
    }

    /// Run one pass with the thread's uaccess context `ctx`, logging into `log`.
    pub fn pass(&mut self, mm: &mut AddressSpace, ctx: UaccessCtx, log: &mut Vec<LoopEvent>) -> PassEnd {
        if self.buf_size < SEARCH_HEADER_SIZE {
            self.buf_size = SEARCH_HEADER_SIZE;
            return self.done(Err(Errno::EOVERFLOW));
        }
        let (start, len) = (self.ubuf.wrapping_add(self.sk_offset), self.buf_size - self.sk_offset);
        let faulted = match self.call {
            FaultInFn::PagesWriteable => fault_in::fault_in_pages_writeable(mm, ctx, start, len),
            FaultInFn::Writeable => fault_in::fault_in_writeable_for(mm, ctx, self.version, start, len) as i64,
            _ => fault_in::fault_in_subpage_writeable(mm, ctx, self.probe, self.mte, start, len) as i64,
        };
        log.push(LoopEvent::FaultIn { func: self.call, start, len, result: faulted });
        if faulted != 0 {
            log.push(LoopEvent::Note { text: "search_ioctl gives up: -EFAULT.".into() });
            return self.done(Err(Errno::EFAULT));
        }
        let from = self.key;
        let Some((leaf, slot)) = self.tree.search_forward(self.key, self.sk.min_transid) else {
            log.push(LoopEvent::Note {
                text: format!(
                    "searched from key ({}, {}, {}): no more items; search_ioctl returns 0.",
                    from.objectid, from.typ, from.offset
                ),
            });
            return self.done(Ok(()));
        };
        // btrfs_search_forward() leaves the key it found in the search key.
        self.key = self.tree.leaves[leaf].items[slot].key;
        let before = self.num_found;
        let at = log.len();
        let ret = self.copy_to_sk(mm, ctx, leaf, slot, log);
        let copied = self.num_found - before;
        log.insert(
            at,
            LoopEvent::Note {
                text: format!(
                    "searched from key ({}, {}, {}); copied {copied} item(s) with page faults disabled.",
                    from.objectid, from.typ, from.offset
                ),
            },
        );
        match ret {
            0 => PassEnd::Continue,
            r if r < 0 => self.done(Err(Errno::EOVERFLOW)),
            _ => self.done(Ok(())),
        }
    }

    /// One record copy (`copy_to_user_nofault`), logged; true when it copied everything.
    fn copy_record(
        &self,
        mm: &mut AddressSpace,
        ctx: UaccessCtx,
        what: String,
        at: u64,
        data: &[u8],
        log: &mut Vec<LoopEvent>,
    ) -> bool {
        let nofault = UaccessCtx { pagefault_disabled: true, ..ctx };
        let ok = uaccess::copy_to_user_nofault(mm, nofault, UserAddr(at), data).is_ok();
        let len = data.len() as u64;
        let (copied, fault) = if ok {
            (len, None)
        } else {
            let reached = uaccess::accessible(mm, nofault, UserAddr(at), len, Access::Write);
            (reached, Some(FaultSite::at(mm, nofault, at.wrapping_add(reached), Access::Write)))
        };
        log.push(LoopEvent::Copy {
            func: "copy_to_user_nofault".into(),
            what,
            dir: CopyDir::ToUser,
            start: at,
            len,
            copied,
            fault,
        });
        ok
    }

    /// `copy_to_sk()`: 0 = continue, 1 = stop, -1 = -EOVERFLOW.
    fn copy_to_sk(
        &mut self,
        mm: &mut AddressSpace,
        ctx: UaccessCtx,
        leaf: usize,
        slot: usize,
        log: &mut Vec<LoopEvent>,
    ) -> i32 {
        let l = &self.tree.leaves[leaf];
        let generation = l.generation;
        let items: Vec<(Key, Vec<u8>)> = l.items[slot..].iter().map(|i| (i.key, i.data.clone())).collect();
        let mut ret = 0;
        let mut key = self.key;
        // A leaf newer than max_transid is skipped from the found key: the kernel sets
        // i = nritems and goes to advance_key with the key it was given, so the next pass
        // searches again from that key plus one (one key per pass, not a jump to the leaf's
        // end).
        if generation <= self.sk.max_transid {
            for (k, data) in items {
                key = k;
                self.key = key;
                if !self.sk.contains(key) {
                    continue;
                }
                let mut item_len = data.len() as u64;
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
                sh.u64(generation).u64(key.objectid).u64(key.offset).u32(key.typ as u32).u32(item_len as u32);
                let at = self.ubuf.wrapping_add(self.sk_offset);
                let name = format!("item ({}, {}, {})", key.objectid, key.typ, key.offset);
                if !self.copy_record(mm, ctx, format!("the 32-byte search header of {name}"), at, &sh.finish(), log) {
                    log.push(LoopEvent::Note {
                        text: format!(
                            "copy_to_sk() returns 0: rewind to sk_offset {} and retry the same key.",
                            self.sk_offset
                        ),
                    });
                    return 0;
                }
                self.sk_offset += SEARCH_HEADER_SIZE;
                if item_len > 0 {
                    let at = self.ubuf.wrapping_add(self.sk_offset);
                    if !self.copy_record(mm, ctx, format!("the data of {name}"), at, &data, log) {
                        self.sk_offset -= SEARCH_HEADER_SIZE;
                        log.push(LoopEvent::Note {
                            text: format!(
                                "copy_to_sk() returns 0: rewind to sk_offset {} and retry the same key.",
                                self.sk_offset
                            ),
                        });
                        return 0;
                    }
                    self.sk_offset += item_len;
                }
                self.num_found += 1;
                if ret != 0 {
                    return ret;
                }
                if self.num_found >= self.sk.nr_items {
                    return 1;
                }
            }
        } else {
            log.push(LoopEvent::Note {
                text: format!(
                    "the leaf's generation {generation} is newer than max_transid {}: skipped, the key advances by one.",
                    self.sk.max_transid
                ),
            });
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

impl KernelLoop for SearchIoctl {
    fn id(&self) -> &'static str {
        if self.v2 {
            "search_ioctl_v2"
        } else {
            "search_ioctl"
        }
    }

    fn title(&self) -> String {
        if self.v2 {
            "btrfs search_ioctl (TREE_SEARCH_V2)".into()
        } else {
            "btrfs search_ioctl (TREE_SEARCH)".into()
        }
    }

    fn position_name(&self) -> &'static str {
        "sk_offset"
    }

    fn position(&self) -> u64 {
        self.sk_offset
    }

    fn step(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> PassEnd {
        let ctx = k.uaccess;
        self.pass(&mut k.mm, ctx, log)
    }

    fn state(&self) -> Vec<u8> {
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

    fn user_ranges(&self) -> Vec<(u64, u64)> {
        vec![(self.ubuf, self.buf_size)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::btrfs::{Item, Leaf};
    use crate::kernel_stub::livelock::{LoopWatch, Watch};
    use crate::kernel_stub::mm::{Layout, MapRequest, Prot, VmaKind};

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
        let req = MapRequest::PRIVATE;
        let a = mm.mmap(0, 4096, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).unwrap();
        for g in 0..256 {
            mm.set_tag(a + 16 * g, if Some(g) == bad { 5 } else { 3 });
        }
        let ctx = UaccessCtx { tagged_addr_abi: true, check_loads: true, check_stores: true, ..Default::default() };
        (mm, a | (3 << 56), ctx)
    }

    fn run(version: &str, probe: SubpageProbe, bad: Option<u64>) -> (Result<(), Errno>, u64, SearchIoctl) {
        let (mut mm, ubuf, ctx) = buffer(bad);
        let mut s = SearchIoctl::new(sk(), tree(), ubuf, SEARCH_ARGS_BUFSIZE, version.parse().unwrap(), probe, true);
        let mut watch = LoopWatch::new(1000);
        loop {
            let mut state = s.state();
            let (start, len) = s.user_ranges()[0];
            let mut bytes = vec![0; len as usize];
            mm.read_kernel(mm.untag(start).unwrap(), &mut bytes).unwrap();
            state.extend_from_slice(&bytes);
            state.extend(mm.dump_tags(mm.untag(start).unwrap(), len).into_iter().map(|t| t.unwrap_or(0xff)));
            if let Watch::Livelock(c) = watch.observe(&state) {
                return (Err(Errno::EDEADLK), c.length(), s);
            }
            if let PassEnd::Done(_) = s.pass(&mut mm, ctx, &mut Vec::new()) {
                return (s.result.unwrap(), watch.passes(), s);
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
        let mut s = SearchIoctl::new(sk(), tree(), ubuf, 50, "5.19".parse().unwrap(), SubpageProbe::Arm64Mte, true);
        let r = loop {
            if let PassEnd::Done(_) = s.pass(&mut mm, ctx, &mut Vec::new()) {
                break s.result.unwrap();
            }
        };
        assert_eq!(r, Err(Errno::EOVERFLOW));
        assert_eq!(s.buf_size, 32 + 40, "the size the first item needs");
        assert_eq!(s.num_found, 1, "one empty header was emitted");
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;
    use crate::kernel_stub::btrfs::{Item, Leaf};
    use crate::kernel_stub::mm::{Layout, MapRequest, Prot, VmaKind};

    #[test]
    fn the_fault_in_call_follows_the_version() {
        let v = |s: &str| fault_in_call(s.parse().unwrap());
        assert_eq!(v("5.15"), FaultInFn::PagesWriteable);
        for s in ["5.16", "5.17", "5.18"] {
            assert_eq!(v(s), FaultInFn::Writeable, "{s}");
        }
        for s in ["5.19", "6.1", "6.6", "6.12", "6.14", "6.17", "6.18"] {
            assert_eq!(v(s), FaultInFn::SubpageWriteable, "{s}");
        }
    }

    #[test]
    fn a_leaf_newer_than_max_transid_is_skipped_one_key_per_pass() {
        let item = |o: u64| Item { key: Key { objectid: o, typ: 1, offset: 0 }, data: vec![1; 8] };
        let tree = Tree {
            leaves: vec![
                Leaf { generation: 20, items: vec![item(256), item(257), item(258)] },
                Leaf { generation: 5, items: vec![item(259)] },
            ],
        };
        let sk = SearchKey {
            max_objectid: u64::MAX,
            max_offset: u64::MAX,
            max_transid: 10,
            max_type: 255,
            nr_items: 100,
            ..Default::default()
        };
        let mut mm = AddressSpace::new(Layout::arm64());
        let req = MapRequest::PRIVATE;
        let a = mm.mmap(0, 4096, Prot::RW, req, VmaKind::Anon).unwrap();
        let mut s = SearchIoctl::new(sk, tree, a, 4096, "5.19".parse().unwrap(), SubpageProbe::Generic, false);
        let mut passes = 0;
        while let PassEnd::Continue = s.pass(&mut mm, UaccessCtx::default(), &mut Vec::new()) {
            passes += 1;
        }
        // Items 256, 257, 258 are skipped one pass each, then 259 is copied; the search
        // then advances past 259 and finds nothing.
        assert_eq!(passes, 4);
        assert_eq!((s.result, s.num_found), (Some(Ok(())), 1));
    }
}
