//! `tagmmu sweep` and `tagmmu sweep merge`: files, progress bar, table, heat map and report
//! around [`crate::sweep::run`]. The binary parses the options and owns the Ctrl-C handler.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::sweep::point::{Outcome, PointResult};
use crate::sweep::run::{self, Partition, RunOptions};
use crate::sweep::spec::{self, Plan};
use crate::sweep::summary::Summary;
use crate::sweep::{survey, SweepError};

/// Options of `tagmmu sweep FILE`.
#[derive(Clone, Debug)]
pub struct SweepCommand {
    /// The sweep (or survey) file.
    pub file: PathBuf,
    /// The JSON-lines output (`None`: `NAME.jsonl` in the current directory; `-`: stdout).
    pub out: Option<PathBuf>,
    /// Continue the run in this JSON-lines file: skip its points and append.
    pub resume: Option<PathBuf>,
    /// The shard.
    pub partition: Partition,
    /// Worker threads.
    pub jobs: Option<usize>,
    /// Write the heat map here.
    pub svg: Option<PathBuf>,
    /// Write the survey report here.
    pub report: Option<PathBuf>,
    /// Write a self-contained HTML page here: the table, the heat map, and the first point of
    /// each outcome with its loops' tag maps.
    pub html: Option<PathBuf>,
    /// Draw a progress bar (when stderr is a terminal).
    pub progress: bool,
}

/// How a sweep command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// Points run now.
    pub ran: u64,
    /// Points that were already in the resumed file.
    pub resumed: u64,
    /// Points the shard has.
    pub total: u64,
    /// The run was interrupted (Ctrl-C): what finished is kept.
    pub interrupted: bool,
    /// The summary table, printed.
    pub table: String,
}

