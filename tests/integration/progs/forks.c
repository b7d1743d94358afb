/* A parent that makes 7 writes, forks CHILDREN children (child i makes
 * 10 x (i + 1) writes, half of them leave with exit, half with _exit),
 * makes 3 more writes and waits for them all. For
 * test_preload_counts.sh: every child has a stats file of its own, with
 * the parent's pid as ppid and only its own writes; the parent's file
 * has only the parent's 10.
 *
 *   forks CHILDREN
 * Prints "parent PID writes 10" and "child PID writes N" lines. */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
    if (n < 1 || n > 64)
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
            if (i % 2)
                _exit(0);
            exit(0);
        }
    }
    writes(null, 3);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0)
            bad++;
    }
    printf("parent %ld writes 10\n", (long)getpid());
    for (int i = 0; i < n; i++)
        printf("child %ld writes %d\n", (long)pids[i], 10 * (i + 1));
    return bad != 0;
}
