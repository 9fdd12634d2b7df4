// btrfs_search: BTRFS_IOC_TREE_SEARCH into a buffer with one mistagged granule, the case of
// Al Viro's report: the first byte of the result buffer is fine, a granule inside the first
// record is not.
// argv: MOUNT MODE BAD [evict] [v2=SIZE]
//   MODE: sync | sync-stonly | async | none (the thread's tag-check mode on a PROT_MTE buffer;
//         sync-stonly adds PR_MTE_STORE_ONLY) or nomte
//         (an ordinary buffer, as on a machine without MTE);
//   BAD:  byte offset into the result buffer whose granule gets tag 5 while the pointer and
//         every other granule have tag 3; -1 for none;
//   evict: reclaim the buffer's pages (MADV_PAGEOUT) before the ioctl;
//   v2=SIZE: use BTRFS_IOC_TREE_SEARCH_V2 with a result buffer of SIZE bytes (the kernel
//         reports the size it needs in buf_size when an item does not fit: EOVERFLOW).
// Prints the ioctl's result and the records it returned; exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (needs tagmmu's emulated btrfs mount)
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../common/btrfs_search.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: btrfs_search MOUNT sync|sync-stonly|async|none|nomte BAD [evict] [v2=SIZE]\n");
        return 2;
    }
    int mte = strcmp(argv[2], "nomte") != 0;
    long bad = atol(argv[3]);
    int evict;
    long v2;
    if (search_options(argc, argv, &evict, &v2) != 0)
        return 2;
    if (v2 > 8192 - 112) {
        fprintf(stderr, "btrfs_search: v2 SIZE too large for the 8 KiB mapping\n");
        return 2;
    }
    size_t hdr = v2 >= 0 ? 112 : 104;
    int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    size_t len = 8192;
    char *m = mmap(0, len, PROT_READ | PROT_WRITE | (mte ? 0x20 : 0), MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    char *args = m;
    if (mte) {
        // sync-stonly: sync mode with PR_MTE_STORE_ONLY (Linux 6.17, loads unchecked).
        unsigned long tcf = strcmp(argv[2], "sync") == 0          ? 1UL << 1
                            : strcmp(argv[2], "sync-stonly") == 0 ? (1UL << 1) | (1UL << 19)
                            : strcmp(argv[2], "async") == 0       ? 1UL << 2
                                                                  : 0;
        if (prctl(PR_SET_TAGGED_ADDR_CTRL, 1UL | tcf | (0xfffeUL << 3), 0, 0, 0) != 0) {
            perror("prctl");
            return 2;
        }
        args = (char *)((uintptr_t)m | (3UL << 56));
        for (size_t g = 0; g < len; g += 16)
            __asm__ volatile("stg %0, [%0]" ::"r"(args + g) : "memory");
        if (bad >= 0) {
            char *b = (char *)((uintptr_t)(m + ((hdr + bad) & ~15L)) | (5UL << 56));
            __asm__ volatile("stg %0, [%0]" ::"r"(b) : "memory");
        }
    }
    search_and_print(fd, args, hdr, m, len, evict, v2);
    return 0;
}
