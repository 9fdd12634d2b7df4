// loop.c - prints "looping" then spins forever.
// Exercises: instruction-budget / timeout handling of the emulator.
// argv: none.
// Expected stdout: "looping" (flushed before the loop starts)
// Expected exit status: none - never terminates on its own (must be killed).
// tagmmu: not-differential (never ends; used for budget tests)
#include <stdio.h>

int main(void)
{
    volatile unsigned long counter = 0;

    puts("looping");
    fflush(stdout);
    for (;;)
        counter = counter + 1;
    return 0;
}
