/* The exporter's cache of the stats directory: a reader kept open per
 * file (keyed by path and inode, dropped when the file goes away or is
 * replaced), and per file the last two states kept for rates, compact
 * (counters, and histograms' non-empty buckets) so that thousands of
 * files cost little memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exporter.h"

void cache_init(struct cache *c, const char *dir, unsigned max_files)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->dir = dir;
    c->max_files = max_files;
}

static void kept_hist_free(struct kept_hist *h)
{
    if (!h)
        return;
    free(h->idx);
    free(h->cnt);
    free(h);
}

static void kept_free(struct kept *k)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->hist)
            kept_hist_free(k->hist[i]);
    free(k->u64);
    free(k->hist);
    memset(k, 0, sizeof *k);
}

static void entry_free(struct centry *e)
{
    if (!e)
        return;
    kept_free(&e->kept[0]);
    kept_free(&e->kept[1]);
    mms_reader_close(e->r);
    free(e->path);
    free(e);
}

void cache_free(struct cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        entry_free(c->v[i]);
    free(c->v);
    c->v = NULL;
    c->n = 0;
    pthread_mutex_destroy(&c->lock);
}

/* A new entry for PATH (ST: its lstat), or NULL with *ERR set. */
static struct centry *entry_open(const char *path, const struct stat *st,
                                 int *err)
{
    struct centry *e = calloc(1, sizeof *e);
    if (!e || !(e->path = strdup(path))) {
        free(e);
        *err = -ENOMEM;
        return NULL;
    }
    int rc = mms_reader_open(&e->r, path);
    if (rc < 0) {
        entry_free(e);
        *err = rc;
        return NULL;
    }
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    return e;
}

int cache_sync(struct cache *c)
{
    char **paths = NULL;
    int n = stats_files(c->dir, &paths);
    c->dir_error = n < 0 ? -n : 0;
    if (n < 0)
        n = 0;
    c->seen = (unsigned)n;
    c->failed = c->skipped = 0;
    size_t take = (size_t)n < c->max_files ? (size_t)n : c->max_files;
    c->skipped = (unsigned)((size_t)n - take);
    struct centry **nv = calloc(take ? take : 1, sizeof(struct centry *));
    if (!nv) {
        paths_free(paths, n);
        return -ENOMEM;
    }
    /* Both lists are sorted by path: one merging walk. */
    size_t old = 0, m = 0;
    int rc = 0;
    for (size_t k = 0; k < take; k++) {
        const char *p = paths[k];
        while (old < c->n && strcmp(c->v[old]->path, p) < 0)
            entry_free(c->v[old++]);
        struct centry *e = NULL;
        if (old < c->n && !strcmp(c->v[old]->path, p))
            e = c->v[old++];
        struct stat st;
        if (lstat(p, &st) < 0) {
            entry_free(e); /* gone since the listing */
            continue;
        }
        /* Another inode under the same name: a new file (a reused pid, or
         * a writer that started again). Its states are not this one's.
         * The inode is taken before the open, so a file replaced in
         * between is caught at the next sync. */
        if (e && (e->dev != st.st_dev || e->ino != st.st_ino)) {
            entry_free(e);
            e = NULL;
        }
        /* Truncated under the mapping: reading past the new end would
         * raise SIGBUS. Open it again: the reader then refuses it. (One
         * truncated between here and the snapshot still can: the reader
         * does not guard against that, docs/format.md section 14.) */
        if (e && (uint64_t)st.st_size < e->pi.file_size) {
            entry_free(e);
            e = NULL;
        }
        if (!e) {
            int err = 0;
            e = entry_open(p, &st, &err);
            if (!e) {
                if (err == -ENOMEM)
                    rc = err;
                /* A file removed meanwhile or one still being created is
                 * no failure; anything else (corrupt, foreign) is. */
                if (err != -ENOENT && err != -EAGAIN)
                    c->failed++;
                continue;
            }
        }
        e->mtime_ns =
            (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        mms_reader_info(e->r, &e->pi);
        e->liveness = mms_reader_liveness(e->r);
        if (!e->container_done && e->liveness == MMS_LIVE_RUNNING) {
            container_name(&e->pi, e->container, sizeof e->container);
            e->container_done = true;
        }
        nv[m++] = e;
    }
    while (old < c->n)
        entry_free(c->v[old++]);
    free(c->v);
    c->v = nv;
    c->n = m;
    paths_free(paths, n);
    return rc;
}

bool cache_exported(const struct centry *e, double grace, int64_t now_real)
{
    /* A rollup is the lasting record of processes gone: always served. */
    if (e->liveness == MMS_LIVE_RUNNING || (e->pi.flags & MMS_HF_ROLLUP))
        return true;
    if (grace < 0)
        return false;
    /* Finished: since the writer said so. Stale (killed, or ended with
     * _exit): since its last write through the mapping. */
    int64_t since = e->liveness == MMS_LIVE_FINISHED && e->pi.finished_ns
                        ? e->pi.finished_ns
                        : e->mtime_ns;
    return (double)(now_real - since) < grace * 1e9;
}

/* ---------------------------------------------------------- kept states */

static struct kept_hist *kept_hist_new(const struct mms_hist *h)
{
    struct kept_hist *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->bits = h->bits;
    k->max_exp = h->max_exp;
    k->count = h->count;
    k->sum = h->sum;
    k->min = h->min;
    k->max = h->max;
    uint32_t nz = 0, pos = 0, i;
    uint64_t c;
    while (mms_hist_next(h, &pos, &i, &c))
        nz++;
    if (nz) {
        k->idx = malloc(nz * sizeof *k->idx);
        k->cnt = malloc(nz * sizeof *k->cnt);
        if (!k->idx || !k->cnt) {
            kept_hist_free(k);
            return NULL;
        }
    }
    for (pos = 0; k->n < nz && mms_hist_next(h, &pos, &i, &c);) {
        k->idx[k->n] = i;
        k->cnt[k->n++] = c;
    }
    return k;
}

/* OUT: the full histogram K stands for. */
static int kept_hist_expand(struct mms_hist *out, const struct kept_hist *k)
{
    int rc = mms_hist_init(out, k->bits, k->max_exp);
    if (rc < 0)
        return rc;
    out->count = k->count;
    out->sum = k->sum;
    out->min = k->min;
    out->max = k->max;
    for (uint32_t i = 0; i < k->n; i++)
        if (k->idx[i] < out->nbuckets)
            out->buckets[k->idx[i]] = k->cnt[i];
    return 0;
}

static int kept_fill(struct kept *k, const mms_snapshot *s)
{
    size_t n = mms_snapshot_nfields(s);
    k->n = n;
    k->mono_ns = mms_snapshot_mono_ns(s);
    k->u64 = calloc(n ? n : 1, sizeof *k->u64);
    k->hist = calloc(n ? n : 1, sizeof(struct kept_hist *));
    if (!k->u64 || !k->hist)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct mms_value *v = mms_snapshot_value(s, i);
        if (v->kind == MMS_KIND_COUNTER) {
            k->u64[i] = v->v.u64;
        } else if (v->kind == MMS_KIND_HISTOGRAM) {
            if (!(k->hist[i] = kept_hist_new(v->v.hist)))
                return -ENOMEM;
        }
    }
    return 0;
}

