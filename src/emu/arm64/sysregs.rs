//! The arm64 ID registers as Linux shows them to EL0, and the HWCAPs derived from them.
//!
//! An EL0 `MRS` of an ID register traps and Linux emulates it (`HWCAP_CPUID`): only the
//! encodings op0=3, op1=0, CRn=0, CRm in {0, 2..7} are emulated; fields the kernel does not
//! expose read as their safe value (arch/arm64/kernel/cpufeature.c, `ftr_*` tables). The
//! HWCAPs follow `arm64_elf_hwcaps[]` over the same sanitised values, so what a program reads
//! with MRS and what it finds in AT_HWCAP always agree.
//!
//! tagmmu's CPU is Unicorn's "max" model, minus what tagmmu does not offer at EL0: SVE and
//! pointer authentication are hidden (SVE instructions then trap as on a CPU without them).
//! MTE is what tagmmu adds: with the MTE machine option, PFR1.MTE reads 2 (FEAT_MTE2) or 3.

/// ID register values of a CPU (system view or user view).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdRegs {
    /// MIDR_EL1.
    pub midr: u64,
    /// ID_AA64PFR0_EL1.
    pub pfr0: u64,
    /// ID_AA64PFR1_EL1.
    pub pfr1: u64,
    /// ID_AA64PFR2_EL1.
    pub pfr2: u64,
    /// ID_AA64ZFR0_EL1.
    pub zfr0: u64,
    /// ID_AA64ISAR0_EL1.
    pub isar0: u64,
    /// ID_AA64ISAR1_EL1.
    pub isar1: u64,
    /// ID_AA64ISAR2_EL1.
    pub isar2: u64,
    /// ID_AA64MMFR0_EL1.
    pub mmfr0: u64,
    /// ID_AA64MMFR1_EL1.
    pub mmfr1: u64,
    /// ID_AA64MMFR2_EL1.
    pub mmfr2: u64,
}

/// Mask of 4-bit fields starting at the given bit positions.
const fn fields(shifts: &[u32]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < shifts.len() {
        m |= 0xf << shifts[i];
        i += 1;
    }
    m
}

/// PFR0: DIT, AdvSIMD, FP visible (SVE is hidden: tagmmu offers no SVE); EL1 and EL0 forced to 1.
const PFR0_VISIBLE: u64 = fields(&[48, 20, 16]);
const PFR0_FORCED: u64 = 0x11;
/// PFR1: MTE, SSBS, BT.
const PFR1_VISIBLE: u64 = fields(&[8, 4, 0]);
/// PFR2: MTEFAR, MTESTOREONLY (FPMR is not offered).
const PFR2_VISIBLE: u64 = fields(&[8, 4]);
/// ISAR0: RNDR, TS, FHM, DP, SM4, SM3, SHA3, RDM, ATOMIC, CRC32, SHA2, SHA1, AES.
const ISAR0_VISIBLE: u64 = fields(&[60, 52, 48, 44, 40, 36, 32, 28, 20, 16, 12, 8, 4]);
/// ISAR1: I8MM, DGH, BF16, SB, FRINTTS, LRCPC, FCMA, JSCVT, DPB (pointer auth hidden).
const ISAR1_VISIBLE: u64 = fields(&[52, 48, 44, 36, 32, 20, 16, 12, 0]);
/// ISAR2: LUT, CSSC, RPRFM, BC, MOPS, RPRES, WFxT (pointer auth hidden).
const ISAR2_VISIBLE: u64 = fields(&[56, 52, 48, 20, 16, 4, 0]);
/// MMFR0: ECV visible; the granule fields are forced to "4K and 64K not... " as Linux reports.
const MMFR0_VISIBLE: u64 = fields(&[60]);
const MMFR0_FORCED: u64 = 0x0000_0111_ff00_0000;
/// MMFR1: AFP.
const MMFR1_VISIBLE: u64 = fields(&[44]);
/// MMFR2: AT.
const MMFR2_VISIBLE: u64 = fields(&[32]);
/// DFR0: every field hidden; DebugVer reads its safe value 6.
const DFR0_USER: u64 = 0x6;

pub use crate::mte::MteLevel;

fn field(v: u64, shift: u32) -> u64 {
    (v >> shift) & 0xf
}

fn signed_field(v: u64, shift: u32) -> i64 {
    (((v >> shift) & 0xf) as i64) << 60 >> 60
}

