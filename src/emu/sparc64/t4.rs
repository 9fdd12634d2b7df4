//! The user instructions SPARC T4 and M7 (the modelled CPU) added over the UltraSPARC that
//! Unicorn 2.1.5 emulates, where Unicorn would run them *silently wrong* or crash the host.
//!
//! Measured on Unicorn 2.1.5 (every encoding run once through the engine, and its
//! `target/sparc/translate.c` read):
//! - Most additions (VIS3, VIS4, FMAf, IMA, the crypto `opf` forms, `pause`, `%cfr`) raise
//!   an illegal-instruction trap, which tagmmu delivers as SIGILL.
//! - **CBcond** (`cwb*`/`cxb*`, op=00, bit 28 set, op2=011: compare and branch, no delay slot;
//!   gcc `-mcpu=niagara4` emits it in nearly every loop) is decoded as a V9 BPr: wrong
//!   comparison, wrong target, a spurious delay slot; with condition `leu`/`gu` (and the
//!   reserved 0/8) Unicorn's code generator crashes the host process. tagmmu emulates it.
//! - V9 BPr, MOVr and FMOVr with a reserved `rcond` (000 or 100), which must be illegal, also
//!   crash the host: SIGILL.
//! - op3 = 0x19 (the T4 four-operand crypto ops: AES/DES/Camellia/Kasumi rounds) is executed as
//!   MULX into an integer register: SIGILL (tagmmu offers no CRYPTO hwcap).
//! - Alternate-space accesses with the T4 block-init ASIs 0xF2/0xF3/0xFA/0xFB are dropped
//!   (loads return 0) and STTWA with the twin ASIs 0xE2/0xE3/0xEA/0xEB stores 16 bytes instead
//!   of 8: SIGILL (tagmmu offers no BLKINIT/ASI_BLK_INIT/N2 hwcap, so no library picks them).
//! - LDSTUBA, LDFA and LDDFA with a twin ASI reach an assertion in Unicorn's ASI load helper
//!   (`g_assert_not_reached`: "always handled inline"), which aborts the host process: SIGILL
//!   (found by the `insns_sparc64` fuzz target; every alternate-space op3 was then run with
//!   every non-privileged ASI, and these were the only aborts). The immediate-ASI forms are
//!   patched here; the same instructions (and STTWA) through a %asi holding a twin ASI are
//!   refused by tagmmu's Unicorn patch 0002 (`build_support/unicorn/`): the translator knows
//!   %asi (it is part of the block's flags) and now raises the illegal-instruction trap.
//!
//! Each such word in the program's code is replaced at load time by the patch trap (as the ADI
//! accesses are, [`crate::adi::PATCH_TRAP`]) and handled here when it runs; code the program
//! writes at run time gets the same replacement in a shadow copy that only instruction fetches
//! see (`runtime_code`). Limit: a program that reads its own (loaded) text sees the trap word.

/// CBcond: op=00, bit 28 = 1, op2 = 011.
const CBCOND_MASK: u32 = 0xd1c0_0000;
const CBCOND_VALUE: u32 = 0x10c0_0000;
/// BPr (op=00, bit 28 = 0, op2 = 011) with rcond 000 or 100.
const BPR_RESERVED_MASK: u32 = 0xd7c0_0000;
const BPR_RESERVED_VALUE: u32 = 0x00c0_0000;
/// MOVr (op=10, op3 = 0x2f) with rcond (bits 11:10) 00 in its low two bits (000 or 100).
const MOVR_RESERVED_MASK: u32 = 0xc1f8_0c00;
const MOVR_RESERVED_VALUE: u32 = 0x8178_0000;
/// FMOVr{s,d,q} (op=10, op3 = 0x35, bit 13 = 0, opf_low 5/6/7) with rcond 000 or 100.
const FMOVR_RESERVED_MASK: u32 = 0xc1f8_2fe0;
const FMOVR_RESERVED_VALUES: [u32; 3] = [0x81a8_00a0, 0x81a8_00c0, 0x81a8_00e0];
/// op=10, op3 = 0x19: the T4 four-operand crypto instructions.
const OP3_19_MASK: u32 = 0xc1f8_0000;
const OP3_19_VALUE: u32 = 0x80c8_0000;
/// An alternate-space load/store (op=11, op3 bit 4) with i = 0 and ASI 0xF2/0xF3/0xFA/0xFB.
const ASI_BLKINIT_MRU_MASK: u32 = 0xc080_3ec0;
const ASI_BLKINIT_MRU_VALUE: u32 = 0xc080_1e40;
/// STTWA (op3 = 0x17) with i = 0 and ASI 0xE2/0xE3/0xEA/0xEB.
const STTWA_TWIN_MASK: u32 = 0xc1f8_3ec0;
const STTWA_TWIN_VALUE: u32 = 0xc0b8_1c40;

