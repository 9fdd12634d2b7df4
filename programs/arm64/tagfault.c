// tagfault: a one-byte heap-style overflow into the next granule, with no handler installed.
// argv[1] = sync (default) or async: the tag-check mode. The buffer's first granule is tagged
// 5; the write goes one granule past it through the same pointer.
// Expected: sync - killed by SIGSEGV/SEGV_MTESERR at the write (exit 139, "before" printed);
//           async - the write happens, SIGSEGV/SEGV_MTEAERR (si_addr 0) at the next syscall.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: not-differential (QEMU reports async faults at a different point and keeps tag bits in si_addr)
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int asynch = argc > 1 && strcmp(argv[1], "async") == 0;
    prctl(PR_SET_TAGGED_ADDR_CTRL, 1UL | (asynch ? 1UL << 2 : 1UL << 1) | (0xfffeUL << 3), 0, 0, 0);
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE | 0x20, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *buf = (char *)((uintptr_t)p | (5UL << 56));
    __asm__ volatile("stg %0, [%0]" ::"r"(buf) : "memory");
    printf("before the overflow\n");
    fflush(stdout);
    ((volatile char *)buf)[16] = 'X';
    write(1, "after the overflow\n", 19);
    return 0;
}
