// fileio.c - file I/O on the tmpfs paths /tmp and /dev/shm.
// Exercises: openat (O_CREAT/O_RDWR/O_TRUNC/O_EXCL), write, read, lseek
//            (SEEK_SET/SEEK_CUR/SEEK_END), fstat st_size, pwrite64 past EOF
//            (hole reads as zeros), pread64, writev/readv with 3 iovecs,
//            ftruncate shrink/grow, unlinkat, close, and the errors
//            ENOENT, EEXIST, EBADF.
// Files: /tmp/tagmmu_fileio.dat, /dev/shm/tagmmu_fileio_shm.dat (removed at end).
// argv: none.
// Expected stdout: one "fileio: <check> ok" line per check, then "fileio: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: differential
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define PATH_TMP "/tmp/tagmmu_fileio.dat"
#define PATH_SHM "/dev/shm/tagmmu_fileio_shm.dat"

static void fail(const char *what)
{
    int e = errno;
    printf("FAIL: %s (errno %d %s)\n", what, e, strerrorname_np(e) ? strerrorname_np(e) : "?");
    unlink(PATH_TMP);
    unlink(PATH_SHM);
    exit(1);
}

static void ok(const char *what)
{
    printf("fileio: %s ok\n", what);
}

static int all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

static long file_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        fail("fstat");
    return (long)st.st_size;
}

