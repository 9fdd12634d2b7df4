//! The loop x kernel table: every modelled fault-in + uaccess loop on every modelled kernel,
//! on arm64 MTE (sync) and SPARC ADI (upstream, and with tagmmu's sub-page probe), with one
//! mistagged granule (ADI: block) in the first record of the user buffer. It runs the kernel
//! model alone (no guest program), so the whole table takes a fraction of a second; `tagmmu loops`
//! prints it and the README shows it.
//!
//! The buffer: three present pages tagged 3 (the pointer's tag), starting 0x68 bytes into a
//! page as the demo's search buffer does; the bad unit (tag 5) is the first granule or block
//! that starts after the buffer's first 8 bytes (arm64: offset 8; SPARC: offset 24), so the
//! first byte is fine and the first record crosses the bad unit. The write loops write two
//! pages from file offset 0 (page-aligned chunks, as a program writing whole blocks does).

use crate::arch::Arch;
use crate::kernel_stub::btrfs::buffered_write::BtrfsBufferedWrite;
use crate::kernel_stub::btrfs::search::{SearchIoctl, SearchKey, SEARCH_ARGS_BUFSIZE};
use crate::kernel_stub::btrfs::{Item, Key, Leaf, Tree};
use crate::kernel_stub::fault_in::SubpageProbe;
use crate::kernel_stub::fuse::FuseWrite;
use crate::kernel_stub::gfs2::direct::Gfs2Direct;
use crate::kernel_stub::gfs2::read::Gfs2Read;
use crate::kernel_stub::gfs2::write::Gfs2BufferedWrite;
use crate::kernel_stub::iomap_dio::DioOp;
use crate::kernel_stub::iov_iter::IovIter;
use crate::kernel_stub::loops::perform_write::{PerformWrite, WriteEnd};
use crate::kernel_stub::loops::report::Attempts;
use crate::kernel_stub::loops::{KernelLoop, LoopReport, Verdict};
use crate::kernel_stub::version::{KernelVersion, KNOWN};
use crate::kernel_stub::vfs::OpenFlags;
use crate::kernel_stub::Kernel;
use crate::testbed::{kernel_with_buffer, BufferSpec, CheckMode, Testbed};

/// A machine column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// arm64 with MTE, the thread in sync mode, the upstream arm64 sub-page probe.
    Arm64MteSync,
    /// The same with FEAT_MTE_STORE_ONLY and `PR_MTE_STORE_ONLY` (Linux 6.17+): loads,
    /// including the kernel's LDTR loads, are not checked.
    Arm64MteStoreOnly,
    /// SPARC M7 with ADI, upstream (no sub-page probe).
    SparcAdi,
    /// SPARC M7 with ADI and tagmmu's ADI `probe_subpage_writeable()`.
    SparcAdiProbe,
}

impl Machine {
    /// Every column.
    pub const ALL: [Machine; 4] =
        [Machine::Arm64MteSync, Machine::Arm64MteStoreOnly, Machine::SparcAdi, Machine::SparcAdiProbe];

    /// Does the machine exist on kernel `v` (store-only mode needs 6.17)?
    pub fn exists_on(self, v: KernelVersion) -> bool {
        self != Machine::Arm64MteStoreOnly || v.at_least(6, 17)
    }

    /// Its column heading.
    pub fn heading(self) -> &'static str {
        match self {
            Machine::Arm64MteSync => "arm64 MTE (sync)",
            Machine::Arm64MteStoreOnly => "arm64 MTE (sync, store-only)",
            Machine::SparcAdi => "SPARC ADI (upstream)",
            Machine::SparcAdiProbe => "SPARC ADI + sub-page probe",
        }
    }

    fn arch_probe(self) -> (Arch, SubpageProbe) {
        match self {
            Machine::Arm64MteSync | Machine::Arm64MteStoreOnly => (Arch::Arm64, SubpageProbe::Arm64Mte),
            Machine::SparcAdi => (Arch::Sparc64, SubpageProbe::Generic),
            Machine::SparcAdiProbe => (Arch::Sparc64, SubpageProbe::SparcAdi),
        }
    }
}

/// A loop row group of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableLoop {
    /// btrfs `search_ioctl` (TREE_SEARCH), three items, the bad unit inside the first header.
    SearchIoctl,
    /// `generic_perform_write` on tmpfs (`shmem_write_end`), two pages from file offset 0.
    PerformWriteTmpfs,
    /// `generic_perform_write` on ext4 (`block_write_end`), two pages from file offset 0.
    PerformWriteExt4,
    /// `btrfs_buffered_write`, two pages from file offset 0.
    BtrfsBufferedWrite,
    /// `gfs2_file_read_iter` (buffered), two pages from file offset 0 of a three-page file.
    Gfs2Read,
    /// `gfs2_file_buffered_write` (iomap_write_iter), two pages from file offset 0.
    Gfs2Write,
    /// `fuse_perform_write` (fuse_fill_write_pages), two pages from file offset 0.
    FuseWrite,
    /// `gfs2_file_direct_read` (O_DIRECT), two pages from file offset 0, the buffer page
    /// aligned (direct I/O needs 512-byte alignment).
    Gfs2DirectRead,
}

