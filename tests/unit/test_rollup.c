/* Rollups: files of processes that are gone folded into their group's
 * rollup exactly (counters, histogram buckets, records, windows; the last
 * value of gauges), as each file's keep policy says; folders killed at
 * every step of the fold protocol and at random points never lose or
 * double a value; concurrent sweepers neither. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

extern void (*mms__fold_hook)(int step);

#define GROUP "grp"
#define ROLLUP GROUP MMS_ROLLUP_SUFFIX
#define VALS 10 /* histogram values per process */

static uint64_t hist_value(int i, int k)
{
    return (uint64_t)(i * 7919 % 5000) * (uint64_t)(k + 1) + 1;
}

/* What process I writes (in a forked child, its own file). */
static void write_values(mms_writer *w, int i)
{
    mms_field *c, *win, *h, *few, *g, *s, *st, *ma, *sc, *gs;
    struct mms_field_spec ws = {
        .name = "c.win", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_WINDOW};
    /* A gauge kept per thread (3.1): process I adds I - 5. */
    struct mms_field_spec gss = {
        .name = "g.sum", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_GAUGE_SUM};
    const struct mms_member mem[] = {{"a", MMS_MEMBER_U64},
                                     {"b", MMS_MEMBER_F64}};
    if (mms_counter_new(w, "c.calls", NULL, &c) < 0 ||
        mms_field_add(w, &ws, &win) < 0 ||
        mms_hist_new(w, "h.lat", "ns", &h) < 0 ||
        mms_hist_new(w, "h.few", "ns", &few) < 0 ||
        mms_gauge_new(w, "g.last", NULL, &g) < 0 ||
        mms_string_new(w, "s.mode", 16, &s) < 0 ||
        mms_struct_new(w, "st", mem, 2, &st) < 0 ||
        mms_movavg_new(w, "ma", NULL, 4, &ma) < 0 ||
        mms_u32_new(w, "sc", NULL, &sc) < 0 || mms_field_add(w, &gss, &gs) < 0)
        _exit(3);
    mms_counter_add(gs, (uint64_t)i - 5);
    mms_counter_add(c, (uint64_t)i + 1);
    mms_counter_add(win, 2);
    for (int k = 0; k < VALS; k++)
        mms_hist_record(h, hist_value(i, k));
    /* Two values: a cell without chunks (format 3.1, section 11.6). */
    mms_hist_record(few, hist_value(i, 0));
    mms_hist_record(few, hist_value(i, 7) * 1000);
    mms_gauge_set(g, i);
    char mode[16];
    snprintf(mode, sizeof mode, "p%d", i);
    mms_string_set(s, mode);
    struct {
        uint64_t a;
        double b;
    } sv = {(uint64_t)i, i * 0.5};
    mms_struct_set(st, &sv);
    mms_movavg_add(ma, i);
    mms_u32_set(sc, (uint32_t)i);
    const struct mms_table_member tm[] = {
        {.name = "bytes", .kind = MMS_MK_SUM},
        {.name = "most", .kind = MMS_MK_MAX},
        {.name = "least", .kind = MMS_MK_MIN},
        {.name = "lat", .kind = MMS_MK_HIST},
        {.name = "slow", .kind = MMS_MK_MAXARG}};
    struct mms_table_spec ts = {
        .name = "files", .capacity = 4, .members = tm, .nmembers = 5};
    mms_table *t;
    if (mms_table_new(w, &ts, &t) < 0)
        _exit(4);
    char key[8];
    snprintf(key, sizeof key, "k%d", i % 5); /* 5 keys, room for 3 */
    uint32_t rec;
    if (mms_record_get(t, key, strlen(key), &rec) < 0)
        _exit(5);
    mms_record_update(t, rec, 0, (uint64_t)i + 1);
    mms_record_update(t, rec, 1, (uint64_t)i);
    mms_record_update(t, rec, 2, (uint64_t)i + 5);
    mms_record_update(t, rec, 3, (uint64_t)i + 1);
    mms_record_maxarg(t, rec, 4, (uint64_t)i, (uint64_t)i * 2);
}

/* A process that writes I's values to DIR/NAME with policy KEEP and
 * ends: finished (FINISH) or not (as if killed). Waited for. */
static void spawn(const char *dir, const char *name, int i, unsigned keep,
                  bool finish)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mms_writer_options o;
        mms_writer_options_init(&o);
        o.keep = keep;
        o.group = GROUP;
        o.flags = MMS_W_NO_ATEXIT;
        mms_writer *w = tu_writer(dir, name, &o);
        write_values(w, i);
        if (finish)
            mms_writer_finish(w);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The stats files of DIR (not temporaries), joined by spaces. */
