/* Torn-read torture across processes: writer threads in a child process
 * keep invariants in struct values, strings and histograms as fast as
 * they can; this process reads the file and checks every invariant on
 * every read. Goal: 0 violations (>= 1e6 checks; 1e8 with
 * MMS_STRESS_LONG=1). For comparison, the same struct written with the
 * original mmstats' v1 double-buffer byte is read the same way, and its
 * torn reads are counted and printed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define HIST_VALUE 1000u
static const char *const words[] = {"a", "four", "eleven char",
                                    "a much longer string of forty bytes!!"};

struct triple {
    uint64_t a, b, c; /* b == 2a, c == a + 7 */
};

static volatile sig_atomic_t stop_flag;

/* A short pause between writes (~100 ns): writers stay hot, but on a
 * 2-core machine the reader still gets quiet moments to read in. */
static void pause_briefly(void)
{
    for (int i = 0; i < 32; i++)
        __asm__ volatile("" ::: "memory");
}

static void *set_structs(void *arg)
{
    mms_field *f = arg;
    for (uint64_t a = 1; !stop_flag; a++) {
        struct triple t = {a, 2 * a, a + 7};
        mms_struct_set(f, &t);
        pause_briefly();
    }
    return NULL;
}

static void *set_strings(void *arg)
{
    mms_field *f = arg;
    for (unsigned i = 0; !stop_flag; i++) {
        mms_string_set(f, words[i % 4]);
        pause_briefly();
    }
    return NULL;
}

static void *record_hist(void *arg)
{
    mms_field *f = arg;
    while (!stop_flag) {
        mms_hist_record(f, HIST_VALUE);
        pause_briefly();
    }
    return NULL;
}

/* The v1 scheme: a buffer byte says which of two copies is current; the
 * writer fills the other copy, then flips the byte. */
struct v1 {
    volatile uint8_t which;
    volatile struct triple copy[2];
};

static void *v1_writer(void *arg)
{
    struct v1 *v = arg;
    for (uint64_t a = 1; !stop_flag; a++) {
        int next = !v->which;
        v->copy[next].a = a;
        v->copy[next].b = 2 * a;
        v->copy[next].c = a + 7;
        v->which = (uint8_t)next;
    }
    return NULL;
}

static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* The child: writer threads until SIGTERM. */
static void writer_process(mms_writer *w, mms_field *st, mms_field *str,
                           mms_field *h, struct v1 *v, int ready_fd)
{
    signal(SIGTERM, on_term);
    pthread_t t[4];
    pthread_create(&t[0], NULL, set_structs, st);
    pthread_create(&t[1], NULL, set_strings, str);
    pthread_create(&t[2], NULL, record_hist, h);
    pthread_create(&t[3], NULL, v1_writer, v);
    if (write(ready_fd, "r", 1) != 1)
        _exit(3);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    (void)w;
    _exit(0);
}

struct tally {
    uint64_t checks, violations, busy;
};

static void check_snapshot(mms_reader *r, struct tally *t)
{
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_value *v = mms_snapshot_value(s, i);
        if (v->status == MMS_EBUSY && v->kind != MMS_KIND_HISTOGRAM) {
            t->busy++;
            continue;
        }
        t->checks++;
        bool ok = true;
        if (v->kind == MMS_KIND_STRUCT) {
            uint64_t a = v->v.st.m[0].v.u64;
            ok = (a == 0 && v->v.st.m[1].v.u64 == 0) ||
                 (v->v.st.m[1].v.u64 == 2 * a && v->v.st.m[2].v.u64 == a + 7);
        } else if (v->kind == MMS_KIND_STRING) {
            ok = v->v.str.len == 0;
            for (int k = 0; k < 4; k++)
                ok |= !strcmp(v->v.str.ptr, words[k]);
        } else if (v->kind == MMS_KIND_HISTOGRAM) {
            const struct mms_hist *h = v->v.hist;
            ok = h->sum == h->count * HIST_VALUE &&
                 (h->count == 0 ||
                  (h->min == HIST_VALUE && h->max == HIST_VALUE));
            if (v->status == 0) {
                uint64_t b = 0;
                for (uint32_t k = 0; k < h->nbuckets; k++)
                    b += mms_hist_bucket(h, k);
                ok = ok && b == h->count;
            }
        }
        if (!ok)
            t->violations++;
    }
    mms_snapshot_free(s);
}

