//! One point of a sweep: what it is ([`Point`]), how it runs ([`run_point`]) and what it gave
//! ([`PointResult`], one JSON line).
//!
//! A point starts where a guest's syscall enters the kernel: a kernel model of the point's
//! version whose address space holds the user buffer (tagged 3, the pointer tagged 3, one
//! granule or ADI block tagged with the point's bad tag, the point's pages absent), the
//! thread in the point's tag-check mode, the file on the right mount. The file loops are then
//! entered through the kernel's own syscall entry (`pread64`/`pwrite64` on a file opened with
//! or without `O_DIRECT`), so the point takes the same path a guest's call takes; the btrfs
//! search runs `search_ioctl()` on the results buffer directly (the ioctl's argument copy,
//! which only reads the key, is left out so that the buffer can start anywhere in a page).

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::kernel_stub::btrfs::ioctl::BtrfsMount;
use crate::kernel_stub::btrfs::search::{SearchIoctl, SearchKey, SEARCH_ARGS_BUFSIZE};
use crate::kernel_stub::btrfs::{Item, Key, Leaf, Tree};
use crate::kernel_stub::fault_in::SubpageProbe;
use crate::kernel_stub::loops::{LoopReport, Verdict};
use crate::kernel_stub::mounts::{FsKind, Mount};
use crate::kernel_stub::syscalls::{SyscallOutcome, Sysno};
use crate::kernel_stub::uaccess::CopyModel;
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::vfs::OpenFlags;
use crate::kernel_stub::Kernel;
use crate::sweep::spec::Config;
use crate::testbed::{kernel_with_buffer, BufferSpec, CheckMode, Testbed};

/// A loop (a kernel path with a fault-in + uaccess loop, or a direct-I/O path) a sweep runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SweepLoop {
    /// btrfs `BTRFS_IOC_TREE_SEARCH`: `search_ioctl()` into the 3992-byte `args.buf` (the
    /// buffer length axis does not apply).
    SearchIoctl,
    /// btrfs `BTRFS_IOC_TREE_SEARCH_V2`: `search_ioctl()` into a buffer of the point's length.
    SearchIoctlV2,
    /// `pwrite64` to a tmpfs file: `generic_perform_write` with `shmem_write_end`.
    PerformWriteTmpfs,
    /// `pwrite64` to an ext4 file: `generic_perform_write` with `block_write_end`.
    PerformWriteExt4,
    /// `pwrite64` to a btrfs file: `btrfs_buffered_write`.
    BtrfsBufferedWrite,
    /// `pread64` of a btrfs file opened with `O_DIRECT`: `btrfs_direct_read` and its loop.
    BtrfsDirectRead,
    /// `pwrite64` to a btrfs file opened with `O_DIRECT`: `btrfs_direct_write` (buffered from
    /// 6.15 for checksummed files).
    BtrfsDirectWrite,
    /// `pread64` of an ext4 file opened with `O_DIRECT`: `iomap_dio_rw`, faults enabled.
    Ext4DirectRead,
    /// `pwrite64` to an ext4 file opened with `O_DIRECT`.
    Ext4DirectWrite,
    /// `pread64` of a gfs2 file: `gfs2_file_read_iter`.
    Gfs2Read,
    /// `pwrite64` to a gfs2 file: `gfs2_file_buffered_write` (iomap_write_iter).
    Gfs2Write,
    /// `pread64` of a gfs2 file opened with `O_DIRECT`: `gfs2_file_direct_read`.
    Gfs2DirectRead,
    /// `pwrite64` to a gfs2 file opened with `O_DIRECT`: `gfs2_file_direct_write`, then
    /// buffered for the rest.
    Gfs2DirectWrite,
    /// `pwrite64` to a fuse file: `fuse_perform_write` / `fuse_fill_write_pages`.
    FuseWrite,
    /// `pread64` of a tmpfs file: `shmem_file_read_iter`, copies with faults enabled (no loop).
    TmpfsRead,
}

