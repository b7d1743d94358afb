/* The human-readable format: every field of a process (or of an
 * aggregate) on one line, with units, quantiles and window rates. Times
 * ("ns") and sizes ("bytes") are scaled for a person (2.33ms, 1.5M):
 * histograms' statistics in place, counters and gauges after their exact
 * value ("12000 bytes (11.7K)"), so a column of numbers stays exact; a
 * count of 1 takes the singular. With o->raw, every number is printed
 * exactly, as an integer where it is one, in the field's own units. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "out.h"

const double out_q[OUT_NQ] = {0.5, 0.9, 0.99, 0.999};
const char *const out_qname[OUT_NQ] = {"p50", "p90", "p99", "p999"};

static void print_time(FILE *out, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    char buf[64];
    localtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    fputs(buf, out);
}

/* V (a statistic of a histogram) in UNITS: scaled, or exact with RAW. */
static void print_stat(FILE *out, double v, const char *units, bool raw)
{
    char buf[48];
    if (raw)
        fprintf(out, "%.0f", v);
    else
        fputs(fmt_value(buf, sizeof buf, v, units), out);
}

static void print_hist(FILE *out, const struct mms_hist *h, const char *units,
                       bool raw)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99.9", 0.999}};
    char w[32];
    fprintf(out, "%20" PRIu64 " %s", h->count,
            raw ? "samples" : plural(w, sizeof w, "sample", (double)h->count));
    if (!h->count)
        return;
    fputs("  mean ", out);
    print_stat(out, mms_hist_mean(h), units, raw);
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        fprintf(out, "  %s ", qs[i].name);
        print_stat(out, mms_hist_quantile(h, qs[i].q), units, raw);
    }
    fputs("  max ", out);
    if (raw)
        fprintf(out, "%" PRIu64, h->max);
    else
        print_stat(out, (double)h->max, units, raw);
}

/* After an exact value V in UNITS: the units (singular for 1), and, for a
 * time or a size, V scaled in parentheses when that reads differently. */
static void print_units(FILE *out, double v, const char *units, bool raw)
{
    char buf[64], scaled[48];
    if (!units[0])
        return;
    if (raw) {
        fprintf(out, " %s", units);
        return;
    }
    fprintf(out, " %s", units_for(buf, sizeof buf, units, v));
    if (units_scaled(units) && fabs(v) >= (strcmp(units, "ns") ? 1024 : 1000))
        fprintf(out, " (%s%s)", v < 0 ? "-" : "",
                fmt_value(scaled, sizeof scaled, fabs(v), units));
}

static void print_member(FILE *out, const struct mms_member_value *mv)
{
    if (mv->type == MMS_MEMBER_U64)
        fprintf(out, "%" PRIu64, mv->v.u64);
    else if (mv->type == MMS_MEMBER_I64)
        fprintf(out, "%" PRId64, mv->v.i64);
    else
        fprintf(out, "%.6g", mv->v.f64);
}

static size_t name_width(const mms_snapshot *s, const struct filters *flt)
{
    size_t width = 8;
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const char *name = mms_snapshot_field(s, i)->name;
        size_t l = strlen(name);
        if (l > width && filters_match(flt, name))
            width = l;
    }
    return width;
}

static bool is_zero(const struct mms_value *v)
{
    switch (v->kind) {
    case MMS_KIND_COUNTER:
    case MMS_KIND_GAUGE:
        return v->v.u64 == 0;
    case MMS_KIND_GAUGE_F64:
        return v->v.f64 == 0;
    case MMS_KIND_STRING:
        return v->status == 0 && v->v.str.len == 0;
    case MMS_KIND_HISTOGRAM:
        return v->v.hist->count == 0;
    case MMS_KIND_MOVAVG:
        return v->status == 0 && v->v.avg.count == 0;
    case MMS_KIND_STRUCT:
        for (uint32_t m = 0; m < v->v.st.n; m++)
            if (v->v.st.m[m].v.u64)
                return false;
        return v->status == 0;
    default:
        return false;
    }
}

