/* Keyed tables (docs/format.md section 10): a bounded set of records
 * keyed by bytes, inserted without locks (hash, probe a private
 * open-addressing index, allocate a RECORD block, compare-and-swap it into
 * the empty slot), with one overflow record for the keys that do not fit.
 * A record's values are per-thread cells like a field's. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "hotpath.h"
#include "update.h"

MMS_HIDDEN void *mms__name_find(mms_writer *w, const char *name);
MMS_HIDDEN int mms__name_insert(mms_writer *w, void *e);
MMS_HIDDEN int mms__index_take(mms_writer *w, uint32_t n, uint32_t *first);
MMS_HIDDEN int mms__reserve_for_add(mms_writer *w, uint64_t need, bool wait);

static const char OVERFLOW_KEY[] = "(other)";

/* The size of a member of KIND (and histogram geometry) in a cell. */
static uint32_t member_size(const struct mms__tmember *m)
{
    switch (m->kind) {
    case MMS_MK_SUM:
    case MMS_MK_SUM_I64:
    case MMS_MK_MAX:
    case MMS_MK_MIN:
        return 8;
    case MMS_MK_MAXARG:
        return 16;
    case MMS_MK_HIST:
        return mms__hist_cell_bytes(32, m->nchunks);
    }
    return 0;
}

/* Check SPEC and lay its members out in T (the private table). */
static int table_layout(const struct mms_table_spec *spec, mms_table *t)
{
    if (!spec->members || spec->nmembers == 0 ||
        spec->nmembers > MMS_TABLE_MAX_MEMBERS ||
        (unsigned)spec->key_type > MMS_KEY_U64S)
        return -EINVAL;
    t->capacity = spec->capacity ? spec->capacity : MMS_TABLE_DEFAULT_CAP;
    t->key_max = spec->key_max ? spec->key_max : MMS_KEY_MAX;
    if (t->capacity < 2 || t->capacity > MMS_TABLE_CAP_MAX ||
        t->key_max > MMS_KEY_MAX)
        return -EINVAL;
    t->key_type = (uint8_t)spec->key_type;
    t->nmembers = (uint8_t)spec->nmembers;
    uint32_t off = 8; /* the record's seq */
    for (uint32_t i = 0; i < spec->nmembers; i++) {
        const struct mms_table_member *s = &spec->members[i];
        struct mms__tmember *m = &t->m[i];
        size_t nlen = s->name ? strlen(s->name) : 0;
        size_t ulen = s->units ? strlen(s->units) : 0;
        if (!mms__member_name_ok(s->name, nlen) ||
            ulen > MMS_MEMBER_UNITS_MAX || s->kind < MMS_MK_SUM ||
            s->kind > MMS_MK_MAXARG)
            return -EINVAL;
        m->kind = (uint8_t)s->kind;
        if (m->kind == MMS_MK_HIST) {
            m->bits = s->hist_bits ? s->hist_bits : MMS_HIST_DEFAULT_BITS;
            m->max_exp =
                s->hist_max_exp ? s->hist_max_exp : MMS_HIST_DEFAULT_MAX_EXP;
            m->nbuckets = mms_hist_nbuckets(m->bits, m->max_exp);
            if (!m->nbuckets)
                return -EINVAL;
            m->nchunks = (uint16_t)mms__hist_nchunks(m->bits, m->max_exp);
        }
        m->off = off;
        m->size = member_size(m);
        off += m->size;
    }
    t->cell_size = (uint32_t)mms__round_up(off, 8);
    return t->cell_size <= MMS_EXTENT_MIN / 2 ? 0 : -EINVAL;
}

/* A RECORD block for KEY in T with index IDX, left PENDING: its offset,
 * or 0. */