static void listing(const char *dir, char *out, size_t len)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (mms_is_stats_name(e->d_name) || !strncmp(e->d_name, ".exec-", 6))
            names[n++] = strdup(e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strncat(out, " ", len - strlen(out) - 1);
        strncat(out, names[i], len - strlen(out) - 1);
        free(names[i]);
    }
}

/* The rollup of DIR holds exactly processes SEEDS[0..N): every value. */
/* H, read from the rollup, holds exactly WANT's values: count, sum,
 * extremes and every bucket. */
static void assert_hist_same(const struct mms_hist *h,
                             const struct mms_hist *want)
{
    assert_int_equal(h->count, want->count);
    assert_int_equal(h->sum, want->sum);
    assert_int_equal(h->min, want->min);
    assert_int_equal(h->max, want->max);
    assert_int_equal(h->nbuckets, want->nbuckets);
    for (uint32_t i = 0; i < want->nbuckets; i++) /* H dense or sparse */
        assert_int_equal(mms_hist_bucket(h, i), want->buckets[i]);
}

static void check_rollup(const char *dir, const int *seeds, int n,
                         int last_seed)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" ROLLUP, dir);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_true(pi.flags & MMS_HF_ROLLUP);
    assert_int_equal(pi.state, MMS_STATE_FINISHED);
    assert_int_equal(pi.fold_procs, (uint64_t)n);
    assert_string_equal(pi.group, GROUP);
    assert_int_equal(pi.pid, 0);
    assert_int_equal(pi.fold_pending[0], 0);
    assert_true(pi.fold_first_ns <= pi.fold_last_ns);
    assert_int_equal(mms_reader_liveness(r), MMS_LIVE_FINISHED);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    uint64_t calls = 0;
    int64_t gsum = 0;
    struct mms_hist want, want_few, want_rec[5];
    assert_int_equal(
        mms_hist_init(&want, MMS_HIST_DEFAULT_BITS, MMS_HIST_DEFAULT_MAX_EXP),
        0);
    assert_int_equal(mms_hist_init(&want_few, MMS_HIST_DEFAULT_BITS,
                                   MMS_HIST_DEFAULT_MAX_EXP),
                     0);
    for (int k = 0; k < 5; k++)
        assert_int_equal(mms_hist_init(&want_rec[k], MMS_HIST_DEFAULT_BITS,
                                       MMS_HIST_DEFAULT_MAX_EXP),
                         0);
    uint64_t bytes[5] = {0}, most[5] = {0}, least[5] = {0}, cnt[5] = {0};
    for (int j = 0; j < n; j++) {
        int i = seeds[j];
        calls += (uint64_t)i + 1;
        gsum += i - 5;
        for (int k = 0; k < VALS; k++)
            mms_hist_add_value(&want, hist_value(i, k));
        mms_hist_add_value(&want_few, hist_value(i, 0));
        mms_hist_add_value(&want_few, hist_value(i, 7) * 1000);
        int key = i % 5;
        mms_hist_add_value(&want_rec[key], (uint64_t)i + 1);
        bytes[key] += (uint64_t)i + 1;
        if ((uint64_t)i > most[key])
            most[key] = (uint64_t)i;
        if (!least[key] || (uint64_t)i + 5 < least[key])
            least[key] = (uint64_t)i + 5;
        cnt[key]++;
    }
    assert_int_equal(tu_value(s, "c.calls", NULL)->v.u64, calls);
    const struct mms_field_info *gfi;
    const struct mms_value *gv = tu_value(s, "g.sum", &gfi);
    assert_int_equal(gfi->kind, MMS_KIND_GAUGE);
    assert_true(gfi->flags & MMS_DF_GAUGE_SUM);
    assert_int_equal(gv->kind, MMS_KIND_GAUGE);
    assert_int_equal(gv->v.i64, gsum);
    const struct mms_hist *h = tu_value(s, "h.lat", NULL)->v.hist;
    assert_hist_same(h, &want);
    mms_hist_free(&want);
    tu_hist_check(h, 1);
    /* Cells that held their values without chunks fold exactly too. */
    h = tu_value(s, "h.few", NULL)->v.hist;
    assert_hist_same(h, &want_few);
    mms_hist_free(&want_few);
    assert_int_equal(tu_value(s, "g.last", NULL)->v.i64, last_seed);
    char mode[16];
    snprintf(mode, sizeof mode, "p%d", last_seed);
    assert_string_equal(tu_value(s, "s.mode", NULL)->v.str.ptr, mode);
    const struct mms_value *st = tu_value(s, "st", NULL);
    assert_int_equal(st->v.st.m[0].v.u64, (uint64_t)last_seed);
    assert_true(st->v.st.m[1].v.f64 == last_seed * 0.5);
    assert_true(tu_value(s, "ma", NULL)->v.avg.last == last_seed);
    assert_int_equal(tu_value(s, "sc", NULL)->v.u64, (uint64_t)last_seed);
    /* The window counter's total is exact; its per-second slots add up
     * to at most it (they age out). */
    size_t wi;
    assert_int_equal(mms_snapshot_find(s, "c.win", &wi), 0);
    assert_int_equal(mms_snapshot_value(s, wi)->v.u64, 2ull * (uint64_t)n);
    struct mms_window win;
    assert_int_equal(mms_snapshot_window(s, wi, 60, &win), 0);
    assert_true(win.count <= 2ull * (uint64_t)n);
    mms_window_free(&win);
    /* The table: 5 keys, capacity 4 (3 keys and the overflow): totals
     * over records are exact, whichever keys landed in "(other)". */
    assert_int_equal(mms_snapshot_ntables(s), 1);
    uint64_t tot = 0, tot_want = 0, hcount = 0;
    for (int k = 0; k < 5; k++)
        tot_want += bytes[k];
    size_t nrec = mms_snapshot_nrecords(s, 0);
    assert_true(nrec <= 4);
    for (size_t k = 0; k < nrec; k++) {
        const struct mms_record_info *ri = mms_snapshot_record(s, 0, k);
        tot += ri->m[0].v.u64;
        hcount += ri->m[3].count;
        if (!ri->overflow && ri->m[0].v.u64) {
            int key = ri->key[1] - '0';
            assert_int_equal(ri->m[0].v.u64, bytes[key]);
            assert_int_equal(ri->m[1].v.u64, most[key]);
            assert_int_equal(ri->m[2].v.u64, least[key]);
            assert_int_equal(ri->m[3].count, cnt[key]);
            struct mms_hist rh;
            assert_int_equal(mms_snapshot_record_hist(s, 0, k, 3, &rh), 0);
            assert_hist_same(&rh, &want_rec[key]);
            mms_hist_free(&rh);
            assert_int_equal(ri->m[4].v.u64, most[key]);
            assert_int_equal(ri->m[4].arg, most[key] * 2);
        }
    }
    assert_int_equal(tot, tot_want);
    assert_int_equal(hcount, (uint64_t)n);
    for (int k = 0; k < 5; k++)
        mms_hist_free(&want_rec[k]);
    mms_snapshot_free(s);
    mms_reader_close(r);
}

