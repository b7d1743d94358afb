/* fork() while the parent's other threads keep allocating: threads add
 * fields, histogram chunks and table records and update them (the file
 * grows, new extents are mapped) while the main thread forks children
 * one after another. The child's copy of the heap is no picture of one
 * moment; the child keeps what its own memory refers to, whole. Each
 * child's updates land (counts from zero), none dies of SIGBUS or finds
 * the file full, and every child's file reads back as the child left it:
 * its own fields, records and histograms with the child's values only. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define NKIDS 40
#define NGROW 2

static mms_writer *w;
static mms_table *tab;
static mms_field *mixed[2]; /* a group: a gauge, then a counter */
static int stop;            /* atomic */

static const struct mms_table_member members[] = {
    {.name = "n", .kind = MMS_MK_SUM},
    {.name = "lat", .kind = MMS_MK_HIST},
};

static void *grower(void *arg)
{
    long me = (long)arg;
    char name[48];
    for (int i = 0; i < 20000 && !__atomic_load_n(&stop, __ATOMIC_ACQUIRE);
         i++) {
        mms_field *f;
        snprintf(name, sizeof name, "grow%ld.f%d", me, i);
        if (mms_counter_new(w, name, NULL, &f) == 0)
            mms_counter_add(f, 1);
        mms_field *h;
        snprintf(name, sizeof name, "grow%ld.h%d", me, i % 50);
        if (mms_hist_new(w, name, NULL, &h) == 0)
            mms_hist_record(h, (uint64_t)i * 977 * (uint64_t)(i % 13 + 1));
        uint32_t rec;
        snprintf(name, sizeof name, "k%ld.%d", me, i % 900);
        mms_record_get(tab, name, strlen(name), &rec);
        mms_record_update(tab, rec, 0, 1);
        mms_record_update(tab, rec, 1, (uint64_t)i << (i % 40));
        mms_counter_add(mixed[1], 1);
    }
    return NULL;
}

static const struct mms_record_info *find_rec(mms_snapshot *s, const char *key)
{
    for (size_t k = 0; k < mms_snapshot_nrecords(s, 0); k++) {
        const struct mms_record_info *ri = mms_snapshot_record(s, 0, k);
        if (ri->key_len == strlen(key) && !memcmp(ri->key, key, ri->key_len))
            return ri;
    }
    return NULL;
}

static void child(mms_field *mine, mms_field *lat)
{
    for (int i = 0; i < 1000; i++) {
        mms_counter_add(mine, 1);
        mms_hist_record(lat, (uint64_t)1 << (i % 30));
    }
    mms_counter_add(mixed[1], 5);
    uint32_t rec;
    if (mms_record_get(tab, "kid", 3, &rec) != 0)
        _exit(3);
    mms_record_update(tab, rec, 0, 7);
    mms_record_update(tab, rec, 1, 1000000);
    char name[32];
    for (int i = 0; i < 200; i++) {
        mms_field *f;
        snprintf(name, sizeof name, "kid.f%d", i);
        int rc = mms_counter_new(w, name, NULL, &f);
        if (rc != 0) {
            fprintf(stderr, "child: %s: %d\n", name, rc);
            _exit(2);
        }
        mms_counter_add(f, 2);
    }
    _exit(0);
}

static void check_child(const char *path)
{
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(tu_value(s, "kid.count", NULL)->v.u64, 1000);
    assert_int_equal(tu_value(s, "kid.f199", NULL)->v.u64, 2);
    assert_int_equal(tu_value(s, "mixed.n", NULL)->v.u64, 5);
    const struct mms_hist *h = tu_value(s, "kid.lat", NULL)->v.hist;
    assert_int_equal(h->count, 1000);
    tu_hist_check(h, 1);
    /* Records the parent's threads made are carried (zeroed) or not
     * there; the child's own has the child's values only. */
    const struct mms_record_info *ri = find_rec(s, "kid");
    assert_non_null(ri);
    assert_int_equal(ri->m[0].v.u64, 7);
    assert_int_equal(ri->m[1].count, 1);
    for (size_t j = 0; j < mms_snapshot_nrecords(s, 0); j++) {
        const struct mms_record_info *o = mms_snapshot_record(s, 0, j);
        if (o != ri)
            assert_int_equal(o->m[0].v.u64, 0);
    }
    mms_snapshot_free(s);
    mms_reader_close(r);
}

static void test_fork_while_the_parent_grows(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.extent_size = 64 * 1024; /* new extents often */
    w = tu_writer(dir, "fg.mmstats", &o);
    mms_field *mine, *lat;
    assert_int_equal(mms_counter_new(w, "kid.count", NULL, &mine), 0);
    assert_int_equal(mms_hist_new(w, "kid.lat", NULL, &lat), 0);
    struct mms_field_spec g[2] = {
        {.name = "mixed.g", .kind = MMS_KIND_GAUGE},
        {.name = "mixed.n", .kind = MMS_KIND_COUNTER},
    };
    assert_int_equal(mms__fields_add(w, g, 2, true, mixed), 0);
    struct mms_table_spec ts = {
        .name = "tab", .capacity = 4096, .members = members, .nmembers = 2};
    assert_int_equal(mms_table_new(w, &ts, &tab), 0);
    pthread_t t[NGROW];
    for (long i = 0; i < NGROW; i++)
        assert_int_equal(pthread_create(&t[i], NULL, grower, (void *)i), 0);
    pid_t kids[NKIDS];
    for (int k = 0; k < NKIDS; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0)
            child(mine, lat);
        usleep(2000);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NGROW; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < NKIDS; k++) {
        int status;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %d: status %#x", k, status);
        char path[4096];
        snprintf(path, sizeof path, "%s/fg-%ld.mmstats", dir, (long)kids[k]);
        check_child(path);
    }
    mms_writer_close(w);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_while_the_parent_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
