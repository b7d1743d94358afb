/* Stats directory and file creation security rules, and mms_default_dir. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define NOBODY 65534u
#define TMPL "t.mmstats"

/* Each test gets a fresh private directory as *state. */
static int dir_setup(void **state)
{
    char *d = tu_mkdtemp();
    *state = d;
    return d ? 0 : -1;
}

static int dir_teardown(void **state)
{
    tu_rmdir(*state);
    free(*state);
    return 0;
}

static char *join(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        fail_msg("asprintf");
    return p;
}

static char *make_dir(const char *base, const char *name, mode_t mode)
{
    char *p = join(base, name);
    if (mkdir(p, 0700) < 0 || chmod(p, mode) < 0)
        fail_msg("mkdir %s: %s", p, strerror(errno));
    return p;
}

/* Entries in DIR other than . and .., or -1. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void small_options(struct mms_writer_options *o)
{
    mms_writer_options_init(o);
    o->max_fields = 8;
    o->max_shards = 2;
    o->flags = MMS_W_NO_ENV | MMS_W_NO_ATEXIT;
}

/* Open a writer for DIR/TEMPLATE; closes it at once on success. */
static int writer_in(const char *dir, const char *tmpl, char *path, size_t plen)
{
    struct mms_writer_options o;
    small_options(&o);
    o.dir = dir;
    o.file_template = tmpl;
    mms_writer *w = NULL;
    int rc = mms_writer_open(&w, &o);
    if (rc == 0) {
        if (path)
            snprintf(path, plen, "%s", mms_writer_path(w));
        mms_writer_close(w);
    } else if (w) {
        fail_msg("writer_in: error %d with a writer", rc);
    }
    return rc;
}

static int writer_at(const char *path)
{
    struct mms_writer_options o;
    small_options(&o);
    o.path = path;
    mms_writer *w = NULL;
    int rc = mms_writer_open(&w, &o);
    if (rc == 0)
        mms_writer_close(w);
    return rc;
}

static void expect_rc(const char *what, int rc, int want)
{
    if (rc != want)
        fail_msg("%s: got %d (%s), want %d (%s)", what, rc, mms_strerror(rc),
                 want, mms_strerror(want));
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        fail_msg("write %s: %s", path, strerror(errno));
    close(fd);
}

static void assert_text(const char *path, const char *text)
{
    char buf[256] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, text);
}

/* ---------------------------------------------------------- dir check */

static void test_dir_check_accepts_our_private_dirs(void **state)
{
    const char *base = *state;
    expect_rc("mkdtemp dir", mms_dir_check(base), 0);
    char *d = make_dir(base, "ro", 0755); /* readable, not writable */
    expect_rc("0755", mms_dir_check(d), 0);
    char *e = make_dir(base, "x", 0500);
    expect_rc("0500", mms_dir_check(e), 0);
    free(d);
    free(e);
}

static void test_dir_check_rejects_bad_arguments(void **state)
{
    const char *base = *state;
    expect_rc("NULL", mms_dir_check(NULL), -EINVAL);
    expect_rc("empty", mms_dir_check(""), -EINVAL);
    char *missing = join(base, "missing");
    expect_rc("missing", mms_dir_check(missing), -ENOENT);
    char *file = join(base, "file");
    write_text(file, "x");
    expect_rc("regular file", mms_dir_check(file), MMS_EINSECURE);
    free(missing);
    free(file);
}

static void test_symlinked_stats_dir_is_einsecure(void **state)
{
    const char *base = *state;
    char *real = make_dir(base, "real", 0700);
    char *link = join(base, "link");
    assert_int_equal(symlink(real, link), 0);
    expect_rc("dir check on the symlink", mms_dir_check(link), MMS_EINSECURE);
    expect_rc("writer in the symlink", writer_in(link, TMPL, NULL, 0),
              MMS_EINSECURE);
    char *exact = join(link, "exact.mmstats");
    expect_rc("writer at a path under the symlink", writer_at(exact),
              MMS_EINSECURE);
    assert_int_equal(count_entries(real), 0);
    /* Control: the directory it points to is fine. */
    expect_rc("dir check on the target", mms_dir_check(real), 0);
    free(real);
    free(link);
    free(exact);
}

