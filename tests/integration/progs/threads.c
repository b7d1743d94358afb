/* THREADS threads, each making ITERS 1-byte writes to /dev/null, started
 * together (a barrier) so that they really run at once; WAVES times over,
 * one wave after the other. For test_preload_counts.sh: io.write.calls
 * must exceed a run with ITERS = 0 by exactly THREADS x ITERS x WAVES (no
 * update lost between threads' shards, nor when threads exit).
 *
 *   threads THREADS ITERS [WAVES]
 * Prints "threads THREADS writes TOTAL failed 0". */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int null_fd;
static long iters;
static pthread_barrier_t start;

static void *worker(void *arg)
{
    long *failed = arg;
    pthread_barrier_wait(&start);
    for (long i = 0; i < iters; i++)
        if (write(null_fd, "x", 1) != 1)
            (*failed)++;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: threads THREADS ITERS [WAVES]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    iters = atol(argv[2]);
    int waves = argc > 3 ? atoi(argv[3]) : 1;
    if (n < 1 || n > 256 || waves < 1)
        return 2;
    null_fd = open("/dev/null", O_WRONLY);
    if (null_fd < 0) {
        perror("threads: /dev/null");
        return 1;
    }
    pthread_t t[256];
    long failed[256] = {0}, bad = 0;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int w = 0; w < waves; w++) {
        for (int i = 0; i < n; i++) {
            int rc = pthread_create(&t[i], NULL, worker, &failed[i]);
            if (rc) {
                fprintf(stderr, "threads: pthread_create: %s\n", strerror(rc));
                return 1;
            }
        }
        for (int i = 0; i < n; i++)
            pthread_join(t[i], NULL);
    }
    for (int i = 0; i < n; i++)
        bad += failed[i];
    printf("threads %d writes %ld failed %ld\n", n, (long)n * iters * waves,
           bad);
    return bad != 0;
}
