/* files_fork FILE: writes 100 bytes to FILE, forks; the child writes 50
 * through the inherited descriptor, dups it and writes 30 more through
 * the duplicate, and exits; the parent waits, then writes 25. For
 * test_files_programs.sh: the parent's record holds 125 bytes in 2
 * writes, the child's (its own stats file) 80 in 2, and one dup. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void put(int fd, size_t n)
{
    char buf[128];
    memset(buf, 'f', sizeof buf);
    if (write(fd, buf, n) != (ssize_t)n)
        _exit(3);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        return 1;
    put(fd, 100);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        put(fd, 50);
        int fd2 = dup(fd);
        if (fd2 < 0)
            _exit(1);
        put(fd2, 30);
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
        return 1;
    put(fd, 25);
    printf("child %d\n", (int)pid);
    return close(fd) != 0;
}
