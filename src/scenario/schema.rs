//! The scenario schema: the YAML fields, their types and defaults (unknown fields are
//! errors).

use super::*;

/// A scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name (defaults to the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// What the scenario shows.
    #[serde(default)]
    pub description: Option<String>,
    /// The program: `guest:<arch>/<name>` for a program built from `programs/`, or a path
    /// relative to the scenario file.
    pub program: String,
    /// Arguments after `argv[0]`.
    #[serde(default)]
    pub args: Vec<String>,
    /// `argv[0]` (default: the program path).
    #[serde(default)]
    pub argv0: Option<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// What the guest reads on fd 0.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Files placed in the guest filesystem.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Machine options.
    #[serde(default)]
    pub machine: MachineSpec,
    /// Budgets.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// An emulated btrfs mount.
    #[serde(default)]
    pub btrfs: Option<BtrfsSpec>,
    /// An emulated ext4 mount (buffered writes through `generic_perform_write` with
    /// `block_write_end`).
    #[serde(default)]
    pub ext4: Option<MountSpec>,
    /// An emulated gfs2 mount (its fault-in loops).
    #[serde(default)]
    pub gfs2: Option<MountSpec>,
    /// An emulated fuse mount (a minimal file server: the files given here).
    #[serde(default)]
    pub fuse: Option<MountSpec>,
    /// Expectations.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// A file for the guest filesystem.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Guest path.
    pub path: String,
    /// Inline contents.
    #[serde(default)]
    pub content: Option<String>,
    /// A host file (relative to the scenario) whose contents are copied in.
    #[serde(default)]
    pub host: Option<String>,
}

/// Machine options.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSpec {
    /// Required architecture.
    #[serde(default)]
    pub arch: Option<Arch>,
    /// Modelled kernel version, as a string such as "5.19" (one of
    /// [`crate::kernel_stub::version::KNOWN`]).
    #[serde(default, deserialize_with = "kernel_version")]
    pub kernel: Option<KernelVersion>,
    /// Seed of the random sources.
    #[serde(default)]
    pub seed: Option<u64>,
    /// CLOCK_REALTIME at start, in seconds since 1970 (the guest's clocks are virtual).
    #[serde(default)]
    pub epoch: Option<u64>,
    /// Let the guest's clocks follow the host's.
    #[serde(default)]
    pub host_time: bool,
    /// The machine's RAM: bytes, or a string with K, M, G or T ("512M"). Mappings are charged
    /// against it as `overcommit` says; a fault that would make more anonymous memory
    /// resident is an OOM kill (SIGKILL). Default: the host's RAM, at most 64 GiB. No swap.
    #[serde(default, deserialize_with = "memory_size")]
    pub memory: Option<u64>,
    /// `vm.overcommit_memory`: `heuristic` (the default: only a single request larger than
    /// the RAM fails), `always` or `never` (at most half the RAM committed in all).
    #[serde(default)]
    pub overcommit: Option<crate::kernel_stub::mm::limit::Overcommit>,
    /// User id.
    #[serde(default)]
    pub uid: Option<u32>,
    /// Group id.
    #[serde(default)]
    pub gid: Option<u32>,
    /// The MTE the arm64 CPU offers: none, mte2 (default) or mte3.
    #[serde(default)]
    pub mte: Option<crate::mte::MteLevel>,
    /// The CPU's preferred tag-check mode: sync, async (default) or asymm.
    #[serde(default)]
    pub mte_preferred: Option<crate::mte::TcfMode>,
    /// The CPU has FEAT_MTE_STORE_ONLY (used by 6.17+ kernels).
    #[serde(default)]
    pub mte_store_only: Option<bool>,
    /// Instructions between modelled timer ticks.
    #[serde(default)]
    pub tick_interval: Option<u64>,
    /// The architecture flavour of the kernel's `probe_subpage_writeable()`: arm64 (MTE
    /// granule probe, the default) or generic (no sub-page probe, as on every other arch).
    #[serde(default)]
    pub flavour: Option<crate::kernel_stub::fault_in::SubpageProbe>,
    /// How the kernel's user copies progress: exact (default) or arm64 (16-byte units).
    #[serde(default)]
    pub copy_model: Option<crate::kernel_stub::uaccess::CopyModel>,
    /// CAP_SYS_ADMIN (default true).
    #[serde(default)]
    pub cap_sys_admin: Option<bool>,
    /// The SPARC CPU has ADI (default true, as on SPARC M7).
    #[serde(default)]
    pub adi: Option<bool>,
    /// What to do with a proven kernel live-lock: `{action: kill}` (default) or
    /// `{action: fail, errno: EINTR}`.
    #[serde(default)]
    pub livelock: Option<crate::kernel_stub::loops::LivelockAction>,
    /// Passes a kernel loop may run without a proof (backstop).
    #[serde(default)]
    pub loop_budget: Option<u64>,
}

