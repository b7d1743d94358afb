/* Updates of field values: the hot path. Plain or relaxed atomic stores
 * into the mapped file; no locks and no system calls (a window field reads
 * the vDSO clock).
 *
 * Two update disciplines:
 * - sharded values (counters, histograms): the thread's own shard takes
 *   single-instruction adds; the shared shard 0 takes atomic adds.
 * - global multi-word values (strings, structs, moving averages): a
 *   seqlock taken with a CAS; a setter that finds it taken drops its value
 *   (as if it had run just before the other) instead of waiting, which
 *   could deadlock a signal handler. */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "update.h"

uint64_t mms_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t window_now_ns(const mms_writer *w)
{
    if (w->clock_ns)
        return w->clock_ns();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Every update checks the handle's kind: a handle of another kind would
 * point the store at another layout (one compare, on a line the update
 * reads anyway). */
#define KIND_OK(f, k) MMS_LIKELY((f) && (f)->kind == (k))

void mms_counter_add(mms_field *f, uint64_t n)
{
    if (!KIND_OK(f, MMS_KIND_COUNTER))
        return;
    struct mms__shard_ref sh = mms__shard(f->w);
    uint8_t *cell = sh.base + f->off;
    mms__add_cell((uint64_t *)cell, n, sh.owned);
    if (f->flags & MMS_DF_WINDOW) {
        uint64_t sec = (uint64_t)window_now_ns(f->w) / 1000000000u;
        struct mms_window_slot *s = (struct mms_window_slot *)mms__window_slot(
            cell + f->win_off, sizeof *s, sec, 1, sh.owned);
        if (MMS_LIKELY(s))
            mms__add_cell(&s->sum, n, sh.owned);
    }
}

void mms_counter_inc(mms_field *f)
{
    mms_counter_add(f, 1);
}

void mms_hist_record(mms_field *f, uint64_t v)
{
    if (!KIND_OK(f, MMS_KIND_HISTOGRAM))
        return;
    mms__hist_record_sh(f, mms__shard(f->w), v,
                        (f->flags & MMS_DF_WINDOW) ? window_now_ns(f->w) : 0);
}

void mms_timer_stop(mms_timer *t)
{
    mms_field *f = t->field;
    if (!KIND_OK(f, MMS_KIND_HISTOGRAM))
        return;
    uint64_t end = mms_now_ns();
    uint64_t d = end > t->start_ns ? end - t->start_ns : 0;
    /* Without an injected clock, the window clock is this same one. */
    int64_t now = 0;
    if (f->flags & MMS_DF_WINDOW)
        now = f->w->clock_ns ? f->w->clock_ns() : (int64_t)end;
    mms__hist_record_sh(f, mms__shard(f->w), d, now);
}

static inline uint64_t *global_cell(mms_field *f)
{
    return (uint64_t *)(f->w->base + f->off);
}

void mms_gauge_set(mms_field *f, int64_t v)
{
    if (KIND_OK(f, MMS_KIND_GAUGE))
        mms_store_relaxed(global_cell(f), (uint64_t)v);
}

void mms_gauge_add(mms_field *f, int64_t delta)
{
    if (KIND_OK(f, MMS_KIND_GAUGE))
        mms_add_relaxed(global_cell(f), (uint64_t)delta);
}

void mms_gauge_set_f64(mms_field *f, double v)
{
    if (!KIND_OK(f, MMS_KIND_GAUGE_F64))
        return;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    mms_store_relaxed(global_cell(f), bits);
}

void mms_gauge_add_f64(mms_field *f, double delta)
{
    if (!KIND_OK(f, MMS_KIND_GAUGE_F64))
        return;
    uint64_t *cell = global_cell(f);
    uint64_t old = mms_load_relaxed(cell), next;
    do {
        double d;
        memcpy(&d, &old, sizeof d);
        d += delta;
        memcpy(&next, &d, sizeof next);
    } while (!__atomic_compare_exchange_n(cell, &old, next, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}

/* Seqlock writer for global cells: 0 with *SEQ set when the lock was
 * taken (seq now odd), -1 when another setter holds it. */
static inline int seq_begin(uint64_t *seqp, uint64_t *seq)
{
    *seq = mms_load_relaxed(seqp);
    if ((*seq & 1) || !mms_cas_acq_rel(seqp, seq, *seq + 1))
        return -1;
    mms_fence_release();
    return 0;
}

static inline void seq_end(uint64_t *seqp, uint64_t seq)
{
    mms_store_release(seqp, seq + 2);
}

/* Data goes in as 8-byte atomic stores, which readers load the same way
 * (no data race, TSan-clean). */
void mms_string_setn(mms_field *f, const char *s, size_t len)
{
    if (!KIND_OK(f, MMS_KIND_STRING))
        return;
    struct mms_string_cell *c = (struct mms_string_cell *)global_cell(f);
    uint32_t cap = f->size - (uint32_t)sizeof *c;
    uint64_t seq;
    if (len > cap)
        len = cap;
    if (seq_begin(&c->seq, &seq) < 0)
        return;
    uint64_t *dst = (uint64_t *)(c + 1);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t word = 0; /* readers copy only len bytes of it */
        memcpy(&word, s + i, len - i < 8 ? len - i : 8);
        mms_seq_store(&dst[i / 8], word);
    }
    mms_seq_store(&c->len, (uint32_t)len);
    seq_end(&c->seq, seq);
}

void mms_string_set(mms_field *f, const char *s)
{
    mms_string_setn(f, s, s ? strlen(s) : 0);
}

void mms_struct_set(mms_field *f, const void *values)
{
    if (!KIND_OK(f, MMS_KIND_STRUCT) || !values)
        return;
    uint64_t *cell = global_cell(f), seq;
    if (seq_begin(&cell[0], &seq) < 0)
        return;
    const uint8_t *src = values;
    for (uint32_t i = 0; i < f->n; i++) {
        uint64_t word;
        memcpy(&word, src + 8 * i, 8);
        mms_seq_store(&cell[1 + i], word);
    }
    seq_end(&cell[0], seq);
}

void mms_movavg_add(mms_field *f, double v)
{
    if (!KIND_OK(f, MMS_KIND_MOVAVG))
        return;
    uint64_t *cell = global_cell(f), seq;
    if (seq_begin(&cell[0], &seq) < 0)
        return;
    uint64_t n = mms_load_relaxed(&cell[1]), word;
    memcpy(&word, &v, sizeof word);
    mms_seq_store(&cell[2 + n % f->n], word);
    mms_seq_store(&cell[1], n + 1);
    seq_end(&cell[0], seq);
}
