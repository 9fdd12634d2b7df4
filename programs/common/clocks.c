// clocks.c - the guest's clocks: CLOCK_REALTIME, gettimeofday and time() agree; CLOCK_MONOTONIC
// advances with work and with sleeping (nanosleep of 2 s moves it by at least 2 s without the
// host waiting, as tagmmu's clocks are virtual); prints the raw values, so two runs are equal
// exactly when the clocks are deterministic.
// argv: none.
// Expected stdout: "realtime <s>.<ns>", "gettimeofday <s>.<us>", "time <s>", "monotonic <ns>",
//   "after work +<ns>", "after sleep +<ns>", then "clocks: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: not-differential (prints the clocks' values)
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static long long ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void) {
    int failed = 0;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t now = time(NULL);
    printf("realtime %lld.%09ld\ngettimeofday %lld.%06ld\ntime %lld\n", (long long)rt.tv_sec, rt.tv_nsec,
           (long long)tv.tv_sec, (long)tv.tv_usec, (long long)now);
    if (tv.tv_sec < rt.tv_sec || tv.tv_sec > rt.tv_sec + 1 || now < rt.tv_sec || now > rt.tv_sec + 1) {
        puts("FAIL: the realtime clocks disagree");
        failed = 1;
    }
    long long m0 = ns(CLOCK_MONOTONIC);
    printf("monotonic %lld\n", m0);
    volatile unsigned long x = 0;
    for (int i = 0; i < 200000; i++)
        x += (unsigned long)i * 7;
    long long m1 = ns(CLOCK_MONOTONIC);
    printf("after work +%lld\n", m1 - m0);
    struct timespec two = {2, 0};
    nanosleep(&two, NULL);
    long long m2 = ns(CLOCK_MONOTONIC);
    printf("after sleep +%lld\n", m2 - m1);
    if (m1 <= m0 || m2 - m1 < 2000000000LL) {
        puts("FAIL: monotonic did not advance");
        failed = 1;
    }
    puts(failed ? "FAIL: clocks" : "clocks: all ok");
    return failed;
}
