// mte_many_maps: thousands of separate PROT_MTE mappings, each with its own tag, checked in sync
// mode; a mismatching store into the last one faults precisely and stores nothing; after they
// are all unmapped, new mappings read as zeros with tags 0 (the memory is not handed back
// dirty). tagmmu carves every mapping out of one arena mapped into the CPU once, so the count
// costs no emulator remapping (issue 12: 1024 PROT_MTE maps took 22 minutes before).
// argv: [number of mappings, default 4096].
// Expected stdout (Linux):
//   every mapping was created: ok
//   every mapping reads back its own data through its own tag: ok
//   a store with the wrong tag faults once: ok
//   the fault is SEGV_MTESERR: ok
//   si_addr is the store's address, untagged: ok
//   the faulting store wrote nothing: ok
//   every mapping was unmapped: ok
//   the new mappings read as zeros with tag 0: ok
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// (qemu-aarch64 7.2 keeps the tag in si_addr, so this is not a differential program.)
// tagmmu: cflags -march=armv8.5-a+memtag
#include <stdlib.h>

#include "mte_util.h"

static int failed;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4096;
    if (n < 2 || n > 100000)
        return 2;
    install_handler(0);
    if (set_mode(TCF_SYNC, 0xfffe) != 0) {
        perror("prctl");
        return 2;
    }
    char **v = malloc(n * sizeof *v);
    int created = 1;
    for (int i = 0; i < n; i++) {
        v[i] = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (v[i] == MAP_FAILED) {
            created = 0;
            n = i;
            break;
        }
        char *t = tag_ptr(v[i], 1 + i % 15);
        for (int g = 0; g < 64; g += 16)
            stg(t + g);
        ((volatile int *)t)[0] = i;
        ((volatile int *)t)[15] = ~i;
    }
    CHECK(created, "every mapping was created");
    int back = 1;
    for (int i = 0; i < n; i++) {
        volatile int *t = tag_ptr(v[i], 1 + i % 15);
        back &= t[0] == i && t[15] == ~i && ldg(v[i] + 48) == 1 + (unsigned)i % 15 && ldg(v[i] + 64) == 0;
    }
    CHECK(back, "every mapping reads back its own data through its own tag");

    int last = n - 1;
    unsigned wrong = 1 + (last + 1) % 15;
    volatile int *bad = tag_ptr(v[last] + 32, wrong);
    *bad = 12345;
    CHECK(faults == 1, "a store with the wrong tag faults once");
    CHECK(last_code == 9, "the fault is SEGV_MTESERR");
    /* Without SA_EXPOSE_TAGBITS Linux reports si_addr untagged (arch_untagged_si_addr). */
    CHECK(last_addr == ((uintptr_t)bad & ~(0xffUL << 56)), "si_addr is the store's address, untagged");
    CHECK(((volatile int *)tag_ptr(v[last], 1 + last % 15))[8] == 0, "the faulting store wrote nothing");

    int unmapped = 1;
    for (int i = 0; i < n; i++)
        unmapped &= munmap(v[i], 4096) == 0;
    CHECK(unmapped, "every mapping was unmapped");
    int clean = 1;
    for (int i = 0; i < n; i++) {
        char *p = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 2;
        clean &= ((volatile int *)p)[0] == 0 && ((volatile int *)p)[15] == 0 && ldg(p) == 0 && ldg(p + 48) == 0;
    }
    CHECK(clean, "the new mappings read as zeros with tag 0");
    return failed;
}
