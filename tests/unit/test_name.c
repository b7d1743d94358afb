/* Field names: the accepted character set, segment rules and length. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static void test_valid_names_are_accepted(void **state)
{
    (void)state;
    const char *ok[] = {"a",         "io.write.calls", "_x",
                        "A1.b_2.c3", "mem.live_bytes", "http.status.404"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(mms_name_check(ok[i]), 0);
}

static void test_invalid_names_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"",    ".a", "a.",    "a..b", "1abc", "a b",     "a-b",
                         "a/b", "é",  "a.b\n", "a\tb", "a.b.", "x.y.z..", "*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mms_name_check(bad[i]), MMS_ENAME);
    assert_int_equal(mms_name_check(NULL), MMS_ENAME);
}

static void test_name_length_limit(void **state)
{
    (void)state;
    char name[MMS_NAME_MAX + 2];
    memset(name, 'a', sizeof name);
    name[MMS_NAME_MAX] = '\0';
    assert_int_equal(mms_name_check(name), 0);
    name[MMS_NAME_MAX] = 'a';
    name[MMS_NAME_MAX + 1] = '\0';
    assert_int_equal(mms_name_check(name), MMS_ENAME);
}

static void test_stats_file_names(void **state)
{
    (void)state;
    assert_int_equal(mms_is_stats_name("cat-12.mmstats"), 1);
    assert_int_equal(mms_is_stats_name(".cat-12.mmstats"), 0);
    assert_int_equal(mms_is_stats_name(".mmstats"), 0);
    assert_int_equal(mms_is_stats_name("cat-12.mmstats.tmp"), 0);
    assert_int_equal(mms_is_stats_name("cat-12"), 0);
    assert_int_equal(mms_tmp_name_pid(".mmstats-4242-7.tmp"), 4242);
    assert_int_equal(mms_tmp_name_pid(".mmstats-4242.tmp"), 0);
    assert_int_equal(mms_tmp_name_pid(".mmstats--1-7.tmp"), 0);
    assert_int_equal(mms_tmp_name_pid(".mmstats-99999999999-1.tmp"), 0);
    assert_int_equal(mms_tmp_name_pid("x.mmstats-1-1.tmp"), 0);
    assert_int_equal(mms_tmp_name_pid(".mmstats-1-1.tm"), 0);
}

static void test_pid_start_ticks(void **state)
{
    (void)state;
    uint64_t a = 0, b = 0;
    assert_int_equal(mms_pid_start_ticks(getpid(), &a), 0);
    assert_true(a > 0);
    assert_int_equal(mms_pid_start_ticks(1, &b), 0);
    assert_true(b <= a); /* init started first */
    assert_int_equal(mms_pid_start_ticks((1 << 22) + 1, &b), -ESRCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_names_are_accepted),
        cmocka_unit_test(test_invalid_names_are_refused),
        cmocka_unit_test(test_name_length_limit),
        cmocka_unit_test(test_stats_file_names),
        cmocka_unit_test(test_pid_start_ticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
