/* The writer: opening, finishing and closing a stats file, and adding
 * fields (FIELD blocks, docs/format.md section 7) while readers may be
 * looking. Nothing here is on the update path. The writer never calls
 * malloc: its own state lives in anonymous mappings (pool.c), so it can
 * serve malloc hooks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

mms_writer *mms__writers[MMS_MAX_WRITERS];
pthread_mutex_t mms__registry_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t last_writer_id;
static int atexit_done;

void mms_writer_options_init(struct mms_writer_options *o)
{
    memset(o, 0, sizeof *o);
}

static void finish_all_at_exit(void)
{
    for (int i = 0; i < MMS_MAX_WRITERS; i++) {
        mms_writer *w = mms_load_acquire(&mms__writers[i]);
        if (w && !(w->flags & MMS_W_NO_ATEXIT))
            mms_writer_finish(w);
    }
}

static const char *env_or(const char *given, const char *var, unsigned flags)
{
    if (given)
        return given;
    if (flags & MMS_W_NO_ENV)
        return NULL;
    const char *v = secure_getenv(var);
    return (v && *v) ? v : NULL;
}

static int claim_slot(mms_writer *w)
{
    int rc = -EMFILE;
    mms__mutex_lock(&mms__registry_lock);
    for (uint32_t i = 0; i < MMS_MAX_WRITERS; i++) {
        if (!mms__writers[i]) {
            w->slot = i;
            w->id = ++last_writer_id;
            mms_store_release(&mms__writers[i], w);
            rc = 0;
            break;
        }
    }
    if (rc == 0 && !atexit_done) {
        atexit_done = 1;
        atexit(finish_all_at_exit);
    }
    pthread_mutex_unlock(&mms__registry_lock);
    return rc;
}

static void release_slot(mms_writer *w)
{
    mms__mutex_lock(&mms__registry_lock);
    if (mms__writers[w->slot] == w)
        mms_store_release(&mms__writers[w->slot], NULL);
    pthread_mutex_unlock(&mms__registry_lock);
}

/* The writer's sizes from its options (section 17 of format.md). */
struct sizes {
    uint32_t max_index, shard_limit, extent;
    uint64_t initial, max_size;
};

static int sizes_of(const struct mms_writer_options *o, struct sizes *z)
{
    z->max_index = o->max_fields ? o->max_fields : MMS_DEF_MAX_INDEX;
    z->shard_limit = o->max_shards ? o->max_shards : MMS_DEF_MAX_SHARDS;
    z->extent = o->extent_size;
    if (!z->extent) {
        struct rlimit rl;
        bool limited =
            getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
        z->extent = limited ? MMS_DEF_EXTENT_LIMITED : MMS_DEF_EXTENT;
    }
    z->initial = o->initial_size ? mms__round_up(o->initial_size, 4096)
                                 : MMS_DEF_INITIAL_SIZE;
    uint64_t most = (uint64_t)MMS_MAX_EXTENTS * z->extent;
    if (most > MMS_MAX_FILE_SIZE)
        most = MMS_MAX_FILE_SIZE;
    z->max_size = o->max_size ? mms__round_up(o->max_size, 4096) : most;
    if (z->max_index == 0 || z->max_index > MMS_INDEX_MAX ||
        z->shard_limit == 0 || z->shard_limit > MMS_SHARD_ID_MAX ||
        z->extent < MMS_EXTENT_MIN || z->extent > MMS_EXTENT_MAX ||
        (z->extent & (z->extent - 1)) || z->initial < 8192 ||
        z->initial > z->extent || z->max_size > most ||
        z->max_size < z->initial)
        return -EINVAL;
    return 0;
}

static mms_writer *writer_alloc(const struct sizes *z)
{
    size_t size = mms__round_up(sizeof(mms_writer), 4096);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    mms_writer *w = p;
    w->self_size = size;
    w->extent_size = z->extent;
    w->ext_shift = (uint32_t)__builtin_ctz(z->extent);
    w->ext_mask = z->extent - 1;
    w->max_size = z->max_size;
    w->max_index = z->max_index;
    w->shard_limit = z->shard_limit;
    pthread_mutex_init(&w->lock, NULL);
    w->stall_ns = MMS_GROW_STALL_NS;
    w->names_cap = 64;
    if (mms__pool_init(&w->pool, &w->no_syscalls) < 0 ||
        mms__pages_init(&w->ix, &w->pool, z->max_index) < 0 ||
        mms__pages_init(&w->shards, &w->pool, z->shard_limit) < 0 ||
        !(w->names =
              mms__pool_alloc(&w->pool, w->names_cap * sizeof *w->names))) {
        mms__pool_destroy(&w->pool);
        munmap(w, size);
        return NULL;
    }
    return w;
}

