// jit_rewrite: code rewritten in place after it ran, as a JIT does, on both CPUs: by the
// CPU's own stores in an RWX mapping; by read(2) over a function the CPU ran (the emulator's
// translations of the old code must go even though no CPU store wrote the new one); and by
// pread(2) into an RW mapping made RX. Each second call must run the new code.
// argv: none. Expected stdout: "jit_rewrite: stores 5 then 6", "jit_rewrite: rwx 1 then 2",
// "jit_rewrite: mprotect 3 then 4".
// tagmmu: differential
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*fn_t)(void);

/* `return value;` as two instruction words in the target's byte order. */
static void encode(uint32_t *w, int value) {
#ifdef __aarch64__
    w[0] = 0x52800000u | ((uint32_t)value << 5); /* mov w0, #value */
    w[1] = 0xd65f03c0u;                          /* ret */
#else
    w[0] = 0x81c3e008u;                   /* retl */
    w[1] = 0x90102000u | (uint32_t)value; /* mov value, %o0 (delay slot) */
#endif
}

static void clear_cache(uint32_t *w) { __builtin___clear_cache((char *)w, (char *)(w + 2)); }

/* A file holding `return value;`. */
static int code_file(int value) {
    uint32_t w[2];
    encode(w, value);
    int fd = open("jit_rewrite.code", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, w, sizeof w) != (ssize_t)sizeof w)
        return -1;
    unlink("jit_rewrite.code");
    return fd;
}

int main(void) {
    uint32_t *rwx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rwx == MAP_FAILED)
        return 1;
    encode(rwx, 5);
    clear_cache(rwx);
    int s5 = ((fn_t)rwx)();
    encode(rwx, 6);
    clear_cache(rwx);
    int s6 = ((fn_t)rwx)();
    printf("jit_rewrite: stores %d then %d\n", s5, s6);

    encode(rwx, 1);
    clear_cache(rwx);
    int a = ((fn_t)rwx)();
    int fd = code_file(2);
    if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0 || read(fd, rwx, 8) != 8)
        return 1;
    close(fd);
    clear_cache(rwx);
    int b = ((fn_t)rwx)();
    printf("jit_rewrite: rwx %d then %d\n", a, b);

    uint32_t *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rw == MAP_FAILED)
        return 1;
    encode(rw, 3);
    clear_cache(rw);
    mprotect(rw, 4096, PROT_READ | PROT_EXEC);
    int c = ((fn_t)rw)();
    fd = code_file(4);
    mprotect(rw, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
    if (fd < 0 || pread(fd, rw, 8, 0) != 8)
        return 1;
    close(fd);
    clear_cache(rw);
    mprotect(rw, 4096, PROT_READ | PROT_EXEC);
    int d = ((fn_t)rw)();
    printf("jit_rewrite: mprotect %d then %d\n", c, d);
    return 0;
}
