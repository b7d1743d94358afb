/* Seqlocked values: struct schemas and values, moving averages, and
 * consistent reads of structs, strings and histograms under a writer
 * thread that never pauses. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#define SLOW_BUILD 0
#endif

/* Concurrent checks: stop at READS_WANT checked reads, or after the time
 * limit once READS_MIN reads are checked (a loaded machine is slow, not
 * wrong: the minimum is waited for, up to READS_CAP_NS, well inside the
 * test's timeout). */
#define READS_WANT (SLOW_BUILD ? 100000u : 1000000u)
#define READS_MIN (SLOW_BUILD ? 10000u : 100000u)
#define SECOND_NS 1000000000ull
#define STRUCT_LIMIT_NS ((SLOW_BUILD ? 10 : 20) * SECOND_NS)
#define OTHER_LIMIT_NS ((SLOW_BUILD ? 10 : 8) * SECOND_NS)
#define READS_CAP_NS (90 * SECOND_NS)

static int setup(void **state)
{
    if (tu_setup(state) < 0)
        return -1;
    tu_open_pair(*state, "st.mmstats", NULL);
    return 0;
}

/* Field NAME of a fresh snapshot *S (free it after use). */
static const struct mms_value *value_of(mms_reader *r, const char *name,
                                        mms_snapshot **s,
                                        const struct mms_field_info **fi)
{
    assert_int_equal(mms_snapshot_take(r, s), 0);
    long i = tu_index(*s, name);
    if (i < 0)
        fail_msg("field %s not in snapshot", name);
    if (fi)
        *fi = mms_snapshot_field(*s, (size_t)i);
    return mms_snapshot_value(*s, (size_t)i);
}

/* ------------------------------------------------------------ structs */

static const struct mms_member abc[] = {{"a", MMS_MEMBER_U64},
                                        {"b_neg", MMS_MEMBER_I64},
                                        {"ratio", MMS_MEMBER_F64}};

struct abc_val {
    uint64_t a;
    int64_t b;
    double c;
};

static void test_struct_schema_visible_to_reader(void **state)
{
    struct tu_fx *fx = *state;
    mms_field *f;
    assert_int_equal(mms_struct_new(fx->w, "pool", abc, 3, &f), 0);
    assert_int_equal(mms_reader_refresh(fx->r), 1);
    const struct mms_field_info *fi = NULL;
    for (size_t i = 0; i < mms_reader_nfields(fx->r); i++)
        if (!strcmp(mms_reader_field(fx->r, i)->name, "pool"))
            fi = mms_reader_field(fx->r, i);
    assert_non_null(fi);
    assert_int_equal(fi->kind, MMS_KIND_STRUCT);
    assert_int_equal(fi->flags, 0);
    assert_int_equal(fi->n, 3);
    assert_int_equal(fi->value_size, 8 + 3 * 8);
    assert_non_null(fi->members);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(fi->members[i].name, abc[i].name);
        assert_int_equal(fi->members[i].type, abc[i].type);
    }
    /* Before any set, every member reads 0, with its name and type. */
    mms_snapshot *s;
    const struct mms_value *v = value_of(fx->r, "pool", &s, NULL);
    assert_int_equal(v->kind, MMS_KIND_STRUCT);
    assert_int_equal(v->status, 0);
    assert_int_equal(v->v.st.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(v->v.st.m[i].name, abc[i].name);
        assert_int_equal(v->v.st.m[i].type, abc[i].type);
        assert_int_equal(v->v.st.m[i].v.u64, 0);
    }
    mms_snapshot_free(s);
    /* The same name and kind again is the same field. */
    mms_field *g;
    assert_int_equal(mms_struct_new(fx->w, "pool", abc, 3, &g), 0);
    assert_ptr_equal(f, g);
}

