/* Aggregation of snapshots across processes (agg.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "hash.h"

/* A field's position in its group, by name. */
struct agg_index {
    const char *name; /* the field's own copy */
    size_t i;
    UT_hash_handle hh;
};

const unsigned agg_win_secs[AGG_NWIN] = {1, 10, 60};

static void num_add_i(struct agg_num *a, int64_t v)
{
    if (a->n == 0) {
        a->is_int = true;
        a->imin = a->imax = v;
        a->dmin = a->dmax = (double)v;
    }
    if (v < a->imin)
        a->imin = v;
    if (v > a->imax)
        a->imax = v;
    a->isum = (int64_t)((uint64_t)a->isum + (uint64_t)v);
    if ((double)v < a->dmin)
        a->dmin = (double)v;
    if ((double)v > a->dmax)
        a->dmax = (double)v;
    a->dsum += (double)v;
    a->n++;
}

static void num_add_d(struct agg_num *a, double v)
{
    if (a->n == 0)
        a->dmin = a->dmax = v;
    a->is_int = false;
    if (v < a->dmin)
        a->dmin = v;
    if (v > a->dmax)
        a->dmax = v;
    a->dsum += v;
    a->n++;
}

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

static void field_free(struct agg_field *f)
{
    free(f->name);
    free(f->units);
    free(f->help);
    mms_hist_free(&f->hist);
    for (int k = 0; k < AGG_NWIN; k++)
        mms_hist_free(&f->win[k].hist);
    for (size_t i = 0; i < f->nstrs; i++)
        free(f->strs[i].s);
    free(f->strs);
    for (uint32_t i = 0; i < f->nmembers; i++)
        free(f->member_names[i]);
    free(f->member_names);
    free(f->member_types);
    free(f->members);
}

static void index_free(struct agg_group *g)
{
    struct agg_index *e = g->index, *next;
    HASH_CLEAR(hh, g->index); /* the table; the entries stay linked */
    for (; e; e = next) {
        next = e->hh.next;
        free(e);
    }
}

void agg_free(struct agg_group *g)
{
    index_free(g);
    for (size_t i = 0; i < g->nfields; i++)
        field_free(&g->fields[i]);
    free(g->fields);
    free(g->pids);
    free(g->key);
    memset(g, 0, sizeof *g);
}

/* The field NAME of G, trying position HINT first (processes of one
 * program list their fields in the same order), or NULL. */
static struct agg_field *find_field(const struct agg_group *g, const char *name,
                                    size_t hint)
{
    if (hint < g->nfields && !strcmp(g->fields[hint].name, name))
        return &g->fields[hint];
    struct agg_index *e;
    HASH_FIND_STR(g->index, name, e);
    return e ? &g->fields[e->i] : NULL;
}

const struct agg_field *agg_find(const struct agg_group *g, const char *name)
{
    return find_field(g, name, SIZE_MAX);
}

static int field_new(struct agg_group *g, const struct mms_field_info *fi)
{
    if (g->nfields == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 64;
        struct agg_field *nf = realloc(g->fields, ncap * sizeof *nf);
        if (!nf)
            return -ENOMEM;
        g->fields = nf;
        g->cap = ncap;
    }
    struct agg_field *f = &g->fields[g->nfields];
    memset(f, 0, sizeof *f);
    f->name = strdup(fi->name);
    f->units = strdup(fi->units);
    f->help = strdup(fi->help);
    f->kind = fi->kind;
    f->flags = fi->flags;
    if (!f->name || !f->units || !f->help)
        goto fail;
    if (fi->kind == MMS_KIND_HISTOGRAM) {
        f->bits = fi->hist_bits;
        f->max_exp = fi->hist_max_exp;
        f->win_bits = fi->window_bits;
        if (mms_hist_init(&f->hist, f->bits, f->max_exp) < 0)
            goto fail;
    }
    if (fi->kind == MMS_KIND_STRUCT && fi->n) {
        f->nmembers = fi->n;
        f->member_names = calloc(fi->n, sizeof *f->member_names);
        f->member_types = calloc(fi->n, sizeof *f->member_types);
        f->members = calloc(fi->n, sizeof *f->members);
        if (!f->member_names || !f->member_types || !f->members)
            goto fail;
        for (uint32_t m = 0; m < fi->n; m++) {
            f->member_names[m] = strdup(fi->members[m].name);
            if (!f->member_names[m])
                goto fail;
            f->member_types[m] = fi->members[m].type;
        }
    }
    struct agg_index *e = malloc(sizeof *e);
    if (!e)
        goto fail;
    e->name = f->name;
    e->i = g->nfields;
    HASH_ADD_KEYPTR(hh, g->index, e->name, strlen(e->name), e);
    if (!hash_added(e)) {
        free(e);
        goto fail;
    }
    g->nfields++;
    return 0;
fail:
    field_free(f);
    return -ENOMEM;
}

