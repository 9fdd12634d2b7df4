// mte_tagged_mm_args: the syscalls that only manage the address space take a tagged address
// whether or not the thread enabled the tagged-address ABI (the first relaxation of
// Documentation/arch/arm64/tagged-address-abi.rst): mprotect, mincore, madvise, msync, mlock,
// munlock, mremap's old address and munmap untag it. The kernel's own accesses need the
// prctl: write() from a tagged buffer is EFAULT without it and works with it. mmap's address
// is never untagged (since 5.6): MAP_FIXED at a tagged address is ENOMEM.
// Expected: "...: ok" lines, exit 0.
// tagmmu: not-differential (qemu-user untags syscall addresses only under the tagged-address ABI)
#define _GNU_SOURCE
#include <errno.h>
#include "mte_util.h"

int main(void) {
    int failed = 0;
    const long pg = 4096;
    char *p = mmap(0, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *t = tag_ptr(p, 5);
    p[0] = 1;
    CHECK(mprotect(t, pg, PROT_READ) == 0, "mprotect takes a tagged address");
    unsigned char vec[4];
    CHECK(mincore(t, 4 * pg, vec) == 0 && (vec[0] & 1) && !(vec[1] & 1), "mincore takes a tagged address");
    CHECK(madvise(t + pg, pg, MADV_WILLNEED) == 0, "madvise takes a tagged address");
    CHECK(msync(t, pg, MS_ASYNC) == 0, "msync takes a tagged address");
    CHECK(mlock(t + pg, pg) == 0 && munlock(t + pg, pg) == 0, "mlock and munlock take a tagged address");
    char *q = mremap(t + 2 * pg, 2 * pg, 4 * pg, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED && ptr_tag(q) == 0, "mremap takes a tagged old address and answers an untagged one");
    CHECK(munmap(tag_ptr(q, 9), 4 * pg) == 0, "munmap takes a tagged address");
    errno = 0;
    void *fixed = mmap(tag_ptr(p + 3 * pg, 5), pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(fixed == MAP_FAILED && errno == ENOMEM, "mmap does not untag: MAP_FIXED at a tagged address is ENOMEM");
    int fds[2];
    if (pipe(fds))
        return 2;
    errno = 0;
    CHECK(write(fds[1], t, 1) == -1 && errno == EFAULT, "without the ABI, write() from a tagged buffer is EFAULT");
    CHECK(prctl(PR_SET_TAGGED_ADDR_CTRL, TAG_ENABLE, 0, 0, 0) == 0, "the tagged-address ABI is enabled");
    CHECK(write(fds[1], t, 1) == 1, "with it, write() from a tagged buffer works");
    return failed;
}
