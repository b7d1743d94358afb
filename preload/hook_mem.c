/* mem family: malloc, free and every other allocation call. Records calls
 * and errors per call; bytes allocated and freed (as the allocator's
 * usable sizes, so live bytes = allocated - freed is exact); the size
 * asked for, as a histogram; live and peak bytes as gauges. The family's
 * own fields (mem.alloc_bytes, ...) are made with its first call.
 *
 * Bootstrap: finding the real malloc with dlsym may itself call calloc.
 * While this thread resolves, allocations come from a static arena; such
 * pointers are recognised in free, realloc and malloc_usable_size and
 * never reach the real allocator. */
#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <mmstats/preload.h>

#include "heap.h"
#include "mem_sizes.h"
#include "shim.h"

/* ------------------------------------------------------------ bootstrap */

#define BOOT_SIZE ((size_t)64 * 1024)
static _Alignas(64) uint8_t boot[BOOT_SIZE];
static size_t boot_used;

/* The word before a bootstrap block: glibc's mmapped-chunk flag, so that
 * free's one test of the word before a block for that flag (such chunks
 * take its other path) sends bootstrap blocks there too. */
#define BOOT_MARK ((size_t)2)

struct boot_hdr {
    size_t size;
    size_t pad; /* 16-byte alignment; BOOT_MARK (free) */
};

static __attribute__((noinline)) void *boot_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    size_t off, next;
    size_t cur = mms_load_relaxed(&boot_used);
    do {
        off = (cur + sizeof(struct boot_hdr) + align - 1) & ~(align - 1);
        next = off + n;
        if (n > BOOT_SIZE || next > BOOT_SIZE)
            return NULL;
    } while (!mms_cas_acq_rel(&boot_used, &cur, next));
    struct boot_hdr *h = (struct boot_hdr *)(boot + off) - 1;
    h->size = n;
    h->pad = BOOT_MARK;
    return boot + off; /* static storage: already zero, as calloc wants */
}

/* One compare: below boot, the difference wraps past BOOT_SIZE. */
static bool is_boot(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot < BOOT_SIZE;
}

static size_t boot_size(const void *p)
{
    return ((const struct boot_hdr *)p - 1)->size;
}

/* ------------------------------------------------------------ the fields */

/* mem.alloc_size: 4 buckets per power of two, sizes up to 1 TiB
 * (mem_sizes.h: SIZE_BITS, SIZE_MAX_EXP and the buckets of small sizes). */
#define SIZE_BITS MMP_SIZE_BITS
#define SIZE_MAX_EXP MMP_SIZE_MAX_EXP

/* alloc_bytes, whose cell is followed by those of freed_bytes,
 * live_bytes and peak_bytes (CELL_*); alloc_size. */
static mms_field *f_bytes, *f_size;
#define CELL_FREED 8
#define CELL_LIVE 16
#define CELL_PEAK 24

/* The sizes asked for go to mem.alloc_size in batches: a thread counts
 * them in its own buckets (the histogram's, SIZE_NB) with their sum, min
 * and max, and adds the batch at once (a histogram record, a seqlock
 * hold and a call, costs about 110 instructions; this about 15 a value).
 * malloc's fast path counts no values: a batch is added once this thread
 * has allocated SIZE_STEP usable bytes since the last (the countdown
 * below; a batch costs about 2,400 instructions, the core walking the
 * buckets: 1.2 a pair of the bench's mix at 4 MiB, 4.8 at 1 MiB). The
 * other paths count theirs (nsizes) and add the batch at SIZES. Buckets
 * of 32 bits: glibc's blocks are at least 24 bytes, so a batch holds
 * fewer than 175,000 values. The histogram lags by less than SIZE_STEP
 * bytes' worth of values per running thread. */
#define SIZES 1024
#define SIZE_STEP ((int64_t)4 << 20)
#define SIZE_NB (((SIZE_MAX_EXP - SIZE_BITS + 1) << SIZE_BITS) + 1)

/* Live bytes are this thread's cells' alloc_bytes - freed_bytes: nothing
 * is kept per call. mem.live_bytes and mem.peak_bytes are gauges kept
 * per thread (format 3.1's GAUGE_SUM counters: readers sum the shards'
 * cells), in the thread's own cells beside those two: its live bytes
 * are copied to its live_bytes cell, and its peak cell raised to them,
 * when a countdown of bytes runs out: LIVE_STEP bytes allocated
 * (malloc's countdown, shared with the heap sample and the size batch)
 * or freed; and at thread exit and at exit(). No line another thread
 * writes. So live_bytes lags the exact figure by less than 2 * LIVE_STEP
 * per running thread, and peak_bytes is the sum of each thread's (each
 * shard's) highest live bytes so published: an upper bound of the
 * process's peak, less that lag. */
#define LIVE_STEP ((int64_t)64 << 10)

/* The timed fast paths (malloc_timed, free_timed) count each call's
 * latency in buckets of this thread's (mem_lat: the latency histogram's
 * first LAT_SLOTS buckets at the default 5 bits: latencies below
 * 2^12 = 4,096 ns, where a malloc or free of a warm heap falls; 512
 * would reach 2^20 ns but cost another 1 KB of every thread's static
 * TLS, which ld.so zeroes in every process and thread), with the
 * latencies' sum, minimum and maximum, and add them at once
 * (mms__hist_add_counts16) after LAT_N values, when the thread exits and
 * when the process exits or execs (mem_end): a histogram record costs
 * about 50 instructions a call (its seqlock, count, sum, chunk and
 * bucket, minimum and maximum), this about 25 and 1 for the batch. A
 * longer latency is recorded at once. The histogram lags the calls by
 * fewer than LAT_N values per running thread and call (recent_calls and
 * calls do not lag). A signal handler's timed malloc or free that comes
 * while a batch is added may be lost from the histogram, never counted
 * twice (the batch's count is 0 from the start of the add).
 *
 * These paths time 1 call in MMSTATS_TIMING_MEM_SAMPLE on average (the
 * two rdtsc of a timed call cost more cycles than the rest of it: on
 * the 2-core AMD EPYC VM ~7 ns each next to the allocator's own work,
 * not overlapped): between two timed calls, 0 to 2N - 2 untimed ones
 * (mem_next_skip), counted in calls as they come and added to the
 * window ring (recent_calls) with the next timed call's, or at the
 * batches' ends above. */
