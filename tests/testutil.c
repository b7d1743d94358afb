/* Test helpers; see testutil.h. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotpath.h"
#include "internal.h"
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

int tu_setup_sized(void **state, size_t size)
{
    struct tu_fx *fx = size >= sizeof *fx ? calloc(1, size) : NULL;
    if (!fx || !(fx->dir = tu_mkdtemp())) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

int tu_setup(void **state)
{
    return tu_setup_sized(state, sizeof(struct tu_fx));
}

int tu_teardown(void **state)
{
    struct tu_fx *fx = *state;
    mms_reader_close(fx->r);
    if (fx->w)
        mms_writer_close(fx->w);
    tu_rmdir(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

void tu_open_pair(struct tu_fx *fx, const char *name,
                  const struct mms_writer_options *o)
{
    fx->w = tu_writer(fx->dir, name, o);
    tu_reader(fx);
}

mms_reader *tu_reader(struct tu_fx *fx)
{
    if (!fx->r) {
        int rc = mms_reader_open(&fx->r, mms_writer_path(fx->w));
        if (rc < 0)
            fail_msg("mms_reader_open: %s", mms_strerror(rc));
    }
    return fx->r;
}

const struct mms_value *tu_value(mms_snapshot *s, const char *name,
                                 const struct mms_field_info **fi)
{
    size_t i;
    if (mms_snapshot_find(s, name, &i) < 0)
        fail_msg("field %s not in snapshot", name);
    if (fi)
        *fi = mms_snapshot_field(s, i);
    return mms_snapshot_value(s, i);
}

static const struct mms_value *value_of(mms_reader *r, const char *name,
                                        mms_snapshot **s)
{
    int rc = mms_snapshot_take(r, s);
    if (rc < 0)
        fail_msg("mms_snapshot_take: %s", mms_strerror(rc));
    return tu_value(*s, name, NULL);
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

double tu_f64(mms_reader *r, const char *name)
{
    mms_snapshot *s;
    double v = value_of(r, name, &s)->v.f64;
    mms_snapshot_free(s);
    return v;
}

mms_field *tu_find(mms_writer *w, const char *name)
{
    mms_field *f = NULL;
    return mms_field_find(w, name, &f) == 0 ? f : NULL;
}

long tu_index(const mms_snapshot *s, const char *name)
{
    size_t i;
    return mms_snapshot_find(s, name, &i) == 0 ? (long)i : -1;
}

void tu_hist_check(const struct mms_hist *h, int exact)
{
    uint64_t sum = 0;
    int lo = -1, hi = -1;
    for (uint32_t i = 0; i < h->nbuckets; i++) {
        uint64_t n = mms_hist_bucket(h, i); /* dense or sparse */
        sum += n;
        if (n) {
            if (lo < 0)
                lo = (int)i;
            hi = (int)i;
        }
    }
    if (exact && sum != h->count)
        fail_msg("buckets add up to %llu, count %llu", (unsigned long long)sum,
                 (unsigned long long)h->count);
    if (h->count == 0) {
        if (h->min || h->max || h->sum)
            fail_msg("empty histogram with min/max/sum set");
        return;
    }
    if (h->min > h->max)
        fail_msg("min %llu > max %llu", (unsigned long long)h->min,
                 (unsigned long long)h->max);
    if (exact && lo >= 0 &&
        (h->min < mms_hist_bucket_low((uint32_t)lo, h->bits, h->max_exp) ||
         h->min > mms_hist_bucket_high((uint32_t)lo, h->bits, h->max_exp) ||
         h->max < mms_hist_bucket_low((uint32_t)hi, h->bits, h->max_exp) ||
         h->max > mms_hist_bucket_high((uint32_t)hi, h->bits, h->max_exp)))
        fail_msg("min or max outside the non-empty buckets");
}

const char *tu_build_path(const char *rel)
{
    static char buf[4096];
    const char *b = getenv("MMS_BUILD_DIR");
    snprintf(buf, sizeof buf, "%s/%s", b ? b : ".", rel);
    return buf;
}

/* Through this thread's cell of histogram F: the chunk is a CHUNK32
 * block, 8-aligned, in the shard's area. */
uint32_t *tu_own_bucket(mms_field *f, uint64_t v)
{
    mms_writer *w = f->w;
    uint8_t *cell = mms__row_cell(mms__tls[w->slot].sh, f->index);
    assert_non_null(cell);
    const uint32_t *dir =
        (const uint32_t *)(cell + sizeof(struct mms_hist_cell));
    uint32_t idx = mms__hist_index(v, f->bits, f->max_exp);
    uint32_t off = dir[idx >> f->bits];
    assert_int_not_equal(off, 0);
    assert_int_equal(off % 8, 0);
    const struct mms_chunk_block *cb =
        (const struct mms_chunk_block *)mms__ptr(w, off);
    uint32_t nb = mms__chunk_nb(f->nbuckets, f->bits, idx >> f->bits);
    assert_int_equal(cb->b.type, MMS_BLOCK_CHUNK32);
    assert_int_equal(cb->b.size, mms__chunk32_block_size(nb));
    assert_int_equal(cb->shard, mms__tls[w->slot].sh->id);
    assert_int_equal(cb->nbuckets, nb);
    return (uint32_t *)(cb + 1) + (idx & ((1u << f->bits) - 1));
}
