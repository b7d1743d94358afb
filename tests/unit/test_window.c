/* Time windows: per-second rings of windowed counters and histograms, read
 * back with mms_snapshot_window_at under an injected writer clock. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"
#include "update.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#define SLOW_BUILD 0
#endif

#define NS 1000000000ll
#define T0 1000u /* the first second the tests write in */

/* The writer's clock: a variable the tests move. */
static int64_t fake_ns;

static int64_t fake_clock(void)
{
    return __atomic_load_n(&fake_ns, __ATOMIC_RELAXED);
}

/* Move the clock to second SEC, FRAC ns into it. */
static void set_clock(uint64_t sec, int64_t frac)
{
    __atomic_store_n(&fake_ns, (int64_t)sec * NS + frac, __ATOMIC_RELAXED);
}

/* The windowed counter's flags: its ring in its cells, or (format 3.2)
 * in a RING block made on a cell's second distinct second. The counter
 * tests run with both (setup_ring, setup_ring_shared). */
static unsigned counter_flags = MMS_DF_WINDOW;

struct fix {
    struct tu_fx tu;         /* first: tu_setup_sized, tu_teardown */
    mms_field *wc, *wh;      /* windowed counter and histogram */
    mms_field *pc, *ph, *pg; /* plain counter, histogram, gauge */
};

static int setup(void **state)
{
    if (tu_setup_sized(state, sizeof(struct fix)) < 0)
        return -1;
    struct fix *fx = *state;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.clock_ns = fake_clock;
    set_clock(T0, 0);
    fx->tu.w = tu_writer(fx->tu.dir, "win.mmstats", &o);
    struct mms_field_spec c = {.name = "win.count",
                               .kind = MMS_KIND_COUNTER,
                               .units = "requests",
                               .flags = counter_flags};
    struct mms_field_spec h = {.name = "win.lat",
                               .kind = MMS_KIND_HISTOGRAM,
                               .units = "ns",
                               .flags = MMS_DF_WINDOW};
    if (mms_field_add(fx->tu.w, &c, &fx->wc) < 0 ||
        mms_field_add(fx->tu.w, &h, &fx->wh) < 0 ||
        mms_counter_new(fx->tu.w, "plain.count", NULL, &fx->pc) < 0 ||
        mms_hist_new(fx->tu.w, "plain.lat", NULL, &fx->ph) < 0 ||
        mms_gauge_new(fx->tu.w, "plain.gauge", NULL, &fx->pg) < 0)
        return -1;
    tu_reader(&fx->tu);
    return 0;
}

/* The window of NAME over SECONDS before NOW_NS, from a fresh snapshot.
 * Returns mms_snapshot_window_at's code; OUT is valid when it is 0. */
static int window_of(struct fix *fx, const char *name, unsigned seconds,
                     int64_t now_ns, struct mms_window *out)
{
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->tu.r, &s), 0);
    long i = tu_index(s, name);
    assert_true(i >= 0);
    int rc = mms_snapshot_window_at(s, (size_t)i, seconds, now_ns, out);
    mms_snapshot_free(s);
    return rc;
}

/* The count of a counter window; also checks seconds and rate. */
static uint64_t counter_window(struct fix *fx, unsigned seconds, int64_t now_ns)
{
    struct mms_window w;
    assert_int_equal(window_of(fx, "win.count", seconds, now_ns, &w), 0);
    assert_int_equal(w.seconds, seconds);
    assert_true(w.rate == (double)w.count / seconds);
    uint64_t c = w.count;
    mms_window_free(&w);
    return c;
}

/* ------------------------------------------- a reference ring model */

/* What the ring should hold: per slot, its second and that second's sum.
 * A write to a second resets a slot that held another one. */
struct model {
    uint64_t sec[MMS_WINDOW_SLOTS], sum[MMS_WINDOW_SLOTS];
};

static void model_add(struct model *m, uint64_t sec, uint64_t n)
{
    uint32_t p = sec % MMS_WINDOW_SLOTS;
    if (m->sec[p] != sec) {
        m->sec[p] = sec;
        m->sum[p] = 0;
    }
    m->sum[p] += n;
}

static uint64_t model_window(const struct model *m, uint64_t now_sec,
                             unsigned n)
{
    uint64_t total = 0;
    for (uint64_t sec = now_sec > n ? now_sec - n : 0; sec < now_sec; sec++)
        if (sec && m->sec[sec % MMS_WINDOW_SLOTS] == sec)
            total += m->sum[sec % MMS_WINDOW_SLOTS];
    return total;
}

/* --------------------------------------------------------- counters */

static uint64_t amount(uint64_t s)
{
    return 1 + s * s;
}

static uint64_t amounts(uint64_t from, uint64_t to) /* [from, to] */
{
    uint64_t t = 0;
    for (uint64_t s = from; s <= to; s++)
        t += amount(s);
    return t;
}

