/* The Prometheus text exposition format 0.0.4. The preload shim's
 * per-call fields ("<family>.<call>.<what>", <mmstats/preload.h>) become
 * a few families with the call in labels: mmstats_calls_total{family=
 * "io",call="read"}, mmstats_call_errors_total, mmstats_call_bytes_total
 * (transferred), mmstats_call_requested_bytes_total, the histogram
 * mmstats_call_duration_seconds...; a call never made (calls 0) has no
 * series. Every other field becomes a family "mmstats_<name>" (dots and
 * invalid bytes as '_'). HELP and TYPE once per family, one sample per
 * process (labels pid, exe, label) or per aggregate group (exe and
 * label, or the key grouped by), and a host label only if the caller
 * gives one. Counters get "_total", strings become "_info" gauges with
 * the value as a label, histograms become Prometheus histograms with
 * cumulative buckets on the file's log-linear grid at a resolution of
 * out_opts.hist_buckets per power of two, sparse: only the buckets that
 * hold values and the one just below each (so that histogram_quantile
 * interpolates within a bucket's true range), then "+Inf". Times in "ns"
 * are exported in seconds ("_seconds"), and "bytes" get a "_bytes"
 * suffix. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mmstats/preload.h>

#include "hash.h"
#include "json.h"
#include "out.h"
#include "prom_native.h"

/* P_MULTI: several gauges, one per struct member (and, in aggregates,
 * min, max and avg of a gauge). */
enum ptype { P_NONE, P_COUNTER, P_GAUGE, P_HIST, P_INFO, P_MULTI };
static const char *const ptype_name[] = {[P_COUNTER] = "counter",
                                         [P_GAUGE] = "gauge",
                                         [P_HIST] = "histogram",
                                         [P_INFO] = "gauge"};

/* Which number of a field a sample shows. */
enum sub {
    SUB_VALUE = -1, /* the value itself */
    SUB_MIN = -2,   /* aggregates: min, max, avg of gauges */
    SUB_MAX = -3,
    SUB_AVG = -4,
    /* >= 0: a struct member; STRUCT aggregates: member * 3 + stat */
};

struct sample {
    uint32_t src;   /* index of the process or group */
    uint32_t field; /* index of the field in its snapshot or group */
    int32_t sub;    /* enum sub, or a member */
    int32_t stat;   /* aggregate struct members: SUB_MIN/MAX/AVG */
};

/* SCALE: values are divided by it (1e9 for "ns", shown in seconds).
 * Families are kept in a hash by full name, which also keeps the order
 * they were added in: the order they are printed in. */
struct family {
    char *name; /* without _total / _info */
    char *full; /* with them: the key */
    enum ptype type;
    bool call; /* a per-call family: labels family and call */
    char *help;
    double scale;
    struct sample *s;
    size_t n, cap;
    UT_hash_handle hh;
};

/* Each kind's Prometheus type; P_NONE: not exported. */
static const enum ptype kind_ptype[] = {
    [MMS_KIND_COUNTER] = P_COUNTER, [MMS_KIND_GAUGE] = P_GAUGE,
    [MMS_KIND_GAUGE_F64] = P_GAUGE, [MMS_KIND_STRING] = P_INFO,
    [MMS_KIND_HISTOGRAM] = P_HIST,  [MMS_KIND_STRUCT] = P_MULTI,
    [MMS_KIND_MOVAVG] = P_GAUGE,
};

static enum ptype ptype_of(enum mms_kind kind)
{
    size_t k = (size_t)kind;
    return k < sizeof kind_ptype / sizeof *kind_ptype ? kind_ptype[k] : P_NONE;
}

static const char *type_suffix(enum ptype t)
{
    return t == P_COUNTER ? "_total" : t == P_INFO ? "_info" : "";
}

static void family_free(struct family *f)
{
    free(f->name);
    free(f->full);
    free(f->help);
    free(f->s);
    free(f);
}

/* The family NAME of TYPE in *FS, created with HELP and SCALE if new;
 * NULL if its full name exists with another type or scale (the sample is
 * left out) or on ENOMEM. */
static struct family *fam_get(struct family **fs, const char *name,
                              enum ptype type, const char *help, double scale,
                              bool call)
{
    char full[600];
    snprintf(full, sizeof full, "%s%s", name, type_suffix(type));
    struct family *f;
    HASH_FIND_STR(*fs, full, f);
    if (f)
        return f->type == type && f->scale == scale && f->call == call ? f
                                                                       : NULL;
    if (!(f = calloc(1, sizeof *f)))
        return NULL;
    f->name = strdup(name);
    f->full = strdup(full);
    f->help = strdup(help);
    f->type = type;
    f->scale = scale;
    f->call = call;
    if (f->name && f->full && f->help)
        HASH_ADD_KEYPTR(hh, *fs, f->full, strlen(f->full), f);
    if (!f->name || !f->full || !f->help || !hash_added(f)) {
        family_free(f);
        return NULL;
    }
    return f;
}