impl SweepLoop {
    /// Every loop, in sweep order.
    pub const ALL: [SweepLoop; 15] = [
        SweepLoop::SearchIoctl,
        SweepLoop::SearchIoctlV2,
        SweepLoop::PerformWriteTmpfs,
        SweepLoop::PerformWriteExt4,
        SweepLoop::BtrfsBufferedWrite,
        SweepLoop::BtrfsDirectRead,
        SweepLoop::BtrfsDirectWrite,
        SweepLoop::Ext4DirectRead,
        SweepLoop::Ext4DirectWrite,
        SweepLoop::Gfs2Read,
        SweepLoop::Gfs2Write,
        SweepLoop::Gfs2DirectRead,
        SweepLoop::Gfs2DirectWrite,
        SweepLoop::FuseWrite,
        SweepLoop::TmpfsRead,
    ];

    /// Its name in sweep files and JSON.
    pub fn name(self) -> &'static str {
        match self {
            SweepLoop::SearchIoctl => "search_ioctl",
            SweepLoop::SearchIoctlV2 => "search_ioctl_v2",
            SweepLoop::PerformWriteTmpfs => "perform_write_tmpfs",
            SweepLoop::PerformWriteExt4 => "perform_write_ext4",
            SweepLoop::BtrfsBufferedWrite => "btrfs_buffered_write",
            SweepLoop::BtrfsDirectRead => "btrfs_direct_read",
            SweepLoop::BtrfsDirectWrite => "btrfs_direct_write",
            SweepLoop::Ext4DirectRead => "ext4_direct_read",
            SweepLoop::Ext4DirectWrite => "ext4_direct_write",
            SweepLoop::Gfs2Read => "gfs2_read",
            SweepLoop::Gfs2Write => "gfs2_write",
            SweepLoop::Gfs2DirectRead => "gfs2_direct_read",
            SweepLoop::Gfs2DirectWrite => "gfs2_direct_write",
            SweepLoop::FuseWrite => "fuse_write",
            SweepLoop::TmpfsRead => "tmpfs_read",
        }
    }

    /// The loop named `name`.
    pub fn parse(name: &str) -> Option<SweepLoop> {
        SweepLoop::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The filesystem its file is on, and whether it is opened with `O_DIRECT` and for a read
    /// (`None` for the search ioctl).
    fn file(self) -> Option<(FsKind, bool, bool)> {
        use SweepLoop::*;
        Some(match self {
            SearchIoctl | SearchIoctlV2 => return None,
            PerformWriteTmpfs => (FsKind::Tmpfs, false, false),
            TmpfsRead => (FsKind::Tmpfs, false, true),
            PerformWriteExt4 => (FsKind::Ext4, false, false),
            BtrfsBufferedWrite => (FsKind::Btrfs, false, false),
            BtrfsDirectRead => (FsKind::Btrfs, true, true),
            BtrfsDirectWrite => (FsKind::Btrfs, true, false),
            Ext4DirectRead => (FsKind::Ext4, true, true),
            Ext4DirectWrite => (FsKind::Ext4, true, false),
            Gfs2Read => (FsKind::Gfs2, false, true),
            Gfs2Write => (FsKind::Gfs2, false, false),
            Gfs2DirectRead => (FsKind::Gfs2, true, true),
            Gfs2DirectWrite => (FsKind::Gfs2, true, false),
            FuseWrite => (FsKind::Fuse, false, false),
        })
    }

    /// The user buffer's length at a point whose length axis says `len`.
    pub fn buffer_len(self, len: u64) -> u64 {
        match self {
            SweepLoop::SearchIoctl => SEARCH_ARGS_BUFSIZE,
            _ => len,
        }
    }
}

/// Which `probe_subpage_writeable()` the kernel has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Flavour {
    /// As released: arm64's MTE probe on arm64; on SPARC the generic no-op (upstream has no
    /// ADI probe).
    Upstream,
    /// No sub-page probe on either architecture (the generic no-op): what 5.19+ would do
    /// without the arch hook.
    NoProbe,
    /// SPARC only: tagmmu's ADI `probe_subpage_writeable()` (one load per 64-byte block).
    SparcAdiProbe,
}

