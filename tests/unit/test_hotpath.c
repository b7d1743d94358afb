/* The core's internal hot-path API (core/hotpath.h), as the preload shim
 * uses it: owned cells and adds, grouped counters laid out next to each
 * other, window rings by second, histogram records on a cell, the thread-exit
 * callback, state changes and the no-system-call setting. */
#define _GNU_SOURCE
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotpath.h"
#include "internal.h"
#include "testutil.h"

static int setup(void **state)
{
    if (tu_setup(state) < 0)
        return -1;
    struct tu_fx *fx = *state;
    fx->w = tu_writer(fx->dir, "h.mmstats", NULL);
    return 0;
}

static mms_reader *reader(struct tu_fx *fx)
{
    if (!fx->r)
        assert_int_equal(mms_reader_open(&fx->r, mms_writer_path(fx->w)), 0);
    else
        assert_true(mms_reader_refresh(fx->r) >= 0);
    return fx->r;
}

static void group_counters_are_consecutive(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_field_spec specs[4] = {
        {.name = "g.calls", .kind = MMS_KIND_COUNTER},
        {.name = "g.errors", .kind = MMS_KIND_COUNTER},
        {.name = "g.bytes", .kind = MMS_KIND_COUNTER},
    };
    mms_field *f[3];
    assert_int_equal(mms__group_add(fx->w, specs, 3, 0, f), 0);
    struct mms_cell c = mms__cell(f[0]);
    assert_non_null(c.p);
    assert_true(c.owned);
    for (int i = 0; i < 3; i++)
        mms__cell_add(c, 8u * (uint32_t)i, (uint64_t)(i + 1) * 10);
    mms_counter_add(f[2], 5); /* the public API lands in the same cell */
    mms_reader *r = reader(fx);
    assert_int_equal(tu_counter(r, "g.calls"), 10);
    assert_int_equal(tu_counter(r, "g.errors"), 20);
    assert_int_equal(tu_counter(r, "g.bytes"), 35);
}

/* The count of NAME's window of SECONDS ending at second NOW. */
static uint64_t window_count(struct tu_fx *fx, const char *name,
                             unsigned seconds, uint64_t now)
{
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(reader(fx), &s), 0);
    long i = tu_index(s, name);
    assert_true(i >= 0);
    struct mms_window w;
    assert_int_equal(mms_snapshot_window_at(s, (size_t)i, seconds,
                                            (int64_t)(now * 1000000000u), &w),
                     0);
    uint64_t n = w.count;
    mms_window_free(&w);
    mms_snapshot_free(s);
    return n;
}

/* A windowed counter after two plain ones in a group, as the shim makes
 * a timed call's: its ring 8 bytes into its cell, at 8 * 2 + 8. Adds by
 * second land in their slots; a slot reused 64 seconds later is reset
 * first (the old second's count gone from every window). */
static void cell_window_add_by_second(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_field_spec specs[4] = {
        {.name = "w.calls", .kind = MMS_KIND_COUNTER},
        {.name = "w.errors", .kind = MMS_KIND_COUNTER},
        {.name = "w.recent", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_WINDOW},
    };
    mms_field *f[3];
    assert_int_equal(mms__group_add(fx->w, specs, 3, 0, f), 0);
    struct mms_cell c = mms__cell(f[0]);
    assert_non_null(c.p);
    const uint32_t ring = 8 * 2 + 8;
    const uint64_t s0 = 1000;
    for (int i = 0; i < 5; i++)
        mms__cell_window_add(c, ring, s0, 1);
    for (int i = 0; i < 7; i++)
        mms__cell_window_add(c, ring, s0 + 1, 1);
    mms__cell_add(c, ring - 8, 12); /* the total, as the shim adds it */
    assert_int_equal(tu_counter(reader(fx), "w.recent"), 12);
    assert_int_equal(tu_counter(reader(fx), "w.calls"), 0);
    assert_int_equal(window_count(fx, "w.recent", 1, s0 + 1), 5);
    assert_int_equal(window_count(fx, "w.recent", 1, s0 + 2), 7);
    assert_int_equal(window_count(fx, "w.recent", 10, s0 + 2), 12);
    assert_int_equal(window_count(fx, "w.recent", 1, s0), 0);
    /* Second s0 + 64 takes s0's slot: reset, then 3. */
    for (int i = 0; i < 3; i++)
        mms__cell_window_add(c, ring, s0 + 64, 1);
    assert_int_equal(window_count(fx, "w.recent", 1, s0 + 65), 3);
    assert_int_equal(window_count(fx, "w.recent", 60, s0 + 65), 3);
    /* Late by more than the ring (the slot holds a newer second): left
     * out of the window. */
    mms__cell_window_add(c, ring, s0, 1);
    assert_int_equal(window_count(fx, "w.recent", 1, s0 + 65), 3);
    /* A shared cell (not owned) takes atomic adds, the same slots. */
    struct mms_cell sh = mms__cell_shared(f[0]);
    assert_non_null(sh.p);
    assert_false(sh.owned);
    mms__cell_window_add(sh, ring, s0 + 64, 2);
    assert_int_equal(window_count(fx, "w.recent", 1, s0 + 65), 5);
}

