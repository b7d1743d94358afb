/* Allocation sites with known figures, for the heap profile
 * (test_heap_sites.sh):
 *
 *   leak_here()   10 MiB in 1,000 blocks, kept
 *   churn_here()  100 MiB in 4 KiB blocks, each freed at once
 *   big_here()    one 32 MiB block, freed
 *
 *   heap_sites [-t THREADS] [-x] [-f] [-p]
 *
 * -t: THREADS threads share the work (leak_here and churn_here each run
 *     in every thread, on 1/THREADS of the bytes; one stack per site).
 * -x: churn_here's blocks are freed by another thread (sent through a
 *     pipe), not the one that allocated them.
 * -f: then fork; the child frees the 1,000 leaked blocks it inherited
 *     and leaks 5 MiB of its own in child_here(); the parent waits for it.
 * -c: the same with a clone() child (SIGCHLD, no CLONE_VM).
 * -p: then print "ready PID" and wait for a line on stdin (a live read
 *     happens meanwhile) before exiting. The leaked blocks stay live. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define LEAK_BLOCKS 1000
#define CHURN_BLOCK 4096

static char **leaked;
static int nthreads = 1, cross;
static int pipefd[2];

/* Keep the compiler from dropping or merging allocations. */
static void touch(char *p, size_t n)
{
    p[0] = 1;
    p[n - 1] = 1;
    __asm__ volatile("" : : "r"(p) : "memory");
}

__attribute__((noinline)) static void leak_here(int part)
{
    size_t size = (size_t)10 * MIB / LEAK_BLOCKS;
    for (int i = part; i < LEAK_BLOCKS; i += nthreads) {
        leaked[i] = malloc(size);
        if (!leaked[i])
            abort();
        touch(leaked[i], size);
    }
}

__attribute__((noinline)) static void churn_here(void)
{
    size_t n = (size_t)100 * MIB / CHURN_BLOCK / (size_t)nthreads;
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(CHURN_BLOCK);
        if (!p)
            abort();
        touch(p, CHURN_BLOCK);
        if (cross) {
            if (write(pipefd[1], &p, sizeof p) != sizeof p)
                abort();
        } else {
            free(p);
        }
    }
}

__attribute__((noinline)) static void big_here(void)
{
    char *p = malloc((size_t)32 * MIB);
    if (!p)
        abort();
    touch(p, (size_t)32 * MIB);
    free(p);
}

__attribute__((noinline)) static void child_here(void)
{
    for (int i = 0; i < 500; i++) {
        char *p = malloc((size_t)5 * MIB / 500);
        if (!p)
            abort();
        touch(p, (size_t)5 * MIB / 500);
    }
}

/* Frees what churn_here sends, until the pipe closes. */
static void *freer(void *arg)
{
    (void)arg;
    char *p;
    while (read(pipefd[0], &p, sizeof p) == sizeof p)
        free(p);
    return NULL;
}

static void *worker(void *arg)
{
    leak_here((int)(long)arg);
    churn_here();
    return NULL;
}

/* A fork or clone child: it frees the blocks it inherited, leaks its
 * own. */
static int child(void *arg)
{
    (void)arg;
    for (int i = 0; i < LEAK_BLOCKS; i++)
        free(leaked[i]);
    child_here();
    printf("child %ld\n", (long)getpid());
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int opt, forking = 0, pause_ = 0;
    while ((opt = getopt(argc, argv, "t:xfcp")) != -1) {
        switch (opt) {
        case 't':
            nthreads = atoi(optarg);
            break;
        case 'x':
            cross = 1;
            break;
        case 'f':
            forking = 1;
            break;
        case 'c':
            forking = 2;
            break;
        case 'p':
            pause_ = 1;
            break;
        default:
            fprintf(stderr, "usage: heap_sites [-t N] [-x] [-f|-c] [-p]\n");
            return 2;
        }
    }
    if (nthreads < 1 || nthreads > 64)
        return 2;
    leaked = calloc(LEAK_BLOCKS, sizeof *leaked);
    pthread_t fr, th[64];
    if (!leaked || (cross && (pipe(pipefd) != 0 ||
                              pthread_create(&fr, NULL, freer, NULL) != 0)))
        return 1;
    if (nthreads == 1) {
        worker(0);
    } else {
        for (long i = 0; i < nthreads; i++)
            if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
                return 1;
        for (int i = 0; i < nthreads; i++)
            pthread_join(th[i], NULL);
    }
    if (cross) {
        close(pipefd[1]);
        pthread_join(fr, NULL);
    }
    big_here();
    if (forking) {
        static char stack[256 * 1024] __attribute__((aligned(16)));
        pid_t pid = forking == 1
                        ? fork()
                        : clone(child, stack + sizeof stack, SIGCHLD, NULL);
        if (pid < 0)
            return 1;
        if (pid == 0)
            exit(child(NULL));
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0)
            return 1;
    }
    if (pause_) {
        printf("ready %ld\n", (long)getpid());
        fflush(stdout);
        char line[64];
        if (!fgets(line, sizeof line, stdin)) {
            /* the end of input: exit as well */
        }
    }
    return 0;
}
