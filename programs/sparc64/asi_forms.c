// asi_forms: alternate-space loads and stores in every form tagmmu handles.
// Exercises: ldxa/stxa with an immediate ASI (primary 0x80, little-endian primary 0x88) and
//            through %asi (which tagmmu intercepts and emulates: its ASI is known only at run
//            time); non-faulting loads (ASI_PNF 0x82) of mapped memory and of an unmapped
//            page (zero, no fault) in both forms; byte, half, word and signed loads with
//            ASI_PNF; the %asi register itself (rd/wr). Under tagmmu the immediate forms run
//            on the CPU, the %asi ldxa/stxa are emulated, the ASI_PNF loads are completed by
//            the kernel-side non-faulting-load handler.
// argv: none.
// Expected stdout: one "asi_forms: <check> ok" line per check, then "asi_forms: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: differential
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static int failed;
static void check(int ok, const char *what) {
    if (ok)
        printf("asi_forms: %s ok\n", what);
    else {
        printf("FAIL: %s\n", what);
        failed = 1;
    }
}

#define STXA_IMM(asi, v, p) __asm__ volatile("stxa %0, [%1] " #asi ::"r"(v), "r"(p) : "memory")
#define LDXA_IMM(asi, p)                                                       \
    ({                                                                         \
        uint64_t r_;                                                           \
        __asm__ volatile("ldxa [%1] " #asi ", %0" : "=r"(r_) : "r"(p) : "memory"); \
        r_;                                                                    \
    })

static inline void set_asi(unsigned asi) { __asm__ volatile("wr %%g0, %0, %%asi" ::"r"(asi) : "memory"); }
static inline unsigned get_asi(void) {
    uint64_t a;
    __asm__ volatile("rd %%asi, %0" : "=r"(a));
    return (unsigned)a;
}
static inline void stxa_asi(uint64_t v, void *p) { __asm__ volatile("stxa %0, [%1 + 0] %%asi" ::"r"(v), "r"(p) : "memory"); }
static inline uint64_t ldxa_asi(void *p) {
    uint64_t r;
    __asm__ volatile("ldxa [%1 + 0] %%asi, %0" : "=r"(r) : "r"(p) : "memory");
    return r;
}

int main(void) {
    uint64_t *buf = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *bytes = (unsigned char *)buf;
    /* (Linux starts a task with %asi = ASI_PNF, but glibc's block copies leave ASI_BLK_P.) */
    unsigned saved = get_asi();

    STXA_IMM(0x80, 0x0102030405060708UL, &buf[0]);
    check(buf[0] == 0x0102030405060708UL && LDXA_IMM(0x80, &buf[0]) == buf[0], "immediate ASI_P");
    STXA_IMM(0x88, 0x0102030405060708UL, &buf[1]);
    check(bytes[8] == 0x08 && bytes[15] == 0x01, "immediate ASI_PL stores little-endian");
    check(LDXA_IMM(0x88, &buf[1]) == 0x0102030405060708UL, "immediate ASI_PL loads little-endian");

    set_asi(0x80);
    stxa_asi(0x1111222233334444UL, &buf[2]);
    check(buf[2] == 0x1111222233334444UL && ldxa_asi(&buf[2]) == buf[2], "%asi = ASI_P");
    set_asi(0x88);
    stxa_asi(0xa1a2a3a4a5a6a7a8UL, &buf[3]);
    check(bytes[24] == 0xa8 && ldxa_asi(&buf[3]) == 0xa1a2a3a4a5a6a7a8UL, "%asi = ASI_PL");
    check(get_asi() == 0x88, "rd %asi");

    /* Non-faulting loads: mapped memory reads normally, an unmapped page reads zero. */
    set_asi(0x82);
    check(ldxa_asi(&buf[2]) == 0x1111222233334444UL, "%asi = ASI_PNF, mapped");
    uint64_t *hole = mmap(0, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 8192);
    check(ldxa_asi(hole) == 0 && LDXA_IMM(0x82, hole) == 0, "ASI_PNF of an unmapped page is zero, no fault");
    check(LDXA_IMM(0x8a, &buf[3]) == 0xa1a2a3a4a5a6a7a8UL, "immediate ASI_PNFL");
    unsigned char ub;
    short sh;
    int sw;
    __asm__ volatile("lduba [%1] 0x82, %0" : "=r"(ub) : "r"(bytes + 24));
    __asm__ volatile("ldsha [%1] 0x82, %0" : "=r"(sh) : "r"(bytes + 24));
    __asm__ volatile("ldswa [%1] 0x82, %0" : "=r"(sw) : "r"(bytes + 24));
    check(ub == 0xa8 && sh == (short)0xa8a7 && sw == (int)0xa8a7a6a5, "ASI_PNF bytes, halves, signed words");
    set_asi(saved);
    if (failed)
        return 1;
    puts("asi_forms: all ok");
    return 0;
}
