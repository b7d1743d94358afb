/* stdio family: FILE streams, counted by their own hooks (glibc's stdio
 * reaches the kernel through internal functions, never through our
 * read/write: nothing is counted twice). Every hook is generated from its
 * table entry. */
#include "shim.h"

MMP_CALLS_stdio(MMP_DEFINE)

    const struct mmp_family_ops mmp_family_stdio = {0};
