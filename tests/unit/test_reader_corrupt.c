/* Reader vs hostile files: exact error codes, fuzzing, unsafe file refusal. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define NOBODY 65534u

/* Fields of the reference file, in the order they are added: the
 * descriptor index of each. */
enum {
    F_REQ,   /* counter, with units and a long help text */
    F_ERR,   /* counter */
    F_CONN,  /* gauge */
    F_LOAD,  /* f64 gauge */
    F_STATE, /* string */
    F_LAT,   /* histogram with a per-second window */
    F_RATE,  /* counter with a per-second window */
    F_POS,   /* struct of three members */
    F_AVG,   /* moving average */
    F_COUNT
};

#define STATE_CAP 16 /* capacity of app.state */
#define LAT_BITS 2
#define LAT_MAX_EXP 8
#define LAT_WIN_BITS 1
#define AVG_N 4

static const struct mms_member pos_members[] = {
    {"x", MMS_MEMBER_U64}, {"dy", MMS_MEMBER_I64}, {"ratio", MMS_MEMBER_F64}};

/* Long enough that the string table holds more than MMS_HELP_MAX + 1
 * bytes: over-long units, help and names can then be tested in bounds. */
static const char req_help[] =
    "Requests served since the process started, counted per thread in "
    "private shards and summed by readers over every shard ever handed "
    "out; rare in practice, but legal, and it pushes the used part of "
    "the string table past the longest allowed lengths.";

struct fixture {
    char *dir;
    uint8_t *valid; /* the reference file as the writer left it */
    uint8_t *work;  /* a copy to damage */
    size_t size;
    unsigned seq; /* variant file counter */
};
static struct fixture fx;

static const struct mms_file_header *vh(void)
{
    return (const struct mms_file_header *)fx.valid;
}

static struct mms_file_header *wh(void)
{
    return (struct mms_file_header *)fx.work;
}

static struct mms_desc *wd(unsigned i)
{
    return (struct mms_desc *)(fx.work + vh()->desc_off +
                               (size_t)i * MMS_DESC_SIZE);
}

/* Bytes of field I's name in the work copy's string table. */
static uint8_t *wname(unsigned i)
{
    return fx.work + vh()->str_off + wd(i)->name_off;
}

static uint8_t *wvalue(unsigned i)
{
    return fx.work + wd(i)->value_off;
}

static struct mms_hist_param *whp(unsigned i)
{
    return (struct mms_hist_param *)wd(i)->param;
}

static struct mms_struct_param *wsp(unsigned i)
{
    return (struct mms_struct_param *)wd(i)->param;
}

static struct mms_movavg_param *wmp(unsigned i)
{
    return (struct mms_movavg_param *)wd(i)->param;
}

static void reset(void)
{
    memcpy(fx.work, fx.valid, fx.size);
}

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -errno;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len);
    size_t got = 0;
    while (*buf && got < *len) {
        ssize_t n = read(fd, *buf + got, *len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return *buf && got == *len ? 0 : -EIO;
}

/* Write LEN bytes of BUF to a new private file in the fixture dir. */
static void write_variant(const uint8_t *buf, size_t len, char *path,
                          size_t plen)
{
    snprintf(path, plen, "%s/variant-%u.mmstats", fx.dir, fx.seq++);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("create %s: %s", path, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n <= 0)
            fail_msg("write %s: %s", path, strerror(errno));
        off += (size_t)n;
    }
    close(fd);
}

/* Open the first LEN bytes of the work copy as a file; returns the code
 * and, on success, the reader in *OUT. */
static int open_work(size_t len, mms_reader **out)
{
    char path[4096];
    write_variant(fx.work, len, path, sizeof path);
    int rc = mms_reader_open(out, path);
    unlink(path); /* the mapping, if any, outlives the name */
    return rc;
}

static void expect_len(const char *what, size_t len, int want)
{
    mms_reader *r = NULL;
    int rc = open_work(len, &r);
    if (rc == 0) {
        /* An accepted file must also be snapshot-able. */
        mms_snapshot *s = NULL;
        int src = mms_snapshot_take(r, &s);
        mms_snapshot_free(s);
        mms_reader_close(r);
        if (src < 0)
            fail_msg("%s: opened but snapshot failed: %s", what,
                     mms_strerror(src));
    } else if (r) {
        fail_msg("%s: error %d but a reader was returned", what, rc);
    }
    if (rc != want)
        fail_msg("%s: mms_reader_open gave %d (%s), want %d (%s)", what, rc,
                 mms_strerror(rc), want, mms_strerror(want));
}

static void expect(const char *what, int want)
{
    expect_len(what, fx.size, want);
}

