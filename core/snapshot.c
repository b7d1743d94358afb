/* Snapshots: reading every field of a validated file at one moment.
 * Sharded values are summed over the shards handed out; seqlocked values
 * are copied and checked; histograms and windows are merged over shards.
 * Also the window queries over a snapshot. Works only from the reader's
 * checked view (struct mms__rfield): no file byte is trusted here. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

MMS_HIDDEN void mms__snapshot_destroy(struct mms_snapshot *s);

#define HIST_FULL_TRIES 4 /* whole-histogram copies before settling */

struct extra {
    struct mms_hist hist;
    uint32_t log_head; /* its newest entry in the bucket log, 1-based */
    struct mms__ring *ring;
    struct mms_member_value *members;
};

/* A cell's non-empty bucket in the snapshot's log (hists_build). */
struct hist_entry {
    uint32_t index;
    uint32_t next; /* the field's entry logged before, 1-based; 0: none */
    uint64_t count;
};

struct snap_table {
    const struct mms__rtable *t;
    uint32_t nrecords;
    uint64_t overflow_hits;
    size_t nrec;
    struct mms_record_info *recs;
};

/* One cell's value in its shard (MMS_SNAP_SHARDS). */
struct shard_val {
    uint32_t shard;
    struct mms_shard_value v;
};

struct mms_snapshot {
    mms_reader *r;
    unsigned flags;
    size_t n;
    int64_t mono_ns, real_ns;
    const struct mms_field_info **infos;
    struct mms__rfield *rf; /* copy: the reader's may grow */
    struct mms_value *values;
    struct extra *extra;
    char *strbuf;
    /* Histograms are sparse (struct mms_hist): the cells pass logs each
     * cell's non-empty buckets, chained per field (log_head, next);
     * hists_build adds up each field's chain in ACC, a dense scratch of
     * the widest histogram, and writes its used buckets to USED. A
     * 10,000-field file's dense buckets were 16 MB, each cell's one to
     * three values a cache and TLB miss in them. Both arrays outlive the
     * arena's reuse. */
    struct hist_entry *log;
    size_t nlog, logcap;
    struct mms_hist_bucket *used;
    size_t usedcap;
    uint64_t *acc;
    uint64_t *touched; /* a bit per ACC word added to */
    /* The cells pass's common case, a counter without a ring (and no
     * MMS_SNAP_SHARDS): PLAIN[i] set, its shards summed in SUMS[i]. A
     * 10,000-field file's 640,000 counter cells otherwise read the
     * field's 100-byte rf and write its 40-byte value each (1.4 MB of
     * them streamed through the cache once per shard). */
    uint8_t *plain;
    uint64_t *sums;
    size_t nshards;
    struct mms_shard_info *shards;
    size_t ntables;
    struct snap_table *tables;
    struct mms_record_member *members; /* every record's, in order */
    size_t nmembers;
    uint8_t *keys;
    struct mms_record_info **recmap; /* record number -> its info */
    size_t nrecmap;
    uint32_t *sv_start; /* MMS_SNAP_SHARDS: field i's values in sv */
    struct shard_val *sv;
    /* The cells pass, which may run an area at a time (fused_cells). */
    struct pass {
        size_t done, nsv; /* cells read; per-shard values written */
        size_t run;       /* the reader's run of the last cell read */
        uint64_t mark;    /* the last page release (RELEASE) */
        bool release;
    } pass;
    uint64_t *scratch;
    size_t scratch_words;
    void *arena; /* everything above lives here */
    size_t arena_size;
    bool zeroed; /* the arena is all zero: the first pass_reset skips it */
    /* What the arena was laid out for: a snapshot given back to the same
     * reader, which has not changed shape, is laid out the same again
     * and needs only what its last pass wrote reset (pass_reset), not
     * its whole arena zeroed: the exporter takes a snapshot of each of
     * a hundred files at every scrape. */
    const mms_reader *laid_r;
    struct shape {
        size_t fields, cells, records, tables, shards;
    } laid_shape;
    unsigned laid_flags;
    size_t laid_size;
};

#define SEQ_PATIENCE_NS 1000000 /* see seq_retry */

/* Try a seqlocked read again after T failed attempts? TRIES attempts are
 * always made; with a budget of MMS_SEQ_RETRIES or more, attempts go on
 * until SEQ_PATIENCE_NS have passed (clock read every 1024 tries, *T0 set
 * at the first read). A writer that sets a value in a tight loop leaves a
 * reader rare quiet moments, and MMS_SEQ_RETRIES tries alone last only
 * microseconds. */
static bool seq_retry(int t, int tries, int64_t *t0)
{
    if (t < tries)
        return true;
    if (tries < MMS_SEQ_RETRIES)
        return false;
    if ((t - tries) % 1024)
        return true;
    int64_t now = mms__now_ns(CLOCK_MONOTONIC);
    if (*t0 == 0)
        *t0 = now;
    return now - *t0 < SEQ_PATIENCE_NS;
}

/* Between tries of a seqlocked read: spin at first; then let the writer
 * run, since on a busy machine it may be preempted halfway through its
 * write (only the reader, never the writer, makes this system call). */
static void backoff(int tries)
{
    if (tries >= 16)
        sched_yield();
}

/* Copy NW words after the seqlock word SEQ into DST, consistently: 0, or
 * MMS_EBUSY if the value kept changing (see seq_retry). */
static int seq_copy(const uint64_t *seq, uint64_t *dst, size_t nw, int tries)
{
    int64_t t0 = 0;
    for (int t = 0; seq_retry(t, tries, &t0); t++) {
        backoff(t);
        uint64_t s1 = mms_load_acquire(seq);
        if (s1 & 1)
            continue;
        for (size_t i = 0; i < nw; i++)
            dst[i] = mms_seq_load(&seq[1 + i]);
        mms_fence_acquire();
        if (mms_load_relaxed(seq) == s1)
            return 0;
    }
    return MMS_EBUSY;
}

static int read_string(const uint8_t *cell_p, uint32_t size, char *dst,
                       uint32_t *len_out)
{
    const struct mms_string_cell *c = (const void *)cell_p;
    const uint64_t *src = (const uint64_t *)(c + 1);
    uint32_t cap = size - (uint32_t)sizeof *c;
    int64_t t0 = 0;
    for (int t = 0; seq_retry(t, MMS_SEQ_RETRIES, &t0); t++) {
        backoff(t);
        uint64_t s1 = mms_load_acquire(&c->seq);
        if (s1 & 1)
            continue;
        uint32_t len = mms_seq_load(&c->len);
        if (len > cap)
            len = cap; /* a hostile length is clamped */
        for (uint32_t i = 0; i < len; i += 8) {
            uint64_t word = mms_seq_load(&src[i / 8]);
            memcpy(dst + i, &word, len - i < 8 ? len - i : 8);
        }
        mms_fence_acquire();
        if (mms_load_relaxed(&c->seq) == s1) {
            dst[len] = '\0';
            *len_out = len;
            return 0;
        }
    }
    dst[0] = '\0';
    *len_out = 0;
    return MMS_EBUSY;
}

static int read_struct(const uint64_t *cell, const struct mms__rfield *f,
                       const struct mms_field_info *fi,
                       struct mms_member_value *m)
{
    uint64_t words[MMS_STRUCT_MAX_MEMBERS];
    if (!m || f->n > MMS_STRUCT_MAX_MEMBERS)
        return MMS_ECORRUPT; /* cannot happen: checked when walked */
    int rc = seq_copy(cell, words, f->n, MMS_SEQ_RETRIES);
    for (uint32_t i = 0; i < f->n; i++) {
        m[i].name = fi->members[i].name;
        m[i].type = fi->members[i].type;
        m[i].v.u64 = rc == 0 ? words[i] : 0;
    }
    return rc;
}

