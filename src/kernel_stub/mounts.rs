//! Which filesystem a path is on: the emulated mounts (btrfs, ext4, gfs2, fuse) over the
//! in-memory tmpfs. The files of a mount live in the same in-memory tree; what the mount
//! decides is which kernel code path a read, a write or an O_DIRECT open takes.

use serde::{Deserialize, Serialize};

use crate::kernel_stub::Kernel;

/// A filesystem type whose read/write paths tagmmu models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    /// tmpfs (shmem): `generic_perform_write` with `shmem_write_end`; no O_DIRECT before 6.6.
    Tmpfs,
    /// btrfs: `btrfs_buffered_write`, its O_DIRECT loop, the search ioctls.
    Btrfs,
    /// ext4: `generic_perform_write` with `block_write_end`; O_DIRECT through `iomap_dio_rw`.
    Ext4,
    /// gfs2: `gfs2_file_read_iter`, `gfs2_file_buffered_write` (iomap), and their direct-I/O
    /// loops.
    Gfs2,
    /// fuse: `fuse_perform_write` / `fuse_fill_write_pages`.
    Fuse,
}

impl FsKind {
    /// Its name, as `mount` prints it.
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Tmpfs => "tmpfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Ext4 => "ext4",
            FsKind::Gfs2 => "gfs2",
            FsKind::Fuse => "fuse",
        }
    }
}

/// An emulated mount (other than btrfs, whose tree lives in [`crate::kernel_stub::btrfs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Its type.
    pub fs: FsKind,
    /// Where it is mounted.
    pub path: String,
}

fn under(path: &str, mount: &str) -> bool {
    path == mount || path.strip_prefix(mount).is_some_and(|rest| rest.starts_with('/'))
}

impl Kernel {
    /// The filesystem `path` (normalized) is on.
    pub fn fs_of(&self, path: &str) -> FsKind {
        if self.on_btrfs(path) {
            return FsKind::Btrfs;
        }
        self.mounts
            .iter()
            .filter(|m| under(path, &m.path))
            .max_by_key(|m| m.path.len())
            .map(|m| m.fs)
            .unwrap_or(FsKind::Tmpfs)
    }

    /// The filesystem the open file `fd` is on (tmpfs for anything that is not a path).
    pub fn fd_fs(&self, fd: u64) -> FsKind {
        self.vfs.file(fd).map(|f| self.fs_of(&f.path)).unwrap_or(FsKind::Tmpfs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::KernelConfig;

    #[test]
    fn the_longest_mount_wins_and_prefixes_need_a_slash() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        k.mounts.push(Mount { fs: FsKind::Gfs2, path: "/mnt".into() });
        k.mounts.push(Mount { fs: FsKind::Ext4, path: "/mnt/e".into() });
        assert_eq!(k.fs_of("/mnt/x"), FsKind::Gfs2);
        assert_eq!(k.fs_of("/mnt/e/f"), FsKind::Ext4);
        assert_eq!(k.fs_of("/mnt/ex"), FsKind::Gfs2);
        assert_eq!(k.fs_of("/tmp/a"), FsKind::Tmpfs);
        assert_eq!(k.fs_of("/mntx"), FsKind::Tmpfs);
    }
}
