/* The bodies of mmstat-exporter's endpoints, made by the shared output
 * modules: /metrics with out_prom (as mmstat-read --prometheus) plus the
 * exporter's own metrics, the JSON API with out_json (as mmstat-read
 * --json) plus the rates the exporter adds. Each request holds the
 * cache's lock from its sync to its last use of a snapshot. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <mmstats/preload.h>

#include "exporter.h"
#include "heap.h"
#include "json.h"
#include "prom_native.h"
#include "threads.h"
#ifdef MMS_HAVE_PROMPROTO
#include "promproto.h"
#endif

/* The processes one request reads: entries and their snapshots. */
struct sel {
    struct centry **e;
    struct out_proc *p;
    size_t n;
};

static void sel_free(struct sel *q)
{
    for (size_t i = 0; i < q->n; i++)
        mms_snapshot_free((mms_snapshot *)q->p[i].snap);
    free(q->e);
    free(q->p);
    memset(q, 0, sizeof *q);
}

/* The exported entries of the cache (ALL: every file, finished or not),
 * with a snapshot each; a snapshot that fails counts in *FAILED. */
static int select_exported(struct exporter *x, struct sel *q, unsigned *failed,
                           bool all)
{
    struct cache *c = &x->cache;
    memset(q, 0, sizeof *q);
    q->e = calloc(c->n ? c->n : 1, sizeof(struct centry *));
    q->p = calloc(c->n ? c->n : 1, sizeof *q->p);
    if (!q->e || !q->p) {
        sel_free(q);
        return -ENOMEM;
    }
    int64_t now = now_real_ns();
    for (size_t i = 0; i < c->n; i++) {
        struct centry *e = c->v[i];
        if (!all && !cache_exported(e, x->grace, now))
            continue;
        mms_snapshot *s;
        int rc = mms_snapshot_take(e->r, &s);
        if (rc == -ENOMEM) {
            sel_free(q);
            return rc;
        }
        if (rc < 0) {
            (*failed)++;
            continue;
        }
        q->e[q->n] = e;
        q->p[q->n++] = (struct out_proc){e->r, s, e->container};
    }
    return 0;
}

/* The end of a request's use of the cache. Its snapshots are freed by
 * now (a histogram's buckets each: a hundred MB for 200 processes with 25
 * histograms): give the memory back rather than keep every thread's peak
 * in malloc's arenas. */
/* A scrape's sums hold the directory still: folds (mms_fold_dir, from the
 * shim's start-up sweeps and mmstat-clean) take flock(LOCK_EX) on it for
 * each step, and the scrape takes LOCK_SH from listing the files to
 * adding them up. Without it, a fold that commits in between makes a
 * file vanish that the rollup mapped a moment before does not hold yet
 * (or one appear twice): a group's counters drop for one scrape, which
 * Prometheus takes for a reset (test_prom_fleet: 13 resets in a run
 * under load; a scraper of its own saw 61 drops in 400 scrapes over 40
 * short processes). Bounded: after 2 s of folds (a folder stopped with
 * the lock held) the scrape goes on without. The shim's sweeps do not
 * wait for it: one that finds the lock taken skips, and a later one folds.
 * Returns the directory's fd to give to fold_unlock, or -1. */
static int fold_lock(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    for (int i = 0; i < 400; i++) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR)
            break;
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    close(fd);
    return -1;
}

static void fold_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* and the lock with it */
}

/* Free heap kept between answers, at most: below it, the next answer
 * reuses it; above it (a big directory's snapshots), it goes back to
 * the system. Trimming after every answer made each scrape of 100
 * processes fault its few MB in again and flush every thread's TLB. */
#define TRIM_ABOVE (32u << 20)

static void unlock_and_trim(struct cache *c)
{
    pthread_mutex_unlock(&c->lock);
    if (mallinfo2().fordblks > TRIM_ABOVE)
        malloc_trim(0);
}

/* Open a growable body; finish it with body_close. */
FILE *body_open(struct body *b)
{
    b->buf = NULL;
    b->len = 0;
    FILE *f = open_memstream(&b->buf, &b->len);
    /* One thread writes it: no lock per call (a scrape makes millions). */
    if (f)
        __fsetlocking(f, FSETLOCKING_BYCALLER);
    return f;
}

int body_close(struct body *b, FILE *f, int rc)
{
    if (rc == 0 && ferror(f))
        rc = -EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = -ENOMEM;
    if (rc < 0) {
        free(b->buf);
        b->buf = NULL;
        b->len = 0;
    }
    return rc;
}

