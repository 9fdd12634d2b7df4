// uaccess_tags: the kernel's own accesses to user memory are tag-checked in sync mode, as
// arm64's LDTR/STTR uaccess routines are: write() from and read() into a buffer whose second
// granule has another tag than the pointer return a short count (16) and raise no signal; a
// buffer whose first granule mismatches gives EFAULT; in async mode the copies are complete.
// Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (QEMU does not tag-check syscall buffers)
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include "mte_util.h"

int main(void) {
    int failed = 0;
    install_handler(0);
    char name[] = "/tmp/tagmmu_uaccess_XXXXXX";
    int fd = mkstemp(name);
    unlink(name);
    char *p = map_mte(4096);
    char *buf = tag_ptr(p, 3);
    stg(buf);                  /* granule 0: tag 3, granule 1: still 0 */
    memset(buf, 'a', 16);
    set_mode(TCF_SYNC, 0xfffe);
    CHECK(write(fd, buf, 32) == 16, "sync: write from a half-mismatching buffer is short");
    CHECK(pwrite(fd, "0123456789abcdefghijklmnopqrstuv", 32, 0) == 32, "file refilled");
    CHECK(pread(fd, buf, 32, 0) == 16, "sync: read into a half-mismatching buffer is short");
    CHECK(buf[15] == 'f', "the first granule was filled");
    errno = 0;
    CHECK(pread(fd, tag_ptr(p + 16, 3), 16, 0) == -1 && errno == EFAULT, "sync: a first granule that mismatches is EFAULT");
    CHECK(faults == 0, "no signal for a kernel access");
    set_mode(TCF_ASYNC, 0xfffe);
    CHECK(pread(fd, buf, 32, 0) == 32, "async: the kernel's copy is complete");
    getpid();
    CHECK(faults == 0, "async: no signal for the kernel's mismatching access");
    return failed;
}
