// jit: code written at run time and run, then rewritten in place and run again (as a JIT
// does): in an RWX mapping, and in an RW mapping switched to RX with mprotect and back.
// The second run must see the new code (the emulator's translations of the old code are
// dropped when it is written).
// Expected stdout: "rwx: 1 then 2", "mprotect: 3 then 4".
// tagmmu: differential
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

typedef int (*fn_t)(void);

static void emit(uint32_t *code, int value) {
    code[0] = 0x52800000u | ((uint32_t)value << 5); /* mov w0, #value */
    code[1] = 0xd65f03c0u;                          /* ret */
    __builtin___clear_cache((char *)code, (char *)(code + 2));
}

int main(void) {
    uint32_t *rwx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rwx == MAP_FAILED)
        return 1;
    emit(rwx, 1);
    int a = ((fn_t)rwx)();
    emit(rwx, 2);
    int b = ((fn_t)rwx)();
    printf("rwx: %d then %d\n", a, b);

    uint32_t *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rw == MAP_FAILED)
        return 1;
    emit(rw, 3);
    mprotect(rw, 4096, PROT_READ | PROT_EXEC);
    int c = ((fn_t)rw)();
    mprotect(rw, 4096, PROT_READ | PROT_WRITE);
    emit(rw, 4);
    mprotect(rw, 4096, PROT_READ | PROT_EXEC);
    int d = ((fn_t)rw)();
    printf("mprotect: %d then %d\n", c, d);
    return 0;
}