static int fam_add(struct family *f, struct sample s)
{
    /* One sample per source: a second field of one process mapping to
     * the same name would make a duplicate series (per-call families:
     * one per call, which the labels tell apart). */
    if (!f->call && f->n && f->s[f->n - 1].src == s.src)
        return 0;
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 8;
        struct sample *ns = realloc(f->s, ncap * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        f->s = ns;
        f->cap = ncap;
    }
    f->s[f->n++] = s;
    return 0;
}

static void fams_free(struct family **fs)
{
    struct family *f = *fs, *next;
    HASH_CLEAR(hh, *fs); /* the table; the families stay linked */
    for (; f; f = next) {
        next = f->hh.next;
        family_free(f);
    }
}

/* ------------------------------------------------------------- naming */

/* "mmstats_" + NAME [+ "_" + MEMBER] with invalid bytes as '_', then the
 * unit suffix, then EXTRA. */
static void metric_name(char *buf, size_t len, const char *name,
                        const char *member, const char *units,
                        const char *extra, double *scale)
{
    size_t n = (size_t)snprintf(buf, len, "mmstats_%s%s%s", name,
                                member ? "_" : "", member ? member : "");
    if (n >= len)
        n = len - 1;
    for (size_t i = 8; i < n; i++) {
        char c = buf[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            buf[i] = '_';
    }
    *scale = 1;
    const char *suffix = "";
    if (!strcmp(units, "ns")) {
        *scale = 1e9;
        suffix = "_seconds";
    } else if (!strcmp(units, "seconds") || !strcmp(units, "s")) {
        suffix = "_seconds";
    } else if (!strcmp(units, "bytes")) {
        suffix = "_bytes";
    }
    size_t sl = strlen(suffix);
    if (sl && (n < sl || strcmp(buf + n - sl, suffix) != 0))
        snprintf(buf + n, len - n, "%s", suffix);
    n = strlen(buf);
    snprintf(buf + n, len - n, "%s", extra);
}

static void help_text(char *buf, size_t len, const char *name,
                      const char *member, const char *help, const char *units,
                      double scale, const char *what)
{
    size_t n;
    if (help[0] && !member)
        n = (size_t)snprintf(buf, len, "%s", help);
    else
        n = (size_t)snprintf(buf, len, "mmstats field %s%s%s", name,
                             member ? " member " : "", member ? member : "");
    if (n < len && units[0])
        n += (size_t)snprintf(buf + n, len - n, " (%s%s)",
                              scale != 1 ? "seconds, recorded in " : "", units);
    if (n < len && what)
        snprintf(buf + n, len - n, "; %s", what);
}

/* --------------------------------------------------------------- values */

/* The output is a FILE of the caller's, used by one thread: unlocked
 * stdio, and integers formatted by hand (a /metrics of 100 processes
 * writes some 10,000 samples). */
static void put_s(FILE *f, const char *s)
{
    fputs_unlocked(s, f);
}

static void put_u64(FILE *f, uint64_t v)
{
    char buf[24];
    char *end = buf + sizeof buf, *p = json_u64_digits(end, v);
    fwrite_unlocked(p, 1, (size_t)(end - p), f);
}

static void print_num(FILE *f, double v)
{
    char buf[40];
    if (isnan(v))
        put_s(f, "NaN");
    else if (isinf(v))
        put_s(f, v > 0 ? "+Inf" : "-Inf");
    else
        put_s(f, json_double(buf, sizeof buf, v));
}

static void print_u64(FILE *f, uint64_t v, double scale)
{
    if (scale == 1)
        put_u64(f, v);
    else
        print_num(f, (double)v / scale);
}

/* Bytes a label value or HELP text holds as they are. */
static bool prom_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '\\' && c != '"';
}

/* S escaped for a label value (QUOTE: escape '"' too) or a HELP text,
 * with invalid UTF-8 as U+FFFD: the format wants UTF-8. */
static void escaped(FILE *f, const char *str, bool quote)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        const unsigned char *run = s;
        while (prom_plain(*s))
            s++;
        if (s > run)
            fwrite_unlocked(run, 1, (size_t)(s - run), f);
        if (!*s)
            break;
        int n = utf8_seq_len(s);
        if (*s == '\\' || (quote && *s == '"')) {
            fputc_unlocked('\\', f);
            fputc_unlocked(*s, f);
        } else if (*s == '\n') {
            put_s(f, "\\n");
        } else if (n == 0) {
            put_s(f, "\xef\xbf\xbd");
            n = 1;
        } else {
            fwrite_unlocked(s, 1, (size_t)n, f);
        }
        s += n ? n : 1;
    }
}

static void label_value(FILE *f, const char *s)
{
    fputc_unlocked('"', f);
    escaped(f, s, true);
    fputc_unlocked('"', f);
}

static void help_line(FILE *f, const char *name, const char *help)
{
    put_s(f, "# HELP ");
    put_s(f, name);
    fputc_unlocked(' ', f);
    escaped(f, help, false);
    fputc_unlocked('\n', f);
}

