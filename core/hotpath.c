/* The internal API of core/hotpath.h for the preload shim: a thread's cell
 * of a field or record, histogram records on a cell, field groups, state
 * changes and the writer's thread-exit and no-system-call settings. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hotpath.h"
#include "update.h"

MMS_HIDDEN uint8_t *mms__record_cell_slow(mms_table *t, uint32_t rec,
                                          bool *owned);

struct mms_cell mms__cell(mms_field *f)
{
    if (!f || !(f->flags & MMS_DF_SHARDED))
        return (struct mms_cell){NULL, false};
    bool owned = false;
    uint8_t *c = mms__cell_of(f, &owned);
    return (struct mms_cell){c, c ? owned : false};
}

struct mms_cell mms__cell_shared(mms_field *f)
{
    if (!f || !(f->flags & MMS_DF_SHARDED))
        return (struct mms_cell){NULL, false};
    mms_writer *w = f->w;
    struct mms__shard *sh0 = mms__shard_get(w, 0);
    uint8_t *c = sh0 ? mms__row_cell(sh0, f->index) : NULL;
    if (!c && sh0) {
        int saved = errno;
        c = mms__cell_slow(w, sh0, f->index, f->group_first, f->group_count,
                           f->group_bytes, f->cell_off);
        errno = saved;
        if (!c)
            mms__dropped(w, 1);
    }
    return (struct mms_cell){c, false};
}

void mms__hist_record_cell(mms_field *f, struct mms_cell c, uint64_t v)
{
    if (!f || f->kind != MMS_KIND_HISTOGRAM || !c.p)
        return;
    mms__hist_record_at(f, c.p, c.owned, v, 0, f->bits, f->max_exp);
}

void mms__hist_carry(mms_field *f, const uint8_t *cell, uint32_t *bucket)
{
    /* The bucket's place in its chunk: the chunk of the cell's
     * directory that holds it. */
    const uint32_t *dir =
        (const uint32_t *)(cell + sizeof(struct mms_hist_cell));
    for (uint32_t c = 0; c < f->nchunks; c++) {
        uint32_t off = mms_load_relaxed(&dir[c]);
        if (!off)
            continue;
        uint32_t *b =
            (uint32_t *)(mms__ptr(f->w, off) + sizeof(struct mms_chunk_block));
        uint32_t nb = mms__chunk_nb(f->nbuckets, f->bits, c);
        if (bucket >= b && bucket < b + nb) {
            mms__chunk_carry(f->w, bucket, (uint32_t)(bucket - b));
            return;
        }
    }
}

#if defined(__x86_64__) && !defined(MMS_NO_ASM) && !MMS_TSAN
/* mms__hist_carry for mms__hist_bucket_inc's asm, which calls it with
 * no register saved: the general registers the ABI lets a callee
 * change, and xmm0-15, saved around it (its arguments in rdi, rsi and
 * rdx, as for mms__hist_carry).
 *
 * Its CFI lets a backtrace taken inside it (a debugger, a profiler, a
 * signal handler) reach the caller and beyond. The caller's CFI knows
 * nothing of its asm, which has moved %rsp 152 bytes down before the
 * call (128 past the red zone, then its rdi, rsi and rdx pushed): the
 * CFA here is the caller's %rsp before that move, so that the caller's
 * own rules apply to it, the return address 160 below it, and the
 * caller's rdi, rsi and rdx at 136, 144 and 152 below (what its code
 * holds in them; the values in them at the call are the arguments).
 * test_carry_asm checks the 152 at every call site, test_carry_unwind
 * that a backtrace from inside the carry reaches main. xmm0-15 are not
 * described: their save area moves with the stack's alignment. */
