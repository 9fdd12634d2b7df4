// evict: pages reclaimed with madvise(MADV_PAGEOUT) keep their contents and fault back in.
// Exercises: per-page presence in the address space (eviction as reclaim would do it).
// Expected: "evict: contents kept", exit 0.
// tagmmu: differential
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

int main(void) {
    size_t len = 4 * TAGMMU_PAGE_SIZE;
    unsigned char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 2;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 7);
    if (madvise(p, len, MADV_PAGEOUT) != 0) {
        perror("madvise");
        return 3;
    }
    for (size_t i = 0; i < len; i++)
        if (p[i] != (unsigned char)(i * 7)) {
            printf("FAIL: byte %zu changed\n", i);
            return 1;
        }
    puts("evict: contents kept");
    return 0;
}
