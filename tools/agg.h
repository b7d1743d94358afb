/* Aggregates over several processes' snapshots: the core's merge
 * (mms_merge_add, the rules rollups use) seen as the tools show it:
 * counters summed, histograms merged, gauges as min/max/avg/sum, string
 * values counted, windows summed. Fields are matched by name; one of
 * another kind (or histogram geometry) than the first seen is counted as
 * a mismatch and left out. A rollup counts the processes it holds. */
#ifndef MMS_TOOLS_AGG_H
#define MMS_TOOLS_AGG_H

#include "common.h"

#define AGG_NWIN 3
extern const unsigned agg_win_secs[AGG_NWIN]; /* 1, 10 and 60 seconds */

/* Min, max and sum of numbers over processes (the core's merge keeps
 * them); integers exactly while IS_INT. */
#define agg_num mms_merge_num
double agg_num_avg(const struct agg_num *a);
double agg_num_min(const struct agg_num *a);
double agg_num_max(const struct agg_num *a);
double agg_num_sum(const struct agg_num *a);

struct agg_win {
    uint64_t count, sum;
    struct mms_hist hist; /* HISTOGRAM: at the window precision */
};

/* A field of a group: a view of the core's merge (mms_merge_field), with
 * its windows taken at the group's time. Everything points into the
 * merge. */
struct agg_field {
    const char *name, *units, *help;
    enum mms_kind kind;
    unsigned flags;
    uint8_t bits, max_exp, win_bits; /* HISTOGRAM geometry */
    uint32_t nproc;                  /* processes with this field (a
                                        rollup counts those it holds) */
    uint32_t mismatch;               /* of another kind or geometry */
    uint32_t busy;                   /* values read as busy */
    uint64_t u64;                    /* COUNTER: the sum */
    struct agg_num num;              /* GAUGE, GAUGE_F64; MOVAVG: means */
    uint64_t avg_count;              /* MOVAVG: values ever added */
    struct mms_hist hist;            /* HISTOGRAM: merged (borrowed) */
    bool has_win;                    /* MMS_DF_WINDOW: WIN is valid */
    struct agg_win win[AGG_NWIN];
    const struct mms_merge_str *strs; /* STRING: distinct values */
    size_t nstrs;
    uint32_t nmembers; /* STRUCT */
    const char **member_names;
    const struct agg_num *members;
};

struct agg_group {
    char *key;                /* the exe with --by exe or program, the
                                 label with --by label; NULL for --sum */
    char *label;              /* --by program: the label ("" none); NULL */
    uint32_t nproc;           /* files */
    int32_t *pids;            /* nproc of them (0: a rollup) */
    uint64_t procs;           /* processes, a rollup's included */
    uint32_t rollups;         /* files that are rollups */
    uint64_t rollup_procs;    /* processes the rollups hold */
    int64_t rollup_first_ns;  /* the rollups' span: earliest start, */
    int64_t rollup_last_ns;   /* latest finish (realtime ns; 0: none) */
    struct agg_field *fields; /* views of M's fields */
    size_t nfields;
    mms_merge *m;
    int64_t windows_at;
};

/* Add the fields of snapshot S (of reader R) that pass FLT to G. Windows
 * are taken at WINDOWS_AT (CLOCK_MONOTONIC ns; 0: the snapshot's time). */
int agg_add(struct agg_group *g, mms_reader *r, const mms_snapshot *s,
            const struct filters *flt, int64_t windows_at);
const struct agg_field *agg_find(const struct agg_group *g, const char *name);
void agg_free(struct agg_group *g);

/* The grouping keys of agg_group_by: a process's exe, its label, or both
 * (a program: exe and label, as a rollup's default group). */
#define AGG_BY_EXE "exe"
#define AGG_BY_LABEL "label"
#define AGG_BY_PROGRAM "program"
/* Whether S is one of them. */
bool agg_by_valid(const char *s);

/* The processes P in groups: one per value of BY (AGG_BY_EXE,
 * AGG_BY_LABEL or AGG_BY_PROGRAM), sorted by it, or one group of them
 * all (BY NULL). Each
 * adds its fields that pass FLT, windows taken at WINDOWS_AT (agg_add).
 * Free with agg_groups_free. */
int agg_group_by(const struct out_proc *p, size_t n, const char *by,
                 const struct filters *flt, int64_t windows_at,
                 struct agg_group **out, size_t *nout);
void agg_groups_free(struct agg_group *g, size_t n);

#endif
