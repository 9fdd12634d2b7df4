// mte_stg_ldg: the tag-store instructions on PROT_MTE memory, read back with LDG, in sync mode.
// STG sets tag 5 on one granule without touching its data and its neighbours stay 0; STG with
// a separate tag register (Xt) and an offset, and STG post-index writeback; ST2G tags two
// granules and not a third; STZG sets the tag and zeroes exactly one granule of data; STZ2G
// zeroes and tags two; STGP stores 16 bytes of data and the tag of its base register. Every
// data access goes through a pointer whose tag matches, so no fault is expected anywhere.
// argv: none (arguments are ignored).
// Expected stdout (Linux, and qemu-aarch64 -cpu max):
//   STG sets tag 5 on its granule: ok
//   STG leaves the neighbours at tag 0: ok
//   STG does not change the data: ok
//   STG Xt,[Xn,#64] takes the tag from Xt and the address from Xn: ok
//   STG post-index writes back base+16: ok
//   ST2G tags two granules: ok
//   ST2G leaves the granules around them at 0: ok
//   STZG tags and zeroes one granule: ok
//   STZG leaves the next granule's data and tag: ok
//   STZ2G tags and zeroes two granules: ok
//   STGP stores the data pair: ok
//   STGP stores the base register's tag: ok
//   no tag check fault: ok
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: differential
// tagmmu: cflags -march=armv8.5-a+memtag
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <ucontext.h>

#ifndef PROT_MTE
#define PROT_MTE 0x20
#endif
#define PR_SET_TAGGED_ADDR_CTRL_ 55
#define MTE_SYNC (1UL | (1UL << 1) | (0xfffeUL << 3))

static int failed;
static volatile int faults;

static void check(int ok, const char *what) {
    if (ok)
        printf("%s: ok\n", what);
    else {
        printf("FAIL: %s\n", what);
        failed = 1;
    }
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    faults++;
    ((ucontext_t *)uc)->uc_mcontext.pc += 4;
}

static char *tagp(char *p, unsigned t) {
    return (char *)(((uintptr_t)p & ~(0xfUL << 56)) | ((uintptr_t)(t & 0xf) << 56));
}

static unsigned ldg(char *p) {
    uintptr_t v = (uintptr_t)p;
    __asm__ volatile("ldg %0, [%0]" : "+r"(v)::"memory");
    return (unsigned)(v >> 56) & 0xf;
}

static int all_bytes(const char *p, int c, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (((volatile const unsigned char *)p)[i] != (unsigned char)c)
            return 0;
    return 1;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (prctl(PR_SET_TAGGED_ADDR_CTRL_, MTE_SYNC, 0, 0, 0) != 0) {
        printf("FAIL: prctl sync mode\n");
        return 1;
    }
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_MTE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("FAIL: mmap PROT_MTE\n");
        return 1;
    }
    memset(p, 0xab, 8192); /* untagged pointer, every granule still tag 0 */

    /* STG: one granule. */
    char *g5 = tagp(p + 16, 5);
    __asm__ volatile("stg %0, [%0]" ::"r"(g5) : "memory");
    check(ldg(p + 16) == 5, "STG sets tag 5 on its granule");
    check(ldg(p) == 0 && ldg(p + 32) == 0, "STG leaves the neighbours at tag 0");
    check(all_bytes(g5, 0xab, 16), "STG does not change the data");

    /* STG with separate tag and address registers, immediate offset. */
    char *t7 = tagp(p + 2048, 7);
    __asm__ volatile("stg %0, [%1, #64]" ::"r"(t7), "r"(p + 256) : "memory");
    check(ldg(p + 320) == 7 && ldg(p + 256) == 0 && ldg(p + 2048) == 0,
          "STG Xt,[Xn,#64] takes the tag from Xt and the address from Xn");

    /* STG post-index. */
    char *w = tagp(p + 384, 6);
    char *w0 = w;
    __asm__ volatile("stg %0, [%0], #16" : "+r"(w)::"memory");
    check(w == w0 + 16 && ldg(p + 384) == 6 && ldg(p + 400) == 0, "STG post-index writes back base+16");

    /* ST2G: two granules. */
    char *g9 = tagp(p + 512, 9);
    __asm__ volatile("st2g %0, [%0]" ::"r"(g9) : "memory");
    check(ldg(p + 512) == 9 && ldg(p + 528) == 9, "ST2G tags two granules");
    check(ldg(p + 496) == 0 && ldg(p + 544) == 0, "ST2G leaves the granules around them at 0");

    /* STZG: tag and zero one granule. */
    char *g3 = tagp(p + 1024, 3);
    __asm__ volatile("stzg %0, [%0]" ::"r"(g3) : "memory");
    check(ldg(p + 1024) == 3 && all_bytes(g3, 0, 16), "STZG tags and zeroes one granule");
    check(ldg(p + 1040) == 0 && all_bytes(p + 1040, 0xab, 16), "STZG leaves the next granule's data and tag");

    /* STZ2G: tag and zero two granules. */
    char *ga = tagp(p + 1536, 0xa);
    __asm__ volatile("stz2g %0, [%0]" ::"r"(ga) : "memory");
    check(ldg(p + 1536) == 0xa && ldg(p + 1552) == 0xa && all_bytes(ga, 0, 32) && ldg(p + 1568) == 0 &&
              all_bytes(p + 1568, 0xab, 16),
          "STZ2G tags and zeroes two granules");

    /* STGP: data pair plus the tag of the base register. */
    char *gb = tagp(p + 4096, 0xb);
    uint64_t lo = 0x0123456789abcdefULL, hi = 0xfedcba9876543210ULL;
    __asm__ volatile("stgp %0, %1, [%2]" ::"r"(lo), "r"(hi), "r"(gb) : "memory");
    volatile uint64_t *d = (volatile uint64_t *)gb;
    check(d[0] == lo && d[1] == hi, "STGP stores the data pair");
    check(ldg(p + 4096) == 0xb && ldg(p + 4112) == 0, "STGP stores the base register's tag");

    check(faults == 0, "no tag check fault");
    return failed;
}