#define LAT_N 4096
#define LAT_SLOTS 256
struct mem_lat {
    uint32_t n;
    /* Untimed calls before the next timed one: signed, so that a signal
     * handler's call between the test and the decrement leaves it at -1,
     * which times the next call, not at 2^32 - 1 untimed ones. */
    int32_t skip;
    /* Untimed calls counted but not yet in the window ring (a signal
     * handler's call that comes between its read and its reset may be
     * missing from recent_calls); the intervals' xorshift state. */
    uint32_t pend, rng;
    uint64_t sum, min, max; /* empty: 0, UINT64_MAX, 0 */
    uint16_t count[LAT_SLOTS];
};

/* This thread's cell of alloc_bytes and freed_bytes, set before any of
 * its mem calls' counter cells (mmp_tls_ctr) and forgotten after them: a
 * cached call cell means it is valid too (and this thread's shard its
 * own). One thread-local, so that a hook finds it all with one look-up
 * of its address. */
struct mem_tls {
    /* malloc's and free's call cells, as mmp_tls_ctr has them, but only
     * while the call counts untimed and glibc's block headers are read
     * (mem_cache_fast): one test on the fast paths for all three. */
    uint8_t *malloc_ctr, *free_ctr;
    /* The same while the call is timed and the clock is the TSC, with
     * their latency cells (each set before its call cell, forgotten
     * after it): the timed fast paths (malloc_timed, free_timed). */
    uint8_t *malloc_tctr, *malloc_lat, *free_tctr, *free_lat;
    uint8_t *bytes;
    /* Bytes to allocate before the due work (mem_due): the least of the
     * three distances below, as it was set (due_set) and now. */
    int64_t due_left, due_set;
    int64_t sample_left; /* heap.h: bytes to go before the next sample */
    int64_t sizes_left;  /* before the size batch is added */
    int64_t free_left;   /* bytes to free before live bytes are checked */
    /* Empty: min UINT64_MAX, max 0 (sizes_clear, before the first). */
    uint64_t size_sum, size_max, size_min;
    uint32_t nsizes; /* counted by the slow paths */
    uint32_t size_count[SIZE_NB];
    /* The timed fast paths' latency batches (mem_lat). */
    struct mem_lat lat_malloc, lat_free;
};
static __thread struct mem_tls mt MMP_IE;

static int mem_fields(void)
{
    struct mms_field_spec s[] = {
        {.name = MMS_PRELOAD_MEM_ALLOC_BYTES,
         .kind = MMS_KIND_COUNTER,
         .units = "bytes",
         .help = "usable size of every block handed out"},
        {.name = MMS_PRELOAD_MEM_FREED_BYTES,
         .kind = MMS_KIND_COUNTER,
         .units = "bytes",
         .help = "usable size of every block freed"},
        {.name = MMS_PRELOAD_MEM_LIVE_BYTES,
         .kind = MMS_KIND_COUNTER,
         .flags = MMS_DF_GAUGE_SUM,
         .units = "bytes",
         .help = "bytes in use (published per thread in batches)"},
        {.name = MMS_PRELOAD_MEM_PEAK_BYTES,
         .kind = MMS_KIND_COUNTER,
         .flags = MMS_DF_GAUGE_SUM,
         .units = "bytes",
         .help = "the sum of each thread's highest live bytes published"},
        {.name = MMS_PRELOAD_MEM_ALLOC_SIZE,
         .kind = MMS_KIND_HISTOGRAM,
         .units = "bytes",
         .help = "sizes asked of the allocator",
         .hist_bits = SIZE_BITS,
         .hist_max_exp = SIZE_MAX_EXP},
    };
    mms_field *f[5];
    int rc = mmp_group_add(s, 5, f);
    if (rc < 0)
        return rc;
    /* Several threads may get here at once: all store the same values. */
    mms_store_relaxed(&f_bytes, f[0]);
    mms_store_relaxed(&f_size, f[4]);
    return 0;
}

/* Record the sizes gathered in mem.alloc_size, through this thread's
 * own cell (a cached call cell vouched for it when they were gathered).
 */
static void sizes_clear(void)
{
    mt.nsizes = 0;
    mt.size_sum = mt.size_max = 0;
    mt.size_min = UINT64_MAX;
    memset(mt.size_count, 0, sizeof mt.size_count);
}

static __attribute__((noinline)) void sizes_flush(void)
{
    if (mt.bytes && mt.size_min <= mt.size_max && f_size) {
        struct mms_cell c = mms__cell(f_size);
        if (!c.p ||
            !mms__hist_add_counts(f_size, c, mt.size_count, SIZE_NB,
                                  mt.size_sum, mt.size_min, mt.size_max))
            mmp_drop();
    }
    sizes_clear();
}

/* Count size ASKED in this thread's buckets. */
static inline __attribute__((always_inline)) void size_count(uint64_t asked)
{
    mt.size_count[mmp_size_index(asked)]++;
    mt.size_sum += asked;
    if (asked > mt.size_max)
        mt.size_max = asked;
    if (asked < mt.size_min)
        mt.size_min = asked;
}

/* ... and count it, on a path that is not malloc's fast one. */
static inline __attribute__((always_inline)) void size_add(uint64_t asked)
{
    size_count(asked);
    if (MMP_UNLIKELY(++mt.nsizes == SIZES))
        sizes_flush();
}

/* A cell's value as signed. */
static int64_t cell_i64(const uint8_t *bytes, uint32_t off)
{
    return (int64_t)mms_load_relaxed(
        (const uint64_t *)(const void *)(bytes + off));
}

/* Live bytes in cells BYTES: alloc_bytes - freed_bytes. */
static int64_t cell_live(const uint8_t *bytes)
{
    return cell_i64(bytes, 0) - cell_i64(bytes, CELL_FREED);
}

/* P is written through the CAS macro, which clang-tidy does not see. */
// NOLINTNEXTLINE(readability-non-const-parameter)
static void raise_to(uint64_t *p, int64_t v)
{
    uint64_t cur = mms_load_relaxed(p);
    while (v > (int64_t)cur && !mms_cas_acq_rel(p, &cur, (uint64_t)v))
        ;
}

/* Shared cells BY (shard 0's, or ones this thread may not cache) got D
 * live bytes: their gauges get them at once, the peak by a CAS. */
static void live_add_shared(struct mms_cell by, int64_t d)
{
    if (!d)
        return;
    mms__cell_add(by, CELL_LIVE, (uint64_t)d);
    raise_to((uint64_t *)(void *)(by.p + CELL_PEAK), cell_i64(by.p, CELL_LIVE));
}

/* Copy this thread's live bytes to its own live_bytes cell; raise its
 * peak_bytes cell to them. Adds, not stores: the cells are counters'
 * (a thread's exit moves them to shard 0 with adds and subtractions). */
