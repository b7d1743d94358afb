/* The JSON format: one object per process (or aggregate group) with its
 * header, liveness and every field's kind, units and value. The schema
 * is documented field by field in docs/tools.md; scripts/mmstats.py
 * prints the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "out.h"

static void flags_json(struct jw *w, unsigned flags)
{
    jw_arr(w, "flags", true);
    if (flags & MMS_DF_SHARDED)
        jw_str(w, NULL, "sharded");
    if (flags & MMS_DF_STATIC)
        jw_str(w, NULL, "static");
    if (flags & MMS_DF_WINDOW)
        jw_str(w, NULL, "window");
    if (flags & MMS_DF_GAUGE_SUM)
        jw_str(w, NULL, "gauge_sum");
    jw_end_arr(w);
}

static void quantiles_json(struct jw *w, const struct mms_hist *h)
{
    double v[OUT_NQ];
    mms_hist_quantiles(h, out_q, OUT_NQ, v);
    jw_obj(w, "quantiles");
    for (int q = 0; q < OUT_NQ; q++)
        jw_f64(w, out_qname[q], v[q]);
    jw_end_obj(w);
}

/* The first bucket of B[0, N) at or after I that is not empty, or N. Most
 * of a dense histogram's ~2,000 buckets are: sixteen tested at a time. */
static uint32_t skip_empty(const uint64_t *b, uint32_t i, uint32_t n)
{
    for (; n - i >= 16; i += 16) {
        uint64_t any = 0;
        for (int k = 0; k < 16; k++)
            any |= b[i + k];
        if (any)
            break;
    }
    while (i < n && !b[i])
        i++;
    return i;
}

/* The next non-empty bucket of H from *POS (mms_hist_next; a dense
 * histogram's empty runs skipped first). */
static bool next_bucket(const struct mms_hist *h, uint32_t *pos, uint32_t *i,
                        uint64_t *count)
{
    if (h->buckets)
        *pos = skip_empty(h->buckets, *pos, h->nbuckets);
    return mms_hist_next(h, pos, i, count);
}

/* A histogram grid's bucket bounds as the head of a bucket row ("[LOW,
 * HIGH, "), made at the first row that needs it: the thousand
 * histograms of a 10,000-field file share one grid, and formatting
 * their bounds again for each was most of --json's digits. */
#define BOUND_W JW_ROW_HEAD /* '[', two integers of up to 20 digits, ... */

struct bounds {
    unsigned bits, max_exp;
    bool pretty;
    uint32_t n;
    uint8_t *len; /* a bucket's head's length; 0: not made yet */
    char (*text)[BOUND_W];
};

/* A field's items after its name (kind, units, help, flags), kept as
 * the writer wrote them last (jw_tape): most fields of a large file
 * share them, and writing them was a third of --json's instructions. */
#define HEAD_STR 64 /* units and help kept up to this long */

struct head_tape {
    bool valid;
    enum mms_kind kind;
    unsigned flags;
    char units[HEAD_STR], help[HEAD_STR];
    struct jw_tape t;
};

#define HEAD_TAPES 4 /* kinds of heads kept (a file's counters, timers) */

/* What the writer keeps from item to item (struct jw's ext). */
struct jcache {
    struct bounds b;
    struct head_tape head[HEAD_TAPES];
    unsigned next_head; /* the tape a new kind of head replaces */
};

static void bounds_free(struct bounds *b)
{
    free(b->len);
    free(b->text);
    *b = (struct bounds){0};
}

/* The row heads of H's grid (made empty the first time), or NULL if
 * there is no cache (or no memory for one: rows are then written as
 * before). */
static struct bounds *bounds_for(struct jw *w, const struct mms_hist *h)
{
    struct jcache *c = w->ext;
    if (!c)
        return NULL;
    struct bounds *b = &c->b;
    bool pretty = w->pretty;
    if (b->bits != h->bits || b->max_exp != h->max_exp || b->n != h->nbuckets ||
        b->pretty != pretty || !b->len) {
        bounds_free(b);
        b->len = calloc(h->nbuckets, 1);
        b->text = calloc(h->nbuckets, BOUND_W);
        if (!b->len || !b->text) {
            bounds_free(b);
            return NULL;
        }
        *b = (struct bounds){h->bits,     h->max_exp, pretty,
                             h->nbuckets, b->len,     b->text};
    }
    return b;
}

