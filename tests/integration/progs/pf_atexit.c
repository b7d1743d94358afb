/* Calls after the shim's exit work: an exit handler and a destructor call
 * write and malloc, while another thread keeps calling them as the process
 * exits. The shim never unmaps its stats file: no crash. Prints the
 * handlers' lines; exit 0. */
#include <pthread.h>
#include <sched.h>

#include "pf_common.h"

static int devnull;

static void churn(const char *who)
{
    for (int i = 0; i < 100; i++) {
        free(pf_keep(malloc(64)));
        pf_writes(devnull, 1);
    }
    if (write(1, who, strlen(who)) < 0)
        _exit(97);
}

static void on_exit_handler(void)
{
    churn("atexit handler ok\n");
}

__attribute__((destructor)) static void dtor(void)
{
    churn("destructor ok\n");
}

static int spinning;

static void *spinner(void *arg)
{
    for (int first = 1;; first = 0) {
        free(pf_keep(malloc(32)));
        if (write(devnull, "t", 1) < 0)
            _exit(96);
        if (first)
            __atomic_add_fetch(&spinning, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

int main(void)
{
    devnull = pf_devnull();
    atexit(on_exit_handler);
    pthread_t t;
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t, NULL, spinner, NULL))
            pf_die("pthread_create");
    /* Main returns once every spinner is in its loop (bounded: they
     * start within moments, or something is badly wrong). */
    for (long i = 0; __atomic_load_n(&spinning, __ATOMIC_ACQUIRE) < 4; i++)
        if (i > 10000000L)
            pf_die("spinners never started");
        else
            sched_yield();
    printf("main returns\n");
    return 0;
}
