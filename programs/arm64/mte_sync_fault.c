// mte_sync_fault: sync mode. A store and a load through a pointer whose tag differs from the
// granule's fault precisely: SIGSEGV/SEGV_MTESERR (9), the store does not reach memory, the
// load does not write its register; si_addr is the address without its tag (no
// SA_EXPOSE_TAGBITS). With SA_EXPOSE_TAGBITS si_addr keeps the tag in bits 59:56.
// Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (QEMU keeps the tag bits in si_addr; Linux clears them without SA_EXPOSE_TAGBITS)
#include "mte_util.h"

int main(void) {
    int failed = 0;
    set_mode(TCF_SYNC, 0xfffe);
    install_handler(0);
    char *p = map_mte(4096);
    stg(tag_ptr(p + 64, 5));
    volatile char *good = tag_ptr(p + 64, 5);
    volatile char *bad = tag_ptr(p + 64, 3);
    good[1] = 10;
    CHECK(faults == 0, "matching store does not fault");
    bad[1] = 99;
    CHECK(faults == 1 && last_code == 9, "mismatching store: SIGSEGV SEGV_MTESERR");
    CHECK(good[1] == 10, "the faulting store was not performed");
    CHECK(last_addr == (uintptr_t)(p + 65), "si_addr is the untagged address");
    uint64_t r = 1234;
    __asm__ volatile("ldrb %w0, [%1]" : "+r"(r) : "r"(bad + 2) : "memory");
    CHECK(faults == 2 && r == 1234, "mismatching load faults and leaves its register");
    volatile char *zero_ptr = tag_ptr(p + 64, 0);
    (void)zero_ptr[0];
    CHECK(faults == 3, "tag 0 is not a match-all tag");
    install_handler(0x800 /* SA_EXPOSE_TAGBITS */);
    bad[3] = 1;
    CHECK(faults == 4 && ((last_addr >> 56) & 0xf) == 3 && (last_addr & ((1UL << 56) - 1)) == (uintptr_t)(p + 67),
          "SA_EXPOSE_TAGBITS keeps the pointer tag in si_addr");
    return failed;
}
