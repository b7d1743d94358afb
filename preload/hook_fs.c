/* fs family: opening, closing, duplicating, seeking, syncing, truncating,
 * stat in every name glibc exports, unlink, rename, mkdir. Records calls
 * and errors. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"

/* open's mode argument exists only with O_CREAT or O_TMPFILE; reading it
 * otherwise reads garbage (and is undefined behaviour). */
static int needs_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define OPEN_HOOK(name)                                                        \
    MMP_REAL(int, name, (const char *, int, ...))                              \
    static __attribute__((noinline)) int mmp_timed_##name(                     \
        const char *path, int flags, mode_t mode)                              \
    {                                                                          \
        uint64_t mmp_t0 = mmp_clock();                                         \
        int mmp_r = real_##name(path, flags, mode);                            \
        mmp_record(&mmp_calls[MMP_CALL_##name], mmp_t0, 2, mmp_r < 0, 0, 0);   \
        return mmp_r;                                                          \
    }                                                                          \
    MMP_HOOK int name(const char *path, int flags, ...)                        \
    {                                                                          \
        mode_t mode = 0;                                                       \
        if (needs_mode(flags)) {                                               \
            va_list ap;                                                        \
            va_start(ap, flags);                                               \
            mode = (mode_t)va_arg(ap, int);                                    \
            va_end(ap);                                                        \
        }                                                                      \
        if (MMS_UNLIKELY(!get_##name())) {                                     \
            errno = ENOSYS;                                                    \
            return -1;                                                         \
        }                                                                      \
        uint8_t mmp_mode = __atomic_load_n(&mmp_calls[MMP_CALL_##name].mode,   \
                                           __ATOMIC_RELAXED);                  \
        if (MMS_UNLIKELY(mmp_mode == MMP_TIMED))                               \
            return mmp_timed_##name(path, flags, mode);                        \
        int mmp_r = real_##name(path, flags, mode);                            \
        if (mmp_mode != MMP_OFF)                                               \
            mmp_record(&mmp_calls[MMP_CALL_##name], 0, 2, mmp_r < 0, 0, 0);    \
        return mmp_r;                                                          \
    }
OPEN_HOOK(open)
OPEN_HOOK(open64)

#define OPENAT_HOOK(name)                                                      \
    MMP_REAL(int, name, (int, const char *, int, ...))                         \
    static __attribute__((noinline)) int mmp_timed_##name(                     \
        int dirfd, const char *path, int flags, mode_t mode)                   \
    {                                                                          \
        uint64_t mmp_t0 = mmp_clock();                                         \
        int mmp_r = real_##name(dirfd, path, flags, mode);                     \
        mmp_record(&mmp_calls[MMP_CALL_##name], mmp_t0, 2, mmp_r < 0, 0, 0);   \
        return mmp_r;                                                          \
    }                                                                          \
    MMP_HOOK int name(int dirfd, const char *path, int flags, ...)             \
    {                                                                          \
        mode_t mode = 0;                                                       \
        if (needs_mode(flags)) {                                               \
            va_list ap;                                                        \
            va_start(ap, flags);                                               \
            mode = (mode_t)va_arg(ap, int);                                    \
            va_end(ap);                                                        \
        }                                                                      \
        if (MMS_UNLIKELY(!get_##name())) {                                     \
            errno = ENOSYS;                                                    \
            return -1;                                                         \
        }                                                                      \
        uint8_t mmp_mode = __atomic_load_n(&mmp_calls[MMP_CALL_##name].mode,   \
                                           __ATOMIC_RELAXED);                  \
        if (MMS_UNLIKELY(mmp_mode == MMP_TIMED))                               \
            return mmp_timed_##name(dirfd, path, flags, mode);                 \
        int mmp_r = real_##name(dirfd, path, flags, mode);                     \
        if (mmp_mode != MMP_OFF)                                               \
            mmp_record(&mmp_calls[MMP_CALL_##name], 0, 2, mmp_r < 0, 0, 0);    \
        return mmp_r;                                                          \
    }
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)

/* A hook whose result is an int (or ssize_t/off_t), -1 on error, and
 * whose arguments pass through unchanged. */
#define SIMPLE_HOOK(ret, name, params, args)                                   \
    MMP_DEFINE_CALL(ret, name, params, args, -1, mmp_r < 0)

SIMPLE_HOOK(int, creat, (const char *p, mode_t m), (p, m))
SIMPLE_HOOK(int, creat64, (const char *p, mode_t m), (p, m))
/* Fortified open: the caller passed no mode, and the real one checks. */
SIMPLE_HOOK(int, __open_2, (const char *p, int f), (p, f))
SIMPLE_HOOK(int, __open64_2, (const char *p, int f), (p, f))
SIMPLE_HOOK(int, __openat_2, (int d, const char *p, int f), (d, p, f))
SIMPLE_HOOK(int, __openat64_2, (int d, const char *p, int f), (d, p, f))
SIMPLE_HOOK(int, close, (int fd), (fd))
SIMPLE_HOOK(int, dup, (int fd), (fd))
SIMPLE_HOOK(int, dup2, (int a, int b), (a, b))
SIMPLE_HOOK(int, dup3, (int a, int b, int f), (a, b, f))
SIMPLE_HOOK(off_t, lseek, (int fd, off_t o, int w), (fd, o, w))
SIMPLE_HOOK(off64_t, lseek64, (int fd, off64_t o, int w), (fd, o, w))
SIMPLE_HOOK(int, fsync, (int fd), (fd))
SIMPLE_HOOK(int, fdatasync, (int fd), (fd))
SIMPLE_HOOK(int, ftruncate, (int fd, off_t l), (fd, l))
SIMPLE_HOOK(int, ftruncate64, (int fd, off64_t l), (fd, l))
SIMPLE_HOOK(int, stat, (const char *p, struct stat *s), (p, s))
SIMPLE_HOOK(int, stat64, (const char *p, struct stat64 *s), (p, s))
SIMPLE_HOOK(int, fstat, (int fd, struct stat *s), (fd, s))
SIMPLE_HOOK(int, fstat64, (int fd, struct stat64 *s), (fd, s))
SIMPLE_HOOK(int, lstat, (const char *p, struct stat *s), (p, s))
SIMPLE_HOOK(int, lstat64, (const char *p, struct stat64 *s), (p, s))
SIMPLE_HOOK(int, fstatat, (int d, const char *p, struct stat *s, int f),
            (d, p, s, f))
SIMPLE_HOOK(int, fstatat64, (int d, const char *p, struct stat64 *s, int f),
            (d, p, s, f))
SIMPLE_HOOK(int, statx,
            (int d, const char *p, int f, unsigned m, struct statx *s),
            (d, p, f, m, s))
/* Before glibc 2.33 the stat family were these (binaries built then still
 * call them). */
SIMPLE_HOOK(int, __xstat, (int v, const char *p, struct stat *s), (v, p, s))
SIMPLE_HOOK(int, __xstat64, (int v, const char *p, struct stat64 *s), (v, p, s))
SIMPLE_HOOK(int, __fxstat, (int v, int fd, struct stat *s), (v, fd, s))
SIMPLE_HOOK(int, __fxstat64, (int v, int fd, struct stat64 *s), (v, fd, s))
SIMPLE_HOOK(int, __lxstat, (int v, const char *p, struct stat *s), (v, p, s))
SIMPLE_HOOK(int, __lxstat64, (int v, const char *p, struct stat64 *s),
            (v, p, s))
SIMPLE_HOOK(int, __fxstatat,
            (int v, int d, const char *p, struct stat *s, int f),
            (v, d, p, s, f))
SIMPLE_HOOK(int, __fxstatat64,
            (int v, int d, const char *p, struct stat64 *s, int f),
            (v, d, p, s, f))
SIMPLE_HOOK(int, unlink, (const char *p), (p))
SIMPLE_HOOK(int, unlinkat, (int d, const char *p, int f), (d, p, f))
SIMPLE_HOOK(int, rename, (const char *a, const char *b), (a, b))
SIMPLE_HOOK(int, renameat, (int da, const char *a, int db, const char *b),
            (da, a, db, b))
SIMPLE_HOOK(int, mkdir, (const char *p, mode_t m), (p, m))
SIMPLE_HOOK(int, mkdirat, (int d, const char *p, mode_t m), (d, p, m))
