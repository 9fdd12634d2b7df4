// mmap_churn: N one-page anonymous mappings, each touched, then all unmapped, then N more
// mapped and unmapped again (the memory comes back zeroed). The mmap-scaling benchmark
// (benches/mmaps.rs) and its test run it; issue 12 measured 4096 of these at 7.5 s plus 10 s of
// teardown when every mapping was its own emulator region.
// argv: [N, default 4096].
// Expected stdout (Linux):
//   mapped, touched and unmapped N pages: ok
//   reused pages read as zeros: ok
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: differential
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

static int failed;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4096;
    if (n < 1 || n > 100000)
        return 2;
    long page = sysconf(_SC_PAGESIZE);
    char **v = malloc(n * sizeof *v);
    int ok = v != NULL;
    for (int i = 0; ok && i < n; i++) {
        v[i] = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ok = v[i] != MAP_FAILED;
        if (ok)
            v[i][page - 1] = (char)(i | 1);
    }
    for (int i = 0; ok && i < n; i++)
        ok = v[i][page - 1] == (char)(i | 1) && munmap(v[i], page) == 0;
    CHECK(ok, "mapped, touched and unmapped N pages");
    int zero = 1;
    for (int i = 0; zero && i < n; i++) {
        char *p = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        zero = p != MAP_FAILED && p[page - 1] == 0;
        if (zero)
            zero = munmap(p, page) == 0;
    }
    CHECK(zero, "reused pages read as zeros");
    return failed;
}
