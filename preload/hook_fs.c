/* fs family: opening, closing, duplicating, seeking, syncing, truncating,
 * stat in every name glibc exports, unlink, rename, mkdir. Every hook is
 * generated from its table entry (open's with its optional mode). */
#include <fcntl.h>
#include <unistd.h>

#include "shim.h"

MMP_CALLS_fs(MMP_DEFINE)

    const struct mmp_family_ops mmp_family_fs = {0};
