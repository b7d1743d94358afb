/* libmmstats public API: a writer that keeps named stats in a per-process
 * memory-mapped file with plain memory stores, and a reader that validates
 * and snapshots such files from any other process.
 *
 * Errors: functions return 0 (or a count) on success and a negative code on
 * failure: a negated errno value or one of MMS_E* below; mms_strerror()
 * names every code. */
#ifndef MMSTATS_H
#define MMSTATS_H

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
#define MMS_EFORMAT (-4001)    /* not a stats file (bad magic) */
#define MMS_EVERSION (-4002)   /* unsupported major version */
#define MMS_EENDIAN (-4003)    /* written with another byte order */
#define MMS_ECORRUPT (-4004)   /* header or descriptors out of bounds */
#define MMS_EINSECURE (-4005)  /* directory or file fails ownership checks */
#define MMS_ENAME (-4006)      /* invalid field name */
#define MMS_EKIND (-4007)      /* name exists with another kind */
#define MMS_EFULL (-4008)      /* no room left for fields in the file */
#define MMS_EBUSY (-4009)      /* value kept changing while being read */
#define MMS_ETRUNCATED (-4010) /* file shorter than its header says */

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
    const char *dir;           /* NULL: $MMSTATS_DIR, else the default */
    const char *file_template; /* NULL: $MMSTATS_FILE, else the default */
    const char *path;          /* exact path; overrides dir and template */
    const char *label;         /* NULL: $MMSTATS_LABEL; {label} and header */
    const char *name;          /* {name} in the template, e.g. a model */
    uint32_t max_fields;       /* 0: 1024 */
    uint32_t string_bytes;     /* 0: 64 KiB, names, units and help text */
    uint32_t global_bytes;     /* 0: 64 KiB, gauges and strings */
    uint32_t shard_bytes;      /* 0: 1 MiB of address space per thread */
    uint32_t max_shards;       /* 0: 64, including the shared shard 0 */
    unsigned flags;            /* MMS_W_* */
    /* Clock for time windows, in ns (NULL: CLOCK_MONOTONIC_COARSE, which
     * readers compare with CLOCK_MONOTONIC). For tests and simulations. */
    int64_t (*clock_ns)(void);
};

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
/* Mark the file finished but keep everything mapped: updates that still
 * happen (other destructors, other threads) land harmlessly. */
MMS_API void mms_writer_finish(mms_writer *w);
MMS_API const char *mms_writer_path(const mms_writer *w);
/* In a forked child: give it a file of its own (same fields; counters and
 * histograms from zero; gauges, strings and statics carried over), mapped
 * where the parent's was, so every handle stays valid. Done automatically
 * at fork() unless the writer has MMS_W_FORK_SHARE or MMS_W_FORK_MANUAL.
 * If it fails, the child's updates go to private memory (nowhere). */
MMS_API int mms_writer_after_fork(mms_writer *w);

/* A member of a struct value. */
struct mms_member {
    const char *name;          /* [A-Za-z0-9_], up to 31 bytes */
    enum mms_member_type type; /* MMS_MEMBER_U64, _I64 or _F64 */
};

struct mms_field_spec {
    const char *name; /* see mms_name_check */
    enum mms_kind kind;
    const char *units;    /* optional, e.g. "bytes", "ns" */
    const char *help;     /* optional one-line description */
    uint32_t capacity;    /* STRING: bytes of text (0: 64);
                             MOVAVG: values averaged (0: 100) */
    unsigned flags;       /* MMS_DF_STATIC; MMS_DF_WINDOW (COUNTER and
                             HISTOGRAM: keep per-second rates for 60 s) */
    uint8_t hist_bits;    /* HISTOGRAM: 2^bits buckets per power of two,
                             1..7 (0: 6, relative error <= 0.78%) */
    uint8_t hist_max_exp; /* HISTOGRAM: values up to 2^max_exp - 1 go in
                             buckets, larger in the overflow (0: 36) */
    uint8_t window_bits;  /* HISTOGRAM with MMS_DF_WINDOW: precision of
                             the per-second histograms (0: 3) */
    const struct mms_member *members; /* STRUCT: the members, in order */
    uint32_t nmembers;                /* STRUCT: 1..32 */
};

