// mte_shared_file: PROT_MTE on a MAP_SHARED mapping of a tmpfs file (/dev/shm), which Linux
// allows (shmem is VM_MTE_ALLOWED): accesses through a pointer whose tag matches the granule
// pass, a store or load into a granule with another tag faults precisely (SEGV_MTESERR, the
// access not performed), and a forked child sees the same tags and faults the same way.
// Expected stdout: one "<what>: ok" line per check; exit status 0.
// tagmmu: cflags -march=armv8.5-a+memtag
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/wait.h>

#include "mte_util.h"

static int failed;

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    install_handler(0);
    if (set_mode(TCF_SYNC, 0xfffe) != 0)
        return 1;
    char name[] = "/dev/shm/mte_shared_XXXXXX";
    int fd = mkstemp(name);
    unlink(name);
    char zero[64] = {0};
    if (fd < 0 || write(fd, zero, sizeof zero) != sizeof zero)
        return 1;
    char *m = mmap(NULL, 64, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return 1;
    /* volatile: the faulting accesses must happen between the reads of `faults` */
    volatile char *p = tag_ptr(m + 16, 5);
    stg((void *)p);
    p[0] = 'x';
    CHECK(faults == 0 && ldg((void *)p) == 5, "a store through the granule's own tag passes");
    p[-16] = 'y';
    CHECK(faults == 1 && last_code == 9 && ((volatile char *)m)[0] == 0, "a store into the granule before faults (SEGV_MTESERR), not performed");
    volatile char v = p[16];
    (void)v;
    CHECK(faults == 2, "a load from the granule after faults");
    pid_t c = fork();
    if (c == 0) {
        int before = faults;
        p[0] = 'c';
        p[-16] = 'z';
        _exit(ldg((void *)p) == 5 && faults == before + 1 && m[0] == 0 ? 0 : 1);
    }
    int st;
    waitpid(c, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a forked child sees the same tags and faults the same way");
    CHECK(p[0] == 'c', "and its store through the right tag is the parent's (shared memory)");
    return failed;
}