static bool agg_is_zero(const struct agg_field *f)
{
    switch (f->kind) {
    case MMS_KIND_COUNTER:
        return f->u64 == 0;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
    case MMS_KIND_MOVAVG:
        return agg_num_min(&f->num) == 0 && agg_num_max(&f->num) == 0;
    case MMS_KIND_STRING:
        return f->nstrs == 0 || (f->nstrs == 1 && !f->strs[0].s[0]);
    case MMS_KIND_HISTOGRAM:
        return f->hist.count == 0;
    default:
        return false;
    }
}

/* A rate per second: of sizes for a counter of bytes, else of counts. */
static void print_rate(FILE *out, unsigned secs, double rate, const char *units,
                       bool raw)
{
    char buf[48];
    if (!raw && units && !strcmp(units, "bytes"))
        fprintf(out, " %us:%s", secs, fmt_value(buf, sizeof buf, rate, units));
    else
        fprintf(out, " %us:%.4g", secs, rate);
}

static void print_rates(FILE *out, const mms_snapshot *s, size_t i, int64_t at,
                        bool raw)
{
    const struct mms_field_info *f = mms_snapshot_field(s, i);
    const char *units = f->kind == MMS_KIND_COUNTER ? f->units : NULL;
    fputs("  rate/s", out);
    for (size_t k = 0; k < AGG_NWIN; k++) {
        struct mms_window win;
        if (mms_snapshot_window_at(s, i, agg_win_secs[k],
                                   at ? at : mms_snapshot_mono_ns(s),
                                   &win) == 0)
            print_rate(out, agg_win_secs[k], win.rate, units, raw);
        mms_window_free(&win);
    }
}

static void print_movavg(FILE *out, const struct mms_value *v,
                         const char *units, bool raw)
{
    char w[32];
    uint64_t n =
        v->v.avg.count < v->v.avg.window ? v->v.avg.count : v->v.avg.window;
    if (raw || !units_scaled(units))
        fprintf(out, "%20.6g", v->v.avg.mean);
    else
        fprintf(out, "%20s", fmt_value(w, sizeof w, v->v.avg.mean, units));
    fprintf(out, " mean of last %" PRIu64 " (last ", n);
    if (raw || !units_scaled(units))
        fprintf(out, "%.6g", v->v.avg.last);
    else
        fputs(fmt_value(w, sizeof w, v->v.avg.last, units), out);
    fprintf(out, ", %" PRIu64 " %s)", v->v.avg.count,
            raw ? "values"
                : plural(w, sizeof w, "value", (double)v->v.avg.count));
}

static void print_field(FILE *out, const mms_snapshot *s, size_t i, int width,
                        const struct out_opts *o)
{
    const struct mms_field_info *f = mms_snapshot_field(s, i);
    const struct mms_value *v = mms_snapshot_value(s, i);
    bool raw = o->raw;
    fprintf(out, "  %-*s ", width, f->name);
    switch (f->kind) {
    case MMS_KIND_COUNTER:
        fprintf(out, "%20" PRIu64, v->v.u64);
        print_units(out, (double)v->v.u64, f->units, raw);
        break;
    case MMS_KIND_GAUGE:
        fprintf(out, "%20" PRId64, v->v.i64);
        print_units(out, (double)v->v.i64, f->units, raw);
        break;
    case MMS_KIND_GAUGE_F64:
        fprintf(out, "%20.6g", v->v.f64);
        print_units(out, v->v.f64, f->units, raw);
        break;
    case MMS_KIND_STRING:
        if (v->status < 0)
            fprintf(out, "%20s", "(busy)");
        else {
            fputc('"', out);
            print_safe(out, v->v.str.ptr);
            fputc('"', out);
        }
        break;
    case MMS_KIND_HISTOGRAM:
        print_hist(out, v->v.hist, f->units, raw);
        /* Scaled statistics carry their units; other units follow. */
        if (f->units[0] && (raw || !units_scaled(f->units)))
            fprintf(out, " %s", f->units);
        break;
    case MMS_KIND_STRUCT:
        for (uint32_t m = 0; m < v->v.st.n; m++) {
            fprintf(out, "%s%s=", m ? " " : "", v->v.st.m[m].name);
            print_member(out, &v->v.st.m[m]);
        }
        if (v->status < 0)
            fputs(" (busy)", out);
        break;
    case MMS_KIND_MOVAVG:
        if (v->status < 0) {
            fprintf(out, "%20s", "(busy)");
            break;
        }
        print_movavg(out, v, f->units, raw);
        if (f->units[0] && (raw || !units_scaled(f->units)))
            fprintf(out, " %s", f->units);
        break;
    default:
        fprintf(out, "%20s", "(unknown kind)");
        break;
    }
    if (f->flags & MMS_DF_WINDOW)
        print_rates(out, s, i, o->windows_at, raw);
    fputc('\n', out);
}

