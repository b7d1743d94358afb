/* Histograms: the exact log-linear bucket math of format.h, and quantile,
 * merge and difference accuracy in memory and through a writer field. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotpath.h"
#include "internal.h"
#include "testutil.h"

#define NVALUES 100000

static const double quantiles[] = {0.01, 0.1,  0.25,  0.5, 0.75,
                                   0.9,  0.99, 0.999, 1.0};
#define NQ (sizeof quantiles / sizeof quantiles[0])

/* ------------------------------------------------------------ helpers */

/* splitmix64: a fixed-seed generator, the same on every platform. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so logarithms and powers stay finite. */
static double rng_unit(uint64_t *s)
{
    return (double)((rng_next(s) >> 11) + 1) * 0x1.0p-53;
}

static double rng_normal(uint64_t *s)
{
    return sqrt(-2.0 * log(rng_unit(s))) * cos(2.0 * M_PI * rng_unit(s));
}

enum dist { UNIFORM, SMALL, EXPONENTIAL, LOGNORMAL, PARETO, BIMODAL, NDIST };
static const char *const dist_names[] = {"uniform",   "small",  "exponential",
                                         "lognormal", "pareto", "bimodal"};

static uint64_t draw(enum dist d, uint64_t *s)
{
    switch (d) {
    case UNIFORM:
        return 1 + rng_next(s) % 1000000000u;
    case SMALL: /* the linear region and the first groups */
        return rng_next(s) % 300;
    case EXPONENTIAL:
        return (uint64_t)(-log(rng_unit(s)) * 1e6);
    case LOGNORMAL:
        return (uint64_t)exp(log(1e5) + 1.5 * rng_normal(s));
    case PARETO: /* x_m = 1000, alpha = 1.2: a heavy tail */
        return (uint64_t)(1000.0 / pow(rng_unit(s), 1.0 / 1.2));
    case BIMODAL:
        if (rng_next(s) & 1)
            return 900 + rng_next(s) % 201;
        return (uint64_t)(1e7 + 1e6 * rng_normal(s));
    default:
        return 0;
    }
}

/* N values of distribution D from SEED, in a malloc'd array. */
static uint64_t *make_values(enum dist d, uint64_t seed, size_t n)
{
    uint64_t *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = draw(d, &seed);
    return v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The exact nearest-rank quantile of SORTED[0..N): element ceil(q*N)-1. */
static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
    double r = ceil(q * (double)n);
    size_t rank = r < 1.0 ? 1 : (size_t)r;
    return sorted[rank - 1];
}

/* An independent index: the formula of format.h with e found by a loop. */
static uint32_t ref_index(uint64_t v, unsigned bits, unsigned max_exp)
{
    uint32_t sub = 1u << bits;
    if (v < sub)
        return (uint32_t)v;
    unsigned e = 0;
    while (e < 63 && (v >> (e + 1)) != 0)
        e++;
    if (e >= max_exp)
        return ((max_exp - bits + 1) << bits);
    return (e - bits + 1) * sub + (uint32_t)(v >> (e - bits)) - sub;
}

/* Every quantile of H against the exact ones of SORTED: relative error
 * within BOUND; an exact value of 0 must be estimated as 0. */
static void check_quantiles(const struct mms_hist *h, const uint64_t *sorted,
                            size_t n, double bound, const char *what)
{
    for (size_t k = 0; k < NQ; k++) {
        double want = (double)exact_quantile(sorted, n, quantiles[k]);
        double got = mms_hist_quantile(h, quantiles[k]);
        double err = want == 0 ? fabs(got) : fabs(got - want) / want;
        if (!(err <= bound))
            fail_msg("%s: q=%g: got %.17g, exact %.17g, error %g > %g", what,
                     quantiles[k], got, want, err, bound);
    }
}

/* H holds exactly the values V[0..N) (unsorted): count, sum, min, max,
 * mean and every bucket. */
static void check_hist_holds(const struct mms_hist *h, const uint64_t *v,
                             size_t n)
{
    uint64_t *b = calloc(h->nbuckets, sizeof *b);
    assert_non_null(b);
    uint64_t sum = 0, mn = UINT64_MAX, mx = 0;
    for (size_t i = 0; i < n; i++) {
        b[ref_index(v[i], h->bits, h->max_exp)]++;
        sum += v[i];
        mn = v[i] < mn ? v[i] : mn;
        mx = v[i] > mx ? v[i] : mx;
    }
    assert_int_equal(h->count, n);
    assert_int_equal(h->sum, sum);
    assert_int_equal(h->min, n ? mn : 0);
    assert_int_equal(h->max, n ? mx : 0);
    assert_true(mms_hist_mean(h) == (n ? (double)sum / (double)n : 0.0));
    assert_memory_equal(h->buckets, b, h->nbuckets * sizeof *b);
    free(b);
}

static void hist_of(struct mms_hist *h, unsigned bits, unsigned max_exp,
                    const uint64_t *v, size_t n)
{
    assert_int_equal(mms_hist_init(h, bits, max_exp), 0);
    for (size_t i = 0; i < n; i++)
        mms_hist_add_value(h, v[i]);
}

static uint64_t *sorted_copy(const uint64_t *v, size_t n)
{
    uint64_t *s = malloc((n ? n : 1) * sizeof *s);
    assert_non_null(s);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_u64);
    return s;
}

/* The error bound of a histogram of BITS: half a bucket. */
static double half_bucket(unsigned bits)
{
    return ldexp(1.0, -(int)bits - 1);
}

/* ------------------------------------------------------- bucket math */

static void test_nbuckets_follows_the_format_formula(void **state)
{
    (void)state;
    assert_int_equal(mms_hist_nbuckets(3, 12), 81);
    assert_int_equal(mms_hist_nbuckets(6, 36), 1985);
    assert_int_equal(mms_hist_nbuckets(1, 2), 5);
    assert_int_equal(mms_hist_nbuckets(7, 63), 7297);
    assert_int_equal(mms_hist_nbuckets(3, 4), 17);
    for (unsigned b = 1; b <= 7; b++)
        for (unsigned e = b + 1; e <= 63; e++)
            assert_int_equal(mms_hist_nbuckets(b, e),
                             (e - b + 1) * (1u << b) + 1);
}