static int fold_all(const char *dir)
{
    return mms_fold_dir(dir, 0, NULL, NULL);
}

/* Files folded one after another: the rollup holds their sum, exactly;
 * nothing else is left. */
static void test_fold_exact(void **state)
{
    struct tu_fx *fx = *state;
    int seeds[12];
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%02d.mmstats", i);
        seeds[i] = i;
        spawn(fx->dir, name, i, MMS_KEEP_ROLLUP, i % 3 != 0);
        if (i == 4 || i == 11)
            assert_int_equal(fold_all(fx->dir), i == 4 ? 5 : 7);
    }
    char ls[1024];
    listing(fx->dir, ls, sizeof ls);
    assert_string_equal(ls, ROLLUP);
    /* The file that finished last is p11 (p09, not finished, counts as
     * of its start). */
    check_rollup(fx->dir, seeds, 12, 11);
}

/* Each policy: all keeps, none removes, auto folds short lives and keeps
 * long ones, rollup folds; a running process is left alone until it
 * ends; a zombie is gone. */
static void test_policies(void **state)
{
    struct tu_fx *fx = *state;
    spawn(fx->dir, "all.mmstats", 1, MMS_KEEP_ALL, true);
    spawn(fx->dir, "none.mmstats", 2, MMS_KEEP_NONE, true);
    spawn(fx->dir, "auto.mmstats", 3, MMS_KEEP_AUTO, true);
    /* A long life (60 ms, over its 20 ms threshold) keeps its file. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mms_writer_options o;
        mms_writer_options_init(&o);
        o.keep = MMS_KEEP_AUTO;
        o.keep_after_ms = 20;
        o.group = GROUP;
        o.flags = MMS_W_NO_ATEXIT;
        mms_writer *w = tu_writer(fx->dir, "long.mmstats", &o);
        write_values(w, 4);
        struct timespec ts = {0, 60 * 1000 * 1000};
        nanosleep(&ts, NULL);
        mms_writer_finish(w);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    /* Running, until told to end through a pipe; it says when its file
     * is written through another. */
    int p[2], ready[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(ready), 0);
    pid_t run = fork();
    assert_true(run >= 0);
    if (run == 0) {
        close(p[1]);
        close(ready[0]);
        struct mms_writer_options o;
        mms_writer_options_init(&o);
        o.keep = MMS_KEEP_ROLLUP;
        o.group = GROUP;
        o.flags = MMS_W_NO_ATEXIT;
        mms_writer *w = tu_writer(fx->dir, "run.mmstats", &o);
        write_values(w, 5);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1 || read(p[0], &c, 1) < 0)
            _exit(6);
        _exit(0); /* killed, as it were: not finished */
    }
    close(p[0]);
    close(ready[1]);
    char c, ls[1024];
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_int_equal(fold_all(fx->dir), 2); /* none removed, auto folded */
    listing(fx->dir, ls, sizeof ls);
    assert_string_equal(ls, "all.mmstats " ROLLUP " long.mmstats run.mmstats");
    /* A zombie (exited, not reaped) is gone. */
    assert_int_equal(write(p[1], "x", 1), 1);
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)run, &si, WEXITED | WNOWAIT), 0);
    assert_int_equal(fold_all(fx->dir), 1);
    listing(fx->dir, ls, sizeof ls);
    assert_string_equal(ls, "all.mmstats " ROLLUP " long.mmstats");
    assert_int_equal(waitpid(run, NULL, 0), run);
    close(p[1]);
    int seeds[] = {3, 5};
    check_rollup(fx->dir, seeds, 2, 5);
}

