/* mmstat-exporter: serve the stats files of the user running it over
 * HTTP: Prometheus metrics (/metrics), a JSON API (/api/v1/...) and a
 * live dashboard (/). Reads its options, starts the server
 * (exporter_http.c) and waits for SIGTERM or SIGINT. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "exporter.h"
#include "json.h"

#define DEFAULT_LISTEN "127.0.0.1:10464"
#define DEFAULT_GRACE 300.0

enum {
    OPT_ALLOW_REMOTE = 256,
    OPT_INCLUDE_FINISHED,
    OPT_HOST,
    OPT_NO_HOST,
    OPT_MAX_FILES,
    OPT_MAX_CONN,
    OPT_MAX_PER_IP,
    OPT_TIMEOUT,
    OPT_REQUEST_TIMEOUT,
    OPT_MAX_MEMORY,
    OPT_THREADS,
    OPT_FILE_METRICS,
    OPT_PER_PROCESS,
    OPT_BUCKETS,
    OPT_WEB_CONFIG,
};

static const struct cli_opt exp_opts[] = {
    {'l', CLI_REQUIRED, "listen", "ADDR:PORT",
     "where to listen (default " DEFAULT_LISTEN ");\n"
     "[::1]:PORT for IPv6; port 0: any free"},
    {OPT_ALLOW_REMOTE, CLI_NONE, "allow-remote", NULL,
     "allow an address that is not loopback\n"
     "(anyone who reaches it reads the stats)"},
    {OPT_WEB_CONFIG, CLI_REQUIRED, "web.config.file", "FILE",
     "TLS and basic auth: the Prometheus\n"
     "exporter-toolkit's web configuration\n"
     "(tls_server_config, basic_auth_users)"},
    {'d', CLI_REQUIRED, "dir", "DIR",
     "stats directory (default: $MMSTATS_DIR,\n"
     "$XDG_RUNTIME_DIR/mmstats or\n/tmp/mmstats-UID)"},
    {'b', CLI_REQUIRED, "by", "KEY",
     "/metrics summed per program (exe and label,\n"
     "the default), exe or label: every process\n"
     "ever run, finished and folded ones included"},
    {OPT_PER_PROCESS, CLI_NONE, "per-process", NULL,
     "/metrics per process (a pid label) instead:\n"
     "running ones (series come and go)"},
    {OPT_INCLUDE_FINISHED, CLI_OPTIONAL, "include-finished", "SECONDS",
     "--per-process: also processes that finished\n"
     "or died less than SECONDS ago (default 300)"},
    {OPT_BUCKETS, CLI_REQUIRED, "hist-buckets", "N",
     "histogram buckets per power of two: 1, 2,\n"
     "4, 8 (default), 16 or 32"},
    {OPT_HOST, CLI_REQUIRED, "host", "NAME",
     "a host label on every sample (default none:\n"
     "Prometheus's instance label names the host)"},
    {OPT_NO_HOST, CLI_NONE, "no-host", NULL, "no host label (the default)"},
    {OPT_FILE_METRICS, CLI_REQUIRED, "file-metrics", "N",
     "/metrics: also the N files with the most\n"
     "bytes of each process, a label per file\n"
     "(default 0: none; cardinality)"},
    {OPT_MAX_FILES, CLI_REQUIRED, "max-files", "N",
     "stats files read per request (4096)"},
    {OPT_MAX_CONN, CLI_REQUIRED, "max-connections", "N",
     "connections at once (default 128); above\n"
     "it, the one that waited longest for a\n"
     "request is closed to make room"},
    {OPT_MAX_PER_IP, CLI_REQUIRED, "max-per-ip", "N",
     "connections from one address (32), the\n"
     "same way"},
    {OPT_TIMEOUT, CLI_REQUIRED, "timeout", "SECONDS",
     "close connections idle that long (10)"},
    {OPT_REQUEST_TIMEOUT, CLI_REQUIRED, "request-timeout", "SECONDS",
     "close connections that took that long\n"
     "to send a whole request (10)"},
    {OPT_MAX_MEMORY, CLI_REQUIRED, "max-response-memory", "SIZE",
     "answers in flight, at most (256M);\nabove it, requests get 503"},
    {OPT_THREADS, CLI_REQUIRED, "threads", "N", "polling threads (default 4)"},
    CLI_HELP_VERSION,
};

static const struct cli exp_cli = {
    .prog = "mmstat-exporter",
    .synopsis = "[OPTIONS]",
    .about = "Serve the stats of this user's processes over HTTP: "
             "Prometheus\n"
             "metrics at /metrics, a JSON API under /api/v1/ and a live\n"
             "dashboard at /. Read-only; TLS and basic authentication with\n"
             "--web.config.file.",
    .opts = exp_opts,
    .nopts = CLI_NOPTS(exp_opts),
    .after =
        "Examples:\n"
        "  mmstat-exporter                  then open http://127.0.0.1:10464/\n"
        "  mmstat-exporter --per-process --include-finished=60\n"
        "  curl -s localhost:10464/metrics | grep 'call=\"write\"'\n"
        "  curl -s localhost:10464/api/v1/processes/1234\n"
        "  mmstat-exporter -l 0.0.0.0:10464 --allow-remote "
        "--web.config.file web.yml\n"
        "\n"
        "Exit status: 0 stopped by SIGTERM or SIGINT, 1 could not start,\n"
        "2 bad usage.\n",
};

static const char *const prog = "mmstat-exporter";

struct opts {
    const char *dir, *listen, *by, *host, *web_config;
    bool allow_remote, no_host, per_process;
    int hist_buckets;
    double grace;
    unsigned long max_files, max_conn, max_per_ip, timeout, request_timeout,
        threads, file_metrics;
    unsigned long long max_inflight;
};

/* A decimal number in [LO, HI], or false. */
static bool parse_ulong(const char *s, unsigned long lo, unsigned long hi,
                        unsigned long *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-' || *s == '+')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* "64M", "1G", "4096": bytes, with K/M/G as 1024-based. */
static bool parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-' || *s == '+')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*end || errno || end == s || v > (ULLONG_MAX >> shift))
        return false;
    *out = v << shift;
    return true;
}

