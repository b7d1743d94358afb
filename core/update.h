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
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
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

/* 3.2 (format.md 8.9): the sum word of second SEC's slot in cell RC of
 * windowed counter INDEX with MMS_DF_RING_BLOCK, or NULL (the update left
 * out of the window; the total has it). Warm: the cell's first own slot,
 * its first second's. Another second goes out of line: the cell's other
 * own slot, claimed if it is still free, else the slot in the cell's
 * RING block, made first if the cell has none (its third second). */
MMS_HIDDEN uint64_t *mms__ring_slot_slow(mms_writer *w,
                                         struct mms_ring_cell *rc, uint64_t sec,
                                         bool owned, uint32_t index);
static inline __attribute__((always_inline)) uint64_t *
mms__ring_slot(mms_writer *w, struct mms_ring_cell *rc, uint64_t sec,
               bool owned, uint32_t index)
{
    if (MMS_LIKELY(mms_load_acquire(&rc->own[0].sec) == sec))
        return &rc->own[0].sum;
    return mms__ring_slot_slow(w, rc, sec, owned, index);
}

/* This thread's cell of sharded field F (claiming a shard and allocating
 * the cell on first use), or NULL: the update is dropped (and counted).
 * Warm: a TLS compare and two loads. */
static inline __attribute__((always_inline)) uint8_t *mms__cell_of(mms_field *f,
                                                                   bool *owned)
{
    struct mms__tls_ent *t = &mms__tls[f->w->slot];
    if (MMS_LIKELY(t->wid == f->w->id)) {
        uint8_t *c = mms__row_cell(t->sh, f->index);
        if (MMS_LIKELY(c != NULL)) {
            *owned = t->owned;
            return c;
        }
    }
    return mms__field_cell_slow(f, owned);
}

/* The shard a cell of this thread belongs to: its own, or shard 0. */
static inline uint32_t mms__cell_shard(mms_writer *w, bool owned)
{
    return owned ? mms__tls[w->slot].sh->id : 0;
}

/* The buckets of chunk C of a histogram (directory DIR) for index I and
 * MEMBER, allocating the chunk on first use (out of line): u32 in a
 * thread's own shard (OWNED), u64 in shard 0. NULL: the value is dropped
 * (and counted), or, in a cell with no chunk yet, V was recorded without
 * one (cells.c, format.md 11.6). */
MMS_HIDDEN void *mms__chunk_new(mms_writer *w, uint32_t *dir, uint32_t c,
                                uint32_t nbuckets, unsigned bits, bool owned,
                                uint32_t i, uint16_t member, uint64_t v);
static inline __attribute__((always_inline)) void *
mms__chunk_of(mms_writer *w, uint32_t *dir, uint32_t c, uint32_t nbuckets,
              unsigned bits, bool owned, uint32_t i, uint16_t member,
              uint64_t v)
{
    uint32_t off = mms_load_acquire(&dir[c]);
    if (MMS_LIKELY(off != 0))
        return mms__ptr(w, off) + sizeof(struct mms_chunk_block);
    return mms__chunk_new(w, dir, c, nbuckets, bits, owned, i, member, v);
}
/* The same for an add of several values at once (never without a
 * chunk): NULL only when dropped. */
MMS_HIDDEN void *mms__chunk_need(mms_writer *w, uint32_t *dir, uint32_t c,
                                 uint32_t nbuckets, unsigned bits, bool owned,
                                 uint32_t i, uint16_t member);
static inline __attribute__((always_inline)) void *
mms__chunk_of_many(mms_writer *w, uint32_t *dir, uint32_t c, uint32_t nbuckets,
                   unsigned bits, bool owned, uint32_t i, uint16_t member)
{
    uint32_t off = mms_load_acquire(&dir[c]);
    if (MMS_LIKELY(off != 0))
        return mms__ptr(w, off) + sizeof(struct mms_chunk_block);
    return mms__chunk_need(w, dir, c, nbuckets, bits, owned, i, member);
}

