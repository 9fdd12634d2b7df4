// btrfs_search (sparc64 ADI): BTRFS_IOC_TREE_SEARCH into a buffer with one mismatching ADI
// block: the first byte of the result buffer is fine, a block inside the first record is not.
// The SPARC counterpart of programs/arm64/btrfs_search.c.
// argv: MOUNT MODE BAD [evict] [v2=SIZE]
//   MODE: adi (a PROT_ADI buffer, versions 3, pointer version 3) or noadi (an ordinary
//         buffer);
//   BAD:  byte offset into the result buffer whose 64-byte block gets version 5; -1 for
//         none; "v0" / "v15" give that block version 0 / 15 instead (match-all versions);
//   evict: reclaim the buffer's pages (MADV_PAGEOUT) before the ioctl;
//   v2=SIZE: BTRFS_IOC_TREE_SEARCH_V2 with a SIZE-byte result buffer.
// Prints the ioctl's result and the records it returned; exit 0.
// tagmmu: not-differential (needs tagmmu's emulated btrfs mount and ADI)
#define _GNU_SOURCE
#include <fcntl.h>

#include "../common/btrfs_search.h"
#include "adi_util.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: btrfs_search MOUNT adi|noadi BAD|v0|v15 [evict] [v2=SIZE]\n");
        return 2;
    }
    int adi = strcmp(argv[2], "adi") == 0;
    long bad = -1;
    unsigned bad_version = 5;
    if (strcmp(argv[3], "v0") == 0 || strcmp(argv[3], "v15") == 0) {
        bad = 16;
        bad_version = strcmp(argv[3], "v0") == 0 ? 0 : 15;
    } else {
        bad = atol(argv[3]);
    }
    int evict;
    long v2;
    if (search_options(argc, argv, &evict, &v2) != 0)
        return 2;
    size_t len = 16384;
    if (v2 > (long)len - 112) {
        fprintf(stderr, "btrfs_search: v2 SIZE too large for the 16 KiB mapping\n");
        return 2;
    }
    size_t hdr = v2 >= 0 ? 112 : 104;
    int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    char *m = mmap(0, len, PROT_READ | PROT_WRITE | (adi ? PROT_ADI : 0), MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    char *args = m;
    if (adi) {
        for (size_t off = 0; off < len; off += ADI_BLK)
            set_version(m + off, 3);
        if (bad >= 0)
            set_version(m + ((hdr + bad) & ~(ADI_BLK - 1)), bad_version);
        membar_sync();
        args = vptr(m, 3);
    }
    search_and_print(fd, args, hdr, m, len, evict, v2);
    return 0;
}
