// bench_heap: a malloc-heavy workload for the benchmark: ROUNDS rounds of allocating N chunks
// of 16..256 bytes, filling and summing them, and freeing them. Run with
// GLIBC_TUNABLES=glibc.mem.tagging=3 glibc tags every chunk differently (a heap of mixed-tag
// pages, checked in sync mode); without it the heap is untagged. Prints a checksum; exit 0.
// argv: [N, default 20000] [ROUNDS, default 10].
// tagmmu: not-differential (benchmark input)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 10;
    if (n < 1 || n > 1000000 || rounds < 1)
        return 2;
    unsigned char **v = malloc(n * sizeof *v);
    unsigned long sum = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n; i++) {
            size_t len = 16 + (size_t)((i * 37 + r) % 241);
            v[i] = malloc(len);
            memset(v[i], i + r, len);
        }
        for (int i = 0; i < n; i++) {
            size_t len = 16 + (size_t)((i * 37 + r) % 241);
            for (size_t k = 0; k < len; k += 8)
                sum += v[i][k];
            free(v[i]);
        }
    }
    printf("%lu\n", sum);
    return 0;
}
