/* Keyed tables (docs/format.md section 10): records found by key, one
 * per key even when threads insert the same keys at once, the overflow
 * record when full, every member kind merged over threads, and records
 * across thread exit and fork. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

enum { M_N, M_NEG, M_HI, M_LO, M_LAT, M_SLOW, NMEM };

static const struct mms_table_member members[NMEM] = {
    {.name = "n", .kind = MMS_MK_SUM, .units = "calls"},
    {.name = "neg", .kind = MMS_MK_SUM_I64},
    {.name = "hi", .kind = MMS_MK_MAX, .units = "bytes"},
    {.name = "lo", .kind = MMS_MK_MIN},
    {.name = "lat", .kind = MMS_MK_HIST, .hist_bits = 3, .hist_max_exp = 30},
    {.name = "slow", .kind = MMS_MK_MAXARG, .units = "ns"},
};

static mms_table *new_table(mms_writer *w, const char *name, uint32_t cap)
{
    struct mms_table_spec ts = {.name = name,
                                .help = "per-key stats",
                                .capacity = cap,
                                .key_type = MMS_KEY_TEXT,
                                .members = members,
                                .nmembers = NMEM};
    mms_table *t = NULL;
    assert_int_equal(mms_table_new(w, &ts, &t), 0);
    assert_non_null(t);
    return t;
}

/* The snapshot's record of KEY in table T (NULL if none). */
static const struct mms_record_info *find_rec(mms_snapshot *s, size_t t,
                                              const char *key)
{
    for (size_t k = 0; k < mms_snapshot_nrecords(s, t); k++) {
        const struct mms_record_info *ri = mms_snapshot_record(s, t, k);
        if (ri->key_len == strlen(key) && !memcmp(ri->key, key, ri->key_len))
            return ri;
    }
    return NULL;
}

static void test_records_by_key(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "t.mmstats", NULL);
    mms_table *t = new_table(fx->w, "io.files", 16);
    uint32_t a, b, a2;
    assert_int_equal(mms_record_get(t, "/etc/passwd", 11, &a), 0);
    assert_int_equal(mms_record_get(t, "/etc/group", 10, &b), 0);
    assert_int_equal(mms_record_get(t, "/etc/passwd", 11, &a2), 0);
    assert_int_equal(a, a2);
    assert_true(a != b);
    /* Binary keys with NULs, and the empty key. */
    uint32_t z1, z2, e;
    assert_int_equal(mms_record_get(t, "a\0b", 3, &z1), 0);
    assert_int_equal(mms_record_get(t, "a\0c", 3, &z2), 0);
    assert_int_equal(mms_record_get(t, "", 0, &e), 0);
    assert_true(z1 != z2 && z1 != e);
    mms_record_update(t, a, M_N, 3);
    mms_record_update(t, a, M_NEG, (uint64_t)-5);
    mms_record_update(t, a, M_HI, 100);
    mms_record_update(t, a, M_HI, 40);
    mms_record_update(t, a, M_LO, 100);
    mms_record_update(t, a, M_LO, 40);
    for (uint64_t v = 1; v <= 1000; v++)
        mms_record_update(t, a, M_LAT, v);
    mms_record_maxarg(t, a, M_SLOW, 50, 7);
    mms_record_maxarg(t, a, M_SLOW, 90, 8);
    mms_record_maxarg(t, a, M_SLOW, 60, 9);
    /* A record of another table or a member out of range: nothing. */
    mms_record_update(t, a, NMEM, 1);
    mms_record_update(t, 123456, M_N, 1);
    mms_record_update(NULL, a, M_N, 1);

    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    assert_int_equal(mms_snapshot_ntables(s), 1);
    const struct mms_table_info *ti = mms_snapshot_table(s, 0);
    assert_string_equal(ti->name, "io.files");
    assert_string_equal(ti->help, "per-key stats");
    assert_int_equal(ti->capacity, 16);
    assert_int_equal(ti->key_type, MMS_KEY_TEXT);
    assert_int_equal(ti->nmembers, NMEM);
    assert_string_equal(ti->members[M_HI].name, "hi");
    assert_string_equal(ti->members[M_HI].units, "bytes");
    assert_int_equal(ti->members[M_LAT].kind, MMS_MK_HIST);
    assert_int_equal(ti->members[M_LAT].hist_bits, 3);
    uint32_t nrec;
    uint64_t hits;
    assert_int_equal(mms_snapshot_table_counts(s, 0, &nrec, &hits), 0);
    assert_int_equal(nrec, 6); /* 5 keys and the overflow record */
    assert_int_equal(hits, 0);
    assert_int_equal(mms_snapshot_nrecords(s, 0), 6);
    const struct mms_record_info *ri = find_rec(s, 0, "(other)");
    assert_non_null(ri);
    assert_true(ri->overflow);
    ri = find_rec(s, 0, "/etc/passwd");
    assert_non_null(ri);
    assert_false(ri->overflow);
    assert_int_equal(ri->index, a);
    assert_int_equal(ri->m[M_N].v.u64, 3);
    assert_int_equal(ri->m[M_NEG].v.i64, -5);
    assert_int_equal(ri->m[M_HI].v.u64, 100);
    assert_int_equal(ri->m[M_LO].v.u64, 40);
    assert_int_equal(ri->m[M_LAT].count, 1000);
    assert_int_equal(ri->m[M_LAT].sum, 500500);
    assert_int_equal(ri->m[M_LAT].min, 1);
    assert_int_equal(ri->m[M_LAT].max, 1000);
    assert_int_equal(ri->m[M_SLOW].v.u64, 90);
    assert_int_equal(ri->m[M_SLOW].arg, 8);
    struct mms_hist h;
    size_t rn = (size_t)(ri - mms_snapshot_record(s, 0, 0));
    assert_int_equal(mms_snapshot_record_hist(s, 0, rn, M_LAT, &h), 0);
    assert_int_equal(h.count, 1000);
    tu_hist_check(&h, 1);
    double p50 = mms_hist_quantile(&h, 0.5);
    assert_true(p50 > 450 && p50 < 550); /* within 2^-4 */
    mms_hist_free(&h);
    assert_int_equal(mms_snapshot_record_hist(s, 0, rn, M_N, &h), -EINVAL);
    ri = find_rec(s, 0, "/etc/group");
    assert_int_equal(ri->m[M_N].v.u64, 0);
    assert_int_equal(ri->m[M_LO].v.u64, 0); /* none */
    mms_snapshot_free(s);
}

