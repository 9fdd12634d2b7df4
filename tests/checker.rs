//! The forward-progress checker on a loop written outside tagmmu (examples/rewinding_loop.rs):
//! it finds the live-lock of the rewinding loop and proves the fixed one makes progress.

#[allow(dead_code)]
#[path = "../examples/rewinding_loop.rs"]
mod rewinding_loop;

use tagmmu::kernel_stub::loops::Verdict;
use tagmmu::progress::CheckOutcome;

#[test]
fn the_rewinding_loop_live_locks_on_a_granule_inside_a_record() {
    let CheckOutcome::Livelock(c) = rewinding_loop::check_record_copy(false) else { panic!("no live-lock found") };
    let Verdict::Livelock { cycle } = c.report.verdict else { panic!() };
    assert_eq!(cycle.length(), 1);
    // The first counterexample: all pages present, the first granule past the start of the
    // first record (the record's first byte, which fault_in_writeable probes, is fine).
    assert_eq!(c.point.absent, 0);
    let bad = c.point.bad.expect("a bad granule");
    assert!(bad > 0 && bad < rewinding_loop::RECORD, "{bad}");
    assert_eq!(c.report.stuck_at, Some(0));
    assert!(c.report.narrative().contains("fault_in_writeable() probes only the first byte and page starts"));
}

#[test]
fn the_fixed_loop_makes_progress_everywhere() {
    let CheckOutcome::Progress(p) = rewinding_loop::check_record_copy(true) else { panic!("not proven") };
    assert!(p.exhaustive);
    // 240 bytes from 0xf70 across two pages: 15 granules plus none, 4 presence patterns.
    assert_eq!(p.points, 16 * 4);
    assert!(p.max_passes <= 6, "{p:?}");
}