/// LDSTUBA (op3 0x1d), LDFA (0x30) and LDDFA (0x33), op=11, i = 0, a twin ASI
/// (0xE2/0xE3/0xEA/0xEB: `asi & 0xf6 == 0xe2`).
const TWIN_ASI_FIELDS_MASK: u32 = 0xc000_3ec0;
const TWIN_ASI_FIELDS_VALUE: u32 = 0xc000_1c40;
const TWIN_ASI_ABORTING_OP3: [u32; 3] = [0x1d, 0x30, 0x33];

/// What tagmmu does with a word Unicorn would get wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patched {
    /// Emulate this compare-and-branch.
    Cbcond(Cbcond),
    /// Deliver SIGILL/ILL_ILLOPC; the text names the instruction class for the notice.
    Illegal(&'static str),
}

/// Classify `w`: `None` when Unicorn runs it correctly (or traps on it by itself).
pub fn classify(w: u32) -> Option<Patched> {
    if w & CBCOND_MASK == CBCOND_VALUE {
        return Some(match Cbcond::decode(w) {
            Some(c) => Patched::Cbcond(c),
            None => Patched::Illegal("CBcond with a reserved condition"),
        });
    }
    if w & BPR_RESERVED_MASK == BPR_RESERVED_VALUE {
        return Some(Patched::Illegal("BPr with a reserved rcond"));
    }
    if w & MOVR_RESERVED_MASK == MOVR_RESERVED_VALUE {
        return Some(Patched::Illegal("MOVr with a reserved rcond"));
    }
    if FMOVR_RESERVED_VALUES.contains(&(w & FMOVR_RESERVED_MASK)) {
        return Some(Patched::Illegal("FMOVr with a reserved rcond"));
    }
    if w & OP3_19_MASK == OP3_19_VALUE {
        return Some(Patched::Illegal("a T4 crypto instruction (op3 0x19: AES/DES/Camellia/Kasumi)"));
    }
    if w & ASI_BLKINIT_MRU_MASK == ASI_BLKINIT_MRU_VALUE {
        return Some(Patched::Illegal("an access through a T4 block-init ASI (0xf2/0xf3/0xfa/0xfb)"));
    }
    if w & STTWA_TWIN_MASK == STTWA_TWIN_VALUE {
        return Some(Patched::Illegal("STTWA through a twin ASI (0xe2/0xe3/0xea/0xeb)"));
    }
    if w & TWIN_ASI_FIELDS_MASK == TWIN_ASI_FIELDS_VALUE && TWIN_ASI_ABORTING_OP3.contains(&((w >> 19) & 0x3f)) {
        return Some(Patched::Illegal("LDSTUBA/LDFA/LDDFA through a twin ASI (0xe2/0xe3/0xea/0xeb)"));
    }
    None
}

/// The second operand of a CBcond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// Register rs2.
    Reg(u32),
    /// simm5.
    Imm(i64),
}

