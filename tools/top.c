/* mmstat-top's model (top.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mmstats/preload.h>

#include "top.h"

const char *const top_sort_names[TOP_NSORT] = {
    [TOP_SORT_CALLS] = "calls", [TOP_SORT_ERRORS] = "errors",
    [TOP_SORT_BYTES] = "bytes", [TOP_SORT_P99] = "p99",
    [TOP_SORT_MEM] = "mem",     [TOP_SORT_PID] = "pid",
    [TOP_SORT_NAME] = "name",
};

static void proc_free(struct top_proc *p)
{
    if (!p)
        return;
    mms_snapshot_free(p->prev);
    mms_snapshot_free(p->cur);
    calls_free(&p->calls);
    mms_reader_close(p->r);
    free(p->path);
    free(p);
}

void top_free(struct top *t)
{
    for (size_t i = 0; i < t->n; i++)
        proc_free(t->v[i]);
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

static struct top_proc *proc_open(const char *path, const struct stat *st,
                                  int *err)
{
    struct top_proc *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        *err = -ENOMEM;
        return NULL;
    }
    if ((*err = reader_open(&p->r, path)) < 0) {
        proc_free(p);
        return NULL;
    }
    p->dev = st->st_dev;
    p->ino = st->st_ino;
    p->live_field = -1;
    return p;
}

/* The rates of P between its two snapshots. */
static void proc_rates(struct top_proc *p)
{
    p->secs = 0;
    p->calls_s = p->errors_s = p->bytes_s = p->p99 = 0;
    p->slowest[0] = '\0';
    p->has_live = false;
    if (!p->cur)
        return;
    if (p->live_field >= 0) {
        const struct mms_value *v =
            mms_snapshot_value(p->cur, (size_t)p->live_field);
        p->has_live = v->kind == MMS_KIND_GAUGE;
        p->live = v->v.i64;
    }
    p->has_calls = p->calls.n > 0;
    if (!p->prev)
        return;
    double secs =
        (double)(mms_snapshot_mono_ns(p->cur) - mms_snapshot_mono_ns(p->prev)) /
        1e9;
    if (secs <= 0)
        return;
    p->secs = secs;
    uint64_t calls = 0, errors = 0, bytes = 0;
    for (size_t i = 0; i < p->calls.n; i++) {
        struct call_delta d;
        call_delta(&d, &p->calls.v[i], p->cur, p->prev);
        calls += d.calls;
        errors += d.errors;
        bytes += d.bytes;
        if (d.p99 > p->p99) {
            p->p99 = d.p99;
            snprintf(p->slowest, sizeof p->slowest, "%s.%s", d.ci->family,
                     d.ci->call);
        }
    }
    p->calls_s = (double)calls / secs;
    p->errors_s = (double)errors / secs;
    p->bytes_s = (double)bytes / secs;
}

/* A new snapshot of P: the old one becomes prev. */
static int proc_snapshot(struct top_proc *p)
{
    mms_snapshot *s;
    int rc = mms_snapshot_take(p->r, &s);
    if (rc < 0)
        return rc;
    mms_snapshot_free(p->prev);
    p->prev = p->cur;
    p->cur = s;
    if (p->calls.nfields != mms_snapshot_nfields(s)) {
        if ((rc = calls_index(&p->calls, s)) < 0)
            return rc;
        p->live_field = field_index(s, MMS_PRELOAD_MEM_LIVE_BYTES);
    }
    proc_rates(p);
    return 0;
}

/* The entry of PATH in T's old list (sorted by path, from *OLD on), or
 * NULL; entries before it are freed (their files are gone). */
static struct top_proc *take_old(struct top *t, size_t *old, const char *path)
{
    while (*old < t->n && strcmp(t->v[*old]->path, path) < 0) {
        proc_free(t->v[*old]);
        t->v[(*old)++] = NULL;
    }
    if (*old < t->n && !strcmp(t->v[*old]->path, path)) {
        struct top_proc *p = t->v[*old];
        t->v[(*old)++] = NULL;
        return p;
    }
    return NULL;
}

