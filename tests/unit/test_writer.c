/* The writer: file creation and header, field adds and their limits, every
 * value kind as a reader sees it, and file names from templates. */
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

static double f64_of(mms_reader *r, const char *name)
{
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    double v = tu_value(s, name, NULL)->v.f64;
    mms_snapshot_free(s);
    return v;
}

/* Copies the string value of NAME into BUF (NUL-terminated) and returns
 * its length as the snapshot reports it. */
static uint32_t str_of(mms_reader *r, const char *name, char *buf, size_t len)
{
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    const struct mms_value *v = tu_value(s, name, NULL);
    assert_int_equal(v->kind, MMS_KIND_STRING);
    assert_int_equal(v->status, 0);
    uint32_t n = v->v.str.len;
    assert_true(n < len);
    memcpy(buf, v->v.str.ptr, n + 1u);
    mms_snapshot_free(s);
    return n;
}

/* ------------------------------------------------------ open and close */

static void test_open_creates_0600_file_with_header(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    char want[4096];
    snprintf(want, sizeof want, "%s/w.mmstats", fx->dir);
    assert_string_equal(mms_writer_path(fx->w), want);

    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());

    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(fx->r, &pi), 0);
    assert_int_equal(pi.major, MMS_VERSION_MAJOR);
    assert_int_equal(pi.state, MMS_STATE_READY);
    assert_int_equal(pi.pid, getpid());
    assert_int_equal(pi.ppid, getppid());
    assert_int_equal(pi.uid, geteuid());
    assert_int_equal(pi.gid, getegid());
    assert_string_equal(pi.exe, "test_writer");
    assert_non_null(strstr(pi.cmdline, "test_writer"));
    assert_true(pi.created_ns > 0);
    assert_int_equal(pi.finished_ns, 0);
    assert_int_equal(pi.file_size, (uint64_t)st.st_size);
    assert_int_equal(pi.layout_gen, 1); /* shard 0's block */
    assert_int_equal(pi.heap_used, sizeof(struct mms_file_header) + 64);
    assert_int_equal(pi.shards_used, 1);
    assert_int_equal(mms_reader_nfields(fx->r), 0);
    assert_int_equal(mms_reader_liveness(fx->r), MMS_LIVE_RUNNING);
}

static void test_close_marks_finished_and_keeps_file(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    mms_field *c;
    assert_int_equal(mms_counter_new(fx->w, "c", NULL, &c), 0);
    mms_counter_add(c, 99);
    char path[4096];
    mms__strlcpy(path, mms_writer_path(fx->w), sizeof path);
    assert_int_equal(mms_writer_close(fx->w), 0);
    fx->w = NULL;

    assert_int_equal(access(path, F_OK), 0);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(fx->r, &pi), 0);
    assert_int_equal(pi.state, MMS_STATE_FINISHED);
    assert_true(pi.finished_ns >= pi.created_ns);
    assert_int_equal(mms_reader_liveness(fx->r), MMS_LIVE_FINISHED);

    /* A reader opened afterwards sees the final data. */
    mms_reader *r2;
    assert_int_equal(mms_reader_open(&r2, path), 0);
    assert_int_equal(tu_counter(r2, "c"), 99);
    assert_int_equal(mms_reader_info(r2, &pi), 0);
    assert_int_equal(pi.state, MMS_STATE_FINISHED);
    mms_reader_close(r2);
}