static void test_struct_values_round_trip(void **state)
{
    struct tu_fx *fx = *state;
    mms_field *f;
    assert_int_equal(mms_struct_new(fx->w, "pool", abc, 3, &f), 0);
    const struct abc_val cases[] = {
        {42, -17, 3.25},
        {UINT64_MAX, INT64_MIN, -0.0},
        {0, INT64_MAX, 1e300},
        {1, -1, -2.5e-300},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mms_struct_set(f, &cases[k]);
        mms_snapshot *s;
        const struct mms_value *v = value_of(fx->r, "pool", &s, NULL);
        assert_int_equal(v->status, 0);
        assert_int_equal(v->v.st.m[0].v.u64, cases[k].a);
        assert_true(v->v.st.m[1].v.i64 == cases[k].b);
        assert_memory_equal(&v->v.st.m[2].v.f64, &cases[k].c, sizeof(double));
        mms_snapshot_free(s);
    }
    /* NULL field or values: no-ops. */
    mms_struct_set(NULL, &cases[0]);
    mms_struct_set(f, NULL);
    mms_snapshot *s;
    const struct mms_value *v = value_of(fx->r, "pool", &s, NULL);
    assert_int_equal(v->v.st.m[0].v.u64, 1);
    assert_true(v->v.st.m[1].v.i64 == -1);
    assert_true(v->v.st.m[2].v.f64 == -2.5e-300);
    mms_snapshot_free(s);
}

static void test_struct_of_32_members_round_trips(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_member m[MMS_STRUCT_MAX_MEMBERS];
    char names[MMS_STRUCT_MAX_MEMBERS][MMS_MEMBER_NAME_MAX + 1];
    uint64_t vals[MMS_STRUCT_MAX_MEMBERS];
    for (int i = 0; i < MMS_STRUCT_MAX_MEMBERS; i++) {
        /* The longest name allowed, different in each member. */
        memset(names[i], 'x', MMS_MEMBER_NAME_MAX);
        names[i][MMS_MEMBER_NAME_MAX] = '\0';
        names[i][0] = 'm';
        names[i][1] = (char)('0' + i / 10);
        names[i][2] = (char)('0' + i % 10);
        names[i][3] = '_';
        m[i].name = names[i];
        m[i].type = (enum mms_member_type)(MMS_MEMBER_U64 + i % 3);
        vals[i] = 0x0101010101010101ull * (uint64_t)(i + 1);
    }
    mms_field *f;
    assert_int_equal(
        mms_struct_new(fx->w, "wide", m, MMS_STRUCT_MAX_MEMBERS, &f), 0);
    mms_struct_set(f, vals);
    mms_snapshot *s;
    const struct mms_field_info *fi;
    const struct mms_value *v = value_of(fx->r, "wide", &s, &fi);
    assert_int_equal(fi->n, MMS_STRUCT_MAX_MEMBERS);
    assert_int_equal(v->v.st.n, MMS_STRUCT_MAX_MEMBERS);
    for (int i = 0; i < MMS_STRUCT_MAX_MEMBERS; i++) {
        assert_string_equal(fi->members[i].name, names[i]);
        assert_int_equal(strlen(fi->members[i].name), MMS_MEMBER_NAME_MAX);
        assert_int_equal(fi->members[i].type, m[i].type);
        assert_int_equal(v->v.st.m[i].v.u64, vals[i]);
    }
    mms_snapshot_free(s);
}