static uint64_t record_block(mms_table *t, uint32_t idx, const void *key,
                             size_t len, uint32_t hash, uint16_t rflags)
{
    mms_writer *w = t->w;
    uint64_t o = mms__block_alloc(
        w, MMS_BLOCK_RECORD,
        (uint32_t)mms__round_up(sizeof(struct mms_record_block) + len, 8), 8);
    if (!o)
        return 0;
    struct mms_record_block *r = (struct mms_record_block *)mms__ptr(w, o);
    r->table = t->index;
    r->index = idx;
    r->hash = hash;
    r->key_len = (uint16_t)len;
    r->rflags = rflags;
    if (len)
        memcpy(r + 1, key, len);
    /* Before the record can be found: its cells need its table. */
    void **slot = mms__pages_slot(&w->ix, &w->pool, idx);
    if (slot)
        mms_store_release(slot, mms__ix_make(t, MMS__IX_RECORD));
    return slot ? o : 0;
}

static void table_block_fill(mms_table *t, struct mms_table_block *b,
                             const struct mms_table_spec *spec)
{
    b->index = t->index;
    b->capacity = t->capacity;
    b->key_type = t->key_type;
    b->nmembers = t->nmembers;
    b->key_max = t->key_max;
    b->cell_size = t->cell_size;
    b->name_len = (uint16_t)strlen(spec->name);
    b->help_len = (uint16_t)(spec->help ? strlen(spec->help) : 0);
    struct mms_member_desc *md = (struct mms_member_desc *)(b + 1);
    for (unsigned i = 0; i < t->nmembers; i++) {
        const struct mms_table_member *s = &spec->members[i];
        md[i].kind = t->m[i].kind;
        md[i].bits = t->m[i].bits;
        md[i].max_exp = t->m[i].max_exp;
        md[i].name_len = (uint8_t)strlen(s->name);
        md[i].units_len = (uint8_t)(s->units ? strlen(s->units) : 0);
        md[i].offset = t->m[i].off;
        md[i].size = t->m[i].size;
        memcpy(md[i].name, s->name, md[i].name_len);
        if (md[i].units_len)
            memcpy(md[i].units, s->units, md[i].units_len);
    }
    char *text = (char *)(md + t->nmembers);
    memcpy(text, spec->name, b->name_len);
    if (spec->help && b->help_len)
        memcpy(text + b->name_len + 1, spec->help, b->help_len);
    t->name = text;
}

