// bigwrite.c - many buffered stdout lines, then one line on stderr.
// Exercises: stdio buffering (several write calls when stdout is a pipe/file),
//            writes to fd 2.
// argv: none.
// Expected stdout: 200 lines "line 0" .. "line 199"
// Expected stderr: "to stderr"
// Expected exit status: 0
// tagmmu: differential (compare stdout and exit status only)
#include <stdio.h>

int main(void)
{
    for (int i = 0; i < 200; i++)
        printf("line %d\n", i);
    fflush(stdout);
    fputs("to stderr\n", stderr);
    return 0;
}