static void live_publish(void)
{
    uint8_t *b = mt.bytes;
    if (!b)
        return;
    struct mms_cell c = {b, true};
    int64_t live = cell_live(b);
    mms__cell_add(c, CELL_LIVE, (uint64_t)(live - cell_i64(b, CELL_LIVE)));
    int64_t peak = cell_i64(b, CELL_PEAK);
    if (live > peak)
        mms__cell_add(c, CELL_PEAK, (uint64_t)(live - peak));
}

/* The window ring of a timed mem call (its counters: calls, errors). */
#define MEM_WIN MMP_SHAPE_WIN_OFF(ALLOC)

/* Call ID's untimed calls not yet in its window ring (B's pend) added to
 * it through its cached cells P and L, in TSC count S's second (its slot
 * found if need be). */
static __attribute__((noinline)) void mem_pend_flush(unsigned id, uint8_t *p,
                                                     const uint8_t *l,
                                                     struct mem_lat *b,
                                                     uint64_t s)
{
    uint32_t k = b->pend;
    if (!k || !p || !l)
        return;
    b->pend = 0; /* a signal handler's calls meanwhile: its own */
    __asm__ volatile("" ::: "memory");
    if (mmp_tsc_window_n(id, p, l, s, MEM_WIN, k))
        return;
    mmp_second_tsc(s);
    struct mms_cell c = {p + MEM_WIN - 8, true};
    mms_add_owned_u64((uint64_t *)c.p, k);
    uint64_t *sum =
        mms__cell_ring_slot(mmp_calls[id].win_f, c, mmp_tls.win.sec);
    if (sum)
        mms_add_owned_u64(sum, k);
}

/* Both calls' untimed calls into their window rings, now (the thread or
 * the process ends). pend is only counted by the TSC paths: the clock
 * is the TSC. */
static void mem_pend_end(void)
{
    if (!mt.lat_malloc.pend && !mt.lat_free.pend)
        return;
    uint64_t s = mms__rdtsc();
    mem_pend_flush(MMP_CALL_malloc, mt.malloc_tctr, mt.malloc_lat,
                   &mt.lat_malloc, s);
    mem_pend_flush(MMP_CALL_free, mt.free_tctr, mt.free_lat, &mt.lat_free, s);
}

/* The untimed calls before B's next timed one, from stamp S (its seed):
 * uniform in 0 .. 2N - 2 (N: MMSTATS_TIMING_MEM_SAMPLE; 1: none), so 1
 * call in N is timed on average and no period of the program's own
 * calls lines up with the timed ones. A multiply, not a division. */
static inline __attribute__((always_inline)) int32_t
mem_next_skip(struct mem_lat *b, uint64_t s)
{
    uint64_t every = (uint64_t)mmp_cfg.timing_mem_sample;
    if (every == 1)
        return 0;
    uint32_t x = b->rng ? b->rng : (uint32_t)s | 1;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b->rng = x;
    return (int32_t)(((uint64_t)x * (2 * every - 1)) >> 32);
}

/* A slow path's T0 for a timed malloc or free (ID) not among those
 * timed (mem_lat): no clock read before the call. mmp_clock's ns are
 * never 1. */
#define MEM_UNTIMED 1

/* Before a slow path's real call of ID, if it is timed: the clock
 * (mmp_clock) if this call is one of those timed (mem_lat), as on the
 * TSC paths, else MEM_UNTIMED. */
static __attribute__((noinline)) uint64_t mem_t0(unsigned id)
{
    struct mem_lat *b = id == MMP_CALL_malloc ? &mt.lat_malloc : &mt.lat_free;
    if (b->skip > 0) {
        b->skip--;
        return MEM_UNTIMED;
    }
    uint64_t t0 = mmp_clock();
    b->skip = mem_next_skip(b, t0);
    return t0;
}

/* Call ID's latency from T0 (ns, by a slow path: mmp_clock) to now and
 * the call in its window ring; for T0 MEM_UNTIMED (mem_t0) the window
 * alone. */
static __attribute__((noinline)) void mem_latency(unsigned id, uint64_t t0)
{
    if (!mmp_is_timed(id))
        return;
    if (t0 != MEM_UNTIMED) {
        mmp_latency(id, t0);
        return;
    }
    uint64_t t1 = mmp_clock();
    uint8_t *l = mmp_tls_lat[id];
    uint32_t win = mms_load_relaxed(&mmp_calls[id].win);
    if (l && win) /* then the counters' cell is cached too */
        mmp_window_add_at(id, mmp_tls_ctr[id], win, mmp_second(t1));
    else if (!l)
        mmp_timed_slow(id, MMP_WINDOW_ONLY, t1 / 1000000000u);
}

static void mem_lat_clear(struct mem_lat *b)
{
    b->n = 0;
    b->sum = b->max = 0;
    b->min = UINT64_MAX;
    memset(b->count, 0, sizeof b->count);
}

/* Add the latencies counted in B to call ID's histogram through this
 * thread's cell L of it (NULL: dropped, in a fork child); B emptied. */
static void mem_lat_fold(unsigned id, uint8_t *l, struct mem_lat *b)
{
    uint32_t n = b->n;
    b->n = 0; /* a signal handler's call meanwhile makes no batch of it */
    __asm__ volatile("" ::: "memory");
    if (l && n) {
        if (!mms__hist_add_counts16(mmp_calls[id].lat,
                                    (struct mms_cell){l, true}, b->count,
                                    LAT_SLOTS, b->sum, b->min, b->max))
            mmp_drop();
    }
    mem_lat_clear(b);
}

/* exit(), _exit and exec (the family's end, and a destructor for an
 * exit without the shim's handler): the thread that ends the process
 * (most often the only one) records what it gathered, so that a
 * finished single-threaded program's figures are exact. Hooks may still
 * run later: they batch again from there. */
static void mem_end(void)
{
    mem_pend_end();
    mem_lat_fold(MMP_CALL_malloc, mt.malloc_lat, &mt.lat_malloc);
    mem_lat_fold(MMP_CALL_free, mt.free_lat, &mt.lat_free);
    sizes_flush();
    live_publish();
}

__attribute__((destructor)) static void mem_exit(void)
{
    mem_end();
}

/* Forget the cells: as the thread exits (its cells still its own:
 * record the sizes it gathered), or in a fork child (they were the
 * parent's, and so are the sizes: the parent records them). */
static void mem_forget(void)
{
    bool own = mmp_thread == MMP_THREAD_EXITING;
    if (own)
        mem_pend_end(); /* with the cells, still cached */
    mt.lat_malloc.pend = mt.lat_free.pend = 0;
    uint8_t *ml = mt.malloc_lat, *fl = mt.free_lat;
    mt.malloc_ctr = mt.free_ctr = mt.malloc_tctr = mt.free_tctr = NULL;
    __asm__ volatile("" ::: "memory"); /* before the cells they vouch for */
    mt.malloc_lat = mt.free_lat = NULL;
    mem_lat_fold(MMP_CALL_malloc, own ? ml : NULL, &mt.lat_malloc);
    mem_lat_fold(MMP_CALL_free, own ? fl : NULL, &mt.lat_free);
    if (own) {
        sizes_flush();
        live_publish();
    } else {
        sizes_clear();
    }
    mt.bytes = NULL;
}

