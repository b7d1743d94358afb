/* mmstat-read --watch, like vmstat or the original mmstats' pollstats:
 * one row per interval with, per chosen field, the change since the last
 * row (counters: delta and rate; histograms: count, rate and the interval's
 * p50/p99 from mms_hist_sub; gauges: the value). Fields added while
 * watching get columns of their own (with a new header). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "out.h"
#include "watch.h"

#define HEADER_EVERY 20 /* rows between headers, as vmstat */
#define DEFAULT_COUNTERS 4
#define DEFAULT_HISTS 2
#define SUBW 9  /* width of a number column */
#define STRW 16 /* width of a string column */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

struct col {
    size_t field; /* index in the snapshots (stable: fields only grow) */
    const struct mms_field_info *fi;
    int nsub;
    int w0; /* width of the first sub-column (wider for a long name) */
};

struct cols {
    struct col *v;
    size_t n;
    int counters, hists; /* chosen by default */
};

static const char *const sub_counter[] = {"delta", "/s"};
static const char *const sub_hist[] = {"n", "/s", "p50", "p99"};
static const char *const sub_value[] = {"value"};
static const char *const sub_mean[] = {"mean"};

static const char *const *subs(enum mms_kind k, int *n)
{
    switch (k) {
    case MMS_KIND_COUNTER:
        *n = 2;
        return sub_counter;
    case MMS_KIND_HISTOGRAM:
        *n = 4;
        return sub_hist;
    case MMS_KIND_MOVAVG:
        *n = 1;
        return sub_mean;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
    case MMS_KIND_STRING:
        *n = 1;
        return sub_value;
    default:
        *n = 0;
        return NULL;
    }
}

static int sub_width(const struct col *c, int j)
{
    int w = c->fi->kind == MMS_KIND_STRING ? STRW : SUBW;
    return j == 0 ? c->w0 : w;
}

static bool has_col(const struct cols *cs, size_t field)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->v[i].field == field)
            return true;
    return false;
}

static int add_col(struct cols *cs, const mms_snapshot *s, size_t i)
{
    const struct mms_field_info *fi = mms_snapshot_field(s, i);
    int nsub;
    if (!subs(fi->kind, &nsub))
        return 0;
    struct col *v = realloc(cs->v, (cs->n + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    cs->v = v;
    struct col *c = &cs->v[cs->n++];
    c->field = i;
    c->fi = fi;
    c->nsub = nsub;
    int base = fi->kind == MMS_KIND_STRING ? STRW : SUBW;
    int total = base * nsub + nsub - 1;
    int need = (int)strlen(fi->name) + 2;
    c->w0 = base + (need > total ? need - total : 0);
    return 1;
}

/* How busy field I was: its change since PREV (or its total). */
static double activity(const mms_snapshot *s, const mms_snapshot *prev,
                       size_t i)
{
    const struct mms_value *v = mms_snapshot_value(s, i);
    bool had = prev && i < mms_snapshot_nfields(prev);
    const struct mms_value *p = had ? mms_snapshot_value(prev, i) : NULL;
    uint64_t now, before;
    if (v->kind == MMS_KIND_COUNTER) {
        now = v->v.u64;
        before = p ? p->v.u64 : 0;
    } else if (v->kind == MMS_KIND_HISTOGRAM) {
        now = v->v.hist->count;
        before = p ? p->v.hist->count : 0;
    } else {
        return 0;
    }
    return (double)(now >= before ? now - before : now);
}

/* The busiest counters and histograms not shown yet, while there is room:
 * 1 if columns were added. */
static int pick_default(struct cols *cs, const mms_snapshot *s,
                        const mms_snapshot *prev)
{
    int added = 0;
    for (int pass = 0; pass < 2; pass++) {
        enum mms_kind kind = pass ? MMS_KIND_HISTOGRAM : MMS_KIND_COUNTER;
        int *have = pass ? &cs->hists : &cs->counters;
        int want = pass ? DEFAULT_HISTS : DEFAULT_COUNTERS;
        while (*have < want) {
            long best = -1;
            double best_a = 0;
            for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
                if (mms_snapshot_field(s, i)->kind != kind || has_col(cs, i))
                    continue;
                double a = activity(s, prev, i);
                if (a > best_a) {
                    best_a = a;
                    best = (long)i;
                }
            }
            if (best < 0)
                break;
            int rc = add_col(cs, s, (size_t)best);
            if (rc < 0)
                return rc;
            (*have)++;
            added = 1;
        }
    }
    return added;
}

/* Every field matching the filters not shown yet: 1 if any was added. */
static int pick_filtered(struct cols *cs, const mms_snapshot *s,
                         const struct filters *f)
{
    int added = 0;
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        if (has_col(cs, i) || !filters_match(f, mms_snapshot_field(s, i)->name))
            continue;
        int rc = add_col(cs, s, i);
        if (rc < 0)
            return rc;
        added |= rc;
    }
    return added;
}

