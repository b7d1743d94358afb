/* Fields added while the file is live: a concurrent reader sees every new
 * field complete and with its value, and nothing already there moves. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "testutil.h"

#define NDYN 2000 /* fields added at run time, alternating kinds */
/* The writer lets the reader catch up before each of the first NDYN / 2
 * adds (so an add lands while the reader polls), then before bursts of
 * NBURST adds. */
#define NBURST 100
#define BASE_COUNT 12345u

/* Field k of the run-time set: an even k is a static gauge, an odd k a
 * static string; both values are written before the field is published,
 * so a reader must never see any other value. */
static int64_t dyn_gauge_value(int k)
{
    return (int64_t)k * 1000 - 7777;
}

static void dyn_name(char *buf, size_t len, int k)
{
    snprintf(buf, len, "dyn.%s%d", k % 2 ? "s" : "g", k);
}

static void dyn_str_value(char *buf, size_t len, int k)
{
    snprintf(buf, len, "value-%d", k);
}

static int add_dyn(mms_writer *w, int k)
{
    char name[32], val[32];
    dyn_name(name, sizeof name, k);
    if (k % 2 == 0)
        return mms_static_i64(w, name, NULL, dyn_gauge_value(k));
    dyn_str_value(val, sizeof val, k);
    return mms_static_str(w, name, val);
}

/* Checks one snapshot; returns false with a message in ERR on a wrong
 * value or an unexpected field. */
static bool check_snapshot(mms_snapshot *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_field_info *fi = mms_snapshot_field(s, i);
        const struct mms_value *v = mms_snapshot_value(s, i);
        if (!strcmp(fi->name, "base.count")) {
            if (fi->kind != MMS_KIND_COUNTER || v->v.u64 != BASE_COUNT) {
                snprintf(err, errlen, "base.count = %llu",
                         (unsigned long long)v->v.u64);
                return false;
            }
            continue;
        }
        int k;
        char kc;
        if (sscanf(fi->name, "dyn.%c%d", &kc, &k) != 2 || k < 0 || k >= NDYN ||
            kc != (k % 2 ? 's' : 'g') || fi->index != k + 1u) {
            snprintf(err, errlen, "unexpected field %s at %u", fi->name,
                     fi->index);
            return false;
        }
        if (kc == 'g') {
            if (fi->kind != MMS_KIND_GAUGE || v->v.i64 != dyn_gauge_value(k)) {
                snprintf(err, errlen, "%s = %lld", fi->name,
                         (long long)v->v.i64);
                return false;
            }
        } else {
            char want[32];
            dyn_str_value(want, sizeof want, k);
            if (fi->kind != MMS_KIND_STRING || v->status != 0 ||
                v->v.str.len != strlen(want) || strcmp(v->v.str.ptr, want)) {
                snprintf(err, errlen, "%s = \"%s\" (status %d)", fi->name,
                         v->v.str.ptr, v->status);
                return false;
            }
        }
    }
    return true;
}

/* The reader thread publishes how many fields it has seen, so the writer
 * can wait for it at a few points and the two really interleave. */
struct watcher {
    const char *path;
    pthread_mutex_t lock;
    pthread_cond_t moved;
    size_t max_seen; /* under lock */
    bool finished;   /* under lock */
    uint64_t snapshots, grew;
    char error[256];
};

static void publish(struct watcher *wt, size_t seen, bool finished)
{
    pthread_mutex_lock(&wt->lock);
    if (seen > wt->max_seen)
        wt->max_seen = seen;
    wt->finished |= finished;
    pthread_cond_broadcast(&wt->moved);
    pthread_mutex_unlock(&wt->lock);
}

