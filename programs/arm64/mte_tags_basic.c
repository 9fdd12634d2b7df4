// mte_tags_basic: fresh PROT_MTE memory has tag 0; STG, ST2G, STZG, STZ2G and STGP set tags
// (STGP from the base register, with data), LDG reads them; neighbours are untouched.
// Expected: one "...: ok" line per check, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: differential
#include "mte_util.h"

int main(void) {
    int failed = 0;
    set_mode(TCF_SYNC, 0xfffe);
    char *p = map_mte(4096);
    CHECK(ldg(p) == 0 && ldg(p + 2048) == 0 && ldg(p + 4080) == 0, "fresh tags are 0");
    p[5] = 42;
    CHECK(p[5] == 42, "tag-0 pointer works on tag-0 memory");
    char *t5 = tag_ptr(p + 32, 5);
    stg(t5);
    CHECK(ldg(p + 32) == 5 && ldg(p + 16) == 0 && ldg(p + 48) == 0, "STG tags one granule");
    char *t7 = tag_ptr(p + 64, 7);
    __asm__ volatile("st2g %0, [%0]" ::"r"(t7) : "memory");
    CHECK(ldg(p + 64) == 7 && ldg(p + 80) == 7 && ldg(p + 96) == 0, "ST2G tags two granules");
    memset(tag_ptr(p + 128, 0), 0x55, 32);
    char *t3 = tag_ptr(p + 128, 3);
    __asm__ volatile("stzg %0, [%0]" ::"r"(t3) : "memory");
    CHECK(ldg(p + 128) == 3 && t3[0] == 0 && t3[15] == 0, "STZG tags and zeroes");
    CHECK(((char *)tag_ptr(p + 144, 0))[0] == 0x55, "STZG leaves the next granule's data");
    char *t9 = tag_ptr(p + 256, 9);
    __asm__ volatile("stz2g %0, [%0]" ::"r"(t9) : "memory");
    CHECK(ldg(p + 256) == 9 && ldg(p + 272) == 9 && t9[31] == 0, "STZ2G tags and zeroes two granules");
    char *tb = tag_ptr(p + 512, 11);
    uint64_t a = 0x1122334455667788ULL, b = 0x99aabbccddeeff00ULL;
    __asm__ volatile("stgp %1, %2, [%0]" ::"r"(tb), "r"(a), "r"(b) : "memory");
    CHECK(ldg(p + 512) == 11 && ((uint64_t *)tb)[0] == a && ((uint64_t *)tb)[1] == b, "STGP stores data and the base register's tag");
    char *w = tag_ptr(p + 1024, 4);
    char *wb = w;
    __asm__ volatile("stg %0, [%0], #16" : "+r"(wb)::"memory");
    CHECK(wb == w + 16 && ldg(p + 1024) == 4, "post-index STG writes back");
    wb = w;
    __asm__ volatile("stg %0, [%0, #32]!" : "+r"(wb)::"memory");
    CHECK(wb == w + 32 && ldg(p + 1056) == 4, "pre-index STG writes back");
    return failed;
}
