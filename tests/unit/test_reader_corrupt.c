/* The reader against hostile files (docs/format.md section 13): a valid
 * reference file is damaged one field at a time, and each check must give
 * its exact error code, never a crash; a file truncated under a reader
 * gives MMS_ETRUNCATED. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define STATE_CAP 16
#define LAT_BITS 2
#define LAT_MAX_EXP 8

static const struct mms_member pos_members[] = {
    {"x", MMS_MEMBER_U64}, {"dy", MMS_MEMBER_I64}, {"ratio", MMS_MEMBER_F64}};

struct fixture {
    char *dir;
    uint8_t *valid; /* the reference file as its writer left it */
    uint8_t *work;  /* a copy to damage */
    size_t size;
    unsigned seq; /* variant file counter */
};
static struct fixture fx;

static struct mms_file_header *wh(void)
{
    return (struct mms_file_header *)fx.work;
}

static const struct mms_file_header *vh(void)
{
    return (const struct mms_file_header *)fx.valid;
}

/* The N-th block of TYPE in the work copy (areas' nested blocks too),
 * walking the valid file's layout. */
static struct mms_block *block(uint16_t type, int n)
{
    uint64_t end = vh()->heap_used;
    for (uint64_t off = vh()->heap_off; off < end;) {
        struct mms_block *b = (struct mms_block *)(fx.valid + off);
        if (b->type == type && b->bstate == MMS_BS_READY && n-- == 0)
            return (struct mms_block *)(fx.work + off);
        if (b->type == MMS_BLOCK_AREA) {
            struct mms_area_block *a = (struct mms_area_block *)b;
            for (uint32_t p = 0; p < a->used;) {
                struct mms_block *c =
                    (struct mms_block *)((uint8_t *)(a + 1) + p);
                if (c->type == type && c->bstate == MMS_BS_READY && n-- == 0)
                    return (struct mms_block *)(fx.work +
                                                ((uint8_t *)c - fx.valid));
                p += c->size;
            }
        }
        off += b->size;
    }
    fail_msg("no block of type %u", type);
    return NULL;
}

/* The FIELD block of field NAME in the work copy. */
static struct mms_field_block *field(const char *name)
{
    for (int n = 0;; n++) {
        struct mms_field_block *f = (void *)block(MMS_BLOCK_FIELD, n);
        if (f->name_len == strlen(name) && !memcmp(f + 1, name, f->name_len))
            return f;
    }
}

static uint64_t off_of(const void *p)
{
    return (uint64_t)((const uint8_t *)p - fx.work);
}

static void reset(void)
{
    memcpy(fx.work, fx.valid, fx.size);
}

/* Write the work copy (LEN bytes) to a new file and open it: the code. */
static int open_len(size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/v%u.mmstats", fx.dir, fx.seq++);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, fx.work, len), (ssize_t)len);
    close(fd);
    mms_reader *r = NULL;
    int rc = mms_reader_open(&r, path);
    if (rc == 0) {
        /* A reader that opens must also snapshot without harm. */
        mms_snapshot *s;
        rc = mms_snapshot_take(r, &s);
        if (rc == 0)
            mms_snapshot_free(s);
    }
    mms_reader_close(r);
    unlink(path);
    return rc;
}

static void expect_len(const char *what, size_t len, int want)
{
    int rc = open_len(len);
    if (rc != want)
        fail_msg("%s: got %d (%s), want %d (%s)", what, rc, mms_strerror(rc),
                 want, mms_strerror(want));
}

static void expect(const char *what, int want)
{
    expect_len(what, fx.size, want);
}

