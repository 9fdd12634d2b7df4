// read_partial (sparc64 ADI): read() from a file into a PROT_ADI buffer (version 3) with one
// 64-byte block versioned 9. The SPARC counterpart of programs/arm64/read_partial.c.
// argv: START BAD LEN PATH [direct]   (byte offsets into the buffer: where read() starts, the
//                                      block that gets version 9, how many bytes to read; the
//                                      file to read; "direct" opens it with O_DIRECT)
// Prints "read: N [ERRNO]" then "again: R [ERRNO]"; exit 0.
// tagmmu: not-differential (qemu-sparc64 has no ADI)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "adi_util.h"

int main(int argc, char **argv) {
    if (argc < 5)
        return 2;
    long start = atol(argv[1]), bad = atol(argv[2]), len = atol(argv[3]);
    int direct = argc > 5 && strcmp(argv[5], "direct") == 0;
    size_t size = 4 * 8192;
    char *m = mmap(0, size, PROT_READ | PROT_WRITE | PROT_ADI, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t off = 0; off < size; off += ADI_BLK)
        set_version(m + off, 3);
    char *b = vptr(m, 3);
    memset(b, 'x', size);
    set_version(m + (bad & ~(ADI_BLK - 1)), 9);
    membar_sync();
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
