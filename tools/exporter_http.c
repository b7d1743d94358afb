/* mmstat-exporter's HTTP server, on libmicrohttpd: a few polling threads
 * (epoll), so a slow client costs a connection slot and its buffer, never
 * a thread; limits on connections in all and per address that make room
 * for a client with a request (exporter_guard.c), a time limit to send a
 * request, an idle timeout and a per-connection memory limit that
 * refuses huge headers.
 * Routes are exact strings: no URL is ever mapped to a file name, and the
 * only files served besides the stats files are an allow-list of the
 * dashboard's scripts. GET and HEAD only; a Host check against DNS
 * rebinding while serving loopback; TLS, client certificates and basic
 * auth as --web.config.file says (exporter_tls.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "dashboard_html.h"
#include "exporter.h"
#include "tools_config.h"

#define STATIC_MAX_BYTES (16u << 20)
#define MAX_FILTERS 64

static const char *const prog = "mmstat-exporter";

/* The files served besides the stats: URL, file, type. */
static const struct static_file {
    const char *url, *path, *type;
} static_files[] = {
    {"/static/dygraph.min.js", MMS_DYGRAPHS_DIR "/dygraph.min.js",
     "text/javascript; charset=utf-8"},
    {"/static/dygraph.min.css", MMS_DYGRAPHS_DIR "/dygraph.min.css",
     "text/css; charset=utf-8"},
};

static const char *const csp =
    "default-src 'none'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

/* ------------------------------------------------------------- answers */

struct conn_ctx {
    struct exporter *x;
    const struct http_config *hc;
};

/* An answer built in memory, counted in x->inflight until MHD is done
 * with it. */
struct answer {
    struct exporter *x;
    struct body b;
};

static void answer_free(void *cls)
{
    struct answer *a = cls;
    atomic_fetch_sub(&a->x->inflight, a->b.len);
    free(a->b.buf);
    free(a);
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status,
                             struct MHD_Response *r, const char *type,
                             const char *cache)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A short constant text. */
static struct MHD_Response *const_text(const char *msg)
{
    return MHD_create_response_from_buffer(strlen(msg), (void *)msg,
                                           MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned status,
                             const char *msg)
{
    return queue(c, status, const_text(msg), "text/plain; charset=utf-8",
                 "no-store");
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *c)
{
    struct MHD_Response *r = const_text("method not allowed: GET or HEAD\n");
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, r, "text/plain; charset=utf-8",
                 "no-store");
}

static enum MHD_Result busy(struct MHD_Connection *c, struct exporter *x)
{
    atomic_fetch_add(&x->refused_busy, 1);
    struct MHD_Response *r = const_text("busy: too many answers in flight\n");
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE, r,
                 "text/plain; charset=utf-8", "no-store");
}

/* The answer of an endpoint that returned RC with body B. */
static enum MHD_Result data(struct MHD_Connection *c, struct exporter *x,
                            int rc, struct body *b, const char *type)
{
    if (rc == -ENOENT)
        return error(c, MHD_HTTP_NOT_FOUND, "no such process\n");
    if (rc == -EINVAL)
        return error(c, MHD_HTTP_BAD_REQUEST, "bad parameter\n");
    if (rc < 0)
        return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     rc == -ENOMEM ? "out of memory\n" : "read error\n");
    struct answer *a = malloc(sizeof *a);
    if (!a) {
        free(b->buf);
        return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    a->x = x;
    a->b = *b;
    atomic_fetch_add(&x->inflight, b->len);
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->buf,
                                                               answer_free, a);
    if (!r) {
        answer_free(a);
        return MHD_NO;
    }
    return queue(c, MHD_HTTP_OK, r, type, "no-store");
}

