/* libmmstats public API: a writer that keeps named stats in a per-process
 * memory-mapped file with plain memory stores, and a reader that validates
 * and snapshots such files from any other process.
 *
 * Errors: functions return 0 (or a count) on success and a negative code on
 * failure: a negated errno value or one of MMS_E* below; mms_strerror()
 * names every code. */
#ifndef MMSTATS_H
#define MMSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mmstats/format.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MMS_BUILDING_LIBRARY)
#define MMS_API __attribute__((visibility("default")))
#else
#define MMS_API
#endif

#define MMS_VERSION_STRING "0.1.0"

/* Error codes of our own; everything else is a negated errno. */
#define MMS_EFORMAT (-4001)     /* not a stats file (bad magic) */
#define MMS_EVERSION (-4002)    /* unsupported major version */
#define MMS_EENDIAN (-4003)     /* written with another byte order */
#define MMS_ECORRUPT (-4004)    /* a header field or block out of bounds */
#define MMS_EINSECURE (-4005)   /* directory or file fails ownership checks */
#define MMS_ENAME (-4006)       /* invalid field name */
#define MMS_EKIND (-4007)       /* name exists with another kind */
#define MMS_EFULL (-4008)       /* no room left (indices, space, limits) */
#define MMS_EBUSY (-4009)       /* value kept changing while being read */
#define MMS_ETRUNCATED (-4010)  /* file shorter than its header says */
#define MMS_EOLDVERSION (-4011) /* a version 2 file: an older mmstats's */
#define MMS_ENOENT (-4012)      /* no field (or table) of that name */

MMS_API const char *mms_strerror(int code);

/* ---------------------------------------------------------------- names */

/* 0 if NAME is a valid field name: 1..MMS_NAME_MAX bytes of dot-separated
 * non-empty segments of [A-Za-z0-9_], starting with a letter or '_'. */
MMS_API int mms_name_check(const char *name);

/* --------------------------------------------------------------- writer */

typedef struct mms_writer mms_writer;
typedef struct mms_field mms_field;

#define MMS_W_NO_ENV 0x1u          /* ignore MMSTATS_* environment variables */
#define MMS_W_REMOVE_AT_CLOSE 0x2u /* unlink the file in mms_writer_close */
#define MMS_W_NO_ATEXIT 0x4u       /* do not mark finished at exit() */
#define MMS_W_FORK_SHARE                                                       \
    0x8u /* a forked child writes to this file too                             \
            (e.g. pre-forked workers); default:                                \
            the child gets a file of its own */
#define MMS_W_FORK_MANUAL                                                      \
    0x10u /* the child calls mms_writer_after_fork                             \
             itself (the preload shim does) */

struct mms_writer_options {
    const char *dir;            /* NULL: $MMSTATS_DIR, else the default */
    const char *file_template;  /* NULL: $MMSTATS_FILE, else the default */
    const char *path;           /* exact path; overrides dir and template */
    const char *label;          /* NULL: $MMSTATS_LABEL; {label} and header */
    const char *name;           /* {name} in the template, e.g. a model */
    uint32_t max_fields;        /* 0: 65536; indices for fields, tables and
                                   records together (at most 2^24) */
    uint32_t max_shards;        /* 0: 65536 shard ids (threads alive at once,
                                   shard 0 included; at most 2^20); threads
                                   beyond share shard 0 (atomic adds) */
    uint32_t initial_size;      /* 0: 16 KiB, the file's size at creation */
    uint32_t max_size;          /* 0: as large as offsets allow (4 GiB, or 4096
                                   extents); the file never grows past it */
    uint32_t extent_size;       /* 0: 1 MiB, or 256 KiB when RLIMIT_AS is
                                   finite: address space mapped at a time */
    uint32_t msync_interval_ms; /* 0: never; else msync the file at most
                                   this often, from slow paths and at
                                   finish (docs/api.md, "Durability") */
    unsigned flags;             /* MMS_W_* */
    /* Clock for time windows, in ns (NULL: CLOCK_MONOTONIC_COARSE, which
     * readers compare with CLOCK_MONOTONIC). For tests and simulations. */
    int64_t (*clock_ns)(void);
    /* What becomes of the file once the process is gone (docs/api.md,
     * "Rollups"): an enum mms_keep; 0: $MMSTATS_KEEP, else
     * MMS_KEEP_AUTO. */
    unsigned keep;
    /* MMS_KEEP_AUTO: a process that finished after living this long keeps
     * its file (0: $MMSTATS_KEEP_AFTER, else MMS_KEEP_AFTER_DEFAULT_MS). */
    uint32_t keep_after_ms;
    /* The rollup group's template (NULL: $MMSTATS_GROUP, else "{exe}", or
     * "{exe}-{label}" with a label); placeholders as file_template's. */
    const char *group;
};

#define MMS_KEEP_AFTER_DEFAULT_MS 60000u
/* "all", "rollup", "none", "auto" -> enum mms_keep, or -EINVAL. */
MMS_API int mms_keep_parse(const char *s);
/* The word of an enum mms_keep ("all" for 0); "unknown" else. */
MMS_API const char *mms_keep_name(unsigned keep);

/* Default template: "{exe}-{pid}.mmstats"; with a label,
 * "{exe}-{label}-{pid}.mmstats"; with a name (a model's),
 * "{exe}-{name}-{pid}.mmstats"; with both, "{exe}-{name}-{label}-{pid}...".
 * Placeholders: {exe} {pid} {host} {label} {name}. */
