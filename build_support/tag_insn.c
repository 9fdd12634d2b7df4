/* The fast path of the MTE tag instructions tagmmu emulates (Unicorn patch 0010).
 *
 * Unicorn's QEMU 5.0 has no MTE, so the tag instructions are unallocated encodings that call
 * tagmmu's interrupt hook inline (patch 0008). Each one through the Rust hook cost 100-200 ns;
 * glibc's heap tagging runs millions (STG/ST2G and DC GVA to tag every chunk, LDG to check
 * one, GMI to build IRG's exclusion). This function emulates the common cases in C, on pages
 * the Rust side has already seen through a tag instruction (so their fault handling is
 * known to be a no-op) and entered in the table below:
 * - GMI;
 * - LDG on a page entered readable;
 * - STG and ST2G (any index form) within one page entered writable, DC GVA;
 * - IRG, from the machine's seeded tag generator, which the Rust path draws from too;
 * and returns false for everything else, which then goes to the Rust hook as before (the
 * zeroing forms; STGP; ADDG/SUBG; unaligned, page-crossing and unentered addresses, where
 * the Rust path raises the faults).
 *
 * A store also keeps the MMIO windows' tag cache equal to the tags (tag_cache.h), and is
 * refused (left to Rust) when its physical page may be entered in the soft TLB without
 * checks: dropping those TLB entries is Rust's job (`mte::forget_unchecked`). The table is
 * emptied whenever the TLB is flushed, which every change of mappings, permissions,
 * residency or segments causes (`Backend::tlb_flushed`). See src/emu/arm64/tag_insn.rs. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tag_cache.h"

struct uc_struct;

/* Mirrors `TagInsnPage` in src/emu/arm64/tag_insn.rs. */
struct tagmmu_tag_insn_page {
    /* Untagged virtual page number, or UINT64_MAX for none. */
    uint64_t va_page;
    /* The page's granule tags (TAGMMU_PAGE_GRANULES of them), in the segment's tag storage. */
    uint8_t *tags;
    /* Physical page number. */
    uint64_t pa_page;
    /* The mapping is writable (else only LDG may use the entry). */
    uint64_t writable;
};

#define TAGMMU_INSN_PAGES 1024 /* 2^10: page_slot's hash width */
#define TAGMMU_UNCHECKED_SLOTS 65536

/* Mirrors `TagInsnTable` in src/emu/arm64/tag_insn.rs. */
struct tagmmu_tag_insns {
    /* Offset of xregs[32] in CPUARMState (from the build-time probe); xregs[31] is SP. */
    size_t env_xregs;
    /* The MMIO windows' tag cache, updated in place by tag stores. */
    struct tagmmu_tag_cache *cache;
    /* Instructions emulated here. */
    uint64_t emulated;
    /* IRG's generator (tagmmu_irg_draw) and GCR_EL1.Exclude of the running thread, which
     * the Rust side keeps current (`TagInsnTable::set_exclude` after every kernel entry). */
    uint64_t irg_state;
    uint64_t irg_exclude;
    /* Per hash slot of physical page numbers: how many pages there may be entered in the
     * soft TLB without checks. Non-zero: tag stores to such pages go to Rust. */
    uint16_t unchecked[TAGMMU_UNCHECKED_SLOTS];
    struct tagmmu_tag_insn_page pages[TAGMMU_INSN_PAGES];
};

/* Linux/arm64 ignores the top byte of user addresses (TBI): bits 55:0 are the address. */
#define TAGMMU_UNTAG(a) ((a) & 0x00ffffffffffffffull)
#define TAGMMU_PTR_TAG(a) (((a) >> 56) & 15)

/* The table's slot of virtual page `vp`: a multiplicative hash (Fibonacci hashing), so
 * buffers a power of two apart (bench_memops tags two 8 MiB halves in turn) do not share a
 * slot. Mirrors `TagInsnTable::slot`. */
static unsigned page_slot(uint64_t vp) {
    return (unsigned)((vp * 0x9e3779b97f4a7c15ull) >> (64 - 10));
}

static struct tagmmu_tag_insn_page *lookup(struct tagmmu_tag_insns *t, uint64_t va, bool store) {
    uint64_t vp = va >> TAGMMU_PAGE_SHIFT;
    struct tagmmu_tag_insn_page *e = &t->pages[page_slot(vp)];
    if (e->va_page != vp) {
        return NULL;
    }
    if (store && (!e->writable || t->unchecked[e->pa_page % TAGMMU_UNCHECKED_SLOTS] != 0)) {
        return NULL;
    }
    return e;
}

/* Set `n` granules' tags from the one holding `va` (within the entry's page). */
static void store_tags(struct tagmmu_tag_insns *t, struct tagmmu_tag_insn_page *e, uint64_t va, unsigned n,
                       uint8_t tag) {
    unsigned g0 = (unsigned)(va & ((1u << TAGMMU_PAGE_SHIFT) - 1)) >> TAGMMU_GRANULE_SHIFT;
    unsigned slot = (unsigned)(e->pa_page % TAGMMU_CACHE_PAGES);
    uint8_t *cached = t->cache && t->cache->page[slot] == e->pa_page ? t->cache->tags[slot] : NULL;
    for (unsigned i = 0; i < n; i++) {
        e->tags[g0 + i] = tag;
        if (cached) {
            cached[g0 + i] = tag;
        }
    }
}

