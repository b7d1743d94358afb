/* A shard's cells (docs/format.md sections 8.5 and 9): CELLS blocks in
 * the shard's areas, allocated on the shard's first update of a group;
 * CHUNK blocks of histograms, allocated on the first value in a chunk;
 * the move of an exiting thread's values to shard 0; and zeroing values
 * in a fork child's copy. All of it lock-free: callers may be hooks or
 * signal handlers. */
#include <string.h>

#include "update.h"

/* How many of a shard's older areas a new CELLS block looks into before
 * a new area is made: a block too large for the current area's tail
 * starts a new area, and the smaller blocks that follow (a record's cells,
 * a group of counters) fill the tails left behind. */
#define AREA_TAIL_TRIES 4

/* A nested block of TYPE, SIZE bytes, in the tail of one of SH's older
 * areas, or 0. The walk of the list is bounded (AREA_TAIL_TRIES). */
static uint64_t cells_in_tails(mms_writer *w, struct mms__shard *sh,
                               uint64_t cur, uint16_t type, uint32_t size)
{
    const struct mms__area *n = mms_load_acquire(&sh->areas);
    for (int k = 0; n && k < AREA_TAIL_TRIES; n = n->next, k++) {
        if (n->off == cur)
            continue;
        uint64_t off = mms__area_alloc(w, n->off, type, size);
        if (off)
            return off;
    }
    return 0;
}

/* A nested block of TYPE (CELLS, or a CHUNK32) of SIZE bytes in SH's
 * current area, in an older area's tail, or in a new area: PENDING. */
static uint64_t area_block(mms_writer *w, struct mms__shard *sh, uint16_t type,
                           uint32_t size)
{
    for (int tries = 0; tries < 4; tries++) {
        uint64_t a = mms_load_acquire(&sh->area);
        if (a) {
            uint64_t off = mms__area_alloc(w, a, type, size);
            if (off)
                return off;
            if ((off = cells_in_tails(w, sh, a, type, size)))
                return off;
        }
        uint32_t want = (uint32_t)mms__round_up(
            sizeof(struct mms_area_block) + size, MMS_LINE);
        uint32_t asz = mms_load_relaxed(&sh->next_area);
        if (asz < want)
            asz = want;
        /* Every area is on the shard's list before it is used. */
        struct mms__area *node = mms__pool_alloc(&w->pool, sizeof *node);
        if (!node)
            return 0;
        uint64_t na = mms__block_alloc(w, MMS_BLOCK_AREA, asz, MMS_LINE);
        if (!na)
            return 0; /* the node stays unused: rare and small */
        struct mms_area_block *ab = (struct mms_area_block *)mms__ptr(w, na);
        ab->shard = sh->id;
        node->off = na;
        struct mms__area *head = mms_load_relaxed(&sh->areas);
        do
            node->next = head;
        while (!mms_cas_acq_rel(&sh->areas, &head, node));
        mms__block_publish(w, &ab->b, MMS_BS_READY);
        /* Lost to a signal handler (or, in shard 0, another thread): the
         * winner's area is used, ours stays empty. */
        mms_cas_acq_rel(&sh->area, &a, na);
        /* Areas grow with what the shard holds (half of it), from 512
         * bytes: a thread of a few calls keeps one or two small areas; a
         * busy one, few large ones. */
        uint32_t total = mms_load_relaxed(&sh->area_total) + asz;
        mms_store_relaxed(&sh->area_total, total);
        uint32_t next = (uint32_t)mms__round_up(total / 4, MMS_LINE);
        next = next < MMS_AREA_FIRST ? MMS_AREA_FIRST
               : next > MMS_AREA_MAX ? MMS_AREA_MAX
                                     : next;
        mms_store_relaxed(&sh->next_area, next);
    }
    return 0;
}

