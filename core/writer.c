/* The writer: opening and finishing a stats file, and adding fields
 * (descriptors, strings, value space) while readers may be looking.
 * Nothing here is on the update path. The writer never calls malloc: its
 * own state lives in an anonymous mapping, so it can serve malloc hooks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
    pthread_mutex_lock(&mms__registry_lock);
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
    pthread_mutex_lock(&mms__registry_lock);
    if (mms__writers[w->slot] == w)
        mms_store_release(&mms__writers[w->slot], NULL);
    pthread_mutex_unlock(&mms__registry_lock);
}

static mms_writer *writer_alloc(uint32_t max_fields)
{
    uint32_t icap = 16;
    while (icap < 2 * max_fields)
        icap <<= 1;
    size_t size = sizeof(mms_writer) +
                  (size_t)max_fields * sizeof(struct mms_field) +
                  (size_t)icap * sizeof(uint32_t);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    mms_writer *w = p;
    w->self_size = size;
    w->max_fields = max_fields;
    w->fields = (struct mms_field *)(w + 1);
    w->index = (uint32_t *)(w->fields + max_fields);
    w->index_cap = icap;
    pthread_mutex_init(&w->lock, NULL);
    return w;
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

int mms_writer_open(mms_writer **out, const struct mms_writer_options *oin)
{
    struct mms_writer_options o;
    if (oin)
        o = *oin;
    else
        mms_writer_options_init(&o);
    *out = NULL;
    mms__shard_init_once();
    mms__fork_handlers_once();

    struct mms__file_geom g;
    int rc = mms__geom_compute(
        &g, o.max_fields ? o.max_fields : MMS_DEF_MAX_FIELDS,
        o.string_bytes ? o.string_bytes : MMS_DEF_STRING_BYTES,
        o.global_bytes ? o.global_bytes : MMS_DEF_GLOBAL_BYTES,
        o.shard_bytes ? o.shard_bytes : MMS_DEF_SHARD_BYTES,
        o.max_shards ? o.max_shards : MMS_DEF_MAX_SHARDS);
    if (rc < 0)
        return rc;

    const char *label = env_or(o.label, "MMSTATS_LABEL", o.flags);
    char dir[PATH_MAX], name[NAME_MAX + 1];
    const char *base = NULL, *tmpl_used = "";
    bool exact = o.path != NULL;
    if (exact) {
        if ((rc = split_path(o.path, dir, sizeof dir, &base)) < 0)
            return rc;
        mms__strlcpy(name, base, sizeof name);
    } else {
        if (o.dir)
            mms__strlcpy(dir, o.dir, sizeof dir);
        else if ((rc = mms__default_dir(dir, sizeof dir,
                                        !(o.flags & MMS_W_NO_ENV))) < 0)
            return rc;
        const char *tmpl = env_or(o.file_template, "MMSTATS_FILE", o.flags);
        if (!tmpl) {
            bool has_label = label && *label, has_name = o.name && *o.name;
            tmpl = has_name ? (has_label ? MMS_DEFAULT_TEMPLATE_NAME_LABEL
                                         : MMS_DEFAULT_TEMPLATE_NAME)
                            : (has_label ? MMS_DEFAULT_TEMPLATE_LABEL
                                         : MMS_DEFAULT_TEMPLATE);
        }
        tmpl_used = tmpl;
        rc = mms__template_expand(name, sizeof name, tmpl, mms__proc_exe(),
                                  label, o.name, (long)getpid());
        if (rc < 0)
            return rc;
    }

    uint32_t max_fields = g.desc_cap;
    mms_writer *w = writer_alloc(max_fields);
    if (!w)
        return -ENOMEM;
    w->flags = o.flags;
    w->next_shard = 1;
    w->clock_ns = o.clock_ns;
    w->geom = g;
    w->exact = exact;
    mms__strlcpy(w->dir, dir, sizeof w->dir);
    mms__strlcpy(w->name_arg, exact ? name : tmpl_used, sizeof w->name_arg);
    mms__strlcpy(w->label, label, sizeof w->label);
    mms__strlcpy(w->model, o.name, sizeof w->model);

    int dfd = -1;
    if ((rc = mms__dir_prepare(dir, &dfd)) < 0)
        goto fail;
    rc = mms__file_create(dfd, dir, name, exact, &g, label, NULL, NULL,
                          &w->base, w->path, sizeof w->path);
    close(dfd);
    if (rc < 0)
        goto fail;
    w->map_size = g.file_size;
    w->hdr = (struct mms_file_header *)w->base;
    w->shtab = (uint32_t *)(w->base + g.shtab_off);
    if ((rc = claim_slot(w)) < 0) {
        unlink(w->path);
        munmap(w->base, w->map_size);
        goto fail;
    }
    *out = w;
    return 0;
fail:
    munmap(w, w->self_size);
    return rc;
}

void mms_writer_finish(mms_writer *w)
{
    if (!w)
        return;
    struct mms_file_header *h = w->hdr;
    /* Only the process that owns the file finishes it: not a vfork child
     * on its way to exec, nor a child sharing it (MMS_W_FORK_SHARE). */
    if (mms_load_acquire(&h->p.state) == MMS_STATE_FINISHED ||
        h->pid != (int32_t)getpid())
        return;
    mms_store_relaxed(&h->finished_ns, mms__now_ns(CLOCK_REALTIME));
    mms_store_release(&h->p.state, (uint32_t)MMS_STATE_FINISHED);
}