/// An emulated mount and the files on it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountSpec {
    /// Mount point in the guest.
    pub mount: String,
    /// Its files.
    #[serde(default)]
    pub files: Vec<MountFileSpec>,
}

/// A file on an emulated mount: its name and either its contents or its size (filled with a
/// pattern).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountFileSpec {
    /// The file's name under the mount point.
    pub name: String,
    /// Its contents.
    #[serde(default)]
    pub content: Option<String>,
    /// Or: its size in bytes (at most 64 MiB).
    #[serde(default)]
    pub size: Option<u64>,
}

/// The largest file a mount spec may ask for.
pub(super) const MAX_MOUNT_FILE: u64 = 64 << 20;

/// The most bytes the items of a scenario's btrfs tree may hold together (the tree is built
/// in host memory).
pub const MAX_BTRFS_BYTES: u64 = 256 << 20;

/// An emulated btrfs mount and its tree.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BtrfsSpec {
    /// Mount point in the guest.
    pub mount: String,
    /// Leaves, in key order.
    pub leaves: Vec<LeafSpec>,
}

/// A leaf of the tree.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafSpec {
    /// Its generation.
    pub generation: u64,
    /// Its items.
    pub items: Vec<ItemSpec>,
}

/// An item: its key and either its data (a string) or its size (filled with a pattern).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// objectid.
    pub objectid: u64,
    /// type.
    #[serde(rename = "type")]
    pub typ: u8,
    /// offset.
    pub offset: u64,
    /// Data bytes.
    #[serde(default)]
    pub data: Option<String>,
    /// Or: this many bytes of a pattern.
    #[serde(default)]
    pub size: Option<usize>,
}

/// Budgets.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Instruction budget.
    #[serde(default)]
    pub insn_budget: Option<u64>,
    /// Wall-time budget in milliseconds (default 60000).
    #[serde(default)]
    pub time_budget_ms: Option<u64>,
}

/// What the run must do. Every field given is checked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exit status (for a normal exit).
    #[serde(default)]
    pub exit: Option<i32>,
    /// The fatal signal, by name (`SIGSEGV`).
    #[serde(default)]
    pub signal: Option<String>,
    /// Its si_code, by name (`SEGV_MAPERR`).
    #[serde(default)]
    pub si_code: Option<String>,
    /// Its fault address.
    #[serde(default)]
    pub fault_addr: Option<u64>,
    /// The verdict of the (last) kernel loop: `livelock`, `completed`, `budget_exhausted`.
    #[serde(default)]
    pub verdict: Option<String>,
    /// The result of the (last) kernel loop's syscall when it completed, e.g. -14.
    #[serde(default)]
    pub loop_ret: Option<i64>,
    /// The largest number of short copies any generic_perform_write() loop may take.
    #[serde(default)]
    pub max_short_copies: Option<u64>,
    /// The kernel fault-in + uaccess loops that ran, in order: each entry is checked against
    /// the loop report at the same position.
    #[serde(default)]
    pub loops: Vec<ExpectLoop>,
    /// The O_DIRECT reads and writes on the btrfs mount, in order: each entry is checked
    /// against the request at the same position.
    #[serde(default)]
    pub direct_io: Vec<ExpectDio>,
    /// How the run stops: `exit`, `signal`, `insn_budget`, `time_budget`, `deadlock`.
    #[serde(default)]
    pub stop: Option<String>,
    /// A substring of a deadlock's reason (the syscall and why nothing can wake the task).
    #[serde(default)]
    pub deadlock_reason: Option<String>,
    /// Exact stdout.
    #[serde(default)]
    pub stdout: Option<String>,
    /// Substrings stdout must contain.
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    /// Substrings stderr must contain.
    #[serde(default)]
    pub stderr_contains: Vec<String>,
    /// Substrings that some notice of the run must contain (the model's own messages, such
    /// as the OOM killer's "Out of memory: Killed process" line; not the guest's stderr).
    #[serde(default)]
    pub notice_contains: Vec<String>,
}