/* Set one header field of a fresh copy and expect WANT. */
#define HDR(field, val, want)                                                  \
    do {                                                                       \
        reset();                                                               \
        wh()->field = (val);                                                   \
        expect(#field " = " #val, (want));                                     \
    } while (0)

/* Set one field of descriptor I in a fresh copy and expect WANT. */
#define DESC(i, field, val, want)                                              \
    do {                                                                       \
        reset();                                                               \
        wd(i)->field = (val);                                                  \
        expect("desc " #i " " #field " = " #val, (want));                      \
    } while (0)

/* A step of the group setup: report what failed, since cmocka only says
 * that the setup did. */
static bool setup_ok(int rc, const char *what)
{
    if (rc < 0)
        print_error("group setup: %s: %s\n", what, mms_strerror(rc));
    return rc >= 0;
}

static int group_setup(void **state)
{
    (void)state;
    fx.dir = tu_mkdtemp();
    if (!fx.dir)
        return -1;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.max_fields = 16;
    o.string_bytes = 1024;
    o.global_bytes = 1024;
    o.shard_bytes = 16384;
    o.max_shards = 4;
    mms_writer *w = tu_writer(fx.dir, "ref.mmstats", &o);
    mms_field *f[F_COUNT];
    struct mms_field_spec req = {.name = "http.requests",
                                 .kind = MMS_KIND_COUNTER,
                                 .units = "req",
                                 .help = req_help};
    struct mms_field_spec lat = {.name = "io.latency",
                                 .kind = MMS_KIND_HISTOGRAM,
                                 .units = "us",
                                 .flags = MMS_DF_WINDOW,
                                 .hist_bits = LAT_BITS,
                                 .hist_max_exp = LAT_MAX_EXP,
                                 .window_bits = LAT_WIN_BITS};
    struct mms_field_spec rate = {
        .name = "io.ops", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_WINDOW};
    if (!setup_ok(mms_field_add(w, &req, &f[F_REQ]), "http.requests") ||
        !setup_ok(mms_counter_new(w, "http.errors", NULL, &f[F_ERR]),
                  "http.errors") ||
        !setup_ok(mms_gauge_new(w, "net.connections", "conns", &f[F_CONN]),
                  "net.connections") ||
        !setup_ok(mms_gauge_f64_new(w, "cpu.load", NULL, &f[F_LOAD]),
                  "cpu.load") ||
        !setup_ok(mms_string_new(w, "app.state", STATE_CAP, &f[F_STATE]),
                  "app.state") ||
        !setup_ok(mms_field_add(w, &lat, &f[F_LAT]), "io.latency") ||
        !setup_ok(mms_field_add(w, &rate, &f[F_RATE]), "io.ops") ||
        !setup_ok(mms_struct_new(w, "robot.pos", pos_members, 3, &f[F_POS]),
                  "robot.pos") ||
        !setup_ok(mms_movavg_new(w, "io.avg", "ms", AVG_N, &f[F_AVG]),
                  "io.avg"))
        return -1;
    mms_counter_add(f[F_REQ], 1234);
    for (int i = 0; i < 7; i++)
        mms_counter_inc(f[F_ERR]);
    mms_gauge_set(f[F_CONN], -42);
    mms_gauge_set_f64(f[F_LOAD], 0.75);
    mms_string_set(f[F_STATE], "running");
    mms_hist_record(f[F_LAT], 5);
    mms_hist_record(f[F_LAT], 100);
    mms_hist_record(f[F_LAT], 1000); /* >= 2^LAT_MAX_EXP: overflow */
    mms_counter_add(f[F_RATE], 3);
    const uint64_t pos[3] = {7, (uint64_t)-3, 0x3ff8000000000000ull};
    mms_struct_set(f[F_POS], pos); /* ratio = 1.5 */
    for (int i = 1; i <= 5; i++)
        mms_movavg_add(f[F_AVG], i);
    char path[4096];
    snprintf(path, sizeof path, "%s", mms_writer_path(w));
    if (!setup_ok(mms_writer_close(w), "mms_writer_close") ||
        !setup_ok(read_all(path, &fx.valid, &fx.size), path))
        return -1;
    fx.work = malloc(fx.size);
    return fx.work ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_rmdir(fx.dir);
    free(fx.dir);
    free(fx.valid);
    free(fx.work);
    return 0;
}

/* ------------------------------------------------------- the control */

static void test_unmodified_copy_opens_with_exact_values(void **state)
{
    (void)state;
    reset();
    mms_reader *r;
    assert_int_equal(open_work(fx.size, &r), 0);
    assert_int_equal(mms_reader_nfields(r), F_COUNT);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_int_equal(pi.major, MMS_VERSION_MAJOR);
    assert_int_equal(pi.minor, MMS_VERSION_MINOR);
    assert_int_equal(pi.state, MMS_STATE_FINISHED);
    assert_int_equal(pi.pid, getpid());
    assert_int_equal(pi.file_size, fx.size);

    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(mms_snapshot_nfields(s), F_COUNT);
    const struct mms_field_info *fi = mms_snapshot_field(s, F_REQ);
    assert_string_equal(fi->name, "http.requests");
    assert_string_equal(fi->units, "req");
    assert_string_equal(fi->help, req_help);
    assert_int_equal(fi->kind, MMS_KIND_COUNTER);
    assert_true(fi->flags & MMS_DF_SHARDED);
    assert_int_equal(mms_snapshot_value(s, F_REQ)->v.u64, 1234);
    assert_int_equal(mms_snapshot_value(s, F_ERR)->v.u64, 7);
    assert_string_equal(mms_snapshot_field(s, F_ERR)->units, "");
    assert_int_equal(mms_snapshot_value(s, F_CONN)->v.i64, -42);
    assert_true(mms_snapshot_value(s, F_LOAD)->v.f64 == 0.75);
    const struct mms_value *v = mms_snapshot_value(s, F_STATE);
    assert_int_equal(v->status, 0);
    assert_int_equal(v->v.str.len, 7);
    assert_string_equal(v->v.str.ptr, "running");

    fi = mms_snapshot_field(s, F_LAT);
    assert_int_equal(fi->kind, MMS_KIND_HISTOGRAM);
    assert_int_equal(fi->hist_bits, LAT_BITS);
    assert_int_equal(fi->hist_max_exp, LAT_MAX_EXP);
    assert_int_equal(fi->window_bits, LAT_WIN_BITS);
    const struct mms_hist *hist = mms_snapshot_value(s, F_LAT)->v.hist;
    assert_non_null(hist);
    assert_int_equal(hist->count, 3);
    assert_int_equal(hist->sum, 1105);
    assert_int_equal(hist->min, 5);
    assert_int_equal(hist->max, 1000);
    assert_int_equal(hist->buckets[hist->nbuckets - 1], 1);
    assert_int_equal(mms_snapshot_value(s, F_RATE)->v.u64, 3);
    v = mms_snapshot_value(s, F_POS);
    assert_int_equal(v->status, 0);
    assert_int_equal(v->v.st.n, 3);
    assert_string_equal(v->v.st.m[1].name, "dy");
    assert_int_equal(v->v.st.m[0].v.u64, 7);
    assert_int_equal(v->v.st.m[1].v.i64, -3);
    assert_true(v->v.st.m[2].v.f64 == 1.5);
    v = mms_snapshot_value(s, F_AVG);
    assert_int_equal(v->status, 0);
    assert_int_equal(v->v.avg.count, 5);
    assert_int_equal(v->v.avg.window, AVG_N);
    assert_true(v->v.avg.mean == 3.5);
    assert_true(v->v.avg.last == 5.0);
    mms_snapshot_free(s);
    mms_reader_close(r);

    /* Preconditions the other tests rely on. */
    assert_int_equal(vh()->desc_count, F_COUNT);
    assert_true(vh()->str_used >= 300);
    assert_int_equal(vh()->shard_cap, 4);
    assert_int_equal(wd(F_STATE)->value_size,
                     sizeof(struct mms_string_cell) + STATE_CAP);
}

static void test_file_without_fields_snapshots_empty(void **state)
{
    (void)state;
    /* A live writer that has not added a field yet. */
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.max_fields = 4;
    o.string_bytes = 64;
    o.global_bytes = 64;
    o.shard_bytes = 4096;
    o.max_shards = 2;
    o.flags = MMS_W_REMOVE_AT_CLOSE | MMS_W_NO_ATEXIT;
    mms_writer *w = tu_writer(fx.dir, "empty.mmstats", &o);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(w)), 0);
    assert_int_equal(mms_reader_nfields(r), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(mms_snapshot_nfields(s), 0);
    assert_int_equal(mms_snapshot_find(s, "x"), -1);
    assert_null(mms_snapshot_value(s, 0));
    mms_snapshot_free(s);
    mms_reader_close(r);
    mms_writer_close(w);
    /* And a damaged file that claims no descriptors. */
    HDR(desc_count, 0u, 0);
}

/* --------------------------------------------------- the fixed prefix */

static void test_empty_and_short_files_are_etruncated(void **state)
{
    (void)state;
    reset();
    expect_len("empty file", 0, MMS_ETRUNCATED);
    expect_len("1 byte", 1, MMS_ETRUNCATED);
    expect_len("prefix only", sizeof(struct mms_file_prefix), MMS_ETRUNCATED);
    expect_len("header struct only", sizeof(struct mms_file_header),
               MMS_ETRUNCATED);
    expect_len("one byte short of MMS_HEADER_SIZE", MMS_HEADER_SIZE - 1,
               MMS_ETRUNCATED);
    /* Long enough for a header, shorter than the header says. */
    expect_len("last page cut off", fx.size - 4096, MMS_ETRUNCATED);
    expect_len("header page only", MMS_HEADER_SIZE, MMS_ETRUNCATED);
}

static void test_bad_magic_is_eformat(void **state)
{
    (void)state;
    reset();
    fx.work[0] = 'X';
    expect("magic[0] = X", MMS_EFORMAT);
    reset();
    fx.work[MMS_MAGIC_LEN - 1] = '!'; /* the NUL is part of the magic */
    expect("magic NUL = !", MMS_EFORMAT);
    memset(fx.work, 0, fx.size);
    expect("all zeros", MMS_EFORMAT);
}

static void test_swapped_endian_mark_is_eendian(void **state)
{
    (void)state;
    HDR(p.endian, __builtin_bswap32(MMS_ENDIAN_MARK), MMS_EENDIAN);
}

static void test_other_endian_values_are_eformat(void **state)
{
    (void)state;
    HDR(p.endian, 0u, MMS_EFORMAT);
    HDR(p.endian, MMS_ENDIAN_MARK + 1, MMS_EFORMAT);
    HDR(p.endian, 0xffffffffu, MMS_EFORMAT);
}

static void test_other_major_versions_are_eversion(void **state)
{
    (void)state;
    HDR(p.major, 3, MMS_EVERSION);
    HDR(p.major, 1, MMS_EVERSION);
    HDR(p.major, 0, MMS_EVERSION);
    HDR(p.major, 0xffff, MMS_EVERSION);
}

static void test_unknown_minor_version_opens(void **state)
{
    (void)state;
    reset();
    wh()->p.minor = 999;
    mms_reader *r;
    assert_int_equal(open_work(fx.size, &r), 0);
    struct mms_proc_info pi;
    assert_int_equal(mms_reader_info(r, &pi), 0);
    assert_int_equal(pi.minor, 999);
    assert_int_equal(mms_reader_nfields(r), F_COUNT);
    assert_int_equal(tu_counter(r, "http.requests"), 1234);
    assert_int_equal(tu_gauge(r, "net.connections"), -42);
    mms_reader_close(r);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_state_stuck_in_init_is_eagain_after_bounded_wait(void **state)
{
    (void)state;
    int64_t t0 = mono_ms();
    HDR(p.state, (uint32_t)MMS_STATE_INIT, -EAGAIN);
    HDR(p.state, 0u, -EAGAIN);
    /* Two waits, each bounded; generous for slow sanitizer builds. */
    assert_in_range(mono_ms() - t0, 0, 10000);
}

static void test_unknown_state_is_ecorrupt(void **state)
{
    (void)state;
    HDR(p.state, 99u, MMS_ECORRUPT);
    HDR(p.state, (uint32_t)MMS_STATE_FINISHED + 1, MMS_ECORRUPT);
    HDR(p.state, 0xffffffffu, MMS_ECORRUPT);
    HDR(p.state, (uint32_t)MMS_STATE_READY, 0); /* a running writer */
}

/* ------------------------------------------------------------ geometry */

static void test_header_size_out_of_range_is_ecorrupt(void **state)
{
    (void)state;
    HDR(p.header_size, 0u, MMS_ECORRUPT);
    HDR(p.header_size, (uint32_t)sizeof(struct mms_file_header) - 1,
        MMS_ECORRUPT);
    HDR(p.header_size, (uint32_t)fx.size + 1, MMS_ECORRUPT);
    HDR(p.header_size, 0xffffffffu, MMS_ECORRUPT);
    /* Larger than the real header: overlaps the descriptor table. */
    HDR(p.header_size, vh()->desc_off + 8, MMS_ECORRUPT);
    /* Any size from our struct up to the first section is acceptable. */
    HDR(p.header_size, (uint32_t)sizeof(struct mms_file_header), 0);
    HDR(p.header_size, vh()->desc_off, 0);
}

static void test_file_size_beyond_real_file_is_etruncated(void **state)
{
    (void)state;
    HDR(file_size, fx.size + 1, MMS_ETRUNCATED);
    HDR(file_size, fx.size + 4096, MMS_ETRUNCATED);
    HDR(file_size, UINT64_MAX, MMS_ETRUNCATED);
    /* Smaller than the header it contains. */
    HDR(file_size, 100u, MMS_ECORRUPT);
    /* Smaller than the sections it is said to contain. */
    HDR(file_size, fx.size - 4096, MMS_ECORRUPT);
}

static void test_descriptor_table_geometry_is_checked(void **state)
{
    (void)state;
    uint32_t n = (uint32_t)fx.size;
    HDR(desc_off, n, MMS_ECORRUPT);
    HDR(desc_off, n - 8, MMS_ECORRUPT);
    HDR(desc_off, 0xfffffff8u, MMS_ECORRUPT);
    HDR(desc_cap, 0xffffffffu, MMS_ECORRUPT);
    HDR(desc_cap, n / MMS_DESC_SIZE, MMS_ECORRUPT);
    HDR(desc_size, 0u, MMS_ECORRUPT);
    HDR(desc_size, MMS_DESC_SIZE - 8, MMS_ECORRUPT);
    HDR(desc_size, 0xfffffff8u, MMS_ECORRUPT);
    /* 2^20 slots of 4096 bytes: 2^32, which is 0 in 32-bit arithmetic. */
    reset();
    wh()->desc_cap = 1u << 20;
    wh()->desc_size = 4096;
    expect("desc_cap * desc_size == 2^32", MMS_ECORRUPT);
    /* Offset plus table wrapping around 2^32. */
    reset();
    wh()->desc_off = 0u - 512;
    wh()->desc_cap = 16;
    expect("desc_off + table wraps 2^32", MMS_ECORRUPT);
}

static void test_string_table_geometry_is_checked(void **state)
{
    (void)state;
    uint32_t n = (uint32_t)fx.size;
    HDR(str_off, n, MMS_ECORRUPT);
    HDR(str_off, n - vh()->str_cap + 1, MMS_ECORRUPT);
    HDR(str_off, 0xffffffffu, MMS_ECORRUPT);
    HDR(str_cap, n, MMS_ECORRUPT);
    HDR(str_cap, 0xffffffffu, MMS_ECORRUPT);
    reset();
    wh()->str_off = 0xfffffc00u;
    wh()->str_cap = 0x400u;
    expect("str_off + str_cap == 2^32", MMS_ECORRUPT);
}

static void test_global_area_geometry_is_checked(void **state)
{
    (void)state;
    uint32_t n = (uint32_t)fx.size;
    HDR(glob_off, n, MMS_ECORRUPT);
    HDR(glob_off, 0xfffffff8u, MMS_ECORRUPT);
    HDR(glob_cap, n, MMS_ECORRUPT);
    HDR(glob_cap, 0xfffffff8u, MMS_ECORRUPT);
    reset();
    wh()->glob_off = 0xfffffff8u;
    wh()->glob_cap = 8;
    expect("glob_off + glob_cap == 2^32", MMS_ECORRUPT);
}

static void test_shard_table_geometry_is_checked(void **state)
{
    (void)state;
    uint32_t n = (uint32_t)fx.size;
    HDR(shtab_off, n, MMS_ECORRUPT);
    HDR(shtab_off, n - 4, MMS_ECORRUPT); /* 4 entries, room for 1 */
    HDR(shtab_off, 0xfffffffcu, MMS_ECORRUPT);
}

static void test_shard_area_geometry_is_checked(void **state)
{
    (void)state;
    HDR(shard_off, fx.size, MMS_ECORRUPT);
    HDR(shard_off, (uint64_t)1 << 32, MMS_ECORRUPT);
    HDR(shard_off, UINT64_MAX - 63, MMS_ECORRUPT); /* wraps 2^64 */
    HDR(shard_size, 0u, MMS_ECORRUPT);
    HDR(shard_size, 0xffffffc0u, MMS_ECORRUPT);
    HDR(shard_size, vh()->shard_size * 2, MMS_ECORRUPT);
    HDR(shard_cap, 0u, MMS_ECORRUPT);
    HDR(shard_cap, 5u, MMS_ECORRUPT);
    HDR(shard_cap, 4097u, MMS_ECORRUPT);
    HDR(shard_cap, 0xffffffffu, MMS_ECORRUPT);
    /* 4096 shards of 2^20 bytes: 2^32, which is 0 in 32-bit arithmetic. */
    reset();
    wh()->shard_cap = 4096;
    wh()->shard_size = 1u << 20;
    expect("shard_cap * shard_size == 2^32", MMS_ECORRUPT);
    /* Fewer shards than written is a smaller, valid file view. */
    HDR(shard_cap, 1u, 0);
}

static void test_sections_inside_the_header_are_ecorrupt(void **state)
{
    (void)state;
    HDR(desc_off, 0u, MMS_ECORRUPT);
    HDR(desc_off, 1024u, MMS_ECORRUPT);
    HDR(str_off, 0u, MMS_ECORRUPT);
    HDR(str_off, 100u, MMS_ECORRUPT);
    HDR(glob_off, 8u, MMS_ECORRUPT);
    HDR(shtab_off, 0u, MMS_ECORRUPT);
    HDR(shard_off, 0u, MMS_ECORRUPT);
    HDR(shard_off, 64u, MMS_ECORRUPT);
}

static void test_misaligned_offsets_are_ecorrupt(void **state)
{
    (void)state;
    HDR(desc_off, vh()->desc_off + 4, MMS_ECORRUPT);
    HDR(desc_size, MMS_DESC_SIZE + 4, MMS_ECORRUPT);
    HDR(glob_off, vh()->glob_off + 4, MMS_ECORRUPT);
    HDR(glob_cap, vh()->glob_cap - 4, MMS_ECORRUPT);
    HDR(shtab_off, vh()->shtab_off + 2, MMS_ECORRUPT);
    HDR(shard_off, vh()->shard_off + 32, MMS_ECORRUPT);
    HDR(shard_size, vh()->shard_size - 32, MMS_ECORRUPT);
    /* Strings need no alignment: a table moved by one byte is in bounds
     * and only makes the names invalid. */
    HDR(str_off, vh()->str_off + 1, MMS_ECORRUPT);
}

static void test_counts_above_capacity_are_ecorrupt(void **state)
{
    (void)state;
    HDR(desc_count, vh()->desc_cap + 1, MMS_ECORRUPT);
    HDR(desc_count, 0xffffffffu, MMS_ECORRUPT);
    HDR(str_used, vh()->str_cap + 1, MMS_ECORRUPT);
    HDR(str_used, 0xffffffffu, MMS_ECORRUPT);
    /* Fewer published descriptors: a valid, shorter list. */
    HDR(desc_count, 2u, 0);
    HDR(str_used, vh()->str_cap, 0);
}

/* --------------------------------------------------------- descriptors */

static void test_name_out_of_bounds_is_ecorrupt(void **state)
{
    (void)state;
    uint32_t used = vh()->str_used;
    DESC(F_ERR, name_off, used, MMS_ECORRUPT);
    DESC(F_ERR, name_off, used - 1, MMS_ECORRUPT);
    DESC(F_ERR, name_off, 0xffffffffu, MMS_ECORRUPT);
    DESC(F_ERR, name_len, 0xffff, MMS_ECORRUPT);
    /* In bounds of the table but past what the writer published. */
    reset();
    wh()->str_used = wd(F_STATE)->name_off + 3;
    expect("name ends past str_used", MMS_ECORRUPT);
}

static void set_name_byte(unsigned field, size_t i, uint8_t c, const char *what,
                          int want)
{
    reset();
    wname(field)[i] = c;
    expect(what, want);
}

static void test_name_with_invalid_characters_is_ecorrupt(void **state)
{
    (void)state;
    /* "http.errors" */
    set_name_byte(F_ERR, 4, '-', "name http-errors", MMS_ECORRUPT);
    set_name_byte(F_ERR, 4, '/', "name http/errors", MMS_ECORRUPT);
    set_name_byte(F_ERR, 0, '9', "name starts with a digit", MMS_ECORRUPT);
    set_name_byte(F_ERR, 0, '.', "name starts with a dot", MMS_ECORRUPT);
    set_name_byte(F_ERR, 10, '.', "name ends with a dot", MMS_ECORRUPT);
    set_name_byte(F_ERR, 5, '.', "name with an empty segment", MMS_ECORRUPT);
    set_name_byte(F_ERR, 3, 0, "name with a NUL inside", MMS_ECORRUPT);
    set_name_byte(F_ERR, 3, '\n', "name with a newline", MMS_ECORRUPT);
    set_name_byte(F_ERR, 3, 0x1b, "name with an escape", MMS_ECORRUPT);
    set_name_byte(F_ERR, 3, 0xc3, "name with a non-ASCII byte", MMS_ECORRUPT);
    set_name_byte(F_ERR, 3, 'P', "control: name httP.errors", 0);
}

static void test_empty_or_overlong_name_is_ecorrupt(void **state)
{
    (void)state;
    DESC(F_ERR, name_len, 0, MMS_ECORRUPT);
    /* In bounds of the table (str_used >= 300) but over MMS_NAME_MAX. */
    reset();
    wd(F_ERR)->name_off = 8;
    wd(F_ERR)->name_len = MMS_NAME_MAX + 1;
    memset(fx.work + vh()->str_off + 8, 'a', MMS_NAME_MAX + 1);
    expect("name of MMS_NAME_MAX + 1 letters", MMS_ECORRUPT);
    reset();
    wd(F_ERR)->name_off = 8;
    wd(F_ERR)->name_len = MMS_NAME_MAX;
    memset(fx.work + vh()->str_off + 8, 'a', MMS_NAME_MAX + 1);
    expect("control: name of MMS_NAME_MAX letters", 0);

    /* A shorter length selects a valid prefix: "http". */
    reset();
    wd(F_ERR)->name_len = 4;
    mms_reader *r;
    assert_int_equal(open_work(fx.size, &r), 0);
    assert_string_equal(mms_reader_field(r, F_ERR)->name, "http");
    mms_reader_close(r);
}

static void test_units_and_help_out_of_bounds_are_ecorrupt(void **state)
{
    (void)state;
    uint32_t used = vh()->str_used;
    reset();
    wd(F_CONN)->units_off = used;
    expect("units_off at str_used", MMS_ECORRUPT);
    DESC(F_CONN, units_off, used - 2, MMS_ECORRUPT); /* "conns" is 5 */
    DESC(F_CONN, units_off, 0xffffffffu, MMS_ECORRUPT);
    DESC(F_CONN, units_len, 0xffff, MMS_ECORRUPT);
    /* In bounds of the table (str_used >= 300) but over the limits. */
    reset();
    wd(F_CONN)->units_off = 0;
    wd(F_CONN)->units_len = MMS_UNITS_MAX + 1;
    expect("units_len MMS_UNITS_MAX + 1", MMS_ECORRUPT);
    reset();
    wd(F_CONN)->units_off = 0;
    wd(F_CONN)->units_len = MMS_UNITS_MAX;
    expect("control: units_len MMS_UNITS_MAX", 0);
    DESC(F_REQ, help_off, used, MMS_ECORRUPT);
    DESC(F_REQ, help_off, 0xffffffffu, MMS_ECORRUPT);
    DESC(F_REQ, help_len, 0xffff, MMS_ECORRUPT);
    reset();
    wd(F_REQ)->help_off = 0;
    wd(F_REQ)->help_len = MMS_HELP_MAX + 1;
    expect("help_len MMS_HELP_MAX + 1", MMS_ECORRUPT);
    reset();
    wd(F_REQ)->help_off = 0;
    wd(F_REQ)->help_len = MMS_HELP_MAX;
    expect("control: help_len MMS_HELP_MAX", 0);
    /* Empty units and help may point anywhere up to str_used. */
    reset();
    wd(F_ERR)->units_off = used;
    wd(F_ERR)->help_off = used;
    expect("control: empty units and help at str_used", 0);
    DESC(F_ERR, units_off, used + 1, MMS_ECORRUPT);
}

static void test_control_bytes_in_units_and_help_are_replaced(void **state)
{
    (void)state;
    reset();
    uint8_t *u = fx.work + vh()->str_off + wd(F_CONN)->units_off;
    u[0] = 0x1b;
    u[1] = '\n';
    u[2] = 0x7f;
    fx.work[vh()->str_off + wd(F_REQ)->help_off] = '\r';
    mms_reader *r;
    assert_int_equal(open_work(fx.size, &r), 0);
    assert_string_equal(mms_reader_field(r, F_CONN)->units, "???ns");
    assert_int_equal(mms_reader_field(r, F_REQ)->help[0], '?');
    mms_reader_close(r);
}

static void test_value_off_out_of_bounds_or_misaligned_is_ecorrupt(void **state)
{
    (void)state;
    const struct mms_file_header *h = vh();
    uint32_t gend = h->glob_off + h->glob_cap;
    /* A gauge lives in the global area. */
    DESC(F_CONN, value_off, gend, MMS_ECORRUPT);
    DESC(F_CONN, value_off, gend - 4, MMS_ECORRUPT);
    DESC(F_CONN, value_off, h->glob_off - 8, MMS_ECORRUPT);
    DESC(F_CONN, value_off, 0u, MMS_ECORRUPT);
    DESC(F_CONN, value_off, 0xfffffff8u, MMS_ECORRUPT);
    DESC(F_CONN, value_off, wd(F_CONN)->value_off + 4, MMS_ECORRUPT);
    DESC(F_CONN, value_off, gend - 8, 0); /* control: last cell */
    /* A counter lives at a shard-relative offset. */
    DESC(F_REQ, value_off, h->shard_size, MMS_ECORRUPT);
    DESC(F_REQ, value_off, h->shard_size - 4, MMS_ECORRUPT);
    DESC(F_REQ, value_off, 0xfffffff8u, MMS_ECORRUPT);
    DESC(F_REQ, value_off, 12u, MMS_ECORRUPT);
    DESC(F_REQ, value_off, h->shard_size - 8, 0); /* control */
    /* A string cell must fit whole. */
    DESC(F_STATE, value_off, gend - 16, MMS_ECORRUPT);
    DESC(F_STATE, value_off, wd(F_STATE)->value_off + 8, 0);
}

static void test_value_size_mismatch_is_ecorrupt(void **state)
{
    (void)state;
    DESC(F_REQ, value_size, 0u, MMS_ECORRUPT);
    DESC(F_REQ, value_size, 16u, MMS_ECORRUPT);
    DESC(F_CONN, value_size, 0u, MMS_ECORRUPT);
    DESC(F_CONN, value_size, 4u, MMS_ECORRUPT);
    DESC(F_CONN, value_size, 16u, MMS_ECORRUPT);
    DESC(F_LOAD, value_size, 0xffffffffu, MMS_ECORRUPT);
}

static void test_counter_not_flagged_sharded_is_ecorrupt(void **state)
{
    (void)state;
    /* In bounds of the global area, so only the kind rule can refuse it. */
    reset();
    wd(F_REQ)->flags = 0;
    wd(F_REQ)->value_off = wd(F_CONN)->value_off;
    expect("counter in the global area", MMS_ECORRUPT);
    /* And the reverse: a gauge at a valid shard offset. */
    reset();
    wd(F_CONN)->flags = MMS_DF_SHARDED;
    wd(F_CONN)->value_off = 0;
    expect("sharded gauge", MMS_ECORRUPT);
    reset();
    wd(F_STATE)->flags = MMS_DF_SHARDED;
    wd(F_STATE)->value_off = 0;
    expect("sharded string", MMS_ECORRUPT);
}

static void test_string_with_bad_value_size_is_ecorrupt(void **state)
{
    (void)state;
    uint32_t cell = (uint32_t)sizeof(struct mms_string_cell);
    DESC(F_STATE, value_size, 8u, MMS_ECORRUPT);
    DESC(F_STATE, value_size, cell, MMS_ECORRUPT); /* capacity 0 */
    DESC(F_STATE, value_size, cell + 4, MMS_ECORRUPT);
    DESC(F_STATE, value_size, cell + 12, MMS_ECORRUPT); /* not % 8 */
    DESC(F_STATE, value_size, cell + MMS_STRING_MAX_CAP + 8, MMS_ECORRUPT);
    DESC(F_STATE, value_size, cell + 8, 0); /* control: capacity 8 */
}

static void test_string_len_beyond_capacity_is_clamped(void **state)
{
    (void)state;
    const uint32_t lens[] = {STATE_CAP + 1, 1000, 0xffffffffu, STATE_CAP};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        reset();
        struct mms_string_cell *c = (void *)wvalue(F_STATE);
        c->len = lens[k];
        /* Marker bytes right after the cell: an over-read would copy them. */
        uint8_t *end = wvalue(F_STATE) + wd(F_STATE)->value_size;
        memset(end, 'X', 64);
        mms_reader *r;
        assert_int_equal(open_work(fx.size, &r), 0);
        mms_snapshot *s;
        assert_int_equal(mms_snapshot_take(r, &s), 0);
        const struct mms_value *v = mms_snapshot_value(s, F_STATE);
        assert_int_equal(v->status, 0);
        assert_int_equal(v->v.str.len, STATE_CAP);
        assert_memory_equal(v->v.str.ptr, "running", 7);
        assert_null(memchr(v->v.str.ptr, 'X', v->v.str.len));
        assert_int_equal(v->v.str.ptr[STATE_CAP], '\0');
        mms_snapshot_free(s);
        mms_reader_close(r);
    }
}

static void test_unknown_kind_is_listed_but_not_read(void **state)
{
    (void)state;
    const uint8_t kinds[] = {200, 255};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        reset();
        wd(F_CONN)->kind = kinds[k]; /* its cell holds -42 */
        mms_reader *r;
        assert_int_equal(open_work(fx.size, &r), 0);
        assert_int_equal(mms_reader_nfields(r), F_COUNT);
        const struct mms_field_info *fi = mms_reader_field(r, F_CONN);
        assert_string_equal(fi->name, "net.connections");
        assert_int_equal(fi->kind, kinds[k]);
        mms_snapshot *s;
        assert_int_equal(mms_snapshot_take(r, &s), 0);
        const struct mms_value *v = mms_snapshot_value(s, F_CONN);
        assert_int_equal(v->kind, kinds[k]);
        assert_int_equal(v->status, 0);
        assert_int_equal(v->v.u64, 0);
        /* The fields around it are read normally. */
        assert_int_equal(mms_snapshot_value(s, F_REQ)->v.u64, 1234);
        assert_string_equal(mms_snapshot_value(s, F_STATE)->v.str.ptr,
                            "running");
        mms_snapshot_free(s);
        mms_reader_close(r);
    }
    /* Unknown, but still bounds-checked. */
    reset();
    wd(F_CONN)->kind = 200;
    wd(F_CONN)->value_size = 0xfffffff8u;
    expect("unknown kind with a huge value", MMS_ECORRUPT);
    reset();
    wd(F_CONN)->kind = 200;
    wd(F_CONN)->name_len = 0;
    expect("unknown kind with an empty name", MMS_ECORRUPT);
}

