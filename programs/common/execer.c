// execer: execve of a program in the guest's filesystem, and what survives it. Stage 1 makes
// descriptors with and without close-on-exec, catches SIGUSR1, ignores SIGUSR2, blocks
// SIGINT, checks that execve of a missing file is ENOENT, of a non-executable file EACCES and
// of a script whose #! interpreter is missing ENOENT and of one with an empty #! line ENOEXEC
// (/bin/script and /bin/badscript, placed by the test), then execs itself (it must be placed
// at /bin/execer) with "stage2". Stage 2 checks the new argv and envp, the pid, the
// descriptors, the signal dispositions and mask, and that memory and clocks start afresh.
// argv: none (stage 1), or "stage2 PID" (what stage 1 runs).
// Expected stdout: one "<what>: ok" line per check; exit status 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static int failed;
static void on_usr1(int s) { (void)s; }
int stage1_marker = 1;

int main(int argc, char **argv, char **envp) {
    if (argc >= 3 && strcmp(argv[1], "stage2") == 0) {
        char pid[32];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        CHECK(strcmp(argv[0], "execer") == 0 && argc == 3, "stage 2 has the new argv");
        CHECK(strcmp(argv[2], pid) == 0, "the same pid");
        CHECK(envp[0] && strcmp(envp[0], "STAGE=2") == 0 && envp[1] == NULL, "the new environment");
        CHECK(fcntl(3, F_GETFD) == 0, "a descriptor without FD_CLOEXEC survives");
        char buf[8] = {0};
        CHECK(pread(3, buf, 5, 0) == 5 && memcmp(buf, "kept!", 5) == 0, "and still reads its file");
        CHECK(fcntl(4, F_GETFD) == -1 && errno == EBADF, "a FD_CLOEXEC descriptor is closed");
        struct sigaction sa;
        sigaction(SIGUSR1, NULL, &sa);
        CHECK(sa.sa_handler == SIG_DFL, "a caught signal is back to SIG_DFL");
        sigaction(SIGUSR2, NULL, &sa);
        CHECK(sa.sa_handler == SIG_IGN, "an ignored signal stays ignored");
        sigset_t now;
        sigprocmask(SIG_SETMASK, NULL, &now);
        CHECK(sigismember(&now, SIGINT), "the signal mask survives");
        CHECK(stage1_marker == 1, "data starts from the new image");
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        CHECK(t.tv_sec > 0 || t.tv_nsec > 0, "the clock runs on");
        return failed ? 1 : 0;
    }
    stage1_marker = 2;
    int keep = open("/tmp/kept", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(keep, "kept!", 5);
    int gone = open("/tmp/gone", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(keep == 3 && gone == 4, "descriptors 3 and 4");
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, NULL);
    char *none[] = {"x", NULL};
    CHECK(execve("/no/such/program", none, none) == -1 && errno == ENOENT, "a missing program is ENOENT");
    CHECK(execve("/tmp/kept", none, none) == -1 && errno == EACCES, "a file without x is EACCES");
    CHECK(execve("/bin/script", none, none) == -1 && errno == ENOENT, "a script whose interpreter is missing is ENOENT");
    CHECK(execve("/bin/badscript", none, none) == -1 && errno == ENOEXEC, "a script with no interpreter is ENOEXEC");
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *args[] = {"execer", "stage2", pid, NULL};
    char *env[] = {"STAGE=2", NULL};
    fflush(stdout);
    execve("/bin/execer", args, env);
    printf("FAIL: execve: %s\n", strerror(errno));
    return 1;
}
