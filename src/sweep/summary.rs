//! What a sweep's points add up to: verdict counts and the most attempts per loop x kernel x
//! arch x mode x fault-in flavour (the table), and the worst verdict per loop x machine x bad
//! offset (the heat map). Built point by point, in any order, from a run or from JSON-lines
//! files, so a merged set of shards gives exactly the unsharded summary. Its size follows the
//! rows and offsets, not the number of points.

use std::collections::BTreeMap;

use crate::kernel_stub::version::KernelVersion;
use crate::sweep::point::{Flavour, Outcome, PointResult, SweepLoop};
use crate::sweep::SweepError;
use crate::testbed::CheckMode;

/// A machine row: arch, mode, flavour (the kernel is its own key, for ranges).
pub type Machine = (String, CheckMode, Flavour);

/// One row of the table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowStats {
    /// Points per outcome, in [`Outcome::ALL`] order.
    pub counts: [u64; 7],
    /// The most passes a point took.
    pub max_passes: u64,
    /// The most fault-in calls.
    pub max_fault_in_calls: u64,
    /// The most short copies.
    pub max_short_copies: u64,
    /// The longest live-lock cycle.
    pub max_cycle: u64,
    /// The smallest point index per outcome (an example to narrate).
    pub example: [Option<u64>; 7],
}

impl RowStats {
    fn add(&mut self, r: &PointResult) {
        let o = r.verdict.index();
        self.counts[o] += 1;
        self.max_passes = self.max_passes.max(r.passes);
        self.max_fault_in_calls = self.max_fault_in_calls.max(r.fault_in_calls);
        self.max_short_copies = self.max_short_copies.max(r.short_copies);
        self.max_cycle = self.max_cycle.max(r.cycle.as_ref().map_or(0, |c| c.length));
        self.example[o] = Some(self.example[o].map_or(r.index, |e| e.min(r.index)));
    }

    fn same_shape(&self, other: &RowStats) -> bool {
        self.counts == other.counts
            && self.max_passes == other.max_passes
            && self.max_fault_in_calls == other.max_fault_in_calls
            && self.max_short_copies == other.max_short_copies
            && self.max_cycle == other.max_cycle
    }

    /// Points in the row.
    pub fn points(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Points with outcome `o`.
    pub fn count(&self, o: Outcome) -> u64 {
        self.counts[o.index()]
    }
}

/// The summary of a sweep (or of the points seen so far).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// The sweep's fingerprint, once a point was added.
    pub sweep: Option<String>,
    /// Points added.
    pub points: u64,
    /// Rows: loop, machine, kernel.
    pub rows: BTreeMap<(SweepLoop, Machine, KernelVersion), RowStats>,
    /// Heat-map cells: loop, machine, kernel, bad offset -> points per outcome.
    pub cells: BTreeMap<(SweepLoop, Machine, KernelVersion, Option<u64>), [u64; 7]>,
}

impl Summary {
    /// Add one point's result. Fails when it belongs to another sweep.
    pub fn add(&mut self, r: &PointResult) -> Result<(), SweepError> {
        match &self.sweep {
            Some(s) if *s != r.sweep => {
                return Err(SweepError::Mixed { expected: s.clone(), found: r.sweep.clone(), index: r.index })
            }
            Some(_) => {}
            None => self.sweep = Some(r.sweep.clone()),
        }
        let kernel: KernelVersion =
            r.kernel.parse().map_err(|e| SweepError::Record { index: r.index, why: format!("kernel: {e}") })?;
        let machine = (r.arch.clone(), r.mode, r.fault_in);
        self.points += 1;
        self.rows.entry((r.the_loop, machine.clone(), kernel)).or_default().add(r);
        self.cells.entry((r.the_loop, machine, kernel, r.bad_offset)).or_insert([0; 7])[r.verdict.index()] += 1;
        Ok(())
    }

