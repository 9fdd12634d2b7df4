// unknown_syscall.c - unimplemented syscall numbers must fail with ENOSYS.
// Exercises: the emulator's fallback for syscall numbers it does not serve
//            (4000 and 444444 exist neither on arm64 nor on sparc64 Linux), and that the
//            process keeps running normally afterwards (getpid).
// argv: none.
// Expected stdout: "syscall(4000): -1 ENOSYS", "syscall(444444): -1 ENOSYS",
//   "after: ok"
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: differential
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int check(long nr)
{
    errno = 0;
    long r = syscall(nr);
    int e = errno;
    const char *name = strerrorname_np(e);
    printf("syscall(%ld): %ld %s\n", nr, r, name ? name : "(none)");
    if (r != -1 || e != ENOSYS) {
        printf("FAIL: syscall(%ld) did not fail with ENOSYS\n", nr);
        return 1;
    }
    return 0;
}

int main(void)
{
    int bad = 0;
    bad |= check(4000);
    bad |= check(444444);
    if (getpid() > 0) {
        puts("after: ok");
    } else {
        puts("FAIL: getpid after unknown syscalls");
        bad = 1;
    }
    return bad;
}
