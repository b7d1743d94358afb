/* mmstat-top: a live view of the processes that keep stats files, like
 * top or pidstat: per process the calls, errors and bytes per second of
 * the preload shim's calls, the slowest call's p99 latency and the live
 * heap, sorted, filtered, every -d seconds; a detail view of one process
 * (its calls one by one, its memory, its other counters). On a terminal
 * it redraws in place and takes keys; otherwise (batch mode: a pipe, a
 * file, -b) it prints frame after frame of plain text. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <mmstats/preload.h>

#include "cli.h"
#include "top.h"

enum { OPT_DIR = 256, OPT_RAW, OPT_DETAIL };

#define MAX_PIDS 64

static const struct cli_opt top_opts[] = {
    {'d', CLI_REQUIRED, "delay", "SECONDS",
     "time between updates (default 2; 0.5,\\n90s, 1m also work)"},
    {'n', CLI_REQUIRED, "iterations", "N", "stop after N updates"},
    {'b', CLI_NONE, "batch", NULL,
     "plain frames one after another, no\\n"
     "terminal control (the default when the\\n"
     "output is not a terminal)"},
    {'s', CLI_REQUIRED, "sort", "KEY",
     "calls (default), errors, bytes, p99, mem,\\npid or name"},
    {'f', CLI_REQUIRED, "filter", "GLOB",
     "only processes whose exe or label\\n"
     "matches GLOB (repeatable: any of them)"},
    {'p', CLI_REQUIRED, "pid", "PID", "only process PID (repeatable)"},
    {'a', CLI_NONE, "all", NULL,
     "finished and stale processes too (their\\nrates are 0)"},
    {OPT_DETAIL, CLI_REQUIRED, "detail", "PID",
     "the detail view of process PID: its calls\\n"
     "one by one, memory, other counters"},
    {OPT_DIR, CLI_REQUIRED, "dir", "DIR",
     "stats directory (default: $MMSTATS_DIR,\\n"
     "$XDG_RUNTIME_DIR/mmstats or /tmp/mmstats-UID)"},
    {OPT_RAW, CLI_NONE, "raw", NULL,
     "exact numbers (rates with 3 decimals,\\n"
     "bytes, ns), not scaled for reading"},
    CLI_HELP_VERSION,
};

static const struct cli top_cli = {
    .prog = "mmstat-top",
    .synopsis = "[OPTIONS]",
    .about =
        "A live view of the processes that keep stats files, like top or\\n"
        "pidstat: per process CALLS/S, ERRORS/S and BYTES/S of the preload\\n"
        "shim's calls, P99 of its slowest call (SLOWEST) over the interval,\\n"
        "and LIVE, its heap. On a terminal it redraws in place; keys:\\n"
        "  q quit   c e b l m p n  sort by calls, errors, bytes, p99 "
        "(latency),\\n"
        "  mem, pid, name   up/down or j/k  select   Enter  detail of the\\n"
        "  selected process   Esc, Backspace or h  back to the list.\\n"
        "Otherwise (a pipe, -b) it prints plain frames one after another.",
    .opts = top_opts,
    .nopts = CLI_NOPTS(top_opts),
    .after = "Examples:\\n"
             "  mmstat-top                        live, every 2 s\\n"
             "  mmstat-top -d 1 -s bytes -f 'python*'\\n"
             "  mmstat-top -b -n 3 -d 5 > frames.txt\\n"
             "  mmstat-top --detail 1234\\n"
             "\\n"
             "Exit status: 0 ok, 1 the stats directory or a process could "
             "not\\n"
             "be read, 2 bad usage.\\n",
};

static const char *const prog = "mmstat-top";

struct opts {
    const char *dir;
    double delay;
    long iterations;
    bool batch, all, raw;
    enum top_sort sort;
    struct filters filters;
    long pids[MAX_PIDS];
    size_t npids;
    long detail;
};

/* ------------------------------------------------------------- options */

