/* A small program that keeps its stats with the procedural API: a counter
 * bumped by several threads, gauges, a string and a static value. Run it,
 * then look at it from another terminal with `mmstat-read <pid>`.
 *
 *   basic [SECONDS] [THREADS]      (default: 3 seconds, 4 threads) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

static mms_field *requests, *bytes, *in_flight, *load, *phase;
static int stop; /* atomic: set by main, read by the workers */

static void *worker(void *arg)
{
    long id = (long)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        mms_gauge_add(in_flight, 1);
        mms_counter_inc(requests);
        mms_counter_add(bytes, 100 + (uint64_t)id);
        mms_gauge_add(in_flight, -1);
        struct timespec ts = {0, 200000}; /* 0.2 ms: a pretend request */
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 3;
    int nthreads = argc > 2 ? atoi(argv[2]) : 4;
    mms_writer *w;
    int rc = mms_writer_open(&w, NULL);
    if (rc < 0) {
        fprintf(stderr, "basic: cannot create stats file: %s\n",
                mms_strerror(rc));
        return 1;
    }
    mms_counter_new(w, "app.requests", "requests", &requests);
    mms_counter_new(w, "app.bytes", "bytes", &bytes);
    mms_gauge_new(w, "app.in_flight", "requests", &in_flight);
    mms_gauge_f64_new(w, "app.load", NULL, &load);
    mms_string_new(w, "app.phase", 32, &phase);
    mms_static_i64(w, "app.threads", "threads", nthreads);
    mms_static_str(w, "app.version", "1.0");
    printf("pid %ld writing %s\n", (long)getpid(), mms_writer_path(w));
    fflush(stdout);

    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    mms_string_set(phase, "running");
    for (long i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int s = 0; s < seconds * 10; s++) {
        mms_gauge_set_f64(load, (double)s / 10.0);
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    mms_string_set(phase, "done");
    free(t);
    return mms_writer_close(w) < 0;
}
