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
#include <unistd.h>

#include "cli.h"
#include "files.h"
#include "heap.h"
#include "json.h"
#include "locks.h"
#include "out.h"
#include "threads.h"
#include "watch.h"

enum {
    OPT_WINDOWS_AT = 256,
    OPT_HOST,
    OPT_RAW,
    OPT_FILES,
    OPT_SORT,
    OPT_TOP,
    OPT_HEAP,
    OPT_FOLDED,
    OPT_LOCKS,
    OPT_BUCKETS
};

static const struct cli_opt read_opts[] = {
    {'d', CLI_REQUIRED, "dir", "DIR",
     "stats directory (default: $MMSTATS_DIR,\n"
     "$XDG_RUNTIME_DIR/mmstats or /tmp/mmstats-UID)"},
    {'f', CLI_REQUIRED, "filter", "GLOB",
     "only fields whose name matches GLOB\n(repeatable: any of them)"},
    {'l', CLI_NONE, "list", NULL, "list the files (with --json: headers only)"},
    {'a', CLI_NONE, "all", NULL, "print every file of the directory"},
    {'j', CLI_NONE, "json", NULL, "JSON (schema: docs/tools.md)"},
    {'p', CLI_NONE, "prometheus", NULL, "Prometheus text format 0.0.4"},
    {OPT_HOST, CLI_REQUIRED, "host", "NAME",
     "with --prometheus: a host=\"NAME\" label on\nevery sample"},
    {OPT_BUCKETS, CLI_REQUIRED, "hist-buckets", "N",
     "with --prometheus: histogram buckets per\n"
     "power of two: 1, 2, 4, 8 (default), 16 or 32"},
    {'s', CLI_NONE, "sum", NULL,
     "aggregate across processes: counters and\n"
     "histograms summed, gauges min/avg/max"},
    {'b', CLI_REQUIRED, "by", "KEY",
     "aggregate per exe, label or program\n"
     "(program: exe and label; implies --sum)"},
    {'r', CLI_NONE, "running", NULL, "only processes still running"},
    {'z', CLI_NONE, "nonzero", NULL, "text: leave out fields that are zero"},
    {OPT_RAW, CLI_NONE, "raw", NULL,
     "text: exact numbers (times in ns, sizes in\n"
     "bytes), not scaled for reading"},
    {'t', CLI_NONE, "threads", NULL,
     "per thread: the shim's calls, errors, bytes\n"
     "and time of each thread and family\n"
     "(exited threads in one row)"},
    {OPT_LOCKS, CLI_NONE, "locks", NULL,
     "the most contended locks of one process\n"
     "(the shim's sync family), like mutrace"},
    {'w', CLI_OPTIONAL, "watch", "SECONDS",
     "print per-interval deltas, rates and\n"
     "percentiles of one process (default 1 s);\n"
     "with --json, a JSON object per interval"},
    {'n', CLI_REQUIRED, "count", "N", "with --watch: stop after N intervals"},
    {OPT_HEAP, CLI_NONE, "heap", NULL,
     "the heap profile: top allocation sites by\n"
     "live and by allocated bytes, with stacks"},
    {OPT_FOLDED, CLI_OPTIONAL, "folded", "live|alloc",
     "with --heap: folded stacks (flamegraph.pl,\n"
     "speedscope) weighted by live (default) or\nallocated bytes"},
    {OPT_WINDOWS_AT, CLI_REQUIRED, "windows-at", "NS",
     "take time windows at CLOCK_MONOTONIC NS\n(reproducible output)"},
    {OPT_FILES, CLI_NONE, "files", NULL,
     "the files a process reads and writes (the\n"
     "shim's per-file records), most bytes first"},
    {OPT_SORT, CLI_REQUIRED, "sort", "KEY",
     "with --files: bytes, time, ops or name"},
    {OPT_TOP, CLI_REQUIRED, "top", "N", "with --files: the first N files only"},
    CLI_HELP_VERSION,
};

