/* Timed malloc and free, for test_mem_timed.sh: THREADS threads each
 * make malloc/free pairs (16..4096 bytes, 64 blocks live, like loadgen's
 * malloc loop; now and then a block past glibc's mmap threshold, a
 * free(NULL) and a malloc that fails) until they have made PAIRS and
 * SPAN_MS ms have passed since the start (past the shim's clock
 * calibration at 50 ms: the timed paths with TSC stamps run), at most
 * 10^7 pairs. Then, every thread joined, it prints "ready T0 T1 FAILED
 * MALLOCS FREES" (ns; T0 and T1 read before the threads start and after
 * they end; the mallocs that failed; the calls made) through write, and
 * waits for the end of its input (the test reads the stats file
 * meanwhile).
 *
 *   mem_timed THREADS PAIRS SPAN_MS */
#undef _FORTIFY_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16
#define LIVE 64

static long pairs;
static long long span, t0;
static long failed[MAX_THREADS], mallocs[MAX_THREADS], frees[MAX_THREADS];

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* The size argument is opaque to the compiler: no call elided. */
static void *(*volatile alloc)(size_t) = malloc;

static void *worker(void *arg)
{
    int k = (int)(intptr_t)arg;
    uint32_t seed = 42u + (uint32_t)k;
    void *live[LIVE] = {NULL};
    long made = 0;
    for (; made < pairs || (made < 10000000L && now_ns() - t0 < span); made++) {
        uint32_t r = next_rand(&seed);
        size_t n = r % 1000 == 0 ? (size_t)300 << 10 : 16 + r % 4081;
        unsigned slot = r % LIVE;
        free(live[slot]); /* NULL the first time round */
        frees[k]++;
        live[slot] = alloc(n);
        mallocs[k]++;
        if (!live[slot])
            failed[k]++;
        if (made % 4096 == 0) {
            /* Fails: more than any address space. */
            void *p = alloc(SIZE_MAX / 2);
            mallocs[k]++;
            if (p)
                free(p);
            else
                failed[k]++;
        }
    }
    for (unsigned i = 0; i < LIVE; i++) {
        free(live[i]);
        frees[k]++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    pairs = argc > 2 ? atol(argv[2]) : 1000;
    span = argc > 3 ? atoll(argv[3]) * 1000000LL : 0;
    if (threads < 1 || threads > MAX_THREADS)
        return 2;
    pthread_t th[MAX_THREADS];
    t0 = now_ns();
    for (int k = 0; k < threads; k++)
        if (pthread_create(&th[k], NULL, worker, (void *)(intptr_t)k) != 0)
            return 1;
    long f = 0, m = 0, fr = 0;
    for (int k = 0; k < threads; k++) {
        pthread_join(th[k], NULL);
        f += failed[k];
        m += mallocs[k];
        fr += frees[k];
    }
    long long t1 = now_ns();
    char line[160];
    int len = snprintf(line, sizeof line, "ready %lld %lld %ld %ld %ld\n", t0,
                       t1, f, m, fr);
    if (write(1, line, (size_t)len) != len)
        return 1;
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