static void test_struct_invalid_member_specs_are_einval(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_member many[MMS_STRUCT_MAX_MEMBERS + 1];
    for (int i = 0; i <= MMS_STRUCT_MAX_MEMBERS; i++)
        many[i] = (struct mms_member){"m", MMS_MEMBER_U64};
    char long_name[MMS_MEMBER_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *bad_names[] = {"",    "a.b", "a-b", "a b",    "é",
                               "a\n", "a/b", NULL,  long_name};
    mms_field *f = (mms_field *)1;
    assert_int_equal(mms_struct_new(fx->w, "bad", abc, 0, &f), -EINVAL);
    assert_null(f);
    assert_int_equal(mms_struct_new(fx->w, "bad", NULL, 3, &f), -EINVAL);
    assert_int_equal(
        mms_struct_new(fx->w, "bad", many, MMS_STRUCT_MAX_MEMBERS + 1, &f),
        -EINVAL);
    for (size_t k = 0; k < sizeof bad_names / sizeof bad_names[0]; k++) {
        struct mms_member m[2] = {{"ok", MMS_MEMBER_U64},
                                  {bad_names[k], MMS_MEMBER_I64}};
        assert_int_equal(mms_struct_new(fx->w, "bad", m, 2, &f), -EINVAL);
    }
    const int bad_types[] = {0, 4, -1, 255};
    for (size_t k = 0; k < sizeof bad_types / sizeof bad_types[0]; k++) {
        struct mms_member m[1] = {{"x", (enum mms_member_type)bad_types[k]}};
        assert_int_equal(mms_struct_new(fx->w, "bad", m, 1, &f), -EINVAL);
    }
    /* Nothing was added by the refused specs. */
    assert_null(tu_find(fx->w, "bad"));
    assert_int_equal(mms_reader_refresh(fx->r), 0);
    assert_int_equal(mms_reader_nfields(fx->r), 0);
    /* The limits themselves are fine. */
    assert_int_equal(
        mms_struct_new(fx->w, "max", many, MMS_STRUCT_MAX_MEMBERS, &f), 0);
    long_name[MMS_MEMBER_NAME_MAX] = '\0';
    struct mms_member one[1] = {{long_name, MMS_MEMBER_F64}};
    assert_int_equal(mms_struct_new(fx->w, "one", one, 1, &f), 0);
}

/* ------------------------------------------------- concurrent checks */

/* A writer thread runs WRITE until STOP, publishing how many values it
 * has set in PROGRESS; a reader thread with its own mms_reader snapshots
 * and runs CHECK on each read: 1 checked, 0 violation, -1 not checked
 * (MMS_EBUSY). Fields the two threads write live on separate lines. */
struct race {
    const char *path;
    mms_field *f;
    int (*check)(struct race *rc, const struct mms_value *v);
    void (*write)(struct race *rc);
    uint64_t limit_ns; /* the reader stops after this long */
    int stop __attribute__((aligned(64)));          /* atomic */
    uint64_t progress __attribute__((aligned(64))); /* atomic */
    /* The reader's: */
    uint64_t checked __attribute__((aligned(64)));
    uint64_t busy, stalled, violations, changes, last;
    uint64_t in_flight, buckets_unchecked; /* histograms */
    uint64_t elapsed_ns;
    bool writer_stalled; /* during the current read */
};

/* A read during which the writer set fewer values than this found it
 * stopped (preempted): if it stopped inside its critical section, no
 * reader can copy a consistent value until it runs again. */
#define STALL_SETS 1000

static void *race_writer(void *arg)
{
    struct race *rc = arg;
    rc->write(rc);
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *rc = arg;
    mms_reader *r;
    if (mms_reader_open(&r, rc->path) < 0) {
        rc->violations++;
        __atomic_store_n(&rc->stop, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    uint64_t t0 = mms_now_ns();
    long idx = -1;
    for (;;) {
        uint64_t t = mms_now_ns() - t0;
        if (rc->checked >= READS_WANT || t >= READS_CAP_NS ||
            (t >= rc->limit_ns && rc->checked >= READS_MIN))
            break;
        mms_snapshot *s;
        uint64_t p0 = __atomic_load_n(&rc->progress, __ATOMIC_RELAXED);
        if (mms_snapshot_take(r, &s) < 0) {
            rc->violations++;
            break;
        }
        uint64_t p1 = __atomic_load_n(&rc->progress, __ATOMIC_RELAXED);
        rc->writer_stalled = p1 - p0 < STALL_SETS;
        if (idx < 0)
            idx = tu_index(s, "race");
        if (idx < 0) {
            rc->violations++;
            mms_snapshot_free(s);
            break;
        }
        int ok = rc->check(rc, mms_snapshot_value(s, (size_t)idx));
        if (ok < 0) {
            rc->busy++;
            rc->stalled += rc->writer_stalled;
        } else if (ok == 0) {
            rc->violations++;
        } else {
            rc->checked++;
        }
        mms_snapshot_free(s);
    }
    rc->elapsed_ns = mms_now_ns() - t0;
    __atomic_store_n(&rc->stop, 1, __ATOMIC_RELAXED);
    mms_reader_close(r);
    return NULL;
}

/* Put the writer and the reader on two different CPUs when there are
 * two to choose from, so that the scheduler does not take turns running
 * them on one (reads then rarely overlap writes). */
static void pin_apart(pthread_t tw, pthread_t tr)
{
    cpu_set_t all;
    if (sched_getaffinity(0, sizeof all, &all) < 0 || CPU_COUNT(&all) < 2)
        return;
    int cpus[2], n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &all))
            cpus[n++] = c;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[0], &one);
    pthread_setaffinity_np(tw, sizeof one, &one);
    CPU_ZERO(&one);
    CPU_SET(cpus[1], &one);
    pthread_setaffinity_np(tr, sizeof one, &one);
}

