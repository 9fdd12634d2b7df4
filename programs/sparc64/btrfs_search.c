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
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "adi_util.h"

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
    int evict = 0;
    long v2 = -1;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "evict") == 0)
            evict = 1;
        else if (strncmp(argv[i], "v2=", 3) == 0)
            v2 = atol(argv[i] + 3);
        else {
            fprintf(stderr, "btrfs_search: unknown option %s\n", argv[i]);
            return 2;
        }
    }
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
    return 0;
}
