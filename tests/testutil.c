/* Test helpers; see testutil.h. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *path;
    if (asprintf(&path, "%s/mmstats-test-XXXXXX", base ? base : "/tmp") < 0)
        return NULL;
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

void tu_rmdir(const char *dir)
{
    char *cmd;
    if (!dir || strncmp(dir, "/", 1) != 0)
        return;
    if (asprintf(&cmd, "rm -rf -- '%s'", dir) >= 0) {
        if (system(cmd) != 0)
            fprintf(stderr, "warning: could not remove %s\n", dir);
        free(cmd);
    }
}

mms_writer *tu_writer(const char *dir, const char *name,
                      const struct mms_writer_options *o)
{
    struct mms_writer_options opt;
    char path[4096];
    if (o)
        opt = *o;
    else
        mms_writer_options_init(&opt);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    opt.path = path;
    opt.flags |= MMS_W_NO_ENV;
    mms_writer *w = NULL;
    int rc = mms_writer_open(&w, &opt);
    if (rc < 0)
        fail_msg("mms_writer_open(%s): %s", path, mms_strerror(rc));
    return w;
}

static const struct mms_value *value_of(mms_reader *r, const char *name,
                                        mms_snapshot **s)
{
    int rc = mms_snapshot_take(r, s);
    if (rc < 0)
        fail_msg("mms_snapshot_take: %s", mms_strerror(rc));
    long i = mms_snapshot_find(*s, name);
    if (i < 0)
        fail_msg("field %s not in snapshot", name);
    return mms_snapshot_value(*s, (size_t)i);
}

uint64_t tu_counter(mms_reader *r, const char *name)
{
    mms_snapshot *s;
    uint64_t v = value_of(r, name, &s)->v.u64;
    mms_snapshot_free(s);
    return v;
}

int64_t tu_gauge(mms_reader *r, const char *name)
{
    mms_snapshot *s;
    int64_t v = value_of(r, name, &s)->v.i64;
    mms_snapshot_free(s);
    return v;
}

const char *tu_build_path(const char *rel)
{
    static char buf[4096];
    const char *b = getenv("MMS_BUILD_DIR");
    snprintf(buf, sizeof buf, "%s/%s", b ? b : ".", rel);
    return buf;
}
