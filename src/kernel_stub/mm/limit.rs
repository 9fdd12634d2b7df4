//! The guest's memory limit: how much address space its mappings may reserve in total
//! (`mmap`, `brk`, shared memory and the loaded image all count; past it they fail with
//! ENOMEM, as with an exhausted `vm.overcommit` or `RLIMIT_AS`).
//!
//! The default is the host's RAM (MemTotal in /proc/meminfo), at most 64 GiB: a guest cannot
//! reserve more than the machine running it has. `--memory` / `machine.memory` set it.

use super::phys::DEFAULT_MEMORY_BUDGET;

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

    #[test]
    fn the_default_follows_the_host_ram() {
        assert_eq!(mem_total("MemTotal:       24567890 kB\nMemFree: 1 kB\n"), Some(24567890 * 1024));
        assert_eq!(mem_total("nothing"), None);
        let d = default_memory_limit();
        assert!(d > 0 && d <= DEFAULT_MEMORY_BUDGET);
    }
}