int top_update(struct top *t)
{
    char **paths;
    int n = stats_files(t->dir, &paths);
    t->dir_missing = n == -ENOENT;
    if (n < 0)
        n = 0;
    struct top_proc **nv = calloc(n ? (size_t)n : 1, sizeof(struct top_proc *));
    if (!nv) {
        paths_free(paths, n);
        return -ENOMEM;
    }
    size_t old = 0, m = 0;
    int rc = 0;
    t->failed = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        struct top_proc *p = take_old(t, &old, paths[k]);
        struct stat st;
        if (lstat(paths[k], &st) < 0) {
            proc_free(p);
            continue;
        }
        /* Another file under the same name (a reused pid), or one
         * truncated under the mapping: open it again. */
        if (p && (p->dev != st.st_dev || p->ino != st.st_ino ||
                  (uint64_t)st.st_size < p->pi.file_size)) {
            proc_free(p);
            p = NULL;
        }
        int err = 0;
        if (!p && !(p = proc_open(paths[k], &st, &err))) {
            if (err == -ENOMEM)
                rc = err;
            else if (err != -ENOENT && err != -EAGAIN)
                t->failed++;
            continue;
        }
        mms_reader_info(p->r, &p->pi);
        p->liveness = mms_reader_liveness(p->r);
        if ((err = proc_snapshot(p)) < 0) {
            if (err == -ENOMEM)
                rc = err;
            t->failed++;
            proc_free(p);
            continue;
        }
        nv[m++] = p;
    }
    while (old < t->n)
        proc_free(t->v[old++]);
    free(t->v);
    t->v = nv;
    t->n = m;
    paths_free(paths, n);
    return rc;
}

/* ------------------------------------------------------------- select */

static enum top_sort sort_key;

/* Larger first for the rates, smaller first for pid and name; ties by
 * pid, so the order is stable from frame to frame. */
static int cmp_proc(const void *a, const void *b)
{
    const struct top_proc *x = *(struct top_proc *const *)a;
    const struct top_proc *y = *(struct top_proc *const *)b;
    double kx = 0, ky = 0;
    int c = 0;
    switch (sort_key) {
    case TOP_SORT_CALLS:
        kx = x->calls_s;
        ky = y->calls_s;
        break;
    case TOP_SORT_ERRORS:
        kx = x->errors_s;
        ky = y->errors_s;
        break;
    case TOP_SORT_BYTES:
        kx = x->bytes_s;
        ky = y->bytes_s;
        break;
    case TOP_SORT_P99:
        kx = x->p99;
        ky = y->p99;
        break;
    case TOP_SORT_MEM:
        kx = x->has_live ? (double)x->live : -1;
        ky = y->has_live ? (double)y->live : -1;
        break;
    case TOP_SORT_NAME:
        c = strcmp(x->pi.exe, y->pi.exe);
        break;
    default:
        break;
    }
    if (c)
        return c;
    if (kx != ky)
        return kx > ky ? -1 : 1;
    if (x->pi.pid != y->pi.pid)
        return x->pi.pid < y->pi.pid ? -1 : 1;
    return x->pi.created_ns < y->pi.created_ns ? -1 : 1;
}

static bool selected(const struct top_proc *p, const struct top_select *s)
{
    if (!s->all && p->liveness != MMS_LIVE_RUNNING)
        return false;
    if (s->npids) {
        bool any = false;
        for (size_t i = 0; i < s->npids && !any; i++)
            any = s->pids[i] == p->pi.pid;
        if (!any)
            return false;
    }
    return !s->filters || !s->filters->n ||
           filters_match(s->filters, p->pi.exe) ||
           (p->pi.label[0] && filters_match(s->filters, p->pi.label));
}

struct top_proc **top_select(const struct top *t, const struct top_select *s,
                             size_t *n)
{
    struct top_proc **v = calloc(t->n ? t->n : 1, sizeof(struct top_proc *));
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (selected(t->v[i], s))
            v[(*n)++] = t->v[i];
    sort_key = s->sort;
    if (*n > 1)
        qsort(v, *n, sizeof(struct top_proc *), cmp_proc);
    return v;
}

struct top_proc *top_find(const struct top *t, long pid)
{
    struct top_proc *best = NULL;
    for (size_t i = 0; i < t->n; i++) {
        struct top_proc *p = t->v[i];
        if (p->pi.pid != pid)
            continue;
        bool run = p->liveness == MMS_LIVE_RUNNING;
        bool brun = best && best->liveness == MMS_LIVE_RUNNING;
        if (!best || (run && !brun) ||
            (run == brun && p->pi.created_ns > best->pi.created_ns))
            best = p;
    }
    return best;
}
