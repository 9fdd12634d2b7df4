// sigbus: a shared mapping of a tmpfs file is SIGBUS (BUS_ADRERR) on a page wholly past the
// file's end, as Linux's shmem fault handler makes it; growing the file makes the page
// readable (zeros); write() from such a page fails with EFAULT instead of a signal.
// argv: none.
// Expected stdout (Linux):
//   a byte inside the file reads back: ok
//   a page past the end is SIGBUS BUS_ADRERR at that byte: ok
//   after ftruncate the page reads as zeros: ok
//   write() from a page past the end is EFAULT: ok
//   a private mapping's page past the end is SIGBUS too: ok
//   its pages inside the file read the file: ok
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: differential
// tagmmu: not-differential-on sparc64 (qemu-sparc64 7.2 itself dies with SIGSEGV on the SIGBUS;
// tests/library.rs checks the sparc64 run against the expected output instead)
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

static int failed;
static sigjmp_buf back;
static volatile int bus_code;
static volatile void *bus_addr;

static void on_bus(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    bus_code = si->si_code;
    bus_addr = si->si_addr;
    siglongjmp(back, 1);
}

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    int fd = open("/tmp/sigbus", O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "0123456789", 10) != 10)
        return 2;
    volatile char *m = mmap(0, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return 2;
    CHECK(m[5] == '5', "a byte inside the file reads back");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    int got = 0;
    if (sigsetjmp(back, 1) == 0) {
        (void)m[page + 10];
    } else {
        got = 1;
    }
    CHECK(got && bus_code == BUS_ADRERR && bus_addr == (void *)(m + page + 10), "a page past the end is SIGBUS BUS_ADRERR at that byte");

    if (ftruncate(fd, 2 * page) != 0)
        return 2;
    CHECK(m[page + 10] == 0, "after ftruncate the page reads as zeros");

    int out = open("/tmp/sigbus-out", O_CREAT | O_WRONLY | O_TRUNC, 0600);
    errno = 0;
    ssize_t n = write(out, (const void *)(m + 2 * page), 16);
    CHECK(n == -1 && errno == EFAULT, "write() from a page past the end is EFAULT");

    // A private mapping of the same file (now two pages long): its third page is past the end.
    volatile char *p = mmap(0, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return 2;
    got = 0;
    if (sigsetjmp(back, 1) == 0) {
        p[2 * page + 1] = 'x';
    } else {
        got = 1;
    }
    CHECK(got && bus_code == BUS_ADRERR && bus_addr == (void *)(p + 2 * page + 1),
          "a private mapping's page past the end is SIGBUS too");
    CHECK(p[5] == '5', "its pages inside the file read the file");
    return failed;
}
