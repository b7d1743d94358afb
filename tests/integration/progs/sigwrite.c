/* Writes from a signal handler that interrupts writes: a SIGALRM timer
 * every 50 us whose handler writes 1 byte to /dev/null, while main writes
 * 1 byte to /dev/null in a tight loop for MS milliseconds. For
 * test_preload_counts.sh (run under timeout): no deadlock, and
 * io.write.calls is exactly main's count plus the handler's, as counted
 * here and printed:
 *
 *   sigwrite MS [cold]   ->   "main M handler H failed 0"
 *
 * Main writes once before the timer starts, so that the call's fields
 * exist; with "cold" it does not, and the first signals may land while
 * main makes them (the shim then drops the handler's records, and counts
 * them as dropped). */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int null_fd;
static volatile sig_atomic_t handler_count, handler_failed;

static void on_alarm(int sig)
{
    (void)sig;
    if (write(null_fd, "h", 1) == 1)
        handler_count++;
    else
        handler_failed++;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    long ms = argc > 1 ? atol(argv[1]) : 1000;
    null_fd = open("/dev/null", O_WRONLY);
    if (null_fd < 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        return 1;
    long main_count = 0, main_failed = 0;
    if (argc < 3 || strcmp(argv[2], "cold") != 0) {
        if (write(null_fd, "m", 1) == 1)
            main_count++;
        else
            main_failed++;
    }
    struct itimerval it = {{0, 50}, {0, 50}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        return 1;
    long end = now_ms() + ms;
    while (now_ms() < end) {
        for (int i = 0; i < 64; i++) {
            if (write(null_fd, "m", 1) == 1)
                main_count++;
            else
                main_failed++;
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, NULL); /* a pending one stays pending */
    printf("main %ld handler %ld failed %ld\n", main_count, (long)handler_count,
           main_failed + (long)handler_failed);
    return 0;
}
