/* Built with -O2 -D_FORTIFY_SOURCE=2 (tests/integration/CMakeLists.txt):
 * read, pread, recv, recvfrom, readlink, getcwd and open without a
 * mode, with sizes and flags the compiler cannot see, go to glibc's
 * checking variants
 * (__read_chk, __open_2, ...). pf_fortify FILE N: prints the fortify level
 * and one line per call; exit 0 if all succeeded. */
#include <errno.h>
#include <sys/socket.h>

#include "pf_common.h"

static int fails;

static void check(const char *name, long r, long want)
{
    printf("%-9s %s\n", name, r == want ? "ok" : "FAILED");
    if (r != want) {
        fprintf(stderr, "%s: got %ld, want %ld (%s)\n", name, r, want,
                strerror(errno));
        fails++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *path = argv[1];
    size_t n = strtoul(argv[2], NULL, 10); /* not a constant: checked */
    volatile int vflags = O_RDONLY;
    int flags = vflags; /* not a constant either */
    char buf[64];
#ifdef __USE_FORTIFY_LEVEL
    printf("fortify level %d\n", __USE_FORTIFY_LEVEL);
#else
    printf("fortify level 0\n");
#endif
    int fd = open(path, flags);
    check("open", fd >= 0, 1);
    check("read", read(fd, buf, n), (long)n);
    check("pread", pread(fd, buf, n, 0), (long)n);
    check("pread64", pread64(fd, buf, n, 0), (long)n);
    int fds[4] = {open64(path, flags), openat(AT_FDCWD, path, flags),
                  openat64(AT_FDCWD, path, flags), fd};
    check("open64", fds[0] >= 0, 1);
    check("openat", fds[1] >= 0, 1);
    check("openat64", fds[2] >= 0, 1);
    for (int i = 0; i < 4; i++)
        close(fds[i]);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        pf_die("socketpair");
    memset(buf, 'r', sizeof buf);
    if (send(sv[0], buf, 2 * n, 0) != (ssize_t)(2 * n))
        pf_die("send");
    check("recv", recv(sv[1], buf, n, 0), (long)n);
    check("recvfrom", recvfrom(sv[1], buf, n, 0, NULL, NULL), (long)n);
    /* PATH is no symbolic link: EINVAL, from the checking variants. */
    check("readlink", readlink(path, buf, n), -1);
    check("readlinkat", readlinkat(AT_FDCWD, path, buf, n), -1);
    char cwd[4096];
    check("getcwd", getcwd(cwd, n * 256) != NULL, 1);
    return fails != 0;
}
