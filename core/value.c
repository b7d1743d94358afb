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

#include "internal.h"

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

static inline void add_cell(uint64_t *cell, uint64_t n, bool owned)
{
    if (MMS_LIKELY(owned))
        mms_add_owned_u64(cell, n);
    else
        mms_add_relaxed(cell, n);
}

/* Raise *P to at least V. Rarely stores once warm, so the CAS is cheap. */
static inline void raise_to(uint64_t *p, uint64_t v)
{
    uint64_t cur = mms_load_relaxed(p);
    while (v > cur && !__atomic_compare_exchange_n(p, &cur, v, 1,
                                                   __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
        ;
}

/* The slot of second SEC in a ring of SLOT_SIZE-byte slots, reset first if
 * it still holds an older second. The reset zeroes the data before the new
 * second is published, so a reader that sees the second sees no old data.
 * A slot is reused after MMS_WINDOW_SLOTS seconds, beyond any window. */
static inline uint8_t *window_slot(uint8_t *ring, size_t slot_size,
                                   uint64_t sec, size_t data_words)
{
    uint8_t *slot = ring + (sec % MMS_WINDOW_SLOTS) * slot_size;
    uint64_t *words = (uint64_t *)slot;
    if (MMS_UNLIKELY(mms_load_relaxed(&words[0]) != sec)) {
        for (size_t i = 1; i <= data_words; i++)
            mms_store_relaxed(&words[i], 0);
        mms_store_release(&words[0], sec);
    }
    return slot;
}

void mms_counter_add(mms_field *f, uint64_t n)
{
    if (MMS_UNLIKELY(!f))
        return;
    struct mms__shard_ref sh = mms__shard(f->w);
    uint8_t *cell = sh.base + f->off;
    add_cell((uint64_t *)cell, n, sh.owned);
    if (f->flags & MMS_DF_WINDOW) {
        uint64_t sec = (uint64_t)window_now_ns(f->w) / 1000000000u;
        struct mms_window_slot *s = (struct mms_window_slot *)window_slot(
            cell + f->win_off, sizeof *s, sec, 1);
        add_cell(&s->sum, n, sh.owned);
    }
}

void mms_counter_inc(mms_field *f) { mms_counter_add(f, 1); }

static void hist_record_at(mms_field *f, uint64_t v, int64_t now_ns)
{
    struct mms__shard_ref sh = mms__shard(f->w);
    struct mms_hist_cell *c = (struct mms_hist_cell *)(sh.base + f->off);
    uint64_t *buckets = (uint64_t *)(c + 1);
    uint32_t idx = mms__hist_index(v, f->bits, f->max_exp);
    uint64_t seq = 0;
    /* An odd seq on our own shard means this is a signal handler that
     * interrupted an update of this very histogram: add without touching
     * seq; the interrupted update makes it even when it ends. */
    bool lock = sh.owned && !((seq = mms_load_relaxed(&c->seq)) & 1);
    if (lock) {
        mms_store_relaxed(&c->seq, seq + 1);
        mms_fence_release();
    }
    if (MMS_LIKELY(sh.owned)) {
        mms_seq_add_owned(&c->count, 1);
        mms_seq_add_owned(&c->sum, v);
        mms_seq_add_owned(&buckets[idx], 1);
    } else {
        mms_add_relaxed(&c->count, 1);
        mms_add_relaxed(&c->sum, v);
        mms_add_relaxed(&buckets[idx], 1);
    }
    raise_to(&c->max, v);
    raise_to(&c->min_inv, ~v);
    if (f->flags & MMS_DF_WINDOW) {
        uint64_t sec = (uint64_t)now_ns / 1000000000u;
        size_t words = 2 + f->win_nbuckets;
        struct mms_hist_slot *s = (struct mms_hist_slot *)window_slot(
            (uint8_t *)c + f->win_off, sizeof *s + f->win_nbuckets * 8, sec,
            words);
        uint64_t *wb = (uint64_t *)(s + 1);
        uint32_t widx = mms__hist_index(v, f->win_bits, f->max_exp);
        add_cell(&s->count, 1, sh.owned);
        add_cell(&s->sum, v, sh.owned);
        add_cell(&wb[widx], 1, sh.owned);
    }
    if (lock)
        mms_store_release(&c->seq, seq + 2);
}

void mms_hist_record(mms_field *f, uint64_t v)
{
    if (MMS_UNLIKELY(!f))
        return;
    hist_record_at(f, v,
                   (f->flags & MMS_DF_WINDOW) ? window_now_ns(f->w) : 0);
}

void mms_timer_stop(mms_timer *t)
{
    mms_field *f = t->field;
    if (MMS_UNLIKELY(!f))
        return;
    uint64_t end = mms_now_ns();
    uint64_t d = end > t->start_ns ? end - t->start_ns : 0;
    /* Without an injected clock, the window clock is this same one. */
    int64_t now = 0;
    if (f->flags & MMS_DF_WINDOW)
        now = f->w->clock_ns ? f->w->clock_ns() : (int64_t)end;
    hist_record_at(f, d, now);
}

static inline uint64_t *global_cell(mms_field *f)
{
    return (uint64_t *)(f->w->base + f->off);
}

void mms_gauge_set(mms_field *f, int64_t v)
{
    if (MMS_LIKELY(f))
        mms_store_relaxed(global_cell(f), (uint64_t)v);
}

void mms_gauge_add(mms_field *f, int64_t delta)
{
    if (MMS_LIKELY(f))
        mms_add_relaxed(global_cell(f), (uint64_t)delta);
}

void mms_gauge_set_f64(mms_field *f, double v)
{
    if (MMS_UNLIKELY(!f))
        return;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    mms_store_relaxed(global_cell(f), bits);
}

void mms_gauge_add_f64(mms_field *f, double delta)
{
    if (MMS_UNLIKELY(!f))
        return;
    uint64_t *cell = global_cell(f);
    uint64_t old = mms_load_relaxed(cell), next;
    do {
        double d;
        memcpy(&d, &old, sizeof d);
        d += delta;
        memcpy(&next, &d, sizeof next);
    } while (!__atomic_compare_exchange_n(cell, &old, next, 1,
                                          __ATOMIC_RELAXED,
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
    if (MMS_UNLIKELY(!f))
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
        uint64_t word = 0; /* zero-padded: no stale bytes after the text */
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
    if (MMS_UNLIKELY(!f || !values))
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
    if (MMS_UNLIKELY(!f))
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
