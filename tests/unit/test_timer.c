/* Timers: mms_timer_start/stop and MMS_TIME_SCOPE record one sample, of
 * at least the time spent, however the timed block is left. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

#define SPIN_NS 1000000u /* 1 ms: a lower bound for every timed region */

struct fix {
    struct tu_fx tu; /* first: tu_setup_sized, tu_teardown */
    mms_field *t, *t2;
};

static int setup(void **state)
{
    if (tu_setup_sized(state, sizeof(struct fix)) < 0)
        return -1;
    struct fix *fx = *state;
    fx->tu.w = tu_writer(fx->tu.dir, "timer.mmstats", NULL);
    if (mms_timer_new(fx->tu.w, "op.time", &fx->t) < 0 ||
        mms_timer_new(fx->tu.w, "op.inner", &fx->t2) < 0)
        return -1;
    tu_reader(&fx->tu);
    return 0;
}

/* Busy-wait (no sleep) for at least NS nanoseconds of CLOCK_MONOTONIC. */
static void spin(uint64_t ns)
{
    uint64_t t0 = mms_now_ns();
    while (mms_now_ns() - t0 < ns)
        ;
}

struct tstat {
    uint64_t count, sum, min, max;
};

static struct tstat timer_of(mms_reader *r, const char *name)
{
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    long i = tu_index(s, name);
    assert_true(i >= 0);
    const struct mms_value *v = mms_snapshot_value(s, (size_t)i);
    assert_int_equal(v->kind, MMS_KIND_HISTOGRAM);
    assert_int_equal(v->status, 0);
    struct tstat t = {v->v.hist->count, v->v.hist->sum, v->v.hist->min,
                      v->v.hist->max};
    mms_snapshot_free(s);
    return t;
}

/* One sample in NAME, at least SPIN_NS and at most OUTER ns. */
static void assert_one_sample(mms_reader *r, const char *name, uint64_t outer)
{
    struct tstat t = timer_of(r, name);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.min, t.sum);
    assert_int_equal(t.max, t.sum);
    if (t.sum < SPIN_NS || t.sum > outer)
        fail_msg("%s: %llu ns recorded, want [%u, %llu]", name,
                 (unsigned long long)t.sum, SPIN_NS, (unsigned long long)outer);
}

static void test_timer_is_a_histogram_in_ns(void **state)
{
    struct fix *fx = *state;
    assert_int_equal(mms_reader_refresh(fx->tu.r), 0);
    const struct mms_field_info *fi = mms_reader_field(fx->tu.r, 0);
    assert_string_equal(fi->name, "op.time");
    assert_int_equal(fi->kind, MMS_KIND_HISTOGRAM);
    assert_string_equal(fi->units, "ns");
    assert_int_equal(fi->hist_bits, MMS_HIST_DEFAULT_BITS);
    struct tstat t = timer_of(fx->tu.r, "op.time");
    assert_int_equal(t.count, 0);
}

static void test_start_stop_records_at_least_the_spun_time(void **state)
{
    struct fix *fx = *state;
    uint64_t before = mms_now_ns();
    mms_timer t = mms_timer_start(fx->t);
    uint64_t after_start = mms_now_ns();
    assert_ptr_equal(t.field, fx->t);
    assert_true(t.start_ns >= before && t.start_ns <= after_start);
    spin(SPIN_NS);
    mms_timer_stop(&t);
    uint64_t outer = mms_now_ns() - before;
    assert_one_sample(fx->tu.r, "op.time", outer);
    /* Each stop is one more sample; a timer can be stopped again. */
    spin(SPIN_NS);
    mms_timer_stop(&t);
    struct tstat s = timer_of(fx->tu.r, "op.time");
    assert_int_equal(s.count, 2);
    assert_true(s.max >= 2 * SPIN_NS);
    assert_true(s.max <= mms_now_ns() - before);
}

static void test_stop_before_start_records_zero(void **state)
{
    struct fix *fx = *state;
    /* A start in the future (a clock that went back): 0, not 2^64-ish. */
    mms_timer t = {fx->t, mms_now_ns() + 1000000000000ull};
    mms_timer_stop(&t);
    struct tstat s = timer_of(fx->tu.r, "op.time");
    assert_int_equal(s.count, 1);
    assert_int_equal(s.sum, 0);
    assert_int_equal(s.max, 0);
}