static void test_invalid_geometries_give_zero_buckets(void **state)
{
    (void)state;
    const unsigned bad[][2] = {{0, 36}, {8, 36}, {3, 3},  {3, 2},
                               {6, 64}, {1, 1},  {7, 7},  {255, 36},
                               {6, 0},  {0, 0},  {6, 255}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mms_hist_nbuckets(bad[i][0], bad[i][1]), 0);
        struct mms_hist h;
        assert_int_equal(mms_hist_init(&h, bad[i][0], bad[i][1]), -EINVAL);
        assert_null(h.buckets);
    }
}

static void test_index_linear_region_is_exact(void **state)
{
    (void)state;
    /* Below 2^(bits+1) every value has its own bucket: index == value. */
    for (unsigned bits = 1; bits <= 7; bits++)
        for (uint64_t v = 0; v < (2u << bits); v++) {
            assert_int_equal(mms_hist_index(v, bits, 36), v);
            assert_int_equal(mms_hist_bucket_low((uint32_t)v, bits, 36), v);
            assert_int_equal(mms_hist_bucket_high((uint32_t)v, bits, 36), v);
        }
    assert_int_equal(mms_hist_index(2u << 6, 6, 36), 128);
    assert_int_equal(mms_hist_index((2u << 6) + 1, 6, 36), 128);
    assert_int_equal(mms_hist_index((2u << 6) + 2, 6, 36), 129);
}

static void test_index_of_known_values(void **state)
{
    (void)state;
    /* bits 3, max_exp 12: group g >= 1 holds [2^(g+2), 2^(g+3)) in 8. */
    assert_int_equal(mms_hist_index(0, 3, 12), 0);
    assert_int_equal(mms_hist_index(7, 3, 12), 7);
    assert_int_equal(mms_hist_index(8, 3, 12), 8);
    assert_int_equal(mms_hist_index(15, 3, 12), 15);
    assert_int_equal(mms_hist_index(16, 3, 12), 16);
    assert_int_equal(mms_hist_index(17, 3, 12), 16);
    assert_int_equal(mms_hist_index(18, 3, 12), 17);
    assert_int_equal(mms_hist_index(31, 3, 12), 23);
    assert_int_equal(mms_hist_index(32, 3, 12), 24);
    assert_int_equal(mms_hist_index(1000, 3, 12), 63); /* 2^9 + 7*2^6 */
    assert_int_equal(mms_hist_index(4095, 3, 12), 79);
    assert_int_equal(mms_hist_index(4096, 3, 12), 80);
    assert_int_equal(mms_hist_bucket_low(63, 3, 12), 960);
    assert_int_equal(mms_hist_bucket_high(63, 3, 12), 1023);
    /* Defaults 6/36. */
    assert_int_equal(mms_hist_index(255, 6, 36), 191);
    assert_int_equal(mms_hist_index(256, 6, 36), 192);
    assert_int_equal(mms_hist_index(1000000, 6, 36), 954); /* 122 * 2^13 */
    assert_int_equal(mms_hist_bucket_low(954, 6, 36), 999424);
    assert_int_equal(mms_hist_bucket_high(954, 6, 36), 1007615);
    assert_int_equal(mms_hist_index((1ull << 36) - 1, 6, 36), 1983);
    assert_int_equal(mms_hist_bucket_high(1983, 6, 36), (1ull << 36) - 1);
}

static void test_index_powers_of_two_and_neighbours(void **state)
{
    (void)state;
    const unsigned geo[][2] = {{3, 12}, {6, 36}, {1, 2}, {7, 63}, {4, 40}};
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) {
        unsigned bits = geo[g][0], max_exp = geo[g][1];
        uint32_t over = mms_hist_nbuckets(bits, max_exp) - 1;
        for (unsigned e = 0; e < 64; e++) {
            uint64_t p = 1ull << e;
            uint64_t vs[] = {p - 1, p, p + 1, p + (p >> 1), 2 * p - 1};
            for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
                uint32_t want = ref_index(vs[k], bits, max_exp);
                assert_int_equal(mms_hist_index(vs[k], bits, max_exp), want);
                assert_true(want <= over);
            }
            /* A power of two starts a bucket (outside the overflow). */
            uint32_t i = mms_hist_index(p, bits, max_exp);
            if (i < over)
                assert_int_equal(mms_hist_bucket_low(i, bits, max_exp), p);
            /* Its lower neighbour ends the bucket before. */
            if (e > 0 && e <= max_exp) {
                uint32_t j = mms_hist_index(p - 1, bits, max_exp);
                assert_int_equal(j + 1, i);
                assert_int_equal(mms_hist_bucket_high(j, bits, max_exp), p - 1);
            }
        }
    }
}

static void test_overflow_bucket_takes_large_values(void **state)
{
    (void)state;
    const unsigned geo[][2] = {{3, 12}, {6, 36}, {1, 2}, {7, 63}};
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) {
        unsigned bits = geo[g][0], max_exp = geo[g][1];
        uint32_t over = mms_hist_nbuckets(bits, max_exp) - 1;
        uint64_t top = 1ull << max_exp;
        assert_int_equal(mms_hist_index(top, bits, max_exp), over);
        assert_int_equal(mms_hist_index(top + 1, bits, max_exp), over);
        assert_int_equal(mms_hist_index(UINT64_MAX, bits, max_exp), over);
        assert_int_equal(mms_hist_index(top - 1, bits, max_exp), over - 1);
        assert_int_equal(mms_hist_bucket_low(over, bits, max_exp), top);
        assert_int_equal(mms_hist_bucket_high(over, bits, max_exp), UINT64_MAX);
        assert_int_equal(mms_hist_bucket_high(over - 1, bits, max_exp),
                         top - 1);
    }
}

/* Every bucket of a geometry: [low, high] tiles 0..UINT64_MAX in order,
 * low and high map to the bucket, low-1 and high+1 to its neighbours,
 * and the width stays within 2^-bits of low. */