static enum MHD_Result static_file(struct MHD_Connection *c,
                                   const struct static_file *sf)
{
    int fd = open(sf->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return error(c, MHD_HTTP_NOT_FOUND,
                     "not installed (Debian package libjs-dygraphs)\n");
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > STATIC_MAX_BYTES) {
        close(fd);
        return error(c, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    struct MHD_Response *r =
        MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    return queue(c, MHD_HTTP_OK, r, sf->type, "public, max-age=3600");
}

static enum MHD_Result dashboard(struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof dashboard_html - 1, (void *)dashboard_html,
        MHD_RESPMEM_PERSISTENT);
    if (r) {
        MHD_add_response_header(r, "Content-Security-Policy", csp);
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    return queue(c, MHD_HTTP_OK, r, "text/html; charset=utf-8", "no-cache");
}

/* -------------------------------------------------------------- checks */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* HOST names this machine's loopback: "localhost", "127.x.y.z" or
 * "[::1]", with or without a port. A page of another site that got its
 * name to resolve to 127.0.0.1 (DNS rebinding) sends its own name. */
static bool loopback_host(const char *host)
{
    size_t n = strlen(host);
    const char *colon = strrchr(host, ':');
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end)
            return false;
        if (end[1] && (end[1] != ':' || !all_digits(end + 2, strlen(end + 2))))
            return false;
        return (size_t)(end - host) == 4 && !strncmp(host, "[::1", 4);
    }
    if (colon) {
        if (!all_digits(colon + 1, strlen(colon + 1)))
            return false;
        n = (size_t)(colon - host);
    }
    if (n == 9 && !strncasecmp(host, "localhost", 9))
        return true;
    if (n < 7 || strncmp(host, "127.", 4) != 0)
        return false;
    int dots = 0;
    for (size_t i = 4; i < n; i++) {
        if (host[i] == '.')
            dots++;
        else if (host[i] < '0' || host[i] > '9')
            return false;
    }
    return dots == 2;
}

struct args {
    struct filters flt;
    const char *by;
    bool bad;
};

static enum MHD_Result arg_iter(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
    struct args *a = cls;
    (void)kind;
    if (!strcmp(key, "filter")) {
        if (!value || !value[0] || a->flt.n >= MAX_FILTERS ||
            filters_add(&a->flt, value) < 0)
            a->bad = true;
    } else if (!strcmp(key, "by")) {
        a->by = value ? value : "";
    }
    return MHD_YES;
}

/* The files endpoint's ?sort=bytes|time|ops|name and ?top=N (0: all):
 * 0 or -EINVAL. */
static int files_args(struct MHD_Connection *c, enum file_sort *sort, long *top)
{
    const char *v =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sort");
    if (v && file_sort_parse(v, sort) < 0)
        return -EINVAL;
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "top");
    if (v) {
        size_t n = strlen(v);
        if (n == 0 || n > 6 || !all_digits(v, n))
            return -EINVAL;
        *top = strtol(v, NULL, 10);
    }
    return 0;
}

/* -------------------------------------------------------------- routing */

