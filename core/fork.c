/* fork(): a child inherits its parent's shared mapping, and writing to it
 * would mix the child's counts into the parent's. So by default the child
 * gets a file of its own: a copy of the parent's heap with every counter,
 * histogram and record value zeroed (gauges, strings and keys carried
 * over), mapped over every extent at the parent's addresses, so every
 * handle and cached cell pointer stays valid; the forking thread keeps its
 * shard, the parent's other threads' shards become FREE. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* No field is being added while fork() copies the process: the child's
 * copy of every writer is then whole. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&mms__registry_lock);
    for (int i = 0; i < MMS_MAX_WRITERS; i++)
        if (mms__writers[i])
            pthread_mutex_lock(&mms__writers[i]->lock);
}

static void fork_parent(void)
{
    for (int i = MMS_MAX_WRITERS; i-- > 0;)
        if (mms__writers[i])
            pthread_mutex_unlock(&mms__writers[i]->lock);
    pthread_mutex_unlock(&mms__registry_lock);
}

static void fork_child(void)
{
    pthread_mutex_init(&mms__registry_lock, NULL);
    for (int i = 0; i < MMS_MAX_WRITERS; i++) {
        mms_writer *w = mms__writers[i];
        if (!w)
            continue;
        pthread_mutex_init(&w->lock, NULL);
        if (!(w->flags & MMS_W_FORK_MANUAL))
            mms_writer_after_fork(w);
    }
}

static void register_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void mms__fork_handlers_once(void)
{
    pthread_once(&fork_once, register_handlers);
}

/* ------------------------------------------------------------ repairs */

static void block_set(struct mms_block *b, uint16_t type, uint16_t st,
                      uint32_t size)
{
    b->type = type;
    b->bstate = st;
    b->size = size;
}

/* [off, end) is zero (an allocation the parent's threads had claimed but
 * not yet written when the process forked): up to the next non-zero word
 * (the next block), make it fillers, never across an extent. Returns the
 * end of the fillers. */
static uint64_t fill_gap(mms_writer *w, uint64_t off, uint64_t end)
{
    uint64_t next = off;
    while (next < end && *(uint64_t *)mms__ptr(w, next) == 0)
        next += 8;
    for (uint64_t p = off; p < next;) {
        uint64_t ext_end = (p | w->ext_mask) + 1;
        uint64_t stop = ext_end < next ? ext_end : next;
        block_set((struct mms_block *)mms__ptr(w, p), MMS_BLOCK_FILLER,
                  MMS_BS_DEAD, (uint32_t)(stop - p));
        p = stop;
    }
    return next;
}

/* Is the RECORD block at OFF the one its table's index holds? */
static bool record_claimed(mms_writer *w, const struct mms_record_block *r,
                           uint64_t off)
{
    void *e = mms__ix_get(w, r->table);
    if (!e || mms__ix_tag(e) != MMS__IX_TABLE)
        return false;
    const mms_table *t = mms__ix_ptr(e);
    for (uint32_t i = 0; i < t->nslots; i++)
        if (t->slots[i] == off)
            return true;
    return false;
}

/* A block the parent's threads were writing at fork: done in the child
 * (its values are zeroed anyway); a record that lost its insert, DEAD. */
static void finish_pending(mms_writer *w, struct mms_block *b, uint64_t off)
{
    if (b->bstate != MMS_BS_PENDING)
        return;
    bool ready = b->type != MMS_BLOCK_RECORD ||
                 record_claimed(w, (struct mms_record_block *)b, off);
    b->bstate = ready ? MMS_BS_READY : MMS_BS_DEAD;
}

static void repair_area(mms_writer *w, uint64_t aoff)
{
    struct mms_area_block *a = (struct mms_area_block *)mms__ptr(w, aoff);
    uint64_t base = aoff + sizeof *a, end = base + a->used;
    for (uint64_t off = base; off < end;) {
        struct mms_block *b = (struct mms_block *)mms__ptr(w, off);
        if (b->size == 0) {
            off = fill_gap(w, off, end);
            continue;
        }
        finish_pending(w, b, off);
        off += b->size;
    }
}

static void heap_repair(mms_writer *w)
{
    uint64_t end = w->hdr->heap_used;
    for (uint64_t off = w->hdr->heap_off; off < end;) {
        struct mms_block *b = (struct mms_block *)mms__ptr(w, off);
        if (b->size == 0) {
            off = fill_gap(w, off, end);
            continue;
        }
        finish_pending(w, b, off);
        if (b->type == MMS_BLOCK_AREA && b->bstate == MMS_BS_READY)
            repair_area(w, off);
        off += b->size;
    }
}

/* ------------------------------------------------------- the child file */

