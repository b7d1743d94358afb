/* mmstat-run: run a command with the preload shim in a private stats
 * directory, pass its stdin/stdout/stderr and exit status through, and at
 * the end print a summary of its calls and memory, like strace -c. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "summary.h"
#include "tools_config.h"

#define SHIM_NAME "libmmstats_preload.so"

enum { OPT_HOOKS = 256, OPT_NO_TIMING, OPT_TIMING_MEM, OPT_RAW, OPT_SPLIT };

/* The shim's families of calls, as MMSTATS_HOOKS names them
 * (docs/preload.md); test_tools_run checks this list against the shim's
 * own (its MMSTATS_VERBOSE=1 table). */
static const char *const families[] = {"io",  "fs",    "dir",  "net", "stdio",
                                       "mem", "files", "sync", "sig"};

static const struct cli_opt run_opts[] = {
    {'o', CLI_REQUIRED, "output", "FILE",
     "the summary to FILE instead of stderr"},
    {'j', CLI_NONE, "json", NULL, "the summary as JSON (docs/tools.md)"},
    {'p', CLI_NONE, "per-process", NULL,
     "a summary per process, not their total"},
    {'s', CLI_REQUIRED, "sort", "KEY", "time (default), calls, errors or name"},
    {'d', CLI_REQUIRED, "dir", "DIR",
     "keep the stats files in DIR (default: a\n"
     "private directory, removed at the end);\n"
     "every process keeps its file there"},
    {'k', CLI_NONE, "keep-files", NULL,
     "a file per process (MMSTATS_KEEP=all), not\n"
     "rollups per program (--per-process too)"},
    {OPT_HOOKS, CLI_REQUIRED, "hooks", "LIST",
     "families to record (MMSTATS_HOOKS): all, or\n"
     "io,fs,dir,net,stdio,mem,files,sync,sig;\nleave one out with -name"},
    {OPT_NO_TIMING, CLI_NONE, "no-timing", NULL,
     "no latency histograms (MMSTATS_TIMING=0)"},
    {OPT_TIMING_MEM, CLI_NONE, "timing-mem", NULL,
     "latencies of mem calls too (MMSTATS_TIMING_MEM)"},
    {'l', CLI_REQUIRED, "label", "LABEL",
     "label the stats files (MMSTATS_LABEL)"},
    {OPT_RAW, CLI_NONE, "raw", NULL,
     "text: exact numbers (bytes, ns), not\nscaled for reading"},
    {OPT_SPLIT, CLI_NONE, "split-variants", NULL,
     "a row per name the shim counted: glibc's\n"
     "variants of a call apart (open, open64,\n"
     "__open_2, openat...), not folded into one\nrow (open*)"},
    CLI_HELP_VERSION,
};

static const struct cli run_cli = {
    .prog = "mmstat-run",
    .synopsis = "[OPTIONS] [--] COMMAND [ARGS]...",
    .about =
        "Run COMMAND with the mmstats preload shim and print a summary of\n"
        "its calls (per family and call: calls, errors, bytes, % of the\n"
        "summed time, time, p50 and p99 latency) and memory when it ends.\n"
        "glibc's variants of a call are one row (open*: open, open64,\n"
        "__open_2, openat...) unless --split-variants. Its children (fork, "
        "exec)\n"
        "are summed. COMMAND's input, output and exit status pass through\n"
        "(a death by signal N gives 128 + N).",
    .opts = run_opts,
    .nopts = CLI_NOPTS(run_opts),
    .after =
        "The shim is $MMSTATS_PRELOAD if set, else ../preload/" SHIM_NAME "\n"
        "next to this program (a build tree), else " MMS_BINDIR_TO_LIBDIR
        "/" SHIM_NAME "\n"
        "next to it (an installed tree), else " MMS_INSTALL_LIBDIR "/" SHIM_NAME
        ".\n"
        "\n"
        "Examples:\n"
        "  mmstat-run -- tar czf /tmp/src.tgz src\n"
        "  mmstat-run --hooks io,fs --sort calls -- make -j4\n"
        "  mmstat-run --json -o summary.json -- ./server --once\n"
        "\n"
        "Exit status: COMMAND's; 1 if mmstat-run failed before running "
        "it,\n"
        "2 on bad usage, 126/127 if COMMAND could not be executed.\n",
    .stop_at_arg = true,
};

