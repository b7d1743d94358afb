/* The reader: opens a stats file as untrusted input, walks its blocks
 * (docs/format.md sections 6 and 11.2) and validates every one (section
 * 13) into a private, checked view that snapshot.c trusts. Nothing read
 * from the file is used as a pointer or length without a check here. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define in_bounds mms__in_bounds

void *mms__vec_push(struct mms__vec *v, size_t elem)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *p = realloc(v->p, cap * elem);
        if (!p)
            return NULL;
        v->p = p;
        v->cap = cap;
    }
    return (uint8_t *)v->p + elem * v->n++;
}

void mms__vec_free(struct mms__vec *v)
{
    free(v->p);
    memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------ the index */

#define IX_PAGE 1024u

static struct mms__rix ix_get(const mms_reader *r, uint32_t i)
{
    uint32_t p = i / IX_PAGE;
    if (p >= r->ix_pages || !r->ix[p])
        return (struct mms__rix){MMS__R_NONE, 0};
    return r->ix[p][i % IX_PAGE];
}

static int ix_set(mms_reader *r, uint32_t i, unsigned what, uint32_t num)
{
    uint32_t p = i / IX_PAGE;
    if (p >= r->ix_pages) {
        uint32_t n = p + 1 > r->ix_pages * 2 ? p + 1 : r->ix_pages * 2;
        void *a = realloc(r->ix, n * sizeof(struct mms__rix *));
        if (!a)
            return -ENOMEM;
        r->ix = a;
        memset(r->ix + r->ix_pages, 0,
               (n - r->ix_pages) * sizeof(struct mms__rix *));
        r->ix_pages = n;
    }
    if (!r->ix[p] && !(r->ix[p] = calloc(IX_PAGE, sizeof(struct mms__rix))))
        return -ENOMEM;
    r->ix[p][i % IX_PAGE] = (struct mms__rix){what, num};
    return 0;
}

/* Index I's cells are SIZE bytes, for OWNER (an rcell's owner). Only
 * for indices near as many as the file has things (a hostile file's one
 * field at index 2^24 - 1 takes the slow path, not a 128 MiB table). */
static int cellix_set(mms_reader *r, uint32_t i, uint32_t size, uint32_t owner)
{
    if (i >= 2 * (r->nfields + r->records.n) + 4096)
        return 0;
    if (i >= r->ncellix) {
        uint32_t n = r->ncellix ? r->ncellix : 1024;
        while (n <= i)
            n *= 2;
        void *a = realloc(r->cellix, n * sizeof *r->cellix);
        if (!a)
            return -ENOMEM;
        r->cellix = a;
        memset(r->cellix + r->ncellix, 0, (n - r->ncellix) * sizeof *r->cellix);
        r->ncellix = n;
    }
    uint64_t bs =
        mms__round_up(sizeof(struct mms_cells_block) + (uint64_t)size, 8);
    r->cellix[i] = (struct mms__rcellix){
        size && bs <= UINT32_MAX ? (uint32_t)bs : 0, owner};
    return 0;
}

/* An index a new block may take: below next_index and not taken yet. */
static bool index_free(const mms_reader *r, uint32_t i)
{
    return i < mms_load_acquire(&r->live->next_index) && i < MMS_INDEX_MAX &&
           ix_get(r, i).what == MMS__R_NONE;
}

/* -------------------------------------------------------------- header */

static int header_load(mms_reader *r)
{
    const struct mms_file_header *m = r->live;
    if (memcmp(m->p.magic, MMS_MAGIC, MMS_MAGIC_LEN) != 0)
        return MMS_EFORMAT;
    if (m->p.endian != MMS_ENDIAN_MARK)
        return m->p.endian == __builtin_bswap32(MMS_ENDIAN_MARK) ? MMS_EENDIAN
                                                                 : MMS_EFORMAT;
    if (m->p.major == 2)
        return MMS_EOLDVERSION;
    if (m->p.major != MMS_VERSION_MAJOR)
        return MMS_EVERSION;
    /* Writers fill the header under a temporary name and rename the file
     * once it is READY: a file still initialising is one caught by its
     * temporary name, or a broken one: try again later. */
    uint32_t state = mms_load_acquire(&m->p.state);
    if (state == MMS_STATE_INIT || state == 0)
        return -EAGAIN;
    if (state > MMS_STATE_FOLDING)
        return MMS_ECORRUPT;
    /* Word by word and atomically: some words change under us. */
    const uint32_t *src = (const uint32_t *)m;
    uint32_t *dst = (uint32_t *)&r->h;
    for (size_t i = 0; i < sizeof r->h / 4; i++)
        dst[i] = mms_load_relaxed(&src[i]);
    const struct mms_file_header *h = &r->h;
    if (h->p.header_size < sizeof *h || h->p.header_size % 8 ||
        h->p.header_size > r->map_size || h->heap_off != h->p.header_size ||
        h->extent_size < MMS_EXTENT_MIN || h->extent_size > MMS_EXTENT_MAX ||
        (h->extent_size & (h->extent_size - 1)))
        return MMS_ECORRUPT;
    return 0;
}