static int set_sort(struct opts *o, const char *arg)
{
    for (int k = 0; k < TOP_NSORT; k++) {
        if (!strcmp(arg, top_sort_names[k])) {
            o->sort = (enum top_sort)k;
            return 0;
        }
    }
    cli_error(&top_cli,
              "--sort: calls, errors, bytes, p99, mem, pid or name, not '%s'",
              arg);
    return -1;
}

/* Apply option ID with argument ARG to O: 0, 1 if the program is done
 * (--help, --version), or -1 after a message. */
static int set_opt(struct opts *o, int id, const char *arg)
{
    char *end;
    switch (id) {
    case 'd':
        o->delay = parse_duration(arg);
        if (!(o->delay >= 0.01) || o->delay > 86400) {
            cli_error(&top_cli, "--delay: bad interval '%s'", arg);
            return -1;
        }
        return 0;
    case 'n':
        errno = 0;
        o->iterations = strtol(arg, &end, 10);
        if (!*arg || *end || errno || o->iterations <= 0) {
            cli_error(&top_cli, "--iterations: bad number '%s'", arg);
            return -1;
        }
        return 0;
    case 'b':
        o->batch = true;
        return 0;
    case 's':
        return set_sort(o, arg);
    case 'f':
        return filters_add(&o->filters, arg) < 0 ? -1 : 0;
    case 'p':
    case OPT_DETAIL: {
        long pid = parse_pid(arg);
        if (pid <= 0 || (id == 'p' && o->npids == MAX_PIDS)) {
            cli_error(&top_cli, "%s: bad pid '%s'",
                      id == 'p' ? "--pid" : "--detail", arg);
            return -1;
        }
        if (id == 'p')
            o->pids[o->npids++] = pid;
        else
            o->detail = pid;
        return 0;
    }
    case 'a':
        o->all = true;
        return 0;
    case OPT_DIR:
        o->dir = arg;
        return 0;
    case OPT_RAW:
        o->raw = true;
        return 0;
    case 'h':
    case 'V':
        return cli_help_version(&top_cli, id);
    default:
        return -1;
    }
}

/* 0, 1 if done (--help, --version), or -1 on bad usage. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    int id, rc = 0;
    const char *arg;
    while (rc == 0 && (id = cli_next(&top_cli, argc, argv, &arg)) != -1)
        rc = set_opt(o, id, arg);
    if (rc == 0 && optind < argc) {
        cli_error(&top_cli, "unexpected argument '%s' (a pid: -p PID)",
                  argv[optind]);
        rc = -1;
    }
    return rc;
}

/* ------------------------------------------------------------ terminal */

static volatile sig_atomic_t stop_signal, resized;
static struct termios saved_tio;
static bool tio_saved, screen_on;

static const char enter_screen[] = "\033[?1049h\033[?25l";
static const char leave_screen[] = "\033[?25h\033[?1049l";

/* Back to the terminal as we found it (async-signal-safe). */
static void term_restore(void)
{
    if (screen_on &&
        write(STDOUT_FILENO, leave_screen, sizeof leave_screen - 1) < 0) {
        /* nothing more to do */
    }
    screen_on = false;
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
}

static void term_raw(void)
{
    if (tio_saved) {
        struct termios t = saved_tio;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
    }
    if (write(STDOUT_FILENO, enter_screen, sizeof enter_screen - 1) > 0)
        screen_on = true;
}

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void on_winch(int sig)
{
    (void)sig;
    resized = 1;
}

/* Ctrl-Z: the terminal back first; raw again once continued. */
static void on_tstp(int sig)
{
    (void)sig;
    term_restore();
    signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP);
}

static void on_cont(int sig)
{
    (void)sig;
    signal(SIGTSTP, on_tstp);
    term_raw();
    resized = 1;
}

static void term_setup(bool interactive)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (!interactive)
        return;
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = on_tstp;
    sigaction(SIGTSTP, &sa, NULL);
    sa.sa_handler = on_cont;
    sigaction(SIGCONT, &sa, NULL);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0)
        tio_saved = true;
    atexit(term_restore);
    term_raw();
}