#define MMS_DEFAULT_TEMPLATE "{exe}-{pid}.mmstats"
#define MMS_DEFAULT_TEMPLATE_LABEL "{exe}-{label}-{pid}.mmstats"
#define MMS_DEFAULT_TEMPLATE_NAME "{exe}-{name}-{pid}.mmstats"
#define MMS_DEFAULT_TEMPLATE_NAME_LABEL "{exe}-{name}-{label}-{pid}.mmstats"

MMS_API void mms_writer_options_init(struct mms_writer_options *o);

/* Create the stats file and map it. O may be NULL for all defaults. */
MMS_API int mms_writer_open(mms_writer **out,
                            const struct mms_writer_options *o);
/* Mark the file finished, unmap it and free W. No update may run on W's
 * fields, in any thread, during or after this call. */
MMS_API int mms_writer_close(mms_writer *w);
/* Mark the file finished (and msync it if asked to) but keep everything
 * mapped: updates that still happen (other destructors, other threads)
 * land harmlessly. */
MMS_API void mms_writer_finish(mms_writer *w);
/* The file's path (absolute when the directory was given relative), or
 * NULL for a NULL writer. */
MMS_API const char *mms_writer_path(const mms_writer *w);
/* In a forked child: give it a file of its own (same fields; counters and
 * histograms from zero; gauges, strings and statics carried over), mapped
 * where the parent's was, so every handle stays valid. Done automatically
 * at fork() unless the writer has MMS_W_FORK_SHARE or MMS_W_FORK_MANUAL.
 * If it fails, the child's updates go to private memory (nowhere). */
MMS_API int mms_writer_after_fork(mms_writer *w);
/* Write the file's dirty pages to disk now (msync MS_SYNC): for stats
 * directories on disk that must survive a machine crash. Never needed
 * for readers, which see every update at once. */
MMS_API int mms_writer_sync(mms_writer *w);

/* A member of a struct value. */
struct mms_member {
    const char *name;          /* [A-Za-z0-9_], up to 31 bytes */
    enum mms_member_type type; /* MMS_MEMBER_U64, _I64 or _F64 */
};

struct mms_field_spec {
    const char *name; /* see mms_name_check */
    enum mms_kind kind;
    enum mms_type type;   /* SCALAR: the value's type */
    const char *units;    /* optional, e.g. "bytes", "ns" */
    const char *help;     /* optional one-line description */
    uint32_t capacity;    /* STRING: bytes of text (0: 64);
                             MOVAVG: values averaged (0: 100) */
    unsigned flags;       /* MMS_DF_STATIC; MMS_DF_GAUGE_SUM (COUNTER: a
                             gauge kept per thread, read as the sum);
                             MMS_DF_WINDOW (COUNTER and
                             HISTOGRAM: keep per-second rates for 60 s);
                             MMS_DF_RING_BLOCK (COUNTER with WINDOW:
                             a cell's ring made on its second second,
                             32-byte cells instead of 1032) */
    uint8_t hist_bits;    /* HISTOGRAM: 2^bits buckets per power of two,
                             1..7 (0: 6, relative error <= 0.78%) */
    uint8_t hist_max_exp; /* HISTOGRAM: values up to 2^max_exp - 1 go in
                             buckets, larger in the overflow (0: 36) */
    uint8_t window_bits;  /* HISTOGRAM with MMS_DF_WINDOW: precision of
                             the per-second histograms (0: 3) */
    uint32_t nmembers;    /* STRUCT: 1..32 */
    const struct mms_member *members; /* STRUCT: the members, in order */
};

#define MMS_HIST_DEFAULT_BITS 6     /* relative error <= 2^-7 = 0.78% */
#define MMS_HIST_DEFAULT_MAX_EXP 36 /* 2^36 ns = 68.7 s */
#define MMS_WINDOW_DEFAULT_BITS 3   /* relative error <= 6.25% */
#define MMS_MOVAVG_DEFAULT_N 100

/* Add a field, or return the existing field of that name and kind
 * (MMS_EKIND if it exists with another kind). Any thread, any time but
 * inside a signal handler; may grow the file (a system call). */
MMS_API int mms_field_add(mms_writer *w, const struct mms_field_spec *spec,
                          mms_field **out);
/* The field named NAME: 0 with *OUT set, or MMS_ENOENT (*OUT NULL). */
MMS_API int mms_field_find(mms_writer *w, const char *name, mms_field **out);

/* Shorthands for mms_field_add. */
MMS_API int mms_counter_new(mms_writer *w, const char *name, const char *units,
                            mms_field **out);
MMS_API int mms_gauge_new(mms_writer *w, const char *name, const char *units,
                          mms_field **out);
MMS_API int mms_gauge_f64_new(mms_writer *w, const char *name,
                              const char *units, mms_field **out);
MMS_API int mms_string_new(mms_writer *w, const char *name, uint32_t capacity,
                           mms_field **out);
/* A histogram of default precision; a timer is a histogram in ns. */
MMS_API int mms_hist_new(mms_writer *w, const char *name, const char *units,
                         mms_field **out);
MMS_API int mms_timer_new(mms_writer *w, const char *name, mms_field **out);
MMS_API int mms_struct_new(mms_writer *w, const char *name,
                           const struct mms_member *members, uint32_t n,
                           mms_field **out);
MMS_API int mms_movavg_new(mms_writer *w, const char *name, const char *units,
                           uint32_t n, mms_field **out);
/* A SCALAR of TYPE (kind 8): bool, fixed-width integers, f32 (and i64,
 * f64, though mms_gauge_new and mms_gauge_f64_new are the usual way to
 * those). */
