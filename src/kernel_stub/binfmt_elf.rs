//! ELF loading: parse and validate a static ELF64 executable (goblin) into an [`ElfImage`].
//!
//! Only static executables are supported (ET_EXEC, or ET_DYN without PT_INTERP, i.e.
//! static-pie). The image is plain data; the kernel stub's exec maps it.

use goblin::container::{Container, Ctx};
use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ET_DYN, ET_EXEC};
use goblin::elf::program_header::ProgramHeader;
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::Elf;

use crate::arch::Arch;
use crate::kernel_stub::mm::Prot;

/// Where a static-pie executable is loaded (arm64 `ELF_ET_DYN_BASE`, no randomisation).
pub const ET_DYN_BASE_ARM64: u64 = 0x0000_aaaa_aaaa_0000;
/// Where a static-pie executable is loaded on sparc64.
pub const ET_DYN_BASE_SPARC64: u64 = 0x0000_0100_0000_0000;

/// Why an executable cannot be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// The file does not start with the ELF magic.
    #[error("not an ELF file (no \\x7fELF magic)")]
    NotElf,
    /// ELF32 or an invalid class.
    #[error("wrong ELF class {0}: only 64-bit (ELFCLASS64) executables are supported")]
    WrongClass(u8),
    /// The byte order does not match the machine.
    #[error("wrong byte order for {machine}: expected {expected}")]
    WrongEndian {
        /// The machine the header names.
        machine: String,
        /// What that machine needs.
        expected: &'static str,
    },
    /// A machine tagmmu does not run.
    #[error("unsupported machine {found} (e_machine {code}): tagmmu runs EM_AARCH64 and EM_SPARCV9 executables")]
    WrongMachine {
        /// e_machine.
        code: u16,
        /// Its name.
        found: String,
    },
    /// The machine is supported but not the one requested.
    #[error("executable is for {found}, but the machine is {expected}")]
    ArchMismatch {
        /// The executable's architecture.
        found: Arch,
        /// The requested architecture.
        expected: Arch,
    },
    /// Not an executable (a relocatable object or core file).
    #[error("not an executable (e_type {0}): expected ET_EXEC or a static-pie ET_DYN")]
    NotExecutable(u16),
    /// A dynamically linked executable.
    #[error(
        "dynamically linked executable (interpreter {0}): only static executables are supported; link with -static"
    )]
    Dynamic(String),
    /// The file ends before a header or segment it declares.
    #[error("truncated file: {0}")]
    Truncated(String),
    /// Two PT_LOAD segments claim the same addresses.
    #[error("overlapping PT_LOAD segments: [{a_start:#x}, {a_end:#x}) and [{b_start:#x}, {b_end:#x})")]
    Overlapping {
        /// First segment start.
        a_start: u64,
        /// First segment end.
        a_end: u64,
        /// Second segment start.
        b_start: u64,
        /// Second segment end.
        b_end: u64,
    },
    /// A segment that cannot be mapped (filesz > memsz, outside user space, ...).
    #[error("bad PT_LOAD segment at {vaddr:#x}: {why}")]
    BadSegment {
        /// Its virtual address.
        vaddr: u64,
        /// What is wrong.
        why: String,
    },
    /// No PT_LOAD segment at all.
    #[error("no PT_LOAD segments")]
    NoSegments,
    /// goblin could not parse the headers.
    #[error("malformed ELF: {0}")]
    Malformed(String),
}

/// One PT_LOAD segment, relocated to its load address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Size in memory (bss included).
    pub memsz: u64,
    /// The bytes from the file (`p_filesz` of them).
    pub data: Vec<u8>,
    /// Protection from `p_flags`.
    pub prot: Prot,
}

/// A validated static executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage {
    /// Its architecture.
    pub arch: Arch,
    /// Entry point (relocated).
    pub entry: u64,
    /// PT_LOAD segments.
    pub segments: Vec<LoadSegment>,
    /// Where the program headers are in memory (AT_PHDR).
    pub phdr_addr: u64,
    /// AT_PHNUM.
    pub phnum: u64,
    /// AT_PHENT.
    pub phent: u64,
    /// The end of the highest segment: where brk starts (before page alignment).
    pub brk_start: u64,
    /// The load bias (0 for ET_EXEC).
    pub load_bias: u64,
    /// The executable sections (SHF_EXECINSTR), relocated, when the file has sane section
    /// headers; empty otherwise. Exec ignores sections; the SPARC backend uses them to patch
    /// instructions only in code, never in data that shares an executable segment (.rodata,
    /// .eh_frame), and falls back to the whole executable segments without them.
    pub code_ranges: Vec<(u64, u64)>,
}

fn machine_name(code: u16) -> String {
    goblin::elf::header::machine_to_str(code).to_string()
}

