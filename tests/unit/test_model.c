/* The declarative API of model.h: one X-macro list gives a struct of
 * handles, a file named after the model, and fields of the right kinds. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define ALL_KINDS(X)                                                           \
    X(counter, requests, "requests", "requests served")                        \
    X(counter_window, bytes, "bytes", "bytes sent, per second too")            \
    X(gauge, in_flight, "requests", "requests being served")                   \
    X(gauge_f64, load, NULL, "load average")                                   \
    X(string, phase, NULL, NULL)                                               \
    X(hist, size, "bytes", "request sizes")                                    \
    X(timer, latency, "ns", "time to serve a request")                         \
    X(timer_window, wait, "ns", "time in the queue, per second too")           \
    X(movavg, avg_size, "bytes", "mean of the last 100 sizes")
MMS_MODEL(all_kinds, ALL_KINDS)

#define NMEMBERS 9

/* What each member must become, in list order. */
static const struct {
    const char *name;
    enum mms_kind kind;
    unsigned flags;
    const char *units, *help;
} want[NMEMBERS] = {
    {"requests", MMS_KIND_COUNTER, MMS_DF_SHARDED, "requests",
     "requests served"},
    {"bytes", MMS_KIND_COUNTER, MMS_DF_SHARDED | MMS_DF_WINDOW, "bytes",
     "bytes sent, per second too"},
    {"in_flight", MMS_KIND_GAUGE, 0, "requests", "requests being served"},
    {"load", MMS_KIND_GAUGE_F64, 0, "", "load average"},
    {"phase", MMS_KIND_STRING, 0, "", ""},
    {"size", MMS_KIND_HISTOGRAM, MMS_DF_SHARDED, "bytes", "request sizes"},
    {"latency", MMS_KIND_HISTOGRAM, MMS_DF_SHARDED, "ns",
     "time to serve a request"},
    {"wait", MMS_KIND_HISTOGRAM, MMS_DF_SHARDED | MMS_DF_WINDOW, "ns",
     "time in the queue, per second too"},
    {"avg_size", MMS_KIND_MOVAVG, 0, "bytes", "mean of the last 100 sizes"},
};

static int64_t fake_ns;

static int64_t fake_clock(void)
{
    return __atomic_load_n(&fake_ns, __ATOMIC_RELAXED);
}

static void model_options(struct mms_writer_options *o, const char *dir)
{
    mms_writer_options_init(o);
    o->dir = dir;
    o->flags = MMS_W_NO_ENV;
    o->clock_ns = fake_clock;
}

/* The only entry of DIR (besides . and ..) into NAME; fails otherwise. */
static void only_file(const char *dir, char *name, size_t len)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(name, len, "%s", e->d_name);
        n++;
    }
    closedir(d);
    assert_int_equal(n, 1);
}

/* The info of field NAME in R (refreshed), or a failure. */
static const struct mms_field_info *info_of(mms_reader *r, const char *name)
{
    assert_true(mms_reader_refresh(r) >= 0);
    for (size_t i = 0; i < mms_reader_nfields(r); i++)
        if (!strcmp(mms_reader_field(r, i)->name, name))
            return mms_reader_field(r, i);
    fail_msg("field %s not found", name);
    return NULL;
}

static void check_fields(mms_reader *r, const char *prefix)
{
    for (int i = 0; i < NMEMBERS; i++) {
        char name[MMS_NAME_MAX + 1];
        if (prefix)
            snprintf(name, sizeof name, "%s.%s", prefix, want[i].name);
        else
            snprintf(name, sizeof name, "%s", want[i].name);
        const struct mms_field_info *fi = info_of(r, name);
        assert_int_equal(fi->kind, want[i].kind);
        assert_int_equal(fi->flags, want[i].flags);
        assert_string_equal(fi->units, want[i].units);
        assert_string_equal(fi->help, want[i].help);
        assert_int_equal(fi->index, (uint32_t)i);
        if (fi->kind == MMS_KIND_HISTOGRAM) {
            assert_int_equal(fi->hist_bits, MMS_HIST_DEFAULT_BITS);
            assert_int_equal(fi->hist_max_exp, MMS_HIST_DEFAULT_MAX_EXP);
            assert_int_equal(fi->window_bits, (fi->flags & MMS_DF_WINDOW)
                                                  ? MMS_WINDOW_DEFAULT_BITS
                                                  : 0);
        }
        if (fi->kind == MMS_KIND_MOVAVG)
            assert_int_equal(fi->n, MMS_MOVAVG_DEFAULT_N);
    }
    assert_int_equal(mms_reader_nfields(r), NMEMBERS);
}