static const char *const prog = "mmstat-run";

struct opts {
    const char *output, *dir, *hooks, *label;
    bool no_timing, timing_mem, keep_files;
    struct summary_opts sum;
};

/* 0 if LIST is a valid MMSTATS_HOOKS: "all", "none", families and
 * "-family"s, separated by commas; else -1 after a message. */
static int check_hooks(const char *list)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        const char *name = p[0] == '-' ? p + 1 : p;
        size_t len = n - (size_t)(name - p);
        bool ok = (len == 3 && !strncmp(p, "all", 3)) ||
                  (len == 4 && !strncmp(p, "none", 4));
        for (size_t i = 0; !ok && i < sizeof families / sizeof *families; i++)
            ok = len == strlen(families[i]) && !strncmp(name, families[i], len);
        if (!ok) {
            char known[128] = "";
            for (size_t i = 0; i < sizeof families / sizeof *families; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known),
                         ", %s", families[i]);
            cli_error(&run_cli,
                      "--hooks: unknown family '%.*s' in '%s' (all, none%s; "
                      "-NAME leaves one out)",
                      (int)n, p, list, known);
            return -1;
        }
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

/* Apply option ID with argument ARG to O: 0, 1 if the program is done
 * (--help, --version), or -1 after a message. */
static int set_opt(struct opts *o, int id, const char *arg)
{
    static const char *const sorts[] = {"time", "calls", "errors", "name"};
    switch (id) {
    case 'o':
        o->output = arg;
        return 0;
    case 'j':
        o->sum.json = true;
        return 0;
    case 'k':
        o->keep_files = true;
        return 0;
    case 'p':
        o->sum.per_process = true;
        return 0;
    case 's':
        for (size_t k = 0; k < sizeof sorts / sizeof *sorts; k++) {
            if (!strcmp(arg, sorts[k])) {
                o->sum.sort = (enum summary_sort)k;
                return 0;
            }
        }
        cli_error(&run_cli, "--sort: time, calls, errors or name, not '%s'",
                  arg);
        return -1;
    case 'd':
        o->dir = arg;
        return 0;
    case OPT_HOOKS:
        o->hooks = arg;
        return check_hooks(arg);
    case OPT_SPLIT:
        o->sum.split_variants = true;
        return 0;
    case OPT_RAW:
        o->sum.raw = true;
        return 0;
    case OPT_NO_TIMING:
        o->no_timing = true;
        return 0;
    case OPT_TIMING_MEM:
        o->timing_mem = true;
        return 0;
    case 'l':
        o->label = arg;
        return 0;
    case 'h':
    case 'V':
        return cli_help_version(&run_cli, id);
    default:
        return -1;
    }
}

/* 0, 1 if done (--help, --version), or -1 on bad usage. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    int id, rc = 0;
    const char *arg;
    while (rc == 0 && (id = cli_next(&run_cli, argc, argv, &arg)) != -1)
        rc = set_opt(o, id, arg);
    if (rc == 0 && optind == argc) {
        cli_error(&run_cli, "no command given");
        rc = -1;
    }
    return rc;
}

/* The shim: $MMSTATS_PRELOAD, else next to us in a build tree, else in
 * the libdir of the tree we are installed in (wherever it was moved),
 * else where it was installed. */
static int find_shim(char *buf, size_t len)
{
    const char *env = getenv("MMSTATS_PRELOAD");
    if (env && *env) {
        if (access(env, R_OK) != 0) {
            fprintf(stderr, "%s: MMSTATS_PRELOAD=%s: %s\n", prog, env,
                    strerror(errno));
            return -1;
        }
        snprintf(buf, len, "%s", env);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, len, "%s/../preload/%s", self, SHIM_NAME);
            if (access(buf, R_OK) == 0)
                return 0;
            snprintf(buf, len, "%s/" MMS_BINDIR_TO_LIBDIR "/%s", self,
                     SHIM_NAME);
            if (access(buf, R_OK) == 0)
                return 0;
        }
    }
    snprintf(buf, len, "%s/%s", MMS_INSTALL_LIBDIR, SHIM_NAME);
    if (access(buf, R_OK) == 0)
        return 0;
    fprintf(stderr, "%s: cannot find %s (set MMSTATS_PRELOAD)\n", prog,
            SHIM_NAME);
    return -1;
}

