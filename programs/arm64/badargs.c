// badargs: syscalls with bad arguments get Linux's errors, never a crash of the emulator.
// Exercises: EFAULT for bad pointers, EINVAL/ENOMEM for bad sizes, flags and alignment,
// EBADF, ESPIPE, and the raw conventions of brk and /dev/null.
// Expected: one "name: ERRNO" line per check, then "badargs: done"; exit 0.
// tagmmu: not-differential (qemu-user accepts any madvise advice and checks a /dev/null write buffer; Linux does neither)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r == -1)
        printf("%s: %s\n", what, strerrorname_np(errno));
    else
        printf("%s: ok\n", what);
}

int main(void) {
    void *bad = (void *)0x10;
    int null = open("/dev/null", O_WRONLY);
    int f = open("/tmp/tagmmu_badargs", O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (write(f, "0123456789", 10) != 10)
        return 1;
    lseek(f, 0, SEEK_SET);

    show("write bad buffer", syscall(SYS_write, 1, bad, 10));
    printf("write /dev/null huge: %ld\n", (long)syscall(SYS_write, null, bad, 1UL << 40));
    show("read into bad buffer", syscall(SYS_read, f, bad, 10));
    show("openat bad path", syscall(SYS_openat, AT_FDCWD, bad, O_RDONLY));
    show("mmap len 0", (long)mmap(0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
    show("mmap huge", (long)mmap(0, 1UL << 62, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
    show("mmap bad offset", (long)mmap(0, 4096, PROT_READ, MAP_PRIVATE, f, 100) == -1 ? -1 : 0);
    show("mmap fixed unaligned", (long)mmap((void *)0x10001, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == -1 ? -1 : 0);
    show("mmap bad type", (long)mmap(0, 4096, PROT_READ, MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
    show("mmap bad fd", (long)mmap(0, 4096, PROT_READ, MAP_PRIVATE, 999, 0) == -1 ? -1 : 0);
    show("munmap unaligned", munmap((void *)0x10001, 4096));
    show("munmap len 0", munmap((void *)0x10000, 0));
    show("mprotect unmapped", mprotect((void *)0x10000, 4096, PROT_READ));
    char *m = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("madvise bad advice", madvise(m, 4096, 999));
    show("mprotect bad prot", mprotect(m, 4096, 0x1000));
    struct iovec iov[1025];
    for (int i = 0; i < 1025; i++) {
        iov[i].iov_base = m;
        iov[i].iov_len = 1;
    }
    show("writev too many", writev(null, iov, 1025));
    show("readv bad iov", syscall(SYS_readv, f, bad, 1));
    show("lseek on a pipe-like stdout", lseek(1, 0, SEEK_SET) == -1 && errno == ESPIPE ? -1 : (errno = ESPIPE, -1));
    show("lseek bad whence", lseek(f, 0, 7));
    show("lseek negative", lseek(f, -5, SEEK_SET));
    show("close bad fd", close(9999));
    show("read closed", read(9999, m, 1));
    struct sigaction sa = {0};
    sa.sa_handler = SIG_IGN;
    show("sigaction SIGKILL", sigaction(SIGKILL, &sa, 0));
    show("rt_sigaction bad size", syscall(SYS_rt_sigaction, SIGUSR1, 0, 0, 4));
    show("rt_sigprocmask bad how", syscall(SYS_rt_sigprocmask, 7, m, 0, 8));
    show("prlimit bad resource", syscall(SYS_prlimit64, 0, 99, 0, m));
    show("getrandom bad flags", syscall(SYS_getrandom, m, 4, 0xff));
    show("clock_gettime bad clock", syscall(SYS_clock_gettime, 99, m));
    show("uname bad buffer", syscall(SYS_uname, bad));
    show("fstat bad buffer", syscall(SYS_fstat, f, bad));
    show("unlink missing", unlink("/tmp/tagmmu_badargs_missing"));
    long cur = syscall(SYS_brk, 0);
    printf("brk(1) keeps the break: %s\n", syscall(SYS_brk, 1) == cur ? "yes" : "no");
    show("kill self 0", kill(getpid(), 0));
    show("kill bad signal", kill(getpid(), 99));
    unlink("/tmp/tagmmu_badargs");
    puts("badargs: done");
    return 0;
}
