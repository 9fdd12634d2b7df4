//! Trace events: what the kernel stub and the CPU backend record while a guest runs.

use std::io::Write;

/// One traced event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceEvent {
    /// A syscall with its decoded arguments and result.
    Syscall {
        /// The syscall number as the guest passed it.
        nr: u64,
        /// Its name (`"unknown"` if tagmmu does not model it).
        name: String,
        /// Arguments, decoded (`"3, \"/tmp/x\", O_RDONLY"`).
        args: String,
        /// The raw return value as Linux would give it (negative errno on failure).
        ret: i64,
        /// The return value decoded (`"-1 ENOENT"`).
        result: String,
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
}

impl TraceEvent {
    /// One line, as `--trace` prints it.
    pub fn line(&self) -> String {
        match self {
            TraceEvent::Syscall { name, args, result, .. } => format!("{name}({args}) = {result}"),
            TraceEvent::Signal { signo, si_code, addr, action } => {
                let a = addr.map(|a| format!(" si_addr={a:#x}")).unwrap_or_default();
                format!(
                    "--- {} {{si_code={}{a}}} {action} ---",
                    crate::kernel_stub::signal::signal_name(*signo),
                    crate::kernel_stub::signal::code_name(*signo, *si_code)
                )
            }
            TraceEvent::Insn { pc, text } => format!("{pc:#014x}: {text}"),
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
}

impl Trace {
    /// Record an event.
    pub fn emit(&mut self, ev: TraceEvent) {
        if self.print {
            let _ = writeln!(std::io::stderr(), "[tagmmu] {}", ev.line());
        }
        if self.keep {
            self.events.push(ev);
        }
    }
    /// The events kept so far.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }
    /// Take the kept events.
    pub fn take(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.events)
    }
    /// Is anything enabled?
    pub fn active(&self) -> bool {
        (self.syscalls || self.insns) && (self.print || self.keep)
    }
}