MMS_API int mms_scalar_new(mms_writer *w, const char *name, enum mms_type type,
                           const char *units, mms_field **out);

/* Static values: written once, at creation, never changed. */
MMS_API int mms_static_i64(mms_writer *w, const char *name, const char *units,
                           int64_t value);
MMS_API int mms_static_f64(mms_writer *w, const char *name, const char *units,
                           double value);
MMS_API int mms_static_str(mms_writer *w, const char *name, const char *value);
/* A static SCALAR of TYPE holding V (converted as a C cast would). */
MMS_API int mms_static_scalar(mms_writer *w, const char *name,
                              enum mms_type type, const char *units, double v);

/* Updates: no locks, no system calls; a thread's first update of a field
 * takes space prepared ahead (see docs/api.md, "What an update costs").
 * A NULL field is a no-op, so a program whose stats setup failed runs on.
 * The field's kind must match the call (else the call does nothing). */
MMS_API void mms_counter_add(mms_field *f, uint64_t n);
MMS_API void mms_counter_inc(mms_field *f);
MMS_API void mms_gauge_set(mms_field *f, int64_t v);
MMS_API void mms_gauge_add(mms_field *f, int64_t delta);
MMS_API void mms_gauge_set_f64(mms_field *f, double v);
MMS_API void mms_gauge_add_f64(mms_field *f, double delta);
/* Truncated to the field's capacity. Concurrent setters of one string:
 * one of them wins, the others' values are dropped, never mixed. */
MMS_API void mms_string_set(mms_field *f, const char *s);
MMS_API void mms_string_setn(mms_field *f, const char *s, size_t len);
/* Set or add to a SCALAR (any type; GAUGE and GAUGE_F64 too), converted to
 * the field's type as a C cast would (integers wrap; a bool is v != 0). */
MMS_API void mms_scalar_set_i64(mms_field *f, int64_t v);
MMS_API void mms_scalar_set_u64(mms_field *f, uint64_t v);
MMS_API void mms_scalar_set_f64(mms_field *f, double v);
MMS_API void mms_scalar_add_i64(mms_field *f, int64_t d);
MMS_API void mms_scalar_add_f64(mms_field *f, double d);

/* The original mmstats's field types, one family per type T (C type C):
 *   int  mms_T_new(w, name, units, &f);    a SCALAR of that type
 *   void mms_T_set(f, C v);
 *   void mms_T_add(f, C d);                 (not for bool)
 *   int  mms_static_T(w, name, units, C v);
 * i64 and f64 are the gauges above (mms_gauge_new, mms_static_i64...). */
#define MMS_SCALAR_TYPES(X)                                                    \
    X(bool, MMS_TYPE_BOOL, bool)                                               \
    X(i8, MMS_TYPE_I8, int8_t)                                                 \
    X(i16, MMS_TYPE_I16, int16_t)                                              \
    X(i32, MMS_TYPE_I32, int32_t)                                              \
    X(u8, MMS_TYPE_U8, uint8_t)                                                \
    X(u16, MMS_TYPE_U16, uint16_t)                                             \
    X(u32, MMS_TYPE_U32, uint32_t)                                             \
    X(u64, MMS_TYPE_U64, uint64_t)                                             \
    X(f32, MMS_TYPE_F32, float)
#define MMS__SCALAR_DECL(t, code, ctype)                                       \
    MMS_API int mms_##t##_new(mms_writer *w, const char *name,                 \
                              const char *units, mms_field **out);             \
    MMS_API void mms_##t##_set(mms_field *f, ctype v);                         \
    MMS_API void mms_##t##_add(mms_field *f, ctype d);                         \
    MMS_API int mms_static_##t(mms_writer *w, const char *name,                \
                               const char *units, ctype v);
MMS_SCALAR_TYPES(MMS__SCALAR_DECL)
#undef MMS__SCALAR_DECL

/* Add field PREFIX.NAME (or NAME) of KIND (and TYPE, for SCALAR; else 0)
 * with FLAGS: what the declarative models of <mmstats/model.h> call for
 * each member. */
MMS_API int mms_model_add(mms_writer *w, const char *prefix, const char *name,
                          enum mms_kind kind, enum mms_type type,
                          unsigned flags, const char *units, const char *help,
                          mms_field **out);

/* Record V in a histogram (or timer: V in ns). */
MMS_API void mms_hist_record(mms_field *f, uint64_t v);
/* Set all members of a struct value at once: VALUES holds one 8-byte
 * value per member, in order (uint64_t, int64_t or double by type).
 * Readers see either the old or the new set, never a mix. Concurrent
 * setters: one wins, as for strings. */
MMS_API void mms_struct_set(mms_field *f, const void *values);
/* Add a value to a moving average (the mean of the last N values). */
MMS_API void mms_movavg_add(mms_field *f, double v);

/* ------------------------------------------------------- keyed tables */

/* A bounded table of records keyed by a byte string (a path, an address,
 * a stack), each with the same members, inserted without locks; when it
 * is full, new keys go to its overflow record "(other)". */
typedef struct mms_table mms_table;

/* The members' order is the public API's (an array of a few is a table's
 * schema, copied into the file): its padding does not matter. */
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding)
struct mms_table_member {
    const char *name;          /* [A-Za-z0-9_], up to 31 bytes */
    enum mms_member_kind kind; /* MMS_MK_* */
    const char *units;         /* optional, up to 15 bytes */
    uint8_t hist_bits;         /* MMS_MK_HIST: as mms_field_spec's */
    uint8_t hist_max_exp;
};

