/* Other processes see the values: mmstat-read through exec, a forked
 * reader, and the liveness verdicts for running, finished and stale files. */
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

struct fixture {
    struct tu_fx tu; /* first: tu_setup_sized, tu_teardown */
    mms_field *req, *temp, *ratio, *mode;
    /* A copy of the writer's path: in a forked child the writer moves to
     * a file of its own and mms_writer_path() names that one. */
    char path[4096];
};

static int setup(void **state)
{
    return tu_setup_sized(state, sizeof(struct fixture));
}

/* A writer with one field of each kind set to known values. */
static void open_known(struct fixture *fx)
{
    fx->tu.w = tu_writer(fx->tu.dir, "p.mmstats", NULL);
    assert_int_equal(
        mms_counter_new(fx->tu.w, "app.requests", "requests", &fx->req), 0);
    assert_int_equal(mms_gauge_new(fx->tu.w, "app.temp", "C", &fx->temp), 0);
    assert_int_equal(mms_gauge_f64_new(fx->tu.w, "app.ratio", NULL, &fx->ratio),
                     0);
    assert_int_equal(mms_string_new(fx->tu.w, "app.mode", 32, &fx->mode), 0);
    assert_int_equal(mms_static_i64(fx->tu.w, "build.number", NULL, 4711), 0);
    mms_counter_add(fx->req, 123456789);
    mms_gauge_set(fx->temp, -42);
    mms_gauge_set_f64(fx->ratio, 0.5);
    mms_string_set(fx->mode, "turbo boost");
    mms__strlcpy(fx->path, mms_writer_path(fx->tu.w), sizeof fx->path);
}

/* ------------------------------------------------------- mmstat-read */

/* Run mmstat-read with ARGV (NULL-terminated, without argv[0]); its
 * stdout goes into OUT. Returns its exit status, or -1. */
static int run_tool(const char *const *args, char *out, size_t outlen)
{
    const char *tool = tu_build_path("tools/mmstat-read");
    if (access(tool, X_OK) != 0)
        fail_msg("%s not found (is MMS_BUILD_DIR set?)", tool);
    const char *argv[16] = {"mmstat-read"};
    size_t n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;

    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fds[0], out + got, outlen - 1 - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got == outlen - 1)
            break; /* more than we expect: the checks below will fail */
    }
    out[got] = '\0';
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The rest of the output line that starts with "  NAME ", whitespace
 * squeezed off its start, into BUF; fails the test if there is none. */