static int read_movavg(const uint64_t *cell, const struct mms__rfield *f,
                       uint64_t *scratch, struct mms_value *v)
{
    int rc = seq_copy(cell, scratch, 1 + (size_t)f->n, MMS_SEQ_RETRIES);
    if (rc < 0)
        return rc;
    uint64_t n = scratch[0];
    if (f->n == 0)
        return MMS_ECORRUPT; /* cannot happen: checked when walked */
    uint64_t k = n < f->n ? n : f->n;
    double sum = 0;
    for (uint64_t i = 0; i < k; i++) {
        double d;
        memcpy(&d, &scratch[1 + i], sizeof d);
        sum += d;
    }
    v->v.avg.count = n;
    v->v.avg.window = f->n;
    v->v.avg.mean = k ? sum / (double)k : 0.0;
    if (n)
        memcpy(&v->v.avg.last, &scratch[1 + (n - 1) % f->n], sizeof(double));
    return 0;
}

/* Merge one shard's ring slot into the snapshot's ring: a newer second
 * replaces, the same second adds, an older one is ignored, and so is a
 * slot being reset (top bit set: see mms__window_slot). */
void mms__ring_merge(struct mms__ring *r, uint32_t p, uint64_t sec,
                     uint64_t count, uint64_t sum, const uint64_t *b,
                     uint32_t nb)
{
    if (sec == 0 || (sec >> 63) || sec < r->sec[p])
        return;
    if (sec > r->sec[p]) {
        r->sec[p] = sec;
        r->count[p] = r->sum[p] = 0;
        if (nb)
            memset(r->buckets + (size_t)p * nb, 0, nb * sizeof(uint64_t));
    }
    r->count[p] += count;
    r->sum[p] += sum;
    for (uint32_t i = 0; i < nb; i++)
        r->buckets[(size_t)p * nb + i] += b[i];
}

/* ------------------------------------------------------------- layout */

/* Carve a snapshot's arrays from one buffer: run with base NULL to
 * measure, then with the buffer. */
struct carve {
    uint8_t *base;
    size_t used;
};

static void *carve(struct carve *c, size_t size)
{
    void *p = c->base ? c->base + c->used : NULL;
    c->used += (size + 15) & ~(size_t)15;
    return p;
}

static size_t hist_words(const struct mms__rfield *f)
{
    return f->kind == MMS_KIND_HISTOGRAM ? f->nbuckets : 0;
}

static bool has_ring(const struct mms__rfield *f)
{
    return (f->flags & MMS_DF_WINDOW) &&
           (f->kind == MMS_KIND_HISTOGRAM || f->kind == MMS_KIND_COUNTER);
}

/* Words to copy one histogram cell or record cell. */
static size_t cell_scratch(const struct mms__rfield *f)
{
    return f->kind == MMS_KIND_HISTOGRAM
               ? 4 + ((size_t)f->nchunks << f->bits) + f->cell_size / 8
           : f->kind == MMS_KIND_MOVAVG ? 1 + (size_t)f->n
                                        : 0;
}

static void layout(mms_snapshot *s, mms_reader *r, struct carve *c)
{
    size_t n = s->n, strbytes = 1, sw = 64, nsv = 0;
    s->infos = carve(c, n * sizeof(const struct mms_field_info *));
    s->rf = carve(c, n * sizeof *s->rf);
    s->values = carve(c, n * sizeof *s->values);
    s->extra = carve(c, n * sizeof *s->extra);
    size_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct mms__rfield *f = &r->rf[i];
        struct extra *x = c->base ? &s->extra[i] : NULL;
        if (hist_words(f) > acc)
            acc = hist_words(f);
        if (f->kind == MMS_KIND_STRING)
            strbytes += f->value_size - sizeof(struct mms_string_cell) + 1;
        if (cell_scratch(f) > sw)
            sw = cell_scratch(f);
        if (has_ring(f)) {
            struct mms__ring *rg = carve(c, sizeof *rg);
            uint64_t *b =
                f->kind == MMS_KIND_HISTOGRAM
                    ? carve(c, (size_t)MMS_WINDOW_SLOTS * f->win_nbuckets * 8)
                    : NULL;
            if (x) {
                x->ring = rg;
                rg->buckets = b;
            }
        }
        if (f->kind == MMS_KIND_STRUCT) {
            void *m = carve(c, f->n * sizeof(struct mms_member_value));
            if (x)
                x->members = m;
        }
    }
    s->acc = carve(c, acc * 8);
    s->touched = carve(c, (acc + 63) / 64 * 8);
    s->plain = carve(c, n);
    s->sums = carve(c, n * 8);
    s->strbuf = carve(c, strbytes);
    s->nshards = r->shards.n;
    s->shards = carve(c, s->nshards * sizeof *s->shards);
    s->ntables = r->tables.n;
    s->tables = carve(c, s->ntables * sizeof *s->tables);
    size_t nrec = 0, nmem = 0, keys = 0;
    struct mms__rtable *const *ts = r->tables.p;
    for (size_t t = 0; t < s->ntables; t++) {
        nrec += ts[t]->nrecs;
        nmem += (size_t)ts[t]->nrecs * ts[t]->info.nmembers;
        for (uint32_t k = 0; k < ts[t]->nrecs; k++)
            keys += ((const struct mms__rrecord *)r->records.p)[ts[t]->recs[k]]
                        .key_len +
                    1u;
        for (uint32_t k = 0; k < ts[t]->info.nmembers; k++)
            if (ts[t]->m[k].kind == MMS_MK_HIST &&
                ts[t]->cell_size / 8 + 4 > sw)
                sw = ts[t]->cell_size / 8 + 4;
    }
    if (ts && r->tables.n)
        for (size_t t = 0; t < s->ntables; t++)
            if (ts[t]->cell_size / 8 + 4 > sw)
                sw = ts[t]->cell_size / 8 + 4;
    struct mms_record_info *recs = carve(c, nrec * sizeof *recs);
    s->members = carve(c, nmem * sizeof *s->members);
    s->nmembers = nmem;
    s->keys = carve(c, keys + 1);
    s->nrecmap = r->records.n;
    s->recmap = carve(c, s->nrecmap * sizeof(struct mms_record_info *));
    if (c->base) {
        size_t at = 0, am = 0;
        for (size_t t = 0; t < s->ntables; t++) {
            s->tables[t].t = ts[t];
            s->tables[t].recs = recs + at;
            s->tables[t].nrec = ts[t]->nrecs;
            for (uint32_t k = 0; k < ts[t]->nrecs; k++) {
                recs[at + k].m = s->members + am;
                s->recmap[ts[t]->recs[k]] = &recs[at + k];
                am += ts[t]->info.nmembers;
            }
            at += ts[t]->nrecs;
        }
    }
    if (s->flags & MMS_SNAP_SHARDS) {
        const struct mms__rcell *cells = r->cells.p;
        for (size_t k = 0; k < r->cells.n; k++)
            nsv += !(cells[k].owner & MMS__RC_RECORD);
        s->sv_start = carve(c, (n + 1) * sizeof *s->sv_start);
        s->sv = carve(c, nsv * sizeof *s->sv);
    }
    s->scratch_words = sw;
    s->scratch = carve(c, sw * 8);
}

/* What a snapshot's arrays are sized for. */
static struct shape shape_of(const mms_reader *r)
{
    return (struct shape){r->nfields, r->cells.n, r->records.n, r->tables.n,
                          r->shards.n};
}

static bool same_shape(struct shape a, struct shape b)
{
    return a.fields == b.fields && a.cells == b.cells &&
           a.records == b.records && a.tables == b.tables &&
           a.shards == b.shards;
}

