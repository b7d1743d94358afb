/* fork(): a child inherits its parent's shared mapping, and writing to it
 * would mix the child's counts into the parent's. So by default the child
 * gets a file of its own: a copy of the parent's heap with every counter,
 * histogram and record value zeroed (gauges, strings and keys carried
 * over), mapped over every extent at the parent's addresses, so every
 * handle and cached cell pointer stays valid; the forking thread keeps its
 * shard, the parent's other threads' shards become FREE. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>

#include "hotpath.h"
#include "internal.h"

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* No field is being added while fork() copies the process: the child's
 * copy of every writer is then whole. Nothing to do in a process that
 * never had a second thread (a shell; glibc's flag, only the parent's
 * here, stays false once a thread was made): no other thread can be
 * adding, and taking the locks cost pages copied at every fork (their
 * unlocking after it: two in the parent, two in the child). */
static void fork_prepare(void)
{
    if (__libc_single_threaded)
        return;
    mms__mutex_lock(&mms__registry_lock);
    for (int i = 0; i < MMS_MAX_WRITERS; i++)
        if (mms__writers[i])
            mms__add_lock(mms__writers[i], true);
}

static void fork_parent(void)
{
    if (__libc_single_threaded) /* as fork_prepare saw it */
        return;
    for (int i = MMS_MAX_WRITERS; i-- > 0;)
        if (mms__writers[i])
            mms__add_unlock(mms__writers[i]);
    pthread_mutex_unlock(&mms__registry_lock);
}

/* M as new, written only if it is not already (an unlocked mutex of the
 * default kind is byte for byte its initializer): a page only read is
 * the parent's, not a copy. */
static void mutex_renew(pthread_mutex_t *m)
{
    static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    if (memcmp(m->__size, fresh.__size, sizeof fresh.__size) != 0)
        pthread_mutex_init(m, NULL);
}

/* The locks as new: held by the parent's threads (fork_prepare's, or,
 * single-threaded, the forking thread's own if a signal handler forked
 * in the middle of an add), they are no one's here. */
