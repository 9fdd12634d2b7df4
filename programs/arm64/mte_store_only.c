// mte_store_only: MTE store-only tag checking (Linux 6.17, FEAT_MTE_STORE_ONLY), as the kernel
// selftests check it (check_prctl.c's store-only rows, check_mmap_options.c's "store-only"
// cases): HWCAP3_MTE_STORE_ONLY, the PR_MTE_STORE_ONLY prctl round trip, and on a PROT_MTE
// buffer with a mistagged granule: stores fault (SEGV_MTESERR in sync mode), loads do not, and
// the kernel's copy_from_user (write()) reads the mistagged granule while its copy_to_user
// (read()) still stops there.
// Prints one line per check; exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (qemu-aarch64 7.2 has no FEAT_MTE_STORE_ONLY)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>

#include "mte_util.h"

#ifndef AT_HWCAP3
#define AT_HWCAP3 29
#endif
#define HWCAP3_MTE_STORE_ONLY (1UL << 1)
#define PR_MTE_STORE_ONLY (1UL << 19)

int main(void) {
    unsigned long h3 = getauxval(AT_HWCAP3);
    printf("hwcap3 store_only: %d\n", (h3 & HWCAP3_MTE_STORE_ONLY) != 0);
    unsigned long arg = TAG_ENABLE | TCF_SYNC | PR_MTE_STORE_ONLY | INCL(0xfffe);
    if (prctl(PR_SET_TAGGED_ADDR_CTRL, arg, 0, 0, 0) != 0) {
        printf("prctl store-only: -1 %s\n", strerrorname_np(errno));
        return 0;
    }
    long got = prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0);
    printf("prctl store-only: 0, get %s\n", (unsigned long)got == arg ? "round-trips" : "DIFFERS");
    install_handler(0);
    char *m = map_mte(2 * 4096);
    char *p = tag_ptr(m, 3);
    for (int g = 0; g < 2 * 4096; g += 16)
        stg(p + g);
    stg(tag_ptr(m + 64, 5));
    volatile char *bad = p + 64;
    char c = bad[0];
    printf("load through tag 3 from a granule tagged 5: %d fault(s)\n", faults);
    bad[0] = c;
    printf("store: %d fault(s), si_code %d\n", faults, last_code);
    int fd = open("/tmp/stonly", O_CREAT | O_RDWR | O_TRUNC, 0600);
    long w = write(fd, p, 256);
    printf("write() from the buffer (copy_from_user: loads): %ld\n", w);
    long r = pread(fd, p, 256, 0);
    printf("read() into the buffer (copy_to_user: stores): %ld\n", r);
    return 0;
}
