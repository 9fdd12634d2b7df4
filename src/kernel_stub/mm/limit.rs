//! The guest's memory: how much RAM the modelled machine has, and how mappings are charged
//! against it (Linux's `vm.overcommit_memory`).
//!
//! The machine's RAM defaults to the host's (MemTotal in /proc/meminfo), at most 64 GiB:
//! a guest cannot use more than the machine running it has. `--memory` / `machine.memory` set
//! it. The modelled machine has no swap. Two limits follow from it, as in Linux:
//! - **commit** (`__vm_enough_memory`, at mmap, brk, shmget, fork): with `heuristic` (mode 0,
//!   Linux's default) a single accountable request larger than RAM fails with ENOMEM and any
//!   other succeeds; with `always` (1) none fails; with `never` (2) the accountable total
//!   (Committed_AS) may not pass RAM x `vm.overcommit_ratio` (50 %) + swap (none). Accountable
//!   are private writable mappings and shared anonymous ones, unless MAP_NORESERVE (which mode
//!   2 ignores), the brk heap's growth, SysV shared memory and the copies fork makes. Not
//!   modelled: the root and user reserves mode 2 subtracts (`admin_reserve_kbytes`,
//!   `user_reserve_kbytes`), and the charge when `mprotect` makes a private read-only mapping
//!   writable.
//! - **residency**: anonymous pages hold memory from their first touch until they are
//!   dropped (MADV_DONTNEED, munmap, brk shrinking, exit), evicted ones included (the
//!   machine has no swap of its own, so a page a scenario evicts keeps its RAM); when a fault
//!   would hold more than RAM, the OOM killer kills the faulting process with SIGKILL (and
//!   says so in a notice, as the kernel log would). `fork` copies private memory at once
//!   (Linux shares it copy-on-write): when the copies do not fit, fork fails with ENOMEM. So
//!   the host never holds more guest memory than the machine's RAM. Linux picks the process with the
//!   largest footprint; tagmmu kills the one that faulted (the same when one process holds
//!   the memory, which is what a scenario usually has). Reservations whatever the mode stay
//!   within the modelled physical address space (the arena, half of it): beyond, ENOMEM.

use std::str::FromStr;

use super::phys::DEFAULT_MEMORY_BUDGET;

/// Linux's `vm.overcommit_memory`: how reservations are charged against the machine's RAM
/// (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overcommit {
    /// Mode 0 (`OVERCOMMIT_GUESS`, the default): only a single accountable request larger
    /// than RAM + swap fails.
    #[default]
    Heuristic,
    /// Mode 1 (`OVERCOMMIT_ALWAYS`): no request fails for lack of memory.
    Always,
    /// Mode 2 (`OVERCOMMIT_NEVER`): the accountable total may not pass RAM x
    /// [`OVERCOMMIT_RATIO`] % + swap.
    Never,
}

/// `vm.overcommit_ratio`'s default: the share of RAM (in %) mode 2 lets be committed.
pub const OVERCOMMIT_RATIO: u64 = 50;

impl Overcommit {
    /// Whether `len` more accountable bytes may be committed, with `committed` already, on a
    /// machine of `ram` bytes and no swap.
    pub fn allows(self, committed: u64, len: u64, ram: u64) -> bool {
        match self {
            Overcommit::Always => true,
            Overcommit::Heuristic => len <= ram,
            Overcommit::Never => {
                let limit = u128::from(ram) * u128::from(OVERCOMMIT_RATIO) / 100;
                u128::from(committed) + u128::from(len) <= limit
            }
        }
    }
}

impl FromStr for Overcommit {
    type Err = String;
    /// `heuristic`, `always` or `never`, or the sysctl's value 0, 1 or 2.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "heuristic" | "0" => Ok(Overcommit::Heuristic),
            "always" | "1" => Ok(Overcommit::Always),
            "never" | "2" => Ok(Overcommit::Never),
            other => Err(format!("{other:?} is not an overcommit mode (heuristic, always or never; or 0, 1, 2)")),
        }
    }
}

/// The default limit: the host's RAM, at most [`DEFAULT_MEMORY_BUDGET`] (64 GiB); 64 GiB when
/// the host's RAM cannot be read.
pub fn default_memory_limit() -> u64 {
    host_ram().map_or(DEFAULT_MEMORY_BUDGET, |ram| ram.min(DEFAULT_MEMORY_BUDGET))
}

/// The host's RAM in bytes (MemTotal).
fn host_ram() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    mem_total(&text)
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Parse a size: a number of bytes, or a number with a binary suffix K, M, G or T (also KiB,
/// MB...: all binary), such as `512M` or `2G`. Zero and sizes past 2^64 are errors.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{text:?} is not a size (bytes, or a number with K, M, G or T)"))?;
    let shift = match suffix.trim().to_ascii_uppercase().trim_end_matches('B').trim_end_matches('I') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("{text:?}: unknown size suffix {suffix:?} (K, M, G or T)")),
    };
    let bytes = n.checked_mul(1u64 << shift).ok_or_else(|| format!("{text:?} is past 2^64 bytes"))?;
    if bytes == 0 {
        return Err(format!("{text:?}: the memory limit must be more than zero"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("3GiB"), Ok(3 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert!(parse_size("0").unwrap_err().contains("more than zero"));
        assert!(parse_size("12X").unwrap_err().contains("suffix"));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("99999999999T").unwrap_err().contains("2^64"));
    }

    /// `__vm_enough_memory` (mm/util.c, 5.8 and later): mode 0 refuses only a request larger
    /// than RAM + swap, mode 1 nothing, mode 2 past RAM x 50 % + swap in total.
    #[test]
    fn the_overcommit_modes_charge_as_linux() {
        let ram = 64 << 20;
        assert!(Overcommit::Heuristic.allows(10 * ram, ram, ram), "the total does not matter");
        assert!(!Overcommit::Heuristic.allows(0, ram + 4096, ram));
        assert!(Overcommit::Always.allows(u64::MAX, u64::MAX, ram));
        assert!(Overcommit::Never.allows(0, ram / 2, ram));
        assert!(!Overcommit::Never.allows(4096, ram / 2, ram));
        assert_eq!("never".parse(), Ok(Overcommit::Never));
        assert_eq!("1".parse(), Ok(Overcommit::Always));
        assert_eq!(Overcommit::default(), Overcommit::Heuristic);
        assert!("sometimes".parse::<Overcommit>().unwrap_err().contains("heuristic"));
    }

    #[test]
    fn the_default_follows_the_host_ram() {
        assert_eq!(mem_total("MemTotal:       24567890 kB\nMemFree: 1 kB\n"), Some(24567890 * 1024));
        assert_eq!(mem_total("nothing"), None);
        let d = default_memory_limit();
        assert!(d > 0 && d <= DEFAULT_MEMORY_BUDGET);
    }
}
