/* Prometheus native histograms from the stats files' log-linear ones
 * (prom_native.c): the bucket math, and a table of the histograms of one
 * scrape by series, which out_prom.c fills while it writes the text and
 * out_promproto.c reads when it turns that text into protobuf. */
#ifndef MMS_TOOLS_PROM_NATIVE_H
#define MMS_TOOLS_PROM_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include <mmstats/mmstats.h>

/* Native schemas Prometheus knows: 2^schema buckets per power of two. */
#define PROM_SCHEMA_MIN (-4)
#define PROM_SCHEMA_MAX 8
/* The zero bucket's width, client_golang's default (2^-128): only 0 is
 * in it (the smallest value a file holds, 1 ns, is 1e-9 s). */
#define PROM_ZERO_THRESHOLD 2.938735877055719e-39

/* A native histogram: its populated buckets, index increasing. */
struct prom_nhist {
    int schema;
    uint64_t count; /* every value, the zero bucket's too */
    double sum;     /* scaled */
    uint64_t zero_count;
    size_t n;
    int32_t *index; /* bucket k holds (2^((k-1)/2^schema), 2^(k/2^schema)] */
    uint64_t *cnt;
};

/* The schema for a file's histogram of 2^BITS buckets per power of two:
 * as many native buckets per power of two (BITS, within the schemas
 * Prometheus knows). */
int prom_native_schema(unsigned bits);
/* The native bucket of SCHEMA that holds X > 0. */
int32_t prom_native_index(double x, int schema);
/* H's values divided by SCALE as a native histogram: each file bucket
 * goes whole into the native bucket that holds its middle (the file's
 * linear sub-buckets never coincide with exponential ones); the overflow
 * bucket into the one of H's maximum. 0 or -ENOMEM. */
int prom_nhist_from(struct prom_nhist *out, const struct mms_hist *h,
                    double scale);
void prom_nhist_free(struct prom_nhist *nh);

/* The native histograms of one scrape, by series: the metric's name and
 * its labels exactly as the text format shows them (without "le"). */
struct prom_natives;
int prom_natives_add(struct prom_natives **t, const char *name,
                     const char *labels, const struct mms_hist *h,
                     double scale);
const struct prom_nhist *prom_natives_find(const struct prom_natives *t,
                                           const char *name, const char *labels,
                                           size_t len);
void prom_natives_free(struct prom_natives **t);

#endif