/* ------------------------------------------------------------- /metrics */

struct scrape {
    double secs;
    unsigned seen, failed, skipped, exported, cached;
};

static void gauge(FILE *f, const char *name, const char *help, double v)
{
    fprintf(f, "# HELP mmstats_exporter_%s %s\n", name, help);
    fprintf(f, "# TYPE mmstats_exporter_%s gauge\n", name);
    char num[40];
    fprintf(f, "mmstats_exporter_%s %s\n", name,
            json_double(num, sizeof num, v));
}

static void counter(FILE *f, const char *name, const char *help,
                    unsigned long v)
{
    fprintf(f, "# HELP mmstats_exporter_%s_total %s\n", name, help);
    fprintf(f, "# TYPE mmstats_exporter_%s_total counter\n", name);
    fprintf(f, "mmstats_exporter_%s_total %lu\n", name, v);
}

static void self_metrics(FILE *f, struct exporter *x, const struct scrape *s)
{
    gauge(f, "scrape_duration_seconds",
          "Time this scrape took to list, read and format the stats files.",
          s->secs);
    gauge(f, "files", "Stats files in the directory at this scrape.", s->seen);
    gauge(f, "files_failed",
          "Stats files that could not be read at this scrape.", s->failed);
    gauge(f, "files_skipped",
          "Stats files left out at this scrape: over --max-files.", s->skipped);
    gauge(f, "processes", "Processes exported at this scrape.", s->exported);
    gauge(f, "open_files", "Stats files the exporter keeps open.", s->cached);
    gauge(f, "response_bytes_in_flight",
          "Bytes of answers built and not yet sent.",
          (double)atomic_load(&x->inflight));
    counter(f, "scrapes", "Scrapes of /metrics.", atomic_load(&x->scrapes));
    counter(f, "file_errors",
            "Stats files that could not be read, summed "
            "over scrapes.",
            atomic_load(&x->file_errors));
    counter(f, "http_requests", "HTTP requests answered.",
            atomic_load(&x->requests));
    gauge(f, "connections",
          "Client connections open (counted against "
          "--max-connections).",
          x->guard ? guard_connections(x->guard) : 0);
    counter(f, "slow_requests_closed",
            "Connections closed for not sending a whole request within "
            "--request-timeout.",
            atomic_load(&x->closed_slow));
    counter(f, "connections_closed_for_room",
            "Connections closed while waiting for a request, to let "
            "another client in (--max-connections, --max-per-ip).",
            atomic_load(&x->closed_for_room));
    counter(f, "busy_refusals",
            "Requests refused with 503: too many bytes "
            "of answers in flight.",
            atomic_load(&x->refused_busy));
    gauge(f, "start_time_seconds",
          "When the exporter started, since the "
          "epoch.",
          (double)x->started_real_ns / 1e9);
    fputs("# HELP mmstats_exporter_build_info The exporter's version.\n"
          "# TYPE mmstats_exporter_build_info gauge\n",
          f);
    fprintf(f, "mmstats_exporter_build_info{version=\"%s\"} 1\n",
            MMS_VERSION_STRING);
}

/* The text of /metrics in B, as protobuf (promproto.h) with NATIVES'
 * histograms. */
static int metrics_to_proto(struct body *b, const struct prom_natives *natives)
{
#ifdef MMS_HAVE_PROMPROTO
    struct body pb;
    FILE *f = body_open(&pb);
    if (!f)
        return -ENOMEM;
    int rc =
        body_close(&pb, f, promproto_from_text(f, b->buf, b->len, natives));
    free(b->buf);
    *b = pb;
    return rc;
#else
    (void)b;
    (void)natives;
    return -ENOTSUP;
#endif
}

const char *api_metrics_type(const char *accept)
{
#ifdef MMS_HAVE_PROMPROTO
    if (promproto_accepted(accept))
        return PROMPROTO_CONTENT_TYPE;
#else
    (void)accept;
#endif
    return API_METRICS_TEXT;
}

