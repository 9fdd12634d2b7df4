//! YAML scenarios: one file names the program, its arguments, the machine options and what
//! the run is expected to do. This module owns the schema; unknown fields are errors, and
//! every error names the file, the line and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::arch::Arch;
use crate::emu::{RunLimits, Stop};
use crate::kernel_stub::signal::{code_name, signal_name};
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::vfs::{InputSource, OutputSink};
use crate::machine::{self, MachineConfig, MachineError};
use crate::report::RunResult;

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
    /// The most address space the guest's mappings may reserve: bytes, or a string with K, M,
    /// G or T ("512M"). Default: the host's RAM, at most 64 GiB.
    #[serde(default, deserialize_with = "memory_size")]
    pub memory: Option<u64>,
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
const MAX_MOUNT_FILE: u64 = 64 << 20;

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
    /// How the run stops: `exit`, `signal`, `insn_budget`, `time_budget`.
    #[serde(default)]
    pub stop: Option<String>,
    /// Exact stdout.
    #[serde(default)]
    pub stdout: Option<String>,
    /// Substrings stdout must contain.
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    /// Substrings stderr must contain.
    #[serde(default)]
    pub stderr_contains: Vec<String>,
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
            && self.stdout.is_none()
            && self.stdout_contains.is_empty()
            && self.stderr_contains.is_empty()
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

fn kernel_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<KernelVersion>, D::Error> {
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

fn memory_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
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

/// Errors of scenario files.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Error.
        source: std::io::Error,
    },
    /// The YAML does not fit the schema.
    #[error("{path}:{line}:{column}: {msg}")]
    Parse {
        /// Path.
        path: String,
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// What is wrong, naming the field.
        msg: String,
    },
    /// The YAML is too large, too deep, or its aliases expand too far.
    #[error("{path}: {source}")]
    Limit {
        /// Path.
        path: String,
        /// Which bound.
        source: crate::yaml_guard::YamlLimitError,
    },
    /// A value that parses but makes no sense.
    #[error("{path}: field `{field}`: {msg}")]
    Invalid {
        /// Path.
        path: String,
        /// The field.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// The machine could not run.
    #[error("{path}: {source}")]
    Machine {
        /// Path.
        path: String,
        /// Error.
        source: MachineError,
    },
}

/// One checked expectation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub what: String,
    /// Expected.
    pub expected: String,
    /// Observed.
    pub actual: String,
    /// Did it hold?
    pub ok: bool,
}

/// A scenario's run and its checks.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Scenario name.
    pub name: String,
    /// The run.
    pub result: RunResult,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Outcome {
    /// Did every expectation hold?
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// A parsed scenario with the directory its relative paths start from.
#[derive(Clone, Debug)]
pub struct LoadedScenario {
    /// The scenario.
    pub scenario: Scenario,
    /// The file.
    pub path: PathBuf,
    /// Let `program` and `files[].host` name host files outside the scenario's directory
    /// (absolute paths, `..`, symlinks out). Off by default: a scenario from someone else
    /// must not read the host's files (`tagmmu run --allow-host-paths`).
    pub allow_host_paths: bool,
}

/// Parse scenario text; `path` is used in messages and for relative paths.
pub fn parse(text: &str, path: &Path) -> Result<LoadedScenario, ScenarioError> {
    crate::yaml_guard::check(text)
        .map_err(|source| ScenarioError::Limit { path: path.display().to_string(), source })?;
    let scenario: Scenario = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        ScenarioError::Parse { path: path.display().to_string(), line, column, msg: e.to_string() }
    })?;
    let loaded = LoadedScenario { scenario, path: path.to_path_buf(), allow_host_paths: false };
    // A scenario that expects nothing would pass whatever happens: a check that cannot fail.
    if loaded.scenario.expect.as_ref().is_none_or(Expect::is_empty) {
        return Err(loaded.invalid(
            "expect",
            "the scenario expects nothing, so it could never fail: give at least one of exit, signal, stop, stdout, loops, ...",
        ));
    }
    let loops = loaded.scenario.expect.as_ref().map_or(&[][..], |e| &e.loops[..]);
    if let Some(i) = loops.iter().position(ExpectLoop::is_empty) {
        return Err(loaded.invalid(&format!("expect.loops[{i}]"), "this loop entry checks nothing"));
    }
    Ok(loaded)
}