static int kill_step, kill_count;

static void kill_hook(int s)
{
    if ((kill_step && s == kill_step) || (kill_count && --kill_count == 0))
        raise(SIGKILL);
}

/* A sweeper that dies (SIGKILL) at STEP of the protocol, or at the
 * COUNT-th step it reaches. */
static void killed_sweep(const char *dir, int step, int count)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kill_step = step;
        kill_count = count;
        mms__fold_hook = kill_hook;
        fold_all(dir);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
}

/* Killed at each step, then at pseudo-random ones: the next sweep
 * completes or rolls back the interrupted fold, and the rollup always
 * holds each process exactly once. */
static void test_fold_killed(void **state)
{
    struct tu_fx *fx = *state;
    int seeds[64], n = 0;
    char ls[1024];
    unsigned rnd = 12345;
    for (int round = 0; round < 14; round++) {
        for (int k = 0; k < 3; k++, n++) {
            char name[32];
            snprintf(name, sizeof name, "q%02d.mmstats", n);
            seeds[n] = n;
            spawn(fx->dir, name, n, MMS_KEEP_ROLLUP, true);
        }
        if (round < 5) {
            killed_sweep(fx->dir, round + 1, 0);
        } else {
            rnd = rnd * 1103515245u + 12345u;
            killed_sweep(fx->dir, 0, 1 + (int)(rnd >> 16) % 15);
        }
        /* Readers in between: a file being folded and already in its
         * rollup is skipped, any other file counted once. */
        DIR *d = opendir(fx->dir);
        struct dirent *e;
        uint64_t seen = 0;
        while ((e = readdir(d))) {
            if (!mms_is_stats_name(e->d_name))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", fx->dir, e->d_name);
            mms_reader *r;
            if (mms_reader_open(&r, path) < 0)
                continue;
            struct mms_proc_info pi;
            mms_reader_info(r, &pi);
            if (!mms_reader_folded(r))
                seen += pi.flags & MMS_HF_ROLLUP ? pi.fold_procs : 1;
            mms_reader_close(r);
        }
        closedir(d);
        assert_int_equal(seen, (uint64_t)n);
        assert_true(fold_all(fx->dir) >= 0);
        listing(fx->dir, ls, sizeof ls);
        assert_string_equal(ls, ROLLUP);
        check_rollup(fx->dir, seeds, n, n - 1);
    }
}

