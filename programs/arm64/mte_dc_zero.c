// mte_dc_zero: the cache-block instructions on PROT_MTE memory in sync mode, as glibc's
// __libc_mtag_tag_region / tag_zero_region and memset use them. DCZID_EL0 allows DC ZVA
// (DZP clear) and gives the block size B (64 bytes on tagmmu and on MTE hardware, 512 on
// qemu-aarch64 -cpu max; the program works with either). DC GVA sets the tags of the block
// containing the address (aligned down) and not the next, leaving the data; DC GZVA zeroes
// the block and sets its tags; DC ZVA through a matching pointer zeroes the block; DC ZVA
// through a pointer whose tag mismatches one granule of the block is a synchronous tag
// check fault (SIGSEGV, SEGV_MTESERR, si_addr in the block, PC on the DC ZVA) and zeroes
// nothing; DC GVA on an unmapped page is SIGSEGV/SEGV_MAPERR.
// argv: none.
// Expected stdout (Linux):
//   DCZID_EL0 allows DC ZVA: ok
//   DCZID_EL0 block is at least 64 bytes: ok
//   DC GVA tags every granule of the block: ok
//   DC GVA leaves the next block's tags: ok
//   DC GVA leaves the data: ok
//   DC GZVA zeroes the block: ok
//   DC GZVA tags the block: ok
//   DC GZVA leaves the byte after the block: ok
//   DC ZVA through a matching pointer zeroes the block: ok
//   DC ZVA through a mismatching pointer faults once: ok
//   the fault is SEGV_MTESERR: ok
//   si_addr lies in the block: ok
//   the PC was on the DC ZVA: ok
//   the faulting DC ZVA zeroed nothing: ok
//   DC GVA on an unmapped page is SEGV_MAPERR: ok
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: not-differential (qemu-aarch64 7.2 -cpu max raises SEGV_MAPERR for a DC ZVA through a
// tagged pointer: its user-mode probe keeps the tag bits; the DC GVA/GZVA checks agree with it)
// tagmmu: cflags -march=armv8.5-a+memtag
#include "mte_util.h"

static int failed;
static volatile uintptr_t fault_pc;

static void on_fault(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    ucontext_t *uc = ctx;
    faults++;
    last_code = si->si_code;
    last_addr = (uintptr_t)si->si_addr;
    fault_pc = uc->uc_mcontext.pc;
    uc->uc_mcontext.pc += 4;
}

static inline void dc_gva(void *p) { __asm__ volatile("dc gva, %0" ::"r"(p) : "memory"); }
static inline void dc_gzva(void *p) { __asm__ volatile("dc gzva, %0" ::"r"(p) : "memory"); }

int main(void) {
    uint64_t dczid;
    __asm__ volatile("mrs %0, dczid_el0" : "=r"(dczid));
    size_t block = 4UL << (dczid & 0xf);
    CHECK((dczid & 0x10) == 0, "DCZID_EL0 allows DC ZVA");
    CHECK(block >= 64 && block <= 2048, "DCZID_EL0 block is at least 64 bytes");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (set_mode(TCF_SYNC, 0xfffe) != 0) {
        perror("prctl");
        return 2;
    }
    char *p = map_mte(4 * 4096);
    memset(p, 0xaa, 4 * 4096);

    /* DC GVA in the middle of the first block: the whole block gets tag 4. */
    dc_gva(tag_ptr(p + 24, 4));
    int all = 1;
    for (size_t g = 0; g < block; g += 16)
        all &= ldg(p + g) == 4;
    CHECK(all, "DC GVA tags every granule of the block");
    CHECK(ldg(p + block) == 0, "DC GVA leaves the next block's tags");
    CHECK(((volatile char *)tag_ptr(p, 4))[block - 1] == (char)0xaa, "DC GVA leaves the data");

    /* DC GZVA on the second block. */
    char *b2 = p + block;
    dc_gzva(tag_ptr(b2 + block - 1, 6));
    volatile char *v2 = tag_ptr(b2, 6);
    int zero = 1;
    for (size_t i = 0; i < block; i++)
        zero &= v2[i] == 0;
    CHECK(zero, "DC GZVA zeroes the block");
    CHECK(ldg(b2) == 6 && ldg(b2 + block - 16) == 6, "DC GZVA tags the block");
    CHECK(p[2 * block] == (char)0xaa, "DC GZVA leaves the byte after the block");

    /* DC ZVA on the first block through its tag 4. */
    char *z = tag_ptr(p, 4);
    __asm__ volatile("dc zva, %0" ::"r"(z) : "memory");
    zero = 1;
    for (size_t i = 0; i < block; i++)
        zero &= ((volatile char *)z)[i] == 0;
    CHECK(zero, "DC ZVA through a matching pointer zeroes the block");

    /* Third block: tag 7 everywhere but one granule with tag 8; DC ZVA through tag 7. */
    char *b3 = p + 2 * block;
    for (size_t g = 0; g < block; g += 16)
        stg(tag_ptr(b3 + g, 7));
    stg(tag_ptr(b3 + block - 32, 8));
    char *z3 = tag_ptr(b3, 7);
    uintptr_t zva_pc;
    __asm__ volatile("adr %0, 1f\n1: dc zva, %1" : "=&r"(zva_pc) : "r"(z3) : "memory");
    CHECK(faults == 1, "DC ZVA through a mismatching pointer faults once");
    CHECK(last_code == 9, "the fault is SEGV_MTESERR");
    uintptr_t a = last_addr & ~(0xffUL << 56);
    CHECK(a >= (uintptr_t)b3 && a < (uintptr_t)b3 + block, "si_addr lies in the block");
    CHECK(fault_pc == zva_pc, "the PC was on the DC ZVA");
    CHECK(((volatile char *)z3)[0] == (char)0xaa && ((volatile char *)tag_ptr(b3 + block - 32, 8))[0] == (char)0xaa,
          "the faulting DC ZVA zeroed nothing");

    /* DC GVA on an unmapped page. */
    char *hole = p + 3 * 4096;
    munmap(hole, 4096);
    dc_gva(tag_ptr(hole, 3));
    CHECK(faults == 2 && last_code == 1, "DC GVA on an unmapped page is SEGV_MAPERR");
    return failed;
}
