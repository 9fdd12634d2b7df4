use std::process::ExitCode;

use tagmmu::machine::{self, MachineConfig};
use tagmmu::kernel_stub::vfs::OutputSink;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = MachineConfig::new(&args[0]).args(args[1..].to_vec());
    cfg.kernel.stdout = OutputSink::Inherit;
    cfg.kernel.stderr = OutputSink::Inherit;
    if std::env::var("TAGMMU_DEBUG").is_ok() { cfg.trace.syscalls = true; cfg.trace.print = true; }
    match machine::run(&cfg) {
        Ok(r) => {
            for n in &r.notices { eprintln!("tagmmu: {n}"); }
            if let Some(l) = r.report_line() { eprintln!("{l}"); }
            ExitCode::from(r.exit_code() as u8)
        }
        Err(e) => { eprintln!("tagmmu: {e}"); ExitCode::from(1) }
    }
}
