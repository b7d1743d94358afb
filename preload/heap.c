/* The heap profile: allocations sampled by bytes, their sites (stacks) in
 * a keyed table of the stats file with estimated bytes and allocations,
 * allocated and live, and the sampled blocks in a bounded private table
 * so that their frees move live bytes back.
 *
 * Sampling (as tcmalloc's and jemalloc's profilers): the bytes a thread
 * allocates are a line on which sample points fall at exponentially
 * distributed distances of mean R (MMSTATS_HEAP_SAMPLE). A block of S
 * bytes holding a point is sampled, with probability P = 1 - exp(-S/R),
 * and stands for S/P bytes and 1/P allocations: the estimates are
 * unbiased, and a block of S >> R counts as itself. */
#include <string.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <mmstats/preload.h>

#include "config.h"
#include "heap.h"
#include "unwind.h"

/* NULL's byte (0) is never 0: free's fast path tests the filter, not
 * NULL. Initialized data, not zeroed: its pages are the library file's
 * until a sample writes them (a fork child's MADV_DONTNEED goes back to
 * this). */
_Alignas(4096) uint8_t mmp_heap_filter[1u << MMP_HEAP_FILTER_BITS] = {[0] = 1};

/* ------------------------------------------------------ fields, tables */

enum {
    SITE_BYTES,
    SITE_ALLOCS,
    SITE_LIVE_BYTES,
    SITE_LIVE_ALLOCS,
    SITE_SAMPLES
};
enum { F_SAMPLE_BYTES, F_SAMPLES, F_UNTRACKED, F_REENTERED, F_SLOW_STACKS, NF };

static mms_table *sites;
mms_table *mmp_heap_objects;
static mms_field *fields[NF];
static uint32_t site_off[5];
static uint8_t heap_state; /* enum mmp_fields_state */
static int64_t rate;       /* R, bytes; 0: off */

static int make_tables(void)
{
    static const struct mms_field_spec fs[NF] = {
        {.name = "mem.heap.sample_bytes",
         .kind = MMS_KIND_GAUGE,
         .units = "bytes",
         .help = "mean distance between heap samples (MMSTATS_HEAP_SAMPLE)"},
        {.name = "mem.heap.samples",
         .kind = MMS_KIND_COUNTER,
         .units = "samples",
         .help = "allocations sampled"},
        {.name = "mem.heap.untracked",
         .kind = MMS_KIND_COUNTER,
         .units = "samples",
         .help = "sampled blocks whose free cannot be seen (the sampled-"
                 "block table was full): counted allocated, never live"},
        {.name = "mem.heap.reentered",
         .kind = MMS_KIND_COUNTER,
         .units = "calls",
         .help = "allocations made while taking a sample (not sampled)"},
        {.name = "mem.heap.slow_stacks",
         .kind = MMS_KIND_COUNTER,
         .units = "samples",
         .help = "samples whose stack the caching walker left to "
                 "backtrace (a frame it cannot describe, an unknown stack)"},
    };
    /* In a struct: the analyzer's padding check counts a bare array's
     * element padding times its length against the public struct. */
    static const struct {
        struct mms_table_member m[5];
    } sm = {{
        {.name = "bytes", .kind = MMS_MK_SUM, .units = "bytes"},
        {.name = "allocs", .kind = MMS_MK_SUM, .units = "calls"},
        {.name = "live_bytes", .kind = MMS_MK_SUM_I64, .units = "bytes"},
        {.name = "live_allocs", .kind = MMS_MK_SUM_I64, .units = "calls"},
        {.name = "samples", .kind = MMS_MK_SUM, .units = "samples"},
    }};
    static const struct mms_table_member om[] = {
        {.name = "base", .kind = MMS_MK_MAX, .units = "address"},
        {.name = "start", .kind = MMS_MK_MAX, .units = "address"},
        {.name = "end", .kind = MMS_MK_MAX, .units = "address"},
    };
    struct mms_table_spec st = {
        .name = "mem.heap.sites",
        .help = "sampled allocation sites: estimated bytes and allocations, "
                "allocated and live; key: return addresses, innermost first",
        .capacity = (uint32_t)mmp_cfg.heap_sites,
        .key_type = MMS_KEY_U64S,
        .key_max = MMP_HEAP_DEPTH * 8,
        .members = sm.m,
        .nmembers = 5};
    struct mms_table_spec ot = {
        .name = "mem.heap.objects",
        .help = "objects the sites' stacks run in; key: build id (hex), "
                "':', path",
        .capacity = 1024,
        .key_type = MMS_KEY_TEXT,
        .key_max = 1024,
        .members = om,
        .nmembers = 3};
    mms_field *f[NF];
    int rc = mmp_group_add(fs, NF, f);
    if (rc < 0)
        return rc;
    mms_table *s, *o;
    if ((rc = mmp_table_add(&st, &s)) < 0 || (rc = mmp_table_add(&ot, &o)) < 0)
        return rc;
    for (unsigned m = 0; m < 5; m++)
        site_off[m] = mms__record_member_off(s, m);
    uint64_t *g = mms__gauge_cell(f[F_SAMPLE_BYTES]);
    if (g)
        mms_store_relaxed(g, (uint64_t)rate);
    for (unsigned i = 0; i < NF; i++)
        mms_store_relaxed(&fields[i], f[i]);
    mms_store_relaxed(&sites, s);
    mms_store_relaxed(&mmp_heap_objects, o);
    return 0;
}