impl IdRegs {
    /// The user-visible view of a system (`self`) with the given MTE level, FEAT_MTE_FAR and
    /// FEAT_MTE_STORE_ONLY (each as the modelled kernel exposes it).
    pub fn user_view(&self, mte: MteLevel, mte_far: bool, store_only: bool) -> IdRegs {
        let mut pfr1 = self.pfr1 & PFR1_VISIBLE & !(0xf << 8);
        pfr1 |= match mte {
            MteLevel::None => 0,
            MteLevel::Mte2 => 2 << 8,
            MteLevel::Mte3 => 3 << 8,
        };
        let on = |b: bool| (mte != MteLevel::None && b) as u64;
        // ID_AA64PFR2_EL1: MTEFAR bits 11:8, MTESTOREONLY bits 7:4.
        let pfr2 = ((on(mte_far) << 8) | (on(store_only) << 4)) & PFR2_VISIBLE;
        IdRegs {
            midr: self.midr,
            pfr0: (self.pfr0 & PFR0_VISIBLE) | PFR0_FORCED,
            pfr1,
            pfr2,
            zfr0: 0,
            isar0: self.isar0 & ISAR0_VISIBLE,
            isar1: self.isar1 & ISAR1_VISIBLE,
            isar2: self.isar2 & ISAR2_VISIBLE,
            mmfr0: (self.mmfr0 & MMFR0_VISIBLE) | MMFR0_FORCED,
            mmfr1: self.mmfr1 & MMFR1_VISIBLE,
            mmfr2: self.mmfr2 & MMFR2_VISIBLE,
        }
    }

    /// What an EL0 `MRS` of `S3_0_C0_C<crm>_<op2>` reads on Linux (this must be a user view),
    /// or `None` when Linux does not emulate that encoding (the task gets SIGILL).
    pub fn read_el0(&self, crm: u32, op2: u32) -> Option<u64> {
        match (crm, op2) {
            (0, 0) => Some(self.midr),
            (0, 5) => Some(0x8000_0000),
            (0, 6) => Some(0),
            (0, _) | (1, _) => None,
            (4, 0) => Some(self.pfr0),
            (4, 1) => Some(self.pfr1),
            (4, 2) => Some(self.pfr2),
            (4, 4) => Some(self.zfr0),
            (5, 0) => Some(DFR0_USER),
            (6, 0) => Some(self.isar0),
            (6, 1) => Some(self.isar1),
            (6, 2) => Some(self.isar2),
            (7, 0) => Some(self.mmfr0),
            (7, 1) => Some(self.mmfr1),
            (7, 2) => Some(self.mmfr2),
            // The AArch32 registers (no 32-bit EL0 here), the other tracked registers whose
            // fields are all hidden, and the reserved encodings all read as zero.
            (2..=7, _) => Some(0),
            _ => None,
        }
    }

    /// AT_HWCAP and AT_HWCAP2 for this user view (`arm64_elf_hwcaps[]`; EVTSTRM is set, as
    /// with the usual arch-timer event stream, and CPUID always).
    pub fn hwcaps(&self) -> (u64, u64) {
        let mut h: u64 = 0;
        let mut set = |bit: u32, on: bool| {
            if on {
                h |= 1 << bit;
            }
        };
        let fp = signed_field(self.pfr0, 16);
        let simd = signed_field(self.pfr0, 20);
        set(0, fp >= 0);
        set(1, simd >= 0);
        set(2, true);
        set(3, field(self.isar0, 4) >= 1);
        set(4, field(self.isar0, 4) >= 2);
        set(5, field(self.isar0, 8) >= 1);
        set(6, field(self.isar0, 12) >= 1);
        set(7, field(self.isar0, 16) >= 1);
        set(8, field(self.isar0, 20) >= 2);
        set(9, fp >= 1);
        set(10, simd >= 1);
        set(11, true);
        set(12, field(self.isar0, 28) >= 1);
        set(13, field(self.isar1, 12) >= 1);
        set(14, field(self.isar1, 16) >= 1);
        set(15, field(self.isar1, 20) >= 1);
        set(16, field(self.isar1, 0) >= 1);
        set(17, field(self.isar0, 32) >= 1);
        set(18, field(self.isar0, 36) >= 1);
        set(19, field(self.isar0, 40) >= 1);
        set(20, field(self.isar0, 44) >= 1);
        set(21, field(self.isar0, 12) >= 2);
        set(22, field(self.pfr0, 32) >= 1);
        set(23, field(self.isar0, 48) >= 1);
        set(24, field(self.pfr0, 48) >= 1);
        set(25, field(self.mmfr2, 32) >= 1);
        set(26, field(self.isar1, 20) >= 2);
        set(27, field(self.isar0, 52) >= 1);
        set(28, field(self.pfr1, 4) >= 2);
        set(29, field(self.isar1, 36) >= 1);
        let hwcap = h;
        let mut h2: u64 = 0;
        let mut set2 = |bit: u32, on: bool| {
            if on {
                h2 |= 1 << bit;
            }
        };
        set2(0, field(self.isar1, 0) >= 2);
        set2(7, field(self.isar0, 52) >= 2);
        set2(8, field(self.isar1, 32) >= 1);
        set2(13, field(self.isar1, 52) >= 1);
        set2(14, field(self.isar1, 44) >= 1);
        set2(15, field(self.isar1, 48) >= 1);
        set2(16, field(self.isar0, 60) >= 1);
        set2(17, field(self.pfr1, 0) >= 1);
        set2(18, field(self.pfr1, 8) >= 2);
        set2(19, field(self.mmfr0, 60) >= 1);
        set2(20, field(self.mmfr1, 44) >= 1);
        set2(21, field(self.isar2, 4) >= 1);
        set2(22, field(self.pfr1, 8) >= 3);
        set2(31, field(self.isar2, 0) >= 2);
        set2(32, field(self.isar1, 44) >= 2);
        set2(34, field(self.isar2, 52) >= 1);
        set2(35, field(self.isar2, 48) >= 1);
        set2(43, field(self.isar2, 16) >= 1);
        set2(44, field(self.isar2, 20) >= 1);
        set2(46, field(self.isar1, 20) >= 3);
        set2(47, field(self.isar0, 20) >= 3);
        (hwcap, h2)
    }