static void check_all_buckets(unsigned bits, unsigned max_exp)
{
    uint32_t n = mms_hist_nbuckets(bits, max_exp);
    uint64_t expect_low = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t lo = mms_hist_bucket_low(i, bits, max_exp);
        uint64_t hi = mms_hist_bucket_high(i, bits, max_exp);
        assert_int_equal(lo, expect_low);
        assert_true(lo <= hi);
        assert_int_equal(mms_hist_index(lo, bits, max_exp), i);
        assert_int_equal(mms_hist_index(hi, bits, max_exp), i);
        assert_int_equal(mms_hist_index(lo + (hi - lo) / 2, bits, max_exp), i);
        if (i > 0)
            assert_int_equal(mms_hist_index(lo - 1, bits, max_exp), i - 1);
        if (i + 1 < n) {
            assert_int_equal(mms_hist_index(hi + 1, bits, max_exp), i + 1);
            assert_true((double)(hi - lo + 1) <=
                            ldexp((double)lo, -(int)bits) ||
                        hi == lo);
            expect_low = hi + 1;
        } else {
            assert_int_equal(hi, UINT64_MAX);
        }
    }
}

static void test_every_bucket_bounds_match_index_3_12(void **state)
{
    (void)state;
    check_all_buckets(3, 12);
}

static void test_every_bucket_bounds_match_index_default(void **state)
{
    (void)state;
    check_all_buckets(MMS_HIST_DEFAULT_BITS, MMS_HIST_DEFAULT_MAX_EXP);
    check_all_buckets(1, 2);
    check_all_buckets(7, 63);
    check_all_buckets(1, 63);
}

static void test_add_value_fills_the_indexed_bucket(void **state)
{
    (void)state;
    struct mms_hist h;
    assert_int_equal(mms_hist_init(&h, 3, 12), 0);
    assert_int_equal(h.nbuckets, 81);
    assert_int_equal(h.count, 0);
    assert_true(mms_hist_quantile(&h, 0.5) == 0.0);
    assert_true(mms_hist_mean(&h) == 0.0);
    const uint64_t v[] = {0, 7, 17, 16, 4095, 4096, UINT64_MAX / 4};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        mms_hist_add_value(&h, v[i]);
    check_hist_holds(&h, v, sizeof v / sizeof v[0]);
    assert_int_equal(h.buckets[16], 2);
    assert_int_equal(h.buckets[80], 2);
    /* A quantile in the overflow bucket is the maximum. */
    assert_true(mms_hist_quantile(&h, 0.99) == (double)(UINT64_MAX / 4));
    assert_true(mms_hist_quantile(&h, 0.0) == 0.0);
    mms_hist_free(&h);
    assert_null(h.buckets);
    mms_hist_free(NULL);
}

/* ------------------------------------------------------------ accuracy */

static void test_quantiles_in_memory_within_1_percent(void **state)
{
    (void)state;
    for (int d = 0; d < NDIST; d++) {
        uint64_t *v = make_values((enum dist)d, 1000 + (uint64_t)d, NVALUES);
        uint64_t *s = sorted_copy(v, NVALUES);
        struct mms_hist h;
        hist_of(&h, MMS_HIST_DEFAULT_BITS, MMS_HIST_DEFAULT_MAX_EXP, v,
                NVALUES);
        check_hist_holds(&h, v, NVALUES);
        assert_true(half_bucket(MMS_HIST_DEFAULT_BITS) < 0.01);
        check_quantiles(&h, s, NVALUES, half_bucket(MMS_HIST_DEFAULT_BITS),
                        dist_names[d]);
        /* Quantile 1 is the exact maximum, 0 the exact minimum. */
        assert_true(mms_hist_quantile(&h, 1.0) == (double)s[NVALUES - 1]);
        assert_true(mms_hist_quantile(&h, 0.0) == (double)s[0]);
        mms_hist_free(&h);
        free(s);
        free(v);
    }
}

/* mms_hist_quantiles (one pass, ranks in any order, repeated, more than
 * MMS_HIST_QUANTILES_MAX of them, 0 and 1 among them) gives each the
 * value of mms_hist_quantile, which the test above checks against the
 * exact quantiles; an empty histogram gives zeros. */
static void test_quantiles_in_one_pass_equal_one_at_a_time(void **state)
{
    (void)state;
    const double q[] = {0.999, 0.5,  0.0,  0.25, 1.0,  0.5,  0.9,
                        0.01,  0.75, 0.33, 0.66, 0.1,  0.99, 0.2,
                        0.8,   0.4,  0.6,  0.05, 0.95, 0.001};
    enum { N = sizeof q / sizeof q[0] };
    assert_true(N > MMS_HIST_QUANTILES_MAX);
    for (int d = 0; d < NDIST; d++) {
        uint64_t *v = make_values((enum dist)d, 500 + (uint64_t)d, 5000);
        struct mms_hist h;
        hist_of(&h, MMS_HIST_DEFAULT_BITS, MMS_HIST_DEFAULT_MAX_EXP, v, 5000);
        double got[N];
        mms_hist_quantiles(&h, q, N, got);
        for (size_t k = 0; k < N; k++)
            if (got[k] != mms_hist_quantile(&h, q[k]))
                fail_msg("%s: q=%g: %.17g in one pass, %.17g alone",
                         dist_names[d], q[k], got[k],
                         mms_hist_quantile(&h, q[k]));
        mms_hist_free(&h);
        free(v);
    }
    struct mms_hist empty;
    assert_int_equal(mms_hist_init(&empty, 3, 12), 0);
    double got[3] = {1, 1, 1};
    mms_hist_quantiles(&empty, q, 3, got);
    for (int k = 0; k < 3; k++)
        assert_true(got[k] == 0.0);
    mms_hist_free(&empty);
}

static void test_lower_precision_within_its_bound(void **state)
{
    (void)state;
    for (unsigned bits = 1; bits <= 7; bits++) {
        for (int d = 0; d < NDIST; d++) {
            uint64_t *v =
                make_values((enum dist)d, 77 * bits + (unsigned)d, 20000);
            uint64_t *s = sorted_copy(v, 20000);
            struct mms_hist h;
            hist_of(&h, bits, 40, v, 20000);
            check_hist_holds(&h, v, 20000);
            check_quantiles(&h, s, 20000, half_bucket(bits), dist_names[d]);
            mms_hist_free(&h);
            free(s);
            free(v);
        }
    }
}

struct wfix {
    char *dir;
    mms_writer *w;
    mms_reader *r;
};

static int wsetup(void **state)
{
    struct wfix *fx = calloc(1, sizeof *fx);
    if (!fx || !(fx->dir = tu_mkdtemp()))
        return -1;
    fx->w = tu_writer(fx->dir, "hist.mmstats", NULL);
    if (mms_reader_open(&fx->r, mms_writer_path(fx->w)) < 0)
        return -1;
    *state = fx;
    return 0;
}