static void print_header(const struct cols *cs)
{
    printf("%-8s", "");
    for (size_t i = 0; i < cs->n; i++) {
        const struct col *c = &cs->v[i];
        int total = -1;
        for (int j = 0; j < c->nsub; j++)
            total += sub_width(c, j) + 1;
        int len = (int)strlen(c->fi->name);
        int left = (total - len) / 2, right = total - len - left;
        putchar(' ');
        for (int k = 0; k < left; k++)
            putchar('-');
        fputs(c->fi->name, stdout);
        for (int k = 0; k < right; k++)
            putchar('-');
    }
    printf("\n%-8s", "time");
    for (size_t i = 0; i < cs->n; i++) {
        int n;
        const char *const *names = subs(cs->v[i].fi->kind, &n);
        for (int j = 0; j < n; j++)
            printf(" %*s", sub_width(&cs->v[i], j), names[j]);
    }
    putchar('\n');
}

static char *fmt_num(char *buf, size_t len, double v, const char *units)
{
    if (units && (!strcmp(units, "ns") || !strcmp(units, "bytes")))
        return fmt_value(buf, len, v, units);
    if (fabs(v) < 1e7)
        snprintf(buf, len, v == floor(v) ? "%.0f" : "%.1f", v);
    else
        snprintf(buf, len, "%.4g", v);
    return buf;
}

static void print_cell(const struct col *c, int j, const char *text)
{
    printf(" %*.*s", sub_width(c, j), sub_width(c, j), text);
}

