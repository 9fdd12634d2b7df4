// threads: POSIX threads on glibc (clone3/clone, futex, set_robust_list, tgkill), with
// per-thread MTE state.
//   threads basic       mutexes, condition variables, join values, tids, a pipe between
//                       threads, tgkill to one thread, a robust mutex whose owner died,
//                       sleeping threads
//   threads interleave  N threads append their number to a shared log, with no
//                       synchronisation but a mutex: the order is the scheduler's
//   threads mte         each thread sets its own tag-check mode and IRG include mask and
//                       checks, across many context switches, that they stay its own
//                       (what the kernel selftest check_gcr_el1_cswitch checks per thread)
//   threads fault       a tag-check fault in a second thread kills the whole process
//   threads deadlock    the main thread joins a thread that waits on a condition variable
//                       nobody signals: every thread sleeps for ever
// tagmmu: cflags -march=armv8.5-a+memtag
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"
#include "mte_util.h"

static int failed;

#include "../common/threads_posix.h"

/* --- mte ------------------------------------------------------------------------------------ */

static void *irg(void *p) {
    __asm__ volatile("irg %0, %0" : "+r"(p));
    return p;
}

static void *mte_thread(void *arg) {
    long i = (long)arg;
    unsigned long include = 1u << (i + 1); /* IRG may give only tag i+1 */
    unsigned long tcf = i % 2 ? TCF_SYNC : TCF_ASYNC;
    unsigned long want = TAG_ENABLE | tcf | INCL(include);
    char *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || prctl(PR_SET_TAGGED_ADDR_CTRL, want, 0, 0, 0) != 0)
        return (void *)1;
    for (int n = 0; n < 1000; n++) {
        if ((unsigned long)prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0) != want)
            return (void *)2;
        if (ptr_tag(irg(mem)) != (unsigned)(i + 1))
            return (void *)3;
        if (n % 100 == 0)
            sched_yield();
    }
    return NULL;
}

static int mte(void) {
    pthread_t t[5];
    /* The main thread keeps its own mode: tag checks off, every tag but 0 excluded. */
    if (prctl(PR_SET_TAGGED_ADDR_CTRL, TAG_ENABLE | INCL(1), 0, 0, 0) != 0)
        return 1;
    for (long i = 0; i < 5; i++)
        pthread_create(&t[i], NULL, mte_thread, (void *)i);
    int all_ok = 1;
    for (int i = 0; i < 5; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        if (ret != NULL)
            printf("thread %d failed at step %ld\n", i, (long)ret);
        all_ok &= ret == NULL;
    }
    CHECK(all_ok, "5 threads keep their own tag-check mode and IRG include mask across switches");
    CHECK((unsigned long)prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0) == (TAG_ENABLE | INCL(1)),
          "the main thread's mode is its own");
    return failed;
}

/* --- fault ------------------------------------------------------------------------------------ */

static void *faulter(void *arg) {
    char *mem = arg;
    set_mode(TCF_SYNC, 0xfffe);
    mem[16] = 1; /* granule 1 has tag 0, the pointer tag 3 */
    return NULL;
}

static int fault(void) {
    char *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_MTE_, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return 1;
    set_mode(TCF_SYNC, 0xfffe);
    char *p = tag_ptr(mem, 3);
    stg(p);
    p[0] = 1;
    pthread_t t;
    pthread_create(&t, NULL, faulter, p);
    pthread_join(t, NULL);
    puts("FAIL: the process survived a tag fault in a thread");
    return 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "basic";
    if (!strcmp(mode, "basic"))
        return basic();
    if (!strcmp(mode, "interleave"))
        return interleave();
    if (!strcmp(mode, "mte"))
        return mte();
    if (!strcmp(mode, "fault"))
        return fault();
    if (!strcmp(mode, "deadlock"))
        return deadlock();
    return 2;
}