/* Map the file again, at its current size. */
static int remap(mms_reader *r)
{
    struct stat st;
    if (fstat(r->fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size > MMS_MAX_FILE_SIZE)
        return MMS_ECORRUPT;
    size_t size = (size_t)st.st_size;
    if (size <= r->map_size)
        return size < r->map_size ? MMS_ETRUNCATED : 0;
    void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, r->fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    munmap((void *)r->base, r->map_size);
    r->base = m;
    r->map_size = size;
    r->live = m;
    return 0;
}

/* --------------------------------------------------------------- fields */

static void copy_text(char *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : (char)src[i];
    dst[len] = '\0';
}

static bool member_bytes_ok(const uint8_t *p, size_t len)
{
    return mms__member_name_ok((const char *)p, len);
}

/* A STRUCT's member table (LEN bytes at P) into M, names into the info's
 * text (NAMES, at most LEN bytes). */
static int schema_parse(const uint8_t *p, size_t len, uint32_t n,
                        struct mms_member *m, char *names)
{
    const uint8_t *end = p + len;
    for (uint32_t i = 0; i < n; i++) {
        if (end - p < 3)
            return MMS_ECORRUPT;
        uint8_t type = p[0], nl = p[1];
        if (type < MMS_MEMBER_U64 || type > MMS_MEMBER_F64 || nl == 0 ||
            nl > MMS_MEMBER_NAME_MAX || end - p < 3 + nl || p[2 + nl] != 0 ||
            !member_bytes_ok(p + 2, nl))
            return MMS_ECORRUPT;
        memcpy(names, p + 2, nl);
        names[nl] = '\0';
        m[i].name = names;
        m[i].type = (enum mms_member_type)type;
        names += nl + 1;
        p += 3 + nl;
    }
    return 0;
}

/* Kind checks of a FIELD (item 16 of section 13), filling RF. */
static int field_kind_check(const struct mms_field_block *b,
                            struct mms__rfield *rf)
{
    bool sharded = b->flags & MMS_DF_SHARDED, window = b->flags & MMS_DF_WINDOW;
    switch (b->kind) {
    case MMS_KIND_COUNTER:
        /* 3.2: a windowed counter's cell with 1 or 2 slots of its own, its
         * ring a RING block. */
        if (b->flags & MMS_DF_RING_BLOCK)
            return window && (b->cell_size == 32 || b->cell_size == 48)
                       ? 0
                       : MMS_ECORRUPT;
        return b->cell_size == 8 + (window ? MMS_WINDOW_SLOTS * 16u : 0)
                   ? 0
                   : MMS_ECORRUPT;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
        return b->value_size == 8 && !window ? 0 : MMS_ECORRUPT;
    case MMS_KIND_SCALAR:
        return b->value_size == 8 && !window && b->type >= MMS_TYPE_BOOL &&
                       b->type <= MMS_TYPE_MAX
                   ? 0
                   : MMS_ECORRUPT;
    case MMS_KIND_STRING:
        return !window && b->value_size >= 24 && b->value_size % 8 == 0 &&
                       b->value_size <= 16 + MMS_STRING_MAX_CAP
                   ? 0
                   : MMS_ECORRUPT;
    case MMS_KIND_HISTOGRAM: {
        struct mms_hist_param p;
        memcpy(&p, b->param, sizeof p);
        if (!sharded || mms_hist_nbuckets(p.bits, p.max_exp) != p.nbuckets ||
            !p.nbuckets || p.nchunks != mms__hist_nchunks(p.bits, p.max_exp))
            return MMS_ECORRUPT;
        uint64_t need = mms__hist_cell_bytes(40, p.nchunks);
        if (window) {
            if (p.win_bits < 1 || p.win_bits > p.bits || p.win_off != need ||
                mms_hist_nbuckets(p.win_bits, p.max_exp) != p.win_nbuckets)
                return MMS_ECORRUPT;
            need += (uint64_t)MMS_WINDOW_SLOTS * (24 + 8ull * p.win_nbuckets);
        } else if (p.win_bits || p.win_off || p.win_nbuckets) {
            return MMS_ECORRUPT;
        }
        if (b->cell_size != need)
            return MMS_ECORRUPT;
        rf->bits = p.bits;
        rf->max_exp = p.max_exp;
        rf->win_bits = p.win_bits;
        rf->nbuckets = p.nbuckets;
        rf->nchunks = p.nchunks;
        rf->win_nbuckets = p.win_nbuckets;
        rf->win_off = p.win_off;
        return 0;
    }
    case MMS_KIND_STRUCT: {
        struct mms_struct_param sp;
        memcpy(&sp, b->param, sizeof sp);
        if (window || sp.nmembers == 0 ||
            sp.nmembers > MMS_STRUCT_MAX_MEMBERS ||
            b->value_size != 8 + 8u * sp.nmembers)
            return MMS_ECORRUPT;
        rf->n = sp.nmembers;
        return 0;
    }
    case MMS_KIND_MOVAVG: {
        struct mms_movavg_param mp;
        memcpy(&mp, b->param, sizeof mp);
        if (window || mp.capacity == 0 || mp.capacity > MMS_STRING_MAX_CAP ||
            b->value_size != 16 + 8ull * mp.capacity)
            return MMS_ECORRUPT;
        rf->n = mp.capacity;
        return 0;
    }
    default:
        return 0; /* a kind from a newer minor version: listed, not read */
    }
}

static bool kind_is_sharded(uint8_t kind)
{
    return kind == MMS_KIND_COUNTER || kind == MMS_KIND_HISTOGRAM;
}

static bool kind_known(uint8_t kind)
{
    return kind >= MMS_KIND_COUNTER && kind <= MMS_KIND_SCALAR;
}

/* Where a FIELD's value may be (item 15). */
static int field_place_check(const struct mms_field_block *b, uint32_t size,
                             uint64_t text_end)
{
    bool sharded = b->flags & MMS_DF_SHARDED;
    if (kind_known(b->kind) && sharded != kind_is_sharded(b->kind))
        return MMS_ECORRUPT;
    if (sharded)
        return b->value_off || b->value_size || b->cell_size % 8 ? MMS_ECORRUPT
                                                                 : 0;
    if (b->cell_size || b->value_off % 8 || b->value_off < text_end ||
        !in_bounds(b->value_off, b->value_size, size))
        return MMS_ECORRUPT;
    return 0;
}

/* Room for WANT fields in all. */
static int infos_room(mms_reader *r, size_t want)
{
    if (want <= r->cap)
        return 0;
    size_t ncap = r->cap ? r->cap * 2 : 64;
    while (ncap < want)
        ncap *= 2;
    void *a = realloc(r->infos, ncap * sizeof(struct mms_field_info *));
    if (!a)
        return -ENOMEM;
    r->infos = a;
    void *b = realloc(r->rf, ncap * sizeof *r->rf);
    if (!b)
        return -ENOMEM;
    r->rf = b;
    r->cap = ncap;
    return 0;
}

#define SLAB_SIZE (256u << 10) /* bytes of field infos in a slab, at most */
#define SLAB_FIRST (8u << 10)  /* the first slab's: a small file's all */

/* SIZE zeroed bytes for a field's info, freed with the reader, or NULL:
 * carved from a slab (10,000 fields were 10,000 callocs and frees, and
 * a page fault every 4 KB of them). */
static void *info_alloc(mms_reader *r, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    bool own = size > SLAB_SIZE / 4; /* a large one: memory of its own */
    if (own || !r->slab || r->slab_size - r->slab_used < size) {
        /* Slabs double from SLAB_FIRST to SLAB_SIZE: a small file (the
         * shim's own at exit, folded into its rollup) is not given, and
         * made to map, 256 KB for a few fields. */
        size_t step = r->slab_size ? r->slab_size * 2 : SLAB_FIRST;
        if (step > SLAB_SIZE)
            step = SLAB_SIZE;
        size_t n = own ? size : step;
        void **slot = mms__vec_push(&r->slabs, sizeof *slot);
        uint8_t *p = slot ? calloc(1, n) : NULL;
        if (!p) {
            if (slot)
                r->slabs.n--;
            return NULL;
        }
        *slot = p;
        if (own)
            return p;
        mms__prefault(p, n);
        r->slab = p;
        r->slab_size = n;
        r->slab_used = 0;
    }
    uint8_t *p = r->slab + r->slab_used;
    r->slab_used += size;
    return p;
}

static int take_field(mms_reader *r, uint64_t off, uint32_t size)
{
    struct mms_field_block b;
    if (size < sizeof b)
        return MMS_ECORRUPT;
    memcpy(&b, r->base + off, sizeof b);
    uint64_t text =
        (uint64_t)b.name_len + b.units_len + b.help_len + 3 + b.schema_len;
    if (!index_free(r, b.index) || b.name_len == 0 ||
        b.name_len > MMS_NAME_MAX || b.units_len > MMS_UNITS_MAX ||
        b.help_len > MMS_HELP_MAX || sizeof b + text > size)
        return MMS_ECORRUPT;
    const uint8_t *t = r->base + off + sizeof b;
    char name[MMS_NAME_MAX + 1];
    memcpy(name, t, b.name_len);
    name[b.name_len] = '\0';
    if (mms__name_check_n(name, b.name_len) < 0)
        return MMS_ECORRUPT;
    struct mms__rfield rf = {.kind = b.kind,
                             .flags = b.flags,
                             .type = b.type,
                             .index = b.index,
                             .cell_size = b.cell_size,
                             .value_off = off + b.value_off,
                             .value_size = b.value_size};
    int rc = field_place_check(&b, size, sizeof b + text);
    if (rc == 0)
        rc = field_kind_check(&b, &rf);
    if (rc < 0)
        return rc;
    bool is_struct = b.kind == MMS_KIND_STRUCT;
    size_t need = sizeof(struct mms_field_info) +
                  (is_struct ? rf.n * sizeof(struct mms_member) : 0) +
                  b.schema_len + b.name_len + b.units_len + b.help_len + 3;
    if (infos_room(r, r->nfields + 1) < 0)
        return -ENOMEM;
    struct mms_field_info *fi = info_alloc(r, need);
    if (!fi)
        return -ENOMEM;
    char *p = (char *)(fi + 1);
    if (is_struct) {
        struct mms_member *m = (struct mms_member *)p;
        p += rf.n * sizeof *m;
        const uint8_t *schema = t + b.name_len + b.units_len + b.help_len + 3;
        if (schema_parse(schema, b.schema_len, rf.n, m, p) < 0)
            return MMS_ECORRUPT; /* FI is freed with the reader */
        fi->members = m;
        p += b.schema_len;
    }
    memcpy(p, name, b.name_len + 1u);
    fi->name = p;
    p += b.name_len + 1;
    copy_text(p, t + b.name_len + 1, b.units_len);
    fi->units = p;
    p += b.units_len + 1;
    copy_text(p, t + b.name_len + b.units_len + 2, b.help_len);
    fi->help = p;
    /* 3.1: a COUNTER of a gauge's changes shows as a GAUGE (its cells are
     * still summed as a counter's: rf). */
    fi->kind = b.kind == MMS_KIND_COUNTER && (b.flags & MMS_DF_GAUGE_SUM)
                   ? MMS_KIND_GAUGE
                   : (enum mms_kind)b.kind;
    fi->flags = b.flags;
    fi->value_size = (b.flags & MMS_DF_SHARDED) ? b.cell_size : b.value_size;
    fi->index = b.index;
    fi->hist_bits = rf.bits;
    fi->hist_max_exp = rf.max_exp;
    fi->window_bits = rf.win_bits;
    fi->type = (enum mms_type)(b.kind == MMS_KIND_SCALAR ? b.type : 0);
    fi->n = rf.n;
    if ((rc = cellix_set(r, b.index,
                         (b.flags & MMS_DF_SHARDED) ? rf.cell_size : 0,
                         (uint32_t)r->nfields)) < 0 ||
        (rc = ix_set(r, b.index, MMS__R_FIELD, (uint32_t)r->nfields)) < 0) {
        if (b.index < r->ncellix)
            r->cellix[b.index].block_size = 0;
        return rc; /* FI is freed with the reader */
    }
    r->infos[r->nfields] = fi;
    r->rf[r->nfields] = rf;
    r->nfields++;
    return 1;
}

/* --------------------------------------------------------------- tables */

static uint32_t rmember_size(const struct mms__rmember *m)
{
    switch (m->kind) {
    case MMS_MK_SUM:
    case MMS_MK_SUM_I64:
    case MMS_MK_MAX:
    case MMS_MK_MIN:
        return 8;
    case MMS_MK_MAXARG:
        return 16;
    case MMS_MK_HIST:
        return mms__hist_cell_bytes(32, m->nchunks);
    }
    return 0;
}

static int members_check(struct mms__rtable *t,
                         const struct mms_member_desc *md, char *names)
{
    uint64_t used[MMS_TABLE_MAX_MEMBERS][2];
    for (uint32_t i = 0; i < t->info.nmembers; i++) {
        const struct mms_member_desc *d = &md[i];
        struct mms__rmember *m = &t->m[i];
        if (d->kind < MMS_MK_SUM || d->kind > MMS_MK_MAXARG ||
            !member_bytes_ok((const uint8_t *)d->name, d->name_len) ||
            d->units_len > MMS_MEMBER_UNITS_MAX || d->offset % 8 ||
            d->offset < 8)
            return MMS_ECORRUPT;
        m->kind = d->kind;
        if (d->kind == MMS_MK_HIST) {
            m->nbuckets = mms_hist_nbuckets(d->bits, d->max_exp);
            if (!m->nbuckets)
                return MMS_ECORRUPT;
            m->bits = d->bits;
            m->max_exp = d->max_exp;
            m->nchunks = mms__hist_nchunks(d->bits, d->max_exp);
        }
        m->off = d->offset;
        m->size = rmember_size(m);
        if (d->size != m->size || !in_bounds(m->off, m->size, t->cell_size))
            return MMS_ECORRUPT;
        for (uint32_t k = 0; k < i; k++)
            if (m->off < used[k][1] && used[k][0] < m->off + m->size)
                return MMS_ECORRUPT;
        used[i][0] = m->off;
        used[i][1] = m->off + m->size;
        struct mms_table_member *pm = &t->members[i];
        memcpy(names, d->name, d->name_len);
        names[d->name_len] = '\0';
        pm->name = names;
        names += d->name_len + 1;
        copy_text(names, (const uint8_t *)d->units, d->units_len);
        pm->units = names;
        names += d->units_len + 1;
        pm->kind = (enum mms_member_kind)d->kind;
        pm->hist_bits = d->bits;
        pm->hist_max_exp = d->max_exp;
    }
    return 0;
}

static int take_table(mms_reader *r, uint64_t off, uint32_t size)
{
    struct mms_table_block b;
    if (size < sizeof b)
        return MMS_ECORRUPT;
    memcpy(&b, r->base + off, sizeof b);
    uint64_t fixed = sizeof b + 64ull * b.nmembers;
    if (!index_free(r, b.index) || b.capacity < 2 ||
        b.capacity > MMS_TABLE_CAP_MAX || b.key_type > MMS_KEY_U64S ||
        b.key_max < 1 || b.key_max > MMS_KEY_MAX || b.nmembers < 1 ||
        b.nmembers > MMS_TABLE_MAX_MEMBERS || b.name_len < 1 ||
        b.name_len > MMS_NAME_MAX || b.help_len > MMS_HELP_MAX ||
        b.cell_size > MMS_RECORD_CELL_MAX || b.cell_size % 8 ||
        fixed + b.name_len + b.help_len + 2 > size)
        return MMS_ECORRUPT;
    const uint8_t *text = r->base + off + fixed;
    char name[MMS_NAME_MAX + 1];
    memcpy(name, text, b.name_len);
    name[b.name_len] = '\0';
    if (mms__name_check_n(name, b.name_len) < 0)
        return MMS_ECORRUPT;
    struct mms__rtable *t = calloc(1, sizeof *t);
    char *names =
        t ? malloc((size_t)b.nmembers * 50 + b.name_len + b.help_len + 2)
          : NULL;
    if (!t || !names) {
        free(t);
        free(names);
        return -ENOMEM;
    }
    t->text = names;
    t->off = off;
    t->cell_size = b.cell_size;
    t->info.nmembers = b.nmembers;
    int rc = members_check(
        t, (const struct mms_member_desc *)(r->base + off + sizeof b), names);
    struct mms__rtable **slot = NULL;
    if (rc == 0 &&
        !(slot = mms__vec_push(&r->tables, sizeof(struct mms__rtable *))))
        rc = -ENOMEM;
    if (rc == 0)
        rc = ix_set(r, b.index, MMS__R_TABLE, (uint32_t)(r->tables.n - 1));
    if (rc < 0 || !slot) {
        if (slot)
            r->tables.n--;
        free(names);
        free(t);
        return rc < 0 ? rc : -ENOMEM;
    }
    char *p = names + (size_t)b.nmembers * 50;
    memcpy(p, name, b.name_len + 1u);
    t->info.name = p;
    p += b.name_len + 1;
    copy_text(p, text + b.name_len + 1, b.help_len);
    t->info.help = p;
    t->info.index = b.index;
    t->info.key_type = (enum mms_key_type)b.key_type;
    t->info.capacity = b.capacity;
    t->info.key_max = b.key_max;
    t->info.members = t->members;
    *slot = t;
    return 1;
}

static int take_record(mms_reader *r, uint64_t off, uint32_t size)
{
    struct mms_record_block b;
    if (size < sizeof b)
        return MMS_ECORRUPT;
    memcpy(&b, r->base + off, sizeof b);
    struct mms__rix tx = ix_get(r, b.table);
    if (tx.what != MMS__R_TABLE || !index_free(r, b.index))
        return MMS_ECORRUPT;
    struct mms__rtable *t = ((struct mms__rtable **)r->tables.p)[tx.num];
    if (b.key_len > t->info.key_max || sizeof b + b.key_len > size)
        return MMS_ECORRUPT;
    if (t->nrecs >= t->info.capacity)
        return 0; /* more than the table holds: ignored */
    struct mms__rrecord *rec = mms__vec_push(&r->records, sizeof *rec);
    if (!rec)
        return -ENOMEM;
    *rec = (struct mms__rrecord){.table = tx.num,
                                 .index = b.index,
                                 .key_off = off + sizeof b,
                                 .key_len = b.key_len,
                                 .overflow = b.rflags & MMS_RF_OVERFLOW};
    uint32_t num = (uint32_t)(r->records.n - 1);
    if (t->nrecs == t->caprecs) {
        uint32_t cap = t->caprecs ? t->caprecs * 2 : 16;
        void *a = realloc(t->recs, cap * sizeof *t->recs);
        if (!a) {
            r->records.n--;
            return -ENOMEM;
        }
        t->recs = a;
        t->caprecs = cap;
    }
    int rc = cellix_set(r, b.index, t->cell_size, num | MMS__RC_RECORD);
    if (rc == 0)
        rc = ix_set(r, b.index, MMS__R_RECORD, num);
    if (rc < 0) {
        if (b.index < r->ncellix)
            r->cellix[b.index].block_size = 0;
        r->records.n--;
        return rc;
    }
    t->recs[t->nrecs++] = num;
    return 0;
}

/* ---------------------------------------------------- shards and cells */

static int take_shard(mms_reader *r, uint64_t off, uint32_t size)
{
    if (size < sizeof(struct mms_shard_block))
        return MMS_ECORRUPT;
    uint32_t id = ((const struct mms_shard_block *)(r->base + off))->shard;
    if (id >= mms_load_acquire(&r->live->next_shard) || id >= MMS_SHARD_ID_MAX)
        return MMS_ECORRUPT;
    const struct mms__rshard *s = r->shards.p;
    for (size_t i = 0; i < r->shards.n; i++)
        if (s[i].id == id)
            return MMS_ECORRUPT;
    struct mms__rshard *n = mms__vec_push(&r->shards, sizeof *n);
    if (!n)
        return -ENOMEM;
    *n = (struct mms__rshard){id, off};
    return 0;
}

/* The cell size of index I: 0 with *SIZE set, 1 if I is not known yet,
 * MMS_ECORRUPT if it cannot have cells. */
static inline int index_cell(const mms_reader *r, uint32_t i, uint32_t *size,
                             uint32_t *owner)
{
    struct mms__rix x = ix_get(r, i);
    switch (x.what) {
    case MMS__R_FIELD: {
        const struct mms__rfield *f = &r->rf[x.num];
        *size = (f->flags & MMS_DF_SHARDED) ? f->cell_size : 0;
        *owner = x.num;
        return 0;
    }
    case MMS__R_RECORD: {
        const struct mms__rrecord *rec =
            &((const struct mms__rrecord *)r->records.p)[x.num];
        *size = ((struct mms__rtable **)r->tables.p)[rec->table]->cell_size;
        *owner = x.num | MMS__RC_RECORD;
        return 0;
    }
    case MMS__R_NONE:
        return i < mms_load_acquire(&r->live->next_index) ? 1 : MMS_ECORRUPT;
    default:
        return MMS_ECORRUPT;
    }
}

/* Room for N more items in V (then pushed with no check). */
static int vec_reserve(struct mms__vec *v, size_t elem, size_t n)
{
    if (v->cap - v->n >= n)
        return 0;
    size_t cap = v->cap ? v->cap : 16;
    while (cap - v->n < n)
        cap *= 2;
    void *p = realloc(v->p, cap * elem);
    if (!p)
        return -ENOMEM;
    v->p = p;
    v->cap = cap;
    return 0;
}

#define CELLS_STEP (1u << 20) /* bytes of the cell table mapped at once */

/* Room for N more cells (then pushed with no check), all of shard SHARD:
 * 0, or -ENOMEM. The table's pages are mapped a step ahead of its use,
 * in one call a step rather than a fault a page (and not the half of
 * its last doubling it never uses: 640,000 cells, 5 MB). */
static int cells_room(mms_reader *r, size_t n, uint32_t shard)
{
    const struct mms__rrun *last =
        r->runs.n ? (const struct mms__rrun *)r->runs.p + r->runs.n - 1 : NULL;
    if (!last || last->shard != shard) {
        struct mms__rrun *u = mms__vec_push(&r->runs, sizeof *u);
        if (!u)
            return -ENOMEM;
        *u = (struct mms__rrun){(uint32_t)r->cells.n, shard};
    }
    /* Room for a step more than asked: the step ahead of the cells is
     * mapped in one call. The step is as many as the table holds (at
     * most CELLS_STEP's): a small file's few cells are not given, and
     * made to map, a megabyte (the shim folds its file at exit). */
    size_t step = r->cells.n * sizeof(struct mms__rcell);
    if (step > CELLS_STEP)
        step = CELLS_STEP;
    size_t ahead = n + step / sizeof(struct mms__rcell);
    if (r->cells.cap - r->cells.n < ahead &&
        vec_reserve(&r->cells, sizeof(struct mms__rcell), ahead) < 0)
        return -ENOMEM;
    size_t need = (r->cells.n + n) * sizeof(struct mms__rcell),
           cap = r->cells.cap * sizeof(struct mms__rcell);
    if (r->cells_ready_p != r->cells.p) { /* moved: what it holds is */
        r->cells_ready_p = r->cells.p;
        r->cells_ready = r->cells.n * sizeof(struct mms__rcell);
    }
    if (need > r->cells_ready) {
        size_t to = need + step < cap ? need + step : cap;
        mms__prefault((uint8_t *)r->cells.p + r->cells_ready,
                      to - r->cells_ready);
        r->cells_ready = to;
    }
    return 0;
}

uint32_t mms__reader_cell_shard(const mms_reader *r, size_t k)
{
    const struct mms__rrun *u = r->runs.p;
    size_t lo = 0, hi = r->runs.n; /* the last run from at or before K */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (u[mid].from <= k)
            lo = mid;
        else
            hi = mid;
    }
    return r->runs.n ? u[lo].shard : 0;
}