static void test_full_table_overflows(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "t.mmstats", NULL);
    mms_table *t = new_table(fx->w, "io.files", 4); /* 3 keys + (other) */
    uint32_t rec[6], other = 0;
    char key[16];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "/k%d", i);
        int rc = mms_record_get(t, key, strlen(key), &rec[i]);
        assert_int_equal(rc, i < 3 ? 0 : 1);
        if (rc == 1)
            other = rec[i];
        mms_record_update(t, rec[i], M_N, 1);
    }
    assert_int_equal(rec[3], rec[4]);
    /* A key that got in is still found; one that did not is not added. */
    uint32_t again;
    assert_int_equal(mms_record_get(t, "/k1", 3, &again), 0);
    assert_int_equal(again, rec[1]);
    assert_int_equal(mms_record_get(t, "/k5", 3, &again), 1);
    assert_int_equal(again, other);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    uint32_t nrec;
    uint64_t hits;
    assert_int_equal(mms_snapshot_table_counts(s, 0, &nrec, &hits), 0);
    assert_int_equal(nrec, 4);
    assert_int_equal(hits, 4); /* /k3, /k4, /k5 and /k5 again */
    const struct mms_record_info *ri = find_rec(s, 0, "(other)");
    assert_true(ri->overflow);
    assert_int_equal(ri->m[M_N].v.u64, 3);
    assert_int_equal(find_rec(s, 0, "/k2")->m[M_N].v.u64, 1);
    assert_null(find_rec(s, 0, "/k3"));
    mms_snapshot_free(s);
}

static void test_table_names_and_specs(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "t.mmstats", NULL);
    mms_table *t = new_table(fx->w, "tbl", 8), *t2;
    /* The same name: the same table. A field's name: MMS_EKIND. */
    struct mms_table_spec ts = {
        .name = "tbl", .members = members, .nmembers = NMEM};
    assert_int_equal(mms_table_new(fx->w, &ts, &t2), 0);
    assert_ptr_equal(t, t2);
    assert_int_equal(mms_counter_new(fx->w, "tbl", NULL, NULL), MMS_EKIND);
    assert_int_equal(mms_counter_new(fx->w, "fld", NULL, NULL), 0);
    ts.name = "fld";
    assert_int_equal(mms_table_new(fx->w, &ts, &t2), MMS_EKIND);
    mms_field *f;
    assert_int_equal(mms_field_find(fx->w, "tbl", &f), MMS_ENOENT);
    /* Bad specs. */
    struct mms_table_member bad = {.name = "x-y", .kind = MMS_MK_SUM};
    struct mms_table_spec b = {.name = "b", .members = &bad, .nmembers = 1};
    assert_int_equal(mms_table_new(fx->w, &b, &t2), -EINVAL);
    bad.name = "x";
    bad.kind = 7;
    assert_int_equal(mms_table_new(fx->w, &b, &t2), -EINVAL);
    bad.kind = MMS_MK_SUM;
    b.capacity = 1;
    assert_int_equal(mms_table_new(fx->w, &b, &t2), -EINVAL);
    b.capacity = 0;
    b.nmembers = 0;
    assert_int_equal(mms_table_new(fx->w, &b, &t2), -EINVAL);
    b.nmembers = 1;
    b.name = "1bad";
    assert_int_equal(mms_table_new(fx->w, &b, &t2), MMS_ENAME);
    b.name = "ok";
    b.key_max = 4;
    assert_int_equal(mms_table_new(fx->w, &b, &t2), 0);
    /* Keys longer than key_max are cut: the same record. */
    uint32_t r1, r2;
    assert_int_equal(mms_record_get(t2, "abcdef", 6, &r1), 0);
    assert_int_equal(mms_record_get(t2, "abcdXY", 6, &r2), 0);
    assert_int_equal(r1, r2);
    assert_int_equal(mms_record_get(t2, NULL, 1, &r2), -EINVAL);
    assert_int_equal(mms_record_get(NULL, "a", 1, &r2), -EINVAL);
}

