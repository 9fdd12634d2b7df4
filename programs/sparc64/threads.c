// threads: POSIX threads on sparc64's glibc (clone with sparc's %o1 convention and
// clone_stackframe, futex, set_robust_list, tgkill).
//   threads basic       see ../common/threads_posix.h
//   threads interleave  the order of N threads' appends is the seeded scheduler's
//   threads deadlock    every thread asleep for ever
//   threads fault       an ADI version mismatch in a second thread kills the whole process
#define _GNU_SOURCE
#include <stdlib.h>

#include "../common/check.h"
#include "adi_util.h"

static int failed;

#include "../common/threads_posix.h"

static void *faulter(void *arg) {
    volatile char *p = vptr(arg, 5); /* the block's version is 3 */
    p[0] = 1;
    return NULL;
}

static int fault(void) {
    char *mem = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_ADI, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return 1;
    set_version(mem, 3);
    pthread_t t;
    pthread_create(&t, NULL, faulter, mem);
    pthread_join(t, NULL);
    puts("FAIL: the process survived an ADI mismatch in a thread");
    return 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "basic";
    if (!strcmp(mode, "basic"))
        return basic();
    if (!strcmp(mode, "interleave"))
        return interleave();
    if (!strcmp(mode, "deadlock"))
        return deadlock();
    if (!strcmp(mode, "fault"))
        return fault();
    return 2;
}