static bool heap_ready(void)
{
    uint8_t st = mms_load_acquire(&heap_state);
    if (MMP_LIKELY(st != MMP_FIELDS_NONE))
        return st == MMP_FIELDS_READY;
    int rc = make_tables();
    if (rc == 0)
        mms_store_release(&heap_state, (uint8_t)MMP_FIELDS_READY);
    else if (rc != MMS_EBUSY)
        mms_store_release(&heap_state, (uint8_t)MMP_FIELDS_FAILED);
    return rc == 0;
}

/* A thread that never recorded (a free as it exits) or is exiting must
 * claim nothing: shared cells. */
static bool claims(bool is_free)
{
    return mmp_thread == MMP_THREAD_ACTIVE ||
           (mmp_thread == MMP_THREAD_NEW && !is_free);
}

static void count(unsigned i, bool is_free)
{
    mms_field *f = fields[i];
    struct mms_cell c = claims(is_free) ? mms__cell(f) : mms__cell_shared(f);
    if (c.p)
        mms__cell_add(c, 0, 1);
    else
        mmp_drop();
}

/* Add a sample to site REC (allocated; live too if LIVE), or take a
 * freed one's live figures back. */
static void site_add(uint32_t rec, bool is_free, bool live, uint64_t bytes,
                     uint64_t allocs)
{
    struct mms_cell c = claims(is_free) ? mms__record_cell(sites, rec)
                                        : mms__record_cell_shared(sites, rec);
    if (!c.p) {
        mmp_drop();
        return;
    }
    if (!is_free) {
        mms__cell_add(c, site_off[SITE_BYTES], bytes);
        mms__cell_add(c, site_off[SITE_ALLOCS], allocs);
        mms__cell_add(c, site_off[SITE_SAMPLES], 1);
    }
    if (live) {
        /* SUM_I64: two's complement adds. */
        mms__cell_add(c, site_off[SITE_LIVE_BYTES], is_free ? -bytes : bytes);
        mms__cell_add(c, site_off[SITE_LIVE_ALLOCS],
                      is_free ? -allocs : allocs);
    }
}

/* ------------------------------------------------ the sampled blocks */

/* Open addressing over the block's address; a slot's key is 0 (never
 * used: a probe stops there), TOMB (freed: reused by inserts) or the
 * address. Each address is in the table at most once: it is inserted
 * after the allocator returned it and removed before it goes back.
 *
 * The table grows in levels, so that a process pays for the samples it
 * holds (the whole table, mapped at start-up, was 1.5 MiB of every
 * process's address space): level K has 1024 << K slots, level 0 is
 * mapped at start-up, level K + 1 by the sampling slow path (a system
 * call, as rare as samples that find the levels below at their load
 * limit; none under seccomp). An insert takes the first level below its
 * load limit with a free slot within PROBES; a remove looks in each
 * mapped level. Past the last level, or when no level can be mapped, the
 * block is left untracked (counted). */
#define LEVEL0_BITS 10
#define LEVELS 6 /* 63 x 1024 slots at most, 1.45 MiB */
#define PROBES 64
#define TOMB ((uint64_t)1)
struct ptr_slot {
    uint64_t key;
    uint32_t rec, allocs;
    uint64_t bytes;
};
static struct ptr_slot *level[LEVELS]; /* private memory, NULL: not mapped */
static uint32_t level_live[LEVELS];    /* addresses in each level */

static size_t level_slots(unsigned k)
{
    return (size_t)1 << (LEVEL0_BITS + k);
}

static size_t level_bytes(unsigned k)
{
    return level_slots(k) * sizeof(struct ptr_slot);
}

