/* The writer's identity in the header (pid namespace, NSpid, boot id,
 * cgroup) and liveness from it (docs/format.md section 14): a reboot
 * makes a file dead, a foreign namespace nobody is in is dead from the
 * initial namespace and unknown from any other, a recycled pid is
 * PID_REUSED. Also the rollup fields a reader shows. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define INIT_PIDNS_INO 0xEFFFFFFCu

static void test_header_records_identity(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "i.mmstats", NULL);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(fx->r, &pi), 0);
    struct stat st;
    assert_int_equal(stat("/proc/self/ns/pid", &st), 0);
    assert_int_equal(pi.pidns_dev, (uint64_t)st.st_dev);
    assert_int_equal(pi.pidns_ino, (uint64_t)st.st_ino);
    assert_true(pi.nspid_count >= 1 && pi.nspid_count <= MMS_NSPID_MAX);
    assert_int_equal(pi.nspid[pi.nspid_count - 1], getpid());
    /* The boot id, as the kernel says it. */
    char text[64] = "";
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
    assert_true(fd >= 0);
    assert_true(read(fd, text, sizeof text - 1) >= 36);
    close(fd);
    char hex[33];
    snprintf(hex, sizeof hex,
             "%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x"
             "%02x",
             pi.boot_id[0], pi.boot_id[1], pi.boot_id[2], pi.boot_id[3],
             pi.boot_id[4], pi.boot_id[5], pi.boot_id[6], pi.boot_id[7],
             pi.boot_id[8], pi.boot_id[9], pi.boot_id[10], pi.boot_id[11],
             pi.boot_id[12], pi.boot_id[13], pi.boot_id[14], pi.boot_id[15]);
    char want[33];
    size_t k = 0;
    for (size_t i = 0; text[i] && k < 32; i++)
        if (text[i] != '-' && text[i] != '\n')
            want[k++] = text[i];
    want[k] = '\0';
    assert_string_equal(hex, want);
    /* The cgroup line's path. */
    char cg[4096] = "";
    fd = open("/proc/self/cgroup", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, cg, sizeof cg - 1);
        close(fd);
        cg[n > 0 ? n : 0] = '\0';
        char *p = strstr(cg, "0::");
        if (p) {
            p += 3;
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            assert_string_equal(pi.cgroup, p);
        }
    }
    assert_int_equal(pi.flags, 0);
    assert_int_equal(pi.fold_procs, 0);
    /* A process's file names the group it folds into: by default its
     * program (docs/format.md section 15). */
    assert_string_equal(pi.group, pi.exe);
    assert_int_equal(mms_reader_liveness(fx->r), MMS_LIVE_RUNNING);
}

/* Copy the writer's file with WHAT changed in the header; the reader's
 * liveness of the copy. */
static int liveness_of_copy(struct tu_fx *fx, void (*what)(void *h))
{
    char path[4096];
    snprintf(path, sizeof path, "%s/copy.mmstats", fx->dir);
    int in = open(mms_writer_path(fx->w), O_RDONLY);
    struct stat st;
    assert_int_equal(fstat(in, &st), 0);
    uint8_t *buf = malloc((size_t)st.st_size);
    assert_int_equal(read(in, buf, (size_t)st.st_size), st.st_size);
    close(in);
    what(buf);
    unlink(path);
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_int_equal(write(out, buf, (size_t)st.st_size), st.st_size);
    close(out);
    free(buf);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    int live = mms_reader_liveness(r);
    mms_reader_close(r);
    return live;
}

static void other_boot(void *h)
{
    ((struct mms_file_header *)h)->boot_id[3] ^= 0xff;
}

static void no_boot(void *h)
{
    memset(((struct mms_file_header *)h)->boot_id, 0, 16);
}

static void foreign_ns(void *h)
{
    ((struct mms_file_header *)h)->pidns_ino = 12345; /* nobody's */
}

static void unknown_ns(void *h)
{
    ((struct mms_file_header *)h)->pidns_ino = 0;
}

static void other_start(void *h)
{
    ((struct mms_file_header *)h)->start_ticks += 1;
}

static void finished(void *h)
{
    ((struct mms_file_header *)h)->p.state = MMS_STATE_FOLDING;
}

static void test_liveness_from_identity(void **state)
{
    struct tu_fx *fx = *state;
    fx->w = tu_writer(fx->dir, "i.mmstats", NULL);
    assert_int_equal(liveness_of_copy(fx, other_boot), MMS_LIVE_DEAD);
    assert_int_equal(liveness_of_copy(fx, no_boot), MMS_LIVE_RUNNING);
    assert_int_equal(liveness_of_copy(fx, unknown_ns), MMS_LIVE_RUNNING);
    assert_int_equal(liveness_of_copy(fx, other_start), MMS_LIVE_PID_REUSED);
    assert_int_equal(liveness_of_copy(fx, finished), MMS_LIVE_FINISHED);
    /* A namespace nobody is in: dead if this reader sees every process
     * (the initial namespace), else it cannot tell. */
    struct stat st;
    assert_int_equal(stat("/proc/self/ns/pid", &st), 0);
    int want = st.st_ino == INIT_PIDNS_INO ? MMS_LIVE_DEAD : MMS_LIVE_UNKNOWN;
    assert_int_equal(liveness_of_copy(fx, foreign_ns), want);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_header_records_identity),
        T(test_liveness_from_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
