/* Histogram math: the log-linear bucket layout of format.h, as pure
 * functions shared by the writer (index) and the reader (bounds,
 * quantiles, merging and differencing of histograms). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool mms__hist_geom_ok(unsigned bits, unsigned max_exp)
{
    return bits >= MMS_HIST_BITS_MIN && bits <= MMS_HIST_BITS_MAX &&
           max_exp > bits && max_exp <= MMS_HIST_MAX_EXP_MAX;
}

uint32_t mms_hist_nbuckets(unsigned bits, unsigned max_exp)
{
    if (!mms__hist_geom_ok(bits, max_exp))
        return 0;
    return ((max_exp - bits + 1) << bits) + 1;
}

uint32_t mms_hist_index(uint64_t v, unsigned bits, unsigned max_exp)
{
    return mms__hist_index(v, bits, max_exp);
}

uint64_t mms_hist_bucket_low(uint32_t i, unsigned bits, unsigned max_exp)
{
    if (!mms__hist_geom_ok(bits, max_exp))
        return 0; /* no such geometry: and no shift past the width */
    uint32_t sub = 1u << bits;
    if (i < sub)
        return i;
    uint32_t last = ((max_exp - bits + 1) << bits);
    if (i >= last)
        return (uint64_t)1 << max_exp;
    uint32_t g = i >> bits; /* >= 1: the power of two is 2^(g + bits - 1) */
    uint64_t s = i & (sub - 1);
    if (g == 0 || g > max_exp)
        return 0; /* cannot happen for i in [sub, last): no bad shift */
    return (sub + s) << (g - 1);
}

uint64_t mms_hist_bucket_high(uint32_t i, unsigned bits, unsigned max_exp)
{
    if (!mms__hist_geom_ok(bits, max_exp))
        return 0;
    uint32_t sub = 1u << bits;
    if (i < sub)
        return i;
    uint32_t last = ((max_exp - bits + 1) << bits);
    if (i >= last)
        return UINT64_MAX;
    uint32_t g = i >> bits;
    if (g == 0 || g > max_exp)
        return 0; /* cannot happen for i in [sub, last): no bad shift */
    return mms_hist_bucket_low(i, bits, max_exp) + ((uint64_t)1 << (g - 1)) - 1;
}