static void fork_child(void)
{
    mutex_renew(&mms__registry_lock);
    for (int i = 0; i < MMS_MAX_WRITERS; i++) {
        mms_writer *w = mms__writers[i];
        if (!w)
            continue;
        mutex_renew(&w->lock);
        if (mms_load_relaxed(&w->adder))
            mms_store_relaxed(&w->adder, (uintptr_t)0);
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

/* ------------------------------------------------- the child's heap */

/* The copy of the parent's heap is not a picture of one moment: the
 * parent's threads run on while it is made (they allocate, publish and
 * claim), and some were half-way through an allocation when the process
 * forked. So the child keeps exactly the blocks its own memory refers to
 * (fields, tables and their claimed records, shards, their areas and
 * claimed cells, the chunks those cells' directories name and the rings
 * their windowed counters' cells name), all of
 * them whole; the space between them becomes fillers and what follows
 * the last one is zeroed, given back to the child's heap. */

struct keep {
    uint64_t off;
    uint32_t type;
    uint32_t *dir;  /* CHUNK: the directory entry naming it */
    uint64_t *ring; /* RING: the cell's word naming it */
};

struct keeps {
    struct keep *v; /* NULL: only count */
    size_t n, cap;
    uint64_t end;     /* the copy's end */
    uint32_t nmapped; /* extents 0 .. nmapped - 1 are mapped */
};

/* DIR is kept, to be cleared if the chunk is not. */
static void keep_add(struct keeps *k, uint64_t off, uint32_t type,
                     uint32_t *dir) // NOLINT(readability-non-const-parameter)
{
    if (k->v && k->n < k->cap)
        k->v[k->n] = (struct keep){off, type, dir, NULL};
    k->n++;
}

/* A RING block at OFF, named by the cell word RING (cleared if the ring
 * is not kept). */
static void keep_ring(struct keeps *k, uint64_t off, uint64_t *ring)
{
    keep_add(k, off, MMS_BLOCK_RING, NULL);
    if (k->v && k->n <= k->cap)
        k->v[k->n - 1].ring = ring;
}

/* The file offset of P, a pointer into one of W's first N extents, those
 * mapped (0: none). */
static uint64_t ext_off(const mms_writer *w, const void *p, uint32_t n)
{
    uintptr_t q = (uintptr_t)p;
    for (uint32_t e = 0; e < n && w->ext[e]; e++) {
        uintptr_t base = (uintptr_t)w->ext[e];
        if (q >= base && q - base < w->extent_size)
            return ((uint64_t)e << w->ext_shift) + (q - base);
    }
    return 0;
}

/* The file offset of P, a pointer into the copy's mapped extents. */
static uint64_t off_of(const mms_writer *w, const struct keeps *k,
                       const void *p)
{
    return ext_off(w, p, k->nmapped);
}

/* Is there a whole block of TYPE at OFF, inside the copy, in one extent
 * (then its size), or 0? */
static uint32_t block_at(const mms_writer *w, const struct keeps *k,
                         uint64_t off, uint32_t type)
{
    if (off < w->hdr->heap_off || off % 8 || off >= k->end)
        return 0;
    const struct mms_block *b = (const struct mms_block *)mms__ptr(w, off);
    uint32_t size = b->size;
    if (b->type != type || size < sizeof *b || size % 8 ||
        size > k->end - off || ((off ^ (off + size - 1)) >> w->ext_shift))
        return 0;
    return size;
}

/* Directory entries of the histogram at DIR (NCHUNKS, NBUCKETS, BITS) of
 * index I / MEMBER in SHARD: kept if they name a whole CHUNK of theirs,
 * else cleared (the values are zeroed anyway; a new chunk comes with the
 * next value). */
static void chunks_keep(mms_writer *w, struct keeps *k, uint32_t *dir,
                        uint32_t nchunks, uint32_t nbuckets, unsigned bits,
                        uint32_t shard, uint32_t i, uint16_t member)
{
    for (uint32_t c = 0; c < nchunks; c++) {
        uint64_t off = dir[c];
        if (!off)
            continue;
        uint32_t nb = mms__chunk_nb(nbuckets, bits, c);
        const struct mms_chunk_block *cb =
            (const struct mms_chunk_block *)mms__ptr(w, off);
        /* Shard 0's in the heap; a thread's own in its area (3.2). */
        uint16_t type = shard ? MMS_BLOCK_CHUNK32 : MMS_BLOCK_CHUNK;
        uint32_t size =
            shard ? mms__chunk32_block_size(nb) : mms__chunk_block_size(nb);
        if (off % (shard ? 8 : MMS_LINE) == 0 &&
            block_at(w, k, off, type) == size && cb->b.bstate == MMS_BS_READY &&
            cb->index == i && cb->member == member && cb->chunk == c &&
            cb->shard == shard && cb->nbuckets == nb)
            keep_add(k, off, type, &dir[c]);
        else
            dir[c] = 0;
    }
}

/* The RING block named by cell RC of windowed counter I in SHARD
 * (format 3.2): kept if it is a whole RING of theirs, else the cell names
 * none (its slots are zeroed anyway; a new ring comes with the cell's
 * second second). */
static void ring_keep(mms_writer *w, struct keeps *k, struct mms_ring_cell *rc,
                      uint32_t shard, uint32_t i)
{
    uint64_t off = rc->ring;
    if (!off)
        return;
    const struct mms_ring_block *rb =
        (const struct mms_ring_block *)mms__ptr(w, off);
    if (off % MMS_LINE == 0 &&
        block_at(w, k, off, MMS_BLOCK_RING) == MMS_RING_BLOCK_SIZE &&
        rb->b.bstate == MMS_BS_READY && rb->index == i && rb->shard == shard)
        keep_ring(k, off, &rc->ring);
    else
        rc->ring = 0;
}

/* The CELLS block of the group headed by I in shard SH, at CELLS (the
 * row's head entry), and the chunks of its histograms (and rings of its
 * windowed counters). */
static void cells_keep(mms_writer *w, struct keeps *k,
                       const struct mms__shard *sh, uint32_t i, uint8_t *cells)
{
    uint32_t g[4];
    bool sharded;
    if (!mms__group_of(w, i, g, &sharded) || g[0] != i)
        return;
    uint64_t off = off_of(w, k, cells);
    if (off < sizeof(struct mms_cells_block))
        return;
    off -= sizeof(struct mms_cells_block);
    const struct mms_cells_block *b =
        (const struct mms_cells_block *)mms__ptr(w, off);
    if (block_at(w, k, off, MMS_BLOCK_CELLS) !=
            mms__round_up(sizeof *b + g[2], 8) ||
        b->first != i || b->count != g[1])
        return;
    keep_add(k, off, MMS_BLOCK_CELLS, NULL);
    for (uint32_t m = 0; m < g[1]; m++) {
        void *e = mms__ix_get(w, i + m);
        if (!e)
            continue;
        if (mms__ix_tag(e) == MMS__IX_FIELD) {
            const mms_field *f = e;
            if (f->kind == MMS_KIND_HISTOGRAM && (f->flags & MMS_DF_SHARDED))
                chunks_keep(w, k,
                            (uint32_t *)(cells + f->cell_off +
                                         sizeof(struct mms_hist_cell)),
                            f->nchunks, f->nbuckets, f->bits, sh->id, i + m, 0);
            else if (f->flags & MMS_DF_RING_BLOCK)
                ring_keep(w, k, (struct mms_ring_cell *)(cells + f->cell_off),
                          sh->id, i + m);
        } else if (mms__ix_tag(e) == MMS__IX_RECORD) {
            const mms_table *t = mms__ix_ptr(e);
            for (unsigned n = 0; n < t->nmembers; n++)
                if (t->m[n].kind == MMS_MK_HIST)
                    chunks_keep(w, k, (uint32_t *)(cells + t->m[n].off + 32),
                                t->m[n].nchunks, t->m[n].nbuckets, t->m[n].bits,
                                sh->id, i + m, (uint16_t)n);
        }
    }
}

/* Every block the child's memory refers to. */
static void keeps_collect(mms_writer *w, struct keeps *k)
{
    k->n = 0;
    uint32_t nix = w->hdr->next_index;
    for (uint32_t i = 0; i < nix && i < w->max_index; i++) {
        void *e = mms__ix_get(w, i);
        if (!e)
            continue;
        if (mms__ix_tag(e) == MMS__IX_FIELD) {
            keep_add(k, off_of(w, k, ((mms_field *)e)->blk), MMS_BLOCK_FIELD,
                     NULL);
        } else if (mms__ix_tag(e) == MMS__IX_TABLE) {
            const mms_table *t = mms__ix_ptr(e);
            keep_add(k, off_of(w, k, t->blk), MMS_BLOCK_TABLE, NULL);
            keep_add(k, t->overflow_off, MMS_BLOCK_RECORD, NULL);
            for (uint32_t s = 0; s < t->nslots; s++)
                if (t->slots[s])
                    keep_add(k, t->slots[s], MMS_BLOCK_RECORD, NULL);
        }
    }
    for (uint32_t s = 0, n = mms__shards_made(w); s < n; s++) {
        struct mms__shard *sh = mms__shard_get(w, s);
        if (!sh)
            continue;
        keep_add(k, off_of(w, k, sh->blk), MMS_BLOCK_SHARD, NULL);
        for (const struct mms__area *a = sh->areas; a; a = a->next)
            keep_add(k, a->off, MMS_BLOCK_AREA, NULL);
        for (uint32_t d = 0; d < sh->row.ndir; d++) {
            void **page = sh->row.dir[d];
            for (uint32_t j = 0; page && j < MMS_PAGE_LEN; j++)
                if (page[j])
                    cells_keep(w, k, sh, (d << MMS_PAGE_SHIFT) + j, page[j]);
        }
    }
}

/* Order by offset (a heap sort: no memory, no malloc). */
static void keeps_sort(struct keep *v, size_t n)
{
    for (size_t end = n, start = n / 2;;) {
        size_t root;
        if (start > 0) {
            root = --start;
        } else {
            if (--end == 0 || end >= n)
                return;
            struct keep t = v[0];
            v[0] = v[end];
            v[end] = t;
            root = 0;
        }
        for (size_t child; (child = 2 * root + 1) < end; root = child) {
            if (child + 1 < end && v[child + 1].off > v[child].off)
                child++;
            if (v[root].off >= v[child].off)
                break;
            struct keep t = v[root];
            v[root] = v[child];
            v[child] = t;
        }
    }
}

static void block_set(struct mms_block *b, uint16_t type, uint16_t st,
                      uint32_t size)
{
    b->type = type;
    b->bstate = st;
    b->size = size;
}

/* [from, to), one extent at a time: fillers (none across an extent), or
 * zeros. */
static void clear(mms_writer *w, uint64_t from, uint64_t to, bool filler)
{
    while (from < to) {
        uint64_t ext_end = (from | w->ext_mask) + 1;
        uint64_t stop = ext_end < to ? ext_end : to;
        if (filler)
            block_set((struct mms_block *)mms__ptr(w, from), MMS_BLOCK_FILLER,
                      MMS_BS_DEAD, (uint32_t)(stop - from));
        else
            memset(mms__ptr(w, from), 0, stop - from);
        from = stop;
    }
}

static void fill(mms_writer *w, uint64_t from, uint64_t to)
{
    clear(w, from, to, true);
}

static void zero(mms_writer *w, uint64_t from, uint64_t to)
{
    clear(w, from, to, false);
}

/* Not kept after all (it overlaps one that is): a chunk's directory
 * entry, or a ring's cell word, is cleared; other blocks stay referred to,
 * their space a filler (the child's updates of them are lost, nothing breaks).
 */
static void unkeep(struct keep *e)
{
    if (e->dir)
        *e->dir = 0;
    if (e->ring)
        *e->ring = 0;
}

/* The CELLS and CHUNK32 entries V[*J..] inside the AREA at AOFF: kept in
 * place, the space between them fillers, the area's free space zeroed:
 * all of it, not only up to the copy's used mark. Blocks are made in an
 * area's free space without clearing it first (a new area is zero), and
 * the copy is no picture of one moment: a parent's thread may have made
 * blocks past the mark the copy read (a page the child had written to
 * before keeps the mark of then; during the copy, the header is read
 * before the space after it), and the child's own blocks would start
 * with the parent's values. */
static void area_rebuild(mms_writer *w, struct keep *v, size_t n, size_t *j,
                         uint64_t aoff, uint32_t asize)
{
    struct mms_area_block *a = (struct mms_area_block *)mms__ptr(w, aoff);
    uint64_t base = aoff + sizeof *a, end = aoff + asize, pos = base;
    for (; *j < n && v[*j].off < end; (*j)++) {
        struct keep *e = &v[*j];
        struct mms_block *b = (struct mms_block *)mms__ptr(w, e->off);
        if ((e->type != MMS_BLOCK_CELLS && e->type != MMS_BLOCK_CHUNK32) ||
            e->off < pos || b->size > end - e->off) {
            unkeep(e);
            continue;
        }
        fill(w, pos, e->off);
        b->bstate = MMS_BS_READY;
        pos = e->off + b->size;
    }
    if (pos < end)
        zero(w, pos, end);
    a->used = (uint32_t)(pos - base);
}

/* Rebuild the heap [heap_off, k->end) from the sorted entries: returns the
 * new end of the heap. */
static uint64_t heap_rebuild(mms_writer *w, struct keeps *k)
{
    struct keep *v = k->v;
    size_t n = k->n;
    uint64_t pos = w->hdr->heap_off;
    for (size_t j = 0; j < n;) {
        struct keep *e = &v[j++];
        uint32_t size = block_at(w, k, e->off, e->type);
        /* None overlapping, no CELLS or CHUNK32 outside an area. */
        if (!size || e->off < pos || e->type == MMS_BLOCK_CELLS ||
            e->type == MMS_BLOCK_CHUNK32 ||
            (e->type == MMS_BLOCK_AREA && e->off % MMS_LINE)) {
            unkeep(e);
            continue;
        }
        fill(w, pos, e->off);
        struct mms_block *b = (struct mms_block *)mms__ptr(w, e->off);
        b->bstate = MMS_BS_READY;
        if (e->type == MMS_BLOCK_AREA)
            area_rebuild(w, v, n, &j, e->off, size);
        pos = e->off + size;
    }
    zero(w, pos, k->end);
    return pos;
}

/* Records in each table: its overflow record and the ones in its index. */
static void tables_recount(mms_writer *w)
{
    uint32_t nix = w->hdr->next_index;
    for (uint32_t i = 0; i < nix && i < w->max_index; i++) {
        void *e = mms__ix_get(w, i);
        if (!e || mms__ix_tag(e) != MMS__IX_TABLE)
            continue;
        mms_table *t = mms__ix_ptr(e);
        uint32_t count = 1;
        for (uint32_t s = 0; s < t->nslots; s++)
            count += t->slots[s] != 0;
        t->blk->nrecords = count;
    }
}

/* The child's heap, from the copy [0, END): 0, or -ENOMEM. */
static int heap_rebuild_all(mms_writer *w, uint64_t end)
{
    struct keeps k = {.end = end};
    while (k.nmapped < MMS_MAX_EXTENTS && w->ext[k.nmapped])
        k.nmapped++;
    keeps_collect(w, &k);
    k.cap = k.n;
    size_t bytes = mms__round_up((k.cap ? k.cap : 1) * sizeof *k.v, 4096);
    void *m = mms__sys_mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, NULL);
    if (m == MAP_FAILED)
        return -ENOMEM;
    k.v = m;
    keeps_collect(w, &k);
    if (k.n > k.cap)
        k.n = k.cap; /* cannot be: nothing changed in between */
    keeps_sort(k.v, k.n);
    w->hdr->heap_used = heap_rebuild(w, &k);
    mms__sys_munmap(m, bytes);
    tables_recount(w);
    return 0;
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
    uint64_t used, size; /* heap to copy; the child file's size */
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
    /* The parent runs on: what the header says now may be past what was
     * copied, or past the child's size. */
    w->hdr->heap_used = a->used;
    w->hdr->file_size = a->size;
    header_renew(w->hdr, a->keep);
    int rc = heap_rebuild_all(w, a->used);
    if (rc < 0)
        return rc;
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

/* A fork child that may never record (it execs at once) makes no file
 * at fork: it maps its parent's file private at the same addresses
 * instead, so that whatever it writes before it makes its own file
 * (mms_writer_after_fork, on its first record) reaches only its memory.
 * An open and a mapping per extent; no file, no copy. Only the very
 * file the parent made; failing that, a private copy (detach). */
int mms__writer_fork_private(mms_writer *w)
{
    if (!w)
        return -EINVAL;
    if (w->detached || !w->path[0])
        return 0;
    int fd = mms__sys_open(w->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    dev_t dev = 0;
    ino_t ino = 0;
    int rc = fd < 0 ? fd : mms__sys_fstat(fd, &dev, &ino, NULL);
    if (rc == 0 && (dev != w->file_dev || ino != w->file_ino))
        rc = MMS_EINSECURE;
    /* Extents are mapped in order from the first (map_extents): the
     * first one not mapped ends them. Not the whole table (32 KB, of
     * which the parent never touched most: eight page faults in every
     * fork child for reading zeros). */
    for (uint32_t k = 0; rc == 0 && k < MMS_MAX_EXTENTS && w->ext[k]; k++) {
        int err = 0;
        if (mms__sys_mmap(w->ext[k], w->extent_size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_FIXED, fd,
                          (uint64_t)k << w->ext_shift, &err) == MAP_FAILED)
            rc = -err;
    }
    if (fd >= 0)
        mms__sys_close(fd);
    if (rc < 0)
        detach(w); /* the extents mapped so far are private already */
    return rc;
}

int mms_writer_after_fork(mms_writer *w)
{
    if (!w)
        return -EINVAL;
    pthread_mutex_init(&w->lock, NULL);
    /* Marks of the parent's threads that were growing the file or the
     * pool or adding fields when the process forked: those threads are
     * not here. */
    mms_store_relaxed(&w->adder, (uintptr_t)0);
    mms_store_relaxed(&w->growing, (uintptr_t)0);
    mms_store_relaxed(&w->pool.busy, 0);
    struct mms__tls_ent *t = &mms__tls[w->slot];
    if (w->flags & MMS_W_FORK_SHARE) {
        /* The parent's threads' shards are not the child's: it takes new
         * ones, and never reuses the parent's FREE ones either. */
        w->shared_child = true;
        memset(t, 0, sizeof *t);
        for (uint32_t i = 1, n = mms__shards_made(w); i < n; i++)
            mms__shard_set(w, i, NULL);
        return 0;
    }
    if (w->detached)
        return 0;
    /* The heap as far as the child has it mapped (the parent may have
     * mapped more since the fork), and no further than the file size. */
    uint64_t mapped = 0;
    while (mapped >> w->ext_shift < MMS_MAX_EXTENTS &&
           w->ext[mapped >> w->ext_shift])
        mapped += w->extent_size;
    uint64_t used = mms_load_acquire(&w->hdr->heap_used);
    uint64_t size = mms_load_acquire(&w->hdr->file_size);
    if (used > mapped)
        used = mapped;
    if (size > mapped)
        size = mapped;
    if (size < used)
        size = used;
    struct child_arg a = {.used = used,
                          .size = mms__round_up(size, 4096),
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
        rc = mms__file_create(w, dfd, name, a.size, fill_child, &a, w->label);
        close(dfd);
    }
    if (rc < 0)
        detach(w);
    return rc;
}

/* ------------------------------------------- a fork child's counts */

bool mms__cell_shared_ready(mms_field *f)
{
    if (!f || !(f->flags & MMS_DF_SHARDED))
        return false;
    struct mms__shard *sh0 = mms__shard_get(f->w, 0);
    if (sh0 && mms__row_cell(sh0, f->index))
        return true;
    return mms__cell_shared(f).p != NULL;
}

/* The file offset of ITEM's shard-0 cell, there when the process forked
 * and inside SIZE bytes, or 0. */
static uint64_t fold_offset(mms_writer *w, const struct mms__fold_item *item,
                            uint64_t size)
{
    struct mms__shard *sh0 = mms__shard_get(w, 0);
    const uint8_t *c =
        sh0 && item->f ? mms__row_cell(sh0, item->f->index) : NULL;
    uint64_t off = c ? ext_off(w, c, MMS_MAX_EXTENTS) : 0;
    if (!off || off % 8 || item->n > 4 || off + 8ull * item->n > size)
        return 0;
    return off;
}

int mms__writer_fold_parent(mms_writer *w, const struct mms__fold_item *items,
                            unsigned n)
{
    if (!w || w->detached || !w->path[0] || !n || n > MMS__FOLD_MAX)
        return -EINVAL;
    int fd = mms__sys_open(w->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0)
        return fd;
    dev_t dev = 0;
    ino_t ino = 0;
    uint64_t size = 0;
    int rc = mms__sys_fstat(fd, &dev, &ino, &size);
    if (rc == 0 && (dev != w->file_dev || ino != w->file_ino))
        rc = MMS_EINSECURE;
    for (unsigned k = 0; rc == 0 && k < n; k++)
        if (!fold_offset(w, &items[k], size))
            rc = -ESTALE;
    int err = 0;
    uint8_t *base = rc == 0 ? mms__sys_mmap(NULL, size, PROT_READ | PROT_WRITE,
                                            MAP_SHARED, fd, 0, &err)
                            : MAP_FAILED;
    mms__sys_close(fd);
    if (rc < 0)
        return rc;
    if (base == MAP_FAILED)
        return -err;
    /* Only into the parent's running file: a finished one may be folded
     * into its rollup at any moment (what is added then could be lost). */
    const struct mms_file_header *h = (const struct mms_file_header *)base;
    if (h->pid != w->hdr->pid ||
        mms_load_acquire(&h->p.state) != (uint32_t)MMS_STATE_READY) {
        mms__sys_munmap(base, size);
        return -ESTALE;
    }
    for (unsigned k = 0; k < n; k++) {
        uint64_t *cell = (uint64_t *)(base + fold_offset(w, &items[k], size));
        for (uint32_t j = 0; j < items[k].n; j++)
            if (items[k].vals[j])
                mms_add_relaxed(&cell[j], items[k].vals[j]);
    }
    mms__sys_munmap(base, size);
    return 0;
}