uint8_t *mms__cell_slow(mms_writer *w, struct mms__shard *sh, uint32_t i,
                        uint32_t first, uint32_t count, uint32_t bytes,
                        uint32_t cell_off)
{
    uint8_t *c = mms__row_cell(sh, i);
    if (c)
        return c;
    void **head = mms__pages_slot(&sh->row, &w->pool, first);
    if (!head)
        return NULL;
    uint8_t *cells = mms_load_acquire((uint8_t **)head);
    if (!cells) {
        uint64_t off = area_block(
            w, sh, MMS_BLOCK_CELLS,
            (uint32_t)mms__round_up(sizeof(struct mms_cells_block) + bytes, 8));
        if (!off)
            return NULL;
        struct mms_cells_block *b = (struct mms_cells_block *)mms__ptr(w, off);
        b->first = first;
        b->count = count;
        uint8_t *mine = (uint8_t *)(b + 1);
        void *expect = NULL;
        /* The group's first slot is the claim: one CELLS block per shard
         * and group. The loser (a signal handler's interrupted code, or
         * another thread in shard 0) drops its block. */
        if (mms_cas_acq_rel(head, &expect, mine)) {
            cells = mine;
            mms__block_publish(w, &b->b, MMS_BS_READY);
        } else {
            cells = expect;
            mms__block_publish(w, &b->b, MMS_BS_DEAD);
        }
    }
    c = cells + cell_off;
    if (i != first) {
        /* Cache the member's own slot (a miss only costs this path). */
        void **slot = mms__pages_slot(&sh->row, &w->pool, i);
        if (slot)
            mms_store_release(slot, (void *)c);
    }
    return c;
}

bool mms__group_of(const mms_writer *w, uint32_t i, uint32_t g[4],
                   bool *sharded)
{
    void *e = mms__ix_get(w, i);
    if (!e)
        return false;
    if (mms__ix_tag(e) == MMS__IX_FIELD) {
        const mms_field *f = e;
        g[0] = f->group_first;
        g[1] = f->group_count;
        g[2] = f->group_bytes;
        g[3] = f->cell_off;
        *sharded = f->flags & MMS_DF_SHARDED;
        return true;
    }
    if (mms__ix_tag(e) == MMS__IX_RECORD) {
        const mms_table *t = mms__ix_ptr(e);
        g[0] = i;
        g[1] = 1;
        g[2] = t->cell_size;
        g[3] = 0;
        *sharded = true;
        return true;
    }
    return false;
}

uint8_t *mms__field_cell_slow(mms_field *f, bool *owned)
{
    mms_writer *w = f->w;
    struct mms__tls_ent *t = &mms__tls[w->slot];
    if (t->wid != w->id)
        mms__shard_acquire(w, t);
    *owned = t->owned;
    uint8_t *c = mms__cell_slow(w, t->sh, f->index, f->group_first,
                                f->group_count, f->group_bytes, f->cell_off);
    if (!c)
        mms__dropped(w, 1);
    return c;
}

/* A chunk for chunk C (NB buckets) of I / MEMBER in SHARD, READY but
 * named by no directory yet: its offset, or 0. Shard 0's is a CHUNK
 * block in the heap, of whole cache lines (threads share it); a thread's
 * own shard's a CHUNK32 block (format 3.2: u32 buckets, 8-aligned) in
 * the shard's area, beside its cells, where no other thread writes: a
 * short process's latency chunks hold a few values each (python3 -c
 * pass: 87 chunks of 320 bytes before, 152 now). */
static uint64_t chunk_make(mms_writer *w, uint32_t c, uint32_t nb,
                           uint32_t shard, uint32_t i, uint16_t member)
{
    struct mms__shard *sh = shard ? mms__shard_get(w, shard) : NULL;
    if (shard && !sh)
        return 0;
    uint64_t o =
        sh ? area_block(w, sh, MMS_BLOCK_CHUNK32, mms__chunk32_block_size(nb))
           : mms__block_alloc(w, MMS_BLOCK_CHUNK, mms__chunk_block_size(nb),
                              MMS_LINE);
    if (!o)
        return 0;
    /* Its buckets are zero: an area's space past its used mark is, in a
     * fork child too (core/fork.c, area_rebuild). */
    struct mms_chunk_block *cb = (struct mms_chunk_block *)mms__ptr(w, o);
    cb->index = i;
    cb->member = member;
    cb->chunk = (uint16_t)c;
    cb->shard = shard;
    cb->nbuckets = nb;
    mms__block_publish(w, &cb->b, MMS_BS_READY);
    return o;
}

/* The made chunk O given back: named by no directory, never used. */
static void chunk_dead(mms_writer *w, uint64_t o)
{
    struct mms_chunk_block *cb = (struct mms_chunk_block *)mms__ptr(w, o);
    mms__block_publish(w, &cb->b, MMS_BS_DEAD);
}

