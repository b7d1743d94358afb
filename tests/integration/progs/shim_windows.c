/* For test_preload_windows.sh: N pwrite calls to /dev/null between two
 * readings of CLOCK_MONOTONIC, then "ready T0 T1" (ns) on stdout, and a
 * wait on stdin until it closes (the test reads the stats file meanwhile).
 * The shim reads the same clock after each call: every call's second lies
 * in [T0 / 10^9, T1 / 10^9].
 *
 *   shim_windows N */
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
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0) {
        perror("shim_windows: /dev/null");
        return 1;
    }
    long failed = 0;
    long long t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (pwrite(fd, "x", 1, 0) != 1)
            failed++;
    long long t1 = now_ns();
    printf("ready %lld %lld %ld\n", t0, t1, failed);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
