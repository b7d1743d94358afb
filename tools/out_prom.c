/* The Prometheus text exposition format 0.0.4: every field becomes a
 * metric family "mmstats_<name>" (dots and invalid bytes as '_'), with
 * HELP and TYPE once per family and one sample per process (labels pid,
 * exe, label and, if the caller gives one, host) or per aggregate group.
 * Counters get "_total", strings become "_info" gauges with the value as
 * a label, histograms become Prometheus histograms with cumulative
 * buckets at powers of two (at most OUT_PROM_MAX_BUCKETS of them, then
 * "+Inf"). Times in "ns" are exported in seconds ("_seconds"), and
 * "bytes" get a "_bytes" suffix. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "json.h"
#include "out.h"

#define OUT_PROM_MAX_BUCKETS 40

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
                              enum ptype type, const char *help, double scale)
{
    char full[600];
    snprintf(full, sizeof full, "%s%s", name, type_suffix(type));
    struct family *f;
    HASH_FIND_STR(*fs, full, f);
    if (f)
        return f->type == type && f->scale == scale ? f : NULL;
    if (!(f = calloc(1, sizeof *f)))
        return NULL;
    f->name = strdup(name);
    f->full = strdup(full);
    f->help = strdup(help);
    f->type = type;
    f->scale = scale;
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
     * the same name would make a duplicate series. */
    if (f->n && f->s[f->n - 1].src == s.src)
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

static void print_num(FILE *f, double v)
{
    char buf[40];
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", f);
    else
        fputs(json_double(buf, sizeof buf, v), f);
}

static void print_u64(FILE *f, uint64_t v, double scale)
{
    if (scale == 1)
        fprintf(f, "%" PRIu64, v);
    else
        print_num(f, (double)v / scale);
}

/* S escaped for a label value (QUOTE: escape '"' too) or a HELP text,
 * with invalid UTF-8 as U+FFFD: the format wants UTF-8. */
static void escaped(FILE *f, const char *str, bool quote)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        int n = utf8_seq_len(s);
        if (*s == '\\' || (quote && *s == '"')) {
            fputc('\\', f);
            fputc(*s, f);
        } else if (*s == '\n') {
            fputs("\\n", f);
        } else if (n == 0) {
            fputs("\xef\xbf\xbd", f);
            n = 1;
        } else {
            fwrite(s, 1, (size_t)n, f);
        }
        s += n ? n : 1;
    }
}

static void label_value(FILE *f, const char *s)
{
    fputc('"', f);
    escaped(f, s, true);
    fputc('"', f);
}

static void help_line(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s ", name);
    escaped(f, help, false);
    fputc('\n', f);
}

/* A sample line: NAME SUFFIX {LABELS, EXTRA} — the value follows. */
static void sample_head(FILE *f, const char *name, const char *suffix,
                        const char *labels, const char *extra_key,
                        const char *extra_val)
{
    fprintf(f, "%s%s", name, suffix);
    if (!labels[0] && !extra_key) {
        fputc(' ', f);
        return;
    }
    fprintf(f, "{%s", labels);
    if (extra_key) {
        fprintf(f, "%s%s=", labels[0] ? "," : "", extra_key);
        label_value(f, extra_val);
    }
    fputs("} ", f);
}

/* The "le" of bound 2^K - 1 divided by SCALE. The shortest exact form
 * of a double takes a few printf and strtod calls: kept per thread for
 * the last scale, as a scrape prints the same bounds thousands of times. */
static const char *le_text(char *buf, size_t len, unsigned k, double scale)
{
    static _Thread_local double cached_scale;
    static _Thread_local uint64_t cached; /* bit K: text[K] is valid */
    static _Thread_local char text[64][32];
    uint64_t bound = (k >= 64 ? UINT64_MAX : ((uint64_t)1 << k) - 1);
    if (scale == 1) {
        snprintf(buf, len, "%" PRIu64, bound);
        return buf;
    }
    if (k >= 64)
        return json_double(buf, len, (double)bound / scale);
    if (scale != cached_scale) {
        cached_scale = scale;
        cached = 0;
    }
    if (!(cached & ((uint64_t)1 << k))) {
        json_double(text[k], sizeof text[k], (double)bound / scale);
        cached |= (uint64_t)1 << k;
    }
    return text[k];
}