static int table_add_locked(mms_writer *w, const struct mms_table_spec *spec,
                            mms_table **out)
{
    void *e = mms__name_find(w, spec->name);
    if (e) {
        if (mms__ix_tag(e) != MMS__IX_TABLE)
            return MMS_EKIND;
        *out = mms__ix_ptr(e);
        return 0;
    }
    mms_table *t = mms__pool_alloc(&w->pool, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->w = w;
    int rc = table_layout(spec, t);
    if (rc < 0)
        return rc;
    size_t hlen = spec->help ? strlen(spec->help) : 0;
    if (hlen > MMS_HELP_MAX)
        return -EINVAL;
    uint32_t size = (uint32_t)mms__round_up(sizeof(struct mms_table_block) +
                                                sizeof(struct mms_member_desc) *
                                                    t->nmembers +
                                                strlen(spec->name) + hlen + 2,
                                            8);
    for (t->nslots = 16; t->nslots < 2 * t->capacity;)
        t->nslots <<= 1;
    t->slots = mms__pool_alloc(&w->pool, t->nslots * sizeof *t->slots);
    if (!t->slots)
        return -ENOMEM;
    mms__reserve_for_add(w, size + 64u + sizeof(OVERFLOW_KEY) + 24, true);
    uint32_t first;
    if ((rc = mms__index_take(w, 2, &first)) < 0)
        return rc;
    t->index = first;
    t->overflow = first + 1;
    uint64_t o = mms__block_alloc(w, MMS_BLOCK_TABLE, size, 8);
    if (!o)
        return MMS_EFULL;
    t->blk = (struct mms_table_block *)mms__ptr(w, o);
    table_block_fill(t, t->blk, spec);
    uint64_t ro = record_block(
        t, t->overflow, OVERFLOW_KEY, sizeof OVERFLOW_KEY - 1,
        mms__fnv1a(OVERFLOW_KEY, sizeof OVERFLOW_KEY - 1), MMS_RF_OVERFLOW);
    if (!ro) {
        mms__block_publish(w, &t->blk->b, MMS_BS_DEAD);
        return MMS_EFULL;
    }
    t->overflow_off = ro;
    t->blk->nrecords = 1;
    mms__block_publish(w, &t->blk->b, MMS_BS_READY);
    mms__block_publish(w, (struct mms_block *)mms__ptr(w, ro), MMS_BS_READY);
    void **slot = mms__pages_slot(&w->ix, &w->pool, t->index);
    if (slot)
        mms_store_release(slot, mms__ix_make(t, MMS__IX_TABLE));
    if ((rc = mms__name_insert(w, mms__ix_make(t, MMS__IX_TABLE))) < 0)
        return rc;
    *out = t;
    return 0;
}

static int table_new(mms_writer *w, const struct mms_table_spec *spec,
                     bool wait, mms_table **out)
{
    if (out)
        *out = NULL;
    if (!w || !spec || !out)
        return -EINVAL;
    int rc = mms_name_check(spec->name);
    if (rc < 0)
        return rc;
    if (mms__add_lock(w, wait) != 0)
        return MMS_EBUSY;
    rc = w->shared_child ? -EPERM : table_add_locked(w, spec, out);
    mms__add_unlock(w);
    return rc;
}

int mms_table_new(mms_writer *w, const struct mms_table_spec *spec,
                  mms_table **out)
{
    return table_new(w, spec, true, out);
}

/* core/hotpath.h: a table made from a hook (a malloc hook, maybe in a
 * signal handler that interrupted the lock's holder): never wait. */
int mms__table_add(mms_writer *w, const struct mms_table_spec *spec,
                   unsigned flags, mms_table **out)
{
    int saved = errno;
    int rc = table_new(w, spec, !(flags & MMS_ADD_NOWAIT), out);
    errno = saved;
    return rc;
}

static bool key_is(const struct mms_record_block *r, uint32_t hash,
                   const void *key, size_t len)
{
    return r->hash == hash && r->key_len == len &&
           (len == 0 || memcmp(r + 1, key, len) == 0);
}

/* Take one of T's record places, or false when it is full. Places are
 * taken before a record is inserted and given back by an inserter that
 * lost its key to another: near capacity, such a place is held for a few
 * instructions, so a full count is looked at again a bounded number of
 * times before the key goes to the overflow record. */
static bool count_take(mms_table *t)
{
    uint32_t n = mms_load_relaxed(&t->blk->nrecords);
    for (int spins = 0;;) {
        if (n >= t->capacity) {
            if (++spins > 256)
                return false;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            n = mms_load_relaxed(&t->blk->nrecords);
            continue;
        }
        if (mms_cas_acq_rel(&t->blk->nrecords, &n, n + 1))
            return true;
    }
}

/* Insert KEY in the empty slot S: 1 with *REC set if it went in (or lost
 * to the same key), 0 if S went to another key, -1 if no room. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static int insert_at(mms_table *t, uint32_t *s, const void *key, size_t len,
                     uint32_t hash, uint32_t *rec)
{
    mms_writer *w = t->w;
    uint32_t idx;
    if (!count_take(t))
        return -1;
    uint64_t o = 0;
    if (mms__index_take(w, 1, &idx) == 0)
        o = record_block(t, idx, key, len, hash, 0);
    if (!o) {
        mms_add_relaxed(&t->blk->nrecords, (uint32_t)-1);
        return -1;
    }
    struct mms_record_block *r = (struct mms_record_block *)mms__ptr(w, o);
    uint32_t expect = 0;
    if (mms_cas_acq_rel(s, &expect, (uint32_t)o)) {
        mms__block_publish(w, &r->b, MMS_BS_READY);
        *rec = idx;
        return 1;
    }
    mms__block_publish(w, &r->b, MMS_BS_DEAD);
    mms_add_relaxed(&t->blk->nrecords, (uint32_t)-1);
    /* A failed CAS reads the winner's offset relaxed: read it again with
     * acquire, so that the winner's record is seen whole (TSan found it). */
    expect = mms_load_acquire(s);
    const struct mms_record_block *win =
        (const struct mms_record_block *)mms__ptr(w, expect);
    if (!key_is(win, hash, key, len))
        return 0;
    *rec = win->index;
    return 1;
}