/* glibc's malloc keeps a block's size in the word before it: the low
 * three bits are flags (bit 1: mmapped), and malloc_usable_size is that
 * size less the header (8 bytes, 16 for an mmapped block). Reading it
 * here saves a call per malloc and per free, but only once mem_start has
 * checked that the next allocator is glibc's and that the formula agrees
 * with its malloc_usable_size; otherwise the real function is asked every
 * time. */
static bool glibc_sizes;

static inline size_t glibc_usable(const void *p)
{
    uint64_t h = ((const uint64_t *)p)[-1];
    return (size_t)((h & ~7ull) - 8 - ((h & 2) << 2)); /* no branch */
}

/* The usable size of a block of the real allocator. */
static inline __attribute__((always_inline)) size_t usable_real(void *p)
{
    if (!p)
        return 0;
    if (MMP_LIKELY(glibc_sizes))
        return glibc_usable(p);
    mmp_real_malloc_usable_size_t f = mmp_real_malloc_usable_size();
    return f ? f(p) : 0;
}

/* ...or of any block (the program's own, maybe a bootstrap block). */
static inline __attribute__((always_inline)) size_t usable(void *p)
{
    if (MMP_UNLIKELY(is_boot(p)))
        return boot_size(p);
    return usable_real(p);
}

/* Call ID's cells for its fast path on this thread: its call cell
 * (mmp_tls_ctr) into CTR if it counts untimed; if it is timed, the
 * clock is the TSC for good and its latency cell is cached, with the
 * default geometry and the window ring where the timed path adds
 * (checked here, not per call), that cell into LAT, then the call cell
 * into TCTR. */
static void mem_cache_call(unsigned id, uint8_t **ctr, uint8_t **tctr,
                           uint8_t **lat)
{
    uint8_t mode = mms_load_relaxed(&mmp_mode[id]);
    if (mode == MMP_COUNT) {
        *ctr = mmp_tls_ctr[id];
        return;
    }
    uint8_t *l = mmp_tls_lat[id];
    if (mode != MMP_TIMED || !l || !mms__clock_is_tsc() ||
        mmp_calls[id].lat_view.geom !=
            MMS_HIST_GEOM(MMP_HIST_BITS_DEFAULT, MMS_HIST_DEFAULT_MAX_EXP) ||
        mms_load_relaxed(&mmp_calls[id].win) != MEM_WIN)
        return;
    *lat = l;
    __asm__ volatile("" ::: "memory"); /* before the cell that vouches */
    *tctr = mmp_tls_ctr[id];
}

/* malloc's and free's fast paths on this thread: their cells as cached
 * (mmp_tls_ctr, and with them BYTES), if glibc's block headers are read.
 * Where a cell may have been cached (the recording's slow path, the
 * hooks' other paths). */
static void mem_cache_fast(void)
{
    if (!glibc_sizes || !mt.bytes)
        return;
    mem_cache_call(MMP_CALL_malloc, &mt.malloc_ctr, &mt.malloc_tctr,
                   &mt.malloc_lat);
    mem_cache_call(MMP_CALL_free, &mt.free_ctr, &mt.free_tctr, &mt.free_lat);
}

/* Start-up: the heap profile's table (mapped, not touched). */
static void mem_start(void)
{
    mmp_heap_start();
}

/* With the stats file (the first call recorded, no call recorded
 * meanwhile): the check below, which makes the real allocator set up its
 * heap, and the heap profile's stacks. Until then the real
 * malloc_usable_size answers. */
static void mem_made(void)
{
    mmp_heap_made();
#if defined(__x86_64__)
    /* valgrind's memcheck (and its other malloc-replacing tools) redirect
     * malloc to their own without changing what dlsym answers; their
     * blocks have no glibc header to read. Their preload libraries are
     * vgpreload_<tool>; vgpreload_core alone (callgrind, cachegrind)
     * leaves malloc alone. */
    const char *pre = getenv("LD_PRELOAD");
    for (const char *v = pre; v && (v = strstr(v, "vgpreload_")); v++)
        if (strncmp(v + 10, "core", 4) != 0)
            return;
    mmp_real_malloc_t m = mmp_real_malloc();
    mmp_real_free_t fr = mmp_real_free();
    mmp_real_malloc_usable_size_t us = mmp_real_malloc_usable_size();
    /* _dl_find_object: no lock, no symbol table walk (dladdr's cost
     * 177,000 instructions, more than the whole of /bin/true). */
    struct dl_find_object a, b;
    if (!m || !fr || !us || _dl_find_object((void *)m, &a) != 0 ||
        _dl_find_object((void *)us, &b) != 0 ||
        a.dlfo_link_map != b.dlfo_link_map || !a.dlfo_link_map->l_name ||
        !strstr(a.dlfo_link_map->l_name, "libc.so"))
        return;
    /* Small, large, and mapped (past the mmap threshold) blocks. */
    static const size_t sizes[] = {1,    8,    24,    25,    100,
                                   1000, 4096, 70000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = m(sizes[i]);
        bool same = p && us(p) == glibc_usable(p);
        fr(p);
        if (!same)
            return;
    }
    glibc_sizes = true;
#endif
}

const struct mmp_family_ops mmp_family_mem = {.start = mem_start,
                                              .made = mem_made,
                                              .fields = mem_fields,
                                              .forget = mem_forget,
                                              .end = mem_end};

/* ------------------------------------------------------------ recording */

/* The countdown set again to the least of the three distances below. */
static inline __attribute__((always_inline)) void mem_due_next(void)
{
    int64_t next = LIVE_STEP;
    if (mt.sizes_left < next)
        next = mt.sizes_left;
    if (mt.sample_left < next)
        next = mt.sample_left; /* -1 while a sample is taken: again */
    mt.due_left = mt.due_set = next;
}

/* mem_due's rarer part: a heap sample, the size batch. The sample is
 * taken here, so that its stack starts at this function's caller (the
 * hooks tail-call mem_due, which tail-calls this). R is returned. */
static __attribute__((noinline)) void *mem_due_rare(void *r, uint64_t got)
{
    if (mt.sample_left < 0)
        mmp_heap_sample(r, got, &mt.sample_left);
    if (mt.sizes_left <= 0) {
        sizes_flush();
        mt.sizes_left = SIZE_STEP;
    }
    mem_due_next();
    return r;
}