static bool is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
    if (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) &&
           v6->sin6_addr.s6_addr[12] == 127;
}

/* "ADDR:PORT" or "[ADDR6]:PORT" (numeric, or "localhost") into HC. */
static bool parse_listen(const char *s, struct http_config *hc)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    size_t n;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return false;
        n = (size_t)(end - s - 1);
        if (n >= sizeof host)
            return false;
        memcpy(host, s + 1, n);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return false;
        n = (size_t)(colon - s);
        if (n == 0 || n >= sizeof host)
            return false;
        memcpy(host, s, n);
    }
    host[n] = '\0';
    unsigned long port;
    if (!parse_ulong(colon + 1, 0, 65535, &port))
        return false;
    memset(&hc->addr, 0, sizeof hc->addr);
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)&hc->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&hc->addr;
    if (s[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        hc->addrlen = sizeof *v4;
        return true;
    }
    if (s[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        hc->addrlen = sizeof *v6;
        return true;
    }
    return false;
}

/* A host label: printable ASCII or UTF-8, at most 64 bytes. */
static bool valid_host(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        int k = utf8_seq_len(p);
        if (!k)
            return false;
        p += k;
    }
    return true;
}

/* Apply option ID with argument ARG to O: 0, 1 if the program is done
 * (--help, --version), or -1 after a message. */