#define CELLS_CACHED 16 /* indices of a CELLS block looked up only once */

/* A CELLS block of one index (a single field's, a record's: most of
 * them), as take_cells below. */
static int take_cell(mms_reader *r, uint64_t off, uint32_t size, uint32_t shard,
                     uint32_t index)
{
    uint32_t sz, owner;
    int rc = index_cell(r, index, &sz, &owner);
    if (rc != 0)
        return rc;
    if (mms__round_up(sizeof(struct mms_cells_block) + (uint64_t)sz, 8) != size)
        return MMS_ECORRUPT;
    if (!sz)
        return 0;
    if (cells_room(r, 1, shard) < 0)
        return -ENOMEM;
    ((struct mms__rcell *)r->cells.p)[r->cells.n++] = (struct mms__rcell){
        (uint32_t)(off + sizeof(struct mms_cells_block)), owner};
    return 0;
}

/* A CELLS block at OFF in shard SHARD: its cells, or kept aside (1) while
 * one of its indices is not known yet. A file of 10,000 fields and 64
 * threads has 640,000 of them, most of one index: each index is looked
 * up once (up to CELLS_CACHED), and the cells are stored in one go. */
static __attribute__((noinline)) int take_cells_n(mms_reader *r, uint64_t off,
                                                  uint32_t size, uint32_t shard)
{
    struct mms_cells_block b;
    memcpy(&b, r->base + off, sizeof b);
    if (b.count < 1 || b.first >= MMS_INDEX_MAX ||
        b.count > MMS_INDEX_MAX - b.first)
        return MMS_ECORRUPT;
    uint32_t szs[CELLS_CACHED], owners[CELLS_CACHED];
    uint64_t total = 0;
    for (uint32_t k = 0; k < b.count; k++) {
        uint32_t sz, owner;
        int rc = index_cell(r, b.first + k, &sz, &owner);
        if (rc != 0)
            return rc;
        if (k < CELLS_CACHED) {
            szs[k] = sz;
            owners[k] = owner;
        }
        total += sz;
        if (total > size)
            return MMS_ECORRUPT;
    }
    if (mms__round_up(sizeof b + total, 8) != size)
        return MMS_ECORRUPT;
    if (cells_room(r, b.count, shard) < 0)
        return -ENOMEM;
    struct mms__rcell *c = (struct mms__rcell *)r->cells.p + r->cells.n;
    uint32_t at = (uint32_t)sizeof b;
    for (uint32_t k = 0; k < b.count; k++) {
        uint32_t sz = 0, owner = 0;
        if (k < CELLS_CACHED) {
            sz = szs[k];
            owner = owners[k];
        } else {
            index_cell(r, b.first + k, &sz, &owner);
        }
        if (sz)
            *c++ = (struct mms__rcell){(uint32_t)(off + at), owner};
        at += sz;
    }
    r->cells.n = (size_t)(c - (struct mms__rcell *)r->cells.p);
    return 0;
}

