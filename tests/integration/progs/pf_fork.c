/* fork: the parent writes 10 times, forks; the child writes 5 times and
 * exits; the parent then writes 3 more times. The child, gone at once,
 * makes no file: its 5 writes are added to the parent's file at its exit
 * (18 there, nothing counted twice). Prints both pids, and whether fork
 * left errno alone.
 * pf_fork limit: the same under a 1 MiB file size limit. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "pf_common.h"

int main(int argc, char **argv)
{
    int devnull = pf_devnull();
    /* "pf_fork limit": a file size limit far below a stats file's size
     * (set after our own file was made), so the child's file cannot be
     * made: the child must live on all the same, unrecorded. */
    if (argc > 1 && !strcmp(argv[1], "limit")) {
        struct rlimit rl = {1 << 20, 1 << 20};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            pf_die("setrlimit");
    }
    pf_writes(devnull, 10);
    printf("parent %d\n", (int)getpid());
    fflush(stdout);
    errno = 4242;
    pid_t pid = fork();
    int e = errno; /* glibc's fork leaves errno alone: so must the shim */
    if (pid < 0)
        pf_die("fork");
    if (pid == 0) {
        pf_writes(devnull, 5);
        printf("child %d ppid %d errno %s\n", (int)getpid(), (int)getppid(),
               e == 4242 ? "kept" : "changed");
        exit(0);
    }
    printf("parent errno %s\n", e == 4242 ? "kept" : "changed");
    fflush(stdout);
    int st;
    waitpid(pid, &st, 0);
    pf_writes(devnull, 3);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
