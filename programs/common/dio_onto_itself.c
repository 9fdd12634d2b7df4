// dio_onto_itself: an O_DIRECT write whose source buffer is a shared mapping of the very file
// range it writes (the case behind gfs2's "Don't get stuck writing page onto itself under direct
// I/O", fa58cc888d67, Linux 6.4). The direct write invalidates the page cache of its target
// range, which unmaps the source page; gfs2 faults it back in and retries.
// argv: FILE   (an existing file of at least two pages on a filesystem with O_DIRECT)
// Prints "pwrite: N" (or "-1 ERRNO") and "data: same"; exit 0.
// tagmmu: not-differential (needs tagmmu's emulated gfs2 mount)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    size_t page = TAGMMU_PAGE_SIZE;
    int fd = open(argv[1], O_RDWR | O_DIRECT);
    if (fd < 0) {
        printf("open: -1 %s\n", strerrorname_np(errno));
        return 0;
    }
    char *map = mmap(0, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        printf("mmap: -1 %s\n", strerrorname_np(errno));
        return 0;
    }
    char before[64];
    memcpy(before, map, sizeof before);
    long n = pwrite(fd, map, page, 0);
    if (n < 0)
        printf("pwrite: -1 %s\n", strerrorname_np(errno));
    else
        printf("pwrite: %ld\n", n);
    printf("data: %s\n", memcmp(before, map, sizeof before) == 0 ? "same" : "CHANGED");
    return 0;
}
