// write_partial: write() to a file (tmpfs by default) from a PROT_MTE buffer (tag 3) with one
// granule tagged 9 in the middle, in sync mode: generic_perform_write() returns a short count
// that ends exactly at the bad granule (a second write from there fails with EFAULT); it never
// live-locks. On a btrfs file (PATH on the emulated mount) btrfs_buffered_write() runs instead.
// argv: START BAD LEN [PATH]   (byte offsets into the buffer: where write() starts, the granule
//                        that gets tag 9, and how many bytes to write; the file to create)
// Prints "write: N" then "again: R ERRNO"; exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (QEMU does not tag-check syscall buffers)
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

int main(int argc, char **argv) {
    if (argc < 4)
        return 2;
    long start = atol(argv[1]), bad = atol(argv[2]), len = atol(argv[3]);
    prctl(PR_SET_TAGGED_ADDR_CTRL, 1UL | (1UL << 1) | (0xfffeUL << 3), 0, 0, 0);
    size_t size = 3 * 4096;
    char *m = mmap(0, size, PROT_READ | PROT_WRITE | 0x20, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *b = (char *)((uintptr_t)m | (3UL << 56));
    for (size_t g = 0; g < size; g += 16)
        __asm__ volatile("stg %0, [%0]" ::"r"(b + g) : "memory");
    memset(b, 'x', size);
    char *badp = (char *)((uintptr_t)(m + (bad & ~15L)) | (9UL << 56));
    __asm__ volatile("stg %0, [%0]" ::"r"(badp) : "memory");
    const char *path = argc > 4 ? argv[4] : "/tmp/tagmmu_write_partial";
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    unlink(path);
    long n = write(fd, b + start, len);
    printf("write: %ld\n", n);
    long r = write(fd, b + start + (n > 0 ? n : 0), len - (n > 0 ? n : 0));
    printf("again: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
    return 0;
}