static void test_counter_window_sums_last_complete_seconds(void **state)
{
    struct fix *fx = *state;
    /* Second T0+s gets amount(s), in two adds; then the current second
     * T0+70 gets a large amount no window may include. */
    for (uint64_t s = 0; s < 70; s++) {
        set_clock(T0 + s, (int64_t)(s * 12345678 % NS));
        mms_counter_add(fx->wc, amount(s) / 2);
        set_clock(T0 + s, NS - 1);
        mms_counter_add(fx->wc, amount(s) - amount(s) / 2);
    }
    set_clock(T0 + 70, 1);
    mms_counter_add(fx->wc, 1000000000);
    int64_t now = (int64_t)(T0 + 70) * NS + NS / 2;
    assert_int_equal(counter_window(fx, 1, now), amount(69));
    assert_int_equal(counter_window(fx, 10, now), amounts(60, 69));
    assert_int_equal(counter_window(fx, 60, now), amounts(10, 69));
    /* Any instant of the current second gives the same windows. */
    assert_int_equal(counter_window(fx, 10, (int64_t)(T0 + 70) * NS),
                     amounts(60, 69));
    assert_int_equal(counter_window(fx, 10, (int64_t)(T0 + 71) * NS - 1),
                     amounts(60, 69));
    /* One second later, T0+70 is complete and counts. */
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 71) * NS),
                     1000000000);
    assert_int_equal(counter_window(fx, 10, (int64_t)(T0 + 71) * NS),
                     amounts(61, 69) + 1000000000);
    /* The total counts everything, windows or not. */
    assert_int_equal(tu_counter(fx->tu.r, "win.count"),
                     amounts(0, 69) + 1000000000);
    /* rate = count / seconds. */
    struct mms_window w;
    assert_int_equal(window_of(fx, "win.count", 10, now, &w), 0);
    assert_true(w.rate == (double)amounts(60, 69) / 10.0);
    assert_int_equal(w.sum, amounts(60, 69));
    assert_null(w.hist.buckets);
    mms_window_free(&w);
}

static void test_counter_window_matches_ring_model_everywhere(void **state)
{
    struct fix *fx = *state;
    struct model m;
    memset(&m, 0, sizeof m);
    /* Irregular writes over 150 seconds, with gaps; then every window
     * length at every second from T0 to past the end. */
    for (uint64_t s = 0; s < 150; s++) {
        if (s % 7 == 3 || (s > 80 && s < 100))
            continue;
        set_clock(T0 + s, 999);
        mms_counter_add(fx->wc, amount(s));
        model_add(&m, T0 + s, amount(s));
    }
    mms_snapshot *snap;
    assert_int_equal(mms_snapshot_take(fx->tu.r, &snap), 0);
    long i = tu_index(snap, "win.count");
    assert_true(i >= 0);
    uint64_t checked_nonzero = 0;
    for (uint64_t now = T0; now <= T0 + 220; now++) {
        for (unsigned n = 1; n <= 60; n++) {
            struct mms_window w;
            assert_int_equal(mms_snapshot_window_at(snap, (size_t)i, n,
                                                    (int64_t)now * NS + 7, &w),
                             0);
            uint64_t want = model_window(&m, now, n);
            if (w.count != want)
                fail_msg("now T0+%llu, %u s: %llu, want %llu",
                         (unsigned long long)(now - T0), n,
                         (unsigned long long)w.count, (unsigned long long)want);
            checked_nonzero += want != 0;
            mms_window_free(&w);
        }
    }
    mms_snapshot_free(snap);
    assert_true(checked_nonzero > 1000);
}

static void test_reused_slot_does_not_leak_old_second(void **state)
{
    struct fix *fx = *state;
    set_clock(T0, 0);
    mms_counter_add(fx->wc, 1000);
    mms_hist_record(fx->wh, 1000000);
    mms_hist_record(fx->wh, 1000000);
    /* 64 seconds later the same slot takes the new second. */
    set_clock(T0 + MMS_WINDOW_SLOTS, 5);
    mms_counter_add(fx->wc, 5);
    mms_hist_record(fx->wh, 10);
    int64_t now = (int64_t)(T0 + MMS_WINDOW_SLOTS + 1) * NS;
    assert_int_equal(counter_window(fx, 1, now), 5);
    assert_int_equal(counter_window(fx, 60, now), 5);
    struct mms_window w;
    assert_int_equal(window_of(fx, "win.lat", 60, now, &w), 0);
    assert_int_equal(w.count, 1);
    assert_int_equal(w.sum, 10);
    for (uint32_t b = 0; b < w.hist.nbuckets; b++)
        assert_int_equal(w.hist.buckets[b],
                         b == mms_hist_index(10, w.hist.bits, w.hist.max_exp));
    mms_window_free(&w);
    /* Asked about the old second, the slot (now holding a newer one)
     * gives nothing. */
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 1) * NS), 0);
    assert_int_equal(window_of(fx, "win.lat", 1, (int64_t)(T0 + 1) * NS, &w),
                     0);
    assert_int_equal(w.count, 0);
    assert_int_equal(w.sum, 0);
    mms_window_free(&w);
    /* The totals keep everything. */
    assert_int_equal(tu_counter(fx->tu.r, "win.count"), 1005);
}

static void test_slots_older_than_window_are_ignored(void **state)
{
    struct fix *fx = *state;
    /* Seconds T0..T0+40, one add each: amount(s). */
    for (uint64_t s = 0; s <= 40; s++) {
        set_clock(T0 + s, 0);
        mms_counter_add(fx->wc, amount(s));
    }
    int64_t now = (int64_t)(T0 + 41) * NS;
    assert_int_equal(counter_window(fx, 1, now), amount(40));
    assert_int_equal(counter_window(fx, 5, now), amounts(36, 40));
    assert_int_equal(counter_window(fx, 41, now), amounts(0, 40));
    assert_int_equal(counter_window(fx, 60, now), amounts(0, 40));
    /* Looking from the past: later seconds do not count either. */
    now = (int64_t)(T0 + 20) * NS;
    assert_int_equal(counter_window(fx, 10, now), amounts(10, 19));
    assert_int_equal(counter_window(fx, 1, now), amount(19));
}