/* Wait until the reader has seen N fields or has stopped. */
static void wait_seen(struct watcher *wt, size_t n)
{
    pthread_mutex_lock(&wt->lock);
    while (!wt->finished && wt->max_seen < n)
        pthread_cond_wait(&wt->moved, &wt->lock);
    pthread_mutex_unlock(&wt->lock);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reader thread: refreshes and snapshots until it has seen every field
 * (bounded in count and in time). Never asserts: cmocka's asserts belong
 * to the main thread. */
static void *watch(void *arg)
{
    struct watcher *wt = arg;
    mms_reader *r;
    int rc = mms_reader_open(&r, wt->path);
    if (rc < 0) {
        snprintf(wt->error, sizeof wt->error, "open: %s", mms_strerror(rc));
        publish(wt, 0, true);
        return NULL;
    }
    int64_t deadline = mono_ms() + 60000;
    size_t seen = 0, known = mms_reader_nfields(r);
    for (uint64_t n = 0; n < 50000000 && seen < NDYN + 1u; n++) {
        rc = mms_reader_refresh(r);
        size_t now = mms_reader_nfields(r);
        if (rc < 0 || rc != (now > known)) {
            snprintf(wt->error, sizeof wt->error,
                     "refresh: %d with %zu -> %zu fields", rc, known, now);
            break;
        }
        wt->grew += now > known;
        known = now;
        /* Polling the layout is cheap; snapshot as soon as it grows (when
         * a half-published field would show) and now and then anyway. */
        if (rc == 0 && (n & 63) != 0)
            continue;
        mms_snapshot *s;
        if ((rc = mms_snapshot_take(r, &s)) < 0) {
            snprintf(wt->error, sizeof wt->error, "snapshot: %s",
                     mms_strerror(rc));
            break;
        }
        wt->snapshots++;
        bool ok = check_snapshot(s, wt->error, sizeof wt->error);
        size_t got = mms_snapshot_nfields(s);
        mms_snapshot_free(s);
        if (!ok)
            break;
        /* The snapshot refreshes too: count what it found as growth. */
        wt->grew += got > known;
        known = mms_reader_nfields(r);
        /* Published last, so the writer's next add finds us polling. */
        if (got > seen) {
            seen = got;
            publish(wt, seen, false);
        }
        if (mono_ms() > deadline) {
            snprintf(wt->error, sizeof wt->error,
                     "timed out with %zu fields seen", seen);
            break;
        }
    }
    mms_reader_close(r);
    publish(wt, seen, true);
    return NULL;
}

static void test_reader_sees_fields_added_while_it_reads(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.max_fields = NDYN + 1;
    fx->w = tu_writer(fx->dir, "d.mmstats", &o);
    mms_field *base;
    assert_int_equal(mms_counter_new(fx->w, "base.count", NULL, &base), 0);
    mms_counter_add(base, BASE_COUNT);
    const struct mms_field_block *base_blk = base->blk;

    struct watcher wt = {.path = mms_writer_path(fx->w)};
    pthread_mutex_init(&wt.lock, NULL);
    pthread_cond_init(&wt.moved, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, watch, &wt), 0);
    /* Each wait lets the reader catch up, so it sees the layout grow at
     * least once per wait while the writer goes on adding. */
    for (int k = 0; k < NDYN; k++) {
        if (k < NDYN / 2 || k % NBURST == 0)
            wait_seen(&wt, (size_t)k + 1);
        assert_int_equal(add_dyn(fx->w, k), 0);
    }
    pthread_join(t, NULL);
    pthread_mutex_destroy(&wt.lock);
    pthread_cond_destroy(&wt.moved);

    if (wt.error[0])
        fail_msg("reader: %s", wt.error);
    assert_int_equal(wt.max_seen, NDYN + 1);
    assert_true(wt.grew >= NDYN / 2 + NDYN / 2 / NBURST);
    assert_ptr_equal(tu_find(fx->w, "base.count"), base);
    assert_ptr_equal(base->blk, base_blk); /* blocks never move */

    /* A fresh reader agrees, field by field. */
    mms_reader *r;
    mms_snapshot *s;
    char err[256] = "";
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->w)), 0);
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(mms_snapshot_nfields(s), NDYN + 1);
    if (!check_snapshot(s, err, sizeof err))
        fail_msg("%s", err);
    mms_snapshot_free(s);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(r, &pi), 0);
    /* One publication per FIELD block at least (and shards, cells). */
    assert_true(pi.layout_gen >= NDYN + 1);
    mms_reader_close(r);
}

/* Field F's FIELD block as stored in the file. */
static struct mms_field_block file_desc(const mms_field *f)
{
    struct mms_field_block d;
    memcpy(&d, f->blk, sizeof d);
    return d;
}