/* Bucket I's row head in B (H's grid), its length in *LEN. */
static const char *bound_head(struct jw *w, struct bounds *b,
                              const struct mms_hist *h, uint32_t i, size_t *len)
{
    if (!b->len[i]) {
        char *t = b->text[i], tmp[24];
        const char *sep = jw_row_sep(w);
        size_t n = 0, sl = strlen(sep);
        t[n++] = '[';
        uint64_t v[2] = {mms_hist_bucket_low(i, h->bits, h->max_exp),
                         mms_hist_bucket_high(i, h->bits, h->max_exp)};
        for (int k = 0; k < 2; k++) {
            /* Digits, then the separator: bytes, no NUL. */
            for (const char *d = json_u64_digits(tmp + sizeof tmp, v[k]);
                 d < tmp + sizeof tmp; d++)
                t[n++] = *d;
            for (size_t c = 0; c < sl; c++)
                t[n++] = sep[c];
        }
        b->len[i] = (uint8_t)n;
    }
    *len = b->len[i];
    return b->text[i];
}

static void hist_json(struct jw *w, const char *key, const struct mms_hist *h)
{
    jw_obj(w, key);
    jw_u64(w, "count", h->count);
    jw_u64(w, "sum", h->sum);
    jw_u64(w, "min", h->min);
    jw_u64(w, "max", h->max);
    jw_f64(w, "mean", mms_hist_mean(h));
    quantiles_json(w, h);
    jw_u64(w, "bits", h->bits);
    jw_u64(w, "max_exp", h->max_exp);
    jw_arr(w, "buckets", false);
    struct bounds *b = bounds_for(w, h);
    uint32_t pos = 0, i;
    uint64_t count;
    if (b) { /* rows gathered ROWS at a time, written in one call */
        enum { ROWS = 64 };
        const char *heads[ROWS];
        uint8_t lens[ROWS];
        uint64_t counts[ROWS];
        size_t n = 0;
        while (next_bucket(h, &pos, &i, &counts[n])) {
            size_t len;
            heads[n] = bound_head(w, b, h, i, &len);
            lens[n] = (uint8_t)len;
            if (++n == ROWS) {
                jw_row_tails(w, n, heads, lens, counts);
                n = 0;
            }
        }
        jw_row_tails(w, n, heads, lens, counts);
    }
    while (!b && next_bucket(h, &pos, &i, &count)) {
        uint64_t row[3] = {mms_hist_bucket_low(i, h->bits, h->max_exp),
                           mms_hist_bucket_high(i, h->bits, h->max_exp), count};
        jw_u64_row(w, row, 3);
    }
    jw_end_arr(w);
    jw_end_obj(w);
}

/* One window: COUNT and RATE; for a histogram also SUM, MEAN, MIN, MAX
 * and quantiles of H. */
static void window_json(struct jw *w, unsigned secs, uint64_t count,
                        uint64_t sum, const struct mms_hist *h)
{
    char key[16];
    snprintf(key, sizeof key, "%us", secs);
    jw_obj(w, key);
    jw_u64(w, "count", count);
    jw_f64(w, "rate", (double)count / secs);
    if (h) {
        jw_u64(w, "sum", sum);
        jw_f64(w, "mean", count ? (double)sum / (double)count : 0.0);
        jw_u64(w, "min", h->min);
        jw_u64(w, "max", h->max);
        quantiles_json(w, h);
    }
    jw_end_obj(w);
}

static void windows_json(struct jw *w, const mms_snapshot *s, size_t i,
                         int64_t at)
{
    bool hist = mms_snapshot_field(s, i)->kind == MMS_KIND_HISTOGRAM;
    jw_obj(w, "windows");
    for (int k = 0; k < AGG_NWIN; k++) {
        struct mms_window win;
        if (mms_snapshot_window_at(s, i, agg_win_secs[k],
                                   at ? at : mms_snapshot_mono_ns(s),
                                   &win) == 0)
            window_json(w, agg_win_secs[k], win.count, win.sum,
                        hist ? &win.hist : NULL);
        mms_window_free(&win);
    }
    jw_end_obj(w);
}

static const char *member_type(enum mms_member_type t)
{
    return t == MMS_MEMBER_U64 ? "u64" : t == MMS_MEMBER_I64 ? "i64" : "f64";
}