static int wteardown(void **state)
{
    struct wfix *fx = *state;
    mms_reader_close(fx->r);
    mms_writer_close(fx->w);
    tu_rmdir(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

/* The histogram of field NAME in a fresh snapshot, copied into OUT. */
static void read_hist(mms_reader *r, const char *name, struct mms_hist *out)
{
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    long i = tu_index(s, name);
    assert_true(i >= 0);
    const struct mms_value *v = mms_snapshot_value(s, (size_t)i);
    assert_int_equal(v->kind, MMS_KIND_HISTOGRAM);
    assert_int_equal(v->status, 0);
    const struct mms_hist *h = v->v.hist;
    assert_int_equal(mms_hist_init(out, h->bits, h->max_exp), 0);
    assert_int_equal(mms_hist_merge(out, h), 0);
    mms_snapshot_free(s);
}

static void test_quantiles_through_writer_field_within_1_percent(void **state)
{
    struct wfix *fx = *state;
    for (int d = 0; d < NDIST; d++) {
        char name[32];
        snprintf(name, sizeof name, "lat.%s", dist_names[d]);
        mms_field *f;
        assert_int_equal(mms_hist_new(fx->w, name, "ns", &f), 0);
        uint64_t *v = make_values((enum dist)d, 2000 + (uint64_t)d, NVALUES);
        uint64_t *s = sorted_copy(v, NVALUES);
        for (size_t i = 0; i < NVALUES; i++)
            mms_hist_record(f, v[i]);
        struct mms_hist h, mem;
        read_hist(fx->r, name, &h);
        assert_int_equal(h.bits, MMS_HIST_DEFAULT_BITS);
        assert_int_equal(h.max_exp, MMS_HIST_DEFAULT_MAX_EXP);
        check_hist_holds(&h, v, NVALUES);
        /* The same as a histogram built in memory, bucket for bucket. */
        hist_of(&mem, h.bits, h.max_exp, v, NVALUES);
        assert_memory_equal(h.buckets, mem.buckets,
                            h.nbuckets * sizeof *h.buckets);
        check_quantiles(&h, s, NVALUES, 0.01, dist_names[d]);
        check_quantiles(&h, s, NVALUES, half_bucket(h.bits), dist_names[d]);
        mms_hist_free(&mem);
        mms_hist_free(&h);
        free(s);
        free(v);
    }
}

/* The sparse form of the given histogram H (a snapshot's) against MEM,
 * the same values built in memory (dense): its used buckets are exactly
 * MEM's non-empty ones, index ascending, read alike by mms_hist_next and
 * mms_hist_bucket. */
static void check_sparse_is(const struct mms_hist *h,
                            const struct mms_hist *mem)
{
    assert_null(h->buckets);
    uint32_t pos = 0, mpos = 0, i, mi, n = 0;
    uint64_t c, mc;
    while (mms_hist_next(mem, &mpos, &mi, &mc)) {
        assert_true(mms_hist_next(h, &pos, &i, &c));
        assert_int_equal(i, mi);
        assert_int_equal(c, mc);
        n++;
    }
    assert_false(mms_hist_next(h, &pos, &i, &c));
    assert_int_equal(h->nused, n);
    for (uint32_t k = 0; k < mem->nbuckets + 2; k++)
        assert_int_equal(mms_hist_bucket(h, k), mms_hist_bucket(mem, k));
}

/* A snapshot's histogram is sparse and complete: a field with chunks
 * (many values), one whose three values live in its cell's head, and an
 * empty one, each against the same values in memory; quantiles of the
 * sparse form are those of the dense one. */
static void test_snapshot_hist_is_sparse_and_exact(void **state)
{
    struct wfix *fx = *state;
    mms_field *f[3];
    assert_int_equal(mms_hist_new(fx->w, "sp.many", "ns", &f[0]), 0);
    assert_int_equal(mms_hist_new(fx->w, "sp.three", "ns", &f[1]), 0);
    assert_int_equal(mms_hist_new(fx->w, "sp.none", "ns", &f[2]), 0);
    uint64_t *v = make_values(LOGNORMAL, 77, NVALUES);
    for (size_t i = 0; i < NVALUES; i++)
        mms_hist_record(f[0], v[i]);
    const uint64_t three[] = {5, 70000, 1u << 30};
    for (size_t i = 0; i < 3; i++)
        mms_hist_record(f[1], three[i]);
    const struct {
        const char *name;
        const uint64_t *v;
        size_t n;
    } want[] = {
        {"sp.many", v, NVALUES}, {"sp.three", three, 3}, {"sp.none", NULL, 0}};
    mms_snapshot *s;
    for (int round = 0; round < 2; round++) { /* the second reuses buffers */
        assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
        for (size_t k = 0; k < 3; k++) {
            long i = tu_index(s, want[k].name);
            assert_true(i >= 0);
            const struct mms_value *val = mms_snapshot_value(s, (size_t)i);
            assert_int_equal(val->status, 0);
            const struct mms_hist *h = val->v.hist;
            struct mms_hist mem;
            hist_of(&mem, h->bits, h->max_exp, want[k].v, want[k].n);
            check_sparse_is(h, &mem);
            assert_int_equal(h->count, mem.count);
            const double q[] = {0.5, 0.9, 0.99, 0.999};
            double a[4], b[4];
            mms_hist_quantiles(h, q, 4, a);
            mms_hist_quantiles(&mem, q, 4, b);
            assert_memory_equal(a, b, sizeof a);
            struct mms_hist d; /* a difference of sparse ones is dense */
            assert_int_equal(mms_hist_sub(&d, h, h), 0);
            assert_int_equal(d.count, 0);
            assert_int_equal(mms_hist_merge(&d, h), 0);
            assert_memory_equal(d.buckets, mem.buckets,
                                mem.nbuckets * sizeof *mem.buckets);
            mms_hist_free(&d);
            mms_hist_free(&mem);
        }
        mms_snapshot_free(s);
    }
    free(v);
}

/* A reader's second snapshot reuses the first one's buffers, resetting
 * only what the first wrote: it holds exactly the values recorded (none
 * counted twice, none missed), values in chunks the first did not use
 * included, as the first snapshot of a new reader does. */
static void test_reused_snapshot_holds_exactly_the_values(void **state)
{
    struct wfix *fx = *state;
    mms_field *f, *c;
    assert_int_equal(mms_hist_new(fx->w, "reuse.lat", "ns", &f), 0);
    assert_int_equal(mms_counter_new(fx->w, "reuse.n", NULL, &c), 0);
    uint64_t v[3000];
    for (size_t i = 0; i < 3000; i++)
        v[i] = i < 1000 ? 100 + i : (uint64_t)1 << (10 + i % 20);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 1000 * (size_t)round; i < 1000 * (size_t)round + 1000;
             i++) {
            mms_hist_record(f, v[i]);
            mms_counter_inc(c);
        }
        struct mms_hist h;
        read_hist(fx->r, "reuse.lat", &h); /* the reader's spare, reused */
        check_hist_holds(&h, v, 1000 * (size_t)round + 1000);
        mms_hist_free(&h);
        mms_snapshot *s;
        assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
        long i = tu_index(s, "reuse.n");
        assert_true(i >= 0);
        assert_int_equal(mms_snapshot_value(s, (size_t)i)->v.u64,
                         1000 * round + 1000);
        mms_snapshot_free(s);
    }
}