/* Set one parameter of descriptor I (through accessor P) in a fresh copy
 * and expect WANT. */
#define PARAM(p, i, field, val, want)                                          \
    do {                                                                       \
        reset();                                                               \
        p(i)->field = (val);                                                   \
        expect(#p "(" #i ")->" #field " = " #val, (want));                     \
    } while (0)

static void test_histogram_parameters_are_checked(void **state)
{
    (void)state;
    uint32_t nb = mms_hist_nbuckets(LAT_BITS, LAT_MAX_EXP);
    uint32_t wnb = mms_hist_nbuckets(LAT_WIN_BITS, LAT_MAX_EXP);
    assert_int_equal(whp(F_LAT)->nbuckets, nb);
    assert_int_equal(whp(F_LAT)->win_nbuckets, wnb);
    PARAM(whp, F_LAT, nbuckets, nb + 1, MMS_ECORRUPT);
    PARAM(whp, F_LAT, nbuckets, 0u, MMS_ECORRUPT);
    PARAM(whp, F_LAT, nbuckets, 0xffffffffu, MMS_ECORRUPT);
    PARAM(whp, F_LAT, bits, 0, MMS_ECORRUPT);
    PARAM(whp, F_LAT, bits, MMS_HIST_BITS_MAX + 1, MMS_ECORRUPT);
    PARAM(whp, F_LAT, max_exp, LAT_BITS, MMS_ECORRUPT);
    PARAM(whp, F_LAT, max_exp, MMS_HIST_MAX_EXP_MAX + 1, MMS_ECORRUPT);
    PARAM(whp, F_LAT, win_bits, LAT_BITS + 1, MMS_ECORRUPT);
    PARAM(whp, F_LAT, win_bits, 0, MMS_ECORRUPT);
    PARAM(whp, F_LAT, win_nbuckets, wnb + 1, MMS_ECORRUPT);
    PARAM(whp, F_LAT, win_off, whp(F_LAT)->win_off + 8, MMS_ECORRUPT);
    PARAM(whp, F_LAT, win_off, 0u, MMS_ECORRUPT);
    DESC(F_LAT, value_size, wd(F_LAT)->value_size + 8, MMS_ECORRUPT);
    DESC(F_LAT, value_size, wd(F_LAT)->value_size - 8, MMS_ECORRUPT);
    /* Window parameters without the window flag, and the reverse. */
    DESC(F_LAT, flags, MMS_DF_SHARDED, MMS_ECORRUPT);
    reset();
    wd(F_LAT)->flags = MMS_DF_SHARDED;
    whp(F_LAT)->win_bits = 0;
    whp(F_LAT)->win_nbuckets = 0;
    whp(F_LAT)->win_off = 0;
    expect("window flag cleared, window kept in size", MMS_ECORRUPT);
    reset();
    wd(F_LAT)->flags = MMS_DF_SHARDED;
    whp(F_LAT)->win_bits = 0;
    whp(F_LAT)->win_nbuckets = 0;
    wd(F_LAT)->value_size = whp(F_LAT)->win_off;
    whp(F_LAT)->win_off = 0;
    expect("control: the same histogram without its window", 0);
    /* Not sharded: put it in the global area so only the rule refuses. */
    reset();
    wd(F_LAT)->flags = MMS_DF_WINDOW;
    wd(F_LAT)->value_off = vh()->glob_off;
    wd(F_LAT)->value_size = 8;
    expect("unsharded histogram", MMS_ECORRUPT);
}

static void test_windowed_counter_size_is_checked(void **state)
{
    (void)state;
    uint32_t wsize = 8 + MMS_WINDOW_SLOTS * sizeof(struct mms_window_slot);
    assert_int_equal(wd(F_RATE)->value_size, wsize);
    DESC(F_RATE, flags, MMS_DF_SHARDED, MMS_ECORRUPT);
    DESC(F_RATE, value_size, wsize - 8, MMS_ECORRUPT);
    DESC(F_REQ, flags, MMS_DF_SHARDED | MMS_DF_WINDOW, MMS_ECORRUPT);
    DESC(F_CONN, flags, MMS_DF_WINDOW, MMS_ECORRUPT);
    DESC(F_STATE, flags, MMS_DF_WINDOW, MMS_ECORRUPT);
    DESC(F_POS, flags, MMS_DF_WINDOW, MMS_ECORRUPT);
    DESC(F_AVG, flags, MMS_DF_WINDOW, MMS_ECORRUPT);
}

/* Byte I of the struct's member table in the work copy. */
static uint8_t *wschema(size_t i)
{
    return fx.work + vh()->str_off + wsp(F_POS)->schema_off + i;
}

static void set_schema_byte(size_t i, uint8_t c, const char *what, int want)
{
    reset();
    *wschema(i) = c;
    expect(what, want);
}

static void test_struct_schema_is_checked(void **state)
{
    (void)state;
    /* The table: {type, len, name, NUL} per member: x, dy, ratio. */
    assert_int_equal(wsp(F_POS)->nmembers, 3);
    assert_int_equal(wsp(F_POS)->schema_len, 4 + 5 + 8);
    assert_int_equal(*wschema(0), MMS_MEMBER_U64);
    assert_int_equal(*wschema(1), 1);
    assert_int_equal(*wschema(2), 'x');
    PARAM(wsp, F_POS, nmembers, 0, MMS_ECORRUPT);
    reset();
    wsp(F_POS)->nmembers = 0;
    wd(F_POS)->value_size = 8;
    expect("struct of 0 members, size 8", MMS_ECORRUPT);
    PARAM(wsp, F_POS, nmembers, 2, MMS_ECORRUPT); /* size says 3 */
    PARAM(wsp, F_POS, nmembers, 4, MMS_ECORRUPT); /* table has 3 */
    PARAM(wsp, F_POS, nmembers, MMS_STRUCT_MAX_MEMBERS + 1, MMS_ECORRUPT);
    PARAM(wsp, F_POS, nmembers, 0xffff, MMS_ECORRUPT);
    PARAM(wsp, F_POS, schema_off, vh()->str_used, MMS_ECORRUPT);
    PARAM(wsp, F_POS, schema_off, 0xffffffffu, MMS_ECORRUPT);
    PARAM(wsp, F_POS, schema_len, 0xffff, MMS_ECORRUPT);
    PARAM(wsp, F_POS, schema_len, 4 + 5 + 8 - 1, MMS_ECORRUPT);
    PARAM(wsp, F_POS, schema_len, 0, MMS_ECORRUPT);
    set_schema_byte(0, 0, "member type 0", MMS_ECORRUPT);
    set_schema_byte(0, MMS_MEMBER_F64 + 1, "member type 4", MMS_ECORRUPT);
    set_schema_byte(1, 0, "member name length 0", MMS_ECORRUPT);
    set_schema_byte(1, 2, "member name length runs into NUL", MMS_ECORRUPT);
    set_schema_byte(1, MMS_MEMBER_NAME_MAX + 1, "member name length 32",
                    MMS_ECORRUPT);
    set_schema_byte(1, 0xff, "member name length 255", MMS_ECORRUPT);
    set_schema_byte(2, '-', "member name -", MMS_ECORRUPT);
    set_schema_byte(2, '\n', "member name newline", MMS_ECORRUPT);
    set_schema_byte(3, 'y', "member name not NUL-terminated", MMS_ECORRUPT);
    DESC(F_POS, value_size, wd(F_POS)->value_size + 8, MMS_ECORRUPT);
    reset();
    wd(F_POS)->flags = MMS_DF_SHARDED;
    wd(F_POS)->value_off = 0;
    expect("sharded struct", MMS_ECORRUPT);

    /* Control: a renamed member opens under its new name. */
    reset();
    *wschema(2) = 'Z';
    mms_reader *r;
    assert_int_equal(open_work(fx.size, &r), 0);
    const struct mms_field_info *fi = mms_reader_field(r, F_POS);
    assert_int_equal(fi->n, 3);
    assert_string_equal(fi->members[0].name, "Z");
    assert_int_equal(fi->members[2].type, MMS_MEMBER_F64);
    mms_reader_close(r);
}

static void test_moving_average_capacity_is_checked(void **state)
{
    (void)state;
    assert_int_equal(wmp(F_AVG)->capacity, AVG_N);
    PARAM(wmp, F_AVG, capacity, 0u, MMS_ECORRUPT);
    /* Capacity 0 with a size that agrees: a ring of nothing, which a
     * reader would divide by. */
    reset();
    wmp(F_AVG)->capacity = 0;
    wd(F_AVG)->value_size = 16;
    expect("moving average of capacity 0, size 16", MMS_ECORRUPT);
    PARAM(wmp, F_AVG, capacity, AVG_N + 1, MMS_ECORRUPT);
    PARAM(wmp, F_AVG, capacity, 0xffffffffu, MMS_ECORRUPT);
    DESC(F_AVG, value_size, wd(F_AVG)->value_size - 8, MMS_ECORRUPT);
    reset();
    wd(F_AVG)->flags = MMS_DF_SHARDED;
    wd(F_AVG)->value_off = 0;
    expect("sharded moving average", MMS_ECORRUPT);
    /* Control: a smaller ring that still fits is read as such. */
    reset();
    wmp(F_AVG)->capacity = AVG_N - 1;
    wd(F_AVG)->value_size -= 8;
    mms_reader *r;
    assert_int_equal(open_work(fx.size, &r), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(mms_snapshot_value(s, F_AVG)->v.avg.window, AVG_N - 1);
    assert_int_equal(mms_snapshot_value(s, F_AVG)->v.avg.count, 5);
    mms_snapshot_free(s);
    mms_reader_close(r);
}

/* ----------------------------------------------------- random damage */

#define MUT_ITERATIONS 20000
#define MUT_SEED 0x6d6d73746174ull
#define MUT_BUDGET_MS 90000

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: the same sequence on every platform. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* What an accepted file must look like through the API; NULL if fine. */
static const char *check_accepted(mms_reader *r)
{
    const struct mms_file_header *h = vh();
    struct mms_proc_info pi;
    if (mms_reader_info(r, &pi) != 0)
        return "info failed";
    if (strlen(pi.exe) > MMS_EXE_LEN || strlen(pi.label) > MMS_LABEL_LEN ||
        strlen(pi.host) > MMS_HOST_LEN ||
        strlen(pi.cmdline) > MMS_CMDLINE_LEN || has_control(pi.cmdline) ||
        has_control(pi.exe))
        return "bad process info text";
    if (pi.shards_used > pi.shard_cap)
        return "more shards used than exist";
    size_t n = mms_reader_nfields(r);
    if (n > h->desc_cap)
        return "more fields than descriptor slots";
    mms_snapshot *s;
    int rc = mms_snapshot_take(r, &s);
    if (rc < 0)
        return "snapshot failed";
    const char *why = NULL;
    if (mms_snapshot_nfields(s) != n)
        why = "snapshot field count differs";
    for (size_t i = 0; i < n && !why; i++) {
        const struct mms_field_info *fi = mms_snapshot_field(s, i);
        const struct mms_value *v = mms_snapshot_value(s, i);
        if (fi->index != i || mms_name_check(fi->name) != 0)
            why = "bad field name or index";
        else if (strlen(fi->units) > MMS_UNITS_MAX ||
                 strlen(fi->help) > MMS_HELP_MAX || has_control(fi->units) ||
                 has_control(fi->help))
            why = "bad units or help";
        else if (v->kind != fi->kind)
            why = "value kind differs from field kind";
        else if (fi->kind == MMS_KIND_COUNTER &&
                 (!(fi->flags & MMS_DF_SHARDED) ||
                  fi->value_size !=
                      ((fi->flags & MMS_DF_WINDOW)
                           ? 8 + MMS_WINDOW_SLOTS *
                                     sizeof(struct mms_window_slot)
                           : 8)))
            why = "bad counter";
        else if ((fi->kind == MMS_KIND_GAUGE ||
                  fi->kind == MMS_KIND_GAUGE_F64) &&
                 ((fi->flags & MMS_DF_SHARDED) || fi->value_size != 8))
            why = "bad gauge";
        else if (fi->kind == MMS_KIND_STRING &&
                 (v->v.str.len >
                      fi->value_size - sizeof(struct mms_string_cell) ||
                  v->v.str.ptr[v->v.str.len] != '\0' ||
                  (v->status != 0 && v->status != MMS_EBUSY)))
            why = "bad string value";
        else if (fi->kind == MMS_KIND_HISTOGRAM &&
                 (!v->v.hist ||
                  v->v.hist->nbuckets !=
                      mms_hist_nbuckets(fi->hist_bits, fi->hist_max_exp) ||
                  fi->value_size < sizeof(struct mms_hist_cell) +
                                       8ull * v->v.hist->nbuckets))
            why = "bad histogram";
        else if (fi->kind == MMS_KIND_STRUCT &&
                 (v->v.st.n != fi->n || fi->n == 0 ||
                  fi->n > MMS_STRUCT_MAX_MEMBERS ||
                  fi->value_size != 8 + 8 * fi->n))
            why = "bad struct";
        for (uint32_t k = 0; !why && fi->kind == MMS_KIND_STRUCT && k < fi->n;
             k++)
            if (strlen(fi->members[k].name) > MMS_MEMBER_NAME_MAX ||
                !fi->members[k].name[0] ||
                strcmp(v->v.st.m[k].name, fi->members[k].name))
                why = "bad struct member";
        if (!why && fi->kind == MMS_KIND_HISTOGRAM) {
            /* Hostile buckets and counts: the math must stay in range. */
            double q = mms_hist_quantile(v->v.hist, 0.5);
            if (q < 0 || q > (double)UINT64_MAX)
                why = "quantile out of range";
        }
        if (!why && (fi->flags & MMS_DF_WINDOW) &&
            (fi->kind == MMS_KIND_COUNTER || fi->kind == MMS_KIND_HISTOGRAM)) {
            struct mms_window win;
            if (mms_snapshot_window(s, i, 10, &win) != 0)
                why = "window of a windowed field failed";
            mms_window_free(&win);
        }
        if (!why && fi->kind == MMS_KIND_MOVAVG &&
            ((v->status == 0 && v->v.avg.window != fi->n) ||
             (v->status != 0 && v->status != MMS_EBUSY) || fi->n == 0 ||
             fi->value_size != 16 + 8 * fi->n))
            why = "bad moving average";
    }
    mms_snapshot_free(s);
    return why;
}

enum outcome {
    O_OK,
    O_EFORMAT,
    O_EENDIAN,
    O_EVERSION,
    O_ECORRUPT,
    O_ETRUNCATED,
    O_EAGAIN,
    O_OTHER,
    O_NUM
};

static enum outcome outcome_of(int rc)
{
    switch (rc) {
    case 0:
        return O_OK;
    case MMS_EFORMAT:
        return O_EFORMAT;
    case MMS_EENDIAN:
        return O_EENDIAN;
    case MMS_EVERSION:
        return O_EVERSION;
    case MMS_ECORRUPT:
        return O_ECORRUPT;
    case MMS_ETRUNCATED:
        return O_ETRUNCATED;
    case -EAGAIN:
        return O_EAGAIN;
    default:
        return O_OTHER;
    }
}

static void test_random_mutations_never_crash(void **state)
{
    (void)state;
    static const char *names[O_NUM] = {"ok",       "EFORMAT",  "EENDIAN",
                                       "EVERSION", "ECORRUPT", "ETRUNCATED",
                                       "EAGAIN",   "other"};
    const struct mms_file_header *h = vh();
    /* The regions a writer fills: header, descriptors, strings, global
     * cells, the shard table and the used part of shards 0 and 1. */
    const struct {
        uint64_t off, len;
    } reg[] = {
        {0, sizeof(struct mms_file_header)},
        {h->desc_off, (uint64_t)h->desc_count * MMS_DESC_SIZE},
        {h->str_off, h->str_used},
        {h->glob_off, h->glob_used},
        {h->shtab_off, (uint64_t)h->shard_cap * 4},
        {h->shard_off, h->shard_local_used},
        {h->shard_off + h->shard_size, h->shard_local_used},
    };
    const size_t nreg = sizeof reg / sizeof reg[0];
    char path[4096];
    write_variant(fx.valid, fx.size, path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);

    uint64_t rng = MUT_SEED;
    unsigned long count[O_NUM] = {0};
    int64_t t0 = mono_ms();
    int iter;
    for (iter = 0; iter < MUT_ITERATIONS; iter++) {
        if (mono_ms() - t0 > MUT_BUDGET_MS)
            break;
        uint64_t offs[8];
        unsigned nflip = 1 + (unsigned)(rng_next(&rng) % 8);
        for (unsigned k = 0; k < nflip; k++) {
            size_t ri = (size_t)(rng_next(&rng) % nreg);
            uint64_t off = reg[ri].off + rng_next(&rng) % reg[ri].len;
            uint64_t x = rng_next(&rng);
            /* Half single-bit flips (near-valid values), half bytes. */
            uint8_t mask =
                (x & 256) ? (uint8_t)(1u << (x % 8)) : (uint8_t)(1 + x % 255);
            uint8_t b;
            assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
            b ^= mask;
            assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
            offs[k] = off;
        }
        mms_reader *r = NULL;
        int rc = mms_reader_open(&r, path);
        enum outcome o = outcome_of(rc);
        count[o]++;
        if (o == O_OTHER)
            fail_msg("iteration %d: unexpected code %d (%s)", iter, rc,
                     mms_strerror(rc));
        if (rc == 0) {
            const char *why = check_accepted(r);
            mms_reader_close(r);
            if (why)
                fail_msg("iteration %d: accepted file: %s", iter, why);
        } else if (r) {
            fail_msg("iteration %d: error with a reader", iter);
        }
        for (unsigned k = 0; k < nflip; k++)
            assert_int_equal(pwrite(fd, fx.valid + offs[k], 1, (off_t)offs[k]),
                             1);
    }
    close(fd);
    unlink(path);
    print_message("mutation loop: %d iterations in %lld ms, seed %#llx\n", iter,
                  (long long)(mono_ms() - t0), (unsigned long long)MUT_SEED);
    for (int o = 0; o < O_NUM; o++)
        print_message("  %-10s %lu\n", names[o], count[o]);
    /* Bounded in time, but a run cut this short proves too little. */
    assert_true(iter >= MUT_ITERATIONS / 10);
    assert_int_equal(count[O_OTHER], 0);
    /* Both paths were exercised: damage that is harmless (text, values)
     * and damage that must be refused. */
    assert_true(count[O_OK] > 0);
    assert_true(count[O_ECORRUPT] > 0);
    assert_true(count[O_EFORMAT] > 0);
}

/* ------------------------------------------------ what the path names */

static void test_directory_fifo_and_device_are_refused(void **state)
{
    (void)state;
    mms_reader *r = (mms_reader *)&r; /* not NULL: must be reset */
    assert_int_equal(mms_reader_open(&r, fx.dir), MMS_EFORMAT);
    assert_null(r);
    char fifo[4096];
    snprintf(fifo, sizeof fifo, "%s/fifo.mmstats", fx.dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    /* Must not block waiting for a writer to open the FIFO. */
    assert_int_equal(mms_reader_open(&r, fifo), MMS_EFORMAT);
    unlink(fifo);
    assert_int_equal(mms_reader_open(&r, "/dev/null"), MMS_EFORMAT);
    assert_int_equal(mms_reader_open(&r, "/dev/zero"), MMS_EFORMAT);
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/missing.mmstats", fx.dir);
    assert_int_equal(mms_reader_open(&r, missing), -ENOENT);
    assert_int_equal(mms_reader_open(&r, NULL), -EINVAL);
}

static void test_symlink_to_valid_file_is_einsecure(void **state)
{
    (void)state;
    char path[4096], link[4096];
    write_variant(fx.valid, fx.size, path, sizeof path);
    snprintf(link, sizeof link, "%s/link.mmstats", fx.dir);
    assert_int_equal(symlink(path, link), 0);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, link), MMS_EINSECURE);
    assert_null(r);
    assert_int_equal(mms_reader_open(&r, path), 0); /* control */
    mms_reader_close(r);
    unlink(link);
    unlink(path);
}

static void test_second_hard_link_is_einsecure(void **state)
{
    (void)state;
    char path[4096], hard[4096];
    write_variant(fx.valid, fx.size, path, sizeof path);
    snprintf(hard, sizeof hard, "%s/hardlink.mmstats", fx.dir);
    assert_int_equal(link(path, hard), 0);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), MMS_EINSECURE);
    assert_int_equal(mms_reader_open(&r, hard), MMS_EINSECURE);
    unlink(hard);
    assert_int_equal(mms_reader_open(&r, path), 0); /* one link again */
    mms_reader_close(r);
    unlink(path);
}

