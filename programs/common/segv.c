// segv.c - deliberate memory faults; the process must die from SIGSEGV.
// Exercises: fault delivery with the default SIGSEGV disposition
//            (no handler installed) for four kinds of bad access.
// argv: MODE, one of
//   read  - load from address 0x10 (unmapped null page)
//   write - store to address 0x10
//   exec  - call a function pointer with value 0x10
//   ro    - store into a const global in .rodata (mapped read-only)
// Expected stdout: "about to fault (MODE)" (flushed before the fault)
// Expected exit status: killed by SIGSEGV (signal 11; the shell reports 139).
//   Missing/unknown MODE: usage line on stdout, exit 2.
// tagmmu: differential (stdout + exit status 139 as seen by the shell;
//   qemu-user re-raises the guest's fatal signal on itself)
#include <stdint.h>
#include <stdio.h>
#include <string.h>

const char rodata_string[] = "this string lives in .rodata";

typedef void (*fn_t)(void);

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    /* volatile so the compiler can neither fold nor drop the bad accesses */
    uintptr_t volatile bad_addr = 0x10;
    const char *volatile ro = rodata_string;

    if (strcmp(mode, "read") != 0 && strcmp(mode, "write") != 0 &&
        strcmp(mode, "exec") != 0 && strcmp(mode, "ro") != 0) {
        puts("usage: segv read|write|exec|ro");
        return 2;
    }

    printf("about to fault (%s)\n", mode);
    fflush(stdout);

    if (strcmp(mode, "read") == 0) {
        volatile int *p = (volatile int *)bad_addr;
        int v = *p;
        printf("FAIL: read from 0x10 returned %d\n", v);
    } else if (strcmp(mode, "write") == 0) {
        volatile int *p = (volatile int *)bad_addr;
        *p = 42;
        puts("FAIL: write to 0x10 succeeded");
    } else if (strcmp(mode, "exec") == 0) {
        fn_t f = (fn_t)bad_addr;
        f();
        puts("FAIL: call to 0x10 returned");
    } else {
        volatile char *p = (volatile char *)(uintptr_t)ro;
        p[0] = 'X';
        puts("FAIL: write to .rodata succeeded");
    }
    return 1;
}
