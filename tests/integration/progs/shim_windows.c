/* For test_preload_windows.sh: N pwrite calls to /dev/null between two
 * readings of CLOCK_MONOTONIC, then "ready T0 T1 FAILED MADE" (ns; calls
 * that failed, calls made) on stdout, and a wait on stdin until it closes
 * (the test reads the stats file meanwhile). The shim reads the same
 * clock after each call: every call's second lies in [T0 / 10^9,
 * T1 / 10^9]. With SPAN_MS, the calls go on (at most 10^8 of them) until
 * SPAN_MS ms have passed since T0: past the shim's clock calibration
 * (50 ms) and past second boundaries.
 *
 *   shim_windows N [SPAN_MS] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    long long span = argc > 2 ? atoll(argv[2]) * 1000000LL : 0;
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0) {
        perror("shim_windows: /dev/null");
        return 1;
    }
    long failed = 0;
    long long t0 = now_ns();
    long made = 0;
    for (; made < n || (span && made < 100000000L && now_ns() - t0 < span);
         made++)
        if (pwrite(fd, "x", 1, 0) != 1)
            failed++;
    long long t1 = now_ns();
    printf("ready %lld %lld %ld %ld\n", t0, t1, failed, made);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
