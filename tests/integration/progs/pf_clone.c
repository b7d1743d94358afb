/* clone() without CLONE_VM: the child is a new process that runs no
 * atfork handler. It must get a stats file of its own, or its counts
 * race with the parent's in the parent's file.
 *
 *   pf_clone N   the parent writes N bytes to /dev/null one at a time,
 *                clones a child (SIGCHLD, a stack of its own) that does
 *                the same N times while the parent goes on with N more,
 *                and waits for it. Prints "parent PID child PID" and the
 *                child's exit status. */
#include <sched.h>
#include <sys/wait.h>

#include "pf_common.h"

static int devnull;
static int writes;

static int child(void *arg)
{
    (void)arg;
    pf_writes(devnull, writes);
    return 7;
}

int main(int argc, char **argv)
{
    writes = argc > 1 ? atoi(argv[1]) : 100000;
    devnull = pf_devnull();
    pf_writes(devnull, writes);
    size_t size = 1 << 20;
    char *stack = malloc(size);
    if (!stack)
        pf_die("malloc");
    int pid = clone(child, stack + size, SIGCHLD, NULL);
    if (pid < 0)
        pf_die("clone");
    pf_writes(devnull, writes);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        pf_die("waitpid");
    printf("parent %d child %d\n", (int)getpid(), pid);
    printf("child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
