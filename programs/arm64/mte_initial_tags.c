// mte_initial_tags: fresh anonymous PROT_MTE memory has allocation tag 0 everywhere. LDG of
// granules at the start, middle, a page boundary and the very end of a 4-page mapping gives
// tag 0 (LDG keeps the address bits of its register and inserts the tag); in sync mode a load
// and a store through an untagged (tag 0) pointer work without a fault and the memory reads 0.
// argv: none (arguments are ignored).
// Expected stdout (Linux, and qemu-aarch64 -cpu max):
//   mmap PROT_MTE anonymous: ok
//   LDG granule 0 is tag 0: ok
//   LDG granule 1 is tag 0: ok
//   LDG granule 255 is tag 0: ok
//   LDG granule 256 (second page) is tag 0: ok
//   LDG last granule is tag 0: ok
//   LDG keeps the address bits: ok
//   tag 0 pointer load reads 0 without a fault: ok
//   tag 0 pointer store and load back without a fault: ok
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

static uintptr_t ldg(uintptr_t p) {
    __asm__ volatile("ldg %0, [%0]" : "+r"(p)::"memory");
    return p;
}

static unsigned tag_at(char *p) { return (unsigned)(ldg((uintptr_t)p) >> 56) & 0xf; }

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
    size_t len = 4 * 4096;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE | PROT_MTE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED, "mmap PROT_MTE anonymous");
    if (p == MAP_FAILED)
        return 1;
    check(tag_at(p) == 0, "LDG granule 0 is tag 0");
    check(tag_at(p + 16) == 0, "LDG granule 1 is tag 0");
    check(tag_at(p + 255 * 16) == 0, "LDG granule 255 is tag 0");
    check(tag_at(p + 256 * 16) == 0, "LDG granule 256 (second page) is tag 0");
    check(tag_at(p + len - 16) == 0, "LDG last granule is tag 0");
    /* LDG replaces only bits 59:56; the low bits (even unaligned ones) stay. */
    uintptr_t probe = (uintptr_t)(p + 4096 + 37) | (9UL << 56);
    check(ldg(probe) == (uintptr_t)(p + 4096 + 37), "LDG keeps the address bits");
    volatile uint64_t *q = (volatile uint64_t *)(p + 2 * 4096 + 48);
    uint64_t v = *q;
    check(v == 0 && faults == 0, "tag 0 pointer load reads 0 without a fault");
    *q = 0x1122334455667788ULL;
    check(*q == 0x1122334455667788ULL && faults == 0, "tag 0 pointer store and load back without a fault");
    return failed;
}
