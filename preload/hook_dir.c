/* dir family: opening, reading and closing directories. readdir and
 * readdir_r are written here (one entry or none a call; an error is what
 * errno says, since NULL is also the end); the others are generated from
 * their table entries (scandir counts the entries of its list;
 * getdents64 counts bytes as read does). */
#include <dirent.h>

#include "shim.h"

MMP_CALLS_dir(MMP_DEFINE)

/* readdir(d): NULL is the end, or an error if errno changed. errno is
 * cleared for the call and put back unless the call set it, so the
 * caller sees what it sees bare. */
/* NOLINTBEGIN(bugprone-macro-parentheses): ENT is a type */
#define MMP_READDIR(name, ent)                                                 \
    MMP_HOOK ent *name(DIR *d)                                                 \
    {                                                                          \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (MMP_UNLIKELY(!real)) {                                             \
            errno = ENOSYS;                                                    \
            return NULL;                                                       \
        }                                                                      \
        uint64_t t0 = mmp_is_timed(MMP_CALL_##name) ? mmp_clock() : 0;         \
        int saved = errno;                                                     \
        errno = 0;                                                             \
        ent *r = real(d);                                                      \
        int err = errno;                                                       \
        if (!err)                                                              \
            errno = saved;                                                     \
        MMP_RECORD(MMP_CALL_##name, t0, 3, !r && err, r != NULL, 0);           \
        return r;                                                              \
    }
    MMP_READDIR(readdir, struct dirent) MMP_READDIR(readdir64, struct dirent64)

/* readdir_r(d, e, res): 0 and *res (the entry, or NULL at the end), or
 * an error number. *res is read only once the call succeeded (it wrote
 * there). */
#define MMP_READDIR_R(name, ent)                                               \
    MMP_HOOK int name(DIR *d, ent *e, ent **res)                               \
    {                                                                          \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (MMP_UNLIKELY(!real))                                               \
            return ENOSYS;                                                     \
        uint64_t t0 = mmp_is_timed(MMP_CALL_##name) ? mmp_clock() : 0;         \
        int r = real(d, e, res);                                               \
        MMP_RECORD(MMP_CALL_##name, t0, 3, r != 0, r == 0 && *res != NULL, 0); \
        return r;                                                              \
    }
        MMP_READDIR_R(readdir_r, struct dirent)
            MMP_READDIR_R(readdir64_r, struct dirent64)
    /* NOLINTEND(bugprone-macro-parentheses) */

    const struct mmp_family_ops mmp_family_dir = {0};