static enum MHD_Result route(struct MHD_Connection *c, struct exporter *x,
                             const char *url)
{
    static const char procs[] = "/api/v1/processes";
    struct body b = {0};
    if (!strcmp(url, "/"))
        return dashboard(c);
    for (size_t i = 0; i < sizeof static_files / sizeof *static_files; i++)
        if (!strcmp(url, static_files[i].url))
            return static_file(c, &static_files[i]);
    bool is_metrics = !strcmp(url, "/metrics");
    bool is_list = !strcmp(url, procs);
    bool is_proc =
        !strncmp(url, procs, sizeof procs - 1) && url[sizeof procs - 1] == '/';
    bool is_agg = !strcmp(url, "/api/v1/aggregate");
    long pid = 0;
    bool is_files = false;   /* /api/v1/processes/<pid>/files */
    bool is_heap = false;    /* /api/v1/processes/<pid>/heap */
    bool is_threads = false; /* /api/v1/processes/<pid>/threads */
    if (is_proc) {
        const char *p = url + sizeof procs;
        size_t n = strlen(p);
        if (n > 6 && !strcmp(p + n - 6, "/files")) {
            is_files = true;
            n -= 6;
        } else if (n > 5 && !strcmp(p + n - 5, "/heap")) {
            is_heap = true;
            n -= 5;
        } else if (n > 8 && !strcmp(p + n - 8, "/threads")) {
            is_threads = true;
            n -= 8;
        }
        char num[16];
        if (n > 10 || !all_digits(p, n))
            return error(c, MHD_HTTP_NOT_FOUND, "not found\n");
        memcpy(num, p, n);
        num[n] = '\0';
        if ((pid = parse_pid(num)) <= 0)
            return error(c, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    if (!is_metrics && !is_list && !is_proc && !is_agg)
        return error(c, MHD_HTTP_NOT_FOUND, "not found\n");
    /* Above the budget of answers in flight (slow readers of big
     * answers), refuse rather than grow. */
    if (atomic_load(&x->inflight) > x->max_inflight)
        return busy(c, x);
    if (is_metrics) {
        const char *type = api_metrics_type(MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
        return data(c, x, api_metrics(x, type, &b), &b, type);
    }
    if (is_list)
        return data(c, x, api_processes(x, &b), &b,
                    "application/json; charset=utf-8");
    if (is_heap)
        return data(c, x, api_heap(x, pid, &b), &b,
                    "application/json; charset=utf-8");
    if (is_threads)
        return data(c, x, api_threads(x, pid, &b), &b,
                    "application/json; charset=utf-8");
    struct args a = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_iter, &a);
    int rc = a.bad ? -EINVAL : 0;
    if (rc == 0 && is_files) {
        enum file_sort sort = FSORT_BYTES;
        long top = 20;
        rc = files_args(c, &sort, &top);
        if (rc == 0)
            rc = api_files(x, pid, sort, top, &b);
    } else if (rc == 0 && is_proc) {
        rc = api_process(x, pid, &a.flt, &b);
    } else if (rc == 0) {
        const char *by = a.by ? a.by : "exe";
        if (!strcmp(by, "sum"))
            by = NULL;
        else if (strcmp(by, "exe") != 0 && strcmp(by, "label") != 0)
            rc = -EINVAL;
        if (rc == 0)
            rc = api_aggregate(x, by, &a.flt, &b);
    }
    filters_free(&a.flt);
    return data(c, x, rc, &b, "application/json; charset=utf-8");
}

/* Whether C's request has the user and password of a basic_auth_users
 * entry. */
static bool authorized(struct MHD_Connection *c, struct web_config *w)
{
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    bool ok = user && pass && web_password_ok(w, user, pass);
    if (pass)
        explicit_bzero(pass, strlen(pass));
    MHD_free(user);
    MHD_free(pass);
    return ok;
}

static enum MHD_Result unauthorized(struct MHD_Connection *c)
{
    struct MHD_Response *r = const_text("unauthorized\n");
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_basic_auth_fail_response(c, "mmstats", r);
    MHD_destroy_response(r);
    return ret;
}

/* MHD's access handler (its signature: UPLOAD_DATA_SIZE is not ours to
 * make const). */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, // NOLINT
                              void **con_cls)
{
    const struct conn_ctx *ctx = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    atomic_fetch_add(&ctx->x->requests, 1);
    guard_request(ctx->x->guard, c);
    if (!web_client_cert_ok(ctx->hc->web, c))
        return error(c, MHD_HTTP_FORBIDDEN,
                     "forbidden: no valid client certificate\n");
    if (web_auth(ctx->hc->web) && !authorized(c, ctx->hc->web))
        return unauthorized(c);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return method_not_allowed(c);
    /* A GET with a body: answered now, the body is discarded and the
     * connection closed. */
    (void)upload_data_size;
    if (!ctx->hc->allow_remote) {
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_HOST);
        if (host && !loopback_host(host))
            return error(c, MHD_HTTP_FORBIDDEN,
                         "forbidden: Host is not a loopback name "
                         "(see --allow-remote)\n");
    }
    return route(c, ctx->x, url);
}