__asm__(".text\n"
        ".globl mms__hist_carry_stub\n"
        ".hidden mms__hist_carry_stub\n"
        ".type mms__hist_carry_stub, @function\n"
        "mms__hist_carry_stub:\n"
        "\t.cfi_startproc\n"
        "\t.cfi_def_cfa_offset 160\n"
        "\t.cfi_offset %rip, -160\n"
        "\t.cfi_offset %rdi, -136\n"
        "\t.cfi_offset %rsi, -144\n"
        "\t.cfi_offset %rdx, -152\n"
        "\tpush %rax\n\t.cfi_adjust_cfa_offset 8\n\t.cfi_offset %rax, -168\n"
        "\tpush %rcx\n\t.cfi_adjust_cfa_offset 8\n\t.cfi_offset %rcx, -176\n"
        "\tpush %rdx\n\t.cfi_adjust_cfa_offset 8\n"
        "\tpush %rsi\n\t.cfi_adjust_cfa_offset 8\n"
        "\tpush %rdi\n\t.cfi_adjust_cfa_offset 8\n"
        "\tpush %r8\n\t.cfi_adjust_cfa_offset 8\n\t.cfi_offset %r8, -208\n"
        "\tpush %r9\n\t.cfi_adjust_cfa_offset 8\n\t.cfi_offset %r9, -216\n"
        "\tpush %r10\n\t.cfi_adjust_cfa_offset 8\n\t.cfi_offset %r10, -224\n"
        "\tpush %r11\n\t.cfi_adjust_cfa_offset 8\n\t.cfi_offset %r11, -232\n"
        "\tpush %rbp\n\t.cfi_adjust_cfa_offset 8\n\t.cfi_offset %rbp, -240\n"
        "\tmov %rsp, %rbp\n\t.cfi_def_cfa_register %rbp\n"
        "\tand $-16, %rsp\n\tsub $256, %rsp\n"
        "\tmovdqa %xmm0, 0(%rsp)\n"
        "\tmovdqa %xmm1, 16(%rsp)\n"
        "\tmovdqa %xmm2, 32(%rsp)\n"
        "\tmovdqa %xmm3, 48(%rsp)\n"
        "\tmovdqa %xmm4, 64(%rsp)\n"
        "\tmovdqa %xmm5, 80(%rsp)\n"
        "\tmovdqa %xmm6, 96(%rsp)\n"
        "\tmovdqa %xmm7, 112(%rsp)\n"
        "\tmovdqa %xmm8, 128(%rsp)\n"
        "\tmovdqa %xmm9, 144(%rsp)\n"
        "\tmovdqa %xmm10, 160(%rsp)\n"
        "\tmovdqa %xmm11, 176(%rsp)\n"
        "\tmovdqa %xmm12, 192(%rsp)\n"
        "\tmovdqa %xmm13, 208(%rsp)\n"
        "\tmovdqa %xmm14, 224(%rsp)\n"
        "\tmovdqa %xmm15, 240(%rsp)\n"
        "\tcall mms__hist_carry\n"
        "\tmovdqa 0(%rsp), %xmm0\n"
        "\tmovdqa 16(%rsp), %xmm1\n"
        "\tmovdqa 32(%rsp), %xmm2\n"
        "\tmovdqa 48(%rsp), %xmm3\n"
        "\tmovdqa 64(%rsp), %xmm4\n"
        "\tmovdqa 80(%rsp), %xmm5\n"
        "\tmovdqa 96(%rsp), %xmm6\n"
        "\tmovdqa 112(%rsp), %xmm7\n"
        "\tmovdqa 128(%rsp), %xmm8\n"
        "\tmovdqa 144(%rsp), %xmm9\n"
        "\tmovdqa 160(%rsp), %xmm10\n"
        "\tmovdqa 176(%rsp), %xmm11\n"
        "\tmovdqa 192(%rsp), %xmm12\n"
        "\tmovdqa 208(%rsp), %xmm13\n"
        "\tmovdqa 224(%rsp), %xmm14\n"
        "\tmovdqa 240(%rsp), %xmm15\n"
        "\tmov %rbp, %rsp\n\t.cfi_def_cfa_register %rsp\n"
        "\tpop %rbp\n\t.cfi_adjust_cfa_offset -8\n\t.cfi_restore %rbp\n"
        "\tpop %r11\n\t.cfi_adjust_cfa_offset -8\n\t.cfi_restore %r11\n"
        "\tpop %r10\n\t.cfi_adjust_cfa_offset -8\n\t.cfi_restore %r10\n"
        "\tpop %r9\n\t.cfi_adjust_cfa_offset -8\n\t.cfi_restore %r9\n"
        "\tpop %r8\n\t.cfi_adjust_cfa_offset -8\n\t.cfi_restore %r8\n"
        "\tpop %rdi\n\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rsi\n\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rdx\n\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rcx\n\t.cfi_adjust_cfa_offset -8\n\t.cfi_restore %rcx\n"
        "\tpop %rax\n\t.cfi_adjust_cfa_offset -8\n\t.cfi_restore %rax\n"
        "\tret\n"
        "\t.cfi_endproc\n"
        ".size mms__hist_carry_stub, .-mms__hist_carry_stub\n");
