// mte_huge_reserve: huge MAP_NORESERVE mappings with PROT_MTE cost the host only what the
// guest touches, and their pages keep contents and tags through fork, mremap and madvise.
// A terabyte of PROT_MTE needs 64 GiB of tag storage: committed at mmap, it aborted the host.
// Expected: every CHECK ok, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
#define _GNU_SOURCE
#include <sys/wait.h>

#include "mte_util.h"

static int failed;

int main(void) {
    if (set_mode(TCF_SYNC, 0xfffe))
        return 2;
    const size_t tib = 1UL << 40;
    char *t = mmap(0, tib, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(t != MAP_FAILED, "a terabyte of PROT_MTE NORESERVE maps");
    if (t != MAP_FAILED) {
        t[tib - 1] = 1;
        stg(tag_ptr(t + tib / 2, 9));
        CHECK(ldg(t + tib / 2) == 9 && t[tib - 1] == 1, "its last byte and a middle granule take a write");
        CHECK(madvise(t, tib, MADV_DONTNEED) == 0 && ldg(t + tib / 2) == 0 && t[tib - 1] == 0,
              "MADV_DONTNEED of all of it drops the contents and the tags");
        CHECK(munmap(t, tib) == 0, "and it unmaps");
    }

    // 256 GiB: a fork copies the pages the parent filled (and needs as much again).
    const size_t len = 256UL << 30;
    char *p = mmap(0, len, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap 256 GiB");
        return 2;
    }
    char *far = p + len - 4096;
    stg(tag_ptr(far, 7));
    *(char *)tag_ptr(far, 7) = 42;
    p[0] = 5;
    CHECK(madvise(p, len, MADV_PAGEOUT) == 0, "MADV_PAGEOUT of the whole mapping");
    pid_t pid = fork();
    if (pid == 0)
        _exit(*(volatile char *)tag_ptr(far, 7) == 42 && p[0] == 5 && ldg(far) == 7 ? 0 : 1);
    int st = -1;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "the child sees the parent's bytes and tags");

    // mremap moves the pages with their tags: the old tagged pointer's tag still matches.
    char *q = mremap(p, len, 2 * len, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED, "mremap grows it to 512 GiB");
    if (q != MAP_FAILED) {
        char *qfar = q + len - 4096;
        CHECK(ldg(qfar) == 7 && *(volatile char *)tag_ptr(qfar, 7) == 42 && q[0] == 5,
              "the moved pages keep their contents and tags");
        CHECK(munmap(q, 2 * len) == 0, "the moved mapping unmaps");
    }
    return failed;
}
