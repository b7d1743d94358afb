/* Threads whose live bytes the shim publishes lazily, for
 * test_mem_live.sh: PRODUCERS threads each allocate BLOCKS blocks of
 * sizes from 16 bytes to 200 KiB (past glibc's mmap threshold now and
 * then), all held at once at a barrier (the process's peak is at least
 * what they hold then), then free half of them, leave a quarter live
 * (leaked) and hand the last quarter to a consumer thread, which frees
 * them (frees by a thread that allocated nothing). Driven on stdin
 * (stdin_driver.h): every thread has exited when it prints
 * "ready PID HELD LEAKED", HELD being the bytes asked for that the
 * producers held at the barrier, LEAKED those left live. Main allocates
 * nothing itself after its start: its arrays are mapped and its output
 * goes through write. */
#undef _FORTIFY_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_PRODUCERS 64

static long blocks;
static int producers;
static void **handed; /* producers x blocks / 4, for the consumer */
static pthread_barrier_t held, handed_over;
static uint64_t held_bytes[MAX_PRODUCERS], leaked_bytes[MAX_PRODUCERS];
static long failed[MAX_PRODUCERS + 1];

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static size_t size_of(uint32_t *seed)
{
    uint32_t r = next_rand(seed);
    return r % 97 == 0 ? (size_t)200 << 10 : 16 + r % 8000;
}

static void *producer(void *arg)
{
    int k = (int)(intptr_t)arg;
    uint32_t seed = 42u + (uint32_t)k;
    void **mine = malloc((size_t)blocks * sizeof *mine);
    if (!mine) {
        failed[k]++;
        pthread_barrier_wait(&held);
        pthread_barrier_wait(&handed_over);
        return NULL;
    }
    for (long i = 0; i < blocks; i++) {
        size_t n = size_of(&seed);
        mine[i] = malloc(n);
        if (!mine[i])
            failed[k]++;
        else
            held_bytes[k] += n;
        /* The sizes again, for the quarter left live. */
        if (mine[i] && i % 4 == 2)
            leaked_bytes[k] += n;
    }
    pthread_barrier_wait(&held);
    for (long i = 0; i < blocks; i++) {
        if (i % 4 < 2)
            free(mine[i]);
        else if (i % 4 == 3)
            handed[k * (blocks / 4) + i / 4] = mine[i];
    }
    free(mine);
    pthread_barrier_wait(&handed_over);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&held);
    pthread_barrier_wait(&handed_over);
    for (long i = 0; i < (long)producers * (blocks / 4); i++)
        free(handed[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mem_live PRODUCERS BLOCKS\n");
        return 2;
    }
    producers = atoi(argv[1]);
    blocks = atol(argv[2]);
    if (producers < 1 || producers > MAX_PRODUCERS || blocks < 4 || blocks % 4)
        return 2;
    size_t hsize = (size_t)producers * (size_t)(blocks / 4) * sizeof *handed;
    handed = mmap(NULL, hsize, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (handed == MAP_FAILED)
        return 1;
    pthread_barrier_init(&held, NULL, (unsigned)producers + 1);
    pthread_barrier_init(&handed_over, NULL, (unsigned)producers + 1);
    pthread_t t[MAX_PRODUCERS + 1];
    for (int k = 0; k < producers; k++)
        if (pthread_create(&t[k], NULL, producer, (void *)(intptr_t)k) != 0)
            return 1;
    if (pthread_create(&t[producers], NULL, consumer, NULL) != 0)
        return 1;
    uint64_t held_all = 0, leaked_all = 0;
    long failed_all = 0;
    for (int k = 0; k <= producers; k++) {
        pthread_join(t[k], NULL);
        failed_all += failed[k];
    }
    for (int k = 0; k < producers; k++) {
        held_all += held_bytes[k];
        leaked_all += leaked_bytes[k];
    }
    char line[128];
    int n = snprintf(line, sizeof line, "ready %ld %llu %llu %ld\n",
                     (long)getpid(), (unsigned long long)held_all,
                     (unsigned long long)leaked_all, failed_all);
    if (write(1, line, (size_t)n) != n)
        return 1;
    /* Until the end of the input. */
    while (read(0, line, sizeof line) > 0)
        ;
    return 0;
}
