//! Checking a run against a scenario's `expect:`: one [`Check`] per expectation.

use super::*;

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
#[non_exhaustive]
pub struct Outcome {
    /// Scenario name.
    pub name: String,
    /// What the scenario says it shows (its `description`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
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

pub(super) fn check(e: &Expect, r: &RunResult) -> Vec<Check> {
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
    if let Some(want) = &e.deadlock_reason {
        let actual = match &r.stop {
            Stop::Deadlock { reason } => reason.clone(),
            _ => format!("no deadlock ({stop_kind})"),
        };
        let ok = matches!(&r.stop, Stop::Deadlock { reason } if reason.contains(want.as_str()));
        out.push(Check { what: "deadlock reason contains".into(), expected: want.clone(), actual, ok });
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
    for s in &e.notice_contains {
        let found = r.notices.iter().find(|n| n.contains(s.as_str()));
        out.push(Check {
            what: "a notice contains".into(),
            expected: s.clone(),
            actual: found.cloned().unwrap_or_else(|| format!("{:?}", r.notices)),
            ok: found.is_some(),
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
