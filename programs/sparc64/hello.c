// hello.c - simplest possible sparc64 guest: one line on stdout, exit 0.
// Exercises: static glibc start-up on sparc64 (register windows, %g7 TLS), puts, exit_group.
// argv: none.
// Expected stdout: "hello from tagmmu (sparc64)"
// Expected exit status: 0
// tagmmu: differential
#include <stdio.h>

int main(void)
{
    puts("hello from tagmmu (sparc64)");
    return 0;
}
