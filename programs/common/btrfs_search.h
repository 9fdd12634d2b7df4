// btrfs_search.h - what programs/arm64/btrfs_search.c (MTE) and programs/sparc64/btrfs_search.c
// (ADI) share: the BTRFS_IOC_TREE_SEARCH / _V2 ABI (struct btrfs_ioctl_search_key and
// btrfs_ioctl_search_header as in include/uapi/linux/btrfs.h), the trailing options, and the
// search-and-print step. Each program maps and tags its buffer its own way.
#ifndef TAGMMU_BTRFS_SEARCH_H
#define TAGMMU_BTRFS_SEARCH_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define BTRFS_IOC_TREE_SEARCH 0xD0009411UL
#define BTRFS_IOC_TREE_SEARCH_V2 0xC0709411UL
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

struct search_key {
    uint64_t tree_id, min_objectid, max_objectid, min_offset, max_offset, min_transid, max_transid;
    uint32_t min_type, max_type, nr_items, unused;
    uint64_t unused1, unused2, unused3, unused4;
};
struct search_header {
    uint64_t transid, objectid, offset;
    uint32_t type, len;
};

/* The options after MOUNT MODE BAD: "evict" (page the buffer out before the ioctl) and
 * "v2=SIZE" (BTRFS_IOC_TREE_SEARCH_V2 with a SIZE-byte result buffer; -1 without). Returns 0,
 * or 2 after saying what was not understood. */
static int search_options(int argc, char **argv, int *evict, long *v2) {
    *evict = 0;
    *v2 = -1;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "evict") == 0)
            *evict = 1;
        else if (strncmp(argv[i], "v2=", 3) == 0)
            *v2 = atol(argv[i] + 3);
        else {
            fprintf(stderr, "btrfs_search: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    return 0;
}

/* Search every item of the tree of `fd` into `args` (the argument struct; results start `hdr`
 * bytes in), optionally after paging out the `len`-byte mapping `m`, and print the ioctl's
 * result and each item found. */
static void search_and_print(int fd, char *args, size_t hdr, char *m, size_t len, int evict, long v2) {
    struct search_key *sk = (struct search_key *)args;
    memset(sk, 0, sizeof *sk);
    sk->max_objectid = sk->max_offset = sk->max_transid = UINT64_MAX;
    sk->max_type = 255;
    sk->nr_items = 4096;
    if (evict && madvise(m, len, MADV_PAGEOUT) != 0)
        perror("madvise");
    uint64_t *buf_size = (uint64_t *)(args + 104);
    if (v2 >= 0)
        *buf_size = (uint64_t)v2;
    int ret = ioctl(fd, v2 >= 0 ? BTRFS_IOC_TREE_SEARCH_V2 : BTRFS_IOC_TREE_SEARCH, args);
    int err = errno;
    printf("ioctl: %d%s%s, nr_items %u\n", ret, ret < 0 ? " " : "", ret < 0 ? strerrorname_np(err) : "", sk->nr_items);
    if (v2 >= 0 && ret < 0 && err == EOVERFLOW)
        printf("buf_size needed: %llu\n", (unsigned long long)*buf_size);
    if (ret == 0) {
        char *p = args + hdr;
        for (uint32_t i = 0; i < sk->nr_items; i++) {
            struct search_header h;
            memcpy(&h, p, sizeof h);
            printf("item %u: key (%llu, %u, %llu) len %u transid %llu\n", i, (unsigned long long)h.objectid, h.type,
                   (unsigned long long)h.offset, h.len, (unsigned long long)h.transid);
            p += sizeof h + h.len;
        }
    }
}

#endif