/* Names the made chunk O in directory slot SLOT unless another record (a
 * signal handler's, another thread's for shard 0) named one first: then
 * O is dead. The chunk in use: its offset. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static uint32_t chunk_name(mms_writer *w, uint32_t *slot, uint64_t o)
{
    uint32_t expect = 0;
    if (mms_cas_acq_rel(slot, &expect, (uint32_t)o))
        return (uint32_t)o;
    chunk_dead(w, o);
    return expect;
}

/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
void *mms__chunk_slow(mms_writer *w, uint32_t *dir, uint32_t c, uint32_t nb,
                      uint32_t shard, uint32_t i, uint16_t member)
{
    uint32_t off = mms_load_acquire(&dir[c]);
    if (!off) {
        /* READY before anything refers to it; a loser's is never used. */
        uint64_t o = chunk_make(w, c, nb, shard, i, member);
        if (!o)
            return NULL;
        off = chunk_name(w, &dir[c], o);
    }
    return mms__ptr(w, off) + sizeof(struct mms_chunk_block);
}

/* The K-th bucket of chunk C of index I / MEMBER's histogram in shard 0
 * (made if need be), or NULL. */
static uint64_t *shard0_bucket(mms_writer *w, uint32_t i, uint16_t member,
                               uint32_t c, uint32_t k)
{
    struct mms__shard *sh0 = mms__shard_get(w, 0);
    void *e = mms__ix_get(w, i);
    uint32_t g[4];
    bool sharded;
    if (!sh0 || !e || !mms__group_of(w, i, g, &sharded) || !sharded)
        return NULL;
    uint8_t *c0 = mms__cell_slow(w, sh0, i, g[0], g[1], g[2], g[3]);
    if (!c0)
        return NULL;
    uint64_t *body;
    uint32_t nbuckets, nchunks;
    unsigned bits;
    if (mms__ix_tag(e) == MMS__IX_FIELD) {
        const mms_field *f = e;
        body = (uint64_t *)c0 + 1;
        nbuckets = f->nbuckets, nchunks = f->nchunks, bits = f->bits;
    } else {
        const mms_table *t = mms__ix_ptr(e);
        if (member >= t->nmembers || t->m[member].kind != MMS_MK_HIST)
            return NULL;
        body = (uint64_t *)(c0 + t->m[member].off);
        nbuckets = t->m[member].nbuckets, nchunks = t->m[member].nchunks;
        bits = t->m[member].bits;
    }
    if (c >= nchunks)
        return NULL;
    uint64_t *b =
        mms__chunk_slow(w, (uint32_t *)(body + 4), c,
                        mms__chunk_nb(nbuckets, bits, c), 0, i, member);
    return b ? b + k : NULL;
}

void mms__chunk_carry(mms_writer *w, uint32_t *bucket, uint32_t k)
{
    const struct mms_chunk_block *cb =
        (const struct mms_chunk_block *)((uint8_t *)(bucket - k) -
                                         sizeof(struct mms_chunk_block));
    struct mms_file_header *h = w->hdr;
    /* As a thread exit's move (section 9.4): a reader that read shard 0
     * before the carry and this bucket after it sees the retire counters
     * move, and reads again. The caller holds the cell's seqlock. */
    mms_add_relaxed(&h->retire_begin, 1);
    mms_fence_release();
    uint64_t *b0 = shard0_bucket(w, cb->index, cb->member, cb->chunk, k);
    if (b0) {
        mms_add_relaxed(b0, 1ull << 32);
    } else {
        /* No space for shard 0's chunk: the value that wrapped is
         * dropped (counted), the bucket left full. */
        mms_add_owned_u32(bucket, UINT32_MAX);
        mms__dropped(w, 1);
    }
    __atomic_fetch_add(&h->retire_end, 1, __ATOMIC_RELEASE);
}

/* ---------------------------------------- histograms without chunks */

/* A histogram cell of a thread's own shard holds its first
 * MMS_HIST_CHUNKLESS values with no CHUNK block (format 3.1, section
 * 11.6): count, sum, min and max say which they are (1: min; 2: min and
 * max; 3: min, max and sum - min - max). The fourth value's record makes
 * the chunks and puts the first three in their buckets ("replay") under
 * the cell's seqlock, so a reader sees either no chunk and count <= 3, or
 * chunks holding every value counted. Most latency histograms of a short
 * process never get a chunk of their own per thread. MMS_HIST_CHUNKLESS
 * is format.h's. */
