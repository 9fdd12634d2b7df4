// overcommit: reserve CHUNKS anonymous mappings of MIB mebibytes each (private, read-write;
// with "noreserve" as the third argument, MAP_NORESERVE), printing how many the kernel
// granted, then touch one byte per page of every granted mapping, printing each mapping as
// it is wholly touched. On a machine whose RAM is smaller than the total, the reservations
// succeed under the default heuristic overcommit and the touching ends in the OOM killer's
// SIGKILL; under strict overcommit (vm.overcommit_memory=2) the reservations stop at half the
// RAM.
// argv: [MIB, default 16] [CHUNKS, default 8] [noreserve].
// Expected exit status: 0 when everything granted could be touched.
// tagmmu: not-differential (the outcome depends on the machine's memory and overcommit mode)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 16;
    int chunks = argc > 2 ? atoi(argv[2]) : 8;
    int noreserve = argc > 3 && strcmp(argv[3], "noreserve") == 0;
    if (chunks < 1 || chunks > 64 || mib < 1)
        return 2;
    size_t len = mib << 20;
    char *p[64];
    int granted = 0;
    for (; granted < chunks; granted++) {
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
        p[granted] = mmap(0, len, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p[granted] == MAP_FAILED) {
            printf("mmap %d: %s\n", granted, errno == ENOMEM ? "ENOMEM" : "other error");
            break;
        }
    }
    printf("granted %d x %lu MiB\n", granted, mib);
    fflush(stdout);
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < granted; i++) {
        for (size_t off = 0; off < len; off += (size_t)page)
            p[i][off] = 1;
        printf("touched %d\n", i);
        fflush(stdout);
    }
    return 0;
}