static void test_lower_precision_fields_within_their_bound(void **state)
{
    struct wfix *fx = *state;
    const uint8_t bits[] = {1, 2, 3, 5, 7};
    for (size_t k = 0; k < sizeof bits; k++) {
        char name[32];
        snprintf(name, sizeof name, "low.b%u", bits[k]);
        struct mms_field_spec spec = {.name = name,
                                      .kind = MMS_KIND_HISTOGRAM,
                                      .hist_bits = bits[k],
                                      .hist_max_exp = 40};
        mms_field *f;
        assert_int_equal(mms_field_add(fx->w, &spec, &f), 0);
        uint64_t *v = make_values(LOGNORMAL, 3000 + k, 50000);
        uint64_t *s = sorted_copy(v, 50000);
        for (size_t i = 0; i < 50000; i++)
            mms_hist_record(f, v[i]);
        struct mms_hist h;
        read_hist(fx->r, name, &h);
        assert_int_equal(h.bits, bits[k]);
        assert_int_equal(h.max_exp, 40);
        assert_int_equal(h.nbuckets, mms_hist_nbuckets(bits[k], 40));
        check_hist_holds(&h, v, 50000);
        check_quantiles(&h, s, 50000, half_bucket(bits[k]), name);
        mms_hist_free(&h);
        free(s);
        free(v);
    }
    /* Geometries the format cannot hold are refused. */
    struct mms_field_spec bad = {
        .name = "low.bad", .kind = MMS_KIND_HISTOGRAM, .hist_bits = 8};
    mms_field *f;
    assert_int_equal(mms_field_add(fx->w, &bad, &f), -EINVAL);
    bad.hist_bits = 6;
    bad.hist_max_exp = 64;
    assert_int_equal(mms_field_add(fx->w, &bad, &f), -EINVAL);
    bad.hist_bits = 5;
    bad.hist_max_exp = 5;
    assert_int_equal(mms_field_add(fx->w, &bad, &f), -EINVAL);
    assert_null(tu_find(fx->w, "low.bad"));
}

/* --------------------------------------------------------- merge, sub */

static void test_merge_of_two_is_histogram_of_union(void **state)
{
    (void)state;
    uint64_t *a = make_values(EXPONENTIAL, 11, NVALUES);
    uint64_t *b = make_values(BIMODAL, 12, NVALUES);
    uint64_t *u = malloc(2 * NVALUES * sizeof *u);
    assert_non_null(u);
    memcpy(u, a, NVALUES * sizeof *u);
    memcpy(u + NVALUES, b, NVALUES * sizeof *u);
    struct mms_hist ha, hb, hu, empty;
    hist_of(&ha, 6, 36, a, NVALUES);
    hist_of(&hb, 6, 36, b, NVALUES);
    hist_of(&hu, 6, 36, u, 2 * NVALUES);
    assert_int_equal(mms_hist_init(&empty, 6, 36), 0);

    assert_int_equal(mms_hist_merge(&ha, &hb), 0);
    check_hist_holds(&ha, u, 2 * NVALUES);
    assert_memory_equal(ha.buckets, hu.buckets,
                        hu.nbuckets * sizeof *hu.buckets);
    uint64_t *s = sorted_copy(u, 2 * NVALUES);
    check_quantiles(&ha, s, 2 * NVALUES, half_bucket(6), "merged");

    /* Merging an empty histogram changes nothing; merging into an empty
     * one copies (min included, which an empty one holds as 0). */
    assert_int_equal(mms_hist_merge(&ha, &empty), 0);
    check_hist_holds(&ha, u, 2 * NVALUES);
    assert_int_equal(mms_hist_merge(&empty, &hb), 0);
    check_hist_holds(&empty, b, NVALUES);

    /* Another geometry: MMS_EKIND, and INTO unchanged. */
    struct mms_hist other;
    hist_of(&other, 5, 36, a, 10);
    assert_int_equal(mms_hist_merge(&ha, &other), MMS_EKIND);
    check_hist_holds(&ha, u, 2 * NVALUES);
    mms_hist_free(&other);
    hist_of(&other, 6, 35, a, 10);
    assert_int_equal(mms_hist_merge(&ha, &other), MMS_EKIND);
    struct mms_hist out;
    assert_int_equal(mms_hist_sub(&out, &ha, &other), MMS_EKIND);
    mms_hist_free(&other);

    mms_hist_free(&ha);
    mms_hist_free(&hb);
    mms_hist_free(&hu);
    mms_hist_free(&empty);
    free(s);
    free(u);
    free(a);
    free(b);
}

/* OUT = NOW - BEFORE against the values B recorded in between: counts,
 * sum and buckets exact; quantiles below 1 within half a bucket; min and
 * max bounds of the true ones, within their bucket. */