static void test_remove_at_close_unlinks_file(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.flags = MMS_W_REMOVE_AT_CLOSE;
    mms_writer *w = tu_writer(fx->dir, "gone.mmstats", &o);
    char path[4096];
    mms__strlcpy(path, mms_writer_path(w), sizeof path);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(mms_writer_close(w), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(errno, ENOENT);
}

/* ---------------------------------------------------------- field adds */

static void test_field_add_same_name_and_kind_returns_same_handle(void **st)
{
    struct tu_fx *fx = *st;
    tu_open_pair(fx, "w.mmstats", NULL);
    mms_field *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(mms_counter_new(fx->w, "io.calls", "calls", &a), 0);
    assert_non_null(a);
    assert_int_equal(mms_counter_new(fx->w, "io.calls", "calls", &b), 0);
    struct mms_field_spec spec = {.name = "io.calls", .kind = MMS_KIND_COUNTER};
    assert_int_equal(mms_field_add(fx->w, &spec, &c), 0);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    assert_ptr_equal(tu_find(fx->w, "io.calls"), a);
    assert_null(tu_find(fx->w, "io.other"));

    mms_counter_add(a, 2);
    mms_counter_add(c, 3);
    assert_int_equal(mms_reader_refresh(fx->r), 1);
    assert_int_equal(mms_reader_nfields(fx->r), 1);
    assert_string_equal(mms_reader_field(fx->r, 0)->units, "calls");
    assert_int_equal(tu_counter(fx->r, "io.calls"), 5);
}

static void test_field_add_name_with_other_kind_is_ekind(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    mms_field *c, *g = (mms_field *)1, *s = (mms_field *)1;
    assert_int_equal(mms_counter_new(fx->w, "x.y", NULL, &c), 0);
    assert_int_equal(mms_gauge_new(fx->w, "x.y", NULL, &g), MMS_EKIND);
    assert_null(g);
    assert_int_equal(mms_string_new(fx->w, "x.y", 8, &s), MMS_EKIND);
    assert_null(s);
    assert_int_equal(mms_static_i64(fx->w, "x.y", NULL, 1), MMS_EKIND);
    assert_ptr_equal(tu_find(fx->w, "x.y"), c);
    assert_int_equal(mms_reader_refresh(fx->r), 1);
    assert_int_equal(mms_reader_nfields(fx->r), 1);
    assert_int_equal(mms_reader_field(fx->r, 0)->kind, MMS_KIND_COUNTER);
}

static void test_field_add_bad_name_is_ename(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    const char *bad[] = {"", "1x", "a..b", "a b", "a/b", ".a", "a.", "a-b"};
    for (size_t i = 0; i < MMS_ARRAY_LEN(bad); i++) {
        mms_field *f = (mms_field *)1;
        assert_int_equal(mms_counter_new(fx->w, bad[i], NULL, &f), MMS_ENAME);
        assert_null(f);
        assert_int_equal(mms_static_str(fx->w, bad[i], "v"), MMS_ENAME);
    }
    char longname[MMS_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(mms_gauge_new(fx->w, longname, NULL, NULL), MMS_ENAME);
    longname[MMS_NAME_MAX] = '\0';
    assert_int_equal(mms_gauge_new(fx->w, longname, NULL, NULL), 0);
    struct mms_field_spec spec = {.name = NULL, .kind = MMS_KIND_GAUGE};
    assert_int_equal(mms_field_add(fx->w, &spec, NULL), MMS_ENAME);
    assert_int_equal(mms_reader_refresh(fx->r), 1);
    assert_int_equal(mms_reader_nfields(fx->r), 1);
}

static void test_field_add_bad_spec_is_einval(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    char units[MMS_UNITS_MAX + 2];
    memset(units, 'u', sizeof units - 1);
    units[sizeof units - 1] = '\0';
    assert_int_equal(mms_counter_new(fx->w, "u", units, NULL), -EINVAL);
    struct mms_field_spec spec = {.name = "k", .kind = (enum mms_kind)99};
    assert_int_equal(mms_field_add(fx->w, &spec, NULL), -EINVAL);
    assert_int_equal(mms_string_new(fx->w, "s", MMS_STRING_MAX_CAP + 1, NULL),
                     -EINVAL);
    assert_int_equal(mms_field_add(fx->w, NULL, NULL), -EINVAL);
    assert_int_equal(mms_field_add(NULL, &spec, NULL), -EINVAL);
    assert_int_equal(mms_reader_refresh(fx->r), 0);
    assert_int_equal(mms_reader_nfields(fx->r), 0);
}

/* ---------------------------------------------------------------- EFULL */

static void test_max_fields_exhausted_is_efull(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.max_fields = 4;
    tu_open_pair(fx, "w.mmstats", &o);
    char name[16];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "g%d", i);
        assert_int_equal(mms_gauge_new(fx->w, name, NULL, NULL), 0);
    }
    mms_field *f = (mms_field *)1;
    assert_int_equal(mms_gauge_new(fx->w, "g4", NULL, &f), MMS_EFULL);
    assert_null(f);
    assert_int_equal(mms_counter_new(fx->w, "c", NULL, NULL), MMS_EFULL);
    /* Existing fields are still found when the table is full. */
    assert_int_equal(mms_gauge_new(fx->w, "g2", NULL, &f), 0);
    assert_ptr_equal(f, tu_find(fx->w, "g2"));
    mms_gauge_set(f, 22);
    assert_int_equal(mms_reader_refresh(fx->r), 1);
    assert_int_equal(mms_reader_nfields(fx->r), 4);
    assert_int_equal(tu_gauge(fx->r, "g2"), 22);
}

