/* net family: sockets, sending and receiving (bytes requested and moved),
 * and waiting for readiness (poll, select, epoll: the latency histogram is
 * the time blocked; "ready" counts the descriptors or events returned). */
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>

#include "shim.h"

#define GOT(r) ((r) > 0 ? (uint64_t)(r) : 0)

static uint64_t msg_bytes(const struct msghdr *m)
{
    uint64_t sum = 0;
    for (size_t i = 0; m && m->msg_iov && i < m->msg_iovlen; i++)
        sum += m->msg_iov[i].iov_len;
    return sum;
}

#define CALL_HOOK(ret, name, params, args)                                     \
    MMP_DEFINE_CALL(ret, name, params, args, -1, mmp_r < 0)

/* REQ is an expression of the arguments: the bytes asked for. */
#define XFER_HOOK(name, params, args, req)                                     \
    MMP_DEFINE_XFER(ssize_t, name, params, args, -1, mmp_r < 0, req, GOT(mmp_r))

#define WAIT_HOOK(name, params, args)                                          \
    MMP_DEFINE_WAIT(int, name, params, args, -1, mmp_r < 0, GOT(mmp_r))

CALL_HOOK(int, socket, (int d, int t, int p), (d, t, p))
CALL_HOOK(int, connect, (int fd, const struct sockaddr *a, socklen_t l),
          (fd, a, l))
CALL_HOOK(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
CALL_HOOK(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int f),
          (fd, a, l, f))
XFER_HOOK(send, (int fd, const void *b, size_t n, int f), (fd, b, n, f), n)
XFER_HOOK(sendto,
          (int fd, const void *b, size_t n, int f, const struct sockaddr *a,
           socklen_t l),
          (fd, b, n, f, a, l), n)
XFER_HOOK(sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f),
          msg_bytes(m))
XFER_HOOK(recv, (int fd, void *b, size_t n, int f), (fd, b, n, f), n)
XFER_HOOK(recvfrom,
          (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),
          (fd, b, n, f, a, l), n)
XFER_HOOK(recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f), msg_bytes(m))
XFER_HOOK(__recv_chk, (int fd, void *b, size_t n, size_t bl, int f),
          (fd, b, n, bl, f), n)
XFER_HOOK(__recvfrom_chk,
          (int fd, void *b, size_t n, size_t bl, int f, struct sockaddr *a,
           socklen_t *l),
          (fd, b, n, bl, f, a, l), n)
WAIT_HOOK(poll, (struct pollfd * p, nfds_t n, int t), (p, n, t))
WAIT_HOOK(ppoll,
          (struct pollfd * p, nfds_t n, const struct timespec *t,
           const sigset_t *s),
          (p, n, t, s))
WAIT_HOOK(select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t),
          (n, r, w, e, t))
WAIT_HOOK(pselect,
          (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
           const sigset_t *s),
          (n, r, w, e, t, s))
WAIT_HOOK(epoll_wait, (int fd, struct epoll_event *ev, int n, int t),
          (fd, ev, n, t))
WAIT_HOOK(epoll_pwait,
          (int fd, struct epoll_event *ev, int n, int t, const sigset_t *s),
          (fd, ev, n, t, s))
