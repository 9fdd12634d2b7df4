// held_windows.c - register windows the kernel cannot store: a signal arrives while a window's
// %sp points nowhere. Linux keeps such a window (spill_fixup: thread_info's reg_window[],
// rwbuf_stkptrs[], w_saved), hands it to the handler in the frame's rwin_save
// (__siginfo_rwin_t), takes it back at sigreturn and writes it where rwbuf_stkptrs now says,
// and raises SIGSEGV (SI_KERNEL) on the way back to user when it still cannot be written.
// Exercises: (a) a fault with the current window's %sp bad: the handler runs (on the
//            alternate stack) and finds the window in rwin_save, the newest held window at
//            the head of its frame; (b) the handler points rwbuf_stkptrs at a buffer and
//            returns: sigreturn writes the window there and the code goes on; (c) `ta 3`
//            with an older window's %sp bad: SIGSEGV SI_KERNEL after the trap, the window in
//            rwin_save, written to the buffer at sigreturn; (d) a handler that returns
//            without fixing it: sigreturn fails and SIGSEGV (SI_KERNEL) comes with the same
//            window held; (e) a SAVE whose spill of the oldest window cannot store it:
//            SEGV_MAPERR, the window held in rwin_save; (f) getcontext with %sp bad:
//            SIGSEGV SI_KERNEL, the window held once.
// argv: none.
// Expected stdout: one "held_windows: <check> ok" line per check, then "held_windows: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: not-differential (qemu-user does not model the windows Linux holds: it writes
//         them where they belong or kills the process)
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void check(int ok, const char *what)
{
    if (ok) {
        printf("held_windows: %s ok\n", what);
    } else {
        printf("FAIL: %s\n", what);
        failed = 1;
    }
}

/* __siginfo_rwin_t (arch/sparc/include/uapi/asm/sigcontext.h). */
struct rwin {
    int wsaved;
    unsigned long reg_window[7][16]; /* %l0-%l7, %i0-%i7 */
    unsigned long rwbuf_stkptrs[7];
};

/* glibc's struct sigcontext stops at sigc_mask; the kernel's frame goes on with rwin_save. */
_Static_assert(offsetof(struct sigcontext, sigc_mask) == 320, "sigcontext layout");
#define RWIN_SAVE(sc) (*(struct rwin **)((char *)(sc) + 328))

#define BAD_SP (0x10UL - 2047) /* a biased %sp whose save area is at 0x10: never mapped */
#define MARK_A 0x1234567UL
#define MARK_C 0xabcdefUL
#define MARK_E 0x5eed5UL
#define MARK_F 0xf00dUL

static unsigned long window_buf[16] __attribute__((aligned(16)));
static sigjmp_buf out;
static volatile int mode; /* what the handler does: 0 longjmp out, 1 fix and return, 2 return unfixed */
static volatile int hits;
static struct seen {
    long code;
    int wsaved;
    unsigned long stkptr, l0, l2, head_l0;
} seen[4];

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    struct sigcontext *sc = ctx;
    struct rwin *rw = RWIN_SAVE(sc);
    /* The frame's head (the 128-byte window save area) is 192 bytes below the siginfo. */
    unsigned long *head = (unsigned long *)((char *)ctx - 192);
    struct seen *s = &seen[hits < 4 ? hits : 3];
    hits++;
    s->code = si->si_code;
    s->wsaved = rw ? rw->wsaved : -1;
    if (rw && rw->wsaved > 0) {
        s->stkptr = rw->rwbuf_stkptrs[0];
        s->l0 = rw->reg_window[0][0];
        s->l2 = rw->reg_window[0][2];
    }
    s->head_l0 = head[0];
    if (mode == 0 || !rw || rw->wsaved != 1)
        siglongjmp(out, 1);
    if (mode == 2) {
        mode = 0; /* the SIGSEGV sigreturn raises comes here again: out */
        return;
    }
    /* Write the window to the buffer instead. After the load from 0 (the held window is
     * the interrupted one): restore its %sp (it kept it in %l2) and skip the load. After
     * `ta 3` the PC is past the trap already and the interrupted window is fine. */
    rw->rwbuf_stkptrs[0] = (unsigned long)window_buf - 2047;
    if (si->si_code == SEGV_MAPERR) {
        sc->sigc_regs.u_regs[14] = rw->reg_window[0][2];
        sc->sigc_regs.tpc = sc->sigc_regs.tnpc;
        sc->sigc_regs.tnpc += 4;
    }
}