/* The file may not grow past max_size: a field add that needs more space
 * fails with MMS_EFULL, and an update that needs a new cell is dropped and
 * counted in the header's "dropped", never silently. */
static void test_max_size_exhausted_is_efull_and_counts_drops(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.initial_size = 16384;
    o.max_size = 16384;
    tu_open_pair(fx, "w.mmstats", &o);
    char name[64];
    int rc = 0, added = 0;
    mms_field *last = NULL;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "a.fairly.long.counter.name%d", i);
        if ((rc = mms_counter_new(fx->w, name, "calls", &last)) < 0)
            break;
        added++;
    }
    assert_int_equal(rc, MMS_EFULL);
    assert_true(added > 20 && added < 1000);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(fx->r, &pi), 0);
    assert_int_equal(pi.file_size, 16384);
    assert_true(pi.heap_used <= pi.file_size);
    /* Each counter's first update needs a cell: some find none. Every
     * update is then either in the totals or in "dropped". */
    for (int i = 0; i < added; i++) {
        snprintf(name, sizeof name, "a.fairly.long.counter.name%d", i);
        mms_counter_add(tu_find(fx->w, name), 1);
    }
    assert_true(mms_reader_refresh(fx->r) >= 0);
    assert_int_equal(mms_reader_nfields(fx->r), (size_t)added);
    mms_snapshot *snap;
    assert_int_equal(mms_snapshot_take(fx->r, &snap), 0);
    uint64_t total = 0;
    for (size_t i = 0; i < mms_snapshot_nfields(snap); i++)
        total += mms_snapshot_value(snap, i)->v.u64;
    mms_snapshot_free(snap);
    assert_int_equal(mms_reader_info(fx->r, &pi), 0);
    assert_true(pi.dropped >= 1);
    assert_int_equal(total + pi.dropped, (uint64_t)added);
    assert_true(pi.heap_used <= pi.file_size);
}

/* Within max_size the file grows as fields and cells need it: thousands of
 * counters, all readable, in a file of what they use. */
static void test_file_grows_with_use(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(fx->r, &pi), 0);
    assert_int_equal(pi.file_size, 16384);
    char name[32];
    mms_field *f[3000];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "grow.c%d", i);
        assert_int_equal(mms_counter_new(fx->w, name, NULL, &f[i]), 0);
        mms_counter_add(f[i], (uint64_t)i);
    }
    assert_int_equal(mms_reader_info(fx->r, &pi), 0);
    assert_int_equal(pi.dropped, 0);
    assert_true(pi.file_size > 16384);
    assert_true(pi.file_size < 1024 * 1024);
    /* The prepared space is one growth step at most: max(8 KiB, heap/16)
     * rounded to a page (it was max(16 KiB, heap/8), counted by du). */
    assert_true(pi.file_size - pi.heap_used <=
                (pi.heap_used / 16 > 8192 ? pi.heap_used / 16 : 8192) + 4096);
    struct stat st;
    assert_int_equal(stat(mms_writer_path(fx->w), &st), 0);
    assert_int_equal((uint64_t)st.st_size, pi.file_size);
    assert_int_equal(tu_counter(fx->r, "grow.c2999"), 2999);
    assert_int_equal(tu_counter(fx->r, "grow.c0"), 0);
    assert_int_equal(tu_counter(fx->r, "grow.c1234"), 1234);
}

