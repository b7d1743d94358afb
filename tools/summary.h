/* mmstat-run's end-of-run summary, like strace -c or perf stat: per
 * family and call the calls, errors, bytes and time (from the shim's
 * "<family>.<call>.{calls,errors,bytes,latency}" fields), glibc's
 * variants of a call folded into one row unless asked, and memory
 * (from "mem.*"), as text or JSON. */
#ifndef MMS_TOOLS_SUMMARY_H
#define MMS_TOOLS_SUMMARY_H

#include "out.h"

enum summary_sort { SORT_TIME, SORT_CALLS, SORT_ERRORS, SORT_NAME };

struct summary_opts {
    bool json;
    bool per_process;
    bool raw; /* text: exact numbers (bytes, ns), not scaled */
    /* One row per name the shim counted, not glibc's variants of a call
     * folded into one ("open*": open, open64, __open_2, openat...). */
    bool split_variants;
    enum summary_sort sort;
};

struct run_result {
    char *const *argv; /* the command */
    int status;        /* as returned: the exit code, or 128 + signal */
    int exit_code;     /* -1 if killed */
    int signal;        /* 0 if it exited */
    int64_t elapsed_ns;
    const char *dir; /* stats directory */
    bool dir_kept;
};

/* Print the summary of the processes P (their readers and snapshots). */
int summary_print(FILE *out, const struct run_result *rr,
                  const struct out_proc *p, size_t n,
                  const struct summary_opts *o);

#endif