/* The seqlock of the cell whose histogram body's chunk directory is DIR
 * (index I, MEMBER), if that histogram may go without chunks: a
 * field's, without a window (the window's slot is written after the
 * chunk is found), or a record's member; else NULL. */
static uint64_t *chunkless_seq(const mms_writer *w, uint32_t *dir, uint32_t i,
                               uint16_t member)
{
    void *e = mms__ix_get(w, i);
    uint64_t *body = (uint64_t *)dir - 4;
    if (e && mms__ix_tag(e) == MMS__IX_FIELD) {
        const mms_field *f = e;
        return f->kind == MMS_KIND_HISTOGRAM && !(f->flags & MMS_DF_WINDOW)
                   ? body - 1
                   : NULL;
    }
    if (e && mms__ix_tag(e) == MMS__IX_RECORD) {
        const mms_table *t = mms__ix_ptr(e);
        return member < t->nmembers && t->m[member].kind == MMS_MK_HIST
                   ? (uint64_t *)((uint8_t *)body - t->m[member].off)
                   : NULL;
    }
    return NULL;
}

static bool dir_empty(const uint32_t *dir, uint32_t nchunks)
{
    for (uint32_t c = 0; c < nchunks; c++)
        if (mms_load_acquire(&dir[c]))
            return false;
    return true;
}

/* The values of a body that has no chunks (BODY: count, sum, min_inv,
 * max): up to 3 distinct values in V, each WT[k] times; how many in V.
 * Exact up to MMS_HIST_CHUNKLESS values; more (a signal handler's record
 * that found the seqlock taken) count min, max and their mean. */
static uint32_t chunkless_values(const uint64_t *body, uint64_t v[3],
                                 uint64_t wt[3])
{
    uint64_t n = mms_load_relaxed(&body[0]);
    uint64_t lo = ~mms_load_relaxed(&body[2]), hi = mms_load_relaxed(&body[3]);
    v[0] = lo;
    v[1] = hi;
    v[2] = n > 2 ? (mms_load_relaxed(&body[1]) - lo - hi) / (n - 2) : 0;
    wt[0] = wt[1] = 1;
    wt[2] = n > 2 ? n - 2 : 0;
    return n < 3 ? (uint32_t)n : 3;
}

/* Record V in the chunkless body BODY (SEQ its cell's seqlock, owned):
 * 0 done; 1 the body holds MMS_HIST_CHUNKLESS values already (replay
 * first); -1 dropped (a signal handler inside an update of this cell). */
static int chunkless_add(uint64_t *seq, uint64_t *body, const uint32_t *dir,
                         uint32_t nchunks, uint64_t v)
{
    uint64_t s = 0;
    if (!mms__seq_take(seq, true, &s)) {
        /* A signal handler inside an update of this very cell: it adds
         * without the lock, as every record does then (11.6). */
        mms_seq_add_owned(&body[0], 1);
        mms_seq_add_owned(&body[1], v);
        mms__raise_to(&body[3], v);
        mms__raise_to(&body[2], ~v);
        return 0;
    }
    /* Under the lock: a signal handler may have recorded meanwhile. */
    int rc = 1;
    if (mms_load_relaxed(&body[0]) < MMS_HIST_CHUNKLESS &&
        dir_empty(dir, nchunks)) {
        mms_seq_add_owned(&body[0], 1);
        mms_seq_add_owned(&body[1], v);
        mms__raise_to(&body[3], v);
        mms__raise_to(&body[2], ~v);
        rc = 0;
    }
    mms_store_release(seq, s + 2);
    return rc;
}

/* Chunk indices and buckets of the chunkless values of BODY (geometry
 * NBUCKETS, BITS): how many values (0..3), their bucket IDX, the
 * distinct chunks DCH (*ND of them) and each value's entry in DCH. */