static void print_header(FILE *out, mms_reader *r)
{
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    if (pi.flags & MMS_HF_ROLLUP) {
        /* A rollup: the processes it holds and their time span. */
        fprintf(out, "%s rollup of %" PRIu64 " process%s (group %s) %s\n",
                pi.exe, pi.fold_procs, pi.fold_procs == 1 ? "" : "es", pi.group,
                mms_reader_path(r));
        if (pi.label[0])
            fprintf(out, "  label:   %s\n", pi.label);
        fprintf(out, "  last:    %s\n  first started: ", pi.cmdline);
        print_time(out, pi.fold_first_ns);
        fputs("  last finished: ", out);
        print_time(out, pi.fold_last_ns);
        fprintf(out, "\n  threads: %" PRIu64 " seen\n", pi.threads_seen);
        return;
    }
    fprintf(out, "%s pid %d ppid %d %s %s\n", pi.exe, pi.pid, pi.ppid,
            liveness_word(mms_reader_liveness(r)), mms_reader_path(r));
    if (pi.label[0])
        fprintf(out, "  label:   %s\n", pi.label);
    fprintf(out, "  cmdline: %s\n  started: ", pi.cmdline);
    print_time(out, pi.created_ns);
    if (pi.finished_ns) {
        fputs("  finished: ", out);
        print_time(out, pi.finished_ns);
    }
    fprintf(out, "\n  threads: %" PRIu64 " seen, %u active\n", pi.threads_seen,
            pi.shards_active);
}

int out_text_procs(FILE *out, const struct out_proc *p, size_t n,
                   const struct out_opts *o)
{
    for (size_t k = 0; k < n; k++) {
        if (k)
            fputc('\n', out);
        print_header(out, p[k].reader);
        if (o->header_only)
            continue;
        const mms_snapshot *s = p[k].snap;
        int width = (int)name_width(s, o->filters);
        for (size_t i = 0; i < mms_snapshot_nfields(s); i++)
            if (filters_match(o->filters, mms_snapshot_field(s, i)->name) &&
                !(o->nonzero && is_zero(mms_snapshot_value(s, i))))
                print_field(out, s, i, width, o);
    }
    return ferror(out) ? -EIO : 0;
}

/* ----------------------------------------------------------- aggregates */

/* One number of an aggregate: exact with RAW or without scaled units. */
static void agg_value(FILE *out, bool is_int, int64_t i, double d,
                      const char *units, bool raw)
{
    char buf[48];
    if (!raw && units_scaled(units))
        fputs(fmt_value(buf, sizeof buf, is_int ? (double)i : d, units), out);
    else if (is_int)
        fprintf(out, "%" PRId64, i);
    else
        fprintf(out, "%.6g", d);
}

static void print_num(FILE *out, const struct agg_num *a, const char *units,
                      bool raw)
{
    fputs("min ", out);
    agg_value(out, a->is_int, a->imin, a->dmin, units, raw);
    fputs("  avg ", out);
    agg_value(out, false, 0, agg_num_avg(a), units, raw);
    fputs("  max ", out);
    agg_value(out, a->is_int, a->imax, a->dmax, units, raw);
    fputs("  sum ", out);
    agg_value(out, a->is_int, a->isum, a->dsum, units, raw);
}