static void nowait_add_fails_busy_not_blocks(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_field_spec s = {.name = "x", .kind = MMS_KIND_COUNTER};
    mms_field *f = NULL;
    /* Another add in progress (its lock held): NOWAIT gives up at once. */
    pthread_mutex_lock(&fx->w->lock);
    assert_int_equal(mms__group_add(fx->w, &s, 1, MMS_ADD_NOWAIT, &f),
                     MMS_EBUSY);
    pthread_mutex_unlock(&fx->w->lock);
    assert_null(f);
    assert_int_equal(mms__group_add(fx->w, &s, 1, MMS_ADD_NOWAIT, &f), 0);
    assert_non_null(f);
    assert_int_equal(mms__group_add(NULL, &s, 1, 0, &f), -EINVAL);
    struct mms_field_spec bad = {.name = "9bad", .kind = MMS_KIND_COUNTER};
    assert_int_equal(mms__group_add(fx->w, &bad, 1, 0, &f), MMS_ENAME);
}

static void hist_record_on_cell(void **state)
{
    struct tu_fx *fx = *state;
    mms_field *h;
    assert_int_equal(mms_timer_new(fx->w, "t", &h), 0);
    struct mms_cell c = mms__cell(h);
    assert_non_null(c.p);
    for (uint64_t v = 1; v <= 1000; v++)
        mms__hist_record_cell(h, c, v);
    mms_reader *r = reader(fx);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    long i = tu_index(s, "t");
    assert_true(i >= 0);
    const struct mms_hist *hist = mms_snapshot_value(s, (size_t)i)->v.hist;
    assert_int_equal(hist->count, 1000);
    assert_int_equal(hist->sum, 500500);
    assert_int_equal(hist->min, 1);
    assert_int_equal(hist->max, 1000);
    mms_snapshot_free(s);
}

/* Bucket counts gathered by the writer and added at once record what
 * their values one by one would: the same buckets, count, sum, min and
 * max; as u32 counts of every bucket, and as u16 counts of the first
 * buckets only (those up to the highest with a value, of values below
 * the overflow bucket: the timed mem hooks' latency batches). */
