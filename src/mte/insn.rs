//! Decoding of the MTE instructions (FEAT_MTE / FEAT_MTE2), which Unicorn's CPU does not know
//! and reports as undefined. The CPU backend executes the decoded form.

/// A register operand: number 31 means SP where the instruction allows SP, else XZR.
pub type Reg = u8;

/// Addressing of a tag store or LDG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    /// `[Xn, #imm]`: no writeback.
    Offset,
    /// `[Xn, #imm]!`: address Xn+imm, then Xn = address.
    Pre,
    /// `[Xn], #imm`: address Xn, then Xn += imm.
    Post,
}

/// Which tag store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagStoreKind {
    /// STG: one granule.
    Stg,
    /// STZG: one granule, data zeroed.
    Stzg,
    /// ST2G: two granules.
    St2g,
    /// STZ2G: two granules, data zeroed.
    Stz2g,
}

impl TagStoreKind {
    /// Granules written.
    pub fn granules(self) -> u64 {
        match self {
            TagStoreKind::Stg | TagStoreKind::Stzg => 1,
            TagStoreKind::St2g | TagStoreKind::Stz2g => 2,
        }
    }
    /// Does it zero the data?
    pub fn zeroes(self) -> bool {
        matches!(self, TagStoreKind::Stzg | TagStoreKind::Stz2g)
    }
}

/// A decoded MTE instruction (or MSR/MRS of TCO). Operands are register numbers named as in
/// the ARM ARM (`d` destination, `n` base/first source, `m` second source, `t` transfer);
/// `imm` is the byte offset, already scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum MteInsn {
    /// IRG Xd|SP, Xn|SP, Xm.
    Irg { d: Reg, n: Reg, m: Reg },
    /// GMI Xd, Xn|SP, Xm.
    Gmi { d: Reg, n: Reg, m: Reg },
    /// ADDG / SUBG Xd|SP, Xn|SP, #uimm6*16, #uimm4.
    AddSubG { sub: bool, d: Reg, n: Reg, offset: u64, tag_offset: u8 },
    /// SUBP / SUBPS Xd, Xn|SP, Xm|SP.
    Subp { set_flags: bool, d: Reg, n: Reg, m: Reg },
    /// LDG Xt, [Xn|SP, #simm].
    Ldg { t: Reg, n: Reg, imm: i64 },
    /// STG/STZG/ST2G/STZ2G Xt|SP, [Xn|SP, #simm] with writeback per `index`.
    Store { kind: TagStoreKind, t: Reg, n: Reg, imm: i64, index: Index },
    /// STGP Xt1, Xt2, [Xn|SP, #simm].
    Stgp { t1: Reg, t2: Reg, n: Reg, imm: i64, index: Index },
    /// MSR TCO, #imm.
    MsrTcoImm { value: bool },
    /// MSR TCO, Xt.
    MsrTco { t: Reg },
    /// MRS Xt, TCO.
    MrsTco { t: Reg },
    /// DC GVA, Xt: set the allocation tags of the DCZID block containing Xt to Xt's tag.
    DcGva { t: Reg },
    /// DC GZVA, Xt: zero the DCZID block containing Xt and set its allocation tags.
    DcGzva { t: Reg },
    /// LDGM / STGM / STZGM: UNDEFINED at EL0.
    El1Only,
}

fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Decode `w`, or `None` if it is not an MTE instruction.
pub fn decode(w: u32) -> Option<MteInsn> {
    let d = (w & 0x1f) as Reg;
    let n = ((w >> 5) & 0x1f) as Reg;
    let m = ((w >> 16) & 0x1f) as Reg;
    // Data-processing (2 source), 64-bit, S=0/1: SUBP(S), IRG, GMI.
    match w & 0xffe0_fc00 {
        0x9ac0_0000 => return Some(MteInsn::Subp { set_flags: false, d, n, m }),
        0xbac0_0000 => return Some(MteInsn::Subp { set_flags: true, d, n, m }),
        0x9ac0_1000 => return Some(MteInsn::Irg { d, n, m }),
        0x9ac0_1400 => return Some(MteInsn::Gmi { d, n, m }),
        _ => {}
    }
    // ADDG / SUBG: sf=1 op=0/1 S=0 100011 0 uimm6 op3=00 uimm4 Xn Xd.
    if w & 0xbfc0_c000 == 0x9180_0000 {
        return Some(MteInsn::AddSubG {
            sub: w & (1 << 30) != 0,
            d,
            n,
            offset: (((w >> 16) & 0x3f) as u64) * 16,
            tag_offset: ((w >> 10) & 0xf) as u8,
        });
    }
    // Load/store memory tags: 11011001 opc 1 imm9 op2 Xn Xt.
    if w & 0xff20_0000 == 0xd920_0000 {
        let opc = (w >> 22) & 3;
        let op2 = (w >> 10) & 3;
        let imm9 = (w >> 12) & 0x1ff;
        let imm = sext(imm9 as u64, 9) << 4;
        if op2 == 0 {
            return match opc {
                1 => Some(MteInsn::Ldg { t: d, n, imm }),
                _ if imm9 == 0 => Some(MteInsn::El1Only),
                _ => None,
            };
        }
        let index = match op2 {
            1 => Index::Post,
            2 => Index::Offset,
            _ => Index::Pre,
        };
        let kind = match opc {
            0 => TagStoreKind::Stg,
            1 => TagStoreKind::Stzg,
            2 => TagStoreKind::St2g,
            _ => TagStoreKind::Stz2g,
        };
        return Some(MteInsn::Store { kind, t: d, n, imm, index });
    }
    // STGP: 0110100 1 (post 01 / offset 10 / pre 11) 0 imm7 Xt2 Xn Xt.
    let stgp_index = match w & 0xffc0_0000 {
        0x6880_0000 => Some(Index::Post),
        0x6900_0000 => Some(Index::Offset),
        0x6980_0000 => Some(Index::Pre),
        _ => None,
    };
    if let Some(index) = stgp_index {
        let imm = sext(((w >> 15) & 0x7f) as u64, 7) << 4;
        return Some(MteInsn::Stgp { t1: d, t2: ((w >> 10) & 0x1f) as Reg, n, imm, index });
    }
    // MSR TCO, #imm: MSR (immediate) op1=3, CRn=4, op2=4.
    if w & 0xffff_f0ff == 0xd503_409f {
        return Some(MteInsn::MsrTcoImm { value: (w >> 8) & 1 != 0 });
    }
    // MSR/MRS TCO (S3_3_C4_C2_7); DC GVA / DC GZVA (SYS #3, C7, C4, #3 / #4).
    match w & 0xffff_ffe0 {
        0xd51b_42e0 => return Some(MteInsn::MsrTco { t: d }),
        0xd53b_42e0 => return Some(MteInsn::MrsTco { t: d }),
        0xd50b_7460 => return Some(MteInsn::DcGva { t: d }),
        0xd50b_7480 => return Some(MteInsn::DcGzva { t: d }),
        _ => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // Encodings from `aarch64-linux-gnu-as -march=armv8.5-a+memtag`.
    #[test]
    fn decodes_every_form() {
        assert_eq!(decode(0xd50b_7462), Some(MteInsn::DcGva { t: 2 }), "dc gva, x2");
        assert_eq!(decode(0xd50b_7483), Some(MteInsn::DcGzva { t: 3 }), "dc gzva, x3");
        assert_eq!(decode(0xd50b_7424), None, "dc zva, x4 is not an MTE instruction");
        assert_eq!(decode(0x9ac2_1020), Some(MteInsn::Irg { d: 0, n: 1, m: 2 }), "irg x0, x1, x2");
        assert_eq!(decode(0x9adf_13e0), Some(MteInsn::Irg { d: 0, n: 31, m: 31 }), "irg x0, sp");
        assert_eq!(decode(0x9ac2_1420), Some(MteInsn::Gmi { d: 0, n: 1, m: 2 }), "gmi x0, x1, x2");
        assert_eq!(
            decode(0x9181_0c20),
            Some(MteInsn::AddSubG { sub: false, d: 0, n: 1, offset: 16, tag_offset: 3 }),
            "addg x0, x1, #16, #3"
        );
        assert_eq!(
            decode(0xd182_0420),
            Some(MteInsn::AddSubG { sub: true, d: 0, n: 1, offset: 32, tag_offset: 1 }),
            "subg x0, x1, #32, #1"
        );
        assert_eq!(decode(0x9ac2_0020), Some(MteInsn::Subp { set_flags: false, d: 0, n: 1, m: 2 }), "subp x0, x1, x2");
        assert_eq!(decode(0xbac2_003f), Some(MteInsn::Subp { set_flags: true, d: 31, n: 1, m: 2 }), "cmpp x1, x2");
        assert_eq!(decode(0xd960_0020), Some(MteInsn::Ldg { t: 0, n: 1, imm: 0 }), "ldg x0, [x1]");
        assert_eq!(decode(0xd97f_f020), Some(MteInsn::Ldg { t: 0, n: 1, imm: -16 }), "ldg x0, [x1, #-16]");
        assert_eq!(
            decode(0xd920_0820),
            Some(MteInsn::Store { kind: TagStoreKind::Stg, t: 0, n: 1, imm: 0, index: Index::Offset }),
            "stg x0, [x1]"
        );
        assert_eq!(
            decode(0xd920_1c20),
            Some(MteInsn::Store { kind: TagStoreKind::Stg, t: 0, n: 1, imm: 16, index: Index::Pre }),
            "stg x0, [x1, #16]!"
        );
        assert_eq!(
            decode(0xd920_1420),
            Some(MteInsn::Store { kind: TagStoreKind::Stg, t: 0, n: 1, imm: 16, index: Index::Post }),
            "stg x0, [x1], #16"
        );
        assert_eq!(
            decode(0xd960_0bff),
            Some(MteInsn::Store { kind: TagStoreKind::Stzg, t: 31, n: 31, imm: 0, index: Index::Offset }),
            "stzg sp, [sp]"
        );
        assert_eq!(
            decode(0xd9a0_0820),
            Some(MteInsn::Store { kind: TagStoreKind::St2g, t: 0, n: 1, imm: 0, index: Index::Offset }),
            "st2g x0, [x1]"
        );
        assert_eq!(
            decode(0xd9e0_0820),
            Some(MteInsn::Store { kind: TagStoreKind::Stz2g, t: 0, n: 1, imm: 0, index: Index::Offset }),
            "stz2g x0, [x1]"
        );
        assert_eq!(
            decode(0x6900_8820),
            Some(MteInsn::Stgp { t1: 0, t2: 2, n: 1, imm: 16, index: Index::Offset }),
            "stgp x0, x2, [x1, #16]"
        );
        assert_eq!(
            decode(0x6880_0820),
            Some(MteInsn::Stgp { t1: 0, t2: 2, n: 1, imm: 0, index: Index::Post }),
            "stgp x0, x2, [x1], #0"
        );
        assert_eq!(
            decode(0x6980_0820),
            Some(MteInsn::Stgp { t1: 0, t2: 2, n: 1, imm: 0, index: Index::Pre }),
            "stgp x0, x2, [x1, #0]!"
        );
        assert_eq!(decode(0xd503_419f), Some(MteInsn::MsrTcoImm { value: true }), "msr tco, #1");
        assert_eq!(decode(0xd503_409f), Some(MteInsn::MsrTcoImm { value: false }), "msr tco, #0");
        assert_eq!(decode(0xd51b_42e3), Some(MteInsn::MsrTco { t: 3 }), "msr tco, x3");
        assert_eq!(decode(0xd53b_42e3), Some(MteInsn::MrsTco { t: 3 }), "mrs x3, tco");
        assert_eq!(decode(0xd9e0_0000), Some(MteInsn::El1Only), "ldgm x0, [x0]");
        assert_eq!(decode(0xd9a0_0000), Some(MteInsn::El1Only), "stgm x0, [x0]");
        assert_eq!(decode(0xd920_0000), Some(MteInsn::El1Only), "stzgm x0, [x0]");
        assert_eq!(decode(0xd400_0001), None, "svc");
    }
}