static void test_long_gap_yields_zero(void **state)
{
    struct fix *fx = *state;
    for (uint64_t s = 0; s < 10; s++) {
        set_clock(T0 + s, 0);
        mms_counter_add(fx->wc, amount(s));
        mms_hist_record(fx->wh, 100 + s);
    }
    /* 60 seconds after the last write it still counts; 61 not. */
    assert_int_equal(counter_window(fx, 60, (int64_t)(T0 + 69) * NS),
                     amount(9));
    assert_int_equal(counter_window(fx, 60, (int64_t)(T0 + 70) * NS), 0);
    const uint64_t later[] = {T0 + 100, T0 + 1000, T0 + 64 * 1000 + 5};
    for (size_t k = 0; k < 3; k++) {
        int64_t now = (int64_t)later[k] * NS;
        struct mms_window w;
        assert_int_equal(window_of(fx, "win.count", 60, now, &w), 0);
        assert_int_equal(w.count, 0);
        assert_true(w.rate == 0.0);
        mms_window_free(&w);
        assert_int_equal(window_of(fx, "win.lat", 60, now, &w), 0);
        assert_int_equal(w.count, 0);
        assert_int_equal(w.sum, 0);
        assert_true(w.rate == 0.0);
        assert_true(w.mean == 0.0);
        assert_true(mms_hist_quantile(&w.hist, 0.5) == 0.0);
        mms_window_free(&w);
    }
}

static void test_window_early_in_clock_counts_seconds_since_start(void **state)
{
    struct fix *fx = *state;
    /* A clock only a few seconds old (a fresh boot, or a simulation that
     * starts at 0): a window longer than the time elapsed holds what
     * there is. */
    for (uint64_t s = 1; s <= 4; s++) {
        set_clock(s, 0);
        mms_counter_add(fx->wc, amount(s));
    }
    int64_t now = 5 * NS + NS / 2;
    assert_int_equal(counter_window(fx, 4, now), amounts(1, 4));
    assert_int_equal(counter_window(fx, 5, now), amounts(1, 4));
    assert_int_equal(counter_window(fx, 10, now), amounts(1, 4));
    assert_int_equal(counter_window(fx, 60, now), amounts(1, 4));
    assert_int_equal(counter_window(fx, 2, now), amounts(3, 4));
}

/* ------------------------------------------------------- histograms */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define HSECS 70
#define PER_SEC 400

static void test_hist_window_values_and_quantiles(void **state)
{
    struct fix *fx = *state;
    /* PER_SEC values in each second T0..T0+69, of a spread that moves
     * with the second, so windows of different lengths differ. */
    static uint64_t vals[HSECS][PER_SEC];
    uint64_t seed = 42;
    for (uint64_t s = 0; s < HSECS; s++) {
        set_clock(T0 + s, (int64_t)s * 1000);
        for (int k = 0; k < PER_SEC; k++) {
            uint64_t v = (rng_next(&seed) % 100000) * (s + 1) + s;
            vals[s][k] = v;
            mms_hist_record(fx->wh, v);
        }
    }
    set_clock(T0 + HSECS, 0);
    mms_hist_record(fx->wh, 1ull << 40); /* current second: excluded */
    int64_t now = (int64_t)(T0 + HSECS) * NS + 3;
    const unsigned lens[] = {1, 10, 60};
    for (size_t L = 0; L < 3; L++) {
        unsigned n = lens[L];
        struct mms_window w;
        assert_int_equal(window_of(fx, "win.lat", n, now, &w), 0);
        /* The window's values: seconds HSECS-n .. HSECS-1. */
        size_t cnt = (size_t)n * PER_SEC;
        uint64_t *sorted = malloc(cnt * sizeof *sorted);
        assert_non_null(sorted);
        struct mms_hist ref;
        assert_int_equal(mms_hist_init(&ref, MMS_WINDOW_DEFAULT_BITS,
                                       MMS_HIST_DEFAULT_MAX_EXP),
                         0);
        uint64_t sum = 0;
        size_t j = 0;
        for (uint64_t s = HSECS - n; s < HSECS; s++)
            for (int k = 0; k < PER_SEC; k++) {
                sorted[j++] = vals[s][k];
                sum += vals[s][k];
                mms_hist_add_value(&ref, vals[s][k]);
            }
        qsort(sorted, cnt, sizeof *sorted, cmp_u64);
        assert_int_equal(w.seconds, n);
        assert_int_equal(w.count, cnt);
        assert_int_equal(w.sum, sum);
        assert_true(w.rate == (double)cnt / n);
        assert_true(w.mean == (double)sum / (double)cnt);
        assert_int_equal(w.hist.bits, MMS_WINDOW_DEFAULT_BITS);
        assert_int_equal(w.hist.max_exp, MMS_HIST_DEFAULT_MAX_EXP);
        assert_int_equal(w.hist.count, cnt);
        assert_int_equal(w.hist.sum, sum);
        assert_memory_equal(w.hist.buckets, ref.buckets,
                            ref.nbuckets * sizeof *ref.buckets);
        /* min and max: bounds within the outermost buckets. */
        assert_true(w.hist.min <= sorted[0]);
        assert_int_equal(mms_hist_index(w.hist.min, 3, 36),
                         mms_hist_index(sorted[0], 3, 36));
        assert_true(w.hist.max >= sorted[cnt - 1]);
        assert_int_equal(mms_hist_index(w.hist.max, 3, 36),
                         mms_hist_index(sorted[cnt - 1], 3, 36));
        /* Quantiles within the window precision: half a bucket of
         * 2^-window_bits, and one bucket for quantile 1 (the max bound). */
        const double qs[] = {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999};
        double bound = ldexp(1.0, -(MMS_WINDOW_DEFAULT_BITS + 1));
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            double r = ceil(qs[k] * (double)cnt);
            double want = (double)sorted[(size_t)r - 1];
            double got = mms_hist_quantile(&w.hist, qs[k]);
            if (!(fabs(got - want) <= bound * want))
                fail_msg("%u s, q=%g: got %g, exact %g", n, qs[k], got, want);
        }
        double top = (double)sorted[cnt - 1];
        assert_true(fabs(mms_hist_quantile(&w.hist, 1.0) - top) <=
                    2 * bound * top);
        mms_hist_free(&ref);
        free(sorted);
        mms_window_free(&w);
    }
    /* The field's all-time histogram has everything, at full precision. */
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->tu.r, &s), 0);
    long i = tu_index(s, "win.lat");
    const struct mms_value *v = mms_snapshot_value(s, (size_t)i);
    assert_int_equal(v->v.hist->count, HSECS * PER_SEC + 1);
    assert_int_equal(v->v.hist->max, 1ull << 40);
    assert_int_equal(v->v.hist->bits, MMS_HIST_DEFAULT_BITS);
    const struct mms_field_info *fi = mms_snapshot_field(s, (size_t)i);
    assert_int_equal(fi->window_bits, MMS_WINDOW_DEFAULT_BITS);
    assert_int_equal(fi->flags, MMS_DF_SHARDED | MMS_DF_WINDOW);
    mms_snapshot_free(s);
}

