// read_partial: read() from a file into a PROT_MTE buffer (tag 3) with one granule tagged 9,
// in sync mode. On most filesystems filemap_read() copies with faults enabled and the read
// comes back short at the bad granule; on gfs2 (5.16+) the read runs gfs2_file_read_iter's
// fault-in loop, on ext4/gfs2/btrfs with O_DIRECT the direct-I/O paths.
// argv: START BAD LEN PATH [direct]   (byte offsets into the buffer: where read() starts, the
//                                      granule that gets tag 9, how many bytes to read; the
//                                      file to read; "direct" opens it with O_DIRECT)
// Prints "read: N [ERRNO]" then "again: R [ERRNO]" (a second read from where the first
// stopped); exit 0.
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
    if (argc < 5)
        return 2;
    long start = atol(argv[1]), bad = atol(argv[2]), len = atol(argv[3]);
    int direct = argc > 5 && strcmp(argv[5], "direct") == 0;
    prctl(PR_SET_TAGGED_ADDR_CTRL, 1UL | (1UL << 1) | (0xfffeUL << 3), 0, 0, 0);
    size_t size = 4 * 4096;
    char *m = mmap(0, size, PROT_READ | PROT_WRITE | 0x20, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *b = (char *)((uintptr_t)m | (3UL << 56));
    for (size_t g = 0; g < size; g += 16)
        __asm__ volatile("stg %0, [%0]" ::"r"(b + g) : "memory");
    memset(b, 'x', size);
    char *badp = (char *)((uintptr_t)(m + (bad & ~15L)) | (9UL << 56));
    __asm__ volatile("stg %0, [%0]" ::"r"(badp) : "memory");
    int fd = open(argv[4], O_RDONLY | (direct ? O_DIRECT : 0));
    if (fd < 0) {
        printf("open: -1 %s\n", strerrorname_np(errno));
        return 0;
    }
    long n = read(fd, b + start, len);
    printf("read: %ld %s\n", n, n < 0 ? strerrorname_np(errno) : "");
    long r = read(fd, b + start + (n > 0 ? n : 0), len - (n > 0 ? n : 0));
    printf("again: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
    return 0;
}
