/* The summary of mmstat-run (summary.h). The calls are found by name in
 * the files' descriptors: any counter "<family>.<call>.calls"; the tools
 * never need the shim's table of calls, only the names of what it
 * records (<mmstats/preload.h>). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mmstats/preload.h>

#include "files.h"
#include "json.h"
#include "summary.h"

/* Files shown after the calls (mmstat-read --files shows them all). */
#define SUMMARY_TOP_FILES 10

struct call_row {
    char family[64], call[64];
    uint64_t calls, errors, bytes;
    bool has_bytes, has_time;
    uint64_t time_ns;
    double p50, p99;
    struct mms_hist lat; /* the latency histogram (has_time), owned */
    char base[64];       /* the name its variants share (call_base) */
};

/* The calls made: split (one row per name the shim counted) and, unless
 * asked to split variants, folded (glibc's variants of a call in one). */
struct call_table {
    struct call_row *split, *rows; /* rows: folded, or split itself */
    size_t nsplit, nrows;
};

struct mem_sum {
    bool present;
    uint64_t allocations, frees, allocated, freed;
    int64_t peak, live;
    double mean, p50, p90, p99;
    uint64_t max;
};

static uint64_t counter(const struct agg_group *g, const char *fam,
                        const char *call, const char *what, bool *found)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s.%s", fam, call, what);
    const struct agg_field *f = agg_find(g, name);
    bool ok = f && f->kind == MMS_KIND_COUNTER;
    if (found)
        *found = ok;
    return ok ? f->u64 : 0;
}

static enum summary_sort sort_key;

static int cmp_rows(const void *a, const void *b)
{
    const struct call_row *x = a, *y = b;
    uint64_t kx = 0, ky = 0;
    switch (sort_key) {
    case SORT_TIME:
        kx = x->time_ns;
        ky = y->time_ns;
        if (kx == ky) { /* untimed calls: by calls */
            kx = x->calls;
            ky = y->calls;
        }
        break;
    case SORT_CALLS:
        kx = x->calls;
        ky = y->calls;
        break;
    case SORT_ERRORS:
        kx = x->errors;
        ky = y->errors;
        break;
    case SORT_NAME:
        break;
    }
    if (kx != ky)
        return kx > ky ? -1 : 1;
    int c = strcmp(x->family, y->family);
    return c ? c : strcmp(x->call, y->call);
}

/* The name glibc's variants of CALL share: leading underscores, "64"
 * ("64v" of "64v2"),
 * then "_chk", "_2" and "_unlocked" taken off; the old stat interfaces
 * (__xstat...) named as the calls they implement; openat as open. */
static void call_base(const char *call, char *out, size_t len)
{
    static const char *const suffixes[] = {"_chk", "_2", "_unlocked"};
    static const char *const alias[][2] = {{"xstat", "stat"},
                                           {"fxstat", "fstat"},
                                           {"lxstat", "lstat"},
                                           {"fxstatat", "fstatat"},
                                           {"openat", "open"}};
    char b[64];
    size_t n = 0;
    for (const char *c = call + strspn(call, "_"); *c && n + 1 < sizeof b;
         c++) {
        if (c[0] == '6' && c[1] == '4') /* preadv64v2: preadv2 */
            c += !strcmp(c, "64v2") ? 2 : 1;
        else
            b[n++] = *c;
    }
    b[n] = '\0';
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t l = strlen(suffixes[i]);
        if (n > l && !strcmp(b + n - l, suffixes[i]))
            b[n -= l] = '\0';
    }
    for (size_t i = 0; i < sizeof alias / sizeof *alias; i++)
        if (!strcmp(b, alias[i][0]))
            snprintf(b, sizeof b, "%s", alias[i][1]);
    snprintf(out, len, "%s", b);
}

/* Add the latency histogram H to row R's. */
static void row_add_time(struct call_row *r, const struct mms_hist *h)
{
    if (!h->count)
        return;
    if (!r->has_time && mms_hist_init(&r->lat, h->bits, h->max_exp) < 0)
        return;
    r->has_time = true;
    r->time_ns += h->sum;
    mms_hist_merge(&r->lat, h);
}