static void test_window_bits_follow_spec_and_never_exceed_bits(void **state)
{
    struct fix *fx = *state;
    struct mms_field_spec h = {.name = "win.fine",
                               .kind = MMS_KIND_HISTOGRAM,
                               .flags = MMS_DF_WINDOW,
                               .hist_bits = 5,
                               .window_bits = 5};
    mms_field *f, *g;
    assert_int_equal(mms_field_add(fx->tu.w, &h, &f), 0);
    h.name = "win.clamped";
    h.hist_bits = 2;
    h.window_bits = 6;
    assert_int_equal(mms_field_add(fx->tu.w, &h, &g), 0);
    set_clock(T0 + 3, 0);
    for (uint64_t v = 1000; v < 1100; v++) {
        mms_hist_record(f, v);
        mms_hist_record(g, v);
    }
    int64_t now = (int64_t)(T0 + 4) * NS;
    struct mms_window w;
    assert_int_equal(window_of(fx, "win.fine", 1, now, &w), 0);
    assert_int_equal(w.hist.bits, 5);
    assert_int_equal(w.count, 100);
    assert_int_equal(w.sum, 104950);
    mms_window_free(&w);
    assert_int_equal(window_of(fx, "win.clamped", 1, now, &w), 0);
    assert_int_equal(w.hist.bits, 2);
    assert_int_equal(w.count, 100);
    mms_window_free(&w);
    /* Slots of fine windows are large (1027 words here): reused 64
     * seconds later, they too hold only the new second. */
    set_clock(T0 + 3 + MMS_WINDOW_SLOTS, 0);
    mms_hist_record(f, 7);
    now = (int64_t)(T0 + 4 + MMS_WINDOW_SLOTS) * NS;
    assert_int_equal(window_of(fx, "win.fine", 60, now, &w), 0);
    assert_int_equal(w.count, 1);
    assert_int_equal(w.sum, 7);
    assert_int_equal(w.hist.buckets[7], 1);
    mms_window_free(&w);
    /* A window on other kinds is refused at creation. */
    struct mms_field_spec bad = {
        .name = "win.gauge", .kind = MMS_KIND_GAUGE, .flags = MMS_DF_WINDOW};
    assert_int_equal(mms_field_add(fx->tu.w, &bad, &f), -EINVAL);
    bad.kind = MMS_KIND_STRING;
    assert_int_equal(mms_field_add(fx->tu.w, &bad, &f), -EINVAL);
}

/* --------------------------------------------------- invalid queries */

static void test_window_of_unwindowed_field_is_einval(void **state)
{
    struct fix *fx = *state;
    mms_counter_inc(fx->pc);
    mms_hist_record(fx->ph, 5);
    mms_gauge_set(fx->pg, 5);
    int64_t now = (int64_t)(T0 + 10) * NS;
    const char *names[] = {"plain.count", "plain.lat", "plain.gauge"};
    for (size_t k = 0; k < 3; k++) {
        struct mms_window w;
        memset(&w, 0xab, sizeof w);
        assert_int_equal(window_of(fx, names[k], 10, now, &w), -EINVAL);
        assert_null(w.hist.buckets);
        mms_window_free(&w);
    }
}

static void test_window_seconds_out_of_range_is_einval(void **state)
{
    struct fix *fx = *state;
    set_clock(T0 + 1, 0);
    mms_counter_inc(fx->wc);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->tu.r, &s), 0);
    long c = tu_index(s, "win.count");
    long h = tu_index(s, "win.lat");
    int64_t now = (int64_t)(T0 + 2) * NS;
    const unsigned bad[] = {0, 61, 64, 1000, UINT32_MAX};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct mms_window w;
        assert_int_equal(mms_snapshot_window_at(s, (size_t)c, bad[k], now, &w),
                         -EINVAL);
        assert_int_equal(mms_snapshot_window_at(s, (size_t)h, bad[k], now, &w),
                         -EINVAL);
        assert_int_equal(mms_snapshot_window(s, (size_t)c, bad[k], &w),
                         -EINVAL);
    }
    struct mms_window w;
    /* 60 is the longest window; an index past the end or a negative time
     * are refused too. */
    assert_int_equal(mms_snapshot_window_at(s, (size_t)c, 60, now, &w), 0);
    assert_int_equal(w.count, 1);
    mms_window_free(&w);
    assert_int_equal(
        mms_snapshot_window_at(s, mms_snapshot_nfields(s), 1, now, &w),
        -EINVAL);
    assert_int_equal(mms_snapshot_window_at(s, (size_t)c, 1, -1, &w), -EINVAL);
    mms_snapshot_free(s);
}

/* ----------------------------------------------------- default clock */