int api_metrics(struct exporter *x, const char *type, struct body *out)
{
    bool proto = strcmp(type, API_METRICS_TEXT) != 0;
    struct prom_natives *natives = NULL;
    FILE *f = body_open(out);
    if (!f)
        return -ENOMEM;
    struct cache *c = &x->cache;
    struct scrape s = {0};
    struct sel q = {0};
    pthread_mutex_lock(&c->lock);
    int64_t t0 = now_mono_ns();
    int dfd = x->by ? fold_lock(c->dir) : -1;
    int rc = cache_sync(c);
    s.seen = c->seen;
    s.failed = c->failed;
    s.skipped = c->skipped;
    s.cached = (unsigned)c->n;
    if (rc == 0)
        rc = select_exported(x, &q, &s.failed, x->by != NULL);
    if (rc == 0) {
        struct out_opts o = {.host = x->host,
                             .by = x->by,
                             .hist_buckets = x->hist_buckets,
                             .natives = proto ? &natives : NULL};
        if (x->by) {
            struct agg_group *g;
            size_t n;
            rc = agg_group_by(q.p, q.n, x->by, NULL, 0, &g, &n);
            if (rc == 0) {
                rc = out_prom_aggs(f, g, n, &o);
                agg_groups_free(g, n);
            }
        } else {
            rc = out_prom_procs(f, q.p, q.n, &o);
        }
    }
    fold_unlock(dfd);
    if (rc == 0 && x->file_metrics)
        rc = files_prom(f, x, q.p, q.n);
    s.exported = (unsigned)q.n;
    sel_free(&q);
    s.secs = (double)(now_mono_ns() - t0) / 1e9;
    unlock_and_trim(c);
    atomic_fetch_add(&x->scrapes, 1);
    atomic_fetch_add(&x->file_errors, s.failed);
    if (rc == 0)
        self_metrics(f, x, &s);
    rc = body_close(out, f, rc);
    if (rc == 0 && proto)
        rc = metrics_to_proto(out, natives);
    prom_natives_free(&natives);
    return rc;
}

/* ------------------------------------------------ /api/v1/processes */

/* What the process list adds to each running process: its activity
 * between two kept states, from the fields named as the shim names
 * them (<mmstats/preload.h>: "<family>.<call>.calls", ".errors",
 * ".bytes"; the live and peak memory gauges), and every counter. */
struct activity {
    bool valid; /* running and read */
    double secs;
    double calls, errors, bytes, counters;
    bool has_live, has_peak;
    int64_t live, peak;
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static void activity_of(struct activity *a, const mms_snapshot *s,
                        const struct rates *r)
{
    memset(a, 0, sizeof *a);
    a->valid = true;
    a->secs = r->secs;
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_field_info *fi = mms_snapshot_field(s, i);
        const struct mms_value *v = mms_snapshot_value(s, i);
        if (fi->kind == MMS_KIND_GAUGE &&
            !strcmp(fi->name, MMS_PRELOAD_MEM_LIVE_BYTES)) {
            a->has_live = true;
            a->live = v->v.i64;
        } else if (fi->kind == MMS_KIND_GAUGE &&
                   !strcmp(fi->name, MMS_PRELOAD_MEM_PEAK_BYTES)) {
            a->has_peak = true;
            a->peak = v->v.i64;
        }
        if (fi->kind != MMS_KIND_COUNTER || isnan(r->rate[i]))
            continue;
        a->counters += r->rate[i];
        if (ends_with(fi->name, "." MMS_PRELOAD_CALLS))
            a->calls += r->rate[i];
        else if (ends_with(fi->name, "." MMS_PRELOAD_ERRORS))
            a->errors += r->rate[i];
        else if (ends_with(fi->name, "." MMS_PRELOAD_BYTES))
            a->bytes += r->rate[i];
    }
}

struct list_ctx {
    const struct out_proc *base;
    const struct activity *act;
};

static void rate_or_null(struct jw *w, const char *key, double v, bool ok)
{
    if (ok && isfinite(v))
        jw_f64(w, key, v);
    else
        jw_null(w, key);
}

static void list_extra(struct jw *w, const struct out_proc *p, long field,
                       void *arg)
{
    const struct list_ctx *lc = arg;
    if (field >= 0)
        return;
    const struct activity *a = &lc->act[p - lc->base];
    if (p->container && p->container[0])
        jw_str(w, "container", p->container);
    else
        jw_null(w, "container");
    if (!a->valid) {
        jw_null(w, "activity");
        return;
    }
    bool ok = a->secs > 0;
    jw_obj(w, "activity");
    rate_or_null(w, "interval_s", a->secs, ok);
    rate_or_null(w, "calls_per_s", a->calls, ok);
    rate_or_null(w, "errors_per_s", a->errors, ok);
    rate_or_null(w, "bytes_per_s", a->bytes, ok);
    rate_or_null(w, "counters_per_s", a->counters, ok);
    if (a->has_live)
        jw_i64(w, "live_bytes", a->live);
    else
        jw_null(w, "live_bytes");
    if (a->has_peak)
        jw_i64(w, "peak_bytes", a->peak);
    else
        jw_null(w, "peak_bytes");
    jw_end_obj(w);
}

