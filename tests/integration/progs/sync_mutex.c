/* Two threads and one mutex, for test_sync_mutex.sh: ROUNDS times, the
 * holder locks the mutex, lets the waiter go, waits until the waiter is
 * blocked in the kernel on that very mutex (its /proc/self/task/TID/
 * syscall line: futex on the mutex's address), holds it HOLD_MS more and
 * unlocks. So each of the waiter's acquisitions is contended, and the
 * holder's never are (the waiter has unlocked before the holder locks
 * again). The waiter times each pthread_mutex_lock itself.
 *
 *   sync_mutex HOLD_MS ROUNDS
 * Prints "mutex 0xADDR", then "waited ROUNDS NS" (its own total wait in
 * ns), or an error and status 1. */
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static sem_t go, done, started;
static int rounds, hold_ms;
static pid_t waiter_tid;
static uint64_t waited_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Whether the waiter is in futex(2) on the mutex now. */
static int waiter_blocked(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)waiter_tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int ok = 0;
    if (fgets(line, sizeof line, f)) {
        long nr;
        unsigned long addr;
        ok = sscanf(line, "%ld 0x%lx", &nr, &addr) == 2 && nr == SYS_futex &&
             addr == (unsigned long)(uintptr_t)&m;
    }
    fclose(f);
    return ok;
}

static void *waiter(void *arg)
{
    (void)arg;
    waiter_tid = (pid_t)syscall(SYS_gettid);
    sem_post(&started);
    for (int i = 0; i < rounds; i++) {
        sem_wait(&go);
        uint64_t t0 = now_ns();
        pthread_mutex_lock(&m);
        waited_ns += now_ns() - t0;
        pthread_mutex_unlock(&m);
        sem_post(&done);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    hold_ms = atoi(argv[1]);
    rounds = atoi(argv[2]);
    sem_init(&go, 0, 0);
    sem_init(&done, 0, 0);
    sem_init(&started, 0, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, waiter, NULL) != 0)
        return 1;
    sem_wait(&started);
    printf("mutex %p\n", (void *)&m);
    fflush(stdout);
    struct timespec hold = {hold_ms / 1000, (long)(hold_ms % 1000) * 1000000};
    for (int i = 0; i < rounds; i++) {
        pthread_mutex_lock(&m);
        sem_post(&go);
        /* Bounded: 20000 looks, 0.5 ms apart (10 s), then give up. */
        int k = 0;
        struct timespec tick = {0, 500000};
        while (!waiter_blocked() && k++ < 20000)
            nanosleep(&tick, NULL);
        if (k > 20000) {
            fprintf(stderr, "sync_mutex: the waiter never blocked\n");
            return 1;
        }
        nanosleep(&hold, NULL);
        pthread_mutex_unlock(&m);
        sem_wait(&done);
    }
    pthread_join(t, NULL);
    printf("waited %d %" PRIu64 "\n", rounds, waited_ns);
    return 0;
}