struct chunkless_plan {
    uint32_t n, nd;
    uint64_t count, wt[MMS_HIST_CHUNKLESS];
    uint32_t idx[MMS_HIST_CHUNKLESS], dch[MMS_HIST_CHUNKLESS];
    uint32_t at[MMS_HIST_CHUNKLESS];
};
static void chunkless_plan(const uint64_t *body, uint32_t nbuckets,
                           unsigned bits, struct chunkless_plan *p)
{
    uint32_t nchunks = (nbuckets + (1u << bits) - 1) >> bits;
    uint64_t v[MMS_HIST_CHUNKLESS];
    p->count = mms_load_relaxed(&body[0]);
    p->n = chunkless_values(body, v, p->wt);
    p->nd = 0;
    for (uint32_t k = 0; k < p->n; k++) {
        p->idx[k] = mms__hist_index(v[k], bits, nchunks + bits - 2);
        uint32_t c = p->idx[k] >> bits, j = 0;
        while (j < p->nd && p->dch[j] != c)
            j++;
        if (j == p->nd)
            p->dch[p->nd++] = c;
        p->at[k] = j;
    }
}

/* Give the chunkless values of BODY (owned, SEQ its seqlock) their
 * buckets: the chunks made first, then, under the seqlock, filled and
 * named in the directory at once. 0 (also when a signal handler did it
 * meanwhile), or -1: no space, or the lock held (nothing changed). */
static int chunkless_replay(mms_writer *w, uint64_t *seq, uint64_t *body,
                            uint32_t *dir, uint32_t nbuckets, unsigned bits,
                            uint32_t shard, uint32_t i, uint16_t member)
{
    uint32_t nchunks = (nbuckets + (1u << bits) - 1) >> bits;
    struct chunkless_plan p;
    chunkless_plan(body, nbuckets, bits, &p);
    if (!p.n)
        return 0;
    uint64_t made[MMS_HIST_CHUNKLESS] = {0};
    bool ok = true;
    for (uint32_t j = 0; j < p.nd && ok; j++)
        ok = (made[j] = chunk_make(w, p.dch[j],
                                   mms__chunk_nb(nbuckets, bits, p.dch[j]),
                                   shard, i, member)) != 0;
    uint64_t s = 0;
    int rc = -1;
    if (ok && mms__seq_take(seq, true, &s)) {
        /* Unchanged while the chunks were made? (Else a signal handler
         * replayed the values itself: ours are not needed.) */
        struct chunkless_plan again;
        chunkless_plan(body, nbuckets, bits, &again);
        if (again.count == p.count && dir_empty(dir, nchunks)) {
            /* Each chunk named (a signal handler's own may win the
             * compare-and-swap: the values go there, ours is dead). */
            for (uint32_t j = 0; j < p.nd; j++) {
                uint32_t o = chunk_name(w, &dir[p.dch[j]], made[j]);
                uint8_t *b = mms__ptr(w, o) + sizeof(struct mms_chunk_block);
                for (uint32_t k = 0; k < p.n; k++)
                    if (p.at[k] == j) /* a few values: no carry */
                        mms__bucket_add(w, b, p.idx[k] & ((1u << bits) - 1),
                                        true, (uint32_t)p.wt[k]);
            }
            p.nd = 0; /* all in use, or dead */
        }
        mms_store_release(seq, s + 2);
        rc = 0;
    }
    for (uint32_t j = 0; j < p.nd; j++)
        if (made[j])
            chunk_dead(w, made[j]);
    return rc;
}

/* The chunk for value V (ONE: a record of V alone; else a chunk needed
 * for an add of several values, which never goes chunkless). */
static void *chunk_get(mms_writer *w, uint32_t *dir, uint32_t c,
                       uint32_t nbuckets, unsigned bits, bool owned, uint32_t i,
                       uint16_t member, bool one, uint64_t v)
{
    uint32_t nchunks = (nbuckets + (1u << bits) - 1) >> bits;
    uint64_t *seq = owned ? chunkless_seq(w, dir, i, member) : NULL;
    if (seq && dir_empty(dir, nchunks)) {
        uint64_t *body = (uint64_t *)dir - 4;
        int rc = one ? chunkless_add(seq, body, dir, nchunks, v) : 1;
        if (rc == 0)
            return NULL; /* recorded, in no chunk */
        if (rc < 0 ||
            chunkless_replay(w, seq, body, dir, nbuckets, bits,
                             mms__cell_shard(w, owned), i, member) < 0) {
            mms__dropped(w, 1);
            return NULL;
        }
    }
    void *b = mms__chunk_slow(w, dir, c, mms__chunk_nb(nbuckets, bits, c),
                              mms__cell_shard(w, owned), i, member);
    if (!b)
        mms__dropped(w, 1);
    return b;
}

