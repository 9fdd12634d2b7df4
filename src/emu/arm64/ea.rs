//! The effective address of an A64 load or store, computed from its encoding and the
//! registers as they were before it executed (Arm ARM C4.1.4, "Loads and Stores").
//!
//! Used to report a tag check fault's address exactly when Unicorn has split a misaligned load
//! into the two naturally aligned words around it (the memory callbacks then see the words, not
//! the load's own first byte).

/// The address `w` accesses first, or None for an encoding that is not a load or store this
/// decoder knows. `x(n)` reads Xn (n = 31 is SP for a base register); `pc` is the
/// instruction's address.
pub fn effective_address(w: u32, pc: u64, x: impl Fn(u32) -> u64) -> Option<u64> {
    let rn = (w >> 5) & 31;
    let bits = |hi: u32, lo: u32| (w >> lo) & ((1 << (hi - lo + 1)) - 1);
    let sext = |v: u32, width: u32| ((v as i64) << (64 - width) >> (64 - width)) as u64;
    let vector = bits(26, 26) == 1;
    match bits(29, 27) {
        // Load/store register pair (no-allocate offset, post-index, offset, pre-index).
        0b101 if bits(25, 25) == 0 => {
            let opc = bits(31, 30);
            let scale = if vector {
                2 + opc
            } else if opc == 0b10 {
                3
            } else {
                2
            };
            let post = bits(24, 23) == 0b01;
            let offset = if post { 0 } else { sext(bits(21, 15), 7) << scale };
            Some(x(rn).wrapping_add(offset))
        }
        0b111 => {
            let size = bits(31, 30);
            let scale = if vector && size == 0 && bits(23, 23) == 1 { 4 } else { size };
            match bits(25, 24) {
                // Unsigned immediate offset.
                0b01 => Some(x(rn).wrapping_add((bits(21, 10) as u64) << scale)),
                0b00 if bits(21, 21) == 0 => {
                    // Unscaled, post-index, unprivileged, pre-index (imm9).
                    let post = bits(11, 10) == 0b01;
                    let offset = if post { 0 } else { sext(bits(20, 12), 9) };
                    Some(x(rn).wrapping_add(offset))
                }
                0b00 if bits(11, 10) == 0b10 => {
                    // Register offset: Xm (or Wm) extended and optionally scaled.
                    let m = x(bits(20, 16));
                    let option = bits(15, 13);
                    let extended = match option {
                        0b010 => m as u32 as u64,
                        0b110 => m as u32 as i32 as i64 as u64,
                        0b011 | 0b111 => m,
                        _ => return None,
                    };
                    let shift = if bits(12, 12) == 1 { scale } else { 0 };
                    Some(x(rn).wrapping_add(extended << shift))
                }
                // Atomic memory operations (LDADD, SWP, ...): [Xn].
                0b00 if bits(11, 10) == 0b00 => Some(x(rn)),
                _ => None,
            }
        }
        // Load register (literal).
        0b011 if bits(25, 24) == 0 => Some(pc.wrapping_add(sext(bits(23, 5), 19) << 2)),
        // Exclusives and compare-and-swap: [Xn].
        0b001 if bits(25, 24) == 0 && !vector => Some(x(rn)),
        // SIMD structure loads and stores (LD1..LD4, ST1..ST4, LD1R...): [Xn].
        0b001 if bits(31, 31) == 0 && bits(25, 24) == 0b00 && vector => Some(x(rn)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs(n: u32) -> u64 {
        match n {
            1 => 0x1000,
            2 => 3,
            31 => 0x8000,
            _ => 0,
        }
    }

    #[test]
    fn the_common_forms() {
        // ldr x0, [x1, #16]
        assert_eq!(effective_address(0xf9400820, 0, regs), Some(0x1010));
        // ldur x0, [x1, #-3]
        assert_eq!(effective_address(0xf85fd020, 0, regs), Some(0x0ffd));
        // ldr x0, [x1], #8 (post-index: the base)
        assert_eq!(effective_address(0xf8408420, 0, regs), Some(0x1000));
        // ldr x0, [x1, #8]! (pre-index)
        assert_eq!(effective_address(0xf8408c20, 0, regs), Some(0x1008));
        // ldr x0, [x1, x2, lsl #3]
        assert_eq!(effective_address(0xf8627820, 0, regs), Some(0x1018));
        // ldp x0, x3, [x1, #-16]
        assert_eq!(effective_address(0xa97f0c20, 0, regs), Some(0x0ff0));
        // ldr q0, [x1, #32]
        assert_eq!(effective_address(0x3dc00820, 0, regs), Some(0x1020));
        // ldp q0, q1, [sp, #32]
        assert_eq!(effective_address(0xad4107e0, 0, regs), Some(0x8020));
        // ldr w0, [x1, #4]
        assert_eq!(effective_address(0xb9400420, 0, regs), Some(0x1004));
        // ldrh w0, [x1, #2]
        assert_eq!(effective_address(0x79400420, 0, regs), Some(0x1002));
        // ldxr x0, [x1]
        assert_eq!(effective_address(0xc85f7c20, 0, regs), Some(0x1000));
        // ldr x0, #8 (literal)
        assert_eq!(effective_address(0x58000040, 0x400, regs), Some(0x408));
        // ld1 {v0.16b}, [x1]
        assert_eq!(effective_address(0x4c407020, 0, regs), Some(0x1000));
        // add x0, x1, x2: not a load
        assert_eq!(effective_address(0x8b020020, 0, regs), None);
    }
}