int api_processes(struct exporter *x, struct body *out)
{
    FILE *f = body_open(out);
    if (!f)
        return -ENOMEM;
    struct cache *c = &x->cache;
    pthread_mutex_lock(&c->lock);
    int rc = cache_sync(c);
    size_t n = c->n;
    struct out_proc *p = calloc(n ? n : 1, sizeof *p);
    struct activity *act = calloc(n ? n : 1, sizeof *act);
    if (!p || !act)
        rc = -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct centry *e = c->v[i];
        p[i].reader = e->r;
        p[i].container = e->container;
        if (e->liveness != MMS_LIVE_RUNNING)
            continue;
        mms_snapshot *s;
        if (mms_snapshot_take(e->r, &s) < 0)
            continue;
        struct rates r;
        rc = rates_compute(e, s, false, &r);
        if (rc == 0) {
            activity_of(&act[i], s, &r);
            rates_free(&r);
            rc = cache_keep(e, s);
        }
        mms_snapshot_free(s);
    }
    if (rc == 0) {
        struct list_ctx lc = {p, act};
        struct out_opts o = {.header_only = true,
                             .json_extra = list_extra,
                             .json_extra_arg = &lc};
        rc = out_json_procs(f, p, n, &o);
    }
    unlock_and_trim(c);
    free(p);
    free(act);
    return body_close(out, f, rc);
}

/* ------------------------------------------ /api/v1/processes/<pid> */

struct centry *cache_find_pid(struct cache *c, long pid)
{
    struct centry *best = NULL;
    for (size_t i = 0; i < c->n; i++) {
        struct centry *e = c->v[i];
        if (e->pi.pid != pid)
            continue;
        bool run = e->liveness == MMS_LIVE_RUNNING;
        bool brun = best && best->liveness == MMS_LIVE_RUNNING;
        if (!best || (run && !brun) ||
            (run == brun && e->pi.created_ns > best->pi.created_ns))
            best = e;
    }
    return best;
}

/* cache_snapshot_pid with snapshot FLAGS (MMS_SNAP_SHARDS). */
static int snapshot_pid_flags(struct cache *c, long pid, unsigned flags,
                              struct centry **e, mms_snapshot **s)
{
    *s = NULL;
    int rc = cache_sync(c);
    *e = rc == 0 ? cache_find_pid(c, pid) : NULL;
    if (rc == 0 && !*e)
        rc = -ENOENT;
    if (rc == 0)
        rc = mms_snapshot_take_flags((*e)->r, flags, s);
    return rc;
}

int cache_snapshot_pid(struct cache *c, long pid, struct centry **e,
                       mms_snapshot **s)
{
    return snapshot_pid_flags(c, pid, 0, e, s);
}

static void interval_json(struct jw *w, const struct mms_hist *h)
{
    jw_obj(w, "interval");
    jw_u64(w, "count", h->count);
    jw_u64(w, "sum", h->sum);
    jw_f64(w, "mean", mms_hist_mean(h));
    jw_u64(w, "min", h->min);
    jw_u64(w, "max", h->max);
    jw_obj(w, "quantiles");
    for (int q = 0; q < OUT_NQ; q++)
        jw_f64(w, out_qname[q], mms_hist_quantile(h, out_q[q]));
    jw_end_obj(w);
    jw_end_obj(w);
}

static void detail_extra(struct jw *w, const struct out_proc *p, long field,
                         void *arg)
{
    const struct rates *r = arg;
    if (field < 0) {
        rate_or_null(w, "rate_interval_s", r->secs, r->secs > 0);
        return;
    }
    if ((size_t)field >= r->n)
        return;
    const struct mms_value *v = mms_snapshot_value(p->snap, (size_t)field);
    if (v->kind != MMS_KIND_COUNTER && v->kind != MMS_KIND_HISTOGRAM)
        return;
    rate_or_null(w, "rate", r->rate[field], true);
    if (v->kind != MMS_KIND_HISTOGRAM)
        return;
    if (r->ivl && r->ivl[field].buckets)
        interval_json(w, &r->ivl[field]);
    else
        jw_null(w, "interval");
}