/* Sweepers at once over many dead files: each file once. */
static void test_fold_concurrent(void **state)
{
    struct tu_fx *fx = *state;
    enum { FILES = 40, SWEEPERS = 6 };
    int seeds[FILES];
    for (int i = 0; i < FILES; i++) {
        char name[32];
        snprintf(name, sizeof name, "r%02d.mmstats", i);
        seeds[i] = i;
        spawn(fx->dir, name, i, MMS_KEEP_ROLLUP, true);
    }
    pid_t kids[SWEEPERS];
    for (int k = 0; k < SWEEPERS; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0)
            _exit(fold_all(fx->dir) < 0 ? 1 : 0);
    }
    int total = 0;
    for (int k = 0; k < SWEEPERS; k++) {
        int st;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        total++;
    }
    assert_int_equal(total, SWEEPERS);
    char ls[1024];
    listing(fx->dir, ls, sizeof ls);
    assert_string_equal(ls, ROLLUP);
    check_rollup(fx->dir, seeds, FILES, FILES - 1);
}

/* A merge in memory: the tools' sums follow the same rules. */
static void test_merge_api(void **state)
{
    struct tu_fx *fx = *state;
    spawn(fx->dir, "a.mmstats", 2, MMS_KEEP_ALL, true);
    spawn(fx->dir, "b.mmstats", 3, MMS_KEEP_ALL, true);
    mms_merge *m;
    assert_int_equal(mms_merge_new(&m), 0);
    const char *names[] = {"a.mmstats", "b.mmstats"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", fx->dir, names[i]);
        mms_reader *r;
        mms_snapshot *s;
        assert_int_equal(mms_reader_open(&r, path), 0);
        assert_int_equal(mms_snapshot_take(r, &s), 0);
        assert_int_equal(mms_merge_add(m, r, s, NULL, NULL), 0);
        mms_snapshot_free(s);
        mms_reader_close(r);
    }
    struct mms_merge_info mi;
    mms_merge_info(m, &mi);
    assert_int_equal(mi.files, 2);
    assert_int_equal(mi.procs, 2);
    size_t i;
    assert_int_equal(mms_merge_find(m, "c.calls", &i), 0);
    assert_int_equal(mms_merge_field(m, i)->value.v.u64, 3 + 4);
    assert_int_equal(mms_merge_find(m, "g.last", &i), 0);
    const struct mms_merge_field *g = mms_merge_field(m, i);
    assert_int_equal(g->value.v.i64, 3);
    assert_int_equal(g->num.imin, 2);
    assert_int_equal(g->num.imax, 3);
    assert_int_equal(g->num.isum, 5);
    /* A gauge kept per thread: summed, signed (2 - 5) + (3 - 5). */
    assert_int_equal(mms_merge_find(m, "g.sum", &i), 0);
    assert_int_equal(mms_merge_field(m, i)->info.kind, MMS_KIND_GAUGE);
    assert_int_equal(mms_merge_field(m, i)->value.v.i64, -5);
    assert_int_equal(mms_merge_find(m, "s.mode", &i), 0);
    assert_int_equal(mms_merge_field(m, i)->nstrs, 2);
    assert_int_equal(mms_merge_find(m, "nope", &i), MMS_ENOENT);
    assert_int_equal(mms_merge_ntables(m), 1);
    assert_int_equal(mms_merge_nrecords(m, 0), 3); /* overflow, k2, k3 */
    mms_merge_free(m);
}

/* MMS_DF_GAUGE_SUM: on counters only, without windows; read as a
 * GAUGE whose value is the cells' sum, signed. */
static void test_gauge_sum(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "gs.mmstats", NULL);
    struct mms_field_spec bad[] = {
        {.name = "x.g", .kind = MMS_KIND_GAUGE, .flags = MMS_DF_GAUGE_SUM},
        {.name = "x.w",
         .kind = MMS_KIND_COUNTER,
         .flags = MMS_DF_GAUGE_SUM | MMS_DF_WINDOW},
    };
    mms_field *f;
    for (int k = 0; k < 2; k++)
        assert_int_equal(mms_field_add(fx->w, &bad[k], &f), -EINVAL);
    struct mms_field_spec ok = {
        .name = "x.live", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_GAUGE_SUM};
    assert_int_equal(mms_field_add(fx->w, &ok, &f), 0);
    mms_counter_add(f, 7);
    mms_counter_add(f, (uint64_t)-10);
    assert_int_equal(tu_gauge(tu_reader(fx), "x.live"), -3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_api, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_gauge_sum, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_fold_exact, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_policies, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_fold_killed, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_fold_concurrent, tu_setup,
                                        tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
