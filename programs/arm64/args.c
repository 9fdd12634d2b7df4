// args.c - argv, environment and ELF auxiliary vector checks.
// Exercises: initial stack layout built by the loader (argc/argv/envp/auxv),
//            getauxval for AT_PAGESZ, AT_PLATFORM, AT_EXECFN, AT_RANDOM,
//            AT_ENTRY, AT_PHDR/AT_PHNUM, AT_HWCAP, AT_SECURE.
// argv: any; e.g. `args one "two words" three`. Optional env TAGMMU_TEST_VAR.
// Expected stdout: "argc: N", one "argv[i]: ..." line per argument,
//   "TAGMMU_TEST_VAR: <value or (unset)>", "pagesz: 4096", "platform: aarch64",
//   "execfn: ok", "random: ok", "entry: ok", "phdr: ok", "hwcap: ok",
//   "secure: ok", "args: all ok"
// Expected exit status: 0 (1 and a "FAIL: ..." line if a check fails)
// Note: argv[0] is printed verbatim, so invoke it with the same path string
//   under both runners (e.g. from the same cwd).
// tagmmu: differential (given identical argv, incl. argv[0], and TAGMMU_TEST_VAR)
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#ifndef HWCAP_FP
#define HWCAP_FP (1UL << 0)
#endif
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif

static int failures;

static void fail(const char *what)
{
    printf("FAIL: %s\n", what);
    failures++;
}

int main(int argc, char **argv)
{
    printf("argc: %d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]: %s\n", i, argv[i]);
    if (argv[argc] != NULL)
        fail("argv not NULL-terminated");

    const char *var = getenv("TAGMMU_TEST_VAR");
    printf("TAGMMU_TEST_VAR: %s\n", var ? var : "(unset)");

    unsigned long pagesz = getauxval(AT_PAGESZ);
    printf("pagesz: %lu\n", pagesz);
    if (pagesz != 4096)
        fail("AT_PAGESZ != 4096");

    const char *platform = (const char *)getauxval(AT_PLATFORM);
    printf("platform: %s\n", platform ? platform : "(null)");
    if (platform == NULL || strcmp(platform, "aarch64") != 0)
        fail("AT_PLATFORM != aarch64");

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
    if ((hwcap & HWCAP_FP) && (hwcap & HWCAP_ASIMD))
        puts("hwcap: ok");
    else
        fail("AT_HWCAP lacks FP/ASIMD");

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