static void test_existing_fields_keep_value_and_offset(void **state)
{
    struct tu_fx *fx = *state;
    fx->w = tu_writer(fx->dir, "d.mmstats", NULL);
    mms_field *c, *g, *s;
    assert_int_equal(mms_counter_new(fx->w, "old.count", NULL, &c), 0);
    assert_int_equal(mms_gauge_new(fx->w, "old.gauge", NULL, &g), 0);
    assert_int_equal(mms_string_new(fx->w, "old.text", 16, &s), 0);
    mms_counter_add(c, 777);
    mms_gauge_set(g, -5);
    mms_string_set(s, "keep me");
    struct mms_field_block dc = file_desc(c), dg = file_desc(g),
                           ds = file_desc(s);
    uint8_t *gv = g->value, *sv = s->value;
    assert_ptr_equal(gv, (uint8_t *)g->blk + dg.value_off);
    assert_ptr_equal(sv, (uint8_t *)s->blk + ds.value_off);

    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->w)), 0);
    const struct mms_field_info *fc = mms_reader_field(r, 0);
    assert_string_equal(fc->name, "old.count");

    /* Many more fields of every kind, new counters among them. */
    char name[32];
    for (int k = 0; k < 300; k++) {
        mms_field *f;
        snprintf(name, sizeof name, "new.f%d", k);
        switch (k % 4) {
        case 0:
            assert_int_equal(mms_counter_new(fx->w, name, NULL, &f), 0);
            mms_counter_add(f, (uint64_t)k);
            break;
        case 1:
            assert_int_equal(mms_gauge_new(fx->w, name, NULL, &f), 0);
            mms_gauge_set(f, -k);
            break;
        case 2:
            assert_int_equal(mms_gauge_f64_new(fx->w, name, NULL, &f), 0);
            break;
        default:
            assert_int_equal(mms_string_new(fx->w, name, 8, &f), 0);
            mms_string_set(f, "overwrite-me-please");
            break;
        }
    }
    assert_ptr_equal(g->value, gv);
    assert_ptr_equal(s->value, sv);
    struct mms_field_block now = file_desc(c);
    assert_memory_equal(&dc, &now, sizeof dc);
    now = file_desc(g);
    assert_memory_equal(&dg, &now, sizeof dg);
    now = file_desc(s);
    assert_memory_equal(&ds, &now, sizeof ds);

    assert_int_equal(mms_reader_refresh(r), 1);
    assert_ptr_equal(mms_reader_field(r, 0), fc);
    assert_int_equal(tu_counter(r, "old.count"), 777);
    assert_int_equal(tu_gauge(r, "old.gauge"), -5);
    assert_int_equal(tu_counter(r, "new.f0"), 0);
    assert_int_equal(tu_counter(r, "new.f296"), 296);
    assert_int_equal(tu_gauge(r, "new.f297"), -297);
    mms_snapshot *snap;
    assert_int_equal(mms_snapshot_take(r, &snap), 0);
    const struct mms_value *v =
        mms_snapshot_value(snap, (size_t)tu_index(snap, "old.text"));
    assert_string_equal(v->v.str.ptr, "keep me");
    v = mms_snapshot_value(snap, (size_t)tu_index(snap, "new.f299"));
    assert_string_equal(v->v.str.ptr, "overwrit");
    mms_snapshot_free(snap);

    /* The old counter keeps counting where it was. */
    mms_counter_add(c, 3);
    assert_int_equal(tu_counter(r, "old.count"), 780);
    assert_int_equal(tu_counter(r, "new.f0"), 0);
    mms_reader_close(r);
}

static void test_refresh_returns_1_when_grown_and_0_when_not(void **state)
{
    struct tu_fx *fx = *state;
    fx->w = tu_writer(fx->dir, "d.mmstats", NULL);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->w)), 0);
    assert_int_equal(mms_reader_refresh(r), 0);
    assert_int_equal(mms_reader_nfields(r), 0);

    assert_int_equal(mms_counter_new(fx->w, "a", NULL, NULL), 0);
    assert_int_equal(mms_reader_refresh(r), 1);
    assert_int_equal(mms_reader_nfields(r), 1);
    assert_int_equal(mms_reader_refresh(r), 0);

    /* Re-adding an existing field is no growth. */
    assert_int_equal(mms_counter_new(fx->w, "a", NULL, NULL), 0);
    assert_int_equal(mms_reader_refresh(r), 0);
    /* Neither is a failed add. */
    assert_int_equal(mms_gauge_new(fx->w, "a", NULL, NULL), MMS_EKIND);
    assert_int_equal(mms_reader_refresh(r), 0);

    assert_int_equal(mms_gauge_new(fx->w, "b", NULL, NULL), 0);
    assert_int_equal(mms_string_new(fx->w, "c", 0, NULL), 0);
    assert_int_equal(mms_gauge_f64_new(fx->w, "d", NULL, NULL), 0);
    assert_int_equal(mms_reader_refresh(r), 1);
    assert_int_equal(mms_reader_nfields(r), 4);
    assert_int_equal(mms_reader_refresh(r), 0);
    assert_string_equal(mms_reader_field(r, 3)->name, "d");
    assert_int_equal(mms_reader_field(r, 3)->index, 3);
    assert_null(mms_reader_field(r, 4));
    mms_reader_close(r);
}

