//! Disassembly of guest instructions (capstone), for fault reports and `--trace insn`.

use capstone::arch::{BuildsCapstone, BuildsCapstoneEndian};
use capstone::{Capstone, Endian};

use crate::arch::Arch;

/// A disassembler for one architecture.
pub struct Disassembler {
    cs: Option<Capstone>,
}

impl Disassembler {
    /// A disassembler for `arch`. If capstone cannot be set up, every line reads
    /// `(no disassembler)` rather than failing the run.
    pub fn new(arch: Arch) -> Disassembler {
        let cs = match arch {
            Arch::Arm64 => {
                Capstone::new().arm64().mode(capstone::arch::arm64::ArchMode::Arm).endian(Endian::Little).build()
            }
            Arch::Sparc64 => Capstone::new().sparc().mode(capstone::arch::sparc::ArchMode::V9).build(),
        };
        Disassembler { cs: cs.ok() }
    }

    /// The instruction in `bytes` at `addr`, as `mnemonic operands`.
    pub fn one(&self, bytes: &[u8], addr: u64) -> String {
        let Some(cs) = &self.cs else {
            return "(no disassembler)".into();
        };
        match cs.disasm_count(bytes, addr, 1) {
            Ok(insns) => match insns.iter().next() {
                Some(i) => {
                    format!("{} {}", i.mnemonic().unwrap_or("?"), i.op_str().unwrap_or("")).trim_end().to_string()
                }
                None => format!(".word {}", hex(bytes)),
            },
            Err(_) => format!(".word {}", hex(bytes)),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_and_sparc() {
        let d = Disassembler::new(Arch::Arm64);
        assert_eq!(d.one(&[0x01, 0x00, 0x00, 0xd4], 0x1000), "svc #0");
        assert_eq!(d.one(&[0xa6, 0x0c, 0x40, 0xf9], 0x1000), "ldr x6, [x5, #0x18]");
        let d = Disassembler::new(Arch::Sparc64);
        // ta 0x6d
        assert_eq!(d.one(&[0x91, 0xd0, 0x20, 0x6d], 0x1000), "ta %icc, %g0 + 0x6d");
    }
}
