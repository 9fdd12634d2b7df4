// idregs: the ID registers EL0 may read with MRS (Linux emulates them: HWCAP_CPUID), checked
// against AT_HWCAP, plus TPIDR_EL0. With argv[1] = "unemulated" it reads ID_PFR0_EL1
// (CRm=1, not emulated by Linux: SIGILL); with "privileged" it runs `msr daifset, #2`
// (SIGILL at EL0).
// Expected: "idregs: all ok", exit 0; the two variants die of SIGILL (exit 132).
// tagmmu: not-differential (the CPU model, and so the ID register values, differ from QEMU's)
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>


#define READ(reg) ({ uint64_t v; __asm__ volatile("mrs %0, " reg : "=r"(v)); v; })

static int fails;
static void check(const char *what, int ok) {
    if (!ok) {
        printf("FAIL: %s\n", what);
        fails++;
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "unemulated") == 0) {
        printf("reading ID_PFR0_EL1\n");
        fflush(stdout);
        printf("%lx\n", (unsigned long)READ("s3_0_c0_c1_0"));
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "privileged") == 0) {
        printf("masking interrupts\n");
        fflush(stdout);
        __asm__ volatile("msr daifset, #2");
        return 1;
    }
    unsigned long hwcap = getauxval(AT_HWCAP);
    check("HWCAP_CPUID", hwcap & HWCAP_CPUID);
    uint64_t midr = READ("midr_el1");
    check("MIDR.Architecture = 0xf", ((midr >> 16) & 0xf) == 0xf);
    check("MPIDR is 0x80000000", READ("mpidr_el1") == 0x80000000);
    check("REVIDR is 0", READ("revidr_el1") == 0);
    uint64_t pfr0 = READ("id_aa64pfr0_el1");
    check("PFR0.EL0 = 1", (pfr0 & 0xf) == 1);
    check("PFR0.EL1 = 1", ((pfr0 >> 4) & 0xf) == 1);
    check("PFR0.SVE agrees with HWCAP_SVE", (((pfr0 >> 32) & 0xf) != 0) == !!(hwcap & HWCAP_SVE));
    uint64_t isar0 = READ("id_aa64isar0_el1");
    check("ISAR0.AES agrees with HWCAP_AES", (((isar0 >> 4) & 0xf) >= 1) == !!(hwcap & HWCAP_AES));
    check("ISAR0.ATOMIC agrees with HWCAP_ATOMICS", (((isar0 >> 20) & 0xf) >= 2) == !!(hwcap & HWCAP_ATOMICS));
    check("DFR0 reads 6", READ("id_aa64dfr0_el1") == 6);
    check("reserved ID encoding reads 0", READ("s3_0_c0_c4_3") == 0);
    uint64_t old = READ("tpidr_el0");
    __asm__ volatile("msr tpidr_el0, %0" ::"r"(0x1234abcdUL));
    check("TPIDR_EL0 round trip", READ("tpidr_el0") == 0x1234abcd);
    __asm__ volatile("msr tpidr_el0, %0" ::"r"(old));
    if (fails)
        return 1;
    puts("idregs: all ok");
    return 0;
}
