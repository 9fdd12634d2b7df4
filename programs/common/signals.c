// signals: rt_sigaction / rt_sigprocmask / sigaltstack / rt_sigreturn with real handlers,
// built for arm64 and sparc64.
// Exercises: SA_SIGINFO handlers that move the saved PC past a faulting instruction (as the
// MTE selftests do: uc_mcontext.pc += 4 on arm64; on sparc64 the handler's third argument
// points at glibc's struct sigcontext - siginfo in sigc_info, then the saved pt_regs in
// sigc_regs - and skipping means tpc = tnpc, tnpc += 4, which is also right for a fault in a
// delay slot), SA_RESETHAND, SA_NODEFER, SA_ONSTACK on a sigaltstack, blocked signals staying
// pending until unblocked, SIG_IGN, the signal mask inside a handler, and registers (integer
// and FP) preserved across a handler.
// argv: none, or "default": raises SIGUSR2 (12 on arm64, 31 on sparc) with the default
// action, so the guest dies with "raising SIGUSR2" on stdout. Exit status as the host shell
// sees it: 128 + the host's SIGUSR2 (140 on x86-64 and arm64 hosts), since qemu-user
// re-raises the translated signal on itself.
// Expected stdout (no argument): "SIGSEGV: signo 11 code 1 addr 0x20", "load skipped: yes",
// "SIGSEGV: signo 11 code 1 addr 0x20", "store skipped: yes", "registers kept: yes",
// "SIGSEGV: signo 11 code 1 addr 0x20", "SA_RESETHAND reset to default: yes",
// "handler ran on the alternate stack: yes", "SA_NODEFER allowed nesting: yes",
// "sa_mask applied in the handler: yes", "mask restored after the handler: yes",
// "blocked signal waits: yes", "delivered on unblock: yes", "ignored SIGUSR2: yes",
// "signals: all ok".
// Expected exit status: 0 (1 if SIGSEGV was not handled exactly three times).
// tagmmu: differential
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int hits, usr1_hits, nested;
static volatile uintptr_t handler_sp;
static volatile sigset_t mask_in_handler;
static char altstack[64 * 1024] __attribute__((aligned(16)));

static void on_segv(int sig, siginfo_t *si, void *ctx) {
    hits++;
    printf("SIGSEGV: signo %d code %d addr %p\n", sig, si->si_code, si->si_addr);
#if defined(__sparc__)
    struct sigcontext *sc = ctx;
    sc->sigc_regs.tpc = sc->sigc_regs.tnpc;
    sc->sigc_regs.tnpc += 4;
#else
    ucontext_t *uc = ctx;
    uc->uc_mcontext.pc += 4;
#endif
}

static void on_usr1(int sig) {
    (void)sig;
    usr1_hits++;
    int local;
    handler_sp = (uintptr_t)&local;
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    mask_in_handler = cur;
    if (usr1_hits == 1)
        raise(SIGUSR1); /* SA_NODEFER: nested delivery */
    nested = usr1_hits;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "default") == 0) {
        puts("raising SIGUSR2");
        fflush(stdout);
        raise(SIGUSR2);
        puts("FAIL: survived SIGUSR2");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    static volatile uintptr_t bad_addr = 0x20; /* opaque to the compiler */
    volatile int *bad = (volatile int *)bad_addr;
    int before = 1234;
    volatile double f = 2.5;
    int v = *bad; /* skipped by the handler */
    (void)v;
    printf("load skipped: %s\n", hits == 1 ? "yes" : "no");
    *bad = 7;
    printf("store skipped: %s\n", hits == 2 ? "yes" : "no");
    printf("registers kept: %s\n", before == 1234 && f * 2 == 5.0 ? "yes" : "no");

    /* SA_RESETHAND: second SIGSEGV would kill, so check the disposition instead. */
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    v = *bad;
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    printf("SA_RESETHAND reset to default: %s\n", now.sa_handler == SIG_DFL ? "yes" : "no");

    /* sigaltstack + SA_ONSTACK + SA_NODEFER */
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        perror("sigaltstack");
    struct sigaction su;
    memset(&su, 0, sizeof su);
    su.sa_handler = on_usr1;
    su.sa_flags = SA_ONSTACK | SA_NODEFER;
    sigaddset(&su.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &su, NULL);
    raise(SIGUSR1);
    printf("handler ran on the alternate stack: %s\n",
           handler_sp >= (uintptr_t)altstack && handler_sp < (uintptr_t)altstack + sizeof altstack ? "yes" : "no");
    printf("SA_NODEFER allowed nesting: %s\n", usr1_hits == 2 ? "yes" : "no");
    printf("sa_mask applied in the handler: %s\n", sigismember((sigset_t *)&mask_in_handler, SIGUSR2) ? "yes" : "no");
    sigset_t after;
    sigprocmask(SIG_BLOCK, NULL, &after);
    printf("mask restored after the handler: %s\n", sigismember(&after, SIGUSR2) ? "no" : "yes");

    /* Blocked signals stay pending until unblocked. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    usr1_hits = 10;
    raise(SIGUSR1);
    printf("blocked signal waits: %s\n", usr1_hits == 10 ? "yes" : "no");
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    printf("delivered on unblock: %s\n", usr1_hits == 11 ? "yes" : "no");

    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    puts("ignored SIGUSR2: yes");
    if (hits == 3)
        puts("signals: all ok");
    return hits == 3 ? 0 : 1;
}