static void test_scope_records_once_at_normal_end(void **state)
{
    struct fix *fx = *state;
    int runs = 0;
    uint64_t before = mms_now_ns();
    MMS_TIME_SCOPE(fx->t)
    {
        runs++;
        spin(SPIN_NS);
    }
    uint64_t outer = mms_now_ns() - before;
    assert_int_equal(runs, 1);
    assert_one_sample(fx->tu.r, "op.time", outer);
}

static void test_scope_records_once_on_break(void **state)
{
    struct fix *fx = *state;
    int runs = 0, after_break = 0;
    uint64_t before = mms_now_ns();
    MMS_TIME_SCOPE(fx->t)
    {
        runs++;
        spin(SPIN_NS);
        if (runs)
            break;
        after_break++;
    }
    uint64_t outer = mms_now_ns() - before;
    assert_int_equal(runs, 1);
    assert_int_equal(after_break, 0);
    assert_one_sample(fx->tu.r, "op.time", outer);
}

static void test_scope_records_once_on_continue(void **state)
{
    struct fix *fx = *state;
    int runs = 0;
    uint64_t before = mms_now_ns();
    MMS_TIME_SCOPE(fx->t)
    {
        runs++;
        spin(SPIN_NS);
        if (runs)
            continue;
        runs += 100;
    }
    uint64_t outer = mms_now_ns() - before;
    assert_int_equal(runs, 1);
    assert_one_sample(fx->tu.r, "op.time", outer);
}

static int timed_helper(mms_field *f, int *runs)
{
    MMS_TIME_SCOPE(f)
    {
        (*runs)++;
        spin(SPIN_NS);
        if (*runs)
            return 42;
        (*runs) += 100;
    }
    return -1;
}

static void test_scope_records_once_on_return(void **state)
{
    struct fix *fx = *state;
    int runs = 0;
    uint64_t before = mms_now_ns();
    assert_int_equal(timed_helper(fx->t, &runs), 42);
    uint64_t outer = mms_now_ns() - before;
    assert_int_equal(runs, 1);
    assert_one_sample(fx->tu.r, "op.time", outer);
}

static void test_scope_records_once_on_goto(void **state)
{
    struct fix *fx = *state;
    int runs = 0, skipped = 0;
    uint64_t before = mms_now_ns();
    MMS_TIME_SCOPE(fx->t)
    {
        runs++;
        spin(SPIN_NS);
        if (runs)
            goto out;
        skipped++;
    }
    skipped++;
out:;
    uint64_t outer = mms_now_ns() - before;
    assert_int_equal(runs, 1);
    assert_int_equal(skipped, 0);
    assert_one_sample(fx->tu.r, "op.time", outer);
}

static void test_break_in_scope_leaves_only_the_scope(void **state)
{
    struct fix *fx = *state;
    /* The scope is a loop of its own: break (or continue) inside it
     * leaves the scope, and an enclosing loop goes on. */
    int iterations = 0;
    for (int i = 0; i < 5; i++) {
        MMS_TIME_SCOPE(fx->t)
        {
            break;
        }
        iterations++;
    }
    assert_int_equal(iterations, 5);
    assert_int_equal(timer_of(fx->tu.r, "op.time").count, 5);
    /* A loop inside the scope: break leaves that loop, not the scope. */
    int inner = 0, tail = 0;
    MMS_TIME_SCOPE(fx->t)
    {
        for (;;) {
            inner++;
            break;
        }
        tail++;
    }
    assert_int_equal(inner, 1);
    assert_int_equal(tail, 1);
    assert_int_equal(timer_of(fx->tu.r, "op.time").count, 6);
}

static void test_nested_scopes_each_record_once(void **state)
{
    struct fix *fx = *state;
    MMS_TIME_SCOPE(fx->t)
    {
        spin(SPIN_NS);
        MMS_TIME_SCOPE(fx->t2)
        {
            spin(SPIN_NS);
        }
    }
    struct tstat outer = timer_of(fx->tu.r, "op.time");
    struct tstat inner = timer_of(fx->tu.r, "op.inner");
    assert_int_equal(outer.count, 1);
    assert_int_equal(inner.count, 1);
    assert_true(inner.sum >= SPIN_NS);
    assert_true(outer.sum >= inner.sum + SPIN_NS);
}