static void test_group_or_world_writable_file_is_einsecure(void **state)
{
    (void)state;
    const mode_t bad[] = {0620, 0602, 0666, 0622};
    const mode_t good[] = {0600, 0644, 0400};
    char path[4096];
    write_variant(fx.valid, fx.size, path, sizeof path);
    mms_reader *r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chmod(path, bad[i]), 0);
        int rc = mms_reader_open(&r, path);
        if (rc != MMS_EINSECURE)
            fail_msg("mode %o: got %d, want MMS_EINSECURE", bad[i], rc);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(chmod(path, good[i]), 0);
        int rc = mms_reader_open(&r, path);
        if (rc != 0)
            fail_msg("mode %o: got %d, want 0", good[i], rc);
        mms_reader_close(r);
    }
    unlink(path);
}

/* Child exit codes of run_as_nobody. */
enum { CH_OK, CH_EACCES, CH_EINSECURE, CH_OTHER, CH_DROP_FAILED };

static int classify(int rc)
{
    return rc == 0               ? CH_OK
           : rc == -EACCES       ? CH_EACCES
           : rc == MMS_EINSECURE ? CH_EINSECURE
                                 : CH_OTHER;
}

static int child_open(const char *path)
{
    mms_reader *r;
    int rc = mms_reader_open(&r, path);
    if (rc == 0)
        mms_reader_close(r);
    return classify(rc);
}

