//! What a kernel loop's run left behind: its passes, attempt counts, verdict and the reason,
//! as data (`--json`, scenario checks, sweeps) and as a narrative for people.

use serde::Serialize;

use super::{CopyDir, FaultCause, FaultSite, KernelLoop, LoopEvent, PassLog};
use crate::kernel_stub::fault_in::{FaultInFn, SubpageProbe};
use crate::kernel_stub::livelock::Cycle;
use crate::kernel_stub::Kernel;

/// What tagmmu does once it has proven a live-lock. A real kernel has no way out: the loop
/// has no signal check and spins forever; both actions are tagmmu's, so that a run ends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", deny_unknown_fields)]
#[non_exhaustive]
pub enum LivelockAction {
    /// Kill the task (SIGKILL) with the report.
    #[default]
    Kill,
    /// Fail the syscall with this errno so the program continues.
    Fail {
        /// The errno name, e.g. "EINTR".
        errno: String,
    },
}

/// The end of a kernel loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// It ended by itself (with the syscall's result).
    Completed {
        /// The result, as Linux returns it (negative errno on failure).
        ret: i64,
    },
    /// Its complete state repeated: it can never end.
    Livelock {
        /// The cycle.
        cycle: Cycle,
    },
    /// The iteration budget ran out (no proof).
    BudgetExhausted,
}

impl Verdict {
    /// `completed`, `livelock` or `budget_exhausted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Completed { .. } => "completed",
            Verdict::Livelock { .. } => "livelock",
            Verdict::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// Host time spent in a kernel loop, for the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoopTiming {
    /// Nanoseconds running the loop's passes (fault-in, search, copies).
    pub passes_ns: u64,
    /// Nanoseconds capturing and comparing states for the live-lock proof.
    pub proof_ns: u64,
}

/// The attempt counts of a loop's run (the cover letter's "number of attempts").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Attempts {
    /// Passes run.
    pub passes: u64,
    /// Copies with page faults disabled.
    pub copies: u64,
    /// Copies that moved fewer bytes than asked for.
    pub short_copies: u64,
    /// `fault_in_*()` calls.
    pub fault_in_calls: u64,
}

/// A kernel loop's run, for the narrative and `--json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoopReport {
    /// The loop's identifier ([`KernelLoop::id`]).
    pub id: String,
    /// Which loop, in words.
    pub name: String,
    /// The modelled kernel and flavour.
    pub kernel: String,
    /// The user buffer (the loop's first user range).
    pub ubuf: u64,
    /// Its size.
    pub buf_size: u64,
    /// The user buffer's address without its tag.
    pub ubuf_untagged: u64,
    /// What `position` counts.
    pub position_name: String,
    /// Every pass run (up to the proof).
    pub passes: Vec<PassLog>,
    /// Attempt counts.
    pub attempts: Attempts,
    /// How it ended.
    pub verdict: Verdict,
    /// The one-line reason.
    pub reason: String,
    /// The position the loop is stuck at, when live-locked.
    pub stuck_at: Option<u64>,
    /// Where the last short copy of the run stopped, if one did.
    pub fault: Option<FaultSite>,
    /// The last fault-in function called, if any.
    pub fault_in: Option<FaultInFn>,
    /// Where the host time went (wall-clock, so it varies from run to run).
    pub timing: LoopTiming,
    /// The sub-page probe in effect.
    pub probe: SubpageProbe,
    /// The tag architecture's words: ADI (SPARC: 64-byte blocks with versions) or MTE.
    pub adi: bool,
    /// Where the loop checks for a fatal signal (`None`: nowhere; a live-lock is unkillable).
    pub signal_check: Option<String>,
    /// Why the proof rests on fewer passes than the loop ran, if it does (the watch stopped
    /// comparing states to bound its memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_note: Option<String>,
    /// The user buffer when the loop ended: after its last pass, or, for a proven live-lock,
    /// the state the proof found equal to the one before pass `cycle.first_pass`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_picture: Option<super::BufferPicture>,
    /// The digest of the loop's state where the proof stopped (see [`super::state_digest`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_state_digest: Option<u64>,
}

impl LoopReport {
    /// An empty report for `l` about to run on `k`.
    pub fn new(l: &dyn KernelLoop, k: &Kernel) -> LoopReport {
        let probe = k.subpage_probe();
        // The machine and the sub-page probe its kernel has (`probe_subpage_writeable()`).
        let flavour = match (k.arch, probe) {
            (crate::arch::Arch::Arm64, SubpageProbe::Arm64Mte) => "arm64 MTE",
            (crate::arch::Arch::Arm64, _) => "arm64 MTE, generic kernel without the MTE probe",
            (_, SubpageProbe::SparcAdi) => "sparc64 ADI, with tagmmu's ADI probe",
            (_, _) => "sparc64 ADI, upstream: no sub-page probe",
        };
        let (ubuf, buf_size) = l.user_ranges().first().copied().unwrap_or((0, 0));
        LoopReport {
            id: l.id().to_string(),
            name: l.title(),
            kernel: format!("{} ({flavour})", k.config.version),
            ubuf,
            buf_size,
            ubuf_untagged: k.mm.untag(ubuf).unwrap_or(ubuf),
            position_name: l.position_name().to_string(),
            passes: Vec::new(),
            attempts: Attempts::default(),
            verdict: Verdict::BudgetExhausted,
            reason: String::new(),
            stuck_at: None,
            fault: None,
            fault_in: None,
            timing: LoopTiming::default(),
            probe,
            adi: k.arch == crate::arch::Arch::Sparc64,
            signal_check: l.signal_check().map(String::from),
            watch_note: None,
            end_picture: None,
            end_state_digest: None,
        }
    }

