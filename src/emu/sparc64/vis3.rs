//! The VIS3 (T3/T4) and M7 integer instructions gcc `-mcpu=niagara4`/`niagara7` emits in
//! ordinary integer code, executed here: Unicorn's UltraSPARC has none of them and raises an
//! illegal-instruction trap (with PC and NPC on the instruction), so each arrives at the
//! invalid-instruction hook.
//!
//! - `addxc`, `addxccc` (add with the xcc carry), `subxc`, `subxccc` (M7), `umulxhi`,
//!   `lzcnt` (count leading zeros, 64-bit), `xmulx`, `xmulxhi` (carry-less multiply);
//! - the FP <-> integer moves `movdtox`, `movstouw`, `movstosw`, `movxtod`, `movwtos`.
//!
//! Not executed (SIGILL, as Unicorn raises it): the VIS3/VIS4 partitioned and FP arithmetic,
//! and FMAf (`fmadd*`/`fmsub*`): a fused multiply-add must round per FSR.RD and raise the IEEE
//! flags in FSR, which tagmmu does not model; a program built with `-ffp-contract=off`
//! avoids it. Opcodes per the Oracle SPARC Architecture 2011 (op = 10, op3 = 0x36, opf).

/// A decoded instruction of this set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vis3 {
    /// An integer operation: `rd = f(rs1, rs2, carry)`, perhaps setting CCR.
    Int { op: IntOp, rs1: u32, rs2: u32, rd: u32 },
    /// `movdtox`: integer rd = double register rs2 (raw bits).
    MovDtoX { rs2: u32, rd: u32 },
    /// `movstouw` / `movstosw`: integer rd = single register rs2, zero or sign extended.
    MovStoW { signed: bool, rs2: u32, rd: u32 },
    /// `movxtod`: double register rd = integer rs2.
    MovXtoD { rs2: u32, rd: u32 },
    /// `movwtos`: single register rd = low word of integer rs2.
    MovWtoS { rs2: u32, rd: u32 },
}

/// The integer operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOp {
    /// rs1 + rs2 + xcc.C; `cc`: set icc and xcc.
    AddXc { cc: bool },
    /// rs1 - rs2 - xcc.C; `cc`: set icc and xcc.
    SubXc { cc: bool },
    /// High 64 bits of the unsigned 128-bit product.
    UmulXhi,
    /// Leading zeros of rs2.
    Lzcnt,
    /// Low 64 bits of the carry-less product.
    Xmulx,
    /// High 64 bits of the carry-less product.
    XmulxHi,
}

/// Decode `w`, or `None` if it is not in this set.
pub fn decode(w: u32) -> Option<Vis3> {
    if w >> 30 != 2 || (w >> 19) & 0x3f != 0x36 {
        return None;
    }
    let (rd, rs1, rs2) = ((w >> 25) & 31, (w >> 14) & 31, w & 31);
    let int = |op| Some(Vis3::Int { op, rs1, rs2, rd });
    match (w >> 5) & 0x1ff {
        0x011 => int(IntOp::AddXc { cc: false }),
        0x013 => int(IntOp::AddXc { cc: true }),
        0x041 => int(IntOp::SubXc { cc: false }),
        0x043 => int(IntOp::SubXc { cc: true }),
        0x016 => int(IntOp::UmulXhi),
        0x017 => int(IntOp::Lzcnt),
        0x115 => int(IntOp::Xmulx),
        0x116 => int(IntOp::XmulxHi),
        0x110 => Some(Vis3::MovDtoX { rs2, rd }),
        0x111 => Some(Vis3::MovStoW { signed: false, rs2, rd }),
        0x113 => Some(Vis3::MovStoW { signed: true, rs2, rd }),
        0x118 => Some(Vis3::MovXtoD { rs2, rd }),
        0x119 => Some(Vis3::MovWtoS { rs2, rd }),
        _ => None,
    }
}

/// The double register a 5-bit field names (bit 0 is bit 5 of the register number), as the
/// index of its 64-bit pair (%d0 = 0, %d2 = 1, ... %d62 = 31).
pub fn double_pair(field: u32) -> usize {
    (((field & 1) << 5 | (field & 0x1e)) / 2) as usize
}

