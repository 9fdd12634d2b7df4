//! Byte-exact model of arm64's `__arch_copy_to_user` / `__arch_copy_from_user` on the
//! template path (arch/arm64/lib/copy_template.S included from copy_to_user.S and
//! copy_from_user.S), as in Linux 5.14-rc2 .. 6.14, and 6.15 .. 6.18 on CPUs without FEAT_MOPS.
//!
//! What the routine does (paraphrased from the kernel; see the research notes, section A):
//! - Copies shorter than 16 bytes go straight to the "tiny" tail: 8, 4, 2, 1-byte moves picked
//!   by the bits of the count, in that order.
//! - Otherwise the **source** is first brought to 16-byte alignment with 1, 2, 4 and 8-byte moves
//!   (in that order, one per set bit of `(-src) & 15`). The destination keeps its alignment.
//! - Then, with `c` bytes left: `c < 64` goes to the tail (0..3 16-byte pair moves picked by bits
//!   5:4 of `c`, then the tiny tail). `64 <= c < 128` does one 64-byte block with the load/store
//!   interleave `L0 S0 L1 L2 S1 S2 L3 S3` and then the tail. `c >= 128` preloads 64 bytes (four
//!   pair loads), then loops "store one pair, load the next" four times per 64 bytes while at
//!   least 64 more bytes remain, drains the four loaded pairs, then the tail. Loads therefore
//!   run up to 64 bytes ahead of stores.
//! - Every move is a load from the source then a store to the destination. The user side uses
//!   the unprivileged LDTR/STTR forms. A pair on the user side is two 8-byte LDTR/STTR at
//!   `p` and `p + 8`, and the pointer is advanced by 16 only after both succeeded.
//!   Single user accesses advance the pointer only after the access succeeded.
//! - Exception table: a faulting 1-byte user access goes to the "return" fixup (label 9998).
//!   A faulting 2, 4 or 8-byte access (including either half of a pair) goes to the
//!   "try harder" fixup (9997).
//! - 9997: if the destination pointer `dst` has not moved since entry, copy ONE byte again,
//!   from the original source pointer (saved at entry) to the original destination. Its user
//!   access (a store for copy_to_user, a load for copy_from_user) can fault and then goes to 9998.
//!   If it succeeds, `dst` moves by one.
//! - 9998: return `end - dst`, where `end = dstin + n`. For **both** directions the count is
//!   based on the DESTINATION pointer. For copy_from_user, user data already loaded into
//!   registers (loaded ahead) but not yet stored into the kernel buffer is not counted.
//!
//! Fault model: a user access faults iff any byte it touches is inaccessible (e.g. an MTE tag
//! mismatch in sync mode). A faulting access writes nothing. The architecture would allow a
//! partial write for stores that are not single-copy atomic; this model assumes none (QEMU is
//! believed to check the whole range before writing; not verified).
//! Kernel-side accesses never fault.
//!
//! Not modelled: the 6.15+ FEAT_MOPS path (`cpyfp/cpyfm/cpyfe` with the 9996 fixup), whose
//! progress at a fault is implementation defined.
//!
//! The tests contain an independent op-by-op interpreter of the assembly (registers, flags,
//! tagged user memory, an exception table). They compare the model against it exhaustively
//! over alignments, sizes and bad-granule positions.

/// Which routine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `__arch_copy_to_user`: kernel buffer -> user memory (the user accesses are STTR stores).
    ToUser,
    /// `__arch_copy_from_user`: user memory -> kernel buffer (the user accesses are LDTR loads).
    FromUser,
}

/// What one call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The routine's return value: bytes NOT copied (as `raw_copy_{to,from}_user`).
    pub not_copied: u64,
    /// Byte ranges [start, end) (as offsets 0..n from the start of the copy) that were actually written to the destination
    /// (for ToUser: user memory, including bytes written by a store pair whose second half faulted, or stores that
    /// the count does not credit; for FromUser: the kernel buffer).
    ///
    /// Normalised: sorted, non-empty, non-overlapping and non-adjacent (touching ranges are merged).
    /// In practice this is always a single prefix `[0, w)` (or nothing): for FromUser `w` is exactly
    /// `n - not_copied`; for ToUser `n - not_copied <= w <= n - not_copied + 8` (the under-report of a
    /// pair whose second STTR faulted).
    pub written: Vec<(u64, u64)>,
}

impl CopyOutcome {
    /// Bytes the routine reports as copied, `n - not_copied`, for a call of `n` bytes.
    pub fn copied(&self, n: u64) -> u64 {
        n - self.not_copied
    }
}

/// Simulate `__arch_copy_to_user` / `__arch_copy_from_user` (template path, no FEAT_MOPS) copying `n` bytes,
/// where `dst` and `src` are the two addresses (only their low 4 bits / alignment matter for the template,
/// give them as u64) and `user_ok(off)` says whether the USER byte at offset `off` (0..n, relative to the
/// start of the user side of the copy) can be accessed (false = the unprivileged LDTR/STTR touching it faults,
/// e.g. an MTE tag mismatch). An access faults if ANY byte it touches is not ok; a faulting access performs nothing.
///
/// Only `src & 15` steers the routine: it aligns the source. `dst` is accepted for symmetry and
/// documentation; its alignment only matters through `user_ok` (where the caller's granules fall).
/// `user_ok` is only ever asked about offsets in `0..n`.
pub fn simulate(dir: Direction, dst: u64, src: u64, n: u64, user_ok: &dyn Fn(u64) -> bool) -> CopyOutcome {
    let _ = dst; // the template never looks at the destination's alignment
    let mut run = Run { dir, user_ok, src: 0, dst: 0, written: Vec::new() };
    let not_copied = match run.template(src, n) {
        Ok(()) => 0,
        Err(fixup) => run.fixup(fixup, n),
    };
    CopyOutcome { not_copied, written: merge_ranges(run.written) }
}

/// The exception-table target of a faulting user access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixup {
    /// Label 9997 ("try harder"): the one-byte retry if nothing was stored yet, then return.
    TryHarder,
    /// Label 9998: return `end - dst` directly (1-byte user accesses, and a faulting retry).
    Return,
}

/// State of one call of the model. `src` and `dst` are the routine's two progress pointers as
/// offsets from their start values (`src` = x1 - srcin, `dst` = x6 - dstin).
struct Run<'a> {
    dir: Direction,
    user_ok: &'a dyn Fn(u64) -> bool,
    src: u64,
    dst: u64,
    /// Destination ranges written so far (unmerged).
    written: Vec<(u64, u64)>,
}