static void run_race(struct race *rc, const char *what)
{
    pthread_t tw, tr;
    assert_int_equal(pthread_create(&tw, NULL, race_writer, rc), 0);
    assert_int_equal(pthread_create(&tr, NULL, race_reader, rc), 0);
    pin_apart(tw, tr);
    pthread_join(tr, NULL);
    pthread_join(tw, NULL);
    print_message("%s: %llu reads checked, %llu violations, %llu busy "
                  "(%llu with the writer stalled), %llu value changes "
                  "seen, %llu writes, %.2f s\n",
                  what, (unsigned long long)rc->checked,
                  (unsigned long long)rc->violations,
                  (unsigned long long)rc->busy, (unsigned long long)rc->stalled,
                  (unsigned long long)rc->changes,
                  (unsigned long long)rc->progress, rc->elapsed_ns / 1e9);
    assert_int_equal(rc->violations, 0);
    assert_true(rc->checked >= READS_MIN);
    /* The reads overlapped the writes: the writer ran all along, and the
     * reader saw the value change. */
    assert_true(rc->progress > 1000);
    assert_true(rc->changes >= 10);
}

/* MMS_EBUSY is rare while the writer runs: at most 1 read in 1000. */
static void assert_busy_rare(const struct race *rc)
{
    assert_true((rc->busy - rc->stalled) * 1000 <= rc->checked);
}

static int stopped(struct race *rc)
{
    return __atomic_load_n(&rc->stop, __ATOMIC_RELAXED);
}

static void struct_write(struct race *rc)
{
    uint64_t a = 0;
    while (!stopped(rc)) {
        a++;
        struct abc_val v = {a, -2 * (int64_t)a, (double)a + 7.0};
        mms_struct_set(rc->f, &v);
        __atomic_store_n(&rc->progress, a, __ATOMIC_RELAXED);
    }
}

/* b == -2a and c == a + 7 on every read, and a never goes back. */
static int struct_check(struct race *rc, const struct mms_value *v)
{
    if (v->status == MMS_EBUSY)
        return -1;
    if (v->status != 0 || v->v.st.n != 3)
        return 0;
    uint64_t a = v->v.st.m[0].v.u64;
    if (v->v.st.m[1].v.i64 != -2 * (int64_t)a ||
        v->v.st.m[2].v.f64 != (double)a + 7.0 || a < rc->last)
        return 0;
    rc->changes += a != rc->last;
    rc->last = a;
    return 1;
}

static void test_struct_reads_never_mix_two_sets(void **state)
{
    struct tu_fx *fx = *state;
    struct race rc = {.path = mms_writer_path(fx->w),
                      .check = struct_check,
                      .write = struct_write,
                      .limit_ns = STRUCT_LIMIT_NS};
    assert_int_equal(mms_struct_new(fx->w, "race", abc, 3, &rc.f), 0);
    struct abc_val first = {0, 0, 7.0};
    mms_struct_set(rc.f, &first);
    run_race(&rc, "struct");
    assert_busy_rare(&rc);
}

static const char *const strings[] = {
    "",
    "a",
    "ab",
    "hello",
    "exactly8",
    "nine char",
    "sixteen bytes!!!",
    "seventeen bytes!!",
    "forty characters of text for the reader.",
    "sixty-three characters: a long value that nearly fills the cap.",
    "sixty-four characters: a long value that exactly fills the cap!!",
};
#define NSTRINGS (sizeof strings / sizeof strings[0])

static void string_write(struct race *rc)
{
    uint64_t i = 0;
    while (!stopped(rc)) {
        mms_string_set(rc->f, strings[i % NSTRINGS]);
        __atomic_store_n(&rc->progress, ++i, __ATOMIC_RELAXED);
    }
}

