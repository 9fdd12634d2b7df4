// mlock_calls: the mlock family and what a lock changes, as mm/mlock.c, mm/madvise.c and
// mm/msync.c answer an unprivileged task. mlock faults the range in (MLOCK_ONFAULT does
// not; a PROT_NONE range cannot be, which is ENOMEM, and is locked all the same);
// RLIMIT_MEMLOCK bounds the locked pages (a range locked already counts once); MAP_LOCKED
// and mlockall(MCL_FUTURE) lock new mappings and the heap; MADV_DONTNEED and MADV_PAGEOUT
// refuse locked pages (MADV_DONTNEED_LOCKED drops them); msync(MS_INVALIDATE) is EBUSY; a
// child of fork inherits no lock; RLIMIT_MEMLOCK 0 makes every lock EPERM.
// Run as root (natively), it first lowers RLIMIT_MEMLOCK and becomes uid 1000, so that the
// answers are an ordinary user's; under tagmmu the task is uid 1000 already.
// Not differential: qemu-user passes mlock to its host, which decides residency itself.
// argv: none. Expected stdout: the lines the test lists, exit 0.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif

static long pg;

/* Printed without stdio's buffer: under mlockall(MCL_FUTURE) a malloc'd buffer would be
 * locked memory too. */
static void say(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(1, buf, (size_t)n) != n)
        _exit(3);
}

/* The residency of n pages at p, as "0101". */
static const char *resident(char *p, int n) {
    static char out[64];
    unsigned char vec[32];
    if (mincore(p, n * pg, vec))
        return "mincore failed";
    for (int i = 0; i < n; i++)
        out[i] = (char)('0' + (vec[i] & 1));
    out[n] = 0;
    return out;
}

static char *map(int pages, int prot, int flags) {
    char *p = mmap(0, pages * pg, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    return p == MAP_FAILED ? 0 : p;
}

static void set_memlock(long pages) {
    struct rlimit r = {pages * pg, pages * pg};
    if (setrlimit(RLIMIT_MEMLOCK, &r))
        _exit(4);
}

int main(void) {
    pg = sysconf(_SC_PAGESIZE);
    set_memlock(16);
    if (getuid() == 0 && setuid(1000))
        return 5;

    char *a = map(4, PROT_READ | PROT_WRITE, 0);
    int r = mlock(a, 4 * pg);
    say("mlock: %s, %s\n", errname(r), resident(a, 4));
    r = madvise(a, 4 * pg, MADV_DONTNEED);
    say("DONTNEED locked: %s, %s\n", errname(r), resident(a, 4));
    r = madvise(a, 4 * pg, MADV_PAGEOUT);
    say("PAGEOUT locked: %s, %s\n", errname(r), resident(a, 4));
    r = msync(a, pg, MS_INVALIDATE);
    say("msync MS_INVALIDATE locked: %s\n", errname(r));
    r = madvise(a, 2 * pg, MADV_DONTNEED_LOCKED);
    say("DONTNEED_LOCKED: %s, %s\n", errname(r), resident(a, 4));
    pid_t child = fork();
    if (child == 0) {
        r = madvise(a + 2 * pg, pg, MADV_DONTNEED);
        say("child DONTNEED: %s, %s\n", errname(r), resident(a, 4));
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    r = munlock(a, 4 * pg);
    int r2 = madvise(a, 4 * pg, MADV_DONTNEED);
    say("munlock: %s, DONTNEED %s, %s\n", errname(r), errname(r2), resident(a, 4));

    r = mlock2(a, 4 * pg, MLOCK_ONFAULT);
    say("mlock2 MLOCK_ONFAULT: %s, %s", errname(r), resident(a, 4));
    a[pg] = 1;
    say(", touched %s\n", resident(a, 4));
    r = mlock2(a, pg, 2);
    say("mlock2 unknown flag: %s\n", errname(r));
    munlock(a, 4 * pg);

    char *none = map(2, PROT_NONE, 0);
    r = mlock(none, 2 * pg);
    say("mlock PROT_NONE: %s, %s\n", errname(r), resident(none, 2));
    munmap(none, 2 * pg);

    char *h = map(3, PROT_READ | PROT_WRITE, 0);
    munmap(h + pg, pg);
    r = mlock(h, 3 * pg);
    int r3 = mlock(h + pg, pg);
    say("mlock over a hole: %s, at the hole %s\n", errname(r), errname(r3));
    munmap(h, 3 * pg);
    r = mlock(a, SIZE_MAX);
    say("mlock of a length that wraps: %s\n", errname(r));

    char *big = map(32, PROT_READ | PROT_WRITE, 0);
    r = mlock(big, 17 * pg);
    say("RLIMIT_MEMLOCK 16 pages: mlock 17 %s", errname(r));
    r = mlock(big, 8 * pg);
    say(", 8 %s", errname(r));
    r = mlock(big + 8 * pg, 12 * pg);
    say(", 12 more %s", errname(r));
    r = mlock(big, 12 * pg);
    say(", 12 over the 8 %s\n", errname(r));
    munmap(big, 32 * pg);

    char *l = map(4, PROT_READ | PROT_WRITE, MAP_LOCKED);
    say("MAP_LOCKED: %s", l ? resident(l, 4) : errname(-1));
    char *l2 = map(32, PROT_READ | PROT_WRITE, MAP_LOCKED);
    say(", over the limit %s\n", l2 ? "mapped" : errname(-1));
    munmap(l, 4 * pg);

    r = mlockall(0);
    r2 = mlockall(MCL_ONFAULT);
    say("mlockall 0: %s, MCL_ONFAULT alone: %s\n", errname(r), errname(r2));
    r = mlockall(MCL_CURRENT);
    say("mlockall MCL_CURRENT over the limit: %s\n", errname(r));
    r = mlockall(MCL_FUTURE);
    char *f = map(3, PROT_READ | PROT_WRITE, 0);
    char *f2 = map(32, PROT_READ | PROT_WRITE, 0);
    char *brk0 = sbrk(0);
    char *heap = sbrk(2 * pg);
    char *heap_page = (char *)(((uintptr_t)brk0 + pg - 1) & ~(uintptr_t)(pg - 1));
    say("mlockall MCL_FUTURE: %s, mmap %s", errname(r), f ? resident(f, 3) : errname(-1));
    say(", over the limit %s, sbrk %s\n", f2 ? "mapped" : errname(-1), heap == (void *)-1 ? errname(-1) : resident(heap_page, 1));
    sbrk(-2 * pg);
    munmap(f, 3 * pg);
    r = mlockall(MCL_FUTURE | MCL_ONFAULT);
    f = map(3, PROT_READ | PROT_WRITE, 0);
    say("mlockall MCL_FUTURE|MCL_ONFAULT: %s, mmap %s\n", errname(r), f ? resident(f, 3) : errname(-1));
    r = munlockall();
    r2 = madvise(f, 3 * pg, MADV_DONTNEED);
    say("munlockall: %s, DONTNEED %s\n", errname(r), errname(r2));
    munmap(f, 3 * pg);

    set_memlock(0);
    r = mlock(a, pg);
    r2 = mlockall(MCL_FUTURE);
    l = map(1, PROT_READ | PROT_WRITE, MAP_LOCKED);
    r3 = munlock(a, pg);
    say("RLIMIT_MEMLOCK 0: mlock %s, mlockall %s, MAP_LOCKED %s, munlock %s\n", errname(r), errname(r2), l ? "mapped" : errname(-1),
        errname(r3));
    return 0;
}