static mms_snapshot *snapshot_alloc(mms_reader *r, unsigned flags)
{
    mms_snapshot probe = {.r = r, .flags = flags, .n = r->nfields};
    struct carve c = {NULL, 0};
    layout(&probe, r, &c);
    size_t need = c.used;
    mms_snapshot *s = r->spare;
    r->spare = NULL;
    if (s && s->arena_size < need) {
        mms__snapshot_destroy(s);
        s = NULL;
    }
    /* A new arena comes zeroed from calloc, its pages populated in one
     * call rather than a fault each. */
    bool fresh = !s;
    if (!s) {
        s = calloc(1, sizeof *s);
        void *a = s ? calloc(1, need ? need : 16) : NULL;
        if (!a) {
            free(s);
            return NULL;
        }
        s->arena = a;
        s->arena_size = need;
        mms__prefault(a, need);
    }
    void *arena = s->arena;
    size_t asize = s->arena_size;
    struct hist_entry *log = s->log;
    size_t logcap = s->logcap;
    struct mms_hist_bucket *used = s->used;
    size_t usedcap = s->usedcap;
    bool same = !fresh && s->laid_r == r && s->laid_flags == flags &&
                s->laid_size == need && same_shape(s->laid_shape, shape_of(r));
    memset(s, 0, sizeof *s);
    s->arena = arena;
    s->arena_size = asize;
    s->log = log;
    s->logcap = logcap;
    s->used = used;
    s->usedcap = usedcap;
    s->r = r;
    s->flags = flags;
    s->n = r->nfields;
    s->laid_r = r;
    s->laid_shape = shape_of(r);
    s->laid_flags = flags;
    s->laid_size = need;
    s->zeroed = !same; /* else pass_reset resets what the last pass wrote */
    if (!fresh && !same)
        memset(arena, 0, need);
    c = (struct carve){arena, 0};
    layout(s, r, &c);
    for (size_t i = 0; i < s->n; i++) {
        const struct mms__rfield *f = &r->rf[i];
        s->infos[i] = r->infos[i];
        s->rf[i] = *f;
        s->values[i].kind = s->infos[i]->kind; /* GAUGE_SUM: GAUGE */
        s->plain[i] = !(flags & MMS_SNAP_SHARDS) &&
                      f->kind == MMS_KIND_COUNTER &&
                      !(f->flags & MMS_DF_WINDOW);
        if (f->kind == MMS_KIND_HISTOGRAM) {
            struct mms_hist *h = &s->extra[i].hist;
            h->bits = f->bits;
            h->max_exp = f->max_exp;
            h->nbuckets = f->nbuckets; /* sparse: buckets NULL */
            s->values[i].v.hist = h;
        }
    }
    return s;
}

void mms__snapshot_destroy(mms_snapshot *s)
{
    if (!s)
        return;
    free(s->arena);
    free(s->log);
    free(s->used);
    free(s);
}

/* -------------------------------------------------------- global values */

static int read_scalar(const uint8_t *p, uint8_t type, struct mms_value *v)
{
    switch (type) {
    case MMS_TYPE_BOOL:
        v->v.u64 = mms_load_relaxed(p) != 0;
        break;
    case MMS_TYPE_U8:
        v->v.u64 = mms_load_relaxed(p);
        break;
    case MMS_TYPE_I8:
        /* NOLINTNEXTLINE(bugprone-signed-char-misuse): an i8, sign kept */
        v->v.i64 = (int8_t)mms_load_relaxed(p);
        break;
    case MMS_TYPE_U16:
        v->v.u64 = mms_load_relaxed((const uint16_t *)p);
        break;
    case MMS_TYPE_I16:
        v->v.i64 = (int16_t)mms_load_relaxed((const uint16_t *)p);
        break;
    case MMS_TYPE_U32:
        v->v.u64 = mms_load_relaxed((const uint32_t *)p);
        break;
    case MMS_TYPE_I32:
        v->v.i64 = (int32_t)mms_load_relaxed((const uint32_t *)p);
        break;
    case MMS_TYPE_F32: {
        uint32_t bits = mms_load_relaxed((const uint32_t *)p);
        float x;
        memcpy(&x, &bits, sizeof x);
        v->v.f64 = x;
        break;
    }
    default: /* U64, I64, F64: the same 8 bytes */
        v->v.u64 = mms_load_relaxed((const uint64_t *)p);
        break;
    }
    return 0;
}

static void read_globals(mms_snapshot *s, mms_reader *r)
{
    char *sp = s->strbuf;
    for (size_t i = 0; i < s->n; i++) {
        const struct mms__rfield *f = &s->rf[i];
        struct mms_value *v = &s->values[i];
        const uint8_t *cell = r->base + f->value_off;
        switch (f->kind) {
        case MMS_KIND_GAUGE:
        case MMS_KIND_GAUGE_F64:
            v->v.u64 = mms_load_relaxed((const uint64_t *)cell);
            break;
        case MMS_KIND_SCALAR:
            read_scalar(cell, f->type, v);
            break;
        case MMS_KIND_STRING:
            v->status = read_string(cell, f->value_size, sp, &v->v.str.len);
            v->v.str.ptr = sp;
            sp += v->v.str.len + 1;
            break;
        case MMS_KIND_STRUCT:
            v->status = read_struct((const uint64_t *)cell, f, s->infos[i],
                                    s->extra[i].members);
            v->v.st.n = f->n;
            v->v.st.m = s->extra[i].members;
            break;
        case MMS_KIND_MOVAVG:
            v->status = read_movavg((const uint64_t *)cell, f, s->scratch, v);
            break;
        default:
            break;
        }
    }
}

/* -------------------------------------------------------- sharded cells */

/* Merge a histogram body W = {count, sum, min_inv, max} into H. */
static void hist_merge_head(struct mms_hist *h, const uint64_t *w)
{
    uint64_t count = w[0], sum = w[1], min_inv = w[2], max = w[3];
    if (!count)
        return;
    /* min_inv is 0 only while shard 0's first update is in flight. */
    uint64_t min = ~min_inv;
    if (min_inv && (h->count == 0 || min < h->min))
        h->min = min;
    if (h->count == 0 || max > h->max)
        h->max = max;
    h->count += count;
    h->sum += sum;
}

/* N words from SRC (a chunk other threads add to: each word one relaxed
 * load) to DST, eight at a time: a 10,000-field file's snapshot copies
 * four million of them. */
static void words_copy(uint64_t *restrict dst, const uint64_t *src, uint32_t n)
{
    uint32_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t a = mms_seq_load(&src[k]), b = mms_seq_load(&src[k + 1]),
                 c = mms_seq_load(&src[k + 2]), d = mms_seq_load(&src[k + 3]),
                 e = mms_seq_load(&src[k + 4]), f = mms_seq_load(&src[k + 5]),
                 g = mms_seq_load(&src[k + 6]), h = mms_seq_load(&src[k + 7]);
        dst[k] = a;
        dst[k + 1] = b;
        dst[k + 2] = c;
        dst[k + 3] = d;
        dst[k + 4] = e;
        dst[k + 5] = f;
        dst[k + 6] = g;
        dst[k + 7] = h;
    }
    for (; k < n; k++)
        dst[k] = mms_seq_load(&src[k]);
}

/* DST += SRC, word by word (private copies: the compiler may vectorise). */
static void words_add(uint64_t *restrict dst, const uint64_t *restrict src,
                      uint32_t n)
{
    uint32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        uint64_t a = src[k], b = src[k + 1], c = src[k + 2], d = src[k + 3];
        dst[k] += a;
        dst[k + 1] += b;
        dst[k + 2] += c;
        dst[k + 3] += d;
    }
    for (; k < n; k++)
        dst[k] += src[k];
}

/* Where a histogram body's chunks go (hist_body_copy). */
struct body_dst {
    mms_reader *r;
    uint32_t nbuckets, index, shard;
    unsigned bits;
    uint16_t member;
    uint64_t *w, present;
};

/* Chunk C at file offset OFF (0: none) into D: 0, or MMS_ECORRUPT. */
static int chunk_copy(struct body_dst *d, uint32_t c, uint32_t off)
{
    if (!off)
        return 0;
    uint32_t nb = mms__chunk_nb(d->nbuckets, d->bits, c);
    bool wide;
    const void *b = mms__reader_chunk(d->r, off, d->index, d->member,
                                      (uint16_t)c, d->shard, nb, &wide);
    if (!b)
        return MMS_ECORRUPT;
    uint64_t *to = d->w + 4 + ((size_t)c << d->bits);
    if (wide) {
        words_copy(to, b, nb);
    } else { /* a CHUNK32's (3.2): the owner adds, one u32 at a time */
        for (uint32_t k = 0; k < nb; k++)
            to[k] = mms_seq_load((const uint32_t *)b + k);
    }
    d->present |= 1ull << c;
    return 0;
}

