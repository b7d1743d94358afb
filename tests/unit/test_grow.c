/* Growth held by another thread (core/file.c mms__grow_wait): an
 * allocation that needs the file to grow while another thread grows it
 * waits for that growth, however long the grower is descheduled (it used
 * to give up after 20,000 spins and yields, and the record was dropped:
 * 200 short threads on a loaded machine lost ~40); a growth whose grower
 * is gone (held for MMS_GROW_STALL_NS) is taken over, never waited for
 * forever; in no-syscall mode (seccomp) the waiter gives up at once. The
 * "grower" here is the test holding the writer's growing mark. And the
 * other way: the prepared space given back at exit. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hotpath.h"
#include "internal.h"
#include "testutil.h"

#define BLOCK 4096u

struct fixture {
    struct tu_fx tu;  /* first: tu_setup_sized, tu_teardown */
    char fake_grower; /* its address: the mark of a grower that is not us */
};

struct alloc_job {
    mms_writer *w;
    uint64_t size0; /* the file's size before */
    int failed;     /* allocations that returned 0 */
};

static int setup(void **state)
{
    if (tu_setup_sized(state, sizeof(struct fixture)) < 0)
        return -1;
    struct fixture *fx = *state;
    fx->tu.w = tu_writer(fx->tu.dir, "g.mmstats", NULL);
    return 0;
}

/* Allocate blocks until the file had to grow past its size before. */
static void *alloc_past_end(void *arg)
{
    struct alloc_job *j = arg;
    uint64_t n = j->size0 / BLOCK + 2;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = mms__block_alloc(j->w, MMS_BLOCK_FILLER, BLOCK, 8);
        if (!off) {
            j->failed++;
            continue;
        }
        mms__block_publish(j->w, (struct mms_block *)mms__ptr(j->w, off),
                           MMS_BS_DEAD);
    }
    return NULL;
}

static void hold_growth(struct fixture *fx)
{
    uintptr_t none = 0;
    assert_true(mms_cas_acq_rel(&fx->tu.w->growing, &none,
                                (uintptr_t)&fx->fake_grower));
}

/* Start the allocating thread with the growth held; return once it waits
 * for the growth (an event: the writer's count of waits). */
static void start_waiter(struct fixture *fx, struct alloc_job *j, pthread_t *t)
{
    mms_writer *w = fx->tu.w;
    j->w = w;
    j->size0 = mms_load_acquire(&w->hdr->file_size);
    j->failed = 0;
    uint64_t waits0 = mms_load_acquire(&w->grow_waits);
    hold_growth(fx);
    assert_int_equal(pthread_create(t, NULL, alloc_past_end, j), 0);
    while (mms_load_acquire(&w->grow_waits) == waits0)
        sched_yield();
}

/* A grower descheduled for longer than the old bound (20,000 spins
 * and yields of the waiter): the waiter still waits, nothing dropped. */
static void slow_grower_is_waited_for(void **state)
{
    struct fixture *fx = *state;
    mms_writer *w = fx->tu.w;
    struct alloc_job j;
    pthread_t t;
    start_waiter(fx, &j, &t);
    for (int i = 0; i < 60000; i++)
        sched_yield();
    mms_store_release(&w->growing, (uintptr_t)0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j.failed, 0);
    assert_true(mms_load_acquire(&w->hdr->file_size) > j.size0);
}

/* A growth that never ends (its grower gone: a longjmp out of a signal
 * handler, a raw clone's child): taken over, never a deadlock. */
static void abandoned_growth_is_taken_over(void **state)
{
    struct fixture *fx = *state;
    mms_writer *w = fx->tu.w;
    struct alloc_job j;
    pthread_t t;
    uint64_t taken0 = mms_load_acquire(&w->grow_takeovers);
    start_waiter(fx, &j, &t);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j.failed, 0);
    assert_true(mms_load_acquire(&w->hdr->file_size) > j.size0);
    assert_true(mms_load_acquire(&w->grow_takeovers) > taken0);
    /* The file stays usable: growth after the takeover works. */
    assert_int_equal(mms_load_acquire(&w->growing), 0);
    assert_int_equal(mms__heap_reserve(w, 64 * 1024), 0);
}

/* In no-syscall mode (seccomp), a waiter cannot yield: it gives up (the
 * caller counts the drop) and never hangs. */
static void no_syscalls_waiter_gives_up(void **state)
{
    struct fixture *fx = *state;
    mms_writer *w = fx->tu.w;
    struct alloc_job j;
    pthread_t t;
    start_waiter(fx, &j, &t);
    mms__writer_no_syscalls(w);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(j.failed > 0);
    mms_store_release(&w->growing, (uintptr_t)0);
}

/* The owner's exit gives the prepared space back (core/heap.c
 * mms__heap_trim): the heap takes it whole under a DEAD filler, its whole
 * pages leave the file's blocks on disk (du), the size stays; a field made
 * after that grows the file again and reads back. Exact: fails if the
 * space stays allocated or the file is unusable after. */
static void exit_gives_prepared_space_back(void **state)
{
    struct fixture *fx = *state;
    mms_writer *w = fx->tu.w;
    struct mms_file_header *h = w->hdr;
    assert_int_equal(mms__heap_reserve(w, 64 * 1024), 0);
    uint64_t used = mms_load_acquire(&h->heap_used);
    uint64_t size = mms_load_acquire(&h->file_size);
    uint64_t from = (used + 8 + 4095) / 4096 * 4096;
    assert_true(size >= from + 64 * 1024);
    struct stat st0, st1;
    assert_int_equal(stat(w->path, &st0), 0);
    mms__heap_trim(w);
    assert_int_equal(mms_load_acquire(&h->heap_used), size);
    assert_int_equal(mms_load_acquire(&h->file_size), size);
    assert_int_equal(stat(w->path, &st1), 0);
    assert_int_equal(st1.st_size, st0.st_size);
    assert_true((uint64_t)st1.st_blocks * 512 + (size - from) <=
                (uint64_t)st0.st_blocks * 512);
    mms_field *late;
    assert_int_equal(mms_counter_new(w, "late", NULL, &late), 0);
    mms_counter_add(late, 5);
    assert_true(mms_load_acquire(&h->file_size) > size);
    assert_int_equal(tu_counter(tu_reader(&fx->tu), "late"), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(slow_grower_is_waited_for, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(abandoned_growth_is_taken_over, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(no_syscalls_waiter_gives_up, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(exit_gives_prepared_space_back, setup,
                                        tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
