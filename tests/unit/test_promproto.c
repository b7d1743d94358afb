/* The exporter's native histograms (tools/prom_native.c): the bucket
 * index, the mapping of every file bucket and its error bound, the one
 * docs/exporter.md gives; and the protobuf format (tools/out_promproto.c):
 * text turned into MetricFamily messages, read back with protobuf-c. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom_native.h"
#include "testutil.h"
#ifdef MMS_HAVE_PROMPROTO
#include "metrics.pb-c.h"
#include "promproto.h"
#endif

static double native_low(int32_t k, int schema)
{
    return exp2(ldexp((double)(k - 1), -schema));
}

static double native_high(int32_t k, int schema)
{
    return exp2(ldexp((double)k, -schema));
}

static void test_index(void **state)
{
    (void)state;
    for (int s = PROM_SCHEMA_MIN; s <= PROM_SCHEMA_MAX; s++) {
        /* Powers of two are upper bounds: (2^-1, 1] is bucket 0. */
        assert_int_equal(prom_native_index(1.0, s), 0);
        assert_int_equal(prom_native_index(nextafter(1.0, 2), s), 1);
        for (int32_t k = -3000; k <= 3000; k += 7) {
            double hi = native_high(k, s);
            if (hi == 0 || isinf(hi))
                continue;
            assert_int_equal(prom_native_index(hi, s), k);
            assert_int_equal(prom_native_index(nextafter(hi, INFINITY), s),
                             k + 1);
        }
    }
    assert_int_equal(prom_native_schema(5), 5);
    assert_int_equal(prom_native_schema(6), 6);
    assert_int_equal(prom_native_schema(9), PROM_SCHEMA_MAX);
}

/* For every bucket of a file's geometry (BITS, max_exp 36), a histogram
 * holding one value there: the native bucket holds the bucket's middle,
 * indexes grow with the file's, and no value of the file bucket is
 * further than BOUND (relative) from any point of the native one; the
 * worst case is returned. */
static double worst_error(unsigned bits, double scale, double bound)
{
    struct mms_hist h;
    assert_int_equal(mms_hist_init(&h, bits, 36), 0);
    double worst = 0;
    int32_t last = INT32_MIN;
    for (uint32_t i = 1; i + 1 < h.nbuckets; i++) {
        uint64_t lo = mms_hist_bucket_low(i, bits, 36);
        uint64_t hi = mms_hist_bucket_high(i, bits, 36);
        memset(h.buckets, 0, h.nbuckets * sizeof *h.buckets);
        h.buckets[i] = 3;
        h.count = 3;
        h.min = lo;
        h.max = hi;
        h.sum = 3 * lo;
        struct prom_nhist nh;
        assert_int_equal(prom_nhist_from(&nh, &h, scale), 0);
        assert_int_equal(nh.schema, (int)bits);
        assert_int_equal(nh.n, 1);
        assert_int_equal(nh.cnt[0], 3);
        assert_int_equal(nh.zero_count, 0);
        int32_t k = nh.index[0];
        double a = native_low(k, nh.schema), b = native_high(k, nh.schema);
        double mid = ((double)lo + (double)(hi - lo) / 2) / scale;
        assert_true(a < mid && mid <= b);
        assert_true(k >= last);
        last = k;
        for (int e = 0; e < 2; e++) {
            double v = (double)(e ? hi : lo) / scale;
            double err = fmax(fabs(a - v), fabs(b - v)) / v;
            worst = fmax(worst, err);
        }
        prom_nhist_free(&nh);
    }
    mms_hist_free(&h);
    assert_true(worst <= bound);
    return worst;
}

static void test_error_bound(void **state)
{
    (void)state;
    /* docs/exporter.md: 3.8% for the shim's 32 buckets per power of two,
     * 1.8% for the library's 64, 1.0% for 128. */
    double e5 = worst_error(5, 1e9, 0.038);
    double e6 = worst_error(6, 1e9, 0.018);
    double e7 = worst_error(7, 1e9, 0.010);
    worst_error(5, 1, 0.038);
    worst_error(6, 1, 0.018);
    print_message("worst error: bits 5 %.2f%%, 6 %.2f%%, 7 %.2f%%\n", e5 * 100,
                  e6 * 100, e7 * 100);
    /* The bound is met, not loose: the finer the file, the smaller. */
    assert_true(e5 > 0.03 && e6 < e5 && e7 < e6);
}

/* Zeros go to the zero bucket, neighbours that share a native bucket are
 * added up, the overflow bucket goes where the maximum is. */