static struct call_row *row_new(struct call_row **v, size_t *n)
{
    struct call_row *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return NULL;
    *v = nv;
    memset(&nv[*n], 0, sizeof *nv);
    return &nv[(*n)++];
}

/* One split row for counter F, "<family>.<call>.calls", of G. */
static int split_row(struct call_table *t, const struct agg_group *g,
                     const struct agg_field *f, const char *d1, const char *d2)
{
    struct call_row *r = row_new(&t->split, &t->nsplit);
    if (!r)
        return -ENOMEM;
    memcpy(r->family, f->name, (size_t)(d1 - f->name));
    memcpy(r->call, d1 + 1, (size_t)(d2 - d1 - 1));
    call_base(r->call, r->base, sizeof r->base);
    r->calls = f->u64;
    r->errors = counter(g, r->family, r->call, MMS_PRELOAD_ERRORS, NULL);
    r->bytes = counter(g, r->family, r->call, MMS_PRELOAD_BYTES, &r->has_bytes);
    char name[256];
    snprintf(name, sizeof name, "%s.%s.%s", r->family, r->call,
             MMS_PRELOAD_LATENCY);
    const struct agg_field *lat = agg_find(g, name);
    if (lat && lat->kind == MMS_KIND_HISTOGRAM)
        row_add_time(r, &lat->hist);
    return 0;
}

/* The folded row of family and base name of S, made if need be. */
static struct call_row *fold_row(struct call_table *t, const struct call_row *s)
{
    for (size_t i = 0; i < t->nrows; i++)
        if (!strcmp(t->rows[i].family, s->family) &&
            !strcmp(t->rows[i].base, s->base))
            return &t->rows[i];
    struct call_row *r = row_new(&t->rows, &t->nrows);
    if (r) {
        memcpy(r->family, s->family, sizeof r->family);
        memcpy(r->base, s->base, sizeof r->base);
        snprintf(r->call, sizeof r->call, "%s", s->base);
    }
    return r;
}

/* The split rows folded by base name: "open*" when a variant was folded
 * in (a name other than the base), else the base name alone. */
static int fold_rows(struct call_table *t)
{
    for (size_t i = 0; i < t->nsplit; i++) {
        const struct call_row *s = &t->split[i];
        struct call_row *r = fold_row(t, s);
        if (!r)
            return -ENOMEM;
        r->calls += s->calls;
        r->errors += s->errors;
        r->bytes += s->bytes;
        r->has_bytes |= s->has_bytes;
        if (s->has_time)
            row_add_time(r, &s->lat);
        if (strcmp(s->call, s->base) != 0 && !strchr(r->call, '*'))
            snprintf(r->call, sizeof r->call, "%.62s*", r->base);
    }
    return 0;
}

static void rows_free(struct call_row *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        if (v[i].has_time)
            mms_hist_free(&v[i].lat);
    free(v);
}

static void table_free(struct call_table *t)
{
    if (t->rows != t->split)
        rows_free(t->rows, t->nrows);
    rows_free(t->split, t->nsplit);
    memset(t, 0, sizeof *t);
}

static void rows_sort(struct call_row *v, size_t n, enum summary_sort sort)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].has_time) {
            v[i].p50 = mms_hist_quantile(&v[i].lat, 0.5);
            v[i].p99 = mms_hist_quantile(&v[i].lat, 0.99);
        }
    sort_key = sort;
    if (n)
        qsort(v, n, sizeof *v, cmp_rows);
}

/* The calls made (calls > 0) in G, split and (unless O says otherwise)
 * folded, each sorted. */
static int call_table(const struct agg_group *g, const struct summary_opts *o,
                      struct call_table *t)
{
    memset(t, 0, sizeof *t);
    int rc = 0;
    for (size_t i = 0; i < g->nfields && rc == 0; i++) {
        const struct agg_field *f = &g->fields[i];
        const char *d1 = strchr(f->name, '.');
        const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        if (f->kind != MMS_KIND_COUNTER || !d2 ||
            strcmp(d2 + 1, MMS_PRELOAD_CALLS) != 0 || f->u64 == 0 ||
            d1 - f->name >= 64 || d2 - d1 - 1 >= 64)
            continue;
        rc = split_row(t, g, f, d1, d2);
    }
    if (rc == 0 && o->split_variants) {
        t->rows = t->split;
        t->nrows = t->nsplit;
    } else if (rc == 0) {
        rc = fold_rows(t);
        rows_sort(t->rows, t->nrows, o->sort);
    }
    rows_sort(t->split, t->nsplit, o->sort);
    if (rc < 0)
        table_free(t);
    return rc;
}