impl TableLoop {
    /// Every loop of the table.
    pub const ALL: [TableLoop; 8] = [
        TableLoop::SearchIoctl,
        TableLoop::PerformWriteTmpfs,
        TableLoop::PerformWriteExt4,
        TableLoop::BtrfsBufferedWrite,
        TableLoop::Gfs2Read,
        TableLoop::Gfs2Write,
        TableLoop::FuseWrite,
        TableLoop::Gfs2DirectRead,
    ];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            TableLoop::SearchIoctl => "btrfs search_ioctl",
            TableLoop::PerformWriteTmpfs => "generic_perform_write (tmpfs)",
            TableLoop::PerformWriteExt4 => "generic_perform_write (ext4)",
            TableLoop::BtrfsBufferedWrite => "btrfs_buffered_write",
            TableLoop::Gfs2Read => "gfs2_file_read_iter",
            TableLoop::Gfs2Write => "gfs2_file_buffered_write",
            TableLoop::FuseWrite => "fuse_perform_write",
            TableLoop::Gfs2DirectRead => "gfs2_file_direct_read",
        }
    }
}

/// One cell: what the loop did on one kernel and machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// The loop.
    pub the_loop: TableLoop,
    /// The kernel.
    pub kernel: KernelVersion,
    /// The machine.
    pub machine: Machine,
    /// The verdict.
    pub verdict: Verdict,
    /// Its attempt counts.
    pub attempts: Attempts,
    /// The bytes the loop was asked to move (its buffer's length).
    pub requested: u64,
}

impl Cell {
    /// The cell's text: the outcome and its attempt counts.
    pub fn text(&self) -> String {
        let a = &self.attempts;
        let counts = format!("{}p/{}f/{}s", a.passes, a.fault_in_calls, a.short_copies);
        match &self.verdict {
            Verdict::Livelock { cycle } => format!("**live-lock** (cycle {}) {counts}", cycle.length()),
            Verdict::BudgetExhausted => format!("no proof {counts}"),
            Verdict::Completed { ret } if *ret == -14 => format!("EFAULT {counts}"),
            Verdict::Completed { ret } if *ret < 0 => format!("error {ret} {counts}"),
            Verdict::Completed { ret } if *ret as u64 == self.requested && self.the_loop != TableLoop::SearchIoctl => {
                format!("all {ret} B {counts}")
            }
            Verdict::Completed { ret } => match self.the_loop {
                TableLoop::SearchIoctl => format!("completed {counts}"),
                TableLoop::Gfs2Read | TableLoop::Gfs2DirectRead => format!("short read {ret} B {counts}"),
                _ => format!("short write {ret} B {counts}"),
            },
        }
    }
}

/// A kernel with the table's buffer mapped; returns it and the tagged buffer pointer.
fn machine(m: Machine, version: KernelVersion) -> (Kernel, u64) {
    let (arch, probe) = m.arch_probe();
    let mode = match m {
        Machine::Arm64MteStoreOnly => CheckMode::StoreOnly,
        _ => CheckMode::default_for(arch),
    };
    let tb = Testbed { arch, version, probe, mode };
    // 0x68 into a page, as the demo's search buffer; the bad unit is the first granule (block)
    // that starts after the buffer's first 8 bytes.
    let granule = match arch {
        Arch::Arm64 => crate::tags::MTE.granule,
        Arch::Sparc64 => crate::tags::ADI.granule,
    };
    let bad = (0x68 + 8u64).div_ceil(granule) * granule - 0x68;
    let spec = BufferSpec { pages: 3, offset: 0x68, bad: Some(bad), absent: 0, bad_tag: crate::testbed::BAD_TAG };
    kernel_with_buffer(&tb, &spec, 10_000)
}

fn tree() -> Tree {
    let item = |o: u64, typ: u8, data: Vec<u8>| Item { key: Key { objectid: o, typ, offset: 0 }, data };
    Tree {
        leaves: vec![
            Leaf { generation: 7, items: vec![item(256, 1, vec![b'a'; 40]), item(257, 1, vec![b'b'; 24])] },
            Leaf { generation: 9, items: vec![item(258, 84, b"hello".to_vec())] },
        ],
    }
}

