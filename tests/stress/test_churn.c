/* Thread churn: 10,000 short-lived threads (100,000 with
 * MMS_STRESS_LONG=1), up to 8 alive at once, each adding known amounts to
 * counters and a histogram: the totals are exact, and the shards in use
 * stay bounded by the threads alive at once, because each thread's shard
 * is handed back at its exit and reused. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define ALIVE 8

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
