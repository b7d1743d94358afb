/* The core's internal API for code that links it statically and updates
 * fields from its own hot path: the preload shim. Not public, not part of
 * the file format. The shim uses nothing of the core beyond this header,
 * <mmstats/mmstats.h> and core/atomic.h: no writer or header struct, no
 * shard table, no TLS of the core.
 *
 * The contract:
 * - A thread asks once for its cell of a field (mms__cell: a slow path,
 *   which may claim a shard) and caches the answer in its own TLS. Later
 *   updates are adds on that cell: single-instruction adds when the cell
 *   is owned, atomic adds when not (mms__cell_add).
 * - A cached owned cell stays this thread's until the writer's thread-exit
 *   callback (mms__writer_on_thread_exit) runs in this thread: from then
 *   on the thread must forget its cells. Later updates by the dying thread
 *   (glibc frees after the destructors) get a shared cell, which must not
 *   be cached.
 * - Fields of one mms__group_add call that are COUNTERs sit next to each
 *   other in every cell: mms__cell(first).p + 8 * k is the k-th.
 * - A thread's first use of a field (a cell), a histogram's first value
 *   in a chunk, a new record take space prepared ahead in the file: no
 *   system call. When that space runs low, the same slow path extends the
 *   file (at most once per 16 KiB of file, never after
 *   mms__writer_no_syscalls); a thread's first cell also sets its tid and
 *   name: from the caller's identity callback (mms__writer_on_identity),
 *   else from the kernel (gettid, prctl) unless system calls are off. An update
 * that finds no space is dropped and counted in the header's "dropped".
 * - After fork (a file of its own for the child), a thread's cached cells
 *   stay valid: the child's file is mapped where the parent's was and the
 *   forking thread keeps its shard.
 * - None of these functions changes errno. */
#ifndef MMS_HOTPATH_H
#define MMS_HOTPATH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <mmstats/mmstats.h>

#include "atomic.h"
#include "hist_index.h"

#define MMS_HIDDEN_API __attribute__((visibility("hidden")))

/* A thread's value of a sharded field (COUNTER or HISTOGRAM). */
struct mms_cell {
    uint8_t *p; /* NULL: no cell could be had; the update is dropped */
    bool owned; /* only this thread writes it */
};

/* This thread's cell of sharded field F; {NULL, false} if F is NULL, not
 * sharded, or no room is left (the update is then counted as dropped). */
MMS_HIDDEN_API struct mms_cell mms__cell(mms_field *f);

/* F's shared cell, the one every thread may add to (never owned): claims
 * nothing (no shard), makes no system call (shard 0's cell of F is taken
 * from prepared space on its first use). For updates that must not claim
 * a cell: glibc frees a dying thread's buffers after every thread-exit
 * callback, also in threads that never recorded anything, and a cell
 * claimed then would never be handed back. {NULL, false} as for
 * mms__cell. */
MMS_HIDDEN_API struct mms_cell mms__cell_shared(mms_field *f);

/* Add N to the u64 at byte OFF of cell C. */
static inline void mms__cell_add(struct mms_cell c, uint32_t off, uint64_t n)
{
    uint64_t *p = (uint64_t *)(c.p + off);
    if (__builtin_expect(c.owned, 1))
        mms_add_owned_u64(p, n);
    else
        mms_add_relaxed(p, n);
}