    /// The smallest point index per outcome over the whole sweep, in [`Outcome::ALL`] order.
    pub fn examples(&self) -> [Option<u64>; 7] {
        let mut out: [Option<u64>; 7] = [None; 7];
        for st in self.rows.values() {
            for (o, e) in out.iter_mut().zip(st.example) {
                *o = match (*o, e) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        out
    }

    /// Rows grouped as the table shows them: per loop and machine, consecutive kernels with
    /// the same numbers merged into a range.
    pub fn grouped_rows(&self) -> Vec<(SweepLoop, Machine, String, RowStats)> {
        let mut out: Vec<(SweepLoop, Machine, KernelVersion, KernelVersion, RowStats)> = Vec::new();
        for ((l, m, k), st) in &self.rows {
            match out.last_mut() {
                Some((pl, pm, _, last, pst)) if pl == l && pm == m && pst.same_shape(st) => {
                    *last = *k;
                    for (i, e) in st.example.iter().enumerate() {
                        if pst.example[i].is_none() {
                            pst.example[i] = *e;
                        }
                    }
                }
                _ => out.push((*l, m.clone(), *k, *k, st.clone())),
            }
        }
        out.into_iter()
            .map(|(l, m, a, b, st)| {
                let range = if a == b { a.to_string() } else { format!("{a}-{b}") };
                (l, m, range, st)
            })
            .collect()
    }

    /// The summary table (Markdown): verdict counts per loop x kernels x machine, and the
    /// most passes / fault-in calls / short copies any point took.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| loop | kernels | arch | mode | fault-in | points | live-lock | unproven | EFAULT | errno | signal | short | completed | max passes | max fault-ins | max short copies |\n",
        );
        s.push_str("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (l, (arch, mode, fl), range, st) in self.grouped_rows() {
            s.push_str(&format!(
                "| {} | {range} | {arch} | {} | {} | {} |",
                l.name(),
                mode.name(),
                fl.name(),
                st.points()
            ));
            for c in st.counts {
                s.push_str(&format!(" {c} |"));
            }
            s.push_str(&format!(" {} | {} | {} |\n", st.max_passes, st.max_fault_in_calls, st.max_short_copies));
        }
        s
    }

