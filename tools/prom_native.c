/* Native histograms (prom_native.h): the stats files' log-linear buckets
 * mapped onto Prometheus's exponential ones, and the scrape's table of
 * them by series. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "prom_native.h"

int prom_native_schema(unsigned bits)
{
    return bits > PROM_SCHEMA_MAX ? PROM_SCHEMA_MAX : (int)bits;
}

/* The upper bound of native bucket K of SCHEMA. */
static double native_high(int32_t k, int schema)
{
    return exp2(ldexp((double)k, -schema));
}

int32_t prom_native_index(double x, int schema)
{
    double k = ceil(log2(x) * ldexp(1.0, schema));
    if (!(k > -2e9 && k < 2e9))
        return k < 0 ? INT32_MIN + 1 : INT32_MAX;
    int32_t i = (int32_t)k;
    /* log2's rounding can put X a bucket off near a bound: (a, b]. */
    while (native_high(i, schema) < x)
        i++;
    while (native_high(i - 1, schema) >= x)
        i--;
    return i;
}

void prom_nhist_free(struct prom_nhist *nh)
{
    free(nh->index);
    free(nh->cnt);
    nh->index = NULL;
    nh->cnt = NULL;
    nh->n = 0;
}

int prom_nhist_from(struct prom_nhist *out, const struct mms_hist *h,
                    double scale)
{
    memset(out, 0, sizeof *out);
    out->schema = prom_native_schema(h->bits);
    out->sum = (double)h->sum / scale;
    size_t used = 0;
    uint32_t pos = 0, i;
    uint64_t c;
    while (mms_hist_next(h, &pos, &i, &c))
        used++;
    out->index = malloc((used ? used : 1) * sizeof *out->index);
    out->cnt = malloc((used ? used : 1) * sizeof *out->cnt);
    if (!out->index || !out->cnt) {
        prom_nhist_free(out);
        return -ENOMEM;
    }
    for (pos = 0; mms_hist_next(h, &pos, &i, &c);) {
        out->count += c;
        uint64_t lo = mms_hist_bucket_low(i, h->bits, h->max_exp);
        uint64_t hi = mms_hist_bucket_high(i, h->bits, h->max_exp);
        if (hi == 0) {
            out->zero_count += c;
            continue;
        }
        /* The overflow bucket's values are up to the maximum. */
        double mid = i + 1 == h->nbuckets
                         ? (double)h->max
                         : ((double)lo + (double)(hi - lo) / 2.0);
        int32_t k = prom_native_index(mid / scale, out->schema);
        /* Buckets come in increasing order and so do their indexes: a
         * file bucket joins the last native one or starts the next. */
        if (out->n && out->index[out->n - 1] == k) {
            out->cnt[out->n - 1] += c;
        } else {
            out->index[out->n] = k;
            out->cnt[out->n++] = c;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the table */

struct prom_natives {
    char *key; /* name, '\n', labels: neither holds a raw newline */
    struct prom_nhist nh;
    UT_hash_handle hh;
};

static char *series_key(const char *name, const char *labels, size_t len)
{
    size_t n = strlen(name);
    char *k = malloc(n + 1 + len + 1);
    if (!k)
        return NULL;
    memcpy(k, name, n);
    k[n] = '\n';
    memcpy(k + n + 1, labels, len);
    k[n + 1 + len] = '\0';
    return k;
}

static void native_free(struct prom_natives *e)
{
    prom_nhist_free(&e->nh);
    free(e->key);
    free(e);
}

int prom_natives_add(struct prom_natives **t, const char *name,
                     const char *labels, const struct mms_hist *h, double scale)
{
    struct prom_natives *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->key = series_key(name, labels, strlen(labels));
    if (!e->key || prom_nhist_from(&e->nh, h, scale) < 0) {
        native_free(e);
        return -ENOMEM;
    }
    struct prom_natives *old;
    HASH_FIND_STR(*t, e->key, old);
    if (old) { /* the text has one series per key: keep the first */
        native_free(e);
        return 0;
    }
    HASH_ADD_KEYPTR(hh, *t, e->key, strlen(e->key), e);
    if (!hash_added(e)) {
        native_free(e);
        return -ENOMEM;
    }
    return 0;
}

const struct prom_nhist *prom_natives_find(const struct prom_natives *t,
                                           const char *name, const char *labels,
                                           size_t len)
{
    char *k = series_key(name, labels, len);
    if (!k)
        return NULL;
    struct prom_natives *e;
    HASH_FIND_STR(t, k, e);
    free(k);
    return e ? &e->nh : NULL;
}

void prom_natives_free(struct prom_natives **t)
{
    struct prom_natives *e = *t, *next;
    HASH_CLEAR(hh, *t); /* the table; the entries stay linked */
    for (; e; e = next) {
        next = e->hh.next;
        native_free(e);
    }
}
