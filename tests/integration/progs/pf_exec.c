/* exec: pf_exec writes 3 times, tries to exec a missing file (fails: our
 * file must be "ready" again), then execs itself as "pf_exec stage2",
 * which writes 2 times. The first image's file is marked finished before
 * the exec (and ready again, with no finish time, after the failed one);
 * the second image, same pid, gets a file of its own. */
#include "pf_common.h"

int main(int argc, char **argv)
{
    int devnull = pf_devnull();
    if (argc > 1 && !strcmp(argv[1], "stage2")) {
        pf_writes(devnull, 2);
        printf("stage2 pid %d: own file %s\n", (int)getpid(), pf_own_state());
        return 0;
    }
    pf_writes(devnull, 3);
    printf("stage1 pid %d\n", (int)getpid());
    char *args[] = {argv[0], "stage2", NULL};
    execv("/nonexistent/pf_exec", args);
    printf("failed exec: own file %s, finish time %s\n", pf_own_state(),
           pf_own_finish_time());
    fflush(stdout);
    execv("/proc/self/exe", args);
    pf_die("exec");
}
