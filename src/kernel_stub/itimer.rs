//! ITIMER_REAL, each process's interval timer on CLOCK_MONOTONIC (`setitimer`, `getitimer`,
//! sparc64's `alarm`), as kernel/time/itimer.c has it:
//! - it expires `it_value` after it was set and sends the process SIGALRM (`it_real_fn`:
//!   SEND_SIG_PRIV, so si_code SI_KERNEL), unless the process ignores SIGALRM without blocking
//!   it, when the signal is dropped at the send;
//! - a periodic timer (`it_interval` ≠ 0) is not rearmed at expiry but when SIGALRM (any
//!   SIGALRM) is dequeued for delivery (`posixtimer_rearm_itimer`, formerly inline in
//!   `dequeue_signal`): forwarded by whole intervals past the present. A timer whose SIGALRM
//!   stays blocked, or was dropped, stays expired;
//! - it survives exec, a forked child starts without one, it goes with its process.
//!
//! On the virtual clock the timer expires at an exact instruction count: the CPU backends
//! stop at the first block boundary at or past it ([`Kernel::timer_check_at`]) and call
//! [`Kernel::run_timers`], which the scheduler also calls (an idle machine jumps its clocks
//! to the next expiry, as it does to a sleeper's deadline). The rearm at dequeue happens at
//! the next such call after the dequeue (the next block), not inside the dequeue: it can
//! differ from Linux's only when a whole interval passes within that block.
//! ITIMER_VIRTUAL and ITIMER_PROF (per-process CPU time) are not modelled: refused with
//! -ENOSYS and a notice.

use std::collections::BTreeMap;

use crate::kernel_stub::signal::{code, sig, SIG_IGN};
use crate::kernel_stub::Kernel;

/// Nanoseconds in a microsecond (a `timeval`'s unit).
const NSEC_PER_USEC: u64 = 1000;

/// `ITIMER_REAL`.
pub const ITIMER_REAL: u64 = 0;
/// `ITIMER_VIRTUAL`.
pub const ITIMER_VIRTUAL: u64 = 1;
/// `ITIMER_PROF`.
pub const ITIMER_PROF: u64 = 2;

/// One process's ITIMER_REAL (`signal_struct.real_timer` and `it_real_incr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RealTimer {
    /// Its expiry on CLOCK_MONOTONIC (ns): the next one while queued, the last one after.
    pub expires: u64,
    /// Queued (`hrtimer_is_queued`): it expires at `expires`.
    pub queued: bool,
    /// `it_real_incr` (ns): 0 for a one-shot timer.
    pub interval: u64,
}

/// A timer setting in nanoseconds: (`it_value`, `it_interval`).
pub type TimerValue = (u64, u64);

/// The interval timers of every process.
#[derive(Clone, Debug, Default)]
pub struct ITimers {
    real: BTreeMap<u32, RealTimer>,
}

impl ITimers {
    /// Process `pid`'s ITIMER_REAL, if it ever set one.
    pub fn real(&self, pid: u32) -> Option<RealTimer> {
        self.real.get(&pid).copied()
    }

    /// The earliest expiry of a queued timer (ns on CLOCK_MONOTONIC).
    pub fn next_expiry(&self) -> Option<u64> {
        self.real.values().filter(|t| t.queued).map(|t| t.expires).min()
    }

    /// Process `pid` ended: its timer goes with it (`exit_itimers`, `release_task`).
    pub fn exit_process(&mut self, pid: u32) {
        self.real.remove(&pid);
    }
}

/// Forward `expires` by whole `interval`s until it lies past `now` (`hrtimer_forward`).
fn forward(expires: u64, interval: u64, now: u64) -> u64 {
    if expires > now {
        return expires;
    }
    let periods = (now - expires) / interval + 1;
    expires.saturating_add(periods.saturating_mul(interval))
}

impl Kernel {
    /// `do_setitimer(ITIMER_REAL)` for the running process: arm the timer with `value`
    /// (`it_value` 0: disarm) and return the old setting, as `do_getitimer` reads it.
    pub(crate) fn set_real_timer(&mut self, value: TimerValue) -> TimerValue {
        let old = self.real_timer_value();
        let now = self.monotonic_ns();
        let t = self.itimers.real.entry(self.config.pid).or_default();
        let (it_value, it_interval) = value;
        if it_value != 0 {
            *t = RealTimer { expires: now.saturating_add(it_value), queued: true, interval: it_interval };
        } else {
            *t = RealTimer { expires: t.expires, queued: false, interval: 0 };
        }
        old
    }

    /// `do_getitimer(ITIMER_REAL)` for the running process: (time left, interval). A queued
    /// timer whose expiry has passed but not yet fired reads as 1 µs (`itimer_get_remtime`).
    pub(crate) fn real_timer_value(&self) -> TimerValue {
        match self.itimers.real(self.config.pid) {
            Some(t) if t.queued => {
                let left = t.expires.saturating_sub(self.monotonic_ns());
                (if left == 0 { NSEC_PER_USEC } else { left }, t.interval)
            }
            Some(t) => (0, t.interval),
            None => (0, 0),
        }
    }