impl Flavour {
    /// Every flavour.
    pub const ALL: [Flavour; 3] = [Flavour::Upstream, Flavour::NoProbe, Flavour::SparcAdiProbe];

    /// Its name in sweep files and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Upstream => "upstream",
            Flavour::NoProbe => "no_probe",
            Flavour::SparcAdiProbe => "sparc_adi_probe",
        }
    }

    /// The flavour named `name`.
    pub fn parse(name: &str) -> Option<Flavour> {
        Flavour::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The probe on `arch`, if the flavour exists there.
    pub fn probe(self, arch: Arch) -> Option<SubpageProbe> {
        match (self, arch) {
            (Flavour::Upstream, Arch::Arm64) => Some(SubpageProbe::Arm64Mte),
            (Flavour::Upstream | Flavour::NoProbe, _) => Some(SubpageProbe::Generic),
            (Flavour::SparcAdiProbe, Arch::Sparc64) => Some(SubpageProbe::SparcAdi),
            (Flavour::SparcAdiProbe, Arch::Arm64) => None,
        }
    }
}

/// One point: a loop on a machine over a buffer (its [`Config`]) with at most one bad granule.
/// It derefs to its configuration (`point.the_loop`, `point.kernel`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Point {
    /// Everything but the bad offset.
    #[serde(flatten)]
    pub config: Config,
    /// The offset from the buffer's start of a byte in the bad granule, if there is one.
    pub bad_offset: Option<u64>,
}

impl std::ops::Deref for Point {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

pub(crate) fn ser_version<S: serde::Serializer>(v: &KernelVersion, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

pub(crate) fn ser_arch<S: serde::Serializer>(a: &Arch, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(arch_name(*a))
}

/// `arm64` or `sparc64`.
pub fn arch_name(a: Arch) -> &'static str {
    match a {
        Arch::Arm64 => "arm64",
        Arch::Sparc64 => "sparc64",
    }
}

/// How a point ended: the classification of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A loop's complete state repeated: a proven live-lock (a real kernel spins).
    Livelock,
    /// A loop ran out of its pass budget with no repeat: neither proof.
    Unproven,
    /// The syscall failed with EFAULT.
    Efault,
    /// The syscall failed with another errno.
    Errno,
    /// A signal is pending for the thread after the syscall.
    Signal,
    /// The syscall returned fewer bytes than asked for.
    Short,
    /// The syscall did all it was asked (the search: returned 0).
    Completed,
}

impl Outcome {
    /// Every outcome, worst first (the order of the heat map's "worst at this cell").
    pub const ALL: [Outcome; 7] = [
        Outcome::Livelock,
        Outcome::Unproven,
        Outcome::Efault,
        Outcome::Errno,
        Outcome::Signal,
        Outcome::Short,
        Outcome::Completed,
    ];

    /// Its name in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Livelock => "livelock",
            Outcome::Unproven => "unproven",
            Outcome::Efault => "efault",
            Outcome::Errno => "errno",
            Outcome::Signal => "signal",
            Outcome::Short => "short",
            Outcome::Completed => "completed",
        }
    }

    /// Its position in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        Outcome::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// The proof of a live-lock: the passes whose states are equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleInfo {
    /// The loop that live-locked (its id).
    #[serde(rename = "loop")]
    pub loop_id: String,
    /// The pass whose state came back.
    pub first_pass: u64,
    /// The pass at which it came back.
    pub repeat_pass: u64,
    /// Passes per cycle.
    pub length: u64,
    /// The loop's position variable when stuck (e.g. sk_offset, the file position).
    pub stuck_at: Option<u64>,
    /// Where the user access stopped, as an offset from the buffer's start.
    pub fault_offset: Option<u64>,
}

