/* Children that share our memory until they exec: vfork + exec, vfork +
 * a failing exec + _exit, posix_spawn and posix_spawnp. The shim must do
 * nothing in them: our own stats file must stay "ready" (not marked
 * finished by a child's exec or _exit hook). pf_spawn PATH_TO_PF_CHILD:
 * prints our state after each child, and writes 2 times itself. */
#include <spawn.h>
#include <sys/wait.h>

#include "pf_common.h"

extern char **environ;

static void reap(const char *what, pid_t pid)
{
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        pf_die(what);
    fflush(stdout); /* keep the children's lines in order with ours */
    printf("after %s (status %d): own file %s\n", what,
           WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
           pf_own_state());
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int devnull = pf_devnull();
    pf_writes(devnull, 2);
    printf("parent %d: own file %s\n", (int)getpid(), pf_own_state());
    fflush(stdout);

    char *vargs[] = {"pf_child", "vfork", NULL};
    pid_t pid = vfork();
    if (pid == 0) {
        execv(argv[1], vargs);
        _exit(127);
    }
    reap("vfork+exec", pid);

    pid = vfork();
    if (pid == 0) {
        execv("/nonexistent/pf_child", vargs);
        _exit(127);
    }
    reap("vfork+failed exec+_exit", pid);

    char *sargs[] = {"pf_child", "spawn", NULL};
    if (posix_spawn(&pid, argv[1], NULL, NULL, sargs, environ) != 0)
        pf_die("posix_spawn");
    reap("posix_spawn", pid);

    char *pargs[] = {"pf_child", "spawnp", NULL};
    if (posix_spawnp(&pid, argv[1], NULL, NULL, pargs, environ) != 0)
        pf_die("posix_spawnp");
    reap("posix_spawnp", pid);
    return 0;
}
