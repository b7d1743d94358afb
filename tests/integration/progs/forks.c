/* A parent that makes 7 writes, forks CHILDREN children (child i makes
 * 10 x (i + 1) writes), makes 3 more writes and waits for them all. How
 * the children end (MODE):
 *   exit  half leave with exit, half with _exit (the default)
 *   exec  each then execs /bin/true
 *   kill  each then kills itself with SIGKILL
 * For test_preload_counts.sh: a child that ends at once makes no file of
 * its own; its writes go to its parent's file at exit or exec (exactly:
 * 10 + the children's), and a killed child's are lost, the parent's
 * file intact.
 *
 *   forks CHILDREN [MODE]
 * Prints "parent PID writes 10" and "child PID writes N" lines. */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void writes(int fd, int n)
{
    for (int i = 0; i < n; i++)
        if (write(fd, "x", 1) != 1)
            _exit(3);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5;
    const char *mode = argc > 2 ? argv[2] : "exit";
    bool killed = !strcmp(mode, "kill");
    if (n < 1 || n > 64 ||
        (strcmp(mode, "exit") && strcmp(mode, "exec") && !killed))
        return 2;
    int null = open("/dev/null", O_WRONLY);
    if (null < 0)
        return 1;
    writes(null, 7);
    pid_t pids[64];
    fflush(stdout); /* nothing buffered may be written twice */
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("forks: fork");
            return 1;
        }
        if (pids[i] == 0) {
            writes(null, 10 * (i + 1));
            if (!strcmp(mode, "exec")) {
                execl("/bin/true", "true", (char *)NULL);
                _exit(4);
            }
            if (killed)
                raise(SIGKILL);
            if (i % 2)
                _exit(0);
            exit(0);
        }
    }
    writes(null, 3);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) != pids[i] ||
            (killed ? !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL
                    : !WIFEXITED(st) || WEXITSTATUS(st) != 0))
            bad++;
    }
    printf("parent %ld writes 10\n", (long)getpid());
    for (int i = 0; i < n; i++)
        printf("child %ld writes %d\n", (long)pids[i], 10 * (i + 1));
    return bad != 0;
}