/* A sample line: NAME SUFFIX {LABELS, EXTRA} — the value follows. */
static void sample_head(FILE *f, const char *name, const char *suffix,
                        const char *labels, const char *extra_key,
                        const char *extra_val)
{
    put_s(f, name);
    put_s(f, suffix);
    if (!labels[0] && !extra_key) {
        fputc_unlocked(' ', f);
        return;
    }
    fputc_unlocked('{', f);
    put_s(f, labels);
    if (extra_key) {
        if (labels[0])
            fputc_unlocked(',', f);
        put_s(f, extra_key);
        fputc_unlocked('=', f);
        label_value(f, extra_val);
    }
    put_s(f, "} ");
}

/* An integer and the line's end. */
static void u64_line(FILE *f, uint64_t v)
{
    put_u64(f, v);
    fputc_unlocked('\n', f);
}

/* ------------------------------------------------------------ calls */

/* The preload shim's per-call fields, "<family>.<call>.<what>": one
 * family per WHAT, the call's family and name as labels. */
static const struct call_metric {
    const char *what;
    enum mms_kind kind;
    const char *name; /* without _total; NULL: not exported */
    const char *help;
} call_metrics[] = {
    {MMS_PRELOAD_CALLS, MMS_KIND_COUNTER, "mmstats_calls",
     "Calls of a C library function made through the mmstats preload shim, "
     "by family (io, fs, mem, net, ...) and call."},
    {MMS_PRELOAD_ERRORS, MMS_KIND_COUNTER, "mmstats_call_errors",
     "Calls that failed (returned their error value), by family and call."},
    {MMS_PRELOAD_BYTES, MMS_KIND_COUNTER, "mmstats_call_bytes",
     "Bytes the calls transferred (read, written, sent, received: their "
     "results), by family and call."},
    {MMS_PRELOAD_REQUESTED, MMS_KIND_COUNTER, "mmstats_call_requested_bytes",
     "Bytes the calls asked for (their size arguments), by family and call; "
     "mmstats_call_bytes_total is what they transferred."},
    {MMS_PRELOAD_READY, MMS_KIND_COUNTER, "mmstats_call_ready_fds",
     "File descriptors the waiting calls (poll, select, epoll_wait) "
     "returned ready, by family and call."},
    {MMS_PRELOAD_CONTENDED, MMS_KIND_COUNTER, "mmstats_call_contended",
     "Lock acquisitions that had to wait (the first try failed), by family "
     "and call."},
    {MMS_PRELOAD_ENTRIES, MMS_KIND_COUNTER, "mmstats_call_entries",
     "Directory entries the calls (readdir, getdents) returned, by family "
     "and call."},
    /* The calls again, for the windows of mmstat-run and the dashboard:
     * Prometheus has mmstats_calls_total. Left out. */
    {MMS_PRELOAD_RECENT, MMS_KIND_COUNTER, NULL, NULL},
    {MMS_PRELOAD_LATENCY, MMS_KIND_HISTOGRAM, "mmstats_call_duration_seconds",
     "Time spent in the call (recorded with MMSTATS_TIMING), seconds, by "
     "family and call."},
};

#define CALL_FAMILY_MAX 32
#define CALL_NAME_MAX 64

/* The per-call metric of field NAME of KIND, with the length of its
 * "<family>.<call>" in *PREFIX; NULL if it is not one. */
static const struct call_metric *call_metric_of(const char *name,
                                                enum mms_kind kind,
                                                const char *units,
                                                size_t *prefix)
{
    if (kind == MMS_KIND_HISTOGRAM && strcmp(units, "ns") != 0)
        return NULL;
    const char *d1 = strchr(name, '.'), *d2 = strrchr(name, '.');
    if (!d1 || d2 == d1 || d1 == name ||
        (size_t)(d1 - name) >= CALL_FAMILY_MAX ||
        (size_t)(d2 - d1 - 1) >= CALL_NAME_MAX || d2 == d1 + 1)
        return NULL;
    for (size_t k = 0; k < sizeof call_metrics / sizeof *call_metrics; k++) {
        if (call_metrics[k].kind == kind &&
            !strcmp(d2 + 1, call_metrics[k].what)) {
            *prefix = (size_t)(d2 - name);
            return &call_metrics[k];
        }
    }
    return NULL;
}

/* The name of the calls counter of the call whose fields begin with the
 * PREFIX bytes of NAME, into BUF. */
static const char *calls_name(char *buf, size_t len, const char *name,
                              size_t prefix)
{
    snprintf(buf, len, "%.*s.%s", (int)prefix, name, MMS_PRELOAD_CALLS);
    return buf;
}

/* Add sample SMP of per-call metric CM to its family in *FS: 0 or
 * -ENOMEM. */
