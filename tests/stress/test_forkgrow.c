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

#include "hotpath.h"
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

/* ThreadSanitizer lets no thread start after a multi-threaded fork, and
 * under AddressSanitizer (GCC 12's libasan) the child's thread may hang
 * as it exits, on an allocator quarantine lock the fork copied held from
 * a parent's thread (once in 11 loaded runs). */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define KID_THREAD 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define KID_THREAD 0
#endif
#endif
#ifndef KID_THREAD
#define KID_THREAD 1
#endif

/* A thread of the child's: it takes one of the parent's threads' shards
 * (FREE in the child), whose areas the parent's thread was filling, and
 * makes its own cells and chunks there. */
static void *kid_thread(void *arg)
{
    (void)arg;
    char name[32];
    for (int i = 0; i < 200; i++) {
        mms_field *f, *h;
        snprintf(name, sizeof name, "kid.t.f%d", i);
        if (mms_counter_new(w, name, NULL, &f) != 0)
            return (void *)1;
        mms_counter_add(f, 3);
        snprintf(name, sizeof name, "kid.t.h%d", i % 20);
        if (mms_hist_new(w, name, NULL, &h) != 0)
            return (void *)1;
        mms_hist_record(h, (uint64_t)1 << (i % 30));
    }
    return NULL;
}

static void child(mms_field *mine, mms_field *lat)
{
    pthread_t kt;
    void *kt_rc = (void *)1;
    if (KID_THREAD && (pthread_create(&kt, NULL, kid_thread, NULL) != 0 ||
                       pthread_join(kt, &kt_rc) != 0 || kt_rc))
        _exit(4);
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
    char name[32];
    for (int i = 0; KID_THREAD && i < 200; i++) {
        snprintf(name, sizeof name, "kid.t.f%d", i);
        assert_int_equal(tu_value(s, name, NULL)->v.u64, 3);
    }
    for (int i = 0; KID_THREAD && i < 20; i++) {
        snprintf(name, sizeof name, "kid.t.h%d", i);
        const struct mms_hist *th = tu_value(s, name, NULL)->v.hist;
        assert_int_equal(th->count, 10);
        tu_hist_check(th, 1);
    }
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

/* ------------------------------------- an area grown after the fork */

#define NLATE 250 /* 24-byte CELLS blocks: 6000 bytes, past any page */

/* The main thread's current area (its shard's): offset and block. */
static struct mms_area_block *main_area(uint64_t *off)
{
    struct mms__tls_ent *t = &mms__tls[w->slot];
    *off = t->wid == w->id ? mms_load_acquire(&t->sh->area) : 0;
    return *off ? (struct mms_area_block *)mms__ptr(w, *off) : NULL;
}

/* Counters made on the main thread until its shard opens an area of
 * MMS_AREA_MAX bytes whose first block (the returned counter's cells) is
 * on the area header's page. */
static mms_field *open_big_area(void)
{
    uint64_t before = 0, off;
    (void)main_area(&before);
    for (int i = 0; i < 20000; i++) {
        char name[32];
        mms_field *f;
        snprintf(name, sizeof name, "pre.f%d", i);
        assert_int_equal(mms_counter_new(w, name, NULL, &f), 0);
        mms_counter_add(f, 1);
        struct mms_area_block *a = main_area(&off);
        assert_non_null(a);
        if (off != before && a->b.size == MMS_AREA_MAX &&
            a->used == sizeof(struct mms_cells_block) + 8 &&
            off / 4096 == (off + sizeof *a + a->used - 1) / 4096)
            return f;
        before = off;
    }
    fail_msg("no area of %u bytes", MMS_AREA_MAX);
    return NULL;
}

/* The copy of the parent's file is not one moment's: a page the child
 * wrote to before it is made (MMS_W_FORK_MANUAL, the private mapping the
 * shim gives a child that has not recorded yet) keeps the area's used
 * mark of that moment, while the area's later pages show the blocks the
 * parent made since. The child's own blocks, made from that mark on,
 * must not start with the parent's values: each of the child's new
 * counters reads exactly what the child added. */
static void test_child_area_past_a_stale_mark(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.flags = MMS_W_FORK_MANUAL;
    w = tu_writer(dir, "fa.mmstats", &o);
    mms_field *first = open_big_area();
    int go[2], made[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(made), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    char c = 0;
    if (pid == 0) {
        /* The shim's child: the parent's file mapped private. Its add
         * copies the area header's page (the used mark of now). */
        if (mms__writer_fork_private(w) != 0)
            _exit(4);
        mms_counter_add(first, 1);
        if (write(made[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(5);
        if (mms_writer_after_fork(w) != 0)
            _exit(6);
        for (int i = 0; i < NLATE; i++) {
            char name[32];
            mms_field *f;
            snprintf(name, sizeof name, "kid.f%d", i);
            if (mms_counter_new(w, name, NULL, &f) != 0)
                _exit(7);
            mms_counter_add(f, 7);
        }
        _exit(0);
    }
    assert_int_equal(read(made[0], &c, 1), 1);
    /* The parent's blocks in the same area, on its later pages too. */
    for (int i = 0; i < NLATE; i++) {
        char name[32];
        mms_field *f;
        snprintf(name, sizeof name, "late.f%d", i);
        assert_int_equal(mms_counter_new(w, name, NULL, &f), 0);
        mms_counter_add(f, 1000 + (uint64_t)i);
    }
    assert_int_equal(write(go[1], &c, 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child: status %#x", status);
    char path[4096];
    snprintf(path, sizeof path, "%s/fa-%ld.mmstats", dir, (long)pid);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    unsigned bad = 0;
    for (int i = 0; i < NLATE; i++) {
        char name[32];
        snprintf(name, sizeof name, "kid.f%d", i);
        const struct mms_value *v = tu_value(s, name, NULL);
        if (v->v.u64 != 7 && bad++ < 3)
            print_error("%s = %llu\n", name, (unsigned long long)v->v.u64);
    }
    assert_int_equal(bad, 0);
    assert_int_equal(tu_value(s, "pre.f0", NULL)->v.u64, 0);
    mms_snapshot_free(s);
    mms_reader_close(r);
    close(go[0]);
    close(go[1]);
    close(made[0]);
    close(made[1]);
    mms_writer_close(w);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_while_the_parent_grows),
        cmocka_unit_test(test_child_area_past_a_stale_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
