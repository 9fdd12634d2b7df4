// adi_doc_example: the example program of Linux's Documentation/arch/sparc/adi.rst, written
// anew: find the ADI block size and version width in the auxiliary vector, create and attach
// a System V shared-memory segment, enable ADI on it with mprotect(PROT_ADI), give every
// 64-byte block version 10 with `stxa ... ASI_MCD_PRIMARY`, then write and read the whole
// segment through a pointer carrying version 10 in bits 63:60, and finally turn ADI off,
// detach and remove the segment. None of those accesses may fault.
// argv: [SIZE_MIB] [mismatch]
//   SIZE_MIB: segment size in MiB (the document uses 32; default 32);
//   mismatch: before cleaning up, read one byte through a pointer of version 5, the case the
//             document's "ADI related traps" section describes: a load mismatch is always a
//             precise trap, SIGSEGV with si_code SEGV_ADIPERR and si_addr the address read.
// Expected stdout (no "mismatch"): the capabilities, "Starting the writes:" with one dot per
// MiB, "Verifying data...Done.", "ADI example: all ok"; exit 0. With "mismatch": the guest dies
// of SIGSEGV (SEGV_ADIPERR) at the version-5 address (exit 139).
// tagmmu: not-differential (qemu-sparc64 has no ADI)
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "adi_util.h"

int main(int argc, char **argv) {
    unsigned long mib = 32;
    int mismatch = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "mismatch") == 0)
            mismatch = 1;
        else
            mib = strtoul(argv[i], NULL, 10);
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    unsigned long size = mib << 20;

    /* 1. What the hardware offers, from the auxiliary vector. */
    unsigned long blksz = getauxval(AT_ADI_BLKSZ), nbits = getauxval(AT_ADI_NBITS);
    if (blksz == 0) {
        printf("This machine has no ADI.\n");
        return 1;
    }
    printf("ADI: block size %lu bytes, %lu version bits\n", blksz, nbits);

    /* 2. A shared-memory segment, attached anywhere. */
    int id = shmget(2, size, IPC_CREAT | SHM_R | SHM_W);
    if (id < 0) {
        perror("shmget");
        return 1;
    }
    char *base = shmat(id, NULL, 0);
    if (base == (void *)-1) {
        perror("shmat");
        shmctl(id, IPC_RMID, NULL);
        return 1;
    }

    /* 3. ADI on for the segment (this also enables ADI for the task). */
    int status = 1;
    if (mprotect(base, size, PROT_READ | PROT_WRITE | PROT_ADI) != 0) {
        perror("mprotect PROT_ADI");
        goto out;
    }

    /* 4. Version 10 on every block, then a pointer that carries it in its top nbits. */
    unsigned long version = 10;
    for (char *p = base; p < base + size; p += blksz)
        set_version(p, version);
    membar_sync();
    unsigned long raw = ((unsigned long)base << nbits) >> nbits;
    volatile char *versioned = (char *)((version << (64 - nbits)) | raw);

    /* 5. Write every byte through the versioned pointer, a dot per MiB. */
    printf("Starting the writes:");
    for (unsigned long i = 0; i < size; i++) {
        versioned[i] = (char)i;
        if ((i & ((1UL << 20) - 1)) == 0)
            printf(".");
    }
    printf("\n");

    /* 6. Read it all back through the same pointer. */
    printf("Verifying data...");
    unsigned long bad = 0;
    for (unsigned long i = 0; i < size; i++)
        if (versioned[i] != (char)i)
            bad++;
    printf("%s\n", bad ? "MISMATCH" : "Done.");

    if (mismatch) {
        /* The document's trap table: a load with a non-matching version is a precise trap. */
        volatile char *wrong = (char *)((5UL << (64 - nbits)) | raw);
        printf("Reading through version 5 at offset 4096...\n");
        (void)wrong[4096];
        printf("not reached\n");
    }

    /* 7. ADI off, detach, remove. */
    if (mprotect(base, size, PROT_READ | PROT_WRITE) != 0) {
        perror("mprotect");
        goto out;
    }
    status = bad != 0;
out:
    shmdt(base);
    shmctl(id, IPC_RMID, NULL);
    if (status == 0)
        printf("ADI example: all ok\n");
    return status;
}