/* The summed time of the rows: what "% time" is a share of. */
static uint64_t rows_time(const struct call_row *v, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += v[i].time_ns;
    return t;
}

static void mem_summary(const struct agg_group *g, struct mem_sum *m)
{
    memset(m, 0, sizeof *m);
    const struct agg_field *size = agg_find(g, MMS_PRELOAD_MEM_ALLOC_SIZE);
    const struct agg_field *a = agg_find(g, MMS_PRELOAD_MEM_ALLOC_BYTES);
    const struct agg_field *fr = agg_find(g, MMS_PRELOAD_MEM_FREED_BYTES);
    const struct agg_field *peak = agg_find(g, MMS_PRELOAD_MEM_PEAK_BYTES);
    if (!size || size->kind != MMS_KIND_HISTOGRAM)
        return;
    m->present = true;
    m->allocations = size->hist.count;
    m->mean = mms_hist_mean(&size->hist);
    m->p50 = mms_hist_quantile(&size->hist, 0.5);
    m->p90 = mms_hist_quantile(&size->hist, 0.9);
    m->p99 = mms_hist_quantile(&size->hist, 0.99);
    m->max = size->hist.max;
    m->frees = counter(g, "mem", "free", MMS_PRELOAD_CALLS, NULL);
    if (a && a->kind == MMS_KIND_COUNTER)
        m->allocated = a->u64;
    if (fr && fr->kind == MMS_KIND_COUNTER)
        m->freed = fr->u64;
    if (peak && peak->kind == MMS_KIND_GAUGE && peak->num.n)
        m->peak = peak->num.imax;
    /* Exact, unlike the live-bytes gauge (published in per-thread
     * batches). */
    m->live = (int64_t)(m->allocated - m->freed);
}

/* ----------------------------------------------------------------- text */

/* A size or a time for the table: scaled, or exact with RAW. */
static const char *cell(char *buf, size_t len, double v, const char *units,
                        bool raw)
{
    if (raw)
        snprintf(buf, len, "%.0f", v);
    else if (!strcmp(units, "ns"))
        fmt_ns(buf, len, v);
    else
        fmt_bytes(buf, len, (uint64_t)v);
    return buf;
}

/* "% time": T's share of TOTAL. */
static const char *pct(char *buf, size_t len, uint64_t t, uint64_t total)
{
    snprintf(buf, len, "%.1f", total ? 100.0 * (double)t / (double)total : 0);
    return buf;
}

static void text_row(FILE *out, const struct call_row *r, uint64_t total,
                     bool raw)
{
    int w = raw ? 12 : 9; /* exact numbers need room */
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    fprintf(out, "  %-6s %-16s %10" PRIu64 " %8" PRIu64 " %*s", r->family,
            r->call, r->calls, r->errors, w,
            r->has_bytes ? cell(b1, sizeof b1, (double)r->bytes, "bytes", raw)
                         : "-");
    if (r->has_time)
        fprintf(out, " %6s %*s %*s %*s %*s\n",
                pct(b6, sizeof b6, r->time_ns, total), w,
                cell(b2, sizeof b2, (double)r->time_ns, "ns", raw), w,
                cell(b3, sizeof b3, (double)r->time_ns / r->calls, "ns", raw),
                w, cell(b4, sizeof b4, r->p50, "ns", raw), w,
                cell(b5, sizeof b5, r->p99, "ns", raw));
    else
        fprintf(out, " %6s %*s %*s %*s %*s\n", "-", w, "-", w, "-", w, "-", w,
                "-");
}