/// Parse and validate `bytes` as a static ELF64 executable. With `expect`, the executable
/// must be for that architecture.
pub fn parse(bytes: &[u8], expect: Option<Arch>) -> Result<ElfImage, ElfError> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if bytes.len() < 64 {
        return Err(ElfError::Truncated(format!("{} bytes is shorter than an ELF64 header", bytes.len())));
    }
    if bytes[EI_CLASS] != ELFCLASS64 {
        return Err(ElfError::WrongClass(bytes[EI_CLASS]));
    }
    let data = bytes[EI_DATA];
    // e_machine sits at offset 18 in either byte order.
    let m_le = u16::from_le_bytes([bytes[18], bytes[19]]);
    let m_be = u16::from_be_bytes([bytes[18], bytes[19]]);
    let code = if data == ELFDATA2MSB { m_be } else { m_le };
    let arch = match code {
        goblin::elf::header::EM_AARCH64 => Arch::Arm64,
        goblin::elf::header::EM_SPARCV9 => Arch::Sparc64,
        _ => return Err(ElfError::WrongMachine { code, found: machine_name(code) }),
    };
    let want = if arch.big_endian() { ELFDATA2MSB } else { ELFDATA2LSB };
    if data != want {
        return Err(ElfError::WrongEndian {
            machine: machine_name(code),
            expected: if arch.big_endian() { "big-endian" } else { "little-endian" },
        });
    }
    if let Some(e) = expect {
        if e != arch {
            return Err(ElfError::ArchMismatch { found: arch, expected: e });
        }
    }
    let elf = Elf::parse_header(bytes).map_err(|e| ElfError::Malformed(e.to_string()))?;
    let phoff = elf.e_phoff;
    let phsize = elf.e_phentsize as u64 * elf.e_phnum as u64;
    if phoff.checked_add(phsize).is_none_or(|end| end > bytes.len() as u64) {
        return Err(ElfError::Truncated(format!(
            "program headers at {phoff:#x}+{phsize:#x} run past the end of the file ({:#x} bytes)",
            bytes.len()
        )));
    }
    // Like the kernel, look only at the ELF header and the program headers: section headers
    // play no part in exec.
    if elf.e_type != ET_EXEC && elf.e_type != ET_DYN {
        return Err(ElfError::NotExecutable(elf.e_type));
    }
    if elf.e_phentsize as usize != ProgramHeader::size(Ctx::new(Container::Big, goblin::container::Endian::Little)) {
        return Err(ElfError::Malformed(format!(
            "e_phentsize {} is not the size of an ELF64 program header",
            elf.e_phentsize
        )));
    }
    let endian = if arch.big_endian() { goblin::container::Endian::Big } else { goblin::container::Endian::Little };
    let program_headers =
        ProgramHeader::parse(bytes, phoff as usize, elf.e_phnum as usize, Ctx::new(Container::Big, endian))
            .map_err(|e| ElfError::Malformed(e.to_string()))?;
    if let Some(ph) = program_headers.iter().find(|p| p.p_type == PT_INTERP) {
        let s = ph.p_offset as usize;
        let e = (ph.p_offset + ph.p_filesz) as usize;
        let name = bytes
            .get(s..e)
            .map(|b| String::from_utf8_lossy(b).trim_end_matches('\0').to_string())
            .unwrap_or_else(|| "?".into());
        return Err(ElfError::Dynamic(name));
    }
    let bias = if elf.e_type == ET_DYN {
        match arch {
            Arch::Arm64 => ET_DYN_BASE_ARM64,
            Arch::Sparc64 => ET_DYN_BASE_SPARC64,
        }
    } else {
        0
    };
    let task_size = match arch {
        Arch::Arm64 => crate::kernel_stub::mm::Layout::arm64().task_size,
        Arch::Sparc64 => crate::kernel_stub::mm::Layout::sparc64().task_size,
    };
    let mut segments: Vec<LoadSegment> = Vec::new();
    let mut phdr_addr = None;
    for ph in program_headers.iter() {
        if ph.p_type == PT_PHDR {
            phdr_addr = Some(ph.p_vaddr.wrapping_add(bias));
        }
        if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        let vaddr = ph.p_vaddr.wrapping_add(bias);
        let bad = |why: &str| ElfError::BadSegment { vaddr, why: why.to_string() };
        if ph.p_filesz > ph.p_memsz {
            return Err(bad("p_filesz is larger than p_memsz"));
        }
        let end = vaddr.checked_add(ph.p_memsz).ok_or_else(|| bad("wraps around the address space"))?;
        if end > task_size {
            return Err(bad("lies outside the user address space"));
        }
        if vaddr < 0x1000 {
            return Err(bad("maps page zero"));
        }
        let data = if ph.p_filesz == 0 {
            Vec::new()
        } else {
            let s = ph.p_offset;
            let e = s.checked_add(ph.p_filesz).filter(|&e| e <= bytes.len() as u64).ok_or_else(|| {
                ElfError::Truncated(format!(
                    "segment at {vaddr:#x} needs file bytes {s:#x}..{:#x}, file has {:#x}",
                    s.saturating_add(ph.p_filesz),
                    bytes.len()
                ))
            })?;
            bytes[s as usize..e as usize].to_vec()
        };
        let mut prot = Prot::NONE;
        if ph.p_flags & PF_R != 0 {
            prot = prot | Prot::READ;
        }
        if ph.p_flags & PF_W != 0 {
            prot = prot | Prot::WRITE;
        }
        if ph.p_flags & PF_X != 0 {
            prot = prot | Prot::EXEC;
        }
        for s in &segments {
            if vaddr < s.vaddr + s.memsz && s.vaddr < end {
                return Err(ElfError::Overlapping {
                    a_start: s.vaddr,
                    a_end: s.vaddr + s.memsz,
                    b_start: vaddr,
                    b_end: end,
                });
            }
        }
        segments.push(LoadSegment { vaddr, memsz: ph.p_memsz, data, prot });
    }
    if segments.is_empty() {
        return Err(ElfError::NoSegments);
    }
    // Without PT_PHDR, the headers are wherever the segment holding e_phoff maps them.
    let phdr_addr = phdr_addr
        .or_else(|| {
            program_headers
                .iter()
                .filter(|p| p.p_type == PT_LOAD)
                .find(|p| p.p_offset <= phoff && phoff + phsize <= p.p_offset + p.p_filesz)
                .map(|p| p.p_vaddr.wrapping_add(bias) + (phoff - p.p_offset))
        })
        .unwrap_or(0);
    let brk_start = segments.iter().map(|s| s.vaddr + s.memsz).max().unwrap_or(0);
    Ok(ElfImage {
        arch,
        entry: elf.e_entry.wrapping_add(bias),
        segments,
        phdr_addr,
        phnum: elf.e_phnum as u64,
        phent: elf.e_phentsize as u64,
        brk_start,
        load_bias: bias,
        code_ranges: code_ranges(bytes, &elf, endian, bias),
    })
}