#define MMS_HIST_DEFAULT_BITS 6     /* relative error <= 2^-7 = 0.78% */
#define MMS_HIST_DEFAULT_MAX_EXP 36 /* 2^36 ns = 68.7 s */
#define MMS_WINDOW_DEFAULT_BITS 3   /* relative error <= 6.25% */
#define MMS_MOVAVG_DEFAULT_N 100

/* Add a field, or return the existing field of that name and kind
 * (MMS_EKIND if it exists with another kind). Any thread, any time. */
MMS_API int mms_field_add(mms_writer *w, const struct mms_field_spec *spec,
                          mms_field **out);
MMS_API mms_field *mms_field_find(mms_writer *w, const char *name);

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
/* Static values: written once, at creation. */
MMS_API int mms_static_i64(mms_writer *w, const char *name, const char *units,
                           int64_t value);
MMS_API int mms_static_str(mms_writer *w, const char *name, const char *value);

/* Updates: no locks, no system calls (a thread's first update of a writer
 * takes a shard: one madvise). A NULL field is a no-op, so a program whose
 * stats setup failed runs on. The field's kind must match the call. */
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

/* Add field PREFIX.NAME (or NAME) of KIND with FLAGS: what the
 * declarative models of <mmstats/model.h> call for each member. */
MMS_API int mms_model_add(mms_writer *w, const char *prefix, const char *name,
                          enum mms_kind kind, unsigned flags, const char *units,
                          const char *help, mms_field **out);

/* Record V in a histogram (or timer: V in ns). */
MMS_API void mms_hist_record(mms_field *f, uint64_t v);
/* Set all members of a struct value at once: VALUES holds one 8-byte
 * value per member, in order (uint64_t, int64_t or double by type).
 * Readers see either the old or the new set, never a mix. Concurrent
 * setters: one wins, as for strings. */
MMS_API void mms_struct_set(mms_field *f, const void *values);
/* Add a value to a moving average (the mean of the last N values). */
MMS_API void mms_movavg_add(mms_field *f, double v);

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

/* A histogram in memory (a reader's merged view, or one built with
 * mms_hist_init + mms_hist_add_value). min and max are 0 when empty. */
struct mms_hist {
    uint8_t bits, max_exp;
    uint32_t nbuckets;
    uint64_t count, sum, min, max;
    uint64_t *buckets;
};

MMS_API uint32_t mms_hist_nbuckets(unsigned bits, unsigned max_exp);
MMS_API uint32_t mms_hist_index(uint64_t v, unsigned bits, unsigned max_exp);
/* Smallest and largest value of bucket I (the overflow bucket's high is
 * UINT64_MAX). */
MMS_API uint64_t mms_hist_bucket_low(uint32_t i, unsigned bits,
                                     unsigned max_exp);
MMS_API uint64_t mms_hist_bucket_high(uint32_t i, unsigned bits,
                                      unsigned max_exp);
MMS_API int mms_hist_init(struct mms_hist *h, unsigned bits, unsigned max_exp);
MMS_API void mms_hist_free(struct mms_hist *h);
MMS_API void mms_hist_add_value(struct mms_hist *h, uint64_t v);
/* Nearest-rank quantile, Q in [0, 1]; 0 for an empty histogram. */
MMS_API double mms_hist_quantile(const struct mms_hist *h, double q);
MMS_API double mms_hist_mean(const struct mms_hist *h);
/* INTO += FROM (same bits and max_exp, else MMS_EKIND). */
MMS_API int mms_hist_merge(struct mms_hist *into, const struct mms_hist *from);
/* OUT = NOW - BEFORE: the values recorded between two snapshots. OUT is
 * initialised here; free it with mms_hist_free. */