uint64_t mms_hist_bucket(const struct mms_hist *h, uint32_t i)
{
    if (i >= h->nbuckets)
        return 0;
    if (h->buckets)
        return h->buckets[i];
    uint32_t lo = 0, hi = h->nused; /* the first used index >= i */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (h->used[mid].index < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->nused && h->used[lo].index == i ? h->used[lo].count : 0;
}

int mms_hist_init(struct mms_hist *h, unsigned bits, unsigned max_exp)
{
    memset(h, 0, sizeof *h);
    uint32_t n = mms_hist_nbuckets(bits, max_exp);
    if (!n)
        return -EINVAL;
    h->buckets = calloc(n, sizeof *h->buckets);
    if (!h->buckets)
        return -ENOMEM;
    h->bits = (uint8_t)bits;
    h->max_exp = (uint8_t)max_exp;
    h->nbuckets = n;
    return 0;
}

void mms_hist_free(struct mms_hist *h)
{
    if (!h)
        return;
    free(h->buckets);
    h->buckets = NULL;
    h->nbuckets = 0;
}

void mms_hist_add_value(struct mms_hist *h, uint64_t v)
{
    h->buckets[mms__hist_index(v, h->bits, h->max_exp)]++;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (h->count == 0 || v > h->max)
        h->max = v;
    h->count++;
    h->sum += v;
}

/* The value of rank ceil(q * count) (nearest rank), estimated as the
 * middle of its bucket and kept within [min, max]: the error against the
 * exact nearest-rank quantile is at most half a bucket, 2^-(bits+1) of
 * the value. */
/* The estimate for a rank found in bucket I. */
static double quantile_at(const struct mms_hist *h, uint32_t i)
{
    uint64_t lo = mms_hist_bucket_low(i, h->bits, h->max_exp);
    uint64_t hi = mms_hist_bucket_high(i, h->bits, h->max_exp);
    double mid = i == h->nbuckets - 1 ? (double)h->max
                                      : (double)lo + (double)(hi - lo) / 2.0;
    if (mid < (double)h->min)
        mid = (double)h->min;
    if (mid > (double)h->max)
        mid = (double)h->max;
    return mid;
}

double mms_hist_quantile(const struct mms_hist *h, double q)
{
    double out = 0.0;
    mms_hist_quantiles(h, &q, 1, &out);
    return out;
}

/* One pass over the buckets for every rank (a tool prints four
 * quantiles of each of a thousand histograms of 1,985 buckets). */
void mms_hist_quantiles(const struct mms_hist *h, const double *q, size_t n,
                        double *out)
{
    uint64_t rank[MMS_HIST_QUANTILES_MAX];
    size_t order[MMS_HIST_QUANTILES_MAX], todo = 0;
    for (size_t k = 0; k < n; k++) {
        out[k] = 0.0;
        if (!h || h->count == 0)
            continue;
        if (!(q[k] > 0.0)) {
            out[k] = (double)h->min;
        } else if (q[k] >= 1.0 || k >= MMS_HIST_QUANTILES_MAX) {
            out[k] = q[k] >= 1.0 ? (double)h->max : mms_hist_quantile(h, q[k]);
        } else {
            double r = ceil(q[k] * (double)h->count);
            rank[k] = r < 1.0 ? 1 : (uint64_t)r;
            out[k] = (double)h->max; /* the buckets add up to less */
            size_t j = todo++;       /* in order of rank */
            for (; j > 0 && rank[order[j - 1]] > rank[k]; j--)
                order[j] = order[j - 1];
            order[j] = k;
        }
    }
    uint64_t seen = 0;
    size_t next = 0;
    if (h && !h->buckets) { /* sparse: the used buckets only */
        for (uint32_t u = 0; next < todo && u < h->nused; u++) {
            seen += h->used[u].count;
            for (; next < todo && seen >= rank[order[next]]; next++)
                out[order[next]] = quantile_at(h, h->used[u].index);
        }
        return;
    }
    const uint64_t *b = h ? h->buckets : NULL;
    uint32_t nb = h ? h->nbuckets : 0;
    for (uint32_t i = 0; next < todo && i < nb;) {
        /* A run of 64 buckets that does not reach the next rank is added
         * up in one go (most buckets are empty); one that does, bucket
         * by bucket. */
        uint32_t end = nb - i < 64 ? nb : i + 64;
        uint64_t run = 0;
        for (uint32_t k = i; k < end; k++)
            run += b[k];
        if (seen + run < rank[order[next]]) {
            seen += run;
            i = end;
            continue;
        }
        for (; i < end && next < todo; i++) {
            seen += b[i];
            for (; next < todo && seen >= rank[order[next]]; next++)
                out[order[next]] = quantile_at(h, i);
        }
    }
}

double mms_hist_mean(const struct mms_hist *h)
{
    return (h && h->count) ? (double)h->sum / (double)h->count : 0.0;
}

static int same_geom(const struct mms_hist *a, const struct mms_hist *b)
{
    return a->bits == b->bits && a->max_exp == b->max_exp &&
           a->nbuckets == b->nbuckets;
}

int mms_hist_merge(struct mms_hist *into, const struct mms_hist *from)
{
    if (!same_geom(into, from))
        return MMS_EKIND;
    if (from->count == 0)
        return 0;
    if (!into->buckets)
        return -EINVAL; /* a sparse histogram is read-only */
    if (from->buckets) {
        for (uint32_t i = 0; i < into->nbuckets; i++)
            into->buckets[i] += from->buckets[i];
    } else {
        for (uint32_t u = 0; u < from->nused; u++)
            if (from->used[u].index < into->nbuckets)
                into->buckets[from->used[u].index] += from->used[u].count;
    }
    if (into->count == 0 || from->min < into->min)
        into->min = from->min;
    if (into->count == 0 || from->max > into->max)
        into->max = from->max;
    into->count += from->count;
    into->sum += from->sum;
    return 0;
}

/* NOW minus BEFORE: the values recorded in between. Their min and max are
 * not recorded; they are bounded by the lowest and highest non-empty
 * buckets of the difference (and by NOW's min and max). */
int mms_hist_sub(struct mms_hist *out, const struct mms_hist *now,
                 const struct mms_hist *before)
{
    if (!same_geom(now, before))
        return MMS_EKIND;
    int rc = mms_hist_init(out, now->bits, now->max_exp);
    if (rc < 0)
        return rc;
    /* NOW's buckets, then BEFORE's taken off (either may be sparse). */
    uint32_t pos = 0, i;
    uint64_t n;
    while (mms_hist_next(now, &pos, &i, &n))
        if (i < out->nbuckets)
            out->buckets[i] = n;
    for (pos = 0; mms_hist_next(before, &pos, &i, &n);)
        if (i < out->nbuckets)
            out->buckets[i] = out->buckets[i] >= n
                                  ? out->buckets[i] - n
                                  : 0; /* the writer restarted: no negative */
    uint64_t count = 0;
    int lo = -1, hi = -1;
    for (i = 0; i < now->nbuckets; i++) {
        uint64_t d = out->buckets[i];
        count += d;
        if (d) {
            if (lo < 0)
                lo = (int)i;
            hi = (int)i;
        }
    }
    out->count = count;
    out->sum = now->sum >= before->sum ? now->sum - before->sum : 0;
    if (count) {
        uint64_t l = mms_hist_bucket_low((uint32_t)lo, now->bits, now->max_exp);
        uint64_t h =
            mms_hist_bucket_high((uint32_t)hi, now->bits, now->max_exp);
        out->min = l > now->min ? l : now->min;
        out->max = h < now->max ? h : now->max;
    }
    return 0;
}
