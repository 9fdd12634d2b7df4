// mte_irg: IRG honours the include mask set with prctl and its exclude register; GMI builds
// exclude masks; ADDG/SUBG step over excluded tags.
// Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: differential
#include "mte_util.h"

static void *irg(void *p, uint64_t excl) {
    __asm__ volatile("irg %0, %0, %1" : "+r"(p) : "r"(excl));
    return p;
}

int main(void) {
    int failed = 0;
    char *p = map_mte(4096);
    set_mode(TCF_SYNC, 0x0020);
    int only5 = 1;
    for (int i = 0; i < 50; i++)
        only5 &= ptr_tag(irg(p, 0)) == 5;
    CHECK(only5, "include mask 0x0020: IRG gives tag 5");
    set_mode(TCF_SYNC, 0);
    CHECK(ptr_tag(irg(p, 0)) == 0, "include mask 0: IRG gives tag 0");
    set_mode(TCF_SYNC, 0xffff);
    int never_excl = 1;
    for (int i = 0; i < 100; i++) {
        unsigned t = ptr_tag(irg(p, 0xfff0));
        never_excl &= t < 4;
    }
    CHECK(never_excl, "IRG avoids the exclude register's tags");
    uint64_t m = 0;
    __asm__ volatile("gmi %0, %1, %0" : "+r"(m) : "r"(tag_ptr(p, 9)));
    CHECK(m == (1UL << 9), "GMI sets the pointer's tag bit");
    set_mode(TCF_SYNC, 0xfffe);
    void *q = tag_ptr(p, 15);
    void *r;
    __asm__ volatile("addg %0, %1, #32, #1" : "=r"(r) : "r"(q));
    CHECK(ptr_tag(r) == 1 && ((uintptr_t)r & ((1UL << 56) - 1)) == (uintptr_t)p + 32, "ADDG wraps past excluded tag 0");
    __asm__ volatile("subg %0, %1, #16, #2" : "=r"(r) : "r"(tag_ptr(p + 64, 3)));
    CHECK(ptr_tag(r) == 5 && ((uintptr_t)r & ((1UL << 56) - 1)) == (uintptr_t)p + 48, "SUBG subtracts and steps the tag");
    int64_t d;
    __asm__ volatile("subp %0, %1, %2" : "=r"(d) : "r"(tag_ptr(p + 100, 7)), "r"(tag_ptr(p + 40, 2)));
    CHECK(d == 60, "SUBP ignores tags");
    return failed;
}
