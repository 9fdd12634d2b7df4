//! The sweep file: a base point plus axes, read into a [`Plan`] that can name its N-th point
//! without listing the others (so memory stays flat in the number of points).
//!
//! ```yaml
//! name: search-offsets            # required
//! description: free text
//! loop_budget: 10000              # passes per loop before a point counts as unproven
//! base:                           # one value per axis (defaults shown)
//!   loop: search_ioctl
//!   kernel: "5.16"
//!   arch: arm64
//!   mode: sync                    # arm64: sync async asymm store_only none; sparc64: adi none
//!   fault_in: upstream            # upstream, no_probe, sparc_adi_probe
//!   align: 0x68                   # where the buffer starts in its first page
//!   len: 3992
//!   absent: []                    # pages of the buffer not present
//!   bad_tag: 5
//!   bad_offset: 8                 # or none
//! axes:                           # any of the base's keys, each a list (or a rule)
//!   loop: all                     # or a list
//!   kernel: all                   # or a list of versions
//!   mode: all                     # every mode that exists on the point's arch and kernel
//!   absent: every                 # every pattern of the buffer's pages, or a list of lists
//!   bad_offset: every_granule     # or {from, to, step}, or a list (numbers, none)
//! claims: []                      # a survey's claims (see `crate::sweep::survey`)
//! ```
//!
//! Points run in this order: loop, kernel, arch, mode, fault_in, align, len, absent, bad_tag,
//! then bad_offset innermost. A combination that does not exist (store-only before 6.17, an
//! MTE mode on SPARC, the ADI probe on arm64) is not a point. Every error names its field.

use serde_yaml::Value;

use crate::arch::Arch;
use crate::kernel_stub::version::{KernelVersion, KNOWN};
use crate::sweep::point::{Flavour, Point, SweepLoop};
use crate::sweep::survey::Claim;
use crate::sweep::SweepError;
use crate::testbed::{CheckMode, BAD_TAG};

/// Where bad granules go, for one buffer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Offsets {
    /// The granule (ADI block) holding each byte of this list (`None`: no bad granule).
    List(Vec<Option<u64>>),
    /// `from`, `from + step`, ... below `to`.
    Range {
        /// First offset.
        from: u64,
        /// End (exclusive).
        to: u64,
        /// Step.
        step: u64,
    },
    /// One offset in each granule (block) the buffer touches: 0, then each granule start.
    EveryGranule,
}

/// Everything a point has except its bad offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Config {
    /// The loop.
    #[serde(rename = "loop")]
    pub the_loop: SweepLoop,
    /// The kernel.
    #[serde(serialize_with = "crate::sweep::point::ser_version")]
    pub kernel: KernelVersion,
    /// The architecture.
    #[serde(serialize_with = "crate::sweep::point::ser_arch")]
    pub arch: Arch,
    /// The tag-check mode.
    pub mode: CheckMode,
    /// The sub-page probe flavour.
    pub fault_in: Flavour,
    /// Buffer start in its first page.
    pub align: u64,
    /// Buffer length.
    pub len: u64,
    /// Absent pages (bit i: page i).
    pub absent: u64,
    /// The bad granule's tag.
    pub bad_tag: u8,
}

impl Config {
    fn granule(&self) -> u64 {
        match self.arch {
            Arch::Arm64 => crate::tags::MTE.granule,
            Arch::Sparc64 => crate::tags::ADI.granule,
        }
    }

    /// The user buffer's length at this configuration.
    pub fn buffer_len(&self) -> u64 {
        self.the_loop.buffer_len(self.len)
    }

    /// How many placements `offsets` gives this configuration.
    pub fn placements(&self, offsets: &Offsets) -> u64 {
        match offsets {
            Offsets::List(v) => v.len() as u64,
            Offsets::Range { from, to, step } => {
                if to <= from {
                    0
                } else {
                    (to - from).div_ceil(*step)
                }
            }
            Offsets::EveryGranule => {
                let g = self.granule();
                (self.align + self.buffer_len()).div_ceil(g) - self.align / g
            }
        }
    }

