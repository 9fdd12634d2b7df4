// mte_async_fault: async mode. A mismatching store is performed; SIGSEGV/SEGV_MTEAERR (8) with
// si_addr 0 arrives at the next kernel entry (here: getpid), not before.
// Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (QEMU delivers async faults at the next translation block; Linux at the next kernel entry)
#include "mte_util.h"

int main(void) {
    int failed = 0;
    set_mode(TCF_ASYNC, 0xfffe);
    install_handler(0);
    char *p = map_mte(4096);
    stg(tag_ptr(p, 6));
    volatile char *bad = tag_ptr(p, 2);
    bad[0] = 77;
    int before = faults;
    CHECK(before == 0, "no signal before the next kernel entry");
    CHECK(((char *)tag_ptr(p, 6))[0] == 77, "the mismatching store was performed");
    getpid();
    CHECK(faults == 1 && last_code == 8 && last_addr == 0, "SIGSEGV SEGV_MTEAERR with si_addr 0 at the syscall");
    return failed;
}