static void check_interval(const struct mms_hist *d, const uint64_t *b,
                           size_t n, const char *what)
{
    uint64_t *s = sorted_copy(b, n);
    struct mms_hist hb;
    hist_of(&hb, d->bits, d->max_exp, b, n);
    assert_int_equal(d->count, n);
    assert_int_equal(d->sum, hb.sum);
    assert_true(mms_hist_mean(d) == mms_hist_mean(&hb));
    assert_memory_equal(d->buckets, hb.buckets,
                        hb.nbuckets * sizeof *hb.buckets);
    for (size_t k = 0; k + 1 < NQ; k++) {
        double want = (double)exact_quantile(s, n, quantiles[k]);
        double got = mms_hist_quantile(d, quantiles[k]);
        double err = want == 0 ? fabs(got) : fabs(got - want) / want;
        if (!(err <= half_bucket(d->bits)))
            fail_msg("%s: q=%g: got %.17g, exact %.17g", what, quantiles[k],
                     got, want);
    }
    /* The interval's min and max are not recorded: they are bounds from
     * its outermost buckets, so each is within one bucket of the truth. */
    uint64_t mn = s[0], mx = s[n - 1];
    assert_true(d->min <= mn);
    assert_int_equal(mms_hist_index(d->min, d->bits, d->max_exp),
                     mms_hist_index(mn, d->bits, d->max_exp));
    assert_true(d->max >= mx);
    assert_int_equal(mms_hist_index(d->max, d->bits, d->max_exp),
                     mms_hist_index(mx, d->bits, d->max_exp));
    double q1 = mms_hist_quantile(d, 1.0);
    assert_true(fabs(q1 - (double)mx) / (double)mx <=
                ldexp(1.0, -(int)d->bits));
    mms_hist_free(&hb);
    free(s);
}

static void test_sub_gives_values_recorded_between_snapshots(void **state)
{
    struct wfix *fx = *state;
    for (int d = 0; d < NDIST; d++) {
        char name[32];
        snprintf(name, sizeof name, "iv.%s", dist_names[d]);
        mms_field *f;
        assert_int_equal(mms_hist_new(fx->w, name, NULL, &f), 0);
        uint64_t *a = make_values(PARETO, 4000 + (uint64_t)d, NVALUES);
        uint64_t *b = make_values((enum dist)d, 5000 + (uint64_t)d, NVALUES);
        for (size_t i = 0; i < NVALUES; i++)
            mms_hist_record(f, a[i]);
        struct mms_hist before, now, diff;
        read_hist(fx->r, name, &before);
        for (size_t i = 0; i < NVALUES; i++)
            mms_hist_record(f, b[i]);
        read_hist(fx->r, name, &now);
        assert_int_equal(now.count, 2 * NVALUES);
        assert_int_equal(mms_hist_sub(&diff, &now, &before), 0);
        check_interval(&diff, b, NVALUES, name);
        mms_hist_free(&diff);
        /* Nothing recorded in between: an empty difference. */
        assert_int_equal(mms_hist_sub(&diff, &now, &now), 0);
        assert_int_equal(diff.count, 0);
        assert_int_equal(diff.sum, 0);
        assert_int_equal(diff.min, 0);
        assert_int_equal(diff.max, 0);
        assert_true(mms_hist_quantile(&diff, 0.5) == 0.0);
        mms_hist_free(&diff);
        mms_hist_free(&before);
        mms_hist_free(&now);
        free(a);
        free(b);
    }
}

static void test_sub_quantiles_exact_when_interval_holds_extremes(void **state)
{
    (void)state;
    /* When the interval holds the overall maximum (and its minimum is
     * the overall minimum's), quantile 1 is exact again, and all others
     * stay within 1%. */
    uint64_t *a = make_values(UNIFORM, 21, NVALUES);
    uint64_t *b = make_values(UNIFORM, 22, NVALUES);
    for (size_t i = 0; i < NVALUES; i++)
        a[i] = 1000 + a[i] % 1000000; /* A below B's range */
    for (size_t i = 0; i < NVALUES; i++)
        b[i] = 2000000 + b[i];
    struct mms_hist before, now, diff;
    hist_of(&before, 6, 36, a, NVALUES);
    assert_int_equal(mms_hist_init(&now, 6, 36), 0);
    assert_int_equal(mms_hist_merge(&now, &before), 0);
    for (size_t i = 0; i < NVALUES; i++)
        mms_hist_add_value(&now, b[i]);
    assert_int_equal(mms_hist_sub(&diff, &now, &before), 0);
    uint64_t *s = sorted_copy(b, NVALUES);
    check_quantiles(&diff, s, NVALUES, 0.01, "interval");
    assert_true(mms_hist_quantile(&diff, 1.0) == (double)s[NVALUES - 1]);
    check_interval(&diff, b, NVALUES, "interval");
    mms_hist_free(&diff);
    mms_hist_free(&before);
    mms_hist_free(&now);
    free(s);
    free(a);
    free(b);
}

/* ------------------------------------ cells without chunks (format 3.1) */

/* Values in four different powers of two (four different chunks). */
static const uint64_t few_values[] = {700, 90000, 12, 5000000};

/* Chunks named by this thread's cell of histogram F. */
static unsigned cell_chunks(mms_field *f)
{
    uint8_t *cell = mms__row_cell(mms__tls[f->w->slot].sh, f->index);
    assert_non_null(cell);
    const uint32_t *dir =
        (const uint32_t *)(cell + sizeof(struct mms_hist_cell));
    unsigned n = 0;
    for (uint32_t c = 0; c < f->nchunks; c++)
        n += dir[c] != 0;
    return n;
}

/* H holds exactly the N values V: head, every bucket, every quantile. */
static void assert_hist_exact(const struct mms_hist *h, const uint64_t *v,
                              size_t n)
{
    struct mms_hist mem;
    hist_of(&mem, h->bits, h->max_exp, v, n);
    assert_int_equal(h->count, mem.count);
    assert_int_equal(h->sum, mem.sum);
    assert_int_equal(h->min, mem.min);
    assert_int_equal(h->max, mem.max);
    assert_memory_equal(h->buckets, mem.buckets,
                        h->nbuckets * sizeof *h->buckets);
    for (size_t q = 0; q < NQ; q++)
        assert_true(mms_hist_quantile(h, quantiles[q]) ==
                    mms_hist_quantile(&mem, quantiles[q]));
    mms_hist_free(&mem);
}

/* 1, 2 and 3 values need no chunk, and read back exactly; the 4th makes
 * the chunks of all four, the first three put in their buckets. */
