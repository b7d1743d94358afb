/* The per-file view (files.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "files.h"
#include "json.h"

/* NOLINTBEGIN(bugprone-macro-parentheses): names and tokens, not values */
static const char *const member_name[FV_NALL] = {
#define FV_NAME(m, kind, units) [FV_##m] = #m,
    MMS_PRELOAD_FILES_MEMBERS(FV_NAME) MMS_PRELOAD_META_MEMBERS(FV_NAME)
#undef FV_NAME
};
static const uint8_t member_kind[FV_NALL] = {
#define FV_KIND(m, kind, units) [FV_##m] = MMS_MK_##kind,
    MMS_PRELOAD_FILES_MEMBERS(FV_KIND) MMS_PRELOAD_META_MEMBERS(FV_KIND)
#undef FV_KIND
};
static const char *const member_units[FV_NALL] = {
#define FV_UNITS(m, kind, units) [FV_##m] = units,
    MMS_PRELOAD_FILES_MEMBERS(FV_UNITS) MMS_PRELOAD_META_MEMBERS(FV_UNITS)
#undef FV_UNITS
};
/* NOLINTEND(bugprone-macro-parentheses) */

struct entry {
    size_t row;
    UT_hash_handle hh;
    char key[]; /* NUL-terminated */
};

/* ------------------------------------------------------------ loading */

static int find_table(const mms_snapshot *s, const char *name, size_t *t)
{
    for (size_t i = 0; i < mms_snapshot_ntables(s); i++)
        if (!strcmp(mms_snapshot_table(s, i)->name, name)) {
            *t = i;
            return 0;
        }
    return -ENOENT;
}

static uint64_t field_u64(const mms_snapshot *s, const char *name)
{
    size_t i;
    if (mms_snapshot_find(s, name, &i) < 0)
        return 0;
    const struct mms_value *v = mms_snapshot_value(s, i);
    return v->kind == MMS_KIND_GAUGE ? (uint64_t)v->v.i64 : v->v.u64;
}

/* The row of KEY (LEN bytes), made if new. */
static struct file_row *row_of(struct file_view *v, const void *key, size_t len,
                               bool other)
{
    struct entry *e = NULL, *idx = v->index;
    char *k = malloc(len + 1);
    if (!k)
        return NULL;
    memcpy(k, key, len);
    k[len] = '\0';
    /* A key with a NUL inside cannot be a path: shown up to it. */
    len = strlen(k);
    HASH_FIND(hh, idx, k, len, e);
    if (e) {
        free(k);
        return &v->rows[e->row];
    }
    struct file_row *rows = realloc(v->rows, (v->n + 1) * sizeof *rows);
    e = malloc(sizeof *e + len + 1);
    if (!rows || !e) {
        if (rows)
            v->rows = rows;
        free(e);
        free(k);
        return NULL;
    }
    v->rows = rows;
    memcpy(e->key, k, len + 1);
    e->row = v->n;
    HASH_ADD(hh, idx, key[0], len, e);
    v->index = idx;
    struct file_row *r = &v->rows[v->n++];
    memset(r, 0, sizeof *r);
    r->key = k;
    r->other = other;
    return r;
}

/* Merge the value (X, ARG) of member M into ROW, by the member's rule. */
static void merge(struct file_row *row, unsigned m, uint64_t x, uint64_t arg)
{
    switch (member_kind[m]) {
    case MMS_MK_SUM:
        row->v[m] += x;
        break;
    case MMS_MK_MAX:
        if (x > row->v[m])
            row->v[m] = x;
        break;
    case MMS_MK_MIN:
        if (x && (!row->v[m] || x < row->v[m]))
            row->v[m] = x;
        break;
    case MMS_MK_MAXARG:
        if (x > row->v[m]) {
            row->v[m] = x;
            row->arg[m] = arg;
        }
        break;
    default:
        break;
    }
}

/* Table T's records into V: members matched by name (a member this
 * version does not know is left out). */
