/* files_timed DIR N: N 1-byte writes to the FIFO DIR/timed.fifo, whose
 * reader (a child) drains it only once the writer is blocked on it full,
 * so that one write in the middle of the run is far slower than the
 * others; then N 1-byte reads of /dev/zero. Every write and read after a
 * file's first continues its run: timed, they take the per-file fast
 * path. For test_files_timed.sh: the files' read and write times and
 * slowest accesses must be the io.read and io.write latencies' sums and
 * maxima. The program makes no other read or write calls (it prints
 * nothing). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PIPE_BYTES 4096

/* Whether process PID is asleep (state S in /proc/PID/stat). */
static int asleep(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* after the command's name */
    return end && end[1] == ' ' && end[2] == 'S';
}

/* The reader: waits until the FIFO is full and the writer asleep (blocked
 * in a write: it does nothing else), then reads to the end. */
static int reader(const char *path, pid_t writer)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 1;
    int queued = 0;
    long tries = 0;
    for (; tries < 100000000L; tries++) {
        if (ioctl(fd, FIONREAD, &queued) != 0)
            return 1;
        if (queued >= PIPE_BYTES && asleep(writer))
            break;
        sched_yield();
    }
    if (tries == 100000000L)
        return 1;
    char buf[PIPE_BYTES];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        ;
    return n == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: files_timed DIR N\n");
        return 2;
    }
    long n = atol(argv[2]);
    char path[4096];
    snprintf(path, sizeof path, "%s/timed.fifo", argv[1]);
    if (n < 2 * PIPE_BYTES || (mkfifo(path, 0600) != 0 && errno != EEXIST))
        return 2;
    pid_t self = getpid(), child = fork();
    if (child < 0)
        return 1;
    if (child == 0)
        _exit(reader(path, self));
    int fd = open(path, O_WRONLY);
    if (fd < 0 || fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES) < PIPE_BYTES)
        return 1;
    for (long i = 0; i < n; i++)
        if (write(fd, "x", 1) != 1)
            return 1;
    close(fd);
    int st = 0;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
        return 1;
    int z = open("/dev/zero", O_RDONLY);
    char c;
    for (long i = 0; i < n; i++)
        if (z < 0 || read(z, &c, 1) != 1)
            return 1;
    close(z);
    return 0;
}
