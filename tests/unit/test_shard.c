/* Per-thread shards: exact counter totals from many threads under a live
 * reader, shard hand-back at thread exit, the shared-shard overflow path
 * and the header's thread counters. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

#define NTHREADS 8
#define NCOUNTERS 4
#define ITERS 20000

struct fixture {
    struct tu_fx tu; /* first: tu_setup_sized, tu_teardown */
    mms_field *c[NCOUNTERS];
    pthread_barrier_t start, checked;
    bool use_barrier;
};

struct worker {
    struct fixture *fx;
    uint64_t id; /* 1-based */
};

static int setup(void **state)
{
    return tu_setup_sized(state, sizeof(struct fixture));
}

static void open_writer(struct fixture *fx, uint32_t max_shards)
{
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.max_shards = max_shards;
    fx->tu.w = tu_writer(fx->tu.dir, "s.mmstats", &o);
    char name[16];
    for (int i = 0; i < NCOUNTERS; i++) {
        snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(mms_counter_new(fx->tu.w, name, NULL, &fx->c[i]), 0);
    }
}

/* Counter i gets (i + 1) * id per iteration from worker ID, so the total
 * of counter i over workers 1..n is ITERS * (i + 1) * n(n+1)/2. */
static uint64_t expected_total(int i, uint64_t nworkers)
{
    return (uint64_t)ITERS * (uint64_t)(i + 1) * nworkers * (nworkers + 1) / 2;
}

/* True once this thread has been handed its shard (own or shared) for W.
 * A thread whose first update meets another hand-out in progress writes
 * the shared shard that once and is handed its shard on a later update. */
static bool has_shard(mms_writer *w)
{
    return mms__tls[w->slot].wid == w->id;
}

static void *work(void *arg)
{
    struct worker *wk = arg;
    struct fixture *fx = wk->fx;
    /* The first updates take the shard; then all workers are alive and
     * holding theirs while the main thread looks at the header. */
    mms_counter_add(fx->c[0], wk->id);
    for (int n = 0; n < 1000000 && !has_shard(fx->tu.w); n++)
        mms_counter_add(fx->c[0], 0);
    if (fx->use_barrier) {
        pthread_barrier_wait(&fx->start);
        pthread_barrier_wait(&fx->checked);
    }
    for (int n = 0; n < ITERS; n++)
        for (int i = 0; i < NCOUNTERS; i++)
            if (n > 0 || i > 0)
                mms_counter_add(fx->c[i], (uint64_t)(i + 1) * wk->id);
    return NULL;
}

/* Shard ids handed out so far, shard 0 included. */
static uint32_t shards_in_table(mms_writer *w)
{
    return mms_load_acquire(&w->hdr->next_shard);
}

static void proc_info(const char *path, struct mms_proc_info *pi)
{
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    assert_int_equal(mms_reader_info(r, pi), 0);
    mms_reader_close(r);
}

static void assert_totals(const char *path, uint64_t nworkers)
{
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    char name[16];
    for (int i = 0; i < NCOUNTERS; i++) {
        snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(tu_counter(r, name), expected_total(i, nworkers));
    }
    mms_reader_close(r);
}

/* Reader thread: snapshots until told to stop; every counter must only
 * grow and never pass its final total. Failures are recorded, not
 * asserted: cmocka's asserts belong to the main thread. */
struct watcher {
    const char *path;
    int done; /* atomic */
    uint64_t snapshots;
    char error[256];
};

static void *watch(void *arg)
{
    struct watcher *wt = arg;
    mms_reader *r;
    int rc = mms_reader_open(&r, wt->path);
    if (rc < 0) {
        snprintf(wt->error, sizeof wt->error, "open: %s", mms_strerror(rc));
        return NULL;
    }
    uint64_t last[NCOUNTERS] = {0};
    /* Bounded: stops when told or after this many snapshots. */
    for (uint64_t k = 0; k < 5000000 && !wt->error[0]; k++) {
        bool stop = __atomic_load_n(&wt->done, __ATOMIC_ACQUIRE);
        mms_snapshot *s;
        if ((rc = mms_snapshot_take(r, &s)) < 0) {
            snprintf(wt->error, sizeof wt->error, "snapshot: %s",
                     mms_strerror(rc));
            break;
        }
        wt->snapshots++;
        for (int i = 0; i < NCOUNTERS; i++) {
            char name[16];
            snprintf(name, sizeof name, "c%d", i);
            long idx = tu_index(s, name);
            uint64_t v = idx < 0 ? 0 : mms_snapshot_value(s, idx)->v.u64;
            if (idx < 0 || v < last[i] || v > expected_total(i, NTHREADS))
                snprintf(wt->error, sizeof wt->error,
                         "c%d: %llu after %llu (max %llu)", i,
                         (unsigned long long)v, (unsigned long long)last[i],
                         (unsigned long long)expected_total(i, NTHREADS));
            last[i] = v;
        }
        mms_snapshot_free(s);
        if (stop)
            break;
    }
    mms_reader_close(r);
    return NULL;
}

