/* mmstat-read --watch: vmstat-like columns of a process's fields at an
 * interval, from the difference of consecutive snapshots; or, with
 * --json, one JSON object per interval on a line of its own (NDJSON,
 * schema in docs/tools.md). */
#ifndef MMS_TOOLS_WATCH_H
#define MMS_TOOLS_WATCH_H

#include "common.h"

struct watch_opts {
    double interval;               /* seconds */
    long count;                    /* rows to print; 0: until stopped */
    const struct filters *filters; /* no globs: the busiest fields (text)
                                      or every field (JSON) */
    bool json;                     /* a JSON object per interval (NDJSON) */
};

/* Watch TARGET (a pid or path, in DIR) until COUNT rows were printed, a
 * SIGINT or SIGTERM arrives, or the process finishes. Returns an exit
 * status. */
int watch_main(const char *target, const char *dir, const struct watch_opts *o);

#endif
