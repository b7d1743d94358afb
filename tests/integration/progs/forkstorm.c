/* forkstorm: a parent forks CHILDREN children (default 160); every
 * fourth child forks a grandchild. Each process does a known number of
 * 1-byte writes to /dev/null (parent 7, child 3, grandchild 5) and exits
 * normally; the parent waits for all. Run under the shim, every process
 * must have its own file, with the right ppid and exactly its writes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void writes(int n)
{
    int fd = open("/dev/null", O_WRONLY);
    for (int i = 0; i < n; i++)
        if (write(fd, "x", 1) != 1)
            exit(3);
    close(fd);
}

int main(int argc, char **argv)
{
    int children = argc > 1 ? atoi(argv[1]) : 160;
    for (int i = 0; i < children; i++) {
        pid_t p = fork();
        if (p < 0)
            return 2;
        if (p == 0) {
            if (i % 4 == 0) {
                pid_t g = fork();
                if (g == 0) {
                    writes(5);
                    exit(0);
                }
                if (g < 0 || waitpid(g, NULL, 0) != g)
                    exit(2);
            }
            writes(3);
            exit(0);
        }
    }
    int bad = 0, st;
    for (int i = 0; i < children; i++)
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
            bad++;
    writes(7);
    printf("%d children, %d failed\n", children, bad);
    return bad != 0;
}