/* Add N to the K-th bucket of CHUNK (from mms__chunk_of: u32 buckets
 * when OWNED, else u64, shared), carrying a wrapped u32 bucket. */
static inline __attribute__((always_inline)) void
mms__bucket_add(mms_writer *w, void *chunk, uint32_t k, bool owned, uint32_t n)
{
    if (MMS_LIKELY(owned)) {
        uint32_t *b = (uint32_t *)chunk + k;
        if (MMS_UNLIKELY(mms_add_owned_u32(b, n)))
            mms__chunk_carry(w, b, k);
    } else {
        mms_add_relaxed((uint64_t *)chunk + k, (uint64_t)n);
    }
}

/* Add V to the histogram body B (count, sum, min_inv, max) whose bucket
 * is the K-th of CHUNK; the caller holds the seqlock (or, in shard 0,
 * has none). */
static inline __attribute__((always_inline)) void
mms__hist_body_add(mms_writer *w, uint64_t *b, void *chunk, uint32_t k,
                   bool owned, uint64_t v)
{
    if (MMS_LIKELY(owned)) {
        mms_seq_add_owned(&b[0], 1);
        mms_seq_add_owned(&b[1], v);
    } else {
        mms_add_relaxed(&b[0], 1);
        mms_add_relaxed(&b[1], v);
    }
    mms__bucket_add(w, chunk, k, owned, 1);
    mms__raise_to(&b[3], v);
    mms__raise_to(&b[2], ~v);
}

/* Take a cell's seqlock: false (touch nothing) when not owned, or when
 * SEQ is odd: then this is a signal handler that interrupted an update of
 * this very cell on its thread, which makes it even when it ends. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static inline bool mms__seq_take(uint64_t *seq, bool owned, uint64_t *s)
{
    if (!owned || ((*s = mms_load_relaxed(seq)) & 1))
        return false;
    mms_store_relaxed(seq, *s + 1);
    mms_fence_release();
    return true;
}

/* Record V in histogram F through its cell CELL; NOW_NS only for
 * windows. BITS and MAX_EXP are F's: a caller that knows them at compile
 * time passes constants. The chunk is found (or made) before the seqlock
 * is taken, so the odd stretch stays short. */
static inline __attribute__((always_inline)) void
mms__hist_record_at(mms_field *f, uint8_t *cell, bool owned, uint64_t v,
                    int64_t now_ns, unsigned bits, unsigned max_exp)
{
    uint64_t *seq = (uint64_t *)cell, *body = seq + 1;
    uint32_t idx = mms__hist_index(v, bits, max_exp);
    void *chunk =
        mms__chunk_of(f->w, (uint32_t *)(cell + sizeof(struct mms_hist_cell)),
                      idx >> bits, f->nbuckets, bits, owned, f->index, 0, v);
    if (MMS_UNLIKELY(!chunk))
        return;
    uint64_t s = 0;
    bool lock = mms__seq_take(seq, owned, &s);
    mms__hist_body_add(f->w, body, chunk, idx & ((1u << bits) - 1), owned, v);
    if (f->flags & MMS_DF_WINDOW) {
        uint64_t sec = (uint64_t)now_ns / 1000000000u;
        size_t words = 2 + f->win_nbuckets;
        struct mms_hist_slot *sl = (struct mms_hist_slot *)mms__window_slot(
            cell + f->win_off, sizeof *sl + (size_t)f->win_nbuckets * 8, sec,
            words, owned);
        if (MMS_LIKELY(sl)) {
            uint64_t *wb = (uint64_t *)(sl + 1);
            uint32_t widx = mms__hist_index(v, f->win_bits, f->max_exp);
            mms__add_cell(&sl->count, 1, owned);
            mms__add_cell(&sl->sum, v, owned);
            mms__add_cell(&wb[widx], 1, owned);
        }
    }
    if (lock)
        mms_store_release(seq, s + 2);
}

#endif /* MMS_UPDATE_H */
