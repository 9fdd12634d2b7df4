//! Clocks and sleeping. Sleeping never blocks the host: it advances the guest's clocks.

use crate::addr::UserAddr;
use crate::arch::{read_u64, StructWriter};
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
            let mut w = StructWriter::new(self.arch);
            w.u64(ns / NSEC).u64((ns % NSEC) / 1000);
            uaccess::write_user(&mut self.mm, self.uaccess, UserAddr(tv), &w.finish())?;
        }
        Ok(0)
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
        if self.threads.alone() || ns == 0 {
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
