/* mmstat-exporter's view of the shim's per-file records (files.h):
 * /api/v1/processes/<pid>/files, the dashboard's top-files panel, and
 * the per-file metrics /metrics adds only with --file-metrics N (a label
 * per file: the cardinality is the operator's choice). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exporter.h"
#include "files.h"
#include "json.h"

/* ------------------------------------- /api/v1/processes/<pid>/files */

int api_files(struct exporter *x, long pid, enum file_sort sort, long top,
              struct body *out)
{
    FILE *f = body_open(out);
    if (!f)
        return -ENOMEM;
    struct cache *c = &x->cache;
    struct file_view v = {0};
    pthread_mutex_lock(&c->lock);
    struct centry *e;
    mms_snapshot *s;
    int rc = cache_snapshot_pid(c, pid, &e, &s);
    if (rc == 0)
        rc = file_view_add(&v, s);
    mms_snapshot_free(s);
    pthread_mutex_unlock(&c->lock);
    if (rc == 0) {
        file_view_sort(&v, sort);
        struct jw w;
        jw_init(&w, f, false);
        jw_obj(&w, NULL);
        jw_i64(&w, "pid", pid);
        if (v.present)
            files_json(&w, "files", &v, (size_t)top);
        else
            jw_null(&w, "files");
        jw_end_obj(&w);
        jw_finish(&w);
    }
    file_view_free(&v);
    /* A file that cannot be read is the server's trouble. */
    if (rc < 0 && rc != -ENOENT && rc != -ENOMEM)
        rc = -EIO;
    return body_close(out, f, rc);
}

/* --------------------------------------------------- --file-metrics N */

/* A label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

/* The metrics, in the order of their families. */
static const struct {
    const char *name, *type, *help;
} metric[] = {
    {"mmstats_file_read_bytes_total", "counter", "bytes read from the file"},
    {"mmstats_file_written_bytes_total", "counter",
     "bytes written to the file"},
    {"mmstats_file_reads_total", "counter", "reads of the file"},
    {"mmstats_file_writes_total", "counter", "writes to the file"},
    {"mmstats_file_opens_total", "counter",
     "opens of the file (dups and filenos included)"},
    {"mmstats_file_io_seconds_total", "counter",
     "time in the file's calls (timed mode)"},
};
#define NMETRICS (sizeof metric / sizeof *metric)

static void sample(FILE *f, unsigned m, const struct file_row *r)
{
    switch (m) {
    case 0:
        fprintf(f, "%" PRIu64, r->v[FV_bytes_read]);
        break;
    case 1:
        fprintf(f, "%" PRIu64, r->v[FV_bytes_written]);
        break;
    case 2:
        fprintf(f, "%" PRIu64, r->reads);
        break;
    case 3:
        fprintf(f, "%" PRIu64, r->writes);
        break;
    case 4:
        fprintf(f, "%" PRIu64, r->v[FV_opens]);
        break;
    default:
        fprintf(f, "%.9f", (double)r->time_ns / 1e9);
        break;
    }
}

int files_prom(FILE *f, const struct exporter *x, const struct out_proc *p,
               size_t n)
{
    struct file_view *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = file_view_add(&v[i], p[i].snap);
        file_view_sort(&v[i], FSORT_BYTES);
    }
    for (unsigned m = 0; m < NMETRICS && rc == 0; m++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", metric[m].name,
                metric[m].help, metric[m].name, metric[m].type);
        for (size_t i = 0; i < n; i++) {
            struct mms_proc_info pi;
            if (!v[i].present || mms_reader_info(p[i].reader, &pi) < 0)
                continue;
            size_t shown = 0;
            for (size_t k = 0; k < v[i].n; k++) {
                const struct file_row *r = &v[i].rows[k];
                if (!r->other && shown == x->file_metrics)
                    continue;
                shown += !r->other;
                /* The labels of the process's own metrics, then file. */
                fprintf(f, "%s{pid=\"%d\",exe=\"", metric[m].name, pi.pid);
                label(f, pi.exe);
                if (pi.label[0]) {
                    fputs("\",label=\"", f);
                    label(f, pi.label);
                }
                if (x->host) {
                    fputs("\",host=\"", f);
                    label(f, x->host);
                }
                fputs("\",file=\"", f);
                label(f, r->other ? "(other)" : r->key);
                fputs("\"} ", f);
                sample(f, m, r);
                fputc('\n', f);
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        file_view_free(&v[i]);
    free(v);
    return rc;
}
