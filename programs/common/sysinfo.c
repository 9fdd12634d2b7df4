// sysinfo.c - miscellaneous process / system information syscalls.
// Exercises: uname, getpid, gettid, clock_gettime (CLOCK_MONOTONIC twice,
//            CLOCK_REALTIME), getrandom, prlimit64, sched_yield,
//            ioctl(TCGETS) on a regular file (ENOTTY), prctl PR_SET_NAME /
//            PR_GET_NAME, plus openat/unlinkat for the scratch file
//            /tmp/tagmmu_sysinfo.tmp (removed at the end).
// argv: none.
// Expected stdout: "uname sysname: Linux", "uname machine: <aarch64|sparc64>", then one
//   "<check>: ok" line each for getpid, gettid, monotonic, realtime,
//   getrandom, prlimit, sched_yield, ioctl TCGETS ENOTTY, prctl name;
//   finally "sysinfo: all ok". No pids, times or random bytes are printed.
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: differential
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define TMP_PATH "/tmp/tagmmu_sysinfo.tmp"

static int failures;

static void check(int cond, const char *what)
{
    if (cond) {
        printf("%s: ok\n", what);
    } else {
        printf("FAIL: %s (errno %d)\n", what, errno);
        failures++;
    }
}

int main(void)
{
    struct utsname u;
    if (uname(&u) != 0) {
        printf("FAIL: uname (errno %d)\n", errno);
        return 1;
    }
    printf("uname sysname: %s\n", u.sysname);
    printf("uname machine: %s\n", u.machine);
    if (strcmp(u.sysname, "Linux") != 0)
        check(0, "uname sysname == Linux");
    if (strcmp(u.machine, TAGMMU_UNAME_MACHINE) != 0)
        check(0, "uname machine == " TAGMMU_UNAME_MACHINE);

    pid_t pid = getpid();
    check(pid > 0, "getpid");
    check(gettid() == pid, "gettid");

    struct timespec t1, t2;
    int r1 = clock_gettime(CLOCK_MONOTONIC, &t1);
    int r2 = clock_gettime(CLOCK_MONOTONIC, &t2);
    check(r1 == 0 && r2 == 0 &&
              (t2.tv_sec > t1.tv_sec ||
               (t2.tv_sec == t1.tv_sec && t2.tv_nsec >= t1.tv_nsec)) &&
              t1.tv_nsec >= 0 && t1.tv_nsec < 1000000000L &&
              t2.tv_nsec >= 0 && t2.tv_nsec < 1000000000L,
          "monotonic");

    struct timespec rt;
    check(clock_gettime(CLOCK_REALTIME, &rt) == 0 &&
              rt.tv_sec > 1577836800L /* 2020-01-01T00:00:00Z */,
          "realtime");

    unsigned char rnd[32];
    memset(rnd, 0, sizeof rnd);
    check(getrandom(rnd, sizeof rnd, 0) == (ssize_t)sizeof rnd, "getrandom");

    struct rlimit old;
    memset(&old, 0, sizeof old);
    check(prlimit(0, RLIMIT_STACK, NULL, &old) == 0 && old.rlim_cur > 0 &&
              (old.rlim_max == RLIM_INFINITY || old.rlim_cur <= old.rlim_max),
          "prlimit");

    check(sched_yield() == 0, "sched_yield");

    int fd = open(TMP_PATH, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0) {
        check(0, "open " TMP_PATH);
    } else {
        unsigned char tbuf[128]; /* larger than any struct termios */
        errno = 0;
        int r = ioctl(fd, TCGETS, tbuf);
        check(r == -1 && errno == ENOTTY, "ioctl TCGETS ENOTTY");
        close(fd);
        unlink(TMP_PATH);
    }

    char name[17];
    memset(name, 0, sizeof name);
    check(prctl(PR_SET_NAME, (unsigned long)"tagmmu-t", 0UL, 0UL, 0UL) == 0 &&
              prctl(PR_GET_NAME, (unsigned long)name, 0UL, 0UL, 0UL) == 0 &&
              strcmp(name, "tagmmu-t") == 0,
          "prctl name");

    if (failures) {
        printf("sysinfo: %d failure(s)\n", failures);
        return 1;
    }
    puts("sysinfo: all ok");
    return 0;
}
