/* fork(): a child inherits its parent's shared mapping, and writing to it
 * would mix the child's counts into the parent's (and race the parent's
 * threads on their own shards). So by default the child gets a file of its
 * own, mapped at the very address of the parent's, so every handle and
 * cached pointer stays valid: same fields, counters and histograms from
 * zero, gauges and strings carried over. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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
        /* The shard this thread owned belongs to the parent's thread. */
        memset(&mms__tls[w->slot], 0, sizeof mms__tls[w->slot]);
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

/* Copy the parent's layout into the child's new file (before it is named
 * and READY): descriptors, strings, global values; shard 0's pages. */
static int copy_layout(uint8_t *map, void *arg)
{
    mms_writer *w = arg;
    const struct mms__file_geom *g = &w->geom;
    struct mms_file_header *nh = (struct mms_file_header *)map;
    const struct mms_file_header *oh = w->hdr;
    memcpy(map + g->desc_off, w->base + g->desc_off,
           g->shtab_off - g->desc_off);
    nh->desc_count = oh->desc_count;
    nh->str_used = oh->str_used;
    nh->glob_used = oh->glob_used;
    nh->shard_local_used = oh->shard_local_used;
    nh->layout_gen = oh->layout_gen & ~1ull;
    /* A parent thread may have been inside a seqlocked write: reopen the
     * lock (the value may be a mix; the next set repairs it). */
    for (uint32_t i = 0; i < w->nfields; i++) {
        const mms_field *f = &w->fields[i];
        if (f->kind == MMS_KIND_STRING || f->kind == MMS_KIND_STRUCT ||
            f->kind == MMS_KIND_MOVAVG)
            *(uint64_t *)(map + f->off) &= ~1ull;
    }
    return mms__populate(map + g->shard_off, w->populated);
}

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

/* Replace the mapping at W's address by MAP (same size). */
static int move_over(mms_writer *w, void *map)
{
    void *p = mremap(map, w->map_size, w->map_size,
                     MREMAP_MAYMOVE | MREMAP_FIXED, w->base);
    if (p == MAP_FAILED) {
        int e = errno;
        munmap(map, w->map_size);
        return -e;
    }
    return 0;
}

/* Last resort: the child's updates go to private memory that holds a copy
 * of the layout, so handles work and nothing reaches the parent's file. */
static void detach(mms_writer *w)
{
    void *p = mmap(NULL, w->map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        /* Cannot even copy: make the parent's pages private in place. */
        mprotect(w->base, w->map_size, PROT_READ | PROT_WRITE);
        return;
    }
    memcpy(p, w->base, w->geom.shard_off);
    uint32_t *tab = (uint32_t *)((uint8_t *)p + w->geom.shtab_off);
    memset(tab, 0, w->geom.shard_cap * sizeof *tab);
    tab[0] = MMS_SHARD_OWNED;
    if (move_over(w, p) == 0)
        w->path[0] = '\0';
}

int mms_writer_after_fork(mms_writer *w)
{
    if (!w)
        return -EINVAL;
    pthread_mutex_init(&w->lock, NULL);
    memset(&mms__tls[w->slot], 0, sizeof mms__tls[w->slot]);
    if (w->flags & MMS_W_FORK_SHARE) {
        w->shared_child = true;
        return 0;
    }
    char name[NAME_MAX + 1];
    int dfd = -1;
    uint8_t *map = NULL;
    char path[PATH_MAX];
    int rc = child_name(w, name, sizeof name);
    if (rc == 0)
        rc = mms__dir_prepare(w->dir, &dfd);
    if (rc == 0) {
        rc = mms__file_create(dfd, w->dir, name, false, &w->geom, w->label,
                              copy_layout, w, &map, path, sizeof path);
        close(dfd);
    }
    if (rc == 0 && (rc = move_over(w, map)) == 0) {
        mms__strlcpy(w->path, path, sizeof w->path);
        w->next_shard = 1;
        return 0;
    }
    if (map && rc != 0 && path[0])
        unlink(path);
    detach(w);
    w->next_shard = 1;
    return rc;
}