static bool same_shape(const struct agg_field *f,
                       const struct mms_field_info *fi)
{
    if (f->kind != fi->kind)
        return false;
    if (f->kind == MMS_KIND_HISTOGRAM)
        return f->bits == fi->hist_bits && f->max_exp == fi->hist_max_exp &&
               (f->flags & MMS_DF_WINDOW) == (fi->flags & MMS_DF_WINDOW) &&
               f->win_bits == fi->window_bits;
    return (f->flags & MMS_DF_WINDOW) == (fi->flags & MMS_DF_WINDOW);
}

static int add_string(struct agg_field *f, const char *s)
{
    for (size_t i = 0; i < f->nstrs; i++) {
        if (!strcmp(f->strs[i].s, s)) {
            f->strs[i].n++;
            return 0;
        }
    }
    struct agg_str *n = realloc(f->strs, (f->nstrs + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    f->strs = n;
    if (!(n[f->nstrs].s = strdup(s)))
        return -ENOMEM;
    n[f->nstrs++].n = 1;
    return 0;
}

static int add_windows(struct agg_field *f, const mms_snapshot *s, size_t i,
                       int64_t at)
{
    for (int k = 0; k < AGG_NWIN; k++) {
        struct mms_window w;
        int rc = mms_snapshot_window_at(s, i, agg_win_secs[k],
                                        at ? at : mms_snapshot_mono_ns(s), &w);
        if (rc < 0) {
            mms_window_free(&w);
            return rc == -EINVAL ? 0 : rc;
        }
        f->has_win = true;
        f->win[k].count += w.count;
        f->win[k].sum += w.sum;
        if (f->kind == MMS_KIND_HISTOGRAM) {
            if (!f->win[k].hist.buckets)
                rc =
                    mms_hist_init(&f->win[k].hist, w.hist.bits, w.hist.max_exp);
            if (rc == 0)
                rc = mms_hist_merge(&f->win[k].hist, &w.hist);
        }
        mms_window_free(&w);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int add_value(struct agg_field *f, const mms_snapshot *s, size_t i,
                     int64_t at)
{
    const struct mms_value *v = mms_snapshot_value(s, i);
    int rc = 0;
    if (v->status < 0)
        f->busy++;
    switch (f->kind) {
    case MMS_KIND_COUNTER:
        f->u64 += v->v.u64;
        break;
    case MMS_KIND_GAUGE:
        num_add_i(&f->num, v->v.i64);
        break;
    case MMS_KIND_GAUGE_F64:
        num_add_d(&f->num, v->v.f64);
        break;
    case MMS_KIND_STRING:
        if (v->status == 0)
            rc = add_string(f, v->v.str.ptr);
        break;
    case MMS_KIND_HISTOGRAM:
        rc = mms_hist_merge(&f->hist, v->v.hist);
        break;
    case MMS_KIND_STRUCT:
        if (v->status < 0)
            break;
        for (uint32_t m = 0; m < v->v.st.n; m++) {
            const struct mms_member_value *mv = &v->v.st.m[m];
            for (uint32_t k = 0; k < f->nmembers; k++) {
                if (strcmp(f->member_names[k], mv->name) != 0)
                    continue;
                if (mv->type == MMS_MEMBER_F64)
                    num_add_d(&f->members[k], mv->v.f64);
                else if (mv->type == MMS_MEMBER_I64)
                    num_add_i(&f->members[k], mv->v.i64);
                else if (mv->v.u64 <= INT64_MAX)
                    num_add_i(&f->members[k], (int64_t)mv->v.u64);
                else
                    num_add_d(&f->members[k], (double)mv->v.u64);
                break;
            }
        }
        break;
    case MMS_KIND_MOVAVG:
        if (v->status == 0) {
            num_add_d(&f->num, v->v.avg.mean);
            f->avg_count += v->v.avg.count;
        }
        break;
    default:
        break;
    }
    if (rc == 0 && (f->flags & MMS_DF_WINDOW))
        rc = add_windows(f, s, i, at);
    return rc;
}

int agg_add(struct agg_group *g, mms_reader *r, const mms_snapshot *s,
            const struct filters *flt, int64_t windows_at)
{
    struct mms_proc_info pi;
    int rc = mms_reader_info(r, &pi);
    if (rc < 0)
        return rc;
    int32_t *p = realloc(g->pids, (g->nproc + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    g->pids = p;
    g->pids[g->nproc++] = pi.pid;
    size_t hint = 0;
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_field_info *fi = mms_snapshot_field(s, i);
        if (!filters_match(flt, fi->name))
            continue;
        struct agg_field *f = find_field(g, fi->name, hint);
        if (!f) {
            if ((rc = field_new(g, fi)) < 0)
                return rc;
            f = &g->fields[g->nfields - 1];
        }
        hint = (size_t)(f - g->fields) + 1;
        if (!same_shape(f, fi)) {
            f->mismatch++;
            continue;
        }
        f->nproc++;
        if ((rc = add_value(f, s, i, windows_at)) < 0)
            return rc;
    }
    return 0;
}

void agg_groups_free(struct agg_group *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        agg_free(&g[i]);
    free(g);
}

/* A group's place by its key, while grouping. */
struct key_index {
    const char *key; /* the group's own copy */
    size_t i;
    UT_hash_handle hh;
};

static int cmp_group(const void *a, const void *b)
{
    const struct agg_group *x = a, *y = b;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

/* The group of KEY in *G (N of them, CAP allocated), added if new. */
static struct agg_group *group_of(struct agg_group **g, size_t *n, size_t *cap,
                                  struct key_index **keys, const char *key)
{
    struct key_index *e;
    HASH_FIND_STR(*keys, key, e);
    if (e)
        return &(*g)[e->i];
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct agg_group *ng = realloc(*g, ncap * sizeof *ng);
        if (!ng)
            return NULL;
        *g = ng;
        *cap = ncap;
    }
    struct agg_group *dst = &(*g)[*n];
    memset(dst, 0, sizeof *dst);
    if (!(dst->key = strdup(key)) || !(e = malloc(sizeof *e))) {
        free(dst->key);
        return NULL;
    }
    e->key = dst->key;
    e->i = *n;
    HASH_ADD_KEYPTR(hh, *keys, e->key, strlen(e->key), e);
    if (!hash_added(e)) {
        free(e);
        free(dst->key);
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
        if (by) {
            struct mms_proc_info pi;
            if ((rc = mms_reader_info(p[i].reader, &pi)) < 0)
                break;
            const char *key = !strcmp(by, AGG_BY_LABEL) ? pi.label : pi.exe;
            if (!(dst = group_of(&g, &n, &cap, &keys, key))) {
                rc = -ENOMEM;
                break;
            }
        }
        rc = agg_add(dst, p[i].reader, p[i].snap, flt, windows_at);
    }
    struct key_index *e = keys, *next;
    HASH_CLEAR(hh, keys);
    for (; e; e = next) {
        next = e->hh.next;
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
