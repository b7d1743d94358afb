/* loadgen: a tight loop of one kind of call, timed from inside with
 * CLOCK_MONOTONIC, so the figure is the cost per call and not process
 * start-up. Prints "MODE THREADS N NS_PER_OP".
 *
 *   loadgen MODE [N] [THREADS]
 * THREADS (up to 1024) start their loops together, on a barrier, so that
 * they really run at once. Prints "MODE THREADS N NS_PER_OP WALL_NS": the
 * mean of the threads' own loop times per call, and the time from the
 * first loop's start to the last one's end per call of all threads.
 * MODE: write read open-close malloc calloc-realloc aligned stdio send-recv
 * mutex sem
 * The loop body is one function, loop_MODE, so callgrind can count its
 * instructions alone (--toggle-collect=loop_*). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Small LCG: the same sequence of sizes in every run. */
static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

__attribute__((noinline)) void loop_write(long n, int fd);
__attribute__((noinline)) void loop_write(long n, int fd)
{
    char c = 'x';
    for (long i = 0; i < n; i++)
        if (write(fd, &c, 1) != 1)
            abort();
}

__attribute__((noinline)) void loop_read(long n, int fd);
__attribute__((noinline)) void loop_read(long n, int fd)
{
    char c;
    for (long i = 0; i < n; i++)
        if (read(fd, &c, 1) != 1)
            abort();
}

__attribute__((noinline)) void loop_open_close(long n);
__attribute__((noinline)) void loop_open_close(long n)
{
    for (long i = 0; i < n; i++) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0)
            abort();
        close(fd);
    }
}

#define LIVE 64 /* a small live set: frees are of older blocks */

__attribute__((noinline)) void loop_malloc(long n, uint32_t seed);
__attribute__((noinline)) void loop_malloc(long n, uint32_t seed)
{
    void *live[LIVE] = {0};
    for (long i = 0; i < n; i++) {
        size_t slot = (size_t)i % LIVE;
        free(live[slot]);
        live[slot] = malloc(16 + next_rand(&seed) % 4081);
        if (!live[slot])
            abort();
    }
    for (int i = 0; i < LIVE; i++)
        free(live[i]);
}

__attribute__((noinline)) void loop_calloc_realloc(long n, uint32_t seed);
__attribute__((noinline)) void loop_calloc_realloc(long n, uint32_t seed)
{
    void *live[LIVE] = {0};
    for (long i = 0; i < n; i++) {
        size_t slot = (size_t)i % LIVE;
        size_t sz = 16 + next_rand(&seed) % 4081;
        if (i & 1) {
            void *p = realloc(live[slot], sz);
            if (!p)
                abort();
            live[slot] = p;
        } else {
            free(live[slot]);
            live[slot] = calloc(1, sz);
            if (!live[slot])
                abort();
        }
    }
    for (int i = 0; i < LIVE; i++)
        free(live[i]);
}

/* The aligned allocations in turn, each block freed at once. */
__attribute__((noinline)) void loop_aligned(long n);
__attribute__((noinline)) void loop_aligned(long n)
{
    for (long i = 0; i < n; i++) {
        void *p = NULL;
        switch (i % 3) {
        case 0:
            if (posix_memalign(&p, 64, 128) != 0)
                abort();
            break;
        case 1:
            p = aligned_alloc(64, 128);
            break;
        default:
            p = memalign(64, 128);
            break;
        }
        if (!p)
            abort();
        free(p);
    }
}

/* One sem_post and one uncontended sem_wait per iteration (sem_wait's
 * fast path: a try, no clock; sem_post is not hooked). */
__attribute__((noinline)) void loop_sem(long n, sem_t *s);
__attribute__((noinline)) void loop_sem(long n, sem_t *s)
{
    for (long i = 0; i < n; i++) {
        if (sem_post(s) != 0 || sem_wait(s) != 0)
            abort();
    }
}

__attribute__((noinline)) void loop_stdio(long n, FILE *f);
__attribute__((noinline)) void loop_stdio(long n, FILE *f)
{
    for (long i = 0; i < n; i++) {
        if (i & 1)
            fputs("x", f);
        else
            fwrite("y", 1, 1, f);
    }
}

__attribute__((noinline)) void loop_send_recv(long n, int a, int b);
__attribute__((noinline)) void loop_send_recv(long n, int a, int b)
{
    char c = 'x';
    for (long i = 0; i < n; i++) {
        if (send(a, &c, 1, 0) != 1 || recv(b, &c, 1, 0) != 1)
            abort();
    }
}

/* One uncontended lock and unlock per iteration, of a mutex of its own
 * per thread: the sync family's fast path (a try, no clock). */
__attribute__((noinline)) void loop_mutex(long n, pthread_mutex_t *m);
__attribute__((noinline)) void loop_mutex(long n, pthread_mutex_t *m)
{
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(m);
        pthread_mutex_unlock(m);
    }
}