#endif

bool mms__hist_view(mms_field *f, struct mms_hist_view *v)
{
    if (!f || f->kind != MMS_KIND_HISTOGRAM || (f->flags & MMS_DF_WINDOW))
        return false;
    mms_writer *w = f->w;
    uint8_t *ext0 = mms_load_acquire(&w->ext[0]);
    *v = (struct mms_hist_view){.ext = w->ext,
                                .ext0 = ext0,
                                .ext0_size = ext0 ? w->extent_size : 0,
                                .ext_mask = w->ext_mask,
                                .ext_shift = w->ext_shift,
                                .bits = f->bits,
                                .max_exp = f->max_exp,
                                .f = f};
    return true;
}

/* An add under a cell's seqlock (or, not owned, an atomic one). */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static inline void seq_add(uint64_t *p, uint64_t v, bool owned)
{
    if (owned)
        mms_seq_add_owned(p, v);
    else
        mms_add_relaxed(p, v);
}

/* COUNTS[I]: u16 counts if NARROW, else u32. */
static inline uint32_t count_at(const void *counts, bool narrow, uint32_t i)
{
    return narrow ? ((const uint16_t *)counts)[i]
                  : ((const uint32_t *)counts)[i];
}

/* The first of COUNTS[I..NB) that is not 0, or NB: 16 bytes at a time,
 * for a batch's buckets are mostly empty. */
static inline __attribute__((always_inline)) uint32_t
next_count(const void *counts, bool narrow, uint32_t nb, uint32_t i)
{
    const uint32_t step = narrow ? 8 : 4;
    for (; i + step <= nb; i += step) {
        uint64_t w[2];
        memcpy(w, (const uint8_t *)counts + (narrow ? 2 : 4) * (size_t)i,
               sizeof w);
        if (w[0] | w[1])
            break;
    }
    while (i < nb && !count_at(counts, narrow, i))
        i++;
    return i;
}

static inline __attribute__((always_inline)) bool
add_counts(mms_field *f, struct mms_cell c, const void *counts, bool narrow,
           uint32_t nb, uint64_t sum, uint64_t lo, uint64_t hi)
{
    if (!f || f->kind != MMS_KIND_HISTOGRAM || !c.p || nb > f->nbuckets ||
        (f->flags & MMS_DF_WINDOW) ||
        mms__hist_nchunks(f->bits, f->max_exp) > 72)
        return false;
    /* The chunks first (a chunk's first value allocates it), then the
     * adds under one hold of the seqlock. */
    const unsigned bits = f->bits;
    void *chunk[72] = {NULL}; /* max_exp <= 64: at most 66 chunks */
    uint32_t *dir = (uint32_t *)(c.p + sizeof(struct mms_hist_cell));
    for (uint32_t i = next_count(counts, narrow, nb, 0); i < nb;
         i = next_count(counts, narrow, nb, i + 1))
        if (!chunk[i >> bits])
            chunk[i >> bits] = mms__chunk_of_many(
                f->w, dir, i >> bits, f->nbuckets, bits, c.owned, f->index, 0);
    uint64_t *seq = (uint64_t *)c.p, *body = seq + 1, s = 0, n = 0;
    bool lock = mms__seq_take(seq, c.owned, &s);
    for (uint32_t i = next_count(counts, narrow, nb, 0); i < nb;
         i = next_count(counts, narrow, nb, i + 1))
        if (chunk[i >> bits]) {
            uint32_t k = count_at(counts, narrow, i);
            mms__bucket_add(f->w, chunk[i >> bits], i & ((1u << bits) - 1),
                            c.owned, k);
            n += k;
        }
    if (n) {
        seq_add(&body[0], n, c.owned);
        seq_add(&body[1], sum, c.owned);
        mms__raise_to(&body[3], hi);
        mms__raise_to(&body[2], ~lo);
    }
    if (lock)
        mms_store_release(seq, s + 2);
    return true;
}

