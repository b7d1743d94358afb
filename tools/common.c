/* Helpers shared by the tools: the stats directory and its files, target
 * resolution, filters and human-readable formats. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char *liveness_word(int liveness)
{
    switch (liveness) {
    case MMS_LIVE_RUNNING:
        return "running";
    case MMS_LIVE_FINISHED:
        return "finished";
    case MMS_LIVE_DEAD:
        return "stale";
    case MMS_LIVE_PID_REUSED:
        return "stale(pid-reused)";
    }
    return "unknown";
}

const char *state_word(enum mms_state state)
{
    switch (state) {
    case MMS_STATE_INIT:
        return "init";
    case MMS_STATE_READY:
        return "ready";
    case MMS_STATE_FINISHED:
        return "finished";
    case MMS_STATE_FOLDING:
        return "folding";
    }
    return "unknown";
}

int stats_dir(const char *opt, char *buf, size_t len)
{
    if (!opt)
        return mms_default_dir(buf, len);
    size_t n = strlen(opt);
    if (n >= len)
        return -ENAMETOOLONG;
    memcpy(buf, opt, n + 1);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int stats_files(const char *dir, char ***out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char **v = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!mms_is_stats_name(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        if (asprintf(&v[n], "%s/%s", dir, e->d_name) < 0) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc < 0) {
        paths_free(v, n);
        return rc;
    }
    if (n)
        qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

void paths_free(char **paths, int n)
{
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

long parse_pid(const char *s)
{
    char *end;
    errno = 0;
    long pid = strtol(s, &end, 10);
    if (!*s || *end || errno || pid <= 0 || pid > INT32_MAX)
        return 0;
    return pid;
}

int open_target(const char *arg, const char *dir, mms_reader **r)
{
    long pid = parse_pid(arg);
    if (pid > 0 && access(arg, F_OK) != 0)
        return mms_reader_open_pid(r, dir, (pid_t)pid);
    return reader_open(r, arg);
}

const char *open_error(char *buf, size_t len, const char *arg, const char *dir,
                       int code)
{
    if (code == -ENOENT && parse_pid(arg) > 0 && access(arg, F_OK) != 0) {
        snprintf(buf, len, "no stats file for this pid in %s", dir);
        return buf;
    }
    snprintf(buf, len, "%s", mms_strerror(code));
    return buf;
}

int reader_open(mms_reader **r, const char *path)
{
    int e = mms_reader_open(r, path);
    if (e != MMS_ETRUNCATED && e != MMS_ECORRUPT && e != MMS_EVERSION &&
        e != MMS_EENDIAN)
        return e;
    /* A file too short for its header, or with a header that makes no
     * sense, that does not even begin with the magic (a text file, say)
     * is not a stats file at all. Not blocking on a FIFO. */
    char magic[MMS_MAGIC_LEN];
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return e;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
                    ? read(fd, magic, sizeof magic)
                    : -1;
    close(fd);
    if (n >= 0 && (n < (ssize_t)sizeof magic ||
                   memcmp(magic, MMS_MAGIC, sizeof magic) != 0))
        return MMS_EFORMAT;
    return e;
}

void no_stats_hint(const char *prog, const char *dir, bool missing)
{
    if (missing)
        fprintf(stderr, "%s: no stats files yet: %s does not exist.\n", prog,
                dir);
    else
        fprintf(stderr, "%s: no stats files in %s yet.\n", prog, dir);
    fputs("  A program makes one while it runs under the shim (mmstat-run -- "
          "PROGRAM,\n"
          "  or LD_PRELOAD=libmmstats_preload.so PROGRAM), or keeps stats "
          "with\n"
          "  libmmstats; MMSTATS_DIR or --dir chooses the directory.\n",
          stderr);
}

uint64_t disk_bytes(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    return (uint64_t)st.st_blocks * 512u;
}

int filters_add(struct filters *f, const char *glob)
{
    const char **g = realloc(f->globs, (f->n + 1) * sizeof *g);
    if (!g)
        return -ENOMEM;
    g[f->n++] = glob;
    f->globs = g;
    return 0;
}

bool filters_match(const struct filters *f, const char *name)
{
    if (!f || f->n == 0)
        return true;
    for (size_t i = 0; i < f->n; i++)
        if (fnmatch(f->globs[i], name, 0) == 0)
            return true;
    return false;
}

void filters_free(struct filters *f)
{
    free(f->globs);
    f->globs = NULL;
    f->n = 0;
}

void print_safe(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

char *safe_copy(char *buf, size_t len, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (len)
        buf[i] = '\0';
    return buf;
}

char *fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
    static const char units[] = "KMGTPE";
    if (bytes < 1024) {
        snprintf(buf, len, "%" PRIu64, bytes);
        return buf;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
    return buf;
}

char *fmt_age(char *buf, size_t len, int64_t s)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, len, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
    else
        snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400,
                 s / 3600 % 24);
    return buf;
}

char *fmt_ns(char *buf, size_t len, double ns)
{
    static const struct {
        double div;
        const char *unit;
    } scale[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}};
    for (size_t i = 0; i < 3; i++) {
        if (ns >= scale[i].div) {
            double v = ns / scale[i].div;
            snprintf(buf, len,
                     v < 10    ? "%.2f%s"
                     : v < 100 ? "%.1f%s"
                               : "%.0f%s",
                     v, scale[i].unit);
            return buf;
        }
    }
    snprintf(buf, len, "%.0fns", ns);
    return buf;
}

char *fmt_value(char *buf, size_t len, double v, const char *units)
{
    if (units && !strcmp(units, "ns"))
        return fmt_ns(buf, len, v);
    if (units && !strcmp(units, "bytes") && v >= 0 && v < 1.8e19) {
        /* Below a K, a unit all the same: "100B", not a bare count. */
        if (v < 1023.5) {
            snprintf(buf, len, "%.0fB", v);
            return buf;
        }
        return fmt_bytes(buf, len, (uint64_t)llround(v));
    }
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.4g", v);
    return buf;
}

bool units_scaled(const char *units)
{
    return units && (!strcmp(units, "ns") || !strcmp(units, "bytes"));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

const char *units_for(char *buf, size_t len, const char *units, double n)
{
    size_t l = strlen(units);
    size_t cut = 0;
    if (n == 1 && l > 2 && units[l - 1] == 's') {
        /* "processes", "boxes", "matches": "-es"; "class", "status",
         * "basis" are not plurals. */
        if (ends_with(units, "sses") || ends_with(units, "xes") ||
            ends_with(units, "ches") || ends_with(units, "shes"))
            cut = 2;
        else if (!ends_with(units, "ss") && !ends_with(units, "us") &&
                 !ends_with(units, "is"))
            cut = 1;
    }
    snprintf(buf, len, "%.*s", (int)(l - cut), units);
    return buf;
}

const char *plural(char *buf, size_t len, const char *word, double n)
{
    bool es = ends_with(word, "s") || ends_with(word, "x") ||
              ends_with(word, "ch") || ends_with(word, "sh");
    snprintf(buf, len, "%s%s", word, n == 1 ? "" : es ? "es" : "s");
    return buf;
}

double parse_duration(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0) || isinf(v))
        return -1;
    double mult = 1;
    if (*end) {
        switch (*end) {
        case 's':
            mult = 1;
            break;
        case 'm':
            mult = 60;
            break;
        case 'h':
            mult = 3600;
            break;
        case 'd':
            mult = 86400;
            break;
        case 'w':
            mult = 7 * 86400;
            break;
        default:
            return -1;
        }
        if (end[1])
            return -1;
    }
    return v * mult;
}

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t now_real_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int64_t now_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}
