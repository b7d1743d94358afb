/* mmstat-clean: fold the stats files of processes that are gone into their
 * group's rollup, or remove them, as the policy in each file says
 * (mms_fold_dir; interrupted folds completed first); then remove the files
 * of processes gone that the policy kept but are stale (pid and start
 * time, so a reused pid does not keep a file alive) and the temporary
 * files of writers that died while creating one. A file whose process may
 * run (in a pid namespace this reader cannot see) is never touched.
 * Touches only regular files owned by the user, directly inside the stats
 * directory, never through a symlink. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <time.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"

static const struct cli_opt clean_opts[] = {
    {'d', CLI_REQUIRED, "dir", "DIR",
     "stats directory (default: $MMSTATS_DIR,\n"
     "$XDG_RUNTIME_DIR/mmstats or /tmp/mmstats-UID)"},
    {'n', CLI_NONE, "dry-run", NULL,
     "say what would be removed, remove nothing"},
    {'o', CLI_REQUIRED, "older-than", "DURATION",
     "only files older than DURATION (90s, 10m,\n"
     "2h, 1d, 1w); finished files too"},
    {'f', CLI_NONE, "all-finished", NULL, "also every finished file"},
    {'F', CLI_NONE, "fold", NULL,
     "fold every file of a process gone into its\n"
     "rollup, whatever its policy (MMSTATS_KEEP)"},
    {'q', CLI_NONE, "quiet", NULL, "print nothing but errors"},
    CLI_HELP_VERSION,
};

static const struct cli clean_cli = {
    .prog = "mmstat-clean",
    .synopsis = "[OPTIONS]",
    .about = "Fold the stats files of processes that are gone into their "
             "group's\n"
             "rollup (GROUP@rollup.mmstats) or remove them, as each file's "
             "policy\n"
             "(MMSTATS_KEEP) says; then remove stale files (no such process, "
             "or its\n"
             "pid now belongs to another process) and leftover " MMS_TMP_PREFIX
             "PID-N" MMS_TMP_SUFFIX "\n"
             "files of dead writers. Files of running processes (or whose "
             "process\n"
             "may run, in a pid namespace not visible here) are never "
             "touched;\n"
             "finished ones only by their policy or on request; rollups "
             "never.",
    .opts = clean_opts,
    .nopts = CLI_NOPTS(clean_opts),
    .after =
        "Only regular files owned by you, directly in the directory, "
        "are\n"
        "considered; symlinks, other users' files and corrupt files are\n"
        "left alone (corrupt ones are reported).\n"
        "\n"
        "Examples:\n"
        "  mmstat-clean                      fold or remove what is gone\n"
        "  mmstat-clean --fold               fold every file that is gone\n"
        "  mmstat-clean --dry-run --all-finished\n"
        "  mmstat-clean --older-than 1d      stale or finished, over a "
        "day old\n"
        "\n"
        "Exit status: 0 ok, 1 a file could not be read or removed, 2 "
        "bad usage.\n",
};

static const char *const prog = "mmstat-clean";

struct opts {
    const char *dir;
    bool dry_run, all_finished, quiet, fold;
    double older_than; /* seconds; < 0: no age limit */
};

struct ctx {
    const struct opts *o;
    int dirfd;
    const char *dir;
    int64_t now_ns;
    unsigned removed, kept, folded;
    int rc;
};

static void act(struct ctx *c, const char *name, const char *why)
{
    if (!c->o->dry_run && unlinkat(c->dirfd, name, 0) < 0) {
        fprintf(stderr, "%s: %s/%s: %s\n", prog, c->dir, name, strerror(errno));
        c->rc = EXIT_FAIL;
        return;
    }
    c->removed++;
    if (!c->o->quiet)
        printf("%s %s/%s (%s)\n", c->o->dry_run ? "would remove" : "removed",
               c->dir, name, why);
}

/* Whether the file is old enough for --older-than: its age is counted
 * from when it was finished, else from its last change. */
