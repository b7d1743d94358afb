/* mmstat-exporter's parts: the cache of open stats files with the states
 * kept for rates (exporter_cache.c), the bodies of the endpoints
 * (exporter_api.c) and the HTTP server around them (exporter_http.c).
 * mmstat-exporter.c reads the options and runs the daemon. */
#ifndef MMS_TOOLS_EXPORTER_H
#define MMS_TOOLS_EXPORTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "files.h"
#include "out.h"

/* A rate needs a kept state at least this old (0.2 s): closer snapshots
 * give rates made mostly of the jitter of when each was taken. */
#define EXP_MIN_INTERVAL_NS 200000000LL

/* ----------------------------------------------------------- the cache */

/* A histogram of a kept state: its non-empty buckets only. */
struct kept_hist {
    uint8_t bits, max_exp;
    uint64_t count, sum, min, max;
    uint32_t n;
    uint32_t *idx;
    uint64_t *cnt;
};

/* What a rate needs of one snapshot: counters' values and histograms'
 * buckets, by field index (the reader's fields only ever grow). */
struct kept {
    int64_t mono_ns; /* when the snapshot was taken; 0: no state */
    size_t n;
    uint64_t *u64;           /* COUNTER */
    struct kept_hist **hist; /* HISTOGRAM, else NULL */
};

/* A container's name, at most (longer ones are cut). */
#define CONTAINER_MAX 80

/* One stats file of the directory, with its reader kept open. */
struct centry {
    char *path;
    dev_t dev;
    ino_t ino;
    int64_t mtime_ns; /* the file's, CLOCK_REALTIME: writes through the
                         mapping move it; the stale ones' last sign of life */
    mms_reader *r;
    struct mms_proc_info pi;       /* refreshed at each sync */
    int liveness;                  /* enum mms_liveness, at the last sync */
    char container[CONTAINER_MAX]; /* its container ("": none) */
    bool container_done;           /* looked up (once, when running) */
    struct kept kept[2];           /* the older and the newer kept state */
};

struct cache {
    pthread_mutex_t lock; /* held by a request from sync to its answer */
    const char *dir;
    unsigned max_files;
    struct centry **v; /* sorted by path */
    size_t n;
    /* The last sync: files listed, failed to open, left out (over
     * max_files); errno of listing the directory (0, or ENOENT if it
     * does not exist yet: no files). */
    unsigned seen, failed, skipped;
    int dir_error;
};

void cache_init(struct cache *c, const char *dir, unsigned max_files);
void cache_free(struct cache *c);
/* Under c->lock: open the new files of the directory, drop the entries
 * of files gone or replaced (another inode: a reused pid), refresh the
 * others' headers and liveness. Returns 0 or -ENOMEM. */
int cache_sync(struct cache *c);
/* Whether E is exported by /metrics and aggregates: running, or finished
 * (or stale) less than GRACE seconds ago; GRACE < 0: running only. */
bool cache_exported(const struct centry *e, double grace, int64_t now_real);

/* The container of PI's process (exporter_container.c), from its cgroup
 * as seen from here, into OUT; "" if none: a runtime's container id (the
 * first 12 digits), or for a process in another pid namespace the name
 * of its cgroup. PI's process must be running. */
void container_name(const struct mms_proc_info *pi, char *out, size_t len);

/* Rates of E between its newest kept state at least EXP_MIN_INTERVAL_NS
 * older than S and S. */
struct rates {
    double secs; /* the interval; 0: no such kept state (all rates NaN) */
    size_t n;
    double *rate;         /* per field: counters' increments and
                             histograms' values per second; NaN: none */
    struct mms_hist *ivl; /* per field: a histogram's values in the
                             interval (buckets NULL: none) */
};
/* HISTS: also the histograms' intervals (mms_hist_sub). */
int rates_compute(const struct centry *e, const mms_snapshot *s, bool hists,
                  struct rates *out);
void rates_free(struct rates *r);
/* Keep S as E's newer state if the newer one is at least
 * EXP_MIN_INTERVAL_NS older (the newer becomes the older). */
int cache_keep(struct centry *e, const mms_snapshot *s);

/* --------------------------------------------------------- the exporter */

struct guard;

struct exporter {
    const char *dir;       /* the stats directory */
    const char *host;      /* the "host" label; NULL: none */
    const char *by;        /* /metrics aggregated per "program", "exe" or
                              "label"; NULL: per process */
    unsigned hist_buckets; /* per power of two; 0: the default */
    double grace;          /* --include-finished seconds; < 0: running only */
    size_t file_metrics;   /* --file-metrics: top files per process; 0 */
    struct cache cache;
    /* The exporter's own metrics. */
    atomic_ulong scrapes, file_errors, requests, refused_busy;
    atomic_ulong closed_slow;     /* no request within the timeout */
    atomic_ulong closed_for_room; /* closed to let another client in */
    struct guard *guard;          /* the connections (exporter_guard.c) */
    atomic_size_t inflight;       /* bytes of answers being sent */
    size_t max_inflight;          /* above it, data requests get 503 */
    int64_t started_real_ns;
};

/* A body built in memory (malloc'ed). */
struct body {
    char *buf;
    size_t len;
};

/* The endpoints. 0, -ENOENT (no such process: 404), -EINVAL (a bad
 * parameter: 400) or another negative errno (500). */