/* The stats directory: --dir (created if missing), else a private one. */
static int make_dir(const struct opts *o, char *buf, size_t len)
{
    if (o->dir) {
        if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
            fprintf(stderr, "%s: %s: %s\n", prog, o->dir, strerror(errno));
            return -1;
        }
        snprintf(buf, len, "%s", o->dir);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(buf, len, "%s/mmstat-run.XXXXXX", tmp);
    if (!mkdtemp(buf)) {
        fprintf(stderr, "%s: %s: %s\n", prog, buf, strerror(errno));
        return -1;
    }
    return 0;
}

/* Remove the private directory: its regular files, then itself. */
static void remove_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISDIR(st.st_mode))
            unlinkat(fd, e->d_name, 0);
    }
    closedir(d);
    if (rmdir(dir) < 0)
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
}

static volatile pid_t child;
/* SIGINT and SIGQUIT as we found them, for the command. */
static struct sigaction old_int, old_quit;

static void forward(int sig)
{
    if (child > 0)
        kill(child, sig);
}

static int setenv_or_die(const char *name, const char *value)
{
    if (setenv(name, value, 1) == 0)
        return 0;
    fprintf(stderr, "%s: setenv %s: %s\n", prog, name, strerror(errno));
    return -1;
}

/* Whether the run's processes are folded into rollups as they end: in the
 * private directory, unless a file per process is asked for. In a --dir,
 * rollups would mix this run with others: every file is kept. */
static bool folds(const struct opts *o)
{
    return !o->dir && !o->keep_files && !o->sum.per_process;
}

/* In the child: the environment, then COMMAND. Never returns. */
static void exec_child(char **argv, const struct opts *o, const char *dir,
                       const char *shim)
{
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    const char *old = getenv("LD_PRELOAD");
    char *preload = NULL;
    if (old && *old ? asprintf(&preload, "%s %s", shim, old) < 0
                    : !(preload = strdup(shim)))
        _exit(126);
    if (setenv_or_die("LD_PRELOAD", preload) < 0 ||
        setenv_or_die("MMSTATS_DIR", dir) < 0 ||
        (o->hooks && setenv_or_die("MMSTATS_HOOKS", o->hooks) < 0) ||
        (o->no_timing && setenv_or_die("MMSTATS_TIMING", "0") < 0) ||
        (o->timing_mem && setenv_or_die("MMSTATS_TIMING_MEM", "1") < 0) ||
        (o->label && setenv_or_die("MMSTATS_LABEL", o->label) < 0) ||
        setenv_or_die("MMSTATS_KEEP", folds(o) ? "rollup" : "all") < 0)
        _exit(126);
    free(preload);
    execvp(argv[0], argv);
    int e = errno;
    fprintf(stderr, "%s: %s: %s\n", prog, argv[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

static bool in_set(const int32_t *set, size_t n, int32_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == pid)
            return true;
    return false;
}

/* Readers and snapshots of the files of this run: in a private directory
 * all of them; in a --dir, those created since START by the child or its
 * descendants (by pid and parent pid). */
static size_t load_procs(const char *dir, bool shared, int64_t start,
                         pid_t root, struct out_proc **out)
{
    char **paths;
    int np = stats_files(dir, &paths);
    *out = NULL;
    if (np < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(-np));
        return 0;
    }
    struct out_proc *v = calloc(np ? (size_t)np : 1, sizeof *v);
    bool *keep = calloc(np ? (size_t)np : 1, sizeof *keep);
    int32_t *pids = calloc((size_t)np + 1, sizeof *pids);
    size_t n = 0, npids = 0;
    if (!v || !keep || !pids)
        goto out;
    for (int i = 0; i < np; i++) {
        mms_reader *r;
        int e = reader_open(&r, paths[i]);
        if (e < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, paths[i], mms_strerror(e));
            continue;
        }
        struct mms_proc_info pi;
        mms_reader_info(r, &pi);
        if (shared && pi.created_ns < start) {
            mms_reader_close(r);
            continue;
        }
        v[n++].reader = r;
    }
    /* The run's tree: the child, then whoever a member forked. */
    pids[npids++] = root;
    for (bool grew = true; grew && shared;) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            struct mms_proc_info pi;
            mms_reader_info(v[i].reader, &pi);
            if (!keep[i] &&
                (in_set(pids, npids, pi.pid) || in_set(pids, npids, pi.ppid))) {
                keep[i] = grew = true;
                if (!in_set(pids, npids, pi.pid))
                    pids[npids++] = pi.pid;
            }
        }
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        mms_snapshot *s = NULL;
        int e = 0;
        if ((!shared || keep[i]) &&
            (e = mms_snapshot_take(v[i].reader, &s)) == 0) {
            v[m].reader = v[i].reader;
            v[m++].snap = s;
            continue;
        }
        if (e < 0)
            fprintf(stderr, "%s: %s: %s\n", prog, mms_reader_path(v[i].reader),
                    mms_strerror(e));
        mms_reader_close(v[i].reader);
    }
    n = m;