static void term_size(int *rows, int *cols)
{
    struct winsize ws;
    *rows = 24;
    *cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

/* -------------------------------------------------------------- screen */

/* A frame being drawn: lines cut to COLS (0: no limit) and to ROWS (0:
 * no limit); on a terminal, drawn over the last one. */
struct screen {
    FILE *out;
    bool tty;
    int rows, cols, line;
};

static void screen_begin(struct screen *sc, bool tty)
{
    sc->out = stdout;
    sc->tty = tty;
    sc->line = 0;
    if (tty) {
        term_size(&sc->rows, &sc->cols);
        fputs("\033[H", sc->out);
    } else {
        sc->rows = sc->cols = 0;
    }
}

/* One line; REVERSE: highlighted (the selection, on a terminal). */
static void screen_line(struct screen *sc, bool reverse, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void screen_line(struct screen *sc, bool reverse, const char *fmt, ...)
{
    if (sc->rows && sc->line >= sc->rows)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): as in cli.c
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (sc->cols && (int)strlen(buf) > sc->cols)
        buf[sc->cols] = '\0';
    /* The last line of a terminal must not end in a newline (it would
     * scroll). */
    bool last = sc->rows && sc->line == sc->rows - 1;
    if (sc->tty)
        fprintf(sc->out, "%s%s\033[m\033[K%s", reverse ? "\033[7m" : "", buf,
                last ? "" : "\n");
    else
        fprintf(sc->out, "%s\n", buf);
    sc->line++;
}

static void screen_end(struct screen *sc)
{
    if (sc->tty)
        fputs("\033[J", sc->out);
    else
        fputc('\n', sc->out); /* a blank line between frames */
    fflush(sc->out);
}

/* ---------------------------------------------------------- formatting */

/* A rate per second: "12.3", "4.5k", "1.2M"; RAW: 3 decimals. */
static const char *fmt_rate(char *buf, size_t len, double v, bool raw)
{
    if (raw)
        snprintf(buf, len, "%.3f", v);
    else if (v == 0)
        snprintf(buf, len, "0");
    else if (v < 10)
        snprintf(buf, len, "%.1f", v);
    else if (v < 1e4)
        snprintf(buf, len, "%.0f", v);
    else if (v < 1e7)
        snprintf(buf, len, "%.1fk", v / 1e3);
    else
        snprintf(buf, len, "%.1fM", v / 1e6);
    return buf;
}

static const char *fmt_size(char *buf, size_t len, double v, bool raw)
{
    if (raw)
        snprintf(buf, len, "%.0f", v);
    else
        fmt_value(buf, len, v, "bytes");
    return buf;
}

static const char *fmt_time(char *buf, size_t len, double ns, bool raw)
{
    if (ns <= 0)
        snprintf(buf, len, "-");
    else if (raw)
        snprintf(buf, len, "%.0f", ns);
    else
        fmt_ns(buf, len, ns);
    return buf;
}

static const char *live_word(int liveness)
{
    return liveness == MMS_LIVE_RUNNING    ? "R"
           : liveness == MMS_LIVE_FINISHED ? "F"
                                           : "S";
}

/* ---------------------------------------------------------------- list */

struct view {
    const struct opts *o;
    struct top *t;
    enum top_sort sort;
    long selected_pid; /* the list's selection (0: the first) */
    long detail;       /* the detail view's pid; 0: the list */
    int frames;
};

static void title(struct screen *sc, const struct view *v, const char *what)
{
    char now[16];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(now, sizeof now, "%H:%M:%S", &tm);
    screen_line(sc, false, "mmstat-top %s  %s  every %gs  sort: %s", now, what,
                v->o->delay, top_sort_names[v->sort]);
}

static void draw_list(struct screen *sc, struct view *v)
{
    const struct opts *o = v->o;
    struct top_select sel = {.all = o->all,
                             .filters = &o->filters,
                             .pids = o->pids,
                             .npids = o->npids,
                             .sort = v->sort};
    size_t n;
    struct top_proc **ps = top_select(v->t, &sel, &n);
    double calls = 0, errors = 0, bytes = 0;
    size_t running = 0;
    for (size_t i = 0; i < n; i++) {
        calls += ps[i]->calls_s;
        errors += ps[i]->errors_s;
        bytes += ps[i]->bytes_s;
        running += ps[i]->liveness == MMS_LIVE_RUNNING;
    }
    char what[96], b1[32], b2[32], b3[32];
    snprintf(what, sizeof what, "%zu %s, %zu running", n,
             n == 1 ? "process" : "processes", running);
    title(sc, v, what);
    screen_line(sc, false, "total: %s calls/s, %s errors/s, %s/s%s",
                fmt_rate(b1, sizeof b1, calls, o->raw),
                fmt_rate(b2, sizeof b2, errors, o->raw),
                fmt_size(b3, sizeof b3, bytes, o->raw),
                v->t->failed ? "; some files unreadable" : "");
    screen_line(sc, false, "%s", "");
    screen_line(sc, false, "%7s %1s %9s %9s %9s %8s %-22s %7s  %s", "PID", "S",
                "CALLS/S", "ERRORS/S", "BYTES/S", "P99", "SLOWEST", "LIVE",
                "COMMAND");
    if (n == 0)
        screen_line(sc, false, "  (no %sprocess with a stats file in %s)",
                    o->all ? "" : "running ", v->t->dir);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= ps[i]->pi.pid == v->selected_pid;
    if (!found)
        v->selected_pid = n ? ps[0]->pi.pid : 0;
    for (size_t i = 0; i < n; i++) {
        const struct top_proc *p = ps[i];
        char c[32], e[32], b[32], l[32], q[32], cmd[200];
        bool rates = p->secs > 0 && p->has_calls;
        snprintf(cmd, sizeof cmd, "%s%s%s", p->pi.exe,
                 p->pi.label[0] ? " " : "", p->pi.label);
        safe_copy(cmd, sizeof cmd, cmd);
        screen_line(sc, sc->tty && p->pi.pid == v->selected_pid,
                    "%7d %1s %9s %9s %9s %8s %-22.22s %7s  %s", p->pi.pid,
                    live_word(p->liveness),
                    rates ? fmt_rate(c, sizeof c, p->calls_s, o->raw) : "-",
                    rates ? fmt_rate(e, sizeof e, p->errors_s, o->raw) : "-",
                    rates ? fmt_size(b, sizeof b, p->bytes_s, o->raw) : "-",
                    rates ? fmt_time(q, sizeof q, p->p99, o->raw) : "-",
                    p->slowest[0] ? p->slowest : "-",
                    p->has_live ? fmt_size(l, sizeof l, (double)p->live, o->raw)
                                : "-",
                    cmd);
    }
    free(ps);
}

/* -------------------------------------------------------------- detail */

struct drow {
    struct call_delta d;
    double calls_s, errors_s, bytes_s;
};

static enum top_sort drow_key;

static int cmp_drow(const void *a, const void *b)
{
    const struct drow *x = a, *y = b;
    double kx = 0, ky = 0;
    switch (drow_key) {
    case TOP_SORT_ERRORS:
        kx = x->errors_s;
        ky = y->errors_s;
        break;
    case TOP_SORT_BYTES:
        kx = x->bytes_s;
        ky = y->bytes_s;
        break;
    case TOP_SORT_P99:
        kx = x->d.p99;
        ky = y->d.p99;
        break;
    case TOP_SORT_NAME:
    case TOP_SORT_PID:
        break;
    default:
        kx = x->calls_s;
        ky = y->calls_s;
        if (kx == ky) {
            kx = (double)x->d.calls_total;
            ky = (double)y->d.calls_total;
        }
        break;
    }
    if (kx != ky)
        return kx > ky ? -1 : 1;
    int c = strcmp(x->d.ci->family, y->d.ci->family);
    return c ? c : strcmp(x->d.ci->call, y->d.ci->call);
}

static void draw_memory(struct screen *sc, const struct top_proc *p, bool raw)
{
    long alloc = field_index(p->cur, MMS_PRELOAD_MEM_ALLOC_BYTES);
    long peak = field_index(p->cur, MMS_PRELOAD_MEM_PEAK_BYTES);
    if (!p->has_live && alloc < 0)
        return;
    char l[32], k[32], a[32];
    double secs = p->secs > 0 ? p->secs : 0;
    const struct mms_value *pv =
        peak >= 0 ? mms_snapshot_value(p->cur, (size_t)peak) : NULL;
    screen_line(
        sc, false, "memory: live %s, peak %s, allocated %s/s",
        p->has_live ? fmt_size(l, sizeof l, (double)p->live, raw) : "-",
        pv && pv->kind == MMS_KIND_GAUGE
            ? fmt_size(k, sizeof k, (double)pv->v.i64, raw)
            : "-",
        secs && alloc >= 0
            ? fmt_size(a, sizeof a,
                       (double)counter_delta(p->cur, p->prev, alloc) / secs,
                       raw)
            : "-");
}

/* The counters that are not the shim's calls (a program's own). */
static void draw_counters(struct screen *sc, const struct top_proc *p, bool raw)
{
    const mms_snapshot *s = p->cur;
    bool header = false;
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_field_info *fi = mms_snapshot_field(s, i);
        /* Any "<family>.<call>.<what>" of a call of the shim's. */
        const char *dot = strrchr(fi->name, '.');
        bool calls = false;
        for (size_t k = 0; dot && k < p->calls.n && !calls; k++) {
            const struct call_index *ci = &p->calls.v[k];
            size_t fl = strlen(ci->family);
            calls = !strncmp(fi->name, ci->family, fl) && fi->name[fl] == '.' &&
                    (size_t)(dot - fi->name) == fl + 1 + strlen(ci->call) &&
                    !strncmp(fi->name + fl + 1, ci->call, strlen(ci->call));
        }
        if (fi->kind != MMS_KIND_COUNTER || calls ||
            !strncmp(fi->name, "mem.", 4))
            continue;
        if (!header) {
            screen_line(sc, false, "%s", "");
            screen_line(sc, false, "%-40s %14s %10s", "COUNTER", "VALUE", "/S");
            header = true;
        }
        char r[32];
        uint64_t d = counter_delta(s, p->prev, (long)i);
        screen_line(sc, false, "%-40.40s %14" PRIu64 " %10s", fi->name,
                    mms_snapshot_value(s, i)->v.u64,
                    p->secs > 0
                        ? fmt_rate(r, sizeof r, (double)d / p->secs, raw)
                        : "-");
    }
}