static int add_call_field(struct family **fs, const struct call_metric *cm,
                          struct sample smp)
{
    if (!cm->name)
        return 0;
    bool hist = cm->kind == MMS_KIND_HISTOGRAM;
    struct family *f = fam_get(fs, cm->name, hist ? P_HIST : P_COUNTER,
                               cm->help, hist ? 1e9 : 1, true);
    return f && fam_add(f, smp) < 0 ? -ENOMEM : 0;
}

/* LABELS, then the family and call of per-call field NAME, into BUF. */
/* A string built in a caller's buffer of LEN bytes, cut at LEN - 1 as a
 * fmemopen stream would be (no stdio: a sample's labels are built for
 * each of some 10,000 samples of a /metrics). */
struct sbuf {
    char *p;
    size_t len, n;
};

static void sb_put(struct sbuf *b, const void *s, size_t n)
{
    size_t room = b->len - 1 - b->n;
    if (n > room)
        n = room;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* label_value into B. */
static void sb_label_value(struct sbuf *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    sb_put(b, "\"", 1);
    while (s < end) {
        const unsigned char *run = s;
        while (s < end && prom_plain(*s))
            s++;
        sb_put(b, run, (size_t)(s - run));
        if (s == end)
            break;
        int n = utf8_seq_len(s);
        if (n > end - s) /* cut inside a sequence: as an invalid one */
            n = 0;
        if (*s == '\\' || *s == '"') {
            char esc[2] = {'\\', (char)*s};
            sb_put(b, esc, 2);
        } else if (*s == '\n') {
            sb_put(b, "\\n", 2);
        } else if (n == 0) {
            sb_put(b, "\xef\xbf\xbd", 3);
            n = 1;
        } else {
            sb_put(b, s, (size_t)n);
        }
        s += n ? n : 1;
    }
    sb_put(b, "\"", 1);
}

static const char *call_labels(char *buf, size_t len, const char *labels,
                               const char *name)
{
    const char *d1 = strchr(name, '.'), *d2 = strrchr(name, '.');
    struct sbuf b = {buf, len, 0};
    buf[0] = '\0';
    sb_str(&b, labels);
    if (!d1 || !d2)
        return buf;
    /* The family and call as the copies of fixed size cut them. */
    size_t nfam = (size_t)(d1 - name),
           ncall = d2 > d1 ? (size_t)(d2 - d1 - 1) : strlen(d1 + 1);
    if (nfam > CALL_FAMILY_MAX - 1)
        nfam = CALL_FAMILY_MAX - 1;
    if (ncall > CALL_NAME_MAX - 1)
        ncall = CALL_NAME_MAX - 1;
    sb_str(&b, labels[0] ? ",family=" : "family=");
    sb_label_value(&b, name, nfam);
    sb_str(&b, ",call=");
    sb_label_value(&b, d1 + 1, ncall);
    return buf;
}

/* Whether X is a bound of the log-linear grid with 2^K buckets per power
 * of two: below 2^(K+1) every integer, above, multiples of the bucket
 * width of X's power of two. The file's own grid (its bits) is finer or
 * the same: each of its buckets is in one of ours. */
static bool grid_point(uint64_t x, unsigned k)
{
    if (x == 0)
        return true;
    unsigned top = 63u - (unsigned)__builtin_clzll(x);
    return top <= k || (x & (((uint64_t)1 << (top - k)) - 1)) == 0;
}

/* A bucket of a histogram's samples: "le" and the cumulative count. */
static void bucket_line(FILE *f, const char *name, const char *labels,
                        uint64_t le, double scale, uint64_t cum)
{
    char buf[48];
    const char *text = buf;
    if (scale == 1) {
        buf[24] = '\0';
        text = json_u64_digits(buf + 24, le);
    } else {
        json_double(buf, sizeof buf, (double)le / scale);
    }
    sample_head(f, name, "_bucket", labels, "le", text);
    u64_line(f, cum);
}

/* Bucket I's count, I going up from 0 (*POS: a sparse H's next used
 * bucket). */
static uint64_t bucket_seq(const struct mms_hist *h, uint32_t i, uint32_t *pos)
{
    if (h->buckets)
        return h->buckets[i];
    if (*pos < h->nused && h->used[*pos].index == i)
        return h->used[(*pos)++].count;
    return 0;
}

/* A histogram's samples: the file's buckets merged to 2^RES per power of
 * two, each bucket ("le": its highest value, the values being integers)
 * shown if it or the next one holds values. Bucket P is decided when the
 * next one closes. */
static void hist_samples(FILE *f, const char *name, const char *labels,
                         const struct mms_hist *h, double scale, unsigned res)
{
    uint64_t cum = 0;
    struct {
        bool valid, full;
        uint64_t le, cum;
    } p = {0};
    uint32_t pos = 0;
    for (uint32_t i = 0; i + 1 < h->nbuckets; i++) {
        cum += bucket_seq(h, i, &pos);
        uint64_t high = mms_hist_bucket_high(i, h->bits, h->max_exp);
        if (!grid_point(high + 1, res))
            continue;
        bool full = cum != p.cum;
        if (p.valid && (p.full || full))
            bucket_line(f, name, labels, p.le, scale, p.cum);
        p.valid = true;
        p.full = full;
        p.le = high;
        p.cum = cum;
    }
    uint64_t over = h->nbuckets ? bucket_seq(h, h->nbuckets - 1, &pos) : 0;
    if (p.valid && (p.full || over))
        bucket_line(f, name, labels, p.le, scale, p.cum);
    cum += over;
    sample_head(f, name, "_bucket", labels, "le", "+Inf");
    u64_line(f, cum);
    sample_head(f, name, "_sum", labels, NULL, NULL);
    print_u64(f, h->sum, scale);
    fputc('\n', f);
    sample_head(f, name, "_count", labels, NULL, NULL);
    u64_line(f, cum);
}

int out_prom_parse_buckets(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > OUT_PROM_BUCKETS_MAX ||
        (v & (v - 1)))
        return -1;
    return (int)v;
}

