//! Non-faulting loads (`ld*a` with ASI_PNF, ASI_SNF and their little-endian forms).
//!
//! A non-faulting load reads like an ordinary load, but where an ordinary load would fault it
//! returns zero (Linux completes it that way for user tasks). glibc's sparc64 string routines
//! use them through %asi, which Linux's `start_thread` sets to ASI_PNF. QEMU in system mode
//! checks them against its own software TLB, which tagmmu does not fill (translation is
//! tagmmu's), so every one arrives as a data-TLB-miss trap; tagmmu completes the load here.
//! Non-faulting loads do not detect ADI version mismatches.

/// ASIs of non-faulting loads: primary, secondary, and their little-endian forms.
pub fn is_nofault_asi(asi: u8) -> bool {
    matches!(asi, 0x82 | 0x83 | 0x8a | 0x8b)
}

/// A decoded alternate-space integer load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsiLoad {
    /// Destination register (0..32).
    pub rd: u32,
    /// Base register.
    pub rs1: u32,
    /// Second register (when `imm` is `None`).
    pub rs2: u32,
    /// The immediate offset (i = 1), which makes the ASI come from %asi.
    pub imm: Option<i64>,
    /// The ASI in the instruction (i = 0).
    pub imm_asi: u8,
    /// Bytes loaded.
    pub size: u32,
    /// Sign-extend the value.
    pub signed: bool,
    /// `ldda`: two 32-bit words into an even/odd register pair.
    pub pair: bool,
}

/// Decode `w` if it is an integer load from an alternate space (LDUBA, LDUHA, LDUWA, LDSBA,
/// LDSHA, LDSWA, LDXA, LDDA).
pub fn decode(w: u32) -> Option<AsiLoad> {
    if w >> 30 != 3 {
        return None;
    }
    let op3 = (w >> 19) & 0x3f;
    let (size, signed, pair) = match op3 {
        0x10 => (4, false, false),
        0x11 => (1, false, false),
        0x12 => (2, false, false),
        0x13 => (8, false, true),
        0x18 => (4, true, false),
        0x19 => (1, true, false),
        0x1a => (2, true, false),
        0x1b => (8, false, false),
        _ => return None,
    };
    let i = w & (1 << 13) != 0;
    Some(AsiLoad {
        rd: (w >> 25) & 31,
        rs1: (w >> 14) & 31,
        rs2: w & 31,
        imm: i.then_some((((w & 0x1fff) << 19) as i32 >> 19) as i64),
        imm_asi: ((w >> 5) & 0xff) as u8,
        size,
        signed,
        pair,
    })
}

/// The value a load of `size` bytes gives from `bytes` (in the ASI's byte order).
pub fn value(bytes: &[u8], little_endian: bool, signed: bool) -> u64 {
    let mut v = 0u64;
    if little_endian {
        for b in bytes.iter().rev() {
            v = (v << 8) | *b as u64;
        }
    } else {
        for b in bytes {
            v = (v << 8) | *b as u64;
        }
    }
    let bits = bytes.len() as u32 * 8;
    if signed && bits < 64 {
        let shift = 64 - bits;
        ((v << shift) as i64 >> shift) as u64
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_glibc_forms() {
        // ldxa [%o1 + %g0] 0x82, %o3
        let l = decode(0xd6da_5040).unwrap();
        assert_eq!((l.rd, l.rs1, l.rs2, l.imm, l.imm_asi, l.size), (11, 9, 0, None, 0x82, 8));
        // ldxa [%o0 + 8] %asi, %g1 : op=3 rd=1 op3=0x1b rs1=8 i=1 simm13=8
        let w = (3 << 30) | (1 << 25) | (0x1b << 19) | (8 << 14) | (1 << 13) | 8;
        let l = decode(w).unwrap();
        assert_eq!((l.rd, l.rs1, l.imm), (1, 8, Some(8)));
        // ldsba with a negative offset
        let w = (3 << 30) | (2 << 25) | (0x19 << 19) | (8 << 14) | (1 << 13) | 0x1fff;
        let l = decode(w).unwrap();
        assert_eq!((l.imm, l.size, l.signed), (Some(-1), 1, true));
        assert_eq!(decode(0x0100_0000), None, "nop");
        assert_eq!(decode((3 << 30) | (0x0b << 19)), None, "ldx is not an ASI load");
    }

    #[test]
    fn values_follow_the_asi_byte_order_and_sign() {
        assert_eq!(value(&[0x12, 0x34], false, false), 0x1234);
        assert_eq!(value(&[0x12, 0x34], true, false), 0x3412);
        assert_eq!(value(&[0xff], false, true), u64::MAX);
        assert_eq!(value(&[0x80, 0, 0, 0], false, true), 0xffff_ffff_8000_0000);
        assert!(is_nofault_asi(0x82) && is_nofault_asi(0x8b) && !is_nofault_asi(0x80));
    }
}
