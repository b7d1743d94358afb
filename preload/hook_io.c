/* io family: read/write and their positional, vector and fortified
 * forms, the copies inside the kernel (cp and cat use copy_file_range),
 * and device control: ioctl, and isatty and tcgetattr (libc makes their
 * ioctl inside). Every hook but ioctl's is generated from its table
 * entry. */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <termios.h>
#include <unistd.h>

#include "shim.h"

MMP_CALLS_io(MMP_DEFINE)

    /* ioctl(fd, req, arg): glibc's reads one argument, whatever REQ; so
     * do we. */
    MMP_HOOK int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    mmp_real_ioctl_t real = mmp_real_ioctl();
    if (MMP_UNLIKELY(!real)) {
        errno = ENOSYS;
        return -1;
    }
    uint64_t t0 = mmp_is_timed(MMP_CALL_ioctl) ? mmp_clock() : 0;
    int r = real(fd, req, arg);
    MMP_RECORD(MMP_CALL_ioctl, t0, 2, r < 0, 0, 0);
    return r;
}

const struct mmp_family_ops mmp_family_io = {0};