/* log2 of O's histogram buckets per power of two. */
static unsigned hist_res(const struct out_opts *o)
{
    unsigned b = o->hist_buckets ? o->hist_buckets : OUT_PROM_BUCKETS;
    unsigned k = 0;
    while (k < 31 && (2u << k) <= b)
        k++;
    return k;
}

/* With O->natives, keep H as a native histogram for the protobuf format
 * (out_promproto.c), by the series' NAME and LABELS as the text shows
 * them. Without memory the series is left classic. */
static void hist_native(const struct out_opts *o, const char *name,
                        const char *labels, const struct mms_hist *h,
                        double scale)
{
    if (o->natives)
        (void)prom_natives_add(o->natives, name, labels, h, scale);
}

static void family_head(FILE *f, const struct family *fam)
{
    help_line(f, fam->full, fam->help);
    fprintf(f, "# TYPE %s %s\n", fam->full, ptype_name[fam->type]);
}

/* ------------------------------------------------------------ processes */

/* Room for every label at its longest: exe, label and host of 64 bytes,
 * a container of 80, each invalid byte escaped as 3. */
#define LABELS_MAX 1024

struct psrc {
    char labels[LABELS_MAX];
    bool skip;
};

static void proc_labels(struct psrc *ps, const struct out_proc *op,
                        const char *host)
{
    struct mms_proc_info pi;
    mms_reader_info(op->reader, &pi);
    char *p = ps->labels;
    size_t len = sizeof ps->labels;
    FILE *m = fmemopen(p, len, "w");
    if (!m) {
        snprintf(p, len, "pid=\"%d\"", pi.pid);
        return;
    }
    /* A rollup (pid 0) is named by its group instead. */
    if (pi.flags & MMS_HF_ROLLUP) {
        fputs("rollup=", m);
        label_value(m, pi.group);
        fputs(",exe=", m);
    } else {
        fprintf(m, "pid=\"%d\",exe=", pi.pid);
    }
    label_value(m, pi.exe);
    if (pi.label[0]) {
        fputs(",label=", m);
        label_value(m, pi.label);
    }
    /* The exporter's: the container a running process is in. */
    if (op->container && op->container[0]) {
        fputs(",container=", m);
        label_value(m, op->container);
    }
    if (host) {
        fputs(",host=", m);
        label_value(m, host);
    }
    fputc('\0', m);
    fclose(m);
    p[len - 1] = '\0';
}

/* Whether the call of per-call field NAME (its "<family>.<call>" the
 * first PREFIX bytes) was never made in S: calls 0. */
static bool snap_call_unused(const mms_snapshot *s, const char *name,
                             size_t prefix)
{
    char buf[CALL_FAMILY_MAX + CALL_NAME_MAX + 16];
    size_t i;
    if (mms_snapshot_find(s, calls_name(buf, sizeof buf, name, prefix), &i) < 0)
        return false;
    const struct mms_value *v = mms_snapshot_value(s, i);
    return v->kind == MMS_KIND_COUNTER && v->v.u64 == 0;
}

static int add_proc_field(struct family **fs, uint32_t src, uint32_t i,
                          const mms_snapshot *s)
{
    const struct mms_field_info *fi = mms_snapshot_field(s, i);
    char name[512], help[512];
    double scale;
    enum ptype type = ptype_of(fi->kind);
    if (type == P_NONE)
        return 0;
    size_t prefix;
    const struct call_metric *cm =
        call_metric_of(fi->name, fi->kind, fi->units, &prefix);
    /* A second field of the same name (two hooks of one call) would make
     * a duplicate series: the first only. */
    size_t first;
    if (cm)
        return snap_call_unused(s, fi->name, prefix) ||
                       (mms_snapshot_find(s, fi->name, &first) == 0 &&
                        first != i)
                   ? 0
                   : add_call_field(fs, cm,
                                    (struct sample){src, i, SUB_VALUE, 0});
    /* A struct: a gauge per member. */
    uint32_t nm = type == P_MULTI ? fi->n : 1;
    for (uint32_t m = 0; m < nm; m++) {
        const char *member = type == P_MULTI ? fi->members[m].name : NULL;
        /* A string's units are in its help only: its value is a label. */
        const char *units = member ? "" : fi->units;
        metric_name(name, sizeof name, fi->name, member,
                    type == P_INFO ? "" : units, "", &scale);
        help_text(help, sizeof help, fi->name, member, fi->help, units, scale,
                  fi->kind == MMS_KIND_MOVAVG ? "moving average" : NULL);
        struct family *f =
            fam_get(fs, name, member ? P_GAUGE : type, help, scale, false);
        struct sample smp = {src, i, member ? (int32_t)m : SUB_VALUE, 0};
        if (f && fam_add(f, smp) < 0)
            return -ENOMEM;
    }
    return 0;
}