static void test_first_three_values_need_no_chunk(void **state)
{
    struct wfix *fx = *state;
    for (size_t n = 1; n <= 4; n++) {
        char name[32];
        snprintf(name, sizeof name, "few.%zu", n);
        mms_field *f;
        assert_int_equal(mms_hist_new(fx->w, name, "ns", &f), 0);
        for (size_t k = 0; k < n; k++) {
            mms_hist_record(f, few_values[k]);
            assert_int_equal(cell_chunks(f), k < 3 ? 0 : 4);
            struct mms_hist h;
            read_hist(fx->r, name, &h);
            assert_hist_exact(&h, few_values, k + 1);
            mms_hist_free(&h);
        }
    }
    /* The same value three times: min, max and sum - min - max agree. */
    mms_field *f;
    assert_int_equal(mms_hist_new(fx->w, "same", "ns", &f), 0);
    const uint64_t same[] = {42, 42, 42};
    for (int k = 0; k < 3; k++)
        mms_hist_record(f, same[k]);
    struct mms_hist h;
    read_hist(fx->r, "same", &h);
    assert_hist_exact(&h, same, 3);
    mms_hist_free(&h);
}

struct few_thread {
    mms_field *f;
    const uint64_t *v;
    size_t n;
    pthread_barrier_t *hold; /* NULL: exit at once */
};

static void *record_few(void *arg)
{
    struct few_thread *t = arg;
    for (size_t k = 0; k < t->n; k++)
        mms_hist_record(t->f, t->v[k]);
    if (t->hold) {
        pthread_barrier_wait(t->hold); /* recorded */
        pthread_barrier_wait(t->hold); /* read: may exit */
    }
    return NULL;
}

/* A chunkless cell's values move to shard 0's chunks when its thread
 * exits, and chunkless cells merge with chunked ones (another thread's,
 * shard 0's): exact at every step. */
static void test_chunkless_cells_merge_and_move_exactly(void **state)
{
    struct wfix *fx = *state;
    mms_field *f;
    assert_int_equal(mms_hist_new(fx->w, "mix", "ns", &f), 0);
    const uint64_t all[] = {3,    800000,    /* main */
                            77,   123456789, /* thread B */
                            9,    10,        11,
                            4000, 4100,      1u << 30}; /* thread A */
    mms_hist_record(f, all[0]);
    mms_hist_record(f, all[1]);
    assert_int_equal(cell_chunks(f), 0);
    /* B: two values, then it exits; they move to shard 0. */
    struct few_thread b = {f, all + 2, 2, NULL};
    pthread_t tb, ta;
    assert_int_equal(pthread_create(&tb, NULL, record_few, &b), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    struct mms_hist h;
    read_hist(fx->r, "mix", &h);
    assert_hist_exact(&h, all, 4);
    mms_hist_free(&h);
    /* A: six values (chunks from its 4th), read while it lives. */
    pthread_barrier_t hold;
    assert_int_equal(pthread_barrier_init(&hold, NULL, 2), 0);
    struct few_thread a = {f, all + 4, 6, &hold};
    assert_int_equal(pthread_create(&ta, NULL, record_few, &a), 0);
    pthread_barrier_wait(&hold);
    read_hist(fx->r, "mix", &h);
    assert_hist_exact(&h, all, 10);
    mms_hist_free(&h);
    pthread_barrier_wait(&hold);
    assert_int_equal(pthread_join(ta, NULL), 0);
    read_hist(fx->r, "mix", &h);
    assert_hist_exact(&h, all, 10);
    mms_hist_free(&h);
    assert_int_equal(cell_chunks(f), 0); /* main's cell: still none */
    pthread_barrier_destroy(&hold);
}

/* A record's histogram member goes without chunks the same way. */
static void test_record_hist_members_chunkless_exact(void **state)
{
    struct wfix *fx = *state;
    const struct mms_table_member tm[] = {
        {.name = "lat", .kind = MMS_MK_HIST, .units = "ns"}};
    struct mms_table_spec ts = {
        .name = "recs", .capacity = 8, .members = tm, .nmembers = 1};
    mms_table *t;
    assert_int_equal(mms_table_new(fx->w, &ts, &t), 0);
    for (size_t n = 1; n <= 4; n++) {
        char key[8];
        snprintf(key, sizeof key, "k%zu", n);
        uint32_t rec;
        assert_int_equal(mms_record_get(t, key, strlen(key), &rec), 0);
        for (size_t k = 0; k < n; k++)
            mms_record_update(t, rec, 0, few_values[k]);
    }
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    assert_int_equal(mms_snapshot_ntables(s), 1);
    size_t seen = 0;
    for (size_t r = 0; r < mms_snapshot_nrecords(s, 0); r++) {
        const struct mms_record_info *ri = mms_snapshot_record(s, 0, r);
        if (ri->overflow)
            continue;
        size_t n = (size_t)(ri->key[1] - '0');
        struct mms_hist h;
        assert_int_equal(mms_snapshot_record_hist(s, 0, r, 0, &h), 0);
        assert_hist_exact(&h, few_values, n);
        mms_hist_free(&h);
        seen++;
    }
    assert_int_equal(seen, 4);
    mms_snapshot_free(s);
}

/* A 3.0 file (every value in a chunk) reads as before: the minor
 * version set back to 0, the same histogram. */
static void test_version_3_0_file_reads_as_before(void **state)
{
    struct wfix *fx = *state;
    mms_field *f;
    assert_int_equal(mms_hist_new(fx->w, "old", "ns", &f), 0);
    for (size_t k = 0; k < 4; k++)
        mms_hist_record(f, few_values[k]);
    fx->w->hdr->p.minor = 0;
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->w)), 0);
    struct mms_hist h;
    read_hist(r, "old", &h);
    assert_hist_exact(&h, few_values, 4);
    mms_hist_free(&h);
    mms_reader_close(r);
}

/* ------------------------------- u32 chunks of a thread's shard (3.2) */

/* The count of V's bucket in a fresh snapshot of field NAME. */
static uint64_t bucket_read(mms_reader *r, const char *name, uint64_t v)
{
    struct mms_hist h;
    read_hist(r, name, &h);
    uint64_t n = h.buckets[mms__hist_index(v, h.bits, h.max_exp)];
    mms_hist_free(&h);
    return n;
}

struct carry_thread {
    mms_field *f;
    struct mms_hist_view *hv;
    uint64_t v;
};

/* Record V four times (its chunk made), set its bucket to 2^32 - 6
 * (2^32 records take too long), then record it 8 times more, by the
 * core's record and by the shim's inline one (mms__hist_record_owned):
 * past 2^32 - 1 the bucket wraps and carries 2^32 into shard 0. The
 * bucket's count: 2^32 + 2. */
