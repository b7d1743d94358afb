/* fork: the parent writes 10 times, forks; the child writes 5 times and
 * exits; the parent then writes 3 more times. The child, gone at once,
 * makes no file: its 5 writes are added to the parent's file at its exit
 * (18 there, nothing counted twice). Prints both pids, and whether fork
 * left errno alone.
 * pf_fork limit: the same under a 1 MiB file size limit.
 * pf_fork rows: parent and child also read once from a bad descriptor
 * and make 60 other distinct calls (each failing, changing nothing), the
 * parent before the fork (so its file has their fields): the child makes
 * more distinct calls than it keeps in memory (48), so it makes its own
 * file, with all its counts (without the limit, they would all be added
 * to its parent's). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <utime.h>

#include "pf_common.h"

/* 60 distinct hooked calls, each failing at once (a bad descriptor, a
 * path that does not exist): nothing changes. */
static void distinct_calls(void)
{
    const char *no = "/nonexistent-mmstats-pf/x";
    char buf[8];
    struct stat st;
    struct statfs sfs;
    struct statvfs svfs;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {0};
    struct timeval tv[2] = {{0, 0}, {0, 0}};
    struct timespec ts[2] = {{0, 0}, {0, 0}};
    int v = 0;
    socklen_t vl = sizeof v;
    (void)!pread(-1, buf, 1, 0);
    (void)!pwrite(-1, buf, 1, 0);
    (void)!readv(-1, &iov, 1);
    (void)!writev(-1, &iov, 1);
    (void)!preadv(-1, &iov, 1, 0);
    (void)!pwritev(-1, &iov, 1, 0);
    (void)!lseek(-1, 0, SEEK_SET);
    (void)!fsync(-1);
    (void)!fdatasync(-1);
    (void)!ftruncate(-1, 0);
    (void)!fstat(-1, &st);
    (void)!fstatfs(-1, &sfs);
    (void)!fstatvfs(-1, &svfs);
    (void)!fchmod(-1, 0600);
    (void)!fchown(-1, 0, 0);
    (void)!fchdir(-1);
    (void)!dup(-1);
    (void)!dup2(-1, 1000);
    (void)!futimens(-1, ts);
    (void)!fgetxattr(-1, "user.x", buf, sizeof buf);
    (void)!fsetxattr(-1, "user.x", buf, 1, 0);
    (void)!flistxattr(-1, buf, sizeof buf);
    (void)!fremovexattr(-1, "user.x");
    (void)!fallocate(-1, 0, 0, 1);
    (void)!posix_fallocate(-1, 0, 1);
    (void)!accept(-1, NULL, NULL);
    (void)!connect(-1, NULL, 0);
    (void)!send(-1, buf, 1, 0);
    (void)!recv(-1, buf, 1, 0);
    (void)!sendto(-1, buf, 1, 0, NULL, 0);
    (void)!recvfrom(-1, buf, 1, 0, NULL, NULL);
    (void)!sendmsg(-1, &mh, 0);
    (void)!recvmsg(-1, &mh, 0);
    (void)!shutdown(-1, SHUT_RDWR);
    (void)!getsockopt(-1, SOL_SOCKET, SO_TYPE, &v, &vl);
    (void)!setsockopt(-1, SOL_SOCKET, SO_TYPE, &v, vl);
    (void)!stat(no, &st);
    (void)!lstat(no, &st);
    (void)!access(no, F_OK);
    (void)!unlink(no);
    (void)!rmdir(no);
    (void)!mkdir(no, 0700);
    (void)!chmod(no, 0600);
    (void)!chown(no, 0, 0);
    (void)!lchown(no, 0, 0);
    (void)!truncate(no, 0);
    (void)!statfs(no, &sfs);
    (void)!statvfs(no, &svfs);
    (void)!readlink(no, buf, sizeof buf);
    (void)!rename(no, no);
    (void)!link(no, no);
    (void)!symlink(no, no);
    (void)!utime(no, NULL);
    (void)!utimes(no, tv);
    (void)!getxattr(no, "user.x", buf, sizeof buf);
    (void)!lgetxattr(no, "user.x", buf, sizeof buf);
    (void)!setxattr(no, "user.x", buf, 1, 0);
    (void)!listxattr(no, buf, sizeof buf);
    (void)!removexattr(no, "user.x");
    (void)!poll(NULL, 0, 0);
}

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
    bool rows = argc > 1 && !strcmp(argv[1], "rows");
    if (rows) {
        char c;
        (void)!read(-1, &c, 1);
        distinct_calls();
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
        if (rows) {
            char c;
            (void)!read(-1, &c, 1);
            distinct_calls();
        }
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