/* A histogram's samples, with buckets merged to powers of two. */
static void hist_samples(FILE *f, const char *name, const char *labels,
                         const struct mms_hist *h, double scale)
{
    unsigned top = h->max_exp;
    unsigned step = (top + OUT_PROM_MAX_BUCKETS) / OUT_PROM_MAX_BUCKETS;
    unsigned first = top % step;
    uint64_t cum = 0;
    uint32_t i = 0;
    char le[48];
    for (unsigned k = first; k <= top; k += step) {
        /* Values are integers: "<= 2^k - 1" is exactly "below 2^k", and
         * no bucket straddles a power of two. So every bucket before the
         * one holding 2^k counts: a jump there, then the exact test. */
        uint64_t bound = (k >= 64 ? UINT64_MAX : ((uint64_t)1 << k) - 1);
        uint32_t end = h->nbuckets - 1;
        if (bound < UINT64_MAX) {
            uint32_t at = mms_hist_index(bound + 1, h->bits, h->max_exp);
            end = at < end ? at : end;
        }
        while (i < end)
            cum += h->buckets[i++];
        while (i + 1 < h->nbuckets &&
               mms_hist_bucket_high(i, h->bits, h->max_exp) <= bound)
            cum += h->buckets[i++];
        sample_head(f, name, "_bucket", labels, "le",
                    le_text(le, sizeof le, k, scale));
        fprintf(f, "%" PRIu64 "\n", cum);
    }
    while (i < h->nbuckets)
        cum += h->buckets[i++];
    sample_head(f, name, "_bucket", labels, "le", "+Inf");
    fprintf(f, "%" PRIu64 "\n", cum);
    sample_head(f, name, "_sum", labels, NULL, NULL);
    print_u64(f, h->sum, scale);
    fputc('\n', f);
    sample_head(f, name, "_count", labels, NULL, NULL);
    fprintf(f, "%" PRIu64 "\n", cum);
}

static void family_head(FILE *f, const struct family *fam)
{
    help_line(f, fam->full, fam->help);
    fprintf(f, "# TYPE %s %s\n", fam->full, ptype_name[fam->type]);
}

/* ------------------------------------------------------------ processes */

/* Room for every label at its longest: exe, label and host of 64 bytes,
 * each invalid byte escaped as 3. */
#define LABELS_MAX 1024

struct psrc {
    char labels[LABELS_MAX];
    bool skip;
};

static void proc_labels(struct psrc *ps, mms_reader *r, const char *host)
{
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
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
    if (host) {
        fputs(",host=", m);
        label_value(m, host);
    }
    fputc('\0', m);
    fclose(m);
    p[len - 1] = '\0';
}

static int add_proc_field(struct family **fs, uint32_t src, uint32_t i,
                          const struct mms_field_info *fi)
{
    char name[512], help[512];
    double scale;
    enum ptype type = ptype_of(fi->kind);
    if (type == P_NONE)
        return 0;
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
            fam_get(fs, name, member ? P_GAUGE : type, help, scale);
        struct sample smp = {src, i, member ? (int32_t)m : SUB_VALUE, 0};
        if (f && fam_add(f, smp) < 0)
            return -ENOMEM;
    }
    return 0;
}

static void proc_sample(FILE *out, const struct family *fam,
                        const struct sample *s, const mms_snapshot *snap,
                        const char *labels)
{
    const struct mms_value *v = mms_snapshot_value(snap, s->field);
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
        hist_samples(out, fam->name, labels, v->v.hist, fam->scale);
        return;
    default:
        return;
    }
    fputc('\n', out);
}