static void value_json(struct jw *w, const struct mms_field_info *f,
                       const struct mms_value *v)
{
    switch (f->kind) {
    case MMS_KIND_COUNTER:
        jw_u64(w, "value", v->v.u64);
        break;
    case MMS_KIND_GAUGE:
        jw_i64(w, "value", v->v.i64);
        break;
    case MMS_KIND_GAUGE_F64:
        jw_f64(w, "value", v->v.f64);
        break;
    case MMS_KIND_STRING:
        if (v->status < 0)
            jw_null(w, "value");
        else
            jw_str(w, "value", v->v.str.ptr);
        break;
    case MMS_KIND_HISTOGRAM:
        hist_json(w, "value", v->v.hist);
        break;
    case MMS_KIND_STRUCT:
        jw_obj(w, "member_types");
        for (uint32_t m = 0; m < f->n; m++)
            jw_str(w, f->members[m].name, member_type(f->members[m].type));
        jw_end_obj(w);
        if (v->status < 0) {
            jw_null(w, "value");
            break;
        }
        jw_obj(w, "value");
        for (uint32_t m = 0; m < v->v.st.n; m++) {
            const struct mms_member_value *mv = &v->v.st.m[m];
            if (mv->type == MMS_MEMBER_U64)
                jw_u64(w, mv->name, mv->v.u64);
            else if (mv->type == MMS_MEMBER_I64)
                jw_i64(w, mv->name, mv->v.i64);
            else
                jw_f64(w, mv->name, mv->v.f64);
        }
        jw_end_obj(w);
        break;
    case MMS_KIND_SCALAR:
        jw_str(w, "type", mms_type_name(f->type));
        if (f->type == MMS_TYPE_BOOL)
            jw_bool(w, "value", v->v.u64 != 0);
        else if (f->type == MMS_TYPE_F32 || f->type == MMS_TYPE_F64)
            jw_f64(w, "value", v->v.f64);
        else if (f->type >= MMS_TYPE_I8 && f->type <= MMS_TYPE_I64)
            jw_i64(w, "value", v->v.i64);
        else
            jw_u64(w, "value", v->v.u64);
        break;
    case MMS_KIND_MOVAVG:
        if (v->status < 0) {
            jw_null(w, "value");
            break;
        }
        jw_obj(w, "value");
        jw_f64(w, "mean", v->v.avg.mean);
        jw_f64(w, "last", v->v.avg.last);
        jw_u64(w, "count", v->v.avg.count);
        jw_u64(w, "window", v->v.avg.window);
        jw_end_obj(w);
        break;
    default:
        jw_null(w, "value");
        break;
    }
}

static void head_items(struct jw *w, enum mms_kind kind, const char *units,
                       const char *help, unsigned flags)
{
    jw_str(w, "kind", mms_kind_name(kind));
    if (!strcmp(mms_kind_name(kind), "unknown"))
        jw_u64(w, "kind_code", (unsigned)kind);
    jw_str(w, "units", units);
    jw_str(w, "help", help);
    flags_json(w, flags);
}

static void field_head(struct jw *w, const char *name, enum mms_kind kind,
                       const char *units, const char *help, unsigned flags)
{
    jw_obj(w, name);
    struct jcache *c = w->ext;
    units = units ? units : "";
    help = help ? help : "";
    if (!c) {
        head_items(w, kind, units, help, flags);
        return;
    }
    for (int k = 0; k < HEAD_TAPES; k++) {
        const struct head_tape *h = &c->head[k];
        if (h->valid && h->kind == kind && h->flags == flags &&
            !strcmp(h->units, units) && !strcmp(h->help, help) &&
            jw_tape_play(w, &h->t))
            return;
    }
    struct head_tape *h = &c->head[c->next_head++ % HEAD_TAPES];
    jw_tape_begin(w, &h->t);
    head_items(w, kind, units, help, flags);
    jw_tape_end(w, &h->t);
    size_t ul = strlen(units), hl = strlen(help);
    h->valid = h->t.ok && ul < HEAD_STR && hl < HEAD_STR;
    if (h->valid) {
        h->kind = kind;
        h->flags = flags;
        memcpy(h->units, units, ul + 1);
        memcpy(h->help, help, hl + 1);
    }
}

