/* A writer with known rates for the tools' tests: counter "rate.ticks"
 * grows by RATE per second (RATE/100 every 10 ms, on absolute deadlines so
 * the rate does not drift), histogram "rate.work" (ns) records 1000 on
 * every tick, and a counter "rate.late" is added while running (+1 per
 * tick from then on): after LATE milliseconds worth of ticks, or, if
 * LATE is a path (starts with '/'), once that file exists. On every tick
 * rate.ticks grows by exactly RATE/100 times what rate.work and rate.late
 * do.
 *
 *   tool_rate RATE SECONDS [LATE]     (RATE a multiple of 100)
 *
 * Prints "pid PID PATH" once the file exists; ends normally (the file is
 * marked finished) after SECONDS worth of ticks (a count, whatever the
 * time it takes), or, with SECONDS 0, when told to stop: SIGTERM, SIGINT,
 * or its parent (the test) ending. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

#define TICK_NS 10000000L /* 100 ticks per second */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tool_rate RATE SECONDS [LATE_MS]\n");
        return 2;
    }
    long rate = atol(argv[1]);
    double seconds = atof(argv[2]);
    const char *trigger = argc > 3 && argv[3][0] == '/' ? argv[3] : NULL;
    long late_ms = argc > 3 && !trigger ? atol(argv[3]) : -1;
    mms_writer *w;
    mms_field *ticks, *work, *late = NULL;
    int rc = mms_writer_open(&w, NULL);
    if (rc < 0) {
        fprintf(stderr, "tool_rate: %s\n", mms_strerror(rc));
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    mms_counter_new(w, "rate.ticks", "ticks", &ticks);
    mms_hist_new(w, "rate.work", "ns", &work);
    printf("pid %ld %s\n", (long)getpid(), mms_writer_path(w));
    fflush(stdout);

    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long n = (long)(seconds * 1e9 / TICK_NS);
    for (long i = 0; (n == 0 || i < n) && !stop; i++) {
        next.tv_nsec += TICK_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (!stop &&
               clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL))
            ;
        if (stop)
            break;
        mms_counter_add(ticks, (uint64_t)rate / 100);
        mms_hist_record(work, 1000);
        if (!late && ((late_ms >= 0 && i * (TICK_NS / 1000000) >= late_ms) ||
                      (trigger && access(trigger, F_OK) == 0)))
            mms_counter_new(w, "rate.late", "ticks", &late);
        mms_counter_inc(late);
    }
    return mms_writer_close(w) < 0;
}