static void test_threads_totals_exact_under_live_reader(void **state)
{
    struct fixture *fx = *state;
    open_writer(fx, 0);
    fx->use_barrier = true;
    pthread_barrier_init(&fx->start, NULL, NTHREADS + 1);
    pthread_barrier_init(&fx->checked, NULL, NTHREADS + 1);

    struct watcher wt = {.path = mms_writer_path(fx->tu.w)};
    pthread_t rt, t[NTHREADS];
    struct worker wk[NTHREADS];
    assert_int_equal(pthread_create(&rt, NULL, watch, &wt), 0);
    for (int i = 0; i < NTHREADS; i++) {
        wk[i] = (struct worker){.fx = fx, .id = (uint64_t)i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, work, &wk[i]), 0);
    }

    /* All workers alive, each with its own shard. */
    pthread_barrier_wait(&fx->start);
    struct mms_proc_info pi;
    proc_info(mms_writer_path(fx->tu.w), &pi);
    assert_int_equal(pi.shards_active, NTHREADS);
    assert_int_equal(pi.threads_seen, NTHREADS);
    assert_int_equal(pi.shards_used, NTHREADS + 1);
    assert_int_equal(shards_in_table(fx->tu.w), NTHREADS + 1);
    pthread_barrier_wait(&fx->checked);

    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    __atomic_store_n(&wt.done, 1, __ATOMIC_RELEASE);
    pthread_join(rt, NULL);
    pthread_barrier_destroy(&fx->start);
    pthread_barrier_destroy(&fx->checked);

    if (wt.error[0])
        fail_msg("reader: %s", wt.error);
    assert_true(wt.snapshots > 0);
    assert_totals(mms_writer_path(fx->tu.w), NTHREADS);

    /* Exited threads own nothing; their shards (and counts) remain. */
    proc_info(mms_writer_path(fx->tu.w), &pi);
    assert_int_equal(pi.shards_active, 0);
    assert_int_equal(pi.threads_seen, NTHREADS);
    assert_int_equal(pi.shards_used, NTHREADS + 1);
}

#define NSEQ 300

static void *add_once(void *arg)
{
    struct worker *wk = arg;
    mms_counter_add(wk->fx->c[0], wk->id);
    mms_counter_inc(wk->fx->c[1]);
    return NULL;
}

static void test_exited_threads_hand_back_their_shard(void **state)
{
    struct fixture *fx = *state;
    open_writer(fx, 0); /* 64 shards: without reuse, 300 threads overflow */
    uint32_t most = 0;
    for (int i = 0; i < NSEQ; i++) {
        struct worker wk = {.fx = fx, .id = (uint64_t)i + 1};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, add_once, &wk), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        uint32_t n = shards_in_table(fx->tu.w);
        if (n > most)
            most = n;
        /* Joined means its exit handler ran: nothing stays owned. */
        assert_int_equal(mms_load_relaxed(&fx->tu.w->hdr->shards_active), 0);
    }
    /* Shard 0 plus the one shard each thread in turn took back. */
    assert_int_equal(most, 2);

    struct mms_proc_info pi;
    proc_info(mms_writer_path(fx->tu.w), &pi);
    assert_int_equal(pi.shards_used, 2);
    assert_int_equal(pi.shards_active, 0);
    assert_int_equal(pi.threads_seen, NSEQ);

    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->tu.w)), 0);
    assert_int_equal(tu_counter(r, "c0"), (uint64_t)NSEQ * (NSEQ + 1) / 2);
    assert_int_equal(tu_counter(r, "c1"), NSEQ);
    mms_reader_close(r);
}