    /// Fill in the verdict, the counts and the reason.
    pub(super) fn finish(&mut self, verdict: Verdict, l: &dyn KernelLoop, k: &Kernel) {
        let mut a = Attempts { passes: self.passes.len() as u64, ..Default::default() };
        for e in self.passes.iter().flat_map(|p| &p.events) {
            match e {
                LoopEvent::FaultIn { func, .. } => {
                    a.fault_in_calls += 1;
                    self.fault_in = Some(*func);
                }
                LoopEvent::Copy { len, copied, .. } => {
                    a.copies += 1;
                    a.short_copies += (copied < len) as u64;
                }
                LoopEvent::Note { .. } => {}
            }
        }
        self.attempts = a;
        self.fault = self.passes.iter().rev().flat_map(|p| p.events.iter().rev()).find_map(|e| match e {
            LoopEvent::Copy { fault, .. } => *fault,
            _ => None,
        });
        self.verdict = verdict;
        self.reason = match &self.verdict {
            Verdict::Completed { ret } if *ret < 0 => {
                let e = crate::kernel_stub::errno::Errno::from_generic(-ret);
                match e {
                    Some(e) => format!("returned -{} ({})", e.name(), e.description()),
                    None => format!("returned {ret}"),
                }
            }
            Verdict::Completed { ret } => format!("returned {ret}"),
            Verdict::BudgetExhausted => match &self.watch_note {
                Some(note) => {
                    format!("no proof: {} passes ran (loop budget); {note}; tagmmu stopped it", self.passes.len())
                }
                None => format!(
                    "no proof: {} passes ran without the state repeating (loop budget); tagmmu stopped it",
                    self.passes.len()
                ),
            },
            Verdict::Livelock { cycle } => {
                self.stuck_at = Some(l.position());
                self.livelock_reason(*cycle, l, k)
            }
        };
    }

    fn tag_words(&self, f: &FaultSite) -> String {
        match (f.cause, f.mem_tag) {
            (FaultCause::TagMismatch, Some(t)) if self.adi => format!(
                ": that 64-byte ADI block has version {t:#x} but the pointer carries version {:#x}, so the access faults",
                f.ptr_tag
            ),
            (FaultCause::TagMismatch, Some(t)) => format!(
                ": that 16-byte granule is tagged {t:#x} but the pointer carries tag {:#x}, so the access faults",
                f.ptr_tag
            ),
            (FaultCause::NotPresent, _) => ": the page is not present and page faults are disabled".into(),
            _ => ": no mapping allows the access there".into(),
        }
    }

    fn livelock_reason(&self, cycle: Cycle, l: &dyn KernelLoop, k: &Kernel) -> String {
        let last_copy = self.passes.last().and_then(|p| {
            p.events.iter().rev().find_map(|e| match e {
                LoopEvent::Copy { what, fault: Some(f), .. } => Some((what.clone(), *f)),
                _ => None,
            })
        });
        let detail = match (last_copy, self.fault_in) {
            (Some((what, f)), Some(func)) => {
                let (unit, tag) =
                    if self.adi { ("ADI block version", "pointer version") } else { ("granule tag", "pointer tag") };
                let mem = f.mem_tag.map(|t| format!("{t:#x}")).unwrap_or_else(|| "none".into());
                format!(
                    "the copy of {what} faults at {:#x} ({unit} {mem}, {tag} {:#x}) on every pass, while {} and succeeds",
                    f.addr,
                    f.ptr_tag,
                    func.blind_spot(self.probe)
                )
            }
            (Some((what, f)), None) => {
                format!("the copy of {what} faults at {:#x} on every pass and nothing faults it in", f.addr)
            }
            _ => "the loop's state repeats".into(),
        };
        let _ = k;
        let passes = if cycle.length() == 1 {
            format!("pass {} left the loop exactly as it found it", cycle.first_pass)
        } else {
            format!(
                "after pass {} the loop is exactly as it was before pass {}, so passes {}-{} repeat forever",
                cycle.repeat_pass - 1,
                cycle.first_pass,
                cycle.first_pass,
                cycle.repeat_pass - 1
            )
        };
        format!(
            "live-lock proven: {passes} (its variables, and the buffer's bytes, tags and page presence; cycle of {} pass(es), {} stuck at {}): {detail}",
            cycle.length(),
            l.position_name(),
            l.position()
        )
    }

