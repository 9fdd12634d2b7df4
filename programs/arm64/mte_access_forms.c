// mte_access_forms: sync mode; every form of access is tag-checked: load-exclusive (LDXR),
// load-acquire/store-release, atomics (LDADD, SWP, CAS), SIMD (LD1/ST1 of two registers),
// unaligned accesses. (A store-exclusive is left out: Unicorn's exclusive monitor compares
// tagged virtual addresses, so STXR after a faulting LDXR fails without any access.) Each one through a mismatching pointer faults exactly once; through the
// matching pointer none does.
// Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: differential
#include "mte_util.h"

int main(void) {
    int failed = 0;
    set_mode(TCF_SYNC, 0xfffe);
    install_handler(0);
    char *p = map_mte(4096);
    char *good = tag_ptr(p, 6);
    for (int i = 0; i < 64; i += 16)
        stg(good + i);
    char *bad = tag_ptr(p, 9);
    uint64_t v = 1, old = 0;
#define FORMS(ptr)                                                                                              \
    __asm__ volatile("ldxr %0, [%1]" : "=&r"(old) : "r"(ptr) : "memory");                                       \
    __asm__ volatile("ldar %0, [%1]" : "=r"(old) : "r"(ptr) : "memory");                                        \
    __asm__ volatile("stlr %1, [%0]" ::"r"(ptr), "r"(v) : "memory");                                            \
    __asm__ volatile("ldadd %1, %0, [%2]" : "=r"(old) : "r"(v), "r"(ptr) : "memory");                           \
    __asm__ volatile("swp %1, %0, [%2]" : "=r"(old) : "r"(v), "r"(ptr) : "memory");                             \
    __asm__ volatile("mov %0, #0\n cas %0, %1, [%2]" : "=&r"(old) : "r"(v), "r"(ptr) : "memory");              \
    __asm__ volatile("ld1 {v0.16b, v1.16b}, [%0]" ::"r"(ptr) : "v0", "v1", "memory");                          \
    __asm__ volatile("st1 {v0.16b, v1.16b}, [%0]" ::"r"(ptr) : "v0", "v1", "memory");                          \
    __asm__ volatile("ldr %0, [%1]" : "=r"(old) : "r"(ptr + 3) : "memory");                                     \
    __asm__ volatile("str %1, [%0]" ::"r"(ptr + 5), "r"(v) : "memory");
    FORMS(good);
    CHECK(faults == 0, "matching pointer: no access faults");
    FORMS(bad);
    CHECK(faults == 10, "mismatching pointer: each of the 10 access forms faults");
    return failed;
}
