/* The per-thread view of one process (mmstat-read --threads, the
 * exporter's process page): the shim's calls, errors, bytes and time per
 * thread and per family, like pidstat -t. A thread is a shard of the
 * file (docs/format.md 9.1): its tid and name are the SHARD block's; the
 * values of threads that exited were moved to shard 0, shown as one
 * "(exited threads)" row together with the threads that found no shard
 * of their own. */
#ifndef MMS_TOOLS_THREADS_H
#define MMS_TOOLS_THREADS_H

#include "calls.h"
#include "common.h"

struct jw;

/* A call's or a family's values in one row. */
struct thread_vals {
    uint64_t calls, errors, bytes, time_ns;
};

struct thread_row {
    bool exited;    /* the "(exited threads)" row */
    uint32_t shard; /* 0 for the exited row */
    int32_t tid;    /* 0: unknown */
    char name[17];  /* control bytes shown as '?' */
    int64_t start_ns, end_ns;
    struct thread_vals *call; /* [ncalls], as the view's calls */
    struct thread_vals *fam;  /* [nfam] */
    struct thread_vals total;
};

struct thread_view {
    struct calls calls;
    char (*fam)[32]; /* family names, in the order they first appear */
    size_t nfam;
    size_t *call_fam;        /* [calls.n]: the family of each call */
    struct thread_row *rows; /* live threads by tid, then the exited row */
    size_t nrows;
};

/* The view of snapshot S (taken with MMS_SNAP_SHARDS): 0, -ENOMEM or
 * -EINVAL (no per-shard values). */
int threads_view(struct thread_view *v, const mms_snapshot *s);
void threads_view_free(struct thread_view *v);

/* Text: one line per thread and family with calls, and each thread's
 * total when it used more than one family. RAW: exact numbers. */
int threads_text(FILE *f, const struct thread_view *v, bool raw);
/* JSON: an array "threads" (KEY) of objects (tid, name, state, start_ns,
 * end_ns, total, families, calls) inside the current object. */
void threads_json(struct jw *w, const char *key, const struct thread_view *v);

/* The JSON document of one process's views (mmstat-read --threads
 * --json, the exporter's /api/v1/processes/PID/threads): opens
 * {"mmstats_json", "processes": [{pid, exe, path, liveness of R, ...;
 * the caller adds its views, then threads_doc_end closes it. */
void threads_doc_begin(struct jw *w, FILE *f, mms_reader *r);
void threads_doc_end(struct jw *w);

#endif
