// pwrite_loop: pwrite KIB kibibytes at offset 0 of a tmpfs file, forever: a program whose time
// goes into syscalls, few instructions between them (the wall-time budget must still stop it).
// argv: [KIB, default 32768].
// Expected: never exits on its own (tagmmu: stopped by --time-budget, exit status 124).
// tagmmu: not-differential (runs forever)
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    size_t len = (size_t)(argc > 1 ? atoi(argv[1]) : 32768) << 10;
    char *buf = malloc(len);
    if (!buf)
        return 2;
    memset(buf, 'x', len);
    int fd = open("/tmp/pwrite_loop", O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0)
        return 2;
    for (;;)
        if (pwrite(fd, buf, len, 0) != (ssize_t)len)
            return 3;
}