/* Where P's probe starts in level K. */
static size_t ptr_hash(uint64_t p, unsigned k)
{
    return (size_t)(((p >> 4) * 0x9E3779B97F4A7C15ull) >>
                    (64 - LEVEL0_BITS - k));
}

/* Level K, mapped if need be (NULL: none can be mapped now). A level lost
 * to another thread's mapping is given back. */
static struct ptr_slot *level_get(unsigned k)
{
    struct ptr_slot *l = mms_load_acquire(&level[k]), *none = NULL;
    if (l || !mmp_syscalls_allowed())
        return l;
    void *m = mmp_sys_map(NULL, level_bytes(k), 0);
    if (m == MAP_FAILED)
        return mms_load_acquire(&level[k]);
    if (!mms_cas_acq_rel(&level[k], &none, (struct ptr_slot *)m)) {
        mmp_sys_unmap(m, level_bytes(k));
        return none;
    }
    return m;
}

static uint8_t *filter_byte(uint64_t p)
{
    return &mmp_heap_filter[(p >> 4) & ((1u << MMP_HEAP_FILTER_BITS) - 1)];
}

/* Insert P in level L (K): false if no free slot within PROBES. */
static bool level_insert(struct ptr_slot *l, unsigned k, uint64_t p,
                         uint32_t rec, uint64_t bytes, uint32_t allocs)
{
    size_t h = ptr_hash(p, k), mask = level_slots(k) - 1;
    for (uint32_t i = 0; i < PROBES; i++) {
        struct ptr_slot *s = &l[(h + i) & mask];
        uint64_t cur = mms_load_relaxed(&s->key);
        if (cur > TOMB)
            continue;
        if (!mms_cas_acq_rel(&s->key, &cur, p))
            continue;
        s->rec = rec;
        s->allocs = allocs;
        s->bytes = bytes;
        mms_add_relaxed(&level_live[k], 1);
        return true;
    }
    return false;
}

/* A fork child's tables, its parent's until its first sample or free of
 * a block the filter may hold (mmp_heap_child): the parent's blocks live
 * on here, but the child's sites start from zero, so their frees must not
 * move the child's live bytes. False while another thread (or a signal
 * handler interrupting this one) resets them: the child has no block of
 * its own in them yet, so a lookup finds none and an insert is left
 * untracked. */
enum { CHILD_FRESH, CHILD_STALE, CHILD_RESETTING };
static uint8_t child_stale;

static bool child_reset(void)
{
    uint8_t st = CHILD_STALE;
    if (MMP_LIKELY(mms_load_acquire(&child_stale) == CHILD_FRESH))
        return true;
    if (!mms_cas_acq_rel(&child_stale, &st, (uint8_t)CHILD_RESETTING))
        return st == CHILD_FRESH;
    int saved = errno;
    mmp_heap_stack_child();
    bool calls = mmp_syscalls_allowed();
    for (unsigned k = 0; k < LEVELS; k++) {
        struct ptr_slot *l = mms_load_relaxed(&level[k]);
        if (l &&
            (!calls || mmp_sys_map(l, level_bytes(k), MAP_FIXED) == MAP_FAILED))
            memset(l, 0, level_bytes(k));
        level_live[k] = 0;
    }
    if (!calls || mmp_sys_madvise(mmp_heap_filter, sizeof mmp_heap_filter,
                                  MADV_DONTNEED) != 0)
        memset(mmp_heap_filter, 0, sizeof mmp_heap_filter);
    if (!mms_load_relaxed(&mmp_heap_filter[0]))
        mmp_heap_filter[0] = 1; /* memset: not the file's page */
    errno = saved;
    mms_store_release(&child_stale, (uint8_t)CHILD_FRESH);
    return true;
}

static bool ptr_insert(uint64_t p, uint32_t rec, uint64_t bytes,
                       uint32_t allocs)
{
    uint8_t *fb = filter_byte(p);
    if (!mms_load_relaxed(&level[0]) || !child_reset() ||
        mms_load_relaxed(fb) == UINT8_MAX)
        return false;
    for (unsigned k = 0; k < LEVELS; k++) {
        /* Load limit 3/4: probes stay short. */
        if (mms_load_relaxed(&level_live[k]) >= level_slots(k) / 4 * 3)
            continue;
        struct ptr_slot *l = level_get(k);
        if (!l)
            return false;
        if (level_insert(l, k, p, rec, bytes, allocs)) {
            mms_add_relaxed(fb, 1);
            return true;
        }
    }
    return false;
}

