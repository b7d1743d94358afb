/* Raw system calls for the writer's slow paths (growing the file, mapping
 * extents, refilling the private pool). Called through syscall(2) rather
 * than the libc wrappers, so that the preload shim, which links this code
 * and exports open, close, mmap..., never records (or re-enters on) the
 * core's own calls. Each keeps errno and returns the result or -errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static long sys_ret(long r, int saved)
{
    long out = r < 0 ? -(long)errno : r;
    errno = saved;
    return out;
}

int mms__sys_open(const char *path, int flags, unsigned mode)
{
    int saved = errno;
    return (int)sys_ret(syscall(SYS_openat, AT_FDCWD, path, flags, mode),
                        saved);
}

int mms__sys_close(int fd)
{
    int saved = errno;
    return (int)sys_ret(syscall(SYS_close, fd), saved);
}

int mms__sys_fallocate(int fd, uint64_t off, uint64_t len)
{
    int saved = errno;
    long r = syscall(SYS_fallocate, fd, 0, (off_t)off, (off_t)len);
    if (r < 0 && errno == EOPNOTSUPP) {
        /* A filesystem without fallocate: the size at least (sparse; a
         * full disk is then found by the kernel's writeback, as for any
         * program's mapped file). */
        struct stat st;
        if (syscall(SYS_fstat, fd, &st) == 0 &&
            (uint64_t)st.st_size >= off + len)
            r = 0;
        else
            r = syscall(SYS_ftruncate, fd, (off_t)(off + len));
    }
    return (int)sys_ret(r, saved);
}

int mms__sys_fstat(int fd, dev_t *dev, ino_t *ino, uint64_t *size)
{
    int saved = errno;
    struct stat st;
    long r = syscall(SYS_fstat, fd, &st);
    if (r == 0) {
        if (dev)
            *dev = st.st_dev;
        if (ino)
            *ino = st.st_ino;
        if (size)
            *size = (uint64_t)st.st_size;
    }
    return (int)sys_ret(r, saved);
}

void *mms__sys_mmap(void *addr, size_t len, int prot, int flags, int fd,
                    uint64_t off, int *err)
{
    int saved = errno;
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, (off_t)off);
    if (r == -1) {
        if (err)
            *err = errno;
        errno = saved;
        return MAP_FAILED;
    }
    errno = saved;
    return (void *)r; /* NOLINT(performance-no-int-to-ptr): mmap's result */
}

int mms__sys_munmap(void *addr, size_t len)
{
    int saved = errno;
    return (int)sys_ret(syscall(SYS_munmap, addr, len), saved);
}