static void proc_sample(FILE *out, const struct family *fam,
                        const struct sample *s, const mms_snapshot *snap,
                        const char *labels, const struct out_opts *o)
{
    const struct mms_value *v = mms_snapshot_value(snap, s->field);
    char cl[LABELS_MAX + 256];
    if (fam->call)
        labels = call_labels(cl, sizeof cl, labels,
                             mms_snapshot_field(snap, s->field)->name);
    switch (v->kind) {
    case MMS_KIND_COUNTER:
        sample_head(out, fam->name, "_total", labels, NULL, NULL);
        print_u64(out, v->v.u64, fam->scale);
        break;
    case MMS_KIND_GAUGE:
        sample_head(out, fam->name, "", labels, NULL, NULL);
        if (fam->scale == 1)
            fprintf(out, "%" PRId64, v->v.i64);
        else
            print_num(out, (double)v->v.i64 / fam->scale);
        break;
    case MMS_KIND_GAUGE_F64:
        sample_head(out, fam->name, "", labels, NULL, NULL);
        print_num(out, v->v.f64 / fam->scale);
        break;
    case MMS_KIND_MOVAVG:
        if (v->status < 0)
            return;
        sample_head(out, fam->name, "", labels, NULL, NULL);
        print_num(out, v->v.avg.mean / fam->scale);
        break;
    case MMS_KIND_STRING:
        if (v->status < 0)
            return;
        sample_head(out, fam->name, "_info", labels, "value", v->v.str.ptr);
        fputc('1', out);
        break;
    case MMS_KIND_STRUCT: {
        if (v->status < 0 || (uint32_t)s->sub >= v->v.st.n)
            return;
        const struct mms_member_value *mv = &v->v.st.m[s->sub];
        sample_head(out, fam->name, "", labels, NULL, NULL);
        if (mv->type == MMS_MEMBER_U64)
            fprintf(out, "%" PRIu64, mv->v.u64);
        else if (mv->type == MMS_MEMBER_I64)
            fprintf(out, "%" PRId64, mv->v.i64);
        else
            print_num(out, mv->v.f64);
        break;
    }
    case MMS_KIND_HISTOGRAM:
        hist_native(o, fam->name, labels, v->v.hist, fam->scale);
        hist_samples(out, fam->name, labels, v->v.hist, fam->scale,
                     hist_res(o));
        return;
    default:
        return;
    }
    fputc('\n', out);
}

/* What a rollup holds: its processes and their time span. */
static const struct {
    const char *name, *help;
} rollup_fams[] = {
    {"mmstats_rollup_processes", "processes folded into the rollup"},
    {"mmstats_rollup_first_start_seconds",
     "start of the earliest process folded in, seconds since the epoch"},
    {"mmstats_rollup_last_finish_seconds",
     "finish of the latest process folded in, seconds since the epoch"},
};

static void rollup_head(FILE *out, size_t f)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", rollup_fams[f].name,
            rollup_fams[f].help, rollup_fams[f].name);
}

/* What each rollup holds: its processes and their time span. */
static void rollup_samples(FILE *out, const struct out_proc *p, size_t n,
                           const struct psrc *ps)
{
    for (size_t f = 0; f < sizeof rollup_fams / sizeof rollup_fams[0]; f++) {
        bool head = false;
        for (size_t k = 0; k < n; k++) {
            struct mms_proc_info pi;
            if (ps[k].skip || mms_reader_info(p[k].reader, &pi) < 0 ||
                !(pi.flags & MMS_HF_ROLLUP))
                continue;
            if (!head) {
                rollup_head(out, f);
                head = true;
            }
            if (f == 0)
                fprintf(out, "%s{%s} %" PRIu64 "\n", rollup_fams[f].name,
                        ps[k].labels, pi.fold_procs);
            else
                fprintf(out, "%s{%s} %.3f\n", rollup_fams[f].name, ps[k].labels,
                        (double)(f == 1 ? pi.fold_first_ns : pi.fold_last_ns) /
                            1e9);
        }
    }
}

