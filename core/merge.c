/* Merges: several files' values added up as one, by field name (tables
 * by name, records by key). One set of rules (docs/format.md section 15)
 * makes a rollup (rollup.c writes a merge into a file) and the tools'
 * sums (mmstat-read --sum, --by): counters summed, histograms merged
 * bucket by bucket, record members by their merge rule, per-second slots
 * by position; unsharded values are the last finished file's, with
 * statistics over the files for the tools. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct mfield {
    struct mms_merge_field pub;
    struct mms__rfield rf;           /* geometry of the first file's field */
    char *text;                      /* name, units, help */
    struct mms_member *smembers;     /* STRUCT: names and types */
    char *mnames;                    /* STRUCT: the member names */
    struct mms_merge_num *members;   /* STRUCT: statistics per member */
    struct mms_member_value *last_m; /* STRUCT: the last value */
    char *last_str;                  /* STRING: the last value */
    struct mms_merge_str *strs;
    size_t nstrs, capstrs;
    struct mms_hist hist;   /* HISTOGRAM */
    struct mms__ring *ring; /* MMS_DF_WINDOW */
    uint8_t *raw;           /* unsharded: the last value's bytes */
    bool have_last;
};

struct mrec {
    struct mms_record_info pub;
    uint8_t *key;
    struct mms_record_member *m;
    struct mms_hist *hists; /* [nmembers]; HIST members only */
};

struct mtable {
    struct mms_merge_table pub;
    char *text; /* name, help */
    struct mms_table_member members[MMS_TABLE_MAX_MEMBERS];
    char names[MMS_TABLE_MAX_MEMBERS][MMS_MEMBER_NAME_MAX + 1];
    char units[MMS_TABLE_MAX_MEMBERS][MMS_MEMBER_UNITS_MAX + 1];
    struct mrec **recs;
    size_t n, cap;
    uint32_t *slots; /* record position + 1 by key hash; 0 empty */
    size_t nslots;
};

struct mms_merge {
    struct mms_merge_info info;
    struct mfield **f;
    size_t n, cap;
    uint32_t *slots; /* field position + 1 by name hash */
    size_t nslots;
    struct mtable **t;
    size_t nt, capt;
};

/* ------------------------------------------------------------ numbers */

static void num_i(struct mms_merge_num *a, int64_t v)
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

static void num_d(struct mms_merge_num *a, double v)
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

static void num_u(struct mms_merge_num *a, uint64_t v)
{
    if (v <= INT64_MAX)
        num_i(a, (int64_t)v);
    else
        num_d(a, (double)v);
}

/* ---------------------------------------------------------- the table */

/* Open addressing by hash: the slot of KEY, or of the empty place for it.
 * EQ compares position P's key with KEY. */
static uint32_t *slot_find(uint32_t *slots, size_t nslots, uint32_t hash,
                           bool (*eq)(const void *ctx, size_t p,
                                      const void *key, size_t len),
                           const void *ctx, const void *key, size_t len)
{
    size_t mask = nslots - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask)
        if (!slots[i] || eq(ctx, slots[i] - 1, key, len))
            return &slots[i];
}

static bool field_eq(const void *ctx, size_t p, const void *key, size_t len)
{
    const struct mms_merge *m = ctx;
    (void)len;
    return !strcmp(m->f[p]->pub.info.name, key);
}

static bool rec_eq(const void *ctx, size_t p, const void *key, size_t len)
{
    const struct mtable *t = ctx;
    const struct mrec *r = t->recs[p];
    return r->pub.key_len == len && !r->pub.overflow &&
           !memcmp(r->key, key, len);
}

/* Double SLOTS when half full, rehashing with HASH_OF. */
static int slots_room(uint32_t **slots, size_t *nslots, size_t n,
                      uint32_t (*hash_of)(const void *ctx, size_t p),
                      const void *ctx)
{
    if ((n + 1) * 2 <= *nslots)
        return 0;
    size_t ns = *nslots ? *nslots * 2 : 64;
    uint32_t *s = calloc(ns, sizeof *s);
    if (!s)
        return -ENOMEM;
    for (size_t p = 0; p < n; p++) {
        size_t i = hash_of(ctx, p) & (ns - 1);
        while (s[i])
            i = (i + 1) & (ns - 1);
        s[i] = (uint32_t)p + 1;
    }
    free(*slots);
    *slots = s;
    *nslots = ns;
    return 0;
}