/// The executable sections of the file, relocated by `bias`; empty when the section headers
/// are absent, truncated or unparsable (they play no part in exec, so a bad one is no error).
fn code_ranges(
    bytes: &[u8],
    elf: &goblin::elf::header::Header,
    endian: goblin::container::Endian,
    bias: u64,
) -> Vec<(u64, u64)> {
    use goblin::elf::section_header::{SectionHeader, SHF_ALLOC, SHF_EXECINSTR, SHT_PROGBITS};
    let (shoff, shnum) = (elf.e_shoff, elf.e_shnum as u64);
    let size = SectionHeader::size(Ctx::new(Container::Big, endian)) as u64;
    if shoff == 0 || shnum == 0 || elf.e_shentsize as u64 != size {
        return Vec::new();
    }
    if shnum.checked_mul(size).and_then(|n| n.checked_add(shoff)).is_none_or(|end| end > bytes.len() as u64) {
        return Vec::new();
    }
    let Ok(headers) = SectionHeader::parse(bytes, shoff as usize, shnum as usize, Ctx::new(Container::Big, endian))
    else {
        return Vec::new();
    };
    let exec = (SHF_ALLOC | SHF_EXECINSTR) as u64;
    headers
        .iter()
        .filter(|h| h.sh_type == SHT_PROGBITS && h.sh_flags & exec == exec && h.sh_size > 0)
        .filter_map(|h| {
            let start = h.sh_addr.wrapping_add(bias);
            Some((start, start.checked_add(h.sh_size)?))
        })
        .collect()
}

/// Read and parse the executable at `path`.
pub fn load_file(path: &std::path::Path, expect: Option<Arch>) -> Result<ElfImage, LoadError> {
    let bytes = crate::host_file::read_regular(path, crate::host_file::MAX_HOST_FILE)
        .map_err(|source| LoadError::Io { path: path.display().to_string(), source })?;
    parse(&bytes, expect).map_err(|source| LoadError::Elf { path: path.display().to_string(), source })
}

