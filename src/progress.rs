//! A forward-progress checker for kernel loops people write.
//!
//! Write the loop as a [`KernelLoop`] against tagmmu's kernel API (the uaccess copies, the
//! `fault_in_*()` primitives, GUP: everything in [`crate::kernel_stub`]), give [`check`] a
//! function that builds it over a user buffer, and the checker runs it at every point of the
//! space a sub-page fault can take: no bad granule, or one mistagged granule (ADI: block) at
//! each granule of the buffer, times every pattern of pages that are present or not. Each run
//! goes under the live-lock watch, so a loop that cannot make progress is *proven* stuck: the
//! answer is either a counterexample (the placement, the presence pattern, and the loop's
//! report with the repeating state and the narrative) or a progress proof (every point ran to
//! its end, with the most passes any point took).
//!
//! The space is exhaustive when it is small. With more than [`CheckConfig::max_points`]
//! points, the presence patterns are cut down to "all present", "each single page absent"
//! and "all absent", and the result says so.

use crate::kernel_stub::loops::{KernelLoop, LoopReport, Verdict};
use crate::kernel_stub::Kernel;
use crate::testbed::{kernel_with_buffer, BufferSpec, Testbed};

/// What to explore.
#[derive(Clone, Copy, Debug)]
pub struct CheckConfig {
    /// The machine.
    pub testbed: Testbed,
    /// The buffer's length.
    pub len: u64,
    /// Where it starts in its first page.
    pub offset: u64,
    /// Passes a single run may take before it counts as unproven.
    pub loop_budget: u64,
    /// The largest number of points explored exhaustively.
    pub max_points: u64,
}

/// One point of the space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// The offset (from the buffer's start) of the mistagged granule's first byte in the
    /// buffer, if any.
    pub bad: Option<u64>,
    /// Pages of the buffer's mapping that are not present (bit i: page i).
    pub absent: u64,
}

/// A point where the loop did not make progress.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// Where.
    pub point: Point,
    /// The loop's run there (its verdict carries the cycle; its narrative tells it).
    pub report: LoopReport,
}

/// Every point ran to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressProof {
    /// Points run.
    pub points: u64,
    /// The most passes any point took.
    pub max_passes: u64,
    /// The point that took them.
    pub worst: Point,
    /// Whether every presence pattern was explored (else the reduced set of the module docs).
    pub exhaustive: bool,
    /// Why the loop is bounded, in words.
    pub why: String,
}

/// The checker's answer.
#[derive(Clone, Debug)]
pub enum CheckOutcome {
    /// Every point ends.
    Progress(ProgressProof),
    /// A proven live-lock.
    Livelock(Counterexample),
    /// A point ran out of the loop budget without its state repeating: neither proof.
    Unproven(Counterexample),
}

/// The points of the space for `cfg` (in order: no bad granule first, then each granule, each
/// with every presence pattern), and whether the presence patterns are exhaustive.
pub fn points(cfg: &CheckConfig, page: u64, granule: u64) -> (Vec<Point>, bool) {
    let pages = (cfg.offset + cfg.len).div_ceil(page).max(1);
    let first = cfg.offset / granule * granule;
    let bads: Vec<Option<u64>> = std::iter::once(None)
        .chain((first..cfg.offset + cfg.len).step_by(granule as usize).map(|g| Some(g.max(cfg.offset) - cfg.offset)))
        .collect();
    let all = 1u64.checked_shl(pages as u32).unwrap_or(0);
    let exhaustive = all != 0 && (bads.len() as u64).saturating_mul(all) <= cfg.max_points;
    let patterns: Vec<u64> = if exhaustive {
        (0..all).collect()
    } else {
        let mut v = vec![0];
        v.extend((0..pages.min(63)).map(|p| 1 << p));
        v.push(u64::MAX >> (64 - pages.min(64)));
        v
    };
    let pts = bads.iter().flat_map(|&bad| patterns.iter().map(move |&absent| Point { bad, absent })).collect();
    (pts, exhaustive)
}