static const char *tool_value(const char *out, const char *name, char *buf,
                              size_t len)
{
    char key[160];
    snprintf(key, sizeof key, "\n  %s ", name);
    const char *p = strstr(out, key);
    if (!p)
        fail_msg("no line for %s in:\n%s", name, out);
    p += strlen(key);
    p += strspn(p, " ");
    size_t n = strcspn(p, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static void test_mmstat_read_prints_exact_values(void **state)
{
    struct fixture *fx = *state;
    open_known(fx);
    static char out[65536];
    char buf[256];
    const char *args[] = {"-d", fx->tu.dir, fx->path, NULL};
    assert_int_equal(run_tool(args, out, sizeof out), 0);

    char head[128];
    snprintf(head, sizeof head, "test_process pid %d ppid %d running ",
             (int)getpid(), (int)getppid());
    if (!strstr(out, head))
        fail_msg("no \"%s\" in:\n%s", head, out);
    assert_string_equal(tool_value(out, "app.requests", buf, sizeof buf),
                        "123456789 requests");
    assert_string_equal(tool_value(out, "app.temp", buf, sizeof buf), "-42 C");
    assert_string_equal(tool_value(out, "app.ratio", buf, sizeof buf), "0.5");
    assert_string_equal(tool_value(out, "app.mode", buf, sizeof buf),
                        "\"turbo boost\"");
    assert_string_equal(tool_value(out, "build.number", buf, sizeof buf),
                        "4711");

    /* New values show up in the next run: the tool reads live memory. */
    mms_counter_add(fx->req, 1);
    mms_gauge_add(fx->temp, 50);
    mms_string_set(fx->mode, "eco");
    assert_int_equal(run_tool(args, out, sizeof out), 0);
    assert_string_equal(tool_value(out, "app.requests", buf, sizeof buf),
                        "123456790 requests");
    assert_string_equal(tool_value(out, "app.temp", buf, sizeof buf), "8 C");
    assert_string_equal(tool_value(out, "app.mode", buf, sizeof buf),
                        "\"eco\"");
}

static void test_mmstat_read_by_pid_with_filter(void **state)
{
    struct fixture *fx = *state;
    open_known(fx);
    static char out[65536];
    char buf[256], pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    const char *args[] = {"-d", fx->tu.dir, "-f", "app.r*", pid, NULL};
    assert_int_equal(run_tool(args, out, sizeof out), 0);
    assert_string_equal(tool_value(out, "app.requests", buf, sizeof buf),
                        "123456789 requests");
    assert_string_equal(tool_value(out, "app.ratio", buf, sizeof buf), "0.5");
    assert_null(strstr(out, "app.temp"));
    assert_null(strstr(out, "build.number"));

    /* A file that is not there: exit status 1. */
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/none.mmstats", fx->tu.dir);
    const char *bad[] = {"-d", fx->tu.dir, missing, NULL};
    assert_int_equal(run_tool(bad, out, sizeof out), 1);
}

/* ----------------------------------------------------- forked reader */

/* In a forked child: open a reader on PATH and compare values. Returns a
 * bit mask of the checks that failed (0: all good). */
static int child_check(const char *path, uint64_t want_req)
{
    mms_reader *r;
    mms_snapshot *s;
    if (mms_reader_open(&r, path) < 0)
        return 1;
    if (mms_snapshot_take(r, &s) < 0) {
        mms_reader_close(r);
        return 2;
    }
    int bad = 0;
    long i = tu_index(s, "app.requests");
    if (i < 0 || mms_snapshot_value(s, (size_t)i)->v.u64 != want_req)
        bad |= 4;
    i = tu_index(s, "app.temp");
    if (i < 0 || mms_snapshot_value(s, (size_t)i)->v.i64 != -42)
        bad |= 8;
    i = tu_index(s, "app.ratio");
    if (i < 0 || mms_snapshot_value(s, (size_t)i)->v.f64 != 0.5)
        bad |= 16;
    i = tu_index(s, "app.mode");
    if (i < 0 ||
        strcmp(mms_snapshot_value(s, (size_t)i)->v.str.ptr, "turbo boost"))
        bad |= 32;
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    if (pi.pid != getppid() || mms_reader_liveness(r) != MMS_LIVE_RUNNING)
        bad |= 64;
    mms_snapshot_free(s);
    mms_reader_close(r);
    return bad;
}

static void test_forked_child_reader_sees_parent_values(void **state)
{
    struct fixture *fx = *state;
    open_known(fx);
    /* The child checks only after the parent has updated once more, so it
     * reads live shared memory and not what it inherited. */
    int go[2];
    assert_int_equal(pipe(go), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(127);
        _exit(child_check(fx->path, 123456789 + 1000));
    }
    close(go[0]);
    mms_counter_add(fx->req, 1000);
    assert_int_equal(write(go[1], "x", 1), 1);
    close(go[1]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void assert_state(const char *path, enum mms_state state, int32_t pid,
                         int liveness)
{
    mms_reader *r;
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_open(&r, path), 0);
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_int_equal(pi.state, state);
    assert_int_equal(pi.pid, pid);
    assert_int_equal(mms_reader_liveness(r), liveness);
    mms_reader_close(r);
}

/* A forked child that updates and leaves with exit() (atexit handlers
 * run, as in a worker process) touches only a file of its own: the
 * parent's values stay and its file stays RUNNING; the child's file has
 * the child's counts and is FINISHED. */
static void test_forked_child_updates_and_exit_spare_parent_file(void **st)
{
    struct fixture *fx = *st;
    open_known(fx);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        mms_counter_add(fx->req, 5);
        mms_gauge_set(fx->temp, 99);
        mms_string_set(fx->mode, "child");
        exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_string_equal(mms_writer_path(fx->tu.w), fx->path);
    assert_state(fx->path, MMS_STATE_READY, getpid(), MMS_LIVE_RUNNING);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, fx->path), 0);
    assert_int_equal(tu_counter(r, "app.requests"), 123456789);
    assert_int_equal(tu_gauge(r, "app.temp"), -42);
    mms_reader_close(r);
    /* The child's counts went to its own file, from zero. */
    assert_int_equal(mms_reader_open_pid(&r, fx->tu.dir, pid), 0);
    assert_string_not_equal(mms_reader_path(r), fx->path);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_int_equal(pi.state, MMS_STATE_FINISHED);
    assert_int_equal(tu_counter(r, "app.requests"), 5);
    assert_int_equal(tu_gauge(r, "app.temp"), 99);
    mms_reader_close(r);
    /* The parent's handles still work. */
    mms_counter_add(fx->req, 1);
    assert_int_equal(mms_reader_open(&r, fx->path), 0);
    assert_int_equal(tu_counter(r, "app.requests"), 123456790);
    mms_reader_close(r);
}

/* ---------------------------------------------------------- liveness */

/* Rewrite header fields of PATH through a mapping of our own, as another
 * process (or a crash) would leave them. */
static void patch_header(const char *path, const int32_t *pid,
                         const uint64_t *start_ticks)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    void *m =
        mmap(NULL, MMS_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(m != MAP_FAILED);
    struct mms_file_header *h = m;
    if (pid)
        h->pid = *pid;
    if (start_ticks)
        h->start_ticks = *start_ticks;
    munmap(m, MMS_HEADER_SIZE);
}

static int liveness_of(const char *path)
{
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    int l = mms_reader_liveness(r);
    mms_reader_close(r);
    return l;
}

/* A pid that existed and is gone: a reaped child's. */
static pid_t dead_pid(void)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    return pid;
}

