// check.h - the one-line checks of the guest test programs: CHECK(cond, what) prints
// "<what>: ok" or "FAIL: <what>" and sets the program's `failed` flag on failure.
#ifndef TAGMMU_CHECK_H
#define TAGMMU_CHECK_H

#include <stdio.h>

#define CHECK(cond, what)                      \
    do {                                       \
        if (cond)                              \
            printf("%s: ok\n", what);          \
        else {                                 \
            printf("FAIL: %s\n", what);        \
            failed = 1;                        \
        }                                      \
    } while (0)

#endif