static int take_cells(mms_reader *r, uint64_t off, uint32_t size,
                      uint32_t shard)
{
    struct mms_cells_block b;
    if (size < sizeof b)
        return MMS_ECORRUPT;
    memcpy(&b, r->base + off, sizeof b);
    if (b.count == 1 && b.first < MMS_INDEX_MAX)
        return take_cell(r, off, size, shard, b.first);
    return take_cells_n(r, off, size, shard);
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define PREFAULT_MIN (64u << 10) /* 16 pages: less than a call costs */

void mms__prefault(void *p, size_t len)
{
    if (len < PREFAULT_MIN)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t head = (page - (uintptr_t)p % page) % page; /* to a page */
    if (len - head >= page) /* older kernels say EINVAL: faults as before */
        madvise((uint8_t *)p + head, (len - head) / page * page,
                MADV_POPULATE_WRITE);
}

/* Large files: the pages of [heap_off, UPTO) are given back to the page
 * cache (the mapping stays; a later access maps them again) once a
 * sequential pass has moved MMS__RELEASE_STEP past the last release, so that
 * a reader of a 64 MB file does not hold 64 MB resident (unless KEEP).
 * Files smaller than the step never see it. */
void mms__reader_release_pages(mms_reader *r, uint64_t upto, uint64_t *mark,
                               bool keep)
{
    if (upto < *mark + MMS__RELEASE_STEP || upto > r->map_size)
        return;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t lo = (r->h.heap_off + page - 1) / page * page,
             hi = upto / page * page, done = *mark / page * page;
    if (done > lo) /* given back by the pass's last call */
        lo = done;
    if (hi > lo && !keep)
        madvise((void *)(r->base + lo), hi - lo, MADV_DONTNEED);
    /* The pass goes on forward: the next step's pages mapped in one call
     * rather than a fault every 16 pages (older kernels: as before). */
    uint64_t ahead = r->map_size - hi < MMS__RELEASE_STEP ? r->map_size - hi
                                                          : MMS__RELEASE_STEP;
    if (ahead >= page)
        madvise((void *)(r->base + hi), ahead / page * page,
                MADV_POPULATE_READ);
    *mark = upto;
}

/* Pending (and set-aside) blocks: offset, and the shard + 1 of the area
 * they are in (0: the heap). */
struct held {
    uint64_t off;
    uint32_t area_shard;
};

static int hold(struct mms__vec *v, uint64_t off, uint32_t area_shard)
{
    struct held *h = mms__vec_push(v, sizeof *h);
    if (!h)
        return -ENOMEM;
    *h = (struct held){off, area_shard};
    return 0;
}

/* --------------------------------------------------------------- walk */

/* Read the block header at OFF (inside [OFF, LIMIT)): 0 with *B set, 1
 * for an all-zero header (being allocated), or MMS_ECORRUPT. */
static int block_at(const mms_reader *r, uint64_t off, uint64_t limit,
                    struct mms_block *b)
{
    if (off % 8 || off + 8 > limit)
        return MMS_ECORRUPT;
    uint64_t word = mms_load_acquire((const uint64_t *)(r->base + off));
    if (word == 0)
        return 1;
    memcpy(b, &word, sizeof *b);
    if (b->size < 8 || b->size % 8 || !in_bounds(off, b->size, limit) ||
        b->bstate < MMS_BS_PENDING || b->bstate > MMS_BS_DEAD)
        return MMS_ECORRUPT;
    return 0;
}

static int walk_area(mms_reader *r, struct mms__rarea *a);

/* Take the READY block at OFF (AREA_SHARD: 0 in the heap, else the shard
 * + 1 of the area it is in). Returns 0, 1 if a field or table was added,
 * or a negative code. */
static int take_block(mms_reader *r, uint64_t off, const struct mms_block *b,
                      uint32_t area_shard)
{
    if (area_shard) {
        if (b->type == MMS_BLOCK_FILLER || b->type == MMS_BLOCK_CHUNK32)
            return 0; /* a chunk: read through its cell's directory */
        if (b->type != MMS_BLOCK_CELLS)
            return MMS_ECORRUPT;
        int rc = take_cells(r, off, b->size, area_shard - 1);
        return rc == 1 ? hold(&r->orphans, off, area_shard) : rc;
    }
    switch (b->type) {
    case MMS_BLOCK_FIELD:
        return take_field(r, off, b->size);
    case MMS_BLOCK_SHARD:
        return take_shard(r, off, b->size);
    case MMS_BLOCK_AREA: {
        const struct mms_area_block *ab =
            (const struct mms_area_block *)(r->base + off);
        uint32_t shard = ab->shard;
        if (off % MMS_LINE || b->size % MMS_LINE || b->size < sizeof *ab ||
            shard >= mms_load_acquire(&r->live->next_shard))
            return MMS_ECORRUPT;
        struct mms__rarea *a = mms__vec_push(&r->areas, sizeof *a);
        if (!a)
            return -ENOMEM;
        *a = (struct mms__rarea){off, b->size, 0, shard};
        if (r->defer_areas) { /* the first walk after opening: its cells */
            r->areas_due = true;
            return 0;
        }
        return walk_area(r, a);
    }
    case MMS_BLOCK_CELLS:
        return MMS_ECORRUPT; /* only inside an area */
    case MMS_BLOCK_CHUNK:
        return off % MMS_LINE || b->size % MMS_LINE ? MMS_ECORRUPT : 0;
    case MMS_BLOCK_RING: /* read through the cell that names it */
        return off % MMS_LINE || b->size != MMS_RING_BLOCK_SIZE ? MMS_ECORRUPT
                                                                : 0;
    case MMS_BLOCK_TABLE:
        return take_table(r, off, b->size);
    case MMS_BLOCK_RECORD:
        return take_record(r, off, b->size);
    default:
        return 0; /* FILLER, or a type of a newer minor version */
    }
}

/* Walk the heap's blocks [*POS, LIMIT) from *POS. */
static int walk_range(mms_reader *r, uint64_t *pos, uint64_t limit)
{
    int added = 0;
    while (*pos < limit) {
        uint64_t off = *pos;
        struct mms_block b;
        int rc = block_at(r, off, limit, &b);
        if (rc == 1)
            break; /* being allocated: next refresh */
        if (rc < 0)
            return rc;
        if (b.bstate == MMS_BS_PENDING)
            rc = hold(&r->pending, off, 0);
        else if (b.bstate == MMS_BS_READY)
            rc = take_block(r, off, &b, 0);
        if (rc < 0)
            return rc;
        added |= rc == 1;
        *pos += b.size;
        /* Opening steps over the areas: the pages it would map ahead
         * are theirs, read (and released) by the first snapshot. */
        if (!r->defer_areas)
            mms__reader_release(r, *pos, &r->released,
                                r->map_size <= MMS__KEEP_MAPPED);
    }
    return added;
}

/* From BASE + POS on (up to LIMIT): the READY CELLS blocks of one index
 * whose cells the walk knows (cellix), each of that index's block size,
 * taken in one tight loop; returns the position of the first block that
 * is not such (the general path then checks and takes it, or says why
 * not). A 10,000-field, 64-thread file has 640,000 of them. */
static uint32_t cells_fast(mms_reader *r, uint64_t base, uint32_t pos,
                           uint64_t limit, uint32_t shard)
{
    enum { MIN_BLOCK = sizeof(struct mms_cells_block) + 8 };
    if (cells_room(r, (limit - base - pos) / MIN_BLOCK + 1, shard) < 0)
        return pos;
    struct mms__rcell *c = (struct mms__rcell *)r->cells.p + r->cells.n,
                      *c0 = c;
    const struct mms__rcellix *cx = r->cellix;
    uint32_t ncx = r->ncellix;
    const uint8_t *fb = r->base;
    /* Type and state tested as one word. */
    const struct mms_block ready = {MMS_BLOCK_CELLS, MMS_BS_READY, 0};
    /* A block's first 16 bytes, its index, are read only where the
     * area's used bytes hold the smallest block; the block's size is
     * then checked against the smallest (a hostile file's index may say
     * 0: the walk would stand still and write cells past the room made
     * above), its index's and the bytes left. */
    while (limit - (base + pos) >= MIN_BLOCK) {
        uint64_t off = base + pos;
        const uint8_t *p = fb + off;
        uint64_t word = mms_load_acquire((const uint64_t *)p);
        struct mms_block b;
        memcpy(&b, &word, sizeof b);
        uint32_t fc[2]; /* first, count */
        memcpy(fc, p + offsetof(struct mms_cells_block, first), sizeof fc);
        if (memcmp(&b, &ready, 4) != 0 || b.size < MIN_BLOCK || fc[1] != 1 ||
            fc[0] >= ncx || cx[fc[0]].block_size != b.size ||
            limit - off < b.size)
            break;
        *c++ = (struct mms__rcell){
            (uint32_t)(off + sizeof(struct mms_cells_block)), cx[fc[0]].owner};
        pos += b.size;
    }
    r->cells.n += (size_t)(c - c0);
    return pos;
}

/* An area's nested blocks: CELLS, FILLER, CHUNK32 (3.2: a histogram's
 * u32 buckets, read through its cell), or blocks still PENDING (a
 * file of 10,000 fields and 64 threads has 640,000 of them: one loop,
 * no dispatch by the heap's block types). */
static int walk_area(mms_reader *r, struct mms__rarea *a)
{
    const struct mms_area_block *ab =
        (const struct mms_area_block *)(r->base + a->off);
    uint32_t used = mms_load_acquire(&ab->used);
    uint32_t cap = a->size - (uint32_t)sizeof *ab;
    if (used > cap)
        return MMS_ECORRUPT;
    uint64_t base = a->off + sizeof *ab, limit = base + used;
    /* A's vector may move while taking blocks: copy in, copy out. */
    uint32_t pos = a->pos, shard = a->shard;
    size_t ai = (size_t)(a - (struct mms__rarea *)r->areas.p);
    int rc = 0;
    while (rc >= 0 && base + pos < limit) {
        pos = cells_fast(r, base, pos, limit, shard);
        if (base + pos >= limit)
            break;
        uint64_t off = base + pos;
        struct mms_block b;
        rc = block_at(r, off, limit, &b);
        if (rc == 1) {
            rc = 0;
            break; /* being allocated: next refresh */
        }
        if (rc < 0)
            break;
        if (b.bstate == MMS_BS_PENDING)
            rc = hold(&r->pending, off, shard + 1);
        else if (b.type == MMS_BLOCK_CELLS && b.bstate == MMS_BS_READY) {
            rc = take_cells(r, off, b.size, shard);
            if (rc == 1) /* an index not known yet */
                rc = hold(&r->orphans, off, shard + 1);
        } else if (b.type != MMS_BLOCK_FILLER && b.type != MMS_BLOCK_CHUNK32 &&
                   b.bstate == MMS_BS_READY)
            rc = MMS_ECORRUPT;
        pos += b.size;
    }
    ((struct mms__rarea *)r->areas.p)[ai].pos = pos;
    if (rc >= 0 && r->on_cells)
        r->on_cells(r->on_cells_arg); /* while they are in the cache */
    return rc < 0 ? rc : 0;
}

/* Look again at held blocks (pending, or cells of unknown indices). */
static int retry_held(mms_reader *r, struct mms__vec *v, bool cells_only)
{
    size_t n = v->n, kept = 0;
    struct held *h = v->p;
    int added = 0;
    for (size_t i = 0; i < n; i++) {
        struct held x = h[i];
        struct mms_block b;
        uint64_t limit = r->map_size;
        int rc = block_at(r, x.off, limit, &b);
        if (rc != 0)
            return rc < 0 ? rc : MMS_ECORRUPT;
        if (cells_only) {
            rc = take_cells(r, x.off, b.size, x.area_shard - 1);
            if (rc == 1)
                h[kept++] = x;
        } else if (b.bstate == MMS_BS_PENDING) {
            h[kept++] = x;
            continue;
        } else if (b.bstate == MMS_BS_READY) {
            /* Taking it may hold it again (a set-aside CELLS block):
             * that goes to another vector, never this one. */
            rc = take_block(r, x.off, &b, x.area_shard);
        }
        if (rc < 0)
            return rc;
        added |= rc == 1;
        h = v->p;
    }
    /* Blocks held while this ran (a new area's) came after the first N. */
    size_t extra = v->n - n;
    if (extra)
        memmove(h + kept, h + n, extra * sizeof *h);
    v->n = kept + extra;
    return added;
}

/* The file is still as long as its header says (a process of the same
 * user may have truncated it): one fstat, so that a truncation is
 * noticed even when no page the reader touches was cut. */
static int size_check(mms_reader *r)
{
    /* file_size first: a writer extends the file before it publishes the
     * new size, so the file is at least this long unless truncated. */
    uint64_t want = mms_load_acquire(&r->live->file_size);
    struct stat st;
    if (fstat(r->fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size < want || (uint64_t)st.st_size < MMS_HEADER_SIZE) {
        r->broken = true;
        return MMS_ETRUNCATED;
    }
    return 0;
}

int mms__reader_walk(mms_reader *r)
{
    int src = size_check(r);
    if (src < 0)
        return src;
    const struct mms_file_header *m = r->live;
    uint64_t gen = mms_load_acquire(&m->publish_gen);
    uint64_t used = mms_load_acquire(&m->heap_used);
    if (gen == r->last_gen && used == r->last_used && r->pos && !r->areas_due)
        return 0;
    if (used < r->h.heap_off || used % 8 || used > MMS_MAX_FILE_SIZE)
        return MMS_ECORRUPT;
    int rc;
    if (used > r->map_size && (rc = remap(r)) < 0)
        return rc;
    if (used > r->map_size)
        return MMS_ETRUNCATED;
    if (!r->pos)
        r->pos = r->h.heap_off;
    int added = 0;
    if ((rc = retry_held(r, &r->pending, false)) < 0)
        return rc;
    added |= rc;
    for (size_t i = 0; i < r->areas.n; i++)
        if ((rc = walk_area(r, &((struct mms__rarea *)r->areas.p)[i])) < 0)
            return rc;
    if ((rc = walk_range(r, &r->pos, used)) < 0)
        return rc;
    added |= rc;
    if ((rc = retry_held(r, &r->orphans, true)) < 0)
        return rc;
    r->last_gen = gen;
    r->last_used = used;
    if (!r->defer_areas)
        r->areas_due = false; /* every area walked */
    return added;
}

const void *mms__reader_chunk(mms_reader *r, uint32_t off, uint32_t index,
                              uint16_t member, uint16_t chunk, uint32_t shard,
                              uint32_t nb, bool *wide)
{
    /* A CHUNK (u64 buckets, whole cache lines), or in a thread's own
     * shard of a 3.2 file a CHUNK32 (u32 buckets, 8-aligned). */
    if (off % 8 || off < r->h.heap_off ||
        !in_bounds(off, sizeof(struct mms_chunk_block), r->map_size))
        return NULL;
    struct mms_chunk_block cb;
    memcpy(&cb, r->base + off, sizeof cb);
    *wide = cb.b.type != MMS_BLOCK_CHUNK32 || !shard;
    uint32_t size =
        *wide ? mms__chunk_block_size(nb) : mms__chunk32_block_size(nb);
    if ((*wide && off % MMS_LINE) || !in_bounds(off, size, r->map_size) ||
        cb.b.type != (*wide ? MMS_BLOCK_CHUNK : MMS_BLOCK_CHUNK32) ||
        mms_load_acquire(
            &((const struct mms_chunk_block *)(r->base + off))->b.bstate) ==
            MMS_BS_PENDING ||
        cb.b.size != size || cb.index != index || cb.member != member ||
        cb.chunk != chunk || cb.shard != shard || cb.nbuckets != nb)
        return NULL;
    return r->base + off + sizeof cb;
}

const struct mms_window_slot *mms__reader_ring(mms_reader *r, uint64_t off,
                                               uint32_t index, uint32_t shard)
{
    if (off % MMS_LINE || off < r->h.heap_off ||
        !in_bounds(off, MMS_RING_BLOCK_SIZE, r->map_size))
        return NULL;
    struct mms_ring_block rb;
    memcpy(&rb, r->base + off, sizeof rb);
    if (rb.b.type != MMS_BLOCK_RING ||
        mms_load_acquire(
            &((const struct mms_ring_block *)(r->base + off))->b.bstate) !=
            MMS_BS_READY ||
        rb.b.size != MMS_RING_BLOCK_SIZE || rb.index != index ||
        rb.shard != shard)
        return NULL;
    return (const struct mms_window_slot *)(r->base + off + sizeof rb);
}

/* -------------------------------------------------------- open, close */

static int file_check(int fd, struct stat *st)
{
    if (fstat(fd, st) < 0)
        return -errno;
    if (!S_ISREG(st->st_mode))
        return MMS_EFORMAT;
    /* A file others may write, or a hard link to one, is not ours to
     * trust; root may read any user's files. */
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) || st->st_nlink != 1 ||
        (st->st_uid != geteuid() && geteuid() != 0))
        return MMS_EINSECURE;
    if (st->st_size < MMS_HEADER_SIZE)
        return MMS_ETRUNCATED;
    if ((uint64_t)st->st_size > MMS_MAX_FILE_SIZE)
        return MMS_ECORRUPT;
    return 0;
}

