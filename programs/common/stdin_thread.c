// stdin_thread: a thread blocked reading stdin must not stop the others. A second thread says
// "reading" and reads fd 0; the main thread waits until it has said so, then prints "main
// ran" (the test feeds stdin only after seeing that line), joins it and prints what it read.
// Under Linux the main thread runs while the reader sleeps in read(2).
// tagmmu: not-differential (the test feeds stdin only after reading a line of stdout)
// tagmmu: cflags -pthread
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int reading;
static char got[64];
static ssize_t n;

static void *reader(void *arg) {
    (void)arg;
    atomic_store(&reading, 1);
    n = read(0, got, sizeof got - 1);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, reader, NULL) != 0)
        return 2;
    while (!atomic_load(&reading))
        sched_yield();
    // The reader is in (or about to enter) its read: give it time to get there.
    for (int i = 0; i < 100; i++)
        sched_yield();
    printf("main ran\n");
    pthread_join(t, NULL);
    if (n < 0)
        return 3;
    got[n] = 0;
    printf("reader got %zd bytes: %s", n, got);
    return 0;
}