uint32_t mms__record_hash(const mms_table *t, const void *key, size_t len)
{
    return mms__fnv1a(key, len > t->key_max ? t->key_max : len);
}

/* The record of KEY in T, whose hash is HASH: 0 with *REC set if it has
 * one; else, with INSERT, a new one (0) or the overflow record (1),
 * without, -ENOENT. */
static int record_lookup_h(mms_table *t, const void *key, size_t len,
                           uint32_t hash, uint32_t *rec, bool insert)
{
    if (!t || !rec || (!key && len))
        return -EINVAL;
    if (len > t->key_max)
        len = t->key_max;
    mms_writer *w = t->w;
    uint32_t mask = t->nslots - 1;
    for (uint32_t k = 0, i = hash & mask; k < t->nslots;
         k++, i = (i + 1) & mask) {
        uint32_t off = mms_load_acquire(&t->slots[i]);
        if (off) {
            const struct mms_record_block *r =
                (const struct mms_record_block *)mms__ptr(w, off);
            if (key_is(r, hash, key, len)) {
                *rec = r->index;
                return 0;
            }
            continue;
        }
        if (!insert)
            return -ENOENT;
        /* A child sharing its parent's file has its own copy of the index:
         * it never inserts (its new keys go to the overflow record). */
        if (w->shared_child)
            break;
        int rc = insert_at(t, &t->slots[i], key, len, hash, rec);
        if (rc > 0)
            return 0;
        if (rc < 0)
            break;
    }
    if (!insert)
        return -ENOENT;
    mms_add_relaxed(&t->blk->overflow_hits, 1);
    *rec = t->overflow;
    return 1;
}

static int record_lookup(mms_table *t, const void *key, size_t len,
                         uint32_t *rec, bool insert)
{
    if (!t || (!key && len))
        return -EINVAL;
    return record_lookup_h(t, key, len, mms__record_hash(t, key, len), rec,
                           insert);
}

int mms_record_get(mms_table *t, const void *key, size_t len, uint32_t *rec)
{
    return record_lookup(t, key, len, rec, true);
}

int mms__record_find(mms_table *t, const void *key, size_t len, uint32_t *rec)
{
    return record_lookup(t, key, len, rec, false);
}

int mms__record_lookup_h(mms_table *t, const void *key, size_t len,
                         uint32_t hash, bool insert, uint32_t *rec)
{
    return record_lookup_h(t, key, len, hash, rec, insert);
}

/* --------------------------------------------------------------- updates */

uint8_t *mms__record_cell_slow(mms_table *t, uint32_t rec, bool *owned)
{
    mms_writer *w = t->w;
    struct mms__tls_ent *tl = &mms__tls[w->slot];
    if (tl->wid != w->id)
        mms__shard_acquire(w, tl);
    *owned = tl->owned;
    uint8_t *c = mms__cell_slow(w, tl->sh, rec, rec, 1, t->cell_size, 0);
    if (!c)
        mms__dropped(w, 1);
    return c;
}

static inline uint8_t *record_cell(mms_table *t, uint32_t rec, bool *owned)
{
    struct mms__tls_ent *tl = &mms__tls[t->w->slot];
    if (MMS_LIKELY(tl->wid == t->w->id)) {
        uint8_t *c = mms__row_cell(tl->sh, rec);
        if (MMS_LIKELY(c != NULL)) {
            *owned = tl->owned;
            return c;
        }
    }
    return mms__record_cell_slow(t, rec, owned);
}

/* REC is one of T's records (the public API checks; hot paths through
 * core/hotpath.h trust their caller). */
