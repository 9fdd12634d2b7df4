//! The stopped CPU's PC and general registers, read and written in QEMU's `CPUARMState`
//! directly, for the hooks' hot paths.
//!
//! Each emulated tag instruction reads its PC and two or three registers. Through
//! `uc_reg_read`/`uc_reg_write` each access went through Unicorn's register switch, and the
//! register reads alone were about 4 % of the tagged heap benchmark. The fields are those
//! Unicorn's own accessors use (`xregs[0..=30]`, `xregs[31]` for SP in AArch64 state, `pc`),
//! at offsets from a build-time probe compiled against the patched QEMU headers
//! (`build_support/arm64_tlb_offsets.c`). Registers written here from an interrupt hook are
//! seen by the code after it: QEMU reloads the guest registers after an exception, and after
//! the inline undefined-instruction helper (Unicorn patch 0008, which declares no call flags).

use unicorn_engine::Unicorn;

use crate::emu::soft_tlb::arm64_offsets as o;

/// The CPU's `CPUARMState`, once the engine has a CPU.
fn env<D>(uc: &Unicorn<D>) -> Option<*mut u8> {
    // SAFETY: `uc` is the live engine; `engine_cpu` reads its `cpu` field.
    let cpu = unsafe { crate::emu::backend::engine_cpu(uc.get_handle()) }?;
    // SAFETY: the CPUState's `env_ptr` is at the probed offset and points at the CPU's env.
    let env = unsafe { *(cpu.add(o::CPU_ENV_PTR) as *const *mut u8) };
    (!env.is_null()).then_some(env)
}

/// The offset in `CPUARMState` of X`n` (`n` = 31: SP).
fn xreg_offset(n: u8) -> usize {
    o::ENV_XREGS + 8 * usize::from(n.min(31))
}

/// The PC, or None when the engine has no CPU yet.
pub(super) fn pc<D>(uc: &Unicorn<D>) -> Option<u64> {
    // SAFETY: the env holds the 64-bit PC at the probed offset; the CPU is stopped in a hook
    // or between runs, on this thread.
    env(uc).map(|e| unsafe { std::ptr::read_unaligned(e.add(o::ENV_PC) as *const u64) })
}

/// Set the PC. False when the engine has no CPU yet. From inside an interrupt hook, the CPU
/// goes on there (no `uc_reg_write`, which would make Unicorn leave its CPU loop).
pub(super) fn set_pc<D>(uc: &mut Unicorn<D>, pc: u64) -> bool {
    match env(uc) {
        Some(e) => {
            // SAFETY: as for `pc`; the CPU is not running, so nothing else writes the field.
            unsafe { std::ptr::write_unaligned(e.add(o::ENV_PC) as *mut u64, pc) };
            true
        }
        None => false,
    }
}

/// X`n` (`n` = 31: SP), or None when the engine has no CPU yet.
pub(super) fn x<D>(uc: &Unicorn<D>, n: u8) -> Option<u64> {
    // SAFETY: `xregs` is an array of 32 u64 at the probed offset; as for `pc`.
    env(uc).map(|e| unsafe { std::ptr::read_unaligned(e.add(xreg_offset(n)) as *const u64) })
}

/// Write X`n` (`n` = 31: SP). False when the engine has no CPU yet.
pub(super) fn set_x<D>(uc: &mut Unicorn<D>, n: u8, v: u64) -> bool {
    match env(uc) {
        Some(e) => {
            // SAFETY: as for `x`; the CPU is not running, so nothing else writes the field.
            unsafe { std::ptr::write_unaligned(e.add(xreg_offset(n)) as *mut u64, v) };
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicorn_engine::{Arch, Mode, RegisterARM64};

    /// The direct accesses agree with Unicorn's register accessors.
    #[test]
    fn the_direct_registers_are_unicorns() {
        let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).unwrap();
        // The CPU exists once the engine has been set up by a first register access.
        uc.reg_write(RegisterARM64::X5, 0x55).unwrap();
        uc.reg_write(RegisterARM64::SP, 0x7fff_0000).unwrap();
        uc.reg_write(RegisterARM64::PC, 0x40_1000).unwrap();
        assert_eq!(x(&uc, 5), Some(0x55));
        assert_eq!(x(&uc, 31), Some(0x7fff_0000), "X31 is SP");
        assert_eq!(pc(&uc), Some(0x40_1000));
        assert!(set_x(&mut uc, 7, 0x77));
        assert!(set_x(&mut uc, 31, 0x7ffe_0000));
        assert_eq!(uc.reg_read(RegisterARM64::X7).unwrap(), 0x77);
        assert_eq!(uc.reg_read(RegisterARM64::SP).unwrap(), 0x7ffe_0000);
        assert_eq!(uc.reg_read(RegisterARM64::X30).unwrap(), 0);
        assert!(set_x(&mut uc, 30, 0x30));
        assert_eq!(uc.reg_read(RegisterARM64::X30).unwrap(), 0x30);
    }
}
