/* libFuzzer target for the reader: any bytes, written as a stats file,
 * must open with an error code or open and read cleanly, never crash or
 * read out of bounds (built with ASan and UBSan). Every query a tool
 * makes is exercised on whatever opens. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void query(mms_reader *r)
{
    struct mms_proc_info pi;
    mms_reader_info(r, &pi);
    (void)mms_reader_liveness(r);
    mms_snapshot *s;
    if (mms_snapshot_take_flags(r, MMS_SNAP_SHARDS, &s) < 0)
        return;
    for (size_t k = 0; k < mms_snapshot_nshards(s); k++) {
        struct mms_shard_info si;
        struct mms_shard_value sv;
        mms_snapshot_shard(s, k, &si);
        for (size_t i = 0; i < mms_snapshot_nfields(s); i++)
            mms_snapshot_shard_value(s, k, i, &sv);
    }
    for (size_t t = 0; t < mms_snapshot_ntables(s); t++) {
        const struct mms_table_info *ti = mms_snapshot_table(s, t);
        uint32_t nrec;
        uint64_t hits;
        mms_snapshot_table_counts(s, t, &nrec, &hits);
        for (size_t k = 0; k < mms_snapshot_nrecords(s, t); k++) {
            const struct mms_record_info *ri = mms_snapshot_record(s, t, k);
            volatile uint8_t sink = ri->key_len ? ri->key[ri->key_len - 1] : 0;
            (void)sink;
            for (uint32_t m = 0; m < ti->nmembers; m++) {
                struct mms_hist h;
                if (ti->members[m].kind == MMS_MK_HIST &&
                    mms_snapshot_record_hist(s, t, k, m, &h) == 0) {
                    volatile double q = mms_hist_quantile(&h, 0.5);
                    (void)q;
                }
                if (ti->members[m].kind == MMS_MK_HIST)
                    mms_hist_free(&h);
            }
        }
    }
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++) {
        const struct mms_field_info *f = mms_snapshot_field(s, i);
        const struct mms_value *v = mms_snapshot_value(s, i);
        volatile size_t sink =
            strlen(f->name) + strlen(f->units) + strlen(f->help);
        (void)sink;
        if (f->kind == MMS_KIND_STRING && v->status == 0)
            sink = strlen(v->v.str.ptr);
        if (f->kind == MMS_KIND_HISTOGRAM) {
            volatile double q = mms_hist_quantile(v->v.hist, 0.5) +
                                mms_hist_quantile(v->v.hist, 0.999) +
                                mms_hist_mean(v->v.hist);
            (void)q;
            struct mms_hist d;
            if (mms_hist_sub(&d, v->v.hist, v->v.hist) == 0)
                mms_hist_free(&d);
        }
        if (f->kind == MMS_KIND_STRUCT)
            for (uint32_t m = 0; m < v->v.st.n; m++)
                sink = strlen(v->v.st.m[m].name);
        if (f->flags & MMS_DF_WINDOW) {
            struct mms_window w;
            if (mms_snapshot_window(s, i, 60, &w) == 0) {
                volatile double q = mms_hist_quantile(&w.hist, 0.99);
                (void)q;
            }
            mms_window_free(&w);
        }
    }
    mms_snapshot_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0])
        snprintf(path, sizeof path, "/dev/shm/mmstats-fuzz-%ld.mmstats",
                 (long)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    close(fd);
    mms_reader *r;
    if (mms_reader_open(&r, path) == 0) {
        query(r);
        mms_reader_refresh(r);
        query(r);
        mms_reader_close(r);
    }
    return 0;
}
