// spawn: vfork, posix_spawn and system(), which glibc builds on clone(CLONE_VM|CLONE_VFORK):
// the child runs in the parent's memory (posix_spawn learns through it that the exec
// failed), the parent sleeps until the child execs or exits. Place this program at
// /bin/spawn, and a shell at /bin/sh for system() (checked only when one is there).
// argv: none, or "child WORD" (what posix_spawn runs).
// Expected stdout: one "<what>: ok" line per check; exit status 0.
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/check.h"

extern char **environ;
static int failed;

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 2 && strcmp(argv[1], "child") == 0)
        return strcmp(argv[2], "hello") == 0 ? 9 : 1;

    volatile int shared = 1;
    pid_t v = vfork();
    if (v == 0) {
        shared = 2; /* the parent's memory: vfork shares it until exec or _exit */
        _exit(5);
    }
    int st = 0;
    CHECK(v > 0 && waitpid(v, &st, 0) == v && WEXITSTATUS(st) == 5, "vfork: the child's exit status");
    CHECK(shared == 2, "vfork: the child ran in the parent's memory");

    pid_t pid = 0;
    char *args[] = {"spawn", "child", "hello", NULL};
    int r = posix_spawn(&pid, "/bin/spawn", NULL, NULL, args, environ);
    CHECK(r == 0 && pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 9,
          "posix_spawn runs a program and its status comes back");
    r = posix_spawn(&pid, "/bin/missing", NULL, NULL, args, environ);
    CHECK(r == ENOENT, "posix_spawn of a missing file returns ENOENT (the child told the parent in shared memory)");
    if (access("/bin/sh", X_OK) == 0)
        CHECK(system("exit 3") == 3 << 8, "system() runs /bin/sh and returns its status");
    else
        puts("(no /bin/sh: system() not checked)");
    return failed;
}
