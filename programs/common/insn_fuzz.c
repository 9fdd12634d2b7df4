// insn_fuzz: the harness of the random-instruction-stream fuzz targets (src/fuzz.rs). It
// copies instruction words (at most 4096 bytes) into an RWX mapping followed by an all-zero
// word (udf #0 on arm64, illtrap 0 on SPARC), points most general registers into a tagged
// mapping (arm64: PROT_MTE, sync tag checks, every tag allowed, granule i carries tag
// i % 16; SPARC: PROT_ADI, precise MCD stores, block i version i % 16) with a different
// logical tag/version each, gives the words a stack of their own (zeroed for each input;
// SPARC: the harness's windows flushed first), and jumps to the words.
// Faults in the words (SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP; SIGEMT on SPARC, in the
// total only) are counted and skipped by the handler, which runs on an alternate stack; the
// zero word at the end, a fault outside the words, or the 4096th fault ends the run with a
// line of counts. Anything else the words do (syscalls, wild stores, signals) is the
// machine's business, except that the harness and the copies the words fork are at most 64
// processes (RLIMIT_NPROC, soft and hard: past it fork and vfork fail with EAGAIN).
// One shot (argv: none, or the path of the words; default /input): the words are the file,
// the run exits 0 after its line, bounded by the machine's budgets.
// Persistent (argv: --persistent): inputs come on stdin, each a 4-byte little-endian length
// (at most 4096) and the words; each runs in the same code and data mappings, the words
// rewritten, the data zeroed and retagged, with fresh handlers, mask, alternate stack and
// tag state (arm64: the tagged-address control, PSTATE.TCO, FPCR/FPSR; SPARC: %asr14), under
// an ITIMER_REAL of ITERATION_NS (SIGALRM ends it "at the time limit"), and answers with its
// line, numbered; end of file on stdin exits 0. In both modes every other catchable signal
// is ignored (the words may send any) and the handlers restore the thread pointer (the words
// may change it; glibc and siglongjmp read through it); persistent, a copy the words forked
// exits at its first handler, and ended copies are reaped before each input; the inputs and
// answers go through private copies of stdin and stdout (fds 901 and 900), the harness's own
// state is read-only while the words run, and before each input the code, data and stack
// mappings get their protection back (or are mapped again where they were) and memory the
// words locked is unlocked. What the words did to the process beyond that (a running copy,
// other mappings, a blocked SIGALRM, the SPARC %fsr) may outlive the input: the driver restarts
// the machine when no answer comes.
// Expected stdout: "insn_fuzz: <n> faults (<ill> ill, <segv> segv, <bus> bus, <fpe> fpe,
// <trap> trap), ended <how>" (persistent: "insn_fuzz <seq>: ..." per input).
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#ifdef __aarch64__
#include <sys/prctl.h>
#endif

#define MAX_CODE 4096
#define DATA_LEN (64 * 1024)
#define MAX_FAULTS 4096
#define MAX_PROCESSES 64
/* Virtual nanoseconds (instructions) one persistent input may run, its faults' handlers
 * included: enough to run each of 1024 words twenty times, and it bounds the signals an
 * input costs (each delivery costs the host as much as a few thousand instructions). */
#define ITERATION_NS 20000

/* What the harness keeps across the words (persistent: across inputs), on pages of its own
 * that are read-only while the words run: the words' stores reach the harness's data easily
 * (a SPARC sethi, an arm64 adrp, then a store), and a descriptor, sequence number or jump
 * buffer they overwrote lost the answer (the driver then waited 5 s and started a new
 * machine). finish() makes them writable again. */
struct harness_state {
    int persistent;
    /* Persistent: the harness's own pid. A process the words forked runs the words and this
     * code too; it must not answer nor read the next input: it exits as soon as it gets
     * here. */
    pid_t harness;
    /* The thread pointer (arm64 TPIDR_EL0, SPARC %g7) as glibc set it: the words may change
     * it, and the handlers, siglongjmp and the libc calls after read thread-local data
     * through it. */
    unsigned long thread_pointer;
    /* The input being run, and the last one answered. */
    unsigned long seq, answered;
    /* seq + 1 once finish() has begun answering input seq (see on_fault). */
    unsigned long finishing;
    sigjmp_buf next_input;
    uint32_t *code, *code_end; /* code_end: the zero word */
    char *data;
    int data_prot;
    char *words_stack; /* the words' own stack (see run_words) */
};
#define STATE_LEN 8192 /* a SPARC page, two arm64 ones */
static union {
    struct harness_state s;
    char pages[STATE_LEN];
} state __attribute__((aligned(STATE_LEN)));
#define st (state.s)

