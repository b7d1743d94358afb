/* sync family: where threads wait on each other, in the spirit of mutrace.
 *
 * Locks (LOCK shape: mutex, rwlock, spin, sem): the hook first tries the
 * lock with its try function (pthread_mutex_trylock, ...; not hooked).
 * When the try succeeds, that is the acquisition: count it and return;
 * the uncontended path reads no clock. Only when the try fails is the
 * acquisition "contended": then the real call is timed (its wait is the
 * "latency" histogram), counted in "contended", and the lock's record in
 * the table sync.locks (by address: contended acquisitions, wait total
 * and maximum, the call site of its first contention) is updated. Taking
 * the lock with a try and then the real call changes nothing the program
 * can see: glibc's own calls try the same atomic first, and check a
 * timeout only when they must wait.
 *
 * Waits (PWAIT shape: condition variables, barriers, join, the sleeps):
 * timed whole, since waiting is what they do.
 *
 * The shim's own locks (the core takes one at fork, and when a table is
 * made) count like the program's. */
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>
#include <unistd.h>

#include <mmstats/preload.h>

#include "shim.h"

/* A lock's try function, looked up with its first use (a dlsym): a
 * process that takes no lock (most short ones) never pays for it, nor
 * for the lookup of the ones it does not take. Until found (or if never
 * found): "busy", which sends the hook to its slow path (and that, while
 * the family records nothing, straight to the real function). */
/* volatile: pthread_spinlock_t is a volatile int. */
typedef int (*try_fn)(volatile void *);

static int no_try(volatile void *l)
{
    (void)l;
    return EBUSY;
}
static int no_sem_try(volatile void *l)
{
    (void)l;
    errno = EAGAIN;
    return -1;
}

/* The try functions, one slot each (not one per call: the table is
 * relocated by ld.so at load, and its page is written then; 5 pointers
 * fit beside the others on a page ld.so writes anyway, a table by call
 * took a page of its own: docs/performance.md, start-up). A lock call's
 * slot is TRY_OF_<call>. */
enum { TRY_MUTEX, TRY_RDLOCK, TRY_WRLOCK, TRY_SPIN, TRY_SEM, TRY_N };
#define TRY_OF_pthread_mutex_lock TRY_MUTEX
#define TRY_OF_pthread_mutex_timedlock TRY_MUTEX
#define TRY_OF_pthread_rwlock_rdlock TRY_RDLOCK
#define TRY_OF_pthread_rwlock_timedrdlock TRY_RDLOCK
#define TRY_OF_pthread_rwlock_wrlock TRY_WRLOCK
#define TRY_OF_pthread_rwlock_timedwrlock TRY_WRLOCK
#define TRY_OF_pthread_spin_lock TRY_SPIN
#define TRY_OF_sem_wait TRY_SEM
#define TRY_OF_sem_timedwait TRY_SEM

static int try_first(const char *name, unsigned slot, try_fn first, try_fn busy,
                     volatile void *l);

