/* The per-thread view of one process (threads.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "out.h"
#include "threads.h"

void threads_view_free(struct thread_view *v)
{
    for (size_t r = 0; r < v->nrows; r++) {
        free(v->rows[r].call);
        free(v->rows[r].fam);
    }
    free(v->rows);
    free(v->fam);
    free(v->call_fam);
    calls_free(&v->calls);
    memset(v, 0, sizeof *v);
}

static uint64_t shard_u64(const mms_snapshot *s, size_t k, long i)
{
    struct mms_shard_value sv;
    if (i < 0 || mms_snapshot_shard_value(s, k, (size_t)i, &sv) < 0)
        return 0;
    return sv.u64;
}

static uint64_t shard_sum(const mms_snapshot *s, size_t k, long i)
{
    struct mms_shard_value sv;
    if (i < 0 || mms_snapshot_shard_value(s, k, (size_t)i, &sv) < 0)
        return 0;
    return sv.sum;
}

/* The families of the view's calls, in order of first appearance. */
static int index_families(struct thread_view *v)
{
    v->fam = calloc(v->calls.n ? v->calls.n : 1, sizeof *v->fam);
    v->call_fam = calloc(v->calls.n ? v->calls.n : 1, sizeof *v->call_fam);
    if (!v->fam || !v->call_fam)
        return -ENOMEM;
    for (size_t c = 0; c < v->calls.n; c++) {
        size_t f = 0;
        while (f < v->nfam && strcmp(v->fam[f], v->calls.v[c].family) != 0)
            f++;
        if (f == v->nfam)
            snprintf(v->fam[v->nfam++], sizeof v->fam[0], "%s",
                     v->calls.v[c].family);
        v->call_fam[c] = f;
    }
    return 0;
}

static void vals_add(struct thread_vals *a, const struct thread_vals *b)
{
    a->calls += b->calls;
    a->errors += b->errors;
    a->bytes += b->bytes;
    a->time_ns += b->time_ns;
}

/* Add shard K's values to ROW. */
static void add_shard(struct thread_row *row, const struct thread_view *v,
                      const mms_snapshot *s, size_t k)
{
    for (size_t c = 0; c < v->calls.n; c++) {
        const struct call_index *ci = &v->calls.v[c];
        struct thread_vals x = {
            shard_u64(s, k, ci->calls), shard_u64(s, k, ci->errors),
            shard_u64(s, k, ci->bytes), shard_sum(s, k, ci->latency)};
        vals_add(&row->call[c], &x);
        vals_add(&row->fam[v->call_fam[c]], &x);
        vals_add(&row->total, &x);
    }
}

static int row_cmp(const void *a, const void *b)
{
    const struct thread_row *x = a, *y = b;
    if (x->exited != y->exited)
        return x->exited ? 1 : -1;
    if (x->tid != y->tid)
        return x->tid < y->tid ? -1 : 1;
    return x->shard < y->shard ? -1 : x->shard > y->shard;
}

int threads_view(struct thread_view *v, const mms_snapshot *s)
{
    memset(v, 0, sizeof *v);
    int rc = calls_index(&v->calls, s);
    if (rc == 0)
        rc = index_families(v);
    size_t nshards = mms_snapshot_nshards(s);
    /* Every live thread's row, and one for the exited ones. */
    if (rc == 0 && !(v->rows = calloc(nshards + 1, sizeof *v->rows)))
        rc = -ENOMEM;
    struct thread_row *exited = NULL;
    for (size_t k = 0; rc == 0 && k < nshards; k++) {
        struct mms_shard_info si;
        if (mms_snapshot_shard(s, k, &si) < 0)
            continue;
        /* Shard 0 holds the exited threads' values; a FREE shard whose
         * values could not be moved there still counts, once, here. */
        bool gone = si.shard == 0 || si.state != MMS_SHARD_OWNED;
        struct thread_row *row = gone ? exited : NULL;
        if (!row) {
            row = &v->rows[v->nrows++];
            if (!(row->call = calloc(v->calls.n + 1, sizeof *row->call)) ||
                !(row->fam = calloc(v->nfam + 1, sizeof *row->fam))) {
                rc = -ENOMEM;
                break;
            }
            if (gone) {
                exited = row;
                row->exited = true;
                snprintf(row->name, sizeof row->name, "(exited threads)");
            } else {
                row->shard = si.shard;
                row->tid = si.tid;
                memcpy(row->name, si.name, sizeof row->name);
                row->start_ns = si.start_ns;
                row->end_ns = si.end_ns;
            }
        }
        add_shard(row, v, s, k);
    }
    if (rc < 0) {
        threads_view_free(v);
        return rc;
    }
    qsort(v->rows, v->nrows, sizeof *v->rows, row_cmp);
    return 0;
}

