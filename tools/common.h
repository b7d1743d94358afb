/* Shared by the command-line tools: the stats directory and its files,
 * resolving a PID or PATH argument, liveness words, field filters and the
 * formatting of sizes, durations and ages. Tools use only the public
 * reader API of libmmstats. */
#ifndef MMS_TOOLS_COMMON_H
#define MMS_TOOLS_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mmstats/mmstats.h>

/* One process read: its reader and a snapshot taken from it. */
struct out_proc {
    mms_reader *reader;
    const mms_snapshot *snap;
    const char *container; /* the exporter's: a container label, or NULL */
};

/* Exit codes, as for ps/vmstat: 0 ok, 1 a failed operation, 2 bad usage. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* "running", "finished", "stale", "stale(pid-reused)". */
const char *liveness_word(int liveness);
/* "ready" or "finished": the header's state word. */
const char *state_word(enum mms_state state);

/* The stats directory: OPT if not NULL, else mms_default_dir. */
int stats_dir(const char *opt, char *buf, size_t len);

/* Paths of the *.mmstats files in DIR, sorted; returns the count or -errno.
 * Free with paths_free. */
int stats_files(const char *dir, char ***out);
void paths_free(char **paths, int n);

/* Open ARG: a pid (the newest file of that pid in DIR) or a path. */
int open_target(const char *arg, const char *dir, mms_reader **r);
/* The reason to print when open_target(ARG) failed with CODE, into BUF. */
const char *open_error(char *buf, size_t len, const char *arg, const char *dir,
                       int code);
/* mms_reader_open, but a file that does not begin with the magic is
 * MMS_EFORMAT ("not an mmstats file") whatever else is wrong with it. */
int reader_open(mms_reader **r, const char *path);
/* On stderr: there are no stats files in DIR (MISSING: it does not
 * exist) yet, where they will appear and how to make one. */
void no_stats_hint(const char *prog, const char *dir, bool missing);

/* Bytes PATH takes on disk (st_blocks * 512; the files are sparse), or 0. */
uint64_t disk_bytes(const char *path);

/* Field filters: shell globs (fnmatch); no globs match every name. */
struct filters {
    const char **globs;
    size_t n;
};
int filters_add(struct filters *f, const char *glob);
bool filters_match(const struct filters *f, const char *name);
void filters_free(struct filters *f);

/* Print S with control bytes as '?': string values come from files a
 * hostile writer may have filled, and must not drive a terminal. */
void print_safe(FILE *f, const char *s);
/* Copy S into BUF (LEN bytes) the same way, truncated. */
char *safe_copy(char *buf, size_t len, const char *s);

/* Human formats, into BUF: "1.5M" (1024-based), "3m05s", "12.3us". */
char *fmt_bytes(char *buf, size_t len, uint64_t bytes);
char *fmt_age(char *buf, size_t len, int64_t seconds);
char *fmt_ns(char *buf, size_t len, double ns);
/* A value in UNITS for a table: times in "ns" as fmt_ns, "bytes" as
 * fmt_bytes ("100B" below 1K), anything else as a number with up to 4
 * significant digits. */
char *fmt_value(char *buf, size_t len, double v, const char *units);
/* Whether fmt_value shows UNITS itself (a time or a size): then the
 * units are not printed after the value. */
bool units_scaled(const char *units);
/* UNITS for a count of N, into BUF: made singular for exactly 1
 * ("calls" -> "call", "processes" -> "process", "bytes" -> "byte"). */
const char *units_for(char *buf, size_t len, const char *units, double n);
/* "WORD" or "WORDs" (WORD + "es" when it ends in s, x, ch or sh) for N. */
const char *plural(char *buf, size_t len, const char *word, double n);

/* "90", "90s", "10m", "2h", "1d", "1.5h": seconds, or -1 if malformed. */
double parse_duration(const char *s);
/* A positive decimal pid, or 0. */
long parse_pid(const char *s);

/* CLOCK_REALTIME and CLOCK_MONOTONIC now, ns. */
int64_t now_real_ns(void);
int64_t now_mono_ns(void);

#endif