/// An executable that could not be read or parsed, with its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a loadable executable.
    #[error("{path}: {source}")]
    Elf {
        /// The path.
        path: String,
        /// Why.
        source: ElfError,
    },
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid ELF64 executable: header, program headers, and one PT_LOAD.
    pub(crate) fn tiny_elf(machine: u16, big: bool, loads: &[(u64, u64, u64, u32)], interp: bool) -> Vec<u8> {
        let phnum = loads.len() + interp as usize;
        let mut v = vec![0u8; 64 + 56 * phnum];
        let w16 = |v: &mut Vec<u8>, o: usize, x: u16| {
            v[o..o + 2].copy_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        let w32 = |v: &mut Vec<u8>, o: usize, x: u32| {
            v[o..o + 4].copy_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        let w64 = |v: &mut Vec<u8>, o: usize, x: u64| {
            v[o..o + 8].copy_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = 2;
        v[5] = if big { 2 } else { 1 };
        v[6] = 1;
        w16(&mut v, 16, 2);
        w16(&mut v, 18, machine);
        w32(&mut v, 20, 1);
        w64(&mut v, 24, loads.first().map_or(0, |l| l.0));
        w64(&mut v, 32, 64);
        w16(&mut v, 52, 64);
        w16(&mut v, 54, 56);
        w16(&mut v, 56, phnum as u16);
        let mut file_off = v.len() as u64;
        for (i, &(vaddr, filesz, memsz, flags)) in loads.iter().enumerate() {
            let o = 64 + 56 * i;
            w32(&mut v, o, PT_LOAD);
            w32(&mut v, o + 4, flags);
            w64(&mut v, o + 8, file_off);
            w64(&mut v, o + 16, vaddr);
            w64(&mut v, o + 24, vaddr);
            w64(&mut v, o + 32, filesz);
            w64(&mut v, o + 40, memsz);
            w64(&mut v, o + 48, 0x1000);
            file_off += filesz;
        }
        if interp {
            let o = 64 + 56 * loads.len();
            w32(&mut v, o, PT_INTERP);
            w64(&mut v, o + 8, file_off);
            w64(&mut v, o + 32, 12);
        }
        let total: u64 = loads.iter().map(|l| l.1).sum();
        v.resize(v.len() + total as usize, 0xd5);
        if interp {
            v.extend_from_slice(b"/lib/ld.so\0\0");
        }
        v
    }

    const RX: u32 = PF_R | PF_X;

    #[test]
    fn accepts_a_static_executable() {
        let b = tiny_elf(goblin::elf::header::EM_AARCH64, false, &[(0x40_0000, 0x100, 0x2000, RX)], false);
        let img = parse(&b, Some(Arch::Arm64)).unwrap();
        assert_eq!(img.entry, 0x40_0000);
        assert_eq!(img.segments[0].data.len(), 0x100);
        assert_eq!(img.segments[0].prot, Prot::READ | Prot::EXEC);
        assert_eq!(img.brk_start, 0x40_2000);
        let b = tiny_elf(goblin::elf::header::EM_SPARCV9, true, &[(0x10_0000, 0x10, 0x10, RX)], false);
        assert_eq!(parse(&b, None).unwrap().arch, Arch::Sparc64);
    }

    #[test]
    fn rejects_each_bad_class() {
        assert_eq!(parse(b"#!/bin/sh\n", None), Err(ElfError::NotElf));
        let good = tiny_elf(goblin::elf::header::EM_AARCH64, false, &[(0x40_0000, 0x100, 0x100, RX)], false);
        let mut b = good.clone();
        b[4] = 1;
        assert_eq!(parse(&b, None), Err(ElfError::WrongClass(1)));
        let b = tiny_elf(62, false, &[(0x40_0000, 0x100, 0x100, RX)], false);
        assert!(matches!(parse(&b, None), Err(ElfError::WrongMachine { code: 62, .. })));
        assert!(matches!(parse(&good, Some(Arch::Sparc64)), Err(ElfError::ArchMismatch { .. })));
        let b = tiny_elf(goblin::elf::header::EM_AARCH64, true, &[(0x40_0000, 0x100, 0x100, RX)], false);
        assert!(matches!(parse(&b, None), Err(ElfError::WrongEndian { .. })));
        let b = tiny_elf(goblin::elf::header::EM_AARCH64, false, &[(0x40_0000, 0x100, 0x100, RX)], true);
        assert_eq!(parse(&b, None), Err(ElfError::Dynamic("/lib/ld.so".into())));
        let b = &good[..good.len() - 1];
        assert!(matches!(parse(b, None), Err(ElfError::Truncated(_))));
        assert!(matches!(parse(&good[..40], None), Err(ElfError::Truncated(_))));
        let b = tiny_elf(
            goblin::elf::header::EM_AARCH64,
            false,
            &[(0x40_0000, 0x100, 0x2000, RX), (0x40_1000, 0x10, 0x10, PF_R)],
            false,
        );
        assert!(matches!(parse(&b, None), Err(ElfError::Overlapping { .. })));
        let b = tiny_elf(goblin::elf::header::EM_AARCH64, false, &[(0x40_0000, 0x200, 0x100, RX)], false);
        assert!(matches!(parse(&b, None), Err(ElfError::BadSegment { .. })));
        let mut b = good.clone();
        b[16] = 1; // ET_REL
        assert_eq!(parse(&b, None), Err(ElfError::NotExecutable(1)));
    }
}