void *mms__chunk_new(mms_writer *w, uint32_t *dir, uint32_t c,
                     uint32_t nbuckets, unsigned bits, bool owned, uint32_t i,
                     uint16_t member, uint64_t v)
{
    return chunk_get(w, dir, c, nbuckets, bits, owned, i, member, true, v);
}

void *mms__chunk_need(mms_writer *w, uint32_t *dir, uint32_t c,
                      uint32_t nbuckets, unsigned bits, bool owned, uint32_t i,
                      uint16_t member)
{
    return chunk_get(w, dir, c, nbuckets, bits, owned, i, member, false, 0);
}

/* ------------------------------------------------------- thread exit */

/* Move a u64 from the owned word P to shard 0's word P0: add there, then
 * take it away here with one read-modify-write (a signal handler's add in
 * between stays). */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static void move_word(uint64_t *p, uint64_t *p0)
{
    uint64_t v = mms_load_relaxed(p);
    if (!v)
        return;
    mms_add_relaxed(p0, v);
    mms_add_owned_u64(p, (uint64_t)0 - v);
}

/* The same from a u32 bucket of a CHUNK32 block. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static void move_bucket32(uint32_t *p, uint64_t *p0)
{
    uint32_t v = mms_load_relaxed(p);
    if (!v)
        return;
    mms_add_relaxed(p0, (uint64_t)v);
    mms_add_owned_u32(p, (uint32_t)0 - v);
}

/* Move the histogram body at B (count, sum, min_inv, max, chunk[]) of
 * shard SHARD to the body B0 in shard 0, under the caller's seqlock. All
 * of shard 0's chunks are made first: if one cannot be, nothing moves. */
static void move_hist(mms_writer *w, uint64_t *b, uint64_t *b0, unsigned bits,
                      uint32_t nbuckets, uint32_t nchunks, uint32_t i,
                      uint16_t member)
{
    uint32_t *dir = (uint32_t *)(b + 4), *dir0 = (uint32_t *)(b0 + 4);
    uint64_t *dst[MMS_HIST_MAX_EXP_MAX + 2];
    for (uint32_t c = 0; c < nchunks; c++) {
        dst[c] = NULL;
        if (!mms_load_relaxed(&dir[c]))
            continue;
        dst[c] = mms__chunk_slow(w, dir0, c, mms__chunk_nb(nbuckets, bits, c),
                                 0, i, member);
        if (!dst[c])
            return;
    }
    /* Values held without chunks (section 11.6) go to their buckets in
     * shard 0, whose cells always have chunks. */
    struct chunkless_plan p = {0};
    if (dir_empty(dir, nchunks))
        chunkless_plan(b, nbuckets, bits, &p);
    for (uint32_t j = 0; j < p.nd; j++)
        if (!(dst[p.dch[j]] = mms__chunk_slow(
                  w, dir0, p.dch[j], mms__chunk_nb(nbuckets, bits, p.dch[j]), 0,
                  i, member)))
            return;
    for (uint32_t k = 0; k < p.n; k++)
        mms_add_relaxed(&dst[p.idx[k] >> bits][p.idx[k] & ((1u << bits) - 1)],
                        p.wt[k]);
    for (uint32_t c = 0; c < nchunks && !p.n; c++) {
        if (!dst[c])
            continue;
        uint32_t *src = (uint32_t *)(mms__ptr(w, mms_load_relaxed(&dir[c])) +
                                     sizeof(struct mms_chunk_block));
        uint32_t nb = mms__chunk_nb(nbuckets, bits, c);
        for (uint32_t k = 0; k < nb; k++)
            move_bucket32(&src[k], &dst[c][k]);
    }
    move_word(&b[0], &b0[0]);
    move_word(&b[1], &b0[1]);
    mms__raise_to(&b0[2], mms_load_relaxed(&b[2]));
    mms__raise_to(&b0[3], mms_load_relaxed(&b[3]));
    mms_seq_store(&b[2], (uint64_t)0);
    mms_seq_store(&b[3], (uint64_t)0);
}

/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static void seq_open(uint64_t *seq, uint64_t *s)
{
    *s = mms_load_relaxed(seq);
    mms_store_relaxed(seq, *s | 1);
    mms_fence_release();
}

/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static void seq_close(uint64_t *seq, uint64_t s)
{
    mms_store_release(seq, (s | 1) + 1);
}