    /// The loop told pass by pass in plain words, for people who have never heard of MTE.
    pub fn narrative(&self) -> String {
        let parts = self.narrative_parts();
        let mut s = parts.header;
        for p in &parts.passes {
            s.push_str(p);
        }
        s.push_str(&parts.footer);
        s
    }

    /// The narrative in pieces, so that pictures can go between the passes: the heading, each
    /// pass's lines (in the order of [`LoopReport::passes`]), and the verdict with the counts.
    pub fn narrative_parts(&self) -> NarrativeParts {
        use std::fmt::Write;
        let header = format!(
            "== {} on Linux {}: user buffer at {}, {} bytes\n",
            self.name,
            self.kernel,
            self.pointer(self.ubuf),
            self.buf_size
        );
        let mut passes = Vec::new();
        for p in &self.passes {
            let mut s = String::new();
            let mut first = true;
            // Copies that completed are listed when there are few; many are summed up once.
            let complete =
                |e: &LoopEvent| matches!(e, LoopEvent::Copy { fault: None, copied, len, .. } if copied == len);
            let n_complete = p.events.iter().filter(|e| complete(e)).count();
            let mut summed = false;
            for e in &p.events {
                if n_complete > 2 && complete(e) {
                    if !summed {
                        summed = true;
                        let lead = if first { format!("pass {}: ", p.pass) } else { "        ".to_string() };
                        first = false;
                        let _ = writeln!(s, "{lead}{n_complete} copies with page faults disabled completed.");
                    }
                    continue;
                }
                let lead = if first { format!("pass {}: ", p.pass) } else { "        ".to_string() };
                first = false;
                let line = match e {
                    LoopEvent::FaultIn { func, start, len, result } => {
                        let res = match (func.returns_errno(), *result) {
                            (_, 0) => "it reported success".to_string(),
                            (true, r) => format!("it returned {r} (-EFAULT)"),
                            (false, r) => format!("it reported {r} bytes it could not fault in"),
                        };
                        format!("{}({}, {len}) {}; {res}.", func.name(), self.pointer(*start), func.how(self.probe))
                    }
                    LoopEvent::Copy { func, what, dir, start, len, copied, fault } => {
                        let (verb, prep) = match dir {
                            CopyDir::ToUser => ("copying", "to"),
                            CopyDir::FromUser => ("copying", "from"),
                        };
                        let start = self.pointer(*start);
                        match fault {
                            Some(f) => format!(
                                "{verb} {what} {prep} {start} ({func}, page faults disabled) stopped after {copied} of {len} bytes; the access at {:#x} faulted{}.",
                                f.addr,
                                self.tag_words(f)
                            ),
                            None => format!("{verb} {what} {prep} {start} ({func}, page faults disabled): {copied} of {len} bytes."),
                        }
                    }
                    LoopEvent::Note { text } => text.clone(),
                };
                let _ = writeln!(s, "{lead}{line}");
            }
            if first {
                let _ = writeln!(s, "pass {}: (nothing logged)", p.pass);
            }
            passes.push(s);
        }
        let mut s = String::new();
        let verdict = match &self.verdict {
            Verdict::Livelock { .. } => "LIVE-LOCK",
            Verdict::Completed { .. } => "completed",
            Verdict::BudgetExhausted => "no proof (iteration budget exhausted)",
        };
        let _ = writeln!(s, "verdict: {verdict}: {}", self.reason);
        if let (Some(note), Verdict::Completed { .. }) = (&self.watch_note, &self.verdict) {
            let _ = writeln!(s, "note: {note}.");
        }
        let a = &self.attempts;
        let _ = writeln!(
            s,
            "attempts: {} pass(es), {} fault-in call(s), {} cop(ies) with page faults disabled, {} of them short.",
            a.passes, a.fault_in_calls, a.copies, a.short_copies
        );
        if !matches!(self.verdict, Verdict::Completed { .. }) {
            let real = match &self.signal_check {
                None => "a real kernel has no way out of this loop (it checks no signal) and spins forever".to_string(),
                Some(w) => format!("a real kernel spins in this loop until the task is killed ({w})"),
            };
            let _ = writeln!(
                s,
                "note: {real}; tagmmu ends it with the machine's `livelock` action (SIGKILL by default, or the errno `livelock: {{action: fail}}` names): the kill and that errno are tagmmu's, not Linux's."
            );
        }
        NarrativeParts { header, passes, footer: s }
    }

    /// A user pointer as tagmmu shows pointers to people: `TAG:ADDRESS`.
    pub fn pointer(&self, ptr: u64) -> String {
        let scheme = if self.adi { crate::tags::ADI } else { crate::tags::MTE };
        super::picture::split_pointer(ptr, scheme.tag_shift)
    }
}

/// [`LoopReport::narrative_parts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NarrativeParts {
    /// The heading line.
    pub header: String,
    /// Each pass's lines.
    pub passes: Vec<String>,
    /// The verdict, its reason, the counts and the notes.
    pub footer: String,
}