static void test_scope_in_loop_records_every_iteration(void **state)
{
    struct fix *fx = *state;
    for (int i = 0; i < 100; i++)
        MMS_TIME_SCOPE(fx->t)
        {
            spin(1000);
        }
    struct tstat s = timer_of(fx->tu.r, "op.time");
    assert_int_equal(s.count, 100);
    assert_true(s.min >= 1000);
    assert_true(s.sum >= 100 * 1000);
}

static void test_null_fields_are_no_ops(void **state)
{
    struct fix *fx = *state;
    mms_timer t = mms_timer_start(NULL);
    assert_null(t.field);
    mms_timer_stop(&t);
    int runs = 0;
    MMS_TIME_SCOPE(NULL)
    {
        runs++;
    }
    assert_int_equal(runs, 1);
    MMS_TIME_SCOPE(NULL)
    {
        runs++;
        break;
    }
    assert_int_equal(runs, 2);
    mms_hist_record(NULL, 5);
    mms_counter_add(NULL, 5);
    mms_counter_inc(NULL);
    mms_gauge_set(NULL, 5);
    mms_gauge_add(NULL, 5);
    mms_gauge_set_f64(NULL, 5.0);
    mms_gauge_add_f64(NULL, 5.0);
    mms_string_set(NULL, "x");
    mms_movavg_add(NULL, 5.0);
    /* Nothing reached the real timers. */
    assert_int_equal(timer_of(fx->tu.r, "op.time").count, 0);
    assert_int_equal(timer_of(fx->tu.r, "op.inner").count, 0);
}

static int64_t fake_ns;

static int64_t fake_clock(void)
{
    return __atomic_load_n(&fake_ns, __ATOMIC_RELAXED);
}

static void test_windowed_timer_uses_the_writer_clock(void **state)
{
    struct fix *fx = *state;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.clock_ns = fake_clock;
    mms_writer *w = tu_writer(fx->tu.dir, "wt.mmstats", &o);
    struct mms_field_spec spec = {.name = "wt.time",
                                  .kind = MMS_KIND_HISTOGRAM,
                                  .units = "ns",
                                  .flags = MMS_DF_WINDOW};
    mms_field *f;
    assert_int_equal(mms_field_add(w, &spec, &f), 0);
    __atomic_store_n(&fake_ns, 777 * 1000000000ll + 5, __ATOMIC_RELAXED);
    MMS_TIME_SCOPE(f)
    {
        spin(SPIN_NS);
    }
    mms_timer t = mms_timer_start(f);
    spin(SPIN_NS);
    mms_timer_stop(&t);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w)), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    struct mms_window win;
    /* Both samples are in second 777 of the fake clock, whatever the
     * real time: durations come from CLOCK_MONOTONIC, seconds from the
     * writer's clock. */
    assert_int_equal(mms_snapshot_window_at(s, 0, 1, 778 * 1000000000ll, &win),
                     0);
    assert_int_equal(win.count, 2);
    assert_true(win.sum >= 2 * SPIN_NS);
    mms_window_free(&win);
    assert_int_equal(mms_snapshot_window_at(s, 0, 1, 777 * 1000000000ll, &win),
                     0);
    assert_int_equal(win.count, 0);
    mms_window_free(&win);
    assert_int_equal(mms_snapshot_value(s, 0)->v.hist->count, 2);
    mms_snapshot_free(s);
    mms_reader_close(r);
    mms_writer_close(w);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_timer_is_a_histogram_in_ns),
        T(test_start_stop_records_at_least_the_spun_time),
        T(test_stop_before_start_records_zero),
        T(test_scope_records_once_at_normal_end),
        T(test_scope_records_once_on_break),
        T(test_scope_records_once_on_continue),
        T(test_scope_records_once_on_return),
        T(test_scope_records_once_on_goto),
        T(test_break_in_scope_leaves_only_the_scope),
        T(test_nested_scopes_each_record_once),
        T(test_scope_in_loop_records_every_iteration),
        T(test_null_fields_are_no_ops),
        T(test_windowed_timer_uses_the_writer_clock),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