static void fields_json(struct jw *w, const struct out_proc *p,
                        const struct out_opts *o)
{
    const mms_snapshot *s = p->snap;
    jw_obj(w, "fields");
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_field_info *f = mms_snapshot_field(s, i);
        const struct mms_value *v = mms_snapshot_value(s, i);
        if (!filters_match(o->filters, f->name))
            continue;
        field_head(w, f->name, f->kind, f->units, f->help, f->flags);
        value_json(w, f, v);
        if (v->status < 0)
            jw_str(w, "status", "busy");
        if (f->flags & MMS_DF_WINDOW)
            windows_json(w, s, i, o->windows_at);
        if (o->json_extra)
            o->json_extra(w, p, (long)i, o->json_extra_arg);
        jw_end_obj(w);
    }
    jw_end_obj(w);
}

static void proc_json(struct jw *w, const struct out_proc *p,
                      const struct out_opts *o)
{
    struct mms_proc_info pi;
    mms_reader_info(p->reader, &pi);
    const char *path = mms_reader_path(p->reader);
    char ver[16];
    snprintf(ver, sizeof ver, "%u.%u", pi.major, pi.minor);
    jw_obj(w, NULL);
    jw_str(w, "path", path);
    jw_i64(w, "pid", pi.pid);
    jw_i64(w, "ppid", pi.ppid);
    jw_u64(w, "uid", pi.uid);
    jw_u64(w, "gid", pi.gid);
    jw_str(w, "exe", pi.exe);
    jw_str(w, "label", pi.label);
    jw_str(w, "host", pi.host);
    jw_str(w, "cmdline", pi.cmdline);
    jw_str(w, "format_version", ver);
    jw_str(w, "state", state_word(pi.state));
    jw_str(w, "liveness", liveness_word(mms_reader_liveness(p->reader)));
    jw_u64(w, "start_ticks", pi.start_ticks);
    jw_i64(w, "created_ns", pi.created_ns);
    if (pi.finished_ns)
        jw_i64(w, "finished_ns", pi.finished_ns);
    else
        jw_null(w, "finished_ns");
    jw_u64(w, "file_size", pi.file_size);
    jw_u64(w, "disk_bytes", disk_bytes(path));
    jw_u64(w, "layout_gen", pi.layout_gen);
    jw_u64(w, "shard_cap", pi.shard_cap);
    jw_u64(w, "shards_used", pi.shards_used);
    jw_u64(w, "shards_active", pi.shards_active);
    jw_u64(w, "threads_seen", pi.threads_seen);
    jw_u64(w, "dropped", pi.dropped);
    /* Rollups (docs/format.md section 15): the group a file folds into
     * (or holds), its policy, and what a rollup holds. */
    jw_str(w, "group", pi.group);
    jw_str(w, "keep", mms_keep_name(pi.keep));
    if (pi.flags & MMS_HF_ROLLUP) {
        jw_obj(w, "rollup");
        jw_u64(w, "processes", pi.fold_procs);
        jw_i64(w, "first_ns", pi.fold_first_ns);
        jw_i64(w, "last_ns", pi.fold_last_ns);
        jw_end_obj(w);
    } else {
        jw_null(w, "rollup");
    }
    if (p->snap) {
        jw_i64(w, "snapshot_real_ns", mms_snapshot_real_ns(p->snap));
        jw_i64(w, "snapshot_mono_ns", mms_snapshot_mono_ns(p->snap));
    }
    if (o->json_extra)
        o->json_extra(w, p, -1, o->json_extra_arg);
    if (!o->header_only && p->snap) {
        jw_u64(w, "nfields", mms_snapshot_nfields(p->snap));
        fields_json(w, p, o);
    } else {
        jw_u64(w, "nfields", mms_reader_nfields(p->reader));
    }
    jw_end_obj(w);
}

int out_json_procs(FILE *f, const struct out_proc *p, size_t n,
                   const struct out_opts *o)
{
    struct jw w;
    struct jcache c = {0};
    jw_init(&w, f, true);
    w.ext = &c;
    jw_obj(&w, NULL);
    jw_u64(&w, "mmstats_json", OUT_JSON_SCHEMA);
    jw_arr(&w, "processes", false);
    for (size_t i = 0; i < n; i++)
        proc_json(&w, &p[i], o);
    jw_end_arr(&w);
    jw_end_obj(&w);
    jw_finish(&w);
    bounds_free(&c.b);
    return ferror(f) ? -EIO : 0;
}