int api_process(struct exporter *x, long pid, const struct filters *flt,
                struct body *out)
{
    FILE *f = body_open(out);
    if (!f)
        return -ENOMEM;
    struct cache *c = &x->cache;
    pthread_mutex_lock(&c->lock);
    struct centry *e;
    mms_snapshot *s;
    int rc = cache_snapshot_pid(c, pid, &e, &s);
    if (rc == 0) {
        struct rates r;
        rc = rates_compute(e, s, true, &r);
        if (rc == 0) {
            struct out_proc p = {e->r, s, e->container};
            struct out_opts o = {.filters = flt,
                                 .json_extra = detail_extra,
                                 .json_extra_arg = &r};
            rc = out_json_procs(f, &p, 1, &o);
            rates_free(&r);
        }
        if (rc == 0)
            rc = cache_keep(e, s);
    }
    mms_snapshot_free(s);
    unlock_and_trim(c);
    /* A file that cannot be read is the server's trouble, not the
     * client's: no -ENOENT or -EINVAL from here on but ours. */
    if (rc < 0 && rc != -ENOENT && rc != -ENOMEM && rc != -EIO)
        rc = -EIO;
    return body_close(out, f, rc);
}

/* ------------------------------------- /api/v1/processes/PID/<view> */

/* Writes a view of E's snapshot S to F: 0 or a negative errno. */
typedef int pid_view_fn(FILE *f, struct centry *e, const mms_snapshot *s);

/* The body of a PID's view: its snapshot (FLAGS) taken and FN run under
 * the cache's lock. */
static int api_pid_view(struct exporter *x, long pid, unsigned flags,
                        pid_view_fn *fn, struct body *out)
{
    FILE *f = body_open(out);
    if (!f)
        return -ENOMEM;
    struct cache *c = &x->cache;
    pthread_mutex_lock(&c->lock);
    struct centry *e;
    mms_snapshot *s;
    int rc = snapshot_pid_flags(c, pid, flags, &e, &s);
    if (rc == 0)
        rc = fn(f, e, s);
    mms_snapshot_free(s);
    unlock_and_trim(c);
    /* As api_process: a file that cannot be read is the server's
     * trouble. */
    if (rc < 0 && rc != -ENOENT && rc != -ENOMEM && rc != -EIO)
        rc = -EIO;
    return body_close(out, f, rc);
}

/* The top sites of each order: enough for a page, bounded for a server. */
#define HEAP_TOP 20

static int heap_view(FILE *f, struct centry *e, const mms_snapshot *s)
{
    struct heap h = {0};
    int rc = heap_load(s, &h);
    if (rc == 0) {
        struct jw w;
        jw_init(&w, f, true);
        jw_obj(&w, NULL);
        jw_i64(&w, "pid", e->pi.pid);
        jw_str(&w, "exe", e->pi.exe);
        jw_str(&w, "liveness", liveness_word(e->liveness));
        heap_json(&w, &h, HEAP_TOP);
        jw_end_obj(&w);
        jw_finish(&w);
    }
    heap_free(&h);
    return rc;
}

int api_heap(struct exporter *x, long pid, struct body *out)
{
    return api_pid_view(x, pid, 0, heap_view, out);
}

static int threads_view_json(FILE *f, struct centry *e, const mms_snapshot *s)
{
    struct thread_view v = {0};
    int rc = threads_view(&v, s);
    if (rc == 0) {
        struct jw w;
        threads_doc_begin(&w, f, e->r);
        threads_json(&w, "threads", &v);
        threads_doc_end(&w);
    }
    threads_view_free(&v);
    return rc;
}

int api_threads(struct exporter *x, long pid, struct body *out)
{
    return api_pid_view(x, pid, MMS_SNAP_SHARDS, threads_view_json, out);
}

/* --------------------------------------------------- /api/v1/aggregate */

int api_aggregate(struct exporter *x, const char *by, const struct filters *flt,
                  struct body *out)
{
    FILE *f = body_open(out);
    if (!f)
        return -ENOMEM;
    struct cache *c = &x->cache;
    struct sel q = {0};
    unsigned failed = 0;
    pthread_mutex_lock(&c->lock);
    int dfd = fold_lock(c->dir);
    int rc = cache_sync(c);
    if (rc == 0)
        rc = select_exported(x, &q, &failed, false);
    if (rc == 0) {
        struct agg_group *g;
        size_t n;
        rc = agg_group_by(q.p, q.n, by, flt, 0, &g, &n);
        fold_unlock(dfd);
        dfd = -1;
        if (rc == 0) {
            struct out_opts o = {.by = by};
            rc = out_json_aggs(f, g, n, &o);
            agg_groups_free(g, n);
        }
    }
    fold_unlock(dfd);
    sel_free(&q);
    unlock_and_trim(c);
    return body_close(out, f, rc);
}