/* The value is always one of the strings, whole. */
static int string_check(struct race *rc, const struct mms_value *v)
{
    if (v->status == MMS_EBUSY)
        return -1;
    if (v->status != 0 || strlen(v->v.str.ptr) != v->v.str.len)
        return 0;
    for (uint64_t k = 0; k < NSTRINGS; k++) {
        if (!strcmp(v->v.str.ptr, strings[k])) {
            rc->changes += k != rc->last;
            rc->last = k;
            return 1;
        }
    }
    return 0;
}

static void test_string_reads_are_always_a_whole_value(void **state)
{
    struct tu_fx *fx = *state;
    assert_int_equal(strlen(strings[NSTRINGS - 1]), 64);
    assert_int_equal(strlen(strings[NSTRINGS - 2]), 63);
    struct race rc = {.path = mms_writer_path(fx->w),
                      .check = string_check,
                      .write = string_write,
                      .limit_ns = OTHER_LIMIT_NS};
    assert_int_equal(mms_string_new(fx->w, "race", 64, &rc.f), 0);
    run_race(&rc, "string");
    assert_busy_rare(&rc);
}

#define HX 1234567u /* not alone in its bucket: min and max must be exact */

static void hist_write(struct race *rc)
{
    uint64_t i = 0;
    while (!stopped(rc)) {
        mms_hist_record(rc->f, HX);
        __atomic_store_n(&rc->progress, ++i, __ATOMIC_RELAXED);
    }
}

/* count * X == sum, min == max == X, and, when the whole histogram was
 * read under its seqlock (status 0), the buckets add up to count. With
 * MMS_EBUSY the buckets may miss updates in flight and are not checked;
 * count and sum are still read under the seqlock, unless even that short
 * copy found no quiet moment in the reader's patience: then they may be
 * off by the one update in flight (rare: counted, and bounded below).
 * Every read is checked (1) or a violation (0). */
static int hist_check(struct race *rc, const struct mms_value *v)
{
    const struct mms_hist *h = v->v.hist;
    if (v->status != 0 && v->status != MMS_EBUSY)
        return 0;
    if (h->count * HX != h->sum) {
        if (v->status != MMS_EBUSY ||
            (h->count * HX - h->sum != HX && h->sum - h->count * HX != HX))
            return 0;
        rc->in_flight++;
    }
    if (h->count < rc->last || (h->count && (h->min != HX || h->max != HX)))
        return 0;
    if (!h->count && (h->min || h->max))
        return 0;
    if (v->status == 0) {
        uint64_t total = 0;
        for (uint32_t b = 0; b < h->nbuckets; b++)
            total += mms_hist_bucket(h, b);
        if (total != h->count ||
            mms_hist_bucket(h, mms_hist_index(HX, h->bits, h->max_exp)) !=
                h->count)
            return 0;
    } else {
        rc->buckets_unchecked++;
    }
    rc->changes += h->count != rc->last;
    rc->last = h->count;
    return 1;
}

static void test_hist_reads_keep_count_sum_min_max_consistent(void **state)
{
    struct tu_fx *fx = *state;
    struct race rc = {.path = mms_writer_path(fx->w),
                      .check = hist_check,
                      .write = hist_write,
                      .limit_ns = OTHER_LIMIT_NS};
    assert_int_equal(mms_hist_new(fx->w, "race", NULL, &rc.f), 0);
    assert_true(mms_hist_bucket_low(mms_hist_index(HX, 6, 36), 6, 36) < HX);
    run_race(&rc, "histogram");
    print_message("histogram: %llu of %llu reads with the buckets under "
                  "the seqlock, %llu with one update in flight\n",
                  (unsigned long long)(rc.checked - rc.buckets_unchecked),
                  (unsigned long long)rc.checked,
                  (unsigned long long)rc.in_flight);
    assert_true(rc.in_flight * 1000 <= rc.checked);
    /* After the writer stopped, a read is whole again. */
    mms_snapshot *s;
    const struct mms_value *v = value_of(fx->r, "race", &s, NULL);
    assert_int_equal(v->status, 0);
    assert_int_equal(v->v.hist->count, rc.progress);
    assert_int_equal(v->v.hist->sum, rc.progress * HX);
    mms_snapshot_free(s);
}

/* ---------------------------------------------------- moving averages */

struct avg {
    double mean, last;
    uint64_t count;
    uint32_t window;
};

