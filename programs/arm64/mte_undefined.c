// mte_undefined: LDGM (an EL1-only instruction) is UNDEFINED at EL0: SIGILL/ILL_ILLOPC.
// Expected: "SIGILL: ok", exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (QEMU 7.2 does not raise SIGILL for LDGM at EL0; the architecture makes it UNDEFINED there)
#include "mte_util.h"

static volatile int ill;
static void on_ill(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    ill = si->si_code;
    ((ucontext_t *)ctx)->uc_mcontext.pc += 4;
}

int main(void) {
    int failed = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_ill;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, NULL);
    char *p = map_mte(4096);
    __asm__ volatile("mov x0, %0\n .inst 0xd9e00000" ::"r"(p) : "x0", "memory"); /* ldgm x0, [x0] */
    CHECK(ill == 1, "SIGILL");
    return failed;
}