static int add_table(struct file_view *v, const mms_snapshot *s, size_t t)
{
    const struct mms_table_info *ti = mms_snapshot_table(s, t);
    int map[64];
    for (uint32_t k = 0; k < ti->nmembers && k < 64; k++) {
        map[k] = -1;
        for (unsigned m = 0; m < FV_NALL; m++)
            if (!strcmp(ti->members[k].name, member_name[m]) &&
                ti->members[k].kind == member_kind[m])
                map[k] = (int)m;
    }
    for (size_t i = 0; i < mms_snapshot_nrecords(s, t); i++) {
        const struct mms_record_info *ri = mms_snapshot_record(s, t, i);
        struct file_row *row = row_of(v, ri->key, ri->key_len, ri->overflow);
        if (!row)
            return -ENOMEM;
        for (uint32_t k = 0; k < ti->nmembers && k < 64; k++)
            if (map[k] >= 0)
                merge(row, (unsigned)map[k], ri->m[k].v.u64, ri->m[k].arg);
    }
    return 0;
}

/* The figures of ROW computed from its members. */
static void derive(struct file_row *r)
{
    r->reads = r->writes = 0;
    for (unsigned b = 0; b < 10; b++) {
        r->reads += r->v[FV_read_0_100 + b];
        r->writes += r->v[FV_write_0_100 + b];
    }
    r->bytes = r->v[FV_bytes_read] + r->v[FV_bytes_written];
    r->ops = r->reads + r->writes + r->v[FV_opens] + r->v[FV_closes] +
             r->v[FV_seeks] + r->v[FV_stats] + r->v[FV_fsyncs] +
             r->v[FV_fdatasyncs] + r->v[FV_mmaps] + r->v[FV_renamed_from];
    r->time_ns = r->v[FV_read_time] + r->v[FV_write_time] + r->v[FV_meta_time];
    uint64_t acc = r->reads + r->writes;
    r->seq_pct = acc ? 100.0 *
                           (double)(r->v[FV_seq_reads] + r->v[FV_seq_writes]) /
                           (double)acc
                     : -1;
    r->common = r->common_n = 0;
    for (unsigned k = 0; k < 4; k++)
        if (r->v[FV_access1 + k] > r->common_n) {
            r->common_n = r->v[FV_access1 + k];
            r->common = r->arg[FV_access1 + k];
        }
}

int file_view_add(struct file_view *v, const mms_snapshot *s)
{
    size_t ta = 0, tm = 0;
    bool a = find_table(s, MMS_PRELOAD_FILES, &ta) == 0;
    bool m = find_table(s, MMS_PRELOAD_FILES_META, &tm) == 0;
    if (!a && !m)
        return 0;
    v->present = true;
    int rc = 0;
    if (a) {
        uint32_t nrec;
        uint64_t hits;
        mms_snapshot_table_counts(s, ta, &nrec, &hits);
        v->nrecords += nrec;
        v->overflow_hits += hits;
        uint64_t cap = mms_snapshot_table(s, ta)->capacity;
        if (cap > v->capacity)
            v->capacity = cap;
        rc = add_table(v, s, ta);
    }
    if (m && rc == 0)
        rc = add_table(v, s, tm);
    v->other_files += field_u64(s, MMS_PRELOAD_FILES_OTHER);
    v->untracked += field_u64(s, MMS_PRELOAD_FILES_UNTRACKED);
    v->excluded += field_u64(s, MMS_PRELOAD_FILES_EXCLUDED);
    uint64_t al = field_u64(s, MMS_PRELOAD_FILES_ALIGNMENT);
    if (al)
        v->alignment = al;
    for (size_t i = 0; i < v->n; i++)
        derive(&v->rows[i]);
    return rc;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? 1 : a > b ? -1 : 0;
}

/* qsort_r's comparison: the exporter sorts in several threads at once,
 * so the order comes through ARG, not a global. */
