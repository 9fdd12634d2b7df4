// write_partial (sparc64 ADI): write() to a tmpfs file from a PROT_ADI buffer (version 3)
// with one 64-byte block versioned 9 in the middle: generic_perform_write() returns a short
// count that ends exactly at the bad block (a second write from there fails with EFAULT);
// it never live-locks. The SPARC counterpart of programs/arm64/write_partial.c.
// argv: START BAD LEN [PATH]   (byte offsets into the buffer: where write() starts, the block that
//                        gets version 9, and how many bytes to write; the file to create,
//                        /tmp by default, a btrfs file for btrfs_buffered_write())
// Prints "write: N" then "again: R ERRNO"; exit 0.
// tagmmu: not-differential (qemu-sparc64 has no ADI)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "adi_util.h"

int main(int argc, char **argv) {
    if (argc < 4)
        return 2;
    long start = atol(argv[1]), bad = atol(argv[2]), len = atol(argv[3]);
    size_t size = 3 * 8192;
    char *m = mmap(0, size, PROT_READ | PROT_WRITE | PROT_ADI, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t off = 0; off < size; off += ADI_BLK)
        set_version(m + off, 3);
    char *b = vptr(m, 3);
    memset(b, 'x', size);
    set_version(m + (bad & ~(ADI_BLK - 1)), 9);
    membar_sync();
    const char *path = argc > 4 ? argv[4] : "/tmp/tagmmu_write_partial";
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    unlink(path);
    long n = write(fd, b + start, len);
    printf("write: %ld\n", n);
    long r = write(fd, b + start + (n > 0 ? n : 0), len - (n > 0 ? n : 0));
    printf("again: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
    return 0;
}