static void test_group_or_world_writable_dir_is_einsecure(void **state)
{
    const char *base = *state;
    const mode_t modes[] = {0777, 0770, 0720, 0702, 01777, 0730};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char name[32], what[64];
        snprintf(name, sizeof name, "m%o", modes[i]);
        char *d = make_dir(base, name, modes[i]);
        snprintf(what, sizeof what, "dir check, mode %o", modes[i]);
        expect_rc(what, mms_dir_check(d), MMS_EINSECURE);
        snprintf(what, sizeof what, "writer, mode %o", modes[i]);
        expect_rc(what, writer_in(d, TMPL, NULL, 0), MMS_EINSECURE);
        assert_int_equal(count_entries(d), 0);
        free(d);
    }
}

static void test_dir_owned_by_another_uid_is_einsecure(void **state)
{
    const char *base = *state;
    if (geteuid() != 0) {
        print_message("skipped: chown to uid %u needs root\n", NOBODY);
        skip();
    }
    char *d = make_dir(base, "theirs", 0700);
    assert_int_equal(chown(d, NOBODY, NOBODY), 0);
    expect_rc("dir check", mms_dir_check(d), MMS_EINSECURE);
    expect_rc("writer", writer_in(d, TMPL, NULL, 0), MMS_EINSECURE);
    assert_int_equal(count_entries(d), 0);
    /* Another owner's group alone is no reason to refuse. */
    assert_int_equal(chown(d, 0, NOBODY), 0);
    expect_rc("control: our dir, other group", mms_dir_check(d), 0);
    free(d);
}