/* The countdown of bytes allocated ran out (R: the block that did it, GOT
 * its usable size): the bytes allocated since it was set count against
 * the three distances; live bytes are checked, whichever other ran out
 * is done (a heap sample, the size batch: mem_due_rare, a tail call, so
 * that the common case saves no register), and the countdown is set to
 * the least again. malloc tail-calls it, as do the timed path's
 * functions malloc tail-calls. R is returned. */
static __attribute__((noinline)) void *mem_due(void *r, uint64_t got)
{
    int64_t used = mt.due_set - mt.due_left;
    /* Counted: an allocation made meanwhile (while a sample is taken,
     * or by a signal handler) counts only its own bytes. */
    mt.due_set = mt.due_left;
    mt.sample_left -= used;
    mt.sizes_left -= used;
    live_publish();
    if (MMP_UNLIKELY(mt.sample_left < 0 || mt.sizes_left <= 0))
        return mem_due_rare(r, got);
    mem_due_next();
    return r;
}

/* LIVE_STEP bytes freed since live bytes were last checked. */
static __attribute__((noinline)) void free_due(void)
{
    live_publish();
    mt.free_left = LIVE_STEP;
}

/* The slow path of mem_record: as mmp_record_slow, with the family's
 * cells (mmp_cell_of: shared for a free by a thread that never recorded
 * anything). */
static __attribute__((noinline)) void
mem_record_slow(unsigned id, uint64_t t0, bool err, void *r, uint64_t asked,
                uint64_t got, uint64_t gave, bool sized)
{
    if (mms_load_relaxed(&mmp_mode[id]) == MMP_OFF)
        return;
    int saved = errno;
    if (!mmp_call_ready(id)) {
        mmp_drop();
        errno = saved;
        return;
    }
    struct mms_cell c = mmp_cell_of(id, mmp_calls[id].ctr);
    struct mms_cell by = mmp_cell_of(id, f_bytes);
    struct mms_cell sz = mmp_cell_of(id, f_size);
    if (!c.p || !by.p || !sz.p) {
        mmp_drop();
        errno = saved;
        return;
    }
    mms__cell_add(c, 0, 1);
    mms__cell_add(c, 8, err);
    if (got)
        mms__cell_add(by, 0, got);
    if (sized && (got || err))
        mms__hist_record_cell(f_size, sz, asked);
    if (gave)
        mms__cell_add(by, 8, gave);
    if (mmp_cacheable(c) && by.owned && sz.owned) {
        if (mt.bytes != by.p) {
            if (!mt.bytes) { /* before this thread's first values */
                sizes_clear();
                mem_lat_clear(&mt.lat_malloc);
                mem_lat_clear(&mt.lat_free);
            }
            mt.bytes = by.p;
        }
        __asm__ volatile("" ::: "memory"); /* before the call's cell */
        mmp_tls_ctr[id] = c.p;
    } else {
        live_add_shared(by, (int64_t)got - (int64_t)gave); /* not later */
    }
    if (t0)
        mem_latency(id, t0);
    if (got && (mt.due_left -= (int64_t)got) < 0)
        mem_due(r, got);
    if (gave && (mt.free_left -= (int64_t)gave) < 0)
        free_due();
    errno = saved;
}

/* One allocation call: ERR if it failed; R the block returned, ASKED
 * bytes requested (in mem.alloc_size if SIZED, whether the call failed
 * or not: a size asked); GOT and GAVE the usable sizes of the block
 * returned and of the block freed. It never changes errno: the fast path
 * makes no call that could. */
static inline __attribute__((always_inline)) void
mem_record_as(unsigned id, uint64_t t0, bool err, void *r, uint64_t asked,
              uint64_t got, uint64_t gave, bool sized)
{
    uint8_t *p = mmp_tls_ctr[id];
    if (MMP_UNLIKELY(!p)) {
        mem_record_slow(id, t0, err, r, asked, got, gave, sized);
        return;
    }
    struct mms_cell c = {p, true};
    mms__cell_add(c, 0, 1);
    if (MMP_UNLIKELY(err))
        mms__cell_add(c, 8, 1);
    if (got)
        mms__cell_add((struct mms_cell){mt.bytes, true}, 0, got);
    if (sized && (got || err))
        size_add(asked);
    if (gave)
        mms__cell_add((struct mms_cell){mt.bytes, true}, 8, gave);
    if (MMP_UNLIKELY(t0))
        mem_latency(id, t0);
    if (got && MMP_UNLIKELY((mt.due_left -= (int64_t)got) < 0))
        mem_due(r, got);
    if (gave && MMP_UNLIKELY((mt.free_left -= (int64_t)gave) < 0))
        free_due();
}

static inline __attribute__((always_inline)) void
mem_record(unsigned id, uint64_t t0, bool err, void *r, uint64_t asked,
           uint64_t got, uint64_t gave)
{
    mem_record_as(id, t0, err, r, asked, got, gave, true);
}

/* Real function NAME, or RET_BOOT if there is none yet (this thread is
 * resolving: dlsym allocates). Then whether the call is timed. */