static void test_liveness_running_then_finished(void **state)
{
    struct fixture *fx = *state;
    open_known(fx);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, fx->path), 0);
    assert_int_equal(mms_reader_liveness(r), MMS_LIVE_RUNNING);
    assert_int_equal(mms_writer_close(fx->tu.w), 0);
    fx->tu.w = NULL;
    assert_int_equal(mms_reader_liveness(r), MMS_LIVE_FINISHED);
    mms_reader_close(r);
}

static void test_liveness_dead_when_pid_is_gone(void **state)
{
    struct fixture *fx = *state;
    open_known(fx);
    const char *path = fx->path;
    int32_t pid = (int32_t)dead_pid();
    patch_header(path, &pid, NULL);
    assert_int_equal(liveness_of(path), MMS_LIVE_DEAD);
    pid = 0;
    patch_header(path, &pid, NULL);
    assert_int_equal(liveness_of(path), MMS_LIVE_DEAD);
    /* Only the owner (pid in the header) finishes a file... */
    mms_writer_finish(fx->tu.w);
    assert_int_equal(liveness_of(path), MMS_LIVE_DEAD);
    /* ...and a finished file is finished, whatever its pid. */
    pid = (int32_t)getpid();
    patch_header(path, &pid, NULL);
    mms_writer_finish(fx->tu.w);
    pid = (int32_t)dead_pid();
    patch_header(path, &pid, NULL);
    assert_int_equal(liveness_of(path), MMS_LIVE_FINISHED);
}

static void test_liveness_pid_reused_when_start_time_differs(void **state)
{
    struct fixture *fx = *state;
    open_known(fx);
    const char *path = fx->path;
    uint64_t ticks = fx->tu.w->hdr->start_ticks;
    assert_true(ticks != 0);
    uint64_t other = ticks + 12345;
    patch_header(path, NULL, &other);
    assert_int_equal(liveness_of(path), MMS_LIVE_PID_REUSED);
    patch_header(path, NULL, &ticks);
    assert_int_equal(liveness_of(path), MMS_LIVE_RUNNING);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_mmstat_read_prints_exact_values),
        T(test_mmstat_read_by_pid_with_filter),
        T(test_forked_child_reader_sees_parent_values),
        T(test_forked_child_updates_and_exit_spare_parent_file),
        T(test_liveness_running_then_finished),
        T(test_liveness_dead_when_pid_is_gone),
        T(test_liveness_pid_reused_when_start_time_differs),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