/// The loop `the_loop` over the user buffer `ubuf` of `len` bytes on the kernel `k` (the file
/// it reads or writes created as it needs).
pub fn build_loop(the_loop: TableLoop, k: &mut Kernel, ubuf: u64, len: u64) -> Box<dyn KernelLoop> {
    let version = k.config.version;
    let mte = k.tags_supported();
    let probe = k.subpage_probe();
    match the_loop {
        TableLoop::SearchIoctl => {
            let sk = SearchKey::whole_tree();
            Box::new(SearchIoctl::new(sk, tree(), ubuf, len, version, probe, mte).for_arch(k.arch))
        }
        TableLoop::Gfs2DirectRead => {
            let page = k.mm.page_size();
            k.vfs.add_file("/mnt/gfs2/table", vec![b'g'; (len + page) as usize]).expect("a fresh tree");
            let flags = OpenFlags { read: true, direct: true, ..Default::default() };
            let fd = k.vfs.open("/mnt/gfs2/table", flags, 0).expect("just created") as u64;
            // Direct I/O needs an aligned buffer: the page holding the buffer's start.
            let aligned = ubuf & !(page - 1);
            Box::new(Gfs2Direct::new(DioOp::Read, IovIter::new(vec![(aligned, len)]), fd, 0, version))
        }
        TableLoop::Gfs2Read => {
            let page = k.mm.page_size();
            k.vfs.add_file("/mnt/gfs2/table", vec![b'g'; (len + page) as usize]).expect("a fresh tree");
            let flags = OpenFlags { read: true, ..Default::default() };
            let fd = k.vfs.open("/mnt/gfs2/table", flags, 0).expect("just created") as u64;
            Box::new(Gfs2Read::new(IovIter::new(vec![(ubuf, len)]), fd, 0, version))
        }
        TableLoop::Gfs2Write => {
            let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
            k.vfs.add_dir("/mnt/gfs2").expect("a fresh tree");
            let fd = k.vfs.open("/mnt/gfs2/table", flags, 0o600).expect("gfs2 is writable") as u64;
            Box::new(Gfs2BufferedWrite::new(IovIter::new(vec![(ubuf, len)]), fd, 0, version))
        }
        TableLoop::FuseWrite => {
            let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
            k.vfs.add_dir("/mnt/fuse").expect("a fresh tree");
            let fd = k.vfs.open("/mnt/fuse/table", flags, 0o600).expect("fuse is writable") as u64;
            Box::new(FuseWrite::new(IovIter::new(vec![(ubuf, len)]), fd, 0, version))
        }
        TableLoop::BtrfsBufferedWrite => {
            let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
            let fd = k.vfs.open("/tmp/table", flags, 0o600).expect("tmpfs is writable") as u64;
            let page = k.mm.page_size();
            Box::new(BtrfsBufferedWrite::new(IovIter::new(vec![(ubuf, len)]), fd, 0, version, page))
        }
        TableLoop::PerformWriteTmpfs | TableLoop::PerformWriteExt4 => {
            let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
            let fd = k.vfs.open("/tmp/table", flags, 0o600).expect("tmpfs is writable") as u64;
            let (end, fs) = match the_loop {
                TableLoop::PerformWriteExt4 => (WriteEnd::Block, "ext4"),
                _ => (WriteEnd::Shmem, "tmpfs"),
            };
            Box::new(PerformWrite::new(IovIter::new(vec![(ubuf, len)]), fd, 0, version, end, fs))
        }
    }
}

/// The buffer length of a table cell: the search's TREE_SEARCH buffer, two pages otherwise.
fn table_len(the_loop: TableLoop, page: u64) -> u64 {
    match the_loop {
        TableLoop::SearchIoctl => SEARCH_ARGS_BUFSIZE,
        _ => 2 * page,
    }
}

/// Run one cell.
pub fn run_cell(the_loop: TableLoop, version: KernelVersion, m: Machine) -> LoopReport {
    let (mut k, ubuf) = machine(m, version);
    let len = table_len(the_loop, k.mm.page_size());
    let mut l = build_loop(the_loop, &mut k, ubuf, len);
    k.run_kernel_loop(l.as_mut());
    k.loop_reports.pop().expect("the loop ran")
}

/// Every cell, loop by loop, kernel by kernel, machine by machine.
pub fn cells() -> Vec<Cell> {
    let mut out = Vec::new();
    for l in TableLoop::ALL {
        for &v in KNOWN {
            for m in Machine::ALL.into_iter().filter(|m| m.exists_on(v)) {
                let r = run_cell(l, v, m);
                out.push(Cell {
                    the_loop: l,
                    kernel: v,
                    machine: m,
                    verdict: r.verdict,
                    attempts: r.attempts,
                    requested: r.buf_size,
                });
            }
        }
    }
    out
}