static void test_field_infos_stay_valid_after_refresh(void **state)
{
    struct tu_fx *fx = *state;
    fx->w = tu_writer(fx->dir, "d.mmstats", NULL);
    struct mms_field_spec spec = {.name = "first.field",
                                  .kind = MMS_KIND_GAUGE,
                                  .units = "bytes",
                                  .help = "the first field"};
    mms_field *first;
    assert_int_equal(mms_field_add(fx->w, &spec, &first), 0);
    mms_gauge_set(first, 42);

    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->w)), 0);
    const struct mms_field_info *fi = mms_reader_field(r, 0);
    assert_non_null(fi);
    const char *name = fi->name;
    mms_snapshot *early;
    assert_int_equal(mms_snapshot_take(r, &early), 0);

    /* Enough growth to reallocate any table the reader keeps. */
    char buf[32];
    for (int round = 0; round < 10; round++) {
        for (int k = 0; k < 100; k++) {
            snprintf(buf, sizeof buf, "grow.r%d.f%d", round, k);
            assert_int_equal(mms_counter_new(fx->w, buf, NULL, NULL), 0);
        }
        assert_int_equal(mms_reader_refresh(r), 1);
    }
    assert_int_equal(mms_reader_nfields(r), 1001);
    assert_ptr_equal(mms_reader_field(r, 0), fi);
    assert_ptr_equal(fi->name, name);
    assert_string_equal(fi->name, "first.field");
    assert_string_equal(fi->units, "bytes");
    assert_string_equal(fi->help, "the first field");
    assert_int_equal(fi->kind, MMS_KIND_GAUGE);
    assert_int_equal(fi->index, 0);

    /* A snapshot taken before the growth still reads as it was. */
    assert_int_equal(mms_snapshot_nfields(early), 1);
    assert_ptr_equal(mms_snapshot_field(early, 0), fi);
    assert_int_equal(mms_snapshot_value(early, 0)->v.i64, 42);
    mms_snapshot_free(early);
    assert_string_equal(mms_reader_field(r, 1000)->name, "grow.r9.f99");
    mms_reader_close(r);
}

/* Several threads add overlapping sets of fields at once: each name is
 * added once, every thread gets the same handle for it. */
#define NADDERS 4
#define NSHARED 100

struct adder {
    mms_writer *w;
    int id;
    mms_field *got[NSHARED];
    int rc; /* first failure, or 0 */
};

static void *add_fields(void *arg)
{
    struct adder *a = arg;
    char name[32];
    for (int k = 0; k < NSHARED && !a->rc; k++) {
        snprintf(name, sizeof name, "shared.f%d", k);
        a->rc = mms_counter_new(a->w, name, NULL, &a->got[k]);
        mms_counter_inc(a->got[k]);
        snprintf(name, sizeof name, "own.t%d.f%d", a->id, k);
        if (!a->rc)
            a->rc = mms_static_i64(a->w, name, NULL, a->id * 1000 + k);
    }
    return NULL;
}

static void test_concurrent_adders_get_one_field_per_name(void **state)
{
    struct tu_fx *fx = *state;
    fx->w = tu_writer(fx->dir, "d.mmstats", NULL);
    pthread_t t[NADDERS];
    struct adder *a = calloc(NADDERS, sizeof *a);
    assert_non_null(a);
    for (int i = 0; i < NADDERS; i++) {
        a[i].w = fx->w;
        a[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, add_fields, &a[i]), 0);
    }
    for (int i = 0; i < NADDERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < NADDERS; i++) {
        assert_int_equal(a[i].rc, 0);
        for (int k = 0; k < NSHARED; k++)
            assert_ptr_equal(a[i].got[k], a[0].got[k]);
    }
    free(a);

    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(fx->w)), 0);
    assert_int_equal(mms_reader_nfields(r), NSHARED * (1 + NADDERS));
    assert_int_equal(tu_counter(r, "shared.f0"), NADDERS);
    assert_int_equal(tu_counter(r, "shared.f99"), NADDERS);
    assert_int_equal(tu_gauge(r, "own.t3.f42"), 3042);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_true(pi.layout_gen >= NSHARED * (1 + NADDERS));
    mms_reader_close(r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_reader_sees_fields_added_while_it_reads),
        T(test_existing_fields_keep_value_and_offset),
        T(test_refresh_returns_1_when_grown_and_0_when_not),
        T(test_field_infos_stay_valid_after_refresh),
        T(test_concurrent_adders_get_one_field_per_name),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
