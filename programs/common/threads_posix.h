/* threads_posix.h - the portable part of the threads programs (arm64/threads.c,
 * sparc64/threads.c): mutexes, condition variables, join values, tids, a pipe between
 * threads, tgkill to one thread, a robust mutex whose owner died, sleeping threads
 * (`basic`); an interleaving the scheduler decides (`interleave`); every thread asleep for
 * ever (`deadlock`). The including program defines `failed` and includes check.h. */
#ifndef TAGMMU_THREADS_POSIX_H
#define TAGMMU_THREADS_POSIX_H
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* --- basic ------------------------------------------------------------------------------ */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static int queue[8], q_head, q_tail, q_done;
static pid_t tids[4];

static void *adder(void *arg) {
    long i = (long)arg;
    tids[i] = gettid();
    for (int n = 0; n < 2000; n++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        if (n % 500 == 0)
            sched_yield();
    }
    return (void *)(i * 10 + 1);
}

static void *producer(void *arg) {
    (void)arg;
    for (int v = 1; v <= 100; v++) {
        pthread_mutex_lock(&lock);
        while (q_tail - q_head == 8)
            pthread_cond_wait(&cond, &lock);
        queue[q_tail++ % 8] = v;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    q_done = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *consumer(void *arg) {
    long sum = 0;
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (q_head == q_tail && !q_done)
            pthread_cond_wait(&cond, &lock);
        if (q_head == q_tail && q_done) {
            pthread_mutex_unlock(&lock);
            break;
        }
        sum += queue[q_head++ % 8];
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    return (void *)sum;
}

static int pipefd[2];

static void *pipe_writer(void *arg) {
    (void)arg;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the reader is asleep in read() by now */
    const char *msg = "through the pipe";
    if (write(pipefd[1], msg, strlen(msg)) != (ssize_t)strlen(msg))
        return (void *)1;
    close(pipefd[1]);
    return NULL;
}

static volatile pid_t signalled_tid;
static void on_usr1(int sig) {
    (void)sig;
    signalled_tid = gettid();
}

static volatile int target_ready, target_go;
static pid_t target_tid;
static void *signal_target(void *arg) {
    (void)arg;
    target_tid = gettid();
    __atomic_store_n(&target_ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&target_go, __ATOMIC_SEQ_CST))
        sched_yield();
    return NULL;
}

static pthread_mutex_t robust;
static void *dies_holding(void *arg) {
    (void)arg;
    pthread_mutex_lock(&robust);
    return NULL; /* exits with the robust mutex held */
}

static long sleeper_woke;
static void *sleeper(void *arg) {
    struct timespec ts = {0, (long)arg * 1000 * 1000};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&lock);
    sleeper_woke = sleeper_woke * 10 + (long)arg;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static int basic(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, adder, (void *)i);
    int joined_ok = 1;
    for (long i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        joined_ok &= (long)ret == i * 10 + 1;
    }
    CHECK(counter == 8000, "4 threads x 2000 increments under a mutex");
    CHECK(joined_ok, "pthread_join returns each thread's value");
    int distinct = 1;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            distinct &= i == j || tids[i] != tids[j];
    for (int i = 0; i < 4; i++)
        distinct &= tids[i] != getpid() && tids[i] > 0;
    CHECK(distinct, "each thread has its own tid, none the pid");
    CHECK(gettid() == getpid(), "the main thread's tid is the pid");

    pthread_t p, c;
    pthread_create(&c, NULL, consumer, NULL);
    pthread_create(&p, NULL, producer, NULL);
    void *sum;
    pthread_join(p, NULL);
    pthread_join(c, &sum);
    CHECK((long)sum == 5050, "producer/consumer through a condition variable: 1+..+100");

    if (pipe(pipefd) != 0)
        return 1;
    pthread_t w;
    pthread_create(&w, NULL, pipe_writer, NULL);
    char buf[64] = {0};
    ssize_t n = read(pipefd[0], buf, sizeof buf - 1); /* sleeps until the writer writes */
    pthread_join(w, NULL);
    CHECK(n == 16 && strcmp(buf, "through the pipe") == 0, "a read sleeps until another thread writes the pipe");
    CHECK(read(pipefd[0], buf, sizeof buf) == 0, "EOF once the writer thread closed its end");

    signal(SIGUSR1, on_usr1);
    pthread_t s;
    pthread_create(&s, NULL, signal_target, NULL);
    while (!__atomic_load_n(&target_ready, __ATOMIC_SEQ_CST))
        sched_yield();
    CHECK(syscall(SYS_tgkill, getpid(), target_tid, SIGUSR1) == 0, "tgkill to the other thread");
    CHECK(syscall(SYS_tgkill, getpid(), 99999, SIGUSR1) == -1 && errno == ESRCH, "tgkill to no such thread: ESRCH");
    while (signalled_tid == 0)
        sched_yield();
    __atomic_store_n(&target_go, 1, __ATOMIC_SEQ_CST);
    pthread_join(s, NULL);
    CHECK(signalled_tid == target_tid, "the handler ran on the thread tgkill named");

    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &ma);
    pthread_t d;
    pthread_create(&d, NULL, dies_holding, NULL);
    pthread_join(d, NULL);
    int r = pthread_mutex_lock(&robust);
    CHECK(r == EOWNERDEAD, "a robust mutex whose owner exited: EOWNERDEAD (the robust list)");
    pthread_mutex_consistent(&robust);
    pthread_mutex_unlock(&robust);

    pthread_t sl[3];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&sl[0], NULL, sleeper, (void *)3);
    pthread_create(&sl[1], NULL, sleeper, (void *)1);
    pthread_create(&sl[2], NULL, sleeper, (void *)2);
    for (int i = 0; i < 3; i++)
        pthread_join(sl[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(sleeper_woke == 123, "sleeping threads wake in deadline order (1, 2, 3 ms)");
    CHECK(ms >= 3 && ms < 50, "the sleeps overlap: about 3 ms in all, not 6");
    return failed;
}

/* --- interleave --------------------------------------------------------------------------- */

static char order[4096];
static int order_len;

static void *appender(void *arg) {
    long i = (long)arg;
    for (int n = 0; n < 300; n++) {
        /* some work between appends, so time slices end at different places */
        volatile unsigned x = 0;
        for (unsigned k = 0; k < 50u * (unsigned)(i + 1); k++)
            x += k;
        pthread_mutex_lock(&lock);
        order[order_len++] = (char)('a' + i);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static int interleave(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, appender, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    unsigned long h = 5381;
    int switches = 0;
    for (int i = 0; i < order_len; i++) {
        h = h * 33 + (unsigned char)order[i];
        switches += i > 0 && order[i] != order[i - 1];
    }
    printf("order %.60s... (%d entries, %d changes of thread) hash %016lx\n", order, order_len, switches, h);
    CHECK(order_len == 1200, "1200 appends");
    CHECK(switches > 4, "the threads interleave");
    return failed;
}

static void *waits_for_ever(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;)
        pthread_cond_wait(&cond, &lock);
    return NULL;
}

static int deadlock(void) {
    pthread_t t;
    pthread_create(&t, NULL, waits_for_ever, NULL);
    pthread_join(t, NULL);
    puts("FAIL: joined a thread that never ends");
    return 1;
}

#endif