/* Copy the histogram body at BODY (count, sum, min_inv, max, chunk[]) of
 * INDEX/MEMBER in SHARD to W: W[0..3] the head, W[4..] the dense buckets
 * (only chunks present; PRESENT gets a bit per chunk). 0, or
 * MMS_ECORRUPT for a bad chunk reference. */
static int hist_body_copy(mms_reader *r, const uint64_t *body, uint32_t nchunks,
                          uint32_t nbuckets, unsigned bits, uint32_t index,
                          uint16_t member, uint32_t shard, uint64_t *w,
                          uint64_t *present)
{
    for (int k = 0; k < 4; k++)
        w[k] = mms_seq_load(&body[k]);
    const uint32_t *dir = (const uint32_t *)(body + 4);
    struct body_dst d = {r, nbuckets, index, shard, bits, member, w, 0};
    int rc = 0;
    uint32_t c = 0;
    /* Most of the directory is empty (values use 2-6 chunks of 32, a
     * cell with 3 values or fewer none): sixteen offsets tested at a
     * time, two a 64-bit load (the directory starts 8-aligned, after 5
     * words), each one read again with acquire if a test finds any. */
    for (; c + 16 <= nchunks && rc == 0; c += 16) {
        const uint64_t *d8 = (const uint64_t *)(const void *)(dir + c);
        if (!(mms_load_relaxed(&d8[0]) | mms_load_relaxed(&d8[1]) |
              mms_load_relaxed(&d8[2]) | mms_load_relaxed(&d8[3]) |
              mms_load_relaxed(&d8[4]) | mms_load_relaxed(&d8[5]) |
              mms_load_relaxed(&d8[6]) | mms_load_relaxed(&d8[7])))
            continue;
        for (uint32_t k = c; k < c + 16 && rc == 0; k++)
            rc = chunk_copy(&d, k, mms_load_acquire(&dir[k]));
    }
    for (; c < nchunks && rc == 0; c++)
        rc = chunk_copy(&d, c, mms_load_acquire(&dir[c]));
    *present = d.present;
    return rc ? MMS_ECORRUPT : 0;
}

/* The values of a cell whose directory names no chunk (format 3.1,
 * section 11.6): its first MMS_HIST_CHUNKLESS values, rebuilt exactly
 * from the head W (count, sum, min_inv, max), as up to three (value,
 * times) pairs in V and N: how many. A 3.0 writer records no value
 * without a chunk. */
static int chunkless_values(const uint64_t *w, uint64_t v[3], uint64_t n[3])
{
    uint64_t count = w[0], lo = ~w[2], hi = w[3];
    if (count == 0)
        return 0;
    v[0] = lo;
    n[0] = 1;
    if (count < 2)
        return 1;
    v[1] = hi;
    n[1] = 1;
    if (count < 3)
        return 2;
    /* More than 3 (a signal handler's record that found the seqlock
     * taken): the rest at their mean. */
    v[2] = (w[1] - lo - hi) / (count - 2);
    n[2] = count - 2;
    return 3;
}

/* Whether a cell with no chunk PRESENT holds its values in its head. */
static bool is_chunkless(const mms_reader *r, uint64_t present)
{
    return !present && r->h.p.minor >= 1;
}

/* Add the buckets of W (chunks PRESENT) to the dense H. */
static void hist_add_buckets(const mms_reader *r, struct mms_hist *h,
                             const uint64_t *w, uint64_t present)
{
    if (is_chunkless(r, present)) {
        uint64_t v[3], n[3];
        for (int k = chunkless_values(w, v, n) - 1; k >= 0; k--)
            h->buckets[mms__hist_index(v[k], h->bits, h->max_exp)] += n[k];
        return;
    }
    for (; present; present &= present - 1) {
        uint32_t c = (uint32_t)__builtin_ctzll(present);
        uint32_t first = c << h->bits,
                 nb = mms__chunk_nb(h->nbuckets, h->bits, c);
        words_add(h->buckets + first, w + 4 + first, nb);
    }
}

/* Room in the log for N more entries: 0, or -ENOMEM. */
static int log_room(mms_snapshot *s, size_t n)
{
    if (s->logcap - s->nlog >= n)
        return 0;
    size_t cap = s->logcap ? s->logcap : 256;
    while (cap - s->nlog < n)
        cap *= 2;
    struct hist_entry *l =
        cap < UINT32_MAX ? realloc(s->log, cap * sizeof *l) : NULL;
    if (!l)
        return -ENOMEM;
    /* Written right after: mapped in one call, not a fault a page. */
    mms__prefault(l + s->logcap, (cap - s->logcap) * sizeof *l);
    s->log = l;
    s->logcap = cap;
    return 0;
}

/* Log bucket INDEX += COUNT of field X: 0, or -ENOMEM. */
static int log_bucket(mms_snapshot *s, struct extra *x, uint32_t index,
                      uint64_t count)
{
    if (log_room(s, 1) < 0)
        return -ENOMEM;
    struct hist_entry *e = &s->log[s->nlog++];
    e->index = index;
    e->count = count;
    e->next = x->log_head;
    x->log_head = (uint32_t)s->nlog;
    return 0;
}

/* Log the non-empty buckets of W (chunks PRESENT) for field X of H's
 * geometry: 0, or -ENOMEM. */
static int hist_log(mms_snapshot *s, struct extra *x, const uint64_t *w,
                    uint64_t present)
{
    const struct mms_hist *h = &x->hist;
    int rc = 0;
    if (is_chunkless(s->r, present)) {
        uint64_t v[3], n[3];
        for (int k = chunkless_values(w, v, n) - 1; k >= 0 && rc == 0; k--)
            rc = log_bucket(s, x, mms__hist_index(v[k], h->bits, h->max_exp),
                            n[k]);
        return rc;
    }
    for (; present; present &= present - 1) {
        uint32_t c = (uint32_t)__builtin_ctzll(present);
        uint32_t first = c << h->bits,
                 nb = mms__chunk_nb(h->nbuckets, h->bits, c);
        const uint64_t *b = w + 4 + first;
        if (log_room(s, nb) < 0)
            return -ENOMEM;
        /* In locals: the chunk's non-empty buckets, room made. */
        struct hist_entry *l = s->log;
        size_t at = s->nlog;
        uint32_t head = x->log_head;
        for (uint32_t k = 0; k < nb; k++) {
            if (b[k]) {
                l[at] = (struct hist_entry){first + k, head, b[k]};
                head = (uint32_t)++at;
            }
        }
        s->nlog = at;
        x->log_head = head;
    }
    return 0;
}

/* Each histogram's logged buckets added up into its sparse USED list,
 * index ascending: 0, or -ENOMEM. ACC and TOUCHED are all zero before
 * and after. */
static int hists_build(mms_snapshot *s)
{
    if (s->nlog > s->usedcap) {
        struct mms_hist_bucket *u = realloc(s->used, s->nlog * sizeof *u);
        if (!u)
            return -ENOMEM;
        mms__prefault(u + s->usedcap, (s->nlog - s->usedcap) * sizeof *u);
        s->used = u;
        s->usedcap = s->nlog;
    }
    if (!s->nlog || !s->used)
        return 0; /* nothing logged: every histogram empty (pass_reset) */
    size_t at = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->rf[i].kind != MMS_KIND_HISTOGRAM)
            continue;
        struct extra *x = &s->extra[i];
        struct mms_hist *h = &x->hist;
        /* ACC's buckets added to get their bit in TOUCHED: the used ones
         * are then found a bit at a time, in index order. */
        uint32_t e = s->log ? x->log_head : 0; /* 0: none logged */
        for (; e && e <= s->nlog; e = s->log[e - 1].next) {
            const struct hist_entry *l = &s->log[e - 1];
            s->acc[l->index] += l->count;
            s->touched[l->index / 64] |= 1ull << (l->index % 64);
        }
        x->log_head = 0;
        size_t start = at;
        for (uint32_t wd = 0; wd < (h->nbuckets + 63) / 64; wd++) {
            uint64_t bits = s->touched[wd];
            s->touched[wd] = 0;
            for (; bits; bits &= bits - 1) {
                uint32_t k = wd * 64 + (uint32_t)__builtin_ctzll(bits);
                if (s->acc[k]) {
                    s->used[at].index = k;
                    s->used[at++].count = s->acc[k];
                    s->acc[k] = 0;
                }
            }
        }
        h->used = s->used ? s->used + start : NULL;
        h->nused = (uint32_t)(at - start);
    }
    return 0;
}

