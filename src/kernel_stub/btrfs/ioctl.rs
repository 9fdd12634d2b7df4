//! The TREE_SEARCH ioctls on an emulated btrfs mount: the UAPI wrappers (§C.2) around
//! [`super::search::SearchIoctl`], run under the live-lock watch.

use serde::Serialize;

use super::search::{
    PassRecord, SearchIoctl, SearchKey, Step, BTRFS_IOC_TREE_SEARCH, SEARCH_ARGS_BUFSIZE, SEARCH_KEY_SIZE,
};
use super::Tree;
use crate::addr::UserAddr;
use crate::arch::StructWriter;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::fault_in::SubpageProbe;
use crate::kernel_stub::livelock::{Cycle, LoopWatch, Watch};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// `v2` buffers are capped at 16 MiB by the kernel.
const V2_MAX_BUF: u64 = 16 << 20;

/// What tagmmu does once it has proven a live-lock (the real kernel would spin forever).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", deny_unknown_fields)]
pub enum LivelockAction {
    /// Kill the task (SIGKILL) with the report.
    #[default]
    Kill,
    /// Fail the syscall with this errno so the program continues.
    Fail {
        /// The errno name, e.g. "EINTR".
        errno: String,
    },
}

/// An emulated btrfs mount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtrfsMount {
    /// Where it is mounted in the guest filesystem.
    pub path: String,
    /// Its tree.
    pub tree: Tree,
}

/// The end of a kernel loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// It ended by itself (with the syscall's result).
    Completed {
        /// The result, as Linux returns it (negative errno on failure).
        ret: i64,
    },
    /// Its complete state repeated: it can never end.
    Livelock {
        /// The cycle.
        cycle: Cycle,
    },
    /// The iteration budget ran out (no proof).
    BudgetExhausted,
}

/// A kernel loop's run, for the narrative and `--json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoopReport {
    /// Which loop.
    pub name: String,
    /// The modelled kernel and flavour.
    pub kernel: String,
    /// The user buffer.
    pub ubuf: u64,
    /// Its size.
    pub buf_size: u64,
    /// Every pass (up to the cycle's second occurrence).
    pub passes: Vec<PassRecord>,
    /// How it ended.
    pub verdict: Verdict,
    /// The one-line reason.
    pub reason: String,
    /// Where the host time went (wall-clock, so it varies from run to run).
    pub timing: LoopTiming,
    /// The sub-page probe in effect.
    pub probe: SubpageProbe,
    /// The tag architecture's words: ADI (SPARC: 64-byte blocks with versions) or MTE.
    pub adi: bool,
}

/// Host time spent in a kernel loop, for the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoopTiming {
    /// Nanoseconds running the loop's passes (fault-in, search, copies).
    pub passes_ns: u64,
    /// Nanoseconds capturing and comparing states for the live-lock proof.
    pub proof_ns: u64,
}

impl LoopReport {
    /// The loop told pass by pass in plain words, for people who have never heard of MTE.
    pub fn narrative(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "== {} on Linux {}: result buffer at {:#x}, {} bytes",
            self.name, self.kernel, self.ubuf, self.buf_size
        );
        for p in &self.passes {
            let probe = match (p.fault_in, self.probe) {
                (super::search::FaultInCall::SubpageWriteable, SubpageProbe::Arm64Mte) => {
                    "touched one byte per page, then read one byte in every 16-byte granule"
                }
                (super::search::FaultInCall::SubpageWriteable, SubpageProbe::SparcAdi) => {
                    "touched one byte per page, then read one byte in every 64-byte ADI block"
                }
                (super::search::FaultInCall::SubpageWriteable, SubpageProbe::Generic) => {
                    "touched one byte per page; its sub-page probe does nothing on this architecture"
                }
                _ => "touched only the first byte and the first byte of each later page",
            };
            let res = match (p.fault_in, p.fault_in_result) {
                (_, 0) => "it reported success".to_string(),
                (super::search::FaultInCall::PagesWriteable, r) => format!("it returned {r} (-EFAULT)"),
                (_, r) => format!("it reported {r} bytes it could not fault in"),
            };
            let _ = writeln!(
                s,
                "pass {}: {}({:#x}, {}) {probe}; {res}.",
                p.pass,
                p.fault_in.name(),
                p.fault_in_start,
                p.fault_in_len
            );
            if p.fault_in_result != 0 {
                let _ = writeln!(s, "        search_ioctl gives up: -EFAULT.");
                continue;
            }
            let _ = writeln!(
                s,
                "        searched from key ({}, {}, {}); copied {} item(s) with page faults disabled.",
                p.key.objectid, p.key.typ, p.key.offset, p.copied_items
            );
            if let Some(f) = p.copy_fault {
                let what = match f.what {
                    super::search::CopyWhat::Header => "the 32-byte search header",
                    super::search::CopyWhat::Item => "the item's data",
                };
                let tags = match f.mem_tag {
                    Some(t) if t != f.ptr_tag && self.adi => format!(": that 64-byte ADI block has version {t:#x} but the pointer carries version {:#x}, so the access faults", f.ptr_tag),
                    Some(t) if t != f.ptr_tag => format!(": that 16-byte granule is tagged {t:#x} but the pointer carries tag {:#x}, so the access faults", f.ptr_tag),
                    _ => ": the page is not accessible with faults disabled".to_string(),
                };
                let _ = writeln!(
                    s,
                    "        copying {what} of item ({}, {}, {}) to {:#x} stopped after {} of {} bytes, at {:#x}{tags}.",
                    f.key.objectid,
                    f.key.typ,
                    f.key.offset,
                    f.start,
                    f.reached,
                    f.len,
                    f.start.wrapping_add(f.reached)
                );
                let _ = writeln!(
                    s,
                    "        copy_to_sk() returns 0: rewind to sk_offset {} and retry the same key.",
                    p.sk_offset_after
                );
            }
        }
        let verdict = match &self.verdict {
            Verdict::Livelock { .. } => "LIVE-LOCK",
            Verdict::Completed { .. } => "completed",
            Verdict::BudgetExhausted => "no proof (iteration budget exhausted)",
        };
        let _ = writeln!(s, "verdict: {verdict}: {}", self.reason);
        s
    }
}