/// A decoded CBcond: `c{w,x}b<cond> rs1, rs2|simm5, target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cbcond {
    /// Compare 64-bit (`cxb`, xcc) rather than 32-bit (`cwb`, icc).
    pub xcc: bool,
    /// The Bicc condition (c_hi:c_lo), never the reserved 0 or 8.
    pub cond: u8,
    /// Register rs1.
    pub rs1: u32,
    /// rs2 or simm5.
    pub rs2: Operand,
    /// Branch displacement in bytes (4 x sign-extended d10).
    pub disp: i64,
}

impl Cbcond {
    /// Decode a word that matches the CBcond pattern; `None` for the reserved conditions
    /// 0000 and 1000 (illegal_instruction).
    pub fn decode(w: u32) -> Option<Cbcond> {
        let cond = (((w >> 29) & 1) << 3 | ((w >> 25) & 7)) as u8;
        if cond & 7 == 0 {
            return None;
        }
        let d10 = ((w >> 19) & 3) << 8 | ((w >> 5) & 0xff);
        let disp = (((d10 << 22) as i32) >> 22) as i64 * 4;
        let rs2 = if w & (1 << 13) != 0 {
            Operand::Imm((((w & 0x1f) << 27) as i32 >> 27) as i64)
        } else {
            Operand::Reg(w & 0x1f)
        };
        Some(Cbcond { xcc: w & (1 << 21) != 0, cond, rs1: (w >> 14) & 0x1f, rs2, disp })
    }

    /// Whether the branch is taken for operands `a` (rs1) and `b`: the condition codes of
    /// `a - b` (as SUBcc would set icc or xcc; CBcond writes none) tested like Bicc.
    pub fn taken(&self, a: u64, b: u64) -> bool {
        let (n, z, v, c) = if self.xcc {
            let r = a.wrapping_sub(b);
            (r >> 63 == 1, r == 0, ((a ^ b) & (a ^ r)) >> 63 == 1, a < b)
        } else {
            let (a, b) = (a as u32, b as u32);
            let r = a.wrapping_sub(b);
            (r >> 31 == 1, r == 0, ((a ^ b) & (a ^ r)) >> 31 == 1, a < b)
        };
        let t = match self.cond & 7 {
            1 => z,
            2 => z || (n != v),
            3 => n != v,
            4 => c || z,
            5 => c,
            6 => n,
            _ => v,
        };
        // Conditions 9-15 are the negations of 1-7.
        t != (self.cond & 8 != 0)
    }
}