struct mms_table_spec {
    const char *name;  /* a field name; fields and tables share names */
    const char *help;  /* optional */
    uint32_t capacity; /* records, the overflow record included; 0: 1024 */
    enum mms_key_type key_type; /* how readers show keys */
    uint16_t key_max;           /* longest key, bytes (0: 4096); longer keys are
                                   truncated */
    const struct mms_table_member *members;
    uint32_t nmembers; /* 1..32 */
};

/* Add a table (or return the existing one of that name and schema). */
MMS_API int mms_table_new(mms_writer *w, const struct mms_table_spec *spec,
                          mms_table **out);
/* The record of KEY (LEN bytes) in T, inserted if new: 0 with *REC set;
 * 1 with *REC the overflow record when T is full (or has no room: the
 * file could not grow); negative on bad arguments. No lock, no system
 * call while the prepared space lasts; async-signal-safe. */
MMS_API int mms_record_get(mms_table *t, const void *key, size_t len,
                           uint32_t *rec);
/* Update member MEMBER (its position in the spec) of record REC for this
 * thread, by the member's kind: SUM/SUM_I64 add V, MAX/MIN raise/lower to
 * V, HIST records V, MAXARG raises to V with argument 0. */
MMS_API void mms_record_update(mms_table *t, uint32_t rec, unsigned member,
                               uint64_t v);
/* MAXARG: raise to V, keeping ARG with the largest V (read together). */
MMS_API void mms_record_maxarg(mms_table *t, uint32_t rec, unsigned member,
                               uint64_t v, uint64_t arg);

/* Timers: CLOCK_MONOTONIC ns around a region.
 *   mms_timer t = mms_timer_start(latency); ...; mms_timer_stop(&t);
 * or, as the C counterpart of a context manager, with the time recorded
 * however the block is left (break, return, goto):
 *   MMS_TIME_SCOPE(latency) { ... } */
typedef struct mms_timer {
    mms_field *field;
    uint64_t start_ns;
} mms_timer;
MMS_API uint64_t mms_now_ns(void);
static inline mms_timer mms_timer_start(mms_field *f)
{
    mms_timer t = {f, mms_now_ns()};
    return t;
}
MMS_API void mms_timer_stop(mms_timer *t);

struct mms__scope {
    mms_timer t;
    int once;
};
static inline void mms__scope_end(struct mms__scope *s)
{
    mms_timer_stop(&s->t);
}
#define MMS__CAT2(a, b) a##b
#define MMS__CAT(a, b) MMS__CAT2(a, b)
#define MMS_TIME_SCOPE(field) MMS__TIME_SCOPE(field, __COUNTER__)
#define MMS__TIME_SCOPE(field, n)                                              \
    for (struct mms__scope MMS__CAT(mms__sc_, n) __attribute__((               \
             cleanup(mms__scope_end))) = {mms_timer_start(field), 1};          \
         MMS__CAT(mms__sc_, n).once; MMS__CAT(mms__sc_, n).once = 0)

/* --------------------------------------------------------- directories */

/* Stats files end in MMS_FILE_SUFFIX; a writer creates one under a
 * temporary name MMS_TMP_PREFIX<pid>-<n>MMS_TMP_SUFFIX and renames it once
 * it is ready. Names starting with '.' are never stats files. */
#define MMS_FILE_SUFFIX ".mmstats"
#define MMS_TMP_PREFIX ".mmstats-"
#define MMS_TMP_SUFFIX ".tmp"

/* 1 if NAME (a file name, no directory) is a stats file's name, else 0. */
MMS_API int mms_is_stats_name(const char *name);
/* The pid in a temporary file's NAME (".mmstats-<pid>-<n>.tmp"), or 0 if
 * NAME is not one. */
MMS_API pid_t mms_tmp_name_pid(const char *name);

/* The start time of process PID in clock ticks since boot
 * (/proc/PID/stat field 22): 0, -ESRCH if there is no such process, or
 * another negative errno. Liveness checks compare it with the header's. */
MMS_API int mms_pid_start_ticks(pid_t pid, uint64_t *ticks);

/* The directory stats files go to: $MMSTATS_DIR if set, else
 * $XDG_RUNTIME_DIR/mmstats if XDG_RUNTIME_DIR is usable, else
 * /tmp/mmstats-<uid>. Writes a NUL-terminated path into BUF. */
MMS_API int mms_default_dir(char *buf, size_t len);
/* 0 if DIR is a real directory (not a symlink) owned by the effective uid
 * and not writable by group or others; MMS_EINSECURE or -errno if not. */
MMS_API int mms_dir_check(const char *dir);

/* ------------------------------------------------------- histogram math */

/* One non-empty bucket of a sparse histogram. */
struct mms_hist_bucket {
    uint32_t index;
    uint64_t count;
};

/* A histogram in memory (a reader's merged view, or one built with
 * mms_hist_init + mms_hist_add_value). min and max are 0 when empty.
 * Dense (mms_hist_init, merges, windows, differences): BUCKETS holds all
 * NBUCKETS counts. Sparse (a snapshot's HISTOGRAM values: a 10,000-field
 * file's dense buckets would be 16 MB, of which a few KB are used):
 * BUCKETS is NULL and USED holds the NUSED non-empty buckets, index
 * ascending. mms_hist_next and mms_hist_bucket read either. */
struct mms_hist {
    uint8_t bits, max_exp;
    uint32_t nbuckets;
    uint64_t count, sum, min, max;
    uint64_t *buckets;
    uint32_t nused;
    const struct mms_hist_bucket *used;
};

/* The next non-empty bucket of H at or after position *POS (start at 0):
 * true with its INDEX and COUNT, *POS moved past it; false at the end. */