static bool old_enough(const struct ctx *c, int64_t since_ns)
{
    if (c->o->older_than < 0)
        return true;
    return (double)(c->now_ns - since_ns) / 1e9 >= c->o->older_than;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void clean_stats(struct ctx *c, const char *name, const struct stat *st)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", c->dir, name) >= (int)sizeof path)
        return;
    mms_reader *r;
    int e = reader_open(&r, path);
    if (e < 0) {
        fprintf(stderr, "%s: %s: %s; left alone\n", prog, path,
                mms_strerror(e));
        c->rc = EXIT_FAIL;
        return;
    }
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    int live = mms_reader_liveness(r);
    int fate = mms_reader_fate(r, c->now_ns);
    mms_reader_close(r);
    /* Rollups stay; a file being folded, or that its policy folds or
     * removes, is the sweep's (which said what it did, or would do). */
    bool gone = live == MMS_LIVE_DEAD || live == MMS_LIVE_PID_REUSED;
    if ((pi.flags & MMS_HF_ROLLUP) || pi.state == MMS_STATE_FOLDING ||
        fate == MMS_FATE_FOLD || fate == MMS_FATE_REMOVE ||
        (c->o->fold && gone)) {
        c->kept++;
        return;
    }
    char why[128];
    bool go = false;
    switch (live) {
    case MMS_LIVE_DEAD:
        snprintf(why, sizeof why, "stale: pid %d is gone", pi.pid);
        go = old_enough(c, mtime_ns(st));
        break;
    case MMS_LIVE_PID_REUSED:
        snprintf(why, sizeof why, "stale: pid %d now runs another process",
                 pi.pid);
        go = old_enough(c, mtime_ns(st));
        break;
    case MMS_LIVE_FINISHED:
        snprintf(why, sizeof why, "finished: pid %d", pi.pid);
        go = (c->o->all_finished || c->o->older_than >= 0) &&
             old_enough(c, pi.finished_ns ? pi.finished_ns : mtime_ns(st));
        break;
    default:
        break;
    }
    if (go)
        act(c, name, why);
    else
        c->kept++;
}

/* Start of process PID as CLOCK_REALTIME ns, 0 if unknown, -1 if there
 * is no such process. The kernel counts a start time in clock ticks since
 * boot (CLOCK_BOOTTIME); boot is now minus the time since boot. */
static int64_t proc_start_ns(pid_t pid)
{
    uint64_t ticks;
    int e = mms_pid_start_ticks(pid, &ticks);
    if (e == -ESRCH)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec up;
    if (e < 0 || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &up) < 0)
        return 0;
    int64_t boot =
        now_real_ns() - ((int64_t)up.tv_sec * 1000000000 + up.tv_nsec);
    return boot + (int64_t)(ticks * (1000000000ULL / (uint64_t)hz));
}

static void clean_tmp(struct ctx *c, const char *name, pid_t pid,
                      const struct stat *st)
{
    char why[128];
    int64_t start = proc_start_ns(pid);
    /* A writer creates, fills and renames its temporary file within
     * milliseconds; one older than its pid's process (allowing a tick
     * and the clocks' rounding) was left by an earlier process. */
    if (start < 0)
        snprintf(why, sizeof why, "temporary file of pid %d, gone", (int)pid);
    else if (start > 0 && mtime_ns(st) + 2000000000LL < start)
        snprintf(why, sizeof why,
                 "temporary file of pid %d, now another process", (int)pid);
    else {
        c->kept++;
        return;
    }
    if (old_enough(c, mtime_ns(st)))
        act(c, name, why);
    else
        c->kept++;
}

static const char *live_word(int live)
{
    return live == MMS_LIVE_PID_REUSED ? "gone, its pid reused" : "gone";
}

/* What the sweep did with each file. */
static void fold_report(const struct mms_fold_event *e, void *arg)
{
    struct ctx *c = arg;
    if (e->error) {
        fprintf(stderr, "%s: %s/%s: %s; left alone\n", prog, c->dir, e->name,
                mms_strerror(e->error));
        c->rc = EXIT_FAIL;
        return;
    }
    const char *verb = NULL;
    switch (e->fate) {
    case MMS_FATE_FOLD:
        verb = c->o->dry_run ? "would fold" : "folded";
        c->folded++;
        break;
    case MMS_FATE_REMOVE:
    case MMS_FATE_FOLDED:
        verb = c->o->dry_run ? "would remove" : "removed";
        c->removed++;
        break;
    default:
        return;
    }
    if (c->o->quiet)
        return;
    int pid = e->info ? e->info->pid : 0;
    if (e->fate == MMS_FATE_FOLD)
        printf("%s %s/%s into %s (pid %d %s, keep=%s)\n", verb, c->dir, e->name,
               e->rollup ? e->rollup : "?", pid, live_word(e->liveness),
               e->info ? mms_keep_name(e->info->keep) : "?");
    else if (e->fate == MMS_FATE_FOLDED)
        printf("%s %s/%s (already in %s: an interrupted fold)\n", verb, c->dir,
               e->name, e->rollup ? e->rollup : "its rollup");
    else
        printf("%s %s/%s (pid %d %s, keep=none)\n", verb, c->dir, e->name, pid,
               live_word(e->liveness));
}