static void test_nhist(void **state)
{
    (void)state;
    struct mms_hist h;
    assert_int_equal(mms_hist_init(&h, 5, 20), 0);
    uint64_t vals[] = {0, 0, 1, 1000, 1001, 1002, 1003, 5000000};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        mms_hist_add_value(&h, vals[i]);
    struct prom_nhist nh;
    assert_int_equal(prom_nhist_from(&nh, &h, 1), 0);
    assert_int_equal(nh.schema, 5);
    assert_int_equal(nh.count, 8);
    assert_int_equal(nh.zero_count, 2);
    assert_true(nh.sum == (double)h.sum);
    uint64_t in = 0;
    for (size_t i = 0; i < nh.n; i++) {
        in += nh.cnt[i];
        if (i)
            assert_true(nh.index[i] > nh.index[i - 1]);
    }
    assert_int_equal(in, 6);
    assert_int_equal(nh.index[0], prom_native_index(1.0, 5));
    assert_int_equal(nh.index[nh.n - 1], prom_native_index(5000000.0, 5));
    /* 1000..1003: 1000 is in [992, 1023] (width 32, one file bucket) */
    assert_int_equal(nh.cnt[1], 4);
    prom_nhist_free(&nh);
    mms_hist_free(&h);
}

#ifdef MMS_HAVE_PROMPROTO

static void test_accept(void **state)
{
    (void)state;
    const char *proto = "application/vnd.google.protobuf;"
                        "proto=io.prometheus.client.MetricFamily;"
                        "encoding=delimited";
    char buf[512];
    assert_false(promproto_accepted(NULL));
    assert_false(promproto_accepted(""));
    assert_false(promproto_accepted("*/*"));
    assert_false(promproto_accepted("text/plain;version=0.0.4"));
    assert_true(promproto_accepted(proto));
    /* Prometheus 2.42 with native histograms. */
    snprintf(buf, sizeof buf,
             "%s,application/openmetrics-text;version=1.0.0;q=0.8,"
             "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
             proto);
    assert_true(promproto_accepted(buf));
    snprintf(buf, sizeof buf, "%s;q=0.2,text/plain;q=0.9", proto);
    assert_false(promproto_accepted(buf));
    snprintf(buf, sizeof buf, "%s;q=0,*/*", proto);
    assert_false(promproto_accepted(buf));
    /* Another encoding, another message. */
    assert_false(promproto_accepted("application/vnd.google.protobuf;"
                                    "proto=io.prometheus.client.MetricFamily;"
                                    "encoding=text"));
    assert_false(promproto_accepted("application/vnd.google.protobuf;"
                                    "proto=other.Message;encoding=delimited"));
}

/* The native bucket of the middle of V's file bucket (BITS, max_exp 36),
 * V / SCALE, schema BITS. */
static int32_t mid_index(uint64_t v, unsigned bits, double scale)
{
    uint32_t i = mms_hist_index(v, bits, 36);
    uint64_t lo = mms_hist_bucket_low(i, bits, 36);
    uint64_t hi = mms_hist_bucket_high(i, bits, 36);
    return prom_native_index(((double)lo + (double)(hi - lo) / 2) / scale,
                             (int)bits);
}

/* The delimited messages of BUF (N bytes), unpacked into FAM (at most
 * MAX); returns how many. */
