/* The shim's options: one table of MMSTATS_* environment variables, read
 * once at start-up, which also prints itself (MMSTATS_VERBOSE=1). A bad
 * value warns once and keeps the default. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "shim.h"

struct mmp_config mmp_cfg = {
    .timing = 1,
    .timing_mem = 0,
    .timing_mem_sample = 4,
    .hist_bits = MMP_HIST_BITS_DEFAULT,
    /* Every family (sync too: docs/preload.md, waits). */
    .families = ~0u,
    .files_max = 1024,
    .files_align = 4096,
    .files_fold = 1,
    .heap_sample = 512 << 10,
    .heap_sites = 4096,
};

/* OPT_SECRET: a string shown as "(set)". */
enum opt_type {
    OPT_BOOL,
    OPT_STR,
    OPT_SECRET,
    OPT_INT,
    OPT_POW2,
    OPT_SIZE,
    OPT_FAMILIES,
    OPT_KEEP,
    OPT_CLOCK
};

struct opt {
    const char *name;
    enum opt_type type;
    void *dst;
    int min, max; /* OPT_INT, OPT_POW2 (a power of two) */
    const char *help;
};

static const struct opt opts[] = {
    {"MMSTATS_DISABLE", OPT_BOOL, &mmp_cfg.disable, 0, 0,
     "pure pass-through: record nothing, create no file"},
    {"MMSTATS_DIR", OPT_STR, &mmp_cfg.dir, 0, 0,
     "stats directory (default $XDG_RUNTIME_DIR/mmstats or "
     "/tmp/mmstats-UID)"},
    {"MMSTATS_FILE", OPT_STR, &mmp_cfg.file, 0, 0,
     "file name template: {exe} {pid} {host} {label}"},
    {"MMSTATS_LABEL", OPT_STR, &mmp_cfg.label, 0, 0,
     "a label for this process, in the header and {label}"},
    {"MMSTATS_KEEP", OPT_KEEP, &mmp_cfg.keep, 0, 0,
     "the file once the process is gone: all, rollup, none, auto "
     "(kept if it lived MMSTATS_KEEP_AFTER, else rolled up)"},
    {"MMSTATS_KEEP_AFTER", OPT_INT, &mmp_cfg.keep_after, 1, 86400 * 365,
     "auto: seconds of life from which a file is kept (default 60)"},
    {"MMSTATS_GROUP", OPT_STR, &mmp_cfg.group, 0, 0,
     "rollup group template: {exe} {label} {host} (default {exe}, "
     "{exe}-{label})"},
    {"MMSTATS_HOOKS", OPT_FAMILIES, &mmp_cfg.families, 0, 0,
     "families to record: all, or a list of "
     "io,fs,dir,net,stdio,mem,files,sync,sig; -name removes one (all,-mem); "
     "default: all"},
    {"MMSTATS_TIMING", OPT_BOOL, &mmp_cfg.timing, 0, 0,
     "latency histograms for io, fs, net, stdio and sync calls "
     "(locks: contended waits only)"},
    {"MMSTATS_TIMING_MEM", OPT_BOOL, &mmp_cfg.timing_mem, 0, 0,
     "latency histograms for the mem family too (costly)"},
    {"MMSTATS_TIMING_MEM_SAMPLE", OPT_INT, &mmp_cfg.timing_mem_sample, 1,
     1 << 16,
     "timed malloc and free (TSC clock): the latency of 1 call in this many "
     "on average (1: every call); calls are all counted"},
    {"MMSTATS_CLOCK", OPT_CLOCK, &mmp_cfg.clock_monotonic, 0, 0,
     "latency clock: tsc (an invariant TSC, calibrated against "
     "CLOCK_MONOTONIC; else clock_gettime) or monotonic (clock_gettime)"},
    {"MMSTATS_HIST_BITS", OPT_INT, &mmp_cfg.hist_bits, 1, 7,
     "latency histogram precision: 2^bits buckets per power of two"},
    {"MMSTATS_HEAP_SAMPLE", OPT_SIZE, &mmp_cfg.heap_sample, 0, 0,
     "heap profile: one sampled allocation per this many bytes on "
     "average (K/M/G); 0: off"},
    {"MMSTATS_HEAP_SITES", OPT_INT, &mmp_cfg.heap_sites, 16, 1 << 20,
     "heap profile: allocation sites (stacks) kept, at most"},
    {"MMSTATS_EAGER", OPT_BOOL, &mmp_cfg.eager, 0, 0,
     "make the stats file at start-up (default: with the first call "
     "recorded; a process that records none makes no file)"},
    {"MMSTATS_VERBOSE", OPT_BOOL, &mmp_cfg.verbose, 0, 0,
     "print these options and warnings to stderr"},
    {"MMSTATS_FILES_MAX", OPT_INT, &mmp_cfg.files_max, 2, 1 << 20,
     "per-file records, (other) included (files family)"},
    {"MMSTATS_FILES_EXCLUDE", OPT_STR, &mmp_cfg.files_exclude, 0, 0,
     "path prefixes without records, ':' separated; 'default' is the "
     "system's (/proc /sys /dev /etc /usr /lib* /bin /sbin /boot), 'none'"},
    {"MMSTATS_FILES_HASH", OPT_BOOL, &mmp_cfg.files_hash, 0, 0,
     "key per-file records by a hash of the path, not the path"},
    {"MMSTATS_FILES_SALT", OPT_SECRET, &mmp_cfg.files_salt, 0, 0,
     "secret key of that hash (default none: the same path, the same hash)"},
    {"MMSTATS_FILES_ALIGN", OPT_POW2, &mmp_cfg.files_align, 1, 1 << 30,
     "block size: an access at an offset not a multiple of it is unaligned"},
    {"MMSTATS_FILES_STAT_PATHS", OPT_BOOL, &mmp_cfg.files_stat_paths, 0, 0,
     "a record for each path only stat'ed (default: counted in its "
     "directory's DIR/* record)"},
    {"MMSTATS_FILES_FOLD", OPT_BOOL, &mmp_cfg.files_fold, 0, 0,
     "a file opened, only read (fstat, seek, mmap) and closed counts in its "
     "directory's DIR/* record; off: a record for each file opened"},
};