static int row_cmp(const void *pa, const void *pb, void *arg)
{
    const struct file_row *a = pa, *b = pb;
    enum file_sort sort_by = *(const enum file_sort *)arg;
    if (a->other != b->other)
        return a->other ? 1 : -1; /* (other) last */
    int c = 0;
    switch (sort_by) {
    case FSORT_BYTES:
        c = cmp_u64(a->bytes, b->bytes);
        break;
    case FSORT_TIME:
        c = cmp_u64(a->time_ns, b->time_ns);
        break;
    case FSORT_OPS:
        c = cmp_u64(a->ops, b->ops);
        break;
    case FSORT_NAME:
        break;
    }
    return c ? c : strcmp(a->key, b->key);
}

void file_view_sort(struct file_view *v, enum file_sort by)
{
    if (v->n > 1)
        qsort_r(v->rows, v->n, sizeof *v->rows, row_cmp, &by);
    /* The index points at rows by position: set it again. */
    struct entry *idx = v->index;
    for (size_t i = 0; i < v->n; i++) {
        struct entry *e = NULL;
        HASH_FIND(hh, idx, v->rows[i].key, strlen(v->rows[i].key), e);
        if (e)
            e->row = i;
    }
}

void file_view_free(struct file_view *v)
{
    struct entry *idx = v->index, *e, *tmp;
    /* uthash's own deletion loop (TMP holds the next entry before the
     * free), which the analyzer cannot follow through the macros. */
    // NOLINTBEGIN(clang-analyzer-unix.Malloc)
    HASH_ITER(hh, idx, e, tmp)
    {
        HASH_DEL(idx, e);
        free(e);
    }
    // NOLINTEND(clang-analyzer-unix.Malloc)
    for (size_t i = 0; i < v->n; i++)
        free(v->rows[i].key);
    free(v->rows);
    memset(v, 0, sizeof *v);
}

int file_sort_parse(const char *s, enum file_sort *out)
{
    static const char *const names[] = {"bytes", "time", "ops", "name"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (enum file_sort)i;
            return 0;
        }
    return -1;
}

/* --------------------------------------------------------------- text */

static const char *num(char *buf, size_t len, uint64_t n, bool raw)
{
    if (raw || n < 100000)
        snprintf(buf, len, "%" PRIu64, n);
    else if (n < 100000000)
        snprintf(buf, len, "%.1fk", (double)n / 1e3);
    else
        snprintf(buf, len, "%.1fM", (double)n / 1e6);
    return buf;
}

static const char *bytes(char *buf, size_t len, uint64_t n, bool raw)
{
    if (raw)
        snprintf(buf, len, "%" PRIu64, n);
    else
        fmt_bytes(buf, len, n);
    return buf;
}

