/* mmstat-top's model: the processes of a stats directory with a reader
 * kept open each, and per process, between two snapshots, the rates of
 * the preload shim's calls (calls, errors and bytes per second, the
 * slowest call's p99 latency) and its live memory; sorted by a key, with
 * a filter. The views are in mmstat-top.c. */
#ifndef MMS_TOOLS_TOP_H
#define MMS_TOOLS_TOP_H

#include <sys/types.h>

#include "calls.h"

enum top_sort {
    TOP_SORT_CALLS,
    TOP_SORT_ERRORS,
    TOP_SORT_BYTES,
    TOP_SORT_P99,
    TOP_SORT_MEM,
    TOP_SORT_PID,
    TOP_SORT_NAME,
    TOP_NSORT
};
/* "calls", "errors", ...: the names --sort takes. */
extern const char *const top_sort_names[TOP_NSORT];

struct top_proc {
    char *path;
    dev_t dev;
    ino_t ino;
    mms_reader *r;
    struct mms_proc_info pi;
    int liveness;
    mms_snapshot *prev, *cur; /* the last two snapshots (prev may be NULL) */
    struct calls calls;       /* the shim's calls, by field */
    long live_field;          /* mem.live_bytes, or -1 */
    bool seen;                /* still in the directory at the last sync */
    /* Between prev and cur: */
    double secs;    /* 0: no interval yet */
    bool has_calls; /* the shim's fields are there */
    double calls_s, errors_s, bytes_s;
    double p99;        /* the slowest call's, ns; 0: no latency */
    char slowest[100]; /* "family.call" of it */
    bool has_live;
    int64_t live;
};

struct top {
    const char *dir;
    struct top_proc **v;
    size_t n;
    unsigned failed; /* files that could not be read at the last sync */
    bool dir_missing;
};

/* Open the files of T->dir that are new, drop those gone or replaced,
 * take a new snapshot of each (the old one becomes prev) and compute the
 * rates. 0 or a negative errno (-ENOMEM). */
int top_update(struct top *t);
void top_free(struct top *t);

/* Which processes to show and how. */
struct top_select {
    bool all;                      /* finished and stale ones too */
    const struct filters *filters; /* on exe or label; none: all */
    const long *pids;              /* only these (npids 0: any) */
    size_t npids;
    enum top_sort sort;
};

/* The processes of T to show, in order: an array of pointers into T
 * (free it with free), its length in *N. NULL with *N 0 on ENOMEM. */
struct top_proc **top_select(const struct top *t, const struct top_select *s,
                             size_t *n);

/* The process of T with PID (the running one, else the newest), or NULL. */
struct top_proc *top_find(const struct top *t, long pid);

#endif