    /// AT_HWCAP3 (HWCAP3_MTE_FAR = bit 0, HWCAP3_MTE_STORE_ONLY = bit 1).
    pub fn hwcap3(&self) -> u64 {
        (field(self.pfr2, 8) >= 1) as u64 | (((field(self.pfr2, 4) >= 1) as u64) << 1)
    }
}

/// Decode an `MRS Xt, <sysreg>` instruction: returns (op0, op1, CRn, CRm, op2, Rt).
pub fn decode_mrs(insn: u32) -> Option<(u32, u32, u32, u32, u32, u32)> {
    if insn & 0xfff0_0000 != 0xd530_0000 {
        return None;
    }
    let op0 = 2 + ((insn >> 19) & 1);
    Some((op0, (insn >> 16) & 7, (insn >> 12) & 0xf, (insn >> 8) & 0xf, (insn >> 5) & 7, insn & 0x1f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys() -> IdRegs {
        IdRegs {
            midr: 0x411f_d070,
            pfr0: 0x0001_0001_0011_2222 | (1 << 32) | (0xf << 60),
            pfr1: 0x21,
            isar0: 0x0000_1110_0021_1120,
            isar1: 0x0000_0000_0011_1111 | (1 << 4) | (1 << 24),
            mmfr0: 0x0000_0000_0000_1125,
            mmfr2: 1 << 32,
            ..Default::default()
        }
    }

    #[test]
    fn user_view_hides_and_forces_fields() {
        let u = sys().user_view(MteLevel::None, true, false);
        assert_eq!(u.pfr0 & 0xff, 0x11, "EL0 and EL1 forced to 1");
        assert_eq!(field(u.pfr0, 32), 0, "SVE hidden");
        assert_eq!(field(u.pfr0, 60), 0, "CSV3 hidden");
        assert_eq!(field(u.isar1, 4) | field(u.isar1, 24), 0, "pointer auth hidden");
        assert_eq!(u.mmfr0, 0x0000_0111_ff00_0000);
        assert_eq!(u.pfr2, 0);
        assert_eq!(u.read_el0(0, 5), Some(0x8000_0000));
        assert_eq!(u.read_el0(5, 0), Some(6));
        assert_eq!(u.read_el0(0, 1), None, "CTR alias is not emulated");
        assert_eq!(u.read_el0(1, 0), None, "CRm=1 is not emulated");
        assert_eq!(u.read_el0(3, 7), Some(0));
        let m = sys().user_view(MteLevel::Mte2, true, false);
        assert_eq!(field(m.pfr1, 8), 2);
        assert_eq!(m.hwcaps().1 & (1 << 18), 1 << 18, "HWCAP2_MTE");
        assert_eq!(m.hwcap3(), 1, "HWCAP3_MTE_FAR");
        assert_eq!(sys().user_view(MteLevel::Mte3, false, false).hwcaps().1 & (1 << 22), 1 << 22);
    }

    #[test]
    fn hwcaps_follow_the_fields() {
        let (h, _) = sys().user_view(MteLevel::None, false, false).hwcaps();
        for bit in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 25] {
            assert!(h & (1 << bit) != 0, "bit {bit} in {h:#x}");
        }
        assert_eq!(h & (1 << 22), 0, "no SVE");
        assert_eq!(h & (1 << 30), 0, "no PACA");
        assert_eq!(decode_mrs(0xd538_0000), Some((3, 0, 0, 0, 0, 0)), "mrs x0, midr_el1");
        assert_eq!(decode_mrs(0xd53b_d041), Some((3, 3, 13, 0, 2, 1)), "mrs x1, tpidr_el0");
        assert_eq!(decode_mrs(0xd51b_d041), None, "msr");
    }
}
