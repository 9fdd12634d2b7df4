// windows.c - register windows under pressure: every SAVE beyond the 8 windows spills one to
// the stack and every RESTORE below them fills one back, so deep call chains must see the
// exact values their frames held.
// Exercises: recursion to depth 10000 with values kept in locals and ins across calls (spill
//            and fill), a tail-heavy mutual recursion, setjmp/longjmp out of a deep chain
//            (flushw, then restoring %sp/%fp into windows that were spilled), flushw via
//            __builtin_unwind_init and __builtin_return_address (frames read back from the
//            stack after the flush), a callee-saved value surviving longjmp, alloca frames.
// argv: none.
// Expected stdout: one "windows: <check> ok" line per check, then "windows: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: differential
#include <alloca.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void check(int ok, const char *what)
{
    if (ok) {
        printf("windows: %s ok\n", what);
    } else {
        printf("FAIL: %s\n", what);
        failed = 1;
    }
}

/* Keeps a, b, c live across the call so they must survive a spill/fill of this window. */
__attribute__((noinline)) static long deep(long n, long a, long b, long c)
{
    if (n == 0)
        return a + b + c;
    long x = a * 3 + n, y = b ^ (n << 7), z = c - n;
    long r = deep(n - 1, x & 0xffffff, y & 0xffffff, z);
    return r + (x & 0xff) - (y & 0xf) + (z & 0x3);
}

static long deep_reference(long n, long a, long b, long c)
{
    /* The same computation without recursion: the values each level contributes. */
    long *xs = malloc(sizeof(long) * (n + 1)), *ys = malloc(sizeof(long) * (n + 1)), *zs = malloc(sizeof(long) * (n + 1));
    long m = n;
    while (m > 0) {
        long x = a * 3 + m, y = b ^ (m << 7), z = c - m;
        xs[m] = x;
        ys[m] = y;
        zs[m] = z;
        a = x & 0xffffff;
        b = y & 0xffffff;
        c = z;
        m--;
    }
    long r = a + b + c;
    for (m = 1; m <= n; m++)
        r += (xs[m] & 0xff) - (ys[m] & 0xf) + (zs[m] & 0x3);
    free(xs);
    free(ys);
    free(zs);
    return r;
}

__attribute__((noinline)) static int is_odd(unsigned n);
__attribute__((noinline)) static int is_even(unsigned n)
{
    return n == 0 ? 1 : is_odd(n - 1);
}
__attribute__((noinline)) static int is_odd(unsigned n)
{
    return n == 0 ? 0 : is_even(n - 1);
}

static jmp_buf env;

__attribute__((noinline)) static void dive(int n, volatile long *trail)
{
    volatile char pad[40];
    pad[n % 40] = (char)n;
    *trail += n + pad[n % 40] - (char)n;
    if (n == 0)
        longjmp(env, 42);
    if (n > 0)
        dive(n - 1, trail);
}

__attribute__((noinline)) static long frames_with_alloca(int n)
{
    char *p = alloca(64 + n);
    memset(p, n, 64 + n);
    if (n == 0)
        return p[0];
    return p[n] + frames_with_alloca(n - 1);
}

/* Return addresses recorded on the way down; at the bottom, __builtin_return_address(2)
 * makes the compiler flush the register windows (flushw) and read the grandparent's saved
 * %i7 from its stack frame: it must equal what that level recorded in its register. */
static void *recorded[16];
static volatile int sink;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wframe-address"
__attribute__((noinline)) static int walk(int n)
{
    recorded[n] = __builtin_return_address(0);
    if (n == 0)
        return __builtin_return_address(2) == recorded[2] && __builtin_return_address(5) == recorded[5];
    int r = walk(n - 1);
    sink = n;
    return r;
}
#pragma GCC diagnostic pop

int main(void)
{
    check(deep(10000, 1, 2, 3) == deep_reference(10000, 1, 2, 3), "depth 10000 keeps every frame's values");
    check(deep(7, 5, 6, 7) == deep_reference(7, 5, 6, 7), "depth 7 (just below a spill)");
    check(is_even(20000) == 1 && is_odd(777) == 1, "mutual recursion 20000 deep");
    volatile long trail = 0;
    volatile long kept = 1234;
    int r = setjmp(env);
    if (r == 0) {
        kept = 5678;
        dive(500, &trail);
        check(0, "longjmp returned to setjmp");
    } else {
        check(r == 42 && trail == 500 * 501 / 2, "longjmp out of 500 frames");
        check(kept == 5678, "a volatile local survives longjmp");
    }
    check(walk(9), "flushw: return addresses read from spilled frames");
    __builtin_unwind_init();
    check(frames_with_alloca(120) == 120 * 121 / 2, "alloca frames 120 deep");
    if (failed)
        return 1;
    puts("windows: all ok");
    return 0;
}