/* 0, or -ENOENT if there is no such process. */
static int draw_detail(struct screen *sc, struct view *v)
{
    const struct top_proc *p = top_find(v->t, v->detail);
    bool raw = v->o->raw;
    char what[160];
    if (!p) {
        snprintf(what, sizeof what, "pid %ld: no stats file", v->detail);
        title(sc, v, what);
        return -ENOENT;
    }
    snprintf(what, sizeof what, "pid %d %s %s", p->pi.pid, p->pi.exe,
             liveness_word(p->liveness));
    safe_copy(what, sizeof what, what);
    title(sc, v, what);
    char cmd[300];
    screen_line(sc, false, "cmdline: %s",
                safe_copy(cmd, sizeof cmd, p->pi.cmdline));
    draw_memory(sc, p, raw);
    screen_line(sc, false, "%s", "");
    screen_line(sc, false, "%-6s %-20s %10s %9s %9s %9s %8s %8s", "FAMILY",
                "CALL", "CALLS", "CALLS/S", "ERRORS/S", "BYTES/S", "P50",
                "P99");
    struct drow *rows = calloc(p->calls.n ? p->calls.n : 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; rows && i < p->calls.n; i++) {
        struct drow *r = &rows[n];
        call_delta(&r->d, &p->calls.v[i], p->cur, p->prev);
        if (!r->d.calls_total)
            continue;
        double secs = p->secs > 0 ? p->secs : 1;
        r->calls_s = (double)r->d.calls / secs;
        r->errors_s = (double)r->d.errors / secs;
        r->bytes_s = (double)r->d.bytes / secs;
        n++;
    }
    drow_key = v->sort;
    if (n > 1)
        qsort(rows, n, sizeof *rows, cmp_drow);
    if (n == 0)
        screen_line(sc, false, "  (no calls recorded by the shim)");
    for (size_t i = 0; i < n; i++) {
        const struct drow *r = &rows[i];
        char c[32], e[32], b[32], q5[32], q9[32];
        bool rates = p->secs > 0;
        screen_line(
            sc, false, "%-6s %-20.20s %10" PRIu64 " %9s %9s %9s %8s %8s",
            r->d.ci->family, r->d.ci->call, r->d.calls_total,
            rates ? fmt_rate(c, sizeof c, r->calls_s, raw) : "-",
            rates ? fmt_rate(e, sizeof e, r->errors_s, raw) : "-",
            rates && r->d.has_bytes ? fmt_size(b, sizeof b, r->bytes_s, raw)
                                    : "-",
            rates ? fmt_time(q5, sizeof q5, r->d.p50, raw) : "-",
            rates ? fmt_time(q9, sizeof q9, r->d.p99, raw) : "-");
    }
    free(rows);
    draw_counters(sc, p, raw);
    return 0;
}