MMS_API int mms_hist_sub(struct mms_hist *out, const struct mms_hist *now,
                         const struct mms_hist *before);

/* --------------------------------------------------------------- reader */

typedef struct mms_reader mms_reader;
typedef struct mms_snapshot mms_snapshot;

struct mms_proc_info {
    uint16_t major, minor;
    enum mms_state state;
    int32_t pid, ppid;
    uint32_t uid, gid;
    uint64_t start_ticks;
    int64_t created_ns, finished_ns;
    uint64_t file_size;
    uint64_t layout_gen;
    uint32_t shard_cap, shards_used, shards_active;
    uint64_t threads_seen;
    char exe[MMS_EXE_LEN + 1];
    char label[MMS_LABEL_LEN + 1];
    char host[MMS_HOST_LEN + 1];
    char cmdline[MMS_CMDLINE_LEN + 1]; /* args separated by spaces */
};

struct mms_field_info {
    const char *name;
    const char *units; /* "" when none */
    const char *help;  /* "" when none */
    enum mms_kind kind;
    unsigned flags; /* MMS_DF_* */
    uint32_t value_size;
    uint32_t index; /* position in the descriptor table */
    uint8_t hist_bits, hist_max_exp, window_bits; /* HISTOGRAM */
    uint32_t n; /* STRUCT: members; MOVAVG: values averaged */
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
    int status; /* 0, or MMS_EBUSY when a seqlocked value kept changing */
    union {
        uint64_t u64; /* COUNTER (the total, windowed or not) */
        int64_t i64;  /* GAUGE */
        double f64;   /* GAUGE_F64 */
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

/* Liveness of the process that wrote a file. */
enum mms_liveness {
    MMS_LIVE_RUNNING = 0,    /* pid exists with the recorded start time */
    MMS_LIVE_FINISHED = 1,   /* the writer marked the file finished */
    MMS_LIVE_DEAD = 2,       /* no such pid: stale */
    MMS_LIVE_PID_REUSED = 3, /* pid exists, other start time: stale */
};

/* Open and validate PATH (untrusted input: every offset, size and string is
 * bounds-checked; a bad file gives an error code, never a crash). */
MMS_API int mms_reader_open(mms_reader **out, const char *path);
/* Open the newest file in DIR (NULL: mms_default_dir) written by PID. */
MMS_API int mms_reader_open_pid(mms_reader **out, const char *dir, pid_t pid);
MMS_API void mms_reader_close(mms_reader *r);
MMS_API const char *mms_reader_path(const mms_reader *r);
MMS_API int mms_reader_info(mms_reader *r, struct mms_proc_info *out);
MMS_API int mms_reader_liveness(mms_reader *r);
/* Pick up fields added since the last call: 1 if the layout grew, 0 if
 * not, negative on error. Field infos already returned stay valid. */
MMS_API int mms_reader_refresh(mms_reader *r);
MMS_API size_t mms_reader_nfields(const mms_reader *r);
MMS_API const struct mms_field_info *mms_reader_field(const mms_reader *r,
                                                      size_t i);

/* Read every field: counters summed over shards, seqlocked values retried
 * a bounded number of times. The snapshot must be freed before R closes. */
MMS_API int mms_snapshot_take(mms_reader *r, mms_snapshot **out);
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

/* Index of NAME in S, or -1. */
MMS_API long mms_snapshot_find(const mms_snapshot *s, const char *name);
/* CLOCK_MONOTONIC and CLOCK_REALTIME ns when S was taken. */
MMS_API int64_t mms_snapshot_mono_ns(const mms_snapshot *s);
MMS_API int64_t mms_snapshot_real_ns(const mms_snapshot *s);

MMS_API const char *mms_kind_name(enum mms_kind kind);

#ifdef __cplusplus
}
#endif

#include <mmstats/model.h>

#endif /* MMSTATS_H */