static void test_missing_dir_is_created_0700(void **state)
{
    const char *base = *state;
    char *d = join(base, "new");
    char path[4096];
    /* With no umask, a mode of anything but 0700 would show. */
    mode_t old = umask(0);
    int rc = writer_in(d, TMPL, path, sizeof path);
    umask(old);
    expect_rc("writer in a missing dir", rc, 0);
    struct stat st;
    assert_int_equal(lstat(d, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, geteuid());
    free(d);
}

static void test_writer_file_is_private_with_one_link(void **state)
{
    const char *base = *state;
    char path[4096];
    mode_t old = umask(0);
    int rc = writer_in(base, TMPL, path, sizeof path);
    umask(old);
    expect_rc("writer", rc, 0);
    char *want = join(base, TMPL);
    assert_string_equal(path, want);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(st.st_uid, geteuid());
    /* Only the final file: no temporary left behind. */
    assert_int_equal(count_entries(base), 1);
    free(want);
}

/* ----------------------------------------------- symlinks in the way */

static void test_symlink_at_final_name_is_not_followed(void **state)
{
    const char *base = *state;
    char *stats = make_dir(base, "stats", 0700);
    char *other = make_dir(base, "other", 0700);
    char *target = join(other, "precious");
    write_text(target, "precious\n");
    char *planted = join(stats, "victim.mmstats");
    assert_int_equal(symlink(target, planted), 0);

    /* A template name steps aside to a suffixed name. */
    char path[4096];
    expect_rc("writer by template",
              writer_in(stats, "victim.mmstats", path, sizeof path), 0);
    char *want = join(stats, "victim-1.mmstats");
    assert_string_equal(path, want);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_nlink, 1);

    /* An exact path fails rather than replace or follow. */
    expect_rc("writer at the exact path", writer_at(planted), -EEXIST);

    assert_int_equal(lstat(planted, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    char buf[4096];
    ssize_t n = readlink(planted, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, target);
    assert_text(target, "precious\n");
    assert_int_equal(count_entries(other), 1);
    assert_int_equal(count_entries(stats), 2); /* symlink + victim-1 */
    free(stats);
    free(other);
    free(target);
    free(planted);
    free(want);
}

static void test_dangling_symlink_at_final_name_creates_nothing(void **state)
{
    const char *base = *state;
    char *stats = make_dir(base, "stats", 0700);
    char *other = make_dir(base, "other", 0700);
    char *target = join(other, "created-through-link");
    char *planted = join(stats, "victim.mmstats");
    assert_int_equal(symlink(target, planted), 0);
    char path[4096];
    expect_rc("writer by template",
              writer_in(stats, "victim.mmstats", path, sizeof path), 0);
    char *want = join(stats, "victim-1.mmstats");
    assert_string_equal(path, want);
    expect_rc("writer at the exact path", writer_at(planted), -EEXIST);
    struct stat st;
    assert_int_equal(lstat(target, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(count_entries(other), 0);
    free(stats);
    free(other);
    free(target);
    free(planted);
    free(want);
}

/* Temporaries are ".mmstats-<pid>-<seq>.tmp" with a per-process counter
 * starting at 0; plant every name this process can reach here. */
#define TMP_SEQ_SPAN 256

static void plant_tmp_links(const char *dir, const char *target, bool add)
{
    for (unsigned s = 0; s < TMP_SEQ_SPAN; s++) {
        char name[64];
        snprintf(name, sizeof name, ".mmstats-%ld-%u.tmp", (long)getpid(), s);
        char *p = join(dir, name);
        if (add && symlink(target, p) < 0)
            fail_msg("symlink %s: %s", p, strerror(errno));
        if (!add)
            unlink(p);
        free(p);
    }
}

static void test_symlink_at_temp_name_is_not_followed(void **state)
{
    const char *base = *state;
    char *stats = make_dir(base, "stats", 0700);
    char *other = make_dir(base, "other", 0700);
    char *target = join(other, "precious");
    char *absent = join(other, "absent");
    write_text(target, "precious\n");

    /* O_EXCL refuses the name, whatever the link points to; the writer
     * fails rather than write through it. */
    plant_tmp_links(stats, target, true);
    expect_rc("temp name links to a file", writer_in(stats, TMPL, NULL, 0),
              -EEXIST);
    plant_tmp_links(stats, NULL, false);
    plant_tmp_links(stats, absent, true);
    expect_rc("temp name links to nothing", writer_in(stats, TMPL, NULL, 0),
              -EEXIST);
    plant_tmp_links(stats, NULL, false);

    assert_text(target, "precious\n");
    assert_int_equal(count_entries(other), 1); /* "absent" not created */
    assert_int_equal(count_entries(stats), 0); /* nothing published */
    /* Control: with the links gone the same writer opens. */
    expect_rc("control", writer_in(stats, TMPL, NULL, 0), 0);
    free(stats);
    free(other);
    free(target);
    free(absent);
}

/* ------------------------------------------------ unprivileged writers */

/* Child exit codes of run_as_nobody. */
enum { CH_OK, CH_EACCES, CH_EINSECURE, CH_OTHER, CH_DROP_FAILED };

static int classify(int rc)
{
    return rc == 0               ? CH_OK
           : rc == -EACCES       ? CH_EACCES
           : rc == MMS_EINSECURE ? CH_EINSECURE
                                 : CH_OTHER;
}

/* Run FN(ARG) in a child that dropped to nobody (groups too); returns the
 * child's exit status, a CH_* code. */
static int run_as_nobody(int (*fn)(const char *), const char *arg)
{
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
            setuid(NOBODY) < 0 || geteuid() != NOBODY || getegid() != NOBODY)
            _exit(CH_DROP_FAILED);
        _exit(fn(arg));
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        fail_msg("waitpid: %s", strerror(errno));
    if (!WIFEXITED(st))
        fail_msg("child died (status %#x)", st);
    return WEXITSTATUS(st);
}

static int child_writer_in(const char *dir)
{
    return classify(writer_in(dir, TMPL, NULL, 0));
}

static int child_writer_at(const char *path)
{
    return classify(writer_at(path));
}

static int child_dir_check(const char *dir)
{
    return classify(mms_dir_check(dir));
}

static int child_can_search(const char *dir)
{
    return access(dir, X_OK) == 0 ? CH_OK : CH_EACCES;
}

/* Make BASE searchable by nobody; skip the test if that cannot work. */
static void open_base_to_nobody(const char *base)
{
    if (geteuid() != 0) {
        print_message("skipped: dropping to uid %u needs root\n", NOBODY);
        skip();
    }
    assert_int_equal(chmod(base, 0755), 0);
    if (run_as_nobody(child_can_search, base) != CH_OK) {
        print_message("skipped: nobody cannot reach %s\n", base);
        skip();
    }
}

static void expect_child(const char *what, int got, int want)
{
    static const char *names[] = {"ok", "-EACCES", "MMS_EINSECURE",
                                  "another error", "privilege drop failed"};
    if (got != want)
        fail_msg("%s: child got %s (%d), want %s", what,
                 got >= 0 && got <= CH_DROP_FAILED ? names[got] : "?", got,
                 names[want]);
}

static void test_unprivileged_writer_cannot_use_root_dirs(void **state)
{
    const char *base = *state;
    open_base_to_nobody(base);
    char *priv = make_dir(base, "root0700", 0700);
    char *pub = make_dir(base, "root0755", 0755);
    char *missing = join(base, "missing");
    char *exact = join(pub, "exact.mmstats");

    expect_child("writer in root's 0700 dir",
                 run_as_nobody(child_writer_in, priv), CH_EACCES);
    expect_child("writer in root's 0755 dir",
                 run_as_nobody(child_writer_in, pub), CH_EINSECURE);
    expect_child("writer at a path in root's 0755 dir",
                 run_as_nobody(child_writer_at, exact), CH_EINSECURE);
    expect_child("dir check of root's 0755 dir",
                 run_as_nobody(child_dir_check, pub), CH_EINSECURE);
    /* Creating the directory in root's 0755 dir is not allowed. */
    expect_child("writer in a missing dir under root's dir",
                 run_as_nobody(child_writer_in, missing), CH_EACCES);

    assert_int_equal(count_entries(priv), 0);
    assert_int_equal(count_entries(pub), 0);
    assert_int_equal(access(missing, F_OK), -1);
    free(priv);
    free(pub);
    free(missing);
    free(exact);
}

static void test_unprivileged_writer_works_in_its_own_dir(void **state)
{
    /* The control for the test above: the dropped child can succeed. */
    const char *base = *state;
    open_base_to_nobody(base);
    char *mine = make_dir(base, "mine", 0700);
    assert_int_equal(chown(mine, NOBODY, NOBODY), 0);
    expect_child("dir check of its own dir",
                 run_as_nobody(child_dir_check, mine), CH_OK);
    expect_child("writer in its own dir", run_as_nobody(child_writer_in, mine),
                 CH_OK);
    char *file = join(mine, TMPL);
    struct stat st;
    assert_int_equal(lstat(file, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_uid, NOBODY);
    assert_int_equal(st.st_gid, NOBODY);
    assert_int_equal(st.st_mode & 07777, 0600);
    free(mine);
    free(file);
}

/* ------------------------------------------------------ default dir */

struct env_save {
    char *dir; /* tu_mkdtemp */
    char *mmstats_dir, *xdg;
};

static char *dup_env(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void put_env(const char *name, const char *v)
{
    if (v)
        setenv(name, v, 1);
    else
        unsetenv(name);
}

static int env_setup(void **state)
{
    struct env_save *e = calloc(1, sizeof *e);
    if (!e || !(e->dir = tu_mkdtemp()))
        return -1;
    e->mmstats_dir = dup_env("MMSTATS_DIR");
    e->xdg = dup_env("XDG_RUNTIME_DIR");
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env_save *e = *state;
    put_env("MMSTATS_DIR", e->mmstats_dir);
    put_env("XDG_RUNTIME_DIR", e->xdg);
    tu_rmdir(e->dir);
    free(e->dir);
    free(e->mmstats_dir);
    free(e->xdg);
    free(e);
    return 0;
}

static const char *fallback_dir(void)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "/tmp/mmstats-%lu", (unsigned long)geteuid());
    return buf;
}

static void expect_default(const char *what, const char *want)
{
    char buf[4096];
    int rc = mms_default_dir(buf, sizeof buf);
    if (rc != 0)
        fail_msg("%s: mms_default_dir gave %d", what, rc);
    if (strcmp(buf, want))
        fail_msg("%s: got \"%s\", want \"%s\"", what, buf, want);
}

static void test_default_dir_is_MMSTATS_DIR_when_set(void **state)
{
    struct env_save *e = *state;
    setenv("XDG_RUNTIME_DIR", e->dir, 1);
    setenv("MMSTATS_DIR", "/somewhere/stats", 1);
    expect_default("MMSTATS_DIR set", "/somewhere/stats");
    /* Set but empty counts as unset. */
    setenv("MMSTATS_DIR", "", 1);
    char *want = join(e->dir, "mmstats");
    expect_default("MMSTATS_DIR empty", want);
    free(want);
}

static void test_default_dir_uses_our_private_XDG_RUNTIME_DIR(void **state)
{
    struct env_save *e = *state;
    unsetenv("MMSTATS_DIR");
    setenv("XDG_RUNTIME_DIR", e->dir, 1); /* 0700, ours */
    char *want = join(e->dir, "mmstats");
    expect_default("private XDG_RUNTIME_DIR", want);
    /* Not writable by others is enough: 0755 is fine. */
    assert_int_equal(chmod(e->dir, 0755), 0);
    expect_default("0755 XDG_RUNTIME_DIR", want);
    free(want);
}

static void
test_default_dir_falls_back_from_unsafe_XDG_RUNTIME_DIR(void **state)
{
    struct env_save *e = *state;
    unsetenv("MMSTATS_DIR");
    char *ww = make_dir(e->dir, "ww", 0777);
    char *gw = make_dir(e->dir, "gw", 0770);
    char *good = make_dir(e->dir, "good", 0700);
    char *link = join(e->dir, "link");
    assert_int_equal(symlink(good, link), 0);
    char *missing = join(e->dir, "missing");
    char *file = join(e->dir, "file");
    write_text(file, "x");
    const char *bad[] = {ww, gw, link, missing, file, "relative/run", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("XDG_RUNTIME_DIR", bad[i], 1);
        expect_default(bad[i], fallback_dir());
    }
    unsetenv("XDG_RUNTIME_DIR");
    expect_default("XDG_RUNTIME_DIR unset", fallback_dir());
    if (geteuid() == 0) {
        assert_int_equal(chown(good, NOBODY, NOBODY), 0);
        setenv("XDG_RUNTIME_DIR", good, 1);
        expect_default("XDG_RUNTIME_DIR of another user", fallback_dir());
    }
    free(ww);
    free(gw);
    free(good);
    free(link);
    free(missing);
    free(file);
}

static void test_default_dir_reports_a_short_buffer(void **state)
{
    (void)state;
    setenv("MMSTATS_DIR", "/a/rather/long/stats/directory", 1);
    char buf[8];
    assert_int_equal(mms_default_dir(buf, sizeof buf), -ENAMETOOLONG);
    char fit[sizeof "/a/rather/long/stats/directory"];
    assert_int_equal(mms_default_dir(fit, sizeof fit), 0);
    assert_string_equal(fit, "/a/rather/long/stats/directory");
}

static void test_writer_without_dir_writes_to_MMSTATS_DIR(void **state)
{
    struct env_save *e = *state;
    char *d = join(e->dir, "from-env");
    setenv("MMSTATS_DIR", d, 1);
    struct mms_writer_options o;
    small_options(&o);
    o.flags = MMS_W_NO_ATEXIT; /* the environment is the point */
    o.file_template = TMPL;
    o.label = "";
    mms_writer *w;
    expect_rc("writer", mms_writer_open(&w, &o), 0);
    char *want = join(d, TMPL);
    assert_string_equal(mms_writer_path(w), want);
    mms_writer_close(w);
    struct stat st;
    assert_int_equal(lstat(d, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    free(d);
    free(want);
}

/* Issue 14.5: a symlink given with a trailing slash is still a symlink. */
static void test_symlinked_dir_with_trailing_slash_is_einsecure(void **state)
{
    const char *base = *state;
    char *real = make_dir(base, "real", 0700);
    char *link = join(base, "link");
    assert_int_equal(symlink(real, link), 0);
    char *slash = join(link, "");
    char *slashes = join(slash, "/");
    expect_rc("dir check, link/", mms_dir_check(slash), MMS_EINSECURE);
    expect_rc("writer in link/", writer_in(slash, TMPL, NULL, 0),
              MMS_EINSECURE);
    expect_rc("writer in link//", writer_in(slashes, TMPL, NULL, 0),
              MMS_EINSECURE);
    assert_int_equal(count_entries(real), 0);
    /* A real directory with a trailing slash is fine. */
    char *rs = join(real, "");
    expect_rc("writer in real/", writer_in(rs, TMPL, NULL, 0), 0);
    assert_int_equal(count_entries(real), 1);
    free(real);
    free(link);
    free(slash);
    free(slashes);
    free(rs);
}

/* Issue 14.4: a writer given a relative directory; the process changes
 * directory and forks: the child's file goes to the directory the parent
 * resolved, and nothing is created where the relative path now leads. */
static void test_fork_after_chdir_uses_the_resolved_dir(void **state)
{
    const char *base = *state;
    char *a = make_dir(base, "a", 0700);
    char *b = make_dir(base, "b", 0700);
    char *old = getcwd(NULL, 0);
    assert_int_equal(chdir(a), 0);
    struct mms_writer_options o;
    small_options(&o);
    o.dir = "stats";
    o.file_template = "w-{pid}.mmstats";
    mms_writer *w;
    assert_int_equal(mms_writer_open(&w, &o), 0);
    assert_int_equal(mms_writer_path(w)[0], '/');
    assert_int_equal(chdir(b), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0); /* the child's file is made by the fork handler */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(chdir(old), 0);
    mms_writer_close(w);
    char *stats = join(a, "stats");
    assert_int_equal(count_entries(stats), 2); /* parent's and child's */
    assert_int_equal(count_entries(b), 0);     /* no b/stats */
    free(a);
    free(b);
    free(old);
    free(stats);
}

/* Issue 14.4: after chroot, the directory's path leads elsewhere (or
 * nowhere): a forked child stops recording instead of writing there. */
static void test_fork_after_chroot_writes_nothing(void **state)
{
    const char *base = *state;
    if (geteuid() != 0)
        skip();
    char *stats = make_dir(base, "stats", 0700);
    char *jail = make_dir(base, "jail", 0700);
    /* The same path inside the jail exists and is a fine directory. */
    char inner[4096];
    snprintf(inner, sizeof inner, "%s%s", jail, stats);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s'", inner);
    assert_int_equal(system(cmd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mms_writer_options o;
        small_options(&o);
        o.dir = stats;
        mms_writer *w;
        if (mms_writer_open(&w, &o) < 0 || chroot(jail) < 0 || chdir("/") < 0)
            _exit(1);
        mms_field *c;
        mms_counter_new(w, "c", NULL, &c);
        pid_t kid = fork();
        if (kid == 0) {
            mms_counter_inc(c); /* private memory: harmless */
            _exit(mms_writer_path(w)[0] == '\0' ? 0 : 3);
        }
        int st;
        waitpid(kid, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 4);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_entries(inner), 0); /* nothing in the jail */
    assert_int_equal(count_entries(stats), 1); /* the parent's file */
    free(stats);
    free(jail);
}

/* Issue 14.8: a filesystem too full for a new file: -ENOSPC, and nothing
 * is left behind. */
static void test_full_disk_at_creation_leaves_nothing(void **state)
{
    const char *base = *state;
    if (geteuid() != 0)
        skip();
    char *mnt = make_dir(base, "mnt", 0700);
    char cmd[4200];
    snprintf(cmd, sizeof cmd,
             "mount -t tmpfs -o size=8k,mode=0700 none '%s' 2>/dev/null", mnt);
    if (system(cmd) != 0) {
        free(mnt);
        skip();
    }
    expect_rc("writer on a full tmpfs", writer_in(mnt, TMPL, NULL, 0), -ENOSPC);
    assert_int_equal(count_entries(mnt), 0);
    snprintf(cmd, sizeof cmd, "umount '%s'", mnt);
    assert_int_equal(system(cmd), 0);
    free(mnt);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)
#define ENV_TEST(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DIR_TEST(test_dir_check_accepts_our_private_dirs),
        DIR_TEST(test_dir_check_rejects_bad_arguments),
        DIR_TEST(test_symlinked_stats_dir_is_einsecure),
        DIR_TEST(test_group_or_world_writable_dir_is_einsecure),
        DIR_TEST(test_dir_owned_by_another_uid_is_einsecure),
        DIR_TEST(test_missing_dir_is_created_0700),
        DIR_TEST(test_writer_file_is_private_with_one_link),
        DIR_TEST(test_symlink_at_final_name_is_not_followed),
        DIR_TEST(test_dangling_symlink_at_final_name_creates_nothing),
        DIR_TEST(test_symlink_at_temp_name_is_not_followed),
        DIR_TEST(test_unprivileged_writer_cannot_use_root_dirs),
        DIR_TEST(test_unprivileged_writer_works_in_its_own_dir),
        DIR_TEST(test_symlinked_dir_with_trailing_slash_is_einsecure),
        DIR_TEST(test_fork_after_chdir_uses_the_resolved_dir),
        DIR_TEST(test_fork_after_chroot_writes_nothing),
        DIR_TEST(test_full_disk_at_creation_leaves_nothing),
        ENV_TEST(test_default_dir_is_MMSTATS_DIR_when_set),
        ENV_TEST(test_default_dir_uses_our_private_XDG_RUNTIME_DIR),
        ENV_TEST(test_default_dir_falls_back_from_unsafe_XDG_RUNTIME_DIR),
        ENV_TEST(test_default_dir_reports_a_short_buffer),
        ENV_TEST(test_writer_without_dir_writes_to_MMSTATS_DIR),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
