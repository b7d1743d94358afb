/* Every 64-bit alias and the odd names the shim hooks, called once each by
 * the name a program would use: pf_variants DIR. Prints one line per call
 * (same output with and without the shim); exit 0 if all succeeded. */
#include <dlfcn.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "pf_common.h"

/* The fortified pread, as -D_FORTIFY_SOURCE code calls it. */
extern ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off,
                             size_t buflen);

/* glibc < 2.33 stat entry points: since 2.33 they exist only as compat
 * symbols. On x86-64 bind to them by version, as an old binary does;
 * elsewhere, look them up. */
#if defined(__x86_64__)
int old_xstat(int, const char *, struct stat *);
int old_lxstat(int, const char *, struct stat *);
int old_fxstat(int, int, struct stat *);
int old_xstat64(int, const char *, struct stat64 *);
int old_fxstatat(int, int, const char *, struct stat *, int);
__asm__(".symver old_xstat, __xstat@GLIBC_2.2.5");
__asm__(".symver old_lxstat, __lxstat@GLIBC_2.2.5");
__asm__(".symver old_fxstat, __fxstat@GLIBC_2.2.5");
__asm__(".symver old_xstat64, __xstat64@GLIBC_2.2.5");
__asm__(".symver old_fxstatat, __fxstatat@GLIBC_2.4");
#define OLD(name) old_##name
#else
#define OLD(name) ((__typeof__(&old_##name))dlsym(RTLD_DEFAULT, "__" #name))
int old_xstat(int, const char *, struct stat *);
int old_lxstat(int, const char *, struct stat *);
int old_fxstat(int, int, struct stat *);
int old_xstat64(int, const char *, struct stat64 *);
int old_fxstatat(int, int, const char *, struct stat *, int);
#endif
#define STAT_VER 1 /* _STAT_VER_LINUX on x86-64 */

static int fails;

static void check(const char *name, long r, long want)
{
    printf("%-13s %s\n", name, r == want ? "ok" : "FAILED");
    if (r != want) {
        fprintf(stderr, "%s: got %ld, want %ld (%s)\n", name, r, want,
                strerror(errno));
        fails++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    if (chdir(argv[1]) < 0)
        pf_die(argv[1]);
    char buf[64] = "0123456789abcdef", in[64];
    struct iovec iov = {in, 8};
    struct stat st;
    struct stat64 st64;
    struct statx stx;

    int fd = open64("v", O_RDWR | O_CREAT | O_TRUNC, 0600);
    check("open64", fd >= 0, 1);
    check("pwrite64", pwrite64(fd, buf, 16, 0), 16);
    check("pread64", pread64(fd, in, 8, 0), 8);
    iov.iov_base = buf;
    check("pwritev64", pwritev64(fd, &iov, 1, 16), 8);
    check("pwritev64v2", pwritev64v2(fd, &iov, 1, 24, 0), 8);
    iov.iov_base = in;
    check("preadv64", preadv64(fd, &iov, 1, 0), 8);
    check("preadv64v2", preadv64v2(fd, &iov, 1, 8, 0), 8);
    check("__pread64_chk", __pread64_chk(fd, in, 8, 0, sizeof in), 8);
    check("lseek64", lseek64(fd, 4, SEEK_SET), 4);
    check("ftruncate64", ftruncate64(fd, 32), 0);
    check("fstat64", fstat64(fd, &st64) == 0 && st64.st_size == 32, 1);
    check("stat64", stat64("v", &st64), 0);
    check("lstat64", lstat64("v", &st64), 0);
    check("fstatat64", fstatat64(AT_FDCWD, "v", &st64, 0), 0);
    check("statx",
          statx(AT_FDCWD, "v", 0, STATX_SIZE, &stx) == 0 && stx.stx_size == 32,
          1);
    check("__xstat", OLD(xstat)(STAT_VER, "v", &st) == 0 && st.st_size == 32,
          1);
    check("__xstat64", OLD(xstat64)(STAT_VER, "v", &st64), 0);
    check("__lxstat", OLD(lxstat)(STAT_VER, "v", &st), 0);
    check("__fxstat", OLD(fxstat)(STAT_VER, fd, &st), 0);
    check("__fxstatat", OLD(fxstatat)(STAT_VER, AT_FDCWD, "v", &st, 0), 0);
    int fd2 = openat64(AT_FDCWD, "v", O_RDONLY);
    check("openat64", fd2 >= 0, 1);
    close(fd2);
    fd2 = creat64("w", 0600);
    check("creat64", fd2 >= 0, 1);
    close(fd2);
    FILE *f = fopen64("v", "r");
    check("fopen64", f != NULL, 1);
    if (f)
        fclose(f);
    close(fd);

    /* epoll_pwait: one ready descriptor (a pipe with data). */
    int p[2];
    if (pipe(p) < 0 || write(p[1], "e", 1) != 1)
        pf_die("pipe");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]}, out[4];
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) < 0)
        pf_die("epoll");
    check("epoll_pwait", epoll_pwait(ep, out, 4, 1000, NULL), 1);
    return fails != 0;
}