static bool ptr_remove(uint64_t p, struct mmp_heap_taken *out)
{
    if (!child_reset())
        return false;
    for (unsigned k = 0; k < LEVELS; k++) {
        struct ptr_slot *l = mms_load_acquire(&level[k]);
        if (!l)
            return false; /* levels are mapped in order */
        size_t h = ptr_hash(p, k), mask = level_slots(k) - 1;
        for (uint32_t i = 0; i < PROBES; i++) {
            struct ptr_slot *s = &l[(h + i) & mask];
            uint64_t cur = mms_load_acquire(&s->key);
            if (cur == 0)
                break;
            if (cur != p)
                continue;
            *out = (struct mmp_heap_taken){s->bytes, s->rec, s->allocs, true};
            mms_store_release(&s->key, TOMB);
            mms_add_relaxed(&level_live[k], (uint32_t)-1);
            mms_add_relaxed(filter_byte(p), (uint8_t)-1);
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ sampling */

/* This thread's sampler. Its last sample's stack and site (site_valid):
 * a loop's samples mostly come from one stack, whose site is then found
 * by comparing frames, not by the table's hash of the key (mms__fnv1a,
 * byte by byte) and look-up. A fork child forgets it (the child's file
 * makes its sites again). */
struct heap_tls {
    uint64_t rng;
    uint8_t seeded, busy, site_valid;
    uint32_t site_n, site_rec;
    uint64_t site_frames[MMP_HEAP_DEPTH];
};
static __thread struct heap_tls ht MMP_IE;

static uint64_t next_rand(void)
{
    /* xorshift64* */
    uint64_t x = ht.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ht.rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* A uniform double in (0, 1]. */
static double uniform(void)
{
    return (double)((next_rand() >> 11) + 1) * 0x1.0p-53;
}

/* -ln(U) for U in (0, 1], to about 1e-9: U = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <
 * 0.172. Our own, so that the shim does not load libm into every
 * process for one call. */
static double neg_ln(double u)
{
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double s = (m - 1) / (m + 1), s2 = s * s;
    double t = 1.0 / 13;
    for (int k = 11; k >= 1; k -= 2)
        t = t * s2 + 1.0 / k;
    return -(e * 0.6931471805599453 + 2 * s * t);
}

/* 1 - e^-Y for Y >= 0 (the probability that a block of Y mean
 * distances holds a sample point), to about 1e-14: its series for small
 * Y (where 1 - exp would lose the digits), else e^-Y = 2^k e^r with |r|
 * <= ln 2 / 2. */
static double one_minus_exp_neg(double y)
{
    if (!(y > 0))
        return 0;
    if (y > 700)
        return 1;
    if (y < 0.5) {
        double term = y, sum = y;
        for (int k = 2; k <= 14; k++) {
            term *= -y / k;
            sum += term;
        }
        return sum;
    }
    double kf = (double)(int64_t)(y / 0.6931471805599453 + 0.5);
    double r = kf * 0.6931471805599453 - y; /* -y = -k ln 2 + r */
    double term = 1, e = 1;
    for (int k = 1; k <= 14; k++) {
        term *= r / k;
        e += term;
    }
    uint64_t bits = (uint64_t)(1023 - (int64_t)kf) << 52; /* 2^-k */
    double p2;
    memcpy(&p2, &bits, sizeof p2);
    return 1 - e * p2;
}

/* The distance to the next sample: exponential, mean R. */
static int64_t draw(void)
{
    double d = neg_ln(uniform()) * (double)rate;
    return d >= 0x1.0p62 ? INT64_MAX / 2 : (int64_t)d + 1;
}

static void seed(void *p)
{
    static uint64_t threads;
    uint64_t s = (uint64_t)(uintptr_t)&ht ^ ((uint64_t)(uintptr_t)p << 17) ^
                 (mms_add_relaxed(&threads, 1) * 0x9E3779B97F4A7C15ull);
#if defined(__x86_64__) || defined(__i386__)
    s ^= __builtin_ia32_rdtsc();
#endif
    ht.rng = s ? s : 0x9E3779B97F4A7C15ull;
    ht.seeded = 1;
}

/* An estimate, rounded up or down at random so that its mean is X. */
static uint64_t round_random(double x)
{
    if (!(x > 0))
        return 0;
    if (x >= 0x1.0p63)
        return UINT64_MAX / 2;
    double f = (double)(uint64_t)x; /* floor, without libm */
    return (uint64_t)f + (uniform() <= x - f ? 1 : 0);
}

/* The site of the N FRAMES into *REC: this thread's last one if the
 * frames are the same, else the table's (made if need be). False if
 * the table has no room. */
static bool site_of(const uint64_t *frames, unsigned n, uint32_t *rec)
{
    if (ht.site_valid && ht.site_n == n &&
        memcmp(ht.site_frames, frames, n * sizeof frames[0]) == 0) {
        *rec = ht.site_rec;
        return true;
    }
    if (mms_record_get(sites, frames, n * sizeof frames[0], rec) < 0)
        return false;
    memcpy(ht.site_frames, frames, n * sizeof frames[0]);
    ht.site_n = n;
    ht.site_rec = *rec;
    ht.site_valid = 1;
    return true;
}

void mmp_heap_sample(void *p, uint64_t got, int64_t *left)
{
    /* The walk starts at the caller: this function's frame and those
     * below it are the shim's. */
    struct mmp_frame from;
    MMP_CALLER_FRAME(&from);
    if (ht.busy) {
        /* An allocation made while taking a sample: the unwinder (primed
         * at start-up, it should not), or a signal handler. */
        if (mms_load_acquire(&heap_state) == MMP_FIELDS_READY)
            count(F_REENTERED, false);
        return;
    }
    if (rate <= 0) {
        *left = INT64_MAX;
        return;
    }
    int saved = errno;
    ht.busy = 1;
    __asm__ volatile("" ::: "memory");
    if (!ht.seeded) {
        seed(p);
        /* As if the countdown had started before this block. */
        int64_t l = draw() - (int64_t)got;
        if (l >= 0) {
            *left = l;
            goto out;
        }
    }
    *left = -1; /* nested allocations come here, and count */
    if (!heap_ready() || !child_reset()) {
        mmp_drop();
        goto next;
    }
    double s = (double)got;
    double prob = got ? one_minus_exp_neg(s / (double)rate) : 1.0;
    uint64_t bytes = (uint64_t)(s / prob + 0.5);
    uint64_t allocs = round_random(1.0 / prob);
    uint64_t frames[MMP_HEAP_DEPTH];
    bool slow;
    unsigned n = mmp_heap_stack(&from, frames, &slow);
    if (slow)
        count(F_SLOW_STACKS, false);
    uint32_t rec;
    if (!site_of(frames, n, &rec)) {
        mmp_drop();
        goto next;
    }
    count(F_SAMPLES, false);
    bool tracked =
        allocs <= UINT32_MAX &&
        ptr_insert((uint64_t)(uintptr_t)p, rec, bytes, (uint32_t)allocs);
    if (!tracked)
        count(F_UNTRACKED, false);
    /* Live only if its free will be seen. */
    site_add(rec, false, tracked, bytes, allocs);
next:
    *left = draw();
out:
    __asm__ volatile("" ::: "memory");
    ht.busy = 0;
    errno = saved;
}

struct mmp_heap_taken mmp_heap_take(void *p)
{
    struct mmp_heap_taken t = {0};
    int saved = errno;
    t.taken = ptr_remove((uint64_t)(uintptr_t)p, &t);
    errno = saved;
    return t;
}

void mmp_heap_drop(struct mmp_heap_taken t)
{
    if (!t.taken || !sites)
        return;
    int saved = errno;
    site_add(t.rec, true, true, t.bytes, t.allocs);
    errno = saved;
}

void mmp_heap_untake(void *p, struct mmp_heap_taken t)
{
    if (!t.taken)
        return;
    if (!ptr_insert((uint64_t)(uintptr_t)p, t.rec, t.bytes, t.allocs))
        mmp_heap_drop(t); /* never seen freed: no longer live */
}

void mmp_heap_forget(void *p)
{
    mmp_heap_drop(mmp_heap_take(p));
}

/* ------------------------------------------------------------ start-up */

void mmp_heap_start(void)
{
    rate = mmp_cfg.heap_sample;
    if (rate > 0)
        pthread_atfork(NULL, NULL, mmp_heap_child);
}

/* With the stats file (the first call recorded, before any sample): the
 * table's first level (a mapping) and what stacks need, whose first
 * backtrace loads libgcc_s; a process that records nothing never pays
 * for them. */
void mmp_heap_made(void)
{
    if (rate <= 0)
        return;
    if (!level_get(0)) {
        mms_store_relaxed(&rate, (int64_t)0);
        return;
    }
    mmp_heap_stack_start();
}

void mmp_heap_child(void)
{
    if (ht.site_valid) /* written only if set: a page copied otherwise */
        ht.site_valid = 0;
    /* Not now: most fork children (a shell's) exec without a sample or a
     * free of a sampled block, and the reset below cost them seven page
     * faults and two system calls. child_reset does it first thing. */
    if (mms_load_relaxed(&level[0]))
        mms_store_relaxed(&child_stale, (uint8_t)CHILD_STALE);
}