/* The state read-only (the words run) or writable. */
static int protect_state(int writable) {
    return mprotect(&state, STATE_LEN, PROT_READ | (writable ? PROT_WRITE : 0));
}

static void restore_thread_pointer(void) {
#ifdef __aarch64__
    __asm__ volatile("msr tpidr_el0, %0" ::"r"(st.thread_pointer));
#else
    __asm__ volatile("mov %0, %%g7" ::"r"(st.thread_pointer));
#endif
}
/* The descriptors the harness answers on and reads inputs from: private copies of stdout
 * and stdin, far above the small numbers in the words' registers (words that dup3(0, 1) sent
 * the answer into stdin's pipe, and the driver waited 5 s for it), and constants, out of the
 * words' reach. */
#define ANSWER_FD 900
#define INPUT_FD 901
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

/* The line being built (one write: the words may have left fd 1 anything but a pipe). */
static char line[256];
static size_t line_len;

static void put(const char *s) {
    size_t n = strlen(s);
    if (n > sizeof line - line_len)
        n = sizeof line - line_len;
    memcpy(line + line_len, s, n);
    line_len += n;
}

static void put_num(unsigned long v) {
    char buf[24];
    put(digits(v, buf + sizeof buf));
}

static __attribute__((noreturn)) void finish(const char *how) {
    restore_thread_pointer();
    if (st.persistent && getpid() != st.harness)
        _exit(0);
    if (protect_state(1))
        _exit(5);
    st.finishing = st.seq + 1;
    if (st.persistent) {
        /* No SIGALRM from here on (one already pending comes at this syscall's return and
         * answers instead of this call); one that comes after the answer was written ends
         * nothing more. */
        static const struct itimerval off;
        setitimer(ITIMER_REAL, &off, 0);
        if (st.answered == st.seq)
            siglongjmp(st.next_input, 1);
    }
    line_len = 0;
    put("insn_fuzz");
    if (st.persistent) {
        put(" ");
        put_num(st.seq);
    }
    put(": ");
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
    for (const char *p = line; line_len;) {
        ssize_t w = write(ANSWER_FD, p, line_len);
        if (w <= 0)
            break;
        p += w;
        line_len -= (size_t)w;
    }
    st.answered = st.seq;
    if (st.persistent)
        siglongjmp(st.next_input, 1);
    _exit(0);
}

static void on_alarm(int sig) {
    (void)sig;
    finish("at the time limit");
}

static void on_fault(int sig, siginfo_t *si, void *ctx) {
    (void)si;
    restore_thread_pointer();
    if (st.persistent && getpid() != st.harness)
        _exit(0);
    /* Persistent, between inputs (the last one answered, the next one's words not begun): the
     * harness's own code faulted, so the words left it broken (a stack frame or glibc's data
     * overwritten). Going back for the next input went round for ever, each time taking four
     * bytes of the pipe as a header and faulting again, and the driver waited 5 s for an
     * answer: the machine ends instead, and the driver starts a new one at once. */
    if (st.persistent && st.answered == st.seq)
        _exit(6);
    /* The harness faulted while answering (the words broke what finish() calls: a DC ZVA at
     * an address they built zeroed glibc's function pointers, and strlen jumped to 0). The
     * handler called finish() again, which faulted again: a signal storm that never answered
     * (SA_NODEFER, and each frame back at the top of the alternate stack, as Linux puts it),
     * and the driver waited 5 s for each, 34 of 3,983 inputs of an arm64 libFuzzer corpus.
     * The machine ends instead (persistent: the driver starts a new one at once). */
    if (st.finishing == st.seq + 1)
        _exit(6);
    faults++;
    counts[sig]++;
#ifdef __aarch64__
    ucontext_t *uc = ctx;
    uintptr_t pc = uc->uc_mcontext.pc;
#else
    struct sigcontext *sc = ctx;
    uintptr_t pc = sc->sigc_regs.tpc;
#endif
    if (pc == (uintptr_t)st.code_end)
        finish("at the end of the words");
    if (pc < (uintptr_t)st.code || pc > (uintptr_t)st.code_end)
        finish("outside the words");
    if (faults >= MAX_FAULTS)
        finish("at the fault cap");
#ifndef __aarch64__
    /* Words that left %sp misaligned: sigreturn refuses the frame (do_rt_sigreturn checks
     * the restored %sp) and SIGSEGV, blocked in this handler, kills the process; the input
     * ends here instead, and the machine goes on. */
    if ((sc->sigc_regs.u_regs[14] + 2047) & 7)
        finish("with a misaligned stack pointer");
#endif
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

#define WORDS_STACK_LEN (64 * 1024)

/* Handlers (the fault signals and, persistent, SIGALRM) on the alternate stack, nothing
 * blocked. */
static int setup_signals(void) {
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    if (sigaltstack(&ss, 0))
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    /* SA_NODEFER: a fault the kernel forces while a handler runs or returns (a sigreturn
     * that refuses the frame the words left, a deferred ADI error delivered at the handler's
     * entry) would find its signal blocked and kill the process (force_sig resets it to the
     * default); unblocked, it comes here, outside the words, and ends the input. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    const int sigs[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP,
#ifdef SIGEMT
                        SIGEMT, /* SPARC's tagged-arithmetic overflow (counted in the total only) */
#endif
    };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, 0))
            return -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_ONSTACK;
    if (st.persistent && sigaction(SIGALRM, &sa, 0))
        return -1;
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, 0);
}

