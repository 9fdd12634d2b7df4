// itimers.c - ITIMER_REAL: setitimer/getitimer/alarm, SIGALRM (si_code SI_KERNEL) at expiry
// in the middle of a loop, a periodic timer, a sleep and a pipe read the timer interrupts
// (EINTR, the time left), a timer per process (a forked child has none; the parent's
// interrupts its wait), the argument checks, and gettimeofday's microseconds (a long on
// arm64, an int on sparc64) agreeing with clock_gettime.
// argv: none.
// Expected stdout: one "<check>: ok" line per check, then "itimers: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: <check>" and exit 1)
// tagmmu: differential
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t alarms;
static volatile int alarm_code;

static void on_alarm(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    alarm_code = si->si_code;
    alarms++;
}

/* Spin until `want` SIGALRMs arrived or the spin gives up (about 10 s of virtual time). */
static int spin_until(int want) {
    for (long i = 0; i < 2000000000L; i++)
        if (alarms >= want)
            return 1;
    return 0;
}

static long long tv_ns(struct itimerval *v, int value) {
    struct timeval *t = value ? &v->it_value : &v->it_interval;
    return (long long)t->tv_sec * 1000000000LL + (long long)t->tv_usec * 1000;
}

int main(void) {
    int failed = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &sa, 0);

    struct itimerval v, old;
    memset(&v, 0xff, sizeof v);
    CHECK(getitimer(ITIMER_REAL, &v) == 0 && tv_ns(&v, 1) == 0 && tv_ns(&v, 0) == 0, "no timer at start");

    /* One shot of 10 ms, fired in the middle of a loop. */
    memset(&v, 0, sizeof v);
    v.it_value.tv_usec = 10000;
    memset(&old, 0xff, sizeof old);
    CHECK(setitimer(ITIMER_REAL, &v, &old) == 0 && tv_ns(&old, 1) == 0 && tv_ns(&old, 0) == 0,
          "setitimer returns the old (disarmed) setting");
    CHECK(getitimer(ITIMER_REAL, &v) == 0 && tv_ns(&v, 1) > 0 && tv_ns(&v, 1) <= 10000000 && tv_ns(&v, 0) == 0,
          "getitimer reads the time left");
    CHECK(spin_until(1) && alarms == 1, "SIGALRM arrives in the loop");
    CHECK(alarm_code == SI_KERNEL, "its si_code is SI_KERNEL");
    CHECK(getitimer(ITIMER_REAL, &v) == 0 && tv_ns(&v, 1) == 0, "a one-shot timer is disarmed after it fired");

    /* Periodic: 2 ms, three times, then disarmed (the old setting keeps the interval). */
    alarms = 0;
    v.it_value.tv_sec = v.it_interval.tv_sec = 0;
    v.it_value.tv_usec = v.it_interval.tv_usec = 2000;
    setitimer(ITIMER_REAL, &v, 0);
    CHECK(spin_until(3), "a periodic timer fires again and again");
    memset(&v, 0, sizeof v);
    CHECK(setitimer(ITIMER_REAL, &v, &old) == 0 && tv_ns(&old, 0) == 2000000 && tv_ns(&old, 1) > 0 &&
              tv_ns(&old, 1) <= 2000000,
          "disarming returns the periodic setting");
    int after = alarms;
    for (volatile long i = 0; i < 10000000L; i++)
        ;
    CHECK(alarms == after, "a disarmed timer stays quiet");

    /* A sleep of 1 s interrupted at 10 ms: EINTR and about 990 ms left. */
    alarms = 0;
    v.it_value.tv_usec = 10000;
    setitimer(ITIMER_REAL, &v, 0);
    struct timespec req = {1, 0}, rem = {0, 0};
    int r = nanosleep(&req, &rem);
    int e = errno;
    CHECK(r == -1 && e == EINTR && alarms == 1, "the timer interrupts nanosleep (EINTR)");
    CHECK(rem.tv_sec == 0 && rem.tv_nsec > 900000000L && rem.tv_nsec < 1000000000L, "nanosleep reports the time left");

    /* A read of an empty pipe this process alone writes: it would sleep for ever, but the
     * timer's SIGALRM interrupts it (no SA_RESTART: EINTR). */
    int p[2];
    char byte;
    alarms = 0;
    v.it_value.tv_usec = 10000;
    setitimer(ITIMER_REAL, &v, 0);
    errno = 0;
    CHECK(pipe(p) == 0 && read(p[0], &byte, 1) == -1 && errno == EINTR && alarms == 1,
          "the timer interrupts a read that would sleep for ever");

    /* Timers are per process: a forked child has none; the parent's fires while the child
     * sleeps and interrupts the parent's wait (EINTR), which is then taken again. (The
     * margins are wide for qemu-user, the differential oracle, whose timers run in host
     * time: with a 5 ms timer and a spinning child, a loaded host fired the timer before
     * the parent reached waitpid.) */
    alarms = 0;
    v.it_value.tv_usec = 100000;
    setitimer(ITIMER_REAL, &v, 0);
    pid_t child = fork();
    if (child == 0) {
        struct itimerval mine;
        getitimer(ITIMER_REAL, &mine);
        struct timespec half = {0, 500000000L};
        nanosleep(&half, 0);
        _exit(tv_ns(&mine, 1) == 0 && alarms == 0 ? 0 : 1);
    }
    int status = -1;
    errno = 0;
    r = waitpid(child, &status, 0);
    e = errno;
    CHECK(child > 0 && r == -1 && e == EINTR && alarms == 1, "the parent's timer interrupts its wait for the child");
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the child had no timer and got no SIGALRM");

    /* alarm(): seconds, the old one's rounded time left. */
    CHECK(alarm(5) == 0, "alarm with nothing armed returns 0");
    CHECK(alarm(0) == 5, "alarm returns the seconds the old alarm had left");

    /* Argument checks. */
    memset(&v, 0, sizeof v);
    v.it_value.tv_usec = 1000000;
    errno = 0;
    CHECK(setitimer(ITIMER_REAL, &v, 0) == -1 && errno == EINVAL, "microseconds past 999999 are EINVAL");
    v.it_value.tv_usec = 0;
    v.it_value.tv_sec = -1;
    errno = 0;
    CHECK(setitimer(ITIMER_REAL, &v, 0) == -1 && errno == EINVAL, "negative seconds are EINVAL");
    errno = 0;
    CHECK(getitimer(3, &v) == -1 && errno == EINVAL, "an unknown timer is EINVAL");

    /* gettimeofday between two clock_gettime: equal to the microsecond. */
    struct timespec t0, t1;
    struct timeval tv;
    clock_gettime(CLOCK_REALTIME, &t0);
    gettimeofday(&tv, 0);
    clock_gettime(CLOCK_REALTIME, &t1);
    long long a = (long long)t0.tv_sec * 1000000 + t0.tv_nsec / 1000, b = (long long)tv.tv_sec * 1000000 + tv.tv_usec,
              c = (long long)t1.tv_sec * 1000000 + t1.tv_nsec / 1000;
    CHECK(a <= b && b <= c && tv.tv_usec >= 0 && tv.tv_usec < 1000000, "gettimeofday agrees with clock_gettime");

    if (failed)
        return 1;
    puts("itimers: all ok");
    return 0;
}