/* Straight to fd 2 with the real write: never through our hooks, never
 * through stdio (whose buffers belong to the program). */
void mmp_warn(const char *fmt, ...)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "mmstats: ");
    va_list ap;
    va_start(ap, fmt);
    /* AP is initialised just above; the analyzer loses track of it on
     * some paths through print_option's switch. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len >= sizeof buf - 1)
        len = sizeof buf - 2;
    buf[len++] = '\n';
    mmp_real_write_t w = mmp_real_write();
    if (w && w(2, buf, len) < 0) {
        /* nothing to do: a warning that cannot be written is dropped */
    }
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i]))
            return *out = 1, 0;
        if (!strcasecmp(v, no[i]))
            return *out = 0, 0;
    }
    return -1;
}

/* The families MMSTATS_HOOKS chooses among (not the ones always on). */
static int family_bit(const char *name, size_t len)
{
    for (int i = 0; i < MMP_NFAMILIES; i++)
        if (!mmp_family_always[i] && strlen(mmp_family_names[i]) == len &&
            !strncmp(mmp_family_names[i], name, len))
            return i;
    return -1;
}

static int parse_families(const char *v, unsigned *out)
{
    unsigned set = 0;
    const char *p = v;
    while (*p) {
        size_t len = strcspn(p, ",");
        bool minus = *p == '-';
        const char *name = p + minus;
        size_t nlen = len - minus;
        if (nlen == 3 && !strncmp(name, "all", 3)) {
            set = minus ? 0 : ~0u;
        } else if (nlen == 4 && !strncmp(name, "none", 4)) {
            set = 0;
        } else {
            int b = family_bit(name, nlen);
            if (b < 0)
                return -1;
            if (minus)
                set &= ~(1u << b);
            else
                set |= 1u << b;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    *out = set;
    return 0;
}

/* A size: digits, then K, M or G (powers of 1024); at most 1 TiB. */
static int parse_size(const char *v, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || n < 0 || errno)
        return -1;
    int shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*end || n > (1ll << 40) >> shift)
        return -1;
    *out = n << shift;
    return 0;
}