    /// Fire every timer whose expiry has passed (SIGALRM to its process) and rearm the running
    /// process's periodic timer once a SIGALRM was dequeued. The CPU backends call it at the
    /// instruction count [`Self::timer_check_at`] names, the scheduler whenever it picks.
    pub fn run_timers(&mut self) {
        if std::mem::take(&mut self.signals.alarm_dequeued) {
            let now = self.monotonic_ns();
            if let Some(t) = self.itimers.real.get_mut(&self.config.pid) {
                if !t.queued && t.interval != 0 {
                    t.expires = forward(t.expires, t.interval, now);
                    t.queued = true;
                }
            }
        }
        if self.itimers.real.is_empty() {
            return;
        }
        let now = self.monotonic_ns();
        let due: Vec<u32> =
            self.itimers.real.iter().filter(|(_, t)| t.queued && t.expires <= now).map(|(&p, _)| p).collect();
        for pid in due {
            if let Some(t) = self.itimers.real.get_mut(&pid) {
                t.queued = false;
            }
            // prepare_signal's sig_ignored: an ignored SIGALRM is dropped unless blocked.
            let dropped = self
                .process_signals(pid)
                .is_some_and(|s| s.action(sig::SIGALRM).handler == SIG_IGN && !s.is_blocked(sig::SIGALRM));
            if !dropped {
                self.raise_in_process(pid, sig::SIGALRM, code::SI_KERNEL);
            }
        }
    }

    /// The instruction count at which the CPU backend should call [`Self::run_timers`]:
    /// at once after a SIGALRM was dequeued (a periodic timer rearms), at the next expiry on
    /// the virtual clock (whose nanoseconds are instructions, plus the time slept), every
    /// 65,536 instructions on the host's clock; `u64::MAX` when no timer is queued.
    pub fn timer_check_at(&self) -> u64 {
        if self.signals.alarm_dequeued {
            return 0;
        }
        match self.itimers.next_expiry() {
            None => u64::MAX,
            Some(_) if self.config.clock.host => self.retired.saturating_add(1 << 16),
            Some(d) => d.saturating_sub(self.slept_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::KernelConfig;

    #[test]
    fn forward_skips_whole_intervals_past_now() {
        assert_eq!(forward(100, 10, 50), 100, "not yet due: unchanged");
        assert_eq!(forward(100, 10, 100), 110);
        assert_eq!(forward(100, 10, 125), 130);
    }

    #[test]
    fn a_one_shot_timer_fires_once_and_reads_as_disarmed() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        assert_eq!(k.set_real_timer((1000, 0)), (0, 0));
        k.set_retired(400);
        assert_eq!(k.real_timer_value(), (600, 0));
        assert_eq!(k.timer_check_at(), 1000);
        k.run_timers();
        assert_eq!(k.signals.all_pending(), 0, "not due yet");
        k.set_retired(1000);
        assert_eq!(k.real_timer_value(), (1000, 0), "due but not fired: 1 µs left");
        k.run_timers();
        assert_eq!(k.signals.take_deliverable(), Some((sig::SIGALRM, code::SI_KERNEL, None)));
        assert_eq!(k.real_timer_value(), (0, 0));
        k.run_timers();
        assert_eq!(k.timer_check_at(), u64::MAX, "nothing left to fire");
    }

    #[test]
    fn a_periodic_timer_rearms_when_sigalrm_is_dequeued_not_before() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        k.set_real_timer((100, 50));
        k.signals.set_mask(crate::kernel_stub::signal::MaskHow::Block, Some(1 << (sig::SIGALRM - 1)));
        k.set_retired(100);
        k.run_timers();
        k.set_retired(1000);
        k.run_timers();
        assert_eq!(k.real_timer_value(), (0, 50), "expired, SIGALRM blocked and pending: not rearmed");
        k.signals.set_mask(crate::kernel_stub::signal::MaskHow::SetMask, Some(0));
        assert_eq!(k.signals.take_deliverable(), Some((sig::SIGALRM, code::SI_KERNEL, None)));
        assert_eq!(k.timer_check_at(), 0, "the dequeue asks for a check");
        k.set_retired(1010);
        k.run_timers();
        // Forwarded from the expiry at 100 by whole periods of 50 past 1010: 1050.
        assert_eq!(k.real_timer_value(), (40, 50));
        assert_eq!(k.timer_check_at(), 1050);
    }

    #[test]
    fn an_ignored_sigalrm_is_dropped_and_the_periodic_timer_stops() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let ign = crate::kernel_stub::signal::SigAction { handler: SIG_IGN, ..Default::default() };
        k.signals.set_action(u64::from(sig::SIGALRM), Some(ign)).unwrap();
        k.set_real_timer((10, 10));
        k.set_retired(10);
        k.run_timers();
        assert_eq!(k.signals.all_pending(), 0);
        k.set_retired(1000);
        k.run_timers();
        assert_eq!(k.real_timer_value(), (0, 10), "never dequeued: never rearmed");
    }

    #[test]
    fn setting_zero_disarms_and_returns_the_old_setting() {
        let mut k = Kernel::new(Arch::Sparc64, KernelConfig::default());
        k.set_real_timer((5000, 70));
        k.set_retired(1000);
        assert_eq!(k.set_real_timer((0, 99)), (4000, 70));
        assert_eq!(k.real_timer_value(), (0, 0), "it_value 0: the interval is dropped too");
        k.set_retired(10_000);
        k.run_timers();
        assert_eq!(k.signals.all_pending(), 0);
    }
}
