// pipe_syscall: sparc64's original pipe syscall (42), which takes no arguments and returns
// the read end in %o0 and the write end in %o1 (arch/sparc/kernel/sys_sparc_64.c sparc_pipe);
// glibc uses pipe2 instead, so this calls it directly.
// argv: none.
// Expected stdout (Linux): "pipe: ok" and "bytes through it: ok".
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: differential
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/check.h"

static int failed;

int main(void) {
    register long g1 __asm__("g1") = 42;
    register long o0 __asm__("o0");
    register long o1 __asm__("o1") = -1;
    long carry;
    __asm__ volatile("ta 0x6d\n\tmov 0, %2\n\tmovcs %%xcc, 1, %2"
                     : "=r"(o0), "+r"(o1), "=r"(carry)
                     : "r"(g1)
                     : "memory", "cc");
    int r = (int)o0, w = (int)o1;
    CHECK(!carry && r >= 3 && w >= 3 && r != w, "pipe");
    char buf[8] = {0};
    CHECK(write(w, "sparc", 5) == 5 && read(r, buf, sizeof buf) == 5 && memcmp(buf, "sparc", 5) == 0,
          "bytes through it");
    return failed;
}
