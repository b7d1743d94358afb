/* mmstat-read: list the stats files of a directory, or print the stats of
 * processes (by pid or path) as text, JSON or Prometheus metrics, summed
 * across processes, or watched live at an interval. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "out.h"
#include "watch.h"

static const char *prog = "mmstat-read";

static void usage(FILE *out)
{
    fputs(
        "Usage: mmstat-read [OPTIONS] [PID|PATH]...\n"
        "List the processes that keep mmstats files, or print their stats.\n"
        "\n"
        "Without PID or PATH, text output lists the stats files (PID, EXE,\n"
        "STATE, AGE, SIZE on disk, FIELDS, PATH); --json, --prometheus,\n"
        "--sum and --all read every file of the directory instead.\n"
        "\n"
        "  -d, --dir DIR          stats directory (default: $MMSTATS_DIR,\n"
        "                         $XDG_RUNTIME_DIR/mmstats or "
        "/tmp/mmstats-UID)\n"
        "  -f, --filter GLOB      only fields whose name matches GLOB\n"
        "                         (repeatable: any of them)\n"
        "  -l, --list             list the files (with --json: headers only)\n"
        "  -a, --all              print every file of the directory\n"
        "  -j, --json             JSON (schema: docs/tools.md)\n"
        "  -p, --prometheus       Prometheus text format 0.0.4\n"
        "      --host NAME        with --prometheus: a host=\"NAME\" label on\n"
        "                         every sample\n"
        "  -s, --sum              aggregate across processes: counters and\n"
        "                         histograms summed, gauges min/avg/max\n"
        "  -b, --by KEY           aggregate per exe or label (implies --sum)\n"
        "  -r, --running          only processes still running\n"
        "  -z, --nonzero          text: leave out fields that are zero\n"
        "  -w, --watch[=SECONDS]  print per-interval deltas, rates and\n"
        "                         percentiles of one process (default 1 s)\n"
        "  -n, --count N          with --watch: stop after N intervals\n"
        "      --windows-at NS    take time windows at CLOCK_MONOTONIC NS\n"
        "                         (reproducible output)\n"
        "  -h, --help             show this help\n"
        "  -V, --version          show the version\n"
        "\n"
        "Examples:\n"
        "  mmstat-read                       list stats files\n"
        "  mmstat-read 1234                  dump the stats of pid 1234\n"
        "  mmstat-read -f 'io.*' -f 'mem.*' 1234\n"
        "  mmstat-read --json 1234 | jq '.processes[0].fields'\n"
        "  mmstat-read --prometheus > metrics.prom\n"
        "  mmstat-read --sum --by exe        totals per program\n"
        "  mmstat-read --watch=2 -f 'app.*' 1234\n"
        "\n"
        "Exit status: 0 ok, 1 a file could not be read, 2 bad usage.\n",
        out);
}

enum fmt { FMT_TEXT, FMT_JSON, FMT_PROM };

struct opts {
    const char *dir;
    struct filters filters;
    bool list, all, sum, running, nonzero;
    const char *by;
    const char *host;
    enum fmt fmt;
    double watch; /* seconds; 0: no watching */
    long count;
    int64_t windows_at;
};

/* The processes read: readers and snapshots, in argument or path order. */
struct procs {
    struct out_proc *v;
    size_t n;
};

static void procs_free(struct procs *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        mms_snapshot_free((mms_snapshot *)ps->v[i].snap);
        mms_reader_close(ps->v[i].reader);
    }
    free(ps->v);
}

/* Open TARGET (a pid or path) and snapshot it unless HEADER_ONLY; a
 * failure is one line on stderr and 1. */
static int load(struct procs *ps, const char *target, const char *dir,
                const struct opts *o, bool header_only)
{
    mms_reader *r;
    int e = open_target(target, dir, &r);
    if (e < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, target, open_error(target, e));
        return EXIT_FAIL;
    }
    if (o->running && mms_reader_liveness(r) != MMS_LIVE_RUNNING) {
        mms_reader_close(r);
        return EXIT_OK;
    }
    mms_snapshot *s = NULL;
    if (!header_only && (e = mms_snapshot_take(r, &s)) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, mms_reader_path(r),
                mms_strerror(e));
        mms_reader_close(r);
        return EXIT_FAIL;
    }
    struct out_proc *v = realloc(ps->v, (ps->n + 1) * sizeof *v);
    if (!v) {
        fprintf(stderr, "%s: %s\n", prog, strerror(ENOMEM));
        mms_snapshot_free(s);
        mms_reader_close(r);
        return EXIT_FAIL;
    }
    ps->v = v;
    ps->v[ps->n++] = (struct out_proc){r, s};
    return EXIT_OK;
}