impl Run<'_> {
    /// Whether a user access of `len` bytes at offset `off` succeeds.
    fn user_access(&self, off: u64, len: u64) -> bool {
        (off..off + len).all(|o| (self.user_ok)(o))
    }

    fn wrote(&mut self, off: u64, len: u64) {
        self.written.push((off, off + len));
    }

    /// One single-register move of `size` (1, 2, 4 or 8) bytes: the `ldr*1` then `str*1` macro
    /// pair. Each macro moves its own pointer only after its access succeeded.
    fn single(&mut self, size: u64) -> Result<(), Fixup> {
        // Byte-sized user accesses have no retry; wider ones go to the retry fixup. (Observably
        // the same: a faulting byte access with nothing stored yet is always user offset 0, the
        // very byte the retry would try again.)
        let fixup = if size == 1 { Fixup::Return } else { Fixup::TryHarder };
        match self.dir {
            Direction::FromUser => {
                // LDTR{B,H,} from user at src, then a plain store into the kernel buffer.
                if !self.user_access(self.src, size) {
                    return Err(fixup);
                }
                self.src += size;
                self.wrote(self.dst, size);
                self.dst += size;
            }
            Direction::ToUser => {
                // Plain kernel load (post-indexed), then STTR{B,H,} at dst.
                self.src += size;
                if !self.user_access(self.dst, size) {
                    return Err(fixup);
                }
                self.wrote(self.dst, size);
                self.dst += size;
            }
        }
        Ok(())
    }

    /// `ldp1`: 16 bytes from the source into a register pair.
    fn load_pair(&mut self) -> Result<(), Fixup> {
        if self.dir == Direction::FromUser {
            // Two LDTRs, low half first; either one faulting goes to the retry fixup.
            if !self.user_access(self.src, 8) || !self.user_access(self.src + 8, 8) {
                return Err(Fixup::TryHarder);
            }
        }
        self.src += 16;
        Ok(())
    }

    /// `stp1`: 16 bytes from a register pair to the destination.
    fn store_pair(&mut self) -> Result<(), Fixup> {
        if self.dir == Direction::ToUser {
            // Two STTRs. The low one may land even if the high one then faults;
            // dst only moves after both, so those 8 bytes are not credited.
            if !self.user_access(self.dst, 8) {
                return Err(Fixup::TryHarder);
            }
            self.wrote(self.dst, 8);
            if !self.user_access(self.dst + 8, 8) {
                return Err(Fixup::TryHarder);
            }
            self.wrote(self.dst + 8, 8);
        } else {
            self.wrote(self.dst, 16);
        }
        self.dst += 16;
        Ok(())
    }

    /// The template body. `count` follows the routine's register: unsigned compare against 16,
    /// signed compares against 64 and 0 afterwards (it goes negative in the large path).
    fn template(&mut self, src_addr: u64, n: u64) -> Result<(), Fixup> {
        let mut count = n;
        if count < 16 {
            return self.tiny15(count);
        }
        // Bytes needed to bring the source to 16-byte alignment.
        let lead = src_addr.wrapping_neg() & 15;
        if lead != 0 {
            count = count.wrapping_sub(lead);
            // Increasing addresses: 1, then 2, then 4, then 8.
            for size in [1, 2, 4, 8] {
                if lead & size != 0 {
                    self.single(size)?;
                }
            }
        }
        if count as i64 >= 64 {
            return self.over64(count);
        }
        self.tail63(count)
    }

    /// Up to 48 bytes in pairs (bits 5:4 of `count`), then the tiny tail.
    fn tail63(&mut self, count: u64) -> Result<(), Fixup> {
        for _ in 0..(count & 0x30) >> 4 {
            self.load_pair()?;
            self.store_pair()?;
        }
        self.tiny15(count)
    }

    /// Up to 15 bytes: 8, 4, 2, then 1 by the low bits of `count`.
    fn tiny15(&mut self, count: u64) -> Result<(), Fixup> {
        for size in [8, 4, 2, 1] {
            if count & size != 0 {
                self.single(size)?;
            }
        }
        Ok(())
    }

    /// At least 64 bytes left with an aligned source.
    fn over64(&mut self, mut count: u64) -> Result<(), Fixup> {
        count = count.wrapping_sub(128);
        if (count as i64) < 0 {
            // 64..127 bytes: one 64-byte block, loads at most two pairs ahead.
            self.load_pair()?; // A
            self.store_pair()?; // A
            self.load_pair()?; // B
            self.load_pair()?; // C
            self.store_pair()?; // B
            self.store_pair()?; // C
            self.load_pair()?; // D
            self.store_pair()?; // D
        } else {
            // >= 128 bytes: preload 64 bytes (A, B, C, D) ...
            for _ in 0..4 {
                self.load_pair()?;
            }
            // ... then store each pair and reload it from 64 bytes further on ...
            loop {
                for _ in 0..4 {
                    self.store_pair()?;
                    self.load_pair()?;
                }
                count = count.wrapping_sub(64);
                if (count as i64) < 0 {
                    break;
                }
            }
            // ... and drain the last 64 loaded bytes.
            for _ in 0..4 {
                self.store_pair()?;
            }
        }
        // The low 6 bits of count are still (bytes left) mod 64.
        if count & 0x3f != 0 {
            self.tail63(count)
        } else {
            Ok(())
        }
    }

    /// The wrapper's fixup code; returns the bytes not copied.
    fn fixup(&mut self, fixup: Fixup, n: u64) -> u64 {
        if fixup == Fixup::TryHarder && self.dst == 0 {
            // Nothing credited yet: one byte from the ORIGINAL source to the original destination.
            // The user side of that byte is user offset 0 in both directions (the destination for
            // copy_to_user, the saved source pointer for copy_from_user).
            if (self.user_ok)(0) {
                self.wrote(0, 1);
                self.dst = 1;
            }
        }
        n - self.dst
    }
}

/// Sort and merge overlapping or touching ranges; drop empty ones.
fn merge_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|&(s, e)| s < e);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// An independent, op-by-op interpreter of the two routines, used only by the tests.
///
/// It shares nothing with the model above. The routine is written out as a list of instruction
/// ops: the macros expanded per file, with labels and an exception table. These ops run on an
/// AArch64-like machine with registers x0..x18, NZCV flags, a user memory with MTE-style
/// per-granule tags and a tagged user pointer, and a kernel memory. A user access whose
/// pointer tag differs from the tag of any granule it touches faults. The fault is resolved
/// through the exception table. A fault without an entry is an oops (panic).
///
/// Every byte that is touched must lie inside the copy. Plain (privileged) accesses must hit
/// the kernel buffer and unprivileged ones the user buffer (a PAN check). Every byte written
/// must hold the source byte at the same offset. Any violation panics.
#[cfg(test)]
mod interp {
    use super::Direction;
    use std::collections::HashMap;

    /// Register numbers, as the template and the wrappers name them.
    const DSTIN: usize = 0;
    const SRC: usize = 1;
    const COUNT: usize = 2;
    const TMP1: usize = 3;
    const TMP2: usize = 4;
    const END: usize = 5;
    const DST: usize = 6;
    const A_L: usize = 7;
    const A_H: usize = 8;
    const B_L: usize = 9;
    const B_H: usize = 10;
    const C_L: usize = 11;
    const C_H: usize = 12;
    const D_L: usize = 13;
    const D_H: usize = 14;
    const SRCIN: usize = 15;

