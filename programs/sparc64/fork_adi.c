// fork_adi: processes on sparc64 (clone's %o0/%o1 convention as glibc's fork reads it),
// wait4 statuses, a pipe between parent and child, and ADI versions across fork: a private
// PROT_ADI mapping is the child's own copy, versions included; a MAP_SHARED one is the same
// memory with the same versions in both (Linux keeps the versions with the page); a version
// mismatch in the child kills the child only; a child execs (this program placed at
// /bin/fork_adi) and its status comes back.
// Expected stdout: one "<what>: ok" line per check; exit status 0.
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "adi_util.h"

static int failed;

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
        return 42;
    pid_t parent = getpid();
    int fds[2];
    if (pipe(fds))
        return 1;
    pid_t p = fork();
    if (p == 0) {
        char ok = getppid() == parent && getpid() != parent ? 'y' : 'n';
        write(fds[1], &ok, 1);
        _exit(7);
    }
    char c = 0;
    int st = 0;
    CHECK(p > 0 && read(fds[0], &c, 1) == 1 && c == 'y', "the child has its own pid and the parent as parent");
    CHECK(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 7, "its exit status reaches wait4");

    char *priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_ADI, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_ADI, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (priv == MAP_FAILED || shared == MAP_FAILED)
        return 1;
    set_mcdper(1);
    set_version(priv, 3);
    set_version(shared, 4);
    char *vp = vptr(priv, 3), *vs = vptr(shared, 4);
    vp[0] = 'p';
    vs[0] = 's';
    p = fork();
    if (p == 0) {
        int ok = get_version(priv) == 3 && get_version(shared) == 4 && vp[0] == 'p' && vs[0] == 's';
        set_version(priv, 9);
        set_version(shared, 9);
        ((char *)vptr(shared, 9))[1] = 'c';
        _exit(ok ? 0 : 1);
    }
    waitpid(p, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child inherits the memory and its ADI versions");
    CHECK(get_version(priv) == 3, "the child's version change to private memory stays its own");
    CHECK(get_version(shared) == 9 && ((char *)vptr(shared, 9))[1] == 'c', "its version change to MAP_SHARED memory is the parent's too");
    p = fork();
    if (p == 0) {
        ((volatile char *)vptr(priv, 5))[0] = 1; /* version 3 in memory: a precise store mismatch */
        _exit(0);
    }
    waitpid(p, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "an ADI mismatch in the child kills the child only");
    CHECK(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD, "no children left: ECHILD");
    if (access("/bin/fork_adi", X_OK) == 0) {
        p = fork();
        if (p == 0) {
            execl("/bin/fork_adi", "fork_adi", "exec-child", (char *)NULL);
            _exit(99);
        }
        waitpid(p, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42, "a child execs another program and its status comes back");
    } else {
        puts("(not placed at /bin/fork_adi: exec in a child skipped)");
    }
    return failed;
}