int out_prom_procs(FILE *out, const struct out_proc *p, size_t n,
                   const struct out_opts *o)
{
    struct family *fs = NULL;
    struct psrc *ps = calloc(n ? n : 1, sizeof *ps);
    int rc = ps ? 0 : -ENOMEM;
    int64_t *created = calloc(n ? n : 1, sizeof *created);
    if (!created)
        rc = -ENOMEM;
    for (size_t k = 0; k < n && rc == 0; k++) {
        struct mms_proc_info pi;
        mms_reader_info(p[k].reader, &pi);
        created[k] = pi.created_ns;
        proc_labels(&ps[k], &p[k], o->host);
        /* Files with the same labels (a pid's image before and after an
         * exec of the same program): the newest one only. */
        for (size_t j = 0; j < k; j++) {
            if (ps[j].skip || strcmp(ps[j].labels, ps[k].labels) != 0)
                continue;
            if (created[j] <= created[k])
                ps[j].skip = true;
            else
                ps[k].skip = true;
        }
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (ps[k].skip)
            continue;
        const mms_snapshot *s = p[k].snap;
        for (size_t i = 0; i < mms_snapshot_nfields(s) && rc == 0; i++) {
            const struct mms_field_info *fi = mms_snapshot_field(s, i);
            if (filters_match(o->filters, fi->name))
                rc = add_proc_field(&fs, (uint32_t)k, (uint32_t)i, s);
        }
    }
    for (const struct family *fam = fs; fam && rc == 0; fam = fam->hh.next) {
        family_head(out, fam);
        for (size_t j = 0; j < fam->n; j++) {
            const struct sample *s = &fam->s[j];
            proc_sample(out, fam, s, p[s->src].snap, ps[s->src].labels, o);
        }
    }
    if (rc == 0)
        rollup_samples(out, p, n, ps);
    fams_free(&fs);
    free(ps);
    free(created);
    if (rc < 0)
        return rc;
    return ferror(out) ? -EIO : 0;
}

/* ----------------------------------------------------------- aggregates */

static const struct {
    int32_t sub;
    const char *suffix, *what;
} agg_stats[] = {{SUB_MIN, "_min", "minimum over processes"},
                 {SUB_MAX, "_max", "maximum over processes"},
                 {SUB_AVG, "_avg", "average over processes"}};

/* Whether the call of per-call field NAME (its "<family>.<call>" the
 * first PREFIX bytes) was never made in G: calls 0. */
static bool agg_call_unused(const struct agg_group *g, const char *name,
                            size_t prefix)
{
    char buf[CALL_FAMILY_MAX + CALL_NAME_MAX + 16];
    const struct agg_field *c =
        agg_find(g, calls_name(buf, sizeof buf, name, prefix));
    return c && c->kind == MMS_KIND_COUNTER && c->u64 == 0;
}

static int add_agg_field(struct family **fs, uint32_t src, uint32_t i,
                         const struct agg_group *g)
{
    const struct agg_field *af = &g->fields[i];
    char name[512], help[512];
    double scale;
    enum ptype type = ptype_of(af->kind);
    if (type == P_NONE)
        return 0;
    size_t prefix;
    const struct call_metric *cm =
        call_metric_of(af->name, af->kind, af->units, &prefix);
    if (cm)
        return agg_call_unused(g, af->name, prefix)
                   ? 0
                   : add_call_field(fs, cm,
                                    (struct sample){src, i, SUB_VALUE, 0});
    if (type == P_GAUGE || type == P_MULTI) {
        /* Gauges (each member of a struct): min, max and avg. */
        uint32_t nm = type == P_MULTI ? af->nmembers : 1;
        for (uint32_t m = 0; m < nm; m++) {
            const char *member = type == P_MULTI ? af->member_names[m] : NULL;
            const char *units = member ? "" : af->units;
            for (size_t k = 0; k < 3; k++) {
                metric_name(name, sizeof name, af->name, member, units,
                            agg_stats[k].suffix, &scale);
                help_text(help, sizeof help, af->name, member, af->help, units,
                          scale, agg_stats[k].what);
                struct family *f =
                    fam_get(fs, name, P_GAUGE, help, scale, false);
                struct sample s = {src, i, member ? (int32_t)m : SUB_VALUE,
                                   agg_stats[k].sub};
                if (f && fam_add(f, s) < 0)
                    return -ENOMEM;
            }
        }
        return 0;
    }
    metric_name(name, sizeof name, af->name, NULL,
                type == P_INFO ? "" : af->units, "", &scale);
    help_text(help, sizeof help, af->name, NULL, af->help, af->units, scale,
              type == P_COUNTER ? "sum over processes" : NULL);
    struct family *f = fam_get(fs, name, type, help, scale, false);
    if (f && fam_add(f, (struct sample){src, i, SUB_VALUE, 0}) < 0)
        return -ENOMEM;
    return 0;
}

