/* Helpers shared by the adi_*.c guest programs (SPARC M7 ADI). */
#ifndef TAGMMU_ADI_UTIL_H
#define TAGMMU_ADI_UTIL_H
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "../common/check.h"

#ifndef PROT_ADI
#define PROT_ADI 0x10
#endif
#ifndef AT_ADI_BLKSZ
#define AT_ADI_BLKSZ 48
#define AT_ADI_NBITS 49
#endif
#ifndef SEGV_ACCADI
#define SEGV_ACCADI 5
#define SEGV_ADIDERR 6
#define SEGV_ADIPERR 7
#endif
#define HWCAP_SPARC_ADI 0x08000000UL
#define ADI_BLK 64

/* stxa %v, [%p] ASI_MCD_PRIMARY: give the 64-byte block of p version v. */
static inline void set_version(void *p, unsigned long v) {
    __asm__ volatile("stxa %0, [%1] 0x90" ::"r"(v), "r"(p) : "memory");
}

/* The same through %asi (wr %asi first), the register-ASI form. */
static inline void set_version_asi(void *p, unsigned long v) {
    __asm__ volatile("wr %%g0, 0x90, %%asi\n\tstxa %0, [%1 + 0] %%asi\n\twr %%g0, 0x82, %%asi" ::"r"(v), "r"(p)
                     : "memory");
}

/* stxa with ASI_MCD_ST_BLKINIT_PRIMARY (0x92): version and a zeroed block. */
static inline void set_version_blkinit(void *p, unsigned long v) {
    __asm__ volatile("stxa %0, [%1] 0x92" ::"r"(v), "r"(p) : "memory");
}

/* ldxa [%p] ASI_MCD_PRIMARY: the version of p's block. */
static inline unsigned long get_version(void *p) {
    unsigned long v;
    __asm__ volatile("ldxa [%1] 0x90, %0" : "=r"(v) : "r"(p) : "memory");
    return v;
}

static inline unsigned long get_version_asi(void *p) {
    unsigned long v;
    __asm__ volatile("wr %%g0, 0x90, %%asi\n\tldxa [%1 + 0] %%asi, %0\n\twr %%g0, 0x82, %%asi" : "=r"(v) : "r"(p)
                     : "memory");
    return v;
}

static inline void membar_sync(void) { __asm__ volatile("membar #Sync" ::: "memory"); }

/* MCDPER (ASR 14): 1 makes store mismatches precise. Encoded by hand: assemblers reject %asr14. */
static inline void set_mcdper(int precise) {
    if (precise)
        __asm__ volatile(".word 0x9d802001" ::: "memory"); /* wr %g0, 1, %asr14 */
    else
        __asm__ volatile(".word 0x9d802000" ::: "memory"); /* wr %g0, 0, %asr14 */
}

static inline unsigned long get_mcdper(void) {
    register unsigned long g1 __asm__("g1");
    __asm__ volatile(".word 0x83438000" : "=r"(g1)); /* rd %asr14, %g1 */
    return g1;
}

/* A pointer with version v in bits 63:60. */
static inline void *vptr(void *p, unsigned v) {
    return (void *)(((uintptr_t)p & ~(0xfUL << 60)) | ((uintptr_t)(v & 0xf) << 60));
}

static volatile int faults, last_code;
static volatile uintptr_t last_addr;

/* Record the fault; skip the faulting instruction for a precise one (tpc = tnpc), resume
 * where the task was for a disrupting one. */
static void on_segv(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    faults++;
    last_code = si->si_code;
    last_addr = (uintptr_t)si->si_addr;
    if (si->si_code != SEGV_ADIDERR) {
        struct sigcontext *sc = ctx;
        sc->sigc_regs.tpc = sc->sigc_regs.tnpc;
        sc->sigc_regs.tnpc += 4;
    }
}

static inline void install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
}

#endif
