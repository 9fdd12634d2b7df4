// pipes: pipe2 and the descriptor semantics around it, in one task: bytes in order, partial
// reads, FIONREAD, end of file when the last writer closes, EPIPE with SIGPIPE when the last
// reader closes, O_NONBLOCK (EAGAIN, PIPE_BUF atomicity, a split large write), the pipe's
// capacity (F_GETPIPE_SZ / F_SETPIPE_SZ), dup sharing one open file description (offset and
// status flags) while close-on-exec stays per descriptor, dup2 onto an open descriptor,
// poll / ppoll / select readiness, and a ppoll that times out.
// argv: none, or "block" (a blocking read of an empty pipe this task alone writes: Linux
// sleeps for ever; tagmmu stops the run as a deadlock).
// Expected stdout (Linux): one "<what>: ok" line per check.
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: differential
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static int failed;
static volatile int sigpipes;

static void on_pipe(int sig) {
    (void)sig;
    sigpipes++;
}

int main(int argc, char **argv) {
    int p[2];
    char buf[8192];
    if (pipe2(p, 0) != 0) {
        printf("FAIL: pipe2: %s\n", strerror(errno));
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "block") == 0) {
        printf("reading an empty pipe\n");
        fflush(stdout);
        read(p[0], buf, 1);
        printf("FAIL: the read returned\n");
        return 1;
    }

    // Bytes in order; a short read leaves the rest; FIONREAD counts what waits.
    CHECK(write(p[1], "hello, pipe", 11) == 11, "write 11 bytes");
    int avail = -1;
    CHECK(ioctl(p[0], FIONREAD, &avail) == 0 && avail == 11, "FIONREAD counts 11");
    CHECK(read(p[0], buf, 5) == 5 && memcmp(buf, "hello", 5) == 0, "a short read takes the first 5");
    CHECK(read(p[0], buf, sizeof buf) == 6 && memcmp(buf, ", pipe", 6) == 0, "the next read the rest");
    struct stat st;
    CHECK(fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "fstat says FIFO");
    CHECK(lseek(p[0], 0, SEEK_SET) == -1 && errno == ESPIPE, "lseek is ESPIPE");
    CHECK(write(p[0], "x", 1) == -1 && errno == EBADF, "the read end is not writable");

    // O_NONBLOCK through F_SETFL on a dup: one description, so both descriptors see it;
    // close-on-exec stays per descriptor.
    int d = dup(p[0]);
    CHECK(fcntl(d, F_SETFL, O_NONBLOCK) == 0, "F_SETFL O_NONBLOCK on a dup");
    CHECK((fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0, "the original sees O_NONBLOCK");
    CHECK(read(p[0], buf, 1) == -1 && errno == EAGAIN, "an empty non-blocking read is EAGAIN");
    CHECK(fcntl(d, F_SETFD, FD_CLOEXEC) == 0 && fcntl(d, F_GETFD) == FD_CLOEXEC, "FD_CLOEXEC set on the dup");
    CHECK(fcntl(p[0], F_GETFD) == 0, "the original has no FD_CLOEXEC");
    CHECK(fcntl(p[0], F_SETFL, 0) == 0 && (fcntl(d, F_GETFL) & O_NONBLOCK) == 0, "cleared for both");
    close(d);

    // Capacity: 16 pages by default; a full non-blocking pipe is EAGAIN; PIPE_BUF atomicity.
    CHECK(fcntl(p[1], F_GETPIPE_SZ) == 65536, "F_GETPIPE_SZ is 65536");
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    fcntl(p[0], F_SETFL, O_NONBLOCK); // the drains below end on EAGAIN
    static char big[70000];
    memset(big, 'b', sizeof big);
    CHECK(write(p[1], big, sizeof big) == 65536, "a large non-blocking write is split at the capacity");
    CHECK(write(p[1], big, 1) == -1 && errno == EAGAIN, "a full pipe is EAGAIN");
    CHECK(read(p[0], buf, 4096) == 4096, "read one page");
    CHECK(write(p[1], big, 4097) == 4096, "more than PIPE_BUF may be split");
    CHECK(read(p[0], buf, 4096) == 4096, "read another page");
    CHECK(write(p[1], big, 4096) == 4096, "PIPE_BUF bytes fit whole");
    CHECK(fcntl(p[1], F_SETPIPE_SZ, 4096) == -1 && errno == EBUSY, "shrinking below the content is EBUSY");
    while (read(p[0], buf, sizeof buf) > 0) {
    }
    CHECK(fcntl(p[1], F_SETPIPE_SZ, 5000) == 8192, "F_SETPIPE_SZ rounds up to a power of two pages");
    CHECK(write(p[1], big, 8192) == 8192 && write(p[1], big, 1) == -1 && errno == EAGAIN, "the new capacity holds");
    while (read(p[0], buf, sizeof buf) > 0) {
    }
    fcntl(p[1], F_SETFL, 0);
    fcntl(p[0], F_SETFL, 0);

    // poll, ppoll and select on both ends.
    struct pollfd pf[4] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {-1, POLLIN, 0}, {99, POLLIN, 0}};
    CHECK(poll(pf, 4, 0) == 2, "poll: the write end and the bad fd are ready");
    CHECK(pf[0].revents == 0 && pf[1].revents == POLLOUT && pf[2].revents == 0 && pf[3].revents == POLLNVAL,
          "poll: revents of an empty pipe");
    write(p[1], "z", 1);
    CHECK(poll(pf, 2, 0) == 2 && pf[0].revents == POLLIN, "poll: readable once written");
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    struct timeval tv = {0, 0};
    CHECK(select(p[1] + 1, &rd, &wr, NULL, &tv) == 2 && FD_ISSET(p[0], &rd) && FD_ISSET(p[1], &wr),
          "select: both ends ready");
    read(p[0], buf, 1);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    CHECK(select(p[0] + 1, &rd, NULL, NULL, &tv) == 0 && !FD_ISSET(p[0], &rd), "select: an empty pipe is not");
    FD_ZERO(&rd);
    FD_SET(42, &rd);
    CHECK(select(43, &rd, NULL, NULL, &tv) == -1 && errno == EBADF, "select: a closed descriptor is EBADF");
    struct timespec t0, t1, ts = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(ppoll(pf, 1, &ts, NULL) == 0, "ppoll: times out with nothing to read");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long waited = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
    CHECK(waited >= 20 * 1000 * 1000, "ppoll: the clock advanced by the timeout");

    // dup2 onto an open descriptor closes it first; the copy reads the same pipe.
    int q[2];
    pipe2(q, O_CLOEXEC);
    CHECK(fcntl(q[0], F_GETFD) == FD_CLOEXEC, "pipe2(O_CLOEXEC) sets FD_CLOEXEC");
    CHECK(dup2(p[0], q[0]) == q[0] && fcntl(q[0], F_GETFD) == 0, "dup2 onto an open descriptor, no FD_CLOEXEC");
    write(p[1], "dup", 3);
    CHECK(read(q[0], buf, 3) == 3 && memcmp(buf, "dup", 3) == 0, "the dup2 copy reads the pipe");
    close(q[0]);

    // The last writer gone: end of file, POLLHUP.
    write(p[1], "end", 3);
    close(p[1]);
    CHECK(read(p[0], buf, sizeof buf) == 3, "buffered bytes survive the writer's close");
    CHECK(read(p[0], buf, sizeof buf) == 0, "then end of file");
    CHECK(poll(pf, 1, 0) == 1 && (pf[0].revents & POLLHUP), "poll: POLLHUP");
    close(p[0]);

    // The last reader gone: EPIPE, with SIGPIPE (caught, then ignored).
    pipe2(p, 0);
    close(p[0]);
    signal(SIGPIPE, on_pipe);
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE && sigpipes == 1, "EPIPE and SIGPIPE with no reader");
    signal(SIGPIPE, SIG_IGN);
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE && sigpipes == 1, "EPIPE alone with SIGPIPE ignored");
    struct pollfd wf = {p[1], POLLOUT, 0};
    CHECK(poll(&wf, 1, 0) == 1 && (wf.revents & POLLERR), "poll: POLLERR on the write end");
    close(p[1]);

    // dup shares the file offset of a regular file.
    int f = open("/tmp/pipes-offset", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(f, "0123456789", 10);
    int g = dup(f);
    lseek(f, 3, SEEK_SET);
    CHECK(read(g, buf, 2) == 2 && memcmp(buf, "34", 2) == 0, "a dup reads at the shared offset");
    CHECK(lseek(f, 0, SEEK_CUR) == 5, "and moves it for both");
    int h = fcntl(f, F_DUPFD, 20);
    CHECK(h == 20 && lseek(h, 0, SEEK_CUR) == 5, "F_DUPFD picks the lowest free at or above 20");
    unlink("/tmp/pipes-offset");
    return failed;
}