/* Threads insert the same keys at once and update them: one record per
 * key, exact totals, and each thread's cell of a record its own. */
#define NTHREADS 8
#define NKEYS 200
#define ROUNDS 50

static mms_table *race_table;
static pthread_barrier_t race_start;

static void *racer(void *arg)
{
    long id = (long)arg;
    pthread_barrier_wait(&race_start);
    char key[32];
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < NKEYS; k++) {
            int kk = (int)((k + id * 37) % NKEYS);
            snprintf(key, sizeof key, "/race/%d", kk);
            uint32_t rec;
            if (mms_record_get(race_table, key, strlen(key), &rec) != 0)
                return (void *)1;
            mms_record_update(race_table, rec, M_N, 1);
            mms_record_update(race_table, rec, M_HI, (uint64_t)id);
            mms_record_update(race_table, rec, M_LAT, (uint64_t)kk);
        }
    }
    return NULL;
}

static void test_concurrent_inserts_one_record_per_key(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "t.mmstats", NULL);
    /* Room for every key, and for the places inserters of one key hold
     * for a moment (one per thread): no key may go to (other). */
    race_table = new_table(fx->w, "race", NKEYS + 1 + NTHREADS);
    pthread_barrier_init(&race_start, NULL, NTHREADS);
    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, (void *)i), 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    pthread_barrier_destroy(&race_start);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    assert_int_equal(mms_snapshot_nrecords(s, 0), NKEYS + 1);
    uint32_t nrec;
    uint64_t hits;
    mms_snapshot_table_counts(s, 0, &nrec, &hits);
    assert_int_equal(nrec, NKEYS + 1); /* the places held came back */
    assert_int_equal(hits, 0);
    char key[32];
    for (int k = 0; k < NKEYS; k++) {
        snprintf(key, sizeof key, "/race/%d", k);
        const struct mms_record_info *ri = find_rec(s, 0, key);
        assert_non_null(ri);
        assert_int_equal(ri->m[M_N].v.u64, NTHREADS * ROUNDS);
        assert_int_equal(ri->m[M_HI].v.u64, NTHREADS - 1);
        /* The threads exited: their values moved to shard 0, once. */
        assert_int_equal(ri->m[M_LAT].count, NTHREADS * ROUNDS);
        assert_int_equal(ri->m[M_LAT].sum, (uint64_t)k * NTHREADS * ROUNDS);
    }
    mms_snapshot_free(s);
}

/* A forked child's file keeps the keys (same records) with zeroed values;
 * its own updates are its own. */
static void test_fork_child_keeps_keys_zeroes_values(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "t.mmstats", NULL);
    mms_table *t = new_table(fx->w, "files", 8);
    uint32_t rec;
    assert_int_equal(mms_record_get(t, "/parent", 7, &rec), 0);
    mms_record_update(t, rec, M_N, 5);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint32_t r2, r3;
        int ok = mms_record_get(t, "/parent", 7, &r2) == 0 && r2 == rec &&
                 mms_record_get(t, "/child", 6, &r3) == 0;
        mms_record_update(t, r2, M_N, 1);
        mms_record_update(t, r3, M_N, 2);
        char c = ok ? 'y' : 'n';
        if (write(pfd[1], &c, 1) != 1)
            _exit(2);
        _exit(0);
    }
    close(pfd[1]);
    char c = 0;
    assert_int_equal(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(c, 'y');
    char path[4096];
    snprintf(path, sizeof path, "%s/t-%ld.mmstats", fx->dir, (long)pid);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(find_rec(s, 0, "/parent")->m[M_N].v.u64, 1);
    assert_int_equal(find_rec(s, 0, "/child")->m[M_N].v.u64, 2);
    mms_snapshot_free(s);
    mms_reader_close(r);
    /* The parent's file is untouched by the child. */
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    assert_int_equal(find_rec(s, 0, "/parent")->m[M_N].v.u64, 5);
    assert_null(find_rec(s, 0, "/child"));
    mms_snapshot_free(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_records_by_key),
        T(test_full_table_overflows),
        T(test_table_names_and_specs),
        T(test_concurrent_inserts_one_record_per_key),
        T(test_fork_child_keeps_keys_zeroes_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