static void hist_add_counts_as_one_by_one(void **state)
{
    struct tu_fx *fx = *state;
    enum { BITS = 2, MAX_EXP = 40 }; /* the shim's mem.alloc_size */
    static const char *const names[4] = {"one", "batch", "batch16", "one16"};
    struct mms_field_spec specs[4];
    for (int i = 0; i < 4; i++)
        specs[i] = (struct mms_field_spec){.name = names[i],
                                           .kind = MMS_KIND_HISTOGRAM,
                                           .hist_bits = BITS,
                                           .hist_max_exp = MAX_EXP};
    mms_field *h[4];
    assert_int_equal(mms__group_add(fx->w, specs, 4, 0, h), 0);
    struct mms_cell c0 = mms__cell(h[0]), c1 = mms__cell(h[1]);
    struct mms_cell c2 = mms__cell(h[2]), c3 = mms__cell(h[3]);
    assert_non_null(c0.p);
    assert_non_null(c1.p);
    assert_non_null(c2.p);
    assert_non_null(c3.p);
    uint32_t nb = mms_hist_nbuckets(BITS, MAX_EXP);
    uint32_t *counts = calloc(nb, sizeof *counts);
    uint16_t *counts16 = calloc(nb, sizeof *counts16);
    assert_non_null(counts);
    assert_non_null(counts16);
    uint64_t x = 7;
    for (int round = 0; round < 10; round++) {
        uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
        uint64_t sum16 = 0, lo16 = UINT64_MAX, hi16 = 0;
        uint32_t top = 0;
        memset(counts, 0, nb * sizeof *counts);
        memset(counts16, 0, nb * sizeof *counts16);
        for (unsigned i = 0; i < 100; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t v = (x >> 11) >> (x % 53); /* all magnitudes */
            mms__hist_record_cell(h[0], c0, v);
            counts[mms__hist_index(v, BITS, MAX_EXP)]++;
            sum += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            uint64_t w = v >> 14; /* below 2^40: no overflow bucket */
            mms__hist_record_cell(h[3], c3, w);
            uint32_t k = mms__hist_index(w, BITS, MAX_EXP);
            counts16[k]++;
            top = k + 1 > top ? k + 1 : top;
            sum16 += w;
            lo16 = w < lo16 ? w : lo16;
            hi16 = w > hi16 ? w : hi16;
        }
        assert_true(top < nb);
        assert_true(mms__hist_add_counts(h[1], c1, counts, nb, sum, lo, hi));
        assert_true(
            mms__hist_add_counts16(h[2], c2, counts16, top, sum16, lo16, hi16));
    }
    assert_false(mms__hist_add_counts(h[1], c1, counts, nb + 1, 0, 0, 0));
    assert_false(mms__hist_add_counts16(h[2], c2, counts16, nb + 1, 0, 0, 0));
    free(counts);
    free(counts16);
    mms_reader *r = reader(fx);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    for (int k = 0; k < 2; k++) {
        const struct mms_hist *a =
            mms_snapshot_value(s, (size_t)tu_index(s, k ? "one16" : "one"))
                ->v.hist;
        const struct mms_hist *b =
            mms_snapshot_value(s, (size_t)tu_index(s, k ? "batch16" : "batch"))
                ->v.hist;
        assert_int_equal(a->count, 1000);
        assert_int_equal(b->count, a->count);
        assert_true(b->sum == a->sum);
        assert_true(b->min == a->min);
        assert_true(b->max == a->max);
        assert_int_equal(b->nbuckets, a->nbuckets);
        for (uint32_t i = 0; i < a->nbuckets; i++)
            assert_true(mms_hist_bucket(a, i) == mms_hist_bucket(b, i));
    }
    mms_snapshot_free(s);
}

static void non_sharded_fields_have_no_cell(void **state)
{
    struct tu_fx *fx = *state;
    mms_field *g;
    assert_int_equal(mms_gauge_new(fx->w, "g", NULL, &g), 0);
    assert_null(mms__cell(g).p);
    assert_null(mms__cell(NULL).p);
    uint64_t *gc = mms__gauge_cell(g);
    assert_non_null(gc);
    mms_add_relaxed(gc, 42);
    assert_int_equal(tu_gauge(reader(fx), "g"), 42);
    assert_null(mms__gauge_cell(NULL));
}

static mms_field *shared_field;

static void *shared_cell_thread(void *arg)
{
    (void)arg;
    struct mms_cell c = mms__cell_shared(shared_field);
    if (c.p && !c.owned)
        mms__cell_add(c, 0, 5);
    return NULL;
}

