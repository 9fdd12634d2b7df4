// mte_inline_checks: accesses to a page of mixed tags after the page is warm, so that the
// generated code's inline window check (tagmmu's Unicorn patch 0013) meets them first: loads
// and stores of every size inside matching granules pass; a load or a store into a granule of
// another tag, an access across a granule boundary into one, an STP whose second half is in
// one (neither half written), and a pointer whose granule was retagged fault precisely; a
// store ending at a boundary before a mismatching granule, and one ending at the page's end,
// pass. Each check runs in a loop, so the same generated code sees passing and faulting
// accesses. Sync mode. Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: differential
#include "mte_util.h"

static int failed;

/* Granules 0..3 tag 1, granule 4 tag 2, granules 5..255 tag 1. */
static char *setup(void) {
    char *p = map_mte(4096);
    for (int g = 0; g < 256; g++)
        stg(tag_ptr(p + 16 * g, g == 4 ? 2 : 1));
    return p;
}

static void load_at(volatile uint64_t *q, uint64_t *sink) { *sink += *q; }

int main(void) {
    set_mode(TCF_SYNC, 0xfffe);
    install_handler(0);
    char *p = setup();
    char *t1 = tag_ptr(p, 1);
    uint64_t sink = 0;

    /* Warm: many passing accesses of each size through the same code. */
    for (int round = 0; round < 64; round++) {
        for (int off = 0; off < 64; off += 8) {
            *(volatile uint8_t *)(t1 + off) = (uint8_t)round;
            *(volatile uint16_t *)(t1 + off + 2) = (uint16_t)round;
            *(volatile uint32_t *)(t1 + off + 4) = (uint32_t)round;
            sink += *(volatile uint8_t *)(t1 + off) + *(volatile uint16_t *)(t1 + off + 2) +
                    *(volatile uint32_t *)(t1 + off + 4);
        }
        load_at((volatile uint64_t *)(t1 + 80 + 8 * (round % 8)), &sink);
    }
    CHECK(faults == 0, "warm accesses of every size inside matching granules");

    /* The same load site, into granule 4 (tag 2) every eighth round: one fault each. */
    for (int round = 0; round < 64; round++)
        load_at((volatile uint64_t *)(t1 + (round % 8 == 7 ? 64 : 48)), &sink);
    CHECK(faults == 8, "a warm load site faults on each access to the other tag's granule");
    /* Without SA_EXPOSE_TAGBITS Linux clears the tag bits of si_addr (qemu-user keeps them). */
    CHECK(last_code == 9 && (last_addr & ((1UL << 56) - 1)) == (uintptr_t)(p + 64), "SEGV_MTESERR at the granule");

    /* A store through the same site into granule 4. */
    for (int round = 0; round < 16; round++)
        *(volatile uint64_t *)(t1 + (round % 4 == 3 ? 72 : 40)) = 0x5555;
    CHECK(faults == 12, "a warm store site faults on each store to the other tag's granule");
    CHECK(*(volatile uint64_t *)tag_ptr(p + 72, 2) != 0x5555, "and none of them was written");

    /* Across a granule boundary into granule 4. */
    *(volatile uint64_t *)(t1 + 60) = 1;
    CHECK(faults == 13, "a store across into the other tag's granule faults");

    /* A store ending at the boundary before granule 4 passes; an STP whose second half is in
     * granule 4 faults and writes neither half. */
    for (int round = 0; round < 8; round++)
        *(volatile uint64_t *)(t1 + 56) = 0x1111;
    CHECK(faults == 13, "a store ending at the boundary before the other tag's granule passes");
    uint64_t v1 = 0xaaaa, v2 = 0xbbbb;
    /* A load first: a syscall (the printf of the checks) empties the windows' tag cache, and
     * the load's check fills it again, so the STP meets the inline check. */
    uint64_t scratch;
    __asm__ volatile("ldr %0, [%3]\n\tstp %1, %2, [%4]"
                     : "=&r"(scratch)
                     : "r"(v1), "r"(v2), "r"(t1 + 48), "r"(t1 + 56)
                     : "memory");
    sink += scratch;
    CHECK(faults == 14, "an STP with its second half in the other tag's granule faults");
    CHECK(*(volatile uint64_t *)(t1 + 56) == 0x1111, "and its first half is not written");

    /* The page's last granule: a store ending at the end of the page. */
    for (int round = 0; round < 8; round++)
        *(volatile uint64_t *)(t1 + 4088) = 7;
    CHECK(faults == 14 && *(volatile uint64_t *)(t1 + 4088) == 7, "a store ending at the end of the page passes");

    /* Retag granule 3 to tag 5: the warm site faults through the old pointer at once, and the
     * new pointer passes. */
    for (int round = 0; round < 8; round++)
        load_at((volatile uint64_t *)(t1 + 48), &sink);
    stg(tag_ptr(p + 48, 5));
    load_at((volatile uint64_t *)(t1 + 48), &sink);
    CHECK(faults == 15, "after a retag the old pointer faults at once");
    load_at((volatile uint64_t *)tag_ptr(p + 48, 5), &sink);
    CHECK(faults == 15, "and the new one passes");
    printf("sink %llu\n", (unsigned long long)(sink != 0));
    return failed;
}