bool mms__hist_add_counts(mms_field *f, struct mms_cell c,
                          const uint32_t *counts, uint32_t nb, uint64_t sum,
                          uint64_t lo, uint64_t hi)
{
    return add_counts(f, c, counts, false, nb, sum, lo, hi);
}

bool mms__hist_add_counts16(mms_field *f, struct mms_cell c,
                            const uint16_t *counts, uint32_t nb, uint64_t sum,
                            uint64_t lo, uint64_t hi)
{
    return add_counts(f, c, counts, true, nb, sum, lo, hi);
}

void mms__cell_window_reset_add(struct mms_cell c, uint32_t off, uint64_t sec,
                                uint64_t n)
{
    if (!c.p)
        return;
    uint8_t *s = mms__window_slot(c.p + off, 16, sec, 1, c.owned);
    if (s)
        mms__add_cell((uint64_t *)(s + 8), n, c.owned);
}

/* A RING block for the cell whose ring word is SLOT, named there unless
 * another update (shard 0's other threads, a signal handler) named one
 * first: then ours is dead. The ring in use: its offset, or 0. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static uint64_t ring_make(mms_writer *w, uint64_t *slot, uint32_t index,
                          uint32_t shard)
{
    uint64_t o =
        mms__block_alloc(w, MMS_BLOCK_RING, MMS_RING_BLOCK_SIZE, MMS_LINE);
    if (!o)
        return 0;
    struct mms_ring_block *rb = (struct mms_ring_block *)mms__ptr(w, o);
    rb->index = index;
    rb->shard = shard;
    mms__block_publish(w, &rb->b, MMS_BS_READY);
    uint64_t expect = 0;
    if (mms_cas_acq_rel(slot, &expect, o))
        return o;
    mms__block_publish(w, &rb->b, MMS_BS_DEAD);
    return expect;
}

uint64_t *mms__ring_slot_slow(mms_writer *w, struct mms_ring_cell *rc,
                              uint64_t sec, bool owned, uint32_t index)
{
    /* The cell's first seconds take its own slots, each once: a compare-
     * and-swap, since shard 0's cells are shared and a signal handler may
     * come between its thread's load and store. */
    for (unsigned k = 0; k < MMS_RING_CELL_SLOTS; k++) {
        uint64_t cur = mms_load_acquire(&rc->own[k].sec);
        if (cur == 0 && mms_cas_acq_rel(&rc->own[k].sec, &cur, sec))
            return &rc->own[k].sum;
        if (cur == sec)
            return &rc->own[k].sum;
    }
    uint64_t off = mms_load_acquire(&rc->ring);
    if (!off &&
        !(off = ring_make(w, &rc->ring, index, mms__cell_shard(w, owned))))
        return NULL;
    struct mms_window_slot *s = (struct mms_window_slot *)mms__window_slot(
        mms__ptr(w, off) + sizeof(struct mms_ring_block),
        sizeof(struct mms_window_slot), sec, 1, owned);
    return s ? &s->sum : NULL;
}

uint64_t *mms__cell_ring_slot(mms_field *f, struct mms_cell c, uint64_t sec)
{
    if (!f || !c.p || !(f->flags & MMS_DF_RING_BLOCK))
        return NULL;
    return mms__ring_slot(f->w, (struct mms_ring_cell *)c.p, sec, c.owned,
                          f->index);
}

uint64_t *mms__gauge_cell(mms_field *f)
{
    if (!f || f->kind != MMS_KIND_GAUGE)
        return NULL;
    return (uint64_t *)f->value;
}

int mms__group_add(mms_writer *w, const struct mms_field_spec *specs,
                   unsigned n, unsigned flags, mms_field **out)
{
    if (!w || !specs || !out)
        return -EINVAL;
    int saved = errno;
    int rc = mms__fields_add(w, specs, n, !(flags & MMS_ADD_NOWAIT), out);
    errno = saved;
    return rc;
}

struct mms_cell mms__record_cell(mms_table *t, uint32_t rec)
{
    if (!t)
        return (struct mms_cell){NULL, false};
    struct mms__tls_ent *tl = &mms__tls[t->w->slot];
    bool owned = false;
    uint8_t *c = NULL;
    if (tl->wid == t->w->id)
        c = mms__row_cell(tl->sh, rec);
    if (c)
        owned = tl->owned;
    else
        c = mms__record_cell_slow(t, rec, &owned);
    return (struct mms_cell){c, c ? owned : false};
}

