/* Thread churn: 10,000 short-lived threads (100,000 with
 * MMS_STRESS_LONG=1), up to 8 alive at once, each adding known amounts to
 * counters and a histogram: the totals are exact, the shards in use stay
 * bounded by the threads alive at once and so does the file (each thread
 * moves its values to shard 0 at its exit and its shard is reused), and a
 * reader snapshotting all along never sees a moved value twice or not at
 * all: totals only grow. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define ALIVE 8

/* A reader snapshotting while threads come and go. */
struct watch {
    const char *path;
    uint64_t n;
    int done; /* atomic */
    uint64_t snapshots;
    char error[200];
};

static void *watcher(void *arg)
{
    struct watch *wt = arg;
    mms_reader *r;
    if (mms_reader_open(&r, wt->path) < 0) {
        snprintf(wt->error, sizeof wt->error, "open failed");
        return NULL;
    }
    uint64_t last_calls = 0, last_count = 0;
    for (int k = 0; k < 2000000 && !wt->error[0]; k++) {
        int stop = __atomic_load_n(&wt->done, __ATOMIC_ACQUIRE);
        mms_snapshot *s;
        if (mms_snapshot_take(r, &s) < 0) {
            snprintf(wt->error, sizeof wt->error, "snapshot failed");
            break;
        }
        long ic = tu_index(s, "churn.calls"), ih = tu_index(s, "churn.hist");
        const struct mms_value *vc = mms_snapshot_value(s, (size_t)ic);
        const struct mms_value *vh = mms_snapshot_value(s, (size_t)ih);
        uint64_t calls = vc->v.u64, count = vh->v.hist->count;
        if (vc->status == 0 && (calls < last_calls || calls > wt->n))
            snprintf(wt->error, sizeof wt->error,
                     "calls %llu after %llu (of %llu)",
                     (unsigned long long)calls, (unsigned long long)last_calls,
                     (unsigned long long)wt->n);
        if (vh->status == 0 && (count < last_count || count > wt->n))
            snprintf(wt->error, sizeof wt->error,
                     "histogram count %llu after %llu",
                     (unsigned long long)count, (unsigned long long)last_count);
        if (vc->status == 0)
            last_calls = calls;
        if (vh->status == 0)
            last_count = count;
        wt->snapshots++;
        mms_snapshot_free(s);
        if (stop)
            break;
    }
    mms_reader_close(r);
    return NULL;
}

struct job {
    mms_field *calls, *bytes, *hist;
    uint64_t id;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    mms_counter_inc(j->calls);
    mms_counter_add(j->bytes, j->id);
    mms_hist_record(j->hist, j->id % 1000);
    return NULL;
}

static void test_thread_churn_keeps_totals_and_bounds_shards(void **state)
{
    (void)state;
    uint64_t n = getenv("MMS_STRESS_LONG") ? 100000 : 10000;
    char *dir = tu_mkdtemp();
    mms_writer *w = tu_writer(dir, "churn.mmstats", NULL);
    struct job jobs[ALIVE];
    mms_field *calls, *bytes, *hist;
    assert_int_equal(mms_counter_new(w, "churn.calls", NULL, &calls), 0);
    assert_int_equal(mms_counter_new(w, "churn.bytes", NULL, &bytes), 0);
    assert_int_equal(mms_hist_new(w, "churn.hist", NULL, &hist), 0);

    struct watch wt = {.path = mms_writer_path(w), .n = n};
    pthread_t rt;
    assert_int_equal(pthread_create(&rt, NULL, watcher, &wt), 0);
    uint64_t want_bytes = 0, want_hist_sum = 0;
    for (uint64_t base = 0; base < n; base += ALIVE) {
        pthread_t t[ALIVE];
        for (int k = 0; k < ALIVE; k++) {
            jobs[k] = (struct job){calls, bytes, hist, base + (uint64_t)k};
            want_bytes += base + (uint64_t)k;
            want_hist_sum += (base + (uint64_t)k) % 1000;
            assert_int_equal(pthread_create(&t[k], NULL, worker, &jobs[k]), 0);
        }
        for (int k = 0; k < ALIVE; k++)
            pthread_join(t[k], NULL);
    }
    __atomic_store_n(&wt.done, 1, __ATOMIC_RELEASE);
    pthread_join(rt, NULL);
    if (wt.error[0])
        fail_msg("reader during churn: %s", wt.error);
    assert_true(wt.snapshots > 0);

    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w)), 0);
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    const struct mms_hist *h =
        mms_snapshot_value(s, (size_t)tu_index(s, "churn.hist"))->v.hist;
    assert_int_equal(tu_counter(r, "churn.calls"), n);
    assert_int_equal(tu_counter(r, "churn.bytes"), want_bytes);
    assert_int_equal(h->count, n);
    assert_int_equal(h->sum, want_hist_sum);
    printf("%llu threads: %u shards used, %u active, %llu hand-outs\n",
           (unsigned long long)n, pi.shards_used, pi.shards_active,
           (unsigned long long)pi.threads_seen);
    /* Shard 0 plus at most one per thread alive at once. */
    assert_true(pi.shards_used <= ALIVE + 1);
    assert_int_equal(pi.shards_active, 0);
    assert_int_equal(pi.threads_seen, n);
    /* The file stays small: shards and their cells are reused. */
    assert_true(pi.file_size <= 64 * 1024);
    assert_int_equal(pi.dropped, 0);
    /* Every exited thread's values are in shard 0 now; the other shards
     * were zeroed when their threads left. */
    mms_snapshot *ps;
    assert_int_equal(mms_snapshot_take_flags(r, MMS_SNAP_SHARDS, &ps), 0);
    size_t ci = (size_t)tu_index(ps, "churn.calls");
    for (size_t k = 0; k < mms_snapshot_nshards(ps); k++) {
        struct mms_shard_info si;
        struct mms_shard_value sv;
        assert_int_equal(mms_snapshot_shard(ps, k, &si), 0);
        assert_int_equal(mms_snapshot_shard_value(ps, k, ci, &sv), 0);
        if (si.shard == 0)
            assert_int_equal(sv.u64, n);
        else
            assert_int_equal(sv.u64, 0);
        if (si.shard != 0) {
            assert_int_equal(si.state, MMS_SHARD_FREE);
            assert_true(si.end_ns >= si.start_ns && si.end_ns > 0);
        }
    }
    mms_snapshot_free(ps);
    mms_snapshot_free(s);
    mms_reader_close(r);
    mms_writer_close(w);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_churn_keeps_totals_and_bounds_shards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