/* The code and data mappings. (Persistent, they are made once: each input rewrites the
 * words and zeroes and retags the data. A fresh mapping per input would have the machine
 * drop its translations and host pages each time; words that unmapped or reprotected them
 * kill the harness, and the driver starts a new machine.) */
static int map_areas(void) {
    void *c = mmap(0, MAX_CODE + 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED)
        return -1;
    st.code = c;
#ifdef __aarch64__
    const int prot_tag = 0x20; /* PROT_MTE */
#else
    /* Without ADI (--no-adi: a T4-like CPU) the data is plain memory: the versions in the
     * pointers then make them addresses in the VA hole. */
    const int prot_tag = (getauxval(AT_HWCAP) & 0x08000000UL /* HWCAP_SPARC_ADI */) ? 0x10 /* PROT_ADI */ : 0;
#endif
    st.data_prot = PROT_READ | PROT_WRITE | prot_tag;
    void *d = mmap(0, DATA_LEN, st.data_prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (d == MAP_FAILED)
        return -1;
    st.data = d;
    void *s = mmap(0, WORDS_STACK_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return -1;
    st.words_stack = s;
    return 0;
}

/* Every other catchable signal ignored (once, at start): the words may send the process
 * any (kill, tgkill with what the registers hold), and most would end it. */
static void ignore_other_signals(void) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGILL && s != SIGSEGV && s != SIGBUS && s != SIGFPE && s != SIGTRAP)
            sigaction(s, &ign, 0); /* SIGKILL, SIGSTOP and glibc's own: EINVAL, as they are */
}

/* Read exactly n bytes of fd; 0 at end of file (or an error) before they came. */
static int read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

/* Give the mapping at `at` its protection back; when that fails (the words unmapped part of
 * it, or put a mapping there that cannot take it), map it again, fresh, where it was. */