int main(void)
{
    static const char msg[] = "Hello, tagmmu file I/O!\n"; /* 24 bytes */
    const size_t mlen = sizeof(msg) - 1;
    char buf[256];

    /* Leftovers from an aborted earlier run would break O_EXCL/ENOENT checks. */
    unlink(PATH_TMP);
    unlink(PATH_SHM);

    /* --- create + write --- */
    int fd = open(PATH_TMP, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0)
        fail("open O_CREAT|O_RDWR|O_TRUNC");
    ok("open");
    if (write(fd, msg, mlen) != (ssize_t)mlen)
        fail("write");
    ok("write");

    /* --- lseek variants --- */
    if (lseek(fd, 0, SEEK_CUR) != (off_t)mlen)
        fail("lseek SEEK_CUR after write");
    if (lseek(fd, 0, SEEK_END) != (off_t)mlen)
        fail("lseek SEEK_END");
    if (lseek(fd, -4, SEEK_END) != (off_t)mlen - 4)
        fail("lseek SEEK_END -4");
    if (lseek(fd, 7, SEEK_SET) != 7)
        fail("lseek SEEK_SET 7");
    if (lseek(fd, 2, SEEK_CUR) != 9)
        fail("lseek SEEK_CUR +2");
    ok("lseek");

    /* --- read back --- */
    memset(buf, 0, sizeof buf);
    if (read(fd, buf, 5) != 5 || memcmp(buf, msg + 9, 5) != 0)
        fail("read at offset 9");
    if (lseek(fd, 0, SEEK_SET) != 0)
        fail("lseek SEEK_SET 0");
    memset(buf, 0, sizeof buf);
    if (read(fd, buf, sizeof buf) != (ssize_t)mlen || memcmp(buf, msg, mlen) != 0)
        fail("read whole file");
    if (read(fd, buf, sizeof buf) != 0)
        fail("read at EOF returns 0");
    ok("read");

    if (file_size(fd) != (long)mlen)
        fail("fstat st_size after write");
    ok("fstat size");

    /* --- pwrite beyond EOF leaves a hole of zeros --- */
    const off_t hole_off = 100;
    if (pwrite(fd, "XYZ", 3, hole_off) != 3)
        fail("pwrite beyond EOF");
    if (file_size(fd) != hole_off + 3)
        fail("st_size after pwrite");
    if (lseek(fd, 0, SEEK_CUR) != (off_t)mlen)
        fail("pwrite changed the file offset");
    memset(buf, 0x55, sizeof buf);
    if (pread(fd, buf, sizeof buf, 0) != hole_off + 3)
        fail("pread whole file");
    if (memcmp(buf, msg, mlen) != 0 || !all_zero(buf + mlen, hole_off - mlen) ||
        memcmp(buf + hole_off, "XYZ", 3) != 0)
        fail("pread contents (hole not zero?)");
    memset(buf, 0, sizeof buf);
    if (pread(fd, buf, 2, hole_off + 1) != 2 || memcmp(buf, "YZ", 2) != 0)
        fail("pread at offset");
    ok("pwrite/pread hole");

    /* --- writev / readv with 3 iovecs --- */
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        fail("reset file");
    char a[] = "alpha-", b[] = "beta-", c[] = "gamma";
    struct iovec wv[3] = {
        { a, strlen(a) }, { b, strlen(b) }, { c, strlen(c) },
    };
    const ssize_t vtotal = (ssize_t)(strlen(a) + strlen(b) + strlen(c));
    if (writev(fd, wv, 3) != vtotal)
        fail("writev");
    if (lseek(fd, 0, SEEK_SET) != 0)
        fail("lseek before readv");
    char r1[4], r2[7], r3[16];
    memset(r3, 0, sizeof r3);
    struct iovec rv[3] = {
        { r1, sizeof r1 }, { r2, sizeof r2 }, { r3, sizeof r3 },
    };
    if (readv(fd, rv, 3) != vtotal)
        fail("readv");
    if (memcmp(r1, "alph", 4) != 0 || memcmp(r2, "a-beta-", 7) != 0 ||
        strcmp(r3, "gamma") != 0)
        fail("readv contents");
    ok("writev/readv");

    /* --- ftruncate shrink and grow --- */
    if (ftruncate(fd, 5) != 0 || file_size(fd) != 5)
        fail("ftruncate shrink");
    memset(buf, 0, sizeof buf);
    if (pread(fd, buf, sizeof buf, 0) != 5 || memcmp(buf, "alpha", 5) != 0)
        fail("read after shrink");
    if (ftruncate(fd, 64) != 0 || file_size(fd) != 64)
        fail("ftruncate grow");
    memset(buf, 0x55, sizeof buf);
    if (pread(fd, buf, sizeof buf, 0) != 64 || memcmp(buf, "alpha", 5) != 0 ||
        !all_zero(buf + 5, 59))
        fail("grown part reads zeros");
    ok("ftruncate");

    if (close(fd) != 0)
        fail("close");
    ok("close");

    /* --- error cases --- */
    errno = 0;
    if (open("/tmp/tagmmu_fileio_does_not_exist", O_RDONLY) != -1 || errno != ENOENT)
        fail("open nonexistent -> ENOENT");
    ok("ENOENT");

    errno = 0;
    if (open(PATH_TMP, O_CREAT | O_EXCL | O_RDWR, 0644) != -1 || errno != EEXIST)
        fail("O_CREAT|O_EXCL existing -> EEXIST");
    ok("EEXIST");

    if (unlink(PATH_TMP) != 0)
        fail("unlink");
    errno = 0;
    if (open(PATH_TMP, O_RDONLY) != -1 || errno != ENOENT)
        fail("open after unlink -> ENOENT");
    ok("unlink");

    errno = 0;
    if (read(fd, buf, 1) != -1 || errno != EBADF)
        fail("read closed fd -> EBADF");
    ok("EBADF");

    /* --- /dev/shm short write/read --- */
    int sfd = open(PATH_SHM, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (sfd < 0)
        fail("open /dev/shm");
    if (write(sfd, "shm-data", 8) != 8)
        fail("write /dev/shm");
    memset(buf, 0, sizeof buf);
    if (pread(sfd, buf, sizeof buf, 0) != 8 || memcmp(buf, "shm-data", 8) != 0)
        fail("read /dev/shm");
    if (file_size(sfd) != 8)
        fail("fstat /dev/shm");
    if (close(sfd) != 0 || unlink(PATH_SHM) != 0)
        fail("close/unlink /dev/shm");
    ok("/dev/shm");

    puts("fileio: all ok");
    return 0;
}
