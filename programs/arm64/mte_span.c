// mte_span: sync mode. Accesses that span a matching and a mismatching granule fault (an
// 8-byte store at offset 12, LDP across the boundary); accesses inside matching granules of
// every size (1..16 bytes, LDP/STP, SIMD) do not. An STP whose second half is in the bad
// granule faults and writes neither half (tagmmu undoes the first half, as QEMU, which
// checks the whole access first, never writes it).
// Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: differential
#include "mte_util.h"

int main(void) {
    int failed = 0;
    set_mode(TCF_SYNC, 0xfffe);
    install_handler(0);
    char *p = map_mte(4096);
    char *g = tag_ptr(p, 4); /* granule 0 tagged 4, granule 1 left at 0 */
    stg(g);
    volatile uint8_t *b = (uint8_t *)g;
    b[0] = 1;
    *(volatile uint16_t *)(g + 2) = 2;
    *(volatile uint32_t *)(g + 4) = 3;
    *(volatile uint64_t *)(g + 8) = 4;
    __asm__ volatile("stp xzr, xzr, [%0]" ::"r"(g) : "memory");
    __asm__ volatile("movi v0.16b, #7\n str q0, [%0]" ::"r"(g) : "v0", "memory");
    uint64_t x, y;
    __asm__ volatile("ldp %0, %1, [%2]" : "=r"(x), "=r"(y) : "r"(g) : "memory");
    CHECK(faults == 0, "every access size inside a matching granule");
    *(volatile uint64_t *)(g + 12) = 5;
    CHECK(faults == 1, "8-byte store spanning into a mismatching granule faults");
    __asm__ volatile("ldp %0, %1, [%2]" : "=r"(x), "=r"(y) : "r"(g + 8) : "memory");
    CHECK(faults == 2, "LDP spanning into a mismatching granule faults");
    *(volatile uint64_t *)(g + 8) = 0x1111;
    uint64_t v1 = 0xaaaa, v2 = 0xbbbb;
    __asm__ volatile("stp %0, %1, [%2]" ::"r"(v1), "r"(v2), "r"(g + 8) : "memory");
    CHECK(faults == 3, "STP with its second half in a mismatching granule faults");
    CHECK(*(volatile uint64_t *)(g + 8) == 0x1111, "and its first half is not written");
    return failed;
}