static int draw(struct view *v, bool tty)
{
    struct screen sc;
    screen_begin(&sc, tty);
    int rc = 0;
    if (v->detail)
        rc = draw_detail(&sc, v);
    else
        draw_list(&sc, v);
    if (tty && sc.rows) /* a help line at the bottom */
        while (sc.line < sc.rows - 1)
            screen_line(&sc, false, "%s", "");
    if (tty)
        screen_line(&sc, false, "%s",
                    v->detail ? "Esc/h back  c e b l n sort  q quit"
                              : "Enter detail  j/k select  c e b l m p n "
                                "sort  q quit");
    screen_end(&sc);
    return rc;
}

/* ---------------------------------------------------------------- keys */

/* The pid next to the selection (DIR 1: down, -1: up). */
static long move_selection(struct view *v, int dir)
{
    const struct opts *o = v->o;
    struct top_select sel = {.all = o->all,
                             .filters = &o->filters,
                             .pids = o->pids,
                             .npids = o->npids,
                             .sort = v->sort};
    size_t n, at = 0;
    struct top_proc **ps = top_select(v->t, &sel, &n);
    long pid = v->selected_pid;
    for (size_t i = 0; i < n; i++)
        if (ps[i]->pi.pid == pid)
            at = i;
    if (n && dir > 0 && at + 1 < n)
        pid = ps[at + 1]->pi.pid;
    else if (n && dir < 0 && at > 0)
        pid = ps[at - 1]->pi.pid;
    free(ps);
    return pid;
}

