/* A workload for the exporter's tests, run under the shim: -n N writes of
 * one byte to /dev/null at -r RATE a second (N 0: no end), then idle until
 * -t SECONDS have passed since the start (default 60; 0: no limit), or
 * until killed (SIGTERM also when the test that started it ends).
 * Apart from those writes it calls write(2) never, so the shim's
 * io.write.calls is exactly N once they are done. With -x, each write
 * also comes with a read of /dev/zero, a stat of "/" and an allocation
 * kept for the next 512 writes (some megabytes live), and the rate swings
 * between RATE/4 and RATE over 20 s: livelier charts for the dashboard. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    double d = t - now_s();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    long n = 0;
    double rate = 100, limit = 60;
    int mixed = 0, c;
    while ((c = getopt(argc, argv, "n:r:t:x")) != -1) {
        switch (c) {
        case 'n':
            n = atol(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 't':
            limit = atof(optarg);
            break;
        case 'x':
            mixed = 1;
            break;
        default:
            return 2;
        }
    }
    if (!(rate > 0) || n < 0 || limit < 0)
        return 2;
    if (limit == 0)
        limit = 1e18;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int in = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0)
        return 1;
    double t0 = now_s(), t = t0;
    char buf[4096];
    static char *kept[512];
    for (long i = 0; (n == 0 || i < n) && now_s() - t0 < limit; i++) {
        if (write(out, "x", 1) != 1)
            return 1;
        if (mixed) {
            struct stat st;
            size_t len = 64 + (size_t)(i % 16) * 256;
            if (read(in, buf, len) < 0 || stat("/", &st) < 0)
                return 1;
            char **slot = &kept[i % 512];
            free(*slot);
            *slot = malloc(len * 16);
            if (*slot)
                memset(*slot, 1, len * 16);
        }
        double r = rate;
        if (mixed) {
            /* A triangle from RATE/4 up to RATE and back, over 20 s. */
            double ph = (t - t0) / 20;
            ph -= (double)(long)ph;
            r = rate * (0.25 + 0.75 * (ph < 0.5 ? 2 * ph : 2 - 2 * ph));
        }
        t += 1 / r;
        sleep_until(t);
    }
    sleep_until(t0 + limit);
    return 0;
}
