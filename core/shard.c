/* Per-thread shards: each thread that updates a writer's sharded values
 * owns one shard (plain stores, no contention); readers sum all shards. A
 * thread's shard is freed at its exit with its counts kept, and reused by
 * the next new thread. When all shards are taken, threads share shard 0
 * with atomic adds.
 *
 * Shards are reserved address space; their pages are allocated only for
 * the bytes fields use (w->populated), in every shard handed out, with
 * MADV_POPULATE_WRITE: a full disk is then an error at field creation or
 * shard hand-out, never a SIGBUS in an update. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

__thread struct mms__tls_ent mms__tls[MMS_MAX_WRITERS]
    __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static uint8_t *shard_addr(mms_writer *w, uint32_t i);

/* Thread exit: hand back the shards this thread owned. Code that runs
 * later in the dying thread (other destructors, glibc's own clean-up,
 * which calls free) may still update: the thread stays parked on the
 * shared shard 0, so it never takes a new shard nobody would hand back. */
static void release_thread_shards(void *unused)
{
    (void)unused;
    for (uint32_t slot = 0; slot < MMS_MAX_WRITERS; slot++) {
        struct mms__tls_ent *t = &mms__tls[slot];
        mms_writer *w = mms_load_acquire(&mms__writers[slot]);
        if (!w || w->id != t->wid) {
            t->wid = 0;
            continue;
        }
        if (t->shard && w->thread_exit_cb)
            w->thread_exit_cb();
        if (t->shard) {
            mms_add_relaxed(&w->hdr->shards_active, (uint32_t)-1);
            mms_store_release(&w->shtab[t->shard], (uint32_t)MMS_SHARD_FREE);
        }
        t->shard = 0;
        t->base = shard_addr(w, 0);
    }
}

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, release_thread_shards);
}

void mms__shard_init_once(void)
{
    pthread_once(&exit_once, make_exit_key);
}

static uint8_t *shard_addr(mms_writer *w, uint32_t i)
{
    return w->base + w->hdr->shard_off + (uint64_t)i * w->hdr->shard_size;
}

/* Allocate the pages of [p, p + len). Kernels before 5.14 lack
 * MADV_POPULATE_WRITE: there, touch each page instead (an atomic add of 0
 * changes nothing a concurrent writer does). */
int mms__populate(uint8_t *p, size_t len)
{
    if (len == 0 || madvise(p, len, MADV_POPULATE_WRITE) == 0)
        return 0;
    if (errno != EINVAL)
        return -errno;
    for (size_t off = 0; off < len; off += 4096)
        mms_add_relaxed((uint64_t *)(p + off), 0);
    return 0;
}

int mms__shards_populate(mms_writer *w, uint32_t to)
{
    uint32_t old = mms_load_relaxed(&w->populated);
    if (to <= old)
        return 0;
    if (w->no_syscalls)
        return MMS_EFULL;
    uint32_t want =
        (to + MMS_POPULATE_CHUNK - 1) / MMS_POPULATE_CHUNK * MMS_POPULATE_CHUNK;
    if (want > w->hdr->shard_size)
        want = w->hdr->shard_size;
    /* Publish the new size first, then allocate in every shard handed out
     * or being handed out. take_new_shard does the mirror image (claim,
     * then read the size): with both sequentially consistent, no shard
     * can miss the new pages. */
    __atomic_store_n(&w->populated, want, __ATOMIC_SEQ_CST);
    for (uint32_t i = 0; i < w->hdr->shard_cap; i++) {
        if (__atomic_load_n(&w->shtab[i], __ATOMIC_SEQ_CST) == MMS_SHARD_UNUSED)
            continue;
        int rc = mms__populate(shard_addr(w, i) + old, want - old);
        if (rc < 0) {
            __atomic_store_n(&w->populated, old, __ATOMIC_SEQ_CST);
            return rc;
        }
    }
    return 0;
}

/* A shard freed by an exited thread (its pages exist), or 0. */
static uint32_t take_free_shard(mms_writer *w)
{
    uint32_t n = w->hdr->shard_cap;
    for (uint32_t i = 1; i < n; i++) {
        uint32_t expect = MMS_SHARD_FREE;
        if (mms_load_relaxed(&w->shtab[i]) == MMS_SHARD_FREE &&
            mms_cas_acq_rel(&w->shtab[i], &expect, (uint32_t)MMS_SHARD_OWNED))
            return i;
    }
    return 0;
}

/* A never-used shard with the pages fields use allocated, or 0. Claimed
 * in the file's shard table (UNUSED -> RESERVED -> OWNED), not just in
 * this process, so processes sharing a file after fork (MMS_W_FORK_SHARE)
 * never hand out the same shard; readers skip RESERVED shards, whose
 * pages may not exist yet. */
static uint32_t take_new_shard(mms_writer *w)
{
    uint32_t cap = w->hdr->shard_cap;
    for (uint32_t i = mms_load_relaxed(&w->next_shard); i < cap; i++) {
        uint32_t expect = MMS_SHARD_UNUSED;
        if (mms_load_relaxed(&w->shtab[i]) != MMS_SHARD_UNUSED ||
            !__atomic_compare_exchange_n(&w->shtab[i], &expect,
                                         (uint32_t)MMS_SHARD_RESERVED, 0,
                                         __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            continue;
        mms_store_relaxed(&w->next_shard, i + 1);
        /* Allocate what fields use, until a field add running meanwhile
         * has nothing more to ask (see mms__shards_populate). */
        uint32_t done = 0, want;
        while ((want = __atomic_load_n(&w->populated, __ATOMIC_SEQ_CST)) >
               done) {
            if (mms__populate(shard_addr(w, i) + done, want - done) < 0) {
                mms_store_release(&w->shtab[i], (uint32_t)MMS_SHARD_UNUSED);
                return 0;
            }
            done = want;
        }
        mms_store_release(&w->shtab[i], (uint32_t)MMS_SHARD_OWNED);
        return i;
    }
    return 0;
}

/* First update by this thread: find it a shard, without a lock (a signal
 * handler may run this while the code it interrupted holds any lock). A
 * thread falls back to the shared shard 0 only when every shard is taken
 * or pages cannot be had. */
struct mms__shard_ref mms__shard_acquire(mms_writer *w, struct mms__tls_ent *t)
{
    struct mms__shard_ref shared = {shard_addr(w, 0), false};
    int saved = errno; /* callers may be hooks: keep the host's errno */
    uint32_t i = take_free_shard(w);
    if (!i && !w->no_syscalls)
        i = take_new_shard(w);
    /* A signal handler that ran in between may have set up this entry
     * already: keep its shard and give ours back. */
    if (i && t->wid == w->id) {
        mms_store_release(&w->shtab[i], (uint32_t)MMS_SHARD_FREE);
        errno = saved;
        return (struct mms__shard_ref){t->base, t->shard != 0};
    }
    if (i) {
        mms_add_relaxed(&w->hdr->shards_active, 1);
        mms_add_relaxed(&w->hdr->threads_seen, 1);
        pthread_setspecific(exit_key, (void *)1);
    }
    t->shard = i;
    t->base = i ? shard_addr(w, i) : shared.base;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->wid = w->id;
    errno = saved;
    return (struct mms__shard_ref){t->base, i != 0};
}
