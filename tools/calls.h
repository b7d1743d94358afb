/* The preload shim's per-call fields in a snapshot, grouped by call:
 * "<family>.<call>.calls", ".errors", ".bytes" and ".latency"
 * (<mmstats/preload.h>), found by name, so the tools need no list of
 * hooked calls. Field indices are stable for a reader (fields only
 * grow): a table made from one snapshot serves the next ones, and
 * calls_index tells when it must be made again. */
#ifndef MMS_TOOLS_CALLS_H
#define MMS_TOOLS_CALLS_H

#include "common.h"

struct call_index {
    char family[32], call[64];
    long calls, errors, bytes, latency; /* field indices; -1: none */
};

struct calls {
    struct call_index *v;
    size_t n;
    size_t nfields; /* fields of the snapshot it was made from */
};

/* The calls of S into C (emptied first): 0 or -ENOMEM. */
int calls_index(struct calls *c, const mms_snapshot *s);
void calls_free(struct calls *c);

/* One call between two snapshots of a reader (BEFORE NULL: since start). */
struct call_delta {
    const struct call_index *ci;
    uint64_t calls, errors, bytes; /* increments */
    bool has_bytes, has_latency;
    uint64_t calls_total;
    double p50, p99; /* of the interval's latencies, ns; 0: none */
};

/* The increments of call CI from BEFORE to NOW. */
void call_delta(struct call_delta *d, const struct call_index *ci,
                const mms_snapshot *now, const mms_snapshot *before);

/* The counter at I of NOW minus BEFORE's (a smaller value: it started
 * again, so all of it); I < 0: 0. */
uint64_t counter_delta(const mms_snapshot *now, const mms_snapshot *before,
                       long i);

/* The index of the field NAME in S, or -1. */
long field_index(const mms_snapshot *s, const char *name);

#endif
