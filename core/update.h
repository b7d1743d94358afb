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
    while (v > cur && !__atomic_compare_exchange_n(
                          p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* A slot's sec word while one thread resets the slot for second SEC:
 * SEC | MMS__SLOT_RESETTING. Readers ignore such a slot. */
#define MMS__SLOT_RESETTING (1ull << 63)
/* Slots of up to this many data words (a counter's; a histogram's at the
 * default window precision) are reset by subtraction, others by zeroing. */
#define MMS__SLOT_SUB_WORDS 280
#define MMS__SLOT_RESET_SPINS 100000

/* Reset the slot WORDS (sec word, then DATA_WORDS words) for second SEC:
 * the slow path of mms__window_slot. One thread claims the reset with a
 * CAS of the sec word (shard 0 is shared by threads; any shard, by a
 * signal handler and the code it interrupted).
 * - Small slots: the claimer reads the old second's values before its CAS
 *   and subtracts them after; others add as soon as they see the claim,
 *   since adds and subtractions commute. Exact, and nobody waits.
 * - Large slots are zeroed before the new second is stored; others wait
 *   for that a bounded while, then leave their update out of the window
 *   (the field's total still has it): an add before the zeroing would be
 *   lost anyway.
 * NULL: leave the update out of the window (also when the slot holds a
 * newer second: the update is over 64 seconds late). */
__attribute__((noinline)) static uint64_t *
mms__window_slot_reset(uint64_t *words, uint64_t sec, size_t data_words,
                       bool owned)
{
    uint64_t old[MMS__SLOT_SUB_WORDS];
    bool sub = data_words <= MMS__SLOT_SUB_WORDS;
    uint64_t cur = mms_load_acquire(&words[0]);
    for (int spin = 0; cur != sec; spin++) {
        if (cur >> 63) {
            uint64_t claimed = cur & ~MMS__SLOT_RESETTING;
            if (claimed == sec && sub)
                return words;
            if (claimed > sec || spin == MMS__SLOT_RESET_SPINS)
                return NULL;
            cur = mms_load_acquire(&words[0]);
            continue;
        }
        if (cur > sec)
            return NULL;
        if (sub)
            for (size_t i = 0; i < data_words; i++)
                old[i] = mms_load_relaxed(&words[1 + i]);
        if (!mms_cas_acq_rel(&words[0], &cur, sec | MMS__SLOT_RESETTING))
            continue; /* cur reloaded */
        for (size_t i = 0; i < data_words; i++) {
            if (!sub)
                mms_store_relaxed(&words[1 + i], 0);
            else if (old[i])
                mms__add_cell(&words[1 + i], -old[i], owned);
        }
        mms_store_release(&words[0], sec);
        break;
    }
    return words;
}

/* The slot of second SEC in a ring of SLOT_SIZE-byte slots, reset first if
 * it still holds an older second (see mms__window_slot_reset); NULL to
 * leave this update out of the window. A slot is reused after
 * MMS_WINDOW_SLOTS seconds, beyond any window. */
static inline uint8_t *mms__window_slot(uint8_t *ring, size_t slot_size,
                                        uint64_t sec, size_t data_words,
                                        bool owned)
{
    uint64_t *words = (uint64_t *)(ring + (sec % MMS_WINDOW_SLOTS) * slot_size);
    if (MMS_LIKELY(mms_load_acquire(&words[0]) == sec))
        return (uint8_t *)words;
    return (uint8_t *)mms__window_slot_reset(words, sec, data_words, owned);
}

/* Record V in histogram F, in shard SH; NOW_NS only for windows. */
/* BITS and MAX_EXP are F's: a caller that knows them at compile time
 * passes constants, and the bucket index costs a few shifts. */
static inline __attribute__((always_inline)) void
mms__hist_record_at(mms_field *f, uint8_t *cell, bool owned, uint64_t v,
                    int64_t now_ns, unsigned bits, unsigned max_exp)
{
    struct mms_hist_cell *c = (struct mms_hist_cell *)cell;
    uint64_t *buckets = (uint64_t *)(c + 1);
    uint32_t idx = mms__hist_index(v, bits, max_exp);
    uint64_t seq = 0;
    /* An odd seq on our own shard means this is a signal handler that
     * interrupted an update of this very histogram: add without touching
     * seq; the interrupted update makes it even when it ends. */
    bool lock = owned && !((seq = mms_load_relaxed(&c->seq)) & 1);
    if (lock) {
        mms_store_relaxed(&c->seq, seq + 1);
        mms_fence_release();
    }
    if (MMS_LIKELY(owned)) {
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
            words, owned);
        if (MMS_LIKELY(s)) {
            uint64_t *wb = (uint64_t *)(s + 1);
            uint32_t widx = mms__hist_index(v, f->win_bits, f->max_exp);
            mms__add_cell(&s->count, 1, owned);
            mms__add_cell(&s->sum, v, owned);
            mms__add_cell(&wb[widx], 1, owned);
        }
    }
    if (lock)
        mms_store_release(&c->seq, seq + 2);
}

static inline __attribute__((always_inline)) void
mms__hist_record_geom(mms_field *f, struct mms__shard_ref sh, uint64_t v,
                      int64_t now_ns, unsigned bits, unsigned max_exp)
{
    mms__hist_record_at(f, sh.base + f->off, sh.owned, v, now_ns, bits,
                        max_exp);
}

static inline void mms__hist_record_sh(mms_field *f, struct mms__shard_ref sh,
                                       uint64_t v, int64_t now_ns)
{
    mms__hist_record_geom(f, sh, v, now_ns, f->bits, f->max_exp);
}

#endif /* MMS_UPDATE_H */
