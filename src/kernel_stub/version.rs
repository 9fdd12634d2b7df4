//! The Linux version whose behaviour the kernel stub models.

use std::fmt;
use std::str::FromStr;

/// A kernel version such as 5.16 or 5.19.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl Default for KernelVersion {
    fn default() -> Self {
        KernelVersion { major: 5, minor: 19 }
    }
}

impl KernelVersion {
    /// The `uname -r` string.
    pub fn release(self) -> String {
        format!("{}.{}.0-tagmmu", self.major, self.minor)
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A kernel version string that is not `MAJOR.MINOR`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid kernel version {0:?}: expected MAJOR.MINOR such as 5.19")]
pub struct BadVersion(pub String);

impl FromStr for KernelVersion {
    type Err = BadVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion(s.to_string());
        let (a, b) = s.trim().split_once('.').ok_or_else(bad)?;
        Ok(KernelVersion { major: a.parse().map_err(|_| bad())?, minor: b.parse().map_err(|_| bad())? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        let v: KernelVersion = "5.16".parse().unwrap();
        assert!(v < KernelVersion::default());
        assert_eq!(v.release(), "5.16.0-tagmmu");
        assert!("5".parse::<KernelVersion>().is_err());
        assert!("x.y".parse::<KernelVersion>().is_err());
    }
}