/* --------------------------------------------------------------- values */

static void test_static_values_are_visible_with_static_flag(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    assert_int_equal(mms_static_i64(fx->w, "build.number", "n", -42), 0);
    assert_int_equal(mms_static_str(fx->w, "build.version", "1.2.3-rc4"), 0);
    assert_int_equal(mms_static_str(fx->w, "build.empty", ""), 0);
    assert_int_equal(mms_static_str(fx->w, "build.null", NULL), -EINVAL);
    assert_int_equal(mms_gauge_new(fx->w, "plain", NULL, NULL), 0);

    mms_snapshot *s;
    const struct mms_field_info *fi;
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    assert_int_equal(mms_snapshot_nfields(s), 4);

    const struct mms_value *v = tu_value(s, "build.number", &fi);
    assert_int_equal(fi->kind, MMS_KIND_GAUGE);
    assert_true(fi->flags & MMS_DF_STATIC);
    assert_string_equal(fi->units, "n");
    assert_int_equal(v->v.i64, -42);

    v = tu_value(s, "build.version", &fi);
    assert_int_equal(fi->kind, MMS_KIND_STRING);
    assert_true(fi->flags & MMS_DF_STATIC);
    assert_int_equal(v->status, 0);
    assert_int_equal(v->v.str.len, 9);
    assert_string_equal(v->v.str.ptr, "1.2.3-rc4");

    v = tu_value(s, "build.empty", &fi);
    assert_true(fi->flags & MMS_DF_STATIC);
    assert_int_equal(v->v.str.len, 0);
    assert_string_equal(v->v.str.ptr, "");

    tu_value(s, "plain", &fi);
    assert_false(fi->flags & MMS_DF_STATIC);
    mms_snapshot_free(s);
}

static void test_gauge_set_add_and_negative_values(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    mms_field *g;
    assert_int_equal(mms_gauge_new(fx->w, "mem.live", "bytes", &g), 0);
    assert_int_equal(tu_gauge(fx->r, "mem.live"), 0);
    mms_gauge_set(g, 100);
    assert_int_equal(tu_gauge(fx->r, "mem.live"), 100);
    mms_gauge_add(g, -250);
    assert_int_equal(tu_gauge(fx->r, "mem.live"), -150);
    mms_gauge_add(g, 7);
    assert_int_equal(tu_gauge(fx->r, "mem.live"), -143);
    mms_gauge_set(g, INT64_MIN);
    assert_true(tu_gauge(fx->r, "mem.live") == INT64_MIN);
    mms_gauge_set(g, INT64_MAX);
    assert_true(tu_gauge(fx->r, "mem.live") == INT64_MAX);
    mms_gauge_set(g, -1);
    mms_gauge_add(g, 1);
    assert_int_equal(tu_gauge(fx->r, "mem.live"), 0);
}

static void test_f64_gauge_set_and_add(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    mms_field *g;
    assert_int_equal(mms_gauge_f64_new(fx->w, "load", NULL, &g), 0);
    assert_true(f64_of(fx->r, "load") == 0.0);
    mms_gauge_set_f64(g, 1.5);
    assert_true(f64_of(fx->r, "load") == 1.5);
    mms_gauge_add_f64(g, 2.25);
    assert_true(f64_of(fx->r, "load") == 3.75);
    mms_gauge_add_f64(g, -10.0);
    assert_true(f64_of(fx->r, "load") == -6.25);
    mms_gauge_set_f64(g, 1e300);
    assert_true(f64_of(fx->r, "load") == 1e300);
}

