/* Calls after the shim's exit work: an exit handler and a destructor call
 * write and malloc, while another thread keeps calling them as the process
 * exits. The shim never unmaps its stats file: no crash. Prints the
 * handlers' lines; exit 0. */
#include <pthread.h>

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

static void *spinner(void *arg)
{
    for (;;) {
        free(pf_keep(malloc(32)));
        if (write(devnull, "t", 1) < 0)
            _exit(96);
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
    usleep(2000);
    printf("main returns\n");
    return 0;
}