static int set_opt(struct opts *o, int id, const char *arg)
{
    const char *bad = NULL;
    switch (id) {
    case 'l':
        o->listen = arg;
        break;
    case OPT_ALLOW_REMOTE:
        o->allow_remote = true;
        break;
    case OPT_WEB_CONFIG:
        o->web_config = arg;
        break;
    case 'd':
        o->dir = arg;
        break;
    case 'b':
        if (!agg_by_valid(arg))
            bad = "--by: 'program', 'exe' or 'label'";
        o->by = arg;
        break;
    case OPT_PER_PROCESS:
        o->per_process = true;
        break;
    case OPT_BUCKETS:
        if ((o->hist_buckets = out_prom_parse_buckets(arg)) < 0)
            bad = "--hist-buckets: 1, 2, 4, 8, 16 or 32";
        break;
    case OPT_INCLUDE_FINISHED:
        o->grace = arg ? parse_duration(arg) : DEFAULT_GRACE;
        if (!(o->grace >= 0) || o->grace > 365 * 86400.0)
            bad = "--include-finished: bad duration";
        break;
    case OPT_HOST:
        if (!valid_host(arg))
            bad = "--host: 1 to 64 printable bytes";
        o->host = arg;
        break;
    case OPT_NO_HOST:
        o->no_host = true;
        break;
    case OPT_FILE_METRICS:
        if (!parse_ulong(arg, 0, 1000, &o->file_metrics))
            bad = "--file-metrics: a number from 0 to 1000";
        break;
    case OPT_MAX_FILES:
        if (!parse_ulong(arg, 1, 1000000, &o->max_files))
            bad = "--max-files: a number from 1 to 1000000";
        break;
    case OPT_MAX_CONN:
        if (!parse_ulong(arg, 1, 65536, &o->max_conn))
            bad = "--max-connections: a number from 1 to 65536";
        break;
    case OPT_MAX_PER_IP:
        if (!parse_ulong(arg, 1, 65536, &o->max_per_ip))
            bad = "--max-per-ip: a number from 1 to 65536";
        break;
    case OPT_TIMEOUT:
        if (!parse_ulong(arg, 1, 3600, &o->timeout))
            bad = "--timeout: seconds from 1 to 3600";
        break;
    case OPT_REQUEST_TIMEOUT:
        if (!parse_ulong(arg, 1, 3600, &o->request_timeout))
            bad = "--request-timeout: seconds from 1 to 3600";
        break;
    case OPT_MAX_MEMORY:
        if (!parse_size(arg, &o->max_inflight) || o->max_inflight < 4096)
            bad = "--max-response-memory: a size of at least 4K";
        break;
    case OPT_THREADS:
        if (!parse_ulong(arg, 1, 64, &o->threads))
            bad = "--threads: a number from 1 to 64";
        break;
    case 'h':
    case 'V':
        return cli_help_version(&exp_cli, id);
    default:
        return -1;
    }
    if (bad) {
        cli_error(&exp_cli, "%s, not '%s'", bad, arg);
        return -1;
    }
    return 0;
}

/* What the options say together: the address into HC; -1 after a
 * message if they do not go together. */
static int check_opts(const struct opts *o, struct http_config *hc)
{
    if (!parse_listen(o->listen, hc)) {
        cli_error(&exp_cli, "--listen: ADDR:PORT or [ADDR6]:PORT, not '%s'",
                  o->listen);
        return -1;
    }
    if (!o->allow_remote && !is_loopback(&hc->addr)) {
        cli_error(&exp_cli,
                  "%s is not a loopback address: the stats would be "
                  "readable from other machines; add --allow-remote to do "
                  "it (with --web.config.file for TLS and authentication)",
                  o->listen);
        return -1;
    }
    if (o->host && o->no_host) {
        cli_error(&exp_cli, "--host and --no-host exclude each other");
        return -1;
    }
    if (o->per_process && o->by) {
        cli_error(&exp_cli, "--by and --per-process exclude each other");
        return -1;
    }
    if (o->file_metrics && !o->per_process) {
        cli_error(&exp_cli, "--file-metrics goes with --per-process");
        return -1;
    }
    if (o->grace >= 0 && !o->per_process) {
        cli_error(&exp_cli, "--include-finished goes with --per-process (the "
                            "default, per program, has every process)");
        return -1;
    }
    return 0;
}

/* 0, 1 if done (--help, --version), or -1 on bad usage. */
static int parse_args(int argc, char **argv, struct opts *o,
                      struct http_config *hc)
{
    int id, rc = 0;
    const char *arg;
    while (rc == 0 && (id = cli_next(&exp_cli, argc, argv, &arg)) != -1)
        rc = set_opt(o, id, arg);
    if (rc == 0 && optind < argc) {
        cli_error(&exp_cli, "unexpected argument '%s'", argv[optind]);
        rc = -1;
    }
    return rc == 0 ? check_opts(o, hc) : rc;
}

