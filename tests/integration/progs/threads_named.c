/* Three named threads making 1000, 2000 and 3000 1-byte writes to
 * /dev/null, for test_threads_named.sh. Each is named another way:
 * "w-one" names itself with pthread_setname_np before its writes,
 * "w-two" is named by the main thread (pthread_setname_np of another
 * thread) after its writes, "w-three" names itself with
 * prctl(PR_SET_NAME) after its writes. Driven on stdin:
 *
 *   threads_named
 * prints "ready PID" once every thread has written and is named, then
 * reads a line ("exit"), lets the threads end, joins them, prints
 * "joined failed N", and exits at the end of its input. The threads wait
 * on barriers, never on a hooked io call. */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "stdin_driver.h"

static int null_fd;
static pthread_barrier_t written, named, leave;

struct job {
    long writes;
    int how; /* 1: names itself first; 2: named by main; 3: prctl after */
    const char *name;
    long failed;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    if (j->how == 1)
        pthread_setname_np(pthread_self(), j->name);
    for (long i = 0; i < j->writes; i++)
        if (write(null_fd, "x", 1) != 1)
            j->failed++;
    if (j->how == 3)
        prctl(PR_SET_NAME, (unsigned long)j->name, 0, 0, 0);
    pthread_barrier_wait(&written);
    pthread_barrier_wait(&named);
    pthread_barrier_wait(&leave);
    return NULL;
}

int main(void)
{
    null_fd = open("/dev/null", O_WRONLY);
    if (null_fd < 0) {
        perror("threads_named: /dev/null");
        return 1;
    }
    struct job jobs[3] = {
        {1000, 1, "w-one", 0}, {2000, 2, "w-two", 0}, {3000, 3, "w-three", 0}};
    pthread_t t[3];
    pthread_barrier_init(&written, NULL, 4);
    pthread_barrier_init(&named, NULL, 4);
    pthread_barrier_init(&leave, NULL, 4);
    for (int i = 0; i < 3; i++)
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0) {
            fprintf(stderr, "threads_named: pthread_create failed\n");
            return 1;
        }
    pthread_barrier_wait(&written);
    if (pthread_setname_np(t[1], jobs[1].name) != 0) {
        fprintf(stderr, "threads_named: pthread_setname_np failed\n");
        return 1;
    }
    pthread_barrier_wait(&named);
    if (driver_ready() != 0)
        return 1;
    pthread_barrier_wait(&leave);
    long failed = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        failed += jobs[i].failed;
    }
    driver_joined(failed);
    return 0;
}
