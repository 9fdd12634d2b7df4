// insn_fuzz: the harness of the random-instruction-stream fuzz targets (src/fuzz.rs). It
// reads /input (at most 4096 bytes of instruction words), copies them into an RWX mapping
// followed by an all-zero word (udf #0 on arm64, illtrap 0 on SPARC), points most general
// registers into a tagged mapping (arm64: PROT_MTE, sync tag checks, every tag allowed,
// granule i carries tag i % 16; SPARC: PROT_ADI, precise MCD stores, block i version
// i % 16) with a different logical tag/version each, and jumps to the words.
// Faults in the words (SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP) are counted and skipped by
// the handler, which runs on an alternate stack; the zero word at the end, a fault outside
// the words, or the 4096th fault prints the counts and exits 0. Anything else the words do
// (syscalls, wild stores, signals) is the machine's business, bounded by the run's budgets.
// argv: none (the words are /input), or the path of the words. Expected stdout: "insn_fuzz: <n> faults (<ill> ill, <segv> segv, <bus> bus,
// <fpe> fpe, <trap> trap), ended <how>".
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#ifdef __aarch64__
#include <sys/prctl.h>
#endif

#define MAX_CODE 4096
#define DATA_LEN (64 * 1024)
#define MAX_FAULTS 4096

static uint32_t *code, *code_end; /* code_end: the zero word */
static unsigned long counts[NSIG];
static unsigned long faults;