/// Explore `cfg`'s space with the loop `make` builds (from the kernel and the tagged pointer
/// to the buffer of `cfg.len` bytes). Stops at the first point without progress.
pub fn check(cfg: &CheckConfig, make: &dyn Fn(&mut Kernel, u64, u64) -> Box<dyn KernelLoop>) -> CheckOutcome {
    let probe = kernel_with_buffer(
        &cfg.testbed,
        &BufferSpec { pages: 1, offset: 0, bad: None, absent: 0, bad_tag: crate::testbed::BAD_TAG },
        1,
    )
    .0;
    let page = probe.mm.page_size();
    let granule = probe.mm.layout().tags.granule;
    let (pts, exhaustive) = points(cfg, page, granule);
    let pages = (cfg.offset + cfg.len).div_ceil(page).max(1);
    let mut max_passes = 0;
    let mut worst = pts[0];
    for &point in &pts {
        let spec = BufferSpec {
            pages,
            offset: cfg.offset,
            bad: point.bad,
            absent: point.absent,
            bad_tag: crate::testbed::BAD_TAG,
        };
        let (mut k, ubuf) = kernel_with_buffer(&cfg.testbed, &spec, cfg.loop_budget);
        let mut l = make(&mut k, ubuf, cfg.len);
        k.run_kernel_loop(l.as_mut());
        let Some(report) = k.loop_reports.pop() else { continue };
        match report.verdict {
            Verdict::Livelock { .. } => return CheckOutcome::Livelock(Counterexample { point, report }),
            Verdict::BudgetExhausted => return CheckOutcome::Unproven(Counterexample { point, report }),
            Verdict::Completed { .. } => {
                if report.attempts.passes > max_passes {
                    max_passes = report.attempts.passes;
                    worst = point;
                }
            }
        }
    }
    let why = format!(
        "all {} point(s) ({}) ran to their end within {max_passes} pass(es), far below the loop budget of {}: the loop's state never repeated and it always returned",
        pts.len(),
        if exhaustive {
            "every placement of the bad granule, every presence pattern"
        } else {
            "every placement of the bad granule; presence: all present, each single page absent, all absent"
        },
        cfg.loop_budget
    );
    CheckOutcome::Progress(ProgressProof { points: pts.len() as u64, max_passes, worst, exhaustive, why })
}

impl CheckOutcome {
    /// The outcome told in words (a counterexample with its loop's narrative).
    pub fn describe(&self) -> String {
        match self {
            CheckOutcome::Progress(p) => format!(
                "progress proven: {} (the most passes at bad granule {:?}, absent pages {:#x}).\n",
                p.why, p.worst.bad, p.worst.absent
            ),
            CheckOutcome::Livelock(c) | CheckOutcome::Unproven(c) => format!(
                "{} with the mistagged granule at buffer offset {:?} and absent pages {:#x}:\n{}",
                if matches!(self, CheckOutcome::Livelock(_)) { "LIVE-LOCK" } else { "no proof either way" },
                c.point.bad,
                c.point.absent,
                c.report.narrative()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_stub::iov_iter::IovIter;
    use crate::kernel_stub::loops::perform_write::{PerformWrite, WriteEnd};
    use crate::kernel_stub::vfs::OpenFlags;

    fn cfg(len: u64) -> CheckConfig {
        CheckConfig {
            testbed: Testbed::arm64("5.19".parse().unwrap()),
            len,
            offset: 0x68,
            loop_budget: 10_000,
            max_points: 100_000,
        }
    }

    #[test]
    fn the_space_has_every_granule_and_presence_pattern() {
        let c = cfg(100);
        let (pts, exhaustive) = points(&c, 4096, 16);
        // Granules from 0x60: 0x60 (offset 0), 0x70 (8), ... up to 0xc0 (88): 7, plus none.
        assert!(exhaustive);
        assert_eq!(pts.len(), 8 * 2);
        assert_eq!(pts[2], Point { bad: Some(0), absent: 0 });
        assert_eq!(pts[4], Point { bad: Some(8), absent: 0 });
        let (pts, exhaustive) = points(&CheckConfig { max_points: 10, ..c }, 4096, 16);
        assert!(!exhaustive);
        assert_eq!(pts.len(), 8 * 3, "all present, page 0 absent, all absent");
    }

    #[test]
    fn generic_perform_write_makes_progress_everywhere() {
        let make = |k: &mut Kernel, ubuf: u64, len: u64| -> Box<dyn KernelLoop> {
            let flags = OpenFlags { read: true, write: true, create: true, ..Default::default() };
            let fd = k.vfs.open("/tmp/f", flags, 0o600).unwrap() as u64;
            let v = k.config.version;
            Box::new(PerformWrite::new(IovIter::new(vec![(ubuf, len)]), fd, 0, v, WriteEnd::Block, "ext4"))
        };
        let CheckOutcome::Progress(p) = check(&cfg(5000), &make) else { panic!("no progress") };
        assert!(p.exhaustive);
        // Granules 0x60..0x13f0 of the buffer [0x68, 0x13f0): 313, plus none; 2 pages: 4 patterns.
        assert_eq!(p.points, 314 * 4);
        assert!(p.max_passes >= 3 && p.max_passes < 20, "{p:?}");
    }
}