/* Store the current window's locals and ins in its save area at %sp + 2047, by hand. */
#define STORE_WINDOW                                                                           \
    "stx %%l0, [%%sp + 2047 + 0]\n\tstx %%l1, [%%sp + 2047 + 8]\n\t"                            \
    "stx %%l2, [%%sp + 2047 + 16]\n\tstx %%l3, [%%sp + 2047 + 24]\n\t"                          \
    "stx %%l4, [%%sp + 2047 + 32]\n\tstx %%l5, [%%sp + 2047 + 40]\n\t"                          \
    "stx %%l6, [%%sp + 2047 + 48]\n\tstx %%l7, [%%sp + 2047 + 56]\n\t"                          \
    "stx %%i0, [%%sp + 2047 + 64]\n\tstx %%i1, [%%sp + 2047 + 72]\n\t"                          \
    "stx %%i2, [%%sp + 2047 + 80]\n\tstx %%i3, [%%sp + 2047 + 88]\n\t"                          \
    "stx %%i4, [%%sp + 2047 + 96]\n\tstx %%i5, [%%sp + 2047 + 104]\n\t"                         \
    "stx %%i6, [%%sp + 2047 + 112]\n\tstx %%i7, [%%sp + 2047 + 120]\n\t"

/* In a window of its own whose save area holds its registers (stored by hand, so that the
 * fill after sigreturn finds them), point %sp nowhere and load from address 0. %l0 is
 * MARK_A, %l2 the good %sp; %sp is good again after the load. */
__attribute__((noinline)) static void fault_with_bad_sp(void)
{
    __asm__ volatile("set %0, %%g1\n\t"
                     "save %%sp, -192, %%sp\n\t"
                     "set %1, %%l0\n\t"
                     "mov 0x55, %%l1\n\t"
                     "mov %%sp, %%l2\n\t"
                     STORE_WINDOW
                     "mov %%g1, %%sp\n\t"
                     "ldx [%%g0], %%g1\n\t"
                     "mov %%l2, %%sp\n\t"
                     "restore\n\t"
                     :
                     : "i"(BAD_SP), "i"(MARK_A)
                     : "g1", "memory");
}

/* Two windows of its own, the outer one's registers stored by hand in its save area; the
 * inner one points the outer one's %sp (its own %fp) nowhere and traps to flush the
 * windows. %l0 of the outer window is MARK_C, %l2 its good %sp; the inner one keeps that
 * %sp in its %l2 and puts it back after the trap. */
__attribute__((noinline)) static void flush_with_bad_older_sp(void)
{
    __asm__ volatile("set %0, %%g1\n\t"
                     "save %%sp, -192, %%sp\n\t"
                     "set %1, %%l0\n\t"
                     "mov 0x66, %%l1\n\t"
                     "mov %%sp, %%l2\n\t"
                     STORE_WINDOW
                     "save %%sp, -192, %%sp\n\t"
                     "mov %%fp, %%l2\n\t"
                     "mov %%g1, %%fp\n\t"
                     "ta 3\n\t"
                     "nop\n\t"
                     "mov %%l2, %%fp\n\t"
                     "restore\n\t"
                     "restore\n\t"
                     :
                     : "i"(BAD_SP), "i"(MARK_C)
                     : "g1", "memory");
}

/* A window with %sp pointing nowhere, then eight more SAVEs (their %sp good, from %g2): the
 * register file runs out and the user's SAVE traps to spill that window, which fails. */
__attribute__((noinline)) static void save_spills_a_bad_window(void)
{
    __asm__ volatile("set %0, %%g1\n\t"
                     "save %%sp, -192, %%sp\n\t"
                     "set %1, %%l0\n\t"
                     "mov %%sp, %%g2\n\t"
                     "mov %%g1, %%sp\n\t"
                     "save %%g2, -192, %%sp\n\t"
                     "save %%g2, -192, %%sp\n\t"
                     "save %%g2, -192, %%sp\n\t"
                     "save %%g2, -192, %%sp\n\t"
                     "save %%g2, -192, %%sp\n\t"
                     "save %%g2, -192, %%sp\n\t"
                     "save %%g2, -192, %%sp\n\t"
                     "save %%g2, -192, %%sp\n\t"
                     "restore\n\t"
                     :
                     : "i"(BAD_SP), "i"(MARK_E)
                     : "g1", "g2", "memory");
}

/* getcontext (`ta 0x6e`) with %sp pointing nowhere: its synchronize_user_stack holds the
 * window, and a held window is do_sigsegv (SI_KERNEL). */
