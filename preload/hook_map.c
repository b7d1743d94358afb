/* mem family, the mappings' part: munmap, mremap, mprotect and madvise
 * count the bytes of their ranges (asked, and done when the call
 * worked); brk and sbrk count calls (malloc moves the break inside libc,
 * unseen). mmap is the files family's (per-file records follow it), with
 * the same bytes. Every hook but mremap's is generated from its table
 * entry; the allocation calls are hook_mem.c's. */
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

MMP_CALLS_mem(MMP_DEFINE)

    /* mremap(addr, old, len, flags, new): the new address is an argument
     * only with MREMAP_FIXED (glibc reads it then, as we do). Asked: the
     * new length. */
    MMP_HOOK void *mremap(void *addr, size_t old, size_t len, int flags, ...)
{
    void *to = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start */
        to = va_arg(ap, void *);
        va_end(ap);
    }
    mmp_real_mremap_t real = mmp_real_mremap();
    if (MMP_UNLIKELY(!real)) {
        errno = ENOSYS;
        return MAP_FAILED;
    }
    uint64_t t0 = mmp_is_timed(MMP_CALL_mremap) ? mmp_clock() : 0;
    void *r = real(addr, old, len, flags, to);
    MMP_RECORD(MMP_CALL_mremap, t0, 4, r == MAP_FAILED, len,
               r == MAP_FAILED ? 0 : len);
    return r;
}