static void text_calls(FILE *out, const struct agg_group *g,
                       const struct summary_opts *o)
{
    struct call_table t;
    if (call_table(g, o, &t) < 0 || t.nrows == 0) {
        fputs("  no calls recorded\n", out);
        table_free(&t);
        return;
    }
    bool raw = o->raw;
    int w = raw ? 12 : 9;
    char b1[32], b2[32], b3[32];
    fprintf(out, "  %-6s %-16s %10s %8s %*s %6s %*s %*s %*s %*s\n", "family",
            "call", "calls", "errors", w, "bytes", "% time", w,
            raw ? "time_ns" : "time", w, raw ? "avg_ns" : "avg", w,
            raw ? "p50_ns" : "p50", w, raw ? "p99_ns" : "p99");
    uint64_t calls = 0, errors = 0, bytes = 0;
    uint64_t time = rows_time(t.rows, t.nrows);
    for (size_t i = 0; i < t.nrows; i++) {
        calls += t.rows[i].calls;
        errors += t.rows[i].errors;
        bytes += t.rows[i].bytes;
        text_row(out, &t.rows[i], time, raw);
    }
    fprintf(out, "  %-6s %-16s %10" PRIu64 " %8" PRIu64 " %*s %6s %*s\n",
            "total", "", calls, errors, w,
            cell(b1, sizeof b1, (double)bytes, "bytes", raw),
            time ? pct(b3, sizeof b3, time, time) : "-", w,
            time ? cell(b2, sizeof b2, (double)time, "ns", raw) : "-");
    table_free(&t);
}

static void text_mem(FILE *out, const struct agg_group *g, bool raw)
{
    struct mem_sum m;
    mem_summary(g, &m);
    if (!m.present)
        return;
    char a[32], f[32], p[32], l[32], wa[32], wf[32];
    fprintf(out,
            "  memory: %" PRIu64 " %s, %" PRIu64
            " %s; %s allocated, %s freed; live at end %s, peak live %s"
            "%s\n",
            m.allocations,
            plural(wa, sizeof wa, "allocation", (double)m.allocations), m.frees,
            plural(wf, sizeof wf, "free", (double)m.frees),
            cell(a, sizeof a, (double)m.allocated, "bytes", raw),
            cell(f, sizeof f, (double)m.freed, "bytes", raw),
            cell(l, sizeof l, m.live > 0 ? (double)m.live : 0, "bytes", raw),
            cell(p, sizeof p, m.peak > 0 ? (double)m.peak : 0, "bytes", raw),
            g->nproc > 1 ? " (the largest of one process; gauges move in "
                           "64K steps per thread)"
                         : " (gauges move in 64K steps per thread)");
    if (!m.allocations)
        return;
    if (raw) {
        fprintf(out,
                "  allocation sizes: mean %.0f, p50 %.0f, p90 %.0f, "
                "p99 %.0f, max %" PRIu64 " bytes\n",
                m.mean, m.p50, m.p90, m.p99, m.max);
        return;
    }
    char s1[32], s2[32], s3[32], s4[32], s5[32];
    fprintf(out,
            "  allocation sizes: mean %s, p50 %s, p90 %s, p99 %s, max %s\n",
            fmt_value(s1, sizeof s1, m.mean, "bytes"),
            fmt_value(s2, sizeof s2, m.p50, "bytes"),
            fmt_value(s3, sizeof s3, m.p90, "bytes"),
            fmt_value(s4, sizeof s4, m.p99, "bytes"),
            fmt_value(s5, sizeof s5, (double)m.max, "bytes"));
}

static void text_proc_line(FILE *out, mms_reader *r)
{
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    if (pi.flags & MMS_HF_ROLLUP) {
        char what[32];
        snprintf(what, sizeof what, "rollup(%" PRIu64 ")", pi.fold_procs);
        fprintf(out, "  %7s %-16s %-17s %.3fs span, last: %s\n", "-", pi.exe,
                what, (double)(pi.fold_last_ns - pi.fold_first_ns) / 1e9,
                pi.cmdline);
        return;
    }
    fprintf(out, "  %7d %-16s %-17s %s\n", pi.pid, pi.exe,
            liveness_word(mms_reader_liveness(r)), pi.cmdline);
}

static void text_command(FILE *out, char *const *argv)
{
    for (size_t i = 0; argv[i]; i++)
        fprintf(out, "%s%s", i ? " " : "", argv[i]);
}