impl Expect {
    /// Does it check nothing at all?
    pub fn is_empty(&self) -> bool {
        self.exit.is_none()
            && self.signal.is_none()
            && self.si_code.is_none()
            && self.fault_addr.is_none()
            && self.verdict.is_none()
            && self.loop_ret.is_none()
            && self.max_short_copies.is_none()
            && self.loops.is_empty()
            && self.direct_io.is_empty()
            && self.stop.is_none()
            && self.deadlock_reason.is_none()
            && self.stdout.is_none()
            && self.stdout_contains.is_empty()
            && self.stderr_contains.is_empty()
            && self.notice_contains.is_empty()
    }
}

/// What one kernel loop must do. Every field given is checked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectLoop {
    /// The loop's identifier (`search_ioctl`, `generic_perform_write`, ...).
    #[serde(default, rename = "loop")]
    pub id: Option<String>,
    /// `livelock`, `completed` or `budget_exhausted`.
    #[serde(default)]
    pub verdict: Option<String>,
    /// The loop's result when it completed (negative errno).
    #[serde(default)]
    pub ret: Option<i64>,
    /// Passes run.
    #[serde(default)]
    pub passes: Option<u64>,
    /// Short copies.
    #[serde(default)]
    pub short_copies: Option<u64>,
    /// `fault_in_*()` calls.
    #[serde(default)]
    pub fault_in_calls: Option<u64>,
    /// The fault-in function last called (`fault_in_writeable`, ...).
    #[serde(default)]
    pub fault_in: Option<String>,
    /// The live-lock's cycle length in passes.
    #[serde(default)]
    pub cycle_length: Option<u64>,
    /// The position (sk_offset, bytes written, ...) the live-lock is stuck at.
    #[serde(default)]
    pub stuck_at: Option<u64>,
    /// Where the run's last short copy stopped, as an offset from the start of the loop's
    /// user buffer.
    #[serde(default)]
    pub fault_offset: Option<u64>,
    /// Why that access faulted: `tag_mismatch`, `not_present` or `no_access`.
    #[serde(default)]
    pub fault_cause: Option<String>,
}

impl ExpectLoop {
    /// Does the entry check nothing (not even which loop ran)?
    pub fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.verdict.is_none()
            && self.ret.is_none()
            && self.passes.is_none()
            && self.short_copies.is_none()
            && self.fault_in_calls.is_none()
            && self.fault_in.is_none()
            && self.cycle_length.is_none()
            && self.stuck_at.is_none()
            && self.fault_offset.is_none()
            && self.fault_cause.is_none()
    }
}

/// What one O_DIRECT request must do. Every field given is checked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDio {
    /// The syscall's result (negative errno).
    #[serde(default)]
    pub ret: Option<i64>,
    /// Bytes moved by direct I/O.
    #[serde(default)]
    pub direct_bytes: Option<u64>,
    /// `none`, `unaligned`, `no_progress` or `checksum`.
    #[serde(default)]
    pub fallback: Option<String>,
    /// Passes of the retry loop.
    #[serde(default)]
    pub passes: Option<u64>,
    /// Mismatched granules moved without a tag check.
    #[serde(default)]
    pub unchecked_granules: Option<u64>,
}

pub(super) fn kernel_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<KernelVersion>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        F(f64),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::S(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
        Some(Raw::F(f)) => Err(serde::de::Error::custom(format!(
            "kernel version {f} must be a quoted string such as \"6.10\" (a YAML number loses trailing zeros)"
        ))),
    }
}

pub(super) fn memory_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::N(0)) => Err(serde::de::Error::custom("the memory limit must be more than zero")),
        Some(Raw::N(n)) => Ok(Some(n)),
        Some(Raw::S(s)) => crate::kernel_stub::mm::limit::parse_size(&s).map(Some).map_err(serde::de::Error::custom),
    }
}
