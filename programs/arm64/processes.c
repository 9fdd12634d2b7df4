// processes: fork, wait4/waitid, exit statuses, SIGCHLD, pipes between processes, memory
// and MTE tags across fork (a private mapping is the child's own copy, tags included; a
// MAP_SHARED one is the same memory and the same tags in both), kill, process groups, and
// exec in a child (it must be placed at /bin/processes for that part).
// Expected stdout: one "<what>: ok" line per check; exit status 0.
// Not differential: qemu-user keeps MTE tags per process, so a MAP_SHARED page's tags are
// not shared with a forked child there, as they are on Linux (the tags live with the page).
// tagmmu: cflags -march=armv8.5-a+memtag
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/check.h"
#include "mte_util.h"

static int failed;
static volatile int sigchld_count, sigchld_code, sigchld_pid;

static void on_chld(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    sigchld_count++;
    sigchld_code = si->si_code;
    sigchld_pid = si->si_pid;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
        return 42;

    /* exit statuses */
    pid_t p = fork();
    if (p == 0)
        _exit(7);
    int st = 0;
    CHECK(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 7, "a child's exit status reaches wait4");
    CHECK(waitpid(p, &st, 0) == -1 && errno == ECHILD, "a reaped child is gone: ECHILD");

    p = fork();
    if (p == 0) {
        volatile uintptr_t bad = 8;
        *(volatile int *)bad = 1; /* SIGSEGV */
        _exit(0);
    }
    CHECK(waitpid(p, &st, 0) == p && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "a child killed by SIGSEGV: WIFSIGNALED");

    /* getpid/getppid, and a pipe both ways */
    int up[2], down[2];
    if (pipe(up) || pipe(down))
        return 1;
    pid_t parent = getpid();
    p = fork();
    if (p == 0) {
        close(up[0]);
        close(down[1]);
        char buf[16] = {0};
        int ok = read(down[0], buf, sizeof buf) == 4 && strcmp(buf, "ping") == 0;
        ok &= getppid() == parent && getpid() != parent;
        write(up[1], ok ? "pong" : "fail", 4);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    write(down[1], "ping", 4);
    char buf[8] = {0};
    CHECK(read(up[0], buf, 4) == 4 && strcmp(buf, "pong") == 0, "parent and child talk through two pipes");
    CHECK(read(up[0], buf, 4) == 0, "EOF once the child exited (its write end closed)");
    waitpid(p, NULL, 0);

    /* memory across fork */
    int *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *priv = 1;
    *shared = 1;
    static int data_var = 5;
    p = fork();
    if (p == 0) {
        int ok = *priv == 1 && *shared == 1 && data_var == 5;
        *priv = 2;
        *shared = 2;
        data_var = 6;
        _exit(ok ? 0 : 1);
    }
    waitpid(p, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child sees the parent's memory as it was at fork");
    CHECK(*priv == 1 && data_var == 5, "the child's writes to private memory stay its own");
    CHECK(*shared == 2, "the child's writes to MAP_SHARED memory are the parent's too");

    /* MTE tags across fork */
    if (getauxval(AT_HWCAP2) & (1UL << 18)) { /* HWCAP2_MTE */
        set_mode(TCF_SYNC, 0xfffe);
        char *tp = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        char *ts = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        char *a = tag_ptr(tp, 3), *b = tag_ptr(ts, 4);
        stg(a);
        stg(b);
        p = fork();
        if (p == 0) {
            /* the child inherits the mode and the tags; it retags both granules */
            int ok = ldg(a) == 3 && ldg(b) == 4;
            ok &= (unsigned long)prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0) == (TAG_ENABLE | TCF_SYNC | INCL(0xfffe));
            stg(tag_ptr(tp, 9));
            stg(tag_ptr(ts, 9));
            _exit(ok ? 0 : 1);
        }
        waitpid(p, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child inherits the tag-check mode and the memory tags");
        CHECK(ldg(a) == 3, "the child's retagging of private memory stays its own");
        CHECK(ldg(b) == 9, "the child's retagging of MAP_SHARED memory is the parent's too");
        p = fork();
        if (p == 0) {
            a[16] = 1; /* granule 1: tag 0 */
            _exit(0);
        }
        waitpid(p, &st, 0);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "a tag fault in the child kills the child only");
    } else {
        puts("(no MTE: tag checks across fork skipped)");
    }

    /* SIGCHLD with siginfo, waitid, WNOHANG */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    int go[2];
    if (pipe(go))
        return 1;
    p = fork();
    if (p == 0) {
        char c;
        read(go[0], &c, 1);
        _exit(3);
    }
    CHECK(waitpid(p, &st, WNOHANG) == 0, "WNOHANG with a running child: 0");
    write(go[1], "x", 1);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PID, p, &si, WEXITED) == 0 && si.si_pid == p && si.si_code == CLD_EXITED && si.si_status == 3,
          "waitid reports CLD_EXITED, the pid and the status");
    CHECK(sigchld_count == 1 && sigchld_code == CLD_EXITED, "the parent got SIGCHLD (CLD_EXITED)");

    /* kill a child; process groups */
    p = fork();
    if (p == 0) {
        char c;
        for (;;)
            read(go[0], &c, 1); /* nobody writes again: it sleeps until killed */
    }
    CHECK(setpgid(p, p) == 0 && getpgid(p) == p, "setpgid puts the child in its own group");
    CHECK(kill(-p, SIGTERM) == 0, "kill to the child's group");
    waitpid(p, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the child died of SIGTERM");
    CHECK(kill(p, 0) == -1 && errno == ESRCH, "a reaped pid: ESRCH");

    /* exec in a child */
    if (access("/bin/processes", X_OK) == 0) {
        p = fork();
        if (p == 0) {
            execl("/bin/processes", "processes", "exec-child", (char *)NULL);
            _exit(99);
        }
        waitpid(p, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42, "a child execs another program and its status comes back");
    } else {
        puts("(not placed at /bin/processes: exec in a child skipped)");
    }
    return failed;
}
