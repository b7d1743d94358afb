/* io family: read/write and their positional, vector and fortified forms.
 * Records calls, errors, bytes requested and bytes moved. */
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

MMP_REAL(ssize_t, read, (int, void *, size_t))
MMP_HOOK ssize_t read(int fd, void *buf, size_t n)
{
    MMP_BEGIN(read);
    ssize_t r = real_read(fd, buf, n);
    MMP_END_XFER(r < 0, n, GOT(r));
    return r;
}

MMP_REAL(ssize_t, write, (int, const void *, size_t))
MMP_HOOK ssize_t write(int fd, const void *buf, size_t n)
{
    MMP_BEGIN(write);
    ssize_t r = real_write(fd, buf, n);
    MMP_END_XFER(r < 0, n, GOT(r));
    return r;
}

/* pread/pwrite and their 64-bit names (aliases on 64-bit systems, hooked
 * separately so each name is counted as the program called it). */
#define POS_IO(name, bufq, off_t_)                                             \
    MMP_REAL(ssize_t, name, (int, bufq void *, size_t, off_t_))                \
    MMP_HOOK ssize_t name(int fd, bufq void *buf, size_t n, off_t_ off)        \
    {                                                                          \
        MMP_BEGIN(name);                                                       \
        ssize_t mmp_r = real_##name(fd, buf, n, off);                          \
        MMP_END_XFER(mmp_r < 0, n, GOT(mmp_r));                                \
        return mmp_r;                                                          \
    }
POS_IO(pread, , off_t)
POS_IO(pread64, , off64_t)
POS_IO(pwrite, const, off_t)
POS_IO(pwrite64, const, off64_t)

MMP_REAL(ssize_t, readv, (int, const struct iovec *, int))
MMP_HOOK ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    MMP_BEGIN(readv);
    ssize_t r = real_readv(fd, iov, cnt);
    MMP_END_XFER(r < 0, iov_bytes(iov, cnt), GOT(r));
    return r;
}

MMP_REAL(ssize_t, writev, (int, const struct iovec *, int))
MMP_HOOK ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    MMP_BEGIN(writev);
    ssize_t r = real_writev(fd, iov, cnt);
    MMP_END_XFER(r < 0, iov_bytes(iov, cnt), GOT(r));
    return r;
}

#define POS_IOV(name, off_t_)                                                  \
    MMP_REAL(ssize_t, name, (int, const struct iovec *, int, off_t_))          \
    MMP_HOOK ssize_t name(int fd, const struct iovec *iov, int cnt,            \
                          off_t_ off)                                          \
    {                                                                          \
        MMP_BEGIN(name);                                                       \
        ssize_t mmp_r = real_##name(fd, iov, cnt, off);                        \
        MMP_END_XFER(mmp_r < 0, iov_bytes(iov, cnt), GOT(mmp_r));              \
        return mmp_r;                                                          \
    }
POS_IOV(preadv, off_t)
POS_IOV(preadv64, off64_t)
POS_IOV(pwritev, off_t)
POS_IOV(pwritev64, off64_t)

#define POS_IOV2(name, off_t_)                                                 \
    MMP_REAL(ssize_t, name, (int, const struct iovec *, int, off_t_, int))     \
    MMP_HOOK ssize_t name(int fd, const struct iovec *iov, int cnt,            \
                          off_t_ off, int flags)                               \
    {                                                                          \
        MMP_BEGIN(name);                                                       \
        ssize_t mmp_r = real_##name(fd, iov, cnt, off, flags);                 \
        MMP_END_XFER(mmp_r < 0, iov_bytes(iov, cnt), GOT(mmp_r));              \
        return mmp_r;                                                          \
    }
POS_IOV2(preadv2, off_t)
POS_IOV2(preadv64v2, off64_t)
POS_IOV2(pwritev2, off_t)
POS_IOV2(pwritev64v2, off64_t)

/* Fortified forms (-D_FORTIFY_SOURCE): the extra argument is the buffer's
 * size, checked by the real function. */
MMP_REAL(ssize_t, __read_chk, (int, void *, size_t, size_t))
MMP_HOOK ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    MMP_BEGIN(__read_chk);
    ssize_t r = real___read_chk(fd, buf, n, buflen);
    MMP_END_XFER(r < 0, n, GOT(r));
    return r;
}

#define PREAD_CHK(name, off_t_)                                                \
    MMP_REAL(ssize_t, name, (int, void *, size_t, off_t_, size_t))             \
    MMP_HOOK ssize_t name(int fd, void *buf, size_t n, off_t_ off,             \
                          size_t buflen)                                       \
    {                                                                          \
        MMP_BEGIN(name);                                                       \
        ssize_t mmp_r = real_##name(fd, buf, n, off, buflen);                  \
        MMP_END_XFER(mmp_r < 0, n, GOT(mmp_r));                                \
        return mmp_r;                                                          \
    }
PREAD_CHK(__pread_chk, off_t)
PREAD_CHK(__pread64_chk, off64_t)
