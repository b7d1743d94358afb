/* The per-file view of one process or several (mmstat-read --files,
 * mmstat-run's top files, the exporter's top-files panel): the shim's
 * tables "files" and "files.meta" joined by key, merged across processes
 * by key, with the figures a reader wants (reads, writes, bytes, time,
 * sequential share, most common access size) computed once here. */
#ifndef MMS_TOOLS_FILES_H
#define MMS_TOOLS_FILES_H

#include <stdio.h>

#include <mmstats/preload.h>

#include "common.h"

struct jw;

enum {
#define FV_ENUM(m, kind, units) FV_##m,
    MMS_PRELOAD_FILES_MEMBERS(FV_ENUM) FV_NFILES
};
enum {
    FV_META_BEFORE = FV_NFILES - 1,
    MMS_PRELOAD_META_MEMBERS(FV_ENUM) FV_NALL
#undef FV_ENUM
};

/* One file: every member of both tables (v: the value, arg: a MAXARG's
 * argument), and the derived figures. */
struct file_row {
    char *key; /* NUL-terminated copy */
    bool other;
    uint64_t v[FV_NALL], arg[FV_NALL];
    uint64_t reads, writes, bytes, ops, time_ns;
    double seq_pct;  /* sequential accesses / accesses, %; -1: none */
    uint64_t common; /* most common access size; 0 with common_n 0 */
    uint64_t common_n;
};

struct file_view {
    struct file_row *rows;
    size_t n;
    bool present;           /* some process had the tables */
    uint64_t capacity;      /* records per table (per process) */
    uint64_t nrecords;      /* records made, (other) included */
    uint64_t overflow_hits; /* lookups answered with (other) */
    uint64_t other_files;   /* distinct files in (other) */
    uint64_t untracked;     /* opens without a record */
    uint64_t excluded;      /* opens under excluded prefixes */
    uint64_t alignment;     /* block size of "unaligned" */
    void *index;            /* by key (uthash) */
};

enum file_sort { FSORT_BYTES, FSORT_TIME, FSORT_OPS, FSORT_NAME };

/* Add snapshot S's files to V (zeroed first): rows merged by key. 0 or
 * -ENOMEM. */
int file_view_add(struct file_view *v, const mms_snapshot *s);
void file_view_sort(struct file_view *v, enum file_sort by);
void file_view_free(struct file_view *v);
/* "bytes", "time", "ops", "name": 0, or -1 if not one of them. */
int file_sort_parse(const char *s, enum file_sort *out);

/* The view as a table like Darshan's "most accessed files": at most
 * LIMIT rows (0: all), (other) last; RAW: exact numbers. */
int files_text(FILE *f, const struct file_view *v, size_t limit, bool raw);
/* The view as the JSON object "files" (every member of every row). */
void files_json(struct jw *w, const char *key, const struct file_view *v,
                size_t limit);

#endif