static void test_overflow_threads_share_shard0_exactly(void **state)
{
    struct fixture *fx = *state;
    open_writer(fx, 2); /* shard 0 (shared) and one thread shard */
    fx->use_barrier = true;
    pthread_barrier_init(&fx->start, NULL, NTHREADS + 1);
    pthread_barrier_init(&fx->checked, NULL, NTHREADS + 1);
    pthread_t t[NTHREADS];
    struct worker wk[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        wk[i] = (struct worker){.fx = fx, .id = (uint64_t)i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, work, &wk[i]), 0);
    }
    pthread_barrier_wait(&fx->start);
    /* One worker owns shard 1; the other seven write shard 0, which is
     * no hand-out: threads_seen counts one. */
    struct mms_proc_info pi;
    proc_info(mms_writer_path(fx->tu.w), &pi);
    assert_int_equal(pi.shard_cap, 2);
    assert_int_equal(pi.shards_used, 2);
    assert_int_equal(pi.shards_active, 1);
    assert_int_equal(pi.threads_seen, 1);
    pthread_barrier_wait(&fx->checked);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&fx->start);
    pthread_barrier_destroy(&fx->checked);

    assert_totals(mms_writer_path(fx->tu.w), NTHREADS);
    proc_info(mms_writer_path(fx->tu.w), &pi);
    assert_int_equal(pi.shards_active, 0);
    assert_int_equal(pi.shards_used, 2);
}

static void test_one_shard_only_all_threads_share_shard0(void **state)
{
    struct fixture *fx = *state;
    open_writer(fx, 1); /* nothing but the shared shard */
    pthread_t t[NTHREADS];
    struct worker wk[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        wk[i] = (struct worker){.fx = fx, .id = (uint64_t)i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, work, &wk[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    assert_totals(mms_writer_path(fx->tu.w), NTHREADS);
    struct mms_proc_info pi;
    proc_info(mms_writer_path(fx->tu.w), &pi);
    assert_int_equal(pi.shards_used, 1);
    assert_int_equal(pi.shards_active, 0);
    assert_int_equal(pi.threads_seen, 0); /* shard 0 is never handed out */
}

static void test_thread_writing_two_writers_gets_a_shard_in_each(void **st)
{
    struct fixture *fx = *st;
    open_writer(fx, 0);
    mms_writer *w2 = tu_writer(fx->tu.dir, "s2.mmstats", NULL);
    mms_field *c2;
    assert_int_equal(mms_counter_new(w2, "c0", NULL, &c2), 0);
    /* The main thread writes both; a worker writes the first, exits. */
    mms_counter_add(fx->c[0], 10);
    mms_counter_add(c2, 20);
    struct worker wk = {.fx = fx, .id = 5};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, add_once, &wk), 0);
    pthread_join(t, NULL);
    mms_counter_add(c2, 1);

    struct mms_proc_info pi;
    proc_info(mms_writer_path(fx->tu.w), &pi);
    assert_int_equal(pi.threads_seen, 2);
    assert_int_equal(pi.shards_active, 1); /* the main thread's */
    assert_int_equal(pi.shards_used, 3);
    proc_info(mms_writer_path(w2), &pi);
    assert_int_equal(pi.threads_seen, 1);
    assert_int_equal(pi.shards_active, 1);

    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->tu.w)), 0);
    assert_int_equal(tu_counter(r, "c0"), 15);
    mms_reader_close(r);
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w2)), 0);
    assert_int_equal(tu_counter(r, "c0"), 21);
    mms_reader_close(r);
    mms_writer_close(w2);
}

/* A group whose first member has no cell (a gauge), then a counter and a
 * histogram: at thread exit the group's values still move to shard 0. */
static mms_field *mixed[3];

static void *add_mixed(void *arg)
{
    (void)arg;
    mms_gauge_set(mixed[0], -1);
    mms_counter_add(mixed[1], 3);
    mms_hist_record(mixed[2], 1000);
    return NULL;
}