static inline bool mms_hist_next(const struct mms_hist *h, uint32_t *pos,
                                 uint32_t *index, uint64_t *count)
{
    if (!h->buckets) {
        if (*pos >= h->nused)
            return false;
        *index = h->used[*pos].index;
        *count = h->used[*pos].count;
        ++*pos;
        return true;
    }
    for (uint32_t i = *pos; i < h->nbuckets; i++) {
        if (h->buckets[i]) {
            *index = i;
            *count = h->buckets[i];
            *pos = i + 1;
            return true;
        }
    }
    *pos = h->nbuckets;
    return false;
}

MMS_API uint32_t mms_hist_nbuckets(unsigned bits, unsigned max_exp);
MMS_API uint32_t mms_hist_index(uint64_t v, unsigned bits, unsigned max_exp);
/* Smallest and largest value of bucket I (the overflow bucket's high is
 * UINT64_MAX). */
MMS_API uint64_t mms_hist_bucket_low(uint32_t i, unsigned bits,
                                     unsigned max_exp);
MMS_API uint64_t mms_hist_bucket_high(uint32_t i, unsigned bits,
                                      unsigned max_exp);
/* Bucket I's count, dense or sparse (a binary search); 0 past the end. */
MMS_API uint64_t mms_hist_bucket(const struct mms_hist *h, uint32_t i);
MMS_API int mms_hist_init(struct mms_hist *h, unsigned bits, unsigned max_exp);
MMS_API void mms_hist_free(struct mms_hist *h);
MMS_API void mms_hist_add_value(struct mms_hist *h, uint64_t v);
/* Nearest-rank quantile, Q in [0, 1]; 0 for an empty histogram. */
MMS_API double mms_hist_quantile(const struct mms_hist *h, double q);
/* The N quantiles Q[] into OUT[], in one pass over the buckets (the same
 * values as mms_hist_quantile; Q in any order, N at most
 * MMS_HIST_QUANTILES_MAX in one pass, more cost a pass each). */
#define MMS_HIST_QUANTILES_MAX 16
MMS_API void mms_hist_quantiles(const struct mms_hist *h, const double *q,
                                size_t n, double *out);
MMS_API double mms_hist_mean(const struct mms_hist *h);
/* INTO += FROM (same bits and max_exp, else MMS_EKIND; INTO dense, FROM
 * either). */
MMS_API int mms_hist_merge(struct mms_hist *into, const struct mms_hist *from);
/* OUT = NOW - BEFORE: the values recorded between two snapshots (either
 * dense or sparse). OUT is initialised here, dense; free it with
 * mms_hist_free. */
MMS_API int mms_hist_sub(struct mms_hist *out, const struct mms_hist *now,
                         const struct mms_hist *before);

/* --------------------------------------------------------------- reader */

typedef struct mms_reader mms_reader;
typedef struct mms_snapshot mms_snapshot;

struct mms_proc_info {
    uint16_t major, minor;
    enum mms_state state;
    uint32_t flags; /* MMS_HF_* */
    int32_t pid, ppid;
    uint32_t uid, gid;
    uint64_t start_ticks;
    int64_t created_ns, finished_ns;
    uint64_t file_size;  /* bytes prepared (the file's size) */
    uint64_t heap_used;  /* bytes of blocks */
    uint64_t layout_gen; /* the header's publish_gen: changes when blocks
                            are added */
    uint32_t shard_cap;  /* shard_limit */
    uint32_t shards_used, shards_active; /* SHARD blocks; owned ones */
    uint64_t threads_seen, threads_shared, dropped;
    uint32_t next_index, extent_size;
    /* identity (docs/format.md section 14) */
    uint64_t pidns_dev, pidns_ino;
    uint32_t nspid_count;
    int32_t nspid[MMS_NSPID_MAX];
    uint8_t boot_id[16];
    char cgroup[MMS_CGROUP_LEN];
    /* rollups (section 15) */
    uint64_t fold_procs;
    int64_t fold_first_ns, fold_last_ns;
    char group[MMS_GROUP_LEN + 1];
    char fold_pending[MMS_FOLD_NAME_LEN];
    char fold_done[MMS_FOLD_NAME_LEN];
    char exe[MMS_EXE_LEN + 1];
    char label[MMS_LABEL_LEN + 1];
    char host[MMS_HOST_LEN + 1];
    char cmdline[MMS_CMDLINE_LEN + 1]; /* args separated by spaces */
    unsigned keep;                     /* enum mms_keep; 0: not said (kept) */
    uint32_t keep_after_ms;            /* MMS_KEEP_AUTO's threshold */
};

struct mms_field_info {
    const char *name;
    const char *units; /* "" when none */
    const char *help;  /* "" when none */
    enum mms_kind kind;
    unsigned flags;      /* MMS_DF_* */
    uint32_t value_size; /* bytes of the value (sharded: of one cell) */
    uint32_t index;      /* the field's index in the file */
    uint8_t hist_bits, hist_max_exp, window_bits; /* HISTOGRAM */
    enum mms_type type; /* SCALAR: the value's type; else 0 */
    uint32_t n;         /* STRUCT: members; MOVAVG: values averaged */
    const struct mms_member *members; /* STRUCT: names and types */
};

struct mms_member_value {
    const char *name;
    enum mms_member_type type;
    union {
        uint64_t u64;
        int64_t i64;
        double f64;
    } v;
};

