// args.c - argv, environment and ELF auxiliary vector checks.
// Exercises: initial stack layout built by the loader (argc/argv/envp/auxv, walked directly
//            from envp as well as through getauxval), getauxval for AT_PAGESZ, AT_PLATFORM,
//            AT_EXECFN, AT_RANDOM, AT_ENTRY, AT_PHDR/AT_PHNUM, AT_HWCAP, AT_SECURE.
//            sparc64 Linux has no AT_PLATFORM and no AT_HWCAP2 entry (ELF_PLATFORM and
//            ELF_HWCAP2 are not defined for it), so getauxval(AT_PLATFORM) must be 0 with
//            errno ENOENT and neither tag may appear in the vector.
// argv: any; e.g. `args one "two words" three`. Optional env TAGMMU_TEST_VAR.
// Expected stdout: "argc: N", one "argv[i]: ..." line per argument,
//   "TAGMMU_TEST_VAR: <value or (unset)>", "pagesz: 8192", "platform: (none)",
//   "auxv: ok", "execfn: ok", "random: ok", "entry: ok", "phdr: ok", "hwcap: ok",
//   "secure: ok", "args: all ok"
// Expected exit status: 0 (1 and a "FAIL: ..." line if a check fails)
// Note: argv[0] is printed verbatim, so invoke it with the same path string
//   under both runners (e.g. from the same cwd).
// tagmmu: differential (given identical argv, incl. argv[0], and TAGMMU_TEST_VAR)
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#ifndef HWCAP_SPARC_FLUSH
#define HWCAP_SPARC_FLUSH 0x01
#define HWCAP_SPARC_STBAR 0x02
#define HWCAP_SPARC_SWAP 0x04
#define HWCAP_SPARC_MULDIV 0x08
#define HWCAP_SPARC_V9 0x10
#endif
/* What every sparc64 kernel reports (sparc64_elf_hwcap sets these unconditionally). */
#define HWCAP_SPARC64_BASE \
    (HWCAP_SPARC_FLUSH | HWCAP_SPARC_STBAR | HWCAP_SPARC_SWAP | HWCAP_SPARC_MULDIV | HWCAP_SPARC_V9)

static int failures;

static void fail(const char *what)
{
    printf("FAIL: %s\n", what);
    failures++;
}

int main(int argc, char **argv, char **envp)
{
    printf("argc: %d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]: %s\n", i, argv[i]);
    if (argv[argc] != NULL)
        fail("argv not NULL-terminated");
    if (envp != argv + argc + 1)
        fail("envp does not follow argv's NULL");

    const char *var = getenv("TAGMMU_TEST_VAR");
    printf("TAGMMU_TEST_VAR: %s\n", var ? var : "(unset)");

    unsigned long pagesz = getauxval(AT_PAGESZ);
    printf("pagesz: %lu\n", pagesz);
    if (pagesz != 8192)
        fail("AT_PAGESZ != 8192");

    errno = 0;
    const char *platform = (const char *)getauxval(AT_PLATFORM);
    int platform_errno = errno;
    printf("platform: %s\n", platform ? platform : "(none)");
    if (platform != NULL || platform_errno != ENOENT)
        fail("getauxval(AT_PLATFORM) is not 0/ENOENT (sparc64 Linux has no AT_PLATFORM)");

    /* The vector itself: right after envp's NULL, (type, value) pairs up to AT_NULL. */
    char **e = envp;
    while (*e != NULL)
        e++;
    const ElfW(auxv_t) *av = (const ElfW(auxv_t) *)(e + 1);
    int n = 0, have_pagesz = 0, have_bad = 0;
    for (; av->a_type != AT_NULL && n < 256; av++, n++) {
        if (av->a_type == AT_PAGESZ && av->a_un.a_val == pagesz)
            have_pagesz = 1;
        if (av->a_type == AT_PLATFORM || av->a_type == AT_HWCAP2)
            have_bad = 1;
    }
    if (n < 256 && have_pagesz && !have_bad)
        puts("auxv: ok");
    else
        fail("raw auxv: no AT_NULL, no AT_PAGESZ, or an AT_PLATFORM/AT_HWCAP2 entry");

    const char *execfn = (const char *)getauxval(AT_EXECFN);
    if (execfn != NULL && strlen(execfn) > 0)
        puts("execfn: ok");
    else
        fail("AT_EXECFN missing");

    const volatile unsigned char *rnd =
        (const volatile unsigned char *)getauxval(AT_RANDOM);
    if (rnd != NULL) {
        unsigned sum = 0;
        for (int i = 0; i < 16; i++)
            sum += rnd[i];
        (void)sum;
        puts("random: ok");
    } else {
        fail("AT_RANDOM missing");
    }

    unsigned long entry = getauxval(AT_ENTRY);
    if (entry != 0)
        puts("entry: ok");
    else
        fail("AT_ENTRY is zero");

    const ElfW(Phdr) *phdr = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    unsigned long phnum = getauxval(AT_PHNUM);
    unsigned long phent = getauxval(AT_PHENT);
    int have_load = 0, entry_in_exec_load = 0;
    if (phdr != NULL && phnum > 0 && phnum < 256 &&
        (phent == 0 || phent == sizeof(ElfW(Phdr)))) {
        for (unsigned long i = 0; i < phnum; i++) {
            if (phdr[i].p_type != PT_LOAD)
                continue;
            have_load = 1;
            if ((phdr[i].p_flags & PF_X) && entry >= phdr[i].p_vaddr &&
                entry < phdr[i].p_vaddr + phdr[i].p_memsz)
                entry_in_exec_load = 1;
        }
    }
    if (have_load && entry_in_exec_load)
        puts("phdr: ok");
    else
        fail("AT_PHDR/AT_PHNUM inconsistent (no PT_LOAD or entry not in an executable PT_LOAD)");

    unsigned long hwcap = getauxval(AT_HWCAP);
    if ((hwcap & HWCAP_SPARC64_BASE) == HWCAP_SPARC64_BASE)
        puts("hwcap: ok");
    else
        fail("AT_HWCAP lacks FLUSH/STBAR/SWAP/MULDIV/V9");

    if (getauxval(AT_SECURE) == 0)
        puts("secure: ok");
    else
        fail("AT_SECURE != 0");

    if (failures) {
        printf("args: %d failure(s)\n", failures);
        return 1;
    }
    puts("args: all ok");
    return 0;
}