static size_t unpack_all(const unsigned char *buf, size_t n,
                         Io__Prometheus__Client__MetricFamily **fam, size_t max)
{
    size_t k = 0, p = 0;
    while (p < n && k < max) {
        size_t len = 0;
        for (int shift = 0; p < n; shift += 7) {
            unsigned char b = buf[p++];
            len |= (size_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        assert_true(p + len <= n);
        fam[k] =
            io__prometheus__client__metric_family__unpack(NULL, len, buf + p);
        assert_non_null(fam[k]);
        k++;
        p += len;
    }
    assert_int_equal(p, n);
    return k;
}

static const char *label_of(const Io__Prometheus__Client__Metric *m,
                            const char *name)
{
    for (size_t i = 0; i < m->n_label; i++)
        if (!strcmp(m->label[i]->name, name))
            return m->label[i]->value;
    return NULL;
}

static void test_from_text(void **state)
{
    (void)state;
    static const char text[] =
        "# HELP mmstats_calls_total Calls \\\\ made\\nhere.\n"
        "# TYPE mmstats_calls_total counter\n"
        "mmstats_calls_total{exe=\"a\\\"b\",family=\"io\",call=\"read\"} 12\n"
        "mmstats_calls_total{exe=\"c\",family=\"io\",call=\"write\"} 3\n"
        "# HELP mmstats_x_info a string\n"
        "# TYPE mmstats_x_info gauge\n"
        "mmstats_x_info{exe=\"a\",value=\"v,le=\\\"1\\\"\"} 1\n"
        "# HELP mmstats_t_seconds a timer\n"
        "# TYPE mmstats_t_seconds histogram\n"
        "mmstats_t_seconds_bucket{exe=\"a\",le=\"1e-06\"} 0\n"
        "mmstats_t_seconds_bucket{exe=\"a\",le=\"2e-06\"} 5\n"
        "mmstats_t_seconds_bucket{exe=\"a\",le=\"+Inf\"} 6\n"
        "mmstats_t_seconds_sum{exe=\"a\"} 0.5\n"
        "mmstats_t_seconds_count{exe=\"a\"} 6\n"
        "mmstats_t_seconds_bucket{exe=\"b\",le=\"+Inf\"} 0\n"
        "mmstats_t_seconds_sum{exe=\"b\"} 0\n"
        "mmstats_t_seconds_count{exe=\"b\"} 0\n"
        "# HELP mmstats_exporter_build_info The exporter's version.\n"
        "# TYPE mmstats_exporter_build_info gauge\n"
        "mmstats_exporter_build_info{version=\"1\"} 1\n"
        "mmstats_untyped NaN\n";
    /* A's histogram as the table keeps it: a zero, 4 values of 1.5 us
     * and one of 1.6 us (in ns, scaled to seconds). */
    struct mms_hist h;
    assert_int_equal(mms_hist_init(&h, 6, 36), 0);
    mms_hist_add_value(&h, 0);
    for (int i = 0; i < 4; i++)
        mms_hist_add_value(&h, 1500);
    mms_hist_add_value(&h, 1600);
    struct prom_natives *nat = NULL;
    assert_int_equal(
        prom_natives_add(&nat, "mmstats_t_seconds", "exe=\"a\"", &h, 1e9), 0);
    mms_hist_free(&h);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(promproto_from_text(f, text, sizeof text - 1, nat), 0);
    fclose(f);
    prom_natives_free(&nat);

    Io__Prometheus__Client__MetricFamily *fam[8];
    size_t n = unpack_all((unsigned char *)buf, len, fam, 8);
    assert_int_equal(n, 5);
    assert_string_equal(fam[0]->name, "mmstats_calls_total");
    assert_string_equal(fam[0]->help, "Calls \\ made\nhere.");
    assert_int_equal(fam[0]->type,
                     IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER);
    assert_int_equal(fam[0]->n_metric, 2);
    assert_string_equal(label_of(fam[0]->metric[0], "exe"), "a\"b");
    assert_string_equal(label_of(fam[0]->metric[0], "call"), "read");
    assert_true(fam[0]->metric[0]->counter->value == 12);
    assert_true(fam[0]->metric[1]->counter->value == 3);

    assert_int_equal(fam[1]->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE);
    assert_string_equal(label_of(fam[1]->metric[0], "value"), "v,le=\"1\"");
    assert_true(fam[1]->metric[0]->gauge->value == 1);

    assert_string_equal(fam[2]->name, "mmstats_t_seconds");
    assert_int_equal(fam[2]->type,
                     IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM);
    assert_int_equal(fam[2]->n_metric, 2);
    const Io__Prometheus__Client__Histogram *ha = fam[2]->metric[0]->histogram;
    assert_int_equal(fam[2]->metric[0]->n_label, 1);
    assert_string_equal(label_of(fam[2]->metric[0], "exe"), "a");
    assert_int_equal(ha->sample_count, 6);
    assert_true(ha->sample_sum == 0.5);
    assert_int_equal(ha->n_bucket, 2); /* +Inf left to the count */
    assert_true(ha->bucket[1]->upper_bound == 2e-06);
    assert_int_equal(ha->bucket[1]->cumulative_count, 5);
    assert_true(ha->has_schema && ha->schema == 6);
    assert_true(ha->zero_threshold > 0 && ha->zero_threshold < 1e-30);
    assert_int_equal(ha->zero_count, 1);
    /* 1500 and 1600 ns: two native buckets apart, two spans. */
    int32_t k1 = mid_index(1500, 6, 1e9);
    int32_t k2 = mid_index(1600, 6, 1e9);
    assert_true(k2 > k1 + 1);
    assert_int_equal(ha->n_positive_span, 2);
    assert_int_equal(ha->positive_span[0]->offset, k1);
    assert_int_equal(ha->positive_span[0]->length, 1);
    assert_int_equal(ha->positive_span[1]->offset, k2 - k1 - 1);
    assert_int_equal(ha->n_positive_delta, 2);
    assert_int_equal(ha->positive_delta[0], 4);
    assert_int_equal(ha->positive_delta[1], -3);
    /* B has no native data in the table: classic only. */
    const Io__Prometheus__Client__Histogram *hb = fam[2]->metric[1]->histogram;
    assert_false(hb->has_schema);
    assert_int_equal(hb->n_bucket, 0);
    assert_int_equal(hb->sample_count, 0);

    assert_string_equal(fam[3]->name, "mmstats_exporter_build_info");
    assert_string_equal(fam[4]->name, "mmstats_untyped");
    assert_int_equal(fam[4]->type,
                     IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED);
    assert_true(isnan(fam[4]->metric[0]->untyped->value));
    for (size_t i = 0; i < n; i++)
        io__prometheus__client__metric_family__free_unpacked(fam[i], NULL);
    free(buf);
}

static void test_bad_text(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "name_without_value\n",
        "m{a=\"unterminated} 1\n",
        "m{a=b} 1\n",
        "m 1x\n",
        "# TYPE h histogram\nh_bucket{a=\"1\"} 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        assert_int_equal(promproto_from_text(f, bad[i], strlen(bad[i]), NULL),
                         -EINVAL);
        fclose(f);
        free(buf);
    }
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index),    cmocka_unit_test(test_error_bound),
        cmocka_unit_test(test_nhist),
#ifdef MMS_HAVE_PROMPROTO
        cmocka_unit_test(test_accept),   cmocka_unit_test(test_from_text),
        cmocka_unit_test(test_bad_text),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
