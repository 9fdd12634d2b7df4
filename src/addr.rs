//! Address newtypes shared by every layer.

use std::fmt;

/// A guest virtual address as user space passed it: it may carry a tag in its top bits
/// (bits 59:56 for arm64 MTE, 63:60 for SPARC ADI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UserAddr(pub u64);

impl UserAddr {
    /// The raw 64-bit value.
    pub fn raw(self) -> u64 {
        self.0
    }
    /// The address `n` bytes further on (wrapping, as pointer arithmetic in the guest would).
    pub fn wrapping_add(self, n: u64) -> UserAddr {
        UserAddr(self.0.wrapping_add(n))
    }
}

impl fmt::Display for UserAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::LowerHex for UserAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// A guest "physical" address: where a page of the kernel stub's physical memory is mapped
/// in the CPU backend's physical address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub u64);

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pa:{:#x}", self.0)
    }
}