static void test_exit_moves_groups_headed_by_a_gauge(void **state)
{
    struct fixture *fx = *state;
    open_writer(fx, 0);
    struct mms_field_spec g[3] = {
        {.name = "m.g", .kind = MMS_KIND_GAUGE},
        {.name = "m.n", .kind = MMS_KIND_COUNTER},
        {.name = "m.h", .kind = MMS_KIND_HISTOGRAM},
    };
    assert_int_equal(mms__fields_add(fx->tu.w, g, 3, true, mixed), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, add_mixed, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->tu.w)), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take_flags(r, MMS_SNAP_SHARDS, &s), 0);
    long n = tu_index(s, "m.n"), h = tu_index(s, "m.h");
    assert_true(n >= 0 && h >= 0);
    assert_int_equal(mms_snapshot_value(s, (size_t)n)->v.u64, 3);
    assert_int_equal(mms_snapshot_value(s, (size_t)h)->v.hist->count, 1);
    for (size_t k = 0; k < mms_snapshot_nshards(s); k++) {
        struct mms_shard_info si;
        struct mms_shard_value vn, vh;
        assert_int_equal(mms_snapshot_shard(s, k, &si), 0);
        assert_int_equal(mms_snapshot_shard_value(s, k, (size_t)n, &vn), 0);
        assert_int_equal(mms_snapshot_shard_value(s, k, (size_t)h, &vh), 0);
        assert_int_equal(vn.u64, si.shard == 0 ? 3 : 0);
        assert_int_equal(vh.count, si.shard == 0 ? 1 : 0);
    }
    mms_snapshot_free(s);
    mms_reader_close(r);
}

/* Areas in the shard's list (newest first). */
static int shard_areas(const struct mms__shard *sh)
{
    int n = 0;
    for (const struct mms__area *a = sh->areas; a && n < 100; a = a->next)
        n++;
    return n;
}

/* A group too large for the current area's tail gets a new area; a
 * smaller group after it goes into the tail of the area before, not into
 * a third area (the tails would otherwise stay unused in the file). */
static void test_small_groups_fill_older_areas_tails(void **state)
{
    struct fixture *fx = *state;
    mms_writer *w = fx->tu.w = tu_writer(fx->tu.dir, "s.mmstats", NULL);
    mms_field *a, *big, *b;
    struct mms_field_spec win = {
        .name = "big", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_WINDOW};
    assert_int_equal(mms_counter_new(w, "a", NULL, &a), 0);
    assert_int_equal(mms_field_add(w, &win, &big), 0);
    assert_int_equal(mms_hist_new(w, "b", "ns", &b), 0);
    mms_counter_add(a, 1); /* the first area: MMS_AREA_FIRST bytes */
    struct mms__shard *sh = mms__tls[w->slot].sh;
    assert_int_equal(shard_areas(sh), 1);
    uint64_t first = sh->areas->off;
    uint32_t first_size = ((struct mms_area_block *)mms__ptr(w, first))->b.size;
    assert_true(big->cell_size > first_size); /* so a second area */
    mms_counter_add(big, 2);
    assert_int_equal(shard_areas(sh), 2);
    struct mms_area_block *second =
        (struct mms_area_block *)mms__ptr(w, sh->areas->off);
    uint32_t left = second->b.size - (uint32_t)sizeof *second - second->used;
    assert_true(b->group_bytes + sizeof(struct mms_cells_block) > left);
    mms_hist_record(b, 1000);
    assert_int_equal(shard_areas(sh), 2);
    uint8_t *cell = mms__row_cell(sh, b->index), *fa = mms__ptr(w, first);
    assert_true(cell > fa && cell < fa + first_size);
    /* And the reader finds every value where it is. */
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w)), 0);
    assert_int_equal(tu_counter(r, "a"), 1);
    assert_int_equal(tu_counter(r, "big"), 2);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    long h = tu_index(s, "b");
    assert_true(h >= 0);
    assert_int_equal(mms_snapshot_value(s, (size_t)h)->v.hist->count, 1);
    assert_int_equal(mms_snapshot_value(s, (size_t)h)->v.hist->max, 1000);
    mms_snapshot_free(s);
    mms_reader_close(r);
}

/* The first snapshot after opening walks the areas and reads each one's
 * cells as it goes (the open leaves them); it must read what a snapshot
 * after a refresh, one with MMS_SNAP_SHARDS and a second one read. */
#define HOLDERS 4
#define HOLD_FIELDS 300 /* cells enough for a few areas a thread */

struct holder {
    mms_field **f;
    mms_field *h;
    uint64_t id;
    pthread_barrier_t *b;
};

static void *hold_shard(void *arg)
{
    struct holder *hd = arg;
    for (int i = 0; i < HOLD_FIELDS; i++)
        mms_counter_add(hd->f[i], hd->id * (uint64_t)(i + 1));
    mms_hist_record(hd->h, 100 * hd->id);
    pthread_barrier_wait(hd->b); /* written */
    pthread_barrier_wait(hd->b); /* read: the shard is let go */
    return NULL;
}