static void test_string_set_truncates_to_capacity(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    mms_field *s, *d;
    char buf[256];
    assert_int_equal(mms_string_new(fx->w, "mode", 16, &s), 0);
    assert_int_equal(mms_string_new(fx->w, "dflt", 0, &d), 0);
    assert_int_equal(str_of(fx->r, "mode", buf, sizeof buf), 0);

    mms_string_set(s, "hello");
    assert_int_equal(str_of(fx->r, "mode", buf, sizeof buf), 5);
    assert_string_equal(buf, "hello");

    mms_string_set(s, "0123456789abcdefOVERFLOW");
    assert_int_equal(str_of(fx->r, "mode", buf, sizeof buf), 16);
    assert_string_equal(buf, "0123456789abcdef");

    /* A shorter value leaves nothing of the longer one behind. */
    mms_string_set(s, "hi");
    assert_int_equal(str_of(fx->r, "mode", buf, sizeof buf), 2);
    assert_string_equal(buf, "hi");

    mms_string_set(s, "");
    assert_int_equal(str_of(fx->r, "mode", buf, sizeof buf), 0);
    assert_string_equal(buf, "");

    /* Default capacity: 64 bytes. */
    char big[101];
    memset(big, 'x', 100);
    big[100] = '\0';
    mms_string_set(d, big);
    assert_int_equal(str_of(fx->r, "dflt", buf, sizeof buf), 64);
    assert_int_equal(strspn(buf, "x"), 64);
}

static void test_string_setn_keeps_given_length(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    mms_field *s;
    char buf[64];
    assert_int_equal(mms_string_new(fx->w, "raw", 16, &s), 0);

    mms_string_setn(s, "abcdef", 3);
    assert_int_equal(str_of(fx->r, "raw", buf, sizeof buf), 3);
    assert_string_equal(buf, "abc");

    /* Embedded NUL: the length, not strlen, says what the value is. */
    mms_string_setn(s, "ab\0cd", 5);
    assert_int_equal(str_of(fx->r, "raw", buf, sizeof buf), 5);
    assert_memory_equal(buf, "ab\0cd", 6);

    mms_string_setn(s, "zzzzzzzzzzzzzzzzzzzz", 20);
    assert_int_equal(str_of(fx->r, "raw", buf, sizeof buf), 16);
    assert_string_equal(buf, "zzzzzzzzzzzzzzzz");

    mms_string_setn(s, "ignored", 0);
    assert_int_equal(str_of(fx->r, "raw", buf, sizeof buf), 0);
}

static void test_null_field_updates_are_noops(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "w.mmstats", NULL);
    mms_field *c;
    assert_int_equal(mms_counter_new(fx->w, "c", NULL, &c), 0);
    mms_counter_add(c, 11);

    /* A failed add leaves a NULL handle, which updates then ignore. */
    mms_field *f = (mms_field *)1;
    assert_int_equal(mms_counter_new(fx->w, "bad name", NULL, &f), MMS_ENAME);
    assert_null(f);
    mms_counter_add(f, 1);
    mms_counter_inc(f);
    mms_gauge_set(f, 1);
    mms_gauge_add(f, 1);
    mms_gauge_set_f64(f, 1.0);
    mms_gauge_add_f64(f, 1.0);
    mms_string_set(f, "x");
    mms_string_setn(f, "x", 1);

    assert_null(tu_find(NULL, "c"));
    assert_null(tu_find(fx->w, NULL));
    assert_null(mms_writer_path(NULL));
    mms_writer_finish(NULL);
    assert_int_equal(mms_writer_close(NULL), -EINVAL);
    assert_int_equal(mms_counter_new(NULL, "c", NULL, &f), -EINVAL);
    assert_null(f);

    assert_int_equal(tu_counter(fx->r, "c"), 11);
    assert_int_equal(mms_reader_nfields(fx->r), 1);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(fx->r, &pi), 0);
    assert_int_equal(pi.state, MMS_STATE_READY);
}