#define TRY_FIRST(fn_name, slot, busy)                                         \
    static int first_##fn_name(volatile void *l)                               \
    {                                                                          \
        return try_first(#fn_name, slot, first_##fn_name, busy, l);            \
    }
TRY_FIRST(pthread_mutex_trylock, TRY_MUTEX, no_try)
TRY_FIRST(pthread_rwlock_tryrdlock, TRY_RDLOCK, no_try)
TRY_FIRST(pthread_rwlock_trywrlock, TRY_WRLOCK, no_try)
TRY_FIRST(pthread_spin_trylock, TRY_SPIN, no_try)
TRY_FIRST(sem_trywait, TRY_SEM, no_sem_try)
#undef TRY_FIRST

static try_fn try_of[TRY_N] = {
    [TRY_MUTEX] = first_pthread_mutex_trylock,
    [TRY_RDLOCK] = first_pthread_rwlock_tryrdlock,
    [TRY_WRLOCK] = first_pthread_rwlock_trywrlock,
    [TRY_SPIN] = first_pthread_spin_trylock,
    [TRY_SEM] = first_sem_trywait,
};

/* The try function NAME (BUSY if not found), stored in its SLOT (FIRST
 * until then; a compare-and-swap, as another thread may store it too),
 * and called. */
static int try_first(const char *name, unsigned slot, try_fn first, try_fn busy,
                     volatile void *l)
{
    int saved = errno;
    try_fn fn = (try_fn)mmp_resolve(name);
    errno = saved;
    if (!fn)
        fn = busy;
    try_fn expect = first;
    mms_cas_acq_rel(&try_of[slot], &expect, fn);
    return fn(l);
}

/* ------------------------------------------------------ the lock table */

enum lock_kind { KIND_MUTEX = 1, KIND_RWLOCK = 2, KIND_SPIN = 4, KIND_SEM = 8 };
enum { L_CONTENDED, L_WAIT, L_MAX_WAIT, L_FIRST_SITE, L_KIND, L_NMEMBERS };
static const struct mms_table_member lock_members[L_NMEMBERS] = {
    [L_CONTENDED] = {"contended", MMS_MK_SUM, "calls", 0, 0},
    [L_WAIT] = {"wait", MMS_MK_SUM, "ns", 0, 0},
    [L_MAX_WAIT] = {"max_wait", MMS_MK_MAX, "ns", 0, 0},
    /* v: ~0 minus the contention's sequence number (the first is the
     * largest); arg: the return address in the caller. */
    [L_FIRST_SITE] = {"first_site", MMS_MK_MAXARG, "", 0, 0},
    [L_KIND] = {"kind", MMS_MK_MAX, "", 0, 0},
};
/* Locks tracked, the overflow record "(other)" included: later locks'
 * contentions are summed there, and readers say so. */
#define LOCKS_CAPACITY 256

static mms_table *locks;
static uint64_t contentions; /* atomic: orders the first sites */

static void lock_note(const volatile void *l, unsigned kind, uint64_t dt,
                      const void *site)
{
    mms_table *t = mms_load_acquire(&locks);
    if (!t)
        return;
    uint64_t key = (uint64_t)(uintptr_t)l;
    uint32_t rec;
    if (mms_record_get(t, &key, sizeof key, &rec) < 0)
        return;
    uint64_t seq = __atomic_add_fetch(&contentions, 1, __ATOMIC_RELAXED);
    mms_record_update(t, rec, L_CONTENDED, 1);
    if (dt) {
        mms_record_update(t, rec, L_WAIT, dt);
        mms_record_update(t, rec, L_MAX_WAIT, dt);
    }
    mms_record_maxarg(t, rec, L_FIRST_SITE, UINT64_MAX - seq,
                      (uint64_t)(uintptr_t)site);
    mms_record_update(t, rec, L_KIND, kind);
}

/* The table of contended locks, with the stats file. */
static void sync_made(void)
{
    static const struct mms_table_spec spec = {
        .name = "sync.locks",
        .help = "contended locks by address: contended acquisitions, "
                "their wait (ns), the call site of the first",
        .capacity = LOCKS_CAPACITY,
        .key_type = MMS_KEY_U64S,
        .key_max = 8,
        .members = lock_members,
        .nmembers = L_NMEMBERS,
    };
    mms_table *t = NULL;
    if (mms_table_new(mmp_writer(), &spec, &t) == 0)
        mms_store_release(&locks, t);
}

const struct mmp_family_ops mmp_family_sync = {.made = sync_made};

/* ---------------------------------------------------------------- locks */

/* The wait of a contended acquisition, DT ns, in call ID's histogram. */
static void wait_record(unsigned id, uint64_t dt)
{
    uint8_t *c = mmp_tls_lat[id];
    if (MMP_LIKELY(c))
        mms__hist_record_cell(mmp_calls[id].lat, (struct mms_cell){c, true},
                              dt);
    else
        mmp_latency_slow(id, dt);
}

/* The pthread locks return an error number; sem_wait -1 and errno. */
#define ERR_PTHREAD(r) ((r) != 0)
#define ERR_SEM(r) ((r) < 0)
#define FAIL_ERR_PTHREAD ENOSYS
#define FAIL_ERR_SEM (errno = ENOSYS, -1)

/* A contended acquisition: the real call, timed if the call is; then the
 * counts and the lock's record. errno is the real call's. */
#define LOCK_SLOW(name, err, kind, ...)                                        \
    static __attribute__((noinline)) int slow_##name(const void *site,         \
                                                     MMP_PARAMS(__VA_ARGS__))  \
    {                                                                          \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (MMP_UNLIKELY(!real))                                               \
            return FAIL_##err;                                                 \
        if (mms_load_relaxed(&mmp_mode[MMP_CALL_##name]) == MMP_OFF)           \
            return real(MMP_ARGS(__VA_ARGS__));                                \
        bool timed = mmp_is_timed(MMP_CALL_##name);                            \
        uint64_t t0 = timed ? mmp_clock() : 0;                                 \
        int r = real(MMP_ARGS(__VA_ARGS__));                                   \
        uint64_t dt = 0;                                                       \
        if (timed) {                                                           \
            uint64_t t1 = mmp_clock();                                         \
            dt = t1 > t0 ? t1 - t0 : 0;                                        \
        }                                                                      \
        int saved = errno;                                                     \
        MMP_RECORD(MMP_CALL_##name, 0, 3, err(r), 1, 0);                       \
        if (timed)                                                             \
            wait_record(MMP_CALL_##name, dt);                                  \
        lock_note(l, kind, dt, site);                                          \
        errno = saved;                                                         \
        return r;                                                              \
    }

/* The fast path's rarer outcomes, out of line: a try that failed (busy:
 * the contended path; else an error, counted), and a thread without its
 * cell yet. */
static __attribute__((noinline)) int try_error(unsigned id, int r)
{
    int saved = errno;
    MMP_RECORD(id, 0, 2, 1, 0, 0);
    errno = saved;
    return r;
}

static __attribute__((noinline)) int first_count(unsigned id)
{
    int saved = errno;
    if (mms_load_relaxed(&mmp_mode[id]) != MMP_OFF)
        mmp_record_slow(id, 0, 2, 0, 0, 0);
    errno = saved;
    return 0;
}

/* Keep R (0) in the return register across the add, so that the add's
 * pointer takes another one and the return needs no instruction. */
#if defined(__x86_64__)
#define KEEP_IN_RET(r) __asm__("" : "+a"(r))
#else
#define KEEP_IN_RET(r) ((void)0)
#endif

/* A lock or wait call while it records nothing: the real function
 * through entry_NAME (MMP_ENTRY_OFF, shim.h), or FAIL without one. */
#define CALL_OFF(name, ret, fail, ...)                                         \
    MMP_ENTRY_OFF(name, ret, fail, __VA_ARGS__)                                \
    static inline __attribute__((always_inline))                               \
    ret off_##name(MMP_PARAMS(__VA_ARGS__))                                    \
    {                                                                          \
        return mms_load_relaxed(&entry_##name)(MMP_ARGS(__VA_ARGS__));         \
    }
/* The hook's first test. */
#define CALL_IS_OFF(name)                                                      \
    MMP_UNLIKELY(mms_load_relaxed(&mmp_mode[MMP_CALL_##name]) == MMP_OFF)

/* Copies of the parameters made after the mode's test, by hand: the
 * compiler hoists a plain copy (shim.h's MMP_KEEP) to the hook's entry
 * here, and with it the saving of the register it keeps them in, which
 * the off path would pay for. */
#define LOCK_COPY_2(t, a)                                                      \
    t mmp_c_##a;                                                               \
    MMP_COPY_LATE(mmp_c_##a, a);
#define LOCK_COPY_4(t, a, u, b) LOCK_COPY_2(t, a) LOCK_COPY_2(u, b)
#define LOCK_COPY(...) MMP_CAT(LOCK_COPY_, MMP_NARGS(__VA_ARGS__))(__VA_ARGS__)
#define LOCK_COPIES_2(t, a) mmp_c_##a
#define LOCK_COPIES_4(t, a, u, b) mmp_c_##a, mmp_c_##b
#define LOCK_COPIES(...)                                                       \
    MMP_CAT(LOCK_COPIES_, MMP_NARGS(__VA_ARGS__))(__VA_ARGS__)

/* pthread locks: the try answers EBUSY when the lock is held. The fast
 * path (the try succeeds) is the mode's test, the try and one add: no
 * clock, nothing kept across the call but the lock. A call that is off
 * (before start-up, the family off, MMSTATS_DISABLE=1) is the real
 * function's (LOCK_OFF); the rest of the hook takes copies of the
 * parameters (LOCK_COPY). */
#define LOCK_PTHREAD(name, kind, ...)                                          \
    LOCK_SLOW(name, ERR_PTHREAD, kind, __VA_ARGS__)                            \
    CALL_OFF(name, int, FAIL_ERR_PTHREAD, __VA_ARGS__)                         \
    static __attribute__((noinline)) int failed_##name(                        \
        int r, const void *site, MMP_PARAMS(__VA_ARGS__))                      \
    {                                                                          \
        if (r == EBUSY)                                                        \
            return slow_##name(site, MMP_ARGS(__VA_ARGS__));                   \
        return try_error(MMP_CALL_##name, r);                                  \
    }                                                                          \
    static inline __attribute__((always_inline)) int on_##name(                \
        volatile void *try_l, MMP_PARAMS(__VA_ARGS__))                         \
    {                                                                          \
        int r = mms_load_relaxed(&try_of[TRY_OF_##name])(try_l);               \
        if (MMP_UNLIKELY(r != 0))                                              \
            return failed_##name(r, __builtin_return_address(0),               \
                                 MMP_ARGS(__VA_ARGS__));                       \
        uint8_t *p = mmp_tls_ctr[MMP_CALL_##name];                             \
        if (MMP_UNLIKELY(!p))                                                  \
            return first_count(MMP_CALL_##name);                               \
        KEEP_IN_RET(r);                                                        \
        mms_add_owned_u64((uint64_t *)p, 1);                                   \
        KEEP_IN_RET(r);                                                        \
        return r;                                                              \
    }                                                                          \
    MMP_HOOK int name(MMP_PARAMS(__VA_ARGS__))                                 \
    {                                                                          \
        if (CALL_IS_OFF(name))                                                 \
            return off_##name(MMP_ARGS(__VA_ARGS__));                          \
        LOCK_COPY(__VA_ARGS__)                                                 \
        return on_##name(l, LOCK_COPIES(__VA_ARGS__));                         \
    }

/* Semaphores: sem_trywait fails with EAGAIN when the count is 0; errno
 * is put back before the real call. Off, the real function (CALL_OFF);
 * else copies of the parameters, as for the pthread locks. */
#define LOCK_SEM(name, ...)                                                    \
    LOCK_SLOW(name, ERR_SEM, KIND_SEM, __VA_ARGS__)                            \
    CALL_OFF(name, int, FAIL_ERR_SEM, __VA_ARGS__)                             \
    MMP_HOOK int name(MMP_PARAMS(__VA_ARGS__))                                 \
    {                                                                          \
        if (CALL_IS_OFF(name))                                                 \
            return off_##name(MMP_ARGS(__VA_ARGS__));                          \
        LOCK_COPY(__VA_ARGS__)                                                 \
        int saved = errno;                                                     \
        int r = mms_load_relaxed(&try_of[TRY_OF_##name])(mmp_c_l);             \
        if (r < 0 && errno == EAGAIN) {                                        \
            errno = saved;                                                     \
            return slow_##name(__builtin_return_address(0),                    \
                               LOCK_COPIES(__VA_ARGS__));                      \
        }                                                                      \
        MMP_RECORD(MMP_CALL_##name, 0, 2, r < 0, 0, 0);                        \
        return r;                                                              \
    }

LOCK_PTHREAD(pthread_mutex_lock, KIND_MUTEX, pthread_mutex_t *, l)
LOCK_PTHREAD(pthread_mutex_timedlock, KIND_MUTEX, pthread_mutex_t *, l,
             const struct timespec *, at)
LOCK_PTHREAD(pthread_rwlock_rdlock, KIND_RWLOCK, pthread_rwlock_t *, l)
LOCK_PTHREAD(pthread_rwlock_wrlock, KIND_RWLOCK, pthread_rwlock_t *, l)
LOCK_PTHREAD(pthread_rwlock_timedrdlock, KIND_RWLOCK, pthread_rwlock_t *, l,
             const struct timespec *, at)
LOCK_PTHREAD(pthread_rwlock_timedwrlock, KIND_RWLOCK, pthread_rwlock_t *, l,
             const struct timespec *, at)
LOCK_PTHREAD(pthread_spin_lock, KIND_SPIN, pthread_spinlock_t *, l)
LOCK_SEM(sem_wait, sem_t *, l)
LOCK_SEM(sem_timedwait, sem_t *, l, const struct timespec *, at)

/* ---------------------------------------------------------------- waits */

/* A wait, timed whole when the call is timed. ERR: whether the result R
 * is a failure; FAIL: what to return without a real function. The hook
 * tests the mode, then tail-calls the rest. */
#define WAIT_HOOK(name, ret, err, fail, ...)                                   \
    CALL_OFF(name, ret, fail, __VA_ARGS__)                                     \
    static __attribute__((noinline)) ret on_##name(MMP_PARAMS(__VA_ARGS__))    \
    {                                                                          \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (MMP_UNLIKELY(!real))                                               \
            return fail;                                                       \
        uint64_t t0 = mmp_is_timed(MMP_CALL_##name) ? mmp_clock() : 0;         \
        ret r = real(MMP_ARGS(__VA_ARGS__));                                   \
        MMP_RECORD(MMP_CALL_##name, t0, 2, err, 0, 0);                         \
        return r;                                                              \
    }                                                                          \
    MMP_HOOK ret name(MMP_PARAMS(__VA_ARGS__))                                 \
    {                                                                          \
        if (CALL_IS_OFF(name))                                                 \
            return off_##name(MMP_ARGS(__VA_ARGS__));                          \
        return on_##name(MMP_ARGS(__VA_ARGS__));                               \
    }

/* NOLINTBEGIN(bugprone-macro-parentheses): R is the hook's result */
WAIT_HOOK(pthread_cond_wait, int, r != 0, ENOSYS, pthread_cond_t *, c,
          pthread_mutex_t *, m)
WAIT_HOOK(pthread_cond_timedwait, int, r != 0, ENOSYS, pthread_cond_t *, c,
          pthread_mutex_t *, m, const struct timespec *, at)
WAIT_HOOK(pthread_barrier_wait, int,
          r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD, ENOSYS,
          pthread_barrier_t *, b)
WAIT_HOOK(pthread_join, int, r != 0, ENOSYS, pthread_t, th, void **, ret)
WAIT_HOOK(nanosleep, int, r < 0, (errno = ENOSYS, -1), const struct timespec *,
          req, struct timespec *, rem)
WAIT_HOOK(clock_nanosleep, int, r != 0, ENOSYS, clockid_t, clk, int, flags,
          const struct timespec *, req, struct timespec *, rem)
WAIT_HOOK(usleep, int, r < 0, (errno = ENOSYS, -1), useconds_t, us)
/* sleep's result is the time left: not 0 when a signal cut it short. */
WAIT_HOOK(sleep, unsigned, r != 0, 0u, unsigned, s)
/* NOLINTEND(bugprone-macro-parentheses) */