/// Read and parse a scenario file.
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let text = crate::yaml_guard::read_bounded(path)
        .map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
    parse(&text, path)
}

impl LoadedScenario {
    fn invalid(&self, field: &str, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid { path: self.path.display().to_string(), field: field.into(), msg: msg.into() }
    }

    /// The host path `p` of `field`, relative to the scenario's directory and confined to it
    /// unless [`LoadedScenario::allow_host_paths`].
    fn relative(&self, field: &str, p: &str) -> Result<PathBuf, ScenarioError> {
        let base = match self.path.parent() {
            Some(b) if !b.as_os_str().is_empty() => b,
            _ => Path::new("."),
        };
        let joined = base.join(p);
        if self.allow_host_paths {
            return Ok(joined);
        }
        let outside = || {
            self.invalid(
                field,
                format!("{p} is outside the scenario's directory (pass --allow-host-paths to let a scenario read host files)"),
            )
        };
        if Path::new(p).is_absolute() {
            return Err(outside());
        }
        let dir = base.canonicalize().map_err(|e| self.invalid(field, format!("{}: {e}", base.display())))?;
        let target = joined.canonicalize().map_err(|e| self.invalid(field, format!("cannot read {p}: {e}")))?;
        if !target.starts_with(&dir) {
            return Err(outside());
        }
        Ok(target)
    }