static uint32_t field_hash(const void *ctx, size_t p)
{
    const char *n = ((const struct mms_merge *)ctx)->f[p]->pub.info.name;
    return mms__fnv1a(n, strlen(n));
}

static uint32_t rec_hash(const void *ctx, size_t p)
{
    const struct mrec *r = ((const struct mtable *)ctx)->recs[p];
    return r->pub.overflow ? 0 : mms__fnv1a(r->key, r->pub.key_len);
}

/* ------------------------------------------------------------- fields */

static void mfield_free(struct mfield *f)
{
    if (!f)
        return;
    free(f->text);
    free(f->smembers);
    free(f->mnames);
    free(f->members);
    free(f->last_m);
    free(f->last_str);
    for (size_t i = 0; i < f->nstrs; i++)
        free(f->strs[i].s);
    free(f->strs);
    mms_hist_free(&f->hist);
    if (f->ring)
        free(f->ring->buckets);
    free(f->ring);
    free(f->raw);
    free(f);
}

static struct mfield *mfield_new(const struct mms_field_info *fi,
                                 const struct mms__rfield *rf)
{
    struct mfield *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    size_t ln = strlen(fi->name), lu = strlen(fi->units), lh = strlen(fi->help);
    if (!(f->text = malloc(ln + lu + lh + 3)))
        goto fail;
    char *t = f->text;
    memcpy(t, fi->name, ln + 1);
    memcpy(t + ln + 1, fi->units, lu + 1);
    memcpy(t + ln + lu + 2, fi->help, lh + 1);
    f->pub.info = *fi;
    f->pub.info.name = t;
    f->pub.info.units = t + ln + 1;
    f->pub.info.help = t + ln + lu + 2;
    f->pub.info.index = 0;
    f->pub.info.members = NULL;
    f->pub.value.kind = fi->kind;
    f->rf = *rf;
    if (fi->kind == MMS_KIND_HISTOGRAM) {
        if (mms_hist_init(&f->hist, fi->hist_bits, fi->hist_max_exp) < 0)
            goto fail;
        f->pub.value.v.hist = &f->hist;
    }
    if (fi->kind == MMS_KIND_STRUCT && fi->n) {
        f->smembers = calloc(fi->n, sizeof *f->smembers);
        f->members = calloc(fi->n, sizeof *f->members);
        f->last_m = calloc(fi->n, sizeof *f->last_m);
        if (!f->smembers || !f->members || !f->last_m)
            goto fail;
        size_t tot = 0;
        for (uint32_t k = 0; k < fi->n; k++)
            tot += strlen(fi->members[k].name) + 1;
        char *names = f->mnames = malloc(tot);
        if (!names)
            goto fail;
        for (uint32_t k = 0; k < fi->n; k++) {
            size_t l = strlen(fi->members[k].name) + 1;
            memcpy(names, fi->members[k].name, l);
            f->smembers[k].name = names;
            f->smembers[k].type = fi->members[k].type;
            f->last_m[k].name = names;
            f->last_m[k].type = fi->members[k].type;
            names += l;
        }
        f->pub.info.members = f->smembers;
        f->pub.members = f->members;
        f->pub.value.v.st.n = fi->n;
        f->pub.value.v.st.m = f->last_m;
    }
    if ((fi->flags & MMS_DF_WINDOW) &&
        (fi->kind == MMS_KIND_COUNTER || fi->kind == MMS_KIND_HISTOGRAM)) {
        if (!(f->ring = calloc(1, sizeof *f->ring)))
            goto fail;
        if (fi->kind == MMS_KIND_HISTOGRAM &&
            !(f->ring->buckets =
                  calloc((size_t)MMS_WINDOW_SLOTS * rf->win_nbuckets,
                         sizeof(uint64_t))))
            goto fail;
    }
    if (!(rf->flags & MMS_DF_SHARDED) && rf->value_size >= 8 &&
        !(f->raw = calloc(1, rf->value_size)))
        goto fail;
    return f;
fail:
    mfield_free(f);
    return NULL;
}