int cache_keep(struct centry *e, const mms_snapshot *s)
{
    int64_t t = mms_snapshot_mono_ns(s);
    if (e->kept[1].mono_ns && t - e->kept[1].mono_ns < EXP_MIN_INTERVAL_NS)
        return 0;
    struct kept k = {0};
    int rc = kept_fill(&k, s);
    if (rc < 0) {
        kept_free(&k);
        return rc;
    }
    kept_free(&e->kept[0]);
    e->kept[0] = e->kept[1];
    e->kept[1] = k;
    return 0;
}

/* ---------------------------------------------------------------- rates */

void rates_free(struct rates *r)
{
    if (r->ivl)
        for (size_t i = 0; i < r->n; i++)
            mms_hist_free(&r->ivl[i]);
    free(r->ivl);
    free(r->rate);
    memset(r, 0, sizeof *r);
}

static const struct kept *base_of(const struct centry *e, int64_t t)
{
    for (int k = 1; k >= 0; k--) {
        const struct kept *b = &e->kept[k];
        if (b->mono_ns && t - b->mono_ns >= EXP_MIN_INTERVAL_NS)
            return b;
    }
    return NULL;
}

int rates_compute(const struct centry *e, const mms_snapshot *s, bool hists,
                  struct rates *out)
{
    memset(out, 0, sizeof *out);
    size_t n = mms_snapshot_nfields(s);
    out->n = n;
    out->rate = malloc((n ? n : 1) * sizeof *out->rate);
    if (hists)
        out->ivl = calloc(n ? n : 1, sizeof *out->ivl);
    if (!out->rate || (hists && !out->ivl)) {
        rates_free(out);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        out->rate[i] = NAN;
    int64_t t = mms_snapshot_mono_ns(s);
    const struct kept *b = base_of(e, t);
    if (!b)
        return 0;
    double secs = (double)(t - b->mono_ns) / 1e9;
    out->secs = secs;
    for (size_t i = 0; i < n; i++) {
        const struct mms_value *v = mms_snapshot_value(s, i);
        if (v->kind == MMS_KIND_COUNTER) {
            /* A field added since the base started at 0. Modulo 2^64,
             * as the counters themselves. */
            uint64_t before = i < b->n ? b->u64[i] : 0;
            out->rate[i] = (double)(v->v.u64 - before) / secs;
            continue;
        }
        if (v->kind != MMS_KIND_HISTOGRAM)
            continue;
        const struct mms_hist *now = v->v.hist;
        const struct kept_hist *kh = i < b->n ? b->hist[i] : NULL;
        uint64_t before = kh ? kh->count : 0;
        out->rate[i] =
            (double)(now->count >= before ? now->count - before : 0) / secs;
        if (!hists)
            continue;
        struct mms_hist prev;
        int rc = kh ? kept_hist_expand(&prev, kh)
                    : mms_hist_init(&prev, now->bits, now->max_exp);
        if (rc == 0) {
            rc = mms_hist_sub(&out->ivl[i], now, &prev);
            mms_hist_free(&prev);
        }
        if (rc == -ENOMEM) {
            rates_free(out);
            return rc;
        }
        /* Another geometry (cannot happen for one reader): no interval. */
    }
    return 0;
}