struct mms_value {
    enum mms_kind kind;
    int status; /* 0, or MMS_EBUSY when a seqlocked value kept changing
                   (or a move to shard 0 kept overlapping the read), or
                   MMS_ECORRUPT when a cell referred to a bad chunk */
    union {
        uint64_t u64; /* COUNTER (the total); SCALAR of unsigned type or
                         BOOL (0 or 1) */
        int64_t i64;  /* GAUGE; SCALAR of signed type */
        double f64;   /* GAUGE_F64; SCALAR of type F32 or F64 */
        struct {
            const char *ptr; /* NUL-terminated, owned by the snapshot */
            uint32_t len;
        } str;                       /* STRING */
        const struct mms_hist *hist; /* HISTOGRAM: merged over shards */
        struct {
            uint32_t n;
            const struct mms_member_value *m;
        } st; /* STRUCT */
        struct {
            double mean;     /* of the last min(count, window) values */
            double last;     /* the newest value */
            uint64_t count;  /* values ever added */
            uint32_t window; /* N */
        } avg;               /* MOVAVG */
    } v;
};

/* A time window of a field with MMS_DF_WINDOW: the last SECONDS complete
 * seconds before the snapshot. */
struct mms_window {
    unsigned seconds;
    uint64_t count;       /* COUNTER: sum of increments; HISTOGRAM: values */
    uint64_t sum;         /* HISTOGRAM: sum of values */
    double rate;          /* count per second */
    double mean;          /* HISTOGRAM: sum / count */
    struct mms_hist hist; /* HISTOGRAM: the window's values, at the
                             field's window precision */
};

/* Liveness of the process that wrote a file (docs/format.md section 14). */
enum mms_liveness {
    MMS_LIVE_RUNNING = 0,    /* the process runs */
    MMS_LIVE_FINISHED = 1,   /* the writer marked the file finished */
    MMS_LIVE_DEAD = 2,       /* no such process: stale */
    MMS_LIVE_PID_REUSED = 3, /* pid exists, other start time: stale */
    MMS_LIVE_UNKNOWN = 4,    /* another pid namespace this reader cannot
                                see: never treat as dead */
};

/* Open and validate PATH (untrusted input: every offset, size and string is
 * bounds-checked; a bad file gives an error code, never a crash; a file
 * truncated while it is read gives MMS_ETRUNCATED). */
MMS_API int mms_reader_open(mms_reader **out, const char *path);
/* Open the newest file in DIR (NULL: mms_default_dir) written by PID. */
MMS_API int mms_reader_open_pid(mms_reader **out, const char *dir, pid_t pid);
MMS_API void mms_reader_close(mms_reader *r);
MMS_API const char *mms_reader_path(const mms_reader *r);
/* The header: who wrote the file, its state and counters. */
MMS_API int mms_reader_info(mms_reader *r, struct mms_proc_info *out);
/* A MMS_LIVE_* value, or a negative error. */
MMS_API int mms_reader_liveness(mms_reader *r);
/* Pick up blocks added since the last call: 1 if fields or tables were
 * added, 0 if not, negative on error. Field infos already returned stay
 * valid. */
MMS_API int mms_reader_refresh(mms_reader *r);
MMS_API size_t mms_reader_nfields(const mms_reader *r);
MMS_API const struct mms_field_info *mms_reader_field(const mms_reader *r,
                                                      size_t i);

/* Read every field and table: sharded values summed (merged) over their
 * cells, seqlocked values retried a bounded number of times. The snapshot
 * must be freed before R closes. */
MMS_API int mms_snapshot_take(mms_reader *r, mms_snapshot **out);
/* The same, with FLAGS: MMS_SNAP_SHARDS also keeps each shard's values
 * (mms_snapshot_shard_value). */
#define MMS_SNAP_SHARDS 0x1u
MMS_API int mms_snapshot_take_flags(mms_reader *r, unsigned flags,
                                    mms_snapshot **out);
MMS_API void mms_snapshot_free(mms_snapshot *s);
MMS_API size_t mms_snapshot_nfields(const mms_snapshot *s);
MMS_API const struct mms_field_info *mms_snapshot_field(const mms_snapshot *s,
                                                        size_t i);
MMS_API const struct mms_value *mms_snapshot_value(const mms_snapshot *s,
                                                   size_t i);
/* The last SECONDS (1..60) complete seconds of field I before the
 * snapshot was taken (or before NOW_NS, CLOCK_MONOTONIC or the writer's
 * clock). -EINVAL if the field has no window. Free with mms_window_free. */
MMS_API int mms_snapshot_window(const mms_snapshot *s, size_t i,
                                unsigned seconds, struct mms_window *out);
MMS_API int mms_snapshot_window_at(const mms_snapshot *s, size_t i,
                                   unsigned seconds, int64_t now_ns,
                                   struct mms_window *out);
MMS_API void mms_window_free(struct mms_window *w);

/* The position of field NAME in S: 0 with *I set, or MMS_ENOENT. */
MMS_API int mms_snapshot_find(const mms_snapshot *s, const char *name,
                              size_t *i);
/* CLOCK_MONOTONIC and CLOCK_REALTIME ns when S was taken. */
MMS_API int64_t mms_snapshot_mono_ns(const mms_snapshot *s);
MMS_API int64_t mms_snapshot_real_ns(const mms_snapshot *s);

/* Per-thread values: the shards of a snapshot (the threads that have or
 * had a shard of their own, and shard 0, the shared one: threads without
 * a shard and the totals of exited threads). */