/* Whether field FI of a new file can be added to F. */
static bool same_shape(const struct mfield *f, const struct mms_field_info *fi)
{
    const struct mms_field_info *a = &f->pub.info;
    const unsigned shape = MMS_DF_WINDOW | MMS_DF_GAUGE_SUM;
    if (a->kind != fi->kind || (a->flags & shape) != (fi->flags & shape))
        return false;
    if (a->kind == MMS_KIND_HISTOGRAM)
        return a->hist_bits == fi->hist_bits &&
               a->hist_max_exp == fi->hist_max_exp &&
               a->window_bits == fi->window_bits;
    if (a->kind == MMS_KIND_SCALAR)
        return a->type == fi->type;
    return true;
}

/* Whether the bytes of FI's value can stand for F's (the same layout). */
static bool same_layout(const struct mfield *f, const struct mms_field_info *fi)
{
    const struct mms_field_info *a = &f->pub.info;
    if (a->value_size != fi->value_size || a->n != fi->n)
        return false;
    for (uint32_t k = 0; a->kind == MMS_KIND_STRUCT && k < a->n; k++)
        if (a->members[k].type != fi->members[k].type ||
            strcmp(a->members[k].name, fi->members[k].name) != 0)
            return false;
    return true;
}

static int add_str(struct mfield *f, const char *s)
{
    for (size_t i = 0; i < f->nstrs; i++) {
        if (!strcmp(f->strs[i].s, s)) {
            f->strs[i].n++;
            return 0;
        }
    }
    if (f->nstrs == f->capstrs) {
        size_t nc = f->capstrs ? f->capstrs * 2 : 4;
        struct mms_merge_str *n = realloc(f->strs, nc * sizeof *n);
        if (!n)
            return -ENOMEM;
        f->strs = n;
        f->capstrs = nc;
        f->pub.strs = n;
    }
    if (!(f->strs[f->nstrs].s = strdup(s)))
        return -ENOMEM;
    f->strs[f->nstrs++].n = 1;
    f->pub.nstrs = f->nstrs;
    return 0;
}

static void add_struct_stats(struct mfield *f, const struct mms_value *v)
{
    for (uint32_t m = 0; m < v->v.st.n; m++) {
        const struct mms_member_value *mv = &v->v.st.m[m];
        for (uint32_t k = 0; k < f->pub.info.n; k++) {
            if (strcmp(f->smembers[k].name, mv->name) != 0)
                continue;
            if (mv->type == MMS_MEMBER_F64)
                num_d(&f->members[k], mv->v.f64);
            else if (mv->type == MMS_MEMBER_I64)
                num_i(&f->members[k], mv->v.i64);
            else
                num_u(&f->members[k], mv->v.u64);
            break;
        }
    }
}

static void add_scalar_stats(struct mfield *f, const struct mms_value *v)
{
    switch (f->pub.info.type) {
    case MMS_TYPE_F32:
    case MMS_TYPE_F64:
        num_d(&f->pub.num, v->v.f64);
        break;
    case MMS_TYPE_I8:
    case MMS_TYPE_I16:
    case MMS_TYPE_I32:
    case MMS_TYPE_I64:
        num_i(&f->pub.num, v->v.i64);
        break;
    default:
        num_u(&f->pub.num, v->v.u64);
        break;
    }
}

/* The value of a file that finished at T: the new last value when no
 * other file finished later. */
static int take_last(struct mfield *f, const mms_snapshot *s, size_t i,
                     const struct mms_field_info *fi, int64_t t)
{
    const struct mms_value *v = mms_snapshot_value(s, i);
    if (f->have_last && t < f->pub.value_ns)
        return 0;
    if (f->raw && same_layout(f, fi) && mms__snapshot_raw(s, i, f->raw) < 0)
        return 0; /* keep the older, consistent value */
    f->have_last = true;
    f->pub.value_ns = t;
    switch (fi->kind) {
    case MMS_KIND_STRING: {
        char *c = strdup(v->v.str.ptr ? v->v.str.ptr : "");
        if (!c)
            return -ENOMEM;
        free(f->last_str);
        f->last_str = c;
        f->pub.value.v.str.ptr = c;
        f->pub.value.v.str.len = v->v.str.len;
        break;
    }
    case MMS_KIND_STRUCT:
        for (uint32_t k = 0; k < f->pub.info.n && k < v->v.st.n; k++)
            f->last_m[k].v = v->v.st.m[k].v;
        break;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
    case MMS_KIND_SCALAR:
    case MMS_KIND_MOVAVG:
        f->pub.value.v = v->v;
        break;
    default:
        break;
    }
    f->pub.value.status = v->status;
    return 0;
}

