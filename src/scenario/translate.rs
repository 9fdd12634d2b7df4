//! Translating a scenario into a machine: host paths confined to the scenario's
//! directory, files, mounts, the btrfs tree, limits and machine options.

use super::*;

impl LoadedScenario {
    pub(super) fn invalid(&self, field: &str, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid { path: self.path.display().to_string(), field: field.into(), msg: msg.into() }
    }

    /// The host path `p` of `field`, relative to the scenario's directory and confined to it
    /// unless [`LoadedScenario::allow_host_paths`].
    pub(super) fn relative(&self, field: &str, p: &str) -> Result<PathBuf, ScenarioError> {
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
        if let Some(mode) = s.machine.overcommit {
            cfg.kernel.overcommit = mode;
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
            cfg.adi = a;
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
            ..Default::default()
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
}