static void test_default_clock_windows_follow_monotonic_time(void **state)
{
    struct fix *fx = *state;
    /* A writer without clock_ns: its seconds are CLOCK_MONOTONIC
     * seconds (coarse, so at most one behind the reader's). */
    mms_writer *w = tu_writer(fx->tu.dir, "mono.mmstats", NULL);
    struct mms_field_spec c = {
        .name = "mono.count", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_WINDOW};
    mms_field *f;
    assert_int_equal(mms_field_add(w, &c, &f), 0);
    mms_counter_add(f, 7);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w)), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    struct mms_window win;
    int64_t now = mms_snapshot_mono_ns(s);
    assert_true(now > 0);
    assert_int_equal(mms_snapshot_window_at(s, 0, 60, now + 2 * NS, &win), 0);
    assert_int_equal(win.count, 7);
    mms_window_free(&win);
    /* Without a time, the window ends at the snapshot: the add was in its
     * second or the one before. */
    assert_int_equal(mms_snapshot_window(s, 0, 60, &win), 0);
    assert_true(win.count == 0 || win.count == 7);
    mms_window_free(&win);
    assert_int_equal(mms_snapshot_window_at(s, 0, 60, now + 62 * NS, &win), 0);
    assert_int_equal(win.count, 0);
    mms_window_free(&win);
    mms_snapshot_free(s);
    mms_reader_close(r);
    mms_writer_close(w);
}

/* ------------------------------------------------------------ threads */

#define NTHREADS 4
#define TSECS 70
#define PER_THREAD (SLOW_BUILD ? 2000 : 20000)

struct tctx {
    struct fix *fx;
    pthread_barrier_t *start, *done;
    uint64_t id;
};

static void *tworker(void *arg)
{
    struct tctx *c = arg;
    for (int s = 0; s < TSECS; s++) {
        pthread_barrier_wait(c->start); /* the clock is at second s */
        for (int k = 0; k < PER_THREAD; k++) {
            mms_counter_add(c->fx->wc, c->id + 1);
            mms_hist_record(c->fx->wh, 100 * (c->id + 1));
        }
        pthread_barrier_wait(c->done);
    }
    return NULL;
}

static void run_threads_in_same_seconds(struct fix *fx)
{
    pthread_barrier_t start, done;
    pthread_barrier_init(&start, NULL, NTHREADS + 1);
    pthread_barrier_init(&done, NULL, NTHREADS + 1);
    pthread_t t[NTHREADS];
    struct tctx c[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        c[i] = (struct tctx){fx, &start, &done, (uint64_t)i};
        assert_int_equal(pthread_create(&t[i], NULL, tworker, &c[i]), 0);
    }
    for (int s = 0; s < TSECS; s++) {
        set_clock(T0 + (uint64_t)s, (int64_t)s * 7919);
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);

    /* Per second: PER_THREAD * (1 + 2 + 3 + 4) in the counter, and
     * PER_THREAD * NTHREADS values summing to PER_THREAD * 100 * 10. */
    const uint64_t per_sec = (uint64_t)PER_THREAD * 10;
    const uint64_t vals_per_sec = (uint64_t)PER_THREAD * NTHREADS;
    for (uint64_t now = T0 + TSECS; now <= T0 + TSECS + 12; now++) {
        const unsigned lens[] = {1, 10, 60};
        for (size_t L = 0; L < 3; L++) {
            /* Seconds of [now - n, now) that had writes. */
            unsigned n = lens[L];
            uint64_t end = T0 + TSECS, from = now - n;
            uint64_t secs = from < end ? end - from : 0;
            secs = secs < n ? secs : n;
            assert_int_equal(counter_window(fx, n, (int64_t)now * NS),
                             secs * per_sec);
            struct mms_window w;
            assert_int_equal(window_of(fx, "win.lat", n, (int64_t)now * NS, &w),
                             0);
            assert_int_equal(w.count, secs * vals_per_sec);
            assert_int_equal(w.sum, secs * per_sec * 100);
            for (uint64_t id = 0; id < NTHREADS; id++) {
                uint32_t b = mms_hist_index(100 * (id + 1), 3, 36);
                assert_int_equal(w.hist.buckets[b], secs * PER_THREAD);
            }
            mms_window_free(&w);
        }
    }
    assert_int_equal(tu_counter(fx->tu.r, "win.count"), TSECS * per_sec);
}

static void test_threads_in_same_seconds_sum_exactly(void **state)
{
    run_threads_in_same_seconds(*state);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(((struct fix *)*state)->tu.r, &pi), 0);
    assert_true(pi.threads_seen >= NTHREADS);
}

/* With one shard, every thread shares shard 0 and its atomic adds,
 * slot resets included. */
static int setup_shared(void **state)
{
    if (tu_setup_sized(state, sizeof(struct fix)) < 0)
        return -1;
    struct fix *fx = *state;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.clock_ns = fake_clock;
    o.max_shards = 1;
    set_clock(T0, 0);
    fx->tu.w = tu_writer(fx->tu.dir, "shared.mmstats", &o);
    struct mms_field_spec c = {
        .name = "win.count", .kind = MMS_KIND_COUNTER, .flags = counter_flags};
    struct mms_field_spec h = {
        .name = "win.lat", .kind = MMS_KIND_HISTOGRAM, .flags = MMS_DF_WINDOW};
    if (mms_field_add(fx->tu.w, &c, &fx->wc) < 0 ||
        mms_field_add(fx->tu.w, &h, &fx->wh) < 0)
        return -1;
    tu_reader(&fx->tu);
    return 0;
}

/* Second boundaries raced hard: two threads spin until the main thread
 * moves the clock to a new second, then both update at once, so that
 * both find the slot holding an old second and race to reset it. */
#define RACE_SECS (SLOW_BUILD ? 500u : 5000u)
#define RACE_CHECK 50u /* windows checked every this many seconds */

