// mte_sync_fault: synchronous tag check faults (PR_MTE_TCF_SYNC). A granule is tagged 5; a
// store through a tag-3 pointer raises SIGSEGV with si_code SEGV_MTESERR (9) at the store
// instruction itself, si_addr is the faulting address, and the store is NOT performed; a load
// through the tag-3 pointer faults the same way and leaves its destination register unchanged;
// a tag 0 pointer also faults (no match-all tag for user space). The SA_SIGINFO handler skips
// the faulting instruction (pc += 4) and returns.
// Only the low 56 bits of si_addr are compared: Linux clears bits 63:56 of si_addr (no
// SA_EXPOSE_TAGBITS here) while QEMU 7.2 leaves the pointer's top byte in si_addr, so the top
// byte is checked separately by the not-differential mte_siginfo_tagbits.c.
// argv: none (arguments are ignored).
// Expected stdout (Linux, and qemu-aarch64 -cpu max):
//   matching store does not fault: ok
//   mismatching store raises SIGSEGV: ok
//   store fault si_code 9 (SEGV_MTESERR): ok
//   store fault si_addr low 56 bits ok: ok
//   store fault pc is the store instruction: ok
//   the faulting store was not performed: ok
//   mismatching load raises SIGSEGV si_code 9: ok
//   load fault si_addr low 56 bits ok: ok
//   the faulting load left its register unchanged: ok
//   tag 0 pointer to a tag 5 granule faults: ok
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
#define LOW56 ((1UL << 56) - 1)

static int failed;
static volatile int faults, last_code;
static volatile uintptr_t last_addr, last_pc;

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
    ucontext_t *u = uc;
    faults++;
    last_code = si->si_code;
    last_addr = (uintptr_t)si->si_addr;
    last_pc = u->uc_mcontext.pc;
    u->uc_mcontext.pc += 4;
}

static char *tagp(char *p, unsigned t) {
    return (char *)(((uintptr_t)p & ~(0xfUL << 56)) | ((uintptr_t)(t & 0xf) << 56));
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
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_MTE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("FAIL: mmap PROT_MTE\n");
        return 1;
    }
    char *good = tagp(p + 64, 5);
    char *bad = tagp(p + 64, 3);
    __asm__ volatile("stg %0, [%0]" ::"r"(good) : "memory");

    uint64_t ten = 10, ninety_nine = 99;
    __asm__ volatile("strb %w0, [%1, #1]" ::"r"(ten), "r"(good) : "memory");
    check(faults == 0, "matching store does not fault");

    uintptr_t insn;
    __asm__ volatile("1: strb %w1, [%2, #1]\n\t"
                     "adr %0, 1b"
                     : "=r"(insn)
                     : "r"(ninety_nine), "r"(bad)
                     : "memory");
    check(faults == 1, "mismatching store raises SIGSEGV");
    check(last_code == 9, "store fault si_code 9 (SEGV_MTESERR)");
    check((last_addr & LOW56) == (uintptr_t)(p + 65), "store fault si_addr low 56 bits ok");
    check(last_pc == insn, "store fault pc is the store instruction");
    check(((volatile char *)good)[1] == 10, "the faulting store was not performed");

    uint64_t r = 0x5555aaaa5555aaaaULL;
    __asm__ volatile("ldr %0, [%1, #8]" : "+r"(r) : "r"(bad) : "memory");
    check(faults == 2 && last_code == 9, "mismatching load raises SIGSEGV si_code 9");
    check((last_addr & LOW56) == (uintptr_t)(p + 72), "load fault si_addr low 56 bits ok");
    check(r == 0x5555aaaa5555aaaaULL, "the faulting load left its register unchanged");

    uint64_t z = 7;
    __asm__ volatile("ldrb %w0, [%1]" : "+r"(z) : "r"(p + 64) : "memory");
    check(faults == 3 && last_code == 9 && z == 7, "tag 0 pointer to a tag 5 granule faults");
    return failed;
}