/* /metrics: the text format (API_METRICS_TEXT), or the type that
 * api_metrics_type chose for the Accept header (NULL: none). */
#define API_METRICS_TEXT "text/plain; version=0.0.4; charset=utf-8"
const char *api_metrics_type(const char *accept);
int api_metrics(struct exporter *x, const char *type, struct body *out);
int api_processes(struct exporter *x, struct body *out);
int api_process(struct exporter *x, long pid, const struct filters *flt,
                struct body *out);
int api_aggregate(struct exporter *x, const char *by, const struct filters *flt,
                  struct body *out);
/* exporter_files.c: a process's per-file records (top TOP, 0: all), and
 * the per-file metrics of /metrics (x->file_metrics files per process). */
int api_files(struct exporter *x, long pid, enum file_sort sort, long top,
              struct body *out);
int files_prom(FILE *f, const struct exporter *x, const struct out_proc *p,
               size_t n);
/* The file of PID: the one whose process runs, else the newest (under
 * c->lock). */
struct centry *cache_find_pid(struct cache *c, long pid);
/* Under c->lock: sync the cache, find PID's file (*E) and snapshot it
 * (*S, NULL on error): 0, -ENOENT or another negative errno. */
int cache_snapshot_pid(struct cache *c, long pid, struct centry **e,
                       mms_snapshot **s);
/* An endpoint's body: open a growable stream on B; body_close finishes
 * it (RC, or -EIO/-ENOMEM from the stream) and frees B on error. */
FILE *body_open(struct body *b);
int body_close(struct body *b, FILE *f, int rc);
/* /api/v1/processes/PID/heap: the heap profile's top sites. */
int api_heap(struct exporter *x, long pid, struct body *out);
/* /api/v1/processes/PID/threads: the per-thread view, as mmstat-read
 * --threads --json PID. */
int api_threads(struct exporter *x, long pid, struct body *out);

/* ------------------------------------------------------------ the server */

struct http_config {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool allow_remote;        /* any Host header; else loopback names */
    unsigned max_connections; /* in all */
    unsigned max_per_ip;      /* from one address */
    unsigned timeout;         /* seconds a connection may stay idle */
    unsigned request_timeout; /* seconds to send a whole request */
    size_t conn_memory;       /* bytes per connection: request headers */
    unsigned threads;         /* polling threads */
    struct web_config *web;   /* TLS and basic auth; NULL: neither */
};

/* --web.config.file (exporter_tls.c): TLS and basic auth as the
 * Prometheus exporter-toolkit's web configuration file. */
enum web_client_auth {
    WEB_NO_CLIENT_CERT,
    WEB_VERIFY_CLIENT_CERT_IF_GIVEN,
    WEB_REQUIRE_AND_VERIFY_CLIENT_CERT,
};
struct web_config;
struct MHD_Connection;
struct MHD_OptionItem;
/* Read PATH: 0, or a negative errno with a message naming the file and
 * the line in ERR. */
int web_config_load(const char *path, struct web_config **out, char *err,
                    size_t errlen);
void web_config_free(struct web_config *w);
/* Whether W (NULL: none) serves TLS, asks for a password. */
bool web_tls(const struct web_config *w);
bool web_auth(const struct web_config *w);
/* MHD's TLS options for W into OPT (N items at least 5), ended by
 * MHD_OPTION_END: the items used, 0 without TLS. */
int web_mhd_options(const struct web_config *w, struct MHD_OptionItem *opt,
                    size_t n);
/* Whether connection C's client certificate is as W's client_auth_type
 * wants. */
bool web_client_cert_ok(const struct web_config *w, struct MHD_Connection *c);
/* Whether PASS is USER's password (its bcrypt hash), remembering the
 * credentials that passed. */
bool web_password_ok(struct web_config *w, const char *user, const char *pass);

struct MHD_Daemon;
/* Start serving X; the port actually bound (with port 0) in *PORT. */
int http_start(struct exporter *x, const struct http_config *hc,
               struct MHD_Daemon **out, unsigned *port);
/* Stop the server (every connection closed), then X's guard. */
void http_stop(struct exporter *x, struct MHD_Daemon *d);

/* ------------------------------------------------------------ the guard */

/* The limits on connections (exporter_guard.c): at most MAX_CONN counted
 * in all and MAX_PER_IP from one address, making room by closing the
 * connection that has waited longest for a request; a connection that
 * has not sent a whole request TIMEOUT_S seconds after it was accepted
 * or answered is closed. Counts go to X's closed_slow and
 * closed_for_room. */
struct MHD_Connection;
int guard_start(struct guard **out, struct exporter *x, unsigned max_conn,
                unsigned max_per_ip, unsigned timeout_s);
void guard_stop(struct guard *g);
/* From MHD's callbacks: a connection accepted (CTX: its socket context),
 * a request of it about to be answered, its answer done (or failed), and
 * the connection closed. */
void guard_started(struct guard *g, struct MHD_Connection *c, void **ctx);
void guard_request(struct guard *g, struct MHD_Connection *c);
void guard_completed(struct guard *g, struct MHD_Connection *c);
void guard_closed(struct guard *g, void **ctx);
/* Connections counted now. */
unsigned guard_connections(struct guard *g);

#endif
