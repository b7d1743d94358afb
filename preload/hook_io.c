/* io family: read/write and their positional, vector and fortified forms.
 * Records calls, errors, bytes requested and bytes moved. */
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"

static uint64_t iov_bytes(const struct iovec *iov, int n)
{
    uint64_t sum = 0;
    for (int i = 0; i < n && iov; i++)
        sum += iov[i].iov_len;
    return sum;
}

#define GOT(r) ((r) > 0 ? (uint64_t)(r) : 0)

MMP_DEFINE_XFER(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n), -1,
                mmp_r < 0, n, GOT(mmp_r))
MMP_DEFINE_XFER(ssize_t, write, (int fd, const void *buf, size_t n),
                (fd, buf, n), -1, mmp_r < 0, n, GOT(mmp_r))

/* pread/pwrite and their 64-bit names (aliases on 64-bit systems, hooked
 * separately so each name is counted as the program called it). */
#define POS_IO(name, bufq, off_t_)                                             \
    MMP_DEFINE_XFER(ssize_t, name,                                             \
                    (int fd, bufq void *buf, size_t n, off_t_ off),            \
                    (fd, buf, n, off), -1, mmp_r < 0, n, GOT(mmp_r))
POS_IO(pread, , off_t)
POS_IO(pread64, , off64_t)
POS_IO(pwrite, const, off_t)
POS_IO(pwrite64, const, off64_t)

MMP_DEFINE_XFER(ssize_t, readv, (int fd, const struct iovec *iov, int cnt),
                (fd, iov, cnt), -1, mmp_r < 0, iov_bytes(iov, cnt), GOT(mmp_r))
MMP_DEFINE_XFER(ssize_t, writev, (int fd, const struct iovec *iov, int cnt),
                (fd, iov, cnt), -1, mmp_r < 0, iov_bytes(iov, cnt), GOT(mmp_r))

#define POS_IOV(name, off_t_)                                                  \
    MMP_DEFINE_XFER(                                                           \
        ssize_t, name, (int fd, const struct iovec *iov, int cnt, off_t_ off), \
        (fd, iov, cnt, off), -1, mmp_r < 0, iov_bytes(iov, cnt), GOT(mmp_r))
POS_IOV(preadv, off_t)
POS_IOV(preadv64, off64_t)
POS_IOV(pwritev, off_t)
POS_IOV(pwritev64, off64_t)

#define POS_IOV2(name, off_t_)                                                 \
    MMP_DEFINE_XFER(                                                           \
        ssize_t, name,                                                         \
        (int fd, const struct iovec *iov, int cnt, off_t_ off, int flags),     \
        (fd, iov, cnt, off, flags), -1, mmp_r < 0, iov_bytes(iov, cnt),        \
        GOT(mmp_r))
POS_IOV2(preadv2, off_t)
POS_IOV2(preadv64v2, off64_t)
POS_IOV2(pwritev2, off_t)
POS_IOV2(pwritev64v2, off64_t)

/* Fortified forms (-D_FORTIFY_SOURCE): the extra argument is the buffer's
 * size, checked by the real function. */
MMP_DEFINE_XFER(ssize_t, __read_chk,
                (int fd, void *buf, size_t n, size_t buflen),
                (fd, buf, n, buflen), -1, mmp_r < 0, n, GOT(mmp_r))
#define PREAD_CHK(name, off_t_)                                                \
    MMP_DEFINE_XFER(ssize_t, name,                                             \
                    (int fd, void *buf, size_t n, off_t_ off, size_t buflen),  \
                    (fd, buf, n, off, buflen), -1, mmp_r < 0, n, GOT(mmp_r))
PREAD_CHK(__pread_chk, off_t)
PREAD_CHK(__pread64_chk, off64_t)

/* Copies inside the kernel (cp and cat use copy_file_range): requested
 * and moved bytes as for read and write. */
MMP_DEFINE_XFER(ssize_t, copy_file_range,
                (int in, off64_t *inoff, int out, off64_t *outoff, size_t n,
                 unsigned flags),
                (in, inoff, out, outoff, n, flags), -1, mmp_r < 0, n,
                GOT(mmp_r))
MMP_DEFINE_XFER(ssize_t, sendfile, (int out, int in, off_t *off, size_t n),
                (out, in, off, n), -1, mmp_r < 0, n, GOT(mmp_r))
MMP_DEFINE_XFER(ssize_t, sendfile64, (int out, int in, off64_t *off, size_t n),
                (out, in, off, n), -1, mmp_r < 0, n, GOT(mmp_r))
MMP_DEFINE_XFER(ssize_t, splice,
                (int in, off64_t *inoff, int out, off64_t *outoff, size_t n,
                 unsigned flags),
                (in, inoff, out, outoff, n, flags), -1, mmp_r < 0, n,
                GOT(mmp_r))
