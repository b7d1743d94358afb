/* The heap profile's caching stack walker (preload/unwind.c) against
 * glibc's backtrace (libgcc's DWARF unwinder): the same return addresses
 * on a deep chain of -O2 frames without frame pointers (this file is
 * built so), through a shared library's frames (qsort calling back),
 * in the main thread and in another, with its rule cache cold and warm. */
#define _GNU_SOURCE
#include <execinfo.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "unwind.h"

#define MAX 64

struct seen {
    bool from; /* walk with mmp_unwind_from, from capture's caller */
    int n, bn;
    uint64_t pcs[MAX];
    void *bt[MAX];
};

/* Both walks from the same frame; the first address of each is its own
 * call site, so only what follows is compared. */
static __attribute__((noinline)) void capture(struct seen *s)
{
    if (s->from) {
        struct mmp_frame f;
        MMP_CALLER_FRAME(&f);
        s->n = mmp_unwind_from(&f, s->pcs, MAX);
    } else {
        s->n = mmp_unwind(s->pcs, MAX);
    }
    s->bn = backtrace(s->bt, MAX);
    __asm__ volatile("" ::: "memory");
}

/* The frames after each walk's first agree (an ASan build's backtrace
 * is an interceptor with a frame of its own first: skipped). */
static void check(const struct seen *s, int min_depth)
{
    assert_true(s->n >= 0); /* no fallback needed here */
    assert_true(s->n >= min_depth);
    int k = 1;
    while (k < 4 && k < s->bn && (uint64_t)(uintptr_t)s->bt[k] != s->pcs[1])
        k++;
    assert_int_equal(s->n, s->bn - (k - 1));
    for (int i = 1; i < s->n; i++) {
        uint64_t want = (uint64_t)(uintptr_t)s->bt[i + k - 1];
        if (s->pcs[i] != want)
            fprintf(stderr, "frame %d: %#lx, backtrace %#lx\n", i,
                    (unsigned long)s->pcs[i], (unsigned long)want);
        assert_true(s->pcs[i] == want);
    }
}

/* A walk from capture's caller: its first address is the one that
 * follows capture's own call site in backtrace's, and all agree. */
static void check_from(const struct seen *s, int min_depth)
{
    assert_true(s->n >= min_depth);
    int k = 1;
    while (k < 4 && k < s->bn && (uint64_t)(uintptr_t)s->bt[k] != s->pcs[0])
        k++;
    assert_true(k < 4);
    assert_int_equal(s->n, s->bn - k);
    for (int i = 0; i < s->n; i++)
        assert_true(s->pcs[i] == (uint64_t)(uintptr_t)s->bt[i + k]);
}

/* Frames of different shapes: a chain that keeps values live across
 * calls (callee-saved registers, rbp among them at -O2), one with a
 * variable-length array (a frame pointer), one through qsort. */
static volatile int sink;

static __attribute__((noinline)) int vla_frame(struct seen *s, int n)
{
    volatile char buf[n + 16];
    buf[0] = (char)n;
    capture(s);
    return buf[0] + sink;
}

static struct seen *cmp_target;

static int cmp(const void *a, const void *b)
{
    if (cmp_target) {
        vla_frame(cmp_target, 24);
        cmp_target = NULL;
    }
    return *(const int *)a - *(const int *)b;
}

static __attribute__((noinline)) int through_qsort(struct seen *s)
{
    int v[8] = {5, 3, 7, 1, 8, 2, 6, 4};
    cmp_target = s;
    qsort(v, 8, sizeof v[0], cmp);
    return v[0] + sink;
}

static __attribute__((noinline)) long chain(struct seen *s, int n, long a,
                                            long b)
{
    if (n == 0)
        return through_qsort(s) + a;
    long r = chain(s, n - 1, a * 3 + b, b ^ n);
    return r + a * b + sink;
}

static void walk_with(struct seen *s, bool from)
{
    memset(s, 0, sizeof *s);
    s->from = from;
    chain(s, 30, 1, 2);
}

static void walk(struct seen *s)
{
    walk_with(s, false);
}

static void same_as_backtrace(void **state)
{
    (void)state;
    struct seen s;
    for (int round = 0; round < 3; round++) { /* cold, then cached */
        walk(&s);
        check(&s, 36);
    }
}

static void *thread_main(void *arg)
{
    walk(arg);
    return NULL;
}

static void same_in_a_thread(void **state)
{
    (void)state;
    struct seen s;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_main, &s), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    check(&s, 36);
}

static void rules_are_cached(void **state)
{
    (void)state;
    struct seen s;
    struct mmp_unwind_stats st[2];
    static volatile int rounds = 2; /* one loop: one call site */
    for (int round = 0; round < rounds; round++) {
        walk(&s);
        st[round] = mmp_unwind_stats();
    }
    assert_true(st[1].computed == st[0].computed);
    assert_true(st[1].gave_up == st[0].gave_up);
}

static void from_a_frame_as_backtrace(void **state)
{
    (void)state;
    struct seen s;
    for (int round = 0; round < 2; round++) {
        walk_with(&s, true);
        check_from(&s, 36);
    }
}

/* A frame that is not above the walker's on this stack: refused. */
static void from_a_bad_frame_gives_up(void **state)
{
    (void)state;
    uint64_t pcs[MAX];
    int here;
    struct mmp_frame below = {(uint64_t)(uintptr_t)&from_a_bad_frame_gives_up,
                              (uint64_t)(uintptr_t)&here - 4096, 0};
    struct mmp_frame elsewhere = {below.pc, (uint64_t)(uintptr_t)pcs, 0};
    static uint64_t not_stack[4];
    elsewhere.sp = (uint64_t)(uintptr_t)not_stack;
    struct mmp_unwind_stats st = mmp_unwind_stats();
    assert_int_equal(mmp_unwind_from(&below, pcs, MAX), -1);
    assert_int_equal(mmp_unwind_from(&elsewhere, pcs, MAX), -1);
    assert_true(mmp_unwind_stats().gave_up == st.gave_up + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_backtrace),
        cmocka_unit_test(same_in_a_thread),
        cmocka_unit_test(rules_are_cached),
        cmocka_unit_test(from_a_frame_as_backtrace),
        cmocka_unit_test(from_a_bad_frame_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
