// hello.c - simplest possible guest: one line on stdout, exit 0.
// Exercises: static glibc start-up, printf -> fstat/ioctl/write, exit_group.
// argv: none.
// Expected stdout: "hello from tagmmu (arm64)"
// Expected exit status: 0
// tagmmu: differential
#include <stdio.h>

int main(void)
{
    puts("hello from tagmmu (arm64)");
    return 0;
}
