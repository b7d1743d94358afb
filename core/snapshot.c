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

#define HIST_FULL_TRIES 4 /* whole-histogram copies before settling */

/* A merged per-second ring of a windowed field. */
struct ring {
    uint64_t sec[MMS_WINDOW_SLOTS];
    uint64_t count[MMS_WINDOW_SLOTS];
    uint64_t sum[MMS_WINDOW_SLOTS];
    uint64_t *buckets; /* HISTOGRAM: [MMS_WINDOW_SLOTS][win_nbuckets] */
};

struct extra {
    struct mms_hist hist;
    struct ring *ring;
    struct mms_member_value *members;
};

struct mms_snapshot {
    size_t n;
    int64_t mono_ns, real_ns;
    const struct mms_field_info **infos;
    const struct mms__rfield *rf; /* copy: the reader's may grow */
    struct mms_value *values;
    struct extra *extra;
    char *strbuf;
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
static void ring_merge(struct ring *r, uint32_t p, uint64_t sec, uint64_t count,
                       uint64_t sum, const uint64_t *b, uint32_t nb)
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

/* One shard's histogram (value words after seq, copied to W) into X. */
static void hist_merge_words(struct extra *x, const struct mms__rfield *f,
                             const uint64_t *w)
{
    struct mms_hist *h = &x->hist;
    uint64_t count = w[0], sum = w[1], min_inv = w[2], max = w[3];
    const uint64_t *b = w + 4;
    if (count) {
        /* min_inv is 0 only while shard 0's first update is in flight. */
        uint64_t min = ~min_inv;
        if (min_inv && (h->count == 0 || min < h->min))
            h->min = min;
        if (h->count == 0 || max > h->max)
            h->max = max;
        h->count += count;
        h->sum += sum;
        for (uint32_t i = 0; i < f->nbuckets; i++)
            h->buckets[i] += b[i];
    }
    if (!(f->flags & MMS_DF_WINDOW))
        return;
    size_t slot_words = 3 + f->win_nbuckets;
    const uint64_t *ring = w + (f->win_off - 8) / 8;
    for (uint32_t p = 0; p < MMS_WINDOW_SLOTS; p++) {
        const uint64_t *s = ring + p * slot_words;
        ring_merge(x->ring, p, s[0], s[1], s[2], s + 3, f->win_nbuckets);
    }
}

/* Read a histogram from one shard. The whole value is tried under its
 * seqlock a few times; a shard written without pause may never give a
 * quiet moment that long, so then count, sum, min and max are read
 * consistently (a short copy) and the buckets as they are: the status
 * becomes MMS_EBUSY, meaning the buckets may miss updates in flight. If
 * even the short copy fails (its writer stopped mid-update, preempted),
 * those four words are read as they are too: off by that one update. */
static int read_hist_shard(const uint8_t *cell, const struct mms__rfield *f,
                           uint64_t *scratch, struct extra *x)
{
    const uint64_t *seq = (const uint64_t *)cell;
    size_t nw = f->size / 8 - 1;
    int rc = seq_copy(seq, scratch, nw, HIST_FULL_TRIES);
    if (rc < 0) {
        size_t from = seq_copy(seq, scratch, 4, MMS_SEQ_RETRIES) < 0 ? 0 : 4;
        for (size_t i = from; i < nw; i++)
            scratch[i] = mms_load_relaxed(&seq[1 + i]);
        rc = MMS_EBUSY;
    }
    hist_merge_words(x, f, scratch);
    return rc;
}

static void counter_ring_shard(const uint8_t *cell, struct ring *r)
{
    const struct mms_window_slot *s = (const void *)(cell + 8);
    for (uint32_t p = 0; p < MMS_WINDOW_SLOTS; p++) {
        for (int t = 0; t < 4; t++) {
            uint64_t sec = mms_load_acquire(&s[p].sec);
            uint64_t sum = mms_load_relaxed(&s[p].sum);
            mms_fence_acquire();
            if (mms_load_relaxed(&s[p].sec) == sec) {
                ring_merge(r, p, sec, sum, sum, NULL, 0);
                break;
            }
        }
    }
}

static int extra_alloc(struct extra *x, const struct mms__rfield *f)
{
    if (f->kind == MMS_KIND_HISTOGRAM) {
        int rc = mms_hist_init(&x->hist, f->bits, f->max_exp);
        if (rc < 0)
            return rc;
    }
    if (f->flags & MMS_DF_WINDOW &&
        (f->kind == MMS_KIND_HISTOGRAM || f->kind == MMS_KIND_COUNTER)) {
        x->ring = calloc(1, sizeof *x->ring);
        if (!x->ring)
            return -ENOMEM;
        if (f->kind == MMS_KIND_HISTOGRAM) {
            x->ring->buckets = calloc(
                (size_t)MMS_WINDOW_SLOTS * f->win_nbuckets, sizeof(uint64_t));
            if (!x->ring->buckets)
                return -ENOMEM;
        }
    }
    if (f->kind == MMS_KIND_STRUCT) {
        x->members = calloc(f->n, sizeof *x->members);
        if (!x->members)
            return -ENOMEM;
    }
    return 0;
}

static mms_snapshot *snapshot_alloc(mms_reader *r, size_t *scratch_words)
{
    size_t n = r->nfields, strbytes = 1;
    *scratch_words = 1;
    for (size_t i = 0; i < n; i++) {
        const struct mms__rfield *f = &r->rf[i];
        if (f->kind == MMS_KIND_STRING)
            strbytes += f->size - sizeof(struct mms_string_cell) + 1;
        if ((f->kind == MMS_KIND_HISTOGRAM || f->kind == MMS_KIND_MOVAVG) &&
            f->size / 8 > *scratch_words)
            *scratch_words = f->size / 8;
    }
    mms_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n = n;
    s->infos = malloc((n ? n : 1) * sizeof *s->infos);
    s->rf = malloc((n ? n : 1) * sizeof *s->rf);
    s->values = calloc(n ? n : 1, sizeof *s->values);
    s->extra = calloc(n ? n : 1, sizeof *s->extra);
    s->strbuf = malloc(strbytes);
    if (!s->infos || !s->rf || !s->values || !s->extra || !s->strbuf)
        goto fail;
    if (n) /* r->rf is NULL until the first field: no memcpy from NULL */
        memcpy((void *)s->rf, r->rf, n * sizeof *s->rf);
    for (size_t i = 0; i < n; i++)
        if (extra_alloc(&s->extra[i], &r->rf[i]) < 0)
            goto fail;
    return s;
fail:
    mms_snapshot_free(s);
    return NULL;
}

int mms_snapshot_take(mms_reader *r, mms_snapshot **out)
{
    *out = NULL;
    int rc = mms_reader_refresh(r);
    if (rc < 0)
        return rc;
    size_t scratch_words;
    mms_snapshot *s = snapshot_alloc(r, &scratch_words);
    uint64_t *scratch = malloc(scratch_words * sizeof *scratch);
    if (!s || !scratch) {
        mms_snapshot_free(s);
        free(scratch);
        return -ENOMEM;
    }
    s->mono_ns = mms__now_ns(CLOCK_MONOTONIC);
    s->real_ns = mms__now_ns(CLOCK_REALTIME);

    size_t n = s->n;
    const struct mms_file_header *h = &r->h;
    const uint32_t *tab = (const uint32_t *)(r->base + h->shtab_off);
    char *sp = s->strbuf;
    for (size_t i = 0; i < n; i++) {
        const struct mms__rfield *f = &s->rf[i];
        struct mms_value *v = &s->values[i];
        struct extra *x = &s->extra[i];
        s->infos[i] = r->infos[i];
        v->kind = (enum mms_kind)f->kind;
        const uint8_t *cell = r->base + f->off;
        switch (f->kind) {
        case MMS_KIND_GAUGE:
        case MMS_KIND_GAUGE_F64:
            v->v.u64 = mms_load_relaxed((const uint64_t *)cell);
            break;
        case MMS_KIND_STRING:
            v->status = read_string(cell, f->size, sp, &v->v.str.len);
            v->v.str.ptr = sp;
            sp += v->v.str.len + 1;
            break;
        case MMS_KIND_STRUCT:
            v->status =
                read_struct((const uint64_t *)cell, f, r->infos[i], x->members);
            v->v.st.n = f->n;
            v->v.st.m = x->members;
            break;
        case MMS_KIND_MOVAVG:
            v->status = read_movavg((const uint64_t *)cell, f, scratch, v);
            break;
        case MMS_KIND_HISTOGRAM:
            v->v.hist = &x->hist;
            break;
        default:
            break;
        }
    }
    /* Sharded values: shard by shard, so each shard's memory is walked
     * once. Only shards handed out have pages behind them. Plain counters
     * (most fields) go through a tight loop over their offsets; the rest
     * (windowed counters, histograms) through the general one. */
    uint32_t *coff = malloc((n ? n : 1) * sizeof *coff);
    uint64_t *csum = calloc(n ? n : 1, sizeof *csum);
    uint32_t *cidx = malloc((n ? n : 1) * sizeof *cidx);
    uint32_t *other = malloc((n ? n : 1) * sizeof *other);
    if (!coff || !csum || !cidx || !other) {
        free(coff);
        free(csum);
        free(cidx);
        free(other);
        free(scratch);
        mms_snapshot_free(s);
        return -ENOMEM;
    }
    size_t nc = 0, no = 0;
    for (size_t i = 0; i < n; i++) {
        const struct mms__rfield *f = &s->rf[i];
        if (f->kind == MMS_KIND_COUNTER && !s->extra[i].ring) {
            coff[nc] = f->off;
            cidx[nc++] = (uint32_t)i;
        } else if (f->kind == MMS_KIND_COUNTER ||
                   f->kind == MMS_KIND_HISTOGRAM) {
            other[no++] = (uint32_t)i;
        }
    }
    for (uint32_t sh = 0; sh < h->shard_cap; sh++) {
        uint32_t st = mms_load_acquire(&tab[sh]);
        if (st != MMS_SHARD_OWNED && st != MMS_SHARD_FREE)
            continue;
        const uint8_t *base =
            r->base + h->shard_off + (uint64_t)sh * h->shard_size;
        for (size_t k = 0; k < nc; k++)
            csum[k] += mms_load_relaxed((const uint64_t *)(base + coff[k]));
        for (size_t k = 0; k < no; k++) {
            size_t i = other[k];
            const struct mms__rfield *f = &s->rf[i];
            if (f->kind == MMS_KIND_COUNTER) {
                s->values[i].v.u64 +=
                    mms_load_relaxed((const uint64_t *)(base + f->off));
                counter_ring_shard(base + f->off, s->extra[i].ring);
            } else if (read_hist_shard(base + f->off, f, scratch,
                                       &s->extra[i]) < 0) {
                s->values[i].status = MMS_EBUSY;
            }
        }
    }
    for (size_t k = 0; k < nc; k++)
        s->values[cidx[k]].v.u64 = csum[k];
    free(coff);
    free(csum);
    free(cidx);
    free(other);
    free(scratch);
    *out = s;
    return 0;
}

void mms_snapshot_free(mms_snapshot *s)
{
    if (!s)
        return;
    if (s->extra) {
        for (size_t i = 0; i < s->n; i++) {
            mms_hist_free(&s->extra[i].hist);
            if (s->extra[i].ring)
                free(s->extra[i].ring->buckets);
            free(s->extra[i].ring);
            free(s->extra[i].members);
        }
    }
    free(s->extra);
    free((void *)s->rf);
    free(s->infos);
    free(s->values);
    free(s->strbuf);
    free(s);
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

long mms_snapshot_find(const mms_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->infos[i]->name, name))
            return (long)i;
    return -1;
}

int64_t mms_snapshot_mono_ns(const mms_snapshot *s)
{
    return s->mono_ns;
}
int64_t mms_snapshot_real_ns(const mms_snapshot *s)
{
    return s->real_ns;
}

/* -------------------------------------------------------------- windows */

int mms_snapshot_window_at(const mms_snapshot *s, size_t i, unsigned seconds,
                           int64_t now_ns, struct mms_window *out)
{
    memset(out, 0, sizeof *out);
    if (i >= s->n || !s->extra[i].ring || seconds == 0 ||
        seconds > MMS_WINDOW_SLOTS - 4 || now_ns < 0)
        return -EINVAL;
    const struct mms__rfield *f = &s->rf[i];
    const struct ring *r = s->extra[i].ring;
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
        const struct mms_hist *all = &s->extra[i].hist;
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
