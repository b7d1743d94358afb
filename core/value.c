/* Updates of field values: the hot path. Plain or relaxed atomic stores
 * into the mapped file; no locks and no system calls. */
#include <string.h>

#include "internal.h"

void mms_counter_add(mms_field *f, uint64_t n)
{
    if (MMS_UNLIKELY(!f))
        return;
    struct mms__tls_ent *t = mms__shard(f->w);
    uint64_t *cell = (uint64_t *)(t->base + f->off);
    if (MMS_LIKELY(t->shard))
        mms_add_owned_u64(cell, n);
    else
        mms_add_relaxed(cell, n);
}

void mms_counter_inc(mms_field *f) { mms_counter_add(f, 1); }

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

/* Seqlock writer. Taking the lock is a CAS from even to odd; a setter that
 * finds it taken (another thread, or the code this signal handler
 * interrupted) drops its value, as if it had run just before the other:
 * waiting could deadlock a handler. Data goes in as relaxed 8-byte atomic
 * stores, which readers load the same way (no data race, TSan-clean). */
void mms_string_setn(mms_field *f, const char *s, size_t len)
{
    if (MMS_UNLIKELY(!f))
        return;
    struct mms_string_cell *c = (struct mms_string_cell *)global_cell(f);
    uint32_t cap = f->size - (uint32_t)sizeof *c;
    if (len > cap)
        len = cap;
    uint64_t seq = mms_load_relaxed(&c->seq);
    if ((seq & 1) || !mms_cas_acq_rel(&c->seq, &seq, seq + 1))
        return;
    mms_fence_release();
    uint64_t *dst = (uint64_t *)(c + 1);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t word = 0; /* zero-padded: no stale bytes after the text */
        memcpy(&word, s + i, len - i < 8 ? len - i : 8);
        mms_seq_store(&dst[i / 8], word);
    }
    mms_seq_store(&c->len, (uint32_t)len);
    mms_store_release(&c->seq, seq + 2);
}

void mms_string_set(mms_field *f, const char *s)
{
    mms_string_setn(f, s, s ? strlen(s) : 0);
}