int main(int argc, char **argv)
{
    struct opts o = {.listen = DEFAULT_LISTEN,
                     .grace = -1,
                     .max_files = 4096,
                     .max_conn = 128,
                     .max_per_ip = 32,
                     .timeout = 10,
                     .request_timeout = 10,
                     .threads = 4,
                     .max_inflight = 256ull << 20};
    struct http_config hc = {0};
    int prc = parse_args(argc, argv, &o, &hc);
    if (prc != 0) {
        if (prc < 0)
            cli_try_help(&exp_cli);
        return prc < 0 ? EXIT_USAGE : EXIT_OK;
    }
    hc.allow_remote = o.allow_remote;
    hc.max_connections = (unsigned)o.max_conn;
    hc.max_per_ip = (unsigned)o.max_per_ip;
    hc.timeout = (unsigned)o.timeout;
    hc.request_timeout = (unsigned)o.request_timeout;
    hc.conn_memory = (size_t)32 * 1024;
    hc.threads = (unsigned)o.threads;
    if (o.web_config) {
        char err[600];
        if (web_config_load(o.web_config, &hc.web, err, sizeof err) < 0) {
            fprintf(stderr, "%s: --web.config.file %s\n", prog, err);
            return EXIT_FAIL;
        }
    }

    char dir[PATH_MAX];
    int e = stats_dir(o.dir, dir, sizeof dir);
    if (e < 0) {
        fprintf(stderr, "%s: stats directory: %s\n", prog, mms_strerror(e));
        return EXIT_FAIL;
    }

    /* One malloc arena: answers are built one at a time (under the
     * cache's lock) by whichever polling thread got the request, and with
     * an arena per thread each kept its own peak (snapshots of every
     * file: a hundred MB for a big directory) as fragments that
     * malloc_trim cannot return. */
    mallopt(M_ARENA_MAX, 1);

    /* Signals are taken by sigwaitinfo below: blocked before the server
     * starts its threads, which inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct exporter x = {.dir = dir,
                         .host = o.host,
                         .by = o.per_process ? NULL
                               : o.by        ? o.by
                                             : AGG_BY_PROGRAM,
                         .hist_buckets = (unsigned)o.hist_buckets,
                         .grace = o.grace,
                         .file_metrics = (size_t)o.file_metrics,
                         .max_inflight = (size_t)o.max_inflight,
                         .started_real_ns = now_real_ns()};
    cache_init(&x.cache, dir, (unsigned)o.max_files);
    struct MHD_Daemon *d = NULL;
    unsigned port = 0;
    if ((e = http_start(&x, &hc, &d, &port)) < 0) {
        fprintf(stderr, "%s: cannot listen on %s: %s\n", prog, o.listen,
                e == -EPROTONOSUPPORT ? "libmicrohttpd has no TLS"
                                      : strerror(-e));
        cache_free(&x.cache);
        web_config_free(hc.web);
        return EXIT_FAIL;
    }
    char addr[INET6_ADDRSTRLEN];
    if (hc.addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&hc.addr)->sin_addr, addr,
                  sizeof addr);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&hc.addr)->sin6_addr, addr,
                  sizeof addr);
    bool v6 = hc.addr.ss_family == AF_INET6;
    fprintf(stderr, "%s: listening on %s://%s%s%s:%u/ (stats directory %s%s)\n",
            prog, web_tls(hc.web) ? "https" : "http", v6 ? "[" : "", addr,
            v6 ? "]" : "", port, dir, web_auth(hc.web) ? "; basic auth" : "");

    int sig;
    do {
        sig = sigwaitinfo(&set, NULL);
    } while (sig == SIGHUP || (sig < 0 && errno == EINTR));
    fprintf(stderr, "%s: %s: stopping\n", prog,
            sig > 0 ? strsignal(sig) : "signal");
    http_stop(&x, d);
    cache_free(&x.cache);
    web_config_free(hc.web);
    return EXIT_OK;
}
