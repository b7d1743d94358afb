/* A program that closes every descriptor above 2 (as daemons and
 * closefrom(3) users do), then keeps working. For test_preload_counts.sh:
 * the shim keeps no descriptor of its own open, so the program sees the
 * same descriptors with and without it (the output is compared), and the
 * shim goes on recording after the close.
 *
 *   closefds range|loop DIR
 * range: close_range(3, ~0, 0) (a raw system call: not counted);
 * loop: close(fd) for fd 3..1023 (counted: fs.close.calls 1021 more).
 * Then, in DIR: open a file (the lowest free descriptor: 3), 10 writes of
 * 100 bytes, 1 pread of 1000, close; fork a child that makes 5 writes to
 * it. Prints the descriptors open at each step, the results, and last
 * "pids PARENT CHILD". */
#undef _FORTIFY_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The descriptors above 2 open now, in order, as "3 4 7" ("-" if none). */
static void show_fds(const char *when)
{
    int fds[1024], n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        printf("%s: cannot list\n", when);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d))
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++) /* readdir's order is the kernel's */
        for (int j = i + 1; j < n; j++)
            if (fds[j] < fds[i]) {
                int t = fds[i];
                fds[i] = fds[j];
                fds[j] = t;
            }
    printf("%s:", when);
    for (int i = 0; i < n; i++)
        printf(" %d", fds[i]);
    printf("%s\n", n ? "" : " -");
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "range") && strcmp(argv[1], "loop"))) {
        fprintf(stderr, "usage: closefds range|loop DIR\n");
        return 2;
    }
    show_fds("before");
    if (!strcmp(argv[1], "range")) {
        if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
            perror("closefds: close_range");
            return 1;
        }
    } else {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    }
    show_fds("after close");

    char path[4096];
    snprintf(path, sizeof path, "%s/file", argv[2]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror("closefds: open");
        return 1;
    }
    char buf[1000], back[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (char)('a' + i % 26);
    long wrote = 0;
    for (int i = 0; i < 10; i++)
        wrote += write(fd, buf + i * 100, 100);
    ssize_t got = pread(fd, back, sizeof back, 0);
    int same = got == 1000 && !memcmp(buf, back, 1000);
    printf("open -> fd %d, wrote %ld, read back %zd, %s\n", fd, wrote, got,
           same ? "same" : "DIFFERENT");
    show_fds("open");
    fflush(stdout);

    pid_t pid = fork();
    if (pid < 0) {
        perror("closefds: fork");
        return 1;
    }
    if (pid == 0) {
        for (int i = 0; i < 5; i++)
            if (write(fd, "c", 1) != 1)
                _exit(1);
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
        return 1;
    close(fd);
    show_fds("end");
    printf("pids %ld %ld\n", (long)getpid(), (long)pid);
    return same ? 0 : 1;
}
