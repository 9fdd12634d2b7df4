// bench_memops: a memory-heavy workload for the benchmark: memset and memcpy over a buffer
// of several MiB. With argv[1] = "sync" the buffer is PROT_MTE, tagged correctly (IRG + STG
// for every granule) and the thread runs in sync mode, so every access is tag-checked and
// matches; with "none" the buffer is ordinary memory.
// argv: MODE [MIB] [ROUNDS]   (default 8 MiB, 4 rounds). Prints a checksum; exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (benchmark input)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

int main(int argc, char **argv) {
    int sync = argc > 1 && strcmp(argv[1], "sync") == 0;
    size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 8;
    int rounds = argc > 3 ? atoi(argv[3]) : 4;
    size_t len = mib << 20;
    int prot = PROT_READ | PROT_WRITE | (sync ? 0x20 : 0);
    if (sync && prctl(PR_SET_TAGGED_ADDR_CTRL, 1 | (1 << 1) | (0xfffe << 3), 0, 0, 0) != 0) {
        perror("prctl");
        return 2;
    }
    unsigned char *a = mmap(0, 2 * len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    unsigned char *b = a + len;
    if (sync) {
        /* One random tag for each buffer, set on every granule. */
        __asm__ volatile("irg %0, %0" : "+r"(a));
        __asm__ volatile("irg %0, %0" : "+r"(b));
        for (size_t i = 0; i < len; i += 16) {
            __asm__ volatile("stg %0, [%0]" ::"r"(a + i) : "memory");
            __asm__ volatile("stg %0, [%0]" ::"r"(b + i) : "memory");
        }
    }
    uint64_t sum = 0;
    for (int r = 0; r < rounds; r++) {
        memset(a, r + 1, len);
        memcpy(b, a, len);
        for (size_t i = 0; i < len; i += 4096)
            sum += b[i];
    }
    printf("checksum %llu\n", (unsigned long long)sum);
    return 0;
}
