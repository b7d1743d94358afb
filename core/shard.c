/* Shards: a thread's identity in the file and its private row of cells
 * (docs/format.md section 9). A thread takes a shard on its first update:
 * a FREE one of this process (its cells zeroed by the last owner's exit,
 * and still allocated), else a new one (up to the writer's max_shards,
 * 65,536 by default: more threads than programs keep alive at once);
 * only beyond it, or without space, does it share shard 0 with atomic
 * adds. At its exit the thread moves its values to shard 0 (cells.c)
 * and frees the shard. Nothing here locks: a signal handler may run it while
 * the code it interrupted holds any lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hotpath.h"
#include "internal.h"

__thread struct mms__tls_ent mms__tls[MMS_MAX_WRITERS]
    __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* Take the seqlock of SHARD block B: identity_set and a rename by another
 * thread (mms__writer_thread_named) may write it at once. A holder is
 * never interrupted for long (no system call inside): spin. */
static uint32_t identity_lock(struct mms_shard_block *b)
{
    uint32_t seq = mms_load_relaxed(&b->seq);
    for (;;) {
        if (!(seq & 1) && mms_cas_acq_rel(&b->seq, &seq, seq + 1))
            break;
        seq = mms_load_relaxed(&b->seq);
    }
    mms_fence_release();
    return seq;
}

static void name_store(struct mms_shard_block *b, const char name[16])
{
    uint64_t words[2];
    memcpy(words, name, sizeof words);
    mms_seq_store((uint64_t *)&b->name[0], words[0]);
    mms_seq_store((uint64_t *)&b->name[8], words[1]);
}

/* Write the owner fields of a SHARD block under its seqlock. */
static void identity_set(mms_writer *w, struct mms_shard_block *b, bool owner,
                         bool ending)
{
    uint32_t seq = identity_lock(b);
    if (ending) {
        mms_seq_store(&b->end_ns, mms__now_ns(CLOCK_REALTIME));
    } else {
        int32_t tid = 0;
        char name[16] = "";
        if (owner && w->identity_cb) {
            w->identity_cb(&tid, name);
        } else if (owner && !mms_load_relaxed(&w->no_syscalls)) {
            /* Two system calls, once per thread; never in no-syscall
             * mode (a seccomp filter could kill the host for them). */
            tid = (int32_t)syscall(SYS_gettid);
            prctl(PR_GET_NAME, name, 0, 0, 0);
        }
        name[15] = '\0';
        mms_seq_store(&b->tid, tid);
        mms_seq_store(&b->generation, b->generation + 1);
        name_store(b, name);
        mms_seq_store(&b->start_ns, mms__now_ns(CLOCK_REALTIME));
        mms_seq_store(&b->end_ns, (int64_t)0);
    }
    mms_store_release(&b->seq, seq + 2);
}

void mms__writer_thread_named(mms_writer *w, int32_t tid, const char *name)
{
    if (!w || tid <= 0 || !name)
        return;
    char buf[16] = "";
    strncpy(buf, name, sizeof buf - 1);
    uint32_t n = mms__shards_made(w);
    for (uint32_t i = 1; i < n; i++) {
        struct mms__shard *sh = mms__shard_get(w, i);
        if (!sh || mms_load_acquire(&sh->blk->sstate) != MMS_SHARD_OWNED ||
            mms_load_relaxed(&sh->blk->tid) != tid)
            continue;
        uint32_t seq = identity_lock(sh->blk);
        if (mms_load_relaxed(&sh->blk->tid) == tid)
            name_store(sh->blk, buf);
        mms_store_release(&sh->blk->seq, seq + 2);
    }
}

/* A new shard ID: its SHARD block and private row. NULL without space. */
static struct mms__shard *shard_make(mms_writer *w, uint32_t id)
{
    struct mms__shard *sh = mms__pool_alloc(&w->pool, sizeof *sh);
    if (!sh || mms__pages_init(&sh->row, &w->pool, w->max_index) < 0)
        return NULL;
    uint64_t off =
        mms__block_alloc(w, MMS_BLOCK_SHARD, sizeof(struct mms_shard_block), 8);
    if (!off)
        return NULL;
    struct mms_shard_block *b = (struct mms_shard_block *)mms__ptr(w, off);
    b->shard = id;
    b->sstate = MMS_SHARD_OWNED;
    sh->id = id;
    sh->blk = b;
    sh->next_area = MMS_AREA_FIRST;
    return sh;
}

int mms__shard0_create(mms_writer *w)
{
    mms_store_relaxed(&w->hdr->next_shard, 1u);
    struct mms__shard *sh = shard_make(w, 0);
    if (!sh)
        return MMS_EFULL;
    mms__block_publish(w, &sh->blk->b, MMS_BS_READY);
    return mms__shard_set(w, 0, sh) ? 0 : MMS_EFULL;
}

