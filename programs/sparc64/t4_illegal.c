// t4_illegal.c - T4/M7 instruction words that Unicorn would run silently wrong or that crash
// its code generator, each SIGILL (ILL_ILLOPC, si_addr = the instruction) under tagmmu and
// never executed: a four-operand crypto op (aes_eround01; Unicorn runs it as MULX into an
// integer register), a BPr with a reserved rcond (Unicorn's translator crashes the host), a
// CBcond with a reserved condition, a store through the T4 block-init ASI 0xf2 (Unicorn drops
// it), LDSTUBA/LDFA/LDDFA/STTWA through %asi holding the twin ASI 0xe2 (Unicorn aborted the
// host or stored 16 bytes: refused by tagmmu's Unicorn patch 0002), a fused multiply-add
// (FMAf, which tagmmu does not model: Unicorn's own trap), and block loads and stores
// (ASI 0xf0) naming registers off an eight-double boundary (%f56 crashed the host: Unicorn
// patch 0015); a block load to %f16 still loads.
// Then a CBcond (cwbleu, which crashes Unicorn's translator when not emulated) taken and not
// taken.
// argv: none.
// Expected stdout: one "t4: <check> ok" line per check, then "t4: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: cflags -mcpu=niagara4
// tagmmu: not-differential (qemu-sparc64 7.2 crashes on the reserved encodings and runs the
// crypto word as MULX)
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static int failed;
static sigjmp_buf jb;
static volatile int ill_code;
static volatile unsigned long ill_addr;

#define CHECK(c, what)                        \
    do {                                      \
        if (c)                                \
            printf("t4: %s ok\n", what);      \
        else {                                \
            printf("FAIL: t4: %s\n", what);   \
            failed = 1;                       \
        }                                     \
    } while (0)

static void on_ill(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    ill_code = si->si_code;
    ill_addr = (unsigned long)si->si_addr;
    siglongjmp(jb, 1);
}

static volatile unsigned long trap_pc;

/* Run the instruction word `word` (after %o0 = 7, %o1 = 3, %o2 = 5); `trapped` becomes whether
   it raised SIGILL/ILL_ILLOPC at its own address (the PC is stored to memory first: registers
   do not survive the siglongjmp). */
#define TRY(word, trapped)                                                                   \
    do {                                                                                     \
        ill_code = 0;                                                                        \
        if (sigsetjmp(jb, 1) == 0) {                                                         \
            __asm__ volatile("rd %%pc, %%g1\n\t"                                               \
                             "stx %%g1, [%0]\n\t"                                             \
                             "mov 7, %%o0\n\t"                                                \
                             "mov 3, %%o1\n\t"                                                \
                             "mov 5, %%o2\n\t"                                                \
                             ".word " #word                                                  \
                             :                                                               \
                             : "r"(&trap_pc)                                                 \
                             : "g1", "o0", "o1", "o2", "memory");                            \
            (trapped) = 0;                                                                   \
        } else {                                                                             \
            (trapped) = ill_code == ILL_ILLOPC && ill_addr == trap_pc + 20;                  \
        }                                                                                    \
    } while (0)

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_ill;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, NULL);
    int t;
    /* op=10 op3=0x19 rd=8 rs1=8 rs2=9: an AES round on %f registers to a T4, and
       mulx %o0, %o1, %o0 (7 * 3) to Unicorn. */
    TRY(0x90c82009, t);
    CHECK(t, "a T4 crypto word is SIGILL, not MULX");
    TRY(0x00c08010, t);
    CHECK(t, "a BPr with a reserved rcond is SIGILL");
    TRY(0x10c00000, t);
    CHECK(t, "a CBcond with a reserved condition is SIGILL");
    static unsigned long cell = 0x1111;
    unsigned long before = cell;
    ill_code = 0;
    if (sigsetjmp(jb, 1) == 0) {
        /* stxa %o1, [%o0] 0xf2 */
        __asm__ volatile("rd %%pc, %%g1\n\tstx %%g1, [%0]\n\tmov %1, %%o0\n\tmov 9, %%o1\n\t.word 0xd2f21e40"
                         :
                         : "r"(&trap_pc), "r"(&cell)
                         : "g1", "o0", "o1", "memory");
        t = 0;
    } else {
        t = ill_code == ILL_ILLOPC && ill_addr == trap_pc + 16;
    }
    CHECK(t && cell == before, "a store through ASI 0xf2 is SIGILL, not dropped");
    /* The twin ASIs (0xe2) through %asi: LDSTUBA, LDFA and LDDFA aborted the host in
       Unicorn's ASI helper and STTWA stored 16 bytes (Unicorn patch 0002); the same words with
       an immediate ASI are the load-time patches above. Each leaves the cell alone. */
    static unsigned long twin[4] __attribute__((aligned(16)));
