//! The TREE_SEARCH ioctls on an emulated btrfs mount: the UAPI wrappers (§C.2) around
//! [`super::search::SearchIoctl`], run under the live-lock watch.

use super::search::{SearchIoctl, SearchKey, BTRFS_IOC_TREE_SEARCH, SEARCH_ARGS_BUFSIZE, SEARCH_KEY_SIZE};
use super::Tree;
use crate::addr::UserAddr;
use crate::arch::StructWriter;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::loops::{LoopEnd, Verdict};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// `v2` buffers are capped at 16 MiB by the kernel.
const V2_MAX_BUF: u64 = 16 << 20;

/// An emulated btrfs mount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtrfsMount {
    /// Where it is mounted in the guest filesystem.
    pub path: String,
    /// Its tree.
    pub tree: Tree,
}

impl Kernel {
    /// Is `path` on the btrfs mount?
    pub fn on_btrfs(&self, path: &str) -> bool {
        self.btrfs.as_ref().is_some_and(|m| path == m.path || path.starts_with(&format!("{}/", m.path)))
    }

    /// BTRFS_IOC_TREE_SEARCH / _V2 at user address `arg`: the UAPI wrapper around
    /// [`SearchIoctl`], run under the live-lock watch.
    pub fn btrfs_tree_search(&mut self, req: u64, arg: u64) -> KResult<u64> {
        if !self.config.cap_sys_admin {
            return Err(Errno::EPERM);
        }
        let v2 = req != BTRFS_IOC_TREE_SEARCH;
        let head = uaccess::read_user(
            &mut self.mm,
            self.uaccess,
            UserAddr(arg),
            if v2 { SEARCH_KEY_SIZE + 8 } else { SEARCH_KEY_SIZE },
        )?;
        let sk = SearchKey::decode(self.arch, &head);
        let (ubuf, buf_size) = if v2 {
            let requested = crate::arch::read_u64(self.arch, &head[SEARCH_KEY_SIZE..]);
            (arg.wrapping_add(SEARCH_KEY_SIZE as u64 + 8), requested.min(V2_MAX_BUF))
        } else {
            (arg.wrapping_add(SEARCH_KEY_SIZE as u64), SEARCH_ARGS_BUFSIZE)
        };
        let tree = self.btrfs.as_ref().map(|m| m.tree.clone()).unwrap_or_default();
        let probe = self.subpage_probe();
        let mte = self.tags_supported();
        let mut search =
            SearchIoctl::new(sk, tree, ubuf, buf_size, self.config.version, probe, mte).for_arch(self.arch).v2(v2);
        let end = self.run_kernel_loop(&mut search);
        let Some(r) = search.result.filter(|_| matches!(end, LoopEnd::Returned(_))) else {
            return end.syscall_result();
        };
        // The wrappers: v1 turns -EOVERFLOW into success; the key (and nr_items) or the
        // needed buf_size go back to the user.
        let r = match (r, v2) {
            (Err(Errno::EOVERFLOW), false) => Ok(()),
            (r, _) => r,
        };
        let r = match r {
            Ok(()) => {
                uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(arg), &search.sk.encode(self.arch)).map(|_| 0)
            }
            Err(Errno::EOVERFLOW) => {
                let mut w = StructWriter::new(self.arch);
                w.u64(search.buf_size);
                uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(arg + SEARCH_KEY_SIZE as u64), &w.finish())
                    .and(Err(Errno::EOVERFLOW))
            }
            Err(e) => Err(e),
        };
        // The report states what the syscall returned, after the wrapper.
        if let Some(rep) = self.loop_reports.last_mut() {
            rep.verdict = Verdict::Completed { ret: r.map(|v| v as i64).unwrap_or_else(|e| -e.generic()) };
            rep.reason = match &r {
                Ok(_) => format!("{} item(s) copied", search.num_found),
                Err(e) => format!("returned -{} ({})", e.name(), e.description()),
            };
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::btrfs::search::BTRFS_IOC_TREE_SEARCH_V2;
    use crate::kernel_stub::btrfs::{Item, Key, Leaf};
    use crate::kernel_stub::mm::{MapRequest, Prot, VmaKind};
    use crate::kernel_stub::KernelConfig;

    fn kernel(cap: bool) -> (Kernel, u64) {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig { cap_sys_admin: cap, ..Default::default() });
        let item = |o: u64, n: usize| Item { key: Key { objectid: o, typ: 1, offset: 0 }, data: vec![7; n] };
        k.btrfs = Some(BtrfsMount {
            path: "/mnt/b".into(),
            tree: Tree { leaves: vec![Leaf { generation: 3, items: vec![item(256, 100), item(257, 10)] }] },
        });
        let req = MapRequest::PRIVATE;
        let a = k.mm.mmap(0, 8192, Prot::RW, req, VmaKind::Anon).unwrap();
        (k, a)
    }

    fn put_args(k: &mut Kernel, a: u64, buf_size: u64) {
        let sk = SearchKey {
            max_objectid: u64::MAX,
            max_offset: u64::MAX,
            max_transid: u64::MAX,
            max_type: 255,
            nr_items: 10,
            ..Default::default()
        };
        let mut bytes = sk.encode(Arch::Arm64);
        bytes.extend_from_slice(&buf_size.to_le_bytes());
        k.mm.write_kernel(a, &bytes).unwrap();
    }

    fn ret(r: KResult<u64>) -> KResult<u64> {
        r
    }

    #[test]
    fn v2_reports_the_needed_size_on_overflow_and_copies_back_the_key() {
        let (mut k, a) = kernel(true);
        put_args(&mut k, a, 64);
        assert_eq!(ret(k.btrfs_tree_search(BTRFS_IOC_TREE_SEARCH_V2, a)), Err(Errno::EOVERFLOW));
        let mut b = [0u8; 8];
        k.mm.read_kernel(a + 104, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), 32 + 100, "the size the first item needs");
        put_args(&mut k, a, 4096);
        assert_eq!(ret(k.btrfs_tree_search(BTRFS_IOC_TREE_SEARCH_V2, a)), Ok(0));
        let mut key = [0u8; 104];
        k.mm.read_kernel(a, &mut key).unwrap();
        assert_eq!(SearchKey::decode(Arch::Arm64, &key).nr_items, 2);
        assert!(matches!(k.loop_reports.last().map(|r| &r.verdict), Some(Verdict::Completed { ret: 0 })));
    }

    #[test]
    fn v1_turns_overflow_into_success_and_needs_cap_sys_admin() {
        let (mut k, a) = kernel(true);
        put_args(&mut k, a, 0);
        assert_eq!(ret(k.btrfs_tree_search(BTRFS_IOC_TREE_SEARCH, a)), Ok(0));
        let (mut k, a) = kernel(false);
        put_args(&mut k, a, 0);
        assert_eq!(ret(k.btrfs_tree_search(BTRFS_IOC_TREE_SEARCH, a)), Err(Errno::EPERM));
        assert_eq!(
            ret(k.btrfs_tree_search(BTRFS_IOC_TREE_SEARCH, 0x10)),
            Err(Errno::EPERM),
            "the capability is checked first"
        );
        let (mut k, _) = kernel(true);
        assert_eq!(ret(k.btrfs_tree_search(BTRFS_IOC_TREE_SEARCH, 0x10)), Err(Errno::EFAULT));
    }
}