static void ring_add(struct mfield *f, const struct mms__ring *r)
{
    uint32_t nb =
        f->pub.info.kind == MMS_KIND_HISTOGRAM ? f->rf.win_nbuckets : 0;
    for (uint32_t p = 0; p < MMS_WINDOW_SLOTS; p++)
        mms__ring_merge(f->ring, p, r->sec[p], r->count[p], r->sum[p],
                        nb ? r->buckets + (size_t)p * nb : NULL, nb);
}

static int add_value(struct mfield *f, const mms_snapshot *s, size_t i,
                     const struct mms_field_info *fi, int64_t t)
{
    const struct mms_value *v = mms_snapshot_value(s, i);
    int rc = 0;
    if (v->status < 0)
        f->pub.busy++;
    switch (fi->kind) {
    case MMS_KIND_COUNTER:
        f->pub.value.v.u64 += v->v.u64;
        break;
    case MMS_KIND_HISTOGRAM:
        rc = mms_hist_merge(&f->hist, v->v.hist);
        break;
    case MMS_KIND_GAUGE:
        num_i(&f->pub.num, v->v.i64);
        if (fi->flags & MMS_DF_GAUGE_SUM) /* kept per thread: a total */
            f->pub.value.v.i64 += v->v.i64;
        break;
    case MMS_KIND_GAUGE_F64:
        num_d(&f->pub.num, v->v.f64);
        break;
    case MMS_KIND_SCALAR:
        add_scalar_stats(f, v);
        break;
    case MMS_KIND_STRING:
        if (v->status == 0)
            rc = add_str(f, v->v.str.ptr);
        break;
    case MMS_KIND_STRUCT:
        if (v->status == 0)
            add_struct_stats(f, v);
        break;
    case MMS_KIND_MOVAVG:
        if (v->status == 0) {
            num_d(&f->pub.num, v->v.avg.mean);
            f->pub.avg_count += v->v.avg.count;
        }
        break;
    default:
        break;
    }
    if (rc == 0 && !(fi->flags & MMS_DF_SHARDED))
        rc = take_last(f, s, i, fi, t);
    const struct mms__ring *r = mms__snapshot_ring(s, i);
    if (rc == 0 && f->ring && r)
        ring_add(f, r);
    return rc;
}

static struct mfield *field_of(struct mms_merge *m,
                               const struct mms_field_info *fi,
                               const struct mms__rfield *rf, int *rc)
{
    *rc = slots_room(&m->slots, &m->nslots, m->n, field_hash, m);
    if (*rc < 0)
        return NULL;
    uint32_t *slot =
        slot_find(m->slots, m->nslots, mms__fnv1a(fi->name, strlen(fi->name)),
                  field_eq, m, fi->name, 0);
    if (*slot)
        return m->f[*slot - 1];
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        struct mfield **nf = realloc(m->f, nc * sizeof(struct mfield *));
        if (!nf) {
            *rc = -ENOMEM;
            return NULL;
        }
        m->f = nf;
        m->cap = nc;
    }
    struct mfield *f = mfield_new(fi, rf);
    if (!f) {
        *rc = -ENOMEM;
        return NULL;
    }
    m->f[m->n++] = f;
    *slot = (uint32_t)m->n;
    return f;
}

/* ------------------------------------------------------------- tables */

static void mrec_free(struct mrec *r, uint32_t nmembers)
{
    if (!r)
        return;
    for (uint32_t k = 0; r->hists && k < nmembers; k++)
        mms_hist_free(&r->hists[k]);
    free(r->hists);
    free(r->m);
    free(r->key);
    free(r);
}

static void mtable_free(struct mtable *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        mrec_free(t->recs[i], t->pub.info.nmembers);
    free(t->recs);
    free(t->slots);
    free(t->text);
    free(t);
}