static void test_open_creates_file_named_after_model(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    model_options(&o, fx->dir);
    struct all_kinds m;
    memset(&m, 0, sizeof m);
    assert_int_equal(all_kinds_open(&m, &o), 0);
    assert_non_null(m.writer);
    char expect[256], found[256];
    snprintf(expect, sizeof expect, "%s-all_kinds-%ld.mmstats",
             program_invocation_short_name, (long)getpid());
    only_file(fx->dir, found, sizeof found);
    assert_string_equal(found, expect);
    char path[4096 + 256];
    snprintf(path, sizeof path, "%s/%s", fx->dir, expect);
    assert_string_equal(mms_writer_path(m.writer), path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(all_kinds_close(&m), 0);
    /* Closing keeps the file, finished. */
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    assert_int_equal(mms_reader_liveness(r), MMS_LIVE_FINISHED);
    mms_reader_close(r);
}

static void test_open_with_label_or_name_option(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    model_options(&o, fx->dir);
    o.label = "blue";
    o.flags |= MMS_W_REMOVE_AT_CLOSE;
    struct all_kinds m;
    assert_int_equal(all_kinds_open(&m, &o), 0);
    char expect[256], found[256];
    snprintf(expect, sizeof expect, "%s-all_kinds-blue-%ld.mmstats",
             program_invocation_short_name, (long)getpid());
    only_file(fx->dir, found, sizeof found);
    assert_string_equal(found, expect);
    assert_int_equal(all_kinds_close(&m), 0);
    /* A name given in the options wins over the model's. */
    o.label = NULL;
    o.name = "custom";
    assert_int_equal(all_kinds_open(&m, &o), 0);
    snprintf(expect, sizeof expect, "%s-custom-%ld.mmstats",
             program_invocation_short_name, (long)getpid());
    only_file(fx->dir, found, sizeof found);
    assert_string_equal(found, expect);
    assert_int_equal(all_kinds_close(&m), 0);
}

static void test_each_member_is_a_field_of_its_kind(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    model_options(&o, fx->dir);
    struct all_kinds m;
    assert_int_equal(all_kinds_open(&m, &o), 0);
    mms_field *handles[NMEMBERS] = {m.requests, m.bytes, m.in_flight,
                                    m.load,     m.phase, m.size,
                                    m.latency,  m.wait,  m.avg_size};
    for (int i = 0; i < NMEMBERS; i++) {
        assert_non_null(handles[i]);
        assert_ptr_equal(handles[i], tu_find(m.writer, want[i].name));
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(handles[i], handles[j]);
    }
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(m.writer)), 0);
    check_fields(r, NULL);
    mms_reader_close(r);
    assert_int_equal(all_kinds_close(&m), 0);
}

static void test_register_prefixes_field_names(void **state)
{
    struct tu_fx *fx = *state;
    mms_writer *w = tu_writer(fx->dir, "reg.mmstats", NULL);
    struct all_kinds m;
    memset(&m, 0, sizeof m);
    assert_int_equal(all_kinds_register(&m, w, "pfx"), 0);
    assert_ptr_equal(m.writer, w);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w)), 0);
    check_fields(r, "pfx");
    assert_null(tu_find(w, "requests"));
    assert_ptr_equal(tu_find(w, "pfx.requests"), m.requests);
    /* Registering again gives the same handles and no new fields. */
    struct all_kinds again;
    assert_int_equal(all_kinds_register(&again, w, "pfx"), 0);
    assert_memory_equal(&again, &m, sizeof m);
    assert_int_equal(mms_reader_refresh(r), 0);
    /* A second prefix is a second set; NULL or "" means no prefix. */
    struct all_kinds two, bare;
    assert_int_equal(all_kinds_register(&two, w, "two.deep"), 0);
    assert_string_equal(info_of(r, "two.deep.avg_size")->name,
                        "two.deep.avg_size");
    assert_ptr_not_equal(two.requests, m.requests);
    assert_int_equal(all_kinds_register(&bare, w, ""), 0);
    assert_ptr_equal(bare.requests, tu_find(w, "requests"));
    assert_int_equal(mms_reader_nfields(r), 2 * NMEMBERS);
    assert_int_equal(mms_reader_refresh(r), 1);
    assert_int_equal(mms_reader_nfields(r), 3 * NMEMBERS);
    mms_reader_close(r);
    mms_writer_close(w);
}

static void test_register_reports_bad_prefix_and_kind_clash(void **state)
{
    struct tu_fx *fx = *state;
    mms_writer *w = tu_writer(fx->dir, "bad.mmstats", NULL);
    struct all_kinds m;
    assert_int_equal(all_kinds_register(&m, w, "bad prefix"), MMS_ENAME);
    assert_int_equal(all_kinds_register(&m, w, "1x"), MMS_ENAME);
    char longp[MMS_NAME_MAX];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(all_kinds_register(&m, w, longp), MMS_ENAME);
    /* A name that exists with another kind stops the registration. */
    mms_field *g;
    assert_int_equal(mms_gauge_new(w, "c.bytes", NULL, &g), 0);
    assert_int_equal(all_kinds_register(&m, w, "c"), MMS_EKIND);
    assert_non_null(m.requests);
    assert_null(tu_find(w, "c.in_flight"));
    mms_writer_close(w);
}

