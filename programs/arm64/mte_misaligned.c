// mte_misaligned: misaligned accesses and atomics on a page whose granules carry different
// tags, in sync mode. A misaligned store running into a mismatching granule faults at that
// granule and writes none of its bytes; a misaligned load that starts in a mismatching granule
// faults at its own address; misaligned accesses inside matching granules work; an exclusive
// pair and an LSE atomic work on a matching granule and fault on a mismatching one, leaving it
// unchanged. (tagmmu serves the accesses to such a page through a checked window, which
// checks an access within the page whole and splits one across pages into pieces; these
// checks pin the whole-access outcome.)
// si_addr is compared untagged: without SA_EXPOSE_TAGBITS Linux clears the tag,
// qemu-aarch64 keeps it.
// argv: none.
// Expected stdout (Linux):
//   a misaligned store into a mismatching granule faults at that granule: ok
//   and writes none of its bytes: ok
//   a misaligned load starting in a mismatching granule faults at its own address: ok
//   misaligned accesses inside a matching granule work: ok
//   a misaligned load running into a mismatching granule faults at that granule: ok
//   an exclusive load/store pair works on a matching granule: ok
//   an LSE atomic add works on a matching granule: ok
//   an LSE atomic add on a mismatching granule faults and changes nothing: ok
//   a misaligned store across pages into a mismatching granule faults at that granule: ok
//   and writes none of its bytes: ok
//   a misaligned load across pages into a mismatching granule faults at that granule: ok
//   misaligned accesses across pages into matching granules work: ok
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: differential
#include "mte_util.h"

static int failed;

#define UNTAG(a) ((uintptr_t)(a) & ~(0xffUL << 56))

int main(void) {
    if (set_mode(TCF_SYNC, 0xfffe) != 0) {
        perror("prctl");
        return 2;
    }
    install_handler(0);
    char *p = map_mte(4096);
    char *g = tag_ptr(p, 4);
    /* Granules 0 and 2 tagged 4; granules 1 and 3 keep tag 0. */
    stg(g);
    stg(g + 32);
    volatile unsigned char *b = (volatile unsigned char *)g;
    for (int i = 0; i < 16; i++)
        b[i] = 0x11;
    for (int i = 32; i < 48; i++)
        b[i] = 0x33;

    *(volatile uint64_t *)(g + 12) = ~0UL;
    CHECK(faults == 1 && UNTAG(last_addr) == UNTAG(p + 16), "a misaligned store into a mismatching granule faults at that granule");
    CHECK(b[12] == 0x11 && b[13] == 0x11 && b[14] == 0x11 && b[15] == 0x11, "and writes none of its bytes");

    uint64_t x = *(volatile uint64_t *)(g + 20);
    (void)x;
    CHECK(faults == 2 && UNTAG(last_addr) == UNTAG(p + 20), "a misaligned load starting in a mismatching granule faults at its own address");

    uint32_t y = *(volatile uint32_t *)(g + 33);
    *(volatile uint64_t *)(g + 35) = 0x0102030405060708UL;
    uint64_t z = *(volatile uint64_t *)(g + 35);
    CHECK(faults == 2 && y == 0x33333333 && z == 0x0102030405060708UL && b[34] == 0x33 && b[43] == 0x33,
          "misaligned accesses inside a matching granule work");

    x = *(volatile uint64_t *)(g + 44);
    CHECK(faults == 3 && UNTAG(last_addr) == UNTAG(p + 48), "a misaligned load running into a mismatching granule faults at that granule");

    uint64_t *w = (uint64_t *)g;
    uint64_t old, fail;
    __asm__ volatile("1: ldxr %0, [%2]\n add %0, %0, #1\n stxr %w1, %0, [%2]\n cbnz %w1, 1b"
                     : "=&r"(old), "=&r"(fail)
                     : "r"(w)
                     : "memory");
    CHECK(faults == 3 && *(volatile uint64_t *)w == 0x1111111111111112UL, "an exclusive load/store pair works on a matching granule");

    __atomic_fetch_add(w, 2, __ATOMIC_SEQ_CST);
    CHECK(faults == 3 && *(volatile uint64_t *)w == 0x1111111111111114UL, "an LSE atomic add works on a matching granule");

    uint64_t *bad = (uint64_t *)(g + 16);
    uint64_t before = *(volatile uint64_t *)(p + 16);
    __asm__ volatile("ldaddal %1, %0, [%2]" : "=&r"(old) : "r"(5UL), "r"(bad) : "memory");
    CHECK(faults == 4 && UNTAG(last_addr) == UNTAG(p + 16) && *(volatile uint64_t *)(p + 16) == before,
          "an LSE atomic add on a mismatching granule faults and changes nothing");

    /* Across pages: the last granule of the first page tagged 4, the first granule of the
     * next page keeps tag 0. */
    char *q = map_mte(8192);
    char *h = tag_ptr(q, 4);
    stg(h + 4080);
    volatile unsigned char *c = (volatile unsigned char *)h;
    for (int i = 4080; i < 4096; i++)
        c[i] = 0x44;
    *(volatile uint64_t *)(h + 4092) = ~0UL;
    CHECK(faults == 5 && UNTAG(last_addr) == UNTAG(q + 4096),
          "a misaligned store across pages into a mismatching granule faults at that granule");
    CHECK(c[4092] == 0x44 && c[4095] == 0x44 && ((volatile char *)q)[4096] == 0, "and writes none of its bytes");
    x = *(volatile uint64_t *)(h + 4092);
    CHECK(faults == 6 && UNTAG(last_addr) == UNTAG(q + 4096),
          "a misaligned load across pages into a mismatching granule faults at that granule");
    stg(h + 4096);
    *(volatile uint64_t *)(h + 4092) = 0x0102030405060708UL;
    x = *(volatile uint64_t *)(h + 4092);
    CHECK(faults == 6 && x == 0x0102030405060708UL, "misaligned accesses across pages into matching granules work");
    return failed;
}