    /// The scenario's name.
    pub fn name(&self) -> String {
        self.scenario
            .name
            .clone()
            .unwrap_or_else(|| self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
    }

    /// The machine configuration this scenario describes.
    pub fn machine_config(&self) -> Result<MachineConfig, ScenarioError> {
        let s = &self.scenario;
        let program = match s.program.strip_prefix("guest:") {
            Some(name) => crate::programs::guest_program(name).map_err(|m| self.invalid("program", m))?,
            None => self.relative("program", &s.program)?,
        };
        let mut cfg = MachineConfig::new(program).args(s.args.clone());
        cfg.argv0 = s.argv0.clone().or_else(|| Some(s.program.clone()));
        cfg.env = s.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        cfg.arch = s.machine.arch;
        if let Some(v) = s.machine.kernel {
            cfg.kernel.version = v;
        }
        if let Some(seed) = s.machine.seed {
            cfg.kernel.seed = seed;
        }
        cfg.kernel.clock.host = s.machine.host_time;
        if let Some(bytes) = s.machine.memory {
            cfg.kernel.memory_limit = bytes;
        }
        if let Some(secs) = s.machine.epoch {
            if s.machine.host_time {
                return Err(self.invalid("machine.epoch", "cannot be set with machine.host_time: true"));
            }
            cfg.kernel.clock.epoch_ns = secs.checked_mul(1_000_000_000).ok_or_else(|| {
                self.invalid("machine.epoch", format!("{secs} is past what a 64-bit nanosecond clock holds"))
            })?;
        }
        if let Some(uid) = s.machine.uid {
            cfg.kernel.uid = uid;
        }
        if let Some(gid) = s.machine.gid {
            cfg.kernel.gid = gid;
        }
        if let Some(m) = s.machine.mte {
            cfg.mte = m;
        }
        if let Some(m) = s.machine.mte_preferred {
            cfg.mte_preferred = m;
        }
        if let Some(b) = s.machine.mte_store_only {
            cfg.mte_store_only = b;
        }
        if let Some(a) = s.machine.adi {
            cfg.kernel.adi.supported = a;
        }
        if let Some(t) = s.machine.tick_interval {
            cfg.tick_interval = t;
        }
        if let Some(f) = s.machine.flavour {
            cfg.kernel.subpage_probe = Some(f);
        }
        if let Some(m) = s.machine.copy_model {
            cfg.copy_model = m;
        }
        if let Some(c) = s.machine.cap_sys_admin {
            cfg.kernel.cap_sys_admin = c;
        }
        if let Some(a) = &s.machine.livelock {
            if let crate::kernel_stub::loops::LivelockAction::Fail { errno } = a {
                if crate::kernel_stub::errno::Errno::from_name(errno).is_none() {
                    return Err(self.invalid("machine.livelock.errno", format!("unknown errno {errno:?}")));
                }
            }
            cfg.kernel.livelock_action = a.clone();
        }
        if let Some(b) = s.machine.loop_budget {
            cfg.kernel.loop_budget = b;
        }
        if let Some(b) = &s.btrfs {
            let mut leaves = Vec::new();
            let mut total = 0u64;
            for (li, l) in b.leaves.iter().enumerate() {
                let mut items = Vec::new();
                for (ii, it) in l.items.iter().enumerate() {
                    // The tree lives in host memory: bound it before building it.
                    total += it.data.as_ref().map_or(it.size.unwrap_or(0), |d| d.len()) as u64;
                    if total > MAX_BTRFS_BYTES {
                        return Err(self.invalid(
                            &format!("btrfs.leaves[{li}].items[{ii}]"),
                            format!("the tree's items hold more than {} MiB", MAX_BTRFS_BYTES >> 20),
                        ));
                    }
                    let data = match (&it.data, it.size) {
                        (Some(d), None) => d.clone().into_bytes(),
                        (None, Some(n)) if n <= 65535 => (0..n).map(|i| b'a' + (i % 26) as u8).collect(),
                        _ => {
                            return Err(self.invalid(
                                &format!("btrfs.leaves[{li}].items[{ii}]"),
                                "give exactly one of `data` and `size` (at most 65535)",
                            ))
                        }
                    };
                    let key = crate::kernel_stub::btrfs::Key { objectid: it.objectid, typ: it.typ, offset: it.offset };
                    items.push(crate::kernel_stub::btrfs::Item { key, data });
                }
                leaves.push(crate::kernel_stub::btrfs::Leaf { generation: l.generation, items });
            }
            let tree = crate::kernel_stub::btrfs::Tree { leaves };
            tree.validate().map_err(|e| self.invalid("btrfs.leaves", e.to_string()))?;
            cfg.btrfs = Some(crate::kernel_stub::btrfs::ioctl::BtrfsMount { path: b.mount.clone(), tree });
        }
        for (field, fs, spec) in [
            ("ext4", crate::kernel_stub::mounts::FsKind::Ext4, &s.ext4),
            ("gfs2", crate::kernel_stub::mounts::FsKind::Gfs2, &s.gfs2),
            ("fuse", crate::kernel_stub::mounts::FsKind::Fuse, &s.fuse),
        ] {
            let Some(m) = spec else { continue };
            if !m.mount.starts_with('/') {
                return Err(self.invalid(&format!("{field}.mount"), "must be an absolute guest path"));
            }
            cfg.mounts.push(crate::kernel_stub::mounts::Mount { fs, path: m.mount.trim_end_matches('/').to_string() });
            for (i, f) in m.files.iter().enumerate() {
                let bytes = match (&f.content, f.size) {
                    (Some(c), None) => c.clone().into_bytes(),
                    (None, Some(n)) if n <= MAX_MOUNT_FILE => (0..n).map(|i| b'a' + (i % 26) as u8).collect(),
                    _ => {
                        return Err(self.invalid(
                            &format!("{field}.files[{i}]"),
                            "give exactly one of `content` and `size` (at most 64 MiB)",
                        ))
                    }
                };
                if f.name.is_empty() || f.name.contains('/') {
                    return Err(self.invalid(&format!("{field}.files[{i}].name"), "a file name without '/'"));
                }
                cfg.files.push((format!("{}/{}", m.mount.trim_end_matches('/'), f.name), bytes));
            }
        }
        cfg.kernel.stdin = s.stdin.clone().map(|t| InputSource::Bytes(t.into_bytes())).unwrap_or(InputSource::Empty);
        cfg.kernel.stdout = OutputSink::Capture;
        cfg.kernel.stderr = OutputSink::Capture;
        cfg.limits = RunLimits {
            insn_budget: s.limits.insn_budget,
            time_budget: Some(Duration::from_millis(s.limits.time_budget_ms.unwrap_or(60_000))),
        };
        for (i, f) in s.files.iter().enumerate() {
            let contents = match (&f.content, &f.host) {
                (Some(c), None) => c.clone().into_bytes(),
                (None, Some(h)) => crate::host_file::read_regular(
                    &self.relative(&format!("files[{i}].host"), h)?,
                    crate::host_file::MAX_HOST_FILE,
                )
                .map_err(|e| self.invalid(&format!("files[{i}].host"), format!("cannot read {h}: {e}")))?,
                _ => return Err(self.invalid(&format!("files[{i}]"), "give exactly one of `content` and `host`")),
            };
            cfg.files.push((f.path.clone(), contents));
        }
        if let Some(e) = &s.expect {
            if let Some(st) = &e.stop {
                if !["exit", "signal", "insn_budget", "time_budget", "deadlock"].contains(&st.as_str()) {
                    return Err(self.invalid(
                        "expect.stop",
                        format!("unknown stop {st:?}: expected exit, signal, insn_budget, time_budget or deadlock"),
                    ));
                }
            }
        }
        Ok(cfg)
    }

    /// Run the scenario and check its expectations.
    pub fn run(&self, trace: bool) -> Result<Outcome, ScenarioError> {
        let mut cfg = self.machine_config()?;
        if trace {
            cfg.trace.syscalls = true;
            cfg.trace.keep = true;
        }
        let result = machine::run(&cfg)
            .map_err(|source| ScenarioError::Machine { path: self.path.display().to_string(), source })?;
        let checks = self.scenario.expect.as_ref().map(|e| check(e, &result)).unwrap_or_default();
        Ok(Outcome { name: self.name(), result, checks })
    }
}

fn check(e: &Expect, r: &RunResult) -> Vec<Check> {
    let mut out = Vec::new();
    let mut add = |what: &str, expected: String, actual: String| {
        let ok = expected == actual;
        out.push(Check { what: what.into(), expected, actual, ok });
    };
    let stop_kind = match &r.stop {
        Stop::Exited { .. } => "exit",
        Stop::Killed { .. } => "signal",
        Stop::InsnBudget { .. } => "insn_budget",
        Stop::TimeBudget { .. } => "time_budget",
        Stop::Deadlock { .. } => "deadlock",
    };
    if let Some(s) = &e.stop {
        add("stop", s.clone(), stop_kind.into());
    }
    if let Some(x) = e.exit {
        let actual = match &r.stop {
            Stop::Exited { status } => status.to_string(),
            _ => format!("no exit ({stop_kind})"),
        };
        add("exit", x.to_string(), actual);
    }
    let sig = match &r.stop {
        Stop::Killed { signal } => Some(signal),
        _ => None,
    };
    if let Some(s) = &e.signal {
        add("signal", s.clone(), sig.map(|s| signal_name(s.signo)).unwrap_or_else(|| format!("none ({stop_kind})")));
    }
    if let Some(c) = &e.si_code {
        add("si_code", c.clone(), sig.map(|s| code_name(s.signo, s.si_code)).unwrap_or_else(|| "none".into()));
    }
    if let Some(a) = e.fault_addr {
        add(
            "fault_addr",
            format!("{a:#x}"),
            sig.and_then(|s| s.addr).map(|a| format!("{a:#x}")).unwrap_or_else(|| "none".into()),
        );
    }
    let last_loop = r.loops.last();
    if let Some(v) = &e.verdict {
        add("verdict", v.clone(), last_loop.map(|l| l.verdict.kind()).unwrap_or("no kernel loop ran").into());
    }
    if let Some(x) = e.loop_ret {
        let actual = match last_loop.map(|l| &l.verdict) {
            Some(crate::kernel_stub::loops::Verdict::Completed { ret }) => ret.to_string(),
            _ => "did not complete".into(),
        };
        add("loop_ret", x.to_string(), actual);
    }
    for (i, x) in e.loops.iter().enumerate() {
        let l = r.loops.get(i);
        let mut field =
            |name: &str, want: Option<String>, got: &dyn Fn(&crate::kernel_stub::loops::LoopReport) -> String| {
                if let Some(want) = want {
                    let actual = l.map(got).unwrap_or_else(|| format!("only {} kernel loop(s) ran", r.loops.len()));
                    add(&format!("loops[{i}].{name}"), want, actual);
                }
            };
        let none = || "none".to_string();
        field("loop", x.id.clone(), &|l| l.id.clone());
        field("verdict", x.verdict.clone(), &|l| l.verdict.kind().into());
        field("ret", x.ret.map(|v| v.to_string()), &|l| match l.verdict {
            crate::kernel_stub::loops::Verdict::Completed { ret } => ret.to_string(),
            _ => "did not complete".into(),
        });
        field("passes", x.passes.map(|v| v.to_string()), &|l| l.attempts.passes.to_string());
        field("short_copies", x.short_copies.map(|v| v.to_string()), &|l| l.attempts.short_copies.to_string());
        field("fault_in_calls", x.fault_in_calls.map(|v| v.to_string()), &|l| l.attempts.fault_in_calls.to_string());
        field("fault_in", x.fault_in.clone(), &|l| l.fault_in.map(|f| f.name().to_string()).unwrap_or_else(none));
        field("cycle_length", x.cycle_length.map(|v| v.to_string()), &|l| match l.verdict {
            crate::kernel_stub::loops::Verdict::Livelock { cycle } => cycle.length().to_string(),
            _ => "no cycle".into(),
        });
        field("stuck_at", x.stuck_at.map(|v| v.to_string()), &|l| {
            l.stuck_at.map(|v| v.to_string()).unwrap_or_else(|| "not stuck".into())
        });
        field("fault_offset", x.fault_offset.map(|v| v.to_string()), &|l| {
            l.fault.map(|f| f.addr.wrapping_sub(l.ubuf_untagged).to_string()).unwrap_or_else(none)
        });
        field("fault_cause", x.fault_cause.clone(), &|l| {
            l.fault
                .map(|f| {
                    serde_json::to_value(f.cause).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                })
                .unwrap_or_else(none)
        });
    }
    let stdout = String::from_utf8_lossy(&r.stdout);
    if let Some(s) = &e.stdout {
        add("stdout", s.clone(), stdout.to_string());
    }
    for (i, x) in e.direct_io.iter().enumerate() {
        let d = r.direct_io.get(i);
        let mut dio = |field: &str,
                       want: Option<String>,
                       got: &dyn Fn(&crate::kernel_stub::btrfs::dio::DioReport) -> String| {
            if let Some(want) = want {
                let actual = d.map(got).unwrap_or_else(|| format!("only {} O_DIRECT request(s)", r.direct_io.len()));
                add(&format!("direct_io[{i}].{field}"), want, actual);
            }
        };
        dio("ret", x.ret.map(|v| v.to_string()), &|d| d.ret.to_string());
        dio("direct_bytes", x.direct_bytes.map(|v| v.to_string()), &|d| d.direct_bytes.to_string());
        dio("passes", x.passes.map(|v| v.to_string()), &|d| d.passes.len().to_string());
        dio("unchecked_granules", x.unchecked_granules.map(|v| v.to_string()), &|d| d.unchecked.len().to_string());
        dio("fallback", x.fallback.clone(), &|d| {
            match d.fallback {
                None => "none",
                Some(crate::kernel_stub::btrfs::dio::Fallback::Unaligned) => "unaligned",
                Some(crate::kernel_stub::btrfs::dio::Fallback::NoProgress) => "no_progress",
                Some(crate::kernel_stub::btrfs::dio::Fallback::Checksum) => "checksum",
            }
            .to_string()
        });
    }
    for s in &e.stdout_contains {
        let ok = stdout.contains(s.as_str());
        out.push(Check {
            what: "stdout contains".into(),
            expected: s.clone(),
            actual: if ok { s.clone() } else { stdout.to_string() },
            ok,
        });
    }
    let stderr = String::from_utf8_lossy(&r.stderr);
    for s in &e.stderr_contains {
        let ok = stderr.contains(s.as_str());
        out.push(Check {
            what: "stderr contains".into(),
            expected: s.clone(),
            actual: if ok { s.clone() } else { stderr.to_string() },
            ok,
        });
    }
    if let Some(m) = e.max_short_copies {
        let worst = r
            .loops
            .iter()
            .filter(|l| l.id == "generic_perform_write")
            .map(|l| l.attempts.short_copies)
            .max()
            .unwrap_or(0);
        out.push(Check {
            what: "max short copies".into(),
            expected: format!("<= {m}"),
            actual: worst.to_string(),
            ok: worst <= m,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<LoadedScenario, ScenarioError> {
        parse(text, Path::new("configs/x.yaml"))
    }

    #[test]
    fn unknown_fields_name_file_line_and_field() {
        let e = p("program: guest:arm64/hello\nmachine:\n  kernal: \"5.16\"\n").unwrap_err().to_string();
        assert!(e.starts_with("configs/x.yaml:3:"), "{e}");
        assert!(e.contains("unknown field `kernal`"), "{e}");
    }

    #[test]
    fn a_btrfs_tree_too_large_for_host_memory_is_refused_before_it_is_built() {
        let items: Vec<String> =
            (0..5000).map(|i| format!("{{objectid: {i}, type: 1, offset: 0, size: 65535}}")).collect();
        let text = format!(
            "program: guest:arm64/hello\nbtrfs: {{mount: /mnt, leaves: [{{generation: 1, items: [{}]}}]}}\nexpect: {{exit: 0}}\n",
            items.join(",")
        );
        let e = p(&text).unwrap().machine_config().unwrap_err().to_string();
        assert!(e.contains("btrfs.leaves[0].items[4096]") && e.contains("more than 256 MiB"), "{e}");
    }

    #[test]
    fn kernel_version_must_be_a_string() {
        let e = p("program: x\nmachine:\n  kernel: 5.10\n").unwrap_err().to_string();
        assert!(e.contains("quoted string"), "{e}");
        let s = p("program: x\nmachine:\n  kernel: \"6.12\"\nexpect: {exit: 0}\n").unwrap();
        assert_eq!(s.scenario.machine.kernel, Some(KernelVersion { major: 6, minor: 12 }));
        let e = p("program: x\nmachine:\n  kernel: \"5.10\"\n").unwrap_err().to_string();
        assert!(e.contains("5.10 is not modelled") && e.contains("6.18"), "{e}");
        assert!(p("program: x\nmachine:\n  kernel: \"five\"\n")
            .unwrap_err()
            .to_string()
            .contains("invalid kernel version"));
    }

    #[test]
    fn missing_program_and_bad_types() {
        assert!(p("args: []\n").unwrap_err().to_string().contains("missing field `program`"));
        assert!(p("program: x\nlimits:\n  insn_budget: lots\n").unwrap_err().to_string().contains("insn_budget"));
        // (Host paths allowed: the program `x` does not exist, and is not what is tested.)
        let mut s = p("program: x\nfiles:\n  - path: /tmp/a\nexpect: {exit: 0}\n").unwrap();
        s.allow_host_paths = true;
        assert!(s.machine_config().unwrap_err().to_string().contains("files[0]"));
        let mut s = p("program: x\nexpect:\n  stop: crashed\n").unwrap();
        s.allow_host_paths = true;
        assert!(s.machine_config().unwrap_err().to_string().contains("expect.stop"));
    }
}
