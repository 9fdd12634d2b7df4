// btrfs_dio: O_DIRECT reads and writes on the btrfs mount with a PROT_MTE buffer that has one
// mistagged granule, in sync mode. Direct I/O pins the pages with GUP and moves the data
// through the kernel's mapping, so it completes although the tags mismatch; the same read
// without O_DIRECT (buffered, copy_to_user) stops at the bad granule.
// argv: MOUNT SIZE OFFSET BAD [evict]
//   SIZE:   bytes to read and write;
//   OFFSET: where the I/O buffer starts in the mapping (a multiple of 4096 for direct I/O;
//           anything else makes btrfs fall back to buffered I/O);
//   BAD:    offset into the mapping of the granule tagged 9 (the pointer and the rest carry 3),
//           -1 for none;
//   evict:  reclaim the mapping's pages (MADV_PAGEOUT) first, so GUP without faults stops.
// Prints one line per step; exit 0 (1 if the data read is wrong).
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (needs tagmmu's emulated btrfs mount)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "mte_util.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, r);
}

static inline void tco(int on) {
    if (on)
        __asm__ volatile("msr tco, #1" ::: "memory");
    else
        __asm__ volatile("msr tco, #0" ::: "memory");
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: btrfs_dio MOUNT SIZE OFFSET BAD [evict]\n");
        return 2;
    }
    const char *mnt = argv[1];
    long size = atol(argv[2]), offset = atol(argv[3]), bad = atol(argv[4]);
    int evict = argc > 5 && strcmp(argv[5], "evict") == 0;
    if (size <= 0 || offset < 0 || size > (64L << 20)) {
        fprintf(stderr, "btrfs_dio: bad SIZE or OFFSET\n");
        return 2;
    }
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/data", mnt);
    snprintf(out, sizeof out, "%s/copy", mnt);

    // The file: SIZE bytes of a pattern, written the ordinary way from an untagged buffer
    // (mapped, not malloc'd: the heap's layout depends on the length of the program's path,
    // which glibc's start-up copies, and the run's narrative prints this address).
    char *pattern = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pattern == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    for (long i = 0; i < size; i++)
        pattern[i] = (char)(i % 251);
    int w = open(in, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (w < 0 || write(w, pattern, size) != size) {
        perror(in);
        return 2;
    }
    close(w);

    if (set_mode(TCF_SYNC, 0xfffe) != 0) {
        perror("prctl");
        return 2;
    }
    size_t maplen = (offset + size + 4095) / 4096 * 4096;
    char *m = map_mte(maplen);
    char *b = tag_ptr(m, 3);
    for (size_t g = 0; g < maplen; g += 16)
        stg(b + g);
    memset(b, 'x', maplen);
    if (bad >= 0)
        stg(tag_ptr(m + (bad & ~15L), 9));
    if (evict && madvise(m, maplen, MADV_PAGEOUT) != 0)
        perror("madvise");

    int fd = open(in, O_RDONLY | O_DIRECT);
    if (fd < 0) {
        perror("open O_DIRECT");
        return 2;
    }
    long n = pread(fd, b + offset, size, 0);
    show("direct read", n);
    // Check what arrived with tag checks suspended (the bad granule holds data too).
    tco(1);
    int same = n > 0 && memcmp(b + offset, pattern, n) == 0;
    tco(0);
    printf("contents: %s\n", same ? "ok" : "WRONG");

    int bfd = open(in, O_RDONLY);
    show("buffered read", pread(bfd, b + offset, size, 0));

    int ofd = open(out, O_CREAT | O_TRUNC | O_WRONLY | O_DIRECT, 0644);
    show("direct write", pwrite(ofd, b + offset, size, 0));

    int t = open("/tmp/tagmmu_dio", O_CREAT | O_RDWR | O_DIRECT, 0600);
    show("tmpfs O_DIRECT open", t);
    return same ? 0 : 1;
}