static void list_text(const struct procs *ps)
{
    printf("%8s %-16s %-17s %7s %7s %6s  %s\n", "PID", "EXE", "STATE", "AGE",
           "SIZE", "FIELDS", "PATH");
    int64_t now = now_real_ns();
    for (size_t i = 0; i < ps->n; i++) {
        mms_reader *r = ps->v[i].reader;
        struct mms_proc_info pi;
        char age[32], size[32];
        mms_reader_info(r, &pi);
        printf("%8d %-16s %-17s %7s %7s %6zu  %s\n", pi.pid, pi.exe,
               liveness_word(mms_reader_liveness(r)),
               fmt_age(age, sizeof age, (now - pi.created_ns) / 1000000000),
               fmt_bytes(size, sizeof size, disk_bytes(mms_reader_path(r))),
               mms_reader_nfields(r), mms_reader_path(r));
    }
}

static int cmp_group(const void *a, const void *b)
{
    const struct agg_group *x = a, *y = b;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

/* Aggregate PS into groups (one for --sum, one per key for --by). */
static int aggregate(const struct procs *ps, const struct opts *o,
                     struct agg_group **out, size_t *nout)
{
    struct agg_group *g = NULL;
    size_t n = 0;
    int rc = 0;
    if (!o->by) {
        g = calloc(1, sizeof *g);
        if (!g) {
            *out = NULL;
            *nout = 0;
            return -ENOMEM;
        }
        n = 1;
    }
    for (size_t i = 0; i < ps->n && rc == 0; i++) {
        struct agg_group *dst = g;
        if (o->by) {
            struct mms_proc_info pi;
            mms_reader_info(ps->v[i].reader, &pi);
            const char *key = !strcmp(o->by, "label") ? pi.label : pi.exe;
            dst = NULL;
            for (size_t k = 0; k < n; k++)
                if (!strcmp(g[k].key, key))
                    dst = &g[k];
            if (!dst) {
                struct agg_group *ng = realloc(g, (n + 1) * sizeof *ng);
                if (!ng) {
                    rc = -ENOMEM;
                    break;
                }
                g = ng;
                dst = &g[n++];
                memset(dst, 0, sizeof *dst);
                if (!(dst->key = strdup(key))) {
                    rc = -ENOMEM;
                    break;
                }
            }
        }
        rc = agg_add(dst, ps->v[i].reader, ps->v[i].snap, &o->filters,
                     o->windows_at);
    }
    if (n > 1)
        qsort(g, n, sizeof *g, cmp_group);
    *out = g;
    *nout = n;
    return rc;
}

static int print_procs(const struct procs *ps, const struct opts *o)
{
    struct out_opts oo = {.filters = &o->filters,
                          .header_only = o->list,
                          .windows_at = o->windows_at,
                          .by = o->by,
                          .nonzero = o->nonzero,
                          .host = o->host};
    int rc = 0;
    if (o->sum) {
        struct agg_group *g = NULL;
        size_t n = 0;
        rc = aggregate(ps, o, &g, &n);
        if (rc == 0)
            rc = o->fmt == FMT_JSON   ? out_json_aggs(stdout, g, n, &oo)
                 : o->fmt == FMT_PROM ? out_prom_aggs(stdout, g, n, &oo)
                                      : out_text_aggs(stdout, g, n, &oo);
        for (size_t i = 0; i < n; i++)
            agg_free(&g[i]);
        free(g);
    } else if (o->list && o->fmt == FMT_TEXT) {
        list_text(ps);
    } else {
        rc = o->fmt == FMT_JSON   ? out_json_procs(stdout, ps->v, ps->n, &oo)
             : o->fmt == FMT_PROM ? out_prom_procs(stdout, ps->v, ps->n, &oo)
                                  : out_text_procs(stdout, ps->v, ps->n, &oo);
    }
    if (rc == 0 && fflush(stdout) != 0)
        rc = -errno;
    if (rc < 0) {
        fprintf(stderr, "%s: output: %s\n", prog, mms_strerror(rc));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    enum { OPT_WINDOWS_AT = 256, OPT_HOST };
    static const struct option lopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"filter", required_argument, NULL, 'f'},
        {"list", no_argument, NULL, 'l'},
        {"all", no_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"prometheus", no_argument, NULL, 'p'},
        {"sum", no_argument, NULL, 's'},
        {"by", required_argument, NULL, 'b'},
        {"running", no_argument, NULL, 'r'},
        {"nonzero", no_argument, NULL, 'z'},
        {"watch", optional_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'n'},
        {"windows-at", required_argument, NULL, OPT_WINDOWS_AT},
        {"host", required_argument, NULL, OPT_HOST},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int c, fmts = 0;
    char *end;
    while ((c = getopt_long(argc, argv, "d:f:lajpsb:rzw::n:hV", lopts, NULL)) !=
           -1) {
        const char *arg = optarg ? optarg : "";
        switch (c) {
        case 'd':
            o->dir = arg;
            break;
        case 'f':
            if (filters_add(&o->filters, arg) < 0)
                return -1;
            break;
        case 'l':
            o->list = true;
            break;
        case 'a':
            o->all = true;
            break;
        case 'j':
            o->fmt = FMT_JSON;
            fmts |= 1;
            break;
        case 'p':
            o->fmt = FMT_PROM;
            fmts |= 2;
            break;
        case 'b':
            if (strcmp(arg, "exe") != 0 && strcmp(arg, "label") != 0) {
                fprintf(stderr, "%s: --by: 'exe' or 'label', not '%s'\n", prog,
                        arg);
                return -1;
            }
            o->by = arg;
            /* fall through */
        case 's':
            o->sum = true;
            break;
        case 'r':
            o->running = true;
            break;
        case 'z':
            o->nonzero = true;
            break;
        case 'w':
            o->watch = optarg ? parse_duration(arg) : 1.0;
            if (!(o->watch >= 0.01) || o->watch > 86400) {
                fprintf(stderr, "%s: --watch: bad interval '%s'\n", prog, arg);
                return -1;
            }
            break;
        case 'n':
            errno = 0;
            o->count = strtol(arg, &end, 10);
            if (!*arg || *end || errno || o->count <= 0) {
                fprintf(stderr, "%s: --count: bad number '%s'\n", prog, arg);
                return -1;
            }
            break;
        case OPT_WINDOWS_AT:
            errno = 0;
            o->windows_at = strtoll(arg, &end, 10);
            if (!*arg || *end || errno || o->windows_at <= 0) {
                fprintf(stderr, "%s: --windows-at: bad time '%s'\n", prog, arg);
                return -1;
            }
            break;
        case OPT_HOST:
            o->host = arg;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        case 'V':
            printf("mmstat-read %s\n", MMS_VERSION_STRING);
            exit(EXIT_OK);
        default:
            return -1;
        }
    }
    const char *why = NULL;
    if (fmts == 3)
        why = "--json and --prometheus exclude each other";
    else if (o->list && (o->sum || o->fmt == FMT_PROM || o->watch))
        why = "--list goes with neither --sum, --prometheus nor --watch";
    else if (o->watch && (o->sum || o->fmt != FMT_TEXT || o->all))
        why = "--watch prints text of one process";
    else if (o->watch && argc - optind != 1)
        why = "--watch needs exactly one PID or PATH";
    else if (o->count && !o->watch)
        why = "--count goes with --watch";
    else if (o->host && o->fmt != FMT_PROM)
        why = "--host goes with --prometheus";
    if (why) {
        fprintf(stderr, "%s: %s\n", prog, why);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    if (parse_args(argc, argv, &o) < 0) {
        fprintf(stderr, "Try '%s --help'.\n", prog);
        filters_free(&o.filters);
        return EXIT_USAGE;
    }
    char dir[PATH_MAX];
    int e = stats_dir(o.dir, dir, sizeof dir);
    if (e < 0) {
        fprintf(stderr, "%s: stats directory: %s\n", prog, mms_strerror(e));
        filters_free(&o.filters);
        return EXIT_FAIL;
    }
    if (o.watch) {
        struct watch_opts wo = {
            .interval = o.watch, .count = o.count, .filters = &o.filters};
        int rc = watch_main(argv[optind], dir, &wo);
        filters_free(&o.filters);
        return rc;
    }
    char **paths = NULL;
    int npaths = 0;
    bool targets = optind < argc;
    if (!targets) {
        if (!o.sum && !o.all && o.fmt == FMT_TEXT)
            o.list = true;
        npaths = stats_files(dir, &paths);
        if (npaths < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(-npaths));
            filters_free(&o.filters);
            return EXIT_FAIL;
        }
    }
    int rc = EXIT_OK;
    struct procs ps = {0};
    int n = targets ? argc - optind : npaths;
    for (int i = 0; i < n; i++) {
        const char *t = targets ? argv[optind + i] : paths[i];
        if (load(&ps, t, dir, &o, o.list) != EXIT_OK)
            rc = EXIT_FAIL;
    }
    if (print_procs(&ps, &o) != EXIT_OK)
        rc = EXIT_FAIL;
    procs_free(&ps);
    paths_free(paths, npaths);
    filters_free(&o.filters);
    return rc;
}
