// glibc_heap_tagging: glibc's own MTE heap tagging (GLIBC_TUNABLES=glibc.mem.tagging=1 for
// async, =3 for sync), the way people find heap overflows and use-after-free with MTE. With
// tagging on, glibc asks for tag checks with prctl, serves malloc from PROT_MTE mmaps, gives
// each chunk a random tag (IRG, excluding 0) set with STG/ST2G and, for large regions,
// DC GVA / DC GZVA, and retags a chunk on free.
// argv[1]:
//   overflow  malloc(24) twice, print both pointers, write one byte 32 bytes past the first
//             (the next chunk's header granule, tag 0): sync -> SIGSEGV/SEGV_MTESERR at that
//             byte; async -> SIGSEGV/SEGV_MTEAERR (si_addr 0) at the next syscall.
//   uaf       malloc(32), free, read the first byte: sync -> SEGV_MTESERR at that byte.
//   good      a few thousand malloc/calloc/realloc/free of 1 byte to 40 KB with string
//             functions over them, and a 256 KiB memset/memmove; prints a checksum, exit 0.
// The pointers are printed as "p=0x<hex>" lines on stderr (unbuffered, before the fault).
// Expected: without the tunable, overflow and uaf run to the end (exit 0): nothing checks.
// tagmmu: not-differential (its outcome depends on GLIBC_TUNABLES; tests/mte.rs runs it
// under tagmmu and, when installed, qemu-aarch64 -cpu max, with the tunable set)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int good(void) {
    enum { N = 600 };
    static char *v[N];
    unsigned seed = 12345;
    unsigned long sum = 0;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t sz = 1 + (seed >> 8) % (i % 50 == 0 ? 40000 : 300);
            switch (seed % 4) {
            case 0:
                free(v[i]);
                v[i] = malloc(sz);
                memset(v[i], 'a' + i % 26, sz);
                break;
            case 1:
                free(v[i]);
                v[i] = calloc(1, sz);
                for (size_t k = 0; k < sz; k++)
                    if (v[i][k])
                        return 2;
                break;
            case 2: {
                char *n = realloc(v[i], sz);
                if (!n)
                    return 3;
                v[i] = n;
                memset(v[i], 'A' + i % 26, sz);
                break;
            }
            default: {
                free(v[i]);
                v[i] = malloc(sz + 16);
                snprintf(v[i], sz + 16, "str%d-%u", i, seed);
                char *d = strdup(v[i]);
                if (strcmp(d, v[i]) != 0)
                    return 4;
                sum += strlen(d) + (size_t)(strchr(d, '-') - d);
                free(d);
            }
            }
            sum += (unsigned char)v[i][0];
        }
    }
    for (int i = 0; i < N; i++)
        free(v[i]);
    char *big = malloc(1 << 18);
    memset(big, 1, 1 << 18);
    memmove(big + 7, big + 100, 5000);
    sum += (unsigned char)big[4000];
    free(big);
    printf("heap checksum %lu\n", sum);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "good";
    if (strcmp(mode, "overflow") == 0) {
        char *volatile p = malloc(24);
        char *volatile q = malloc(24);
        fprintf(stderr, "p=%p\nq=%p\n", (void *)p, (void *)q);
        p[32] = 'X';
        fprintf(stderr, "overflow not caught\n");
        return 0;
    }
    if (strcmp(mode, "uaf") == 0) {
        char *volatile p = malloc(32);
        strcpy(p, "hello");
        free(p);
        fprintf(stderr, "p=%p\n", (void *)p);
        volatile char c = p[0];
        fprintf(stderr, "use after free not caught (%d)\n", c);
        return 0;
    }
    return good();
}