static void *carry_records(void *arg)
{
    struct carry_thread *t = arg;
    for (int k = 0; k < 4; k++) /* chunkless up to 3: the 4th makes it */
        mms_hist_record(t->f, t->v);
    uint32_t *b = tu_own_bucket(t->f, t->v);
    assert_int_equal(*b, 4);
    *b = UINT32_MAX - 5;
    mms_hist_record(t->f, t->v);
    assert_int_equal(*b, UINT32_MAX - 4);
    uint8_t *cell = mms__cell(t->f).p;
    for (int k = 0; k < 4; k++)
        mms__hist_record_owned(t->hv, cell, t->v);
    assert_int_equal(*b, UINT32_MAX);
    mms_hist_record(t->f, t->v); /* wraps */
    assert_int_equal(*b, 0);
    mms__hist_record_owned(t->hv, cell, t->v);
    mms__hist_record_owned(t->hv, cell, t->v);
    assert_int_equal(*b, 2);
    return NULL;
}

/* A bucket of a thread's own shard is a u32 in a CHUNK32 block; past
 * 2^32 - 1 it carries into shard 0, and readers see every value, while
 * the thread lives and after its exit moved its cell to shard 0. */
static void test_u32_bucket_carries_into_shard_0(void **state)
{
    struct wfix *fx = *state;
    mms_field *f;
    assert_int_equal(mms_hist_new(fx->w, "carry", "ns", &f), 0);
    struct mms_hist_view hv;
    assert_true(mms__hist_view(f, &hv));
    /* (2^32 - 6) + 1 + 4 + 1 + 2 in the bucket, per thread. */
    const uint64_t want = (1ull << 32) + 2;
    struct carry_thread t = {f, &hv, 5000};
    carry_records(&t); /* this thread: read while it lives */
    assert_int_equal(bucket_read(fx->r, "carry", 5000), want);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, carry_records, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0); /* moved to shard 0 */
    assert_int_equal(bucket_read(fx->r, "carry", 5000), 2 * want);
    /* Two carries and a thread's exit: the retire counters moved. */
    assert_int_equal(fx->w->hdr->retire_begin, fx->w->hdr->retire_end);
    assert_true(fx->w->hdr->retire_end >= 3);
}

/* A file of the 3.1 layout (a thread's chunks u64 CHUNK blocks in the
 * heap, of whole cache lines) reads as before: this thread's CHUNK32
 * chunks copied into such blocks, the directory pointed at them, the
 * minor set back to 1. */
static void test_version_3_1_chunks_read_as_before(void **state)
{
    struct wfix *fx = *state;
    mms_writer *w = fx->w;
    mms_field *f;
    assert_int_equal(mms_hist_new(w, "old31", "ns", &f), 0);
    for (size_t k = 0; k < 4; k++)
        mms_hist_record(f, few_values[k]);
    uint8_t *cell = mms__row_cell(mms__tls[w->slot].sh, f->index);
    uint32_t *dir = (uint32_t *)(cell + sizeof(struct mms_hist_cell));
    for (uint32_t c = 0; c < f->nchunks; c++) {
        if (!dir[c])
            continue;
        const struct mms_chunk_block *old =
            (const struct mms_chunk_block *)mms__ptr(w, dir[c]);
        assert_int_equal(old->b.type, MMS_BLOCK_CHUNK32);
        uint64_t o = mms__block_alloc(
            w, MMS_BLOCK_CHUNK, mms__chunk_block_size(old->nbuckets), MMS_LINE);
        assert_true(o != 0);
        struct mms_chunk_block *cb = (struct mms_chunk_block *)mms__ptr(w, o);
        cb->index = old->index;
        cb->member = old->member;
        cb->chunk = old->chunk;
        cb->shard = old->shard;
        cb->nbuckets = old->nbuckets;
        for (uint32_t k = 0; k < old->nbuckets; k++)
            ((uint64_t *)(cb + 1))[k] = ((const uint32_t *)(old + 1))[k];
        mms__block_publish(w, &cb->b, MMS_BS_READY);
        dir[c] = (uint32_t)o;
    }
    w->hdr->p.minor = 1;
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w)), 0);
    struct mms_hist h;
    read_hist(r, "old31", &h);
    assert_hist_exact(&h, few_values, 4);
    mms_hist_free(&h);
    mms_reader_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nbuckets_follows_the_format_formula),
        cmocka_unit_test(test_invalid_geometries_give_zero_buckets),
        cmocka_unit_test(test_index_linear_region_is_exact),
        cmocka_unit_test(test_index_of_known_values),
        cmocka_unit_test(test_index_powers_of_two_and_neighbours),
        cmocka_unit_test(test_overflow_bucket_takes_large_values),
        cmocka_unit_test(test_every_bucket_bounds_match_index_3_12),
        cmocka_unit_test(test_every_bucket_bounds_match_index_default),
        cmocka_unit_test(test_add_value_fills_the_indexed_bucket),
        cmocka_unit_test(test_quantiles_in_memory_within_1_percent),
        cmocka_unit_test(test_quantiles_in_one_pass_equal_one_at_a_time),
        cmocka_unit_test_setup_teardown(
            test_reused_snapshot_holds_exactly_the_values, wsetup, wteardown),
        cmocka_unit_test(test_lower_precision_within_its_bound),
        cmocka_unit_test_setup_teardown(
            test_quantiles_through_writer_field_within_1_percent, wsetup,
            wteardown),
        cmocka_unit_test_setup_teardown(
            test_lower_precision_fields_within_their_bound, wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_snapshot_hist_is_sparse_and_exact,
                                        wsetup, wteardown),
        cmocka_unit_test(test_merge_of_two_is_histogram_of_union),
        cmocka_unit_test_setup_teardown(
            test_sub_gives_values_recorded_between_snapshots, wsetup,
            wteardown),
        cmocka_unit_test(test_sub_quantiles_exact_when_interval_holds_extremes),
        cmocka_unit_test_setup_teardown(test_first_three_values_need_no_chunk,
                                        wsetup, wteardown),
        cmocka_unit_test_setup_teardown(
            test_chunkless_cells_merge_and_move_exactly, wsetup, wteardown),
        cmocka_unit_test_setup_teardown(
            test_record_hist_members_chunkless_exact, wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_version_3_0_file_reads_as_before,
                                        wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_u32_bucket_carries_into_shard_0,
                                        wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_version_3_1_chunks_read_as_before,
                                        wsetup, wteardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
