//! A survey: a sweep with claims, each checked over the points it names, and a Markdown
//! report of what holds and what does not (with a counterexample's narrative).
//!
//! ```yaml
//! claims:
//!   - id: perform-write-progress
//!     quote: "the existing loops like generic_perform_write() already guarantee forward progress"
//!     source: "Catalin Marinas, cover letter of the fault_in_subpage_writeable() series (2022)"
//!     where: {loops: [perform_write_tmpfs, perform_write_ext4]}   # also not_loops, kernels, arch, mode, fault_in
//!     expect: {never: [livelock, unproven]}     # or somewhere: [...], max_passes: N
//!     comment: "why it may differ, in the author's words (shown with the verdict)"
//! ```
//!
//! A claim whose `where` matches no point is an error: a check that cannot fail.

use serde::Deserialize;

use crate::kernel_stub::version::KernelVersion;
use crate::sweep::point::{narrate, Flavour, Outcome, SweepLoop};
use crate::sweep::spec::Plan;
use crate::sweep::summary::{Machine, RowStats, Summary};
use crate::sweep::SweepError;
use crate::testbed::CheckMode;

/// Which points a claim speaks of (every given list must match).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only these loops.
    pub loops: Option<Vec<SweepLoop>>,
    /// All loops but these.
    pub not_loops: Option<Vec<SweepLoop>>,
    /// Only these kernels.
    pub kernels: Option<Vec<String>>,
    /// Only these architectures (`arm64`, `sparc64`).
    pub arch: Option<Vec<String>>,
    /// Only these tag-check modes.
    pub mode: Option<Vec<CheckMode>>,
    /// Only these fault-in flavours.
    pub fault_in: Option<Vec<Flavour>>,
}