/* NOLINTBEGIN(bugprone-macro-parentheses): a statement list */
#define MEM_BEGIN(name, boot_expr)                                             \
    mmp_real_##name##_t real = mmp_real_##name();                              \
    if (MMP_UNLIKELY(!real))                                                   \
        return boot_expr;                                                      \
    uint64_t t0 = mmp_is_timed(MMP_CALL_##name) ? mmp_clock() : 0
/* NOLINTEND(bugprone-macro-parentheses) */

/* ---------------------------------------------------------------- hooks */

/* malloc and free are the hottest hooks. Their fast paths run only with
 * this thread's call cell cached, in counting mode and for a glibc
 * block; they read the block's
 * size from its header, add to the cached cells and count its size in
 * this thread's buckets. Everything else (timed, off, a thread's first
 * call, another allocator, NULL, a maybe-sampled block) takes the slow
 * paths below, which keep few registers live across the real call. */
static __attribute__((noinline)) void *malloc_slow(size_t n)
{
    uint64_t t0 = mmp_is_timed(MMP_CALL_malloc) ? mem_t0(MMP_CALL_malloc) : 0;
    void *r = mmp_real_malloc()(n);
    mem_record(MMP_CALL_malloc, t0, !r, r, n, usable_real(r), 0);
    return r;
}

/* malloc's fast path for a block glibc mapped on its own: the size is
 * counted. */
static __attribute__((noinline)) void *malloc_mapped(void *r)
{
    mem_record_as(MMP_CALL_malloc, 0, false, r, 0, glibc_usable(r), 0, false);
    return r;
}

/* malloc's fast path after a failure: the size is counted. */
static __attribute__((noinline)) void *malloc_failed(void)
{
    mem_record_as(MMP_CALL_malloc, 0, true, NULL, 0, 0, 0, false);
    return NULL;
}

/* A cached call cell: the real function was found before. */
#define REAL_FOUND(name) mms_load_relaxed(&mmp_real[MMP_CALL_##name])

/* A mem call while it records nothing goes through entry_NAME
 * (MMP_ENTRY_OFF, shim.h); without the real function yet (this thread is
 * finding it: dlsym allocates) malloc and calloc are served from the
 * bootstrap arena. */
/* NOLINTBEGIN(bugprone-macro-parentheses): names and a statement */
#define MEM_OFF MMP_ENTRY_OFF
/* The hook's first statement: off, the real function as a tail call. */
#define MEM_IF_OFF(name, ...)                                                  \
    if (MMP_UNLIKELY(mms_load_relaxed(&mmp_mode[MMP_CALL_##name]) == MMP_OFF)) \
    return mms_load_relaxed(&entry_##name)(__VA_ARGS__)
/* NOLINTEND(bugprone-macro-parentheses) */

MEM_OFF(malloc, void *, boot_alloc(n, 16), size_t, n)

/* free has nothing to return: its own. */
static void free_off(void *p);
static mmp_real_free_t free_entry = free_off;

static __attribute__((noinline)) void free_off(void *p)
{
    mmp_real_free_t real = mmp_real_free();
    if (!real)
        return; /* none yet: p can only be a bootstrap block */
    mms_store_relaxed(&free_entry, real);
    real(p);
}

/* malloc but for its fast path: off, timed, a thread without its cells
 * yet, another allocator; the cells cached for the fast path after. */
static __attribute__((noinline)) void *malloc_other(size_t n)
{
    if (!mmp_real_malloc())
        return boot_alloc(n, 16);
    void *r = malloc_slow(n);
    mem_cache_fast();
    return r;
}

/* The timed fast paths: TSC stamps S0 and S1 around the real call, then
 * the steps of shim.h's timed path with stamps (the counters, the window
 * ring, the latency), each checked before it writes; what a step cannot
 * do inline goes to mem_timed_later, a tail call. */

/* The steps after DONE (MMP_TSC_*) by the slow paths; then malloc's
 * rarer work if its countdown ran out (R the block, GOT its usable
 * size; 0 for free). R is returned. */
static __attribute__((noinline)) void *mem_timed_later(unsigned id, void *r,
                                                       uint64_t got,
                                                       uint64_t s0, uint64_t s1,
                                                       unsigned done)
{
    mmp_tsc_slow(id, s0, s1, done);
    if (id == MMP_CALL_malloc)
        mem_pend_flush(id, mt.malloc_tctr, mt.malloc_lat, &mt.lat_malloc, s1);
    else
        mem_pend_flush(id, mt.free_tctr, mt.free_lat, &mt.lat_free, s1);
    if (got && mt.due_left < 0)
        return mem_due(r, got);
    return r;
}

/* Call ID's latency from stamps S0 and S1 through its cell L at once
 * (not in this thread's buckets: longer, or the stamps went backwards,
 * another CPU's TSC); or the batch B full: added. Then malloc's
 * countdown. R is returned. */
static __attribute__((noinline)) void *mem_lat_other(unsigned id, uint8_t *l,
                                                     struct mem_lat *b, void *r,
                                                     uint64_t got, uint64_t s0,
                                                     uint64_t s1, bool counted)
{
    if (counted)
        mem_lat_fold(id, l, b);
    else if (!mmp_tsc_latency_geom(&mmp_calls[id].lat_view, l, s0, s1))
        return mem_timed_later(id, r, got, s0, s1, MMP_TSC_WINDOWED);
    if (got && mt.due_left < 0)
        return mem_due(r, got);
    return r;
}

/* The window and latency steps of call ID from stamps S0 and S1 through
 * its cached cells P and L (the latency's geometry checked when they
 * were cached: the default's) and its batch B; then malloc's countdown.
 * R is returned. */
static inline __attribute__((always_inline)) void *
mem_timed_steps(unsigned id, uint8_t *p, uint8_t *l, struct mem_lat *b, void *r,
                uint64_t got, uint64_t s0, uint64_t s1)
{
    /* This call and the untimed ones before it (mem_lat). */
    uint32_t pend = b->pend;
    b->pend = 0;
    if (MMP_UNLIKELY(
            !mmp_tsc_window_n(id, p, l, s1, MEM_WIN, (uint64_t)pend + 1))) {
        b->pend += pend;
        return mem_timed_later(id, r, got, s0, s1, MMP_TSC_COUNTED);
    }
    uint64_t d = s1 - s0;
    if (MMP_UNLIKELY((int64_t)d < 0))
        return mem_lat_other(id, l, b, r, got, s0, s1, false);
    uint64_t v = mms__clock_tsc_dt(d);
    uint32_t k =
        mms__hist_index(v, MMP_HIST_BITS_DEFAULT, MMS_HIST_DEFAULT_MAX_EXP);
    if (MMP_UNLIKELY(k >= LAT_SLOTS))
        return mem_lat_other(id, l, b, r, got, s0, s1, false);
    b->count[k]++;
    b->sum += v;
    if (v > b->max)
        b->max = v;
    if (v < b->min)
        b->min = v;
    if (MMP_UNLIKELY(++b->n >= LAT_N))
        return mem_lat_other(id, l, b, r, got, s0, s1, true);
    if (got && MMP_UNLIKELY(mt.due_left < 0))
        return mem_due(r, got);
    return r;
}

/* Timed malloc's block R (NULL or mapped on its own) from stamps S0 and
 * S1: recorded by the other path (its size counted already). */
static __attribute__((noinline)) void *malloc_timed_other(void *r, uint64_t s0,
                                                          uint64_t s1)
{
    mem_record_as(MMP_CALL_malloc, 0, !r, r, 0, r ? glibc_usable(r) : 0, 0,
                  false);
    mmp_tsc_slow(MMP_CALL_malloc, s0, s1, MMP_TSC_COUNTED);
    return r;
}

/* malloc's counting path through its cached call cell: mt.malloc_ctr,
 * or mt.malloc_tctr if TIMED (the call is then one of the timed path's
 * untimed ones, mem_lat). */
static inline __attribute__((always_inline)) void *malloc_counted(size_t n,
                                                                  bool timed)
{
    /* The size first, so that nothing is kept across the real call but
     * this thread's block of TLS. */
    size_count(n);
    if (timed)
        mt.lat_malloc.pend++;
    void *r = ((mmp_real_malloc_t)REAL_FOUND(malloc))(n);
    if (MMP_UNLIKELY(!r))
        return malloc_failed();
    /* glibc_usable, but for a chunk of its own mapping (the other path). */
    uint64_t h = ((const uint64_t *)r)[-1];
    if (MMP_UNLIKELY(h & 2))
        return malloc_mapped(r);
    uint64_t got = (h & ~7ull) - 8;
    mms__cell_add(
        (struct mms_cell){timed ? mt.malloc_tctr : mt.malloc_ctr, true}, 0, 1);
    mms__cell_add((struct mms_cell){mt.bytes, true}, 0, got);
    /* One countdown for all of the rarer work (mem_due), a tail call:
     * nothing is kept across it. */
    if (MMP_UNLIKELY((mt.due_left -= (int64_t)got) < 0))
        return mem_due(r, got);
    return r;
}

/* malloc, timed, its cells cached (mt.malloc_tctr): the counting path,
 * with stamps if this call is one of those timed (mem_lat). */
static __attribute__((noinline)) void *malloc_timed(size_t n)
{
    if (MMP_LIKELY(mt.lat_malloc.skip > 0)) {
        mt.lat_malloc.skip--;
        return malloc_counted(n, true);
    }
    size_count(n);
    uint64_t s0 = mms__rdtsc();
    void *r = ((mmp_real_malloc_t)REAL_FOUND(malloc))(n);
    uint64_t s1 = mms__rdtsc();
    mt.lat_malloc.skip = mem_next_skip(&mt.lat_malloc, s1);
    if (MMP_UNLIKELY(!r))
        return malloc_timed_other(r, s0, s1);
    uint64_t h = ((const uint64_t *)r)[-1];
    if (MMP_UNLIKELY(h & 2))
        return malloc_timed_other(r, s0, s1);
    uint64_t got = (h & ~7ull) - 8;
    uint8_t *p = mt.malloc_tctr;
    mms__cell_add((struct mms_cell){p, true}, 0, 1);
    mms__cell_add((struct mms_cell){mt.bytes, true}, 0, got);
    mt.due_left -= (int64_t)got;
    return mem_timed_steps(MMP_CALL_malloc, p, mt.malloc_lat, &mt.lat_malloc, r,
                           got, s0, s1);
}

MMP_HOOK void *malloc(size_t n)
{
    uint8_t mode = mms_load_relaxed(&mmp_mode[MMP_CALL_malloc]);
    if (MMP_UNLIKELY(mode == MMP_OFF))
        return mms_load_relaxed(&entry_malloc)(n);
    /* Cached: counting, glibc's headers, the real function found; or
     * the same timed. */
    if (MMP_UNLIKELY(!mt.malloc_ctr)) {
        if (mode == MMP_TIMED && mt.malloc_tctr)
            return malloc_timed(n);
        return malloc_other(n);
    }
    return malloc_counted(n, false);
}

static __attribute__((noinline)) void free_slow(void *p, mmp_real_free_t real)
{
    uint8_t mode = mms_load_relaxed(&mmp_mode[MMP_CALL_free]);
    if (mode == MMP_OFF) {
        real(p);
        return;
    }
    /* Before the real free: then the address may be another thread's. */
    if (MMP_UNLIKELY(p && mmp_heap_maybe(p)))
        mmp_heap_forget(p);
    size_t gave = usable_real(p);
    uint64_t t0 = mode == MMP_TIMED ? mem_t0(MMP_CALL_free) : 0;
    real(p);
    mem_record(MMP_CALL_free, t0, false, NULL, 0, 0, gave);
}

/* free but for its fast path: timed, a thread without its cell yet,
 * NULL, another allocator, a block that may be sampled or a bootstrap
 * block (static memory: nothing to give back). */
static __attribute__((noinline)) void free_other(void *p)
{
    if (is_boot(p))
        return;
    mmp_real_free_t real = mmp_real_free();
    if (real) {
        free_slow(p, real);
        mem_cache_fast();
    }
}

/* free, timed, its cells cached (mt.free_tctr): counted before the
 * stamps, as the counting path counts before its real call. */
static __attribute__((noinline)) void free_timed(void *p)
{
    if (MMP_UNLIKELY(mmp_heap_maybe(p)))
        return free_other(p);
    uint64_t h = ((const uint64_t *)p)[-1];
    if (MMP_UNLIKELY(h & 2))
        return free_other(p);
    uint64_t gave = (h & ~7ull) - 8; /* glibc_usable */
    mms__cell_add((struct mms_cell){mt.free_tctr, true}, 0, 1);
    mms__cell_add((struct mms_cell){mt.bytes, true}, 8, gave);
    if (MMP_UNLIKELY((mt.free_left -= (int64_t)gave) < 0))
        free_due();
    mmp_real_free_t real = (mmp_real_free_t)REAL_FOUND(free);
    if (MMP_LIKELY(mt.lat_free.skip > 0)) { /* untimed (mem_lat) */
        mt.lat_free.skip--;
        mt.lat_free.pend++;
        real(p);
        return;
    }
    uint64_t s0 = mms__rdtsc();
    real(p);
    uint64_t s1 = mms__rdtsc();
    mt.lat_free.skip = mem_next_skip(&mt.lat_free, s1);
    mem_timed_steps(MMP_CALL_free, mt.free_tctr, mt.free_lat, &mt.lat_free,
                    NULL, 0, s0, s1);
}

MMP_HOOK void free(void *p)
{
    uint8_t mode = mms_load_relaxed(&mmp_mode[MMP_CALL_free]);
    if (MMP_UNLIKELY(mode == MMP_OFF)) {
        if (MMP_UNLIKELY(is_boot(p)))
            return;
        mms_load_relaxed (&free_entry)(p);
        return;
    }
    void *blk = p;
    /* Cached: counting, glibc's headers, the real function found. NULL
     * is maybe sampled (heap.c: its filter byte is never 0). */
    uint8_t *c = mt.free_ctr;
    if (MMP_UNLIKELY(!c || mmp_heap_maybe(blk))) {
        if (mode == MMP_TIMED && mt.free_tctr)
            return free_timed(blk);
        return free_other(blk);
    }
    /* A chunk glibc mapped on its own, or a bootstrap block (BOOT_MARK):
     * the other path. */
    uint64_t h = ((const uint64_t *)blk)[-1];
    if (MMP_UNLIKELY(h & 2))
        return free_other(blk);
    mmp_real_free_t real = (mmp_real_free_t)REAL_FOUND(free);
    /* Counted before the real call, which then is the last (a tail
     * call): nothing here depends on its outcome. */
    uint64_t gave = (h & ~7ull) - 8; /* glibc_usable */
    mms__cell_add((struct mms_cell){c, true}, 0, 1);
    mms__cell_add((struct mms_cell){mt.bytes, true}, 8, gave);
    if (MMP_UNLIKELY((mt.free_left -= (int64_t)gave) < 0))
        free_due();
    real(blk);
}

/* The rarer allocation calls: the off test, then the recording part, a
 * function of its own (tail-called), so that the off path saves no
 * register. */
static void *boot_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    return boot_alloc(total, 16);
}

MEM_OFF(calloc, void *, boot_calloc(n, size), size_t, n, size_t, size)

static __attribute__((noinline)) void *calloc_on(size_t n, size_t size)
{
    size_t total;
    bool overflow = __builtin_mul_overflow(n, size, &total);
    MEM_BEGIN(calloc, overflow ? NULL : boot_alloc(total, 16));
    void *r = real(n, size);
    mem_record(MMP_CALL_calloc, t0, !r, r, overflow ? SIZE_MAX : total,
               usable_real(r), 0);
    return r;
}

MMP_HOOK void *calloc(size_t n, size_t size)
{
    MEM_IF_OFF(calloc, n, size);
    return calloc_on(n, size);
}

/* realloc of a bootstrap block: move it to the real allocator. */
static __attribute__((noinline, cold)) void *realloc_from_boot(void *p,
                                                               size_t n)
{
    mmp_real_malloc_t m = mmp_real_malloc();
    void *r = m ? m(n) : boot_alloc(n, 16);
    if (r) {
        size_t old = boot_size(p);
        memcpy(r, p, old < n ? old : n);
    }
    return r;
}

/* Bootstrap blocks are tested for first: the real realloc must never
 * see one. */
MEM_OFF(realloc, void *, NULL, void *, p, size_t, n)

static __attribute__((noinline)) void *realloc_on(void *p, size_t n)
{
    MEM_BEGIN(realloc, NULL);
    size_t gave = p ? usable_real(p) : 0;
    struct mmp_heap_taken tk = {0};
    if (MMP_UNLIKELY(p && mmp_heap_maybe(p)))
        tk = mmp_heap_take(p);
    void *r = real(p, n);
    /* Failed (NULL with n > 0): the old block is still there. realloc(p,
     * 0) may free p and return NULL: not an error. */
    bool failed = !r && n > 0;
    if (MMP_UNLIKELY(tk.taken)) {
        if (failed)
            mmp_heap_untake(p, tk);
        else
            mmp_heap_drop(tk);
    }
    mem_record(MMP_CALL_realloc, t0, failed, r, n, usable_real(r),
               failed ? 0 : gave);
    return r;
}

MMP_HOOK void *realloc(void *p, size_t n)
{
    if (MMP_UNLIKELY(is_boot(p)))
        return realloc_from_boot(p, n);
    MEM_IF_OFF(realloc, p, n);
    return realloc_on(p, n);
}

static __attribute__((noinline, cold)) void *
reallocarray_from_boot(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_from_boot(p, total);
}

MEM_OFF(reallocarray, void *, NULL, void *, p, size_t, n, size_t, size)

static __attribute__((noinline)) void *reallocarray_on(void *p, size_t n,
                                                       size_t size)
{
    size_t total;
    bool overflow = __builtin_mul_overflow(n, size, &total);
    MEM_BEGIN(reallocarray, NULL);
    size_t gave = (p && !overflow) ? usable_real(p) : 0;
    struct mmp_heap_taken tk = {0};
    if (MMP_UNLIKELY(p && !overflow && mmp_heap_maybe(p)))
        tk = mmp_heap_take(p);
    void *r = real(p, n, size);
    bool failed = !r && (overflow || total > 0);
    if (MMP_UNLIKELY(tk.taken)) {
        if (failed)
            mmp_heap_untake(p, tk);
        else
            mmp_heap_drop(tk);
    }
    mem_record(MMP_CALL_reallocarray, t0, failed, r,
               overflow ? SIZE_MAX : total, usable_real(r), failed ? 0 : gave);
    return r;
}

MMP_HOOK void *reallocarray(void *p, size_t n, size_t size)
{
    if (MMP_UNLIKELY(is_boot(p)))
        return reallocarray_from_boot(p, n, size);
    MEM_IF_OFF(reallocarray, p, n, size);
    return reallocarray_on(p, n, size);
}

MEM_OFF(posix_memalign, int, (*out = boot_alloc(n, align)) ? 0 : ENOMEM,
        void **, out, size_t, align, size_t, n)

static __attribute__((noinline)) int posix_memalign_on(void **out, size_t align,
                                                       size_t n)
{
    MEM_BEGIN(posix_memalign, (*out = boot_alloc(n, align)) ? 0 : ENOMEM);
    int rc = real(out, align, n);
    mem_record(MMP_CALL_posix_memalign, t0, rc != 0, rc == 0 ? *out : NULL, n,
               rc == 0 ? usable_real(*out) : 0, 0);
    return rc;
}

MMP_HOOK int posix_memalign(void **out, size_t align, size_t n)
{
    MEM_IF_OFF(posix_memalign, out, align, n);
    return posix_memalign_on(out, align, n);
}

/* The hooks of the other allocation calls: PARAMS, ARGS and the
 * bootstrap block they get before the real function is found. */
/* NOLINTBEGIN(bugprone-macro-parentheses): function names */
#define ALLOC_HOOK(name, boot_expr, ...)                                       \
    MEM_OFF(name, void *, boot_expr, __VA_ARGS__)                              \
    static __attribute__((noinline)) void *name##_on(MMP_PARAMS(__VA_ARGS__))  \
    {                                                                          \
        MEM_BEGIN(name, boot_expr);                                            \
        void *r = real(MMP_ARGS(__VA_ARGS__));                                 \
        mem_record(MMP_CALL_##name, t0, !r, r, n, usable_real(r), 0);          \
        return r;                                                              \
    }                                                                          \
    MMP_HOOK void *name(MMP_PARAMS(__VA_ARGS__))                               \
    {                                                                          \
        MEM_IF_OFF(name, MMP_ARGS(__VA_ARGS__));                               \
        return name##_on(MMP_ARGS(__VA_ARGS__));                               \
    }
ALLOC_HOOK(aligned_alloc, boot_alloc(n, align), size_t, align, size_t, n)
ALLOC_HOOK(memalign, boot_alloc(n, align), size_t, align, size_t, n)
ALLOC_HOOK(valloc, boot_alloc(n, 4096), size_t, n)
ALLOC_HOOK(pvalloc, boot_alloc(n, 4096), size_t, n)
/* NOLINTEND(bugprone-macro-parentheses) */

MMP_HOOK size_t malloc_usable_size(void *p)
{
    return usable(p);
}