static void hist_ring_merge(struct mms__ring *rg, const struct mms__rfield *f,
                            const uint64_t *ring)
{
    size_t slot_words = 3 + f->win_nbuckets;
    for (uint32_t p = 0; p < MMS_WINDOW_SLOTS; p++) {
        const uint64_t *sl = ring + p * slot_words;
        mms__ring_merge(rg, p, sl[0], sl[1], sl[2], sl + 3, f->win_nbuckets);
    }
}

/* Read one histogram cell (section 11.6) into X (and SV). */
static int read_hist_cell(mms_snapshot *s, const struct mms__rfield *f,
                          const uint8_t *cell, uint32_t shard, struct extra *x,
                          struct mms_shard_value *sv)
{
    mms_reader *r = s->r;
    const uint64_t *seq = (const uint64_t *)cell;
    uint64_t *w = s->scratch, present = 0;
    size_t ring_words = f->win_off ? (f->cell_size - f->win_off) / 8 : 0;
    uint64_t *ring = w + 4 + ((size_t)f->nchunks << f->bits);
    int rc = MMS_EBUSY;
    for (int t = 0; t < HIST_FULL_TRIES && rc == MMS_EBUSY; t++) {
        backoff(t);
        uint64_t s1 = mms_load_acquire(seq);
        if (s1 & 1)
            continue;
        int crc = hist_body_copy(r, seq + 1, f->nchunks, f->nbuckets, f->bits,
                                 f->index, 0, shard, w, &present);
        const uint64_t *src = (const uint64_t *)(cell + f->win_off);
        for (size_t k = 0; k < ring_words; k++)
            ring[k] = mms_seq_load(&src[k]);
        mms_fence_acquire();
        if (mms_load_relaxed(seq) == s1)
            rc = crc;
    }
    if (rc == MMS_ECORRUPT)
        return rc;
    if (rc == MMS_EBUSY) {
        /* Never still long enough: the head consistently, the buckets as
         * they are (they may miss updates in flight). */
        uint64_t head[4];
        if (seq_copy(seq, head, 4, MMS_SEQ_RETRIES) < 0)
            for (int k = 0; k < 4; k++)
                head[k] = mms_load_relaxed(&seq[1 + k]);
        if (hist_body_copy(r, seq + 1, f->nchunks, f->nbuckets, f->bits,
                           f->index, 0, shard, w, &present) < 0)
            return MMS_ECORRUPT;
        memcpy(w, head, sizeof head);
    }
    hist_merge_head(&x->hist, w);
    if (hist_log(s, x, w, present) < 0)
        return -ENOMEM;
    if (x->ring)
        hist_ring_merge(x->ring, f, ring);
    if (sv) {
        sv->count = w[0];
        sv->sum = w[1];
        sv->min = w[0] && w[2] ? ~w[2] : 0;
        sv->max = w[0] ? w[3] : 0;
    }
    return rc;
}

/* Merge slot SL into R at position P (re-read while its second moves). */
static void counter_slot(const struct mms_window_slot *sl, uint32_t p,
                         struct mms__ring *r)
{
    for (int t = 0; t < 4; t++) {
        uint64_t sec = mms_load_acquire(&sl->sec);
        uint64_t sum = mms_load_relaxed(&sl->sum);
        mms_fence_acquire();
        if (mms_load_relaxed(&sl->sec) == sec) {
            mms__ring_merge(r, p, sec, sum, sum, NULL, 0);
            return;
        }
    }
}

/* A windowed counter's cell into R: its ring (8.9); 3.2 (RING_BLOCK): its
 * own slots, each at its second's place, then its RING block's, if any. */
static void counter_ring_cell(mms_reader *rd, const struct mms__rfield *f,
                              uint32_t shard, const uint8_t *cell,
                              struct mms__ring *r)
{
    const struct mms_window_slot *sl = (const void *)(cell + 8);
    if (f->flags & MMS_DF_RING_BLOCK) {
        const struct mms_ring_cell *rc = (const void *)cell;
        for (uint32_t k = 0; k < (f->cell_size - 16) / 16; k++) {
            uint64_t sec = mms_load_acquire(&rc->own[k].sec);
            counter_slot(&rc->own[k], (uint32_t)(sec % MMS_WINDOW_SLOTS), r);
        }
        uint64_t off = mms_load_acquire(&rc->ring);
        sl = off ? mms__reader_ring(rd, off, f->index, shard) : NULL;
        if (!sl)
            return;
    }
    for (uint32_t p = 0; p < MMS_WINDOW_SLOTS; p++)
        counter_slot(&sl[p], p, r);
}

/* ---------------------------------------------------------- records */

static void member_merge(const struct mms__rmember *m,
                         struct mms_record_member *out, const uint64_t *w)
{
    switch (m->kind) {
    case MMS_MK_SUM:
        out->v.u64 += w[0];
        break;
    case MMS_MK_SUM_I64:
        out->v.i64 = (int64_t)((uint64_t)out->v.i64 + w[0]);
        break;
    case MMS_MK_MAX:
        if (w[0] > out->v.u64)
            out->v.u64 = w[0];
        break;
    case MMS_MK_MIN:
        if (w[0] && (!out->v.u64 || ~w[0] < out->v.u64))
            out->v.u64 = ~w[0];
        break;
    case MMS_MK_MAXARG:
        if (w[0] > out->v.u64 || (!out->v.u64 && !out->arg)) {
            out->v.u64 = w[0];
            out->arg = w[1];
        }
        break;
    case MMS_MK_HIST: {
        struct mms_hist h = {.count = out->count,
                             .sum = out->sum,
                             .min = out->min,
                             .max = out->max};
        hist_merge_head(&h, w);
        out->count = h.count;
        out->sum = h.sum;
        out->min = h.min;
        out->max = h.max;
        break;
    }
    }
}

/* Read one record cell under its seqlock into M (the record's members). */
static int read_record_cell(mms_snapshot *s, const struct mms__rtable *t,
                            const uint8_t *cell, struct mms_record_member *m)
{
    const uint64_t *seq = (const uint64_t *)cell;
    size_t nw = t->cell_size / 8 - 1;
    uint64_t *w = s->scratch;
    int rc = seq_copy(seq, w, nw, HIST_FULL_TRIES);
    if (rc < 0)
        for (size_t k = 0; k < nw; k++)
            w[k] = mms_load_relaxed(&seq[1 + k]);
    for (uint32_t k = 0; k < t->info.nmembers; k++)
        member_merge(&t->m[k], &m[k], w + (t->m[k].off - 8) / 8);
    return rc;
}

/* ------------------------------------------------------------ the pass */

static void pass_reset(mms_snapshot *s)
{
    s->nlog = 0;
    if (s->zeroed) { /* the first pass over a zeroed arena */
        s->zeroed = false;
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct extra *x = &s->extra[i];
        struct mms_value *v = &s->values[i];
        v->status = 0;
        if (s->rf[i].kind == MMS_KIND_HISTOGRAM) {
            struct mms_hist *h = &x->hist;
            h->count = h->sum = h->min = h->max = 0;
            h->nused = 0;
            h->used = NULL;
            x->log_head = 0;
        } else {
            memset(&v->v, 0, sizeof v->v);
        }
        /* The arena is zeroed in snapshot_alloc (the analyzer misses it).
         * NOLINTBEGIN(clang-analyzer-core.uninitialized.Assign) */
        struct mms__ring *rg = x->ring;
        /* NOLINTEND(clang-analyzer-core.uninitialized.Assign) */
        if (rg) {
            /* A slot's buckets are zeroed by mms__ring_merge when the slot
             * takes a second, and read only for a slot holding one. */
            uint64_t *b = rg->buckets;
            memset(rg, 0, sizeof *rg);
            rg->buckets = b;
        }
    }
    memset(s->members, 0, s->nmembers * sizeof *s->members);
    memset(s->shards, 0, s->nshards * sizeof *s->shards);
    for (size_t t = 0; t < s->ntables; t++)
        for (size_t k = 0; k < s->tables[t].nrec; k++)
            s->tables[t].recs[k].status = 0;
}