/* Raise the u64 at byte OFF of cell C to at least V (a MAX member). */
static inline void mms__cell_max(struct mms_cell c, uint32_t off, uint64_t v)
{
    uint64_t *p = (uint64_t *)(c.p + off);
    uint64_t cur = mms_load_relaxed(p);
    while (v > cur && !__atomic_compare_exchange_n(
                          p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* The out-of-line part of mms__cell_window_add: the slot of second SEC
 * reset first (it holds an older second), then N added; or the update
 * left out of the window (the slot holds a newer second, or its reset is
 * held up). Never changes errno; no system call. */
MMS_HIDDEN_API void mms__cell_window_reset_add(struct mms_cell c, uint32_t off,
                                               uint64_t sec, uint64_t n);

/* Add N to second SEC (CLOCK_MONOTONIC ns / 10^9) of the window ring at
 * byte OFF of cell C: the ring of a COUNTER with MMS_DF_WINDOW sits 8
 * bytes into its cell (docs/format.md section 8.9). Warm: one load and
 * compare, one add. */
static inline void mms__cell_window_add(struct mms_cell c, uint32_t off,
                                        uint64_t sec, uint64_t n)
{
    uint32_t slot = off + (uint32_t)(sec % MMS_WINDOW_SLOTS) * 16u;
    if (__builtin_expect(mms_load_acquire((uint64_t *)(c.p + slot)) == sec, 1))
        mms__cell_add(c, slot + 8, n);
    else
        mms__cell_window_reset_add(c, off, sec, n);
}

/* 3.2: the sum word of second SEC's window slot of windowed counter F
 * (with MMS_DF_RING_BLOCK) through its cell C, or NULL (the update left
 * out of the window). The out-of-line way to mms__ring_slot (update.h)
 * for the preload shim, whose warm path caches the word. */
MMS_HIDDEN_API uint64_t *mms__cell_ring_slot(mms_field *f, struct mms_cell c,
                                             uint64_t sec);

/* Record V in histogram F through this thread's cell C of it (C from
 * mms__cell(F)). Out of line; inside, the bucket's chunk is found inline
 * and only a chunk's first value allocates it (out of line). */
MMS_HIDDEN_API void mms__hist_record_cell(mms_field *f, struct mms_cell c,
                                          uint64_t v);

/* What an inline record into a histogram's cell (mms__hist_record_owned)
 * needs of the field, read once by mms__hist_view: its geometry, and
 * where the writer maps the file's extents (each entry of that table is
 * set once and never moves; a fork child's file is mapped at the same
 * places). */
struct mms_hist_view {
    uint8_t **ext;      /* the writer's extents, by offset >> ext_shift */
    uint8_t *ext0;      /* ext[0], set before any histogram is made */
    uint32_t ext0_size; /* the extent's size: offsets below it are in ext0 */
    uint64_t ext_mask;  /* offset within an extent */
    uint32_t ext_shift;
    union { /* the geometry, GEOM both bytes: one compare */
        struct {
            uint8_t bits, max_exp;
        };
        uint16_t geom;
    };
    mms_field *f; /* for what the inline record leaves to the core */
};
/* GEOM of a view whose geometry is BITS and MAX_EXP. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MMS_HIST_GEOM(bits, max_exp) ((uint16_t)((bits) | (max_exp) << 8))
#else
#define MMS_HIST_GEOM(bits, max_exp) ((uint16_t)((bits) << 8 | (max_exp)))
#endif

/* Fill V for F: false (V untouched) if F is not a histogram without
 * windows (the inline record keeps no window). */
MMS_HIDDEN_API bool mms__hist_view(mms_field *f, struct mms_hist_view *v);

/* Raise the u64 at P to at least V (one thread's cell: a signal handler
 * may raise it too, hence the CAS; rarely stores once warm). */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
static inline void mms__raise_u64(uint64_t *p, uint64_t v)
{
    uint64_t cur = mms_load_relaxed(p);
    if (__builtin_expect(v > cur, 0)) /* the loop (its address) only then */
        while (v > cur &&
               !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
            ;
}

/* Where a value goes in the histogram HV describes, through CELL, a cell
 * this thread owns (from mms__cell, owned): its bucket (mms__hist_index),
 * the bucket's address from the cell's directory, and the cell's
 * seqlock word in *SEQ. NULL when the core must record it
 * (mms__hist_record_cell): the chunk's first value (which allocates it),
 * or the seqlock odd (a signal handler
 * inside an update of this very cell). Reads only: the caller may still
 * give up before it writes anything (mms__hist_add_owned). */
static inline __attribute__((always_inline)) uint32_t *
mms__hist_bucket_owned(const struct mms_hist_view *hv, const uint8_t *cell,
                       uint64_t v, uint64_t *seq, const unsigned bits,
                       const unsigned max_exp)
{
    /* mms__hist_index's bucket as its chunk and its place in the chunk:
     * (S << bits) + Q with Q = V >> S below 2^(bits + 1). */
    uint32_t c, i;
    if (__builtin_expect((v >> max_exp) != 0, 0)) {
        c = max_exp - bits + 1, i = 0; /* the overflow bucket */
    } else {
        unsigned s =
            (unsigned)(63 ^ __builtin_clzll(v | ((2ull << bits) - 1))) - bits;
        uint32_t q = (uint32_t)(v >> s);
        c = s + (q >> bits), i = q & ((1u << bits) - 1);
    }
    const uint32_t *dir =
        (const uint32_t *)(cell + sizeof(struct mms_hist_cell));
    uint32_t off = mms_load_acquire(&dir[c]);
    *seq = mms_load_relaxed((const uint64_t *)cell);
    if (__builtin_expect(!off || (*seq & 1), 0))
        return NULL;
    /* Most chunks are in the first extent: its address is the view's. */
    uint8_t *chunk = (__builtin_expect(off < hv->ext0_size, 1)
                          ? hv->ext0 + off
                          : mms_load_relaxed(&hv->ext[off >> hv->ext_shift]) +
                                (off & hv->ext_mask)) +
                     sizeof(struct mms_chunk_block);
    return (uint32_t *)chunk + i; /* a CHUNK32 block's (format 3.2) */
}

/* The u32 BUCKET of histogram F (in this thread's cell CELL) wrapped
 * past 2^32 - 1: carry 2^32 into shard 0 (mms__chunk_carry). Out of
 * line; the caller holds CELL's seqlock. */
MMS_HIDDEN_API void mms__hist_carry(mms_field *f, const uint8_t *cell,
                                    uint32_t *bucket);

/* Add 1 to BUCKET, a u32 of this thread's cell CELL of histogram F, and
 * carry when it wraps. On x86-64 the add and a branch on its carry flag:
 * the call to the carry (mms__hist_carry_stub, which keeps every
 * register) is inside the asm, so the hot path holds no register across
 * it. */
static inline __attribute__((always_inline)) void
/* NOLINTNEXTLINE(readability-non-const-parameter): written by the asm */
mms__hist_bucket_inc(mms_field *const *f, const uint8_t *cell, uint32_t *bucket)
{
#if defined(__x86_64__) && !defined(MMS_NO_ASM) && !MMS_TSAN
    /* Below the red zone; the arguments pushed, then popped into the
     * argument registers (whose values are pushed first). */
    __asm__ volatile("addl $1, %0\n\t"
                     "jnc 1f\n\t"
                     "lea -128(%%rsp), %%rsp\n\t"
                     "push %%rdi\n\tpush %%rsi\n\tpush %%rdx\n\t"
                     "push %3\n\tpush %2\n\tpush %1\n\t"
                     "pop %%rdi\n\tpop %%rsi\n\tpop %%rdx\n\t"
                     "call mms__hist_carry_stub\n\t"
                     "pop %%rdx\n\tpop %%rsi\n\tpop %%rdi\n\t"
                     "lea 128(%%rsp), %%rsp\n"
                     "1:"
                     : "+m"(*bucket)
                     : "m"(*f), "r"(cell), "r"(bucket)
                     : "cc", "memory");
#else
    if (__builtin_expect(mms_add_owned_u32(bucket, 1), 0))
        mms__hist_carry(*f, cell, bucket);
#endif
}

/* Count V in BUCKET (from mms__hist_bucket_owned, whose seqlock word was
 * S) of this thread's cell CELL of the histogram HV describes: count,
 * sum, bucket, max and min under the cell's seqlock. */
static inline __attribute__((always_inline)) void
mms__hist_add_owned(const struct mms_hist_view *hv, uint8_t *cell,
                    uint32_t *bucket, uint64_t v, uint64_t s)
{
    uint64_t *seq = (uint64_t *)cell;
    mms_store_relaxed(seq, s + 1);
    mms_fence_release();
    struct mms_hist_cell *h = (struct mms_hist_cell *)cell;
    mms_seq_add_owned(&h->count, 1);
    mms_seq_add_owned(&h->sum, v);
    mms__hist_bucket_inc(&hv->f, cell, bucket);
    mms__raise_u64(&h->max, v);
    mms__raise_u64(&h->min_inv, ~v);
    mms_store_release(seq, s + 2);
}

/* Record V in the histogram HV describes, through CELL, a cell this
 * thread owns: mms__hist_bucket_owned then mms__hist_add_owned, as
 * mms__hist_record_cell does it; what the first leaves to the core goes
 * to mms__hist_record_cell. */
static inline __attribute__((always_inline)) void
mms__hist_record_owned_as(const struct mms_hist_view *hv, uint8_t *cell,
                          uint64_t v, const unsigned bits,
                          const unsigned max_exp)
{
    uint64_t s;
    uint32_t *bucket = mms__hist_bucket_owned(hv, cell, v, &s, bits, max_exp);
    if (__builtin_expect(!bucket, 0))
        mms__hist_record_cell(hv->f, (struct mms_cell){cell, true}, v);
    else
        mms__hist_add_owned(hv, cell, bucket, v, s);
}
static inline __attribute__((always_inline)) void
mms__hist_record_owned(const struct mms_hist_view *hv, uint8_t *cell,
                       uint64_t v)
{
    mms__hist_record_owned_as(hv, cell, v, hv->bits, hv->max_exp);
}

/* mms__hist_record_owned for a histogram whose geometry is most often
 * BITS and MAX_EXP, constants: the bucket's shifts and masks are then
 * folded at compile time. Any other geometry takes the core's record
 * (mms__hist_record_cell), slower and as right. */
static inline __attribute__((always_inline)) void
mms__hist_record_owned_geom(const struct mms_hist_view *hv, uint8_t *cell,
                            uint64_t v, const unsigned bits,
                            const unsigned max_exp)
{
    if (__builtin_expect(hv->geom == MMS_HIST_GEOM(bits, max_exp), 1))
        mms__hist_record_owned_as(hv, cell, v, bits, max_exp);
    else
        mms__hist_record_cell(hv->f, (struct mms_cell){cell, true}, v);
}

/* ------------------------------------------------ the hot path's clock */

/* CLOCK_MONOTONIC nanoseconds, cheaply (clock.c): from the TSC where it
 * is invariant (cpuid, and the kernel's constant_tsc and nonstop_tsc
 * flags), at a rate measured against CLOCK_MONOTONIC over the process's
 * first MMS__CLOCK_CAL_NS; clock_gettime until then, and wherever the
 * TSC does not qualify or the embedder asks for MMS_CLOCK_MONOTONIC. */
enum mms_clock_kind { MMS_CLOCK_MONOTONIC, MMS_CLOCK_TSC };
#define MMS__CLOCK_MONO 0u     /* clock_gettime, for good */
#define MMS__CLOCK_ANCHORED 1u /* clock_gettime until calibrated */
#define MMS__CLOCK_BUSY 2u     /* one thread calibrates */
#define MMS__CLOCK_TSC 3u      /* ns0 + (tsc - tsc0) * mult / 2^32 */
#define MMS__CLOCK_CAL_NS 50000000u
struct mms__clock {
    uint32_t state; /* MMS__CLOCK_*, published with release */
    uint64_t mult;  /* ns per tick, 32.32 fixed point */
    uint64_t tsc0;  /* the first anchor: a TSC count... */
    uint64_t ns0;   /* ... and the CLOCK_MONOTONIC time it stands for */
};
extern struct mms__clock mms__clk MMS_HIDDEN_API;

/* Choose the clock, take the first anchor (at start-up: no wait, no file
 * read). Returns the state (MMS__CLOCK_ANCHORED: the TSC will be used once
 * calibrated). Never changes errno. */
MMS_HIDDEN_API int mms__clock_setup(enum mms_clock_kind kind);
/* Read the kernel's view of the TSC (/proc/cpuinfo's constant_tsc and
 * nonstop_tsc flags) once, as start-up work: the TSC is used only after
 * it. Never changes errno. */
MMS_HIDDEN_API void mms__clock_kernel_check(void);
/* The process may make no more system calls (seccomp): never calibrate
 * (the clock stays clock_gettime's). */
MMS_HIDDEN_API void mms__clock_no_syscalls(void);
/* The clock in use now. */
MMS_HIDDEN_API enum mms_clock_kind mms__clock_kind(void);
/* clock_gettime, and the calibration once it is due. */
MMS_HIDDEN_API uint64_t mms__clock_slow(void);

static inline __attribute__((always_inline)) uint64_t mms__rdtsc(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return 0;
#endif
}

static inline __attribute__((always_inline)) uint64_t mms__clock_ns(void)
{
    uint32_t st = mms_load_acquire(&mms__clk.state);
#if defined(__x86_64__)
    if (__builtin_expect(st == MMS__CLOCK_TSC, 1)) {
        uint64_t d = mms__rdtsc() - mms__clk.tsc0;
        return mms__clk.ns0 +
               (uint64_t)(((unsigned __int128)d * mms__clk.mult) >> 32);
    }
#endif
    if (st == MMS__CLOCK_ANCHORED)
        return mms__clock_slow();
    struct timespec ts; /* the vDSO's: errno untouched */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The hot path's clock in TSC counts: a timed call keeps its two counts
 * (stamps) and converts only what it records, once the clock is the TSC
 * for good (mms__clock_is_tsc: the state never leaves MMS__CLOCK_TSC). */
static inline __attribute__((always_inline)) bool mms__clock_is_tsc(void)
{
    return mms_load_acquire(&mms__clk.state) == MMS__CLOCK_TSC;
}
/* D TSC counts in ns. */
static inline __attribute__((always_inline)) uint64_t
mms__clock_tsc_dt(uint64_t d)
{
    return (uint64_t)(((unsigned __int128)d * mms__clk.mult) >> 32);
}
/* TSC count T as CLOCK_MONOTONIC ns (as mms__clock_ns would read it). */
static inline __attribute__((always_inline)) uint64_t
mms__clock_tsc_ns(uint64_t t)
{
    return mms__clk.ns0 + mms__clock_tsc_dt(t - mms__clk.tsc0);
}
/* The first TSC count that mms__clock_tsc_ns converts to NS or later
 * (NS not before the first anchor's time), for code that compares TSC
 * counts with a boundary in ns. */
MMS_HIDDEN_API uint64_t mms__clock_tsc_at(uint64_t ns);

/* Add values a writer gathered itself (bucket I of each value V is
 * mms__hist_index(V, bits, max_exp) of F) to histogram F through this
 * thread's cell C of it: COUNTS[I] values in bucket I (of F's first NB
 * buckets; the others get none), their SUM, smallest LO and largest HI;
 * as their records one by one would, under one hold of the seqlock.
 * False, recording nothing, if F is not a histogram of NB buckets or
 * more without windows. */
MMS_HIDDEN_API bool mms__hist_add_counts(mms_field *f, struct mms_cell c,
                                         const uint32_t *counts, uint32_t nb,
                                         uint64_t sum, uint64_t lo,
                                         uint64_t hi);
/* The same with u16 COUNTS. */
MMS_HIDDEN_API bool mms__hist_add_counts16(mms_field *f, struct mms_cell c,
                                           const uint16_t *counts, uint32_t nb,
                                           uint64_t sum, uint64_t lo,
                                           uint64_t hi);

/* The global value of a GAUGE (i64) field, for atomic adds and
 * raise-to-max by code that keeps its own batching; NULL if F is not one. */
MMS_HIDDEN_API uint64_t *mms__gauge_cell(mms_field *f);

/* Add N fields (SPECS) at once, as one group: consecutive indices, and
 * their cells in one block per thread. The counters among them are
 * consecutive in every cell. With MMS_ADD_NOWAIT, as from a hook: never
 * waits for the code a signal handler interrupted (MMS_EBUSY when it is
 * adding a field); another thread's add it waits for, spinning, then
 * yielding, unless system calls are off or that add stalls
 * (mms__add_lock): MMS_EBUSY then. */
#define MMS_ADD_NOWAIT 0x1u
MMS_HIDDEN_API int mms__group_add(mms_writer *w,
                                  const struct mms_field_spec *specs,
                                  unsigned n, unsigned flags, mms_field **out);

/* Keyed tables: this thread's cell of record REC of T (from
 * mms_record_get), and where member MEMBER sits in it. SUM members take
 * mms__cell_add, MAX members mms__cell_max (MIN: mms__cell_max of ~v). */
MMS_HIDDEN_API struct mms_cell mms__record_cell(mms_table *t, uint32_t rec);
MMS_HIDDEN_API uint32_t mms__record_member_off(mms_table *t, unsigned member);
/* The record of KEY in T if it has one (0, *REC set; -ENOENT if not):
 * mms_record_get without inserting. */
MMS_HIDDEN_API int mms__record_find(mms_table *t, const void *key, size_t len,
                                    uint32_t *rec);
/* KEY's hash in T, for a caller that looks one key up in several tables
 * with the same key_max (the same hash in each): mms__record_lookup_h
 * then hashes nothing. */
MMS_HIDDEN_API uint32_t mms__record_hash(const mms_table *t, const void *key,
                                         size_t len);
/* mms_record_get (INSERT) or mms__record_find of KEY, whose hash in T
 * (mms__record_hash) is HASH. */
MMS_HIDDEN_API int mms__record_lookup_h(mms_table *t, const void *key,
                                        size_t len, uint32_t hash, bool insert,
                                        uint32_t *rec);
/* Record REC's shared cell (shard 0's, never owned), claiming nothing: as
 * mms__cell_shared, for a thread that must not claim a shard (one that
 * never recorded, or is exiting). */
MMS_HIDDEN_API struct mms_cell mms__record_cell_shared(mms_table *t,
                                                       uint32_t rec);
/* mms_table_new from a hot path: MMS_ADD_NOWAIT as for mms__group_add.
 * Never changes errno. */
MMS_HIDDEN_API int mms__table_add(mms_writer *w,
                                  const struct mms_table_spec *spec,
                                  unsigned flags, mms_table **out);
/* Record V in HIST member MEMBER, or raise MAXARG member MEMBER to V with
 * ARG, through cell C of record REC. */
MMS_HIDDEN_API void mms__record_hist_cell(mms_table *t, struct mms_cell c,
                                          uint32_t rec, unsigned member,
                                          uint64_t v);
MMS_HIDDEN_API void mms__record_maxarg_cell(mms_table *t, struct mms_cell c,
                                            unsigned member, uint64_t v,
                                            uint64_t arg);

/* State changes of the process that owns the file (no-ops elsewhere: a
 * vfork child, a child sharing the file). FINISHED records the time;
 * READY (after a failed exec) clears it again. */
MMS_HIDDEN_API void mms__writer_set_state(mms_writer *w, enum mms_state st);

/* The keep policy at process events (docs/format.md section 15):
 * - exec_begin, in the exec hook: finishes the file and, if its policy
 *   does not keep it, parks it under ".exec-<pid>.mmstats" for the new
 *   image to fold: 1 if parked. No allocation (exec may run in a signal
 *   handler); one rename.
 * - exec_failed: back under its name (PARKED from exec_begin), READY.
 * - exec_parked, at start-up: whether the image this one replaced
 *   (process PID, this one) parked a file (in DIR, or the default
 *   directory) for it to fold.
 *   The shim then makes its file at once, and folds it, rather than with
 *   its first call recorded.
 * - start_sweep, when the file is made, before anything is recorded (so the
 *   sweep's own calls are not): folds (or removes) the parked file of
 *   the image this one replaced, if any (waiting for the lock), then,
 *   unless the policy is MMSTATS_KEEP=all, sweeps the directory without
 *   waiting for another sweep: the files of processes gone before are
 *   folded, so a directory holds few more files than processes running.
 * - exit, from an atexit handler: finishes the file and removes it under
 *   MMSTATS_KEEP=none; a later sweep folds it once the process is gone
 *   (its last records, after the handler, counted). */
MMS_HIDDEN_API int mms__writer_exec_begin(mms_writer *w);
/* A fork child of a MMS_W_FORK_MANUAL writer that may never record: its
 * parent's file mapped private at the same addresses (what the child
 * writes reaches only its memory), until the child makes its own with
 * mms_writer_after_fork. Failing that, a private copy; -errno. */
MMS_HIDDEN_API int mms__writer_fork_private(mms_writer *w);
MMS_HIDDEN_API void mms__writer_exec_failed(mms_writer *w, int parked);
/* A fork child's counts kept in its memory (preload/shim.c), added to
 * its parent's file at exec or exit: F's shard-0 cell (the shared one,
 * only ever updated with atomic adds) as it was at the fork, N counters
 * VALS added to it in the parent's file, mapped MAP_SHARED for these
 * adds only. */
#define MMS__FOLD_MAX 256 /* items in one fold (a stack array of offsets) */
struct mms__fold_item {
    mms_field *f;
    uint32_t n;
    const uint64_t *vals;
};
/* Shard 0's cell of F's group, made if need be (in the parent, before a
 * fork, so that a child finds it): false if none can be had. */
MMS_HIDDEN_API bool mms__cell_shared_ready(mms_field *f);
/* Add ITEMS into the file the fork child's private mapping shows (the
 * parent's): 0, or -errno / MMS_EINSECURE / -ESTALE (the parent's file
 * finished or replaced; a cell missing) and then nothing is added. Three
 * system calls and an unmap; no allocation. */
MMS_HIDDEN_API int mms__writer_fold_parent(mms_writer *w,
                                           const struct mms__fold_item *items,
                                           unsigned n);
MMS_HIDDEN_API bool mms__exec_parked(const char *dir, pid_t pid);
MMS_HIDDEN_API int mms__writer_start_sweep(mms_writer *w);
MMS_HIDDEN_API int mms__writer_exit(mms_writer *w);

/* CB runs in each thread that used W, at its exit, before the core moves
 * the thread's values to shard 0 and frees its shard: the last moment its
 * owned cells are its own. */
MMS_HIDDEN_API void mms__writer_on_thread_exit(mms_writer *w, void (*cb)(void));

/* Where W gets a thread's identity when the thread takes a shard: FN
 * fills TID (0: unknown) and NAME (16 bytes, NUL-padded) from what the
 * caller keeps, without a system call. Without FN the writer asks the
 * kernel (gettid, prctl) once per thread. */
typedef void mms__identity_fn(int32_t *tid, char name[16]);
MMS_HIDDEN_API void mms__writer_on_identity(mms_writer *w,
                                            mms__identity_fn *fn);

/* Thread TID is now called NAME: the SHARD block it owns (if any) says so.
 * Any thread may call it (pthread_setname_np names other threads); no
 * system call. */
MMS_HIDDEN_API void mms__writer_thread_named(mms_writer *w, int32_t tid,
                                             const char *name);

/* The core takes its own mutexes (the writer's, the registry's) with FN
 * from now on, not pthread_mutex_lock: an embedder that hooks that (the
 * preload shim's sync family) gives the real one, so that the core's own
 * locking is never recorded; a first record would need the writer's lock
 * its caller holds, and be dropped. NULL: pthread_mutex_lock again. */
MMS_HIDDEN_API void mms__set_mutex_lock(int (*fn)(pthread_mutex_t *));

/* From now on W's slow paths make no system call (the process entered
 * seccomp): what would need one is dropped instead. */
MMS_HIDDEN_API void mms__writer_no_syscalls(mms_writer *w);

/* Prepare BYTES more of the file now (start-up: so that the first uses
 * that follow take prepared space). 0 or a negative code. */
MMS_HIDDEN_API int mms__writer_reserve(mms_writer *w, size_t bytes);

/* Count N updates the caller had to drop (readers show "dropped"). */
MMS_HIDDEN_API void mms__writer_dropped(mms_writer *w, uint64_t n);

#endif /* MMS_HOTPATH_H */