static int clean(const struct opts *o, const char *dir)
{
    int e = mms_dir_check(dir);
    if (e == -ENOENT && !o->dir) {
        if (!o->quiet)
            printf("no stats files yet: %s does not exist\n", dir);
        return EXIT_OK;
    }
    if (e < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, mms_strerror(e));
        return EXIT_FAIL;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_FAIL;
    }
    struct ctx c = {.o = o, .dirfd = fd, .dir = dir, .now_ns = now_real_ns()};
    /* Folds first: they complete interrupted folds and take what the
     * files' policies give to rollups. */
    unsigned flags =
        (o->dry_run ? MMS_FOLD_DRY_RUN : 0) | (o->fold ? MMS_FOLD_ALL : 0);
    e = mms_fold_dir(dir, flags, fold_report, &c);
    if (e < 0) {
        fprintf(stderr, "%s: %s: folding: %s\n", prog, dir, mms_strerror(e));
        c.rc = EXIT_FAIL;
    }
    struct dirent *ent;
    while ((ent = readdir(d))) {
        const char *name = ent->d_name;
        pid_t tpid = mms_tmp_name_pid(name);
        bool stats = mms_is_stats_name(name);
        if (!stats && !tpid)
            continue;
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        /* Ours and plain only: no symlink, no other user's file, no
         * hard link to a file elsewhere. */
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            st.st_nlink != 1) {
            c.kept++;
            continue;
        }
        if (stats)
            clean_stats(&c, name, &st);
        else
            clean_tmp(&c, name, tpid, &st);
    }
    closedir(d);
    if (!o->quiet)
        printf("%s %u file%s, %s %u, kept %u\n",
               o->dry_run ? "would remove" : "removed", c.removed,
               c.removed == 1 ? "" : "s", o->dry_run ? "would fold" : "folded",
               c.folded, c.kept);
    return c.rc;
}

/* Apply option ID with argument ARG to O: 0, 1 if the program is done
 * (--help, --version), or -1 after a message. */
static int set_opt(struct opts *o, int id, const char *arg)
{
    switch (id) {
    case 'd':
        o->dir = arg;
        return 0;
    case 'n':
        o->dry_run = true;
        return 0;
    case 'o':
        o->older_than = parse_duration(arg);
        if (o->older_than < 0) {
            cli_error(&clean_cli, "--older-than: bad duration '%s'", arg);
            return -1;
        }
        return 0;
    case 'f':
        o->all_finished = true;
        return 0;
    case 'q':
        o->quiet = true;
        return 0;
    case 'F':
        o->fold = true;
        return 0;
    case 'h':
    case 'V':
        return cli_help_version(&clean_cli, id);
    default:
        return -1;
    }
}

int main(int argc, char **argv)
{
    struct opts o = {.older_than = -1};
    int id, rc = 0;
    const char *arg;
    while (rc == 0 && (id = cli_next(&clean_cli, argc, argv, &arg)) != -1)
        rc = set_opt(&o, id, arg);
    if (rc == 0 && optind < argc) {
        cli_error(&clean_cli, "unexpected argument '%s'", argv[optind]);
        rc = -1;
    }
    if (rc != 0) {
        if (rc < 0)
            cli_try_help(&clean_cli);
        return rc < 0 ? EXIT_USAGE : EXIT_OK;
    }
    char dir[PATH_MAX];
    int e = stats_dir(o.dir, dir, sizeof dir);
    if (e < 0) {
        fprintf(stderr, "%s: stats directory: %s\n", prog, mms_strerror(e));
        return EXIT_FAIL;
    }
    return clean(&o, dir);
}