#define SET(lvalue, val, want)                                                 \
    do {                                                                       \
        reset();                                                               \
        (lvalue) = (val);                                                      \
        expect(#lvalue " = " #val, (want));                                    \
    } while (0)

static bool setup_ok(int rc, const char *what)
{
    if (rc < 0)
        print_error("group setup: %s: %s\n", what, mms_strerror(rc));
    return rc >= 0;
}

/* The reference: every kind, a windowed histogram and counter, a struct,
 * a table with records, cells in two shards, histogram chunks. */
static int group_setup(void **state)
{
    (void)state;
    fx.dir = tu_mkdtemp();
    if (!fx.dir)
        return -1;
    mms_writer *w = tu_writer(fx.dir, "ref.mmstats", NULL);
    mms_field *req, *conn, *load, *st, *lat, *ops, *pos, *avg, *sc;
    struct mms_field_spec lats = {.name = "io.latency",
                                  .kind = MMS_KIND_HISTOGRAM,
                                  .units = "us",
                                  .help = "time per operation",
                                  .flags = MMS_DF_WINDOW,
                                  .hist_bits = LAT_BITS,
                                  .hist_max_exp = LAT_MAX_EXP,
                                  .window_bits = 1};
    struct mms_field_spec opss = {
        .name = "io.ops", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_WINDOW};
    struct mms_table_member tm[] = {
        {.name = "opens", .kind = MMS_MK_SUM, .units = "calls"},
        {.name = "size",
         .kind = MMS_MK_HIST,
         .hist_bits = 2,
         .hist_max_exp = 10},
        {.name = "slowest", .kind = MMS_MK_MAXARG}};
    struct mms_table_spec ts = {
        .name = "files", .capacity = 4, .members = tm, .nmembers = 3};
    mms_table *t;
    uint32_t rec;
    if (!setup_ok(mms_counter_new(w, "http.requests", "req", &req), "req") ||
        !setup_ok(mms_gauge_new(w, "net.conns", NULL, &conn), "conn") ||
        !setup_ok(mms_gauge_f64_new(w, "sys.load", NULL, &load), "load") ||
        !setup_ok(mms_string_new(w, "app.state", STATE_CAP, &st), "state") ||
        !setup_ok(mms_field_add(w, &lats, &lat), "lat") ||
        !setup_ok(mms_field_add(w, &opss, &ops), "ops") ||
        !setup_ok(mms_struct_new(w, "app.pos", pos_members, 3, &pos), "pos") ||
        !setup_ok(mms_movavg_new(w, "app.avg", NULL, 4, &avg), "avg") ||
        !setup_ok(mms_u16_new(w, "app.small", NULL, &sc), "scalar") ||
        !setup_ok(mms_table_new(w, &ts, &t), "table") ||
        !setup_ok(mms_record_get(t, "/etc/passwd", 11, &rec), "record"))
        return -1;
    mms_counter_add(req, 5);
    mms_gauge_set(conn, -3);
    mms_gauge_set_f64(load, 0.5);
    mms_string_set(st, "serving");
    for (uint64_t v = 1; v < 400; v *= 3)
        mms_hist_record(lat, v);
    mms_counter_add(ops, 2);
    uint64_t pv[3] = {1, (uint64_t)-2, 0};
    mms_struct_set(pos, pv);
    mms_movavg_add(avg, 2.5);
    mms_u16_set(sc, 700);
    mms_record_update(t, rec, 0, 1);
    mms_record_update(t, rec, 1, 100);
    mms_record_maxarg(t, rec, 2, 50, 7);
    char path[4096];
    snprintf(path, sizeof path, "%s", mms_writer_path(w));
    mms_writer_close(w);
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        return -1;
    fx.size = (size_t)sb.st_size;
    fx.valid = malloc(fx.size);
    fx.work = malloc(fx.size);
    if (!fx.valid || !fx.work ||
        read(fd, fx.valid, fx.size) != (ssize_t)fx.size)
        return -1;
    close(fd);
    reset();
    return 0;
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

/* ------------------------------------------------------------------ */

static void test_reference_file_reads_back(void **state)
{
    (void)state;
    reset();
    char path[4096];
    snprintf(path, sizeof path, "%s/ref.mmstats", fx.dir);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    assert_int_equal(tu_counter(r, "http.requests"), 5);
    assert_int_equal(tu_gauge(r, "net.conns"), -3);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    const struct mms_field_info *fi;
    const struct mms_value *v = tu_value(s, "io.latency", &fi);
    assert_int_equal(v->status, 0);
    assert_int_equal(v->v.hist->count, 6);
    tu_hist_check(v->v.hist, 1);
    v = tu_value(s, "app.small", &fi);
    assert_int_equal(fi->kind, MMS_KIND_SCALAR);
    assert_int_equal(fi->type, MMS_TYPE_U16);
    assert_int_equal(v->v.u64, 700);
    assert_string_equal(tu_value(s, "app.state", NULL)->v.str.ptr, "serving");
    assert_int_equal(mms_snapshot_ntables(s), 1);
    assert_int_equal(mms_snapshot_nrecords(s, 0), 2);
    const struct mms_record_info *ri = mms_snapshot_record(s, 0, 0);
    assert_true(ri->overflow);
    assert_memory_equal(ri->key, "(other)", 7);
    ri = mms_snapshot_record(s, 0, 1);
    assert_int_equal(ri->m[0].v.u64, 1);
    assert_int_equal(ri->m[1].count, 1);
    assert_int_equal(ri->m[2].v.u64, 50);
    assert_int_equal(ri->m[2].arg, 7);
    mms_snapshot_free(s);
    mms_reader_close(r);
    expect("unchanged copy", 0);
}

static void test_short_and_foreign_files(void **state)
{
    (void)state;
    reset();
    expect_len("shorter than a header", MMS_HEADER_SIZE - 1, MMS_ETRUNCATED);
    expect_len("empty", 0, MMS_ETRUNCATED);
    SET(wh()->p.magic[0], 'X', MMS_EFORMAT);
    SET(wh()->p.endian, __builtin_bswap32(MMS_ENDIAN_MARK), MMS_EENDIAN);
    SET(wh()->p.endian, 0x12345678u, MMS_EFORMAT);
    SET(wh()->p.major, 2, MMS_EOLDVERSION);
    SET(wh()->p.major, 4, MMS_EVERSION);
    SET(wh()->p.major, 0, MMS_EVERSION);
    assert_string_equal(mms_strerror(MMS_EOLDVERSION),
                        "version 2 file: written by an older mmstats; read it "
                        "with the tools of that version");
    /* A higher minor version is read. */
    SET(wh()->p.minor, 7, 0);
}

static void test_states(void **state)
{
    (void)state;
    SET(wh()->p.state, 0, -EAGAIN);
    SET(wh()->p.state, MMS_STATE_INIT, -EAGAIN);
    SET(wh()->p.state, MMS_STATE_READY, 0);
    SET(wh()->p.state, MMS_STATE_FOLDING, 0);
    SET(wh()->p.state, 5, MMS_ECORRUPT);
}

static void test_header_geometry(void **state)
{
    (void)state;
    SET(wh()->p.header_size, 2304, MMS_ECORRUPT);
    SET(wh()->p.header_size, 4100, MMS_ECORRUPT);
    SET(wh()->p.header_size, 0xfffffff8u, MMS_ECORRUPT);
    SET(wh()->heap_off, 8192, MMS_ECORRUPT);
    SET(wh()->extent_size, 3u << 20, MMS_ECORRUPT);
    SET(wh()->extent_size, 32768, MMS_ECORRUPT);
    SET(wh()->extent_size, 1u << 31, MMS_ECORRUPT);
    SET(wh()->file_size, fx.size + 4096, MMS_ETRUNCATED);
    SET(wh()->heap_used, fx.size + 8, MMS_ECORRUPT);
    SET(wh()->heap_used, vh()->heap_off - 8, MMS_ECORRUPT);
    SET(wh()->heap_used, vh()->heap_used - 4, MMS_ECORRUPT);
    /* Fewer blocks than there are: read up to there. */
    SET(wh()->heap_used, vh()->heap_off, 0);
    /* Counters are numbers only. */
    SET(wh()->dropped, UINT64_MAX, 0);
    SET(wh()->nspid_count, 1000, 0);
    SET(wh()->cgroup_len, 100000, 0);
    SET(wh()->cmdline_len, 100000, 0);
}

static void test_block_headers(void **state)
{
    (void)state;
    struct mms_block *b;
    reset();
    b = &field("net.conns")->b;
    SET(b->size, 4, MMS_ECORRUPT);
    SET(b->size, b->size + 4, MMS_ECORRUPT);
    SET(b->size, (uint32_t)(vh()->heap_used - off_of(b) + 8), MMS_ECORRUPT);
    SET(b->bstate, 0, MMS_ECORRUPT);
    SET(b->bstate, 4, MMS_ECORRUPT);
    /* PENDING and DEAD blocks are skipped: the field is just not there. */
    SET(b->bstate, MMS_BS_PENDING, 0);
    SET(b->bstate, MMS_BS_DEAD, 0);
    /* An unknown type is skipped (a newer minor's). */
    SET(b->type, 99, 0);
    /* A zero header: the walk stops there, for now. */
    reset();
    memset(b, 0, 8);
    expect("zero block header", 0);
    /* A block too small for its type's fixed part. */
    reset();
    b = &field("net.conns")->b;
    b->type = MMS_BLOCK_TABLE;
    expect("table smaller than its fixed part", MMS_ECORRUPT);
    reset();
    b = block(MMS_BLOCK_SHARD, 0);
    SET(b->size, 16, MMS_ECORRUPT);
}

static void test_field_blocks(void **state)
{
    (void)state;
    struct mms_field_block *f;
    reset();
    f = field("net.conns");
    SET(f->index, vh()->next_index, MMS_ECORRUPT);
    SET(f->index, field("http.requests")->index, MMS_ECORRUPT);
    SET(f->name_len, 0, MMS_ECORRUPT);
    SET(f->name_len, 128, MMS_ECORRUPT);
    SET(f->units_len, 32, MMS_ECORRUPT);
    SET(f->help_len, 256, MMS_ECORRUPT);
    SET(f->name_len, 60000, MMS_ECORRUPT);
    SET(((char *)(f + 1))[0], '1', MMS_ECORRUPT);
    SET(((char *)(f + 1))[3], '-', MMS_ECORRUPT);
    SET(f->flags, MMS_DF_SHARDED, MMS_ECORRUPT);
    SET(f->cell_size, 8, MMS_ECORRUPT);
    SET(f->value_off, f->value_off + 4, MMS_ECORRUPT);
    SET(f->value_off, 8, MMS_ECORRUPT);
    SET(f->value_off, f->b.size, MMS_ECORRUPT);
    SET(f->value_size, 16, MMS_ECORRUPT);
    SET(f->kind, 0, 0); /* unknown kinds are listed, not read */
    SET(f->kind, 200, 0);
    f = field("http.requests");
    SET(f->flags, 0, MMS_ECORRUPT);
    SET(f->cell_size, 16, MMS_ECORRUPT);
    SET(f->value_off, 72, MMS_ECORRUPT);
    SET(f->value_size, 8, MMS_ECORRUPT);
    SET(f->flags, MMS_DF_SHARDED | MMS_DF_WINDOW, MMS_ECORRUPT);
}

static void test_kind_parameters(void **state)
{
    (void)state;
    struct mms_field_block *f;
    struct mms_hist_param *hp;
    reset();
    f = field("io.latency");
    hp = (struct mms_hist_param *)f->param;
    SET(hp->bits, 0, MMS_ECORRUPT);
    SET(hp->bits, 8, MMS_ECORRUPT);
    SET(hp->max_exp, LAT_BITS, MMS_ECORRUPT);
    SET(hp->max_exp, 64, MMS_ECORRUPT);
    SET(hp->nbuckets, hp->nbuckets + 1, MMS_ECORRUPT);
    SET(hp->nchunks, hp->nchunks + 1, MMS_ECORRUPT);
    SET(hp->win_bits, 0, MMS_ECORRUPT);
    SET(hp->win_bits, LAT_BITS + 1, MMS_ECORRUPT);
    SET(hp->win_off, hp->win_off + 8, MMS_ECORRUPT);
    SET(hp->win_nbuckets, hp->win_nbuckets + 1, MMS_ECORRUPT);
    SET(f->cell_size, f->cell_size - 8, MMS_ECORRUPT);
    SET(f->flags, MMS_DF_SHARDED, MMS_ECORRUPT); /* ring without WINDOW */
    f = field("io.ops");
    SET(f->cell_size, 8, MMS_ECORRUPT);
    f = field("app.state");
    SET(f->value_size, 20, MMS_ECORRUPT);
    SET(f->value_size, 16, MMS_ECORRUPT);
    SET(f->flags, MMS_DF_WINDOW, MMS_ECORRUPT);
    f = field("app.pos");
    struct mms_struct_param *sp = (struct mms_struct_param *)f->param;
    SET(sp->nmembers, 0, MMS_ECORRUPT);
    SET(sp->nmembers, 33, MMS_ECORRUPT);
    SET(f->value_size, 24, MMS_ECORRUPT);
    uint8_t *schema =
        (uint8_t *)(f + 1) + f->name_len + f->units_len + f->help_len + 3;
    SET(schema[0], 4, MMS_ECORRUPT);   /* member type */
    SET(schema[1], 0, MMS_ECORRUPT);   /* name length */
    SET(schema[1], 40, MMS_ECORRUPT);  /* past the table */
    SET(schema[3], 'z', MMS_ECORRUPT); /* its NUL */
    SET(schema[2], '-', MMS_ECORRUPT);
    SET(f->schema_len, 3, MMS_ECORRUPT);
    f = field("app.avg");
    struct mms_movavg_param *mp = (struct mms_movavg_param *)f->param;
    SET(mp->capacity, 0, MMS_ECORRUPT);
    SET(mp->capacity, 65537, MMS_ECORRUPT);
    SET(mp->capacity, 5, MMS_ECORRUPT);
    f = field("app.small");
    SET(f->type, 0, MMS_ECORRUPT);
    SET(f->type, MMS_TYPE_MAX + 1, MMS_ECORRUPT);
    SET(f->value_size, 4, MMS_ECORRUPT);
}

/* The single-field group cell of field NAME (its CELLS block's first). */
static uint8_t *cell_of(const char *name)
{
    uint32_t index = field(name)->index;
    for (int n = 0;; n++) {
        struct mms_cells_block *cb = (void *)block(MMS_BLOCK_CELLS, n);
        if (cb->first == index)
            return (uint8_t *)(cb + 1);
    }
}

static void test_shards_areas_cells(void **state)
{
    (void)state;
    reset();
    struct mms_shard_block *sb = (void *)block(MMS_BLOCK_SHARD, 1);
    SET(sb->shard, vh()->next_shard, MMS_ECORRUPT);
    SET(sb->shard, 0, MMS_ECORRUPT); /* shard 0 twice */
    struct mms_area_block *ab = (void *)block(MMS_BLOCK_AREA, 0);
    SET(ab->shard, vh()->next_shard, MMS_ECORRUPT);
    SET(ab->used, ab->b.size, MMS_ECORRUPT);
    SET(ab->b.size, ab->b.size - 8, MMS_ECORRUPT);
    struct mms_cells_block *cb = (void *)(cell_of("io.latency") - 16);
    SET(cb->count, 0, MMS_ECORRUPT);
    SET(cb->count, cb->count + 1, MMS_ECORRUPT); /* + io.ops's cell */
    SET(cb->first, vh()->next_index, MMS_ECORRUPT);
    SET(cb->first, 0xfffffff0u, MMS_ECORRUPT);
    SET(cb->b.size, cb->b.size + 8, MMS_ECORRUPT);
    SET(cb->b.type, MMS_BLOCK_FIELD, MMS_ECORRUPT); /* inside an area */
    /* A CELLS block's index that is a table. */
    struct mms_table_block *tb = (void *)block(MMS_BLOCK_TABLE, 0);
    SET(cb->first, tb->index, MMS_ECORRUPT);
    /* Cells outside an area. */
    reset();
    block(MMS_BLOCK_SHARD, 1)->type = MMS_BLOCK_CELLS;
    expect("CELLS in the heap", MMS_ECORRUPT);
    /* An area or chunk off a cache line, or not whole lines. */
    reset();
    struct mms_field_block *f = field("net.conns");
    assert_true(off_of(f) % 64 != 0 || off_of(field("sys.load")) % 64 != 0);
    if (off_of(f) % 64 == 0)
        f = field("sys.load");
    f->b.type = MMS_BLOCK_AREA;
    expect("area off a cache line", MMS_ECORRUPT);
    reset();
    f = off_of(field("net.conns")) % 64 ? field("net.conns")
                                        : field("sys.load");
    f->b.type = MMS_BLOCK_CHUNK;
    expect("chunk off a cache line", MMS_ECORRUPT);
}

static void test_chunks(void **state)
{
    (void)state;
    /* A bad chunk reference spoils that value only (status), not the
     * snapshot. */
    struct mms_chunk_block *ch;
    int statuses[6];
    const char *what[6] = {"index",    "chunk", "shard",
                           "nbuckets", "type",  "offset"};
    for (int k = 0; k < 6; k++) {
        reset();
        ch = (void *)block(MMS_BLOCK_CHUNK32, 0); /* a thread's (3.2) */
        switch (k) {
        case 0:
            ch->index++;
            break;
        case 1:
            ch->chunk++;
            break;
        case 2:
            ch->shard += 5;
            break;
        case 3:
            ch->nbuckets++;
            break;
        case 4:
            ch->b.type = MMS_BLOCK_FILLER;
            break;
        default:
            break;
        }
        if (k == 5) {
            /* Point a directory entry at the middle of a block. */
            uint32_t *dir = (uint32_t *)(cell_of("io.latency") + 40);
            for (int d = 0; d < 8; d++)
                if (dir[d]) {
                    dir[d] += 64;
                    break;
                }
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/c%d.mmstats", fx.dir, k);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_int_equal(write(fd, fx.work, fx.size), (ssize_t)fx.size);
        close(fd);
        mms_reader *r;
        assert_int_equal(mms_reader_open(&r, path), 0);
        mms_snapshot *s;
        assert_int_equal(mms_snapshot_take(r, &s), 0);
        statuses[k] = tu_value(s, "io.latency", NULL)->status;
        if (k != 5)
            assert_int_equal(tu_value(s, "http.requests", NULL)->v.u64, 5);
        mms_snapshot_free(s);
        mms_reader_close(r);
        unlink(path);
        if (statuses[k] != MMS_ECORRUPT)
            fail_msg("chunk %s: status %d", what[k], statuses[k]);
    }
}

static void test_tables_and_records(void **state)
{
    (void)state;
    reset();
    struct mms_table_block *tb = (void *)block(MMS_BLOCK_TABLE, 0);
    struct mms_member_desc *md = (struct mms_member_desc *)(tb + 1);
    SET(tb->index, vh()->next_index, MMS_ECORRUPT);
    SET(tb->capacity, 1, MMS_ECORRUPT);
    SET(tb->capacity, MMS_TABLE_CAP_MAX + 1, MMS_ECORRUPT);
    SET(tb->key_type, 3, MMS_ECORRUPT);
    SET(tb->key_max, 0, MMS_ECORRUPT);
    SET(tb->key_max, MMS_KEY_MAX + 1, MMS_ECORRUPT);
    SET(tb->nmembers, 0, MMS_ECORRUPT);
    SET(tb->nmembers, 33, MMS_ECORRUPT);
    SET(tb->cell_size, tb->cell_size + 4, MMS_ECORRUPT);
    SET(tb->cell_size, 16, MMS_ECORRUPT); /* members outside it */
    SET(tb->name_len, 0, MMS_ECORRUPT);
    SET(md[0].kind, 0, MMS_ECORRUPT);
    SET(md[0].kind, 7, MMS_ECORRUPT);
    SET(md[0].name_len, 0, MMS_ECORRUPT);
    SET(md[0].name[0], '.', MMS_ECORRUPT);
    SET(md[0].units_len, 16, MMS_ECORRUPT);
    SET(md[0].offset, 4, MMS_ECORRUPT);
    SET(md[0].offset, 0, MMS_ECORRUPT);
    SET(md[0].offset, md[1].offset, MMS_ECORRUPT); /* overlap */
    SET(md[0].size, 16, MMS_ECORRUPT);
    SET(md[1].bits, 9, MMS_ECORRUPT);
    SET(md[2].size, 8, MMS_ECORRUPT);
    struct mms_record_block *rb = (void *)block(MMS_BLOCK_RECORD, 1);
    SET(rb->table, field("net.conns")->index, MMS_ECORRUPT);
    SET(rb->table, vh()->next_index + 5, MMS_ECORRUPT);
    SET(rb->index, tb->index, MMS_ECORRUPT);
    SET(rb->key_len, tb->key_max + 1, MMS_ECORRUPT);
    SET(rb->key_len, (uint16_t)(rb->b.size), MMS_ECORRUPT);
    /* More records than the table holds: the extra ones are ignored. */
    SET(tb->capacity, 2, 0);
}

static void test_string_length_is_clamped(void **state)
{
    (void)state;
    reset();
    struct mms_field_block *f = field("app.state");
    struct mms_string_cell *c =
        (struct mms_string_cell *)((uint8_t *)f + f->value_off);
    c->len = 100000;
    char path[4096];
    snprintf(path, sizeof path, "%s/s.mmstats", fx.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(write(fd, fx.work, fx.size), (ssize_t)fx.size);
    close(fd);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, path), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(tu_value(s, "app.state", NULL)->v.str.len, STATE_CAP);
    mms_snapshot_free(s);
    mms_reader_close(r);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_file_reads_back),
        cmocka_unit_test(test_short_and_foreign_files),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_header_geometry),
        cmocka_unit_test(test_block_headers),
        cmocka_unit_test(test_field_blocks),
        cmocka_unit_test(test_kind_parameters),
        cmocka_unit_test(test_shards_areas_cells),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_tables_and_records),
        cmocka_unit_test(test_string_length_is_clamped),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