    /// The heat map (SVG): per loop, a row per machine and kernel, a column per bad offset,
    /// each cell coloured by the worst outcome at it (over the other axes), with the counts
    /// as its tooltip. Runs of adjacent cells with the same worst outcome are drawn as one
    /// rectangle (its tooltip sums their counts).
    pub fn heat_map(&self) -> String {
        use std::fmt::Write;
        let mut offsets: Vec<Option<u64>> = self.cells.keys().map(|k| k.3).collect();
        offsets.sort();
        offsets.dedup();
        // At most MAX_COLUMNS columns: beyond, each column is a bucket of offsets (the
        // worst outcome in it wins), so the picture stays small for any sweep.
        const MAX_COLUMNS: usize = 192;
        let max_off = offsets.iter().flatten().max().copied().unwrap_or(0);
        let bucket =
            (offsets.len() > MAX_COLUMNS).then(|| (max_off + 1).div_ceil(MAX_COLUMNS as u64 - 1).next_multiple_of(8));
        let exact: BTreeMap<Option<u64>, usize> = offsets.iter().enumerate().map(|(i, o)| (*o, i)).collect();
        let col = |o: Option<u64>| -> usize {
            match (bucket, o) {
                (None, _) => exact[&o],
                (Some(_), None) => 0,
                (Some(b), Some(x)) => 1 + (x / b) as usize,
            }
        };
        let ncols = match bucket {
            None => offsets.len().max(1),
            Some(b) => 2 + (max_off / b) as usize,
        };
        let col_label = |c: usize, end: bool| -> String {
            match bucket {
                None => offsets[c].map_or("none".to_string(), |o| o.to_string()),
                Some(_) if c == 0 => "none".to_string(),
                Some(b) if end => ((c as u64) * b - 1).to_string(),
                Some(b) => ((c as u64 - 1) * b).to_string(),
            }
        };
        let cell_w = (720.0 / ncols as f64).clamp(1.0, 24.0);
        let (label_w, row_h, top) = (300.0, 14.0, 64.0);
        let mut rows: Vec<(SweepLoop, Machine, KernelVersion)> =
            self.cells.keys().map(|k| (k.0, k.1.clone(), k.2)).collect();
        rows.dedup();
        let loops: Vec<SweepLoop> = {
            let mut v: Vec<SweepLoop> = rows.iter().map(|r| r.0).collect();
            v.dedup();
            v
        };
        let height = top + (rows.len() + loops.len() * 2) as f64 * row_h + 40.0;
        let width = label_w + ncols as f64 * cell_w + 20.0;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="monospace" font-size="11">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="8" y="16" font-size="13">Worst outcome by bad-granule offset (columns: {}{}) and kernel, per loop</text>"#,
            match bucket {
                None => format!("{} offsets", offsets.len()),
                Some(b) => format!("{} offsets in buckets of {b} bytes", offsets.len()),
            },
            match (offsets.iter().flatten().next(), offsets.iter().flatten().last()) {
                (Some(a), Some(b)) => format!(", {a} to {b} bytes into the buffer"),
                _ => String::new(),
            }
        );
        let mut x = 8.0;
        for o in Outcome::ALL {
            let _ = writeln!(
                svg,
                r#"<rect x="{x}" y="28" width="12" height="12" fill="{}"/><text x="{}" y="38">{}</text>"#,
                colour(o),
                x + 16.0,
                o.name()
            );
            x += 16.0 + 8.0 * o.name().len() as f64 + 12.0;
        }
        let mut y = top;
        let mut current: Option<SweepLoop> = None;
        for (l, m, k) in &rows {
            if current != Some(*l) {
                y += row_h;
                let _ = writeln!(svg, r#"<text x="8" y="{:.0}" font-weight="bold">{}</text>"#, y - 3.0, l.name());
                current = Some(*l);
            }
            let _ = writeln!(
                svg,
                r#"<text x="16" y="{:.0}">{k} {} {} {}</text>"#,
                y + row_h - 3.0,
                m.0,
                m.1.name(),
                m.2.name()
            );
            // Runs of cells with the same worst outcome (offsets this row lacks are bridged).
            let mut run: Option<(usize, usize, [u64; 7])> = None;
            let flush = |svg: &mut String, run: &Option<(usize, usize, [u64; 7])>| {
                if let Some((a, b, counts)) = run {
                    let worst = Outcome::ALL[counts.iter().position(|c| *c > 0).unwrap_or(6)];
                    let what: Vec<String> = Outcome::ALL
                        .iter()
                        .zip(counts)
                        .filter(|(_, c)| **c > 0)
                        .map(|(o, c)| format!("{} {c}", o.name()))
                        .collect();
                    let at = if a == b && bucket.is_none() {
                        col_label(*a, false)
                    } else {
                        format!("{} to {}", col_label(*a, false), col_label(*b, true))
                    };
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{:.2}" y="{y:.0}" width="{:.2}" height="{:.0}" fill="{}"><title>{} {k} {} {} {}: offset {at}: {}</title></rect>"#,
                        label_w + *a as f64 * cell_w,
                        (b - a + 1) as f64 * cell_w,
                        row_h - 2.0,
                        colour(worst),
                        l.name(),
                        m.0,
                        m.1.name(),
                        m.2.name(),
                        what.join(", ")
                    );
                }
            };
            let mut columns: BTreeMap<usize, [u64; 7]> = BTreeMap::new();
            for (key, counts) in self.cells.range((*l, m.clone(), *k, None)..) {
                if (key.0, &key.1, key.2) != (*l, m, *k) {
                    break;
                }
                let t = columns.entry(col(key.3)).or_insert([0; 7]);
                for (t, n) in t.iter_mut().zip(counts) {
                    *t += n;
                }
            }
            for (c, counts) in columns {
                let worst = counts.iter().position(|n| *n > 0).unwrap_or(6);
                run = match run {
                    Some((a, _, mut rc)) if rc.iter().position(|n| *n > 0) == Some(worst) => {
                        for (t, n) in rc.iter_mut().zip(counts) {
                            *t += n;
                        }
                        Some((a, c, rc))
                    }
                    other => {
                        flush(&mut svg, &other);
                        Some((c, c, counts))
                    }
                };
            }
            flush(&mut svg, &run);
            y += row_h;
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// The heat map's colour of an outcome.
pub fn colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Livelock => "#d62728",
        Outcome::Unproven => "#9467bd",
        Outcome::Efault => "#ff7f0e",
        Outcome::Errno => "#8c564b",
        Outcome::Signal => "#e377c2",
        Outcome::Short => "#bcbd22",
        Outcome::Completed => "#2ca02c",
    }
}