/* The start of a pass over the cells: the snapshot's time, its values
 * reset. The reader's first snapshot gives a large file's pages back
 * behind it (RELEASE: a one-shot reader's RSS); later ones keep them: a
 * reader that takes snapshot after snapshot would map them all again
 * each time. */
static void pass_begin(mms_snapshot *s, mms_reader *r, bool release)
{
    s->mono_ns = mms__now_ns(CLOCK_MONOTONIC);
    s->real_ns = mms__now_ns(CLOCK_REALTIME);
    pass_reset(s);
    const struct mms__rcell *cells = r->cells.p;
    if (s->flags & MMS_SNAP_SHARDS) {
        /* CSR: count cells per field first. */
        memset(s->sv_start, 0, (s->n + 1) * sizeof *s->sv_start);
        for (size_t k = 0; k < r->cells.n; k++)
            if (!(cells[k].owner & MMS__RC_RECORD) && cells[k].owner < s->n)
                s->sv_start[cells[k].owner + 1]++;
        for (size_t i = 0; i < s->n; i++)
            s->sv_start[i + 1] += s->sv_start[i];
    }
    memset(s->sums, 0, s->n * sizeof *s->sums);
    s->pass = (struct pass){0, 0, 0, 0, release};
}

/* Read the reader's cells [pass.done, END). */
static void pass_cells(mms_snapshot *s, mms_reader *r, size_t end)
{
    const struct mms__rcell *cells = r->cells.p;
    /* In locals: the stores to the sums would make them reloaded. */
    const uint8_t *base = r->base;
    const size_t nf = s->n;
    const uint8_t *plain = s->plain;
    uint64_t *sums = s->sums;
    struct pass *ps = &s->pass;
    const struct mms__rrun *runs = r->runs.p;
    const size_t nruns = r->runs.n;
    size_t run = ps->run;
    /* The next offset at which pages are given back (none: never). */
    uint64_t next = ps->release ? ps->mark + MMS__RELEASE_STEP : UINT64_MAX;
    for (size_t k = ps->done; k < end; k++) {
        const struct mms__rcell *c = &cells[k];
        const uint8_t *cell = base + c->off;
        if (c->off >= next) {
            mms__reader_release(r, c->off, &ps->mark, false);
            next = ps->mark + MMS__RELEASE_STEP;
        }
        /* Most cells first: a counter's without a ring (a record's
         * owner has its top bit set: never below NF). */
        uint32_t o = c->owner;
        if (o < nf && plain[o]) {
            sums[o] += mms_load_relaxed((const uint64_t *)cell);
            continue;
        }
        if (c->owner & MMS__RC_RECORD) {
            uint32_t num = c->owner & ~MMS__RC_RECORD;
            struct mms_record_info *ri =
                num < s->nrecmap ? s->recmap[num] : NULL;
            if (!ri)
                continue;
            const struct mms__rrecord *rec =
                &((const struct mms__rrecord *)
                      r->records.p)[c->owner & ~MMS__RC_RECORD];
            if (read_record_cell(s, s->tables[rec->table].t, cell,
                                 (struct mms_record_member *)ri->m) < 0)
                ri->status = MMS_EBUSY;
            continue;
        }
        if (c->owner >= s->n)
            continue; /* a field added after this snapshot's layout */
        while (run + 1 < nruns && runs[run + 1].from <= k)
            run++; /* the runs are in cell order, as the pass is */
        uint32_t shard = runs[run].shard;
        const struct mms__rfield *f = &s->rf[c->owner];
        struct extra *x = &s->extra[c->owner];
        struct mms_value *v = &s->values[c->owner];
        struct mms_shard_value *sv = NULL;
        if (s->flags & MMS_SNAP_SHARDS) {
            /* Filled in order: the next free place of this field. */
            struct shard_val *e = &s->sv[ps->nsv++];
            memset(e, 0, sizeof *e);
            e->shard = shard;
            sv = &e->v;
        }
        if (f->kind == MMS_KIND_COUNTER) {
            uint64_t u = mms_load_relaxed((const uint64_t *)cell);
            v->v.u64 += u;
            if (sv)
                sv->u64 = u;
            if (x->ring)
                counter_ring_cell(r, f, shard, cell, x->ring);
        } else if (f->kind == MMS_KIND_HISTOGRAM) {
            int rc = read_hist_cell(s, f, cell, shard, x, sv);
            if (rc < 0 && v->status != MMS_ECORRUPT)
                v->status = rc;
        }
    }
    if (end > ps->done)
        ps->done = end;
    ps->run = run;
}

static void pass_end(mms_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->plain[i])
            s->values[i].v.u64 = s->sums[i];
}

/* One read of every cell. */
static void cells_pass(mms_snapshot *s, mms_reader *r, bool release)
{
    pass_begin(s, r, release);
    pass_cells(s, r, r->cells.n);
    pass_end(s);
}

/* The reader's on_cells: the cells an area's walk just added. */
static void fused_cells(void *arg)
{
    mms_snapshot *s = arg;
    pass_cells(s, s->r, s->r->cells.n);
}

/* MMS_SNAP_SHARDS: the cells' values were appended in walk order; sort
 * them by field (stable) into the places sv_start gives. */
static void shard_values_sort(mms_snapshot *s, mms_reader *r)
{
    if (!(s->flags & MMS_SNAP_SHARDS))
        return;
    const struct mms__rcell *cells = r->cells.p;
    size_t total = s->sv_start[s->n];
    struct shard_val *tmp = malloc((total ? total : 1) * sizeof *tmp);
    uint32_t *at = calloc(s->n + 1, sizeof *at);
    if (!tmp || !at) {
        free(tmp);
        free(at);
        return;
    }
    size_t j = 0;
    for (size_t k = 0; k < r->cells.n; k++) {
        uint32_t o = cells[k].owner;
        if ((o & MMS__RC_RECORD) || o >= s->n)
            continue;
        tmp[s->sv_start[o] + at[o]++] = s->sv[j++];
    }
    memcpy(s->sv, tmp, total * sizeof *tmp);
    free(tmp);
    free(at);
}

static void read_shards(mms_snapshot *s, mms_reader *r)
{
    const struct mms__rshard *rs = r->shards.p;
    for (size_t k = 0; k < s->nshards; k++) {
        const struct mms_shard_block *b =
            (const struct mms_shard_block *)(r->base + rs[k].off);
        struct mms_shard_info *o = &s->shards[k];
        o->shard = rs[k].id;
        o->state = (enum mms_shard_state)mms_load_acquire(&b->sstate);
        for (int t = 0; t < MMS_SEQ_RETRIES; t++) {
            uint32_t s1 = mms_load_acquire(&b->seq);
            if (s1 & 1)
                continue;
            uint64_t name[2] = {mms_seq_load((const uint64_t *)&b->name[0]),
                                mms_seq_load((const uint64_t *)&b->name[8])};
            o->tid = mms_seq_load(&b->tid);
            o->generation = mms_seq_load(&b->generation);
            o->start_ns = mms_seq_load(&b->start_ns);
            o->end_ns = mms_seq_load(&b->end_ns);
            mms_fence_acquire();
            if (mms_load_relaxed(&b->seq) != s1)
                continue;
            char raw[16];
            memcpy(raw, name, sizeof raw);
            size_t len = strnlen(raw, sizeof raw);
            for (size_t i = 0; i < len; i++)
                o->name[i] = (raw[i] < 0x20 || raw[i] == 0x7f) ? '?' : raw[i];
            o->name[len] = '\0';
            break;
        }
    }
}