/// Run `tagmmu sweep`: points to the JSON-lines file, then the table (stdout, or stderr when
/// the points go to stdout), the heat map and the report.
pub fn sweep(c: &SweepCommand, cancel: &AtomicBool) -> Result<Finished, SweepError> {
    let plan = spec::load(&c.file)?;
    let mut summary = Summary::default();
    let out_path = match (&c.resume, &c.out) {
        (Some(r), Some(o)) if r != o => {
            return Err(SweepError::Field {
                field: "--resume".into(),
                why: "a resumed run appends to its own file: give --resume FILE without --out".into(),
            })
        }
        (Some(r), _) => r.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => PathBuf::from(format!("{}.jsonl", plan.name)),
    };
    let to_stdout = out_path.as_os_str() == "-";
    let (done, mut sink): (HashSet<u64>, Box<dyn Write>) = if let Some(r) = &c.resume {
        let (done, f) = run::resume(&plan, r, &mut |p| summary.add(p))?;
        (done, Box::new(std::io::BufWriter::new(f)))
    } else if to_stdout {
        (HashSet::new(), Box::new(std::io::stdout().lock()))
    } else {
        let f = std::fs::File::create(&out_path).map_err(|e| SweepError::Io(out_path.display().to_string(), e))?;
        (HashSet::new(), Box::new(std::io::BufWriter::new(f)))
    };
    // Points of the resumed file outside this shard do not count towards it.
    let resumed = done.iter().filter(|i| c.partition.contains(**i)).count() as u64;
    let total = c.partition.count(plan.len());
    let todo = total - resumed;
    let bar = progress_bar(c.progress, todo, &plan);
    let started = Instant::now();
    let mut ran = 0u64;
    let opts = RunOptions { jobs: c.jobs, partition: c.partition };
    run::run_streaming(&plan, &opts, &done, cancel, &mut |r: PointResult| {
        run::write_line(&mut sink, &r)?;
        summary.add(&r)?;
        ran += 1;
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    sink.flush().map_err(|e| SweepError::Io(out_path.display().to_string(), e))?;
    let interrupted = cancel.load(Ordering::Relaxed) && ran < todo;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sweep {}: {ran} points in {secs:.2} s ({:.0} points/s){}{}; results in {}",
        plan.name,
        ran as f64 / secs.max(1e-9),
        if resumed > 0 { format!(", {resumed} resumed") } else { String::new() },
        if interrupted {
            format!("; INTERRUPTED with {} left (continue with --resume {})", todo - ran, out_path.display())
        } else {
            String::new()
        },
        if to_stdout { "stdout".to_string() } else { out_path.display().to_string() }
    );
    let table = finish(&plan, &summary, c.svg.as_deref(), c.report.as_deref(), &c.file, !interrupted, Some(&out_path))?;
    if let Some(p) = &c.html {
        write_page(&plan, &summary, &table, p)?;
    }
    if to_stdout {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    Ok(Finished { ran, resumed, total, interrupted, table })
}

/// The table, and the heat map and report when asked (the report only for a whole sweep).
fn finish(
    plan: &Plan,
    summary: &Summary,
    svg: Option<&Path>,
    report: Option<&Path>,
    file: &Path,
    complete: bool,
    out: Option<&Path>,
) -> Result<String, SweepError> {
    if let Some(p) = svg {
        std::fs::write(p, summary.heat_map()).map_err(|e| SweepError::Io(p.display().to_string(), e))?;
    }
    if let Some(p) = report {
        if !complete || summary.points < plan.len() {
            return Err(SweepError::Field {
                field: "--report".into(),
                why: format!(
                    "the report needs every point: {} of {} are in (run the rest, or merge the shards)",
                    summary.points,
                    plan.len()
                ),
            });
        }
        let svg_name = svg.and_then(|s| s.file_name()).map(|s| s.to_string_lossy().to_string());
        let mut cmd = format!("tagmmu sweep {}", file.display());
        if let Some(o) = out {
            cmd.push_str(&format!(" --out {}", o.display()));
        }
        if let Some(s) = svg {
            cmd.push_str(&format!(" --svg {}", s.display()));
        }
        cmd.push_str(&format!(" --report {}", p.display()));
        let text = survey::report(plan, summary, &cmd, svg_name.as_deref())?;
        std::fs::write(p, text).map_err(|e| SweepError::Io(p.display().to_string(), e))?;
    }
    Ok(summary.table())
}

/// The sweep's report page: its table, heat map and an example point per outcome.
fn write_page(plan: &Plan, summary: &Summary, table: &str, path: &Path) -> Result<(), SweepError> {
    let mut examples = Vec::new();
    for (o, index) in Outcome::ALL.iter().zip(summary.examples()) {
        let Some(p) = index.and_then(|i| plan.point(i)) else { continue };
        let caption = format!("{}: point {} ({})", o.name(), index.unwrap_or(0), p.describe());
        examples.push((caption, crate::sweep::point::loop_reports(&p, plan.loop_budget)));
    }
    let page =
        crate::report_page::sweep_page(&format!("tagmmu sweep: {}", plan.name), table, &summary.heat_map(), &examples);
    std::fs::write(path, page).map_err(|e| SweepError::Io(path.display().to_string(), e))
}

fn progress_bar(wanted: bool, todo: u64, plan: &Plan) -> indicatif::ProgressBar {
    if !wanted {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(todo);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} points ({per_sec}, ETA {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(plan.name.clone());
    bar
}

/// Options of `tagmmu sweep merge`.
#[derive(Clone, Debug)]
pub struct MergeCommand {
    /// The sweep file the shards ran (for the report and to check the fingerprint), if given.
    pub file: Option<PathBuf>,
    /// The shards' JSON-lines files.
    pub inputs: Vec<PathBuf>,
    /// Write the merged points, in index order, here.
    pub out: Option<PathBuf>,
    /// Write the heat map here.
    pub svg: Option<PathBuf>,
    /// Write the survey report here (needs `file`).
    pub report: Option<PathBuf>,
}

/// Merge shard outputs: one summary, table, heat map (and report); the merged points in index
/// order. A point present twice must be the same both times.
pub fn merge(c: &MergeCommand) -> Result<(Summary, String), SweepError> {
    let plan = c.file.as_deref().map(spec::load).transpose()?;
    let mut all: std::collections::BTreeMap<u64, PointResult> = Default::default();
    let mut sweep_id: Option<String> = plan.as_ref().map(|p| p.fingerprint.clone());
    for p in &c.inputs {
        let cut = run::read_lines(p, &mut |r| {
            match &sweep_id {
                Some(id) if *id != r.sweep => {
                    return Err(SweepError::Mixed { expected: id.clone(), found: r.sweep, index: r.index })
                }
                Some(_) => {}
                None => sweep_id = Some(r.sweep.clone()),
            }
            match all.get(&r.index) {
                Some(prev) if *prev != r => Err(SweepError::Record {
                    index: r.index,
                    why: format!("{} holds a different result for a point seen before", p.display()),
                }),
                Some(_) => Ok(()),
                None => {
                    all.insert(r.index, r);
                    Ok(())
                }
            }
        })?;
        if cut.is_some() {
            eprintln!("tagmmu: {}: the last line is cut short (an interrupted run); it is left out", p.display());
        }
    }
    let mut summary = Summary::default();
    for r in all.values() {
        summary.add(r)?;
    }
    if let Some(o) = &c.out {
        let f = std::fs::File::create(o).map_err(|e| SweepError::Io(o.display().to_string(), e))?;
        let mut w = std::io::BufWriter::new(f);
        for r in all.values() {
            w.write_all(run::to_line(r).as_bytes()).map_err(|e| SweepError::Io(o.display().to_string(), e))?;
        }
        w.flush().map_err(|e| SweepError::Io(o.display().to_string(), e))?;
    }
    let table = match (&plan, &c.file) {
        (Some(plan), Some(file)) => finish(plan, &summary, c.svg.as_deref(), c.report.as_deref(), file, true, None)?,
        _ if c.report.is_some() => {
            return Err(SweepError::Field {
                field: "--report".into(),
                why: "merging into a report needs the sweep file (--sweep FILE)".into(),
            })
        }
        _ => {
            if let Some(p) = &c.svg {
                std::fs::write(p, summary.heat_map()).map_err(|e| SweepError::Io(p.display().to_string(), e))?;
            }
            summary.table()
        }
    };
    Ok((summary, table))
}
