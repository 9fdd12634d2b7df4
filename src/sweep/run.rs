//! Running a sweep: its points in parallel (rayon), in a deterministic shard, skipping points
//! already done, stoppable at any time; results stream to the caller one by one (memory stays
//! flat in the number of points), and JSON-lines files are read back for `--resume` and
//! `merge`.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::sweep::point::{run_point, PointResult};
use crate::sweep::spec::Plan;
use crate::sweep::SweepError;

/// The K-th (1-based) of N deterministic shards: the points whose index is K-1 modulo N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// This shard, from 1.
    pub k: u64,
    /// Shards in all.
    pub n: u64,
}

impl Partition {
    /// The whole sweep.
    pub const WHOLE: Partition = Partition { k: 1, n: 1 };

    /// Does point `index` belong to the shard?
    pub fn contains(&self, index: u64) -> bool {
        index % self.n == self.k - 1
    }

    /// How many of the points `0..total` belong to the shard.
    pub fn count(&self, total: u64) -> u64 {
        match total.checked_sub(self.k - 1) {
            Some(rest) if rest > 0 => rest.div_ceil(self.n),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_counts_its_own_points() {
        for (k, n, total) in [(1, 1, 10), (1, 3, 10), (2, 3, 10), (3, 3, 10), (3, 3, 2), (2, 4, 1), (1, 2, 0)] {
            let p = Partition { k, n };
            assert_eq!(p.count(total), (0..total).filter(|i| p.contains(*i)).count() as u64, "{k}/{n} of {total}");
        }
    }
}

impl std::str::FromStr for Partition {
    type Err = SweepError;
    fn from_str(s: &str) -> Result<Partition, SweepError> {
        let bad = || SweepError::Field {
            field: "--partition".into(),
            why: format!("expected K/N with 1 <= K <= N, got `{s}`"),
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Worker threads (`None`: one per core).
    pub jobs: Option<usize>,
    /// The shard to run.
    pub partition: Partition,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions { jobs: None, partition: Partition::WHOLE }
    }
}

/// Run the points of `plan` in `opts.partition` except those in `done`, in parallel, handing
/// each result to `on_result` as it comes (in completion order). Setting `cancel` stops the
/// run: points under way finish and are handed over, no new point starts. An error from
/// `on_result` stops the run and is returned.
pub fn run_streaming(
    plan: &Plan,
    opts: &RunOptions,
    done: &HashSet<u64>,
    cancel: &AtomicBool,
    on_result: &mut dyn FnMut(PointResult) -> Result<(), SweepError>,
) -> Result<(), SweepError> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(j) = opts.jobs {
        builder = builder.num_threads(j.max(1));
    }
    let pool = builder.build().map_err(|e| SweepError::Threads(e.to_string()))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<PointResult, SweepError>>(1024);
    let part = opts.partition;
    let mut first_error = None;
    std::thread::scope(|s| {
        s.spawn(|| {
            pool.install(|| {
                (0..plan.len()).into_par_iter().filter(|i| part.contains(*i) && !done.contains(i)).for_each_with(
                    tx,
                    |tx, i| {
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        let Some(p) = plan.point(i) else { return };
                        // A panic in the kernel model is a tagmmu bug: report the point.
                        let r = std::panic::catch_unwind(|| run_point(&p, plan.loop_budget, &plan.fingerprint, i))
                            .map_err(|e| SweepError::Panic { index: i, what: panic_text(&e) });
                        if tx.send(r).is_err() {
                            cancel.store(true, Ordering::Relaxed);
                        }
                    },
                )
            })
        });
        for r in rx {
            if first_error.is_some() {
                continue;
            }
            if let Err(e) = r.and_then(&mut *on_result) {
                cancel.store(true, Ordering::Relaxed);
                first_error = Some(e);
            }
        }
    });
    first_error.map_or(Ok(()), Err)
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Run every point of `opts.partition` and return the results in index order (for tests and
/// small sweeps; large sweeps should stream with [`run_streaming`]).
pub fn run_collect(plan: &Plan, opts: &RunOptions) -> Result<Vec<PointResult>, SweepError> {
    let mut out = Vec::new();
    let cancel = AtomicBool::new(false);
    run_streaming(plan, opts, &HashSet::new(), &cancel, &mut |r| {
        out.push(r);
        Ok(())
    })?;
    out.sort_by_key(|r| r.index);
    Ok(out)
}

/// One result as its JSON line (with the newline).
pub fn to_line(r: &PointResult) -> String {
    let mut s = serde_json::to_string(r).expect("plain data");
    s.push('\n');
    s
}

/// Read a JSON-lines file, handing each record to `each`. A last line cut short (a run
/// killed mid-write) is reported as `Ok(Some(byte offset))`, where the good part ends; a bad
/// line elsewhere is an error naming it.
pub fn read_lines(
    path: &Path,
    each: &mut dyn FnMut(PointResult) -> Result<(), SweepError>,
) -> Result<Option<u64>, SweepError> {
    let f = std::fs::File::open(path).map_err(|e| SweepError::Io(path.display().to_string(), e))?;
    let mut rd = std::io::BufReader::new(f);
    let mut line = String::new();
    let (mut n, mut good_end) = (0u64, 0u64);
    loop {
        line.clear();
        let got = rd.read_line(&mut line).map_err(|e| SweepError::Io(path.display().to_string(), e))?;
        if got == 0 {
            return Ok(None);
        }
        n += 1;
        let complete = line.ends_with('\n');
        if line.trim().is_empty() {
            good_end += got as u64;
            continue;
        }
        if !complete {
            // Killed mid-write: the line is redone.
            return Ok(Some(good_end));
        }
        let r = serde_json::from_str::<PointResult>(line.trim_end())
            .map_err(|e| SweepError::Record { index: n, why: format!("{}: line {n}: {e}", path.display()) })?;
        each(r)?;
        good_end += got as u64;
    }
}

/// Open `path` to append a resumed run to: read what is there (checking it belongs to
/// `plan`), cut a last line left half-written, and return the indices done and the file.
pub fn resume(
    plan: &Plan,
    path: &Path,
    each: &mut dyn FnMut(&PointResult) -> Result<(), SweepError>,
) -> Result<(HashSet<u64>, std::fs::File), SweepError> {
    let mut done = HashSet::new();
    let cut = if path.exists() {
        read_lines(path, &mut |r| {
            if r.sweep != plan.fingerprint {
                return Err(SweepError::Mixed { expected: plan.fingerprint.clone(), found: r.sweep, index: r.index });
            }
            if r.index >= plan.len() {
                return Err(SweepError::Record { index: r.index, why: "beyond the sweep's last point".into() });
            }
            if done.insert(r.index) {
                each(&r)?;
            }
            Ok(())
        })?
    } else {
        None
    };
    let io = |e| SweepError::Io(path.display().to_string(), e);
    let f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    if let Some(len) = cut {
        f.set_len(len).map_err(io)?;
    }
    Ok((done, f))
}

/// Write `r` as a line to `w` and flush (what is written survives an interrupt).
pub fn write_line(w: &mut dyn Write, r: &PointResult) -> Result<(), SweepError> {
    w.write_all(to_line(r).as_bytes()).and_then(|_| w.flush()).map_err(|e| SweepError::Io("output".into(), e))
}