static void retire_field(mms_writer *w, mms_field *f, uint8_t *c, uint8_t *c0)
{
    if (f->kind == MMS_KIND_COUNTER) {
        move_word((uint64_t *)c, (uint64_t *)c0);
        return;
    }
    uint64_t s;
    seq_open((uint64_t *)c, &s);
    move_hist(w, (uint64_t *)c + 1, (uint64_t *)c0 + 1, f->bits, f->nbuckets,
              f->nchunks, f->index, 0);
    seq_close((uint64_t *)c, s);
}

/* A MAXARG pair into shard 0's record cell (shared: its seqlock is taken
 * with a compare-and-swap; if it is busy the pair stays where it is). */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static bool maxarg_to0(uint64_t *seq0, uint64_t *p0, const uint64_t *p)
{
    uint64_t s = mms_load_relaxed(seq0);
    if ((s & 1) || !mms_cas_acq_rel(seq0, &s, s + 1))
        return false;
    mms_fence_release();
    if (mms_load_relaxed(&p[0]) > mms_load_relaxed(&p0[0])) {
        mms_seq_store(&p0[0], mms_load_relaxed(&p[0]));
        mms_seq_store(&p0[1], mms_load_relaxed(&p[1]));
    }
    mms_store_release(seq0, s + 2);
    return true;
}

static void retire_record(mms_writer *w, const mms_table *t, uint32_t i,
                          uint8_t *c, uint8_t *c0)
{
    uint64_t s;
    seq_open((uint64_t *)c, &s);
    for (unsigned k = 0; k < t->nmembers; k++) {
        const struct mms__tmember *m = &t->m[k];
        uint64_t *p = (uint64_t *)(c + m->off), *p0 = (uint64_t *)(c0 + m->off);
        switch (m->kind) {
        case MMS_MK_SUM:
        case MMS_MK_SUM_I64:
            move_word(p, p0);
            break;
        case MMS_MK_MAX:
        case MMS_MK_MIN: /* MIN is kept inverted: both only grow */
            mms__raise_to(p0, mms_load_relaxed(p));
            mms_seq_store(p, (uint64_t)0);
            break;
        case MMS_MK_HIST:
            move_hist(w, p, p0, m->bits, m->nbuckets, m->nchunks, i,
                      (uint16_t)k);
            break;
        case MMS_MK_MAXARG:
            if (maxarg_to0((uint64_t *)c0, p0, p)) {
                mms_seq_store(&p[0], (uint64_t)0);
                mms_seq_store(&p[1], (uint64_t)0);
            }
            break;
        }
    }
    seq_close((uint64_t *)c, s);
}

/* Move the cells of the group whose head (first index) is I: C and C0
 * are the group's cells in the thread's shard and in shard 0. */
static void retire_group(mms_writer *w, uint32_t first, uint32_t count,
                         uint8_t *c, uint8_t *c0)
{
    for (uint32_t k = 0; k < count; k++) {
        uint32_t i = first + k, g[4];
        void *e = mms__ix_get(w, i);
        bool sharded;
        if (!e || !mms__group_of(w, i, g, &sharded) || !sharded)
            continue;
        if (mms__ix_tag(e) == MMS__IX_FIELD)
            retire_field(w, e, c + g[3], c0 + g[3]);
        else
            retire_record(w, mms__ix_ptr(e), i, c + g[3], c0 + g[3]);
    }
}

void mms__cells_retire(mms_writer *w, struct mms__shard *sh)
{
    struct mms_file_header *h = w->hdr;
    struct mms__shard *sh0 = mms__shard_get(w, 0);
    if (!sh0 || sh == sh0)
        return;
    mms_add_relaxed(&h->retire_begin, 1);
    mms_fence_release();
    /* Each group once, from its head's slot (the others' slots, when
     * cached, point into the same block). */
    for (uint32_t d = 0; d < sh->row.ndir; d++) {
        void **page = mms_load_acquire(&sh->row.dir[d]);
        for (uint32_t k = 0; page && k < MMS_PAGE_LEN; k++) {
            uint8_t *c = mms_load_acquire(&page[k]);
            uint32_t i = (d << MMS_PAGE_SHIFT) + k, g[4];
            /* The head's slot holds the group's cells even when the
             * head itself (a gauge) has no cell of its own. */
            bool sharded;
            if (!c || !mms__group_of(w, i, g, &sharded) || g[0] != i)
                continue;
            uint8_t *c0 = mms__cell_slow(w, sh0, i, g[0], g[1], g[2], 0);
            if (c0) /* else it stays in the FREE shard: counted once */
                retire_group(w, g[0], g[1], c, c0);
        }
    }
    __atomic_fetch_add(&h->retire_end, 1, __ATOMIC_RELEASE);
}

