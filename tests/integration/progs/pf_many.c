/* One call each of many distinct hooked calls (77 of them), from one
 * thread: each must get its fields, and with timing its latency
 * histogram, whatever MMSTATS_HIST_BITS says. Prints "calls made" and
 * exits 0; every call's result is checked loosely (the test compares the
 * stats, not the calls' work). DIR is a scratch directory. */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "pf_common.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (chdir(argv[1]) != 0)
        pf_die("chdir");
    char buf[64] = "0123456789";
    struct iovec v = {buf, 4};
    struct stat st;
    struct stat64 st64;
    struct statx stx;
    int fd = open("a", O_RDWR | O_CREAT | O_TRUNC, 0600);
    int fd64 = open64("b", O_RDWR | O_CREAT | O_TRUNC, 0600);
    int fa = openat(AT_FDCWD, "c", O_RDWR | O_CREAT, 0600);
    int fa64 = openat64(AT_FDCWD, "d", O_RDWR | O_CREAT, 0600);
    int fc = creat("e", 0600), fc64 = creat64("f", 0600);
    if (fd < 0 || fd64 < 0 || fa < 0 || fa64 < 0 || fc < 0 || fc64 < 0)
        pf_die("open");
    (void)!write(fd, buf, 10);
    (void)!pwrite(fd, buf, 4, 0);
    (void)!pwrite64(fd, buf, 4, 4);
    (void)!writev(fd, &v, 1);
    (void)!pwritev(fd, &v, 1, 0);
    (void)!pwritev64(fd, &v, 1, 0);
    (void)!pwritev2(fd, &v, 1, 0, 0);
    (void)!pwritev64v2(fd, &v, 1, 0, 0);
    (void)!lseek(fd, 0, SEEK_SET);
    (void)!lseek64(fd, 0, SEEK_SET);
    (void)!read(fd, buf, 4);
    (void)!pread(fd, buf, 4, 0);
    (void)!pread64(fd, buf, 4, 0);
    (void)!readv(fd, &v, 1);
    (void)!preadv(fd, &v, 1, 0);
    (void)!preadv64(fd, &v, 1, 0);
    (void)!preadv2(fd, &v, 1, 0, 0);
    (void)!preadv64v2(fd, &v, 1, 0, 0);
    (void)!fsync(fd);
    (void)!fdatasync(fd);
    (void)!ftruncate(fd, 10);
    (void)!ftruncate64(fd, 10);
    (void)!copy_file_range(fd, NULL, fd64, NULL, 4, 0);
    (void)!lseek(fd, 0, SEEK_SET);
    (void)!sendfile(fa, fd, NULL, 4);
    (void)!sendfile64(fa64, fd, NULL, 4);
    (void)!stat("a", &st);
    (void)!stat64("a", &st64);
    (void)!fstat(fd, &st);
    (void)!fstat64(fd, &st64);
    (void)!lstat("a", &st);
    (void)!lstat64("a", &st64);
    (void)!fstatat(AT_FDCWD, "a", &st, 0);
    (void)!fstatat64(AT_FDCWD, "a", &st64, 0);
    (void)!statx(AT_FDCWD, "a", 0, STATX_SIZE, &stx);
    int d = dup(fd);
    (void)!dup2(d, d + 1);
    (void)!dup3(d, d + 2, O_CLOEXEC);
    (void)!close(d + 2);
    (void)!close(d + 1);
    (void)!close(d);
    (void)!mkdir("m", 0700);
    (void)!mkdirat(AT_FDCWD, "n", 0700);
    (void)!rename("e", "e2");
    (void)!renameat(AT_FDCWD, "f", AT_FDCWD, "f2");
    (void)!unlink("e2");
    (void)!unlinkat(AT_FDCWD, "n", AT_REMOVEDIR);
    int pfd[2];
    if (pipe(pfd) != 0)
        pf_die("pipe");
    (void)!splice(fd, NULL, pfd[1], NULL, 4, 0);
    int sv[2];
    (void)!socket(AF_UNIX, SOCK_DGRAM, 0);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        pf_die("socketpair");
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
    (void)!send(sv[0], buf, 4, 0);
    (void)!sendto(sv[0], buf, 4, 0, NULL, 0);
    (void)!sendmsg(sv[0], &m, 0);
    (void)!recv(sv[1], buf, 4, 0);
    (void)!recvfrom(sv[1], buf, 4, 0, NULL, NULL);
    (void)!recvmsg(sv[1], &m, 0);
    struct pollfd p = {sv[1], POLLIN, 0};
    struct timespec zero = {0, 0};
    struct timeval tv = {0, 0};
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(sv[1], &rd);
    (void)!poll(&p, 1, 0);
    (void)!ppoll(&p, 1, &zero, NULL);
    (void)!select(sv[1] + 1, &rd, NULL, NULL, &tv);
    (void)!pselect(sv[1] + 1, &rd, NULL, NULL, &zero, NULL);
    int ep = epoll_create1(0);
    struct epoll_event ev;
    (void)!epoll_wait(ep, &ev, 1, 0);
    (void)!epoll_pwait(ep, &ev, 1, 0, NULL);
    FILE *f = fopen("g", "w+");
    FILE *f64 = fopen64("h", "w+");
    FILE *fdf = fdopen(dup(fd), "r");
    if (!f || !f64 || !fdf)
        pf_die("fopen");
    (void)!fwrite(buf, 1, 4, f);
    (void)!fputs("line\n", f);
    (void)!fflush(f);
    rewind(f);
    (void)!fread(buf, 1, 4, f);
    (void)!fgets(buf, sizeof buf, f);
    (void)!fclose(f);
    (void)!fclose(f64);
    (void)!fclose(fdf);
    printf("calls made\n");
    return 0;
}