struct rctx {
    struct fix *fx;
    unsigned round; /* atomic: the second the workers may update in */
    pthread_barrier_t *done;
    int timed_out;
};

static void *race_worker(void *arg)
{
    struct rctx *c = arg;
    uint64_t t0 = mms_now_ns();
    for (unsigned r = 1; r <= RACE_SECS; r++) {
        while (__atomic_load_n(&c->round, __ATOMIC_ACQUIRE) != r) {
            if (mms_now_ns() - t0 > 60 * (uint64_t)NS) {
                __atomic_store_n(&c->timed_out, 1, __ATOMIC_RELAXED);
                return NULL;
            }
        }
        mms_counter_add(c->fx->wc, 1);
        mms_hist_record(c->fx->wh, 5);
        pthread_barrier_wait(c->done);
    }
    return NULL;
}

static void test_second_boundary_races_in_shard_zero_lose_nothing(void **state)
{
    struct fix *fx = *state;
    pthread_barrier_t done;
    pthread_barrier_init(&done, NULL, 3);
    struct rctx c = {fx, 0, &done, 0};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_worker, &c), 0);
    for (unsigned r = 1; r <= RACE_SECS; r++) {
        set_clock(T0 + r, 0);
        __atomic_store_n(&c.round, r, __ATOMIC_RELEASE);
        pthread_barrier_wait(&done);
        if (r % RACE_CHECK)
            continue;
        /* Every second since the last check: 2 adds, 2 values. */
        int64_t now = (int64_t)(T0 + r + 1) * NS;
        assert_int_equal(counter_window(fx, RACE_CHECK, now), 2 * RACE_CHECK);
        struct mms_window w;
        assert_int_equal(window_of(fx, "win.lat", RACE_CHECK, now, &w), 0);
        assert_int_equal(w.count, 2 * RACE_CHECK);
        assert_int_equal(w.hist.buckets[5], 2 * RACE_CHECK);
        mms_window_free(&w);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&done);
    assert_int_equal(c.timed_out, 0);
    assert_int_equal(tu_counter(fx->tu.r, "win.count"), 2 * RACE_SECS);
}

static void test_threads_sharing_shard_zero_sum_exactly(void **state)
{
    run_threads_in_same_seconds(*state);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(((struct fix *)*state)->tu.r, &pi), 0);
    assert_int_equal(pi.shards_used, 1);
}

/* ------------------------------------------ 3.2: rings in RING blocks */

static int setup_ring(void **state)
{
    counter_flags = MMS_DF_WINDOW | MMS_DF_RING_BLOCK;
    int rc = setup(state);
    counter_flags = MMS_DF_WINDOW;
    return rc;
}

static int setup_ring_shared(void **state)
{
    counter_flags = MMS_DF_WINDOW | MMS_DF_RING_BLOCK;
    int rc = setup_shared(state);
    counter_flags = MMS_DF_WINDOW;
    return rc;
}

/* The READY RING blocks of W's file. */
static unsigned ring_blocks(mms_writer *w)
{
    const struct mms_file_header *h = w->hdr;
    uint64_t end = mms_load_acquire(&h->heap_used);
    unsigned n = 0;
    for (uint64_t off = h->heap_off; off < end;) {
        const struct mms_block *b = (const void *)mms__ptr(w, off);
        if (b->size == 0)
            break;
        n += b->type == MMS_BLOCK_RING && b->bstate == MMS_BS_READY;
        off += b->size;
    }
    return n;
}

/* This thread's cell of the windowed counter. */
static const struct mms_ring_cell *own_cell(struct fix *fx)
{
    bool owned;
    const uint8_t *c = mms__cell_of(fx->wc, &owned);
    assert_non_null(c);
    return (const struct mms_ring_cell *)c;
}

/* The slots of cell C's ring (it has one). */
static const struct mms_window_slot *ring_of(struct fix *fx,
                                             const struct mms_ring_cell *c)
{
    assert_true(c->ring != 0);
    const struct mms_ring_block *rb = (const void *)mms__ptr(fx->tu.w, c->ring);
    assert_int_equal(rb->b.type, MMS_BLOCK_RING);
    assert_int_equal(rb->index, fx->wc->index);
    return (const struct mms_window_slot *)(rb + 1);
}

static void test_ringless_cell_reads_as_its_seconds(void **state)
{
    struct fix *fx = *state;
    set_clock(T0 + 3, 5);
    mms_counter_add(fx->wc, 7);
    set_clock(T0 + 3, NS - 1);
    mms_counter_add(fx->wc, 5);
    set_clock(T0 + 4, 0);
    mms_counter_add(fx->wc, 2);
    assert_int_equal(ring_blocks(fx->tu.w), 0);
    const struct mms_ring_cell *c = own_cell(fx);
    assert_int_equal(c->total, 14);
    assert_int_equal(c->ring, 0);
    assert_int_equal(c->own[0].sec, T0 + 3);
    assert_int_equal(c->own[0].sum, 12);
    assert_int_equal(c->own[1].sec, T0 + 4);
    assert_int_equal(c->own[1].sum, 2);
    /* Its own slots are windows of a second each, seen from any time. */
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 4) * NS), 12);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 5) * NS), 2);
    assert_int_equal(counter_window(fx, 60, (int64_t)(T0 + 62) * NS + 9), 14);
    assert_int_equal(counter_window(fx, 60, (int64_t)(T0 + 64) * NS), 2);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 3) * NS), 0);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 6) * NS), 0);
    assert_int_equal(counter_window(fx, 60, (int64_t)(T0 + 65) * NS), 0);
    assert_int_equal(tu_counter(fx->tu.r, "win.count"), 14);
    /* A 48-byte cell (8 + 1024 with the ring in it). */
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->tu.r, &s), 0);
    long i = tu_index(s, "win.count");
    assert_true(i >= 0);
    const struct mms_field_info *fi = mms_snapshot_field(s, (size_t)i);
    assert_int_equal(fi->value_size, sizeof(struct mms_ring_cell));
    assert_true(fi->flags & MMS_DF_RING_BLOCK);
    mms_snapshot_free(s);
}

