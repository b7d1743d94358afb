/* THREADS threads (up to 1024) running at once, each making CALLS of
 * each kind, for test_threads_many.sh: first CALLS frees of blocks the
 * main thread allocated for it (a thread whose first calls are frees, as
 * a queue's consumer's are), then CALLS 1-byte writes to /dev/null, then
 * CALLS malloc(32)+free pairs. Each thread is named "tm-K". Driven on
 * stdin:
 *
 *   threads_many THREADS CALLS
 * prints "ready PID" once every thread has made its calls (they are all
 * alive then), reads a line, lets the threads end, joins them, prints
 * "joined failed N" and exits at the end of its input. The threads wait
 * on barriers, never on a hooked call. */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stdin_driver.h"

#define MAX_THREADS 1024

static int null_fd;
static long calls;
static pthread_barrier_t go, done, leave;

struct job {
    int k;
    void **blocks; /* CALLS blocks of main's, for this thread to free */
    long failed;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    char name[16];
    snprintf(name, sizeof name, "tm-%d", j->k);
    pthread_setname_np(pthread_self(), name);
    pthread_barrier_wait(&go);
    for (long i = 0; i < calls; i++)
        free(j->blocks[i]);
    for (long i = 0; i < calls; i++)
        if (write(null_fd, "x", 1) != 1)
            j->failed++;
    for (long i = 0; i < calls; i++) {
        void *p = malloc(32);
        if (!p)
            j->failed++;
        /* Keep the compiler from pairing the two away. */
        __asm__ volatile("" : : "r"(p) : "memory");
        free(p);
    }
    pthread_barrier_wait(&done);
    pthread_barrier_wait(&leave);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: threads_many THREADS CALLS\n");
        return 2;
    }
    int n = atoi(argv[1]);
    calls = atol(argv[2]);
    if (n < 1 || n > MAX_THREADS || calls < 0)
        return 2;
    null_fd = open("/dev/null", O_WRONLY);
    if (null_fd < 0) {
        perror("threads_many: /dev/null");
        return 1;
    }
    static pthread_t t[MAX_THREADS];
    static struct job jobs[MAX_THREADS];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)256 << 10);
    pthread_barrier_init(&go, NULL, (unsigned)n);
    pthread_barrier_init(&done, NULL, (unsigned)n + 1);
    pthread_barrier_init(&leave, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        jobs[i].k = i;
        jobs[i].blocks = calloc((size_t)calls + 1, sizeof(void *));
        for (long c = 0; jobs[i].blocks && c < calls; c++)
            jobs[i].blocks[c] = malloc(32);
        if (!jobs[i].blocks ||
            pthread_create(&t[i], &attr, worker, &jobs[i]) != 0) {
            fprintf(stderr, "threads_many: cannot start thread %d\n", i);
            return 1;
        }
    }
    pthread_barrier_wait(&done);
    if (driver_ready() != 0)
        return 1;
    pthread_barrier_wait(&leave);
    long failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        failed += jobs[i].failed;
    }
    driver_joined(failed);
    return 0;
}
