/* Aggregation of snapshots across processes (agg.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "hash.h"

const unsigned agg_win_secs[AGG_NWIN] = {1, 10, 60};

double agg_num_avg(const struct agg_num *a)
{
    if (a->n == 0)
        return 0;
    return (a->is_int ? (double)a->isum : a->dsum) / a->n;
}

double agg_num_min(const struct agg_num *a)
{
    return a->is_int ? (double)a->imin : a->dmin;
}

double agg_num_max(const struct agg_num *a)
{
    return a->is_int ? (double)a->imax : a->dmax;
}

double agg_num_sum(const struct agg_num *a)
{
    return a->is_int ? (double)a->isum : a->dsum;
}

static void view_free(struct agg_field *f)
{
    for (int k = 0; k < AGG_NWIN; k++)
        mms_hist_free(&f->win[k].hist);
    free(f->member_names);
}

static void views_free(struct agg_group *g)
{
    for (size_t i = 0; i < g->nfields; i++)
        view_free(&g->fields[i]);
    free(g->fields);
    g->fields = NULL;
    g->nfields = 0;
}

void agg_free(struct agg_group *g)
{
    views_free(g);
    mms_merge_free(g->m);
    free(g->pids);
    free(g->key);
    free(g->label);
    memset(g, 0, sizeof *g);
}

const struct agg_field *agg_find(const struct agg_group *g, const char *name)
{
    size_t i;
    if (!g->m || mms_merge_find(g->m, name, &i) < 0 || i >= g->nfields)
        return NULL;
    return &g->fields[i];
}

static int view_windows(struct agg_field *f, const mms_merge *m, size_t i,
                        int64_t at)
{
    for (int k = 0; k < AGG_NWIN; k++) {
        struct mms_window w;
        int rc = mms_merge_window_at(m, i, agg_win_secs[k], at, &w);
        if (rc < 0) {
            mms_window_free(&w);
            return rc == -EINVAL ? 0 : rc;
        }
        f->has_win = true;
        f->win[k].count = w.count;
        f->win[k].sum = w.sum;
        f->win[k].hist = w.hist; /* owned by the view now */
    }
    return 0;
}