static const struct cli read_cli = {
    .prog = "mmstat-read",
    .synopsis = "[OPTIONS] [PID|PATH]...",
    .about = "List the processes that keep mmstats files, or print their "
             "stats.\n"
             "\n"
             "Without PID or PATH, text output lists the stats files (PID, "
             "EXE,\n"
             "STATE, AGE, SIZE on disk, FIELDS, PATH); --json, "
             "--prometheus,\n"
             "--sum and --all read every file of the directory instead.",
    .opts = read_opts,
    .nopts = CLI_NOPTS(read_opts),
    .after =
        "Examples:\n"
        "  mmstat-read                       list stats files\n"
        "  mmstat-read 1234                  dump the stats of pid "
        "1234\n"
        "  mmstat-read -f 'io.*' -f 'mem.*' 1234\n"
        "  mmstat-read --json 1234 | jq '.processes[0].fields'\n"
        "  mmstat-read --prometheus > metrics.prom\n"
        "  mmstat-read --sum --by exe        totals per program\n"
        "  mmstat-read --threads 1234         per thread, like pidstat -t\n"
        "  mmstat-read --locks 1234           contended locks\n"
        "  mmstat-read --watch=2 -f 'app.*' 1234\n"
        "  mmstat-read --watch --json 1234 | jq .fields\n"
        "  mmstat-read --files --sort time 1234\n"
        "  mmstat-read --heap 1234           where its memory goes\n"
        "  mmstat-read --heap --folded 1234 | flamegraph.pl > heap.svg\n"
        "\n"
        "Exit status: 0 ok, 1 a file could not be read, 2 bad usage.\n",
};

static const char *const prog = "mmstat-read";

enum fmt { FMT_TEXT, FMT_JSON, FMT_PROM };

struct opts {
    const char *dir;
    struct filters filters;
    bool list, all, sum, running, nonzero, raw, files, threads, locks;
    enum file_sort sort;
    bool sort_set;
    long top;
    bool heap, folded;
    enum heap_order folded_by;
    const char *by;
    const char *host;
    int hist_buckets; /* --hist-buckets; 0: default */
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
        char why[PATH_MAX + 64];
        fprintf(stderr, "%s: %s: %s\n", prog, target,
                open_error(why, sizeof why, target, dir, e));
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
    ps->v[ps->n++] = (struct out_proc){.reader = r, .snap = s};
    return EXIT_OK;
}

static void list_text(const struct procs *ps, bool raw)
{
    printf("%8s %-16s %-17s %7s %7s %6s  %s\n", "PID", "EXE", "STATE", "AGE",
           "SIZE", "FIELDS", "PATH");
    int64_t now = now_real_ns();
    for (size_t i = 0; i < ps->n; i++) {
        mms_reader *r = ps->v[i].reader;
        struct mms_proc_info pi;
        char age[32], size[32];
        mms_reader_info(r, &pi);
        int64_t secs = (now - pi.created_ns) / 1000000000;
        uint64_t bytes = disk_bytes(mms_reader_path(r));
        if (raw) {
            snprintf(age, sizeof age, "%" PRId64, secs < 0 ? 0 : secs);
            snprintf(size, sizeof size, "%" PRIu64, bytes);
        } else {
            fmt_age(age, sizeof age, secs);
            fmt_bytes(size, sizeof size, bytes);
        }
        /* A rollup: the processes it holds, and the age of its last. */
        char state[32];
        if (pi.flags & MMS_HF_ROLLUP) {
            snprintf(state, sizeof state, "rollup(%" PRIu64 ")", pi.fold_procs);
            secs = (now - pi.fold_last_ns) / 1000000000;
            if (raw)
                snprintf(age, sizeof age, "%" PRId64, secs < 0 ? 0 : secs);
            else
                fmt_age(age, sizeof age, secs);
        } else {
            snprintf(state, sizeof state, "%s",
                     liveness_word(mms_reader_liveness(r)));
        }
        printf("%8d %-16s %-17s %7s %7s %6zu  %s\n", pi.pid, pi.exe, state, age,
               size, mms_reader_nfields(r), mms_reader_path(r));
    }
}

/* --files: one table for every process read, their files merged by
 * path; with --json, the view as {"files": ...}. */