static int open_checked(mms_reader *r)
{
    int rc = header_load(r);
    /* A writer grew the file between our fstat and our mmap: it extends
     * the file before it publishes file_size, so another look sees it.
     * A process reading its own file under the shim can grow it again
     * with each look (the look's own fstat and mmap make their fields),
     * hence a few looks; a writer that grows the file faster than we can
     * map it for that long is taken for a lying header. */
    for (int look = 0; look < 8 && rc == 0 && r->h.file_size > r->map_size;
         look++)
        if ((rc = remap(r)) == 0)
            rc = header_load(r);
    if (rc == 0 &&
        (r->h.file_size > r->map_size || r->h.heap_used > r->h.file_size))
        rc = r->h.heap_used > r->h.file_size ? MMS_ECORRUPT : MMS_ETRUNCATED;
    if (rc == 0) {
        /* The field tables at their size (an index for each field, and
         * a FIELD block each in the heap), not copied as they double: a
         * hint (the walk checks the heap, and grows them if need be). */
        uint64_t heap = r->h.heap_used > r->h.heap_off
                            ? r->h.heap_used - r->h.heap_off
                            : 0,
                 most = heap / sizeof(struct mms_field_block),
                 next = mms_load_acquire(&r->live->next_index);
        size_t want = (size_t)(next < most ? next : most);
        if (infos_room(r, want) == 0) /* written at once by the walk */
            mms__prefault(r->rf, want * sizeof *r->rf);
        r->defer_areas = true;
        rc = mms__reader_walk(r);
        r->defer_areas = false;
    }
    return rc < 0 ? rc : 0;
}

