/* Helpers shared by the mte_*.c guest programs. */
#ifndef TAGMMU_MTE_UTIL_H
#define TAGMMU_MTE_UTIL_H
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#include "../common/check.h"

#define PROT_MTE_ 0x20
#define TAG_ENABLE 1UL
#define TCF_SYNC (1UL << 1)
#define TCF_ASYNC (1UL << 2)
#define INCL(mask) ((unsigned long)(mask) << 3)

static volatile int faults, last_code;
static volatile uintptr_t last_addr;

static void on_segv(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    faults++;
    last_code = si->si_code;
    last_addr = (uintptr_t)si->si_addr;
    /* Skip the faulting instruction, as the kernel selftests do. */
    if (si->si_code == 9 || si->si_code == 1 || si->si_code == 2)
        ((ucontext_t *)ctx)->uc_mcontext.pc += 4;
}

static inline void install_handler(int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(SIGSEGV, &sa, NULL);
}

static inline int set_mode(unsigned long tcf, unsigned long include) {
    return prctl(PR_SET_TAGGED_ADDR_CTRL, TAG_ENABLE | tcf | INCL(include), 0, 0, 0);
}

static inline void *tag_ptr(void *p, unsigned tag) {
    return (void *)(((uintptr_t)p & ~(0xfUL << 56)) | ((uintptr_t)(tag & 0xf) << 56));
}

static inline unsigned ptr_tag(const void *p) { return (unsigned)(((uintptr_t)p >> 56) & 0xf); }

static inline void stg(void *p) { __asm__ volatile("stg %0, [%0]" ::"r"(p) : "memory"); }

static inline unsigned ldg(void *p) {
    uintptr_t v = (uintptr_t)p;
    __asm__ volatile("ldg %0, [%0]" : "+r"(v));
    return ptr_tag((void *)v);
}

static inline char *map_mte(size_t len) {
    char *p = mmap(0, len, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap PROT_MTE");
        _exit(2);
    }
    return p;
}

#endif