static void test_ring_made_at_third_second(void **state)
{
    struct fix *fx = *state;
    set_clock(T0, 1);
    mms_counter_add(fx->wc, 3);
    set_clock(T0, 2);
    mms_counter_add(fx->wc, 4);
    set_clock(T0 + 1, 0);
    mms_counter_add(fx->wc, 10);
    assert_int_equal(ring_blocks(fx->tu.w), 0);
    set_clock(T0 + 2, 0);
    mms_counter_add(fx->wc, 20);
    assert_int_equal(ring_blocks(fx->tu.w), 1);
    const struct mms_ring_cell *c = own_cell(fx);
    assert_int_equal(c->own[0].sec, T0);
    assert_int_equal(c->own[0].sum, 7);
    assert_int_equal(c->own[1].sec, T0 + 1);
    assert_int_equal(c->own[1].sum, 10);
    const struct mms_window_slot *sl = ring_of(fx, c);
    assert_int_equal(sl[(T0 + 2) % MMS_WINDOW_SLOTS].sec, T0 + 2);
    assert_int_equal(sl[(T0 + 2) % MMS_WINDOW_SLOTS].sum, 20);
    /* The first seconds stay in the cell's own slots. */
    assert_int_equal(sl[T0 % MMS_WINDOW_SLOTS].sec, 0);
    assert_int_equal(sl[(T0 + 1) % MMS_WINDOW_SLOTS].sec, 0);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 1) * NS), 7);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 2) * NS), 10);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 3) * NS), 20);
    assert_int_equal(counter_window(fx, 3, (int64_t)(T0 + 3) * NS), 37);
    set_clock(T0 + 3, 0);
    mms_counter_add(fx->wc, 1);
    assert_int_equal(ring_blocks(fx->tu.w), 1);
    assert_int_equal(counter_window(fx, 60, (int64_t)(T0 + 4) * NS), 38);
    /* 64 seconds on, the ring's slot of T0's place takes the new second:
     * the cell's own slot (older) is then hidden, as a ring's slot is. */
    set_clock(T0 + MMS_WINDOW_SLOTS, 0);
    mms_counter_add(fx->wc, 100);
    assert_int_equal(ring_blocks(fx->tu.w), 1);
    assert_int_equal(
        counter_window(fx, 60, (int64_t)(T0 + MMS_WINDOW_SLOTS + 1) * NS), 100);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 1) * NS), 0);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 2) * NS), 10);
    assert_int_equal(tu_counter(fx->tu.r, "win.count"), 138);
}

static struct fix *sig_fx;

static void on_signal(int sig)
{
    (void)sig;
    mms_counter_add(sig_fx->wc, 1000);
}

/* A signal handler's update in the thread's third second makes the
 * ring; the thread goes on in it. */
static void test_signal_handler_makes_the_ring(void **state)
{
    struct fix *fx = *state;
    sig_fx = fx;
    struct sigaction sa = {.sa_handler = on_signal}, old;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    set_clock(T0, 0);
    mms_counter_add(fx->wc, 1);
    set_clock(T0 + 1, 0);
    mms_counter_add(fx->wc, 4);
    set_clock(T0 + 2, 0);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(ring_blocks(fx->tu.w), 1);
    mms_counter_add(fx->wc, 2);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
    assert_int_equal(ring_blocks(fx->tu.w), 1);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 1) * NS), 1);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 2) * NS), 4);
    assert_int_equal(counter_window(fx, 1, (int64_t)(T0 + 3) * NS), 1002);
    assert_int_equal(tu_counter(fx->tu.r, "win.count"), 1007);
}

/* A fork child's counters restart from zero: its cell keeps its ring
 * (zeroed), which it uses from its own third second on. */
static int child_checks(struct fix *fx, uint64_t ring)
{
    set_clock(T0 + 5, 0);
    mms_counter_add(fx->wc, 5);
    const struct mms_ring_cell *c = own_cell(fx);
    if (c->total != 5 || c->own[0].sec != T0 + 5 || c->own[0].sum != 5 ||
        c->own[1].sec || c->own[1].sum)
        return 10;
    if (c->ring != ring || ring_blocks(fx->tu.w) != 1)
        return 11;
    const struct mms_ring_block *rb = (const void *)mms__ptr(fx->tu.w, ring);
    const struct mms_window_slot *sl = (const void *)(rb + 1);
    for (unsigned p = 0; p < MMS_WINDOW_SLOTS; p++)
        if (sl[p].sec || sl[p].sum)
            return 12;
    set_clock(T0 + 6, 0);
    mms_counter_add(fx->wc, 6);
    set_clock(T0 + 7, 0);
    mms_counter_add(fx->wc, 7);
    if (ring_blocks(fx->tu.w) != 1 || c->own[1].sec != T0 + 6 ||
        sl[(T0 + 7) % MMS_WINDOW_SLOTS].sec != T0 + 7 ||
        sl[(T0 + 7) % MMS_WINDOW_SLOTS].sum != 7 || c->total != 18)
        return 13;
    return 0;
}

static void test_fork_child_reuses_the_zeroed_ring(void **state)
{
    struct fix *fx = *state;
    for (uint64_t k = 0; k < 3; k++) {
        set_clock(T0 + k, 0);
        mms_counter_add(fx->wc, 1 + k);
    }
    uint64_t ring = own_cell(fx)->ring;
    assert_true(ring != 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_checks(fx, ring));
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The parent's own file is as it was. */
    assert_int_equal(counter_window(fx, 3, (int64_t)(T0 + 3) * NS), 6);
    assert_int_equal(tu_counter(fx->tu.r, "win.count"), 6);
}