static void agg_sample(FILE *out, const struct family *fam,
                       const struct sample *s, const struct agg_field *af,
                       const char *labels, const struct out_opts *o)
{
    char cl[LABELS_MAX + 256];
    if (fam->call)
        labels = call_labels(cl, sizeof cl, labels, af->name);
    switch (af->kind) {
    case MMS_KIND_COUNTER:
        sample_head(out, fam->name, "_total", labels, NULL, NULL);
        print_u64(out, af->u64, fam->scale);
        fputc('\n', out);
        return;
    case MMS_KIND_STRING:
        for (size_t i = 0; i < af->nstrs; i++) {
            sample_head(out, fam->name, "_info", labels, "value",
                        af->strs[i].s);
            fprintf(out, "%u\n", af->strs[i].n);
        }
        return;
    case MMS_KIND_HISTOGRAM:
        hist_native(o, fam->name, labels, &af->hist, fam->scale);
        hist_samples(out, fam->name, labels, &af->hist, fam->scale,
                     hist_res(o));
        return;
    default:
        break;
    }
    const struct agg_num *a = &af->num;
    if (af->kind == MMS_KIND_STRUCT) {
        if ((uint32_t)s->sub >= af->nmembers)
            return;
        a = &af->members[s->sub];
    }
    if (a->n == 0)
        return;
    double v = s->stat == SUB_MIN   ? agg_num_min(a)
               : s->stat == SUB_MAX ? agg_num_max(a)
                                    : agg_num_avg(a);
    sample_head(out, fam->name, "", labels, NULL, NULL);
    print_num(out, v / fam->scale);
    fputc('\n', out);
}

/* A group's labels into BUF: exe and label (--by program), or the key's
 * (--by exe, --by label), then host if O has one. */
static void group_labels(char *buf, size_t len, const struct agg_group *g,
                         const struct out_opts *o)
{
    buf[0] = '\0';
    FILE *m = fmemopen(buf, len, "w");
    if (!m)
        return;
    const char *sep = "";
    if (g->key) {
        bool program = o->by && !strcmp(o->by, AGG_BY_PROGRAM);
        fprintf(m, "%s=", program ? AGG_BY_EXE : o->by ? o->by : "key");
        label_value(m, g->key);
        if (program && g->label && g->label[0]) {
            fputs(",label=", m);
            label_value(m, g->label);
        }
        sep = ",";
    }
    if (o->host) {
        fprintf(m, "%shost=", sep);
        label_value(m, o->host);
    }
    fputc('\0', m);
    fclose(m);
    buf[len - 1] = '\0';
}

/* How many processes each group counts. */
static void group_processes(FILE *out, const struct agg_group *g, size_t n,
                            char (*labels)[LABELS_MAX])
{
    if (!n)
        return;
    fputs("# HELP mmstats_processes Processes the group's values add up: "
          "running, finished, and those folded into its rollup.\n"
          "# TYPE mmstats_processes gauge\n",
          out);
    for (size_t k = 0; k < n; k++) {
        sample_head(out, "mmstats_processes", "", labels[k], NULL, NULL);
        u64_line(out, g[k].procs);
    }
}

/* What the rollups of each group hold: their processes and time span,
 * the families a rollup has per process (rollup_samples). */
static void group_rollups(FILE *out, const struct agg_group *g, size_t n,
                          char (*labels)[LABELS_MAX])
{
    for (size_t f = 0; f < sizeof rollup_fams / sizeof rollup_fams[0]; f++) {
        bool head = false;
        for (size_t k = 0; k < n; k++) {
            if (!g[k].rollups)
                continue;
            if (!head) {
                rollup_head(out, f);
                head = true;
            }
            sample_head(out, rollup_fams[f].name, "", labels[k], NULL, NULL);
            if (f == 0)
                u64_line(out, g[k].rollup_procs);
            else
                fprintf(out, "%.3f\n",
                        (double)(f == 1 ? g[k].rollup_first_ns
                                        : g[k].rollup_last_ns) /
                            1e9);
        }
    }
}

int out_prom_aggs(FILE *out, const struct agg_group *g, size_t n,
                  const struct out_opts *o)
{
    struct family *fs = NULL;
    char(*labels)[LABELS_MAX] = calloc(n ? n : 1, sizeof *labels);
    int rc = labels ? 0 : -ENOMEM;
    for (size_t k = 0; k < n && rc == 0; k++) {
        group_labels(labels[k], sizeof labels[k], &g[k], o);
        for (size_t i = 0; i < g[k].nfields && rc == 0; i++)
            rc = add_agg_field(&fs, (uint32_t)k, (uint32_t)i, &g[k]);
    }
    for (const struct family *fam = fs; fam && rc == 0; fam = fam->hh.next) {
        family_head(out, fam);
        for (size_t j = 0; j < fam->n; j++) {
            const struct sample *s = &fam->s[j];
            agg_sample(out, fam, s, &g[s->src].fields[s->field], labels[s->src],
                       o);
        }
    }
    if (rc == 0) {
        group_processes(out, g, n, labels);
        group_rollups(out, g, n, labels);
    }
    fams_free(&fs);
    free(labels);
    if (rc < 0)
        return rc;
    return ferror(out) ? -EIO : 0;
}