static struct avg avg_of(mms_reader *r, const char *name)
{
    mms_snapshot *s;
    const struct mms_value *v = value_of(r, name, &s, NULL);
    assert_int_equal(v->kind, MMS_KIND_MOVAVG);
    assert_int_equal(v->status, 0);
    struct avg a = {v->v.avg.mean, v->v.avg.last, v->v.avg.count,
                    v->v.avg.window};
    mms_snapshot_free(s);
    return a;
}

/* Mean of the integers FROM..TO, computed exactly. */
static double mean_of(uint64_t from, uint64_t to)
{
    return (double)(from + to) / 2.0;
}

static void test_movavg_mean_of_last_n_values(void **state)
{
    struct tu_fx *fx = *state;
    const uint32_t ns[] = {1, 5, 100};
    for (size_t k = 0; k < 3; k++) {
        uint32_t n = ns[k];
        char name[32];
        snprintf(name, sizeof name, "avg.n%u", n);
        mms_field *f;
        assert_int_equal(mms_movavg_new(fx->w, name, "ms", n, &f), 0);
        struct avg a = avg_of(fx->r, name);
        assert_int_equal(a.count, 0);
        assert_int_equal(a.window, n);
        assert_true(a.mean == 0.0);
        /* Values 1, 2, 3, ...: after v values the mean of the last
         * min(v, n) is the mean of max(1, v-n+1)..v. */
        uint64_t total = 3 * (uint64_t)n + 7;
        for (uint64_t v = 1; v <= total; v++) {
            mms_movavg_add(f, (double)v);
            if (v <= 3 || v == n - 1 || v == n || v == n + 1 ||
                v == 2 * (uint64_t)n + 1 || v == total) {
                a = avg_of(fx->r, name);
                uint64_t from = v > n ? v - n + 1 : 1;
                assert_int_equal(a.count, v);
                assert_int_equal(a.window, n);
                assert_true(a.last == (double)v);
                if (a.mean != mean_of(from, v))
                    fail_msg("n=%u after %llu: mean %.17g, want %.17g", n,
                             (unsigned long long)v, a.mean, mean_of(from, v));
            }
        }
    }
}

static void test_movavg_fewer_values_than_window(void **state)
{
    struct tu_fx *fx = *state;
    mms_field *f;
    assert_int_equal(mms_movavg_new(fx->w, "avg.few", NULL, 100, &f), 0);
    const double v[] = {10.5, -3.0, 4.25, 100.0, 0.0};
    double sum = 0;
    for (size_t i = 0; i < 5; i++) {
        mms_movavg_add(f, v[i]);
        sum += v[i];
        struct avg a = avg_of(fx->r, "avg.few");
        assert_int_equal(a.count, i + 1);
        assert_true(a.last == v[i]);
        assert_true(a.mean == sum / (double)(i + 1));
    }
    /* Default window; NULL field is a no-op; too large a window fails. */
    assert_int_equal(mms_movavg_new(fx->w, "avg.def", NULL, 0, &f), 0);
    assert_int_equal(avg_of(fx->r, "avg.def").window, MMS_MOVAVG_DEFAULT_N);
    mms_movavg_add(NULL, 1.0);
    assert_int_equal(mms_movavg_new(fx->w, "avg.huge", NULL, 1u << 20, &f),
                     -EINVAL);
    assert_null(tu_find(fx->w, "avg.huge"));
    assert_int_equal(mms_reader_refresh(fx->r), 0);
    const struct mms_field_info *fi = NULL;
    for (size_t i = 0; i < mms_reader_nfields(fx->r); i++)
        if (!strcmp(mms_reader_field(fx->r, i)->name, "avg.def"))
            fi = mms_reader_field(fx->r, i);
    assert_non_null(fi);
    assert_int_equal(fi->kind, MMS_KIND_MOVAVG);
    assert_int_equal(fi->n, MMS_MOVAVG_DEFAULT_N);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_struct_schema_visible_to_reader),
        T(test_struct_values_round_trip),
        T(test_struct_of_32_members_round_trips),
        T(test_struct_invalid_member_specs_are_einval),
        T(test_struct_reads_never_mix_two_sets),
        T(test_string_reads_are_always_a_whole_value),
        T(test_hist_reads_keep_count_sum_min_max_consistent),
        T(test_movavg_mean_of_last_n_values),
        T(test_movavg_fewer_values_than_window),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