out:
    free(keep);
    free(pids);
    paths_free(paths, np);
    *out = v;
    return n;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    int prc = parse_args(argc, argv, &o);
    if (prc != 0) {
        if (prc < 0)
            cli_try_help(&run_cli);
        return prc < 0 ? EXIT_USAGE : EXIT_OK;
    }
    char **cmd = argv + optind;
    char shim[PATH_MAX + 64], dir[PATH_MAX];
    if (find_shim(shim, sizeof shim) < 0)
        return EXIT_FAIL;
    if (strpbrk(shim, " :")) {
        fprintf(stderr,
                "%s: %s: LD_PRELOAD cannot hold a path with ' ' or "
                "':'\n",
                prog, shim);
        return EXIT_FAIL;
    }
    FILE *out = stderr;
    if (o.output && !(out = fopen(o.output, "we"))) {
        fprintf(stderr, "%s: %s: %s\n", prog, o.output, strerror(errno));
        return EXIT_FAIL;
    }
    if (make_dir(&o, dir, sizeof dir) < 0)
        return EXIT_FAIL;

    /* As time(1): the terminal's SIGINT and SIGQUIT reach the command
     * (same process group); we wait for it to end, then report. */
    struct sigaction ign = {.sa_handler = SIG_IGN},
                     fwd = {.sa_handler = forward};
    sigemptyset(&ign.sa_mask);
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    sigaction(SIGTERM, &fwd, NULL);
    sigaction(SIGHUP, &fwd, NULL);
    int64_t start_real = now_real_ns(), start = now_mono_ns();
    fflush(NULL);
    child = fork();
    if (child < 0) {
        fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
        if (!o.dir)
            remove_dir(dir);
        return EXIT_FAIL;
    }
    if (child == 0)
        exec_child(cmd, &o, dir, shim);
    int wst;
    while (waitpid(child, &wst, 0) < 0 && errno == EINTR)
        ;
    struct run_result rr = {.argv = cmd,
                            .elapsed_ns = now_mono_ns() - start,
                            .dir = dir,
                            .dir_kept = o.dir != NULL,
                            .exit_code = -1};
    if (WIFSIGNALED(wst)) {
        rr.signal = WTERMSIG(wst);
        rr.status = 128 + rr.signal;
    } else {
        rr.exit_code = WEXITSTATUS(wst);
        rr.status = rr.exit_code;
    }

    /* What is left of the run goes into the rollups too (processes still
     * running, e.g. daemons, stay as they are). */
    if (folds(&o)) {
        int e = mms_fold_dir(dir, MMS_FOLD_ALL, NULL, NULL);
        if (e < 0)
            fprintf(stderr, "%s: %s: folding: %s\n", prog, dir,
                    mms_strerror(e));
    }
    struct out_proc *p;
    size_t n = load_procs(dir, o.dir != NULL, start_real, child, &p);
    int rc = summary_print(out, &rr, p, n, &o.sum);
    if (rc == 0 && fflush(out) != 0)
        rc = -errno;
    if (rc < 0)
        fprintf(stderr, "%s: summary: %s\n", prog, mms_strerror(rc));
    for (size_t i = 0; i < n; i++) {
        mms_snapshot_free((mms_snapshot *)p[i].snap);
        mms_reader_close(p[i].reader);
    }
    free(p);
    if (out != stderr)
        fclose(out);
    if (!o.dir)
        remove_dir(dir);
    return rr.status;
}
