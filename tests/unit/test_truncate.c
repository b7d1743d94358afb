/* A stats file truncated under an open reader (another process of the
 * same user can do that at any time): every reader call answers
 * MMS_ETRUNCATED, none crashes with SIGBUS, and a SIGBUS outside a reader
 * still does what it did before. Skipped (77) under ThreadSanitizer, whose
 * runtime dies of a fault inside its own atomic loads before any handler
 * can run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

static char *dir;

/* A finished file with a few fields, copied to NAME: its path. */
static char *make_file(const char *name)
{
    mms_writer *w = tu_writer(dir, name, NULL);
    mms_field *c, *h, *s;
    assert_int_equal(mms_counter_new(w, "t.count", NULL, &c), 0);
    assert_int_equal(mms_hist_new(w, "t.hist", NULL, &h), 0);
    assert_int_equal(mms_string_new(w, "t.text", 32, &s), 0);
    for (int i = 0; i < 1000; i++) {
        mms_counter_inc(c);
        mms_hist_record(h, (uint64_t)i * 1000);
    }
    mms_string_set(s, "still here");
    char *path = strdup(mms_writer_path(w));
    mms_writer_close(w);
    return path;
}

static void test_every_call_answers_etruncated(void **state)
{
    (void)state;
    char *path = make_file("a.mmstats");
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    assert_int_equal(tu_counter(r, "t.count"), 1000);
    assert_int_equal(truncate(path, 0), 0);
    mms_snapshot *s = NULL;
    assert_int_equal(mms_snapshot_take(r, &s), MMS_ETRUNCATED);
    assert_null(s);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(r, &pi), MMS_ETRUNCATED);
    assert_int_equal(mms_reader_refresh(r), MMS_ETRUNCATED);
    assert_int_equal(mms_reader_liveness(r), MMS_ETRUNCATED);
    mms_reader_close(r);
    /* Opening what is left is a clean refusal too. */
    assert_int_equal(mms_reader_open(&r, path), MMS_ETRUNCATED);
    free(path);
}

static void test_heap_gone_header_left(void **state)
{
    (void)state;
    char *path = make_file("b.mmstats");
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    assert_int_equal(truncate(path, MMS_HEADER_SIZE), 0);
    mms_snapshot *s = NULL;
    assert_int_equal(mms_snapshot_take(r, &s), MMS_ETRUNCATED);
    mms_reader_close(r);
    /* The header says the file is longer than it is. */
    assert_int_equal(mms_reader_open(&r, path), MMS_ETRUNCATED);
    free(path);
}

static volatile sig_atomic_t own_handler_ran;

static void own_handler(int sig)
{
    (void)sig;
    own_handler_ran = 1;
    _exit(42);
}

/* The program's own SIGBUS handler still runs for its own faults. */
static void test_program_handler_still_runs(void **state)
{
    (void)state;
    char *path = make_file("c.mmstats");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, own_handler);
        mms_reader *r;
        if (mms_reader_open(&r, path) < 0) /* installs the reader's */
            _exit(1);
        mms_snapshot *s;
        if (mms_snapshot_take(r, &s) < 0)
            _exit(2);
        mms_snapshot_free(s);
        int fd = open(path, O_RDONLY);
        volatile uint8_t *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED || ftruncate(open(path, O_RDWR), 0) < 0)
            _exit(3);
        (void)m[100]; /* the program's own fault: its handler, exit 42 */
        _exit(4);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 42);
    free(path);
}

int main(void)
{
    if (MMS_TSAN)
        return 77;
    dir = tu_mkdtemp();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_call_answers_etruncated),
        cmocka_unit_test(test_heap_gone_header_left),
        cmocka_unit_test(test_program_handler_still_runs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmdir(dir);
    free(dir);
    return rc;
}