/// One point's result: one line of a sweep's JSON-lines output (schema 1, see
/// `docs/sweep.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointResult {
    /// The schema version (1).
    pub schema: u32,
    /// The sweep's fingerprint (hex): points of different sweeps never mix.
    pub sweep: String,
    /// The point's index in the sweep (its identity).
    pub index: u64,
    /// The loop.
    #[serde(rename = "loop")]
    pub the_loop: SweepLoop,
    /// The kernel.
    pub kernel: String,
    /// `arm64` or `sparc64`.
    pub arch: String,
    /// The tag-check mode.
    pub mode: CheckMode,
    /// The sub-page probe flavour.
    pub fault_in: Flavour,
    /// Where the buffer starts in its first page.
    pub align: u64,
    /// The buffer's length (bytes asked for).
    pub len: u64,
    /// Absent pages of the buffer's mapping, by index from its first page.
    pub absent: Vec<u64>,
    /// The bad granule's (block's) tag.
    pub bad_tag: u8,
    /// The bad byte's offset from the buffer's start (`null`: no bad granule).
    pub bad_offset: Option<u64>,
    /// The outcome.
    pub verdict: Outcome,
    /// The syscall's result (negative errno); `null` when live-locked (a real kernel spins)
    /// or unproven.
    pub ret: Option<i64>,
    /// The errno's name when the syscall failed.
    pub errno: Option<String>,
    /// The pending signal's name, if any.
    pub signal: Option<String>,
    /// Passes of the kernel loops (plus direct-I/O attempts).
    pub passes: u64,
    /// Copies that stopped short.
    pub short_copies: u64,
    /// `fault_in_*()` calls.
    pub fault_in_calls: u64,
    /// The fault-in function the (first) loop calls, if any.
    pub fault_in_fn: Option<String>,
    /// Bytes the syscall reports moved (read/write: its count; search: bytes of results).
    pub bytes_moved: u64,
    /// The proof when live-locked.
    pub cycle: Option<CycleInfo>,
}

impl PointResult {
    /// The point's machine row key: loop, kernel, arch, mode, flavour.
    pub fn row(&self) -> (SweepLoop, String, String, CheckMode, Flavour) {
        (self.the_loop, self.kernel.clone(), self.arch.clone(), self.mode, self.fault_in)
    }
}

/// The btrfs tree the search runs over: items of 64 data bytes, four per leaf, enough to
/// fill a buffer of `len` bytes and one more (every record is a 32-byte header plus data).
pub fn search_tree(len: u64) -> Tree {
    let items = len / 96 + 2;
    let mut leaves = Vec::new();
    let mut leaf = Leaf { generation: 7, items: Vec::new() };
    for i in 0..items {
        let data = vec![b'a' + (i % 26) as u8; 64];
        leaf.items.push(Item { key: Key { objectid: 256 + i, typ: 1, offset: 0 }, data });
        if leaf.items.len() == 4 {
            leaves.push(std::mem::replace(&mut leaf, Leaf { generation: 7, items: Vec::new() }));
        }
    }
    if !leaf.items.is_empty() {
        leaves.push(leaf);
    }
    Tree { leaves }
}

impl Point {
    /// The point in words: `search_ioctl on 5.16 arm64 sync upstream, buffer 0x68+3992, bad
    /// granule at offset 8`.
    pub fn describe(&self) -> String {
        format!(
            "{} on {} {} {} {}, buffer {:#x}+{}, bad granule at offset {}",
            self.the_loop.name(),
            self.kernel,
            arch_name(self.arch),
            self.mode.name(),
            self.fault_in.name(),
            self.align,
            self.the_loop.buffer_len(self.len),
            self.bad_offset.map_or("none".into(), |o| o.to_string()),
        )
    }
}

/// Run `p` with a pass budget of `budget` per loop, as point `index` of the sweep `sweep`.
pub fn run_point(p: &Point, budget: u64, sweep: &str, index: u64) -> PointResult {
    let run = execute(p, budget, false);
    classify(p, &run, sweep, index)
}

/// The point's narrative: every direct-I/O request and kernel loop of its syscall, told, with
/// the loops' tag maps (plain ASCII).
pub fn narrate(p: &Point, budget: u64) -> String {
    let run = execute(p, budget, true);
    let mut s = String::new();
    for d in &run.kernel.dio_reports {
        s.push_str(&d.narrative());
    }
    for r in &run.kernel.loop_reports {
        s.push_str(&crate::tagmap::terminal::narrative_with_maps(r, crate::tagmap::terminal::Style::PLAIN));
    }
    s
}