static struct mtable *mtable_new(const struct mms_table_info *ti)
{
    struct mtable *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t ln = strlen(ti->name), lh = strlen(ti->help);
    if (!(t->text = malloc(ln + lh + 2))) {
        free(t);
        return NULL;
    }
    memcpy(t->text, ti->name, ln + 1);
    memcpy(t->text + ln + 1, ti->help, lh + 1);
    t->pub.info = *ti;
    t->pub.info.name = t->text;
    t->pub.info.help = t->text + ln + 1;
    t->pub.info.index = 0;
    for (uint32_t k = 0; k < ti->nmembers && k < MMS_TABLE_MAX_MEMBERS; k++) {
        t->members[k] = ti->members[k];
        mms__strlcpy(t->names[k], ti->members[k].name, sizeof t->names[k]);
        mms__strlcpy(t->units[k],
                     ti->members[k].units ? ti->members[k].units : "",
                     sizeof t->units[k]);
        t->members[k].name = t->names[k];
        t->members[k].units = t->units[k];
    }
    t->pub.info.members = t->members;
    return t;
}

static bool same_schema(const struct mtable *t, const struct mms_table_info *ti)
{
    const struct mms_table_info *a = &t->pub.info;
    if (a->nmembers != ti->nmembers || a->key_type != ti->key_type)
        return false;
    for (uint32_t k = 0; k < a->nmembers; k++) {
        const struct mms_table_member *x = &a->members[k], *y = &ti->members[k];
        if (x->kind != y->kind || strcmp(x->name, y->name) != 0 ||
            (x->kind == MMS_MK_HIST && (x->hist_bits != y->hist_bits ||
                                        x->hist_max_exp != y->hist_max_exp)))
            return false;
    }
    return true;
}

static struct mrec *rec_of(struct mtable *t, const struct mms_record_info *ri,
                           int *rc)
{
    *rc = slots_room(&t->slots, &t->nslots, t->n, rec_hash, t);
    if (*rc < 0)
        return NULL;
    uint32_t *slot = NULL;
    if (ri->overflow) {
        for (size_t p = 0; p < t->n; p++)
            if (t->recs[p]->pub.overflow)
                return t->recs[p];
    } else {
        slot = slot_find(t->slots, t->nslots, mms__fnv1a(ri->key, ri->key_len),
                         rec_eq, t, ri->key, ri->key_len);
        if (*slot)
            return t->recs[*slot - 1];
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        struct mrec **nr = realloc(t->recs, nc * sizeof(struct mrec *));
        if (!nr) {
            *rc = -ENOMEM;
            return NULL;
        }
        t->recs = nr;
        t->cap = nc;
    }
    uint32_t nm = t->pub.info.nmembers;
    struct mrec *r = calloc(1, sizeof *r);
    if (r) {
        r->key = malloc(ri->key_len + 1);
        r->m = calloc(nm ? nm : 1, sizeof *r->m);
        r->hists = calloc(nm ? nm : 1, sizeof *r->hists);
    }
    if (!r || !r->key || !r->m || !r->hists) {
        mrec_free(r, 0);
        *rc = -ENOMEM;
        return NULL;
    }
    for (uint32_t k = 0; k < nm; k++) {
        const struct mms_table_member *mm = &t->members[k];
        if (mm->kind == MMS_MK_HIST &&
            (*rc = mms_hist_init(&r->hists[k], mm->hist_bits,
                                 mm->hist_max_exp)) < 0) {
            mrec_free(r, nm);
            return NULL;
        }
    }
    memcpy(r->key, ri->key, ri->key_len);
    r->key[ri->key_len] = 0;
    r->pub.key = r->key;
    r->pub.key_len = ri->key_len;
    r->pub.overflow = ri->overflow;
    r->pub.m = r->m;
    t->recs[t->n++] = r;
    t->pub.nrecords = (uint32_t)t->n;
    if (slot)
        *slot = (uint32_t)t->n;
    return r;
}

