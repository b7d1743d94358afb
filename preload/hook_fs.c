/* fs family: opening, closing, duplicating, seeking, syncing, truncating
 * and allocating, stat and statfs in every name glibc exports, access,
 * readlink, extended attributes, modes, owners and times, links, unlink,
 * rename, mkdir, rmdir, getcwd, pipes. Every hook is generated from its
 * table entry (open's with its optional mode). */
#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "shim.h"

MMP_CALLS_fs(MMP_DEFINE)

    const struct mmp_family_ops mmp_family_fs = {0};