static int text_summary(FILE *out, const struct run_result *rr,
                        const struct out_proc *p, size_t n,
                        const struct agg_group *all,
                        const struct agg_group *each,
                        const struct file_view *files,
                        const struct summary_opts *o)
{
    fputs("mmstat-run: ", out);
    text_command(out, rr->argv);
    if (rr->signal)
        fprintf(out, ": killed by signal %d (%s)", rr->signal,
                strsignal(rr->signal));
    else
        fprintf(out, ": exit status %d", rr->exit_code);
    /* Processes, a rollup's counted (the files list below). */
    fprintf(out, " after %.3f s; %" PRIu64 " process%s", rr->elapsed_ns / 1e9,
            all->procs, all->procs == 1 ? "" : "es");
    if (rr->dir_kept)
        fprintf(out, "; stats in %s", rr->dir);
    fputc('\n', out);
    if (!o->per_process) {
        for (size_t i = 0; i < n; i++)
            text_proc_line(out, p[i].reader);
        if (n)
            fputc('\n', out);
        text_calls(out, all, o);
        text_mem(out, all, o->raw);
    } else {
        for (size_t i = 0; i < n; i++) {
            fputc('\n', out);
            text_proc_line(out, p[i].reader);
            text_calls(out, &each[i], o);
            text_mem(out, &each[i], o->raw);
        }
    }
    if (files->present) {
        fprintf(out, "\ntop files (of all processes, by bytes):\n");
        files_text(out, files, SUMMARY_TOP_FILES, o->raw);
    }
    return ferror(out) ? -EIO : 0;
}

/* ----------------------------------------------------------------- JSON */

static void json_row(struct jw *w, const struct call_row *r, uint64_t total)
{
    jw_str(w, "family", r->family);
    jw_str(w, "call", r->call);
    jw_u64(w, "calls", r->calls);
    jw_u64(w, "errors", r->errors);
    if (r->has_bytes)
        jw_u64(w, "bytes", r->bytes);
    else
        jw_null(w, "bytes");
    if (r->has_time) {
        jw_u64(w, "time_ns", r->time_ns);
        jw_f64(w, "time_pct",
               total ? 100.0 * (double)r->time_ns / (double)total : 0);
        jw_f64(w, "p50_ns", r->p50);
        jw_f64(w, "p99_ns", r->p99);
    } else {
        jw_null(w, "time_ns");
        jw_null(w, "time_pct");
        jw_null(w, "p50_ns");
        jw_null(w, "p99_ns");
    }
}

/* The rows; folded ones with "variants", the split rows folded in. */
static void json_calls(struct jw *w, const struct agg_group *g,
                       const struct summary_opts *o)
{
    struct call_table t;
    if (call_table(g, o, &t) < 0)
        memset(&t, 0, sizeof t);
    uint64_t total = rows_time(t.rows, t.nrows);
    jw_arr(w, "calls", false);
    for (size_t i = 0; i < t.nrows; i++) {
        const struct call_row *r = &t.rows[i];
        jw_obj(w, NULL);
        json_row(w, r, total);
        if (!o->split_variants) {
            jw_arr(w, "variants", false);
            for (size_t k = 0; k < t.nsplit; k++) {
                if (strcmp(t.split[k].family, r->family) != 0 ||
                    strcmp(t.split[k].base, r->base) != 0)
                    continue;
                jw_obj(w, NULL);
                json_row(w, &t.split[k], total);
                jw_end_obj(w);
            }
            jw_end_arr(w);
        }
        jw_end_obj(w);
    }
    jw_end_arr(w);
    table_free(&t);
}

static void json_mem(struct jw *w, const struct agg_group *g)
{
    struct mem_sum m;
    mem_summary(g, &m);
    if (!m.present) {
        jw_null(w, "memory");
        return;
    }
    jw_obj(w, "memory");
    jw_u64(w, "allocations", m.allocations);
    jw_u64(w, "frees", m.frees);
    jw_u64(w, "allocated_bytes", m.allocated);
    jw_u64(w, "freed_bytes", m.freed);
    jw_i64(w, "peak_live_bytes", m.peak);
    jw_i64(w, "live_bytes", m.live);
    jw_obj(w, "sizes");
    jw_f64(w, "mean", m.mean);
    jw_f64(w, "p50", m.p50);
    jw_f64(w, "p90", m.p90);
    jw_f64(w, "p99", m.p99);
    jw_u64(w, "max", m.max);
    jw_end_obj(w);
    jw_end_obj(w);
}

