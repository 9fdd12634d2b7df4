//! A kernel engineer's loop, checked for forward progress with tagmmu.
//!
//! `RecordCopy` copies fixed-size records into a user buffer with page faults disabled, as
//! btrfs's `search_ioctl()` does: when a copy faults, it faults the rest of the buffer in and
//! retries the *whole record*. Written with `fault_in_writeable()` (one byte per page) it can
//! never get past a mistagged granule inside a record; written with
//! `fault_in_subpage_writeable()` (arm64 probes every granule) it fails with EFAULT instead.
//! [`tagmmu::progress::check`] explores every placement of one bad granule and every page-
//! presence pattern and finds the live-lock in the first and proves progress for the second.
//!
//! Run it: `cargo run --example rewinding_loop`.

use tagmmu::addr::UserAddr;
use tagmmu::kernel_stub::errno::Errno;
use tagmmu::kernel_stub::fault_in::{self, FaultInFn};
use tagmmu::kernel_stub::loops::{CopyDir, FaultSite, KernelLoop, LoopEvent, PassEnd};
use tagmmu::kernel_stub::mm::Access;
use tagmmu::kernel_stub::uaccess::{self, UaccessCtx};
use tagmmu::kernel_stub::Kernel;
use tagmmu::progress::{check, CheckConfig, CheckOutcome};
use tagmmu::testbed::Testbed;

/// Bytes per record.
pub const RECORD: u64 = 48;

/// Copies `len / RECORD` records to the user buffer at `ubuf`.
pub struct RecordCopy {
    ubuf: u64,
    len: u64,
    /// Records copied.
    done: u64,
    /// Fault in with `fault_in_subpage_writeable` (the fix) rather than `fault_in_writeable`.
    subpage: bool,
}

impl KernelLoop for RecordCopy {
    fn id(&self) -> &'static str {
        "record_copy"
    }

    fn title(&self) -> String {
        format!("record_copy ({})", if self.subpage { "fault_in_subpage_writeable" } else { "fault_in_writeable" })
    }

    fn position_name(&self) -> &'static str {
        "bytes copied"
    }

    fn position(&self) -> u64 {
        self.done * RECORD
    }

    fn step(&mut self, k: &mut Kernel, log: &mut Vec<LoopEvent>) -> PassEnd {
        let at = self.ubuf.wrapping_add(self.done * RECORD);
        let rest = self.len - self.done * RECORD;
        if rest < RECORD {
            return PassEnd::Done((self.done * RECORD) as i64);
        }
        // Fault the rest of the buffer in (with page faults enabled), as search_ioctl does.
        let ctx = k.uaccess;
        let (func, left) = if self.subpage {
            let (probe, tags) = (k.subpage_probe(), k.tags_supported());
            (FaultInFn::SubpageWriteable, fault_in::fault_in_subpage_writeable(&mut k.mm, ctx, probe, tags, at, rest))
        } else {
            (FaultInFn::Writeable, fault_in::fault_in_writeable(&mut k.mm, ctx, at, rest))
        };
        log.push(LoopEvent::FaultIn { func, start: at, len: rest, result: left as i64 });
        if left != 0 {
            return PassEnd::Done(-Errno::EFAULT.generic());
        }
        // Copy one record with page faults disabled; on a fault, retry the same record.
        let record = vec![0xab; RECORD as usize];
        let nofault = UaccessCtx { pagefault_disabled: true, ..ctx };
        let ok = uaccess::copy_to_user_nofault(&mut k.mm, nofault, UserAddr(at), &record).is_ok();
        let copied =
            if ok { RECORD } else { uaccess::accessible(&mut k.mm, nofault, UserAddr(at), RECORD, Access::Write) };
        let fault = (!ok).then(|| FaultSite::at(&k.mm, nofault, at.wrapping_add(copied), Access::Write));
        log.push(LoopEvent::Copy {
            func: "copy_to_user_nofault".into(),
            what: format!("record {}", self.done),
            dir: CopyDir::ToUser,
            start: at,
            len: RECORD,
            copied,
            fault,
        });
        if ok {
            self.done += 1;
        }
        PassEnd::Continue
    }

    fn state(&self) -> Vec<u8> {
        self.done.to_le_bytes().to_vec()
    }

    fn user_ranges(&self) -> Vec<(u64, u64)> {
        vec![(self.ubuf, self.len)]
    }
}

/// Check `RecordCopy` over a 5-record buffer on arm64 MTE (sync) with Linux 6.18.
pub fn check_record_copy(subpage: bool) -> CheckOutcome {
    let cfg = CheckConfig {
        testbed: Testbed::arm64("6.18".parse().expect("a modelled kernel")),
        len: 5 * RECORD,
        offset: 4096 - 3 * RECORD,
        loop_budget: 10_000,
        max_points: 100_000,
    };
    check(&cfg, &|_k, ubuf, len| Box::new(RecordCopy { ubuf, len, done: 0, subpage }))
}

fn main() {
    println!("== record_copy with fault_in_writeable():");
    print!("{}", check_record_copy(false).describe());
    println!("== record_copy with fault_in_subpage_writeable():");
    print!("{}", check_record_copy(true).describe());
}
