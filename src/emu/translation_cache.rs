//! The host memory an engine may use for translated code. QEMU sizes its code buffer at the
//! engine's first use, 1 GiB on a 64-bit host (`DEFAULT_CODE_GEN_BUFFER_SIZE`), touched as
//! code is translated and flushed whole when full. A guest that keeps making new code (a JIT,
//! self-modifying code, the instruction-stream fuzz harness: 1 GiB resident per machine in
//! a long `insns_arm64` run) would grow the host by that much per machine, outside every
//! guest limit. tagmmu gives each engine [`CODE_BUFFER_BYTES`]: when it is full QEMU flushes
//! every translation and goes on.

use unicorn_engine::Unicorn;
use unicorn_engine_sys::{uc_error, ControlType};

use crate::emu::EmuError;

/// Bytes of translated code one engine may hold: 256 MiB (QEMU itself settles for 32 MiB on
/// a 32-bit host).
pub const CODE_BUFFER_BYTES: u32 = 256 << 20;

/// `UC_CTL_{READ,WRITE}(UC_CTL_TCG_BUFFER_SIZE, 1)`.
fn control(write: bool) -> ControlType {
    let io = if write { ControlType::IO_WRITE } else { ControlType::IO_READ };
    ControlType(ControlType::TCG_BUFFER_SIZE.0 | (1 << 26) | io.0)
}

/// Bound the translation cache of an engine that has not been used yet (its first register
/// or memory operation creates the CPU, and the buffer with it).
pub(crate) fn bound<D>(uc: &mut Unicorn<D>) -> Result<(), EmuError> {
    // SAFETY: a live engine handle; the control takes a uint32_t, passed by value (an unsigned
    // 32-bit variadic argument).
    let err = unsafe { unicorn_engine_sys::uc_ctl(uc.get_handle(), control(true), CODE_BUFFER_BYTES) };
    match err {
        uc_error::OK => Ok(()),
        err => Err(EmuError::Unicorn { op: "bound the translation cache", err }),
    }
}

/// The size of an engine's translation cache (creating its CPU if it has none yet).
#[cfg(test)]
pub(crate) fn size<D>(uc: &Unicorn<D>) -> Result<u32, EmuError> {
    let mut size: u32 = 0;
    // SAFETY: a live engine handle; the control writes one uint32_t through the pointer,
    // which points at `size` for the duration of the call.
    let err = unsafe { unicorn_engine_sys::uc_ctl(uc.get_handle(), control(false), &mut size as *mut u32) };
    match err {
        uc_error::OK => Ok(size),
        err => Err(EmuError::Unicorn { op: "read the translation cache size", err }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_engine_gets_the_bound_and_an_unbounded_one_qemus_gigabyte() {
        for (arch, mode) in [
            (unicorn_engine::Arch::ARM64, unicorn_engine::Mode::ARM),
            (unicorn_engine::Arch::SPARC, unicorn_engine::Mode::SPARC64 | unicorn_engine::Mode::BIG_ENDIAN),
        ] {
            let mut uc = Unicorn::new(arch, mode).unwrap();
            bound(&mut uc).unwrap();
            assert_eq!(size(&uc).unwrap(), CODE_BUFFER_BYTES, "{arch:?}");
            let plain = Unicorn::new(arch, mode).unwrap();
            assert_eq!(size(&plain).unwrap(), 1 << 30, "{arch:?}: QEMU's default");
        }
    }
}
