/* Updates of field values: the hot path. Plain or relaxed atomic stores
 * into the mapped file; no locks and no system calls (a window field reads
 * the vDSO clock).
 *
 * Two update disciplines:
 * - sharded values (counters, histograms): the thread's own cell takes
 *   single-instruction adds; shard 0's cells take atomic adds.
 * - global multi-word values (strings, structs, moving averages): a
 *   seqlock taken with a CAS; a setter that finds it taken drops its value
 *   (as if it had run just before the other) instead of waiting, which
 *   could deadlock a signal handler. */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "update.h"

uint64_t mms_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t window_now_ns(const mms_writer *w)
{
    if (w->clock_ns)
        return w->clock_ns();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Every update checks the handle's kind: a handle of another kind would
 * point the store at another layout (one compare, on a line the update
 * reads anyway). */
#define KIND_OK(f, k) MMS_LIKELY((f) && (f)->kind == (k))

void mms_counter_add(mms_field *f, uint64_t n)
{
    if (!KIND_OK(f, MMS_KIND_COUNTER))
        return;
    bool owned;
    uint8_t *cell = mms__cell_of(f, &owned);
    if (MMS_UNLIKELY(!cell))
        return;
    mms__add_cell((uint64_t *)cell, n, owned);
    if (f->flags & MMS_DF_WINDOW) {
        uint64_t sec = (uint64_t)window_now_ns(f->w) / 1000000000u;
        uint64_t *sum;
        if (f->flags & MMS_DF_RING_BLOCK) {
            sum = mms__ring_slot(f->w, (struct mms_ring_cell *)cell, sec, owned,
                                 f->index);
        } else {
            struct mms_window_slot *s =
                (struct mms_window_slot *)mms__window_slot(cell + 8, sizeof *s,
                                                           sec, 1, owned);
            sum = s ? &s->sum : NULL;
        }
        if (MMS_LIKELY(sum))
            mms__add_cell(sum, n, owned);
    }
}

void mms_counter_inc(mms_field *f)
{
    mms_counter_add(f, 1);
}

static void hist_record(mms_field *f, uint64_t v, int64_t now)
{
    bool owned;
    uint8_t *cell = mms__cell_of(f, &owned);
    if (MMS_LIKELY(cell != NULL))
        mms__hist_record_at(f, cell, owned, v, now, f->bits, f->max_exp);
}

void mms_hist_record(mms_field *f, uint64_t v)
{
    if (!KIND_OK(f, MMS_KIND_HISTOGRAM))
        return;
    hist_record(f, v, (f->flags & MMS_DF_WINDOW) ? window_now_ns(f->w) : 0);
}

void mms_timer_stop(mms_timer *t)
{
    mms_field *f = t->field;
    if (!KIND_OK(f, MMS_KIND_HISTOGRAM))
        return;
    uint64_t end = mms_now_ns();
    uint64_t d = end > t->start_ns ? end - t->start_ns : 0;
    /* Without an injected clock, the window clock is this same one. */
    int64_t now = 0;
    if (f->flags & MMS_DF_WINDOW)
        now = f->w->clock_ns ? f->w->clock_ns() : (int64_t)end;
    hist_record(f, d, now);
}

static inline uint64_t *global_cell(mms_field *f)
{
    return (uint64_t *)f->value;
}

void mms_gauge_set(mms_field *f, int64_t v)
{
    if (KIND_OK(f, MMS_KIND_GAUGE))
        mms_store_relaxed(global_cell(f), (uint64_t)v);
}

void mms_gauge_add(mms_field *f, int64_t delta)
{
    if (KIND_OK(f, MMS_KIND_GAUGE))
        mms_add_relaxed(global_cell(f), (uint64_t)delta);
}

void mms_gauge_set_f64(mms_field *f, double v)
{
    if (!KIND_OK(f, MMS_KIND_GAUGE_F64))
        return;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    mms_store_relaxed(global_cell(f), bits);
}

void mms_gauge_add_f64(mms_field *f, double delta)
{
    if (!KIND_OK(f, MMS_KIND_GAUGE_F64))
        return;
    uint64_t *cell = global_cell(f);
    uint64_t old = mms_load_relaxed(cell), next;
    do {
        double d;
        memcpy(&d, &old, sizeof d);
        d += delta;
        memcpy(&next, &d, sizeof next);
    } while (!__atomic_compare_exchange_n(cell, &old, next, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}

/* Seqlock writer for global cells: 0 with *SEQ set when the lock was
 * taken (seq now odd), -1 when another setter holds it. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static inline int seq_begin(uint64_t *seqp, uint64_t *seq)
{
    *seq = mms_load_relaxed(seqp);
    if ((*seq & 1) || !mms_cas_acq_rel(seqp, seq, *seq + 1))
        return -1;
    mms_fence_release();
    return 0;
}

/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static inline void seq_end(uint64_t *seqp, uint64_t seq)
{
    mms_store_release(seqp, seq + 2);
}

/* Data goes in as 8-byte atomic stores, which readers load the same way
 * (no data race, TSan-clean). */
void mms_string_setn(mms_field *f, const char *s, size_t len)
{
    if (!KIND_OK(f, MMS_KIND_STRING))
        return;
    struct mms_string_cell *c = (struct mms_string_cell *)global_cell(f);
    uint32_t cap = f->value_size - (uint32_t)sizeof *c;
    uint64_t seq;
    if (len > cap)
        len = cap;
    if (seq_begin(&c->seq, &seq) < 0)
        return;
    uint64_t *dst = (uint64_t *)(c + 1);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t word = 0; /* readers copy only len bytes of it */
        memcpy(&word, s + i, len - i < 8 ? len - i : 8);
        mms_seq_store(&dst[i / 8], word);
    }
    mms_seq_store(&c->len, (uint32_t)len);
    seq_end(&c->seq, seq);
}

void mms_string_set(mms_field *f, const char *s)
{
    mms_string_setn(f, s, s ? strlen(s) : 0);
}

void mms_struct_set(mms_field *f, const void *values)
{
    if (!KIND_OK(f, MMS_KIND_STRUCT) || !values)
        return;
    uint64_t *cell = global_cell(f), seq;
    if (seq_begin(&cell[0], &seq) < 0)
        return;
    const uint8_t *src = values;
    for (uint32_t i = 0; i < f->n; i++) {
        uint64_t word;
        memcpy(&word, src + (size_t)8 * i, 8);
        mms_seq_store(&cell[1 + i], word);
    }
    seq_end(&cell[0], seq);
}

void mms_movavg_add(mms_field *f, double v)
{
    if (!KIND_OK(f, MMS_KIND_MOVAVG))
        return;
    uint64_t *cell = global_cell(f), seq;
    if (seq_begin(&cell[0], &seq) < 0)
        return;
    uint64_t n = mms_load_relaxed(&cell[1]), word;
    memcpy(&word, &v, sizeof word);
    mms_seq_store(&cell[2 + n % f->n], word);
    mms_seq_store(&cell[1], n + 1);
    seq_end(&cell[0], seq);
}

/* ------------------------------------------------------------- scalars */

/* Store V (already converted to the field's type) in its width. */
static void scalar_store(mms_field *f, uint64_t bits)
{
    uint8_t *p = f->value;
    switch (f->type) {
    case MMS_TYPE_BOOL:
    case MMS_TYPE_I8:
    case MMS_TYPE_U8:
        mms_store_relaxed(p, (uint8_t)bits);
        break;
    case MMS_TYPE_I16:
    case MMS_TYPE_U16:
        mms_store_relaxed((uint16_t *)p, (uint16_t)bits);
        break;
    case MMS_TYPE_I32:
    case MMS_TYPE_U32:
    case MMS_TYPE_F32:
        mms_store_relaxed((uint32_t *)p, (uint32_t)bits);
        break;
    default:
        mms_store_relaxed((uint64_t *)p, bits);
        break;
    }
}

static bool is_float(uint8_t type)
{
    return type == MMS_TYPE_F32 || type == MMS_TYPE_F64;
}

/* The bits of V converted to type TYPE, as a C cast would. */
static uint64_t scalar_from_f64(uint8_t type, double v)
{
    if (type == MMS_TYPE_F32) {
        float x = (float)v;
        uint32_t b;
        memcpy(&b, &x, sizeof b);
        return b;
    }
    if (type == MMS_TYPE_F64) {
        uint64_t b;
        memcpy(&b, &v, sizeof b);
        return b;
    }
    if (type == MMS_TYPE_BOOL)
        return v != 0;
    if (v != v)
        return 0;
    if (type == MMS_TYPE_U64 || type == MMS_TYPE_U32 || type == MMS_TYPE_U16 ||
        type == MMS_TYPE_U8)
        return v <= 0                        ? 0
               : v >= 18446744073709551615.0 ? UINT64_MAX
                                             : (uint64_t)v;
    return v <= -9223372036854775808.0  ? (uint64_t)INT64_MIN
           : v >= 9223372036854775807.0 ? (uint64_t)INT64_MAX
                                        : (uint64_t)(int64_t)v;
}

static bool scalar_ok(mms_field *f)
{
    return f && (f->kind == MMS_KIND_SCALAR || f->kind == MMS_KIND_GAUGE ||
                 f->kind == MMS_KIND_GAUGE_F64);
}

/* GAUGE is a SCALAR of I64, GAUGE_F64 one of F64. */
static uint8_t type_of(const mms_field *f)
{
    return f->kind == MMS_KIND_GAUGE       ? MMS_TYPE_I64
           : f->kind == MMS_KIND_GAUGE_F64 ? MMS_TYPE_F64
                                           : f->type;
}

void mms_scalar_set_i64(mms_field *f, int64_t v)
{
    if (!scalar_ok(f))
        return;
    uint8_t t = type_of(f);
    if (is_float(t))
        scalar_store(f, scalar_from_f64(t, (double)v));
    else
        scalar_store(f, t == MMS_TYPE_BOOL ? v != 0 : (uint64_t)v);
}

void mms_scalar_set_u64(mms_field *f, uint64_t v)
{
    if (!scalar_ok(f))
        return;
    uint8_t t = type_of(f);
    if (is_float(t))
        scalar_store(f, scalar_from_f64(t, (double)v));
    else
        scalar_store(f, t == MMS_TYPE_BOOL ? v != 0 : v);
}

void mms_scalar_set_f64(mms_field *f, double v)
{
    if (scalar_ok(f))
        scalar_store(f, scalar_from_f64(type_of(f), v));
}

/* Integers: a wrapping atomic add in the type's width (two's complement:
 * the same for signed and unsigned). */
void mms_scalar_add_i64(mms_field *f, int64_t d)
{
    if (!scalar_ok(f))
        return;
    uint8_t *p = f->value;
    switch (type_of(f)) {
    case MMS_TYPE_I8:
    case MMS_TYPE_U8:
        mms_add_relaxed(p, (uint8_t)d);
        break;
    case MMS_TYPE_I16:
    case MMS_TYPE_U16:
        mms_add_relaxed((uint16_t *)p, (uint16_t)d);
        break;
    case MMS_TYPE_I32:
    case MMS_TYPE_U32:
        mms_add_relaxed((uint32_t *)p, (uint32_t)d);
        break;
    case MMS_TYPE_I64:
    case MMS_TYPE_U64:
        mms_add_relaxed((uint64_t *)p, (uint64_t)d);
        break;
    case MMS_TYPE_F32:
    case MMS_TYPE_F64:
        mms_scalar_add_f64(f, (double)d);
        break;
    default: /* BOOL: no add */
        break;
    }
}

void mms_scalar_add_f64(mms_field *f, double d)
{
    if (!scalar_ok(f))
        return;
    uint8_t t = type_of(f);
    if (t == MMS_TYPE_F64) {
        uint64_t *p = (uint64_t *)f->value, old = mms_load_relaxed(p), next;
        do {
            double x;
            memcpy(&x, &old, sizeof x);
            x += d;
            memcpy(&next, &x, sizeof next);
        } while (!__atomic_compare_exchange_n(
            p, &old, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    } else if (t == MMS_TYPE_F32) {
        uint32_t *p = (uint32_t *)f->value, old = mms_load_relaxed(p), next;
        do {
            float x;
            memcpy(&x, &old, sizeof x);
            x += (float)d;
            memcpy(&next, &x, sizeof next);
        } while (!__atomic_compare_exchange_n(
            p, &old, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    } else if (t != MMS_TYPE_BOOL) {
        mms_scalar_add_i64(f, (int64_t)d);
    }
}

#define SCALAR_SETTERS(t, code, ctype)                                         \
    void mms_##t##_set(mms_field *f, ctype v)                                  \
    {                                                                          \
        if (f && f->kind == MMS_KIND_SCALAR && f->type == (code))              \
            SCALAR_SET_##t(f, v);                                              \
    }                                                                          \
    void mms_##t##_add(mms_field *f, ctype d)                                  \
    {                                                                          \
        if (f && f->kind == MMS_KIND_SCALAR && f->type == (code))              \
            SCALAR_ADD_##t(f, d);                                              \
    }
#define SCALAR_SET_bool(f, v) scalar_store(f, (v) ? 1 : 0)
#define SCALAR_ADD_bool(f, d) ((void)(d))
#define SCALAR_SET_INT(f, v) mms_scalar_set_i64(f, (int64_t)(v))
#define SCALAR_ADD_INT(f, d) mms_scalar_add_i64(f, (int64_t)(d))
#define SCALAR_SET_i8 SCALAR_SET_INT
#define SCALAR_SET_i16 SCALAR_SET_INT
#define SCALAR_SET_i32 SCALAR_SET_INT
#define SCALAR_SET_u8 SCALAR_SET_INT
#define SCALAR_SET_u16 SCALAR_SET_INT
#define SCALAR_SET_u32 SCALAR_SET_INT
#define SCALAR_SET_u64(f, v) mms_scalar_set_u64(f, (v))
#define SCALAR_SET_f32(f, v) mms_scalar_set_f64(f, (double)(v))
#define SCALAR_ADD_i8 SCALAR_ADD_INT
#define SCALAR_ADD_i16 SCALAR_ADD_INT
#define SCALAR_ADD_i32 SCALAR_ADD_INT
#define SCALAR_ADD_u8 SCALAR_ADD_INT
#define SCALAR_ADD_u16 SCALAR_ADD_INT
#define SCALAR_ADD_u32 SCALAR_ADD_INT
#define SCALAR_ADD_u64 SCALAR_ADD_INT
#define SCALAR_ADD_f32(f, d) mms_scalar_add_f64(f, (double)(d))
MMS_SCALAR_TYPES(SCALAR_SETTERS)
