// sleepers: waits the only task can end, and waits it cannot. A futex wait with a timeout
// sleeps the timeout (the clock advances) and returns ETIMEDOUT; a wait on a changed word is
// EAGAIN; a wake wakes nobody; an absolute FUTEX_WAIT_BITSET deadline in the past times out
// at once.
// argv: none, "futex" (a futex wait with no timeout: no other thread can wake it) or "stop"
// (kill(getpid(), SIGSTOP): no other task can send SIGCONT). Linux sleeps for ever in both;
// tagmmu ends the run as a deadlock.
// Expected stdout (Linux, no argument): one "<what>: ok" line per check.
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: differential
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static int failed;

static long futex(int *uaddr, int op, int val, const struct timespec *t, int val3) {
    return syscall(SYS_futex, uaddr, op, val, t, NULL, val3);
}

static long ns_between(struct timespec a, struct timespec b) {
    return (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
}

int main(int argc, char **argv) {
    static int word = 7;
    if (argc > 1 && strcmp(argv[1], "futex") == 0) {
        printf("waiting on a futex nobody wakes\n");
        fflush(stdout);
        futex(&word, FUTEX_WAIT_PRIVATE, 7, NULL, 0);
        printf("FAIL: the wait returned\n");
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "stop") == 0) {
        printf("stopping\n");
        fflush(stdout);
        kill(getpid(), SIGSTOP);
        printf("FAIL: continued\n");
        return 1;
    }
    struct timespec t0, t1, rel = {0, 30 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 7, &rel, 0) == -1 && errno == ETIMEDOUT, "a timed futex wait times out");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(ns_between(t0, t1) >= 30 * 1000 * 1000, "after its timeout");
    CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 8, &rel, 0) == -1 && errno == EAGAIN, "a changed word is EAGAIN");
    CHECK(futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, 0) == 0, "a wake wakes nobody");
    struct timespec past = t0;
    CHECK(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 7, &past, FUTEX_BITSET_MATCH_ANY) == -1 && errno == ETIMEDOUT,
          "a deadline in the past times out");
    CHECK(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 7, &past, 0) == -1 && errno == EINVAL, "an empty bitset is EINVAL");
    CHECK(futex((int *)((char *)&word + 1), FUTEX_WAKE_PRIVATE, 1, NULL, 0) == -1 && errno == EINVAL,
          "a misaligned word is EINVAL");
    return failed;
}
