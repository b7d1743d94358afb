/* The output formats, one module each, shared by every tool (and by
 * mmstat-exporter's HTTP endpoints): out_text.c, out_json.c and
 * out_prom.c. Each writes to a FILE *; for a growable buffer, open one with
 * open_memstream(3). Input: a list of (reader, snapshot) pairs, one per
 * process, or a list of aggregate groups (agg.h). They return 0, or
 * -EIO if the stream had an error. */
#ifndef MMS_TOOLS_OUT_H
#define MMS_TOOLS_OUT_H

#include "agg.h"

struct jw;
struct prom_natives;

/* JSON: called inside the object of process P (FIELD -1, after the
 * header keys) and of each of its fields shown (FIELD: the snapshot's
 * index), to add keys of a caller's own (the exporter's rates). */
typedef void out_json_extra_fn(struct jw *w, const struct out_proc *p,
                               long field, void *arg);

struct out_opts {
    const struct filters *filters; /* NULL: every field */
    bool header_only;              /* JSON: process headers, no fields */
    int64_t windows_at;            /* CLOCK_MONOTONIC ns to take time
                                      windows at; 0: each snapshot's time */
    const char *by;                /* aggregates: "exe", or NULL (--sum) */
    bool nonzero;                  /* text: leave out zero values */
    bool raw;                      /* text: exact numbers, unscaled */
    const char *host;              /* Prometheus: a "host" label, or NULL */
    unsigned hist_buckets;         /* Prometheus: histogram buckets per
                                      power of two (a power of two, at most
                                      OUT_PROM_BUCKETS_MAX); 0: the default,
                                      OUT_PROM_BUCKETS */
    struct prom_natives **natives; /* Prometheus: also keep each histogram
                                      as a native one here (prom_native.h),
                                      for the protobuf format; NULL: no */
    out_json_extra_fn *json_extra; /* NULL: none */
    void *json_extra_arg;
};

/* Prometheus histograms: buckets per power of two by default, and at most
 * (the files' resolution, 2^MMS default bits). */
#define OUT_PROM_BUCKETS 8
#define OUT_PROM_BUCKETS_MAX 32

/* The version of the JSON schema (docs/tools.md): "mmstats_json". */
#define OUT_JSON_SCHEMA 1

/* The quantiles every format shows, and their names. */
#define OUT_NQ 4
extern const double out_q[OUT_NQ];          /* 0.5 0.9 0.99 0.999 */
extern const char *const out_qname[OUT_NQ]; /* p50 p90 p99 p999 */

int out_text_procs(FILE *f, const struct out_proc *p, size_t n,
                   const struct out_opts *o);
int out_text_aggs(FILE *f, const struct agg_group *g, size_t n,
                  const struct out_opts *o);
int out_json_procs(FILE *f, const struct out_proc *p, size_t n,
                   const struct out_opts *o);
int out_json_aggs(FILE *f, const struct agg_group *g, size_t n,
                  const struct out_opts *o);
/* "1", "2", "4", ... "32": histogram buckets per power of two, or -1. */
int out_prom_parse_buckets(const char *s);
int out_prom_procs(FILE *f, const struct out_proc *p, size_t n,
                   const struct out_opts *o);
int out_prom_aggs(FILE *f, const struct agg_group *g, size_t n,
                  const struct out_opts *o);

#endif