bool mms__shard_set(mms_writer *w, uint32_t i, struct mms__shard *sh)
{
    void **slot = mms__pages_slot(&w->shards, &w->pool, i);
    if (!slot)
        return false;
    mms_store_release(slot, (void *)sh);
    return true;
}

/* A FREE shard of this process, now OWNED by the caller; or NULL. */
static struct mms__shard *take_free(mms_writer *w)
{
    uint32_t n = mms__shards_made(w);
    uint32_t start = mms_load_relaxed(&w->free_hint);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = 1 + (start + k) % (n > 1 ? n - 1 : 1);
        struct mms__shard *sh = mms__shard_get(w, i);
        uint32_t expect = MMS_SHARD_FREE;
        if (sh && mms_load_relaxed(&sh->blk->sstate) == MMS_SHARD_FREE &&
            mms_cas_acq_rel(&sh->blk->sstate, &expect,
                            (uint32_t)MMS_SHARD_OWNED)) {
            mms_store_relaxed(&w->free_hint, i);
            return sh;
        }
    }
    return NULL;
}

/* A new shard id (up to the limit) with its block; or NULL. */
static struct mms__shard *take_new(mms_writer *w)
{
    uint32_t id = mms_load_relaxed(&w->hdr->next_shard);
    do {
        if (id >= w->shard_limit)
            return NULL;
    } while (!mms_cas_acq_rel(&w->hdr->next_shard, &id, id + 1));
    /* Without memory the id stays unused: readers do not mind. */
    void **slot = mms__pages_slot(&w->shards, &w->pool, id);
    struct mms__shard *sh = slot ? shard_make(w, id) : NULL;
    if (sh)
        mms_store_release(slot, (void *)sh);
    return sh;
}

static void release_thread_shards(void *unused);

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, release_thread_shards);
}

void mms__shard_init_once(void)
{
    pthread_once(&exit_once, make_exit_key);
}

void mms__shard_acquire(mms_writer *w, struct mms__tls_ent *t)
{
    int saved = errno; /* callers may be hooks: keep the host's errno */
    struct mms__shard *sh0 = mms__shard_get(w, 0);
    struct mms__shard *sh = take_free(w);
    bool fresh = false;
    if (!sh) {
        sh = take_new(w);
        fresh = sh != NULL;
    }
    if (sh) {
        identity_set(w, sh->blk, true, false);
        if (fresh)
            mms__block_publish(w, &sh->blk->b, MMS_BS_READY);
        /* A signal handler that ran in between may have set this entry
         * up already: keep its shard and give ours back. */
        if (t->wid == w->id) {
            mms_store_release(&sh->blk->sstate, (uint32_t)MMS_SHARD_FREE);
            errno = saved;
            return;
        }
        mms_add_relaxed(&w->hdr->shards_active, 1);
        mms_add_relaxed(&w->hdr->threads_seen, 1);
        pthread_setspecific(exit_key, (void *)1);
    } else {
        mms_add_relaxed(&w->hdr->threads_shared, 1);
    }
    t->sh = sh ? sh : sh0;
    t->owned = sh != NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->wid = w->id;
    errno = saved;
}

/* Thread exit: move the values of the shards this thread owned to shard
 * 0 and free them. Code that runs later in the dying thread (other
 * destructors, glibc's clean-up, which calls free) may still update: the
 * thread stays on the shared shard 0 and never takes a new one. */
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
        if (!t->owned)
            continue;
        struct mms__shard *sh = t->sh;
        if (w->thread_exit_cb)
            w->thread_exit_cb();
        mms__cells_retire(w, sh);
        identity_set(w, sh->blk, true, true);
        mms_add_relaxed(&w->hdr->shards_active, (uint32_t)-1);
        t->sh = mms__shard_get(w, 0);
        t->owned = 0;
        mms_store_release(&sh->blk->sstate, (uint32_t)MMS_SHARD_FREE);
    }
}

void mms__shards_after_fork(mms_writer *w, uint32_t keep)
{
    uint32_t n = mms__shards_made(w);
    for (uint32_t i = 1; i < n; i++) {
        struct mms__shard *sh = mms__shard_get(w, i);
        if (!sh)
            continue;
        if (i == keep) { /* the forking thread, with its new tid */
            identity_set(w, sh->blk, true, false);
            continue;
        }
        if (mms_load_relaxed(&sh->blk->sstate) == MMS_SHARD_OWNED) {
            identity_set(w, sh->blk, false, true);
            mms_store_release(&sh->blk->sstate, (uint32_t)MMS_SHARD_FREE);
        }
    }
}