/* "%HH" decoded in place, as MHD would, except "%00": a NUL would end
 * the path early ("/%00/x" read as "/"), so it stays as it is. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    static const char hex[] = "0123456789abcdef";
    char *out = s;
    for (const char *in = s; *in;) {
        const char *h1, *h2;
        if (in[0] == '%' && in[1] && in[2] &&
            (h1 = strchr(hex, in[1] | 0x20)) &&
            (h2 = strchr(hex, in[2] | 0x20))) {
            char v = (char)((h1 - hex) << 4 | (h2 - hex));
            if (v) {
                *out++ = v;
                in += 3;
                continue;
            }
        }
        *out++ = *in++;
    }
    *out = '\0';
    return (size_t)(out - s);
}

/* ------------------------------------------------------------- logging */

/* MHD's messages, at most LOG_BURST a minute: a client sending garbage
 * must not fill the disk with our complaints. */
#define LOG_BURST 20

static void logger(void *cls, const char *fmt, va_list ap)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static time_t window;
    static unsigned count;
    (void)cls;
    time_t now = time(NULL);
    pthread_mutex_lock(&lock);
    if (now / 60 != window) {
        if (count > LOG_BURST)
            fprintf(stderr, "%s: http: %u more messages suppressed\n", prog,
                    count - LOG_BURST);
        window = now / 60;
        count = 0;
    }
    if (count++ < LOG_BURST) {
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
            msg[--n] = '\0';
        fprintf(stderr, "%s: http: %s\n", prog, msg);
    }
    pthread_mutex_unlock(&lock);
}

/* ---------------------------------------------------------- connections */

static void notify_connection(void *cls, struct MHD_Connection *c,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct exporter *x = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        guard_started(x->guard, c, socket_context);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        guard_closed(x->guard, socket_context);
}

static void notify_completed(void *cls, struct MHD_Connection *c,
                             void **con_cls,
                             enum MHD_RequestTerminationCode code)
{
    struct exporter *x = cls;
    (void)con_cls;
    (void)code;
    guard_completed(x->guard, c);
}

/* ---------------------------------------------------------------- start */

static struct conn_ctx the_ctx;

int http_start(struct exporter *x, const struct http_config *hc,
               struct MHD_Daemon **out, unsigned *port)
{
    the_ctx.x = x;
    the_ctx.hc = hc;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (hc->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem pool[] = {
        {hc->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
         (intptr_t)hc->threads, NULL},
        {MHD_OPTION_END, 0, NULL}};
    struct MHD_OptionItem tls[5];
    if (web_mhd_options(hc->web, tls, sizeof tls / sizeof *tls) > 0) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return -EPROTONOSUPPORT;
        flags |= MHD_USE_TLS;
    } else {
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    int e = guard_start(&x->guard, x, hc->max_connections, hc->max_per_ip,
                        hc->request_timeout);
    if (e < 0)
        return e;
    /* The guard keeps the limits, closing connections to make room; MHD
     * counts those until it has seen them close, and splits its limit
     * evenly between its threads, though they need not accept evenly (on
     * a loaded machine one thread took most of a burst of 192 and MHD
     * refused 64 before the guard saw them): room for both in each. */
    unsigned mhd_limit = hc->threads * (2 * hc->max_connections + 1);
    errno = 0;
    /* The logger first: MHD reports options that come before it to its
     * default one. */
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, &the_ctx, MHD_OPTION_EXTERNAL_LOGGER,
        logger, NULL, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&hc->addr,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_NOTIFY_CONNECTION,
        notify_connection, x, MHD_OPTION_NOTIFY_COMPLETED, notify_completed, x,
        MHD_OPTION_CONNECTION_TIMEOUT, hc->timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, hc->conn_memory,
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape, NULL, MHD_OPTION_ARRAY, pool, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    if (!d) {
        e = errno ? -errno : -EADDRNOTAVAIL;
        guard_stop(x->guard);
        x->guard = NULL;
        return e;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : 0;
    *out = d;
    return 0;
}

void http_stop(struct exporter *x, struct MHD_Daemon *d)
{
    if (d)
        MHD_stop_daemon(d);
    guard_stop(x->guard);
    x->guard = NULL;
}
