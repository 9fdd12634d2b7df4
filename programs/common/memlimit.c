// memlimit: reserve MIB mebibytes of anonymous memory with one mmap and touch its first and
// last page; prints "mmap MIB MiB: ok", or "mmap MIB MiB: ENOMEM" when the reservation is
// refused (tagmmu's --memory / machine.memory limit, or the host's).
// argv: [MIB, default 256].
// Expected stdout (Linux, enough memory): "mmap 256 MiB: ok".
// Expected exit status: 0 (also for ENOMEM; 1 for another error).
// tagmmu: differential
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    size_t len = mib << 20;
    char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap %lu MiB: %s\n", mib, errno == ENOMEM ? "ENOMEM" : "other error");
        return errno == ENOMEM ? 0 : 1;
    }
    p[0] = 1;
    p[len - 1] = 2;
    printf("mmap %lu MiB: ok\n", mib);
    return 0;
}
