//! The Linux versions whose behaviour the kernel stub models, and what each one does.
//!
//! tagmmu models a fixed list of releases ([`KNOWN`]): every fault-in + uaccess loop has a
//! code path chosen per release, and a version tagmmu has not read the sources of would run
//! *silently wrong*, so any other version is refused with the list. The code paths each
//! release selects are written down beside each loop (with the commits that changed them);
//! this module only names the releases and the cut-over points that several loops share.

use std::fmt;
use std::str::FromStr;

/// A kernel version such as 5.16 or 6.12.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

/// The releases tagmmu models, oldest first: the fault-in API change (5.16), the
/// `fault_in_safe_writeable` rewrite (5.18), the sub-page fix (5.19), the long-term releases
/// 6.1, 6.6, 6.12, 6.14 (generic_perform_write faults in only after a copy
/// made no progress: Dave Hansen's 665575cff098, merged for 6.14), 6.17 (MTE store-only mode) and 6.18.
pub const KNOWN: &[KernelVersion] = &[
    KernelVersion::new(5, 15),
    KernelVersion::new(5, 16),
    KernelVersion::new(5, 17),
    KernelVersion::new(5, 18),
    KernelVersion::new(5, 19),
    KernelVersion::new(6, 1),
    KernelVersion::new(6, 6),
    KernelVersion::new(6, 12),
    KernelVersion::new(6, 14),
    KernelVersion::new(6, 17),
    KernelVersion::new(6, 18),
];

impl Default for KernelVersion {
    fn default() -> Self {
        KernelVersion { major: 5, minor: 19 }
    }
}

impl KernelVersion {
    /// The version `major.minor`.
    pub const fn new(major: u32, minor: u32) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// The `uname -r` string.
    pub fn release(self) -> String {
        format!("{}.{}.0-tagmmu", self.major, self.minor)
    }

    /// Is this release `major.minor` or later?
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// The known versions as one string, for messages and `--help`.
    pub fn known_list() -> String {
        KNOWN.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A kernel version string that is not `MAJOR.MINOR`, or a version tagmmu does not model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadVersion {
    /// Not `MAJOR.MINOR`.
    #[error("invalid kernel version {0:?}: expected MAJOR.MINOR, one of {list}", list = KernelVersion::known_list())]
    Syntax(String),
    /// A version whose code paths tagmmu has not modelled.
    #[error("kernel version {0} is not modelled: tagmmu models {list}", list = KernelVersion::known_list())]
    Unknown(String),
}

impl FromStr for KernelVersion {
    type Err = BadVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion::Syntax(s.to_string());
        let (a, b) = s.trim().split_once('.').ok_or_else(bad)?;
        let v = KernelVersion { major: a.parse().map_err(|_| bad())?, minor: b.parse().map_err(|_| bad())? };
        if !KNOWN.contains(&v) {
            return Err(BadVersion::Unknown(v.to_string()));
        }
        Ok(v)
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
        assert!(matches!("5".parse::<KernelVersion>(), Err(BadVersion::Syntax(_))));
        assert!("x.y".parse::<KernelVersion>().is_err());
        assert!("6.18".parse::<KernelVersion>().unwrap().at_least(6, 14));
        assert!(!"6.12".parse::<KernelVersion>().unwrap().at_least(6, 14));
    }

    #[test]
    fn unknown_versions_are_refused_with_the_list() {
        let e = "5.10".parse::<KernelVersion>().unwrap_err();
        assert_eq!(e, BadVersion::Unknown("5.10".into()));
        let msg = e.to_string();
        assert!(msg.contains("5.15, 5.16, 5.17, 5.18, 5.19, 6.1, 6.6, 6.12, 6.14, 6.17, 6.18"), "{msg}");
        assert!(KNOWN.windows(2).all(|w| w[0] < w[1]), "oldest first");
        assert!(KNOWN.contains(&KernelVersion::default()));
    }
}