static void print_row(const struct cols *cs, const mms_snapshot *s,
                      const mms_snapshot *prev)
{
    char buf[64];
    time_t t = (time_t)(mms_snapshot_real_ns(s) / 1000000000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    printf("%-8s", buf);
    double dt =
        (double)(mms_snapshot_mono_ns(s) - mms_snapshot_mono_ns(prev)) / 1e9;
    if (dt <= 0)
        dt = 1e-9;
    for (size_t i = 0; i < cs->n; i++) {
        const struct col *c = &cs->v[i];
        const struct mms_value *v = mms_snapshot_value(s, c->field);
        bool had = c->field < mms_snapshot_nfields(prev);
        const struct mms_value *p =
            had ? mms_snapshot_value(prev, c->field) : NULL;
        const char *u = c->fi->units;
        switch (c->fi->kind) {
        case MMS_KIND_COUNTER: {
            uint64_t before = p ? p->v.u64 : 0;
            /* A smaller value: the counter started again. */
            uint64_t d = v->v.u64 >= before ? v->v.u64 - before : v->v.u64;
            print_cell(c, 0, fmt_num(buf, sizeof buf, (double)d, u));
            print_cell(c, 1, fmt_num(buf, sizeof buf, (double)d / dt, u));
            break;
        }
        case MMS_KIND_HISTOGRAM: {
            struct mms_hist d = {0}, empty = {0};
            int rc =
                p ? mms_hist_sub(&d, v->v.hist, p->v.hist)
                  : mms_hist_init(&empty, v->v.hist->bits, v->v.hist->max_exp);
            if (rc == 0 && !p) {
                rc = mms_hist_sub(&d, v->v.hist, &empty);
                mms_hist_free(&empty);
            }
            if (rc < 0) {
                for (int j = 0; j < 4; j++)
                    print_cell(c, j, "?");
                break;
            }
            print_cell(c, 0, fmt_num(buf, sizeof buf, (double)d.count, NULL));
            print_cell(c, 1,
                       fmt_num(buf, sizeof buf, (double)d.count / dt, NULL));
            for (int q = 0; q < 2; q++)
                print_cell(
                    c, 2 + q,
                    d.count ? fmt_num(buf, sizeof buf,
                                      mms_hist_quantile(&d, q ? 0.99 : 0.5), u)
                            : "-");
            mms_hist_free(&d);
            break;
        }
        case MMS_KIND_GAUGE:
            print_cell(c, 0, fmt_num(buf, sizeof buf, (double)v->v.i64, u));
            break;
        case MMS_KIND_GAUGE_F64:
            print_cell(c, 0, fmt_num(buf, sizeof buf, v->v.f64, u));
            break;
        case MMS_KIND_MOVAVG:
            print_cell(c, 0,
                       v->status < 0
                           ? "busy"
                           : fmt_num(buf, sizeof buf, v->v.avg.mean, u));
            break;
        case MMS_KIND_STRING:
            print_cell(c, 0,
                       v->status < 0
                           ? "busy"
                           : safe_copy(buf, sizeof buf, v->v.str.ptr));
            break;
        default:
            break;
        }
    }
    putchar('\n');
}

/* ------------------------------------------------------------- NDJSON */

/* The interval's values of a histogram: NOW - BEFORE (BEFORE NULL: all
 * of NOW). */
static int hist_delta(struct mms_hist *d, const struct mms_hist *now,
                      const struct mms_hist *before)
{
    if (before)
        return mms_hist_sub(d, now, before);
    struct mms_hist empty = {0};
    int rc = mms_hist_init(&empty, now->bits, now->max_exp);
    if (rc == 0)
        rc = mms_hist_sub(d, now, &empty);
    mms_hist_free(&empty);
    return rc;
}

static void json_field(struct jw *w, const mms_snapshot *s,
                       const mms_snapshot *prev, size_t i, double dt)
{
    const struct mms_field_info *fi = mms_snapshot_field(s, i);
    const struct mms_value *v = mms_snapshot_value(s, i);
    bool had = i < mms_snapshot_nfields(prev);
    const struct mms_value *p = had ? mms_snapshot_value(prev, i) : NULL;
    jw_obj(w, fi->name);
    jw_str(w, "kind", mms_kind_name(fi->kind));
    jw_str(w, "units", fi->units);
    switch (fi->kind) {
    case MMS_KIND_COUNTER: {
        uint64_t before = p ? p->v.u64 : 0;
        /* A smaller value: the counter started again. */
        uint64_t d = v->v.u64 >= before ? v->v.u64 - before : v->v.u64;
        jw_u64(w, "value", v->v.u64);
        jw_u64(w, "delta", d);
        jw_f64(w, "rate", (double)d / dt);
        break;
    }
    case MMS_KIND_HISTOGRAM: {
        struct mms_hist d = {0};
        if (hist_delta(&d, v->v.hist, p ? p->v.hist : NULL) < 0) {
            jw_null(w, "count");
            break;
        }
        jw_u64(w, "count", d.count);
        jw_f64(w, "rate", (double)d.count / dt);
        jw_u64(w, "sum", d.sum);
        jw_f64(w, "mean", mms_hist_mean(&d));
        jw_u64(w, "min", d.min);
        jw_u64(w, "max", d.max);
        jw_obj(w, "quantiles");
        for (int q = 0; q < OUT_NQ; q++)
            jw_f64(w, out_qname[q], mms_hist_quantile(&d, out_q[q]));
        jw_end_obj(w);
        mms_hist_free(&d);
        break;
    }
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
    case MMS_KIND_MOVAVG:
        if (v->status < 0)
            jw_null(w, "value");
        else
            jw_f64(w, "value", v->v.avg.mean);
        break;
    case MMS_KIND_STRUCT:
        jw_obj(w, "value");
        for (uint32_t m = 0; v->status == 0 && m < v->v.st.n; m++) {
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
    default:
        break;
    }
    jw_end_obj(w);
}

/* One interval as a JSON object on a line. */
static void json_row(mms_reader *r, const mms_snapshot *s,
                     const mms_snapshot *prev, const struct filters *f,
                     int live)
{
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    double dt =
        (double)(mms_snapshot_mono_ns(s) - mms_snapshot_mono_ns(prev)) / 1e9;
    if (dt <= 0)
        dt = 1e-9;
    struct jw w;
    jw_init(&w, stdout, false);
    jw_obj(&w, NULL);
    jw_u64(&w, "mmstats_watch", OUT_JSON_SCHEMA);
    jw_i64(&w, "pid", pi.pid);
    jw_str(&w, "exe", pi.exe);
    jw_str(&w, "liveness", liveness_word(live));
    jw_i64(&w, "time_real_ns", mms_snapshot_real_ns(s));
    jw_i64(&w, "time_mono_ns", mms_snapshot_mono_ns(s));
    jw_f64(&w, "interval_s", dt);
    jw_obj(&w, "fields");
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++)
        if (filters_match(f, mms_snapshot_field(s, i)->name))
            json_field(&w, s, prev, i, dt);
    jw_end_obj(&w);
    jw_end_obj(&w);
    jw_finish(&w);
}

/* Sleep until DEADLINE (CLOCK_MONOTONIC ns) or a stop signal. */
static void sleep_until(int64_t deadline)
{
    struct timespec ts = {(time_t)(deadline / 1000000000),
                          (long)(deadline % 1000000000)};
    while (!stop_signal &&
           clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static bool gone(int liveness)
{
    return liveness != MMS_LIVE_RUNNING;
}

int watch_main(const char *target, const char *dir, const struct watch_opts *o)
{
    static const char *prog = "mmstat-read";
    mms_reader *r;
    int e = open_target(target, dir, &r);
    if (e < 0) {
        char why[4200];
        fprintf(stderr, "%s: %s: %s\n", prog, target,
                open_error(why, sizeof why, target, dir, e));
        return EXIT_FAIL;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = EXIT_OK;
    mms_snapshot *prev = NULL, *cur = NULL;
    struct cols cs = {0};
    const char *path = mms_reader_path(r);
    int live = mms_reader_liveness(r);
    if (gone(live)) {
        fprintf(stderr, "%s: %s: process %s, nothing to watch\n", prog, path,
                liveness_word(live));
        mms_reader_close(r);
        return EXIT_OK;
    }
    if ((e = mms_snapshot_take(r, &prev)) < 0)
        goto fail;
    bool filtered = o->filters && o->filters->n;
    if (!o->json && filtered && pick_filtered(&cs, prev, o->filters) < 0)
        goto nomem;
    if (!o->json && !filtered && pick_default(&cs, prev, NULL) < 0)
        goto nomem;
    long rows = 0, since_header = 0;
    int64_t step = (int64_t)(o->interval * 1e9);
    int64_t deadline = mms_snapshot_mono_ns(prev);
    while (!stop_signal && (!o->count || rows < o->count)) {
        deadline += step;
        sleep_until(deadline);
        if (stop_signal)
            break;
        live = mms_reader_liveness(r);
        if ((e = mms_snapshot_take(r, &cur)) < 0)
            goto fail;
        if (o->json) {
            json_row(r, cur, prev, o->filters, live);
        } else {
            int added = filtered ? pick_filtered(&cs, cur, o->filters)
                                 : pick_default(&cs, cur, prev);
            if (added < 0)
                goto nomem;
            if (added || since_header % HEADER_EVERY == 0) {
                print_header(&cs);
                since_header = 0;
            }
            print_row(&cs, cur, prev);
        }
        fflush(stdout);
        rows++;
        since_header++;
        mms_snapshot_free(prev);
        prev = cur;
        cur = NULL;
        if (gone(live)) {
            fprintf(stderr, "%s: %s: process %s\n", prog, path,
                    liveness_word(live));
            break;
        }
    }
    goto out;
nomem:
    e = -ENOMEM;
fail:
    fprintf(stderr, "%s: %s: %s\n", prog, path, mms_strerror(e));
    rc = EXIT_FAIL;
out:
    if (ferror(stdout))
        rc = EXIT_FAIL;
    mms_snapshot_free(cur);
    mms_snapshot_free(prev);
    free(cs.v);
    mms_reader_close(r);
    return rc;
}
