/* snapcost: CPU time of one snapshot of a stats file (the reader-cost
 * goal: 10,000 fields x 64 shards in under 1 ms). Opens PATH, takes
 * REPS snapshots, prints the median CPU microseconds per snapshot. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mmstats/mmstats.h>

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: snapcost PATH [REPS]\n");
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 51;
    if (reps < 1 || reps > 100000)
        reps = 51;
    mms_reader *r;
    double t0 = cpu_us();
    int rc = mms_reader_open(&r, argv[1]);
    double open_us = cpu_us() - t0;
    if (rc < 0) {
        fprintf(stderr, "snapcost: %s: %s\n", argv[1], mms_strerror(rc));
        return 1;
    }
    double *t = calloc((size_t)reps, sizeof *t);
    size_t n = 0;
    for (int i = 0; i < reps; i++) {
        mms_snapshot *s;
        double a = cpu_us();
        if (mms_snapshot_take(r, &s) < 0)
            return 1;
        t[i] = cpu_us() - a;
        n = mms_snapshot_nfields(s);
        mms_snapshot_free(s);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    printf("fields %zu open_us %.1f snapshot_us %.1f\n", n, open_us,
           t[reps / 2]);
    mms_reader_close(r);
    free(t);
    return 0;
}
