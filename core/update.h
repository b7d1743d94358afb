/* The update primitives of the hot path, inlined into value.c and into
 * the preload shim (which updates several fields of one shard at once).
 * Internal: part of no public API. */
#ifndef MMS_UPDATE_H
#define MMS_UPDATE_H

#include "internal.h"

static inline void mms__add_cell(uint64_t *cell, uint64_t n, bool owned)
{
    if (MMS_LIKELY(owned))
        mms_add_owned_u64(cell, n);
    else
        mms_add_relaxed(cell, n);
}

/* Raise *P to at least V. Rarely stores once warm, so the CAS is cheap. */
static inline void mms__raise_to(uint64_t *p, uint64_t v)
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
static inline uint8_t *mms__window_slot(uint8_t *ring, size_t slot_size,
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

/* Record V in histogram F, in shard SH; NOW_NS only for windows. */
static inline void mms__hist_record_sh(mms_field *f, struct mms__shard_ref sh,
                                       uint64_t v, int64_t now_ns)
{
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
    mms__raise_to(&c->max, v);
    mms__raise_to(&c->min_inv, ~v);
    if (f->flags & MMS_DF_WINDOW) {
        uint64_t sec = (uint64_t)now_ns / 1000000000u;
        size_t words = 2 + f->win_nbuckets;
        struct mms_hist_slot *s = (struct mms_hist_slot *)mms__window_slot(
            (uint8_t *)c + f->win_off, sizeof *s + f->win_nbuckets * 8, sec,
            words);
        uint64_t *wb = (uint64_t *)(s + 1);
        uint32_t widx = mms__hist_index(v, f->win_bits, f->max_exp);
        mms__add_cell(&s->count, 1, sh.owned);
        mms__add_cell(&s->sum, v, sh.owned);
        mms__add_cell(&wb[widx], 1, sh.owned);
    }
    if (lock)
        mms_store_release(&c->seq, seq + 2);
}

#endif /* MMS_UPDATE_H */