static bool rec_ok(const mms_table *t, uint32_t rec)
{
    return mms__ix_get(t->w, rec) == mms__ix_make(t, MMS__IX_RECORD);
}

static void record_hist(mms_table *t, uint8_t *c, unsigned member, bool owned,
                        uint32_t rec, uint64_t v)
{
    const struct mms__tmember *m = &t->m[member];
    uint64_t *body = (uint64_t *)(c + m->off);
    uint32_t idx = mms__hist_index(v, m->bits, m->max_exp);
    void *chunk =
        mms__chunk_of(t->w, (uint32_t *)(body + 4), idx >> m->bits, m->nbuckets,
                      m->bits, owned, rec, (uint16_t)member, v);
    if (!chunk)
        return;
    uint64_t s = 0;
    bool lock = mms__seq_take((uint64_t *)c, owned, &s);
    mms__hist_body_add(t->w, body, chunk, idx & ((1u << m->bits) - 1), owned,
                       v);
    if (lock)
        mms_store_release((uint64_t *)c, s + 2);
}

/* Raise the pair P = {max, arg} to V, ARG under the record's seqlock.
 * Shard 0 is shared: its seqlock is taken with a compare-and-swap. A pair
 * that finds the seqlock taken (another thread in shard 0, or the code a
 * signal handler interrupted) is dropped and counted: never wait. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static void record_maxarg(mms_table *t, uint8_t *c, uint64_t *p, bool owned,
                          uint64_t v, uint64_t arg)
{
    uint64_t *seq = (uint64_t *)c;
    uint64_t cur = mms_load_relaxed(&p[0]);
    if (cur && v <= cur)
        return;
    uint64_t s = mms_load_relaxed(seq);
    if ((s & 1) || (owned ? (mms_store_relaxed(seq, s + 1), false)
                          : !mms_cas_acq_rel(seq, &s, s + 1))) {
        mms__dropped(t->w, 1);
        return;
    }
    mms_fence_release();
    cur = mms_load_relaxed(&p[0]);
    if (!cur || v > cur) {
        mms_seq_store(&p[0], v);
        mms_seq_store(&p[1], arg);
    }
    mms_store_release(seq, s + 2);
}

void mms__record_maxarg_at(mms_table *t, uint8_t *c, unsigned member,
                           bool owned, uint64_t v, uint64_t arg);
void mms__record_maxarg_at(mms_table *t, uint8_t *c, unsigned member,
                           bool owned, uint64_t v, uint64_t arg)
{
    record_maxarg(t, c, (uint64_t *)(c + t->m[member].off), owned, v, arg);
}

void mms_record_update(mms_table *t, uint32_t rec, unsigned member, uint64_t v)
{
    if (!t || member >= t->nmembers || !rec_ok(t, rec))
        return;
    bool owned;
    uint8_t *c = record_cell(t, rec, &owned);
    if (!c)
        return;
    uint64_t *p = (uint64_t *)(c + t->m[member].off);
    switch (t->m[member].kind) {
    case MMS_MK_SUM:
    case MMS_MK_SUM_I64:
        mms__add_cell(p, v, owned);
        break;
    case MMS_MK_MAX:
        mms__raise_to(p, v);
        break;
    case MMS_MK_MIN:
        mms__raise_to(p, ~v);
        break;
    case MMS_MK_HIST:
        record_hist(t, c, member, owned, rec, v);
        break;
    case MMS_MK_MAXARG:
        record_maxarg(t, c, p, owned, v, 0);
        break;
    }
}

void mms_record_maxarg(mms_table *t, uint32_t rec, unsigned member, uint64_t v,
                       uint64_t arg)
{
    if (!t || member >= t->nmembers || t->m[member].kind != MMS_MK_MAXARG ||
        !rec_ok(t, rec))
        return;
    bool owned;
    uint8_t *c = record_cell(t, rec, &owned);
    if (c)
        record_maxarg(t, c, (uint64_t *)(c + t->m[member].off), owned, v, arg);
}
