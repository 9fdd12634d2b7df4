// exitcode.c - exits with the status given on the command line, prints nothing.
// Exercises: argv passing and exit_group status propagation.
// argv: [STATUS]   (integer, default 0; the shell sees STATUS & 255)
// Expected stdout: empty
// Expected exit status: atoi(argv[1]) & 255 (0 without argument)
// tagmmu: differential
#include <stdlib.h>

int main(int argc, char **argv)
{
    int status = 0;
    if (argc > 1)
        status = atoi(argv[1]);
    return status;
}