static void shared_cell_claims_nothing(void **state)
{
    struct tu_fx *fx = *state;
    assert_int_equal(mms_counter_new(fx->w, "s", NULL, &shared_field), 0);
    /* This thread's own cell first: the reader's count of threads then
     * moves only if the other thread claims one. */
    struct mms_cell own = mms__cell(shared_field);
    assert_true(own.owned);
    mms__cell_add(own, 0, 2);
    struct mms_proc_info before, after;
    assert_true(mms_reader_info(reader(fx), &before) >= 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, shared_cell_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    struct mms_cell sh = mms__cell_shared(shared_field);
    assert_non_null(sh.p);
    assert_false(sh.owned);
    assert_ptr_not_equal(sh.p, own.p);
    mms__cell_add(sh, 0, 1);
    /* Its own cell and the shared one both count in the total. */
    mms_reader *r = reader(fx);
    assert_int_equal(tu_counter(r, "s"), 8);
    assert_true(mms_reader_info(r, &after) >= 0);
    /* The thread took no cell of its own: it was never seen. */
    assert_int_equal(after.threads_seen, before.threads_seen);
    assert_null(mms__cell_shared(NULL).p);
    mms_field *g;
    assert_int_equal(mms_gauge_new(fx->w, "sg", NULL, &g), 0);
    assert_null(mms__cell_shared(g).p);
}

static _Thread_local int exits_seen_here;
static int exits_total;
static mms_field *exit_field;
static struct mms_cell cell_after_exit;

static void on_exit_cb(void)
{
    exits_seen_here++;
    __atomic_add_fetch(&exits_total, 1, __ATOMIC_RELAXED);
    /* The cell is still this thread's: a last add lands. */
    struct mms_cell c = mms__cell(exit_field);
    assert_true(c.owned);
    mms__cell_add(c, 0, 100);
}

static void after_exit_cb_dtor(void *arg)
{
    (void)arg;
    /* Runs after the core's destructor (keys made later run later in
     * glibc's first round only if set later; we set it after the first
     * update): the thread's cell is now a shared one. */
    cell_after_exit = mms__cell(exit_field);
    if (cell_after_exit.p)
        mms__cell_add(cell_after_exit, 0, 1000);
}

static pthread_key_t late_key;

static void *exiting_thread(void *arg)
{
    (void)arg;
    struct mms_cell c = mms__cell(exit_field);
    assert_true(c.owned);
    mms__cell_add(c, 0, 1);
    pthread_setspecific(late_key, (void *)1);
    return NULL;
}

static void thread_exit_callback_runs_before_handback(void **state)
{
    struct tu_fx *fx = *state;
    assert_int_equal(mms_counter_new(fx->w, "e", NULL, &exit_field), 0);
    mms__writer_on_thread_exit(fx->w, on_exit_cb);
    assert_int_equal(pthread_key_create(&late_key, after_exit_cb_dtor), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, exiting_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(exits_total, 1);
    assert_int_equal(exits_seen_here, 0); /* it ran in the other thread */
    assert_non_null(cell_after_exit.p);
    assert_false(cell_after_exit.owned);
    assert_int_equal(tu_counter(reader(fx), "e"), 1101);
    pthread_key_delete(late_key);
    mms__writer_on_thread_exit(fx->w, NULL);
}

static void state_ready_clears_finished_time(void **state)
{
    struct tu_fx *fx = *state;
    mms_reader *r = reader(fx);
    struct mms_proc_info pi;
    mms__writer_set_state(fx->w, MMS_STATE_FINISHED);
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_int_equal(pi.state, MMS_STATE_FINISHED);
    assert_true(pi.finished_ns > 0);
    mms__writer_set_state(fx->w, MMS_STATE_READY);
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_int_equal(pi.state, MMS_STATE_READY);
    assert_int_equal(pi.finished_ns, 0);
}

/* Once the prepared space is used up with system calls off, updates are
 * dropped and counted, and field adds fail: the file never grows. */
static void no_syscalls_full_drops_and_counts(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_proc_info pi0, pi;
    assert_int_equal(mms_reader_info(reader(fx), &pi0), 0);
    mms__writer_no_syscalls(fx->w);
    mms_field *f = NULL;
    int rc = 0, n = 0;
    for (; n < 10000 && rc == 0; n++) {
        char name[32];
        snprintf(name, sizeof name, "nsf.c%d", n);
        if ((rc = mms_counter_new(fx->w, name, NULL, &f)) == 0)
            mms_counter_add(f, 1);
    }
    assert_int_equal(rc, MMS_EFULL);
    uint64_t sent = 0;
    for (int k = 0; k < 200; k++, sent++) {
        struct mms_field_spec hs = {.name = "nsf.h",
                                    .kind = MMS_KIND_HISTOGRAM};
        mms_field *hf;
        if (mms_field_add(fx->w, &hs, &hf) < 0)
            break;
        mms_hist_record(hf, (uint64_t)1 << (k % 60));
    }
    assert_int_equal(mms_reader_info(reader(fx), &pi), 0);
    assert_int_equal(pi.file_size, pi0.file_size);
    assert_true(pi.heap_used <= pi.file_size);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(group_counters_are_consecutive, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(cell_window_add_by_second, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(nowait_add_fails_busy_not_blocks, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(hist_add_counts_as_one_by_one, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(hist_record_on_cell, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(shared_cell_claims_nothing, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(non_sharded_fields_have_no_cell, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(
            thread_exit_callback_runs_before_handback, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(state_ready_clears_finished_time, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(no_syscalls_full_drops_and_counts,
                                        setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
