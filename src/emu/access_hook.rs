//! A memory hook that can abandon an access precisely.
//!
//! A tag check fault must leave the faulting load or store unperformed and the PC on it, with
//! nothing after it executed. Unicorn calls memory hooks from inside QEMU's load/store helpers
//! after restoring the accessing instruction's state (`cpu_restore_state`), but a hook can only
//! return "go on". Stopping the engine there (`uc_emu_stop`) still performs the access; QEMU's
//! `cpu_loop_exit` leaves the helper before it does (a `siglongjmp` back into the CPU loop).
//! That jump must not cross Rust frames, so the hook Unicorn calls is a small C function
//! (`build_support/tag_check_hook.c`): it calls the Rust check, and jumps only after the check
//! has returned. The check never unwinds (panics are caught and become the run's error, with
//! the access abandoned so the run stops).
//!
//! (Before this, a fault took the alias region's permissions away from inside the hook so that
//! Unicorn's own permission re-check abandoned the access. That needs one Unicorn region per
//! tag-checked segment; with all guest memory in one region, changing a sub-range's
//! permissions splits the region, which costs a TLB flush per page of the whole region.)

use std::ffi::{c_int, c_void};

use unicorn_engine::{HookType, Unicorn};
use unicorn_engine_sys::{uc_engine, uc_error, uc_hook};

use crate::emu::EmuError;

/// The hook's data, as the C side reads it (`struct tagmmu_check_hook`).
#[repr(C)]
struct RawHook {
    check: extern "C" fn(uc: *mut uc_engine, user: *mut c_void, ty: c_int, addr: u64, size: c_int) -> c_int,
    user: *mut c_void,
    uc_cpu_offset: usize,
    loop_exit: unsafe extern "C" fn(cpu: *mut c_void),
}

extern "C" {
    fn tagmmu_check_hook(uc: *mut uc_engine, ty: c_int, addr: u64, size: c_int, value: i64, data: *mut c_void) -> bool;
    fn cpu_loop_exit_aarch64(cpu: *mut c_void);
    fn cpu_loop_exit_sparc64(cpu: *mut c_void);
}

/// Which target's `cpu_loop_exit` the engine needs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Arm64,
    Sparc64,
}

/// What the check decided about one access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let the access happen.
    Allow,
    /// Do not perform it; stop the engine with the PC on the accessing instruction.
    Abandon,
}

/// An installed precise hook. Owns the data the C hook reads; keep it as long as the engine
/// (drop it only after the engine is closed, or never).
pub(crate) struct PreciseHook {
    _raw: Box<RawHook>,
}

/// A check: given the engine, the user data, whether it is a store, the physical address and
/// the size, the verdict. Must not panic (wrap the body in `guard::catch`).
pub(crate) type Check =
    extern "C" fn(uc: *mut uc_engine, user: *mut c_void, ty: c_int, addr: u64, size: c_int) -> c_int;

/// Install `check` as a MEM_READ|MEM_WRITE hook on physical `[begin, end]` of `uc`, with
/// `user` as its data. `user` must stay valid as long as the engine (the engine's own guest
/// data is).
pub(crate) fn install<D>(
    uc: &mut Unicorn<D>,
    target: Target,
    begin: u64,
    end: u64,
    check: Check,
    user: *mut c_void,
) -> Result<PreciseHook, EmuError> {
    let loop_exit: unsafe extern "C" fn(*mut c_void) = match target {
        Target::Arm64 => cpu_loop_exit_aarch64,
        Target::Sparc64 => cpu_loop_exit_sparc64,
    };
    let mut raw =
        Box::new(RawHook { check, user, uc_cpu_offset: crate::emu::sparc64::cpu::offsets::UC_CPU, loop_exit });
    let data: *mut RawHook = &mut *raw;
    let mut hh: uc_hook = 0;
    // SAFETY: `tagmmu_check_hook` has the signature of uc_cb_hookmem_t; its data is the boxed
    // `RawHook`, whose address does not change when the box moves and which the returned
    // `PreciseHook` keeps alive (the caller keeps that as long as the engine). `UC_CPU` is the
    // offset of `cpu` in `struct uc_struct`, which is the same for every target of the build.
    let err = unsafe {
        unicorn_engine_sys::uc_hook_add(
            uc.get_handle(),
            &mut hh,
            (HookType::MEM_READ | HookType::MEM_WRITE).0 as i32,
            tagmmu_check_hook as *mut c_void,
            data.cast(),
            begin,
            end,
        )
    };
    if err != uc_error::OK {
        return Err(EmuError::Unicorn { op: "add tag check hook", err });
    }
    Ok(PreciseHook { _raw: raw })
}

/// Is a hook's access type a store?
pub(crate) fn is_store(ty: c_int) -> bool {
    ty == unicorn_engine_sys::MemType::WRITE as c_int
}
