// adi_basic: SPARC ADI from user space, check by check.
// Exercises: the auxv (AT_ADI_BLKSZ 64, AT_ADI_NBITS 4, HWCAP_SPARC_ADI); PROT_ADI on mmap;
//            versions set and read with stxa/ldxa ASI 0x90 in the immediate and %asi forms and
//            with the block-init ASI 0x92 (which zeroes the block); matching accesses; a
//            mismatching load (precise SIGSEGV/SEGV_ADIPERR at the load, si_addr the data
//            address); a mismatching store (disrupting SEGV_ADIDERR, the data written); with
//            MCDPER = 1 (wr %asr14) the store is precise and not performed; memory versions 0
//            and 15 match every pointer version; mprotect without PROT_ADI stops the checks
//            and with it they resume, the versions kept; versions survive an evicted page;
//            tagging memory mapped without PROT_ADI gives SEGV_ACCADI.
// argv: none, or "accadi-first": tag memory before any PROT_ADI (the task never enabled ADI:
//       SEGV_ACCADI with no handler: the guest dies, exit 139).
// Expected stdout: one "<check>: ok" line per check, then "adi_basic: all ok"; exit 0.
// tagmmu: not-differential (qemu-sparc64 has no ADI)
#include <errno.h>
#include <stdlib.h>

#include "adi_util.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

int main(int argc, char **argv) {
    int failed = 0;
    size_t page = (size_t)getpagesize();
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "accadi-first") == 0) {
        char *m = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        m[0] = 1;
        set_version(m, 3); /* the task never asked for ADI: "MCD disabled" */
        printf("not reached\n");
        return 1;
    }
    CHECK(getauxval(AT_ADI_BLKSZ) == 64 && getauxval(AT_ADI_NBITS) == 4, "auxv ADI block 64, 4 bits");
    CHECK(getauxval(AT_HWCAP) & HWCAP_SPARC_ADI, "hwcap adp");
    install_handler();

    size_t len = 2 * page;
    char *m = mmap(0, len, PROT_READ | PROT_WRITE | PROT_ADI, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap PROT_ADI");
    CHECK(get_version(m) == 0 && get_version(m + page + 64) == 0, "fresh memory has version 0");
    for (size_t off = 0; off < len; off += ADI_BLK)
        set_version(m + off, 10);
    membar_sync();
    CHECK(get_version(m + 128) == 10 && get_version_asi(m + page) == 10, "versions read back (imm and %asi)");

    /* Accesses go through volatile pointers: the compiler may neither drop nor reorder them
     * around the checks of the handler's counters. */
    volatile char *v10 = vptr(m, 10);
    for (size_t i = 0; i < len; i++)
        v10[i] = 'a';
    CHECK(v10[len - 1] == 'a' && faults == 0, "matching stores and loads");

    /* Block 3 gets version 5: a load through version 10 faults there, precisely. */
    set_version_asi(m + 3 * ADI_BLK, 5);
    volatile char *p = v10 + 3 * ADI_BLK + 8;
    volatile char c = *p;
    CHECK(faults == 1 && last_code == SEGV_ADIPERR, "mismatching load: SEGV_ADIPERR");
    CHECK(last_addr == (uintptr_t)p, "si_addr is the load's address (with its version)");

    /* A mismatching store is disrupting: performed, reported a little later. */
    faults = 0;
    v10[3 * ADI_BLK + 9] = 'X';
    for (volatile int i = 0; i < 100; i++)
        ;
    CHECK(faults == 1 && last_code == SEGV_ADIDERR, "mismatching store: SEGV_ADIDERR (disrupting)");
    volatile char *v5 = vptr(m, 5);
    CHECK(v5[3 * ADI_BLK + 9] == 'X', "the disrupting store was performed");

    /* MCDPER = 1: stores mismatch precisely and are not performed. */
    set_mcdper(1);
    CHECK(get_mcdper() == 1, "MCDPER reads back 1");
    faults = 0;
    v10[3 * ADI_BLK + 10] = 'Y';
    CHECK(faults == 1 && last_code == SEGV_ADIPERR, "precise store: SEGV_ADIPERR");
    CHECK(v5[3 * ADI_BLK + 10] == 'a', "the precise store was not performed");
    set_mcdper(0);

    /* Versions 0 and 15 in memory match any pointer version. */
    set_version(m + 4 * ADI_BLK, 0);
    set_version(m + 5 * ADI_BLK, 15);
    faults = 0;
    for (unsigned v = 0; v < 16; v++) {
        volatile char *pv = vptr(m, v);
        pv[4 * ADI_BLK] = (char)v;
        pv[5 * ADI_BLK + 1] = (char)v;
        c = pv[4 * ADI_BLK + 2];
    }
    CHECK(faults == 0, "versions 0 and 15 never mismatch");

    /* ASI 0x92: a block-initialising version store zeroes the block. */
    set_version_blkinit(m + 6 * ADI_BLK, 7);
    volatile char *v7 = vptr(m, 7);
    CHECK(get_version(m + 6 * ADI_BLK) == 7 && v7[6 * ADI_BLK] == 0 && v7[6 * ADI_BLK + 63] == 0,
          "block-init version store zeroes the block");

    /* mprotect without PROT_ADI: no checks; with it again: checks, versions kept. */
    CHECK(mprotect(m, len, PROT_READ | PROT_WRITE) == 0, "mprotect without PROT_ADI");
    faults = 0;
    c = v10[3 * ADI_BLK];
    CHECK(faults == 0, "no check without PROT_ADI");
    CHECK(mprotect(m, len, PROT_READ | PROT_WRITE | PROT_ADI) == 0, "mprotect PROT_ADI again");
    c = v10[3 * ADI_BLK];
    CHECK(faults == 1 && last_code == SEGV_ADIPERR, "checks resume, versions kept");

    /* An evicted page comes back with its versions. */
    CHECK(madvise(m, len, MADV_PAGEOUT) == 0, "madvise MADV_PAGEOUT");
    CHECK(get_version(m + 3 * ADI_BLK) == 5 && get_version(m + page) == 10, "versions survive eviction");

    /* Tagging memory mapped without PROT_ADI: SEGV_ACCADI. */
    char *plain = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    plain[0] = 1;
    faults = 0;
    set_version(plain, 3);
    CHECK(faults == 1 && last_code == SEGV_ACCADI && last_addr == (uintptr_t)plain, "version store on non-ADI memory: SEGV_ACCADI");

    (void)c;
    if (failed)
        return 1;
    puts("adi_basic: all ok");
    return 0;
}
