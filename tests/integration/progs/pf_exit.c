/* Ways to end without (or with) exit handlers: pf_exit MODE writes 7
 * times, then: exit | return | _exit | _Exit | abort | kill (SIGKILL). */
#include <signal.h>

#include "pf_common.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    const char *m = argv[1];
    int devnull = pf_devnull();
    pf_writes(devnull, 7);
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    if (!strcmp(m, "exit"))
        exit(0);
    if (!strcmp(m, "return"))
        return 0;
    if (!strcmp(m, "_exit"))
        _exit(0);
    if (!strcmp(m, "_Exit"))
        _Exit(0);
    if (!strcmp(m, "abort"))
        abort();
    if (!strcmp(m, "kill"))
        raise(SIGKILL);
    return 2;
}