/* ------------------------------------------------------------ templates */

static mms_writer *open_tmpl(const char *dir, const char *tmpl,
                             const char *label, const char *name, int *rc)
{
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.dir = dir;
    o.file_template = tmpl;
    o.label = label;
    o.name = name;
    o.flags = MMS_W_NO_ENV;
    mms_writer *w = NULL;
    *rc = mms_writer_open(&w, &o);
    return w;
}

/* Entries of DIR, dot files included, "." and ".." not. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_template_expands_placeholders(void **state)
{
    struct tu_fx *fx = *state;
    int rc;
    mms_writer *w = open_tmpl(fx->dir, "{exe}-{pid}-{label}-{name}.mmstats",
                              "lab", "model", &rc);
    assert_int_equal(rc, 0);
    char want[4096];
    snprintf(want, sizeof want, "%s/test_writer-%ld-lab-model.mmstats", fx->dir,
             (long)getpid());
    assert_string_equal(mms_writer_path(w), want);
    assert_int_equal(access(want, F_OK), 0);

    /* The label goes into the header too. */
    mms_reader *r;
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_open(&r, want), 0);
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_string_equal(pi.label, "lab");
    mms_reader_close(r);
    assert_int_equal(mms_writer_close(w), 0);

    /* {name} without a name is the exe; no template and a label: the
     * default label template. */
    w = open_tmpl(fx->dir, "{name}.mmstats", NULL, NULL, &rc);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof want, "%s/test_writer.mmstats", fx->dir);
    assert_string_equal(mms_writer_path(w), want);
    mms_writer_close(w);
    w = open_tmpl(fx->dir, NULL, "L", NULL, &rc);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof want, "%s/test_writer-L-%ld.mmstats", fx->dir,
             (long)getpid());
    assert_string_equal(mms_writer_path(w), want);
    mms_writer_close(w);
    w = open_tmpl(fx->dir, NULL, NULL, NULL, &rc);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof want, "%s/test_writer-%ld.mmstats", fx->dir,
             (long)getpid());
    assert_string_equal(mms_writer_path(w), want);
    mms_writer_close(w);
}

/* A fixed name (MMSTATS_FILE without {pid}) shared by many writers never
 * runs out (issue 14.9): numbered, then with the pid and a number. */
static void test_fixed_name_never_runs_out(void **state)
{
    struct tu_fx *fx = *state;
    char want[4096];
    for (int i = 0; i < 100; i++) {
        int rc;
        mms_writer *w = open_tmpl(fx->dir, "fixed.mmstats", NULL, NULL, &rc);
        assert_int_equal(rc, 0);
        if (i == 0)
            snprintf(want, sizeof want, "%s/fixed.mmstats", fx->dir);
        else if (i <= 16)
            snprintf(want, sizeof want, "%s/fixed-%d.mmstats", fx->dir, i);
        else
            snprintf(want, sizeof want, "%s/fixed-%ld-%d.mmstats", fx->dir,
                     (long)getpid(), i - 16);
        assert_string_equal(mms_writer_path(w), want);
        mms_writer_close(w);
    }
    DIR *d = opendir(fx->dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += mms_is_stats_name(e->d_name);
    closedir(d);
    assert_int_equal(n, 100);
}

static void test_template_collision_gets_numbered_suffix(void **state)
{
    struct tu_fx *fx = *state;
    int rc;
    mms_writer *w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = open_tmpl(fx->dir, "same-{label}.mmstats", "x", NULL, &rc);
        assert_int_equal(rc, 0);
    }
    char want[4096];
    snprintf(want, sizeof want, "%s/same-x.mmstats", fx->dir);
    assert_string_equal(mms_writer_path(w[0]), want);
    snprintf(want, sizeof want, "%s/same-x-1.mmstats", fx->dir);
    assert_string_equal(mms_writer_path(w[1]), want);
    snprintf(want, sizeof want, "%s/same-x-2.mmstats", fx->dir);
    assert_string_equal(mms_writer_path(w[2]), want);

    /* Each is its own file: what one writes the other does not see. */
    mms_static_i64(w[0], "who", NULL, 0);
    mms_static_i64(w[1], "who", NULL, 1);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w[1])), 0);
    assert_int_equal(tu_gauge(r, "who"), 1);
    mms_reader_close(r);
    for (int i = 0; i < 3; i++)
        mms_writer_close(w[i]);
    assert_int_equal(dir_entries(fx->dir), 3);

    /* An exact path never gets a suffix: it fails instead. */
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    snprintf(want, sizeof want, "%s/same-x.mmstats", fx->dir);
    o.path = want;
    o.flags = MMS_W_NO_ENV;
    mms_writer *wx = NULL;
    assert_int_equal(mms_writer_open(&wx, &o), -EEXIST);
    assert_null(wx);
    assert_int_equal(dir_entries(fx->dir), 3);
}

