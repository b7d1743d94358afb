/* The contended locks of one process (mmstat-read --locks), like
 * mutrace's report: the shim's sync.locks table (preload/hook_sync.c),
 * one record per lock address that was ever contended: contended
 * acquisitions, their wait (total and longest) and the call site of the
 * first. A bounded table: locks beyond it are summed in its "(other)"
 * record, shown as such. */
#ifndef MMS_TOOLS_LOCKS_H
#define MMS_TOOLS_LOCKS_H

#include "common.h"

struct jw;

#define LOCKS_TABLE "sync.locks"
enum {
    LOCK_CONTENDED,
    LOCK_WAIT,
    LOCK_MAX_WAIT,
    LOCK_FIRST_SITE,
    LOCK_KIND,
    LOCK_NMEMBERS
};

struct lock_row {
    bool overflow; /* the "(other)" record */
    uint64_t addr, site;
    unsigned kind; /* 1 mutex, 2 rwlock, 4 spin, 8 sem (bits) */
    uint64_t contended, wait_ns, max_wait_ns;
};

struct locks_view {
    bool present; /* the table exists */
    uint32_t capacity;
    uint64_t overflow_hits;
    size_t records;     /* locks with a record of their own */
    struct lock_row *v; /* by wait, longest first; (other) last */
    size_t n;
};

int locks_view(struct locks_view *v, const mms_snapshot *s);
void locks_view_free(struct locks_view *v);
const char *lock_kind_word(unsigned kind);
/* Text: the TOP locks that waited longest, then (other). Call sites are
 * named from /proc/PID/maps while the process is LIVE. */
int locks_text(FILE *f, const struct locks_view *v, int32_t pid, bool live,
               bool raw, size_t top);
/* JSON: an object "locks" in the current object. */
void locks_json(struct jw *w, const struct locks_view *v, int32_t pid,
                bool live);

#endif
