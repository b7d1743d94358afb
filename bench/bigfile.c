/* bigfile: a stats file as large as the reader-cost goal asks: FIELDS
 * fields (default 10,000), TIMERS percent of them timers (default 0; the
 * goal of issue 20 asks 10), the rest counters, written by THREADS
 * threads (default 64), so each field has that many shards to sum.
 *
 *   bigfile [FIELDS [THREADS [TIMERS]]]
 * Prints the path, keeps the
 * process alive until stdin closes (so the file is "running"). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

static mms_field **fields;
static int nfields;
static int timer_every; /* field i is a timer if timer_every divides i */

static bool is_timer(int i)
{
    return timer_every && i % timer_every == 0;
}
static pthread_barrier_t done;

static void *writer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < nfields; i++) {
        if (is_timer(i)) /* latencies spread over the histogram's buckets */
            mms_hist_record(fields[i], (uint64_t)(id + 1) << (i % 24));
        else
            mms_counter_add(fields[i], (uint64_t)(id + 1));
    }
    pthread_barrier_wait(&done);
    pthread_barrier_wait(&done); /* hold the shard until the end */
    return NULL;
}

int main(int argc, char **argv)
{
    nfields = argc > 1 ? atoi(argv[1]) : 10000;
    int threads = argc > 2 ? atoi(argv[2]) : 64;
    int timers = argc > 3 ? atoi(argv[3]) : 0;
    if (nfields < 1 || threads < 1 || timers < 0 || timers > 100) {
        fprintf(stderr, "usage: bigfile [FIELDS [THREADS [TIMERS%%]]]\n");
        return 2;
    }
    timer_every = timers ? 100 / timers : 0;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.max_fields = (uint32_t)nfields + 16;
    o.max_shards = (uint32_t)threads + 2;
    mms_writer *w;
    int rc = mms_writer_open(&w, &o);
    if (rc < 0) {
        fprintf(stderr, "bigfile: %s\n", mms_strerror(rc));
        return 1;
    }
    fields = calloc((size_t)nfields, sizeof *fields);
    for (int i = 0; i < nfields; i++) {
        char name[64];
        snprintf(name, sizeof name, "bench.group%d.%s%d", i / 100,
                 is_timer(i) ? "timer" : "counter", i);
        rc = is_timer(i) ? mms_timer_new(w, name, &fields[i])
                         : mms_counter_new(w, name, "calls", &fields[i]);
        if (rc < 0) {
            fprintf(stderr, "bigfile: %s: %s\n", name, mms_strerror(rc));
            return 1;
        }
    }
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    pthread_barrier_init(&done, NULL, (unsigned)threads + 1);
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    pthread_barrier_wait(&done);
    printf("%s\n", mms_writer_path(w));
    fflush(stdout);
    char buf[16];
    while (read(0, buf, sizeof buf) > 0)
        ;
    pthread_barrier_wait(&done);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return mms_writer_close(w) < 0;
}