/* Act on the keys read: false to quit. */
static bool keys(struct view *v, const char *k, ssize_t n)
{
    static const char sort_keys[] = "cebl"
                                    "mpn";
    for (ssize_t i = 0; i < n; i++) {
        char c = k[i];
        if (c == '\033' && i + 2 < n && k[i + 1] == '[') {
            char a = k[i + 2];
            i += 2;
            if (a == 'A' || a == 'B')
                v->selected_pid = move_selection(v, a == 'B' ? 1 : -1);
            else if (a == 'D')
                v->detail = 0;
            continue;
        }
        const char *s = strchr(sort_keys, c);
        if (c == 'q')
            return false;
        if (c && s)
            v->sort = (enum top_sort)(s - sort_keys);
        else if (c == 'j' || c == 'k')
            v->selected_pid = move_selection(v, c == 'j' ? 1 : -1);
        else if ((c == '\r' || c == '\n') && !v->detail)
            v->detail = v->selected_pid;
        else if (c == '\033' || c == 'h' || c == 127 || c == '\b')
            v->detail = v->o->detail;
    }
    return true;
}

/* ---------------------------------------------------------------- main */

static int64_t mono_ns(void)
{
    return now_mono_ns();
}

/* Wait until DEADLINE (CLOCK_MONOTONIC ns), a key (on a terminal) or a
 * signal. Returns the keys read (0: none), -1 at the deadline. */