static int child_name(mms_writer *w, char *name, size_t len)
{
    if (!w->exact)
        return mms__template_expand(name, len, w->name_arg, mms__proc_exe(),
                                    w->label, w->model, (long)getpid());
    const char *dot = strrchr(w->name_arg, '.');
    size_t stem = dot && dot != w->name_arg ? (size_t)(dot - w->name_arg)
                                            : strlen(w->name_arg);
    int n = snprintf(name, len, "%.*s-%ld%s", (int)stem, w->name_arg,
                     (long)getpid(), w->name_arg + stem);
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* The child's header: its own process, counters from zero. */
static void header_renew(struct mms_file_header *h, uint32_t keep)
{
    mms_store_relaxed(&h->p.state, (uint32_t)MMS_STATE_INIT);
    h->pid = (int32_t)getpid();
    h->ppid = (int32_t)getppid();
    uint64_t ticks = 0;
    h->start_ticks = mms__proc_start_ticks(getpid(), &ticks) == 0 ? ticks : 0;
    h->created_ns = mms__now_ns(CLOCK_REALTIME);
    h->finished_ns = 0;
    h->shards_active = keep ? 1 : 0;
    h->threads_seen = keep ? 1 : 0;
    h->threads_shared = 0;
    h->dropped = 0;
    h->retire_begin = h->retire_end = 0;
    mms__header_identity(h);
}

/* Make string, struct and moving-average seqlocks even: a parent thread
 * may have been inside a set (the value may be a mix; the next set
 * repairs it). */
static void seqlocks_even(mms_writer *w)
{
    uint32_t n = w->hdr->next_index;
    for (uint32_t i = 0; i < n && i < w->max_index; i++) {
        void *e = mms__ix_get(w, i);
        if (!e || mms__ix_tag(e) != MMS__IX_FIELD)
            continue;
        mms_field *f = e;
        if (f->kind == MMS_KIND_STRING || f->kind == MMS_KIND_STRUCT ||
            f->kind == MMS_KIND_MOVAVG)
            *(uint64_t *)f->value &= ~1ull;
    }
}

struct child_arg {
    uint64_t used;
    uint32_t keep;
};

/* Copy the parent's heap into the child's file FD, map the file over the
 * parent's extents, and make it the child's. */
static int fill_child(mms_writer *w, int fd, void *arg)
{
    struct child_arg *a = arg;
    uint32_t last = (uint32_t)((a->used - 1) >> w->ext_shift);
    for (uint32_t k = 0; k <= last; k++) {
        uint64_t base = (uint64_t)k << w->ext_shift;
        uint64_t len =
            a->used - base < w->extent_size ? a->used - base : w->extent_size;
        const uint8_t *src = w->ext[k];
        for (uint64_t done = 0; src && done < len;) {
            ssize_t n =
                pwrite(fd, src + done, len - done, (off_t)(base + done));
            if (n < 0 && errno != EINTR)
                return -errno;
            done += n > 0 ? (uint64_t)n : 0;
        }
    }
    for (uint32_t k = 0; k < MMS_MAX_EXTENTS; k++) {
        if (!w->ext[k])
            continue;
        void *m = mmap(w->ext[k], w->extent_size, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED, fd, (off_t)k << w->ext_shift);
        if (m == MAP_FAILED)
            return -errno;
    }
    header_renew(w->hdr, a->keep);
    heap_repair(w);
    mms__heap_zero_values(w);
    seqlocks_even(w);
    mms__shards_after_fork(w, a->keep);
    return 0;
}

/* Last resort: the child's updates go to private memory that holds a copy
 * of the file, at the same addresses, so handles work and nothing reaches
 * the parent's file. */
static void detach(mms_writer *w)
{
    uint64_t size = w->hdr->file_size;
    for (uint32_t k = 0; k < MMS_MAX_EXTENTS; k++) {
        if (!w->ext[k])
            continue;
        uint64_t base = (uint64_t)k << w->ext_shift;
        void *p = mmap(NULL, w->extent_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            /* Cannot even copy: make the parent's pages private here. */
            void *q = mmap(w->ext[k], w->extent_size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            (void)q; /* nothing else to try */
            continue;
        }
        if (base < size)
            memcpy(p, w->ext[k],
                   size - base < w->extent_size ? size - base : w->extent_size);
        mremap(p, w->extent_size, w->extent_size, MREMAP_MAYMOVE | MREMAP_FIXED,
               w->ext[k]);
    }
    w->detached = true;
    w->path[0] = '\0';
}

int mms_writer_after_fork(mms_writer *w)
{
    if (!w)
        return -EINVAL;
    pthread_mutex_init(&w->lock, NULL);
    struct mms__tls_ent *t = &mms__tls[w->slot];
    if (w->flags & MMS_W_FORK_SHARE) {
        /* The parent's threads' shards are not the child's: it takes new
         * ones, and never reuses the parent's FREE ones either. */
        w->shared_child = true;
        memset(t, 0, sizeof *t);
        for (uint32_t i = 1; i < w->shard_limit; i++)
            mms_store_release(&w->shards[i], NULL);
        return 0;
    }
    if (w->detached)
        return 0;
    struct child_arg a = {.used = w->hdr->heap_used,
                          .keep =
                              (t->wid == w->id && t->owned) ? t->sh->id : 0};
    char name[NAME_MAX + 1];
    int dfd = -1;
    dev_t dev;
    ino_t ino;
    int rc = child_name(w, name, sizeof name);
    /* Only in the very directory the parent resolved (not one a relative
     * path or a new root now leads to). */
    if (rc == 0 &&
        (rc = mms__dir_prepare(w->dir, &dfd, NULL, 0, &dev, &ino)) == 0 &&
        (dev != w->dir_dev || ino != w->dir_ino)) {
        close(dfd);
        rc = MMS_EINSECURE;
    }
    if (rc == 0) {
        rc = mms__file_create(w, dfd, name, w->hdr->file_size, fill_child, &a,
                              w->label);
        close(dfd);
    }
    if (rc < 0)
        detach(w);
    return rc;
}
