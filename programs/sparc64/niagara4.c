// niagara4.c - ordinary code compiled for SPARC T4 and later (-mcpu=niagara4): gcc turns
// nearly every compare-and-branch into a CBcond (cwb*/cxb*: 32- and 64-bit, register and simm5
// operands, every condition, forward and backward), which tagmmu emulates (Unicorn decodes it
// as a BPr, wrong, or crashes on cwbleu/cwbgu), and uses the VIS3 integer instructions for
// count-leading-zeros (lzcnt), carries (addxc) and int <-> FP conversions (movxtod, movdtox,
// movwtos), which tagmmu executes (Unicorn's CPU lacks them). The same source built for the
// plain V9 CPU is niagara4_v9.c; both must print the same lines.
// Exercises: loops counting up and down (signed and unsigned, int and long), binary search,
//            insertion sort, string length/compare/copy loops written out, gcd, a small
//            state machine over a string, 64-bit compares whose upper halves differ, and a
//            checksum over all of it; clz of 64-bit values, 128-bit additions (carries),
//            long/int <-> double/float conversions. -ffp-contract=off keeps gcc from fusing
//            a*b+c into FMAf, which tagmmu does not model (SIGILL).
// argv: none.
// Expected stdout: one "niagara4: <check> ok" line per check, then "niagara4: checksum <n>" and
//   "niagara4: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: cflags -mcpu=niagara4 -ffp-contract=off
// tagmmu: not-differential (qemu-sparc64 7.2 mis-decodes CBcond as Unicorn does; tests/adi.rs
// compares it with niagara4_v9, the same source for plain V9, which runs under qemu-sparc64)
#include <stdio.h>
#include <string.h>

static int failed;
static unsigned long sum;

#define CHECK(c, what)                           \
    do {                                         \
        if (c)                                   \
            printf("niagara4: %s ok\n", what);     \
        else {                                   \
            printf("FAIL: niagara4: %s\n", what);  \
            failed = 1;                          \
        }                                        \
    } while (0)

__attribute__((noinline)) static int count_signed(int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++)
        n += (i < 0) ? 2 : (i == 0 ? 5 : 1);
    return n;
}

__attribute__((noinline)) static unsigned count_unsigned(unsigned from, unsigned to) {
    unsigned n = 0;
    for (unsigned i = from; i != to; i--)
        if (i > 7u)
            n++;
    return n;
}

__attribute__((noinline)) static long count_long(long a, long b) {
    long n = 0;
    while (a <= b) {
        if (a >= 3 && a != 9)
            n += a;
        a++;
    }
    return n;
}

__attribute__((noinline)) static int bsearch_int(const int *v, int n, int key) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (v[mid] == key)
            return mid;
        if (v[mid] < key)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