static void read_tables(mms_snapshot *s, mms_reader *r)
{
    struct mms__rtable *const *ts = r->tables.p;
    const struct mms__rrecord *recs = r->records.p;
    uint8_t *kp = s->keys;
    for (size_t t = 0; t < s->ntables; t++) {
        struct snap_table *st = &s->tables[t];
        const struct mms_table_block *b =
            (const struct mms_table_block *)(r->base + ts[t]->off);
        st->nrecords = mms_load_relaxed(&b->nrecords);
        st->overflow_hits = mms_load_relaxed(&b->overflow_hits);
        for (size_t k = 0; k < st->nrec; k++) {
            const struct mms__rrecord *rec = &recs[ts[t]->recs[k]];
            struct mms_record_info *ri = &st->recs[k];
            memcpy(kp, r->base + rec->key_off, rec->key_len);
            kp[rec->key_len] = 0;
            ri->key = kp;
            ri->key_len = rec->key_len;
            ri->index = rec->index;
            ri->overflow = rec->overflow;
            kp += rec->key_len + 1;
        }
    }
}

/* A snapshot of R (in *S, laid out for its shape *SIZED: both set
 * here) on the reader's first walk of its areas, their cells read as
 * each area is walked: 1 if read so, 0 if the walk found new fields or
 * records (then nothing is read: the caller lays out and reads as
 * usual), or a negative code. */
static int fused_walk(mms_reader *r, unsigned flags, bool first,
                      mms_snapshot **sp, struct shape *sized)
{
    mms_snapshot *s = *sp;
    struct shape before = shape_of(r);
    if (!s) {
        if (!(s = snapshot_alloc(r, flags)))
            return -ENOMEM;
        *sp = s;
        r->spare = s; /* freed if a SIGBUS ends this (see take) */
    }
    *sized = before;
    pass_begin(s, r, first);
    r->on_cells = fused_cells;
    r->on_cells_arg = s;
    int rc = mms__reader_walk(r);
    r->on_cells = NULL;
    if (rc < 0)
        return rc;
    struct shape now = shape_of(r);
    if (now.fields != before.fields || now.records != before.records ||
        now.tables != before.tables || now.shards != before.shards)
        return 0;
    pass_cells(s, r, r->cells.n); /* cells the walk took outside an area */
    pass_end(s);
    /* The cells were not known when S was laid out: only MMS_SNAP_SHARDS
     * sizes anything by them. */
    *sized = now;
    s->laid_shape = now;
    return 1;
}

/* Take a snapshot. The walk runs inside the retry loop, after retire_end
 * is loaded: a thread's exit may move values into a shard-0 cell that is
 * new, and a walk from before the move would not know that cell. */
static int take(mms_reader *r, unsigned flags, mms_snapshot **out)
{
    const struct mms_file_header *m = r->live;
    mms_snapshot *s = NULL;
    struct shape sized = {0, 0, 0, 0, 0};
    int t;
    bool first = !r->snapped;
    r->snapped = true;
    r->on_cells = NULL;
    for (t = 0; t < MMS_RETIRE_TRIES; t++) {
        uint64_t e = mms_load_acquire(&m->retire_end);
        /* The first walk of the areas reads their cells as it goes. */
        bool fused = t == 0 && r->areas_due && !(flags & MMS_SNAP_SHARDS);
        int rc = fused ? fused_walk(r, flags, first, &s, &sized)
                       : mms__reader_walk(r);
        if (rc < 0)
            return rc;
        fused = fused && rc == 1;
        m = r->live; /* the walk may have mapped the file again */
        if (fused) {
            /* read as the areas were walked */
        } else if (!s || !same_shape(sized, shape_of(r))) {
            if (s) { /* back to the reader, whose spare it becomes */
                r->spare = NULL;
                mms_snapshot_free(s);
            }
            if (!(s = snapshot_alloc(r, flags)))
                return -ENOMEM;
            sized = shape_of(r);
            /* Freed if a SIGBUS ends this: the reader keeps it as its
             * spare. */
            r->spare = s;
        }
        if (!fused)
            cells_pass(s, r, first);
        mms_fence_acquire();
        if (mms_load_relaxed(&m->retire_begin) == e)
            break;
        sched_yield();
    }
    if (t == MMS_RETIRE_TRIES)
        for (size_t i = 0; i < s->n; i++)
            if (s->rf[i].flags & MMS_DF_SHARDED)
                s->values[i].status = MMS_EBUSY;
    if (hists_build(s) < 0)
        return -ENOMEM; /* the reader keeps S as its spare */
    read_globals(s, r);
    read_shards(s, r);
    read_tables(s, r);
    shard_values_sort(s, r);
    r->spare = NULL;
    *out = s;
    return 0;
}

int mms_snapshot_take_flags(mms_reader *r, unsigned flags, mms_snapshot **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!r)
        return -EINVAL;
    if (r->broken)
        return MMS_ETRUNCATED;
    int rc = 0;
    MMS__GUARDED(r, rc, take(r, flags, out));
    return rc;
}

int mms_snapshot_take(mms_reader *r, mms_snapshot **out)
{
    return mms_snapshot_take_flags(r, 0, out);
}

void mms_snapshot_free(mms_snapshot *s)
{
    if (!s)
        return;
    mms_reader *r = s->r;
    /* Keep its buffer for the reader's next snapshot (no allocation
     * churn for a reader that takes one snapshot after another). */
    if (r && !r->spare) {
        r->spare = s;
        return;
    }
    mms__snapshot_destroy(s);
}

size_t mms_snapshot_nfields(const mms_snapshot *s)
{
    return s->n;
}

const struct mms_field_info *mms_snapshot_field(const mms_snapshot *s, size_t i)
{
    return i < s->n ? s->infos[i] : NULL;
}

const struct mms_value *mms_snapshot_value(const mms_snapshot *s, size_t i)
{
    return i < s->n ? &s->values[i] : NULL;
}

int mms_snapshot_find(const mms_snapshot *s, const char *name, size_t *i)
{
    if (!s || !name || !i)
        return -EINVAL;
    for (size_t k = 0; k < s->n; k++) {
        if (!strcmp(s->infos[k]->name, name)) {
            *i = k;
            return 0;
        }
    }
    return MMS_ENOENT;
}

int64_t mms_snapshot_mono_ns(const mms_snapshot *s)
{
    return s->mono_ns;
}

int64_t mms_snapshot_real_ns(const mms_snapshot *s)
{
    return s->real_ns;
}

/* ------------------------------------------------------------ shards */

size_t mms_snapshot_nshards(const mms_snapshot *s)
{
    return s->nshards;
}

int mms_snapshot_shard(const mms_snapshot *s, size_t k,
                       struct mms_shard_info *out)
{
    if (!s || !out || k >= s->nshards)
        return -EINVAL;
    *out = s->shards[k];
    return 0;
}

int mms_snapshot_shard_value(const mms_snapshot *s, size_t k, size_t i,
                             struct mms_shard_value *out)
{
    if (!s || !out || k >= s->nshards || i >= s->n ||
        !(s->flags & MMS_SNAP_SHARDS) || !(s->rf[i].flags & MMS_DF_SHARDED))
        return -EINVAL;
    memset(out, 0, sizeof *out);
    uint32_t id = s->shards[k].shard;
    bool any = false;
    for (uint32_t j = s->sv_start[i]; j < s->sv_start[i + 1]; j++) {
        const struct shard_val *e = &s->sv[j];
        if (e->shard != id)
            continue;
        out->u64 += e->v.u64;
        if (e->v.count && (!any || e->v.min < out->min))
            out->min = e->v.min;
        if (e->v.count && e->v.max > out->max)
            out->max = e->v.max;
        any |= e->v.count != 0;
        out->count += e->v.count;
        out->sum += e->v.sum;
    }
    return 0;
}

/* ------------------------------------------------------------ tables */

size_t mms_snapshot_ntables(const mms_snapshot *s)
{
    return s->ntables;
}

const struct mms_table_info *mms_snapshot_table(const mms_snapshot *s, size_t t)
{
    return t < s->ntables ? &s->tables[t].t->info : NULL;
}

