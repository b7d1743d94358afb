/* io family: read/write and their positional, vector and fortified
 * forms, and the copies inside the kernel (cp and cat use
 * copy_file_range). Every hook is generated from its table entry. */
#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "shim.h"

MMP_CALLS_io(MMP_DEFINE)

    const struct mmp_family_ops mmp_family_io = {0};
