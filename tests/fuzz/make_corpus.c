/* Seed corpus for fuzz_reader: small valid stats files holding every kind
 * of field, so mutations start from files that open. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include <mmstats/mmstats.h>

static mms_writer *small_writer(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct mms_writer_options o = {.path = path,
                                   .max_fields = 16,
                                   .string_bytes = 1024,
                                   .global_bytes = 2048,
                                   .shard_bytes = 4096,
                                   .max_shards = 2,
                                   .flags = MMS_W_NO_ENV};
    mms_writer *w;
    int rc = mms_writer_open(&w, &o);
    if (rc < 0) {
        fprintf(stderr, "make_corpus: %s: %s\n", path, mms_strerror(rc));
        exit(1);
    }
    return w;
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
    mms_writer_close(w);
    return 0;
}
