/* Calls whose pointer arguments libc rejects (EFAULT, EINVAL, EMSGSIZE):
 * the shim must not read the caller's memory before the real call has
 * checked it, so each returns as it does bare, and nothing crashes.
 * Prints one line per call: its result and errno. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/xattr.h>

#include "pf_common.h"

/* V, opaque to the compiler (which would refuse the calls below). */
static void *bad(uintptr_t v)
{
    __asm__ volatile("" : "+r"(v));
    return (void *)v;
}
static int big(int v)
{
    __asm__ volatile("" : "+r"(v));
    return v;
}

static void show(const char *what, long r)
{
    printf("%-28s -> %ld %s\n", what, r, r < 0 ? strerrorname_np(errno) : "");
    fflush(stdout);
}

int main(void)
{
    int fd = pf_devnull();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        pf_die("socketpair");
    struct iovec v[2] = {{"ab", 2}, {"cd", 2}};
    show("writev(bad iov)", writev(fd, bad(8), 2));
    show("writev(cnt 1<<28)", writev(fd, bad((uintptr_t)v), big(1 << 28)));
    show("readv(bad iov)", readv(0, bad(0x10), 5));
    show("preadv(bad iov)", preadv(fd, bad(0x10), 3, 0));
    show("pwritev(bad iov)", pwritev(fd, bad(0x10), 3, 0));
    show("preadv2(bad iov)", preadv2(fd, bad(0x10), 3, 0, 0));
    show("pwritev2(bad iov)", pwritev2(fd, bad(0x10), 3, 0, 0));
    show("sendmsg(bad msghdr)", sendmsg(sv[0], bad(0x20), 0));
    struct msghdr m = {0};
    m.msg_iov = bad(0x30);
    m.msg_iovlen = 4;
    show("sendmsg(bad msg_iov)", sendmsg(sv[0], &m, 0));
    show("recvmsg(bad msg_iov)", recvmsg(sv[1], &m, MSG_DONTWAIT));
    m.msg_iov = v;
    m.msg_iovlen = (size_t)1 << 40;
    show("recvmsg(iovlen 1<<40)", recvmsg(sv[1], &m, MSG_DONTWAIT));
    show("sendmsg(iovlen 1<<40)", sendmsg(sv[0], &m, 0));
    /* Issue 16's calls: buffers the kernel rejects. */
    show("readlink(bad buf)", readlink("/proc/self/exe", bad(8), 64));
    show("getxattr(bad value)", getxattr("/", "user.none", bad(8), 64));
    show("listxattr(bad list)", listxattr("/", bad(8), 4096));
    int dfd = open("/", O_RDONLY | O_DIRECTORY);
    show("getdents64(bad buf)", getdents64(dfd, bad(8), 4096));
    show("statfs(bad buf)", statfs("/", bad(8)));
    show("pipe(bad fds)", pipe(bad(8)));
    int type = 0;
    show("getsockopt(bad len)",
         getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, bad(8)));
    /* And the good ones still count their bytes. */
    m.msg_iovlen = 2;
    show("sendmsg(2 x 2 bytes)", sendmsg(sv[0], &m, 0));
    show("writev(2 x 2 bytes)", writev(fd, v, 2));
    return 0;
}