int mms_reader_open(mms_reader **out, const char *path)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!path)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ELOOP ? MMS_EINSECURE : -errno;
    struct stat st;
    int rc = file_check(fd, &st);
    void *map = MAP_FAILED;
    if (rc == 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
            rc = -errno;
    }
    mms_reader *r = rc == 0 ? calloc(1, sizeof *r) : NULL;
    if (rc == 0 && !r)
        rc = -ENOMEM;
    if (rc < 0 || !r) {
        if (map != MAP_FAILED)
            munmap(map, (size_t)st.st_size);
        close(fd);
        return rc;
    }
    r->fd = fd;
    r->base = map;
    r->map_size = (size_t)st.st_size;
    r->live = map;
    mms__strlcpy(r->path, path, sizeof r->path);
    MMS__GUARDED(r, rc, open_checked(r));
    if (rc < 0) {
        mms_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

MMS_HIDDEN void mms__snapshot_destroy(struct mms_snapshot *s);

void mms_reader_close(mms_reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->slabs.n; i++)
        free(((void **)r->slabs.p)[i]);
    mms__vec_free(&r->slabs);
    free(r->infos);
    free(r->rf);
    struct mms__rtable **t = r->tables.p;
    for (size_t i = 0; i < r->tables.n; i++) {
        free(t[i]->recs);
        free(t[i]->text);
        free(t[i]);
    }
    for (uint32_t p = 0; p < r->ix_pages; p++)
        free(r->ix[p]);
    free(r->ix);
    free(r->cellix);
    mms__vec_free(&r->tables);
    mms__vec_free(&r->records);
    mms__vec_free(&r->cells);
    mms__vec_free(&r->runs);
    mms__vec_free(&r->shards);
    mms__vec_free(&r->areas);
    mms__vec_free(&r->pending);
    mms__vec_free(&r->orphans);
    mms__snapshot_destroy(r->spare);
    if (r->base)
        munmap((void *)r->base, r->map_size);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

const char *mms_reader_path(const mms_reader *r)
{
    return r->path;
}

int mms_reader_refresh(mms_reader *r)
{
    if (!r)
        return -EINVAL;
    if (r->broken)
        return MMS_ETRUNCATED;
    int rc = 0;
    r->on_cells = NULL;
    MMS__GUARDED(r, rc, mms__reader_walk(r));
    return rc;
}

size_t mms_reader_nfields(const mms_reader *r)
{
    return r->nfields;
}

const struct mms_field_info *mms_reader_field(const mms_reader *r, size_t i)
{
    return i < r->nfields ? r->infos[i] : NULL;
}

/* ----------------------------------------------------------------- info */

static int info_fill(mms_reader *r, struct mms_proc_info *o)
{
    const struct mms_file_header *h = &r->h, *m = r->live;
    memset(o, 0, sizeof *o);
    o->major = h->p.major;
    o->minor = h->p.minor;
    o->state = (enum mms_state)mms_load_acquire(&m->p.state);
    o->flags = h->flags;
    o->pid = h->pid;
    o->ppid = h->ppid;
    o->uid = h->uid;
    o->gid = h->gid;
    o->start_ticks = h->start_ticks;
    o->created_ns = h->created_ns;
    o->finished_ns = mms_load_relaxed(&m->finished_ns);
    o->file_size = mms_load_relaxed(&m->file_size);
    o->heap_used = mms_load_relaxed(&m->heap_used);
    o->layout_gen = mms_load_relaxed(&m->publish_gen);
    o->shard_cap = h->shard_limit;
    o->shards_used = (uint32_t)r->shards.n;
    o->shards_active = mms_load_relaxed(&m->shards_active);
    o->threads_seen = mms_load_relaxed(&m->threads_seen);
    o->threads_shared = mms_load_relaxed(&m->threads_shared);
    o->dropped = mms_load_relaxed(&m->dropped);
    o->next_index = mms_load_relaxed(&m->next_index);
    o->extent_size = h->extent_size;
    o->pidns_dev = h->pidns_dev;
    o->pidns_ino = h->pidns_ino;
    o->nspid_count =
        h->nspid_count > MMS_NSPID_MAX ? MMS_NSPID_MAX : h->nspid_count;
    memcpy(o->nspid, h->nspid, sizeof o->nspid);
    memcpy(o->boot_id, h->boot_id, sizeof o->boot_id);
    size_t cl =
        h->cgroup_len < MMS_CGROUP_LEN ? h->cgroup_len : MMS_CGROUP_LEN - 1;
    copy_text(o->cgroup, (const uint8_t *)h->cgroup, strnlen(h->cgroup, cl));
    /* Rollup fields change in place (the fold protocol): read them now. */
    o->fold_procs = mms_load_relaxed(&m->fold_procs);
    o->fold_first_ns = mms_load_relaxed(&m->fold_first_ns);
    o->fold_last_ns = mms_load_relaxed(&m->fold_last_ns);
    char tmp[MMS_FOLD_NAME_LEN];
    memcpy(tmp, m->group, MMS_GROUP_LEN);
    copy_text(o->group, (const uint8_t *)tmp, strnlen(tmp, MMS_GROUP_LEN));
    memcpy(tmp, m->fold_pending, sizeof tmp);
    copy_text(o->fold_pending, (const uint8_t *)tmp,
              strnlen(tmp, sizeof tmp - 1));
    memcpy(tmp, m->fold_done, sizeof tmp);
    copy_text(o->fold_done, (const uint8_t *)tmp, strnlen(tmp, sizeof tmp - 1));
    copy_text(o->exe, (const uint8_t *)h->exe, strnlen(h->exe, MMS_EXE_LEN));
    copy_text(o->label, (const uint8_t *)h->label,
              strnlen(h->label, MMS_LABEL_LEN));
    copy_text(o->host, (const uint8_t *)h->host,
              strnlen(h->host, MMS_HOST_LEN));
    size_t n =
        h->cmdline_len < MMS_CMDLINE_LEN ? h->cmdline_len : MMS_CMDLINE_LEN - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h->cmdline[i];
        o->cmdline[i] = c == 0 ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    o->cmdline[n] = '\0';
    o->keep = h->keep;
    o->keep_after_ms = h->keep_after_ms;
    return 0;
}

int mms_reader_info(mms_reader *r, struct mms_proc_info *o)
{
    if (!r || !o)
        return -EINVAL;
    if (r->broken)
        return MMS_ETRUNCATED;
    int rc = 0;
    MMS__GUARDED(r, rc, info_fill(r, o));
    return rc;
}
