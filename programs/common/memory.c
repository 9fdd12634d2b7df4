// memory.c - heap and anonymous-mapping management.
// Exercises: brk (via sbrk: several growth steps touching every page, then
//            shrink), malloc of 4 MiB (served by mmap), mmap of 3 anonymous
//            pages, munmap of the middle page and re-mmap (MAP_FIXED) into the
//            hole, mprotect PROT_READ and back to PROT_READ|PROT_WRITE,
//            madvise(MADV_DONTNEED) zeroing an anonymous private page.
// argv: none.
// Expected stdout: one "memory: <check> ok" line per check,
//   "memory: checksum 0x<hex>" (deterministic), "memory: all ok".
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1)
// tagmmu: differential
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE ((unsigned long)TAGMMU_PAGE_SIZE) /* 4 KiB on arm64, 8 KiB on sparc64 */

static uint64_t checksum = 0xcbf29ce484222325ULL; /* FNV-1a offset basis */

static void mix(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        checksum ^= p[i];
        checksum *= 0x100000001b3ULL;
    }
}

static void fail(const char *what)
{
    printf("FAIL: %s (errno %d)\n", what, errno);
    exit(1);
}

static void ok(const char *what)
{
    printf("memory: %s ok\n", what);
}

static unsigned char pat(uintptr_t i, unsigned salt)
{
    return (unsigned char)((i * 131u + salt) ^ (i >> 8));
}

static void test_sbrk(void)
{
    static const size_t steps[] = { PAGE, 3 * PAGE, 17 * PAGE, 64 * PAGE + 123 };
    unsigned char *base = sbrk(0);
    if (base == (void *)-1)
        fail("sbrk(0)");
    size_t total = 0;
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        unsigned char *p = sbrk((intptr_t)steps[s]);
        if (p == (void *)-1)
            fail("sbrk grow");
        if (p != base + total)
            fail("sbrk not contiguous");
        /* touch every page of the new chunk (and its last byte) */
        for (size_t off = 0; off < steps[s]; off += PAGE)
            p[off] = pat(total + off, 1);
        p[steps[s] - 1] = pat(total + steps[s] - 1, 1);
        total += steps[s];
        if ((unsigned char *)sbrk(0) != base + total)
            fail("sbrk(0) after grow");
    }
    /* fill the whole area and verify */
    for (size_t i = 0; i < total; i++)
        base[i] = pat(i, 2);
    for (size_t i = 0; i < total; i++)
        if (base[i] != pat(i, 2))
            fail("sbrk area readback");
    mix(base, total);
    /* shrink back */
    if (sbrk(-(intptr_t)total) == (void *)-1)
        fail("sbrk shrink");
    if ((unsigned char *)sbrk(0) != base)
        fail("sbrk(0) after shrink");
}

static void test_malloc_big(void)
{
    const size_t n = 4UL << 20;
    unsigned char *p = malloc(n);
    if (p == NULL)
        fail("malloc 4 MiB");
    for (size_t i = 0; i < n; i++)
        p[i] = pat(i, 3);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += p[i];
    mix((const unsigned char *)&sum, sizeof sum);
    for (size_t i = 0; i < n; i += PAGE)
        if (p[i] != pat(i, 3))
            fail("malloc readback");
    free(p);
    ok("malloc 4MiB");
}

static void test_mmap(void)
{
    unsigned char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        fail("mmap 3 pages");
    if ((uintptr_t)m % PAGE != 0)
        fail("mmap not page aligned");
    for (size_t i = 0; i < 3 * PAGE; i++)
        if (m[i] != 0)
            fail("fresh mmap not zero");
    for (size_t i = 0; i < 3 * PAGE; i++)
        m[i] = pat(i, 4);
    for (size_t i = 0; i < 3 * PAGE; i++)
        if (m[i] != pat(i, 4))
            fail("mmap readback");
    mix(m, 3 * PAGE);
    ok("mmap");

    /* unmap the middle page, then map a fresh page into the hole */
    if (munmap(m + PAGE, PAGE) != 0)
        fail("munmap middle page");
    unsigned char *mid = mmap(m + PAGE, PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (mid != m + PAGE)
        fail("re-mmap into hole");
    for (size_t i = 0; i < PAGE; i++)
        if (mid[i] != 0)
            fail("re-mapped page not zero");
    for (size_t i = 0; i < PAGE; i++)
        if (m[i] != pat(i, 4) || m[2 * PAGE + i] != pat(2 * PAGE + i, 4))
            fail("neighbour pages changed by munmap/mmap");
    memset(mid, 0xA5, PAGE);
    mix(m, 3 * PAGE);
    ok("munmap/remap");

    /* mprotect read-only then back to read-write */
    if (mprotect(m, 3 * PAGE, PROT_READ) != 0)
        fail("mprotect PROT_READ");
    volatile unsigned char *vm = m;
    unsigned acc = 0;
    for (size_t i = 0; i < 3 * PAGE; i += 512)
        acc += vm[i];
    mix((const unsigned char *)&acc, sizeof acc);
    if (mprotect(m, 3 * PAGE, PROT_READ | PROT_WRITE) != 0)
        fail("mprotect PROT_READ|PROT_WRITE");
    m[5] = 0x5A;
    m[2 * PAGE + 7] = 0x7B;
    if (m[5] != 0x5A || m[2 * PAGE + 7] != 0x7B || m[PAGE] != 0xA5)
        fail("write after mprotect RW");
    mix(m, 3 * PAGE);
    ok("mprotect");

    /* MADV_DONTNEED on an anonymous private page: contents read back as zero */
    if (madvise(m + 2 * PAGE, PAGE, MADV_DONTNEED) != 0)
        fail("madvise MADV_DONTNEED");
    for (size_t i = 0; i < PAGE; i++)
        if (m[2 * PAGE + i] != 0)
            fail("page not zero after MADV_DONTNEED");
    if (m[5] != 0x5A || m[PAGE] != 0xA5)
        fail("other pages changed by MADV_DONTNEED");
    m[2 * PAGE] = 1; /* still writable */
    mix(m, 3 * PAGE);
    ok("madvise");

    if (munmap(m, 3 * PAGE) != 0)
        fail("munmap all");
    ok("munmap");
}

int main(void)
{
    /* run the brk test before stdio allocates its buffer with malloc */
    test_sbrk();
    ok("sbrk");
    test_malloc_big();
    test_mmap();
    printf("memory: checksum 0x%016llx\n", (unsigned long long)checksum);
    puts("memory: all ok");
    return 0;
}
