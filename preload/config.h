/* The shim's configuration, from MMSTATS_* environment variables. */
#ifndef MMP_CONFIG_H
#define MMP_CONFIG_H

/* MMSTATS_HIST_BITS's default: the timed hooks' latency histograms
 * record with this precision as compile-time constants (shim.h). */
#define MMP_HIST_BITS_DEFAULT 5

struct mmp_config {
    int disable;
    const char *dir, *file, *label, *group;
    int keep;          /* enum mms_keep; 0: the core's default (auto) */
    int keep_after;    /* seconds; 0: the core's default */
    unsigned families; /* bit per enum mmp_family */
    int timing, timing_mem;
    int timing_mem_sample; /* the TSC mem paths time 1 call in this many */
    int hist_bits;         /* MMSTATS_HIST_BITS */
    int clock_monotonic;   /* MMSTATS_CLOCK=monotonic: no TSC */
    int verbose;
    int eager;     /* the stats file at start-up, not with the first record */
    int files_max; /* per-file records, (other) included */
    const char *files_exclude; /* prefixes; NULL: the default list */
    int files_hash;            /* key records by a hash of the path */
    const char *files_salt;    /* the hash's key */
    int files_align;           /* "unaligned": offset % this */
    int files_stat_paths;      /* a record for each path only stat'ed */
    int files_fold;        /* opened, read, closed: in its directory's record */
    long long heap_sample; /* bytes between heap samples on average; 0: off */
    int heap_sites;        /* the heap profile's sites, at most */
};

extern struct mmp_config mmp_cfg;

void mmp_config_load(void);
void mmp_config_bad(const char *name, const char *value);
/* Print bad values (always) and the table (MMSTATS_VERBOSE). */
void mmp_config_report(void);

#endif
