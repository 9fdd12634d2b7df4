//! Trace events: what the kernel stub and the CPU backend record while a guest runs.

use std::io::Write;

/// One traced event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TraceEvent {
    /// A syscall with its decoded arguments and result.
    Syscall {
        /// The syscall number as the guest passed it.
        nr: u64,
        /// Its name in the architecture's syscall table, modelled or not (`"unknown"` only
        /// when no syscall has that number).
        name: String,
        /// Arguments, decoded (`"3, \"/tmp/x\", O_RDONLY"`).
        args: String,
        /// The raw return value as Linux would give it (negative errno on failure).
        ret: i64,
        /// The return value decoded (`"-1 ENOENT"`).
        result: String,
        /// The calling thread, when the process has more than one (strace's `[pid N]`).
        tid: Option<u32>,
    },
    /// A signal delivered to (or killing) the guest.
    Signal {
        /// Signal number.
        signo: u32,
        /// `si_code`.
        si_code: i32,
        /// Fault address (`si_addr`), if any.
        addr: Option<u64>,
        /// What happened.
        action: String,
    },
    /// One executed instruction (with `--trace insn`).
    Insn {
        /// Its address.
        pc: u64,
        /// Disassembly.
        text: String,
    },
    /// Events past [`KEEP_LIMIT`] that were not kept (always the last event).
    Dropped {
        /// How many.
        events: u64,
    },
}

/// The most events a trace keeps in memory for the result; later ones are counted, not kept
/// (a tracing guest in a loop must not exhaust the host).
pub const KEEP_LIMIT: usize = 1_000_000;

impl TraceEvent {
    /// One line, as `--trace` prints it.
    pub fn line(&self) -> String {
        match self {
            TraceEvent::Syscall { name, args, result, tid, .. } => {
                let who = tid.map(|t| format!("[tid {t}] ")).unwrap_or_default();
                format!("{who}{name}({args}) = {result}")
            }
            TraceEvent::Signal { signo, si_code, addr, action } => {
                let a = addr.map(|a| format!(" si_addr={a:#x}")).unwrap_or_default();
                format!(
                    "--- {} {{si_code={}{a}}} {action} ---",
                    crate::kernel_stub::signal::signal_name(*signo),
                    crate::kernel_stub::signal::code_name(*signo, *si_code)
                )
            }
            TraceEvent::Insn { pc, text } => format!("{pc:#014x}: {text}"),
            TraceEvent::Dropped { events } => {
                format!("... {events} more event(s) not kept (the trace keeps at most {KEEP_LIMIT})")
            }
        }
    }
}

/// What to trace and where the events go.
#[derive(Debug, Default)]
pub struct Trace {
    /// Record syscalls and signals.
    pub syscalls: bool,
    /// Record every instruction.
    pub insns: bool,
    /// Print each event to stderr as it happens.
    pub print: bool,
    /// Keep events in memory for the result.
    pub keep: bool,
    events: Vec<TraceEvent>,
    dropped: u64,
}

impl Trace {
    /// Record an event.
    pub fn emit(&mut self, ev: TraceEvent) {
        if self.print {
            let _ = writeln!(std::io::stderr(), "[tagmmu] {}", ev.line());
        }
        if self.keep {
            if self.events.len() < KEEP_LIMIT {
                self.events.push(ev);
            } else {
                self.dropped += 1;
            }
        }
    }
    /// The events kept so far.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }
    /// Take the kept events (ending with [`TraceEvent::Dropped`] when some were not kept).
    pub fn take(&mut self) -> Vec<TraceEvent> {
        let mut v = std::mem::take(&mut self.events);
        if self.dropped > 0 {
            v.push(TraceEvent::Dropped { events: std::mem::take(&mut self.dropped) });
        }
        v
    }
    /// Is anything enabled?
    pub fn active(&self) -> bool {
        (self.syscalls || self.insns) && (self.print || self.keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_trace_is_bounded_and_says_how_much_it_dropped() {
        let mut t = Trace { syscalls: true, keep: true, ..Default::default() };
        for pc in 0..(KEEP_LIMIT as u64 + 5) {
            t.emit(TraceEvent::Insn { pc, text: String::new() });
        }
        let v = t.take();
        assert_eq!(v.len(), KEEP_LIMIT + 1);
        assert_eq!(v.last(), Some(&TraceEvent::Dropped { events: 5 }));
        assert!(v.last().unwrap().line().contains("5 more event(s) not kept"));
    }
}
