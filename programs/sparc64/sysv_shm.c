// sysv_shm.c - System V shared memory: one segment attached twice, its bookkeeping, removal.
// Exercises: shmget(IPC_PRIVATE, 1 MiB, IPC_CREAT|0600), shmat twice (two different
//            addresses backed by the same memory: a write through one is read through the
//            other, both ways, at the first and last byte and in between), shmctl(IPC_STAT)
//            shm_segsz / shm_nattch, shmdt of one attachment (nattch drops to 1, a second
//            shmdt of it fails EINVAL), shmctl(IPC_RMID) while still attached
//            (the remaining attachment keeps working), the last shmdt destroying the segment
//            (shmat of the removed id fails EINVAL), shmget of a missing key without
//            IPC_CREAT (ENOENT), and IPC_CREAT|IPC_EXCL on an existing key (EEXIST) while a
//            plain shmget of that key finds the same id. The keyed segment uses a random key
//            (retried until unused), so concurrent runs do not collide; no key, id or address
//            is printed. (shm_perm.mode is not checked: qemu-sparc64 7.2 stores it as 16 bits
//            where sparc64's kernel and glibc have a 32-bit mode_t, so 0600 reads back as
//            0x1800000 there.) glibc on sparc64 reaches all of these through ipc(2), nr 215.
// argv: none.
// Expected stdout:
//   "shmget private: ok", "shmat twice: ok", "zero-filled: ok", "shared both ways: ok",
//   "IPC_STAT: segsz 1048576 nattch 2", "shmdt one: ok",
//   "IPC_STAT: nattch 1", "shmdt again: EINVAL", "IPC_RMID: ok",
//   "attachment survives IPC_RMID: ok", "last shmdt: ok", "shmat removed id: EINVAL",
//   "shmget missing key: ENOENT", "shmget IPC_EXCL existing key: EEXIST",
//   "shmget existing key: same id", "sysv_shm: all ok"
// Expected exit status: 0 (on a failed check: "FAIL: ..." and exit 1; segments created are
//   removed on the way out)
// tagmmu: differential
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/random.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#define SEG_SIZE (1UL << 20)

static int priv_id = -1, keyed_id = -1;

static void fail(const char *what)
{
    int e = errno;
    printf("FAIL: %s (errno %d %s)\n", what, e, strerrorname_np(e) ? strerrorname_np(e) : "?");
    if (priv_id >= 0)
        shmctl(priv_id, IPC_RMID, NULL);
    if (keyed_id >= 0)
        shmctl(keyed_id, IPC_RMID, NULL);
    exit(1);
}

static struct shmid_ds stat_of(int id)
{
    struct shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    if (shmctl(id, IPC_STAT, &ds) != 0)
        fail("shmctl IPC_STAT");
    return ds;
}

static key_t random_key(unsigned salt)
{
    unsigned r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 12);
    }
    r ^= salt * 0x9e3779b9u;
    return (key_t)(0x54000000u | (r & 0x00ffffffu)); /* never IPC_PRIVATE (0) */
}

int main(void)
{
    priv_id = shmget(IPC_PRIVATE, SEG_SIZE, IPC_CREAT | 0600);
    if (priv_id < 0)
        fail("shmget IPC_PRIVATE");
    puts("shmget private: ok");

    unsigned char *a = shmat(priv_id, NULL, 0);
    if (a == (void *)-1)
        fail("first shmat");
    unsigned char *b = shmat(priv_id, NULL, 0);
    if (b == (void *)-1)
        fail("second shmat");
    if (a == b)
        fail("both attachments at the same address");
    puts("shmat twice: ok");

    for (size_t i = 0; i < SEG_SIZE; i++)
        if (a[i] != 0 || b[i] != 0)
            fail("fresh segment not zero-filled");
    puts("zero-filled: ok");

    volatile unsigned char *va = a, *vb = b;
    va[0] = 0x11;
    va[SEG_SIZE - 1] = 0x22;
    vb[SEG_SIZE / 2] = 0x33;
    vb[12345] = 0x44;
    if (vb[0] != 0x11 || vb[SEG_SIZE - 1] != 0x22 || va[SEG_SIZE / 2] != 0x33 || va[12345] != 0x44)
        fail("write through one attachment not visible through the other");
    for (size_t i = 0; i < SEG_SIZE; i += 4096)
        va[i + 7] = (unsigned char)(i >> 12);
    for (size_t i = 0; i < SEG_SIZE; i += 4096)
        if (vb[i + 7] != (unsigned char)(i >> 12))
            fail("page pattern written through a, read through b");
    puts("shared both ways: ok");

    struct shmid_ds ds = stat_of(priv_id);
    printf("IPC_STAT: segsz %zu nattch %lu\n", (size_t)ds.shm_segsz, (unsigned long)ds.shm_nattch);
    if (ds.shm_segsz != SEG_SIZE || ds.shm_nattch != 2)
        fail("IPC_STAT values after two shmat");

    if (shmdt(b) != 0)
        fail("shmdt second attachment");
    puts("shmdt one: ok");
    ds = stat_of(priv_id);
    printf("IPC_STAT: nattch %lu\n", (unsigned long)ds.shm_nattch);
    if (ds.shm_nattch != 1)
        fail("nattch after one shmdt");
    errno = 0;
    if (shmdt(b) != -1 || errno != EINVAL)
        fail("shmdt of a detached address -> EINVAL");
    puts("shmdt again: EINVAL");

    if (shmctl(priv_id, IPC_RMID, NULL) != 0)
        fail("shmctl IPC_RMID");
    puts("IPC_RMID: ok");
    int removed_id = priv_id;
    priv_id = -1; /* already marked for removal */

    if (va[0] != 0x11 || va[SEG_SIZE - 1] != 0x22 || va[SEG_SIZE / 2] != 0x33)
        fail("contents after IPC_RMID");
    va[100] = 0x55;
    if (va[100] != 0x55)
        fail("store after IPC_RMID");
    puts("attachment survives IPC_RMID: ok");

    if (shmdt(a) != 0)
        fail("last shmdt");
    puts("last shmdt: ok");

    errno = 0;
    if (shmat(removed_id, NULL, 0) != (void *)-1 || errno != EINVAL)
        fail("shmat of a removed id -> EINVAL");
    puts("shmat removed id: EINVAL");

    key_t key = 0;
    int found_missing = 0;
    for (unsigned salt = 0; salt < 64 && !found_missing; salt++) {
        key = random_key(salt);
        errno = 0;
        if (shmget(key, 8192, 0600) == -1 && errno == ENOENT)
            found_missing = 1;
    }
    if (!found_missing)
        fail("shmget of a missing key -> ENOENT");
    puts("shmget missing key: ENOENT");

    keyed_id = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
    if (keyed_id < 0)
        fail("shmget IPC_CREAT|IPC_EXCL on a new key");
    errno = 0;
    if (shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600) != -1 || errno != EEXIST)
        fail("shmget IPC_CREAT|IPC_EXCL on an existing key -> EEXIST");
    puts("shmget IPC_EXCL existing key: EEXIST");
    if (shmget(key, 0, 0) != keyed_id)
        fail("shmget of the existing key finds its id");
    puts("shmget existing key: same id");
    if (shmctl(keyed_id, IPC_RMID, NULL) != 0)
        fail("shmctl IPC_RMID keyed segment");
    keyed_id = -1;

    puts("sysv_shm: all ok");
    return 0;
}