int files_text(FILE *f, const struct file_view *v, size_t limit, bool raw)
{
    if (!v->present) {
        fprintf(f, "no per-file records (the shim's files family was off, "
                   "or no file was opened)\n");
        return ferror(f) ? -EIO : 0;
    }
    fprintf(f, "%-40s %6s %8s %8s %8s %8s %8s %5s %s\n", "FILE", "OPENS",
            "READS", "WRITES", "READ", "WRITTEN", "TIME", "SEQ%", "COMMON");
    size_t shown = 0;
    for (size_t i = 0; i < v->n; i++) {
        const struct file_row *r = &v->rows[i];
        if (r->other && !r->ops && !r->bytes)
            continue;
        if (limit && shown == limit && !r->other)
            continue;
        shown += !r->other;
        char b[6][32], seq[16], common[80];
        if (r->seq_pct < 0)
            snprintf(seq, sizeof seq, "-");
        else
            snprintf(seq, sizeof seq, "%.0f", r->seq_pct);
        if (r->common_n)
            snprintf(common, sizeof common, "%s x%s",
                     bytes(b[5], sizeof b[5], r->common, raw),
                     num(b[4], sizeof b[4], r->common_n, raw));
        else
            snprintf(common, sizeof common, "-");
        char t[32];
        if (!r->time_ns)
            snprintf(t, sizeof t, "-");
        else if (raw)
            snprintf(t, sizeof t, "%" PRIu64, r->time_ns);
        else
            fmt_ns(t, sizeof t, (double)r->time_ns);
        fputs(r->other ? "(other)" : "", f);
        if (!r->other)
            print_safe(f, r->key);
        int pad = 40 - (int)strlen(r->other ? "(other)" : r->key);
        fprintf(f, "%*s %6s %8s %8s %8s %8s %8s %5s %s\n", pad > 0 ? pad : 0,
                "", num(b[0], sizeof b[0], r->v[FV_opens], raw),
                num(b[1], sizeof b[1], r->reads, raw),
                num(b[2], sizeof b[2], r->writes, raw),
                bytes(b[3], sizeof b[3], r->v[FV_bytes_read], raw),
                bytes(b[4], sizeof b[4], r->v[FV_bytes_written], raw), t, seq,
                common);
    }
    size_t files = 0;
    for (size_t i = 0; i < v->n; i++)
        files += !v->rows[i].other;
    fprintf(f, "%zu file%s with a record", files, files == 1 ? "" : "s");
    if (limit && files > limit)
        fprintf(f, " (%zu shown)", limit);
    if (v->other_files)
        fprintf(f,
                "; (other): %" PRIu64 " more file%s (the table holds %" PRIu64
                ")",
                v->other_files, v->other_files == 1 ? "" : "s", v->capacity);
    if (v->untracked || v->excluded)
        fprintf(f,
                "; opens without a record: %" PRIu64 " excluded, %" PRIu64
                " untracked",
                v->excluded, v->untracked);
    fputc('\n', f);
    return ferror(f) ? -EIO : 0;
}

/* --------------------------------------------------------------- JSON */

static void row_json(struct jw *w, const struct file_row *r)
{
    jw_obj(w, NULL);
    jw_str(w, "key", r->other ? "(other)" : r->key);
    jw_bool(w, "other", r->other);
    jw_u64(w, "reads", r->reads);
    jw_u64(w, "writes", r->writes);
    jw_u64(w, "bytes", r->bytes);
    jw_u64(w, "ops", r->ops);
    jw_u64(w, "time_ns", r->time_ns);
    if (r->seq_pct < 0)
        jw_null(w, "seq_pct");
    else
        jw_f64(w, "seq_pct", r->seq_pct);
    jw_obj(w, "members");
    for (unsigned m = 0; m < FV_NALL; m++) {
        if (member_kind[m] == MMS_MK_MAXARG) {
            jw_arr(w, member_name[m], true);
            jw_u64(w, NULL, r->v[m]);
            /* strides may be negative (a seek back) */
            if (m >= FV_stride1 && m <= FV_stride4)
                jw_i64(w, NULL, (int64_t)r->arg[m]);
            else
                jw_u64(w, NULL, r->arg[m]);
            jw_end_arr(w);
        } else {
            jw_u64(w, member_name[m], r->v[m]);
        }
    }
    jw_end_obj(w);
    jw_end_obj(w);
}

void files_json(struct jw *w, const char *key, const struct file_view *v,
                size_t limit)
{
    jw_obj(w, key);
    jw_u64(w, "capacity", v->capacity);
    jw_u64(w, "nrecords", v->nrecords);
    jw_u64(w, "overflow_hits", v->overflow_hits);
    jw_u64(w, "other_files", v->other_files);
    jw_u64(w, "untracked", v->untracked);
    jw_u64(w, "excluded", v->excluded);
    jw_u64(w, "alignment", v->alignment);
    jw_obj(w, "units");
    for (unsigned m = 0; m < FV_NALL; m++)
        jw_str(w, member_name[m], member_units[m]);
    jw_end_obj(w);
    jw_arr(w, "records", false);
    size_t shown = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (limit && shown == limit && !v->rows[i].other)
            continue;
        shown += !v->rows[i].other;
        row_json(w, &v->rows[i]);
    }
    jw_end_arr(w);
    jw_end_obj(w);
}