int mms_snapshot_table_counts(const mms_snapshot *s, size_t t,
                              uint32_t *nrecords, uint64_t *overflow_hits)
{
    if (!s || t >= s->ntables)
        return -EINVAL;
    if (nrecords)
        *nrecords = s->tables[t].nrecords;
    if (overflow_hits)
        *overflow_hits = s->tables[t].overflow_hits;
    return 0;
}

size_t mms_snapshot_nrecords(const mms_snapshot *s, size_t t)
{
    return t < s->ntables ? s->tables[t].nrec : 0;
}

const struct mms_record_info *mms_snapshot_record(const mms_snapshot *s,
                                                  size_t t, size_t r)
{
    if (t >= s->ntables || r >= s->tables[t].nrec)
        return NULL;
    return &s->tables[t].recs[r];
}

static int record_hist(const mms_snapshot *s, size_t t, size_t rn,
                       unsigned member, struct mms_hist *out)
{
    mms_reader *r = s->r;
    const struct mms__rtable *tb = s->tables[t].t;
    const struct mms__rmember *m = &tb->m[member];
    uint32_t num = tb->recs[rn];
    const struct mms__rcell *cells = r->cells.p;
    size_t words = 4 + ((size_t)m->nchunks << m->bits);
    uint64_t *w = malloc(words * 8);
    if (!w)
        return -ENOMEM;
    for (size_t k = 0; k < r->cells.n; k++) {
        if (cells[k].owner != (num | MMS__RC_RECORD))
            continue;
        const uint8_t *cell = r->base + cells[k].off;
        const uint64_t *seq = (const uint64_t *)cell;
        uint64_t present = 0;
        int rc = MMS_EBUSY;
        for (int tr = 0; tr < MMS_SEQ_RETRIES && rc == MMS_EBUSY; tr++) {
            uint64_t s1 = mms_load_acquire(seq);
            if (s1 & 1)
                continue;
            int crc = hist_body_copy(
                r, (const uint64_t *)(cell + m->off), m->nchunks, m->nbuckets,
                m->bits,
                tb->recs
                    ? ((const struct mms__rrecord *)r->records.p)[num].index
                    : 0,
                (uint16_t)member, mms__reader_cell_shard(r, k), w, &present);
            mms_fence_acquire();
            if (mms_load_relaxed(seq) == s1)
                rc = crc;
        }
        if (rc == MMS_ECORRUPT) {
            free(w);
            return rc;
        }
        hist_merge_head(out, w);
        (void)hist_add_buckets(r, out, w, present);
    }
    free(w);
    return 0;
}

int mms_snapshot_record_hist(const mms_snapshot *s, size_t t, size_t r,
                             unsigned member, struct mms_hist *out)
{
    if (!s || !out || t >= s->ntables || r >= s->tables[t].nrec ||
        member >= s->tables[t].t->info.nmembers ||
        s->tables[t].t->m[member].kind != MMS_MK_HIST)
        return -EINVAL;
    const struct mms__rmember *m = &s->tables[t].t->m[member];
    int rc = mms_hist_init(out, m->bits, m->max_exp);
    if (rc < 0)
        return rc;
    if (s->r->broken)
        return MMS_ETRUNCATED;
    MMS__GUARDED(s->r, rc, record_hist(s, t, r, member, out));
    return rc;
}

/* -------------------------------------------------------------- windows */

int mms__ring_window(const struct mms__ring *r, const struct mms__rfield *f,
                     const struct mms_hist *all, unsigned seconds,
                     int64_t now_ns, struct mms_window *out)
{
    memset(out, 0, sizeof *out);
    if (!r || seconds == 0 || seconds > MMS_WINDOW_SLOTS - 4 || now_ns < 0)
        return -EINVAL;
    bool hist = f->kind == MMS_KIND_HISTOGRAM;
    if (hist) {
        int rc = mms_hist_init(&out->hist, f->win_bits, f->max_exp);
        if (rc < 0)
            return rc;
    }
    uint64_t now_sec = (uint64_t)now_ns / 1000000000u;
    out->seconds = seconds;
    /* A clock younger than the window: from its start (no wrap-around). */
    uint64_t first = now_sec > seconds ? now_sec - seconds : 0;
    for (uint64_t sec = first; sec < now_sec; sec++) {
        uint32_t p = (uint32_t)(sec % MMS_WINDOW_SLOTS);
        if (sec == 0 || r->sec[p] != sec)
            continue;
        out->count += r->count[p];
        out->sum += r->sum[p];
        if (hist)
            for (uint32_t b = 0; b < f->win_nbuckets; b++)
                out->hist.buckets[b] +=
                    r->buckets[(size_t)p * f->win_nbuckets + b];
    }
    out->rate = (double)out->count / seconds;
    if (hist) {
        out->hist.count = out->count;
        out->hist.sum = out->sum;
        out->mean = out->count ? (double)out->sum / (double)out->count : 0;
        /* min and max of the window: bounded by its non-empty buckets and
         * by the field's all-time min and max. */
        for (uint32_t b = 0; b < f->win_nbuckets && out->count; b++) {
            if (out->hist.buckets[b]) {
                uint64_t lo = mms_hist_bucket_low(b, f->win_bits, f->max_exp);
                out->hist.min = lo > all->min ? lo : all->min;
                break;
            }
        }
        for (uint32_t b = f->win_nbuckets; b-- > 0 && out->count;) {
            if (out->hist.buckets[b]) {
                uint64_t hi = mms_hist_bucket_high(b, f->win_bits, f->max_exp);
                out->hist.max = hi < all->max ? hi : all->max;
                break;
            }
        }
    }
    return 0;
}

int mms_snapshot_window_at(const mms_snapshot *s, size_t i, unsigned seconds,
                           int64_t now_ns, struct mms_window *out)
{
    memset(out, 0, sizeof *out);
    if (i >= s->n || !s->extra[i].ring)
        return -EINVAL;
    return mms__ring_window(s->extra[i].ring, &s->rf[i], &s->extra[i].hist,
                            seconds, now_ns, out);
}

const struct mms__ring *mms__snapshot_ring(const mms_snapshot *s, size_t i)
{
    return i < s->n ? s->extra[i].ring : NULL;
}

const struct mms__rfield *mms__snapshot_rfield(const mms_snapshot *s, size_t i)
{
    return i < s->n ? &s->rf[i] : NULL;
}

/* The bytes of unsharded field I as the file holds them now, seqlocked
 * ones copied consistently (their seq stored as 0). */
static int raw_copy(const mms_snapshot *s, size_t i, uint8_t *dst)
{
    const struct mms__rfield *f = &s->rf[i];
    const uint8_t *src = s->r->base + f->value_off;
    memset(dst, 0, f->value_size);
    switch (f->kind) {
    case MMS_KIND_STRING:
    case MMS_KIND_STRUCT:
    case MMS_KIND_MOVAVG: {
        int rc = seq_copy((const uint64_t *)src, (uint64_t *)dst + 1,
                          f->value_size / 8 - 1, MMS_SEQ_RETRIES);
        if (f->kind == MMS_KIND_STRING) {
            struct mms_string_cell *c = (struct mms_string_cell *)dst;
            if (c->len > f->value_size - sizeof *c)
                c->len = f->value_size - (uint32_t)sizeof *c;
        }
        return rc;
    }
    default: {
        uint64_t v = mms_load_relaxed((const uint64_t *)src);
        memcpy(dst, &v, sizeof v);
        return 0;
    }
    }
}

int mms__snapshot_raw(const mms_snapshot *s, size_t i, uint8_t *dst)
{
    if (i >= s->n || (s->rf[i].flags & MMS_DF_SHARDED) ||
        s->rf[i].value_size < 8 || s->rf[i].value_size % 8)
        return -EINVAL;
    if (s->r->broken)
        return MMS_ETRUNCATED;
    int rc = 0;
    MMS__GUARDED(s->r, rc, raw_copy(s, i, dst));
    return rc;
}

int mms_snapshot_window(const mms_snapshot *s, size_t i, unsigned seconds,
                        struct mms_window *out)
{
    return mms_snapshot_window_at(s, i, seconds, s->mono_ns, out);
}

void mms_window_free(struct mms_window *w)
{
    if (w)
        mms_hist_free(&w->hist);
}
