/* Field names: dot-separated segments of [A-Za-z0-9_], validated the same
 * way by the writer (before adding) and the reader (on untrusted files). */
#include <string.h>

#include "internal.h"

static int is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* What each byte is in a name: 0 not allowed, 1 a name character, 2 the
 * dot (a table: one load a byte; a reader checks 10,000 names). */
static const uint8_t name_class[256] = {['0' ... '9'] = 1,
                                        ['A' ... 'Z'] = 1,
                                        ['a' ... 'z'] = 1,
                                        ['_'] = 1,
                                        ['.'] = 2};

/* The core check on a counted byte string, so the reader can validate a
 * name in the file without trusting a NUL to be there. */
int mms__name_check_n(const char *name, size_t len)
{
    if (len == 0 || len > MMS_NAME_MAX)
        return MMS_ENAME;
    unsigned char c0 = (unsigned char)name[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_'))
        return MMS_ENAME;
    size_t seg = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t k = name_class[(unsigned char)name[i]];
        if (k == 1) {
            seg++;
        } else if (k == 2 && seg) {
            seg = 0;
        } else {
            return MMS_ENAME; /* not allowed, or a dot after a dot */
        }
    }
    return seg == 0 ? MMS_ENAME : 0;
}

int mms_name_check(const char *name)
{
    if (!name)
        return MMS_ENAME;
    return mms__name_check_n(name, strnlen(name, MMS_NAME_MAX + 1));
}

bool mms__member_name_ok(const char *n, size_t len)
{
    if (!n || len == 0 || len > MMS_MEMBER_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char((unsigned char)n[i]))
            return false;
    return true;
}

uint32_t mms__fnv1a(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}