/* Run FN(ARG) in a child that dropped to nobody; its classified result. */
static int run_as_nobody(int (*fn)(const char *), const char *arg)
{
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
            setuid(NOBODY) < 0 || geteuid() != NOBODY)
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

static int child_can_search(const char *dir)
{
    return access(dir, X_OK) == 0 ? CH_OK : CH_EACCES;
}

static void test_other_users_file_is_refused_unless_root(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root to create another user's file\n");
        skip();
    }
    assert_int_equal(chmod(fx.dir, 0755), 0);
    if (run_as_nobody(child_can_search, fx.dir) != CH_OK) {
        chmod(fx.dir, 0700);
        print_message("skipped: nobody cannot reach %s\n", fx.dir);
        skip();
    }
    char path[4096];
    write_variant(fx.valid, fx.size, path, sizeof path);
    /* Root's file, readable by all: not ours, so not trusted. */
    assert_int_equal(chmod(path, 0644), 0);
    int res = run_as_nobody(child_open, path);
    /* Root's private file: the kernel says no first. */
    assert_int_equal(chmod(path, 0600), 0);
    int res_private = run_as_nobody(child_open, path);
    /* Control: nobody's own file opens for nobody, and for root. */
    assert_int_equal(chown(path, NOBODY, NOBODY), 0);
    int res_own = run_as_nobody(child_open, path);
    mms_reader *r;
    int rc_root = mms_reader_open(&r, path);
    if (rc_root == 0)
        mms_reader_close(r);
    unlink(path);
    chmod(fx.dir, 0700);
    assert_int_equal(res, CH_EINSECURE);
    assert_int_equal(res_private, CH_EACCES);
    assert_int_equal(res_own, CH_OK);
    assert_int_equal(rc_root, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unmodified_copy_opens_with_exact_values),
        cmocka_unit_test(test_file_without_fields_snapshots_empty),
        cmocka_unit_test(test_empty_and_short_files_are_etruncated),
        cmocka_unit_test(test_bad_magic_is_eformat),
        cmocka_unit_test(test_swapped_endian_mark_is_eendian),
        cmocka_unit_test(test_other_endian_values_are_eformat),
        cmocka_unit_test(test_other_major_versions_are_eversion),
        cmocka_unit_test(test_unknown_minor_version_opens),
        cmocka_unit_test(test_state_stuck_in_init_is_eagain_after_bounded_wait),
        cmocka_unit_test(test_unknown_state_is_ecorrupt),
        cmocka_unit_test(test_header_size_out_of_range_is_ecorrupt),
        cmocka_unit_test(test_file_size_beyond_real_file_is_etruncated),
        cmocka_unit_test(test_descriptor_table_geometry_is_checked),
        cmocka_unit_test(test_string_table_geometry_is_checked),
        cmocka_unit_test(test_global_area_geometry_is_checked),
        cmocka_unit_test(test_shard_table_geometry_is_checked),
        cmocka_unit_test(test_shard_area_geometry_is_checked),
        cmocka_unit_test(test_sections_inside_the_header_are_ecorrupt),
        cmocka_unit_test(test_misaligned_offsets_are_ecorrupt),
        cmocka_unit_test(test_counts_above_capacity_are_ecorrupt),
        cmocka_unit_test(test_name_out_of_bounds_is_ecorrupt),
        cmocka_unit_test(test_name_with_invalid_characters_is_ecorrupt),
        cmocka_unit_test(test_empty_or_overlong_name_is_ecorrupt),
        cmocka_unit_test(test_units_and_help_out_of_bounds_are_ecorrupt),
        cmocka_unit_test(test_control_bytes_in_units_and_help_are_replaced),
        cmocka_unit_test(
            test_value_off_out_of_bounds_or_misaligned_is_ecorrupt),
        cmocka_unit_test(test_value_size_mismatch_is_ecorrupt),
        cmocka_unit_test(test_counter_not_flagged_sharded_is_ecorrupt),
        cmocka_unit_test(test_string_with_bad_value_size_is_ecorrupt),
        cmocka_unit_test(test_string_len_beyond_capacity_is_clamped),
        cmocka_unit_test(test_unknown_kind_is_listed_but_not_read),
        cmocka_unit_test(test_histogram_parameters_are_checked),
        cmocka_unit_test(test_windowed_counter_size_is_checked),
        cmocka_unit_test(test_struct_schema_is_checked),
        cmocka_unit_test(test_moving_average_capacity_is_checked),
        cmocka_unit_test(test_random_mutations_never_crash),
        cmocka_unit_test(test_directory_fifo_and_device_are_refused),
        cmocka_unit_test(test_symlink_to_valid_file_is_einsecure),
        cmocka_unit_test(test_second_hard_link_is_einsecure),
        cmocka_unit_test(test_group_or_world_writable_file_is_einsecure),
        cmocka_unit_test(test_other_users_file_is_refused_unless_root),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
