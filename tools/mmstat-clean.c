/* mmstat-clean: remove the stats files of processes that are gone (pid and
 * start time, so a reused pid does not keep a file alive) and the
 * temporary files of writers that died while creating one. Touches only
 * regular files owned by the user, directly inside the stats directory,
 * never through a symlink. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static const char *prog = "mmstat-clean";

static void usage(FILE *out)
{
    fputs("Usage: mmstat-clean [OPTIONS]\n"
          "Remove the stats files of processes that are gone: stale files\n"
          "(no such process, or its pid now belongs to another process) and\n"
          "leftover .mmstats-PID-N.tmp files of dead writers. Files of\n"
          "running processes are never removed; finished ones only on "
          "request.\n"
          "\n"
          "  -d, --dir DIR            stats directory (default: "
          "$MMSTATS_DIR,\n"
          "                           $XDG_RUNTIME_DIR/mmstats or "
          "/tmp/mmstats-UID)\n"
          "  -n, --dry-run            say what would be removed, remove "
          "nothing\n"
          "  -o, --older-than DURATION\n"
          "                           only files older than DURATION (90s, "
          "10m,\n"
          "                           2h, 1d, 1w); finished files too\n"
          "  -f, --all-finished       also every finished file\n"
          "  -q, --quiet              print nothing but errors\n"
          "  -h, --help               show this help\n"
          "  -V, --version            show the version\n"
          "\n"
          "Only regular files owned by you, directly in the directory, are\n"
          "considered; symlinks, other users' files and corrupt files are\n"
          "left alone (corrupt ones are reported).\n"
          "\n"
          "Examples:\n"
          "  mmstat-clean                      remove stale files\n"
          "  mmstat-clean --dry-run --all-finished\n"
          "  mmstat-clean --older-than 1d      stale or finished, over a "
          "day old\n"
          "\n"
          "Exit status: 0 ok, 1 a file could not be read or removed, 2 bad "
          "usage.\n",
          out);
}

struct opts {
    const char *dir;
    bool dry_run, all_finished, quiet;
    double older_than; /* seconds; < 0: no age limit */
};

struct ctx {
    const struct opts *o;
    int dirfd;
    const char *dir;
    int64_t now_ns;
    unsigned removed, kept;
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
    int e = mms_reader_open(&r, path);
    if (e < 0) {
        fprintf(stderr, "%s: %s: %s; left alone\n", prog, path,
                mms_strerror(e));
        c->rc = EXIT_FAIL;
        return;
    }
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    int live = mms_reader_liveness(r);
    mms_reader_close(r);
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

/* ".mmstats-<pid>-<n>.tmp": the pid, or 0. */
static long tmp_pid(const char *name)
{
    static const char pre[] = ".mmstats-";
    size_t len = strlen(name);
    if (strncmp(name, pre, sizeof pre - 1) != 0 || len < sizeof pre + 5 ||
        strcmp(name + len - 4, ".tmp") != 0)
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(name + sizeof pre - 1, &end, 10);
    if (errno || pid <= 0 || *end != '-')
        return 0;
    return pid;
}

/* Start of process PID as CLOCK_REALTIME ns (from /proc/PID/stat field
 * 22 and the boot time), 0 if unknown, -1 if there is no such process. */
static int64_t proc_start_ns(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -1 : 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* After ')' come fields 3 (state) .. 22 (starttime): skip 19. */
    p++;
    for (int field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
        if (!*p)
            return 0;
    }
    char *end;
    errno = 0;
    unsigned long long ticks = strtoull(p, &end, 10);
    if (errno || end == p)
        return 0;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    char line[256];
    long long btime = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "btime ", 6)) {
            btime = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0)
        return 0;
    return btime * 1000000000LL + (int64_t)(ticks * (1000000000ULL / hz));
}

static void clean_tmp(struct ctx *c, const char *name, long pid,
                      const struct stat *st)
{
    char why[128];
    int64_t start = proc_start_ns(pid);
    /* A writer creates, fills and renames its temporary file within
     * milliseconds; one older than its pid's process (allowing the
     * boot-time rounding of a second) was left by an earlier process. */
    if (start < 0)
        snprintf(why, sizeof why, "temporary file of pid %ld, gone", pid);
    else if (start > 0 && mtime_ns(st) + 2000000000LL < start)
        snprintf(why, sizeof why,
                 "temporary file of pid %ld, now another process", pid);
    else {
        c->kept++;
        return;
    }
    if (old_enough(c, mtime_ns(st)))
        act(c, name, why);
    else
        c->kept++;
}

static int clean(const struct opts *o, const char *dir)
{
    int e = mms_dir_check(dir);
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
    struct dirent *ent;
    while ((ent = readdir(d))) {
        const char *name = ent->d_name;
        size_t len = strlen(name);
        long tpid = tmp_pid(name);
        bool stats =
            name[0] != '.' && len > 8 && !strcmp(name + len - 8, ".mmstats");
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
        printf("%s %u file%s, kept %u\n",
               o->dry_run ? "would remove" : "removed", c.removed,
               c.removed == 1 ? "" : "s", c.kept);
    return c.rc;
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"dry-run", no_argument, NULL, 'n'},
        {"older-than", required_argument, NULL, 'o'},
        {"all-finished", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    struct opts o = {.older_than = -1};
    int c;
    while ((c = getopt_long(argc, argv, "d:no:fqhV", lopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dir = optarg;
            break;
        case 'n':
            o.dry_run = true;
            break;
        case 'o':
            o.older_than = parse_duration(optarg);
            if (o.older_than < 0) {
                fprintf(stderr, "%s: --older-than: bad duration '%s'\n", prog,
                        optarg);
                goto bad;
            }
            break;
        case 'f':
            o.all_finished = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("mmstat-clean %s\n", MMS_VERSION_STRING);
            return EXIT_OK;
        default:
            goto bad;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        goto bad;
    }
    char dir[PATH_MAX];
    int e = stats_dir(o.dir, dir, sizeof dir);
    if (e < 0) {
        fprintf(stderr, "%s: stats directory: %s\n", prog, mms_strerror(e));
        return EXIT_FAIL;
    }
    return clean(&o, dir);
bad:
    fprintf(stderr, "Try '%s --help'.\n", prog);
    return EXIT_USAGE;
}