    /// The `i`-th placement.
    pub fn placement(&self, offsets: &Offsets, i: u64) -> Option<u64> {
        match offsets {
            Offsets::List(v) => v[i as usize],
            Offsets::Range { from, step, .. } => Some(from + i * step),
            Offsets::EveryGranule => {
                let g = self.granule();
                let first = self.align / g * g;
                Some((first + i * g).max(self.align) - self.align)
            }
        }
    }
}

/// A sweep ready to run: its configurations and placements, indexable point by point.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Passes per loop before a point counts as unproven.
    pub loop_budget: u64,
    /// The configurations, in point order.
    pub configs: Vec<Config>,
    /// The bad-offset rule.
    pub offsets: Offsets,
    /// Index of each configuration's first point (and the total at the end).
    starts: Vec<u64>,
    /// The sweep's fingerprint (hex): a hash of everything that decides its points.
    pub fingerprint: String,
    /// The survey's claims, if it is one.
    pub claims: Vec<Claim>,
}

impl Plan {
    /// Points in the sweep.
    pub fn len(&self) -> u64 {
        *self.starts.last().unwrap_or(&0)
    }

    /// Is the sweep empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The point with index `i` (`None` past the end).
    pub fn point(&self, i: u64) -> Option<Point> {
        if i >= self.len() {
            return None;
        }
        let c = self.starts.partition_point(|&s| s <= i) - 1;
        let cfg = &self.configs[c];
        let bad_offset = cfg.placement(&self.offsets, i - self.starts[c]);
        Some(Point { config: *cfg, bad_offset })
    }
}

/// Read the sweep file at `path`.
pub fn load(path: &std::path::Path) -> Result<Plan, SweepError> {
    let text = crate::yaml_guard::read_bounded(path).map_err(|e| SweepError::Io(path.display().to_string(), e))?;
    parse(&text)
}

