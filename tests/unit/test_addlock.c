/* Field adds from hooks (MMS_ADD_NOWAIT, core/writer.c mms__add_lock):
 * another thread's add is waited for however long its thread is
 * descheduled (hooks used to give up after 32 x 256 spins and drop the
 * record: 200 threads in waves on a loaded machine lost records in 1 run
 * of 5); the add of the code a signal handler interrupted (this thread's
 * own) is never waited for; in no-syscall mode (seccomp) the waiter gives
 * up; a holder that never lets go is given up on, never a hang. The
 * "other thread's add" here is the test holding the writer's lock. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotpath.h"
#include "internal.h"
#include "testutil.h"

struct add_job {
    mms_writer *w;
    const char *name;
    int rc;
};

static int setup(void **state)
{
    if (tu_setup_sized(state, sizeof(struct tu_fx)) < 0)
        return -1;
    struct tu_fx *fx = *state;
    fx->w = tu_writer(fx->dir, "a.mmstats", NULL);
    return 0;
}

static void *add_nowait(void *arg)
{
    struct add_job *j = arg;
    struct mms_field_spec s = {.name = j->name, .kind = MMS_KIND_COUNTER};
    mms_field *f;
    j->rc = mms__group_add(j->w, &s, 1, MMS_ADD_NOWAIT, &f);
    return NULL;
}

/* Hold the writer's lock and start an adding thread; return once it
 * waits for us (an event: the writer's count of waits). */
static void start_waiter(mms_writer *w, struct add_job *j, pthread_t *t)
{
    *j = (struct add_job){.w = w, .name = "waited.calls", .rc = 1};
    assert_int_equal(mms__add_lock(w, true), 0);
    uint64_t waits0 = mms_load_acquire(&w->add_waits);
    assert_int_equal(pthread_create(t, NULL, add_nowait, j), 0);
    while (mms_load_acquire(&w->add_waits) == waits0)
        sched_yield();
}

/* A holder descheduled for far longer than the old bound: the adder
 * still waits, and its field is made. (The stall bound is an hour here:
 * on a loaded machine 60,000 yields can outlast the 2 s default.) */
static void slow_adder_is_waited_for(void **state)
{
    struct tu_fx *fx = *state;
    struct add_job j;
    pthread_t t;
    fx->w->stall_ns = 3600 * 1000000000LL;
    start_waiter(fx->w, &j, &t);
    for (int i = 0; i < 60000; i++)
        sched_yield();
    mms__add_unlock(fx->w);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j.rc, 0);
    mms_field *f;
    assert_int_equal(mms_field_find(fx->w, "waited.calls", &f), 0);
}

/* This thread's own add (what a signal handler would interrupt): never
 * waited for, whatever the mode. */
static void own_add_is_not_waited_for(void **state)
{
    struct tu_fx *fx = *state;
    assert_int_equal(mms__add_lock(fx->w, true), 0);
    uint64_t waits0 = mms_load_acquire(&fx->w->add_waits);
    struct add_job j = {.w = fx->w, .name = "own.calls", .rc = 1};
    add_nowait(&j);
    assert_int_equal(j.rc, MMS_EBUSY);
    assert_int_equal(mms_load_acquire(&fx->w->add_waits), waits0);
    mms__add_unlock(fx->w);
    add_nowait(&j);
    assert_int_equal(j.rc, 0);
}

/* In no-syscall mode (seccomp) a waiter cannot yield: it gives up. */
static void no_syscalls_adder_gives_up(void **state)
{
    struct tu_fx *fx = *state;
    struct add_job j;
    pthread_t t;
    start_waiter(fx->w, &j, &t);
    mms__writer_no_syscalls(fx->w);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j.rc, MMS_EBUSY);
    mms__add_unlock(fx->w);
}

/* A holder that never lets go (gone by longjmp, a raw clone's parent):
 * given up on after the stall bound (MMS_GROW_STALL_NS; 50 ms here),
 * never a hang; the lock is not taken from it. */
static void stalled_holder_is_given_up_on(void **state)
{
    struct tu_fx *fx = *state;
    struct add_job j;
    pthread_t t;
    fx->w->stall_ns = 50 * 1000000LL;
    start_waiter(fx->w, &j, &t);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j.rc, MMS_EBUSY);
    mms__add_unlock(fx->w);
    add_nowait(&j);
    assert_int_equal(j.rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(slow_adder_is_waited_for, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(own_add_is_not_waited_for, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(no_syscalls_adder_gives_up, setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(stalled_holder_is_given_up_on, setup,
                                        tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