#define TRY_ASI(insn, at, what)                                                                   \
    do {                                                                                      \
        twin[0] = twin[1] = twin[2] = twin[3] = 0x2222;                                       \
        ill_code = 0;                                                                         \
        if (sigsetjmp(jb, 1) == 0) {                                                          \
            __asm__ volatile("rd %%pc, %%g1\n\tstx %%g1, [%0]\n\tmov %1, %%o0\n\t"             \
                             "wr %%g0, 0xe2, %%asi\n\t" insn                                 \
                             :                                                                \
                             : "r"(&trap_pc), "r"(twin)                                       \
                             : "g1", "o0", "o1", "o2", "o3", "f0", "f1", "f2", "f3", "memory"); \
            t = 0;                                                                            \
        } else {                                                                              \
            t = ill_code == ILL_ILLOPC && ill_addr == trap_pc + (at);                         \
        }                                                                                     \
        __asm__ volatile("wr %g0, 0x82, %asi");                                               \
        CHECK(t && twin[0] == 0x2222 && twin[1] == 0x2222 && twin[2] == 0x2222, what);        \
    } while (0)
    TRY_ASI("ldstuba [%%o0] %%asi, %%o1", 16, "LDSTUBA through %asi holding a twin ASI is SIGILL");
    TRY_ASI("lda [%%o0] %%asi, %%f1", 16, "LDFA through %asi holding a twin ASI is SIGILL");
    TRY_ASI("ldda [%%o0] %%asi, %%f2", 16, "LDDFA through %asi holding a twin ASI is SIGILL");
    TRY_ASI("mov 5, %%o2\n\tmov 6, %%o3\n\tstda %%o2, [%%o0] %%asi", 24, "STTWA through %asi holding a twin ASI is SIGILL");
    TRY(0x81b8024a, t); /* fmaddd */
    CHECK(t, "FMAf is SIGILL");
    /* Block loads and stores (ASI_BLK_P, 0xf0) move eight doubles from an eight-double
       boundary: %f0, %f16, %f32 or %f48. Through %f56 Unicorn's translator indexed past its
       FP registers and crashed the host (found by the insns_sparc64 fuzz target); %f8 is as
       illegal (Unicorn patch 0015). */
    TRY(0xf39a1e00, t); /* ldda [%o0] 0xf0, %f56 */
    CHECK(t, "a block load to %f56 is SIGILL");
    TRY(0xd19a1e00, t); /* ldda [%o0] 0xf0, %f8 */
    CHECK(t, "a block load to %f8 is SIGILL");
    TRY(0xf3ba1e00, t); /* stda %f56, [%o0] 0xf0 */
    CHECK(t, "a block store from %f56 is SIGILL");
    static double blk[8] __attribute__((aligned(64))) = {1, 2, 3, 4, 5, 6, 7, 8};
    static double got[2];
    __asm__ volatile("ldda [%0] 0xf0, %%f16\n\tstd %%f16, [%1]\n\tstd %%f30, [%1 + 8]"
                     :
                     : "r"(blk), "r"(got)
                     : "f16", "f17", "f18", "f19", "f20", "f21", "f22", "f23", "f24", "f25", "f26", "f27",
                       "f28", "f29", "f30", "f31", "memory");
    CHECK(got[0] == 1 && got[1] == 8, "a block load to %f16 loads eight doubles");
    /* cwbleu %o1, %o2, .+8 skips the next instruction when %o1 <= %o2 unsigned (3 <= 5). */
    unsigned long r;
    __asm__ volatile("mov 3, %%o1\n\tmov 5, %%o2\n\tmov 1, %0\n\t"
                     "cwbleu %%o1, %%o2, 1f\n\t"
                     "mov 2, %0\n"
                     "1:"
                     : "=&r"(r)
                     :
                     : "o1", "o2");
    CHECK(r == 1, "cwbleu taken");
    __asm__ volatile("mov 6, %%o1\n\tmov 5, %%o2\n\tmov 1, %0\n\t"
                     "cwbleu %%o1, %%o2, 1f\n\t"
                     "mov 2, %0\n"
                     "1:"
                     : "=&r"(r)
                     :
                     : "o1", "o2");
    CHECK(r == 2, "cwbleu not taken");
    puts(failed ? "FAIL: t4" : "t4: all ok");
    return failed;
}
