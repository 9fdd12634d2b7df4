//! Clocks and sleeping. Sleeping never blocks the host: it advances the guest's clocks.

use crate::addr::UserAddr;
use crate::arch::{read_u32, read_u64, StructWriter};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

const NSEC: u64 = 1_000_000_000;

impl Kernel {
    fn clock_ns(&self, clk: u64) -> KResult<u64> {
        match clk {
            // REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI
            0 | 5 | 8 | 11 => Ok(self.realtime_ns()),
            // MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME, MONOTONIC_RAW, MONOTONIC_COARSE,
            // BOOTTIME, BOOTTIME_ALARM
            1..=4 | 6 | 7 | 9 => Ok(self.monotonic_ns()),
            _ => Err(Errno::EINVAL),
        }
    }

    pub(super) fn put_timespec(&mut self, addr: u64, ns: u64) -> KResult<()> {
        let mut w = StructWriter::new(self.arch);
        w.u64(ns / NSEC).u64(ns % NSEC);
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(addr), &w.finish())
    }

    pub(super) fn get_timespec(&mut self, addr: u64) -> KResult<u64> {
        let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(addr), 16)?;
        let (s, ns) = (read_u64(self.arch, &b[..8]) as i64, read_u64(self.arch, &b[8..]) as i64);
        if s < 0 || !(0..NSEC as i64).contains(&ns) {
            return Err(Errno::EINVAL);
        }
        Ok((s as u64).saturating_mul(NSEC).saturating_add(ns as u64))
    }

    pub(super) fn sys_clock_gettime(&mut self, clk: u64, tp: u64) -> KResult<u64> {
        let ns = self.clock_ns(clk)?;
        self.put_timespec(tp, ns)?;
        Ok(0)
    }

    pub(super) fn sys_clock_getres(&mut self, clk: u64, tp: u64) -> KResult<u64> {
        let res = match clk {
            5 | 6 => 4_000_000,
            _ => 1,
        };
        self.clock_ns(clk)?;
        if tp != 0 {
            self.put_timespec(tp, res)?;
        }
        Ok(0)
    }

    pub(super) fn sys_gettimeofday(&mut self, tv: u64) -> KResult<u64> {
        if tv != 0 {
            let ns = self.clock_ns(0)?;
            let b = self.timeval_bytes(ns);
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(tv), &b)?;
        }
        Ok(0)
    }

    /// `ns` as a `struct __kernel_old_timeval` (truncated to microseconds): two longs on
    /// arm64; on sparc64 a long and an int (its `__kernel_suseconds_t`, "this piece of
    /// asymmetry from the v9 ABI" in its posix_types.h), padded to 16 bytes.
    fn timeval_bytes(&self, ns: u64) -> Vec<u8> {
        let (sec, usec) = (ns / NSEC, (ns % NSEC) / 1000);
        let mut w = StructWriter::new(self.arch);
        w.u64(sec);
        match self.arch {
            crate::arch::Arch::Arm64 => w.u64(usec),
            crate::arch::Arch::Sparc64 => w.u32(usec as u32).pad(4),
        };
        w.finish()
    }

    /// A `struct __kernel_old_timeval` (16 bytes, see [`Self::timeval_bytes`]) as ns;
    /// EINVAL unless `timeval_valid` (seconds not negative, microseconds in 0..1,000,000).
    fn timeval_ns(&self, b: &[u8]) -> KResult<u64> {
        let sec = read_u64(self.arch, &b[..8]) as i64;
        let usec = match self.arch {
            crate::arch::Arch::Arm64 => read_u64(self.arch, &b[8..16]) as i64,
            crate::arch::Arch::Sparc64 => i64::from(read_u32(self.arch, &b[8..12]) as i32),
        };
        if sec < 0 || !(0..1_000_000).contains(&usec) {
            return Err(Errno::EINVAL);
        }
        Ok((sec as u64).saturating_mul(NSEC).saturating_add(usec as u64 * 1000))
    }

    /// `setitimer(which, value, ovalue)`: ITIMER_REAL is modelled (see
    /// [`crate::kernel_stub::itimer`]); a NULL `value` disarms (the "misfeature" Linux still
    /// accepts); `ovalue` gets the old setting.
    pub(super) fn sys_setitimer(&mut self, which: u64, value: u64, ovalue: u64) -> KResult<u64> {
        let new = if value != 0 {
            let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(value), 32)?;
            let (interval, it_value) = (self.timeval_ns(&b[..16])?, self.timeval_ns(&b[16..])?);
            (it_value, interval)
        } else {
            (0, 0)
        };
        self.itimer_which(which)?;
        let old = self.set_real_timer(new);
        if ovalue != 0 {
            self.put_itimerval(ovalue, old)?;
        }
        Ok(0)
    }

    /// `getitimer(which, value)`.
    pub(super) fn sys_getitimer(&mut self, which: u64, value: u64) -> KResult<u64> {
        self.itimer_which(which)?;
        let v = self.real_timer_value();
        self.put_itimerval(value, v)?;
        Ok(0)
    }

    /// sparc64's `alarm(seconds)` (`alarm_setitimer`): a one-shot ITIMER_REAL of `seconds`
    /// (an unsigned int; 0 disarms); returns the seconds the old one had left, rounded to
    /// the nearest but never 0 for a timer still armed.
    pub(super) fn sys_alarm(&mut self, seconds: u64) -> KResult<u64> {
        let seconds = u64::from(seconds as u32);
        let (left, _) = self.set_real_timer((seconds * NSEC, 0));
        let (mut sec, ns) = (left / NSEC, left % NSEC);
        if (sec == 0 && ns != 0) || ns >= NSEC / 2 {
            sec += 1;
        }
        Ok(sec)
    }

    /// Which interval timer: ITIMER_REAL is modelled; ITIMER_VIRTUAL and ITIMER_PROF (the
    /// process's CPU time) are refused with a notice; anything else is EINVAL.
    fn itimer_which(&mut self, which: u64) -> KResult<()> {
        use crate::kernel_stub::itimer::{ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL};
        match which as u32 as i32 as i64 as u64 {
            ITIMER_REAL => Ok(()),
            w @ (ITIMER_VIRTUAL | ITIMER_PROF) => {
                let name = if w == ITIMER_VIRTUAL { "ITIMER_VIRTUAL" } else { "ITIMER_PROF" };
                self.notice(format!(
                    "{name}: tagmmu models ITIMER_REAL, not the CPU-time interval timers: returning -ENOSYS"
                ));
                Err(Errno::ENOSYS)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Write (it_value, it_interval) ns as a `struct __kernel_old_itimerval` at `at`
    /// (it_interval first).
    fn put_itimerval(&mut self, at: u64, (value, interval): crate::kernel_stub::itimer::TimerValue) -> KResult<()> {
        let mut b = self.timeval_bytes(interval);
        b.extend(self.timeval_bytes(value));
        uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(at), &b)
    }

    /// Write `ns` as a timespec at `at` in the running thread's memory: the time left of a
    /// sleep a signal interrupted (the scheduler calls it when the thread runs again).
    pub(crate) fn write_time_left(&mut self, at: u64, ns: u64) -> KResult<()> {
        self.put_timespec(at, ns)
    }

    pub(super) fn sys_nanosleep(&mut self, req: u64, rem: u64) -> KResult<u64> {
        let ns = self.get_timespec(req)?;
        self.sleep_for(ns, Some(rem), "nanosleep")
    }

    /// Sleep `ns` on the guest's clocks: at once when the process has one thread (the clocks
    /// jump); else the thread sleeps while the others run, until the deadline (0) or a signal
    /// (EINTR, with the time left written at `rem` when there is one, or EFAULT when it cannot
    /// be written, as `nanosleep_copyout` has it).
    fn sleep_for(&mut self, ns: u64, rem: Option<u64>, what: &str) -> KResult<u64> {
        // Alone, the clocks jump, unless an interval timer expires first: then the thread
        // sleeps (the scheduler fires the timer at its expiry and SIGALRM interrupts).
        let timer_first = self.itimers.next_expiry().is_some_and(|e| e <= self.monotonic_ns().saturating_add(ns));
        if (self.threads.alone() && !timer_first) || ns == 0 {
            self.sleep(ns);
            return Ok(0);
        }
        let deadline = self.deadline_in(ns);
        self.block(crate::kernel_stub::task::Blocked {
            on: crate::kernel_stub::task::WaitOn::Sleep,
            deadline: Some(deadline),
            on_timeout: Some(Ok(0)),
            restartable: false,
            rem,
            reason: format!("{what} until {deadline} ns"),
        });
        Err(Errno::EINTR)
    }

    pub(super) fn sys_clock_nanosleep(&mut self, clk: u64, flags: u64, req: u64, rem: u64) -> KResult<u64> {
        const TIMER_ABSTIME: u64 = 1;
        let now = self.clock_ns(clk)?;
        if matches!(clk, 2 | 3) {
            return Err(Errno::EINVAL);
        }
        let t = self.get_timespec(req)?;
        let abs = flags & TIMER_ABSTIME != 0;
        let ns = if abs { t.saturating_sub(now) } else { t };
        // An absolute sleep has no time left to report.
        self.sleep_for(ns, (!abs).then_some(rem), "clock_nanosleep")
    }
}
