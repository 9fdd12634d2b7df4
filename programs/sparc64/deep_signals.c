// deep_signals: signals delivered while register windows are spilled deep in the stack.
// Exercises: raise() at the bottom of a 300-frame recursion whose handler recurses again
//            (spills inside the handler, fills on the way back through the signal frame);
//            a SIGSEGV handler that skips the faulting load (sigcontext tpc/tnpc) 200 frames
//            down; siglongjmp out of a handler running 100 frames deep, with the mask
//            restored; values kept in locals across all of it; FP registers across handlers.
// argv: none.
// Expected stdout: one "deep_signals: <check> ok" line per check, then "deep_signals: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: differential
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

static int failed;
static void check(int ok, const char *what) {
    if (ok)
        printf("deep_signals: %s ok\n", what);
    else {
        printf("FAIL: %s\n", what);
        failed = 1;
    }
}

__attribute__((noinline)) static long sum_down(int n, long a) {
    if (n == 0)
        return a;
    long x = a * 7 + n;
    return sum_down(n - 1, x & 0xfffff) + (x & 0xff);
}

static volatile long in_handler;
static void on_usr1(int sig) { in_handler = sum_down(200, sig); }

__attribute__((noinline)) static long dive_raise(int n, long keep) {
    if (n == 0) {
        raise(SIGUSR1);
        return keep;
    }
    long l1 = keep + n, l2 = keep ^ n;
    long r = dive_raise(n - 1, keep + 1);
    return r + (l1 - keep) - (l2 ^ keep);
}

static volatile int segv_count;
static void on_segv(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)si;
    struct sigcontext *sc = ctx;
    segv_count++;
    sc->sigc_regs.tpc = sc->sigc_regs.tnpc;
    sc->sigc_regs.tnpc += 4;
}

/* The address to fault on, hidden from the optimiser. */
static volatile int *volatile bad_ptr;

__attribute__((noinline)) static long dive_fault(int n) {
    if (n == 0) {
        int v = *bad_ptr;
        (void)v;
        return 1;
    }
    volatile long keep = n * 3;
    return dive_fault(n - 1) + keep - n * 3;
}

static sigjmp_buf jb;
static void on_usr2(int sig) { siglongjmp(jb, sig); }

__attribute__((noinline)) static void dive_jump(int n) {
    if (n == 0)
        raise(SIGUSR2);
    else
        dive_jump(n - 1);
}

int main(void) {
    signal(SIGUSR1, on_usr1);
    long r = dive_raise(300, 0);
    check(in_handler == sum_down(200, SIGUSR1), "a handler recursing 200 deep under 300 frames");
    /* Each level adds (keep + n - keep) - ((keep ^ n) ^ keep) = n - n = 0 to the bottom's keep. */
    check(r == 300, "values kept across the signal");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    bad_ptr = (volatile int *)8;
    check(dive_fault(200) == 1 && segv_count == 1, "a fault 200 frames down, skipped");

    signal(SIGUSR2, on_usr2);
    int got = sigsetjmp(jb, 1);
    if (got == 0)
        dive_jump(100);
    check(got == SIGUSR2, "siglongjmp out of a handler 100 frames deep");
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    check(!sigismember(&cur, SIGUSR2), "the mask restored by siglongjmp");

    double d = 1.0;
    for (int i = 0; i < 20; i++) {
        raise(SIGUSR1);
        d = d * 1.5 + 0.25;
    }
    check(d > 4987.0 && d < 4988.0, "FP values across 20 handlers"); /* 1.5^21 - 0.5 */
    if (failed)
        return 1;
    puts("deep_signals: all ok");
    return 0;
}