/// The point's kernel loops as they ran, with their buffer pictures (for a report page).
pub fn loop_reports(p: &Point, budget: u64) -> Vec<crate::kernel_stub::loops::LoopReport> {
    execute(p, budget, true).kernel.loop_reports
}

/// A point that ran: the kernel after the syscall, and what the syscall returned.
struct Run {
    kernel: Kernel,
    ubuf: u64,
    ret: crate::kernel_stub::errno::KResult<u64>,
    bytes_moved: u64,
}

/// Run `p`; `pictures`: keep the loops' buffer pictures (for a narrative).
fn execute(p: &Point, budget: u64, pictures: bool) -> Run {
    let probe = p.fault_in.probe(p.arch).unwrap_or(SubpageProbe::Generic);
    let tb = Testbed { arch: p.arch, version: p.kernel, probe, mode: p.mode };
    let page = p.arch.page_size();
    let len = p.the_loop.buffer_len(p.len);
    let pages = (p.align + len).div_ceil(page).max(1);
    let spec = BufferSpec { pages, offset: p.align, bad: p.bad_offset, absent: p.absent, bad_tag: p.bad_tag };
    let (mut k, ubuf) = kernel_with_buffer(&tb, &spec, budget);
    k.config.loop_pictures = pictures;
    // arm64 copies with its copy routine, access by access; SPARC's copy fixups are not
    // modelled, so SPARC copies are byte-exact.
    k.uaccess.model = match p.arch {
        Arch::Arm64 => CopyModel::Arm64,
        Arch::Sparc64 => CopyModel::Exact,
    };
    let (ret, bytes_moved) = match p.the_loop.file() {
        None => {
            let sk = SearchKey::whole_tree();
            let mte = k.tags_supported();
            let v2 = p.the_loop == SweepLoop::SearchIoctlV2;
            let mut s = SearchIoctl::new(sk, search_tree(len), ubuf, len, p.kernel, probe, mte).for_arch(p.arch).v2(v2);
            let r = k.run_kernel_loop(&mut s).syscall_result();
            let moved = if r.is_ok() { s.sk_offset } else { 0 };
            (r, moved)
        }
        Some((fs, direct, read)) => {
            let r = file_syscall(&mut k, fs, direct, read, ubuf, len, page);
            let moved = *r.as_ref().unwrap_or(&0);
            (r, moved)
        }
    };
    Run { kernel: k, ubuf, ret, bytes_moved }
}

/// Put a file on the mount of `fs`, open it, and enter the kernel through `pread64` or
/// `pwrite64` of `len` bytes at file offset 0.
fn file_syscall(
    k: &mut Kernel,
    fs: FsKind,
    direct: bool,
    read: bool,
    ubuf: u64,
    len: u64,
    page: u64,
) -> crate::kernel_stub::errno::KResult<u64> {
    let dir = match fs {
        FsKind::Tmpfs => "/tmp".to_string(),
        FsKind::Btrfs => {
            k.btrfs = Some(BtrfsMount { path: "/mnt/btrfs".into(), tree: Tree::default() });
            "/mnt/btrfs".to_string()
        }
        other => {
            let path = format!("/mnt/{}", other.name());
            k.mounts.push(Mount { fs: other, path: path.clone() });
            path
        }
    };
    if dir != "/tmp" {
        k.vfs.add_dir(&dir)?;
    }
    let path = format!("{dir}/sweep");
    // A read reads an existing file a page longer than the buffer; a write writes a new one.
    let contents = if read { (0..len + page).map(|i| (i % 251) as u8).collect() } else { Vec::new() };
    k.vfs.add_file(&path, contents)?;
    let flags = OpenFlags { read: true, write: true, direct, ..Default::default() };
    let fd = k.vfs.open(&path, flags, 0o600)? as u64;
    let sysno = if read { Sysno::Pread64 } else { Sysno::Pwrite64 };
    let nr = match k.arch {
        Arch::Arm64 => sysno.arm64_nr(),
        Arch::Sparc64 => sysno.sparc64_nr(),
    };
    let nr = nr.ok_or(crate::kernel_stub::errno::Errno::ENOSYS)?;
    match k.syscall(nr, [fd, ubuf, len, 0, 0, 0]) {
        SyscallOutcome::Return(r) => r,
        // The testbed ends a proven live-lock with an errno; any other end is an error here.
        _ => Err(crate::kernel_stub::errno::Errno::EINTR),
    }
}