static void writer_free(mms_writer *w)
{
    for (uint32_t k = 0; k < MMS_MAX_EXTENTS; k++)
        if (w->ext[k])
            munmap(w->ext[k], w->extent_size);
    mms__pool_destroy(&w->pool);
    munmap(w, w->self_size);
}

/* Split an exact path into its directory and file name. */
static int split_path(const char *path, char *dir, size_t dlen,
                      const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        mms__strlcpy(dir, ".", dlen);
        *base = path;
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= dlen)
            return -ENAMETOOLONG;
        if (n == 0)
            n = 1; /* "/name" */
        memcpy(dir, path, n);
        dir[n] = '\0';
        *base = slash + 1;
    }
    if (!**base || !strcmp(*base, ".") || !strcmp(*base, ".."))
        return -EINVAL;
    return 0;
}

/* The directory and file name the options ask for. */
static int where(const struct mms_writer_options *o, const char *label,
                 char *dir, size_t dlen, char *name, size_t nlen,
                 const char **tmpl_used)
{
    int rc;
    *tmpl_used = "";
    if (o->path) {
        const char *base = NULL;
        if ((rc = split_path(o->path, dir, dlen, &base)) < 0)
            return rc;
        mms__strlcpy(name, base, nlen);
        return 0;
    }
    if (o->dir)
        mms__strlcpy(dir, o->dir, dlen);
    else if ((rc = mms__default_dir(dir, dlen, !(o->flags & MMS_W_NO_ENV))) < 0)
        return rc;
    const char *tmpl = env_or(o->file_template, "MMSTATS_FILE", o->flags);
    if (!tmpl) {
        bool has_label = label && *label, has_name = o->name && *o->name;
        tmpl = has_name ? (has_label ? MMS_DEFAULT_TEMPLATE_NAME_LABEL
                                     : MMS_DEFAULT_TEMPLATE_NAME)
                        : (has_label ? MMS_DEFAULT_TEMPLATE_LABEL
                                     : MMS_DEFAULT_TEMPLATE);
    }
    *tmpl_used = tmpl;
    return mms__template_expand(name, nlen, tmpl, mms__proc_exe(), label,
                                o->name, (long)getpid());
}

