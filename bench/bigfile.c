/* bigfile: a stats file as large as the reader-cost goal asks: FIELDS
 * counters (default 10,000) written by THREADS threads (default 64), so
 * each counter has that many shards to sum. Prints the path, keeps the
 * process alive until stdin closes (so the file is "running"). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

static mms_field **fields;
static int nfields;
static pthread_barrier_t done;

static void *writer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < nfields; i++)
        mms_counter_add(fields[i], (uint64_t)(id + 1));
    pthread_barrier_wait(&done);
    pthread_barrier_wait(&done); /* hold the shard until the end */
    return NULL;
}

int main(int argc, char **argv)
{
    nfields = argc > 1 ? atoi(argv[1]) : 10000;
    int threads = argc > 2 ? atoi(argv[2]) : 64;
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
        snprintf(name, sizeof name, "bench.group%d.counter%d", i / 100, i);
        if ((rc = mms_counter_new(w, name, "calls", &fields[i])) < 0) {
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