/// What the syscall layer does after the ioctl.
pub enum IoctlEnd {
    /// Return this.
    Return(KResult<u64>),
    /// Kill the task: the loop was proven live-locked.
    KillLivelock(String),
}

impl Kernel {
    /// Is `path` on the btrfs mount?
    pub fn on_btrfs(&self, path: &str) -> bool {
        self.btrfs.as_ref().is_some_and(|m| path == m.path || path.starts_with(&format!("{}/", m.path)))
    }

    /// BTRFS_IOC_TREE_SEARCH / _V2 at user address `arg`.
    pub fn btrfs_tree_search(&mut self, req: u64, arg: u64) -> IoctlEnd {
        match self.btrfs_tree_search_inner(req, arg) {
            Ok(end) => end,
            Err(e) => IoctlEnd::Return(Err(e)),
        }
    }

    fn btrfs_tree_search_inner(&mut self, req: u64, arg: u64) -> KResult<IoctlEnd> {
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
        let mut search = SearchIoctl::new(sk, ubuf, buf_size, self.config.version, probe, mte).for_arch(self.arch);
        let mut watch = LoopWatch::new(self.config.loop_budget);
        let flavour = match probe {
            SubpageProbe::Arm64Mte => "arm64",
            SubpageProbe::SparcAdi => "sparc-adi",
            SubpageProbe::Generic => "generic",
        };
        let mut report = LoopReport {
            name: if v2 {
                "btrfs search_ioctl (TREE_SEARCH_V2)".into()
            } else {
                "btrfs search_ioctl (TREE_SEARCH)".into()
            },
            kernel: format!("{} ({flavour})", self.config.version),
            ubuf,
            buf_size,
            passes: Vec::new(),
            verdict: Verdict::BudgetExhausted,
            reason: String::new(),
            timing: LoopTiming::default(),
            probe,
            adi: self.arch == crate::arch::Arch::Sparc64,
        };
        let result = loop {
            let t = std::time::Instant::now();
            let state = self.loop_state(&search);
            let watched = watch.observe(&state);
            report.timing.proof_ns += t.elapsed().as_nanos() as u64;
            match watched {
                Watch::Running => {}
                Watch::Livelock(cycle) => {
                    report.verdict = Verdict::Livelock { cycle };
                    break None;
                }
                Watch::BudgetExhausted => break None,
            }
            let t = std::time::Instant::now();
            let step = search.step(&mut self.mm, self.uaccess, &tree);
            report.timing.passes_ns += t.elapsed().as_nanos() as u64;
            match step {
                Step::Continue(rec) => report.passes.push(rec),
                Step::Done(rec, r) => {
                    report.passes.push(rec);
                    break Some(r);
                }
            }
        };
        let end = match result {
            Some(r) => {
                // The wrappers: v1 turns -EOVERFLOW into success; the key (and nr_items) or
                // the needed buf_size go back to the user.
                let r = match (r, v2) {
                    (Err(Errno::EOVERFLOW), false) => Ok(()),
                    (r, _) => r,
                };
                let r = match r {
                    Ok(()) => {
                        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(arg), &search.sk.encode(self.arch))
                            .map(|_| 0)
                    }
                    Err(Errno::EOVERFLOW) => {
                        let mut w = StructWriter::new(self.arch);
                        w.u64(search.buf_size);
                        uaccess::write_user(
                            &mut self.mm,
                            self.uaccess,
                            UserAddr(arg + SEARCH_KEY_SIZE as u64),
                            &w.finish(),
                        )
                        .and(Err(Errno::EOVERFLOW))
                    }
                    Err(e) => Err(e),
                };
                report.verdict = Verdict::Completed { ret: r.map(|v| v as i64).unwrap_or_else(|e| -e.generic()) };
                report.reason = match &r {
                    Ok(_) => format!("{} item(s) copied", search.num_found),
                    Err(e) => format!("returned -{} ({})", e.name(), e.description()),
                };
                IoctlEnd::Return(r)
            }
            None => {
                let msg = self.livelock_reason(&report, &search);
                report.reason = msg.clone();
                match &self.config.livelock_action {
                    LivelockAction::Kill => IoctlEnd::KillLivelock(msg),
                    LivelockAction::Fail { errno } => {
                        IoctlEnd::Return(Err(Errno::from_name(errno).unwrap_or(Errno::EINTR)))
                    }
                }
            }
        };
        self.loop_reports.push(report);
        Ok(end)
    }

    /// The loop's complete state: its variables, and the bytes, tags and page presence of
    /// the user buffer it touches.
    fn loop_state(&self, search: &SearchIoctl) -> Vec<u8> {
        let mut state = search.state_bytes();
        let (start, len) = search.user_range();
        if let Some(a) = self.mm.untag(start) {
            let mut bytes = vec![0; len as usize];
            if self.mm.read_kernel(a, &mut bytes).is_ok() {
                state.extend_from_slice(&bytes);
            }
            state.extend(self.mm.dump_tags(a, len).into_iter().map(|t| t.unwrap_or(0xff)));
            let page = self.mm.page_size();
            let mut p = a & !(page - 1);
            while p < a + len {
                state.push(self.mm.is_present(p) as u8);
                p += page;
            }
        }
        state
    }

    fn livelock_reason(&self, report: &LoopReport, search: &SearchIoctl) -> String {
        let Verdict::Livelock { cycle } = report.verdict else {
            return format!("no progress after {} passes (iteration budget)", report.passes.len());
        };
        let last = report.passes.last();
        let fault = last.and_then(|p| p.copy_fault);
        let detail = match fault {
            Some(f) => {
                let bad = f.start.wrapping_add(f.reached);
                let va = self.mm.untag(bad).unwrap_or(bad);
                let mem = self.mm.tag_at(va).map(|t| format!("{t:#x}")).unwrap_or_else(|| "none".into());
                let ptr = self.mm.layout().tags.pointer_tag(bad);
                let (what, tag) =
                    if report.adi { ("ADI block version", "pointer version") } else { ("granule tag", "pointer tag") };
                format!(
                    "the copy of the {} for key ({}, {}, {}) faults at {:#x} ({what} {mem}, {tag} {ptr:#x}) on every pass, while {} probes only the first byte and page starts and succeeds",
                    match f.what {
                        super::search::CopyWhat::Header => "search header",
                        super::search::CopyWhat::Item => "item data",
                    },
                    f.key.objectid,
                    f.key.typ,
                    f.key.offset,
                    va,
                    match last.map(|p| p.fault_in) {
                        Some(super::search::FaultInCall::SubpageWriteable) =>
                            "fault_in_subpage_writeable() (whose probe_subpage_writeable() does nothing on this architecture)".to_string(),
                        Some(c) => format!("{}()", c.name()),
                        None => "fault_in()".to_string(),
                    },
                )
            }
            None => "the loop's state repeats".into(),
        };
        format!(
            "live-lock proven: the state at pass {} equals the state at pass {} (cycle of {} pass(es), sk_offset stuck at {}): {detail}",
            cycle.repeat_pass,
            cycle.first_pass,
            cycle.length(),
            search.sk_offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::btrfs::search::BTRFS_IOC_TREE_SEARCH_V2;
    use crate::kernel_stub::btrfs::{Item, Key, Leaf};
    use crate::kernel_stub::mm::{MapRequest, Placement, Prot, VmaKind};
    use crate::kernel_stub::KernelConfig;

    fn kernel(cap: bool) -> (Kernel, u64) {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig { cap_sys_admin: cap, ..Default::default() });
        let item = |o: u64, n: usize| Item { key: Key { objectid: o, typ: 1, offset: 0 }, data: vec![7; n] };
        k.btrfs = Some(BtrfsMount {
            path: "/mnt/b".into(),
            tree: Tree { leaves: vec![Leaf { generation: 3, items: vec![item(256, 100), item(257, 10)] }] },
        });
        let req = MapRequest { placement: Placement::Hint, shared: false };
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

    fn ret(end: IoctlEnd) -> KResult<u64> {
        match end {
            IoctlEnd::Return(r) => r,
            IoctlEnd::KillLivelock(m) => panic!("{m}"),
        }
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
