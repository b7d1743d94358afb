/* The host program for the fault tests: output on stdout and stderr, some
 * calls of each family, a thread, exit status 7. Its output and status
 * must be the same whatever happens to the shim's stats file. */
#include <pthread.h>

#include "pf_common.h"

static void *worker(void *arg)
{
    char *p = malloc(1000);
    snprintf(p, 1000, "thread says hello\n");
    if (write(1, p, strlen(p)) < 0)
        return arg;
    free(p);
    return NULL;
}

int main(void)
{
    printf("host starts\n");
    fflush(stdout);
    if (write(2, "host stderr line\n", 17) != 17)
        return 1;
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL))
        pf_die("pthread_create");
    pthread_join(t, NULL);
    FILE *f = fopen("/dev/null", "w");
    const char *volatile text = "x"; /* fputs("x") would become fputc */
    fputs(text, f);
    fclose(f);
    fprintf(stderr, "host done\n");
    printf("host ends\n");
    return 7;
}
