/* The rule "after start-up, the only system call a hook makes is the real
 * one", checked the hard way: after mms__writer_no_syscalls, first uses
 * (a field's cell, histogram chunks, a new record and its cell) must take
 * prepared space and make no system call at all, in a child under
 * seccomp's strict mode, where any system call but read, write, exit and
 * sigreturn kills it. Skipped (77) under ThreadSanitizer, whose runtime
 * makes system calls of its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hotpath.h"
#include "internal.h"
#include "testutil.h"

static int setup(void **state)
{
    if (tu_setup(state) < 0)
        return -1;
    struct tu_fx *fx = *state;
    fx->w = tu_writer(fx->dir, "h.mmstats", NULL);
    return 0;
}

/* After mms__writer_no_syscalls, first uses (a field's cell, histogram
 * chunks, a new record and its cell) take prepared space and make no
 * system call: proved in a child under seccomp's strict mode, where any
 * system call but read, write, exit and sigreturn kills it. */
static void no_syscalls_first_uses_under_strict_seccomp(void **state)
{
    struct tu_fx *fx = *state;
    mms_field *c, *h;
    mms_table *t;
    struct mms_table_member m[] = {{.name = "n", .kind = MMS_MK_SUM},
                                   {.name = "lat", .kind = MMS_MK_HIST}};
    struct mms_table_spec ts = {
        .name = "files", .capacity = 8, .members = m, .nmembers = 2};
    assert_int_equal(mms_counter_new(fx->w, "sc.count", NULL, &c), 0);
    assert_int_equal(mms_hist_new(fx->w, "sc.hist", NULL, &h), 0);
    assert_int_equal(mms_table_new(fx->w, &ts, &t), 0);
    assert_int_equal(mms__writer_reserve(fx->w, 64 * 1024), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        mms__writer_no_syscalls(fx->w);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
            syscall(SYS_exit, 3);
        mms_counter_add(c, 5);
        for (int e = 0; e < 40; e += 7)
            mms_hist_record(h, (uint64_t)1 << e);
        uint32_t rec;
        int got = mms_record_get(t, "/etc/passwd", 11, &rec);
        mms_record_update(t, rec, 0, 3);
        mms_record_update(t, rec, 1, 1000);
        char ok = got == 0 ? 'y' : 'n';
        if (write(pfd[1], &ok, 1) != 1)
            syscall(SYS_exit, 2);
        syscall(SYS_exit, 0);
    }
    close(pfd[1]);
    char ok = 0;
    assert_int_equal(read(pfd[0], &ok, 1), 1);
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(ok, 'y');
    /* The child's own file holds what it did. */
    char path[4096];
    snprintf(path, sizeof path, "%s/h-%ld.mmstats", fx->dir, (long)pid);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    assert_int_equal(tu_counter(r, "sc.count"), 5);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    const struct mms_value *v = tu_value(s, "sc.hist", NULL);
    assert_int_equal(v->v.hist->count, 6);
    tu_hist_check(v->v.hist, 1);
    assert_int_equal(mms_snapshot_ntables(s), 1);
    assert_int_equal(mms_snapshot_nrecords(s, 0), 2);
    const struct mms_record_info *ri = mms_snapshot_record(s, 0, 1);
    assert_memory_equal(ri->key, "/etc/passwd", 11);
    assert_int_equal(ri->m[0].v.u64, 3);
    assert_int_equal(ri->m[1].count, 1);
    assert_int_equal(ri->m[1].max, 1000);
    mms_snapshot_free(s);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_int_equal(pi.dropped, 0);
    mms_reader_close(r);
}

int main(void)
{
    if (MMS_TSAN)
        return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            no_syscalls_first_uses_under_strict_seccomp, setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