/* Decimal digits of v at the end of buf[..n]; returns the first digit. */
static char *digits(unsigned long v, char *end) {
    *--end = 0;
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static void put(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(1, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_num(unsigned long v) {
    char buf[24];
    put(digits(v, buf + sizeof buf));
}

static __attribute__((noreturn)) void finish(const char *how) {
    put("insn_fuzz: ");
    put_num(faults);
    put(" faults (");
    put_num(counts[SIGILL]);
    put(" ill, ");
    put_num(counts[SIGSEGV]);
    put(" segv, ");
    put_num(counts[SIGBUS]);
    put(" bus, ");
    put_num(counts[SIGFPE]);
    put(" fpe, ");
    put_num(counts[SIGTRAP]);
    put(" trap), ended ");
    put(how);
    put("\n");
    _exit(0);
}

static void on_fault(int sig, siginfo_t *si, void *ctx) {
    (void)si;
    faults++;
    counts[sig]++;
#ifdef __aarch64__
    ucontext_t *uc = ctx;
    uintptr_t pc = uc->uc_mcontext.pc;
#else
    struct sigcontext *sc = ctx;
    uintptr_t pc = sc->sigc_regs.tpc;
#endif
    if (pc == (uintptr_t)code_end)
        finish("at the end of the words");
    if (pc < (uintptr_t)code || pc > (uintptr_t)code_end)
        finish("outside the words");
    if (faults >= MAX_FAULTS)
        finish("at the fault cap");
#ifdef __aarch64__
    uc->uc_mcontext.pc = pc + 4;
#else
    sc->sigc_regs.tpc = sc->sigc_regs.tnpc;
    sc->sigc_regs.tnpc += 4;
#endif
}

static unsigned long regs[32];

/* The tag (version) of granule (block) n of the data: n's low four bits XOR the next four
 * above the first six (arm64: a 1 KiB chunk is 64 granules) or four (SPARC: 16 blocks), so
 * neighbours differ and the first granule of KiB i has tag i % 16. */
static unsigned long tag_of(unsigned long n) {
#ifdef __aarch64__
    return (n ^ (n >> 6)) & 15;
#else
    return (n ^ (n >> 4)) & 15;
#endif
}

int main(int argc, char **argv) {
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    if (sigaltstack(&ss, 0))
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    const int sigs[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, 0))
            return 1;

    code = mmap(0, MAX_CODE + 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED)
        return 1;
    int fd = open(argc > 1 ? argv[1] : "/input", O_RDONLY);
    size_t len = 0;
    if (fd >= 0) {
        ssize_t n;
        while (len < MAX_CODE && (n = read(fd, (char *)code + len, MAX_CODE - len)) > 0)
            len += (size_t)n;
        close(fd);
    }
    len &= ~(size_t)3;
    code_end = (uint32_t *)((char *)code + len);
    *code_end = 0;

#ifdef __aarch64__
    /* Sync tag checks, every tag allowed for IRG (PR_MTE_TAG_MASK = 0xffff << 3). */
    if (prctl(PR_SET_TAGGED_ADDR_CTRL, 1UL | (1UL << 1) | (0xfffeUL << 3), 0, 0, 0))
        return 1;
    char *data = mmap(0, DATA_LEN, PROT_READ | PROT_WRITE | 0x20 /* PROT_MTE */, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return 1;
    for (unsigned long g = 0; g < DATA_LEN / 16; g++) {
        register char *p __asm__("x0") = (char *)((uintptr_t)(data + g * 16) | (tag_of(g) << 56));
        __asm__ volatile(".word 0xd9200800" ::"r"(p) : "memory"); /* stg x0, [x0] (no +memtag: common source) */
    }
    const unsigned shift = 56;
#else
    /* Without ADI (--no-adi: a T4-like CPU) the data is plain memory: the versions in the
     * pointers then make them addresses in the VA hole. */
    int adi = (getauxval(AT_HWCAP) & 0x08000000UL /* HWCAP_SPARC_ADI */) != 0;
    char *data = mmap(0, DATA_LEN, PROT_READ | PROT_WRITE | (adi ? 0x10 /* PROT_ADI */ : 0), MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (data == MAP_FAILED)
        return 1;
    if (adi) {
        __asm__ volatile(".word 0x9d802001" ::: "memory"); /* wr %g0, 1, %asr14: precise stores */
        for (unsigned long b = 0; b < DATA_LEN / 64; b++)
            __asm__ volatile("stxa %0, [%1] 0x90" ::"r"(tag_of(b)), "r"(data + b * 64) : "memory");
    }
    const unsigned shift = 60;
#endif
    /* Register i: a pointer 1 KiB * i into the data (whose granule/block there has tag i % 16)
     * with the matching tag, or (i % 4 == 1) the next tag, or (i % 4 == 3) a small number.
     * The syscall-number register starts as getpid. */
    for (unsigned long i = 0; i < 32; i++) {
        unsigned long tag = (i + (i % 4 == 1)) % 16;
        regs[i] = i % 4 == 3 ? i * 8 : (uintptr_t)(data + (i * 1024) % DATA_LEN) | (tag << shift);
    }

#ifdef __aarch64__
    regs[8] = 172; /* __NR_getpid */
    regs[30] = (uintptr_t)code;
    register unsigned long *r __asm__("x30") = regs;
    __asm__ volatile("ldp x0, x1, [x30, #0]\n\t"
                     "ldp x2, x3, [x30, #16]\n\t"
                     "ldp x4, x5, [x30, #32]\n\t"
                     "ldp x6, x7, [x30, #48]\n\t"
                     "ldp x8, x9, [x30, #64]\n\t"
                     "ldp x10, x11, [x30, #80]\n\t"
                     "ldp x12, x13, [x30, #96]\n\t"
                     "ldp x14, x15, [x30, #112]\n\t"
                     "ldp x16, x17, [x30, #128]\n\t"
                     "ldp x19, x20, [x30, #152]\n\t"
                     "ldp x21, x22, [x30, #168]\n\t"
                     "ldp x23, x24, [x30, #184]\n\t"
                     "ldp x25, x26, [x30, #200]\n\t"
                     "ldp x27, x28, [x30, #216]\n\t"
                     "ldr x29, [x30, #232]\n\t"
                     "ldr x30, [x30, #240]\n\t"
                     "br x30" ::"r"(r)
                     : "memory");
#else
    regs[1] = 20; /* %g1 = __NR_getpid */
    regs[31] = (uintptr_t)code;
    register unsigned long *r __asm__("o7") = regs;
    /* %g1-%g5, %o0-%o5, %l0-%l7, %i0-%i5 (the stack, frame and TLS registers stay). */
    __asm__ volatile("ldx [%%o7 + 8], %%g1\n\t"
                     "ldx [%%o7 + 16], %%g2\n\t"
                     "ldx [%%o7 + 24], %%g3\n\t"
                     "ldx [%%o7 + 32], %%g4\n\t"
                     "ldx [%%o7 + 40], %%g5\n\t"
                     "ldx [%%o7 + 64], %%o0\n\t"
                     "ldx [%%o7 + 72], %%o1\n\t"
                     "ldx [%%o7 + 80], %%o2\n\t"
                     "ldx [%%o7 + 88], %%o3\n\t"
                     "ldx [%%o7 + 96], %%o4\n\t"
                     "ldx [%%o7 + 104], %%o5\n\t"
                     "ldx [%%o7 + 128], %%l0\n\t"
                     "ldx [%%o7 + 136], %%l1\n\t"
                     "ldx [%%o7 + 144], %%l2\n\t"
                     "ldx [%%o7 + 152], %%l3\n\t"
                     "ldx [%%o7 + 160], %%l4\n\t"
                     "ldx [%%o7 + 168], %%l5\n\t"
                     "ldx [%%o7 + 176], %%l6\n\t"
                     "ldx [%%o7 + 184], %%l7\n\t"
                     "ldx [%%o7 + 192], %%i0\n\t"
                     "ldx [%%o7 + 200], %%i1\n\t"
                     "ldx [%%o7 + 208], %%i2\n\t"
                     "ldx [%%o7 + 216], %%i3\n\t"
                     "ldx [%%o7 + 224], %%i4\n\t"
                     "ldx [%%o7 + 232], %%i5\n\t"
                     "ldx [%%o7 + 248], %%o7\n\t"
                     "jmp %%o7\n\t"
                     " nop" ::"r"(r)
                     : "memory");
#endif
    __builtin_unreachable();
}