static int print_files(const struct procs *ps, const struct opts *o)
{
    struct file_view v = {0};
    int rc = 0;
    for (size_t i = 0; i < ps->n && rc == 0; i++)
        rc = file_view_add(&v, ps->v[i].snap);
    if (rc == 0) {
        file_view_sort(&v, o->sort);
        if (o->fmt == FMT_JSON) {
            struct jw w;
            jw_init(&w, stdout, true);
            jw_obj(&w, NULL);
            jw_u64(&w, "mmstats_json", OUT_JSON_SCHEMA);
            jw_u64(&w, "processes", ps->n);
            files_json(&w, "files", &v, (size_t)o->top);
            jw_end_obj(&w);
            jw_finish(&w);
        } else {
            rc = files_text(stdout, &v, (size_t)o->top, o->raw);
        }
    }
    file_view_free(&v);
    if (rc == 0 && fflush(stdout) != 0)
        rc = -errno;
    if (rc < 0) {
        fprintf(stderr, "%s: output: %s\n", prog, mms_strerror(rc));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* --heap: each process's heap profile. */
static int print_heaps(const struct procs *ps, const struct opts *o)
{
    struct jw w;
    if (o->fmt == FMT_JSON) {
        jw_init(&w, stdout, true);
        jw_obj(&w, NULL);
        jw_arr(&w, "heaps", false);
    }
    int rc = 0;
    for (size_t i = 0; i < ps->n && rc == 0; i++) {
        struct heap h;
        rc = heap_load(ps->v[i].snap, &h);
        struct mms_proc_info pi;
        mms_reader_info(ps->v[i].reader, &pi);
        if (rc < 0) {
            /* out of memory: reported below */
        } else if (o->folded) {
            heap_folded(stdout, &h, o->folded_by);
        } else if (o->fmt == FMT_JSON) {
            jw_obj(&w, NULL);
            jw_i64(&w, "pid", pi.pid);
            jw_str(&w, "exe", pi.exe);
            jw_str(&w, "path", mms_reader_path(ps->v[i].reader));
            heap_json(&w, &h, 0);
            jw_end_obj(&w);
        } else {
            if (i)
                printf("\n");
            printf("%s (pid %d, %s)\n", safe_copy((char[64]){0}, 64, pi.exe),
                   pi.pid, liveness_word(mms_reader_liveness(ps->v[i].reader)));
            heap_text(stdout, &h, 10, 8, o->raw);
        }
        heap_free(&h);
    }
    if (o->fmt == FMT_JSON) {
        jw_end_arr(&w);
        jw_end_obj(&w);
        jw_finish(&w);
    }
    if (rc == 0 && fflush(stdout) != 0)
        rc = -errno;
    if (rc < 0) {
        fprintf(stderr, "%s: output: %s\n", prog, mms_strerror(rc));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int print_procs(const struct procs *ps, const struct opts *o)
{
    if (o->files)
        return print_files(ps, o);
    if (o->heap)
        return print_heaps(ps, o);
    struct out_opts oo = {.filters = &o->filters,
                          .header_only = o->list,
                          .windows_at = o->windows_at,
                          .by = o->by,
                          .nonzero = o->nonzero,
                          .raw = o->raw,
                          .host = o->host,
                          .hist_buckets = (unsigned)o->hist_buckets};
    int rc = 0;
    if (o->sum) {
        struct agg_group *g = NULL;
        size_t n = 0;
        rc = agg_group_by(ps->v, ps->n, o->by, &o->filters, o->windows_at, &g,
                          &n);
        if (rc == 0)
            rc = o->fmt == FMT_JSON   ? out_json_aggs(stdout, g, n, &oo)
                 : o->fmt == FMT_PROM ? out_prom_aggs(stdout, g, n, &oo)
                                      : out_text_aggs(stdout, g, n, &oo);
        agg_groups_free(g, n);
    } else if (o->list && o->fmt == FMT_TEXT) {
        list_text(ps, o->raw);
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

/* --threads and --locks: the per-thread view, the contended locks, or
 * both (in that order), of TARGET. */
static int print_views(const char *target, const char *dir,
                       const struct opts *o)
{
    mms_reader *r;
    int e = open_target(target, dir, &r);
    if (e < 0) {
        char why[PATH_MAX + 64];
        fprintf(stderr, "%s: %s: %s\n", prog, target,
                open_error(why, sizeof why, target, dir, e));
        return EXIT_FAIL;
    }
    mms_snapshot *s = NULL;
    struct thread_view v = {0};
    struct locks_view lv = {0};
    if ((e = mms_snapshot_take_flags(r, MMS_SNAP_SHARDS, &s)) < 0 ||
        (o->threads && (e = threads_view(&v, s)) < 0) ||
        (o->locks && (e = locks_view(&lv, s)) < 0)) {
        fprintf(stderr, "%s: %s: %s\n", prog, mms_reader_path(r),
                mms_strerror(e));
        mms_snapshot_free(s);
        mms_reader_close(r);
        return EXIT_FAIL;
    }
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    bool live = mms_reader_liveness(r) == MMS_LIVE_RUNNING;
    if (o->fmt == FMT_JSON) {
        struct jw w;
        threads_doc_begin(&w, stdout, r);
        if (o->threads)
            threads_json(&w, "threads", &v);
        if (o->locks)
            locks_json(&w, &lv, pi.pid, live);
        threads_doc_end(&w);
    } else {
        char exe[sizeof pi.exe];
        printf("pid %d (%s), %s\n", pi.pid, safe_copy(exe, sizeof exe, pi.exe),
               liveness_word(mms_reader_liveness(r)));
        if (o->threads)
            e = threads_text(stdout, &v, o->raw);
        if (o->locks && e == 0)
            e = locks_text(stdout, &lv, pi.pid, live, o->raw, 20);
    }
    threads_view_free(&v);
    locks_view_free(&lv);
    mms_snapshot_free(s);
    mms_reader_close(r);
    if (e == 0 && fflush(stdout) != 0)
        e = -errno;
    if (e < 0) {
        fprintf(stderr, "%s: output: %s\n", prog, mms_strerror(e));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* A decimal number > 0 of OPT, or -1 with a message. */
static long long positive(const char *opt, const char *what, const char *arg)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (!*arg || *end || errno || v <= 0) {
        cli_error(&read_cli, "--%s: bad %s '%s'", opt, what, arg);
        return -1;
    }
    return v;
}

/* Apply option ID with argument ARG (NULL: none) to O: 0, 1 if the
 * program is done (--help, --version), or -1 after a message. */
static int set_opt(struct opts *o, int id, const char *arg)
{
    switch (id) {
    case 'd':
        o->dir = arg;
        return 0;
    case 'f':
        return filters_add(&o->filters, arg) < 0 ? -1 : 0;
    case 'l':
        o->list = true;
        return 0;
    case 'a':
        o->all = true;
        return 0;
    case 'j':
    case 'p':
        if (o->fmt != FMT_TEXT && o->fmt != (id == 'j' ? FMT_JSON : FMT_PROM)) {
            cli_error(&read_cli, "--json and --prometheus exclude each other");
            return -1;
        }
        o->fmt = id == 'j' ? FMT_JSON : FMT_PROM;
        return 0;
    case 'b':
        if (!agg_by_valid(arg)) {
            cli_error(&read_cli, "--by: 'exe', 'label' or 'program', not '%s'",
                      arg);
            return -1;
        }
        o->by = arg;
        o->sum = true;
        return 0;
    case 's':
        o->sum = true;
        return 0;
    case 'r':
        o->running = true;
        return 0;
    case 'z':
        o->nonzero = true;
        return 0;
    case OPT_RAW:
        o->raw = true;
        return 0;
    case 't':
        o->threads = true;
        return 0;
    case OPT_LOCKS:
        o->locks = true;
        return 0;
    case 'w':
        o->watch = arg ? parse_duration(arg) : 1.0;
        if (!(o->watch >= 0.01) || o->watch > 86400) {
            cli_error(&read_cli, "--watch: bad interval '%s'", arg);
            return -1;
        }
        return 0;
    case 'n':
        o->count = (long)positive("count", "number", arg);
        return o->count < 0 ? -1 : 0;
    case OPT_WINDOWS_AT:
        o->windows_at = positive("windows-at", "time", arg);
        return o->windows_at < 0 ? -1 : 0;
    case OPT_HOST:
        o->host = arg;
        return 0;
    case OPT_BUCKETS:
        if ((o->hist_buckets = out_prom_parse_buckets(arg)) < 0) {
            cli_error(&read_cli,
                      "--hist-buckets: 1, 2, 4, 8, 16 or 32, not '%s'", arg);
            return -1;
        }
        return 0;
    case OPT_FILES:
        o->files = true;
        return 0;
    case OPT_SORT:
        o->sort_set = true;
        if (file_sort_parse(arg, &o->sort) < 0) {
            cli_error(&read_cli, "--sort: bytes, time, ops or name, not '%s'",
                      arg);
            return -1;
        }
        return 0;
    case OPT_TOP:
        o->top = (long)positive("top", "number", arg);
        return o->top < 0 ? -1 : 0;
    case OPT_HEAP:
        o->heap = true;
        return 0;
    case OPT_FOLDED:
        if (arg && strcmp(arg, "live") != 0 && strcmp(arg, "alloc") != 0) {
            cli_error(&read_cli, "--folded: 'live' or 'alloc', not '%s'", arg);
            return -1;
        }
        o->folded = o->heap = true;
        o->folded_by = arg && arg[0] == 'a' ? HEAP_BY_ALLOC : HEAP_BY_LIVE;
        return 0;
    case 'h':
    case 'V':
        return cli_help_version(&read_cli, id);
    default:
        return -1;
    }
}

/* Options that do not go together; NARGS PIDs or paths. */
static const char *conflict(const struct opts *o, int nargs)
{
    if (o->list && (o->sum || o->fmt == FMT_PROM || o->watch))
        return "--list goes with neither --sum, --prometheus nor --watch";
    if (o->watch && (o->sum || o->fmt == FMT_PROM || o->all))
        return "--watch prints text or JSON of one process";
    if (o->watch && nargs != 1)
        return "--watch needs exactly one PID or PATH";
    if ((o->threads || o->locks) &&
        (o->list || o->sum || o->watch || o->fmt == FMT_PROM || o->all ||
         nargs != 1))
        return "--threads and --locks show one PID or PATH, as text or JSON";
    if (o->count && !o->watch)
        return "--count goes with --watch";
    if ((o->host || o->hist_buckets) && o->fmt != FMT_PROM)
        return "--host and --hist-buckets go with --prometheus";
    if (o->files && (o->list || o->sum || o->watch || o->fmt == FMT_PROM))
        return "--files goes with neither --list, --sum, --watch nor "
               "--prometheus";
    if ((o->sort_set || o->top) && !o->files)
        return "--sort and --top go with --files";
    if (o->heap && (o->sum || o->list || o->watch || o->fmt == FMT_PROM))
        return "--heap goes with neither --sum, --list, --watch nor "
               "--prometheus";
    if (o->heap && nargs < 1)
        return "--heap needs a PID or PATH";
    if (o->folded && o->fmt == FMT_JSON)
        return "--folded and --json exclude each other";
    return NULL;
}

/* 0, 1 if done (--help, --version), or -1 on bad usage. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    int id, rc = 0;
    const char *arg;
    while (rc == 0 && (id = cli_next(&read_cli, argc, argv, &arg)) != -1)
        rc = set_opt(o, id, arg);
    if (rc != 0)
        return rc;
    const char *why = conflict(o, argc - optind);
    if (why) {
        cli_error(&read_cli, "%s", why);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    int prc = parse_args(argc, argv, &o);
    if (prc != 0) {
        if (prc < 0)
            cli_try_help(&read_cli);
        filters_free(&o.filters);
        return prc < 0 ? EXIT_USAGE : EXIT_OK;
    }
    char dir[PATH_MAX];
    int e = stats_dir(o.dir, dir, sizeof dir);
    if (e < 0) {
        fprintf(stderr, "%s: stats directory: %s\n", prog, mms_strerror(e));
        filters_free(&o.filters);
        return EXIT_FAIL;
    }
    if (o.watch) {
        struct watch_opts wo = {.interval = o.watch,
                                .count = o.count,
                                .filters = &o.filters,
                                .json = o.fmt == FMT_JSON};
        int rc = watch_main(argv[optind], dir, &wo);
        filters_free(&o.filters);
        return rc;
    }
    if (o.threads || o.locks) {
        int rc = print_views(argv[optind], dir, &o);
        filters_free(&o.filters);
        return rc;
    }
    char **paths = NULL;
    int npaths = 0;
    bool targets = optind < argc;
    if (!targets) {
        if (!o.sum && !o.all && !o.files && o.fmt == FMT_TEXT)
            o.list = true;
        npaths = stats_files(dir, &paths);
        /* No directory yet: no stats yet, unless it was named (a typo). */
        if (npaths == -ENOENT && !o.dir)
            npaths = 0;
        if (npaths < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(-npaths));
            filters_free(&o.filters);
            return EXIT_FAIL;
        }
        if (npaths == 0 && o.fmt == FMT_TEXT) {
            no_stats_hint(prog, dir, access(dir, F_OK) != 0);
            filters_free(&o.filters);
            return EXIT_OK;
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