static ssize_t wait_until(int64_t deadline, bool tty_in, char *buf, size_t len)
{
    for (;;) {
        if (stop_signal || resized)
            return 0;
        int64_t left = deadline - mono_ns();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        int ms = (int)((left + 999999) / 1000000);
        int r = poll(&pfd, tty_in ? 1 : 0, ms);
        if (r > 0) {
            ssize_t n = read(STDIN_FILENO, buf, len);
            if (n > 0)
                return n;
            /* The terminal is gone (or unreadable): no more keys, and no
             * busy loop on a descriptor that is always ready. */
            if (n == 0 || (errno != EINTR && errno != EAGAIN))
                tty_in = false;
        }
    }
}

/* The loop: update, draw, wait; returns an exit status. */
static int run(const struct opts *o, struct top *t, bool tty)
{
    struct view v = {.o = o, .t = t, .sort = o->sort, .detail = o->detail};
    int rc = top_update(t);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, strerror(-rc));
        return EXIT_FAIL;
    }
    if (o->detail && !top_find(t, o->detail)) {
        fprintf(stderr, "%s: %ld: no stats file for this pid in %s\n", prog,
                o->detail, t->dir);
        return EXIT_FAIL;
    }
    if (t->dir_missing && !tty)
        no_stats_hint(prog, t->dir, true);
    term_setup(tty);
    /* The first frame needs two snapshots: sooner on a terminal. */
    int64_t step = (int64_t)(o->delay * 1e9);
    int64_t next = mono_ns() + (tty && step > 500000000 ? 500000000 : step);
    char k[64];
    for (;;) {
        ssize_t n = wait_until(next, tty && tio_saved, k, sizeof k);
        if (stop_signal)
            break;
        if (n > 0 && !keys(&v, k, n))
            break;
        if (n >= 0 && tty) { /* a key or a new size: drawn again now */
            resized = 0;
            draw(&v, tty);
            continue;
        }
        if ((rc = top_update(t)) < 0) {
            term_restore();
            fprintf(stderr, "%s: %s\n", prog, strerror(-rc));
            return EXIT_FAIL;
        }
        if (draw(&v, tty) < 0 && !tty) {
            fprintf(stderr, "%s: %ld: no stats file any more\n", prog,
                    v.detail);
            return EXIT_FAIL;
        }
        if (o->iterations && ++v.frames >= o->iterations)
            break;
        next += step;
        if (next < mono_ns()) /* fell behind: no burst to catch up */
            next = mono_ns() + step;
    }
    term_restore();
    return ferror(stdout) ? EXIT_FAIL : EXIT_OK;
}

int main(int argc, char **argv)
{
    struct opts o = {.delay = 2, .sort = TOP_SORT_CALLS};
    int prc = parse_args(argc, argv, &o);
    if (prc != 0) {
        if (prc < 0)
            cli_try_help(&top_cli);
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
    if (o.dir && access(dir, F_OK) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
        filters_free(&o.filters);
        return EXIT_FAIL;
    }
    bool tty = !o.batch && isatty(STDOUT_FILENO);
    struct top t = {.dir = dir};
    int rc = run(&o, &t, tty);
    top_free(&t);
    filters_free(&o.filters);
    return rc;
}
