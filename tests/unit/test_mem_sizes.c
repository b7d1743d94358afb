/* The shim's table of mem.alloc_size buckets (preload/mem_sizes.h)
 * against the histogram's own index, for every size it covers and
 * around each power of two above it. */
#include "testutil.h"

#include "mem_sizes.h"

static void table_matches_hist_index(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < MMP_SIZE_TABLE; v++) {
        uint32_t want = mms__hist_index(v, MMP_SIZE_BITS, MMP_SIZE_MAX_EXP);
        if (mmp_size_index(v) != want)
            fail_msg("size %llu: table %u, hist_index %u",
                     (unsigned long long)v, mmp_size_index(v), want);
    }
}

static void above_the_table_computed(void **state)
{
    (void)state;
    for (unsigned e = 12; e < 64; e++)
        for (int d = -1; d <= 1; d++) {
            uint64_t v = ((uint64_t)1 << e) + (uint64_t)(int64_t)d;
            assert_int_equal(
                mmp_size_index(v),
                mms__hist_index(v, MMP_SIZE_BITS, MMP_SIZE_MAX_EXP));
        }
    /* The last bucket, past 2^40: one for all. */
    assert_int_equal(mmp_size_index(UINT64_MAX),
                     (MMP_SIZE_MAX_EXP - MMP_SIZE_BITS + 1) << MMP_SIZE_BITS);
    assert_int_equal(
        mmp_size_bucket[MMP_SIZE_TABLE - 1],
        mms__hist_index(MMP_SIZE_TABLE - 1, MMP_SIZE_BITS, MMP_SIZE_MAX_EXP));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_matches_hist_index),
        cmocka_unit_test(above_the_table_computed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
