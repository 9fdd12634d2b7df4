//! Every modelled fault-in + uaccess loop, reached from a guest program through the real
//! syscall on a file of the right filesystem, on arm64 MTE and SPARC ADI, on every modelled
//! kernel: the loop that ran and its verdict, per version.

mod common;
use common::*;

use tagmmu::arch::Arch;
use tagmmu::kernel_stub::btrfs::ioctl::BtrfsMount;
use tagmmu::kernel_stub::btrfs::{Item, Key, Leaf, Tree};
use tagmmu::kernel_stub::loops::{LivelockAction, Verdict};
use tagmmu::kernel_stub::mounts::{FsKind, Mount};
use tagmmu::kernel_stub::version::{KernelVersion, KNOWN};
use tagmmu::machine::{self, MachineConfig};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Livelock,
    Completed,
}

/// Run `program args` on `arch` and kernel `v` with the mounts a loop needs; the verdict of
/// the first loop report whose id is `id`.
fn verdict(arch: Arch, v: KernelVersion, program: &str, args: &[String], id: &str) -> Verdict {
    let dir = match arch {
        Arch::Arm64 => "arm64",
        Arch::Sparc64 => "sparc64",
    };
    let mut cfg = MachineConfig::new(guest(&format!("{dir}/{program}"))).args(args.iter().cloned());
    cfg.kernel.version = v;
    cfg.kernel.livelock_action = LivelockAction::Fail { errno: "EINTR".into() };
    cfg.kernel.loop_budget = 10_000;
    let item = |o: u64, n: usize| Item { key: Key { objectid: o, typ: 1, offset: 0 }, data: vec![b'i'; n] };
    cfg.btrfs = Some(BtrfsMount {
        path: "/mnt/btrfs".into(),
        tree: Tree { leaves: vec![Leaf { generation: 7, items: vec![item(256, 40), item(257, 24)] }] },
    });
    for (fs, path) in [(FsKind::Ext4, "/mnt/ext4"), (FsKind::Gfs2, "/mnt/gfs2"), (FsKind::Fuse, "/mnt/fuse")] {
        cfg.mounts.push(Mount { fs, path: path.into() });
    }
    cfg.files.push(("/mnt/gfs2/data".into(), vec![b'd'; 3 * 8192]));
    let r = machine::run(&cfg).unwrap_or_else(|e| panic!("{program} {args:?} on {v}: {e}"));
    r.loops
        .iter()
        .find(|l| l.id == id)
        .unwrap_or_else(|| panic!("{program} {args:?} on {arch} {v}: no {id} loop ran: {:?}", text(&r.stdout)))
        .verdict
        .clone()
}

#[test]
fn ext4_direct_reads_complete_over_a_mistagged_granule_on_both_architectures() {
    for (arch, dir, page, bad) in [(Arch::Arm64, "arm64", 4096u64, 16u64), (Arch::Sparc64, "sparc64", 8192, 64)] {
        for &v in KNOWN {
            let args =
                ["0".to_string(), bad.to_string(), (2 * page).to_string(), "/mnt/ext4/data".into(), "direct".into()];
            let mut cfg = MachineConfig::new(guest(&format!("{dir}/read_partial"))).args(args);
            cfg.kernel.version = v;
            cfg.mounts.push(Mount { fs: FsKind::Ext4, path: "/mnt/ext4".into() });
            cfg.files.push(("/mnt/ext4/data".into(), vec![b'e'; 2 * page as usize]));
            let r = machine::run(&cfg).unwrap();
            let d = &r.direct_io[0];
            assert_eq!((d.fs.as_str(), d.ret, d.unchecked.len()), ("ext4", 2 * page as i64, 1), "{arch} {v}");
        }
    }
}

#[test]
fn every_loop_on_every_kernel_on_both_architectures() {
    for arch in [Arch::Arm64, Arch::Sparc64] {
        let (page, bad) = match arch {
            Arch::Arm64 => (4096u64, 16u64),
            Arch::Sparc64 => (8192, 64),
        };
        let len = (2 * page).to_string();
        let write = |path: &str| vec!["0".to_string(), bad.to_string(), len.clone(), path.to_string()];
        let search_args: Vec<String> = match arch {
            Arch::Arm64 => vec!["/mnt/btrfs".into(), "sync".into(), "16".into()],
            Arch::Sparc64 => vec!["/mnt/btrfs".into(), "adi".into(), "40".into()],
        };
        for &v in KNOWN {
            type Rule = fn(KernelVersion, Arch) -> Expect;
            let cases: [(&str, Vec<String>, &str, Rule); 9] = [
                ("btrfs_search", search_args.clone(), "search_ioctl", |v, arch| {
                    if arch == Arch::Arm64 && v.at_least(5, 19) {
                        Expect::Completed
                    } else {
                        Expect::Livelock
                    }
                }),
                ("write_partial", write("/tmp/f"), "generic_perform_write", |_, _| Expect::Completed),
                ("write_partial", write("/mnt/ext4/f"), "generic_perform_write", |_, _| Expect::Completed),
                ("write_partial", write("/mnt/btrfs/f"), "btrfs_buffered_write", |v, _| {
                    if v.at_least(6, 13) {
                        Expect::Livelock
                    } else {
                        Expect::Completed
                    }
                }),
                ("write_partial", write("/mnt/gfs2/f"), "gfs2_file_buffered_write", |_, _| Expect::Completed),
                ("write_partial", write("/mnt/fuse/f"), "fuse_perform_write", |_, _| Expect::Completed),
                (
                    "read_partial",
                    vec!["0".into(), bad.to_string(), len.clone(), "/mnt/gfs2/data".into()],
                    "gfs2_file_read_iter",
                    |v, _| if v.at_least(5, 16) { Expect::Livelock } else { Expect::Completed },
                ),
                (
                    "read_partial",
                    vec!["0".into(), bad.to_string(), len.clone(), "/mnt/gfs2/data".into(), "direct".into()],
                    "gfs2_file_direct_read",
                    |_, _| Expect::Completed,
                ),
                // An O_DIRECT write from a shared mapping of its own target page (no tags
                // needed): stuck on 5.16-6.3, the 6.4 fix falls back to buffered I/O; 5.15's GUP
                // faults the page back in itself.
                ("dio_onto_itself", vec!["/mnt/gfs2/data".into()], "gfs2_file_direct_write", |v, _| {
                    if v.at_least(5, 16) && !v.at_least(6, 4) {
                        Expect::Livelock
                    } else {
                        Expect::Completed
                    }
                }),
            ];
            for (program, args, id, rule) in cases {
                let got = match verdict(arch, v, program, &args, id) {
                    Verdict::Livelock { .. } => Expect::Livelock,
                    Verdict::Completed { .. } => Expect::Completed,
                    other => panic!("{id} on {arch} {v}: no proof ({other:?})"),
                };
                assert_eq!(got, rule(v, arch), "{id} ({program} {args:?}) on {arch} {v}");
            }
        }
    }
}