int mms_writer_close(mms_writer *w)
{
    if (!w)
        return -EINVAL;
    mms_writer_finish(w);
    release_slot(w);
    int rc = 0;
    /* Only the file's owner removes it (not a child sharing it). */
    if ((w->flags & MMS_W_REMOVE_AT_CLOSE) &&
        w->hdr->pid == (int32_t)getpid() && unlink(w->path) < 0)
        rc = -errno;
    munmap(w->base, w->map_size);
    munmap(w, w->self_size);
    return rc;
}

const char *mms_writer_path(const mms_writer *w)
{
    return w ? w->path : NULL;
}

/* ------------------------------------------------------------- fields */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* A fixed open-addressing index (field number + 1, 0 = empty), sized at
 * open for max_fields: no allocation ever, which a table that grows (as
 * uthash's does) cannot promise inside a malloc hook. */
static uint32_t *index_slot(mms_writer *w, const char *name)
{
    uint32_t mask = w->index_cap - 1;
    for (uint32_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
        uint32_t v = w->index[i];
        if (v == 0 || !strcmp(w->fields[v - 1].name, name))
            return &w->index[i];
    }
}

mms_field *mms_field_find(mms_writer *w, const char *name)
{
    if (!w || !name)
        return NULL;
    pthread_mutex_lock(&w->lock);
    uint32_t v = *index_slot(w, name);
    pthread_mutex_unlock(&w->lock);
    return v ? &w->fields[v - 1] : NULL;
}

/* Append S (with its NUL) to the string table; returns its offset. */
static uint32_t str_append(mms_writer *w, const char *s, size_t len)
{
    struct mms_file_header *h = w->hdr;
    if (len == 0)
        return 0;
    uint32_t off = h->str_used;
    memcpy(w->base + h->str_off + off, s, len);
    w->base[h->str_off + off + len] = '\0';
    mms_store_release(&h->str_used, off + (uint32_t)len + 1);
    return off;
}

/* Where and how large a field's value is, and its descriptor parameters.
 * SCHEMA receives a STRUCT's member table for the string table. */
struct layout {
    uint32_t size;
    bool sharded;
    uint8_t param[32];
    char schema[MMS_STRUCT_MAX_MEMBERS * (MMS_MEMBER_NAME_MAX + 3)];
    uint32_t schema_len;
};

static int hist_layout(const struct mms_field_spec *spec, mms_field *f,
                       struct layout *L)
{
    unsigned bits = spec->hist_bits ? spec->hist_bits : MMS_HIST_DEFAULT_BITS;
    unsigned max_exp =
        spec->hist_max_exp ? spec->hist_max_exp : MMS_HIST_DEFAULT_MAX_EXP;
    uint32_t nb = mms_hist_nbuckets(bits, max_exp);
    if (!nb)
        return -EINVAL;
    struct mms_hist_param p = {
        .bits = (uint8_t)bits, .max_exp = (uint8_t)max_exp, .nbuckets = nb};
    uint64_t size = sizeof(struct mms_hist_cell) + (uint64_t)nb * 8;
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
    if (size > UINT32_MAX)
        return -EINVAL;
    L->size = (uint32_t)size;
    L->sharded = true;
    memcpy(L->param, &p, sizeof p);
    f->bits = p.bits;
    f->max_exp = p.max_exp;
    f->win_bits = p.win_bits;
    f->win_off = p.win_off;
    f->win_nbuckets = p.win_nbuckets;
    return 0;
}

static int member_name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > MMS_MEMBER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int struct_layout(const struct mms_field_spec *spec, mms_field *f,
                         struct layout *L)
{
    if (!spec->members || spec->nmembers == 0 ||
        spec->nmembers > MMS_STRUCT_MAX_MEMBERS)
        return -EINVAL;
    uint32_t o = 0;
    for (uint32_t i = 0; i < spec->nmembers; i++) {
        const struct mms_member *m = &spec->members[i];
        if (!member_name_ok(m->name) || m->type < MMS_MEMBER_U64 ||
            m->type > MMS_MEMBER_F64)
            return -EINVAL;
        size_t n = strlen(m->name);
        L->schema[o++] = (char)m->type;
        L->schema[o++] = (char)n;
        memcpy(L->schema + o, m->name, n + 1);
        o += (uint32_t)n + 1;
    }
    L->schema_len = o;
    L->size = 8 + 8 * spec->nmembers;
    f->n = spec->nmembers;
    return 0;
}

static int value_layout(const struct mms_field_spec *spec, mms_field *f,
                        struct layout *L)
{
    memset(L->param, 0, sizeof L->param);
    L->sharded = false;
    L->schema_len = 0;
    if ((spec->flags & MMS_DF_WINDOW) && spec->kind != MMS_KIND_COUNTER &&
        spec->kind != MMS_KIND_HISTOGRAM)
        return -EINVAL;
    switch (spec->kind) {
    case MMS_KIND_COUNTER:
        L->sharded = true;
        L->size = 8;
        if (spec->flags & MMS_DF_WINDOW) {
            f->win_off = 8;
            L->size += MMS_WINDOW_SLOTS * sizeof(struct mms_window_slot);
        }
        return 0;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
        L->size = 8;
        return 0;
    case MMS_KIND_STRING: {
        uint32_t cap = spec->capacity ? spec->capacity : MMS_STRING_DEFAULT_CAP;
        if (cap > MMS_STRING_MAX_CAP)
            return -EINVAL;
        L->size = (uint32_t)sizeof(struct mms_string_cell) + ((cap + 7) & ~7u);
        return 0;
    }
    case MMS_KIND_HISTOGRAM:
        return hist_layout(spec, f, L);
    case MMS_KIND_STRUCT:
        return struct_layout(spec, f, L);
    case MMS_KIND_MOVAVG: {
        uint32_t cap = spec->capacity ? spec->capacity : MMS_MOVAVG_DEFAULT_N;
        if (cap > MMS_STRING_MAX_CAP)
            return -EINVAL;
        struct mms_movavg_param p = {.capacity = cap};
        memcpy(L->param, &p, sizeof p);
        L->size = 16 + 8 * cap;
        f->n = cap;
        return 0;
    }
    default:
        return -EINVAL;
    }
}

typedef void (*mms__init_fn)(mms_field *f, const void *arg);

/* Add a field under w->lock. INIT, if given, writes the first value before
 * the descriptor is published, so readers never see a static unset. */
static int field_add_locked(mms_writer *w, const struct mms_field_spec *spec,
                            mms__init_fn init, const void *init_arg,
                            mms_field **out)
{
    uint32_t *slot = index_slot(w, spec->name);
    if (*slot) {
        mms_field *f = &w->fields[*slot - 1];
        if (f->kind != spec->kind)
            return MMS_EKIND;
        *out = f;
        return 0;
    }
    mms_field nf;
    memset(&nf, 0, sizeof nf);
    struct layout L;
    int rc = value_layout(spec, &nf, &L);
    if (rc < 0)
        return rc;
    bool sharded = L.sharded;
    uint32_t size = L.size;
    size_t nlen = strlen(spec->name);
    size_t ulen = spec->units ? strlen(spec->units) : 0;
    size_t hlen = spec->help ? strlen(spec->help) : 0;
    if (ulen > MMS_UNITS_MAX || hlen > MMS_HELP_MAX)
        return -EINVAL;

    struct mms_file_header *h = w->hdr;
    uint32_t need_str = (uint32_t)(nlen + 1 + (ulen ? ulen + 1 : 0) +
                                   (hlen ? hlen + 1 : 0) + L.schema_len);
    uint32_t *used = sharded ? &h->shard_local_used : &h->glob_used;
    uint32_t cap = sharded ? h->shard_size : h->glob_cap;
    uint32_t voff = (*used + MMS_VALUE_ALIGN - 1) & ~(MMS_VALUE_ALIGN - 1u);
    if (w->nfields >= w->max_fields || h->desc_count >= h->desc_cap ||
        need_str > h->str_cap - h->str_used || size > cap || voff > cap - size)
        return MMS_EFULL;
    if (sharded && (rc = mms__shards_populate(w, voff + size)) < 0)
        return rc;

    mms_field *f = &w->fields[w->nfields];
    *f = nf;
    f->w = w;
    f->kind = (uint8_t)spec->kind;
    f->flags = (uint8_t)((sharded ? MMS_DF_SHARDED : 0) |
                         (spec->flags & (MMS_DF_STATIC | MMS_DF_WINDOW)));
    f->size = size;
    f->index = h->desc_count;
    f->off = sharded ? voff : h->glob_off + voff;

    struct mms_desc d;
    memset(&d, 0, sizeof d);
    d.name_off = str_append(w, spec->name, nlen);
    d.name_len = (uint16_t)nlen;
    d.units_off = str_append(w, spec->units, ulen);
    d.units_len = (uint16_t)ulen;
    d.help_off = str_append(w, spec->help, hlen);
    d.help_len = (uint16_t)hlen;
    d.kind = f->kind;
    d.flags = f->flags;
    d.value_off = f->off;
    d.value_size = size;
    memcpy(d.param, L.param, sizeof d.param);
    if (L.schema_len) {
        /* The schema holds NULs: appended as bytes, its length recorded. */
        struct mms_struct_param sp = {
            .schema_off = str_append(w, L.schema, L.schema_len - 1),
            .nmembers = (uint16_t)f->n,
            .schema_len = (uint16_t)L.schema_len};
        memcpy(d.param, &sp, sizeof sp);
    }
    f->name = (const char *)w->base + h->str_off + d.name_off;
    mms_store_release(used, voff + size);
    if (init)
        init(f, init_arg);

    /* Publish: generation odd, descriptor, count, generation even. */
    uint64_t gen = h->layout_gen;
    mms_store_relaxed(&h->layout_gen, gen + 1);
    mms_fence_release();
    memcpy(w->base + h->desc_off + (size_t)f->index * MMS_DESC_SIZE, &d,
           sizeof d);
    mms_store_release(&h->desc_count, f->index + 1);
    mms_store_release(&h->layout_gen, gen + 2);

    w->nfields++;
    *slot = w->nfields;
    *out = f;
    return 0;
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
    pthread_mutex_lock(&w->lock);
    rc = w->shared_child ? -EPERM
                         : field_add_locked(w, spec, init, init_arg, out);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int mms_field_add(mms_writer *w, const struct mms_field_spec *spec,
                  mms_field **out)
{
    return field_add(w, spec, NULL, NULL, out);
}

int mms__field_add_try(mms_writer *w, const struct mms_field_spec *spec,
                       mms_field **out)
{
    *out = NULL;
    int rc = mms_name_check(spec->name);
    if (rc < 0)
        return rc;
    if (pthread_mutex_trylock(&w->lock) != 0)
        return MMS_EBUSY;
    rc = w->shared_child ? -EPERM : field_add_locked(w, spec, NULL, NULL, out);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int mms__fields_add_locked(mms_writer *w, const struct mms_field_spec *specs,
                           unsigned n, bool wait, mms_field **out)
{
    for (unsigned i = 0; i < n; i++) {
        out[i] = NULL;
        int rc = mms_name_check(specs[i].name);
        if (rc < 0)
            return rc;
    }
    if (wait)
        pthread_mutex_lock(&w->lock);
    else if (pthread_mutex_trylock(&w->lock) != 0)
        return MMS_EBUSY;
    int rc = w->shared_child ? -EPERM : 0;
    for (unsigned i = 0; i < n && rc == 0; i++)
        rc = field_add_locked(w, &specs[i], NULL, NULL, &out[i]);
    pthread_mutex_unlock(&w->lock);
    return rc;
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

int mms_model_add(mms_writer *w, const char *prefix, const char *name,
                  enum mms_kind kind, unsigned flags, const char *units,
                  const char *help, mms_field **out)
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

static void init_i64(mms_field *f, const void *arg)
{
    mms_gauge_set(f, *(const int64_t *)arg);
}

static void init_str(mms_field *f, const void *arg)
{
    mms_string_set(f, (const char *)arg);
}

int mms_static_i64(mms_writer *w, const char *name, const char *units,
                   int64_t value)
{
    struct mms_field_spec s = {.name = name,
                               .kind = MMS_KIND_GAUGE,
                               .units = units,
                               .flags = MMS_DF_STATIC};
    return field_add(w, &s, init_i64, &value, NULL);
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
