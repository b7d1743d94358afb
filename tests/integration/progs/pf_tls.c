/* Threads that allocate as their very first act, many at once, several
 * rounds: the shim's thread-locals must be initial-exec TLS (a dynamic
 * TLS block is allocated with malloc on first access: a malloc hook
 * touching one would deadlock or recurse). pf_tls ROUNDS THREADS. */
#include <pthread.h>
#include <stdint.h>

#include "pf_common.h"

static void *worker(void *arg)
{
    void *p = pf_keep(malloc((size_t)(uintptr_t)arg + 1)); /* first */
    void *q = pf_keep(calloc(4, 32));
    p = pf_keep(realloc(p, 4096));
    if (!p || !q || write(-1, "", 0) != -1) /* a failing write: EBADF */
        return (void *)1;
    free(q);
    free(p);
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    int nth = argc > 2 ? atoi(argv[2]) : 32;
    pthread_t t[256];
    long bad = 0;
    if (nth > 256)
        nth = 256;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < nth; i++)
            if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i))
                pf_die("pthread_create");
        for (int i = 0; i < nth; i++) {
            void *res;
            pthread_join(t[i], &res);
            bad += res != NULL;
        }
    }
    printf("%d threads, %ld failed\n", rounds * nth, bad);
    return bad != 0;
}
