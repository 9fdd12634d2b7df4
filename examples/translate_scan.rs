//! Translate and run every AArch64 encoding of a family on a bare, patched Unicorn engine:
//! bits 31:21 and 15:10 take every value (131,072 words), the register fields (20:16, 9:5,
//! 4:0) are fixed by the optional hex mask given as the third argument. A word that makes
//! Unicorn's translator abort the host process (QEMU 5.0's `g_assert_not_reached()`, as the
//! FP16 encodings of Unicorn patch 0009 did) kills this process; the word being tried is
//! always in `/tmp/translate_scan_current` ("index word"), so a driver can record it and go
//! on from the next index.
//!
//! `cargo run --release --example translate_scan -- 0 131072 1f03ff`
//! (the stop-26 run of four masks, 0, 1f03ff, 0a0145 and 1a0307, found no abort; the stop-27
//! run of every Rm value, masks `rm << 16 | 22`, found the FP16 two-register misc aborts of
//! Unicorn patch 0012 at Rm 0x18 and 0x19, and none after it).

use unicorn_engine::{Arch, Arm64CpuModel, Mode, Prot, RegisterARM64, Unicorn};

const CODE: u64 = 0x10_000;
const SLOTS: u64 = 0x40_000;
const DATA: u64 = 0x200_0000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64, radix: u32| {
        args.get(i).map_or(default, |a| u64::from_str_radix(a, radix).unwrap_or_else(|e| panic!("argument {a}: {e}")))
    };
    let (start, end, regs) = (arg(0, 0, 10), arg(1, 1 << 17, 10).min(1 << 17), arg(2, 0, 16) as u32 & 0x1f_03ff);
    let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).expect("open an engine");
    uc.ctl_set_cpu_model(Arm64CpuModel::MAX as i32).expect("set the CPU model");
    uc.mem_map(CODE, SLOTS * 4, Prot::ALL).expect("map code");
    uc.mem_map(DATA, 0x10_000, Prot::ALL).expect("map data");
    uc.add_intr_hook(|uc, _| {
        let _ = uc.emu_stop();
    })
    .expect("add the interrupt hook");
    let current = std::path::Path::new("/tmp/translate_scan_current");
    for k in start..end {
        let w = ((k >> 6) as u32 & 0x7ff) << 21 | (k as u32 & 0x3f) << 10 | regs;
        // A fresh slot for each word (until they wrap), so no translation is reused.
        let slot = CODE + (k % SLOTS) * 4;
        std::fs::write(current, format!("{k} {w:08x}")).expect("record the current word");
        uc.mem_write(slot, &w.to_le_bytes()).expect("write the word");
        for r in 0..29 {
            let _ = uc.reg_write(RegisterARM64::X0 as i32 + r, DATA + 0x8000);
        }
        let _ = uc.reg_write(RegisterARM64::SP, DATA + 0x8000);
        // Faults, exceptions and stops are all fine: only an abort matters.
        let _ = uc.emu_start(slot, slot + 4, 0, 1);
    }
    println!("translated and ran words {start}..{end} with register fields {regs:#x}: no abort");
}
