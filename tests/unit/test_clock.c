/* The hot path's clock (core/clock.c): CLOCK_MONOTONIC nanoseconds, from
 * clock_gettime when asked (MMS_CLOCK_MONOTONIC), and from a calibrated
 * invariant TSC otherwise, within a bound of CLOCK_MONOTONIC read around
 * it. Exits 77 (skipped) after the clock_gettime checks on a machine whose
 * TSC does not qualify: nothing of the TSC's is then tested. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cmocka.h>

#include "hotpath.h"

/* A TSC read may be off CLOCK_MONOTONIC by the calibration's error (its
 * two anchors are each within ~30 us, over >= 50 ms: <= 0.12%, so <= 120
 * us a tenth of a second after) plus a preemption between the three
 * reads. 2 ms is far above either on an idle machine, and catches a wrong
 * rate (1% off is 1 ms after 0.1 s) or offset. */
#define MAX_ERR_NS 2000000u
/* Reads at most while waiting for the calibration (it comes with the
 * first read >= 50 ms after the anchor: ~1e6 reads on an idle machine). */
#define MAX_WAIT_READS 400000000u

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The worst distance of the clock from CLOCK_MONOTONIC read just before
 * and just after it, over N reads; asserts the clock never goes back. */
static uint64_t worst_error(unsigned n, double *mid_worst)
{
    uint64_t worst = 0, last = 0;
    *mid_worst = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = mono(), c = mms__clock_ns(), b = mono();
        assert_true(c >= last);
        last = c;
        uint64_t err = c < a ? a - c : c > b ? c - b : 0;
        if (err > worst)
            worst = err;
        double mid = (double)c - ((double)a + (double)(b - a) / 2.0);
        if (mid < 0)
            mid = -mid;
        if (b - a < 2000 && mid > *mid_worst) /* undisturbed reads only */
            *mid_worst = mid;
    }
    return worst;
}

static void monotonic_kind_is_clock_gettime(void **state)
{
    (void)state;
    assert_int_equal(mms__clock_setup(MMS_CLOCK_MONOTONIC), MMS__CLOCK_MONO);
    assert_int_equal(mms__clock_kind(), MMS_CLOCK_MONOTONIC);
    /* Between two reads of CLOCK_MONOTONIC exactly: it is one. */
    for (int i = 0; i < 1000; i++) {
        uint64_t a = mono(), c = mms__clock_ns(), b = mono();
        assert_true(a <= c && c <= b);
    }
}

static int tsc_qualifies;

static void tsc_within_bound_of_monotonic(void **state)
{
    (void)state;
    if (mms__clock_setup(MMS_CLOCK_TSC) != (int)MMS__CLOCK_ANCHORED) {
        printf("no invariant TSC (cpuid 0x80000007): clock_gettime only\n");
        return;
    }
    /* Before calibration: clock_gettime's. */
    uint64_t a = mono(), c = mms__clock_ns(), b = mono();
    assert_true(a <= c && c <= b);
    mms__clock_kernel_check(); /* as the shim does when it makes its file */
    unsigned reads = 0;
    while (mms__clock_kind() != MMS_CLOCK_TSC &&
           mms_load_acquire(&mms__clk.state) != MMS__CLOCK_MONO &&
           reads++ < MAX_WAIT_READS)
        (void)mms__clock_ns();
    if (mms__clock_kind() != MMS_CLOCK_TSC) {
        printf("the kernel does not flag the TSC constant_tsc and "
               "nonstop_tsc: clock_gettime only\n");
        return;
    }
    /* Not calibrated early: the second anchor comes at least
     * MMS__CLOCK_CAL_NS after the first. Timed from the first anchor
     * itself (timing from after the kernel check failed under load: its
     * /proc read took part of the interval). */
    assert_true(mono() - mms__clk.ns0 >= MMS__CLOCK_CAL_NS);
    tsc_qualifies = 1;
    printf("TSC calibrated: %.6f ns per tick\n",
           (double)mms__clk.mult / 4294967296.0);
    double mid = 0;
    uint64_t worst = worst_error(100000, &mid);
    printf("TSC clock vs CLOCK_MONOTONIC over 100,000 reads: worst %.1f us "
           "outside the two reads around it, %.0f ns from their middle\n",
           (double)worst / 1000.0, mid);
    assert_true(worst <= MAX_ERR_NS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(monotonic_kind_is_clock_gettime),
        cmocka_unit_test(tsc_within_bound_of_monotonic),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc == 0 && !tsc_qualifies)
        return 77;
    return rc;
}