__attribute__((noinline)) static void isort(long *v, int n) {
    for (int i = 1; i < n; i++) {
        long x = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

__attribute__((noinline)) static unsigned long my_strlen(const char *s) {
    unsigned long n = 0;
    while (s[n] != 0)
        n++;
    return n;
}

__attribute__((noinline)) static int my_strcmp(const char *a, const char *b) {
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

__attribute__((noinline)) static unsigned long gcd(unsigned long a, unsigned long b) {
    while (b != 0) {
        unsigned long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Words, digits and others in a string, as a tiny state machine. */
__attribute__((noinline)) static int words(const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) {
        int letter = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');
        if (letter && !in)
            n++;
        in = letter;
    }
    return n;
}

__attribute__((noinline)) static int cmp64(unsigned long a, unsigned long b) {
    int r = 0;
    if (a > b)
        r |= 1;
    if ((long)a < (long)b)
        r |= 2;
    if ((unsigned)a == (unsigned)b)
        r |= 4;
    if (a == b)
        r |= 8;
    return r;
}

__attribute__((noinline)) static unsigned long clz_sum(const unsigned long *v, int n) {
    unsigned long s = 0;
    for (int i = 0; i < n; i++)
        s = s * 67 + (unsigned long)(v[i] ? __builtin_clzl(v[i]) : 64);
    return s;
}

__attribute__((noinline)) static unsigned __int128 add128(unsigned __int128 a, unsigned __int128 b) { return a + b; }

__attribute__((noinline)) static double to_double(long v) { return (double)v; }
__attribute__((noinline)) static long to_long(double d) { return (long)d; }
__attribute__((noinline)) static float to_float(int v) { return (float)v; }
__attribute__((noinline)) static int to_int(float f) { return (int)f; }
__attribute__((noinline)) static unsigned long bits_of(double d) {
    unsigned long u;
    memcpy(&u, &d, sizeof u);
    return u;
}

int main(void) {
    CHECK(count_signed(-5, 5) == 2 * 5 + 5 + 4, "signed loop");
    CHECK(count_unsigned(20, 0) == 13, "unsigned countdown");
    CHECK(count_long(-10, 12) == 3 + 4 + 5 + 6 + 7 + 8 + 10 + 11 + 12, "64-bit loop");
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = 3 * i - 40;
    int found = 1;
    for (int i = 0; i < 64; i++)
        found &= bsearch_int(v, 64, 3 * i - 40) == i;
    CHECK(found && bsearch_int(v, 64, 0) == -1 && bsearch_int(v, 64, 1000) == -1, "binary search");
    long w[40];
    for (int i = 0; i < 40; i++)
        w[i] = (long)((i * 7919) % 41) - 20 + ((i & 1) ? 0x100000000L : 0);
    isort(w, 40);
    int sorted = 1;
    for (int i = 1; i < 40; i++)
        sorted &= w[i - 1] <= w[i];
    CHECK(sorted, "insertion sort");
    CHECK(my_strlen("compare and branch") == 18 && my_strcmp("cwbne", "cwbne") == 0 &&
              my_strcmp("cxbe", "cxbg") < 0 && my_strcmp("b", "a") > 0,
          "string loops");
    CHECK(gcd(1071, 462) == 21 && gcd(1UL << 40, 6) == 2, "gcd");
    CHECK(words("SPARC T4, the CBcond: 3 words? no, more!") == 7, "state machine");
    CHECK(cmp64(0x100000005UL, 5) == (1 | 4) && cmp64(5, 0x100000005UL) == (2 | 4) && cmp64(-1UL, 1) == (1 | 2) &&
              cmp64(7, 7) == (4 | 8),
          "64-bit compares with different upper halves");
    unsigned long z[] = {1, 2, 0x80000000UL, 0x100000000UL, ~0UL, 0x00f0000000000000UL, 0, 12345};
    CHECK(clz_sum(z, 8) == clz_sum(z, 8) && __builtin_clzl(z[4]) == 0 && clz_sum(z, 1) == 63, "clz");
    unsigned __int128 big = add128(((unsigned __int128)1 << 64) - 1, 1);
    CHECK((unsigned long)(big >> 64) == 1 && (unsigned long)big == 0, "128-bit carry");
    CHECK(to_double(-3) == -3.0 && to_long(1e15 + 0.5) == 1000000000000000L && to_long(-2.75) == -2 &&
              to_float(7) == 7.0f && to_int(-9.5f) == -9 && bits_of(to_double(1)) == 0x3ff0000000000000UL,
          "int and FP conversions");
    sum += clz_sum(z, 8) + bits_of(to_double(-123456789)) + (unsigned long)to_int(to_float(1 << 20));
    for (int i = 0; i < 64; i++)
        sum = sum * 31 + (unsigned long)(v[i] + w[i % 40]) + my_strlen("x") + (unsigned long)count_signed(-i, i);
    printf("niagara4: checksum %lu\n", sum);
    puts(failed ? "FAIL: niagara4" : "niagara4: all ok");
    return failed;
}