struct mms_shard_info {
    uint32_t shard; /* id; 0 is the shared shard */
    enum mms_shard_state state;
    int32_t tid;         /* the owner's thread id (0: unknown) */
    uint64_t generation; /* threads that owned it so far */
    char name[17];       /* the owner's thread name */
    int64_t start_ns;    /* CLOCK_REALTIME when the owner took it */
    int64_t end_ns;      /* when the owner exited; 0 while it runs */
};
/* A field's value in one shard: COUNTER u64; HISTOGRAM count, sum, min,
 * max (no buckets). */
struct mms_shard_value {
    uint64_t u64;
    uint64_t count, sum, min, max;
};
MMS_API size_t mms_snapshot_nshards(const mms_snapshot *s);
MMS_API int mms_snapshot_shard(const mms_snapshot *s, size_t k,
                               struct mms_shard_info *out);
/* Field I's value in shard K (position in the snapshot's shard list): 0,
 * -EINVAL without MMS_SNAP_SHARDS or for an unsharded field. A shard that
 * never wrote the field reads as zero. */
MMS_API int mms_snapshot_shard_value(const mms_snapshot *s, size_t k, size_t i,
                                     struct mms_shard_value *out);

/* Keyed tables of a snapshot: tables, their records (key, members merged
 * over shards). */
struct mms_table_info {
    const char *name;
    const char *help;
    uint32_t index;
    enum mms_key_type key_type;
    uint32_t capacity;
    uint32_t key_max;
    uint32_t nmembers;
    const struct mms_table_member *members; /* name, kind, units, bits */
};
/* A record member's merged value: SUM u64; SUM_I64 i64; MAX u64; MIN u64
 * (0 when none); HIST count, sum, min, max (buckets with
 * mms_snapshot_record_hist); MAXARG u64 (the max) and arg. */
struct mms_record_member {
    union {
        uint64_t u64;
        int64_t i64;
    } v;
    uint64_t arg;                  /* MAXARG */
    uint64_t count, sum, min, max; /* HIST */
};
struct mms_record_info {
    const uint8_t *key; /* key_len bytes, owned by the snapshot */
    uint32_t key_len;
    uint32_t index;
    bool overflow;                     /* the table's "(other)" record */
    int status;                        /* as mms_value.status */
    const struct mms_record_member *m; /* nmembers values */
};
MMS_API size_t mms_snapshot_ntables(const mms_snapshot *s);
MMS_API const struct mms_table_info *mms_snapshot_table(const mms_snapshot *s,
                                                        size_t t);
/* Records inserted (overflow included) and lookups answered with the
 * overflow record because the table was full. */
MMS_API int mms_snapshot_table_counts(const mms_snapshot *s, size_t t,
                                      uint32_t *nrecords,
                                      uint64_t *overflow_hits);
MMS_API size_t mms_snapshot_nrecords(const mms_snapshot *s, size_t t);
MMS_API const struct mms_record_info *mms_snapshot_record(const mms_snapshot *s,
                                                          size_t t, size_t r);
/* Record R's HIST member MEMBER as a full histogram (merged over shards,
 * read again from the file now): initialises OUT; free with
 * mms_hist_free. */
MMS_API int mms_snapshot_record_hist(const mms_snapshot *s, size_t t, size_t r,
                                     unsigned member, struct mms_hist *out);

/* "counter", "gauge", ... "scalar"; "unknown" for other values. */
MMS_API const char *mms_kind_name(enum mms_kind kind);
/* "bool", "i8", ... "f64"; "unknown" for other values. */
MMS_API const char *mms_type_name(enum mms_type type);
/* "sum", "sum_i64", "max", "min", "hist", "maxarg"; "unknown" else. */
MMS_API const char *mms_member_kind_name(enum mms_member_kind kind);

/* ---------------------------------------------------------- merges */

/* A merge: the values of several files added up as one, by field name
 * (and tables by name, records by key). The same rules make a rollup
 * (docs/format.md section 15) and the tools' sums (mmstat-read --sum):
 * counters summed; histograms merged bucket by bucket (count, sum, min,
 * max); record members by their merge rule; gauges, scalars, strings,
 * structs and moving averages take the value of the file that finished
 * last, and keep statistics over the files (num, strs, members). A field
 * of another kind or histogram geometry than the first seen is left out
 * and counted (mismatch). */
typedef struct mms_merge mms_merge;

/* Numbers over files: integers exactly while IS_INT. */
struct mms_merge_num {
    uint32_t n;
    bool is_int;
    int64_t imin, imax, isum;
    double dmin, dmax, dsum;
};
struct mms_merge_str {
    char *s;    /* a distinct value */
    uint32_t n; /* files with it */
};
struct mms_merge_field {
    struct mms_field_info info; /* of the first file seen */
    uint32_t files;             /* files that had it */
    uint64_t procs;    /* processes behind them (a rollup counts its own) */
    uint32_t mismatch; /* files where it had another shape: left out */
    uint32_t busy;     /* values read busy (or corrupt) */
    /* COUNTER: the sum; HISTOGRAM: the merge (v.hist); the others: the
     * value of the file that finished last (strings and members owned by
     * the merge). */
    struct mms_value value;
    int64_t value_ns;                    /* when that file finished */
    struct mms_merge_num num;            /* GAUGE(_F64), SCALAR; MOVAVG means */
    uint64_t avg_count;                  /* MOVAVG: values ever added */
    size_t nstrs;                        /* STRING: distinct values */
    const struct mms_merge_str *strs;    /* in order of first appearance */
    const struct mms_merge_num *members; /* STRUCT: each member */
};
/* The files a merge holds. */
struct mms_merge_info {
    uint32_t files;
    uint64_t procs;            /* a rollup counts the processes it holds */
    int64_t first_ns, last_ns; /* earliest start, latest finish (or read) */
    uint64_t threads_seen, threads_shared, dropped; /* summed */
};
/* A merged table: schema of the first file seen. */
struct mms_merge_table {
    struct mms_table_info info;
    uint32_t files, mismatch;
    uint32_t nrecords;      /* records in the merge, overflow included */
    uint64_t overflow_hits; /* summed */
};