#define MAX_THREADS 1024

static pthread_barrier_t start;

struct run {
    const char *mode;
    long n;
    int id;
    int threads;
    uint64_t ns;
    uint64_t t0, t1; /* the loop's start and end */
};

/* With threads, each makes a first call of its loop's kind before the
 * barrier: the loops then time (and callgrind counts) the calls, not a
 * thread's first-call set-up under a shim (its shard and cells). */
static void warm_up(const char *mode)
{
    if (!strcmp(mode, "write")) {
        int fd = open("/dev/null", O_WRONLY);
        char c = 'x';
        if (write(fd, &c, 1) != 1)
            abort();
        close(fd);
    } else if (!strcmp(mode, "malloc")) {
        void *volatile p = malloc(64); /* volatile: no pair elided */
        free(p);
    }
}

/* Times CALL, one of the loops: its start and end in R. */
#define TIME_LOOP(r, call)                                                     \
    do {                                                                       \
        (r)->t0 = now_ns();                                                    \
        call;                                                                  \
        (r)->t1 = now_ns();                                                    \
    } while (0)

static void *run_mode(void *arg)
{
    struct run *r = arg;
    if (r->threads > 1) {
        warm_up(r->mode);
        pthread_barrier_wait(&start);
    }
    if (!strcmp(r->mode, "write")) {
        int fd = open("/dev/null", O_WRONLY);
        TIME_LOOP(r, loop_write(r->n, fd));
        close(fd);
    } else if (!strcmp(r->mode, "read")) {
        int fd = open("/dev/zero", O_RDONLY);
        TIME_LOOP(r, loop_read(r->n, fd));
        close(fd);
    } else if (!strcmp(r->mode, "open-close")) {
        TIME_LOOP(r, loop_open_close(r->n));
    } else if (!strcmp(r->mode, "malloc")) {
        TIME_LOOP(r, loop_malloc(r->n, 42u + (uint32_t)r->id));
    } else if (!strcmp(r->mode, "calloc-realloc")) {
        TIME_LOOP(r, loop_calloc_realloc(r->n, 42u + (uint32_t)r->id));
    } else if (!strcmp(r->mode, "aligned")) {
        TIME_LOOP(r, loop_aligned(r->n));
    } else if (!strcmp(r->mode, "sem")) {
        sem_t s;
        sem_init(&s, 0, 0);
        TIME_LOOP(r, loop_sem(r->n, &s));
        sem_destroy(&s);
    } else if (!strcmp(r->mode, "stdio")) {
        FILE *f = fopen("/dev/null", "w");
        TIME_LOOP(r, loop_stdio(r->n, f));
        fclose(f);
    } else if (!strcmp(r->mode, "send-recv")) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
            abort();
        TIME_LOOP(r, loop_send_recv(r->n, sv[0], sv[1]));
        close(sv[0]);
        close(sv[1]);
    } else if (!strcmp(r->mode, "mutex")) {
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        TIME_LOOP(r, loop_mutex(r->n, &m));
    } else {
        fprintf(stderr, "loadgen: unknown mode %s\n", r->mode);
        exit(2);
    }
    r->ns = r->t1 - r->t0;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: loadgen MODE [N] [THREADS]\n"
                        "MODE: write read open-close malloc calloc-realloc "
                        "aligned stdio send-recv mutex sem\n");
        return argc < 2 ? 2 : 0;
    }
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    if (n <= 0 || threads <= 0 || threads > MAX_THREADS) {
        fprintf(stderr, "loadgen: bad N or THREADS\n");
        return 2;
    }
    static struct run r[MAX_THREADS];
    static pthread_t t[MAX_THREADS];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)256 << 10); /* 500 threads */
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        r[i] =
            (struct run){.mode = argv[1], .n = n, .id = i, .threads = threads};
        if (threads == 1) {
            run_mode(&r[i]);
        } else if (pthread_create(&t[i], &attr, run_mode, &r[i]) != 0) {
            fprintf(stderr, "loadgen: cannot start thread %d\n", i);
            return 1;
        }
    }
    uint64_t total = 0, first = UINT64_MAX, last = 0;
    for (int i = 0; i < threads; i++) {
        if (threads > 1)
            pthread_join(t[i], NULL);
        total += r[i].ns;
        first = r[i].t0 < first ? r[i].t0 : first;
        last = r[i].t1 > last ? r[i].t1 : last;
    }
    /* Per call, per thread: the mean of the threads' own loop times; and
     * the wall time of all loops over all calls. */
    printf("%s %d %ld %.2f %.2f\n", argv[1], threads, n,
           (double)total / threads / (double)n,
           (double)(last - first) / threads / (double)n);
    return 0;
}