static int restore_area(void *at, size_t len, int prot) {
    if (mprotect(at, len, prot) == 0)
        return 0;
    return mmap(at, len, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == at ? 0 : -1;
}

/* Zero the mapping at `at` (contents and tags), mapping it afresh when MADV_DONTNEED refuses. */
static int zero_area(void *at, size_t len, int prot) {
    if (madvise(at, len, MADV_DONTNEED) == 0)
        return 0;
    return mmap(at, len, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == at ? 0 : -1;
}

static __attribute__((noreturn)) void run_words(size_t len);

/* The persistent loop: every finish() comes back here. */
static __attribute__((noreturn)) void serve(void) {
    static unsigned char words[MAX_CODE];
    static size_t len;
    /* (The time limit was disarmed by finish(), which every input ends in.) */
    sigsetjmp(st.next_input, 1);
    unsigned char hdr[4];
    if (!read_full(INPUT_FD, hdr, 4))
        _exit(0);
    len = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
    if (len > MAX_CODE || !read_full(INPUT_FD, words, len))
        _exit(2);
    /* Children the words forked that ended are reaped (the machine's process table stays
     * small); one still running its copy of the words goes on until it faults or ends. */
    while (waitpid(-1, 0, WNOHANG) > 0)
        ;
    st.seq++;
    faults = 0;
    memset(counts, 0, sizeof counts);
    if (setup_signals())
        _exit(3);
    /* The mappings as they were made, whatever the last words did to them (reprotected,
     * unmapped or replaced them: each of these took the machine down before). */
    if (restore_area(st.code, MAX_CODE + 4096, PROT_READ | PROT_WRITE | PROT_EXEC) ||
        restore_area(st.data, DATA_LEN, st.data_prot) || restore_area(st.words_stack, WORDS_STACK_LEN, PROT_READ | PROT_WRITE))
        _exit(4);
    memcpy(st.code, words, len);
    run_words(len);
}

int main(int argc, char **argv) {
    st.persistent = argc > 1 && strcmp(argv[1], "--persistent") == 0;
    st.harness = getpid();
#ifdef __aarch64__
    __asm__ volatile("mrs %0, tpidr_el0" : "=r"(st.thread_pointer));
#else
    __asm__ volatile("mov %%g7, %0" : "=r"(st.thread_pointer));
#endif
    if (map_areas())
        return 1;
    ignore_other_signals();
    if (dup2(1, ANSWER_FD) != ANSWER_FD)
        return 1;
    /* At most MAX_PROCESSES processes, the harness included (soft and hard limit: the words
     * run as an ordinary user and cannot raise it). Words that fork or vfork in a loop made
     * 4,096 copies, the machine's cap, and every scheduling point then looked at each; a
     * vfork chain of them left every ancestor, the harness too, waiting for its deepest copy,
     * which looped with no timer of its own until the driver gave the machine up. */
    struct rlimit nproc = {MAX_PROCESSES, MAX_PROCESSES};
    if (setrlimit(RLIMIT_NPROC, &nproc))
        return 1;
    if (st.persistent) {
        /* stdin itself becomes /dev/null: words that read fd 0 (or pread it) took the next
         * input's bytes, or waited on the driver's pipe for ever. */
        int null = open("/dev/null", O_RDWR);
        if (dup2(0, INPUT_FD) != INPUT_FD || null < 0 || dup2(null, 0) != 0)
            return 1;
        close(null);
        serve();
    }
    if (setup_signals())
        return 1;
    int fd = open(argc > 1 ? argv[1] : "/input", O_RDONLY);
    size_t len = 0;
    if (fd >= 0) {
        ssize_t n;
        while (len < MAX_CODE && (n = read(fd, (char *)st.code + len, MAX_CODE - len)) > 0)
            len += (size_t)n;
        close(fd);
    }
    run_words(len);
}

/* Tag the data, load the registers and jump to the words (`len` bytes at `code`). */
static __attribute__((noreturn)) void run_words(size_t len) {
    len &= ~(size_t)3;
    st.code_end = (uint32_t *)((char *)st.code + len);
    *st.code_end = 0;
    /* A branch back to the zero word after it: it ends the translation block there. (A
     * translation block goes on past an undefined word, tagmmu's MTE instructions being
     * ones, so without it every input translated up to 512 words of what the page held after
     * its own: two thirds of the time per input.) Words that jump to it end at the zero
     * word. */
#ifdef __aarch64__
    st.code_end[1] = 0x17ffffff; /* b .-4 */
#else
    st.code_end[1] = 0x30bfffff; /* ba,a .-4 */
#endif

    /* Persistent: the data the last input left, zero again (contents and tags). Words that
     * locked memory (mlock, mlockall) made MADV_DONTNEED refuse it (EINVAL): unlocked first,
     * and mapped afresh if it still refuses. */
    if (st.persistent && (munlockall() || zero_area(st.data, DATA_LEN, st.data_prot) ||
                       zero_area(st.words_stack, WORDS_STACK_LEN, PROT_READ | PROT_WRITE)))
        _exit(4);
#ifdef __aarch64__
    /* Sync tag checks, every tag allowed for IRG (PR_MTE_TAG_MASK = 0xffff << 3). */
    if (prctl(PR_SET_TAGGED_ADDR_CTRL, 1UL | (1UL << 1) | (0xfffeUL << 3), 0, 0, 0))
        _exit(1);
    /* Tag checks not overridden (PSTATE.TCO: the words may have set it), FP control and
     * status as a new program's. */
    __asm__ volatile(".word 0xd503409f\n\t" /* msr tco, #0 (no +memtag: common source) */
                     "msr fpcr, xzr\n\t"
                     "msr fpsr, xzr" ::: "memory");
    for (unsigned long g = 0; g < DATA_LEN / 16; g++) {
        register char *p __asm__("x0") = (char *)((uintptr_t)(st.data + g * 16) | (tag_of(g) << 56));
        /* stg x0, [x0] (no +memtag: common source) */
        __asm__ volatile(".word 0xd9200800" ::"r"(p) : "memory");
    }
    const unsigned shift = 56;
#else
    if (getauxval(AT_HWCAP) & 0x08000000UL /* HWCAP_SPARC_ADI */) {
        __asm__ volatile(".word 0x9d802001" ::: "memory"); /* wr %g0, 1, %asr14: precise stores */
        for (unsigned long b = 0; b < DATA_LEN / 64; b++)
            __asm__ volatile("stxa %0, [%1] 0x90" ::"r"(tag_of(b)), "r"(st.data + b * 64) : "memory");
    }
    const unsigned shift = 60;
#endif
    /* The input's time limit starts now. */
    if (st.persistent) {
        struct itimerval limit;
        memset(&limit, 0, sizeof limit);
        limit.it_value.tv_usec = ITERATION_NS / 1000;
        setitimer(ITIMER_REAL, &limit, 0);
    }
    /* The harness's state is out of the words' reach until finish(). */
    if (protect_state(0))
        _exit(5);
    /* Register i: a pointer 1 KiB * i into the data (whose granule/block there has tag i % 16)
     * with the matching tag, or (i % 4 == 1) the next tag, or (i % 4 == 3) a small number.
     * The syscall-number register starts as getpid. */
    for (unsigned long i = 0; i < 32; i++) {
        unsigned long tag = (i + (i % 4 == 1)) % 16;
        regs[i] = i % 4 == 3 ? i * 8 : (uintptr_t)(st.data + (i * 1024) % DATA_LEN) | (tag << shift);
    }

#ifdef __aarch64__
    regs[8] = 172; /* __NR_getpid */
    regs[30] = (uintptr_t)st.code;
    /* The words' stack pointer: the middle of their own stack (the harness's frames stay
     * out of their reach, as on SPARC). */
    regs[31] = (uintptr_t)st.words_stack + WORDS_STACK_LEN / 2;
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
                     "ldr x29, [x30, #248]\n\t"
                     "mov sp, x29\n\t"
                     "ldr x29, [x30, #232]\n\t"
                     "ldr x30, [x30, #240]\n\t"
                     "br x30" ::"r"(r)
                     : "memory");
#else
    regs[1] = 20; /* %g1 = __NR_getpid */
    regs[31] = (uintptr_t)st.code;
    /* The words get a stack of their own, %sp in its middle and %fp above (a frame of zeros),
     * and the harness's windows are flushed first: the windows the words spill, and those
     * they fill with RESTOREs, are all on that stack. On the harness's, words that moved %sp
     * or %fp spilled over its frames (SAVE %sp, +320, %sp, then a flush), and the next input
     * found serve()'s frame trashed: it read its input and answered nothing the driver
     * understood, which cost a 5 s timeout and a new machine. */
    regs[14] = (uintptr_t)st.words_stack + WORDS_STACK_LEN / 2 - 2047;
    regs[30] = (uintptr_t)st.words_stack + WORDS_STACK_LEN * 3 / 4 - 2047;
    register unsigned long *r __asm__("o7") = regs;
    /* %g1-%g5, %o0-%o6, %l0-%l7, %i0-%i6 (the TLS register stays). */
    __asm__ volatile("flushw\n\t"
                     "ldx [%%o7 + 8], %%g1\n\t"
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
                     "ldx [%%o7 + 112], %%o6\n\t"
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
                     "ldx [%%o7 + 240], %%i6\n\t"
                     "ldx [%%o7 + 248], %%o7\n\t"
                     "jmp %%o7\n\t"
                     " nop" ::"r"(r)
                     : "memory");
#endif
    __builtin_unreachable();
}
