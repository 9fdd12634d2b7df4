// cat: copies the named files (or stdin when none, or for `-`) to stdout.
// Exercises: openat/read/write on files a scenario places in the in-memory filesystem, and
// fd 0 fed by the machine. Usage: cat [FILE...]; exit 1 if a file cannot be opened.
// tagmmu: not-differential (reads files that exist only in the guest filesystem)
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int copy(int fd) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (write(1, buf, (size_t)n) != n)
            return 1;
    }
    return n < 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return copy(0);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] == 0) {
            if (copy(0))
                return 1;
            continue;
        }
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            perror(argv[i]);
            return 1;
        }
        if (copy(fd))
            return 1;
        close(fd);
    }
    return 0;
}