/* ---------------------------------------------------------------- fork */

/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static void zero_words(uint8_t *p, size_t len)
{
    for (size_t k = 0; k < len; k += 8)
        mms_store_relaxed((uint64_t *)(p + k), (uint64_t)0);
}

/* Zero index I's cell C, keeping histogram chunk directories (the
 * chunks stay, zeroed). */
static void zero_cell(mms_writer *w, uint32_t i, uint8_t *c)
{
    void *e = mms__ix_get(w, i);
    if (!e)
        return;
    if (mms__ix_tag(e) == MMS__IX_FIELD) {
        const mms_field *f = e;
        if (f->kind == MMS_KIND_HISTOGRAM) {
            zero_words(c, sizeof(struct mms_hist_cell));
            if (f->win_off)
                zero_words(c + f->win_off, f->cell_size - f->win_off);
        } else if (f->flags & MMS_DF_RING_BLOCK) {
            /* The ring stays the cell's (zeroed with the RING blocks). */
            struct mms_ring_cell *rc = (struct mms_ring_cell *)c;
            zero_words(c, sizeof rc->total);
            zero_words((uint8_t *)rc->own, sizeof rc->own);
        } else {
            zero_words(c, f->cell_size);
        }
    } else if (mms__ix_tag(e) == MMS__IX_RECORD) {
        const mms_table *t = mms__ix_ptr(e);
        zero_words(c, 8);
        for (unsigned k = 0; k < t->nmembers; k++)
            zero_words(c + t->m[k].off,
                       t->m[k].kind == MMS_MK_HIST ? 32 : t->m[k].size);
    }
}

static void zero_cells_block(mms_writer *w, struct mms_cells_block *b)
{
    uint8_t *c = (uint8_t *)(b + 1);
    for (uint32_t k = 0; k < b->count; k++) {
        uint32_t g[4];
        bool sharded;
        if (mms__group_of(w, b->first + k, g, &sharded) && sharded)
            zero_cell(w, b->first + k, c + g[3]);
    }
}

void mms__heap_zero_values(mms_writer *w)
{
    struct mms_file_header *h = w->hdr;
    uint64_t end = mms_load_acquire(&h->heap_used);
    for (uint64_t off = h->heap_off; off < end;) {
        struct mms_block *b = (struct mms_block *)mms__ptr(w, off);
        if (b->size == 0)
            break;
        if (b->bstate == MMS_BS_READY && b->type == MMS_BLOCK_AREA) {
            struct mms_area_block *a = (struct mms_area_block *)b;
            for (uint32_t p = 0; p < a->used;) {
                struct mms_block *n =
                    (struct mms_block *)((uint8_t *)(a + 1) + p);
                if (n->size == 0)
                    break;
                if (n->type == MMS_BLOCK_CELLS && n->bstate == MMS_BS_READY)
                    zero_cells_block(w, (struct mms_cells_block *)n);
                else if (n->type == MMS_BLOCK_CHUNK32 &&
                         n->bstate == MMS_BS_READY)
                    zero_words((uint8_t *)n + sizeof(struct mms_chunk_block),
                               n->size - sizeof(struct mms_chunk_block));
                p += n->size;
            }
        } else if (b->bstate == MMS_BS_READY && b->type == MMS_BLOCK_CHUNK) {
            struct mms_chunk_block *cb = (struct mms_chunk_block *)b;
            zero_words((uint8_t *)(cb + 1), (size_t)8 * cb->nbuckets);
        } else if (b->bstate == MMS_BS_READY && b->type == MMS_BLOCK_RING) {
            zero_words((uint8_t *)b + sizeof(struct mms_ring_block),
                       MMS_RING_BLOCK_SIZE - sizeof(struct mms_ring_block));
        } else if (b->bstate == MMS_BS_READY && b->type == MMS_BLOCK_TABLE) {
            struct mms_table_block *tb = (struct mms_table_block *)b;
            mms_store_relaxed(&tb->overflow_hits, (uint64_t)0);
        }
        off += b->size;
    }
}