/* IRG's choice: splitmix64 steps `*state`; the tag is the i-th of the tags `exclude` allows,
 * i uniform (the high half of the draw scaled to their number); 0 when every tag is excluded
 * (no draw). Mirrors `irg_draw` in src/emu/arm64/tag_insn.rs. */
uint64_t tagmmu_irg_draw(uint64_t *state, uint16_t exclude) {
    unsigned allowed = 16u - (unsigned)__builtin_popcount(exclude);
    if (allowed == 0) {
        return 0;
    }
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    unsigned i = (unsigned)(((z >> 32) * allowed) >> 32);
    for (unsigned tag = 0; tag < 16; tag++) {
        if (!(exclude & (1u << tag)) && i-- == 0) {
            return tag;
        }
    }
    return 0;
}

/* The fast emulation (uc_cb_tagmmu_udef_fast_t): true when the instruction at the PC was
 * emulated (the engine steps the PC past it), false to leave it to the interrupt hook. */
bool tagmmu_tag_insn(struct uc_struct *uc, void *env, uint32_t w, void *data) {
    struct tagmmu_tag_insns *t = data;
    uint64_t *x = (uint64_t *)((char *)env + t->env_xregs);
    unsigned rd = w & 31, rn = (w >> 5) & 31, rm = (w >> 16) & 31;
    (void)uc;
    /* IRG Xd|SP, Xn|SP, Xm: Xn with a random tag that neither GCR_EL1.Exclude nor Xm<15:0>
     * (XZR for 31) excludes. */
    if ((w & 0xffe0fc00) == 0x9ac01000) {
        uint16_t exclude = (uint16_t)t->irg_exclude | (uint16_t)(rm == 31 ? 0 : x[rm]);
        uint64_t tag = tagmmu_irg_draw(&t->irg_state, exclude);
        x[rd] = (x[rn] & ~(15ull << 56)) | (tag << 56);
        t->emulated++;
        return true;
    }
    /* GMI Xd, Xn|SP, Xm: Xm (XZR for 31) with the bit of Xn's tag set. */
    if ((w & 0xffe0fc00) == 0x9ac01400) {
        uint64_t v = (rm == 31 ? 0 : x[rm]) | (1ull << TAGMMU_PTR_TAG(x[rn]));
        if (rd != 31) {
            x[rd] = v;
        }
        t->emulated++;
        return true;
    }
    /* Load/store memory tags: 11011001 opc 1 imm9 op2 Xn|SP Xt. */
    if ((w & 0xff200000) == 0xd9200000) {
        unsigned opc = (w >> 22) & 3, op2 = (w >> 10) & 3;
        int64_t imm = ((int64_t)((uint64_t)((w >> 12) & 0x1ff) << 55) >> 55) * 16;
        if (op2 == 0) {
            /* LDG Xt, [Xn|SP, #imm]: Xt's tag bits become the granule's tag. */
            if (opc != 1) {
                return false;
            }
            uint64_t addr = (x[rn] + (uint64_t)imm) & ~15ull;
            uint64_t va = TAGMMU_UNTAG(addr);
            struct tagmmu_tag_insn_page *e = lookup(t, va, false);
            if (!e) {
                return false;
            }
            uint64_t tag = e->tags[(va & ((1u << TAGMMU_PAGE_SHIFT) - 1)) >> TAGMMU_GRANULE_SHIFT];
            if (rd != 31) {
                x[rd] = (x[rd] & ~(15ull << 56)) | (tag << 56);
            }
            t->emulated++;
            return true;
        }
        /* STG (opc 0), ST2G (opc 2), Xt|SP, [Xn|SP]: post-index (op2 1), offset (2),
         * pre-index (3). STZG/STZ2G (odd opc) also zero memory: Rust. */
        if (opc & 1) {
            return false;
        }
        unsigned n = opc == 2 ? 2 : 1;
        uint64_t base = x[rn];
        uint64_t addr = op2 == 1 ? base : base + (uint64_t)imm;
        uint64_t va = TAGMMU_UNTAG(addr);
        if ((addr & 15) != 0 || (va & ((1u << TAGMMU_PAGE_SHIFT) - 1)) + 16u * n > (1u << TAGMMU_PAGE_SHIFT)) {
            return false;
        }
        struct tagmmu_tag_insn_page *e = lookup(t, va, true);
        if (!e) {
            return false;
        }
        store_tags(t, e, va, n, (uint8_t)TAGMMU_PTR_TAG(x[rd]));
        if (op2 != 2) {
            x[rn] = base + (uint64_t)imm;
        }
        t->emulated++;
        return true;
    }
    /* DC GVA, Xt: the tags of the 64-byte block holding Xt (XZR for 31) from its tag. */
    if ((w & 0xffffffe0) == 0xd50b7460) {
        uint64_t ptr = rd == 31 ? 0 : x[rd];
        uint64_t va = TAGMMU_UNTAG(ptr & ~63ull);
        struct tagmmu_tag_insn_page *e = lookup(t, va, true);
        if (!e) {
            return false;
        }
        store_tags(t, e, va, 4, (uint8_t)TAGMMU_PTR_TAG(ptr));
        t->emulated++;
        return true;
    }
    return false;
}