MMS_API int mms_merge_new(mms_merge **out);
MMS_API void mms_merge_free(mms_merge *m);
/* Add snapshot S of R: the fields and tables WANT accepts (NULL: all).
 * A rollup file adds the processes it holds. */
MMS_API int mms_merge_add(mms_merge *m, mms_reader *r, const mms_snapshot *s,
                          bool (*want)(const char *name, void *arg), void *arg);
MMS_API void mms_merge_info(const mms_merge *m, struct mms_merge_info *out);
MMS_API size_t mms_merge_nfields(const mms_merge *m);
/* Field I (in order of first appearance), or NULL. */
MMS_API const struct mms_merge_field *mms_merge_field(const mms_merge *m,
                                                      size_t i);
MMS_API int mms_merge_find(const mms_merge *m, const char *name, size_t *i);
/* The window of field I (MMS_DF_WINDOW) over the merged per-second slots:
 * as mms_snapshot_window_at. */
MMS_API int mms_merge_window_at(const mms_merge *m, size_t i, unsigned seconds,
                                int64_t now_ns, struct mms_window *out);
MMS_API size_t mms_merge_ntables(const mms_merge *m);
MMS_API const struct mms_merge_table *mms_merge_table(const mms_merge *m,
                                                      size_t t);
MMS_API size_t mms_merge_nrecords(const mms_merge *m, size_t t);
/* Record R of table T (index 0, status as read), or NULL. */
MMS_API const struct mms_record_info *mms_merge_record(const mms_merge *m,
                                                       size_t t, size_t r);
/* Its HIST member MEMBER, merged, or NULL. */
MMS_API const struct mms_hist *
mms_merge_record_hist(const mms_merge *m, size_t t, size_t r, unsigned member);

/* ---------------------------------------------------------- rollups */

/* Folding (docs/format.md section 15): the file of a process that is
 * gone goes into the rollup of its group, "<group>@rollup.mmstats" in the
 * same directory, or is removed, or kept, as the policy in its header
 * (mms_writer_options.keep) says. Folds of a directory are serialised by
 * a lock on it, crash-safe and never counted twice. */
#define MMS_ROLLUP_SUFFIX "@rollup" MMS_FILE_SUFFIX

/* What a sweep does with a file. */
enum mms_fate {
    MMS_FATE_LIVE = 0,   /* its process runs, or may (unknown): left alone */
    MMS_FATE_KEEP = 1,   /* gone; its policy keeps it */
    MMS_FATE_FOLD = 2,   /* gone: folded into its group's rollup */
    MMS_FATE_REMOVE = 3, /* gone; its policy removes it */
    MMS_FATE_FOLDED = 4, /* in its rollup already (an interrupted fold):
                            removed */
    MMS_FATE_ROLLUP = 5, /* a rollup: left alone */
};
/* The fate of R's file at NOW_NS (CLOCK_REALTIME): a MMS_FATE_* value,
 * or a negative error. */
MMS_API int mms_reader_fate(mms_reader *r, int64_t now_ns);
/* 1 if R is a file being folded whose values its group's rollup holds
 * already (a reader adding up a directory must skip it), 0 if not. */
MMS_API int mms_reader_folded(mms_reader *r);
/* The rollup file name of GROUP: "<group>@rollup.mmstats". */
MMS_API int mms_rollup_name(const char *group, char *buf, size_t len);

#define MMS_FOLD_NOWAIT                                                        \
    0x1u                      /* another fold runs in the directory: return    \
                                 MMS_EBUSY at once instead of waiting */
#define MMS_FOLD_DRY_RUN 0x2u /* decide and report, change nothing */
#define MMS_FOLD_GONE                                                          \
    0x4u /* mms_fold_file: the caller knows the process                        \
            is gone (a parked exec image) */
#define MMS_FOLD_ALL                                                           \
    0x8u /* fold the file of every process gone whatever its policy (but       \
            none: removed), e.g. to add up a directory kept whole */

/* One file a sweep looked at: its name, fate, what was done (0, or the
 * error), and the rollup it went to (FOLD). */
struct mms_fold_event {
    const char *name;
    enum mms_fate fate;
    int liveness; /* MMS_LIVE_* of the file's process */
    int error;
    const char *rollup;
    const struct mms_proc_info *info;
};
typedef void (*mms_fold_report_fn)(const struct mms_fold_event *e, void *arg);

/* Fold the file NAME of DIR into its group's rollup now, whatever its
 * policy, if its process is gone (or with MMS_FOLD_GONE): 0, MMS_EBUSY
 * (NOWAIT, or the process runs), or a negative error. */
MMS_API int mms_fold_file(const char *dir, const char *name, unsigned flags);
/* Sweep DIR (NULL: mms_default_dir): complete interrupted folds, then
 * fold or remove each file whose process is gone as its policy says.
 * REPORT (may be NULL) hears of every stats file but rollups. Returns
 * the number of files folded or removed, or a negative error (MMS_EBUSY
 * with MMS_FOLD_NOWAIT when another sweep runs). */
MMS_API int mms_fold_dir(const char *dir, unsigned flags,
                         mms_fold_report_fn report, void *arg);

#ifdef __cplusplus
}
#endif

#include <mmstats/model.h>

#endif /* MMSTATS_H */