static void print_option(const struct opt *o)
{
    char val[256];
    switch (o->type) {
    case OPT_BOOL:
        snprintf(val, sizeof val, "%s", *(int *)o->dst ? "on" : "off");
        break;
    case OPT_INT:
    case OPT_POW2:
        snprintf(val, sizeof val, "%d", *(int *)o->dst);
        break;
    case OPT_SIZE:
        snprintf(val, sizeof val, "%lld", *(long long *)o->dst);
        break;
    case OPT_STR:
        snprintf(val, sizeof val, "%s",
                 *(const char **)o->dst ? *(const char **)o->dst : "(unset)");
        break;
    case OPT_SECRET:
        snprintf(val, sizeof val, "%s",
                 *(const char **)o->dst ? "(set)" : "(unset)");
        break;
    case OPT_KEEP:
        snprintf(val, sizeof val, "%s",
                 *(int *)o->dst ? mms_keep_name((unsigned)*(int *)o->dst)
                                : "auto");
        break;
    case OPT_CLOCK:
        snprintf(val, sizeof val, "%s", *(int *)o->dst ? "monotonic" : "tsc");
        break;
    case OPT_FAMILIES: {
        size_t n = 0;
        val[0] = '\0';
        for (int i = 0; i < MMP_NFAMILIES; i++)
            if (!mmp_family_always[i] && (*(unsigned *)o->dst & (1u << i)))
                n += (size_t)snprintf(val + n, sizeof val - n, "%s%s",
                                      n ? "," : "", mmp_family_names[i]);
        if (!n)
            snprintf(val, sizeof val, "none");
        break;
    }
    }
    mmp_warn("%-19s = %-12s %s", o->name, val, o->help);
}

static void load_option(const struct opt *o, const char *v)
{
    int bad = 0;
    switch (o->type) {
    case OPT_BOOL:
        bad = parse_bool(v, (int *)o->dst);
        break;
    case OPT_STR:
    case OPT_SECRET:
        *(const char **)o->dst = *v ? v : NULL;
        break;
    case OPT_INT:
    case OPT_POW2: {
        char *end;
        long n = strtol(v, &end, 10);
        bad = (*v == '\0' || *end || n < o->min || n > o->max ||
               (o->type == OPT_POW2 && (n & (n - 1))));
        if (!bad)
            *(int *)o->dst = (int)n;
        break;
    }
    case OPT_SIZE:
        bad = parse_size(v, (long long *)o->dst);
        break;
    case OPT_FAMILIES:
        bad = parse_families(v, (unsigned *)o->dst);
        break;
    case OPT_CLOCK:
        bad = strcmp(v, "tsc") != 0 && strcmp(v, "monotonic") != 0;
        if (!bad)
            *(int *)o->dst = !strcmp(v, "monotonic");
        break;
    case OPT_KEEP: {
        int k = mms_keep_parse(v);
        bad = k < 0;
        if (!bad)
            *(int *)o->dst = k;
        break;
    }
    }
    if (bad)
        mmp_config_bad(o->name, v);
}

/* One pass over the environment: a getenv per option walked it 23 times
 * (9,000 instructions in every process under the shim). The first
 * assignment of a name counts, as with getenv. A secure process (setuid,
 * AT_SECURE) never gets here: start-up stops before (shim.c). */
void mmp_config_load(void)
{
    _Static_assert(MMP_ARRAY_LEN(opts) <= 32, "one bit per option in seen");
    uint32_t seen = 0;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "MMSTATS_", 8) != 0 || !eq)
            continue;
        size_t len = (size_t)(eq - *e);
        for (size_t i = 0; i < MMP_ARRAY_LEN(opts); i++) {
            if ((seen >> i) & 1u || strncmp(opts[i].name, *e, len) != 0 ||
                opts[i].name[len] != '\0')
                continue;
            seen |= 1u << i;
            load_option(&opts[i], eq + 1);
            break;
        }
    }
}

/* Warnings about bad values wait until MMSTATS_VERBOSE is known; each is
 * shown once (the table is read once). */
static const char *bad_name[MMP_ARRAY_LEN(opts)],
    *bad_value[MMP_ARRAY_LEN(opts)];
static size_t nbad;

void mmp_config_bad(const char *name, const char *value)
{
    if (nbad < MMP_ARRAY_LEN(bad_name)) {
        bad_name[nbad] = name;
        bad_value[nbad++] = value;
    }
}

void mmp_config_report(void)
{
    for (size_t i = 0; i < nbad; i++)
        mmp_warn("ignoring %s=\"%s\": not a valid value; keeping the default",
                 bad_name[i], bad_value[i]);
    if (mmp_cfg.verbose)
        for (size_t i = 0; i < MMP_ARRAY_LEN(opts); i++)
            print_option(&opts[i]);
}