struct mms_cell mms__record_cell_shared(mms_table *t, uint32_t rec)
{
    if (!t)
        return (struct mms_cell){NULL, false};
    mms_writer *w = t->w;
    struct mms__shard *sh0 = mms__shard_get(w, 0);
    uint8_t *c = sh0 ? mms__row_cell(sh0, rec) : NULL;
    if (!c && sh0) {
        int saved = errno;
        c = mms__cell_slow(w, sh0, rec, rec, 1, t->cell_size, 0);
        errno = saved;
        if (!c)
            mms__dropped(w, 1);
    }
    return (struct mms_cell){c, false};
}

uint32_t mms__record_member_off(mms_table *t, unsigned member)
{
    return t && member < t->nmembers ? t->m[member].off : 0;
}

void mms__record_hist_cell(mms_table *t, struct mms_cell c, uint32_t rec,
                           unsigned member, uint64_t v)
{
    if (!t || !c.p || member >= t->nmembers || t->m[member].kind != MMS_MK_HIST)
        return;
    const struct mms__tmember *m = &t->m[member];
    uint64_t *body = (uint64_t *)(c.p + m->off);
    uint32_t idx = mms__hist_index(v, m->bits, m->max_exp);
    void *chunk =
        mms__chunk_of(t->w, (uint32_t *)(body + 4), idx >> m->bits, m->nbuckets,
                      m->bits, c.owned, rec, (uint16_t)member, v);
    if (!chunk)
        return;
    uint64_t s = 0;
    bool lock = mms__seq_take((uint64_t *)c.p, c.owned, &s);
    mms__hist_body_add(t->w, body, chunk, idx & ((1u << m->bits) - 1), c.owned,
                       v);
    if (lock)
        mms_store_release((uint64_t *)c.p, s + 2);
}

MMS_HIDDEN void mms__record_maxarg_at(mms_table *t, uint8_t *c, unsigned member,
                                      bool owned, uint64_t v, uint64_t arg);

void mms__record_maxarg_cell(mms_table *t, struct mms_cell c, unsigned member,
                             uint64_t v, uint64_t arg)
{
    if (t && c.p && member < t->nmembers && t->m[member].kind == MMS_MK_MAXARG)
        mms__record_maxarg_at(t, c.p, member, c.owned, v, arg);
}

void mms__writer_set_state(mms_writer *w, enum mms_state st)
{
    if (!w || w->detached || w->hdr->pid != (int32_t)getpid())
        return;
    if (st == MMS_STATE_FINISHED) {
        mms_writer_finish(w);
        return;
    }
    mms_store_relaxed(&w->hdr->finished_ns, (int64_t)0);
    mms_store_release(&w->hdr->p.state, (uint32_t)st);
}

void mms__writer_on_thread_exit(mms_writer *w, void (*cb)(void))
{
    if (w)
        w->thread_exit_cb = cb;
}

void mms__writer_on_identity(mms_writer *w, mms__identity_fn *fn)
{
    if (w)
        w->identity_cb = fn;
}

static int (*mutex_lock_fn)(pthread_mutex_t *); /* NULL: pthread's */

void mms__set_mutex_lock(int (*fn)(pthread_mutex_t *))
{
    mms_store_release(&mutex_lock_fn, fn);
}

int mms__mutex_lock(pthread_mutex_t *m)
{
    int (*fn)(pthread_mutex_t *) = mms_load_acquire(&mutex_lock_fn);
    return fn ? fn(m) : pthread_mutex_lock(m);
}

void mms__writer_no_syscalls(mms_writer *w)
{
    if (w)
        __atomic_store_n(&w->no_syscalls, true, __ATOMIC_RELAXED);
}

int mms__writer_reserve(mms_writer *w, size_t bytes)
{
    if (!w)
        return -EINVAL;
    int saved = errno;
    int rc = mms__heap_reserve(w, bytes);
    errno = saved;
    return rc;
}

void mms__writer_dropped(mms_writer *w, uint64_t n)
{
    if (w)
        mms__dropped(w, n);
}