static void test_no_torn_reads_across_processes(void **state)
{
    (void)state;
    bool long_run = getenv("MMS_STRESS_LONG") != NULL;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    uint64_t goal = long_run ? 100000000ull : 100000ull; /* 10-20x slower */
#else
    uint64_t goal = long_run ? 100000000ull : 1000000ull;
#endif
    /* Past max_seconds the loop ends as soon as a fifth of the goal is
     * checked (a loaded machine is slow, not wrong), and at cap_seconds
     * whatever it has. */
    double max_seconds = long_run ? 1800 : 60;
    double cap_seconds = long_run ? 1800 : 400;
    uint64_t need = goal / 5;

    char *dir = tu_mkdtemp();
    mms_writer *w = tu_writer(dir, "torture.mmstats", NULL);
    static const struct mms_member m[] = {
        {"a", MMS_MEMBER_U64}, {"b", MMS_MEMBER_U64}, {"c", MMS_MEMBER_U64}};
    mms_field *st, *str, *h;
    assert_int_equal(mms_struct_new(w, "t.triple", m, 3, &st), 0);
    assert_int_equal(mms_string_new(w, "t.word", 40, &str), 0);
    struct mms_field_spec hs = {.name = "t.const",
                                .kind = MMS_KIND_HISTOGRAM,
                                .hist_bits = 3,
                                .hist_max_exp = 20};
    assert_int_equal(mms_field_add(w, &hs, &h), 0);
    struct v1 *v = mmap(NULL, sizeof *v, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(v != MAP_FAILED);

    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        writer_process(w, st, str, h, v, pfd[1]);
    }
    close(pfd[1]);
    char c;
    assert_int_equal(read(pfd[0], &c, 1), 1);
    close(pfd[0]);

    /* The child's file: fork gave it one of its own. */
    mms_reader *r;
    assert_int_equal(mms_reader_open_pid(&r, dir, pid), 0);

    struct tally t = {0};
    uint64_t v1_reads = 0, v1_torn = 0;
    uint64_t start = mms_now_ns();
    for (;;) {
        double el = (double)(mms_now_ns() - start) / 1e9;
        if (t.checks >= goal || el >= cap_seconds ||
            (el >= max_seconds && t.checks >= need))
            break;
        check_snapshot(r, &t);
        for (int k = 0; k < 8; k++) {
            int which = v->which;
            uint64_t a = v->copy[which].a, b = v->copy[which].b,
                     cc = v->copy[which].c;
            v1_reads++;
            if (a && (b != 2 * a || cc != a + 7))
                v1_torn++;
        }
    }
    double secs = (mms_now_ns() - start) / 1e9;
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    mms_reader_close(r);

    printf("seqlock: %llu checks, %llu violations, %llu busy, %.1f s\n",
           (unsigned long long)t.checks, (unsigned long long)t.violations,
           (unsigned long long)t.busy, secs);
    printf("v1 double-buffer byte: %llu reads, %llu torn (%.3f%%)\n",
           (unsigned long long)v1_reads, (unsigned long long)v1_torn,
           v1_reads ? 100.0 * (double)v1_torn / (double)v1_reads : 0.0);
    assert_int_equal(t.violations, 0);
    assert_true(t.checks >= need);
    /* Busy (a seqlocked value that kept changing for 10,000 tries) must
     * stay rare, or readers would see nothing. */
    assert_true(t.busy * 100 <= t.checks);
    mms_writer_close(w);
    munmap(v, sizeof *v);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_torn_reads_across_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