static void print_agg_field(FILE *out, const struct agg_field *f, int width,
                            bool raw)
{
    char w[32];
    fprintf(out, "  %-*s ", width, f->name);
    bool units_after = f->units[0] && (raw || !units_scaled(f->units));
    switch (f->kind) {
    case MMS_KIND_COUNTER:
        fprintf(out, "%20" PRIu64, f->u64);
        print_units(out, (double)f->u64, f->units, raw);
        units_after = false;
        break;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
        print_num(out, &f->num, f->units, raw);
        break;
    case MMS_KIND_STRING:
        for (size_t i = 0; i < f->nstrs; i++) {
            fputs(i ? ", \"" : "\"", out);
            print_safe(out, f->strs[i].s);
            fprintf(out, "\" x%u", f->strs[i].n);
        }
        break;
    case MMS_KIND_HISTOGRAM:
        print_hist(out, &f->hist, f->units, raw);
        break;
    case MMS_KIND_STRUCT:
        for (uint32_t m = 0; m < f->nmembers; m++) {
            fprintf(out, "%s%s=(", m ? " " : "", f->member_names[m]);
            print_num(out, &f->members[m], "", raw);
            fputc(')', out);
        }
        units_after = false;
        break;
    case MMS_KIND_MOVAVG:
        fputs("mean ", out);
        print_num(out, &f->num, f->units, raw);
        fprintf(out, "  (%" PRIu64 " %s)", f->avg_count,
                raw ? "values"
                    : plural(w, sizeof w, "value", (double)f->avg_count));
        break;
    default:
        fprintf(out, "%20s", "(unknown kind)");
        break;
    }
    if (units_after)
        fprintf(out, " %s", f->units);
    if (f->has_win) {
        fputs("  rate/s", out);
        for (int k = 0; k < AGG_NWIN; k++)
            print_rate(out, agg_win_secs[k],
                       (double)f->win[k].count / agg_win_secs[k],
                       f->kind == MMS_KIND_COUNTER ? f->units : NULL, raw);
    }
    fprintf(out, "  [%u process%s", f->nproc, f->nproc == 1 ? "" : "es");
    if (f->mismatch)
        fprintf(out, "; %u left out: other kind", f->mismatch);
    fputs("]\n", out);
}

int out_text_aggs(FILE *out, const struct agg_group *g, size_t n,
                  const struct out_opts *o)
{
    for (size_t k = 0; k < n; k++) {
        if (k)
            fputc('\n', out);
        /* A rollup holds many processes: say how many, and in how many
         * files (its pid is 0). */
        if (g[k].key)
            fprintf(out, "%s %s%s%s: %" PRIu64 " process%s",
                    o->by ? o->by : "key", g[k].key,
                    g[k].label && g[k].label[0] ? " label " : "",
                    g[k].label ? g[k].label : "", g[k].procs,
                    g[k].procs == 1 ? "" : "es");
        else
            fprintf(out, "sum of %" PRIu64 " process%s", g[k].procs,
                    g[k].procs == 1 ? "" : "es");
        if (g[k].rollups)
            fprintf(out, " in %u file%s, %u of them rollup%s", g[k].nproc,
                    g[k].nproc == 1 ? "" : "s", g[k].rollups,
                    g[k].rollups == 1 ? "" : "s");
        fputs(" (pids", out);
        for (uint32_t i = 0; i < g[k].nproc; i++)
            fprintf(out, " %d", g[k].pids[i]);
        fputs(")\n", out);
        int width = 8;
        for (size_t i = 0; i < g[k].nfields; i++) {
            int l = (int)strlen(g[k].fields[i].name);
            if (l > width)
                width = l;
        }
        for (size_t i = 0; i < g[k].nfields; i++)
            if (!(o->nonzero && agg_is_zero(&g[k].fields[i])))
                print_agg_field(out, &g[k].fields[i], width, o->raw);
    }
    return ferror(out) ? -EIO : 0;
}
