/* files family: its hooks. Most are generated from their table entries
 * (calls.h: close_range, chdir, fchdir, mmap, fileno, the fseek family,
 * freopen); fcntl (variadic), closefrom and rewind (void) are written
 * here, recording as a generated CALL hook does. */
#include <fcntl.h>
#include <unistd.h>

#include "shim.h"

MMP_CALLS_files(MMP_DEFINE)

    /* fcntl(fd, cmd, arg): glibc's reads one argument, whatever CMD; so do
     * we. F_DUPFD and F_DUPFD_CLOEXEC make a duplicate. */
    static int fcntl_any(unsigned id, int (*real)(int, int, ...), int fd,
                         int cmd, void *arg)
{
    uint64_t t0 = mmp_is_timed(id) ? mmp_clock() : 0;
    int r = real(fd, cmd, arg);
    uint64_t t1 = t0 ? mmp_clock() : 0;
    MMP_RECORD(id, 0, 2, r < 0, 0, 0);
    if (t1)
        mmp_latency_at(id, t0, t1);
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        mmp_file_dup(fd, r, -1, t0, t1);
    return r;
}

MMP_HOOK int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    mmp_real_fcntl_t real = mmp_real_fcntl();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return fcntl_any(MMP_CALL_fcntl, real, fd, cmd, arg);
}

MMP_HOOK int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    mmp_real_fcntl64_t real = mmp_real_fcntl64();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return fcntl_any(MMP_CALL_fcntl64, real, fd, cmd, arg);
}

/* closefrom(first): the files from FIRST on are closed first (out of the
 * map before the descriptors can be reused), as close_range's are. */
MMP_HOOK void closefrom(int first)
{
    mmp_real_closefrom_t real = mmp_real_closefrom();
    if (!real) {
        errno = ENOSYS;
        return;
    }
    uint64_t t0 = mmp_is_timed(MMP_CALL_closefrom) ? mmp_clock() : 0;
    if (first >= 0)
        mmp_file_range((unsigned)first, ~0u, 0);
    real(first);
    uint64_t t1 = t0 ? mmp_clock() : 0;
    MMP_RECORD(MMP_CALL_closefrom, 0, 2, 0, 0, 0);
    if (t1)
        mmp_latency_at(MMP_CALL_closefrom, t0, t1);
}

MMP_HOOK void rewind(FILE *f)
{
    mmp_real_rewind_t real = mmp_real_rewind();
    if (!real) {
        errno = ENOSYS;
        return;
    }
    uint64_t t0 = mmp_is_timed(MMP_CALL_rewind) ? mmp_clock() : 0;
    real(f);
    uint64_t t1 = t0 ? mmp_clock() : 0;
    MMP_RECORD(MMP_CALL_rewind, 0, 2, 0, 0, 0);
    if (t1)
        mmp_latency_at(MMP_CALL_rewind, t0, t1);
    mmp_file_fseek(f, 0, SEEK_SET, 0, t0, t1);
}