/* The value of NAME in S; fails if it is missing. */
static const struct mms_value *val(mms_snapshot *s, const char *name)
{
    long i = tu_index(s, name);
    if (i < 0)
        fail_msg("field %s not in snapshot", name);
    return mms_snapshot_value(s, (size_t)i);
}

static void test_updates_through_handles_read_back_exactly(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    model_options(&o, fx->dir);
    struct all_kinds m;
    assert_int_equal(all_kinds_open(&m, &o), 0);
    __atomic_store_n(&fake_ns, 5000 * 1000000000ll + 17, __ATOMIC_RELAXED);
    mms_counter_add(m.requests, 41);
    mms_counter_inc(m.requests);
    mms_counter_add(m.bytes, 1500);
    mms_counter_add(m.bytes, 500);
    mms_gauge_set(m.in_flight, 10);
    mms_gauge_add(m.in_flight, -13);
    mms_gauge_set_f64(m.load, 0.5);
    mms_gauge_add_f64(m.load, 0.25);
    mms_string_set(m.phase, "serving");
    mms_hist_record(m.size, 100);
    mms_hist_record(m.size, 300);
    mms_hist_record(m.latency, 12345);
    mms_hist_record(m.wait, 77);
    mms_hist_record(m.wait, 88);
    mms_movavg_add(m.avg_size, 100);
    mms_movavg_add(m.avg_size, 300);

    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(m.writer)), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(val(s, "requests")->v.u64, 42);
    assert_int_equal(val(s, "bytes")->v.u64, 2000);
    assert_true(val(s, "in_flight")->v.i64 == -3);
    assert_true(val(s, "load")->v.f64 == 0.75);
    assert_string_equal(val(s, "phase")->v.str.ptr, "serving");
    assert_int_equal(val(s, "phase")->v.str.len, 7);
    const struct mms_hist *h = val(s, "size")->v.hist;
    assert_int_equal(h->count, 2);
    assert_int_equal(h->sum, 400);
    assert_int_equal(h->min, 100);
    assert_int_equal(h->max, 300);
    h = val(s, "latency")->v.hist;
    assert_int_equal(h->count, 1);
    assert_int_equal(h->sum, 12345);
    h = val(s, "wait")->v.hist;
    assert_int_equal(h->count, 2);
    assert_int_equal(h->sum, 165);
    const struct mms_value *a = val(s, "avg_size");
    assert_true(a->v.avg.mean == 200.0);
    assert_true(a->v.avg.last == 300.0);
    assert_int_equal(a->v.avg.count, 2);
    /* The windowed members keep the second of the writer's clock. */
    struct mms_window win;
    int64_t next = 5001 * 1000000000ll;
    assert_int_equal(
        mms_snapshot_window_at(s, (size_t)tu_index(s, "bytes"), 1, next, &win),
        0);
    assert_int_equal(win.count, 2000);
    mms_window_free(&win);
    assert_int_equal(
        mms_snapshot_window_at(s, (size_t)tu_index(s, "wait"), 1, next, &win),
        0);
    assert_int_equal(win.count, 2);
    assert_int_equal(win.sum, 165);
    mms_window_free(&win);
    mms_snapshot_free(s);
    mms_reader_close(r);
    assert_int_equal(all_kinds_close(&m), 0);
}

static void test_open_failure_leaves_no_writer(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    model_options(&o, fx->dir);
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/no/such/dir", fx->dir);
    o.dir = missing;
    o.flags |= MMS_W_NO_ENV;
    struct all_kinds m;
    assert_true(all_kinds_open(&m, &o) < 0);
    /* Too small a file for the model's fields: the open fails and the
     * writer is closed again (no writer slot is leaked: more opens
     * than there are slots still succeed). */
    model_options(&o, fx->dir);
    o.max_fields = 4;
    o.flags |= MMS_W_REMOVE_AT_CLOSE;
    for (int i = 0; i < MMS_MAX_WRITERS + 2; i++)
        assert_int_equal(all_kinds_open(&m, &o), MMS_EFULL);
    model_options(&o, fx->dir);
    o.flags |= MMS_W_REMOVE_AT_CLOSE;
    assert_int_equal(all_kinds_open(&m, &o), 0);
    assert_int_equal(all_kinds_close(&m), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_file_named_after_model),
        T(test_open_with_label_or_name_option),
        T(test_each_member_is_a_field_of_its_kind),
        T(test_register_prefixes_field_names),
        T(test_register_reports_bad_prefix_and_kind_clash),
        T(test_updates_through_handles_read_back_exactly),
        T(test_open_failure_leaves_no_writer),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