static void json_proc(struct jw *w, mms_reader *r)
{
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    jw_i64(w, "pid", pi.pid);
    jw_i64(w, "ppid", pi.ppid);
    jw_str(w, "exe", pi.exe);
    jw_str(w, "cmdline", pi.cmdline);
    jw_str(w, "liveness", liveness_word(mms_reader_liveness(r)));
    jw_str(w, "path", mms_reader_path(r));
    if (pi.flags & MMS_HF_ROLLUP) {
        jw_obj(w, "rollup");
        jw_u64(w, "processes", pi.fold_procs);
        jw_i64(w, "first_ns", pi.fold_first_ns);
        jw_i64(w, "last_ns", pi.fold_last_ns);
        jw_end_obj(w);
    } else {
        jw_null(w, "rollup");
    }
}

static int json_summary(FILE *out, const struct run_result *rr,
                        const struct out_proc *p, size_t n,
                        const struct agg_group *all,
                        const struct agg_group *each,
                        const struct file_view *files,
                        const struct summary_opts *o)
{
    struct jw w;
    jw_init(&w, out, true);
    jw_obj(&w, NULL);
    jw_u64(&w, "mmstat_run", 1);
    jw_arr(&w, "command", true);
    for (size_t i = 0; rr->argv[i]; i++)
        jw_str(&w, NULL, rr->argv[i]);
    jw_end_arr(&w);
    jw_i64(&w, "status", rr->status);
    if (rr->signal) {
        jw_null(&w, "exit_code");
        jw_i64(&w, "signal", rr->signal);
    } else {
        jw_i64(&w, "exit_code", rr->exit_code);
        jw_null(&w, "signal");
    }
    jw_i64(&w, "elapsed_ns", rr->elapsed_ns);
    if (rr->dir_kept)
        jw_str(&w, "stats_dir", rr->dir);
    else
        jw_null(&w, "stats_dir");
    jw_u64(&w, "process_count", all->procs); /* a rollup's counted */
    jw_arr(&w, "processes", false);
    for (size_t i = 0; i < n; i++) {
        jw_obj(&w, NULL);
        json_proc(&w, p[i].reader);
        if (o->per_process) {
            json_calls(&w, &each[i], o);
            json_mem(&w, &each[i]);
        }
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    json_calls(&w, all, o);
    json_mem(&w, all);
    if (files->present)
        files_json(&w, "files", files, SUMMARY_TOP_FILES);
    else
        jw_null(&w, "files");
    jw_end_obj(&w);
    jw_finish(&w);
    return ferror(out) ? -EIO : 0;
}

int summary_print(FILE *out, const struct run_result *rr,
                  const struct out_proc *p, size_t n,
                  const struct summary_opts *o)
{
    struct agg_group all = {0};
    struct agg_group *each = calloc(n ? n : 1, sizeof *each);
    int rc = each ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = agg_add(&all, p[i].reader, p[i].snap, NULL, 0);
        if (rc == 0 && o->per_process)
            rc = agg_add(&each[i], p[i].reader, p[i].snap, NULL, 0);
    }
    /* The processes' files merged by path: the top ones after the calls. */
    struct file_view files = {0};
    for (size_t i = 0; i < n && rc == 0; i++)
        if (p[i].snap)
            rc = file_view_add(&files, p[i].snap);
    if (rc == 0) {
        file_view_sort(&files, FSORT_BYTES);
        rc = o->json ? json_summary(out, rr, p, n, &all, each, &files, o)
                     : text_summary(out, rr, p, n, &all, each, &files, o);
    }
    file_view_free(&files);
    agg_free(&all);
    for (size_t i = 0; each && i < n; i++)
        agg_free(&each[i]);
    free(each);
    return rc;
}