/* G's fields, seen from its merge. */
static int views_build(struct agg_group *g)
{
    views_free(g);
    size_t n = mms_merge_nfields(g->m);
    if (!n)
        return 0;
    if (!(g->fields = calloc(n, sizeof *g->fields)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct mms_merge_field *mf = mms_merge_field(g->m, i);
        struct agg_field *f = &g->fields[i];
        g->nfields = i + 1;
        f->name = mf->info.name;
        f->units = mf->info.units;
        f->help = mf->info.help;
        f->kind = mf->info.kind;
        f->flags = mf->info.flags;
        f->bits = mf->info.hist_bits;
        f->max_exp = mf->info.hist_max_exp;
        f->win_bits = mf->info.window_bits;
        f->nproc = (uint32_t)mf->procs;
        f->mismatch = mf->mismatch;
        f->busy = mf->busy;
        f->num = mf->num;
        f->avg_count = mf->avg_count;
        f->strs = mf->strs;
        f->nstrs = mf->nstrs;
        if (f->kind == MMS_KIND_COUNTER)
            f->u64 = mf->value.v.u64;
        if (f->kind == MMS_KIND_HISTOGRAM)
            f->hist = *mf->value.v.hist;
        if (f->kind == MMS_KIND_STRUCT && mf->info.n) {
            f->nmembers = mf->info.n;
            f->members = mf->members;
            if (!(f->member_names = calloc(f->nmembers, sizeof(char *))))
                return -ENOMEM;
            for (uint32_t k = 0; k < f->nmembers; k++)
                f->member_names[k] = mf->info.members[k].name;
        }
        int rc = view_windows(f, g->m, i, g->windows_at);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool want_field(const char *name, void *arg)
{
    return filters_match(arg, name);
}

/* agg_add without building the views: agg_group_by adds a hundred
 * processes to a group, and builds its views (every field's windows)
 * once at the end, not after each. */
static int add_procs(struct agg_group *g, mms_reader *r, const mms_snapshot *s,
                     const struct filters *flt, int64_t windows_at)
{
    struct mms_proc_info pi;
    int rc = mms_reader_info(r, &pi);
    if (rc < 0)
        return rc;
    if (!g->m && (rc = mms_merge_new(&g->m)) < 0)
        return rc;
    int32_t *p = realloc(g->pids, (g->nproc + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    g->pids = p;
    bool rollup = pi.flags & MMS_HF_ROLLUP;
    g->pids[g->nproc++] = rollup ? 0 : pi.pid;
    g->procs += rollup ? pi.fold_procs : 1;
    g->rollups += rollup;
    if (rollup) {
        g->rollup_procs += pi.fold_procs;
        if (!g->rollup_first_ns || pi.fold_first_ns < g->rollup_first_ns)
            g->rollup_first_ns = pi.fold_first_ns;
        if (pi.fold_last_ns > g->rollup_last_ns)
            g->rollup_last_ns = pi.fold_last_ns;
    }
    if ((rc = mms_merge_add(g->m, r, s, flt ? want_field : NULL, (void *)flt)) <
        0)
        return rc;
    g->windows_at = windows_at ? windows_at : mms_snapshot_mono_ns(s);
    return 0;
}

int agg_add(struct agg_group *g, mms_reader *r, const mms_snapshot *s,
            const struct filters *flt, int64_t windows_at)
{
    int rc = add_procs(g, r, s, flt, windows_at);
    return rc < 0 ? rc : views_build(g);
}

void agg_groups_free(struct agg_group *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        agg_free(&g[i]);
    free(g);
}

bool agg_by_valid(const char *s)
{
    return !strcmp(s, AGG_BY_EXE) || !strcmp(s, AGG_BY_LABEL) ||
           !strcmp(s, AGG_BY_PROGRAM);
}

/* A group's place by its key, while grouping. */
struct key_index {
    char *key; /* KEY, or with a label: KEY '\n' LABEL */
    size_t i;
    UT_hash_handle hh;
};

static int cmp_group(const void *a, const void *b)
{
    const struct agg_group *x = a, *y = b;
    int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
    return c ? c : strcmp(x->label ? x->label : "", y->label ? y->label : "");
}

/* The group of KEY (and LABEL, if not NULL) in *G (N of them, CAP
 * allocated), added if new. */
static struct agg_group *group_of(struct agg_group **g, size_t *n, size_t *cap,
                                  struct key_index **keys, const char *key,
                                  const char *label)
{
    struct key_index *e;
    char *full = NULL;
    if (asprintf(&full, "%s%s%s", key, label ? "\n" : "", label ? label : "") <
        0)
        return NULL;
    HASH_FIND_STR(*keys, full, e);
    if (e) {
        free(full);
        return &(*g)[e->i];
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct agg_group *ng = realloc(*g, ncap * sizeof *ng);
        if (!ng) {
            free(full);
            return NULL;
        }
        *g = ng;
        *cap = ncap;
    }
    struct agg_group *dst = &(*g)[*n];
    memset(dst, 0, sizeof *dst);
    dst->key = strdup(key);
    dst->label = label ? strdup(label) : NULL;
    e = malloc(sizeof *e);
    if (e && dst->key && (dst->label || !label)) {
        e->key = full;
        e->i = *n;
        HASH_ADD_KEYPTR(hh, *keys, e->key, strlen(e->key), e);
    }
    if (!e || !dst->key || (label && !dst->label) || !hash_added(e)) {
        free(e);
        free(full);
        free(dst->key);
        free(dst->label);
        return NULL;
    }
    (*n)++;
    return dst;
}

int agg_group_by(const struct out_proc *p, size_t np, const char *by,
                 const struct filters *flt, int64_t windows_at,
                 struct agg_group **out, size_t *nout)
{
    struct agg_group *g = NULL;
    struct key_index *keys = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    *nout = 0;
    if (!by) {
        if (!(g = calloc(1, sizeof *g)))
            return -ENOMEM;
        n = cap = 1;
    }
    for (size_t i = 0; i < np && rc == 0; i++) {
        struct agg_group *dst = g;
        /* A file being folded whose rollup holds it already: counted
         * there (docs/format.md section 15). */
        if (mms_reader_folded(p[i].reader) == 1)
            continue;
        if (by) {
            struct mms_proc_info pi;
            if ((rc = mms_reader_info(p[i].reader, &pi)) < 0)
                break;
            const char *key = !strcmp(by, AGG_BY_LABEL) ? pi.label : pi.exe;
            const char *label = !strcmp(by, AGG_BY_PROGRAM) ? pi.label : NULL;
            if (!(dst = group_of(&g, &n, &cap, &keys, key, label))) {
                rc = -ENOMEM;
                break;
            }
        }
        rc = add_procs(dst, p[i].reader, p[i].snap, flt, windows_at);
    }
    for (size_t k = 0; k < n && rc == 0; k++)
        if (g[k].m)
            rc = views_build(&g[k]);
    struct key_index *e = keys, *next;
    HASH_CLEAR(hh, keys);
    for (; e; e = next) {
        next = e->hh.next;
        free(e->key);
        free(e);
    }
    if (rc < 0) {
        agg_groups_free(g, n);
        return rc;
    }
    if (n > 1)
        qsort(g, n, sizeof *g, cmp_group);
    *out = g;
    *nout = n;
    return 0;
}
