/* Crash: a writer process updating counters, a histogram, a struct and a
 * string in a tight loop is killed with SIGKILL at a random moment, 50
 * times (1,000 with MMS_STRESS_LONG=1). Every file it leaves opens,
 * validates and snapshots; the reader calls it stale; values are sane
 * (counters never exceed what the writer could have done). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static const struct mms_member pair[] = {{"x", MMS_MEMBER_U64},
                                         {"y", MMS_MEMBER_U64}};

static void writer_child(const char *dir, int ready_fd)
{
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.dir = dir;
    o.flags = MMS_W_NO_ENV;
    mms_writer *w;
    if (mms_writer_open(&w, &o) < 0)
        _exit(2);
    mms_field *c, *h, *st, *s;
    mms_counter_new(w, "crash.count", NULL, &c);
    mms_hist_new(w, "crash.hist", NULL, &h);
    mms_struct_new(w, "crash.pair", pair, 2, &st);
    mms_string_new(w, "crash.text", 32, &s);
    if (write(ready_fd, "r", 1) != 1)
        _exit(3);
    for (uint64_t i = 1;; i++) {
        mms_counter_inc(c);
        mms_hist_record(h, i & 1023);
        uint64_t v[2] = {i, i};
        mms_struct_set(st, v);
        mms_string_set(s, (i & 1) ? "odd" : "even");
        if (i % 64 == 0) {
            /* New fields now and then: a kill may land mid-add too. */
            char name[32];
            mms_field *f;
            snprintf(name, sizeof name, "crash.dyn%llu",
                     (unsigned long long)(i / 64 % 200));
            mms_counter_new(w, name, NULL, &f);
            mms_counter_inc(f);
        }
    }
}

static void test_sigkilled_writers_leave_readable_files(void **state)
{
    (void)state;
    int rounds = getenv("MMS_STRESS_LONG") ? 1000 : 50;
    char *dir = tu_mkdtemp();
    srand(12345);
    int busy = 0;
    for (int round = 0; round < rounds; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            writer_child(dir, pfd[1]);
        }
        close(pfd[1]);
        char ch;
        assert_int_equal(read(pfd[0], &ch, 1), 1);
        close(pfd[0]);
        /* Let it run 0-2 ms, then kill it wherever it is. */
        struct timespec ts = {0, (rand() % 2000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));

        mms_reader *r;
        assert_int_equal(mms_reader_open_pid(&r, dir, pid), 0);
        assert_int_equal(mms_reader_liveness(r), MMS_LIVE_DEAD);
        mms_snapshot *s;
        assert_int_equal(mms_snapshot_take(r, &s), 0);
        long ic = tu_index(s, "crash.count");
        long ip = tu_index(s, "crash.pair");
        long ih = tu_index(s, "crash.hist");
        assert_true(ic >= 0 && ip >= 0 && ih >= 0);
        uint64_t count = mms_snapshot_value(s, (size_t)ic)->v.u64;
        const struct mms_value *p = mms_snapshot_value(s, (size_t)ip);
        const struct mms_hist *h = mms_snapshot_value(s, (size_t)ih)->v.hist;
        /* A kill inside a seqlocked write leaves it odd for good: the
         * value reads as busy, never as a mix. */
        if (p->status == MMS_EBUSY)
            busy++;
        else
            assert_int_equal(p->v.st.m[0].v.u64, p->v.st.m[1].v.u64);
        /* The loop bumps the counter before the histogram. */
        assert_true(h->count <= count && count <= h->count + 1);
        mms_snapshot_free(s);
        mms_reader_close(r);
    }
    printf("%d kills: every file read; %d left a struct mid-write (busy)\n",
           rounds, busy);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkilled_writers_leave_readable_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