static void test_template_unknown_placeholder_is_einval(void **state)
{
    struct tu_fx *fx = *state;
    int rc;
    const char *bad[] = {"{bogus}.mmstats", "{exe", "x-{PID}.mmstats",
                         "{}.mmstats", ""};
    for (size_t i = 0; i < MMS_ARRAY_LEN(bad); i++) {
        mms_writer *w = open_tmpl(fx->dir, bad[i], NULL, NULL, &rc);
        assert_int_equal(rc, -EINVAL);
        assert_null(w);
    }
    /* No file, and no leftover temporary either. */
    assert_int_equal(dir_entries(fx->dir), 0);
}

static void test_template_label_cannot_add_path_component(void **state)
{
    struct tu_fx *fx = *state;
    int rc;
    mms_writer *w =
        open_tmpl(fx->dir, "{label}.mmstats", "a/../../b", NULL, &rc);
    assert_int_equal(rc, 0);
    char want[4096];
    snprintf(want, sizeof want, "%s/a_.._.._b.mmstats", fx->dir);
    assert_string_equal(mms_writer_path(w), want);
    assert_int_equal(access(want, F_OK), 0);
    mms_writer_close(w);

    /* A name that would be hidden (or "..") is refused. */
    w = open_tmpl(fx->dir, "{label}", "..", NULL, &rc);
    assert_int_equal(rc, -EINVAL);
    assert_null(w);
    w = open_tmpl(fx->dir, "{name}-x.mmstats", NULL, "/etc/passwd", &rc);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof want, "%s/_etc_passwd-x.mmstats", fx->dir);
    assert_string_equal(mms_writer_path(w), want);
    mms_writer_close(w);
    assert_int_equal(dir_entries(fx->dir), 2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_0600_file_with_header),
        T(test_close_marks_finished_and_keeps_file),
        T(test_remove_at_close_unlinks_file),
        T(test_field_add_same_name_and_kind_returns_same_handle),
        T(test_field_add_name_with_other_kind_is_ekind),
        T(test_field_add_bad_name_is_ename),
        T(test_field_add_bad_spec_is_einval),
        T(test_max_fields_exhausted_is_efull),
        T(test_max_size_exhausted_is_efull_and_counts_drops),
        T(test_file_grows_with_use),
        T(test_static_values_are_visible_with_static_flag),
        T(test_gauge_set_add_and_negative_values),
        T(test_f64_gauge_set_and_add),
        T(test_string_set_truncates_to_capacity),
        T(test_string_setn_keeps_given_length),
        T(test_null_field_updates_are_noops),
        T(test_template_expands_placeholders),
        T(test_template_collision_gets_numbered_suffix),
        T(test_fixed_name_never_runs_out),
        T(test_template_unknown_placeholder_is_einval),
        T(test_template_label_cannot_add_path_component),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
