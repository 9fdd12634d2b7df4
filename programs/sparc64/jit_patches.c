// jit_patches: words tagmmu must emulate or refuse (an ADI version load, a T4 CBcond, a BPr
// with a reserved rcond that crashed Unicorn's code generator) in code the program writes
// at run time, then rewrites with its own stores after running it: each version of the code
// is scanned anew (src/emu/sparc64/runtime_code.rs); then code that stores into its own page
// (served from a shadow, for its CBcond), flushes and runs the word it stored; then read(2)
// writes a word into a page served from a shadow, and the new word runs.
// argv: none. Expected stdout: the setup checks' "...: ok" lines, "jit_patches: version 5",
// "jit_patches: cbcond 7", "jit_patches: reserved bpr sigill 8", "jit_patches: self store
// 11", "jit_patches: kernel write 7 then 12", "every version ran as written: ok". Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1).
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "adi_util.h"

typedef long (*fn_t)(void *);
typedef long (*store_fn_t)(void *, uint32_t, uint32_t *);

static volatile int sigills;
static void on_sigill(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)si;
    struct sigcontext *sc = ctx;
    sigills++;
    sc->sigc_regs.tpc = sc->sigc_regs.tnpc;
    sc->sigc_regs.tnpc += 4;
}

static void emit(uint32_t *code, const uint32_t *words, size_t n) {
    for (size_t i = 0; i < n; i++)
        code[i] = words[i];
    __builtin___clear_cache((char *)code, (char *)(code + n));
}

int main(void) {
    int failed = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigill;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGILL, &sa, 0) == 0, "sigaction");
    char *data = mmap(0, 8192, PROT_READ | PROT_WRITE | PROT_ADI, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(data != MAP_FAILED, "mmap PROT_ADI");
    if (data == MAP_FAILED)
        return 1;
    set_version(data, 5);
    uint32_t *code = mmap(0, 8192, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(code != MAP_FAILED, "mmap RWX");
    if (code == MAP_FAILED)
        return 1;

    /* ldxa [%o0] 0x90, %o0; retl; nop */
    const uint32_t version[] = {0xd0da1200, 0x81c3e008, 0x01000000};
    emit(code, version, 3);
    long v = ((fn_t)code)(data);
    printf("jit_patches: version %ld\n", v);

    /* cwbe %o0, %o0, .+8; mov 9, %o0 (skipped); retl; mov 7, %o0 */
    const uint32_t cbcond[] = {0x12c20048, 0x90102009, 0x81c3e008, 0x90102007};
    emit(code, cbcond, 4);
    long c = ((fn_t)code)(data);
    printf("jit_patches: cbcond %ld\n", c);

    /* BPr with the reserved rcond 000 (SIGILL, skipped by the handler); retl; mov 8, %o0 */
    const uint32_t bpr[] = {0x00c20002, 0x81c3e008, 0x90102008};
    emit(code, bpr, 3);
    long b = ((fn_t)code)(data);
    printf("jit_patches: reserved bpr sigill %d\n", sigills == 1 ? (int)b : -1);

    /* cwbe %o0, %o0, .+8 (the page is served from a shadow); mov 9, %o0 (skipped);
     * st %o1, [%o2]; flush %o2; ba,a .+8; nop; mov 1, %o0 (stored over: mov 11, %o0);
     * retl; nop. tagmmu refused a store into a page served from a shadow until the shadow
     * was gone, and the store, fetched from a shadow made again, was refused for ever. */
    const uint32_t self_store[] = {0x12c20048, 0x90102009, 0xd2228000, 0x81da8000, 0x30800002,
                                   0x01000000, 0x90102001, 0x81c3e008, 0x01000000};
    emit(code, self_store, 9);
    long s = ((store_fn_t)code)(data, 0x9010200b /* mov 11, %o0 */, code + 6);
    printf("jit_patches: self store %ld\n", s);

    /* The CBcond code again (served from a shadow), then read(2) over its last word (mov 12,
     * %o0): the kernel's write drops the translations of that page alone, and the shadow
     * made from the old bytes must not serve the next fetch. */
    emit(code, cbcond, 4);
    long k1 = ((fn_t)code)(data);
    int fds[2];
    const uint32_t twelve = 0x9010200c;
    CHECK(pipe(fds) == 0 && write(fds[1], &twelve, 4) == 4 && read(fds[0], code + 3, 4) == 4, "read(2) over the code");
    __builtin___clear_cache((char *)code, (char *)(code + 4));
    long k2 = ((fn_t)code)(data);
    printf("jit_patches: kernel write %ld then %ld\n", k1, k2);

    CHECK(v == 5 && c == 7 && b == 8 && sigills == 1 && s == 11 && k1 == 7 && k2 == 12, "every version ran as written");
    return failed;
}
