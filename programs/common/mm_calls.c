// mm_calls: residency through mincore, and the memory syscalls that change or report it:
// MADV_POPULATE_READ/WRITE (5.14+) and MAP_POPULATE fault pages in (without tag checks),
// MADV_DONTNEED drops them; msync walks the mappings (only its errors show: everything is in
// memory); fsync/fdatasync have nothing to write back but are EINVAL on files without an
// fsync operation. The answers are Linux's (mm/mincore.c, mm/madvise.c, mm/msync.c).
// Not differential: qemu-user ignores MADV_POPULATE_* and its host decides residency.
// argv: none. Expected stdout: the lines the test lists, exit 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errname.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

static long pg;

/* The residency of n pages at p, as "0101". */
static const char *resident(char *p, int n) {
    static char out[64];
    unsigned char vec[32];
    if (mincore(p, n * pg, vec))
        return errname(-1);
    for (int i = 0; i < n; i++)
        out[i] = (char)('0' + (vec[i] & 1));
    out[n] = 0;
    return out;
}

int main(void) {
    pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(0, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("fresh: %s\n", resident(p, 4));
    p[pg] = 1;
    printf("one page written: %s\n", resident(p, 4));
    /* Each call is a statement of its own: the order of a call's arguments is unspecified. */
    const char *r = errname(madvise(p + 2 * pg, 2 * pg, MADV_POPULATE_WRITE));
    printf("populate write: %s, %s\n", r, resident(p, 4));
    r = errname(madvise(p, 4 * pg, MADV_DONTNEED));
    printf("dontneed: %s, %s\n", r, resident(p, 4));
    r = errname(madvise(p, pg, MADV_POPULATE_READ));
    printf("populate read: %s, %s\n", r, resident(p, 4));
    unsigned char vec[8];
    printf("mincore unaligned: %s\n", errname(mincore(p + 1, pg, vec)));
    printf("mincore bad vector: %s\n", errname(mincore(p, pg, (unsigned char *)8)));
    printf("mincore length rounds up: %s\n", errname(mincore(p + 3 * pg, 1, vec)));

    /* A hole after two pages: mincore reports the first mapping, then ENOMEM. */
    munmap(p + 2 * pg, pg);
    memset(vec, 7, sizeof vec);
    r = errname(mincore(p, 4 * pg, vec));
    printf("mincore over a hole: %s, first bytes %d %d %d\n", r, vec[0], vec[1], vec[2]);
    printf("populate over a hole: %s\n", errname(madvise(p, 4 * pg, MADV_POPULATE_WRITE)));
    printf("msync sync over a hole: %s\n", errname(msync(p, 4 * pg, MS_SYNC)));
    printf("msync async over a hole: %s\n", errname(msync(p, 4 * pg, MS_ASYNC)));
    printf("msync both flags: %s\n", errname(msync(p, pg, MS_SYNC | MS_ASYNC)));
    printf("msync unknown flag: %s\n", errname(msync(p, pg, 8)));
    printf("msync unaligned: %s\n", errname(msync(p + 1, pg, MS_SYNC)));
    printf("msync mapped: %s\n", errname(msync(p, 2 * pg, MS_SYNC | MS_INVALIDATE)));
    printf("msync empty: %s\n", errname(msync(p, 0, MS_ASYNC)));

    char *ro = mmap(0, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *none = mmap(0, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("populate write read-only: %s\n", errname(madvise(ro, pg, MADV_POPULATE_WRITE)));
    r = errname(madvise(ro, pg, MADV_POPULATE_READ));
    printf("populate read read-only: %s, %s\n", r, resident(ro, 1));
    printf("populate read PROT_NONE: %s\n", errname(madvise(none, pg, MADV_POPULATE_READ)));

    char *pop = mmap(0, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    printf("MAP_POPULATE: %s\n", resident(pop, 3));
    char *nb = mmap(0, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_NONBLOCK, -1, 0);
    printf("MAP_POPULATE|MAP_NONBLOCK: %s\n", resident(nb, 3));

    int fd = open("/tmp/mm_calls", O_RDWR | O_CREAT | O_TRUNC, 0600);
    int pfd[2];
    pipe(pfd);
    int null = open("/dev/null", O_WRONLY);
    printf("fsync file %s, pipe %s, /dev/null %s, closed %s\n", errname(fsync(fd)), errname(fsync(pfd[0])), errname(fsync(null)),
           errname(fsync(99)));
    printf("fdatasync file %s, pipe %s\n", errname(fdatasync(fd)), errname(fdatasync(pfd[1])));
    return 0;
}