__attribute__((noinline)) static void getcontext_with_bad_sp(void)
{
    static char ucontext_area[1024] __attribute__((aligned(16)));
    __asm__ volatile("set %0, %%g1\n\t"
                     "save %%sp, -192, %%sp\n\t"
                     "set %1, %%l0\n\t"
                     "mov %2, %%o0\n\t"
                     "mov %%g1, %%sp\n\t"
                     "ta 0x6e\n\t"
                     "nop\n\t"
                     :
                     : "i"(BAD_SP), "i"(MARK_F), "r"(ucontext_area)
                     : "g1", "o0", "memory");
}

int main(void)
{
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    if (sigaltstack(&ss, 0) || sigaction(SIGSEGV, &sa, 0)) {
        printf("FAIL: setup\n");
        return 1;
    }

    /* (a) The window is handed to the handler; the handler leaves by siglongjmp. */
    mode = 0;
    hits = 0;
    if (!sigsetjmp(out, 1))
        fault_with_bad_sp();
    check(hits == 1 && seen[0].code == SEGV_MAPERR, "a fault with %sp pointing nowhere reaches the handler");
    check(seen[0].wsaved == 1 && seen[0].stkptr == BAD_SP, "rwin_save holds the window and its %sp");
    check(seen[0].l0 == MARK_A && seen[0].l2 != 0, "rwin_save holds the window's registers");
    check(seen[0].head_l0 == MARK_A, "the held window heads the frame");

    /* (b) The handler moves the window to a buffer: sigreturn writes it there. */
    mode = 1;
    hits = 0;
    memset(window_buf, 0, sizeof window_buf);
    if (!sigsetjmp(out, 1))
        fault_with_bad_sp();
    check(hits == 1 && window_buf[0] == MARK_A && window_buf[1] == 0x55,
          "sigreturn writes the window where rwbuf_stkptrs says, and the code goes on");

    /* (c) `ta 3` with an older window's %sp bad: SIGSEGV SI_KERNEL after the trap. */
    mode = 1;
    hits = 0;
    memset(window_buf, 0, sizeof window_buf);
    if (!sigsetjmp(out, 1))
        flush_with_bad_older_sp();
    check(hits == 1 && seen[0].code == SI_KERNEL, "a flush that cannot store a window is SIGSEGV (SI_KERNEL)");
    check(seen[0].wsaved == 1 && seen[0].stkptr == BAD_SP && seen[0].l0 == MARK_C,
          "the flush's held window is in rwin_save");
    check(window_buf[0] == MARK_C && window_buf[1] == 0x66, "and sigreturn writes it to the buffer");

    /* (d) A handler that leaves it unwritable: sigreturn fails, SIGSEGV again, window held. */
    mode = 2;
    hits = 0;
    if (!sigsetjmp(out, 1))
        fault_with_bad_sp();
    check(hits == 2 && seen[0].code == SEGV_MAPERR && seen[1].code == SI_KERNEL,
          "sigreturn that cannot write a window is SIGSEGV (SI_KERNEL)");
    check(seen[1].wsaved == 1 && seen[1].stkptr == BAD_SP && seen[1].l0 == MARK_A,
          "the window is still held in the new frame");

    /* (e) A SAVE whose spill cannot store the oldest window: the kernel holds it, and the
     * fault is SIGSEGV SEGV_MAPERR at the frame (the handler leaves by siglongjmp). */
    mode = 0;
    hits = 0;
    if (!sigsetjmp(out, 1))
        save_spills_a_bad_window();
    check(hits == 1 && seen[0].code == SEGV_MAPERR && seen[0].wsaved >= 1 && seen[0].stkptr == BAD_SP &&
              seen[0].l0 == MARK_E,
          "a SAVE that cannot spill a window is SEGV_MAPERR, the window held in rwin_save");

    /* (f) getcontext with %sp pointing nowhere: SIGSEGV SI_KERNEL, the window held once. */
    mode = 0;
    hits = 0;
    if (!sigsetjmp(out, 1))
        getcontext_with_bad_sp();
    check(hits == 1 && seen[0].code == SI_KERNEL && seen[0].wsaved == 1 && seen[0].stkptr == BAD_SP &&
              seen[0].l0 == MARK_F,
          "getcontext with a window it cannot store is SIGSEGV (SI_KERNEL), the window held once");

    if (failed)
        return 1;
    printf("held_windows: all ok\n");
    return 0;
}
