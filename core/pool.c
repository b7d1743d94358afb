/* The writer's private memory (struct mms__pool) and paged arrays over it.
 * The pool is a lock-free bump allocator over anonymous mappings: callers
 * may be hooks and signal handlers, so it never locks and never calls
 * malloc. One spare chunk is kept mapped ahead: switching to it needs no
 * system call, and the caller that switches maps the next spare (unless
 * system calls are off, or another refill runs: then the pool simply has
 * no spare until a later allocation refills it). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>

#include "internal.h"

#define POOL_HEAD mms__round_up(sizeof(struct mms__pchunk), 16)

static struct mms__pchunk *chunk_map(struct mms__pool *p, size_t want)
{
    size_t size = mms__round_up(want + POOL_HEAD, MMS_POOL_CHUNK);
    void *m = mms__sys_mmap(NULL, size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, NULL);
    if (m == MAP_FAILED)
        return NULL;
    struct mms__pchunk *c = m;
    c->size = size;
    c->used = POOL_HEAD;
    /* Onto the list of all chunks, for mms__pool_destroy. */
    struct mms__pchunk *head = mms_load_relaxed(&p->all);
    do
        c->next = head;
    while (!mms_cas_acq_rel(&p->all, &head, c));
    return c;
}

/* Map a spare chunk of at least WANT bytes, unless a large enough one is
 * there, system calls are off, or another refill runs. */
static void refill(struct mms__pool *p, size_t want)
{
    if (p->no_syscalls && mms_load_relaxed(p->no_syscalls))
        return;
    struct mms__pchunk *s = mms_load_acquire(&p->spare);
    if (s && s->size - POOL_HEAD >= want)
        return;
    int zero = 0;
    if (!mms_cas_acq_rel(&p->busy, &zero, 1))
        return;
    s = mms_load_acquire(&p->spare);
    if (!s || s->size - POOL_HEAD < want) {
        struct mms__pchunk *c = chunk_map(p, want);
        /* A spare replaced (too small) or a lost race leaves a chunk on
         * the list, unused: rare and bounded. */
        if (c)
            mms_cas_acq_rel(&p->spare, &s, c);
    }
    mms_store_release(&p->busy, 0);
}

int mms__pool_init(struct mms__pool *p, const bool *no_syscalls)
{
    memset(p, 0, sizeof *p);
    p->no_syscalls = no_syscalls;
    struct mms__pchunk *c = chunk_map(p, 0);
    if (!c)
        return -ENOMEM;
    p->cur = c;
    refill(p, 0);
    return 0;
}

void *mms__pool_alloc(struct mms__pool *p, size_t size)
{
    size = mms__round_up(size ? size : 1, 16);
    for (int tries = 0; tries < 64; tries++) {
        struct mms__pchunk *c = mms_load_acquire(&p->cur);
        size_t u = mms_load_relaxed(&c->used);
        if (u + size <= c->size) {
            if (mms_cas_acq_rel(&c->used, &u, u + size))
                return (uint8_t *)c + u; /* anonymous memory: zero */
            continue;
        }
        /* Full: switch to the spare if it is large enough. */
        struct mms__pchunk *s = mms_load_acquire(&p->spare);
        if (s && s->size - mms_load_relaxed(&s->used) >= size) {
            struct mms__pchunk *expect = s;
            if (mms_cas_acq_rel(&p->spare, &expect, NULL) &&
                !mms_cas_acq_rel(&p->cur, &c, s)) {
                expect = NULL; /* another chunk went in first: keep s */
                mms_cas_acq_rel(&p->spare, &expect, s);
            }
            refill(p, size);
            continue;
        }
        refill(p, size);
        if (!mms_load_acquire(&p->spare)) {
            /* Another thread's refill may be mapping the spare: wait for
             * it rather than fail (a bounded wait). */
            int spins = 0;
            while (mms_load_acquire(&p->busy) && spins++ < (1 << 20))
                sched_yield();
            if (!mms_load_acquire(&p->spare) && !mms_load_acquire(&p->busy))
                refill(p, size);
            if (!mms_load_acquire(&p->spare))
                return NULL;
        }
    }
    return NULL;
}

void mms__pool_destroy(struct mms__pool *p)
{
    struct mms__pchunk *c = p->all;
    while (c) {
        struct mms__pchunk *next = c->next;
        mms__sys_munmap(c, c->size);
        c = next;
    }
    memset(p, 0, sizeof *p);
}

size_t mms__pool_mapped(const struct mms__pool *p)
{
    size_t n = 0;
    for (const struct mms__pchunk *c = p->all; c; c = c->next)
        n += c->size;
    return n;
}

int mms__pages_init(struct mms__pages *pg, struct mms__pool *pool, uint32_t len)
{
    pg->ndir = (len + MMS_PAGE_LEN - 1) >> MMS_PAGE_SHIFT;
    pg->dir = mms__pool_alloc(pool, (size_t)pg->ndir * sizeof *pg->dir);
    return pg->dir ? 0 : -ENOMEM;
}

void **mms__pages_slot(struct mms__pages *pg, struct mms__pool *pool,
                       uint32_t i)
{
    uint32_t d = i >> MMS_PAGE_SHIFT;
    if (d >= pg->ndir)
        return NULL;
    void **page = mms_load_acquire(&pg->dir[d]);
    if (!page) {
        void **fresh = mms__pool_alloc(pool, MMS_PAGE_LEN * sizeof(void *));
        if (!fresh)
            return NULL;
        void **expect = NULL;
        /* A lost race leaves FRESH unused in the pool: bounded, rare. */
        page = mms_cas_acq_rel(&pg->dir[d], &expect, fresh) ? fresh : expect;
    }
    return &page[i & (MMS_PAGE_LEN - 1)];
}
