//! The Unicorn build tagmmu links: unicorn-engine-sys 2.1.5 with the patch queue of
//! `build_support/unicorn/` (its README says what each patch changes and why), built by
//! `scripts/build-unicorn.sh`. The library reports its queue (patch 0000); a machine is only
//! opened on a library whose queue is the one this tagmmu was built with, so an edited queue
//! that was not rebuilt is an error, not a silently different engine.

use std::ffi::{c_char, CStr};
use std::sync::OnceLock;

use super::EmuError;

extern "C" {
    /// Patch 0000: the queue's file names, one per line, in a static string.
    fn uc_tagmmu_patches() -> *const c_char;
}

/// The patches the linked library was built with, in order.
pub fn linked_patches() -> Vec<String> {
    // SAFETY: patch 0000 defines the function; it takes nothing and returns a pointer to a
    // NUL-terminated string literal, valid for the life of the process.
    let text = unsafe { CStr::from_ptr(uc_tagmmu_patches()) };
    text.to_string_lossy().lines().map(str::to_owned).collect()
}

/// The patches this tagmmu was built to run with (the files of `build_support/unicorn/`).
pub fn expected_patches() -> Vec<&'static str> {
    env!("TAGMMU_UNICORN_PATCHES").split_whitespace().collect()
}

/// `Ok` when the linked library carries exactly the expected queue (checked once).
pub fn check() -> Result<(), EmuError> {
    static VERDICT: OnceLock<Result<(), String>> = OnceLock::new();
    VERDICT
        .get_or_init(|| {
            let linked = linked_patches();
            if linked.iter().map(String::as_str).eq(expected_patches()) {
                Ok(())
            } else {
                Err(format!(
                    "the linked Unicorn carries the patches [{}], this tagmmu expects [{}]: rerun \
                     scripts/build-unicorn.sh (make setup) and rebuild",
                    linked.join(", "),
                    expected_patches().join(", ")
                ))
            }
        })
        .clone()
        .map_err(EmuError::EngineBuild)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_unicorn_carries_the_whole_patch_queue() {
        let linked = linked_patches();
        assert!(linked.len() >= 3, "{linked:?}");
        assert_eq!(linked[0], "0000-report-the-patch-queue.patch");
        check().unwrap();
    }
}