static void print_vals(FILE *f, const char *tid, const char *name,
                       const char *fam, const struct thread_vals *x, bool raw,
                       bool timed)
{
    char by[32], t[32];
    if (raw) {
        snprintf(by, sizeof by, "%" PRIu64, x->bytes);
        snprintf(t, sizeof t, "%" PRIu64, x->time_ns);
    } else {
        fmt_bytes(by, sizeof by, x->bytes);
        fmt_ns(t, sizeof t, (double)x->time_ns);
    }
    fprintf(f, "%8s  %-16s  %-8s %10" PRIu64 " %8" PRIu64 " %10s %10s\n", tid,
            name, fam, x->calls, x->errors, by, timed ? t : "-");
}

int threads_text(FILE *f, const struct thread_view *v, bool raw)
{
    /* Time is shown for the families whose calls are timed. */
    bool timed = false, fam_timed[v->nfam + 1];
    memset(fam_timed, 0, sizeof fam_timed);
    for (size_t c = 0; c < v->calls.n; c++)
        if (v->calls.v[c].latency >= 0)
            timed = fam_timed[v->call_fam[c]] = true;
    fprintf(f, "%8s  %-16s  %-8s %10s %8s %10s %10s\n", "TID", "THREAD",
            "FAMILY", "CALLS", "ERRORS", "BYTES", raw ? "TIME_NS" : "TIME");
    for (size_t r = 0; r < v->nrows; r++) {
        const struct thread_row *row = &v->rows[r];
        char tid[16], name[17];
        if (row->exited && !row->total.calls)
            continue;
        if (row->exited)
            snprintf(tid, sizeof tid, "-");
        else if (row->tid)
            snprintf(tid, sizeof tid, "%d", (int)row->tid);
        else
            snprintf(tid, sizeof tid, "?");
        safe_copy(name, sizeof name, row->name);
        size_t used = 0;
        for (size_t k = 0; k < v->nfam; k++) {
            if (!row->fam[k].calls)
                continue;
            print_vals(f, tid, name, v->fam[k], &row->fam[k], raw,
                       fam_timed[k]);
            used++;
        }
        if (used != 1)
            print_vals(f, tid, name, "total", &row->total, raw, timed);
    }
    return ferror(f) ? -EIO : 0;
}

static void json_vals(struct jw *w, const char *key,
                      const struct thread_vals *x)
{
    jw_obj(w, key);
    jw_u64(w, "calls", x->calls);
    jw_u64(w, "errors", x->errors);
    jw_u64(w, "bytes", x->bytes);
    jw_u64(w, "time_ns", x->time_ns);
    jw_end_obj(w);
}

void threads_json(struct jw *w, const char *key, const struct thread_view *v)
{
    jw_arr(w, key, false);
    for (size_t r = 0; r < v->nrows; r++) {
        const struct thread_row *row = &v->rows[r];
        jw_obj(w, NULL);
        if (row->exited) {
            jw_null(w, "tid");
            jw_str(w, "name", row->name);
            jw_str(w, "state", "exited");
        } else {
            if (row->tid)
                jw_i64(w, "tid", row->tid);
            else
                jw_null(w, "tid");
            jw_str(w, "name", row->name);
            jw_str(w, "state", "running");
            jw_u64(w, "shard", row->shard);
            jw_i64(w, "start_ns", row->start_ns);
        }
        json_vals(w, "total", &row->total);
        jw_obj(w, "families");
        for (size_t k = 0; k < v->nfam; k++)
            if (row->fam[k].calls)
                json_vals(w, v->fam[k], &row->fam[k]);
        jw_end_obj(w);
        jw_obj(w, "calls");
        for (size_t c = 0; c < v->calls.n; c++) {
            if (!row->call[c].calls)
                continue;
            char name[100];
            snprintf(name, sizeof name, "%s.%s", v->calls.v[c].family,
                     v->calls.v[c].call);
            json_vals(w, name, &row->call[c]);
        }
        jw_end_obj(w);
        jw_end_obj(w);
    }
    jw_end_arr(w);
}

void threads_doc_begin(struct jw *w, FILE *f, mms_reader *r)
{
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    jw_init(w, f, true);
    jw_obj(w, NULL);
    jw_u64(w, "mmstats_json", OUT_JSON_SCHEMA);
    jw_arr(w, "processes", false);
    jw_obj(w, NULL);
    jw_i64(w, "pid", pi.pid);
    jw_str(w, "exe", pi.exe);
    jw_str(w, "path", mms_reader_path(r));
    jw_str(w, "liveness", liveness_word(mms_reader_liveness(r)));
}

void threads_doc_end(struct jw *w)
{
    jw_end_obj(w);
    jw_end_arr(w);
    jw_end_obj(w);
    jw_finish(w);
}
