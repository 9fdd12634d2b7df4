// mte_none_tco: mode none never faults; in sync mode PSTATE.TCO=1 (MSR TCO, #1) disables
// checks and TCO=0 enables them again; MRS TCO reads it.
// Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: differential
#include "mte_util.h"

int main(void) {
    int failed = 0;
    install_handler(0);
    char *p = map_mte(4096);
    stg(tag_ptr(p, 5));
    volatile char *bad = tag_ptr(p, 3);
    set_mode(0, 0);
    bad[0] = 1;
    (void)bad[1];
    CHECK(faults == 0, "mode none: no fault");
    set_mode(TCF_SYNC, 0xfffe);
    __asm__ volatile("msr tco, #1" ::: "memory");
    uint64_t tco;
    __asm__ volatile("mrs %0, tco" : "=r"(tco));
    bad[0] = 2;
    CHECK(faults == 0 && tco == (1UL << 25), "TCO=1: no fault, MRS TCO reads bit 25");
    __asm__ volatile("msr tco, #0" ::: "memory");
    bad[0] = 3;
    CHECK(faults == 1, "TCO=0: the fault is back");
    return failed;
}