/// Read a sweep from YAML text.
pub fn parse(text: &str) -> Result<Plan, SweepError> {
    crate::yaml_guard::check(text).map_err(|e| SweepError::Yaml(e.to_string()))?;
    let v: Value = serde_yaml::from_str(text).map_err(|e| SweepError::Yaml(e.to_string()))?;
    let top = v.as_mapping().ok_or_else(|| bad("(top level)", "expected a mapping"))?;
    known_keys("(top level)", top, &["name", "description", "loop_budget", "base", "axes", "claims"])?;
    let name = match top.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(bad("name", "expected a non-empty string")),
        None => return Err(bad("name", "missing")),
    };
    let description = match top.get("description") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("description", "expected a string")),
    };
    let loop_budget = match top.get("loop_budget") {
        None => 10_000,
        Some(x) => int("loop_budget", x).and_then(|n| {
            if (1..=1_000_000).contains(&n) {
                Ok(n)
            } else {
                Err(bad("loop_budget", "expected 1 to 1000000"))
            }
        })?,
    };
    let empty = serde_yaml::Mapping::new();
    let base = match top.get("base") {
        None => &empty,
        Some(Value::Mapping(m)) => m,
        Some(_) => return Err(bad("base", "expected a mapping")),
    };
    let axes = match top.get("axes") {
        None => &empty,
        Some(Value::Mapping(m)) => m,
        Some(_) => return Err(bad("axes", "expected a mapping")),
    };
    const AXES: &[&str] =
        &["loop", "kernel", "arch", "mode", "fault_in", "align", "len", "absent", "bad_tag", "bad_offset"];
    known_keys("base", base, AXES)?;
    known_keys("axes", axes, AXES)?;
    // Each axis: the axes' list if given, else the base's one value, else the default.
    let values = |key: &str| -> Option<(String, Value)> {
        if let Some(v) = axes.get(key) {
            return Some((format!("axes.{key}"), v.clone()));
        }
        base.get(key).map(|v| (format!("base.{key}"), Value::Sequence(vec![v.clone()])))
    };
    let loops: Vec<SweepLoop> = match values("loop") {
        None => vec![SweepLoop::SearchIoctl],
        Some((f, v)) if is_all(&v) => {
            let _ = f;
            SweepLoop::ALL.to_vec()
        }
        Some((f, v)) => strings(&f, &v)?
            .iter()
            .map(|s| {
                SweepLoop::parse(s).ok_or_else(|| {
                    let names: Vec<&str> = SweepLoop::ALL.iter().map(|l| l.name()).collect();
                    bad(&f, &format!("unknown loop `{s}` (known: {})", names.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let kernels: Vec<KernelVersion> = match values("kernel") {
        None => vec!["5.16".parse().expect("a known version")],
        Some((_, v)) if is_all(&v) => KNOWN.to_vec(),
        Some((f, v)) => strings(&f, &v)?
            .iter()
            .map(|s| s.parse().map_err(|e| bad(&f, &format!("{e}"))))
            .collect::<Result<_, _>>()?,
    };
    let arches: Vec<Arch> = match values("arch") {
        None => vec![Arch::Arm64],
        Some((_, v)) if is_all(&v) => vec![Arch::Arm64, Arch::Sparc64],
        Some((f, v)) => strings(&f, &v)?
            .iter()
            .map(|s| match s.as_str() {
                "arm64" => Ok(Arch::Arm64),
                "sparc64" => Ok(Arch::Sparc64),
                _ => Err(bad(&f, &format!("unknown arch `{s}` (known: arm64, sparc64)"))),
            })
            .collect::<Result<_, _>>()?,
    };
    // None: the arch's default mode.
    let modes: Option<Vec<CheckMode>> = match values("mode") {
        None => None,
        Some((_, v)) if is_all(&v) => Some(CheckMode::ALL.to_vec()),
        Some((f, v)) => Some(
            strings(&f, &v)?
                .iter()
                .map(|s| {
                    CheckMode::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
                        bad(&f, &format!("unknown mode `{s}` (known: sync, async, asymm, store_only, adi, none)"))
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let flavours: Vec<Flavour> = match values("fault_in") {
        None => vec![Flavour::Upstream],
        Some((_, v)) if is_all(&v) => Flavour::ALL.to_vec(),
        Some((f, v)) => strings(&f, &v)?
            .iter()
            .map(|s| {
                Flavour::parse(s).ok_or_else(|| {
                    bad(&f, &format!("unknown fault_in flavour `{s}` (known: upstream, no_probe, sparc_adi_probe)"))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let aligns = match values("align") {
        None => vec![0x68],
        Some((f, v)) => ints(&f, &v)?,
    };
    for &a in &aligns {
        if a >= 8192 {
            return Err(bad(&values("align").map(|x| x.0).unwrap_or_default(), "expected offsets below 8192"));
        }
    }
    let lens = match values("len") {
        None => vec![crate::kernel_stub::btrfs::search::SEARCH_ARGS_BUFSIZE],
        Some((f, v)) => ints(&f, &v)?,
    };
    for &l in &lens {
        if l == 0 || l > 1 << 20 {
            return Err(bad(&values("len").map(|x| x.0).unwrap_or_default(), "expected lengths from 1 to 1048576"));
        }
    }
    let absents: Absent = match values("absent") {
        None => Absent::List(vec![0]),
        Some((f, Value::String(s))) if s == "every" => {
            let _ = f;
            Absent::Every
        }
        Some((f, v)) => {
            let Value::Sequence(items) = &v else { return Err(bad(&f, "expected `every` or a list of page lists")) };
            let mut masks = Vec::new();
            for item in items {
                let pages = ints(&f, item)?;
                let mut m = 0u64;
                for p in pages {
                    if p >= 64 {
                        return Err(bad(&f, "page indices must be below 64"));
                    }
                    m |= 1 << p;
                }
                masks.push(m);
            }
            // A base value arrives wrapped in a list: `absent: [0, 1]` is one pattern.
            Absent::List(masks)
        }
    };
    let tags: Vec<u8> = match values("bad_tag") {
        None => vec![BAD_TAG],
        Some((f, v)) => ints(&f, &v)?
            .into_iter()
            .map(|t| u8::try_from(t).ok().filter(|t| *t < 16).ok_or_else(|| bad(&f, "tags are 0 to 15")))
            .collect::<Result<_, _>>()?,
    };
    let offsets = match values("bad_offset") {
        None => Offsets::List(vec![Some(8)]),
        Some((f, v)) => offsets_rule(&f, &v)?,
    };

    let mut configs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &the_loop in &loops {
        for &kernel in &kernels {
            for &arch in &arches {
                let arch_modes = match &modes {
                    Some(m) => m.clone(),
                    None => vec![CheckMode::default_for(arch)],
                };
                for &mode in arch_modes.iter().filter(|m| m.exists(arch, kernel)) {
                    for &fault_in in flavours.iter().filter(|f| f.probe(arch).is_some()) {
                        for &align in &aligns {
                            for &len0 in &lens {
                                let len = the_loop.buffer_len(len0);
                                let page = arch.page_size();
                                let pages = (align + len).div_ceil(page).max(1);
                                let masks: Vec<u64> = match &absents {
                                    Absent::Every if pages > 12 => {
                                        return Err(bad(
                                            "axes.absent",
                                            &format!(
                                                "`every` over {pages} pages is too many patterns (at most 12 pages)"
                                            ),
                                        ))
                                    }
                                    Absent::Every => (0..1u64 << pages).collect(),
                                    Absent::List(m) => m.clone(),
                                };
                                for &absent in &masks {
                                    for &bad_tag in &tags {
                                        let c = Config {
                                            the_loop,
                                            kernel,
                                            arch,
                                            mode,
                                            fault_in,
                                            align,
                                            len,
                                            absent,
                                            bad_tag,
                                        };
                                        if seen.insert(c) {
                                            configs.push(c);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let mut starts = Vec::with_capacity(configs.len() + 1);
    let mut total = 0u64;
    for c in &configs {
        starts.push(total);
        total = total
            .checked_add(c.placements(&offsets))
            .filter(|t| *t <= 1 << 40)
            .ok_or_else(|| bad("axes", "the sweep has more than 2^40 points"))?;
    }
    starts.push(total);
    let claims = match top.get("claims") {
        None => Vec::new(),
        Some(v) => serde_yaml::from_value(v.clone()).map_err(|e| bad("claims", &e.to_string()))?,
    };
    let canon = serde_json::to_string(&(&configs, &offsets, loop_budget)).expect("plain data");
    let fingerprint = format!("{:016x}", fnv1a(canon.as_bytes()));
    Ok(Plan { name, description, loop_budget, configs, offsets, starts, fingerprint, claims })
}

enum Absent {
    List(Vec<u64>),
    Every,
}

/// FNV-1a, 64 bits: a stable fingerprint (std's hasher is not stable across releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

fn bad(field: &str, why: &str) -> SweepError {
    SweepError::Field { field: field.to_string(), why: why.to_string() }
}

fn known_keys(field: &str, m: &serde_yaml::Mapping, known: &[&str]) -> Result<(), SweepError> {
    for k in m.keys() {
        let name = k.as_str().unwrap_or("?");
        if !known.contains(&name) {
            let at = if field == "(top level)" { name.to_string() } else { format!("{field}.{name}") };
            return Err(bad(&at, &format!("unknown key (known: {})", known.join(", "))));
        }
    }
    Ok(())
}

fn is_all(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == "all")
}

fn int(field: &str, v: &Value) -> Result<u64, SweepError> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| bad(field, "expected a non-negative integer")),
        Value::String(s) => {
            let t = s.trim();
            let r = match t.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => t.parse(),
            };
            r.map_err(|_| bad(field, &format!("expected an integer, got `{s}`")))
        }
        _ => Err(bad(field, "expected an integer")),
    }
}

fn ints(field: &str, v: &Value) -> Result<Vec<u64>, SweepError> {
    match v {
        Value::Sequence(items) => items.iter().map(|x| int(field, x)).collect(),
        _ => Err(bad(field, "expected a list of integers")),
    }
}

fn strings(field: &str, v: &Value) -> Result<Vec<String>, SweepError> {
    let items = match v {
        Value::Sequence(items) => items,
        _ => return Err(bad(field, "expected `all` or a list")),
    };
    items
        .iter()
        .map(|x| match x {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(bad(field, "expected strings")),
        })
        .collect()
}

fn offsets_rule(field: &str, v: &Value) -> Result<Offsets, SweepError> {
    match v {
        Value::String(s) if s == "every_granule" => Ok(Offsets::EveryGranule),
        Value::Mapping(m) => {
            known_keys(field, m, &["from", "to", "step"])?;
            let get = |k: &str| m.get(k).ok_or_else(|| bad(&format!("{field}.{k}"), "missing"));
            let from = int(&format!("{field}.from"), get("from")?)?;
            let to = int(&format!("{field}.to"), get("to")?)?;
            let step = match m.get("step") {
                None => 16,
                Some(s) => int(&format!("{field}.step"), s)?,
            };
            if step == 0 {
                return Err(bad(&format!("{field}.step"), "must be at least 1"));
            }
            Ok(Offsets::Range { from, to, step })
        }
        Value::Sequence(items) => {
            let mut out = Vec::new();
            for x in items {
                match x {
                    Value::String(s) if s == "none" => out.push(None),
                    Value::Null => out.push(None),
                    // A base value `bad_offset: every_granule` arrives wrapped in a list.
                    Value::String(s) if s == "every_granule" && items.len() == 1 => return Ok(Offsets::EveryGranule),
                    Value::Mapping(_) if items.len() == 1 => return offsets_rule(field, x),
                    _ => out.push(Some(int(field, x)?)),
                }
            }
            Ok(Offsets::List(out))
        }
        _ => Err(bad(field, "expected every_granule, {from, to, step} or a list of offsets (or none)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_multiply_and_missing_combinations_are_not_points() {
        let p = parse(
            "name: t\naxes:\n  kernel: ['5.16', '6.17']\n  arch: [arm64, sparc64]\n  mode: all\n  bad_offset: {from: 0, to: 64, step: 16}\n",
        )
        .unwrap();
        // arm64 5.16: sync async none; arm64 6.17: + asymm store_only; sparc64: adi none (x2).
        assert_eq!(p.configs.len(), 3 + 5 + 2 + 2);
        assert_eq!(p.len(), 12 * 4);
        let last = p.point(p.len() - 1).unwrap();
        assert_eq!((last.arch, last.mode, last.bad_offset), (Arch::Sparc64, CheckMode::None, Some(48)));
        assert!(p.point(p.len()).is_none());
    }

    #[test]
    fn every_granule_covers_the_buffer_from_its_first_byte() {
        let p = parse(
            "name: t\nbase: {loop: perform_write_tmpfs, align: 0x68, len: 100}\naxes: {bad_offset: every_granule}\n",
        )
        .unwrap();
        // Granules 0x60..0xcf: 7; the first placement is the buffer's first byte.
        let offs: Vec<_> = (0..p.len()).map(|i| p.point(i).unwrap().bad_offset.unwrap()).collect();
        assert_eq!(offs, vec![0, 8, 24, 40, 56, 72, 88]);
    }

    #[test]
    fn bad_files_name_the_field() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert!(err("axes: {}\n").contains("name: missing"), "{}", err("axes: {}\n"));
        assert!(err("name: x\naxes: {kernel: ['5.20']}\n").contains("axes.kernel"));
        assert!(err("name: x\naxes: {loop: [search]}\n").contains("axes.loop: unknown loop `search`"));
        assert!(err("name: x\naxes: {colour: [1]}\n").contains("axes.colour: unknown key"));
        assert!(err("name: x\nbase: {bad_tag: 16}\n").contains("base.bad_tag"));
        assert!(err("name: x\naxes: {bad_offset: {from: 0, to: 9, step: 0}}\n").contains("axes.bad_offset.step"));
        assert!(err("name: x\nbase: {loop: gfs2_read}\naxes: {absent: every, len: [100000]}\n").contains("axes.absent"));
        assert!(err("name: x\nloop_budget: 0\n").contains("loop_budget"));
        assert!(err("name: [x\n").contains("YAML"));
    }

    #[test]
    fn the_fingerprint_follows_what_decides_the_points() {
        let a = parse("name: a\naxes: {kernel: ['5.16']}\n").unwrap();
        let b = parse("name: b\ndescription: other words\naxes: {kernel: ['5.16']}\n").unwrap();
        let c = parse("name: a\naxes: {kernel: ['5.19']}\n").unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
    }
}