/* A process that adds ADD to its windowed counter (RING_BLOCK) in each
 * second of SECS[0..N) (distinct), in DIR/NAME, and finishes: to be
 * folded into the rollup of group "win". Waited for. */
static void spawn_windowed(const char *dir, const char *name,
                           const uint64_t *secs, int n, uint64_t add)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mms_writer_options o;
        mms_writer_options_init(&o);
        o.clock_ns = fake_clock;
        o.keep = MMS_KEEP_ROLLUP;
        o.group = "win";
        o.flags = MMS_W_NO_ATEXIT;
        mms_writer *w = tu_writer(dir, name, &o);
        struct mms_field_spec c = {.name = "win.count",
                                   .kind = MMS_KIND_COUNTER,
                                   .flags = MMS_DF_WINDOW | MMS_DF_RING_BLOCK};
        mms_field *f;
        if (mms_field_add(w, &c, &f) < 0)
            _exit(3);
        for (int k = 0; k < n; k++) {
            set_clock(secs[k], 0);
            mms_counter_add(f, add);
        }
        if (ring_blocks(w) != (n > MMS_RING_CELL_SLOTS ? 1u : 0u))
            _exit(4);
        mms_writer_finish(w);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The fold of a file whose cell has no ring (two seconds, in its own
 * slots) and one whose cell has (three): the rollup's windows hold both,
 * second by second. */
static void test_rollup_folds_ringless_and_ringed_cells(void **state)
{
    struct tu_fx *fx = *state;
    const uint64_t a[] = {T0, T0 + 1}, b[] = {T0, T0 + 1, T0 + 2};
    spawn_windowed(fx->dir, "a.mmstats", a, 2, 5);
    spawn_windowed(fx->dir, "b.mmstats", b, 3, 7);
    assert_int_equal(mms_fold_dir(fx->dir, 0, NULL, NULL), 2);
    char path[4096];
    snprintf(path, sizeof path, "%s/win%s", fx->dir, MMS_ROLLUP_SUFFIX);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    long i = tu_index(s, "win.count");
    assert_true(i >= 0);
    assert_int_equal(mms_snapshot_value(s, (size_t)i)->v.u64, 2 * 5 + 3 * 7);
    const struct {
        uint64_t now;
        unsigned n;
        uint64_t want;
    } wins[] = {{T0 + 1, 1, 12}, {T0 + 2, 1, 12},  {T0 + 3, 1, 7},
                {T0 + 3, 3, 31}, {T0 + 3, 60, 31}, {T0, 1, 0}};
    for (size_t k = 0; k < sizeof wins / sizeof wins[0]; k++) {
        struct mms_window w;
        assert_int_equal(mms_snapshot_window_at(s, (size_t)i, wins[k].n,
                                                (int64_t)wins[k].now * NS, &w),
                         0);
        if (w.count != wins[k].want)
            fail_msg("window %u s at T0+%llu: %llu, want %llu", wins[k].n,
                     (unsigned long long)(wins[k].now - T0),
                     (unsigned long long)w.count,
                     (unsigned long long)wins[k].want);
        mms_window_free(&w);
    }
    mms_snapshot_free(s);
    mms_reader_close(r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, tu_teardown)
#define R(f) cmocka_unit_test_setup_teardown(f, setup_ring, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_counter_window_sums_last_complete_seconds),
        T(test_counter_window_matches_ring_model_everywhere),
        T(test_reused_slot_does_not_leak_old_second),
        T(test_slots_older_than_window_are_ignored),
        T(test_long_gap_yields_zero),
        T(test_window_early_in_clock_counts_seconds_since_start),
        T(test_hist_window_values_and_quantiles),
        T(test_window_bits_follow_spec_and_never_exceed_bits),
        T(test_window_of_unwindowed_field_is_einval),
        T(test_window_seconds_out_of_range_is_einval),
        T(test_default_clock_windows_follow_monotonic_time),
        T(test_threads_in_same_seconds_sum_exactly),
        cmocka_unit_test_setup_teardown(
            test_threads_sharing_shard_zero_sum_exactly, setup_shared,
            tu_teardown),
        cmocka_unit_test_setup_teardown(
            test_second_boundary_races_in_shard_zero_lose_nothing, setup_shared,
            tu_teardown),
        /* The counter tests again with rings in RING blocks (3.2). */
        R(test_counter_window_sums_last_complete_seconds),
        R(test_counter_window_matches_ring_model_everywhere),
        R(test_reused_slot_does_not_leak_old_second),
        R(test_slots_older_than_window_are_ignored),
        R(test_long_gap_yields_zero),
        R(test_window_early_in_clock_counts_seconds_since_start),
        R(test_threads_in_same_seconds_sum_exactly),
        cmocka_unit_test_setup_teardown(
            test_threads_sharing_shard_zero_sum_exactly, setup_ring_shared,
            tu_teardown),
        cmocka_unit_test_setup_teardown(
            test_second_boundary_races_in_shard_zero_lose_nothing,
            setup_ring_shared, tu_teardown),
        R(test_ringless_cell_reads_as_its_seconds),
        R(test_ring_made_at_third_second),
        R(test_signal_handler_makes_the_ring),
        R(test_fork_child_reuses_the_zeroed_ring),
        cmocka_unit_test_setup_teardown(
            test_rollup_folds_ringless_and_ringed_cells, tu_setup, tu_teardown),
    };
#undef T
#undef R
    return cmocka_run_group_tests(tests, NULL, NULL);
}