/* What each rollup holds: its processes and their time span. */
static void rollup_samples(FILE *out, const struct out_proc *p, size_t n,
                           const struct psrc *ps)
{
    static const struct {
        const char *name, *help;
    } fams[] = {
        {"mmstats_rollup_processes", "processes folded into the rollup"},
        {"mmstats_rollup_first_start_seconds",
         "start of the earliest process folded in, seconds since the epoch"},
        {"mmstats_rollup_last_finish_seconds",
         "finish of the latest process folded in, seconds since the epoch"},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        bool head = false;
        for (size_t k = 0; k < n; k++) {
            struct mms_proc_info pi;
            if (ps[k].skip || mms_reader_info(p[k].reader, &pi) < 0 ||
                !(pi.flags & MMS_HF_ROLLUP))
                continue;
            if (!head) {
                fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", fams[f].name,
                        fams[f].help, fams[f].name);
                head = true;
            }
            if (f == 0)
                fprintf(out, "%s{%s} %" PRIu64 "\n", fams[f].name, ps[k].labels,
                        pi.fold_procs);
            else
                fprintf(out, "%s{%s} %.3f\n", fams[f].name, ps[k].labels,
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
        proc_labels(&ps[k], p[k].reader, o->host);
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
                rc = add_proc_field(&fs, (uint32_t)k, (uint32_t)i, fi);
        }
    }
    for (const struct family *fam = fs; fam && rc == 0; fam = fam->hh.next) {
        family_head(out, fam);
        for (size_t j = 0; j < fam->n; j++) {
            const struct sample *s = &fam->s[j];
            proc_sample(out, fam, s, p[s->src].snap, ps[s->src].labels);
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

static int add_agg_field(struct family **fs, uint32_t src, uint32_t i,
                         const struct agg_field *af)
{
    char name[512], help[512];
    double scale;
    enum ptype type = ptype_of(af->kind);
    if (type == P_NONE)
        return 0;
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
                struct family *f = fam_get(fs, name, P_GAUGE, help, scale);
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
    struct family *f = fam_get(fs, name, type, help, scale);
    if (f && fam_add(f, (struct sample){src, i, SUB_VALUE, 0}) < 0)
        return -ENOMEM;
    return 0;
}

static void agg_sample(FILE *out, const struct family *fam,
                       const struct sample *s, const struct agg_field *af,
                       const char *labels)
{
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
        hist_samples(out, fam->name, labels, &af->hist, fam->scale);
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

int out_prom_aggs(FILE *out, const struct agg_group *g, size_t n,
                  const struct out_opts *o)
{
    struct family *fs = NULL;
    char(*labels)[LABELS_MAX] = calloc(n ? n : 1, sizeof *labels);
    int rc = labels ? 0 : -ENOMEM;
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (g[k].key || o->host) {
            FILE *m = fmemopen(labels[k], sizeof labels[k], "w");
            if (m) {
                if (g[k].key) {
                    fprintf(m, "%s=", o->by ? o->by : "key");
                    label_value(m, g[k].key);
                }
                if (o->host) {
                    fputs(g[k].key ? ",host=" : "host=", m);
                    label_value(m, o->host);
                }
                fputc('\0', m);
                fclose(m);
                labels[k][sizeof labels[k] - 1] = '\0';
            }
        }
        for (size_t i = 0; i < g[k].nfields && rc == 0; i++)
            rc = add_agg_field(&fs, (uint32_t)k, (uint32_t)i, &g[k].fields[i]);
    }
    for (const struct family *fam = fs; fam && rc == 0; fam = fam->hh.next) {
        family_head(out, fam);
        for (size_t j = 0; j < fam->n; j++) {
            const struct sample *s = &fam->s[j];
            agg_sample(out, fam, s, &g[s->src].fields[s->field],
                       labels[s->src]);
        }
    }
    fams_free(&fs);
    free(labels);
    if (rc < 0)
        return rc;
    return ferror(out) ? -EIO : 0;
}