static void expect_held_values(mms_snapshot *s)
{
    const uint64_t ids = HOLDERS * (HOLDERS + 1) / 2;
    for (int i = 0; i < HOLD_FIELDS; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        long k = tu_index(s, name);
        assert_true(k >= 0);
        assert_int_equal(mms_snapshot_value(s, (size_t)k)->v.u64,
                         ids * (uint64_t)(i + 1));
    }
    long h = tu_index(s, "lat");
    assert_true(h >= 0);
    const struct mms_hist *hist = mms_snapshot_value(s, (size_t)h)->v.hist;
    assert_int_equal(hist->count, HOLDERS);
    assert_int_equal(hist->sum, 100 * ids);
    assert_int_equal(hist->max, 100 * HOLDERS);
}

static void test_first_snapshot_reads_cells_as_it_walks(void **state)
{
    struct fixture *fx = *state;
    mms_writer *w = fx->tu.w = tu_writer(fx->tu.dir, "s.mmstats", NULL);
    mms_field *f[HOLD_FIELDS], *h;
    for (int i = 0; i < HOLD_FIELDS; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        assert_int_equal(mms_counter_new(w, name, NULL, &f[i]), 0);
    }
    assert_int_equal(mms_timer_new(w, "lat", &h), 0);
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, HOLDERS + 1);
    pthread_t t[HOLDERS];
    struct holder hd[HOLDERS];
    for (int i = 0; i < HOLDERS; i++) {
        hd[i] = (struct holder){f, h, (uint64_t)i + 1, &b};
        pthread_create(&t[i], NULL, hold_shard, &hd[i]);
    }
    pthread_barrier_wait(&b);
    const char *path = mms_writer_path(w);
    mms_reader *r;
    mms_snapshot *s;
    for (int way = 0; way < 3; way++) {
        assert_int_equal(mms_reader_open(&r, path), 0);
        assert_true(r->areas_due); /* the open left the cells */
        if (way == 1)
            assert_int_equal(mms_reader_refresh(r), 0);
        assert_int_equal(
            mms_snapshot_take_flags(r, way == 2 ? MMS_SNAP_SHARDS : 0, &s), 0);
        assert_false(r->areas_due);
        assert_true(r->areas.n > 2 * HOLDERS); /* a few a thread */
        expect_held_values(s);
        mms_snapshot_free(s);
        /* A later snapshot reads the cells the walk kept. */
        assert_int_equal(mms_snapshot_take(r, &s), 0);
        expect_held_values(s);
        mms_snapshot_free(s);
        mms_reader_close(r);
    }
    pthread_barrier_wait(&b);
    for (int i = 0; i < HOLDERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&b);
}

/* A small file's reader and snapshot take memory in proportion to the
 * file, not the steps sized for a large one: the shim reads its own file
 * at exit (the rollup), where a 256 KB slab of field infos and a 1 MB
 * step of the cell table, each mapped at once, were 300 page faults
 * in every process that recorded something. */
static void test_small_file_reader_memory_is_small(void **state)
{
    struct fixture *fx = *state;
    mms_writer *w = fx->tu.w = tu_writer(fx->tu.dir, "small.mmstats", NULL);
    mms_field *f;
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(mms_counter_new(w, name, NULL, &f), 0);
        mms_counter_add(f, (uint64_t)i + 1);
    }
    assert_int_equal(mms_timer_new(w, "lat", &f), 0);
    mms_timer t = mms_timer_start(f);
    mms_timer_stop(&t);
    mms_reader *r;
    mms_snapshot *s;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w)), 0);
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_true(r->nfields >= 21);
    assert_true(r->slab_size <= 16u << 10);
    assert_true(r->cells.cap * sizeof(struct mms__rcell) <= 16u << 10);
    mms_snapshot_free(s);
    mms_reader_close(r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_threads_totals_exact_under_live_reader),
        T(test_exited_threads_hand_back_their_shard),
        T(test_overflow_threads_share_shard0_exactly),
        T(test_one_shard_only_all_threads_share_shard0),
        T(test_thread_writing_two_writers_gets_a_shard_in_each),
        T(test_exit_moves_groups_headed_by_a_gauge),
        T(test_small_groups_fill_older_areas_tails),
        T(test_first_snapshot_reads_cells_as_it_walks),
        T(test_small_file_reader_memory_is_small),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
