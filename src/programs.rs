//! The guest programs built from `programs/` by the build script.

use std::path::PathBuf;

/// Where the build put the guest programs (`<dir>/<arch>/<name>`).
pub fn guest_dir() -> PathBuf {
    PathBuf::from(env!("TAGMMU_GUEST_DIR"))
}

/// The built guest program `name` (`"arm64/hello"`), or an error that says how to build it.
pub fn guest_program(name: &str) -> Result<PathBuf, String> {
    let p = guest_dir().join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "guest program {name} was not built (looked for {}): install the cross compilers (`make setup`) and rebuild",
            p.display()
        ))
    }
}