/// Replace every word of the big-endian code `code` at `base` that [`classify`] names by
/// the patch trap; returns the (address, original) pairs.
pub fn patch_text(code: &mut [u8], base: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    for (i, word) in code.chunks_exact_mut(4).enumerate() {
        let w = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        if classify(w).is_some() {
            out.push((base + 4 * i as u64, w));
            word.copy_from_slice(&crate::adi::PATCH_TRAP.to_be_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Words from `sparc64-linux-gnu-as -Av9m` (the branch target `.`, d10 = 0, unless noted).
    #[test]
    fn classifies_the_assembled_words() {
        let c = |w| match classify(w) {
            Some(Patched::Cbcond(c)) => c,
            other => panic!("{w:#x}: {other:?}"),
        };
        assert_eq!(c(0x32c2_400a), Cbcond { xcc: false, cond: 9, rs1: 9, rs2: Operand::Reg(10), disp: 0 }, "cwbne");
        assert_eq!(
            c(0x12c0_0000),
            Cbcond { xcc: false, cond: 1, rs1: 0, rs2: Operand::Reg(0), disp: 0 },
            "cwbe %g0, %g0"
        );
        assert_eq!(c(0x32da_5fca).disp, -8, "cwbne %o1, %o2, .-8");
        assert_eq!(
            c(0x16ea_7ffd),
            Cbcond { xcc: true, cond: 3, rs1: 9, rs2: Operand::Imm(-3), disp: 2044 },
            "cxbl %o1, -3, .+2044"
        );
        assert_eq!(c(0x18c2_2005).rs2, Operand::Imm(5), "cwbleu %o0, 5");
        let cxbgu = c(0x38f8_5fd9);
        assert_eq!((cxbgu.xcc, cxbgu.cond, cxbgu.rs1, cxbgu.rs2), (true, 12, 1, Operand::Reg(25)), "cxbgu %g1, %i1");
        let cwbleu = c(0x18da_3fa5);
        assert_eq!((cwbleu.xcc, cwbleu.cond, cwbleu.rs1, cwbleu.rs2), (false, 4, 8, Operand::Imm(5)), "cwbleu %o0, 5");
        assert_eq!(c(0x14fe_7f80).rs2, Operand::Imm(0), "cxble %i1, 0");
        for (w, what) in [
            (0x00c0_8010u32, "BPr"),
            (0x8978_8006, "MOVr"),
            (0x89a8_80c6, "FMOVr"),
            (0x8cc8_0802, "crypto"),
            (0x8cc8_0922, "crypto"),
            (0x9cca_198a, "crypto"),
            (0xd8f2_1e40, "block-init"),
            (0xc8b8_9c40, "STTWA"),
            // ldda [%l6] 0xe2, %f62 (the fuzz finding); ldstuba [%o2] 0xeb, %g4; lda [%o4] 0xe2, %f1.
            (0xff9d_9c40, "LDDFA"),
            (0xc8ea_9d60, "LDSTUBA"),
            (0xc383_1c40, "LDFA"),
        ] {
            assert!(matches!(classify(w), Some(Patched::Illegal(t)) if t.contains(what)), "{w:#x} {what}");
        }
        // ... and swapa [%o0] 0xe3, %g1 (traps by itself); lda [%o0] 0xe2, %o4 (LDUWA, traps by
        // itself); ldstuba [%o2] 0x80, %g4 (ASI_P); ldda [%o0] 0xf0, %f0 (ASI_BLK_P).
        for ok in [
            0x02fa_7ffbu32,
            0x2efa_7ffa,
            0x977a_440a,
            0x89aa_44c2,
            0x964a_400a,
            0xd8f2_1e00,
            0xd8f2_1c40,
            0xd89a_1c40,
            0xc2fa_1c60,
            0xd882_1c40,
            0xc8ea_9000,
            0xc19a_1e00,
        ] {
            assert_eq!(classify(ok), None, "{ok:#x} runs correctly on Unicorn (or traps by itself)");
        }
        assert_eq!(classify(0x10c0_0000), Some(Patched::Illegal("CBcond with a reserved condition")));
    }

    #[test]
    fn conditions_follow_bicc_on_icc_and_xcc() {
        let cb = |cond, xcc| Cbcond { xcc, cond, rs1: 0, rs2: Operand::Reg(0), disp: 0 };
        let m1 = u64::MAX; // -1
                           // (cond, a, b, taken on icc)
        let cases = [
            (1, 5, 5, true),
            (9, 5, 5, false),
            (2, 4, 5, true),
            (10, 4, 5, false),
            (3, m1, 0, true),
            (11, m1, 0, false),
            (4, 1, m1, true), // unsigned 1 <= 0xffffffff
            (12, 1, m1, false),
            (5, 1, 2, true),
            (13, 2, 1, true),
            (6, 0, 1, true),
            (14, 1, 0, true),
            (7, 0x8000_0000, 1, true), // i32::MIN - 1 overflows on icc
            (15, 0x8000_0000, 1, false),
        ];
        for (cond, a, b, t) in cases {
            assert_eq!(cb(cond, false).taken(a, b), t, "icc cond {cond} {a:#x} {b:#x}");
        }
        // The upper halves count only on xcc.
        assert!(cb(1, false).taken(0x1_0000_0005, 5));
        assert!(!cb(1, true).taken(0x1_0000_0005, 5));
        assert!(!cb(7, true).taken(0x8000_0000, 1), "no 64-bit overflow");
        assert!(cb(3, true).taken(m1, 0), "-1 < 0 on xcc");
    }
}
