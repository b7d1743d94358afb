/* The human-readable format: every field of a process (or of an
 * aggregate) on one line, with units, quantiles and window rates. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
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

static void print_hist(FILE *out, const struct mms_hist *h)
{
    fprintf(out, "%20" PRIu64 " samples", h->count);
    if (h->count)
        fprintf(out,
                "  mean %.6g  p50 %.6g  p90 %.6g  p99 %.6g"
                "  p99.9 %.6g  max %" PRIu64,
                mms_hist_mean(h), mms_hist_quantile(h, 0.5),
                mms_hist_quantile(h, 0.9), mms_hist_quantile(h, 0.99),
                mms_hist_quantile(h, 0.999), h->max);
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

static void print_rates(FILE *out, const mms_snapshot *s, size_t i, int64_t at)
{
    fputs("  rate/s", out);
    for (size_t k = 0; k < AGG_NWIN; k++) {
        struct mms_window win;
        if (mms_snapshot_window_at(s, i, agg_win_secs[k],
                                   at ? at : mms_snapshot_mono_ns(s),
                                   &win) == 0)
            fprintf(out, " %us:%.4g", agg_win_secs[k], win.rate);
        mms_window_free(&win);
    }
}

static void print_field(FILE *out, const mms_snapshot *s, size_t i, int width,
                        int64_t at)
{
    const struct mms_field_info *f = mms_snapshot_field(s, i);
    const struct mms_value *v = mms_snapshot_value(s, i);
    fprintf(out, "  %-*s ", width, f->name);
    switch (f->kind) {
    case MMS_KIND_COUNTER:
        fprintf(out, "%20" PRIu64, v->v.u64);
        break;
    case MMS_KIND_GAUGE:
        fprintf(out, "%20" PRId64, v->v.i64);
        break;
    case MMS_KIND_GAUGE_F64:
        fprintf(out, "%20.6g", v->v.f64);
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
        print_hist(out, v->v.hist);
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
        fprintf(
            out,
            "%20.6g mean of last %" PRIu64 " (last %.6g, %" PRIu64 " values)",
            v->v.avg.mean,
            v->v.avg.count < v->v.avg.window ? v->v.avg.count : v->v.avg.window,
            v->v.avg.last, v->v.avg.count);
        break;
    default:
        fprintf(out, "%20s", "(unknown kind)");
        break;
    }
    if (f->units[0] && f->kind != MMS_KIND_STRUCT)
        fprintf(out, " %s", f->units);
    if (f->flags & MMS_DF_WINDOW)
        print_rates(out, s, i, at);
    fputc('\n', out);
}

static void print_header(FILE *out, mms_reader *r)
{
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
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
                print_field(out, s, i, width, o->windows_at);
    }
    return ferror(out) ? -EIO : 0;
}

/* ----------------------------------------------------------- aggregates */

static void print_num(FILE *out, const struct agg_num *a)
{
    if (a->is_int)
        fprintf(out, "min %" PRId64 "  avg %.6g  max %" PRId64 "  sum %" PRId64,
                a->imin, agg_num_avg(a), a->imax, a->isum);
    else
        fprintf(out, "min %.6g  avg %.6g  max %.6g  sum %.6g", a->dmin,
                agg_num_avg(a), a->dmax, a->dsum);
}

static void print_agg_field(FILE *out, const struct agg_field *f, int width)
{
    fprintf(out, "  %-*s ", width, f->name);
    switch (f->kind) {
    case MMS_KIND_COUNTER:
        fprintf(out, "%20" PRIu64, f->u64);
        break;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
        print_num(out, &f->num);
        break;
    case MMS_KIND_STRING:
        for (size_t i = 0; i < f->nstrs; i++) {
            fputs(i ? ", \"" : "\"", out);
            print_safe(out, f->strs[i].s);
            fprintf(out, "\" x%u", f->strs[i].n);
        }
        break;
    case MMS_KIND_HISTOGRAM:
        print_hist(out, &f->hist);
        break;
    case MMS_KIND_STRUCT:
        for (uint32_t m = 0; m < f->nmembers; m++) {
            fprintf(out, "%s%s=(", m ? " " : "", f->member_names[m]);
            print_num(out, &f->members[m]);
            fputc(')', out);
        }
        break;
    case MMS_KIND_MOVAVG:
        fputs("mean ", out);
        print_num(out, &f->num);
        fprintf(out, "  (%" PRIu64 " values)", f->avg_count);
        break;
    default:
        fprintf(out, "%20s", "(unknown kind)");
        break;
    }
    if (f->units[0] && f->kind != MMS_KIND_STRUCT)
        fprintf(out, " %s", f->units);
    if (f->has_win) {
        fputs("  rate/s", out);
        for (int k = 0; k < AGG_NWIN; k++)
            fprintf(out, " %us:%.4g", agg_win_secs[k],
                    (double)f->win[k].count / agg_win_secs[k]);
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
        if (g[k].key)
            fprintf(out, "%s %s: %u process%s (pids", o->by ? o->by : "key",
                    g[k].key, g[k].nproc, g[k].nproc == 1 ? "" : "es");
        else
            fprintf(out, "sum of %u process%s (pids", g[k].nproc,
                    g[k].nproc == 1 ? "" : "es");
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
                print_agg_field(out, &g[k].fields[i], width);
    }
    return ferror(out) ? -EIO : 0;
}