fn classify(p: &Point, run: &Run, sweep: &str, index: u64) -> PointResult {
    let (k, ret, bytes_moved, ubuf) = (&run.kernel, &run.ret, run.bytes_moved, run.ubuf);
    let reports: &[LoopReport] = &k.loop_reports;
    let untagged = k.mm.untag(ubuf).unwrap_or(ubuf);
    let livelock = reports.iter().find(|r| matches!(r.verdict, Verdict::Livelock { .. }));
    let unproven = reports.iter().any(|r| r.verdict == Verdict::BudgetExhausted);
    let ret_val = match ret {
        Ok(n) => *n as i64,
        Err(e) => -e.generic(),
    };
    let signal = (k.signals.all_pending() != 0).then(|| {
        let signo = k.signals.all_pending().trailing_zeros() + 1;
        crate::kernel_stub::signal::signal_name(signo)
    });
    let len = p.the_loop.buffer_len(p.len);
    let verdict = if livelock.is_some() {
        Outcome::Livelock
    } else if unproven {
        Outcome::Unproven
    } else if signal.is_some() {
        Outcome::Signal
    } else {
        match ret {
            Err(e) if e.generic() == 14 => Outcome::Efault,
            Err(_) => Outcome::Errno,
            Ok(_) if p.the_loop.file().is_none() => Outcome::Completed,
            Ok(n) if *n >= len => Outcome::Completed,
            Ok(_) => Outcome::Short,
        }
    };
    let proven_or_unproven = matches!(verdict, Outcome::Livelock | Outcome::Unproven);
    let cycle = livelock.and_then(|r| match &r.verdict {
        Verdict::Livelock { cycle } => Some(CycleInfo {
            loop_id: r.id.clone(),
            first_pass: cycle.first_pass,
            repeat_pass: cycle.repeat_pass,
            length: cycle.length(),
            stuck_at: r.stuck_at,
            fault_offset: r.fault.as_ref().map(|f| f.addr.wrapping_sub(untagged)),
        }),
        _ => None,
    });
    let dio_passes: u64 = k.dio_reports.iter().map(|d| d.passes.len() as u64).sum();
    let dio_fault_ins: u64 =
        k.dio_reports.iter().flat_map(|d| d.passes.iter()).filter(|pass| pass.fault_in.is_some()).count() as u64;
    let fault_in_fn = reports.iter().find_map(|r| r.fault_in.map(|f| f.name().to_string())).or_else(|| {
        k.dio_reports.iter().flat_map(|d| d.passes.iter()).find_map(|pass| pass.fault_in.as_ref().map(|f| f.0.clone()))
    });
    PointResult {
        schema: 1,
        sweep: sweep.to_string(),
        index,
        the_loop: p.the_loop,
        kernel: p.kernel.to_string(),
        arch: arch_name(p.arch).to_string(),
        mode: p.mode,
        fault_in: p.fault_in,
        align: p.align,
        len,
        absent: (0..64).filter(|i| p.absent & (1 << i) != 0).collect(),
        bad_tag: p.bad_tag,
        bad_offset: p.bad_offset,
        verdict,
        ret: (!proven_or_unproven).then_some(ret_val),
        errno: match (ret, proven_or_unproven) {
            (Err(e), false) => Some(e.name().to_string()),
            _ => None,
        },
        signal,
        passes: reports.iter().map(|r| r.attempts.passes).sum::<u64>() + dio_passes,
        short_copies: reports.iter().map(|r| r.attempts.short_copies).sum(),
        fault_in_calls: reports.iter().map(|r| r.attempts.fault_in_calls).sum::<u64>() + dio_fault_ins,
        fault_in_fn,
        bytes_moved: if proven_or_unproven { 0 } else { bytes_moved },
        cycle,
    }
}