/// Evaluate an integer operation on `a` (rs1), `b` (rs2) with the CCR `ccr`; returns the
/// result and the new CCR when the operation sets it.
pub fn int_op(op: IntOp, a: u64, b: u64, ccr: u64) -> (u64, Option<u64>) {
    let carry = (ccr >> 4) & 1;
    match op {
        IntOp::AddXc { cc } => {
            let r = a.wrapping_add(b).wrapping_add(carry);
            let c64 = (a as u128 + b as u128 + carry as u128) >> 64 != 0;
            let c32 = (a as u32 as u64 + b as u32 as u64 + carry) >> 32 != 0;
            let v64 = (!(a ^ b) & (a ^ r)) >> 63 != 0;
            let v32 = (!(a ^ b) & (a ^ r)) >> 31 & 1 != 0;
            (r, cc.then(|| flags(r, v64, c64, v32, c32)))
        }
        IntOp::SubXc { cc } => {
            let r = a.wrapping_sub(b).wrapping_sub(carry);
            let c64 = (a as u128) < b as u128 + carry as u128;
            let c32 = (a as u32 as u64) < b as u32 as u64 + carry;
            let v64 = ((a ^ b) & (a ^ r)) >> 63 != 0;
            let v32 = ((a ^ b) & (a ^ r)) >> 31 & 1 != 0;
            (r, cc.then(|| flags(r, v64, c64, v32, c32)))
        }
        IntOp::UmulXhi => (((a as u128 * b as u128) >> 64) as u64, None),
        IntOp::Lzcnt => (b.leading_zeros() as u64, None),
        IntOp::Xmulx => (clmul(a, b) as u64, None),
        IntOp::XmulxHi => ((clmul(a, b) >> 64) as u64, None),
    }
}

/// CCR from a result and its carries/overflows: xcc in bits 7:4, icc in 3:0 (N Z V C).
fn flags(r: u64, v64: bool, c64: bool, v32: bool, c32: bool) -> u64 {
    let nzvc = |n: bool, z: bool, v: bool, c: bool| (n as u64) << 3 | (z as u64) << 2 | (v as u64) << 1 | c as u64;
    nzvc(r >> 63 != 0, r == 0, v64, c64) << 4 | nzvc((r >> 31) & 1 != 0, r as u32 == 0, v32, c32)
}

/// Carry-less (polynomial over GF(2)) product.
fn clmul(a: u64, b: u64) -> u128 {
    (0..64).filter(|i| b >> i & 1 != 0).fold(0u128, |acc, i| acc ^ ((a as u128) << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Words from `sparc64-linux-gnu-as -Av9v`.
    #[test]
    fn decodes_the_assembled_words() {
        assert_eq!(decode(0x87b0_0220), Some(Vis3::Int { op: IntOp::AddXc { cc: false }, rs1: 0, rs2: 0, rd: 3 }));
        assert_eq!(decode(0x91b2_0269), Some(Vis3::Int { op: IntOp::AddXc { cc: true }, rs1: 8, rs2: 9, rd: 8 }));
        assert_eq!(decode(0x91b0_02e9), Some(Vis3::Int { op: IntOp::Lzcnt, rs1: 0, rs2: 9, rd: 8 }));
        assert_eq!(decode(0x91b2_02c9), Some(Vis3::Int { op: IntOp::UmulXhi, rs1: 8, rs2: 9, rd: 8 }));
        assert_eq!(decode(0x91b0_2202), Some(Vis3::MovDtoX { rs2: 2, rd: 8 }), "movdtox %f2, %o0");
        assert_eq!(decode(0x91b0_2201), Some(Vis3::MovDtoX { rs2: 1, rd: 8 }), "movdtox %f32, %o0");
        assert_eq!(decode(0x87b0_2309), Some(Vis3::MovXtoD { rs2: 9, rd: 3 }), "movxtod %o1, %f34");
        assert_eq!(double_pair(3), 17, "%d34");
        assert_eq!(decode(0x85b0_2329), Some(Vis3::MovWtoS { rs2: 9, rd: 2 }));
        assert_eq!(decode(0x91b2_0829), Some(Vis3::Int { op: IntOp::SubXc { cc: false }, rs1: 8, rs2: 9, rd: 8 }));
        assert_eq!(decode(0x81b0_0a00), None, "fpadd16 runs natively (VIS1)");
        assert_eq!(double_pair(1), 16, "%d32");
        assert_eq!(double_pair(4), 2, "%d4");
    }

    #[test]
    fn integer_semantics() {
        let xc = 1 << 4; // xcc.C
        assert_eq!(int_op(IntOp::AddXc { cc: false }, 5, 7, xc), (13, None));
        assert_eq!(int_op(IntOp::AddXc { cc: false }, 5, 7, 0), (12, None));
        // Carry out of both halves: all ones + 1.
        let (r, cc) = int_op(IntOp::AddXc { cc: true }, u64::MAX, 0, xc);
        assert_eq!((r, cc), (0, Some(0b0101_0101)), "xcc and icc: Z and C");
        let (r, cc) = int_op(IntOp::SubXc { cc: true }, 0, 0, xc);
        assert_eq!((r, cc), (u64::MAX, Some(0b1001_1001)), "0 - 0 - 1: N and C (borrow) on both");
        assert_eq!(int_op(IntOp::UmulXhi, u64::MAX, u64::MAX, 0).0, u64::MAX - 1);
        assert_eq!(int_op(IntOp::Lzcnt, 0, 1, 0).0, 63);
        assert_eq!(int_op(IntOp::Lzcnt, 0, 0, 0).0, 64);
        assert_eq!(int_op(IntOp::Xmulx, 0b11, 0b11, 0).0, 0b101);
        assert_eq!(int_op(IntOp::XmulxHi, 1 << 63, 2, 0).0, 1);
    }
}