int mms_writer_open(mms_writer **out, const struct mms_writer_options *oin)
{
    struct mms_writer_options o;
    if (oin)
        o = *oin;
    else
        mms_writer_options_init(&o);
    if (!out)
        return -EINVAL;
    *out = NULL;
    mms__shard_init_once();
    mms__fork_handlers_once();

    struct sizes z;
    int rc = sizes_of(&o, &z);
    if (rc < 0)
        return rc;
    const char *label = env_or(o.label, "MMSTATS_LABEL", o.flags);
    char dir[PATH_MAX], name[NAME_MAX + 1];
    const char *tmpl_used;
    if ((rc = where(&o, label, dir, sizeof dir, name, sizeof name,
                    &tmpl_used)) < 0)
        return rc;

    mms_writer *w = writer_alloc(&z);
    if (!w)
        return -ENOMEM;
    w->flags = o.flags;
    w->clock_ns = o.clock_ns;
    w->msync_ms = o.msync_interval_ms;
    w->exact = o.path != NULL;
    mms__strlcpy(w->name_arg, w->exact ? name : tmpl_used, sizeof w->name_arg);
    mms__strlcpy(w->label, label, sizeof w->label);
    mms__strlcpy(w->model, o.name, sizeof w->model);
    mms__writer_keep_init(w, &o, label);

    int dfd = -1;
    rc = mms__dir_prepare(dir, &dfd, w->dir, sizeof w->dir, &w->dir_dev,
                          &w->dir_ino);
    if (rc == 0) {
        rc = mms__file_create(w, dfd, name, z.initial, NULL, NULL, label);
        close(dfd);
    }
    if (rc == 0 && (rc = claim_slot(w)) < 0)
        unlink(w->path);
    if (rc < 0) {
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

static void msync_all(mms_writer *w, int how)
{
    uint64_t size = mms_load_acquire(&w->hdr->file_size);
    for (uint32_t k = 0; k < MMS_MAX_EXTENTS; k++) {
        uint64_t base = (uint64_t)k << w->ext_shift;
        uint8_t *e = mms_load_acquire(&w->ext[k]);
        if (base >= size)
            break;
        if (e) {
            uint64_t len =
                size - base < w->extent_size ? size - base : w->extent_size;
            int saved = errno;
            syscall(SYS_msync, e, (size_t)len, how);
            errno = saved;
        }
    }
}

void mms__maybe_msync(mms_writer *w)
{
    if (!w->msync_ms || w->detached || mms_load_relaxed(&w->no_syscalls))
        return;
    int64_t now = mms__now_ns(CLOCK_MONOTONIC_COARSE);
    int64_t last = mms_load_relaxed(&w->last_sync_ns);
    if (now - last < (int64_t)w->msync_ms * 1000000 ||
        !mms_cas_acq_rel(&w->last_sync_ns, &last, now))
        return;
    msync_all(w, MS_ASYNC);
}

int mms_writer_sync(mms_writer *w)
{
    if (!w)
        return -EINVAL;
    if (w->detached)
        return 0;
    msync_all(w, MS_SYNC);
    return 0;
}

void mms_writer_finish(mms_writer *w)
{
    if (!w)
        return;
    struct mms_file_header *h = w->hdr;
    /* Only the process that owns the file finishes it: not a vfork child
     * on its way to exec, nor a child sharing it (MMS_W_FORK_SHARE). */
    if (mms_load_acquire(&h->p.state) >= MMS_STATE_FINISHED ||
        h->pid != (int32_t)getpid())
        return;
    mms_store_relaxed(&h->finished_ns, mms__now_ns(CLOCK_REALTIME));
    mms_store_release(&h->p.state, (uint32_t)MMS_STATE_FINISHED);
    if (w->msync_ms && !mms_load_relaxed(&w->no_syscalls) && !w->detached)
        msync_all(w, MS_SYNC);
}

int mms_writer_close(mms_writer *w)
{
    if (!w)
        return -EINVAL;
    mms_writer_finish(w);
    release_slot(w);
    int rc = 0;
    /* Only the file's owner removes it (not a child sharing it). */
    if ((w->flags & MMS_W_REMOVE_AT_CLOSE) && !w->detached &&
        w->hdr->pid == (int32_t)getpid() && unlink(w->path) < 0)
        rc = -errno;
    writer_free(w);
    return rc;
}

const char *mms_writer_path(const mms_writer *w)
{
    return w ? w->path : NULL;
}

void mms__dropped(mms_writer *w, uint64_t n)
{
    if (!w->detached)
        mms_add_relaxed(&w->hdr->dropped, n);
}

/* ---------------------------------------------------------- name index */

static const char *ix_name(void *e)
{
    if (mms__ix_tag(e) == MMS__IX_TABLE)
        return ((const mms_table *)mms__ix_ptr(e))->name;
    return ((const mms_field *)e)->name;
}

/* The slot of NAME in the name index (w->lock held). */
static void **name_slot(mms_writer *w, const char *name)
{
    uint32_t mask = w->names_cap - 1;
    for (uint32_t i = mms__fnv1a(name, strlen(name)) & mask;;
         i = (i + 1) & mask) {
        void *e = w->names[i];
        if (!e || !strcmp(ix_name(e), name))
            return &w->names[i];
    }
}

/* Insert E (w->lock held; its name is not in the index). */
static int name_insert(mms_writer *w, void *e)
{
    if ((w->names_count + 1) * 2 > w->names_cap) {
        uint32_t cap = w->names_cap * 2;
        void **grown = mms__pool_alloc(&w->pool, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        void **old = w->names;
        uint32_t oldcap = w->names_cap;
        w->names = grown;
        w->names_cap = cap;
        for (uint32_t i = 0; i < oldcap; i++)
            if (old[i])
                *name_slot(w, ix_name(old[i])) = old[i];
    }
    *name_slot(w, ix_name(e)) = e;
    w->names_count++;
    return 0;
}

MMS_HIDDEN void *mms__name_find(mms_writer *w, const char *name);
void *mms__name_find(mms_writer *w, const char *name)
{
    return *name_slot(w, name);
}
MMS_HIDDEN int mms__name_insert(mms_writer *w, void *e);
int mms__name_insert(mms_writer *w, void *e)
{
    return name_insert(w, e);
}

int mms_field_find(mms_writer *w, const char *name, mms_field **out)
{
    if (out)
        *out = NULL;
    if (!w || !name || !out)
        return -EINVAL;
    mms__add_lock(w, true);
    void *e = *name_slot(w, name);
    mms__add_unlock(w);
    if (!e || mms__ix_tag(e) != MMS__IX_FIELD)
        return MMS_ENOENT;
    *out = e;
    return 0;
}

/* ---------------------------------------------------------------- adds */

/* A field's layout before it exists: its FIELD block's fixed part (in
 * B), and what the handle needs. */
struct layout {
    struct mms_field_block b;
    uint32_t text;  /* bytes of name, units, help and schema (with NULs) */
    uint32_t block; /* bytes of the FIELD block */
};

static int hist_layout(const struct mms_field_spec *spec, struct layout *L)
{
    unsigned bits = spec->hist_bits ? spec->hist_bits : MMS_HIST_DEFAULT_BITS;
    unsigned max_exp =
        spec->hist_max_exp ? spec->hist_max_exp : MMS_HIST_DEFAULT_MAX_EXP;
    uint32_t nb = mms_hist_nbuckets(bits, max_exp);
    if (!nb)
        return -EINVAL;
    struct mms_hist_param p = {.bits = (uint8_t)bits,
                               .max_exp = (uint8_t)max_exp,
                               .nbuckets = nb,
                               .nchunks = mms__hist_nchunks(bits, max_exp)};
    uint64_t size =
        mms__hist_cell_bytes(sizeof(struct mms_hist_cell), p.nchunks);
    if (spec->flags & MMS_DF_WINDOW) {
        unsigned wb =
            spec->window_bits ? spec->window_bits : MMS_WINDOW_DEFAULT_BITS;
        if (wb > bits)
            wb = bits;
        p.win_bits = (uint8_t)wb;
        p.win_nbuckets = mms_hist_nbuckets(wb, max_exp);
        p.win_off = (uint32_t)size;
        size += (uint64_t)MMS_WINDOW_SLOTS *
                (sizeof(struct mms_hist_slot) + (uint64_t)p.win_nbuckets * 8);
    }
    if (size > MMS_EXTENT_MAX / 2)
        return -EINVAL;
    L->b.cell_size = (uint32_t)size;
    memcpy(L->b.param, &p, sizeof p);
    return 0;
}

static int struct_layout(const struct mms_field_spec *spec, struct layout *L)
{
    if (!spec->members || spec->nmembers == 0 ||
        spec->nmembers > MMS_STRUCT_MAX_MEMBERS)
        return -EINVAL;
    uint32_t o = 0;
    for (uint32_t i = 0; i < spec->nmembers; i++) {
        const struct mms_member *m = &spec->members[i];
        size_t n = m->name ? strlen(m->name) : 0;
        if (!mms__member_name_ok(m->name, n) || m->type < MMS_MEMBER_U64 ||
            m->type > MMS_MEMBER_F64)
            return -EINVAL;
        o += 3 + (uint32_t)n;
    }
    L->b.schema_len = (uint16_t)o;
    L->b.value_size = 8 + 8 * spec->nmembers;
    struct mms_struct_param sp = {.nmembers = (uint16_t)spec->nmembers};
    memcpy(L->b.param, &sp, sizeof sp);
    return 0;
}

static int kind_layout(const struct mms_field_spec *spec, struct layout *L)
{
    if ((spec->flags & MMS_DF_WINDOW) && spec->kind != MMS_KIND_COUNTER &&
        spec->kind != MMS_KIND_HISTOGRAM)
        return -EINVAL;
    if ((spec->flags & MMS_DF_GAUGE_SUM) &&
        (spec->kind != MMS_KIND_COUNTER || (spec->flags & MMS_DF_WINDOW)))
        return -EINVAL;
    if ((spec->flags & MMS_DF_RING_BLOCK) &&
        (spec->kind != MMS_KIND_COUNTER || !(spec->flags & MMS_DF_WINDOW)))
        return -EINVAL;
    switch (spec->kind) {
    case MMS_KIND_COUNTER:
        /* A ring of its own in each cell, or (3.2) one slot and a ring
         * made when the cell sees a second second (format.md 8.9). */
        L->b.cell_size =
            (spec->flags & MMS_DF_RING_BLOCK)
                ? sizeof(struct mms_ring_cell)
                : 8 + ((spec->flags & MMS_DF_WINDOW)
                           ? MMS_WINDOW_SLOTS * sizeof(struct mms_window_slot)
                           : 0);
        return 0;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
        L->b.value_size = 8;
        return 0;
    case MMS_KIND_SCALAR:
        if (spec->type < MMS_TYPE_BOOL || spec->type > MMS_TYPE_MAX)
            return -EINVAL;
        L->b.type = (uint8_t)spec->type;
        L->b.value_size = 8;
        return 0;
    case MMS_KIND_STRING: {
        uint32_t cap = spec->capacity ? spec->capacity : MMS_STRING_DEFAULT_CAP;
        if (cap > MMS_STRING_MAX_CAP)
            return -EINVAL;
        L->b.value_size =
            (uint32_t)sizeof(struct mms_string_cell) + ((cap + 7) & ~7u);
        return 0;
    }
    case MMS_KIND_HISTOGRAM:
        return hist_layout(spec, L);
    case MMS_KIND_STRUCT:
        return struct_layout(spec, L);
    case MMS_KIND_MOVAVG: {
        uint32_t cap = spec->capacity ? spec->capacity : MMS_MOVAVG_DEFAULT_N;
        if (cap > MMS_STRING_MAX_CAP)
            return -EINVAL;
        struct mms_movavg_param p = {.capacity = cap};
        memcpy(L->b.param, &p, sizeof p);
        L->b.value_size = 16 + 8 * cap;
        return 0;
    }
    default:
        return -EINVAL;
    }
}

static int layout_of(const struct mms_field_spec *spec, struct layout *L)
{
    memset(&L->b, 0, sizeof L->b);
    int rc = kind_layout(spec, L);
    if (rc < 0)
        return rc;
    size_t nlen = strlen(spec->name);
    size_t ulen = spec->units ? strlen(spec->units) : 0;
    size_t hlen = spec->help ? strlen(spec->help) : 0;
    if (ulen > MMS_UNITS_MAX || hlen > MMS_HELP_MAX)
        return -EINVAL;
    bool sharded =
        spec->kind == MMS_KIND_COUNTER || spec->kind == MMS_KIND_HISTOGRAM;
    L->b.kind = (uint8_t)spec->kind;
    L->b.flags =
        (uint8_t)((sharded ? MMS_DF_SHARDED : 0) |
                  (spec->flags & (MMS_DF_STATIC | MMS_DF_WINDOW |
                                  MMS_DF_GAUGE_SUM | MMS_DF_RING_BLOCK)));
    L->b.name_len = (uint16_t)nlen;
    L->b.units_len = (uint16_t)ulen;
    L->b.help_len = (uint16_t)hlen;
    L->text = (uint32_t)(nlen + ulen + hlen + 3 + L->b.schema_len);
    uint32_t fixed = (uint32_t)mms__round_up(sizeof L->b + L->text, 8);
    L->b.value_off = sharded ? 0 : fixed;
    L->block = fixed + L->b.value_size;
    return 0;
}

typedef void (*mms__init_fn)(mms_field *f, const void *arg);

/* Write field F's FIELD block at OFF from layout L and SPEC, run INIT,
 * and publish it. */
static void field_block(mms_writer *w, uint64_t off, const struct layout *L,
                        const struct mms_field_spec *spec, mms_field *f,
                        mms__init_fn init, const void *init_arg)
{
    struct mms_field_block *b = (struct mms_field_block *)mms__ptr(w, off);
    /* The header word stays as the allocation stored it. */
    memcpy((uint8_t *)b + sizeof b->b, (const uint8_t *)&L->b + sizeof b->b,
           sizeof *b - sizeof b->b);
    char *t = (char *)(b + 1);
    memcpy(t, spec->name, L->b.name_len);
    t += L->b.name_len + 1;
    if (L->b.units_len)
        memcpy(t, spec->units, L->b.units_len);
    t += L->b.units_len + 1;
    if (L->b.help_len)
        memcpy(t, spec->help, L->b.help_len);
    t += L->b.help_len + 1;
    /* A struct's member table: { type, name length, name, NUL } each. */
    for (uint32_t i = 0; spec->kind == MMS_KIND_STRUCT && i < spec->nmembers;
         i++) {
        size_t n = strlen(spec->members[i].name);
        *t++ = (char)spec->members[i].type;
        *t++ = (char)n;
        memcpy(t, spec->members[i].name, n + 1);
        t += n + 1;
    }
    f->blk = b;
    f->name = (const char *)(b + 1);
    f->value = L->b.value_off ? (uint8_t *)b + L->b.value_off : NULL;
    if (init)
        init(f, init_arg);
    mms__block_publish(w, &b->b, MMS_BS_READY);
}

/* The handle's facts from the layout. */
static void field_fill(mms_writer *w, mms_field *f, const struct layout *L,
                       uint32_t index)
{
    f->w = w;
    f->index = index;
    f->kind = L->b.kind;
    f->flags = L->b.flags;
    f->type = L->b.type;
    f->cell_size = L->b.cell_size;
    f->value_size = L->b.value_size;
    if (f->kind == MMS_KIND_HISTOGRAM) {
        struct mms_hist_param p;
        memcpy(&p, L->b.param, sizeof p);
        f->bits = p.bits;
        f->max_exp = p.max_exp;
        f->win_bits = p.win_bits;
        f->nbuckets = p.nbuckets;
        f->nchunks = (uint16_t)p.nchunks;
        f->win_off = p.win_off;
        f->win_nbuckets = p.win_nbuckets;
    } else if (f->kind == MMS_KIND_STRUCT) {
        struct mms_struct_param sp;
        memcpy(&sp, L->b.param, sizeof sp);
        f->n = sp.nmembers;
    } else if (f->kind == MMS_KIND_MOVAVG) {
        struct mms_movavg_param mp;
        memcpy(&mp, L->b.param, sizeof mp);
        f->n = mp.capacity;
    }
}

/* Indices FIRST .. FIRST + N - 1, or MMS_EFULL. */
static int take_indices(mms_writer *w, uint32_t n, uint32_t *first)
{
    uint32_t cur = mms_load_relaxed(&w->hdr->next_index);
    do {
        if (n > w->max_index || cur > w->max_index - n)
            return MMS_EFULL;
    } while (!mms_cas_acq_rel(&w->hdr->next_index, &cur, cur + n));
    *first = cur;
    return 0;
}

MMS_HIDDEN int mms__index_take(mms_writer *w, uint32_t n, uint32_t *first);
int mms__index_take(mms_writer *w, uint32_t n, uint32_t *first)
{
    return take_indices(w, n, first);
}

/* Grow the file for NEED bytes of blocks, waiting a little for a growth
 * that another thread runs (this is never a hook's path when WAIT). */
MMS_HIDDEN int mms__reserve_for_add(mms_writer *w, uint64_t need, bool wait);
int mms__reserve_for_add(mms_writer *w, uint64_t need, bool wait)
{
    (void)wait; /* another thread's growth is waited for; ours never */
    return mms__heap_reserve(w, need);
}

/* Existing fields for SPECS: 1 if all N exist (as one group, same
 * kinds), 0 if none does, else an error. */
static int existing(mms_writer *w, const struct mms_field_spec *specs,
                    unsigned n, mms_field **out)
{
    unsigned found = 0;
    for (unsigned i = 0; i < n; i++) {
        void *e = *name_slot(w, specs[i].name);
        if (!e)
            continue;
        mms_field *f = e;
        if (mms__ix_tag(e) != MMS__IX_FIELD || f->kind != specs[i].kind ||
            (f->kind == MMS_KIND_SCALAR && f->type != specs[i].type))
            return MMS_EKIND;
        out[i] = f;
        found++;
    }
    if (found == 0)
        return 0;
    if (found < n)
        return -EEXIST; /* a group cannot be completed later */
    return 1;
}

static int add_locked(mms_writer *w, const struct mms_field_spec *specs,
                      unsigned n, bool wait, mms__init_fn init,
                      const void *init_arg, mms_field **out)
{
    int rc = existing(w, specs, n, out);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    struct layout Lbuf[8];
    struct layout *L = n <= 8 ? Lbuf : mms__pool_alloc(&w->pool, n * sizeof *L);
    mms_field *f = mms__pool_alloc(&w->pool, n * sizeof *f);
    if (!L || !f)
        return -ENOMEM;
    uint64_t need = 0;
    uint32_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        if ((rc = layout_of(&specs[i], &L[i])) < 0)
            return rc;
        need += mms__round_up(L[i].block, 8) + 64;
        f[i].cell_off = bytes;
        bytes += L[i].b.cell_size;
    }
    /* A group's cells are one block in an area, inside one extent. */
    if (bytes + 2 * MMS_LINE > w->extent_size)
        return -EINVAL;
    mms__reserve_for_add(w, need, wait);
    uint32_t first;
    if ((rc = take_indices(w, n, &first)) < 0)
        return rc;
    /* All blocks first, so that a failure publishes nothing. */
    uint64_t off[8];
    uint64_t *offs = n <= 8 ? off : mms__pool_alloc(&w->pool, (size_t)n * 8);
    if (!offs)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        offs[i] = mms__block_alloc(w, MMS_BLOCK_FIELD, L[i].block, 8);
        if (!offs[i]) {
            for (unsigned k = 0; k < i; k++)
                mms__block_publish(w, (struct mms_block *)mms__ptr(w, offs[k]),
                                   MMS_BS_DEAD);
            return MMS_EFULL;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        L[i].b.index = first + i;
        field_fill(w, &f[i], &L[i], first + i);
        f[i].group_first = first;
        f[i].group_count = n;
        f[i].group_bytes = bytes;
        field_block(w, offs[i], &L[i], &specs[i], &f[i], init, init_arg);
        void **slot = mms__pages_slot(&w->ix, &w->pool, first + i);
        if (slot)
            mms_store_release(slot, (void *)&f[i]);
        if ((rc = name_insert(w, &f[i])) < 0)
            return rc;
        out[i] = &f[i];
    }
    mms__maybe_msync(w);
    return 0;
}

/* A mark of the calling thread (its address) for w->adder. */
static __thread char add_mark __attribute__((tls_model("initial-exec")));

int mms__add_lock(mms_writer *w, bool wait)
{
    uintptr_t me = (uintptr_t)&add_mark;
    if (wait) {
        mms__mutex_lock(&w->lock);
    } else {
        /* Wait while the lock is busy, not for its mark to change: the
         * mark is 0 for a moment as a holder takes or leaves the lock,
         * and stays 0 once it is free (waiting on that mark gave up only
         * after the stall bound: a record dropped, 1 run in 4 of 500
         * threads starting at once). */
        struct mms__wait s = {0};
        while (pthread_mutex_trylock(&w->lock) != 0) {
            uintptr_t holder = mms_load_acquire(&w->adder);
            if (holder == me)
                return MMS_EBUSY;
            if (s.i == 0)
                mms_add_relaxed(&w->add_waits, 1);
            if (mms__wait_step(w, &s, holder) <= 0)
                return MMS_EBUSY;
        }
    }
    mms_store_release(&w->adder, me);
    return 0;
}

void mms__add_unlock(mms_writer *w)
{
    mms_store_release(&w->adder, (uintptr_t)0);
    pthread_mutex_unlock(&w->lock);
}

int mms__fields_add(mms_writer *w, const struct mms_field_spec *specs,
                    unsigned n, bool wait, mms_field **out)
{
    if (!w || !specs || !out || n == 0 || n > 1024)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++) {
        out[i] = NULL;
        int rc = mms_name_check(specs[i].name);
        if (rc < 0)
            return rc;
    }
    if (mms__add_lock(w, wait) != 0)
        return MMS_EBUSY;
    int rc = w->shared_child ? -EPERM
                             : add_locked(w, specs, n, wait, NULL, NULL, out);
    mms__add_unlock(w);
    return rc;
}

static int field_add(mms_writer *w, const struct mms_field_spec *spec,
                     mms__init_fn init, const void *init_arg, mms_field **out)
{
    mms_field *dummy;
    if (!out)
        out = &dummy;
    *out = NULL;
    if (!w || !spec)
        return -EINVAL;
    int rc = mms_name_check(spec->name);
    if (rc < 0)
        return rc;
    mms__add_lock(w, true);
    rc = w->shared_child ? -EPERM
                         : add_locked(w, spec, 1, true, init, init_arg, out);
    mms__add_unlock(w);
    return rc;
}

int mms_field_add(mms_writer *w, const struct mms_field_spec *spec,
                  mms_field **out)
{
    return field_add(w, spec, NULL, NULL, out);
}

static int add_simple(mms_writer *w, const char *name, const char *units,
                      enum mms_kind kind, uint32_t cap, mms_field **out)
{
    struct mms_field_spec s = {
        .name = name, .kind = kind, .units = units, .capacity = cap};
    return mms_field_add(w, &s, out);
}

int mms_counter_new(mms_writer *w, const char *name, const char *units,
                    mms_field **out)
{
    return add_simple(w, name, units, MMS_KIND_COUNTER, 0, out);
}

int mms_gauge_new(mms_writer *w, const char *name, const char *units,
                  mms_field **out)
{
    return add_simple(w, name, units, MMS_KIND_GAUGE, 0, out);
}

int mms_gauge_f64_new(mms_writer *w, const char *name, const char *units,
                      mms_field **out)
{
    return add_simple(w, name, units, MMS_KIND_GAUGE_F64, 0, out);
}

int mms_string_new(mms_writer *w, const char *name, uint32_t capacity,
                   mms_field **out)
{
    return add_simple(w, name, NULL, MMS_KIND_STRING, capacity, out);
}

int mms_scalar_new(mms_writer *w, const char *name, enum mms_type type,
                   const char *units, mms_field **out)
{
    struct mms_field_spec s = {
        .name = name, .kind = MMS_KIND_SCALAR, .units = units, .type = type};
    return mms_field_add(w, &s, out);
}

int mms_model_add(mms_writer *w, const char *prefix, const char *name,
                  enum mms_kind kind, enum mms_type type, unsigned flags,
                  const char *units, const char *help, mms_field **out)
{
    char full[MMS_NAME_MAX + 2];
    if (prefix && *prefix) {
        int n = snprintf(full, sizeof full, "%s.%s", prefix, name);
        if (n < 0 || n > MMS_NAME_MAX)
            return MMS_ENAME;
        name = full;
    }
    struct mms_field_spec s = {.name = name,
                               .kind = kind,
                               .type = type,
                               .units = units,
                               .help = help,
                               .flags = flags};
    return mms_field_add(w, &s, out);
}

int mms_hist_new(mms_writer *w, const char *name, const char *units,
                 mms_field **out)
{
    return add_simple(w, name, units, MMS_KIND_HISTOGRAM, 0, out);
}

int mms_timer_new(mms_writer *w, const char *name, mms_field **out)
{
    return add_simple(w, name, "ns", MMS_KIND_HISTOGRAM, 0, out);
}

int mms_struct_new(mms_writer *w, const char *name,
                   const struct mms_member *members, uint32_t n,
                   mms_field **out)
{
    struct mms_field_spec s = {.name = name,
                               .kind = MMS_KIND_STRUCT,
                               .members = members,
                               .nmembers = n};
    return mms_field_add(w, &s, out);
}

int mms_movavg_new(mms_writer *w, const char *name, const char *units,
                   uint32_t n, mms_field **out)
{
    return add_simple(w, name, units, MMS_KIND_MOVAVG, n, out);
}

/* ------------------------------------------------------------- statics */

static void init_i64(mms_field *f, const void *arg)
{
    mms_gauge_set(f, *(const int64_t *)arg);
}

static void init_f64(mms_field *f, const void *arg)
{
    mms_scalar_set_f64(f, *(const double *)arg);
}

static void init_str(mms_field *f, const void *arg)
{
    mms_string_set(f, (const char *)arg);
}

static int static_add(mms_writer *w, const char *name, enum mms_kind kind,
                      enum mms_type type, const char *units, mms__init_fn init,
                      const void *arg)
{
    struct mms_field_spec s = {.name = name,
                               .kind = kind,
                               .type = type,
                               .units = units,
                               .flags = MMS_DF_STATIC};
    return field_add(w, &s, init, arg, NULL);
}

int mms_static_i64(mms_writer *w, const char *name, const char *units,
                   int64_t value)
{
    return static_add(w, name, MMS_KIND_GAUGE, 0, units, init_i64, &value);
}

int mms_static_f64(mms_writer *w, const char *name, const char *units,
                   double value)
{
    return static_add(w, name, MMS_KIND_GAUGE_F64, 0, units, init_f64, &value);
}

int mms_static_scalar(mms_writer *w, const char *name, enum mms_type type,
                      const char *units, double v)
{
    return static_add(w, name, MMS_KIND_SCALAR, type, units, init_f64, &v);
}

int mms_static_str(mms_writer *w, const char *name, const char *value)
{
    if (!value)
        return -EINVAL;
    size_t len = strlen(value);
    struct mms_field_spec s = {.name = name,
                               .kind = MMS_KIND_STRING,
                               .capacity = len ? (uint32_t)len : 1,
                               .flags = MMS_DF_STATIC};
    if (len > MMS_STRING_MAX_CAP)
        return -EINVAL;
    return field_add(w, &s, init_str, value, NULL);
}

/* The typed families: mms_u32_new, mms_static_u32, ... */
#define SCALAR_FAMILY(t, code, ctype)                                          \
    static void init_##t(mms_field *f, const void *arg)                        \
    {                                                                          \
        mms_##t##_set(f, *(const ctype *)arg);                                 \
    }                                                                          \
    int mms_##t##_new(mms_writer *w, const char *name, const char *units,      \
                      mms_field **out)                                         \
    {                                                                          \
        return mms_scalar_new(w, name, code, units, out);                      \
    }                                                                          \
    int mms_static_##t(mms_writer *w, const char *name, const char *units,     \
                       ctype v)                                                \
    {                                                                          \
        return static_add(w, name, MMS_KIND_SCALAR, code, units, init_##t,     \
                          &v);                                                 \
    }
MMS_SCALAR_TYPES(SCALAR_FAMILY)
