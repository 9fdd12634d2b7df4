//! The guest architectures tagmmu runs.

use std::fmt;

/// A guest architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// AArch64 (little-endian), 4 KiB pages, MTE.
    Arm64,
    /// SPARC V9 64-bit (big-endian), 8 KiB pages, ADI.
    Sparc64,
}

impl Arch {
    /// Page size of the modelled Linux configuration.
    pub fn page_size(self) -> u64 {
        match self {
            Arch::Arm64 => 4096,
            Arch::Sparc64 => 8192,
        }
    }
    /// Big-endian?
    pub fn big_endian(self) -> bool {
        matches!(self, Arch::Sparc64)
    }
    /// `uname -m`.
    pub fn machine(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64",
            Arch::Sparc64 => "sparc64",
        }
    }
    /// The `AT_PLATFORM` string, if the architecture reports one (sparc64's `ELF_PLATFORM`
    /// is NULL: no AT_PLATFORM entry).
    pub fn platform(self) -> Option<&'static str> {
        match self {
            Arch::Arm64 => Some("aarch64"),
            Arch::Sparc64 => None,
        }
    }
    /// The ELF `e_machine` value.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::Arm64 => goblin::elf::header::EM_AARCH64,
            Arch::Sparc64 => goblin::elf::header::EM_SPARCV9,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::Arm64 => "arm64",
            Arch::Sparc64 => "sparc64",
        })
    }
}

/// Byte-order aware building of guest structs.
#[derive(Clone, Debug, Default)]
pub struct StructWriter {
    bytes: Vec<u8>,
    big: bool,
}

impl StructWriter {
    /// An empty struct in the byte order of `arch`.
    pub fn new(arch: Arch) -> StructWriter {
        StructWriter { bytes: Vec::new(), big: arch.big_endian() }
    }
    /// Append a u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.bytes.extend_from_slice(&b);
        self
    }
    /// Append a u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.bytes.extend_from_slice(&b);
        self
    }
    /// Append a u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        let b = if self.big { v.to_be_bytes() } else { v.to_le_bytes() };
        self.bytes.extend_from_slice(&b);
        self
    }
    /// Append raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(b);
        self
    }
    /// Append `n` zero bytes.
    pub fn pad(&mut self, n: usize) -> &mut Self {
        self.bytes.resize(self.bytes.len() + n, 0);
        self
    }
    /// A fixed-size, NUL-padded string field.
    pub fn cstr_field(&mut self, s: &str, size: usize) -> &mut Self {
        let b = s.as_bytes();
        let n = b.len().min(size - 1);
        self.bytes.extend_from_slice(&b[..n]);
        self.pad(size - n)
    }
    /// The bytes built.
    pub fn finish(&self) -> Vec<u8> {
        self.bytes.clone()
    }
    /// Current length.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    /// Nothing written yet?
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Read a u64 / u32 from guest bytes in the byte order of `arch`.
pub fn read_u64(arch: Arch, b: &[u8]) -> u64 {
    let a: [u8; 8] = b[..8].try_into().expect("8 bytes");
    if arch.big_endian() {
        u64::from_be_bytes(a)
    } else {
        u64::from_le_bytes(a)
    }
}

/// Read a u16 in the byte order of `arch`.
pub fn read_u16(arch: Arch, b: &[u8]) -> u16 {
    let a: [u8; 2] = b[..2].try_into().expect("2 bytes");
    if arch.big_endian() {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

/// Read a u32 in the byte order of `arch`.
pub fn read_u32(arch: Arch, b: &[u8]) -> u32 {
    let a: [u8; 4] = b[..4].try_into().expect("4 bytes");
    if arch.big_endian() {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}
