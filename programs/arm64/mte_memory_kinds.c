// mte_memory_kinds: memory without PROT_MTE is never checked (STG ignored, LDG reads 0);
// mprotect(PROT_MTE) turns checking on; mprotect without PROT_MTE cannot turn it off;
// MADV_DONTNEED resets tags to 0; PROT_MTE on a MAP_SHARED /dev/shm file shares its tags.
// Expected: "...: ok" lines, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (QEMU 7.2 keeps no tags for file-backed mappings)
#include <fcntl.h>
#include <stdlib.h>
#include "mte_util.h"

int main(void) {
    int failed = 0;
    set_mode(TCF_SYNC, 0xfffe);
    install_handler(0);
    char *plain = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stg(tag_ptr(plain, 7));
    CHECK(ldg(plain) == 0, "no PROT_MTE: STG ignored, LDG reads 0");
    ((volatile char *)tag_ptr(plain, 9))[0] = 1;
    CHECK(faults == 0, "no PROT_MTE: no check");
    CHECK(mprotect(plain, 4096, PROT_READ | PROT_WRITE | PROT_MTE_) == 0, "mprotect adds PROT_MTE");
    CHECK(ldg(plain) == 0 && plain[0] == 1, "tags start at 0, data kept");
    ((volatile char *)tag_ptr(plain, 9))[0] = 2;
    CHECK(faults == 1, "now checked");
    mprotect(plain, 4096, PROT_READ | PROT_WRITE);
    ((volatile char *)tag_ptr(plain, 9))[0] = 3;
    CHECK(faults == 2, "PROT_MTE cannot be removed");
    char *m = map_mte(4096);
    stg(tag_ptr(m, 6));
    madvise(m, 4096, MADV_DONTNEED);
    CHECK(ldg(m) == 0, "MADV_DONTNEED resets tags");
    char name[] = "/dev/shm/tagmmu_XXXXXX";
    int fd = mkstemp(name);
    unlink(name);
    if (ftruncate(fd, 4096) != 0)
        return 2;
    char *a = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_SHARED, fd, 0);
    char *b = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_SHARED, fd, 0);
    CHECK(a != MAP_FAILED && b != MAP_FAILED, "PROT_MTE on a shared tmpfs mapping");
    stg(tag_ptr(a + 16, 12));
    CHECK(ldg(b + 16) == 12, "a shared mapping shares the file's tags");
    return failed;
}
