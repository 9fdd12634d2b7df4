//! Assertions for a kernel engineer's integration tests: run a machine, then say what must have
//! happened in one line. Each returns what it found, so a test can look further, and panics
//! with the whole story (the kernel loops' narratives with their tag maps, how the run ended)
//! when it does not hold.
//!
//! ```
//! use tagmmu::prelude::*;
//! use tagmmu::testing::{assert_livelock, assert_progress};
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/btrfs-5.16-livelock.yaml");
//! let mut cfg = scenario::load(std::path::Path::new(path)).unwrap().machine_config().unwrap();
//! let run = machine::run(&cfg).unwrap();
//! let stuck = assert_livelock(&run, "search_ioctl");
//! assert_eq!(stuck.stuck_at, Some(0));
//!
//! cfg.kernel.version = "5.19".parse().unwrap();
//! let run = machine::run(&cfg).unwrap();
//! let done = assert_progress(&run, "search_ioctl");
//! assert_eq!(done.verdict, Verdict::Completed { ret: -14 }); // -EFAULT
//! ```

use crate::emu::{FatalSignal, Stop};
use crate::kernel_stub::loops::{LoopReport, Verdict};
use crate::report::RunResult;
use crate::tagmap::terminal::{narrative_with_maps, Style};

/// The story of a run, for a failed assertion.
pub fn story(r: &RunResult) -> String {
    let mut s = String::new();
    for l in &r.loops {
        s.push_str(&narrative_with_maps(l, Style::PLAIN));
    }
    for d in &r.direct_io {
        s.push_str(&d.narrative());
    }
    s.push_str(&r.report_line().unwrap_or_else(|| format!("the guest exited with status {}", r.exit_code())));
    s
}

fn loop_named<'a>(r: &'a RunResult, id: &str) -> &'a LoopReport {
    r.loops.iter().find(|l| l.id == id).unwrap_or_else(|| {
        let ran: Vec<&str> = r.loops.iter().map(|l| l.id.as_str()).collect();
        panic!("no kernel loop `{id}` ran (loops that ran: {ran:?})\n{}", story(r))
    })
}

/// The kernel loop `id` (`search_ioctl`, `btrfs_buffered_write`, ...) ran and was proven
/// live-locked; its report.
#[track_caller]
pub fn assert_livelock<'a>(r: &'a RunResult, id: &str) -> &'a LoopReport {
    let l = loop_named(r, id);
    if !matches!(l.verdict, Verdict::Livelock { .. }) {
        panic!("expected `{id}` to live-lock, but: {}\n{}", l.reason, story(r));
    }
    l
}

/// The kernel loop `id` ran and ended by itself (whatever it returned: bytes, a short count or
/// an errno): no live-lock, no exhausted budget; its report.
#[track_caller]
pub fn assert_progress<'a>(r: &'a RunResult, id: &str) -> &'a LoopReport {
    let l = loop_named(r, id);
    if !matches!(l.verdict, Verdict::Completed { .. }) {
        panic!("expected `{id}` to make progress, but: {}\n{}", l.reason, story(r));
    }
    l
}

/// The guest was killed by the signal `name` (`SIGSEGV`), with the si_code `code_name`
/// (`SEGV_MTESERR`) when given; the signal.
#[track_caller]
pub fn expect_signal<'a>(r: &'a RunResult, name: &str, code_name: Option<&str>) -> &'a FatalSignal {
    match &r.stop {
        Stop::Killed { signal } if signal.name == name && code_name.is_none_or(|c| c == signal.code_name) => signal,
        _ => panic!(
            "expected the guest to be killed by {name}{}\n{}",
            code_name.map(|c| format!(" ({c})")).unwrap_or_default(),
            story(r)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::EmuStats;

    fn result(stop: Stop) -> RunResult {
        RunResult {
            stop,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stats: crate::report::RunStats { cpu: EmuStats::default(), ..Default::default() },
            trace: Vec::new(),
            notices: Vec::new(),
            loops: Vec::new(),
            direct_io: Vec::new(),
        }
    }

    #[test]
    #[should_panic(expected = "no kernel loop `search_ioctl` ran")]
    fn a_loop_that_never_ran_fails_the_assertion() {
        assert_livelock(&result(Stop::Exited { status: 0 }), "search_ioctl");
    }

    #[test]
    #[should_panic(expected = "expected the guest to be killed by SIGSEGV\nthe guest exited with status 0")]
    fn a_clean_exit_is_not_a_signal() {
        expect_signal(&result(Stop::Exited { status: 0 }), "SIGSEGV", None);
    }

    #[test]
    fn the_signal_and_its_code_are_matched() {
        let sig = FatalSignal::new(11, 9, Some(0x10), 0x400000, "ldr".into());
        let r = result(Stop::Killed { signal: sig });
        assert_eq!(expect_signal(&r, "SIGSEGV", None).signo, 11);
        let caught = std::panic::catch_unwind(|| {
            expect_signal(&r, "SIGSEGV", Some("SEGV_MAPERR"));
        });
        assert!(caught.is_err(), "si_code 9 is SEGV_MTESERR, not SEGV_MAPERR");
    }
}