/* ----------------------------------------------------------- aggregates */

static void num_json(struct jw *w, const char *key, const struct agg_num *a)
{
    jw_obj(w, key);
    if (a->n == 0) {
        jw_null(w, "min");
        jw_null(w, "max");
        jw_null(w, "avg");
        jw_null(w, "sum");
    } else if (a->is_int) {
        jw_i64(w, "min", a->imin);
        jw_i64(w, "max", a->imax);
        jw_f64(w, "avg", agg_num_avg(a));
        jw_i64(w, "sum", a->isum);
    } else {
        jw_f64(w, "min", a->dmin);
        jw_f64(w, "max", a->dmax);
        jw_f64(w, "avg", agg_num_avg(a));
        jw_f64(w, "sum", a->dsum);
    }
    jw_end_obj(w);
}

static void agg_field_json(struct jw *w, const struct agg_field *f)
{
    field_head(w, f->name, f->kind, f->units, f->help, f->flags);
    jw_u64(w, "processes", f->nproc);
    if (f->mismatch)
        jw_u64(w, "mismatched", f->mismatch);
    if (f->busy)
        jw_u64(w, "busy", f->busy);
    switch (f->kind) {
    case MMS_KIND_COUNTER:
        jw_u64(w, "value", f->u64);
        break;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
        num_json(w, "value", &f->num);
        break;
    case MMS_KIND_STRING:
        jw_obj(w, "value");
        for (size_t i = 0; i < f->nstrs; i++)
            jw_u64(w, f->strs[i].s, f->strs[i].n);
        jw_end_obj(w);
        break;
    case MMS_KIND_HISTOGRAM:
        hist_json(w, "value", &f->hist);
        break;
    case MMS_KIND_STRUCT:
        jw_obj(w, "value");
        for (uint32_t m = 0; m < f->nmembers; m++)
            num_json(w, f->member_names[m], &f->members[m]);
        jw_end_obj(w);
        break;
    case MMS_KIND_MOVAVG:
        jw_obj(w, "value");
        num_json(w, "mean", &f->num);
        jw_u64(w, "count", f->avg_count);
        jw_end_obj(w);
        break;
    default:
        jw_null(w, "value");
        break;
    }
    if (f->has_win) {
        jw_obj(w, "windows");
        for (int k = 0; k < AGG_NWIN; k++)
            window_json(w, agg_win_secs[k], f->win[k].count, f->win[k].sum,
                        f->kind == MMS_KIND_HISTOGRAM ? &f->win[k].hist : NULL);
        jw_end_obj(w);
    }
    jw_end_obj(w);
}

int out_json_aggs(FILE *f, const struct agg_group *g, size_t n,
                  const struct out_opts *o)
{
    struct jw w;
    struct jcache c = {0};
    jw_init(&w, f, true);
    w.ext = &c;
    jw_obj(&w, NULL);
    jw_u64(&w, "mmstats_json", OUT_JSON_SCHEMA);
    jw_str(&w, "aggregate", o->by ? o->by : "sum");
    jw_arr(&w, "groups", false);
    for (size_t k = 0; k < n; k++) {
        jw_obj(&w, NULL);
        if (g[k].key)
            jw_str(&w, "key", g[k].key);
        else
            jw_null(&w, "key");
        if (g[k].label) /* --by program */
            jw_str(&w, "label", g[k].label);
        /* Processes, a rollup's counted; the files they are in. */
        jw_u64(&w, "processes", g[k].procs);
        jw_u64(&w, "files", g[k].nproc);
        jw_u64(&w, "rollups", g[k].rollups);
        jw_arr(&w, "pids", true);
        for (uint32_t i = 0; i < g[k].nproc; i++)
            jw_i64(&w, NULL, g[k].pids[i]);
        jw_end_arr(&w);
        jw_obj(&w, "fields");
        for (size_t i = 0; i < g[k].nfields; i++)
            agg_field_json(&w, &g[k].fields[i]);
        jw_end_obj(&w);
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    jw_finish(&w);
    bounds_free(&c.b);
    return ferror(f) ? -EIO : 0;
}
