/* Per-thread shards: each thread that updates a writer's sharded values
 * owns one shard (plain stores, no contention); readers sum all shards. A
 * thread's shard is freed at its exit with its counts kept, and reused by
 * the next new thread. When all shards are taken, threads share shard 0
 * with atomic adds. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

__thread struct mms__tls_ent mms__tls[MMS_MAX_WRITERS]
    __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* Thread exit: hand back the shards this thread owned. */
static void release_thread_shards(void *unused)
{
    (void)unused;
    for (uint32_t slot = 0; slot < MMS_MAX_WRITERS; slot++) {
        struct mms__tls_ent *t = &mms__tls[slot];
        mms_writer *w = mms_load_acquire(&mms__writers[slot]);
        if (t->wid && t->shard && w && w->id == t->wid) {
            mms_add_relaxed(&w->hdr->shards_active, (uint32_t)-1);
            mms_store_release(&w->shtab[t->shard], (uint32_t)MMS_SHARD_FREE);
        }
        t->wid = 0;
        t->shard = 0;
        t->base = NULL;
    }
}

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, release_thread_shards);
}

void mms__shard_init_once(void) { pthread_once(&exit_once, make_exit_key); }

static uint8_t *shard_addr(mms_writer *w, uint32_t i)
{
    return w->base + w->hdr->shard_off + (uint64_t)i * w->hdr->shard_size;
}

/* A shard freed by an exited thread, or 0. */
static uint32_t take_free_shard(mms_writer *w)
{
    uint32_t cap = w->hdr->shard_cap;
    uint32_t used = mms_load_relaxed(&w->next_shard);
    for (uint32_t i = 1; i < used && i < cap; i++) {
        uint32_t expect = MMS_SHARD_FREE;
        if (mms_load_relaxed(&w->shtab[i]) == MMS_SHARD_FREE &&
            mms_cas_acq_rel(&w->shtab[i], &expect, (uint32_t)MMS_SHARD_OWNED))
            return i;
    }
    return 0;
}

/* A never-used shard with its pages allocated, or 0. MADV_POPULATE_WRITE
 * allocates the backing store and reports a full disk as an error instead
 * of a later SIGBUS; without it (Linux < 5.14) threads share shard 0. */
static uint32_t take_new_shard(mms_writer *w)
{
    uint32_t i = mms_add_relaxed(&w->next_shard, 1);
    if (i >= w->hdr->shard_cap)
        return 0;
    if (madvise(shard_addr(w, i), w->hdr->shard_size, MADV_POPULATE_WRITE) < 0)
        return 0;
    mms_store_release(&w->shtab[i], (uint32_t)MMS_SHARD_OWNED);
    return i;
}

void mms__shard_acquire(mms_writer *w, struct mms__tls_ent *t)
{
    int saved = errno; /* callers may be hooks: keep the host's errno */
    uint32_t i = take_free_shard(w);
    if (!i)
        i = take_new_shard(w);
    if (i) {
        /* A signal handler that ran in between may have set up this entry
         * already: keep its shard and give ours back. */
        if (t->wid == w->id) {
            mms_store_release(&w->shtab[i], (uint32_t)MMS_SHARD_FREE);
            errno = saved;
            return;
        }
        mms_add_relaxed(&w->hdr->shards_active, 1);
        mms_add_relaxed(&w->hdr->threads_seen, 1);
        pthread_setspecific(exit_key, (void *)1);
    }
    t->shard = i;
    t->base = shard_addr(w, i);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->wid = w->id;
    errno = saved;
}