    /// Labels of the assembly (the numeric local labels get their own names).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    enum L {
        Lead1,
        Lead2,
        Lead3,
        SrcAligned,
        Tail63,
        Tail63Two,
        Tail63One,
        Tiny15,
        Tiny15After8,
        Tiny15After4,
        Tiny15After2,
        Over64,
        BodyLarge,
        Loop,
        Exit,
        Fix9997,
        Fix9998,
    }

    #[derive(Clone, Copy, Debug)]
    enum Cond {
        Eq,
        Ne,
        Lo,
        Ge,
        Lt,
    }

    /// One instruction. Sizes are in bytes. `post` is a post-index increment.
    #[derive(Clone, Copy, Debug)]
    enum Op {
        MovReg {
            rd: usize,
            rn: usize,
        },
        MovImm {
            rd: usize,
            imm: u64,
        },
        AddImm {
            rd: usize,
            rn: usize,
            imm: u64,
        },
        AddReg {
            rd: usize,
            rn: usize,
            rm: usize,
        },
        SubReg {
            rd: usize,
            rn: usize,
            rm: usize,
        },
        SubsImm {
            rd: usize,
            rn: usize,
            imm: u64,
        },
        Cmp {
            rn: usize,
            imm: u64,
        },
        CmpW {
            rn: usize,
            imm: u32,
        },
        CmpReg {
            rn: usize,
            rm: usize,
        },
        Neg {
            rd: usize,
            rm: usize,
        },
        AndsImm {
            rd: usize,
            rn: usize,
            imm: u64,
        },
        Tst {
            rn: usize,
            imm: u64,
        },
        B(L),
        BCond(Cond, L),
        Tbz {
            rt: usize,
            bit: u32,
            to: L,
        },
        /// Privileged load `ldr{b,h,} rt, [rn], #post`.
        Ldr {
            size: u64,
            rt: usize,
            rn: usize,
            post: u64,
        },
        /// Privileged store `str{b,h,} rt, [rn], #post`.
        Str {
            size: u64,
            rt: usize,
            rn: usize,
            post: u64,
        },
        /// Privileged `ldp rt1, rt2, [rn], #post`.
        Ldp {
            rt1: usize,
            rt2: usize,
            rn: usize,
            post: u64,
        },
        /// Privileged `stp rt1, rt2, [rn], #post`.
        Stp {
            rt1: usize,
            rt2: usize,
            rn: usize,
            post: u64,
        },
        /// Unprivileged load `ldtr{b,h,} rt, [rn, #off]` (no writeback).
        Ldtr {
            size: u64,
            rt: usize,
            rn: usize,
            off: u64,
        },
        /// Unprivileged store `sttr{b,h,} rt, [rn, #off]` (no writeback).
        Sttr {
            size: u64,
            rt: usize,
            rn: usize,
            off: u64,
        },
        Ret,
    }

    /// An assembled routine.
    pub struct Program {
        ops: Vec<Op>,
        labels: HashMap<L, usize>,
        extable: HashMap<usize, L>,
    }

    struct Asm {
        dir: Direction,
        ops: Vec<Op>,
        labels: HashMap<L, usize>,
        extable: HashMap<usize, L>,
    }

    impl Asm {
        fn op(&mut self, op: Op) {
            self.ops.push(op);
        }
        fn label(&mut self, l: L) {
            assert!(self.labels.insert(l, self.ops.len()).is_none(), "label {l:?} defined twice");
        }
        /// An instruction with an exception-table entry (USER() / the 8888: labels).
        fn user(&mut self, op: Op, fixup: L) {
            self.extable.insert(self.ops.len(), fixup);
            self.ops.push(op);
        }

        // The user_* macros of asm-uaccess.h.
        fn user_ldst_load(&mut self, fixup: L, size: u64, reg: usize, ptr: usize, inc: u64) {
            self.user(Op::Ldtr { size, rt: reg, rn: ptr, off: 0 }, fixup);
            self.op(Op::AddImm { rd: ptr, rn: ptr, imm: inc });
        }
        fn user_ldst_store(&mut self, fixup: L, size: u64, reg: usize, ptr: usize, inc: u64) {
            self.user(Op::Sttr { size, rt: reg, rn: ptr, off: 0 }, fixup);
            self.op(Op::AddImm { rd: ptr, rn: ptr, imm: inc });
        }
        fn user_ldp(&mut self, fixup: L, r1: usize, r2: usize, ptr: usize, inc: u64) {
            self.user(Op::Ldtr { size: 8, rt: r1, rn: ptr, off: 0 }, fixup);
            self.user(Op::Ldtr { size: 8, rt: r2, rn: ptr, off: 8 }, fixup);
            self.op(Op::AddImm { rd: ptr, rn: ptr, imm: inc });
        }
        fn user_stp(&mut self, fixup: L, r1: usize, r2: usize, ptr: usize, inc: u64) {
            self.user(Op::Sttr { size: 8, rt: r1, rn: ptr, off: 0 }, fixup);
            self.user(Op::Sttr { size: 8, rt: r2, rn: ptr, off: 8 }, fixup);
            self.op(Op::AddImm { rd: ptr, rn: ptr, imm: inc });
        }

        // The per-file macros (copy_to_user.S / copy_from_user.S bindings).
        // `size` selects ldrb1/ldrh1/ldr1 (w register: 4, x register: 8).
        fn ld1(&mut self, size: u64, reg: usize, ptr: usize, inc: u64) {
            match self.dir {
                Direction::ToUser => self.op(Op::Ldr { size, rt: reg, rn: ptr, post: inc }),
                Direction::FromUser => {
                    // ldrb1 -> 9998, ldrh1 and ldr1 -> 9997
                    let fixup = if size == 1 { L::Fix9998 } else { L::Fix9997 };
                    self.user_ldst_load(fixup, size, reg, ptr, inc)
                }
            }
        }
        fn st1(&mut self, size: u64, reg: usize, ptr: usize, inc: u64) {
            match self.dir {
                Direction::FromUser => self.op(Op::Str { size, rt: reg, rn: ptr, post: inc }),
                Direction::ToUser => {
                    // strb1 -> 9998, strh1 and str1 -> 9997
                    let fixup = if size == 1 { L::Fix9998 } else { L::Fix9997 };
                    self.user_ldst_store(fixup, size, reg, ptr, inc)
                }
            }
        }
        fn ldp1(&mut self, r1: usize, r2: usize, ptr: usize, inc: u64) {
            match self.dir {
                Direction::ToUser => self.op(Op::Ldp { rt1: r1, rt2: r2, rn: ptr, post: inc }),
                Direction::FromUser => self.user_ldp(L::Fix9997, r1, r2, ptr, inc),
            }
        }
        fn stp1(&mut self, r1: usize, r2: usize, ptr: usize, inc: u64) {
            match self.dir {
                Direction::FromUser => self.op(Op::Stp { rt1: r1, rt2: r2, rn: ptr, post: inc }),
                Direction::ToUser => self.user_stp(L::Fix9997, r1, r2, ptr, inc),
            }
        }
    }

    /// Assemble the routine for `dir`: wrapper entry, the template, the exit, the fixups.
    pub fn assemble(dir: Direction) -> Program {
        use Op::*;
        let mut a = Asm { dir, ops: Vec::new(), labels: HashMap::new(), extable: HashMap::new() };
        // Wrapper: end = x0 + x2, srcin = x1.
        a.op(AddReg { rd: END, rn: DSTIN, rm: COUNT });
        a.op(MovReg { rd: SRCIN, rn: SRC });
        // Template.
        a.op(MovReg { rd: DST, rn: DSTIN });
        a.op(Cmp { rn: COUNT, imm: 16 });
        a.op(BCond(Cond::Lo, L::Tiny15));
        a.op(Neg { rd: TMP2, rm: SRC });
        a.op(AndsImm { rd: TMP2, rn: TMP2, imm: 15 });
        a.op(BCond(Cond::Eq, L::SrcAligned));
        a.op(SubReg { rd: COUNT, rn: COUNT, rm: TMP2 });
        a.op(Tbz { rt: TMP2, bit: 0, to: L::Lead1 });
        a.ld1(1, TMP1, SRC, 1);
        a.st1(1, TMP1, DST, 1);
        a.label(L::Lead1);
        a.op(Tbz { rt: TMP2, bit: 1, to: L::Lead2 });
        a.ld1(2, TMP1, SRC, 2);
        a.st1(2, TMP1, DST, 2);
        a.label(L::Lead2);
        a.op(Tbz { rt: TMP2, bit: 2, to: L::Lead3 });
        a.ld1(4, TMP1, SRC, 4);
        a.st1(4, TMP1, DST, 4);
        a.label(L::Lead3);
        a.op(Tbz { rt: TMP2, bit: 3, to: L::SrcAligned });
        a.ld1(8, TMP1, SRC, 8);
        a.st1(8, TMP1, DST, 8);

        a.label(L::SrcAligned);
        a.op(Cmp { rn: COUNT, imm: 64 });
        a.op(BCond(Cond::Ge, L::Over64));

        a.label(L::Tail63);
        a.op(AndsImm { rd: TMP1, rn: COUNT, imm: 0x30 });
        a.op(BCond(Cond::Eq, L::Tiny15));
        a.op(CmpW { rn: TMP1, imm: 0x20 });
        a.op(BCond(Cond::Eq, L::Tail63Two));
        a.op(BCond(Cond::Lt, L::Tail63One));
        a.ldp1(A_L, A_H, SRC, 16);
        a.stp1(A_L, A_H, DST, 16);
        a.label(L::Tail63Two);
        a.ldp1(A_L, A_H, SRC, 16);
        a.stp1(A_L, A_H, DST, 16);
        a.label(L::Tail63One);
        a.ldp1(A_L, A_H, SRC, 16);
        a.stp1(A_L, A_H, DST, 16);

        a.label(L::Tiny15);
        a.op(Tbz { rt: COUNT, bit: 3, to: L::Tiny15After8 });
        a.ld1(8, TMP1, SRC, 8);
        a.st1(8, TMP1, DST, 8);
        a.label(L::Tiny15After8);
        a.op(Tbz { rt: COUNT, bit: 2, to: L::Tiny15After4 });
        a.ld1(4, TMP1, SRC, 4);
        a.st1(4, TMP1, DST, 4);
        a.label(L::Tiny15After4);
        a.op(Tbz { rt: COUNT, bit: 1, to: L::Tiny15After2 });
        a.ld1(2, TMP1, SRC, 2);
        a.st1(2, TMP1, DST, 2);
        a.label(L::Tiny15After2);
        a.op(Tbz { rt: COUNT, bit: 0, to: L::Exit });
        a.ld1(1, TMP1, SRC, 1);
        a.st1(1, TMP1, DST, 1);
        a.op(B(L::Exit));

        a.label(L::Over64);
        a.op(SubsImm { rd: COUNT, rn: COUNT, imm: 128 });
        a.op(BCond(Cond::Ge, L::BodyLarge));
        a.ldp1(A_L, A_H, SRC, 16);
        a.stp1(A_L, A_H, DST, 16);
        a.ldp1(B_L, B_H, SRC, 16);
        a.ldp1(C_L, C_H, SRC, 16);
        a.stp1(B_L, B_H, DST, 16);
        a.stp1(C_L, C_H, DST, 16);
        a.ldp1(D_L, D_H, SRC, 16);
        a.stp1(D_L, D_H, DST, 16);
        a.op(Tst { rn: COUNT, imm: 0x3f });
        a.op(BCond(Cond::Ne, L::Tail63));
        a.op(B(L::Exit));

        a.label(L::BodyLarge);
        a.ldp1(A_L, A_H, SRC, 16);
        a.ldp1(B_L, B_H, SRC, 16);
        a.ldp1(C_L, C_H, SRC, 16);
        a.ldp1(D_L, D_H, SRC, 16);
        a.label(L::Loop);
        a.stp1(A_L, A_H, DST, 16);
        a.ldp1(A_L, A_H, SRC, 16);
        a.stp1(B_L, B_H, DST, 16);
        a.ldp1(B_L, B_H, SRC, 16);
        a.stp1(C_L, C_H, DST, 16);
        a.ldp1(C_L, C_H, SRC, 16);
        a.stp1(D_L, D_H, DST, 16);
        a.ldp1(D_L, D_H, SRC, 16);
        a.op(SubsImm { rd: COUNT, rn: COUNT, imm: 64 });
        a.op(BCond(Cond::Ge, L::Loop));
        a.stp1(A_L, A_H, DST, 16);
        a.stp1(B_L, B_H, DST, 16);
        a.stp1(C_L, C_H, DST, 16);
        a.stp1(D_L, D_H, DST, 16);
        a.op(Tst { rn: COUNT, imm: 0x3f });
        a.op(BCond(Cond::Ne, L::Tail63));

        a.label(L::Exit);
        a.op(MovImm { rd: 0, imm: 0 });
        a.op(Ret);

        // Fixups of the wrapper file.
        a.label(L::Fix9997);
        a.op(CmpReg { rn: DST, rm: DSTIN });
        a.op(BCond(Cond::Ne, L::Fix9998));
        match dir {
            Direction::ToUser => {
                a.op(Ldr { size: 1, rt: TMP1, rn: SRCIN, post: 0 });
                a.user(Sttr { size: 1, rt: TMP1, rn: DST, off: 0 }, L::Fix9998);
                a.op(AddImm { rd: DST, rn: DST, imm: 1 });
            }
            Direction::FromUser => {
                a.user(Ldtr { size: 1, rt: TMP1, rn: SRCIN, off: 0 }, L::Fix9998);
                a.op(Str { size: 1, rt: TMP1, rn: DST, post: 1 });
            }
        }
        a.label(L::Fix9998);
        a.op(SubReg { rd: 0, rn: END, rm: DST });
        a.op(Ret);

        for l in a.extable.values() {
            assert!(a.labels.contains_key(l));
        }
        Program { ops: a.ops, labels: a.labels, extable: a.extable }
    }

    /// Where the two buffers live. The user pointer carries tag `PTR_TAG` in bits 59:56.
    const USER_BASE: u64 = 0x0000_7f00_0000_0000;
    const KERNEL_BASE: u64 = 0xffff_8000_1000_0000;
    const PTR_TAG: u64 = 0x3;
    const BAD_TAG: u8 = 0x5;
    const ADDR_MASK: u64 = (1 << 56) - 1;

    /// One side of the copy: `len` meaningful bytes at `start`, stored from the granule-aligned
    /// `base` so that granule tags line up with real addresses.
    struct Mem {
        base: u64,
        start: u64,
        len: u64,
        bytes: Vec<u8>,
        written: Vec<bool>,
        tags: Vec<u8>,
    }

    impl Mem {
        fn new(start: u64, len: u64, fill: impl Fn(u64) -> u8) -> Mem {
            let base = start & !15;
            let size = (start - base + len + 15) & !15;
            let bytes = (0..size).map(|i| fill(base + i)).collect();
            Mem {
                base,
                start,
                len,
                bytes,
                written: vec![false; size as usize],
                tags: vec![PTR_TAG as u8; (size / 16) as usize],
            }
        }
        fn index(&self, addr: u64) -> usize {
            assert!(
                addr >= self.start && addr < self.start + self.len,
                "access to {addr:#x} outside the copy [{:#x}, {:#x})",
                self.start,
                self.start + self.len
            );
            (addr - self.base) as usize
        }
    }

    struct Machine<'p> {
        prog: &'p Program,
        x: [u64; 19],
        n: bool,
        z: bool,
        c: bool,
        v: bool,
        user: Mem,
        kern: Mem,
    }

    impl Machine<'_> {
        fn set_sub_flags(&mut self, a: u64, b: u64) -> u64 {
            let r = a.wrapping_sub(b);
            self.n = (r >> 63) & 1 == 1;
            self.z = r == 0;
            self.c = a >= b;
            self.v = ((a ^ b) & (a ^ r)) >> 63 == 1;
            r
        }
        fn set_sub_flags_w(&mut self, a: u32, b: u32) {
            let r = a.wrapping_sub(b);
            self.n = (r >> 31) & 1 == 1;
            self.z = r == 0;
            self.c = a >= b;
            self.v = ((a ^ b) & (a ^ r)) >> 31 == 1;
        }
        fn set_logic_flags(&mut self, r: u64) {
            self.n = (r >> 63) & 1 == 1;
            self.z = r == 0;
            self.c = false;
            self.v = false;
        }
        fn holds(&self, c: Cond) -> bool {
            match c {
                Cond::Eq => self.z,
                Cond::Ne => !self.z,
                Cond::Lo => !self.c,
                Cond::Ge => self.n == self.v,
                Cond::Lt => self.n != self.v,
            }
        }

        /// Privileged access: must be the kernel buffer (PAN forbids touching user memory).
        fn kload(&self, addr: u64, size: u64) -> u64 {
            assert!(addr >= KERNEL_BASE, "privileged load from non-kernel address {addr:#x}");
            let mut v = 0u64;
            for i in 0..size {
                v |= (self.kern.bytes[self.kern.index(addr + i)] as u64) << (8 * i);
            }
            v
        }
        fn kstore(&mut self, addr: u64, size: u64, v: u64) {
            assert!(addr >= KERNEL_BASE, "privileged store to non-kernel address {addr:#x}");
            for i in 0..size {
                let k = self.kern.index(addr + i);
                self.kern.bytes[k] = (v >> (8 * i)) as u8;
                self.kern.written[k] = true;
            }
        }
        /// Unprivileged access: must be the user buffer; MTE check of every touched granule.
        fn tag_ok(&self, addr: u64, size: u64) -> bool {
            assert!(addr < KERNEL_BASE, "unprivileged access to kernel address {addr:#x}");
            let tag = (addr >> 56) & 0xf;
            let a = addr & ADDR_MASK;
            (0..size).all(|i| {
                let k = self.user.index(a + i);
                self.user.tags[k / 16] as u64 == tag
            })
        }
        fn uload(&self, addr: u64, size: u64) -> Option<u64> {
            if !self.tag_ok(addr, size) {
                return None;
            }
            let a = addr & ADDR_MASK;
            let mut v = 0u64;
            for i in 0..size {
                v |= (self.user.bytes[self.user.index(a + i)] as u64) << (8 * i);
            }
            Some(v)
        }
        fn ustore(&mut self, addr: u64, size: u64, v: u64) -> bool {
            if !self.tag_ok(addr, size) {
                return false;
            }
            let a = addr & ADDR_MASK;
            for i in 0..size {
                let k = self.user.index(a + i);
                self.user.bytes[k] = (v >> (8 * i)) as u8;
                self.user.written[k] = true;
            }
            true
        }
        fn target(&self, l: L) -> usize {
            self.prog.labels[&l]
        }
        /// The exception vector: look the faulting pc up in the exception table.
        fn fault(&self, pc: usize) -> usize {
            let l = self.prog.extable.get(&pc).unwrap_or_else(|| panic!("unhandled fault at op {pc}: oops"));
            self.target(*l)
        }

        /// Run from op 0 to `ret`; returns x0.
        fn run(&mut self) -> u64 {
            let mut pc = 0usize;
            for _ in 0..100_000 {
                let op = self.prog.ops[pc];
                let here = pc;
                pc += 1;
                match op {
                    Op::MovReg { rd, rn } => self.x[rd] = self.x[rn],
                    Op::MovImm { rd, imm } => self.x[rd] = imm,
                    Op::AddImm { rd, rn, imm } => self.x[rd] = self.x[rn].wrapping_add(imm),
                    Op::AddReg { rd, rn, rm } => self.x[rd] = self.x[rn].wrapping_add(self.x[rm]),
                    Op::SubReg { rd, rn, rm } => self.x[rd] = self.x[rn].wrapping_sub(self.x[rm]),
                    Op::SubsImm { rd, rn, imm } => self.x[rd] = self.set_sub_flags(self.x[rn], imm),
                    Op::Cmp { rn, imm } => {
                        self.set_sub_flags(self.x[rn], imm);
                    }
                    Op::CmpW { rn, imm } => self.set_sub_flags_w(self.x[rn] as u32, imm),
                    Op::CmpReg { rn, rm } => {
                        self.set_sub_flags(self.x[rn], self.x[rm]);
                    }
                    Op::Neg { rd, rm } => self.x[rd] = 0u64.wrapping_sub(self.x[rm]),
                    Op::AndsImm { rd, rn, imm } => {
                        let r = self.x[rn] & imm;
                        self.set_logic_flags(r);
                        self.x[rd] = r;
                    }
                    Op::Tst { rn, imm } => self.set_logic_flags(self.x[rn] & imm),
                    Op::B(l) => pc = self.target(l),
                    Op::BCond(c, l) => {
                        if self.holds(c) {
                            pc = self.target(l)
                        }
                    }
                    Op::Tbz { rt, bit, to } => {
                        if (self.x[rt] >> bit) & 1 == 0 {
                            pc = self.target(to)
                        }
                    }
                    Op::Ldr { size, rt, rn, post } => {
                        self.x[rt] = self.kload(self.x[rn], size);
                        self.x[rn] = self.x[rn].wrapping_add(post);
                    }
                    Op::Str { size, rt, rn, post } => {
                        self.kstore(self.x[rn], size, self.x[rt]);
                        self.x[rn] = self.x[rn].wrapping_add(post);
                    }
                    Op::Ldp { rt1, rt2, rn, post } => {
                        self.x[rt1] = self.kload(self.x[rn], 8);
                        self.x[rt2] = self.kload(self.x[rn] + 8, 8);
                        self.x[rn] = self.x[rn].wrapping_add(post);
                    }
                    Op::Stp { rt1, rt2, rn, post } => {
                        self.kstore(self.x[rn], 8, self.x[rt1]);
                        self.kstore(self.x[rn] + 8, 8, self.x[rt2]);
                        self.x[rn] = self.x[rn].wrapping_add(post);
                    }
                    Op::Ldtr { size, rt, rn, off } => match self.uload(self.x[rn].wrapping_add(off), size) {
                        Some(v) => self.x[rt] = v,
                        None => pc = self.fault(here),
                    },
                    Op::Sttr { size, rt, rn, off } => {
                        if !self.ustore(self.x[rn].wrapping_add(off), size, self.x[rt]) {
                            pc = self.fault(here);
                        }
                    }
                    Op::Ret => return self.x[0],
                }
            }
            panic!("routine did not return");
        }
    }

    /// Run the routine of `prog` (assembled for `dir`) copying `n` bytes between a user buffer
    /// whose address has low bits `user_low` and a kernel buffer with low bits `kern_low`.
    /// `bad_granule`, if any, is the index of the mistagged granule counted from the user
    /// buffer's aligned base (granule 0 holds the first user byte).
    /// Returns (x0, written destination ranges as offsets from the destination start).
    pub fn run(
        prog: &Program,
        dir: Direction,
        user_low: u64,
        kern_low: u64,
        n: u64,
        bad_granule: Option<u64>,
    ) -> (u64, Vec<(u64, u64)>) {
        let ustart = USER_BASE + user_low;
        let kstart = KERNEL_BASE + kern_low;
        // Distinct contents on both sides so that misplaced bytes would show.
        let mut user = Mem::new(ustart, n, |a| (a.wrapping_mul(131) >> 3) as u8 ^ 0x5a);
        let kern = Mem::new(kstart, n, |a| (a.wrapping_mul(37) >> 2) as u8 ^ 0xc3);
        if let Some(g) = bad_granule {
            if (g as usize) < user.tags.len() {
                user.tags[g as usize] = BAD_TAG;
            }
        }
        let uptr = ustart | (PTR_TAG << 56);
        let mut m = Machine { prog, x: [0; 19], n: false, z: false, c: false, v: false, user, kern };
        let (x0, x1) = match dir {
            Direction::ToUser => (uptr, kstart),
            Direction::FromUser => (kstart, uptr),
        };
        m.x[0] = x0;
        m.x[1] = x1;
        m.x[2] = n;
        // Snapshot the source so the data check below sees the original values.
        let (src_mem, dst_mem) = match dir {
            Direction::ToUser => (&m.kern, &m.user),
            Direction::FromUser => (&m.user, &m.kern),
        };
        let src_before: Vec<u8> = (0..n).map(|i| src_mem.bytes[src_mem.index(src_mem.start + i)]).collect();
        let _ = dst_mem;
        let ret = m.run();
        let (src_mem, dst_mem) = match dir {
            Direction::ToUser => (&m.kern, &m.user),
            Direction::FromUser => (&m.user, &m.kern),
        };
        assert!(!src_mem.written.iter().any(|&w| w), "the source was written");
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for i in 0..n {
            let k = dst_mem.index(dst_mem.start + i);
            if dst_mem.written[k] {
                assert_eq!(dst_mem.bytes[k], src_before[i as usize], "wrong byte at offset {i}");
                match ranges.last_mut() {
                    Some(r) if r.1 == i => r.1 = i + 1,
                    _ => ranges.push((i, i + 1)),
                }
            }
        }
        (ret, ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::interp;
    use super::*;

    /// Call the model with absolute addresses: the user buffer at `uaddr`, the kernel buffer
    /// at `kaddr`, and `bad(addr)` telling whether a user address is in a bad granule.
    fn call(dir: Direction, uaddr: u64, kaddr: u64, n: u64, bad: &dyn Fn(u64) -> bool) -> CopyOutcome {
        let (dst, src) = match dir {
            Direction::ToUser => (uaddr, kaddr),
            Direction::FromUser => (kaddr, uaddr),
        };
        simulate(dir, dst, src, n, &|off| !bad(uaddr + off))
    }

    /// A caller that resumes at the returned position until a call makes no progress (or the
    /// copy completes). Returns the `not_copied` of every call and the final position.
    fn resume_loop(dir: Direction, uaddr: u64, kaddr: u64, n: u64, bad: &dyn Fn(u64) -> bool) -> (Vec<u64>, u64) {
        let mut pos = 0;
        let mut rets = Vec::new();
        while pos < n {
            let left = n - pos;
            let r = call(dir, uaddr + pos, kaddr + pos, left, bad);
            rets.push(r.not_copied);
            assert!(rets.len() < 100, "no convergence");
            if r.not_copied == left {
                break;
            }
            pos += left - r.not_copied;
        }
        (rets, pos)
    }

    fn granule(g: u64) -> impl Fn(u64) -> bool {
        move |a| a & !15 == g
    }

    const SIZES: &[u64] = &[63, 64, 65, 100, 127, 128, 129, 200, 1000];

    /// The model equals the interpreter for both directions, every (dst % 16, src % 16), every
    /// size of the list, no fault or one bad granule at every granule the user side touches.
    #[test]
    fn model_matches_interpreter_exhaustively() {
        let sizes: Vec<u64> = (0..=40).chain(SIZES.iter().copied()).collect();
        let mut cases = 0u64;
        for dir in [Direction::ToUser, Direction::FromUser] {
            let prog = interp::assemble(dir);
            for dst_low in 0..16u64 {
                for src_low in 0..16u64 {
                    let (user_low, kern_low) = match dir {
                        Direction::ToUser => (dst_low, src_low),
                        Direction::FromUser => (src_low, dst_low),
                    };
                    for &n in &sizes {
                        let granules = if n == 0 { 0 } else { (user_low + n - 1) / 16 + 1 };
                        let bads = std::iter::once(None).chain((0..granules).map(Some));
                        for bad in bads {
                            let user_ok = |off: u64| Some((user_low + off) / 16) != bad;
                            let got = simulate(dir, dst_low, src_low, n, &user_ok);
                            let (ret, written) = interp::run(&prog, dir, user_low, kern_low, n, bad);
                            let ctx = format!("{dir:?} dst%16={dst_low} src%16={src_low} n={n} bad granule {bad:?}");
                            assert_eq!(got.not_copied, ret, "not_copied: {ctx}");
                            assert_eq!(got.written, written, "written: {ctx}");
                            // Invariants of the outcome.
                            let copied = n - got.not_copied;
                            let w = got.written.first().map_or(0, |r| r.1);
                            assert!(got.written.len() <= 1 && got.written.first().is_none_or(|r| r.0 == 0), "{ctx}");
                            match dir {
                                Direction::FromUser => assert_eq!(w, copied, "{ctx}"),
                                Direction::ToUser => assert!(w >= copied && w - copied <= 8, "{ctx}"),
                            }
                            assert!((0..w).all(&user_ok), "a bad byte was written: {ctx}");
                            if bad.is_none() {
                                assert_eq!(got.not_copied, 0, "{ctx}");
                            }
                            cases += 1;
                        }
                    }
                }
            }
        }
        println!("model == interpreter on {cases} cases");
    }

    /// Notes A7, example 1: copy_to_user of 1000 bytes to dst = ...068, bad granule ...070.
    #[test]
    fn notes_example_1_copy_to_user() {
        let g = 0x1070;
        let bad = granule(g);
        // (a) src 8-aligned: the 8-byte lead store lands, the first pair faults; then nothing.
        let (rets, pos) = resume_loop(Direction::ToUser, 0x1068, 0xffff_0000_0000_0008, 1000, &bad);
        assert_eq!(rets, vec![992, 992]);
        assert_eq!(0x1068 + pos, g);
        // (b) src 16-aligned: the first pair's low half lands (uncredited), the one-byte retry
        // gives 1, the 15-byte lead-in gets 7 more, then nothing.
        let (rets, pos) = resume_loop(Direction::ToUser, 0x1068, 0xffff_0000_0000_0000, 1000, &bad);
        assert_eq!(rets, vec![999, 992, 992]);
        assert_eq!(0x1068 + pos, g);
        // The first call of (b) actually wrote 8 bytes but reports 1.
        let first = call(Direction::ToUser, 0x1068, 0xffff_0000_0000_0000, 1000, &bad);
        assert_eq!(first.not_copied, 999);
        assert_eq!(first.written, vec![(0, 8)]);
    }

    /// Notes A7, example 2: the pair under-report. dst = G-56 (= 8 mod 16), src aligned, bad
    /// granule G+16: the pair at G+8 writes G+8..G+15 then faults, dst stays at G+8.
    #[test]
    fn notes_example_2_pair_under_report() {
        let g = 0x2000;
        let bad = granule(g + 16);
        let start = g - 56;
        let first = call(Direction::ToUser, start, 0xffff_0000_0000_0000, 1000, &bad);
        assert_eq!(first.not_copied, 1000 - 64); // credited up to G+8
        assert_eq!(first.written, vec![(0, 72)]); // written up to G+16
        let (rets, pos) = resume_loop(Direction::ToUser, start, 0xffff_0000_0000_0000, 1000, &bad);
        // 64 credited, then the byte retry (1), then the 15-byte lead-in gets 1+2+4 = 7 before
        // its 8-byte store hits G+16, then nothing.
        assert_eq!(rets, vec![936, 935, 928, 928]);
        assert_eq!(start + pos, g + 16);
    }

    /// Notes A7, example 3: copy_from_user from G-100, 1000 bytes, bad source granule G. The
    /// count follows the kernel-buffer stores, which lag the user loads.
    #[test]
    fn notes_example_3_copy_from_user_load_ahead() {
        let g = 0x3000;
        let bad = granule(g);
        for kern_low in 0..16 {
            let (rets, pos) = resume_loop(Direction::FromUser, g - 100, 0xffff_0000_0000_0000 + kern_low, 1000, &bad);
            assert_eq!(rets, vec![948, 947, 932, 931, 916, 915, 900, 900], "kernel dst % 16 = {kern_low}");
            assert_eq!(g - 100 + pos, g);
        }
    }

    /// Resume property: from any start before (or inside) a bad granule, resuming at
    /// `start + (n - not_copied)` ends exactly at the bad granule's first byte, where the last
    /// call makes no progress. It takes a bounded number of calls.
    ///
    /// Worst cases (calls counted including the final no-progress call):
    /// - ToUser, 11 calls: start = G-16 (16-aligned), kernel src = 15 mod 16, n = 23 (7 bytes
    ///   past G). Call 1: a 1-byte lead-in store, then the first pair at G-15 writes its low
    ///   half and its high half faults, so 1 is credited. Call 2: the same pair faults again and
    ///   the byte retry gives 1. Call 3: the 15-byte lead-in stores 1+2+4 bytes before its
    ///   8-byte store straddles G, so 7. Now fewer than 16 bytes remain. The tiny path starts
    ///   with an 8-byte store at offset 0, which straddles G on each of the next calls, and
    ///   the byte retry creeps forward one byte per call: 7 calls. Then the final call.
    /// - ToUser while every call has >= 16 bytes (>= 16 bytes past G), 9 calls: the same
    ///   start gives 1, 1, 7. Then lead-ins shorter than 15 bytes alternate with byte retries
    ///   (1, 3, 1, 1, 1) up to G, then the final call.
    /// - FromUser, 8 calls: the 1,15,1,15,1,15 approach of example 3 behind a first short copy
    ///   (loads run up to 4 pairs ahead), then the final call. The tiny path (n < 16, an
    ///   8-byte load straddling G, then byte retries) also reaches 8.
    #[test]
    fn resume_loop_converges_on_the_bad_granule() {
        let g = 0x10_0000u64;
        let bad = granule(g);
        // [dir][0 = all tails, 1 = tails >= 16 only]
        let mut max_calls = [[0usize; 2]; 2];
        let mut worst = [(0u64, 0u64, 0u64); 2];
        for (di, dir) in [Direction::ToUser, Direction::FromUser].into_iter().enumerate() {
            // d = distance from the start to the granule (0 = the start is the granule's first
            // byte). Starts inside the granule are covered by `inside`.
            for d in 0..=400u64 {
                for inside in [false, true] {
                    if inside && d != 0 {
                        continue;
                    }
                    let starts: Vec<u64> = if inside { (1..16).map(|k| g + k).collect() } else { vec![g - d] };
                    for start in starts {
                        for kern_low in 0..16u64 {
                            for tail in [1u64, 7, 15, 16, 17, 64, 100, 1000] {
                                let target = start.max(g);
                                let n = target + tail - start;
                                let kaddr = 0xffff_0000_0000_0000 + kern_low;
                                let (rets, pos) = resume_loop(dir, start, kaddr, n, &bad);
                                assert_eq!(start + pos, target, "{dir:?} start={start:#x} k%16={kern_low} n={n}");
                                assert_eq!(*rets.last().unwrap(), n - pos, "the last call makes no progress");
                                if rets.len() > max_calls[di][0] {
                                    max_calls[di][0] = rets.len();
                                    worst[di] = (g - start.min(g), kern_low, n);
                                }
                                if tail >= 16 {
                                    max_calls[di][1] = max_calls[di][1].max(rets.len());
                                }
                            }
                        }
                    }
                }
            }
        }
        println!(
            "max calls (including the final no-progress call): ToUser {} (first at distance {}, k%16 {}, n {}; {} \
             when every call has >= 16 bytes), FromUser {} (first at distance {}, k%16 {}, n {}; {} when every \
             call has >= 16 bytes)",
            max_calls[0][0],
            worst[0].0,
            worst[0].1,
            worst[0].2,
            max_calls[0][1],
            max_calls[1][0],
            worst[1].0,
            worst[1].1,
            worst[1].2,
            max_calls[1][1]
        );
        assert_eq!(max_calls, [[11, 9], [8, 8]]);
    }

    /// The ToUser worst case above, call by call.
    #[test]
    fn to_user_worst_case_sequence() {
        let g = 0x10_0000u64;
        let (rets, pos) = resume_loop(Direction::ToUser, g - 16, 0xffff_0000_0000_000f, 23, &granule(g));
        let mut left = 23u64;
        let mut copied = Vec::new();
        for r in rets {
            copied.push(left - r);
            left = r;
        }
        assert_eq!(copied, vec![1, 1, 7, 1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(pos, 16);
    }

    /// configs/write-short-arm64.yaml: write() of 8000 bytes from offset 103 of a page-aligned
    /// user buffer into a new tmpfs file at offset 0, bad granule at buffer offset 4992 (the
    /// granule holding offset 5000). generic_perform_write copies per page-cache page with
    /// copy_page_from_iter_atomic -> __arch_copy_from_user. Its destination is the page at
    /// file offset `pos & ~4095`, plus `pos & 4095`, so dst % 16 == pos % 16. tmpfs
    /// (shmem_write_end) keeps a short copy, and the next attempt starts at the new position
    /// with `bytes = min(rest of the page, bytes left in the iov_iter)`.
    ///
    /// Chunk 1 (file 0..4096, user 103..4199) is clean. Chunk 2 starts at user 4199 (src = 7
    /// mod 16): the lead-in moves 1 + 8 bytes, then blocks start at 4208. The bad granule is
    /// block 49. In the large loop it is loaded in the 12th iteration, right after block 45 was
    /// stored: 9 + 46*16 = 745. After that the source is 16-aligned 48 bytes before the
    /// granule: preload hits it at pair 3 -> byte retry (1); the 15-byte lead-in, then pair 2
    /// faults (15); retry (1); lead-in, pair 1 (15); retry (1); lead-in, pair 0 (15). The
    /// position is now exactly the bad granule, and the next attempt copies 0 (its byte retry
    /// faults). So there are 7 short copies with progress, (745, 1, 15, 1, 15, 1, 15), as the
    /// issue says, and write() returns 4096 + 793 = 4889 (= 4992 - 103), the config's
    /// "write: 4889". Whether the 0-byte 8th attempt is made depends on the release: before
    /// 6.14 the prefault before each attempt probes the first byte, so at position 4992 it fails
    /// first (-EFAULT for the chunk). From 6.14 the copy is tried first, copies 0, and only then
    /// the fault-in fails.
    #[test]
    fn write_short_arm64_sequence() {
        const PAGE: u64 = 4096;
        let buf = 0x0000_aaaa_0000_0000u64; // page aligned
        let (first, total) = (103u64, 8000u64);
        let bad_off = 5000 & !15;
        assert_eq!(bad_off, 4992);
        let bad = granule(buf + bad_off);
        let page_cache = 0xffff_0000_4000_0000u64; // page aligned; pages are contiguous here, only % 16 matters

        let mut pos = 0u64; // file position = bytes written so far
        let mut attempts: Vec<(u64, u64, u64)> = Vec::new(); // (file pos, bytes asked, copied)
        while pos < total {
            let offset = pos % PAGE;
            let bytes = (PAGE - offset).min(total - pos);
            let uaddr = buf + first + pos;
            let r = call(Direction::FromUser, uaddr, page_cache + pos, bytes, &bad);
            let copied = bytes - r.not_copied;
            attempts.push((pos, bytes, copied));
            if copied == 0 {
                break; // fault-in of the current position fails -> -EFAULT for this chunk
            }
            pos += copied;
        }
        let copies: Vec<u64> = attempts.iter().map(|a| a.2).collect();
        println!("write-short-arm64 attempts (file pos, bytes, copied): {attempts:?}");
        assert_eq!(copies[0], 4096, "the first page-cache page is copied whole");
        let short: Vec<u64> = attempts[1..].iter().filter(|a| a.2 < a.1 && a.2 > 0).map(|a| a.2).collect();
        assert_eq!(short, vec![745, 1, 15, 1, 15, 1, 15]);
        assert_eq!(copies, vec![4096, 745, 1, 15, 1, 15, 1, 15, 0]);
        assert_eq!(pos, 4889);
        assert_eq!(first + pos, bad_off, "the write stops exactly at the bad granule");
    }

    #[test]
    fn merge_ranges_normalises() {
        assert_eq!(merge_ranges(vec![(8, 16), (0, 8), (0, 1), (20, 20), (30, 40)]), vec![(0, 16), (30, 40)]);
    }

    #[test]
    fn no_fault_copies_everything() {
        for dir in [Direction::ToUser, Direction::FromUser] {
            for n in [0u64, 1, 15, 16, 17, 300] {
                let r = simulate(dir, 3, 5, n, &|_| true);
                assert_eq!(r.not_copied, 0);
                assert_eq!(r.written, if n == 0 { vec![] } else { vec![(0, n)] });
            }
        }
    }
}
