/* Seed corpus for fuzz_reader: small valid stats files holding every kind
 * of field, per-thread cells, histogram chunks and a keyed table, so
 * mutations start from files that open. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <mmstats/mmstats.h>

static mms_writer *small_writer(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct mms_writer_options o = {.path = path,
                                   .max_fields = 64,
                                   .max_shards = 4,
                                   .initial_size = 8192,
                                   .flags = MMS_W_NO_ENV};
    mms_writer *w;
    int rc = mms_writer_open(&w, &o);
    if (rc < 0) {
        fprintf(stderr, "make_corpus: %s: %s\n", path, mms_strerror(rc));
        exit(1);
    }
    return w;
}

static mms_field *shared, *hf;

static void *worker(void *arg)
{
    (void)arg;
    mms_counter_add(shared, 3);
    mms_hist_record(hf, 1000);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    mms_field *f;

    mms_writer *w = small_writer(dir, "scalars.mmstats");
    mms_counter_new(w, "a.count", "calls", &f);
    mms_counter_add(f, 42);
    mms_gauge_new(w, "a.gauge", "bytes", &f);
    mms_gauge_set(f, -7);
    mms_gauge_f64_new(w, "a.ratio", NULL, &f);
    mms_gauge_set_f64(f, 0.5);
    mms_string_new(w, "a.text", 16, &f);
    mms_string_set(f, "hello");
    mms_static_i64(w, "a.static", NULL, 3);
    mms_writer_close(w);

    w = small_writer(dir, "hist.mmstats");
    struct mms_field_spec h = {.name = "h.lat",
                               .kind = MMS_KIND_HISTOGRAM,
                               .units = "ns",
                               .hist_bits = 2,
                               .hist_max_exp = 12};
    mms_field_add(w, &h, &f);
    for (uint64_t v = 1; v < 5000; v *= 3)
        mms_hist_record(f, v);
    mms_writer_close(w);

    w = small_writer(dir, "window.mmstats");
    struct mms_field_spec c = {
        .name = "w.count", .kind = MMS_KIND_COUNTER, .flags = MMS_DF_WINDOW};
    mms_field_add(w, &c, &f);
    mms_counter_add(f, 5);
    mms_writer_close(w);

    w = small_writer(dir, "struct.mmstats");
    static const struct mms_member m[] = {{"x", MMS_MEMBER_U64},
                                          {"y", MMS_MEMBER_F64}};
    mms_struct_new(w, "s.pair", m, 2, &f);
    struct {
        uint64_t x;
        double y;
    } v = {1, 2.5};
    mms_struct_set(f, &v);
    mms_movavg_new(w, "s.avg", NULL, 4, &f);
    mms_movavg_add(f, 1.0);
    mms_movavg_add(f, 3.0);
    mms_u8_new(w, "s.flag", NULL, &f);
    mms_u8_set(f, 7);
    mms_static_bool(w, "s.on", NULL, true);
    mms_static_f32(w, "s.f", NULL, 1.5f);
    mms_writer_close(w);

    w = small_writer(dir, "table.mmstats");
    struct mms_table_member tm[] = {
        {.name = "n", .kind = MMS_MK_SUM},
        {.name = "lat", .kind = MMS_MK_HIST, .hist_bits = 1, .hist_max_exp = 8},
        {.name = "slow", .kind = MMS_MK_MAXARG},
        {.name = "lo", .kind = MMS_MK_MIN}};
    struct mms_table_spec ts = {
        .name = "t.files", .capacity = 3, .members = tm, .nmembers = 4};
    mms_table *t;
    uint32_t rec;
    mms_table_new(w, &ts, &t);
    const char *keys[] = {"/a", "/b", "/c", "/d"};
    for (int i = 0; i < 4; i++) {
        mms_record_get(t, keys[i], 2, &rec);
        mms_record_update(t, rec, 0, 1);
        mms_record_update(t, rec, 1, (uint64_t)i * 40);
        mms_record_maxarg(t, rec, 2, (uint64_t)i, 9);
        mms_record_update(t, rec, 3, 5);
    }
    mms_writer_close(w);

    /* Cells in several shards (threads), one of them exited. */
    w = small_writer(dir, "threads.mmstats");
    mms_counter_new(w, "th.count", NULL, &f);
    shared = f;
    mms_hist_new(w, "th.hist", NULL, &hf);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    mms_counter_add(f, 1);
    mms_writer_close(w);
    return 0;
}
