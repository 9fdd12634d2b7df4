//! A kernel engineer's integration test, written against tagmmu's library: build a machine (from
//! a scenario file, then changed in code), run the real arm64 program, and assert what the
//! kernel loop must do on each kernel. A failed assertion prints the loop's narrative with the
//! tag map of every pass.
//!
//! Run it: `cargo run --example kernel_engineer` (tests/library.rs runs it too).

use std::path::Path;

use tagmmu::prelude::*;

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/btrfs-5.16-livelock.yaml");
    // The machine the scenario describes: the program, its btrfs mount, the MTE CPU.
    let mut cfg = scenario::load(&scenario)?.machine_config()?;

    // Before the fix: search_ioctl rewinds to the record's start and spins.
    cfg.kernel.version = "5.16".parse()?;
    let run = machine::run(&cfg)?;
    let stuck = assert_livelock(&run, "search_ioctl");
    let fault = stuck.fault.expect("the copy faulted");
    assert_eq!(fault.addr - stuck.ubuf_untagged, 8, "the bad granule starts 8 bytes in");
    assert_eq!(stuck.fault_in.map(|f| f.name()), Some("fault_in_writeable"));
    expect_signal(&run, "SIGKILL", None); // tagmmu's livelock action, not the kernel's
    println!("5.16: {}", stuck.reason);

    // Each fix: 5.19's fault_in_subpage_writeable() finds the granule: EFAULT, no spin.
    for version in ["5.19", "6.6", "6.18"] {
        cfg.kernel.version = version.parse()?;
        let run = machine::run(&cfg)?;
        let done = assert_progress(&run, "search_ioctl");
        assert_eq!(done.verdict, Verdict::Completed { ret: -14 }, "-EFAULT on {version}");
        println!("{version}: {}", done.reason);
    }
    Ok(())
}
