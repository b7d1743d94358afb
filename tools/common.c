/* Helpers shared by the tools: directory listing and the text format. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

const char *liveness_word(int liveness)
{
    switch (liveness) {
    case MMS_LIVE_RUNNING:
        return "running";
    case MMS_LIVE_FINISHED:
        return "finished";
    case MMS_LIVE_DEAD:
        return "stale";
    case MMS_LIVE_PID_REUSED:
        return "stale(pid-reused)";
    }
    return "unknown";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int stats_files(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= 8 ||
            strcmp(e->d_name + len - 8, ".mmstats"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        if (asprintf(&v[n], "%s/%s", dir, e->d_name) < 0)
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

void paths_free(char **paths, int n)
{
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

static void print_time(FILE *out, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    char buf[64];
    localtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    fputs(buf, out);
}

void text_dump(FILE *out, mms_reader *r, const mms_snapshot *s,
               const char *filter)
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
    fprintf(out, "\n  threads: %" PRIu64 " seen, %u active\n",
            pi.threads_seen, pi.shards_active);
    size_t width = 8;
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        size_t l = strlen(mms_snapshot_field(s, i)->name);
        if (l > width)
            width = l;
    }
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_field_info *f = mms_snapshot_field(s, i);
        const struct mms_value *v = mms_snapshot_value(s, i);
        if (filter && fnmatch(filter, f->name, 0) != 0)
            continue;
        fprintf(out, "  %-*s ", (int)width, f->name);
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
            else
                fprintf(out, "\"%s\"", v->v.str.ptr);
            break;
        case MMS_KIND_HISTOGRAM: {
            const struct mms_hist *h = v->v.hist;
            fprintf(out, "%20" PRIu64 " samples", h->count);
            if (h->count)
                fprintf(out,
                        "  mean %.6g  p50 %.6g  p90 %.6g  p99 %.6g"
                        "  p99.9 %.6g  max %" PRIu64,
                        mms_hist_mean(h), mms_hist_quantile(h, 0.5),
                        mms_hist_quantile(h, 0.9), mms_hist_quantile(h, 0.99),
                        mms_hist_quantile(h, 0.999), h->max);
            break;
        }
        case MMS_KIND_STRUCT:
            for (uint32_t m = 0; m < v->v.st.n; m++) {
                const struct mms_member_value *mv = &v->v.st.m[m];
                fprintf(out, "%s%s=", m ? " " : "", mv->name);
                if (mv->type == MMS_MEMBER_U64)
                    fprintf(out, "%" PRIu64, mv->v.u64);
                else if (mv->type == MMS_MEMBER_I64)
                    fprintf(out, "%" PRId64, mv->v.i64);
                else
                    fprintf(out, "%.6g", mv->v.f64);
            }
            if (v->status < 0)
                fputs(" (busy)", out);
            break;
        case MMS_KIND_MOVAVG:
            fprintf(out, "%20.6g mean of last %" PRIu64 " (last %.6g, %" PRIu64
                         " values)",
                    v->v.avg.mean,
                    v->v.avg.count < v->v.avg.window ? v->v.avg.count
                                                     : v->v.avg.window,
                    v->v.avg.last, v->v.avg.count);
            break;
        default:
            fprintf(out, "%20s", "(unknown kind)");
            break;
        }
        if (f->units[0] && f->kind != MMS_KIND_STRUCT)
            fprintf(out, " %s", f->units);
        if (f->flags & MMS_DF_WINDOW) {
            static const unsigned secs[] = {1, 10, 60};
            fputs("  rate/s", out);
            for (size_t k = 0; k < 3; k++) {
                struct mms_window win;
                if (mms_snapshot_window(s, i, secs[k], &win) == 0)
                    fprintf(out, " %us:%.4g", secs[k], win.rate);
                mms_window_free(&win);
            }
        }
        fputc('\n', out);
    }
}