/// The table in Markdown: a row per loop and range of kernels that behave alike.
pub fn markdown(cells: &[Cell]) -> String {
    let mut s = String::from("| loop | kernels |");
    for m in Machine::ALL {
        s.push_str(&format!(" {} |", m.heading()));
    }
    s.push_str("\n|---|---|");
    for _ in Machine::ALL {
        s.push_str("---|");
    }
    s.push('\n');
    for l in TableLoop::ALL {
        let rows: Vec<(KernelVersion, Vec<String>)> = KNOWN
            .iter()
            .map(|&v| {
                let texts = Machine::ALL
                    .iter()
                    .map(|&m| {
                        cells
                            .iter()
                            .find(|c| c.the_loop == l && c.kernel == v && c.machine == m)
                            .map(Cell::text)
                            .unwrap_or_else(|| "n/a".into())
                    })
                    .collect();
                (v, texts)
            })
            .collect();
        let mut i = 0;
        while i < rows.len() {
            let mut j = i;
            while j + 1 < rows.len() && rows[j + 1].1 == rows[i].1 {
                j += 1;
            }
            let range = if i == j { rows[i].0.to_string() } else { format!("{}-{}", rows[i].0, rows[j].0) };
            s.push_str(&format!("| {} | {range} |", l.name()));
            for t in &rows[i].1 {
                s.push_str(&format!(" {t} |"));
            }
            s.push('\n');
            i = j + 1;
        }
    }
    s.push_str(
        "\nn/a: store-only mode exists from 6.17. Counts: passes/fault-in calls/short copies. One mistagged 16-byte granule (ADI: 64-byte block) \
         in the first record, the buffer's first byte fine; exact copy model. A live-lock is proven \
         (the loop's whole state repeats), not timed out.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_tells_the_story() {
        let v = |s: &str| s.parse::<KernelVersion>().unwrap();
        let cell = |l, k: &str, m| run_cell(l, v(k), m).verdict;
        // search_ioctl: live-lock before 5.19 everywhere; EFAULT from 5.19 on arm64 and with
        // the ADI probe; still a live-lock on upstream SPARC.
        assert!(matches!(cell(TableLoop::SearchIoctl, "5.16", Machine::Arm64MteSync), Verdict::Livelock { .. }));
        assert_eq!(cell(TableLoop::SearchIoctl, "6.18", Machine::Arm64MteSync), Verdict::Completed { ret: -14 });
        assert!(matches!(cell(TableLoop::SearchIoctl, "6.18", Machine::SparcAdi), Verdict::Livelock { .. }));
        assert_eq!(cell(TableLoop::SearchIoctl, "5.19", Machine::SparcAdiProbe), Verdict::Completed { ret: -14 });
        // generic_perform_write: a short write to the granule on every kernel.
        for k in ["5.15", "5.17", "6.1", "6.18"] {
            assert_eq!(cell(TableLoop::PerformWriteTmpfs, k, Machine::Arm64MteSync), Verdict::Completed { ret: 8 });
            assert_eq!(cell(TableLoop::PerformWriteExt4, k, Machine::SparcAdi), Verdict::Completed { ret: 24 });
        }
        // btrfs_buffered_write: progress up to 6.12 (the forced read), a live-lock from 6.13.
        assert_eq!(cell(TableLoop::BtrfsBufferedWrite, "6.12", Machine::Arm64MteSync), Verdict::Completed { ret: 8 });
        assert!(matches!(cell(TableLoop::BtrfsBufferedWrite, "6.14", Machine::Arm64MteSync), Verdict::Livelock { .. }));
        assert!(matches!(
            cell(TableLoop::BtrfsBufferedWrite, "6.18", Machine::SparcAdiProbe),
            Verdict::Livelock { .. }
        ));
        // gfs2 buffered read: short on 5.15, a live-lock from 5.16 (its fault-in is GUP based).
        assert_eq!(cell(TableLoop::Gfs2Read, "5.15", Machine::Arm64MteSync), Verdict::Completed { ret: 8 });
        assert!(matches!(cell(TableLoop::Gfs2Read, "5.16", Machine::Arm64MteSync), Verdict::Livelock { .. }));
        assert!(matches!(cell(TableLoop::Gfs2Read, "6.18", Machine::SparcAdiProbe), Verdict::Livelock { .. }));
        // Store-only (6.17+): the sub-page probe reads, so search_ioctl live-locks again;
        // copy_from_user is unchecked, so writes complete; copy_to_user still stops.
        assert!(matches!(cell(TableLoop::SearchIoctl, "6.17", Machine::Arm64MteStoreOnly), Verdict::Livelock { .. }));
        assert_eq!(
            cell(TableLoop::PerformWriteTmpfs, "6.18", Machine::Arm64MteStoreOnly),
            Verdict::Completed { ret: 8192 }
        );
        assert!(matches!(cell(TableLoop::Gfs2Read, "6.18", Machine::Arm64MteStoreOnly), Verdict::Livelock { .. }));
        let md = markdown(&cells());
        assert!(md.contains("| btrfs search_ioctl | 5.15-5.18 |"), "{md}");
    }
}