impl Filter {
    fn matches(&self, l: SweepLoop, m: &Machine, k: KernelVersion) -> bool {
        self.loops.as_ref().is_none_or(|v| v.contains(&l))
            && self.not_loops.as_ref().is_none_or(|v| !v.contains(&l))
            && self.kernels.as_ref().is_none_or(|v| v.iter().any(|s| s.parse::<KernelVersion>() == Ok(k)))
            && self.arch.as_ref().is_none_or(|v| v.contains(&m.0))
            && self.mode.as_ref().is_none_or(|v| v.contains(&m.1))
            && self.fault_in.as_ref().is_none_or(|v| v.contains(&m.2))
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let names = |v: &[SweepLoop]| v.iter().map(|l| l.name()).collect::<Vec<_>>().join(", ");
        if let Some(v) = &self.loops {
            parts.push(format!("loops {}", names(v)));
        }
        if let Some(v) = &self.not_loops {
            parts.push(format!("every loop but {}", names(v)));
        }
        if let Some(v) = &self.kernels {
            parts.push(format!("kernels {}", v.join(", ")));
        }
        if let Some(v) = &self.arch {
            parts.push(format!("arch {}", v.join(", ")));
        }
        if let Some(v) = &self.mode {
            parts.push(format!("mode {}", v.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")));
        }
        if let Some(v) = &self.fault_in {
            parts.push(format!("fault-in {}", v.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")));
        }
        if parts.is_empty() {
            "every point".into()
        } else {
            parts.join("; ")
        }
    }
}

/// What a claim expects of its points.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// No point has any of these outcomes.
    #[serde(default)]
    pub never: Vec<Outcome>,
    /// Some point has one of these outcomes.
    #[serde(default)]
    pub somewhere: Vec<Outcome>,
    /// No point takes more passes.
    pub max_passes: Option<u64>,
}

/// A claim of a survey.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// A short id.
    pub id: String,
    /// The claim, in its author's words.
    pub quote: String,
    /// Who said it, where.
    #[serde(default)]
    pub source: String,
    /// The points it speaks of.
    #[serde(default, rename = "where")]
    pub filter: Filter,
    /// What it expects.
    pub expect: Expect,
    /// The survey author's explanation, shown with the verdict.
    #[serde(default)]
    pub comment: String,
}

/// A claim checked.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The claim.
    pub claim: Claim,
    /// Points it spoke of.
    pub points: u64,
    /// Does it hold?
    pub holds: bool,
    /// The rows that contradict it (loop, machine, kernels, stats).
    pub against: Vec<(SweepLoop, Machine, String, RowStats)>,
    /// The most passes over its points.
    pub max_passes: u64,
    /// A counterexample point's index, if any.
    pub example: Option<u64>,
}

/// Check `claim` over `summary`.
pub fn check(claim: &Claim, summary: &Summary) -> Result<Checked, SweepError> {
    let mut points = 0;
    let mut max_passes = 0;
    let mut seen_somewhere = claim.expect.somewhere.is_empty();
    if claim.expect == Expect::default() {
        return Err(SweepError::Field {
            field: format!("claims.{}.expect", claim.id),
            why: "expects nothing (give never, somewhere or max_passes): the claim could not fail".into(),
        });
    }
    let mut against: Vec<(SweepLoop, Machine, KernelVersion, RowStats)> = Vec::new();
    for ((l, m, k), st) in &summary.rows {
        if !claim.filter.matches(*l, m, *k) {
            continue;
        }
        points += st.points();
        max_passes = max_passes.max(st.max_passes);
        if claim.expect.somewhere.iter().any(|o| st.count(*o) > 0) {
            seen_somewhere = true;
        }
        let bad = claim.expect.never.iter().any(|o| st.count(*o) > 0)
            || claim.expect.max_passes.is_some_and(|mp| st.max_passes > mp);
        if bad {
            against.push((*l, m.clone(), *k, st.clone()));
        }
    }
    if points == 0 {
        return Err(SweepError::Field {
            field: format!("claims.{}.where", claim.id),
            why: format!("matches no point of the sweep ({}): the claim would check nothing", claim.filter.describe()),
        });
    }
    let example = against.iter().find_map(|(_, _, _, st)| {
        claim
            .expect
            .never
            .iter()
            .find_map(|o| st.example[o.index()])
            .or_else(|| st.example.iter().flatten().min().copied())
    });
    // Merge consecutive kernels of the contradicting rows.
    let mut merged: Vec<(SweepLoop, Machine, KernelVersion, KernelVersion, RowStats)> = Vec::new();
    for (l, m, k, st) in against {
        match merged.last_mut() {
            Some((pl, pm, _, last, pst)) if *pl == l && *pm == m && pst.counts == st.counts => *last = k,
            _ => merged.push((l, m, k, k, st)),
        }
    }
    let against: Vec<_> = merged
        .into_iter()
        .map(|(l, m, a, b, st)| (l, m, if a == b { a.to_string() } else { format!("{a}-{b}") }, st))
        .collect();
    Ok(Checked {
        claim: claim.clone(),
        points,
        holds: against.is_empty() && seen_somewhere,
        against,
        max_passes,
        example,
    })
}

/// The survey report (Markdown) of `plan` over `summary`, with the command that made it.
pub fn report(plan: &Plan, summary: &Summary, command: &str, svg_name: Option<&str>) -> Result<String, SweepError> {
    let mut s = format!("# Survey: {}\n\n", plan.name);
    if !plan.description.is_empty() {
        s.push_str(plan.description.trim());
        s.push_str("\n\n");
    }
    s.push_str(&format!(
        "Produced by tagmmu (do not edit; regenerate with `{command}`). {} points (sweep {}), each a kernel \
         model entered at the syscall with one mistagged granule (ADI: block) at the point's offset; a \
         live-lock is proven (the loop's whole state repeated), never timed out.\n\n",
        summary.points, plan.fingerprint
    ));
    let checked: Vec<Checked> = plan.claims.iter().map(|c| check(c, summary)).collect::<Result<_, _>>()?;
    if !checked.is_empty() {
        s.push_str("## The claims\n\n| claim | said | tagmmu's answer |\n|---|---|---|\n");
        for c in &checked {
            s.push_str(&format!(
                "| {} | \"{}\" | {} |\n",
                c.claim.id,
                c.claim.quote,
                if c.holds { format!("holds ({} points)", c.points) } else { verdict_words(c) }
            ));
        }
        s.push('\n');
        for c in &checked {
            s.push_str(&format!("### {}: {}\n\n", c.claim.id, if c.holds { "holds" } else { "differs" }));
            s.push_str(&format!("> {}\n", c.claim.quote));
            if !c.claim.source.is_empty() {
                s.push_str(&format!(">\n> ({})\n", c.claim.source));
            }
            s.push_str(&format!(
                "\nChecked over {} ({} points): expected {}; the most passes any of them took: {}.\n\n",
                c.claim.filter.describe(),
                c.points,
                expect_words(&c.claim.expect),
                c.max_passes
            ));
            if !c.against.is_empty() {
                s.push_str("Where it does not hold:\n\n| loop | kernels | arch | mode | fault-in | points | live-lock | unproven | max passes |\n|---|---|---|---|---|---:|---:|---:|---:|\n");
                for (l, m, range, st) in &c.against {
                    s.push_str(&format!(
                        "| {} | {range} | {} | {} | {} | {} | {} | {} | {} |\n",
                        l.name(),
                        m.0,
                        m.1.name(),
                        m.2.name(),
                        st.points(),
                        st.count(Outcome::Livelock),
                        st.count(Outcome::Unproven),
                        st.max_passes
                    ));
                }
                s.push('\n');
            }
            if !c.claim.comment.is_empty() {
                s.push_str(&format!("Why: {}\n\n", c.claim.comment.trim()));
            }
            if let Some(p) = c.example.and_then(|i| plan.point(i)) {
                let text = narrate(&p, plan.loop_budget);
                let lines: Vec<&str> = text.lines().collect();
                let shown = lines.len().min(60);
                s.push_str(&format!(
                    "A counterexample (point {}: {}), as tagmmu tells it:\n\n```text\n{}{}\n```\n\n",
                    c.example.unwrap_or(0),
                    p.describe(),
                    lines[..shown].join("\n"),
                    if shown < lines.len() {
                        format!("\n[... {} more lines]", lines.len() - shown)
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    s.push_str("## The most attempts per loop\n\n| loop | max passes | max fault-in calls | max short copies | longest cycle |\n|---|---:|---:|---:|---:|\n");
    let mut per_loop: std::collections::BTreeMap<SweepLoop, (u64, u64, u64, u64)> = Default::default();
    for ((l, _, _), st) in &summary.rows {
        let e = per_loop.entry(*l).or_default();
        e.0 = e.0.max(st.max_passes);
        e.1 = e.1.max(st.max_fault_in_calls);
        e.2 = e.2.max(st.max_short_copies);
        e.3 = e.3.max(st.max_cycle);
    }
    for (l, (a, b, c, d)) in per_loop {
        s.push_str(&format!(
            "| {} | {a} | {b} | {c} | {} |\n",
            l.name(),
            if d == 0 { "-".into() } else { d.to_string() }
        ));
    }
    s.push_str("\nPasses count every pass of every kernel loop of the syscall plus the direct-I/O attempts; a live-locked point's passes are those until its state repeated.\n\n");
    if let Some(svg) = svg_name {
        s.push_str(&format!("## The heat map\n\n![worst outcome by offset and kernel, per loop]({svg})\n\n"));
    }
    s.push_str("## Every row\n\n");
    s.push_str(&summary.table());
    Ok(s)
}

fn verdict_words(c: &Checked) -> String {
    let loops: std::collections::BTreeSet<&str> = c.against.iter().map(|(l, ..)| l.name()).collect();
    if c.against.is_empty() {
        return format!("differs: none of its {} points showed {}", c.points, outcome_list(&c.claim.expect.somewhere));
    }
    let rows: u64 = c.against.iter().map(|(_, _, _, st)| st.points()).sum();
    format!(
        "**differs**: {} of {} points contradict it, in {}",
        rows,
        c.points,
        loops.into_iter().collect::<Vec<_>>().join(", ")
    )
}

fn outcome_list(v: &[Outcome]) -> String {
    v.iter().map(|o| o.name()).collect::<Vec<_>>().join(" or ")
}

fn expect_words(e: &Expect) -> String {
    let mut parts = Vec::new();
    if !e.never.is_empty() {
        parts.push(format!("never {}", outcome_list(&e.never)));
    }
    if !e.somewhere.is_empty() {
        parts.push(format!("{} somewhere", outcome_list(&e.somewhere)));
    }
    if let Some(m) = e.max_passes {
        parts.push(format!("at most {m} passes"));
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}
