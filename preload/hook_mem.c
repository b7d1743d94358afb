/* mem family: malloc, free and every other allocation call. Records calls
 * and errors per call; bytes allocated and freed (as the allocator's
 * usable sizes, so live bytes = allocated - freed is exact); the size
 * asked for, as a histogram; live and peak bytes as gauges.
 *
 * Bootstrap: finding the real malloc with dlsym may itself call calloc.
 * While this thread resolves, allocations come from a static arena; such
 * pointers are recognised in free, realloc and malloc_usable_size and
 * never reach the real allocator. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* ------------------------------------------------------------ bootstrap */

#define BOOT_SIZE (64 * 1024)
static _Alignas(64) uint8_t boot[BOOT_SIZE];
static size_t boot_used;

struct boot_hdr {
    size_t size;
    size_t pad; /* keeps the block 16-byte aligned */
};

static void *boot_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    size_t off, next;
    size_t cur = __atomic_load_n(&boot_used, __ATOMIC_RELAXED);
    do {
        off = (cur + sizeof(struct boot_hdr) + align - 1) & ~(align - 1);
        next = off + n;
        if (n > BOOT_SIZE || next > BOOT_SIZE)
            return NULL;
    } while (!__atomic_compare_exchange_n(&boot_used, &cur, next, 1,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    struct boot_hdr *h = (struct boot_hdr *)(boot + off) - 1;
    h->size = n;
    return boot + off; /* static storage: already zero, as calloc wants */
}

static bool is_boot(const void *p)
{
    return (const uint8_t *)p >= boot && (const uint8_t *)p < boot + BOOT_SIZE;
}

static size_t boot_size(const void *p)
{
    return ((const struct boot_hdr *)p - 1)->size;
}

/* -------------------------------------------------------- real functions */

static __thread int resolving __attribute__((tls_model("initial-exec")));

/* Resolve NAME unless this thread is already resolving (then NULL: the
 * caller serves the bootstrap arena). */
static void *resolve_mem(void **slot, const char *name)
{
    void *p = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (MMS_LIKELY(p) || resolving)
        return p;
    resolving = 1;
    p = mmp_resolve(name);
    resolving = 0;
    __atomic_store_n(slot, p, __ATOMIC_RELAXED);
    return p;
}

#define MEM_REAL(ret, name, params)                                            \
    static ret(*real_##name) params;                                           \
    static inline ret(*get_##name(void)) params                                \
    {                                                                          \
        return (ret(*) params)resolve_mem((void **)&real_##name, #name);       \
    }

MEM_REAL(void *, malloc, (size_t))
MEM_REAL(void, free, (void *))
MEM_REAL(void *, calloc, (size_t, size_t))
MEM_REAL(void *, realloc, (void *, size_t))
MEM_REAL(void *, reallocarray, (void *, size_t, size_t))
MEM_REAL(int, posix_memalign, (void **, size_t, size_t))
MEM_REAL(void *, aligned_alloc, (size_t, size_t))
MEM_REAL(void *, memalign, (size_t, size_t))
MEM_REAL(void *, valloc, (size_t))
MEM_REAL(void *, pvalloc, (size_t))
MEM_REAL(size_t, malloc_usable_size, (void *))

/* ------------------------------------------------------------ recording */

uint32_t mmp_mem_alloc_off, mmp_mem_freed_off; /* shard offsets */
mms_field *mmp_mem_size, *mmp_mem_live, *mmp_mem_peak;

/* Live bytes change on every call; a shared gauge written that often
 * would be a cache line all threads fight over. Each thread gathers its
 * change and publishes it past this threshold (so the gauges lag the
 * exact live bytes, alloc_bytes - freed_bytes, by at most this much per
 * thread). */
#define LIVE_FLUSH (64 * 1024)
static __thread int64_t live_delta __attribute__((tls_model("initial-exec")));

static void live_flush(void)
{
    uint64_t *live = (uint64_t *)(mmp_writer->base + mmp_mem_live->off);
    uint64_t now =
        __atomic_add_fetch(live, (uint64_t)live_delta, __ATOMIC_RELAXED);
    live_delta = 0;
    if ((int64_t)now > 0)
        mms__raise_to((uint64_t *)(mmp_writer->base + mmp_mem_peak->off), now);
}

/* A thread's last moments (shim.c): publish what it gathered, or it
 * would be lost with the thread. */
void mmp_mem_thread_exit(void)
{
    if (live_delta && mmp_mem_live)
        live_flush();
}

/* glibc's malloc keeps a block's size in the word before it: the low
 * three bits are flags (bit 1: mmapped), and malloc_usable_size is that
 * size less the header (8 bytes, 16 for an mmapped block). Reading it
 * here saves a call per malloc and per free, but only once mmp_mem_init
 * has checked that the next allocator is glibc's and that the formula
 * agrees with its malloc_usable_size; otherwise the real function is
 * asked every time. */
static bool glibc_sizes;

static inline size_t glibc_usable(const void *p)
{
    uint64_t h = ((const uint64_t *)p)[-1];
    return (size_t)((h & ~7ull) - ((h & 2) ? 16 : 8));
}

static inline __attribute__((always_inline)) size_t usable(void *p)
{
    if (!p)
        return 0;
    if (MMS_UNLIKELY(is_boot(p)))
        return boot_size(p);
    if (MMS_LIKELY(glibc_sizes))
        return glibc_usable(p);
    size_t (*f)(void *) = get_malloc_usable_size();
    return f ? f(p) : 0;
}

void mmp_mem_init(void)
{
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
    void *(*m)(size_t) = get_malloc();
    void (*fr)(void *) = get_free();
    size_t (*us)(void *) = get_malloc_usable_size();
    Dl_info a, b;
    if (!m || !fr || !us || !dladdr((void *)m, &a) || !dladdr((void *)us, &b) ||
        !a.dli_fname || !b.dli_fname || strcmp(a.dli_fname, b.dli_fname) ||
        !strstr(a.dli_fname, "libc.so"))
        return;
    static const size_t sizes[] = {1,    8,    24,    25,     100,
                                   1000, 4096, 70000, 300000, 5000000};
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

/* One allocation call: ERR if it failed; ASKED bytes requested; GOT and
 * GAVE the usable sizes of the block returned and of the block freed.
 *
 * A free by a thread that holds no shard goes to the shared shard, and
 * its live bytes are published at once: glibc frees a thread's buffers
 * through this hook after the thread's shard went back at its exit (and
 * in threads that never recorded anything). Taking a shard then would
 * leak it (nobody hands it back), and unpublished bytes would be lost. */
static inline __attribute__((always_inline)) void
mem_record(struct mmp_call *c, uint64_t t0, bool err, uint64_t asked,
           uint64_t got, uint64_t gave)
{
    /* ...or one parked on shard 0 at its exit (core/shard.c): its live
     * bytes have no later flush to wait for. */
    bool no_shard =
        c == &mmp_calls[MMP_CALL_free] &&
        MMS_UNLIKELY(mms__tls[0].wid != mmp_wid || mms__tls[0].shard == 0);
    struct mms__shard_ref sh =
        no_shard ? (struct mms__shard_ref){mmp_writer->base +
                                               mmp_writer->hdr->shard_off,
                                           false}
                 : mmp_shard();
    uint64_t *cell = (uint64_t *)(sh.base + c->off);
    mms__add_cell(&cell[0], 1, sh.owned);
    if (MMS_UNLIKELY(err))
        mms__add_cell(&cell[1], 1, sh.owned);
    if (got) {
        mms__add_cell((uint64_t *)(sh.base + mmp_mem_alloc_off), got, sh.owned);
        mms__hist_record_geom(mmp_mem_size, sh, asked, 0, MMP_SIZE_BITS,
                              MMP_SIZE_MAX_EXP);
    }
    if (gave)
        mms__add_cell((uint64_t *)(sh.base + mmp_mem_freed_off), gave,
                      sh.owned);
    live_delta += (int64_t)got - (int64_t)gave;
    if (live_delta > LIVE_FLUSH || live_delta < -LIVE_FLUSH || no_shard)
        live_flush();
    if (MMS_UNLIKELY(t0))
        mmp_record_latency(c, sh, t0);
}

/* The usual shape: BODY computes `void *r` with real_NAME; the call
 * failed if r is NULL while ASKED > 0. */
#define MEM_BEGIN(name, boot_expr)                                             \
    struct mmp_call *mmp_c = &mmp_calls[MMP_CALL_##name];                      \
    if (MMS_UNLIKELY(!get_##name()))                                           \
        return boot_expr;                                                      \
    uint8_t mmp_mode = __atomic_load_n(&mmp_c->mode, __ATOMIC_RELAXED);        \
    bool mmp_rec = mmp_mode != MMP_OFF;                                        \
    uint64_t mmp_t0 = mmp_mode == MMP_TIMED ? mmp_clock() : 0

/* mem_record never changes errno (see mmp_record). */
#define MEM_END(err, asked, got, gave)                                         \
    do {                                                                       \
        if (mmp_rec)                                                           \
            mem_record(mmp_c, mmp_t0, err, asked, got, gave);                  \
    } while (0)

/* ---------------------------------------------------------------- hooks */

/* malloc and free are the hottest hooks: their timed paths are functions
 * of their own, so the counting paths keep few registers live across the
 * real call (as MMP_DEFINE does for the other families). */
static __attribute__((noinline)) void *malloc_timed(size_t n)
{
    uint64_t t0 = mmp_clock();
    void *r = real_malloc(n);
    mem_record(&mmp_calls[MMP_CALL_malloc], t0, !r, n, usable(r), 0);
    return r;
}

MMP_HOOK void *malloc(size_t n)
{
    if (MMS_UNLIKELY(!get_malloc()))
        return boot_alloc(n, 16);
    uint8_t mode =
        __atomic_load_n(&mmp_calls[MMP_CALL_malloc].mode, __ATOMIC_RELAXED);
    if (MMS_UNLIKELY(mode == MMP_TIMED))
        return malloc_timed(n);
    void *r = real_malloc(n);
    if (mode != MMP_OFF)
        mem_record(&mmp_calls[MMP_CALL_malloc], 0, !r, n, usable(r), 0);
    return r;
}

static __attribute__((noinline)) void free_timed(void *p)
{
    size_t gave = usable(p);
    uint64_t t0 = mmp_clock();
    real_free(p);
    mem_record(&mmp_calls[MMP_CALL_free], t0, false, 0, 0, gave);
}

MMP_HOOK void free(void *p)
{
    if (MMS_UNLIKELY(is_boot(p)))
        return; /* bootstrap memory is static: nothing to give back */
    if (MMS_UNLIKELY(!get_free()))
        return;
    uint8_t mode =
        __atomic_load_n(&mmp_calls[MMP_CALL_free].mode, __ATOMIC_RELAXED);
    if (MMS_UNLIKELY(mode == MMP_TIMED)) {
        free_timed(p);
        return;
    }
    if (mode == MMP_OFF) {
        real_free(p);
        return;
    }
    size_t gave = usable(p);
    real_free(p);
    mem_record(&mmp_calls[MMP_CALL_free], 0, false, 0, 0, gave);
}

MMP_HOOK void *calloc(size_t n, size_t size)
{
    size_t total;
    bool overflow = __builtin_mul_overflow(n, size, &total);
    MEM_BEGIN(calloc, overflow ? NULL : boot_alloc(total, 16));
    void *r = real_calloc(n, size);
    MEM_END(!r, overflow ? SIZE_MAX : total, usable(r), 0);
    return r;
}

/* realloc of a bootstrap block: move it to the real allocator. */
static void *realloc_from_boot(void *p, size_t n)
{
    void *(*m)(size_t) = get_malloc();
    void *r = m ? m(n) : boot_alloc(n, 16);
    if (r) {
        size_t old = boot_size(p);
        memcpy(r, p, old < n ? old : n);
    }
    return r;
}

MMP_HOOK void *realloc(void *p, size_t n)
{
    if (MMS_UNLIKELY(is_boot(p)))
        return realloc_from_boot(p, n);
    MEM_BEGIN(realloc, NULL);
    size_t gave = (mmp_rec && p) ? usable(p) : 0;
    void *r = real_realloc(p, n);
    /* Failed (NULL with n > 0): the old block is still there. realloc(p,
     * 0) may free p and return NULL: not an error. */
    bool failed = !r && n > 0;
    MEM_END(failed, n, usable(r), failed ? 0 : gave);
    return r;
}

MMP_HOOK void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (MMS_UNLIKELY(is_boot(p))) {
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return realloc_from_boot(p, total);
    }
    bool overflow = __builtin_mul_overflow(n, size, &total);
    MEM_BEGIN(reallocarray, NULL);
    size_t gave = (mmp_rec && p && !overflow) ? usable(p) : 0;
    void *r = real_reallocarray(p, n, size);
    bool failed = !r && (overflow || total > 0);
    MEM_END(failed, overflow ? SIZE_MAX : total, usable(r), failed ? 0 : gave);
    return r;
}

MMP_HOOK int posix_memalign(void **out, size_t align, size_t n)
{
    MEM_BEGIN(posix_memalign, (*out = boot_alloc(n, align)) ? 0 : ENOMEM);
    int rc = real_posix_memalign(out, align, n);
    MEM_END(rc != 0, n, rc == 0 ? usable(*out) : 0, 0);
    return rc;
}

#define ALIGNED_HOOK(name)                                                     \
    MMP_HOOK void *name(size_t align, size_t n)                                \
    {                                                                          \
        MEM_BEGIN(name, boot_alloc(n, align));                                 \
        void *r = real_##name(align, n);                                       \
        MEM_END(!r, n, usable(r), 0);                                          \
        return r;                                                              \
    }
ALIGNED_HOOK(aligned_alloc)
ALIGNED_HOOK(memalign)

#define PAGE_HOOK(name)                                                        \
    MMP_HOOK void *name(size_t n)                                              \
    {                                                                          \
        MEM_BEGIN(name, boot_alloc(n, 4096));                                  \
        void *r = real_##name(n);                                              \
        MEM_END(!r, n, usable(r), 0);                                          \
        return r;                                                              \
    }
PAGE_HOOK(valloc)
PAGE_HOOK(pvalloc)

MMP_HOOK size_t malloc_usable_size(void *p)
{
    return usable(p);
}
