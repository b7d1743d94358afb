/* files_threads DIR THREADS N SIZE: THREADS threads, started together,
 * each make N pwrites of SIZE bytes to DIR/threads.pw at offsets of their
 * own (interleaved: thread t writes blocks t, t + THREADS, ...), then N
 * writes of SIZE bytes to DIR/threads.w through one shared descriptor.
 * For test_files_programs.sh: the per-file records must hold exact
 * totals (bytes, calls, the furthest offset of the pwrites). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pw, w, nthreads;
static long n;
static size_t size;
static pthread_barrier_t start;

static void *run(void *arg)
{
    long t = (long)(intptr_t)arg;
    char *buf = malloc(size);
    if (!buf)
        abort();
    memset(buf, 't', size);
    pthread_barrier_wait(&start);
    for (long i = 0; i < n; i++)
        if (pwrite(pw, buf, size, (off_t)((i * nthreads + t) * (long)size)) !=
            (ssize_t)size)
            abort();
    for (long i = 0; i < n; i++)
        if (write(w, buf, size) != (ssize_t)size)
            abort();
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: files_threads DIR THREADS N SIZE\n");
        return 2;
    }
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/threads.pw", argv[1]);
    snprintf(p2, sizeof p2, "%s/threads.w", argv[1]);
    nthreads = atoi(argv[2]);
    n = atol(argv[3]);
    size = (size_t)atol(argv[4]);
    if (nthreads < 1 || nthreads > 64 || n < 1 || size < 1)
        return 2;
    pw = open(p1, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    w = open(p2, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (pw < 0 || w < 0) {
        perror("open");
        return 1;
    }
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    pthread_t th[64];
    for (long t = 0; t < nthreads; t++)
        if (pthread_create(&th[t], NULL, run, (void *)(intptr_t)t))
            return 1;
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    close(pw);
    close(w);
    return 0;
}