/* Members of a file's record RI into R, by each member's rule. */
static int rec_add(struct mtable *t, struct mrec *r, const mms_snapshot *s,
                   size_t st, size_t sr, const struct mms_record_info *ri)
{
    if (ri->status < 0 && r->pub.status == 0)
        r->pub.status = ri->status;
    for (uint32_t k = 0; k < t->pub.info.nmembers; k++) {
        struct mms_record_member *o = &r->m[k];
        const struct mms_record_member *w = &ri->m[k];
        switch (t->members[k].kind) {
        case MMS_MK_SUM:
            o->v.u64 += w->v.u64;
            break;
        case MMS_MK_SUM_I64:
            o->v.i64 = (int64_t)((uint64_t)o->v.i64 + (uint64_t)w->v.i64);
            break;
        case MMS_MK_MAX:
            if (w->v.u64 > o->v.u64)
                o->v.u64 = w->v.u64;
            break;
        case MMS_MK_MIN:
            if (w->v.u64 && (!o->v.u64 || w->v.u64 < o->v.u64))
                o->v.u64 = w->v.u64;
            break;
        case MMS_MK_MAXARG:
            if (w->v.u64 > o->v.u64 || (!o->v.u64 && !o->arg)) {
                o->v.u64 = w->v.u64;
                o->arg = w->arg;
            }
            break;
        case MMS_MK_HIST: {
            struct mms_hist h;
            int rc = mms_snapshot_record_hist(s, st, sr, k, &h);
            if (rc == 0)
                rc = mms_hist_merge(&r->hists[k], &h);
            mms_hist_free(&h);
            if (rc < 0)
                return rc;
            o->count = r->hists[k].count;
            o->sum = r->hists[k].sum;
            o->min = r->hists[k].min;
            o->max = r->hists[k].max;
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

static int add_table(struct mms_merge *m, const mms_snapshot *s, size_t st)
{
    const struct mms_table_info *ti = mms_snapshot_table(s, st);
    struct mtable *t = NULL;
    for (size_t i = 0; i < m->nt && !t; i++)
        if (!strcmp(m->t[i]->pub.info.name, ti->name))
            t = m->t[i];
    if (!t) {
        if (m->nt == m->capt) {
            size_t nc = m->capt ? m->capt * 2 : 4;
            struct mtable **nt = realloc(m->t, nc * sizeof(struct mtable *));
            if (!nt)
                return -ENOMEM;
            m->t = nt;
            m->capt = nc;
        }
        if (!(t = mtable_new(ti)))
            return -ENOMEM;
        m->t[m->nt++] = t;
    } else if (!same_schema(t, ti)) {
        t->pub.mismatch++;
        return 0;
    }
    t->pub.files++;
    if (ti->capacity > t->pub.info.capacity)
        t->pub.info.capacity = ti->capacity;
    uint64_t hits = 0;
    mms_snapshot_table_counts(s, st, NULL, &hits);
    t->pub.overflow_hits += hits;
    for (size_t k = 0; k < mms_snapshot_nrecords(s, st); k++) {
        const struct mms_record_info *ri = mms_snapshot_record(s, st, k);
        int rc;
        struct mrec *r = rec_of(t, ri, &rc);
        if (!r || (rc = rec_add(t, r, s, st, k, ri)) < 0)
            return rc < 0 ? rc : -ENOMEM;
    }
    return 0;
}

/* -------------------------------------------------------------- public */

int mms_merge_new(mms_merge **out)
{
    if (!out)
        return -EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void mms_merge_free(mms_merge *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        mfield_free(m->f[i]);
    free(m->f);
    free(m->slots);
    for (size_t i = 0; i < m->nt; i++)
        mtable_free(m->t[i]);
    free(m->t);
    free(m);
}

int mms_merge_add(mms_merge *m, mms_reader *r, const mms_snapshot *s,
                  bool (*want)(const char *name, void *arg), void *arg)
{
    return mms__merge_add(m, r, s, want, arg, false);
}

int mms__merge_add(mms_merge *m, mms_reader *r, const mms_snapshot *s,
                   bool (*want)(const char *name, void *arg), void *arg,
                   bool dead)
{
    if (!m || !r || !s)
        return -EINVAL;
    struct mms_proc_info pi;
    int rc = mms_reader_info(r, &pi);
    if (rc < 0)
        return rc;
    bool rollup = pi.flags & MMS_HF_ROLLUP;
    uint64_t procs = rollup ? pi.fold_procs : 1;
    int64_t first = rollup ? pi.fold_first_ns : pi.created_ns;
    /* A process's values are as of its finish; a running one's, now; one
     * that died without finishing (DEAD), as of its start: no later time
     * is known for sure. */
    int64_t last = rollup           ? pi.fold_last_ns
                   : pi.finished_ns ? pi.finished_ns
                   : dead           ? pi.created_ns
                                    : mms_snapshot_real_ns(s);
    struct mms_merge_info *mi = &m->info;
    if (mi->files == 0 || (first && first < mi->first_ns))
        mi->first_ns = first;
    if (last > mi->last_ns)
        mi->last_ns = last;
    mi->files++;
    mi->procs += procs;
    mi->threads_seen += pi.threads_seen;
    mi->threads_shared += pi.threads_shared;
    mi->dropped += pi.dropped;
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_field_info *fi = mms_snapshot_field(s, i);
        if (want && !want(fi->name, arg))
            continue;
        struct mfield *f = field_of(m, fi, mms__snapshot_rfield(s, i), &rc);
        if (!f)
            return rc;
        if (!same_shape(f, fi)) {
            f->pub.mismatch++;
            continue;
        }
        f->pub.files++;
        f->pub.procs += procs;
        if ((rc = add_value(f, s, i, fi, last)) < 0)
            return rc;
    }
    for (size_t t = 0; t < mms_snapshot_ntables(s); t++) {
        const struct mms_table_info *ti = mms_snapshot_table(s, t);
        if (want && !want(ti->name, arg))
            continue;
        if ((rc = add_table(m, s, t)) < 0)
            return rc;
    }
    return 0;
}

void mms_merge_info(const mms_merge *m, struct mms_merge_info *out)
{
    *out = m->info;
}

size_t mms_merge_nfields(const mms_merge *m)
{
    return m->n;
}

const struct mms_merge_field *mms_merge_field(const mms_merge *m, size_t i)
{
    return i < m->n ? &m->f[i]->pub : NULL;
}

int mms_merge_find(const mms_merge *m, const char *name, size_t *i)
{
    if (!m || !name || !i || !m->nslots)
        return m && name && i ? MMS_ENOENT : -EINVAL;
    uint32_t *slot =
        slot_find(m->slots, m->nslots, mms__fnv1a(name, strlen(name)), field_eq,
                  m, name, 0);
    if (!*slot)
        return MMS_ENOENT;
    *i = *slot - 1;
    return 0;
}

int mms_merge_window_at(const mms_merge *m, size_t i, unsigned seconds,
                        int64_t now_ns, struct mms_window *out)
{
    memset(out, 0, sizeof *out);
    if (!m || i >= m->n || !m->f[i]->ring)
        return -EINVAL;
    const struct mfield *f = m->f[i];
    return mms__ring_window(f->ring, &f->rf, &f->hist, seconds, now_ns, out);
}

size_t mms_merge_ntables(const mms_merge *m)
{
    return m->nt;
}

const struct mms_merge_table *mms_merge_table(const mms_merge *m, size_t t)
{
    return t < m->nt ? &m->t[t]->pub : NULL;
}

size_t mms_merge_nrecords(const mms_merge *m, size_t t)
{
    return t < m->nt ? m->t[t]->n : 0;
}

const struct mms_record_info *mms_merge_record(const mms_merge *m, size_t t,
                                               size_t r)
{
    if (t >= m->nt || r >= m->t[t]->n)
        return NULL;
    return &m->t[t]->recs[r]->pub;
}

const struct mms_hist *mms_merge_record_hist(const mms_merge *m, size_t t,
                                             size_t r, unsigned member)
{
    if (t >= m->nt || r >= m->t[t]->n || member >= m->t[t]->pub.info.nmembers ||
        m->t[t]->members[member].kind != MMS_MK_HIST)
        return NULL;
    return &m->t[t]->recs[r]->hists[member];
}

/* For rollup.c: field I's private parts. */
const struct mms__rfield *mms__merge_rfield(const mms_merge *m, size_t i)
{
    return i < m->n ? &m->f[i]->rf : NULL;
}

const uint8_t *mms__merge_raw(const mms_merge *m, size_t i)
{
    return i < m->n && m->f[i]->have_last ? m->f[i]->raw : NULL;
}

const struct mms__ring *mms__merge_ring(const mms_merge *m, size_t i)
{
    return i < m->n ? m->f[i]->ring : NULL;
}
