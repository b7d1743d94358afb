/* Timers, histograms, windows, struct values and moving averages with the
 * procedural API: a pretend request loop that records latencies.
 *
 *   timers [SECONDS]      (default 2) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

struct pool_stats {
    uint64_t idle, busy;
    double utilisation;
};

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 2;
    mms_writer *w;
    int rc = mms_writer_open(&w, NULL);
    if (rc < 0) {
        fprintf(stderr, "timers: %s\n", mms_strerror(rc));
        return 1;
    }
    mms_field *latency, *sizes, *requests, *pool, *load;
    /* A timer that also keeps per-second windows: rate and percentiles of
     * the last 1, 10 and 60 seconds from one snapshot. */
    struct mms_field_spec lat = {.name = "req.latency",
                                 .kind = MMS_KIND_HISTOGRAM,
                                 .units = "ns",
                                 .help = "time to serve a request",
                                 .flags = MMS_DF_WINDOW};
    mms_field_add(w, &lat, &latency);
    mms_hist_new(w, "req.size", "bytes", &sizes);
    struct mms_field_spec req = {.name = "req.count",
                                 .kind = MMS_KIND_COUNTER,
                                 .units = "requests",
                                 .flags = MMS_DF_WINDOW};
    mms_field_add(w, &req, &requests);
    static const struct mms_member members[] = {
        {"idle", MMS_MEMBER_U64},
        {"busy", MMS_MEMBER_U64},
        {"utilisation", MMS_MEMBER_F64}};
    mms_struct_new(w, "pool", members, 3, &pool);
    mms_movavg_new(w, "req.size_avg100", "bytes", 100, &load);
    printf("pid %ld writing %s\n", (long)getpid(), mms_writer_path(w));
    fflush(stdout);

    unsigned seed = 1;
    uint64_t end = mms_now_ns() + (uint64_t)seconds * 1000000000u;
    for (uint64_t i = 0; mms_now_ns() < end; i++) {
        MMS_TIME_SCOPE(latency)
        {
            struct timespec ts = {0, 1000 + rand_r(&seed) % 50000};
            nanosleep(&ts, NULL);
        }
        uint64_t size = 64 + (uint64_t)(rand_r(&seed) % 4096);
        mms_hist_record(sizes, size);
        mms_movavg_add(load, (double)size);
        mms_counter_inc(requests);
        uint64_t busy = i % 8;
        struct pool_stats ps = {8 - busy, busy, busy / 8.0};
        mms_struct_set(pool, &ps);
    }
    return mms_writer_close(w) < 0;
}
