/* The shim's shared part: per-call stats, the reentrancy guard, symbol
 * resolution and the record functions every hook calls. Hooks follow one
 * pattern (see hook_io.c):
 *
 *   MMP_REAL(ssize_t, write, (int, const void *, size_t));
 *   MMP_HOOK ssize_t write(int fd, const void *buf, size_t n)
 *   {
 *       MMP_BEGIN(write);                    // resolve, decide, start clock
 *       ssize_t r = real_write(fd, buf, n);  // the real call, unchanged
 *       MMP_END_XFER(r < 0, n, r > 0 ? r : 0);  // record; errno kept
 *       return r;
 *   }
 *
 * The shim links the core statically and uses its internal update
 * primitives (core/update.h), so that one call's fields cost one shard
 * lookup. */
#ifndef MMP_SHIM_H
#define MMP_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "calls.h"
#include "update.h"

#define MMP_HOOK __attribute__((visibility("default")))

enum mmp_family {
#define MMP_FAM_ENUM(fam, desc) MMP_FAM_##fam,
    MMP_FAMILIES(MMP_FAM_ENUM)
#undef MMP_FAM_ENUM
        MMP_NFAMILIES
};

enum mmp_call_id {
#define MMP_CALL_ENUM(fam, name, shape) MMP_CALL_##name,
    MMP_CALLS(MMP_CALL_ENUM)
#undef MMP_CALL_ENUM
        MMP_NCALLS
};

enum mmp_shape { MMP_XFER, MMP_CALL, MMP_WAIT, MMP_ALLOC };

/* mem.alloc_size: 4 buckets per power of two, sizes up to 1 TiB. */
#define MMP_SIZE_BITS 2
#define MMP_SIZE_MAX_EXP 40

/* What a hook does with its call. MMP_OFF until start-up is complete, for
 * families not enabled, and in a fork child while it sets up its own file
 * (whose set-up calls must not be recorded into the parent's). */
enum mmp_mode { MMP_OFF, MMP_COUNT, MMP_TIMED };

/* Per hooked call. Written once by mmp_init, before `on` is set. */
struct mmp_call {
    uint32_t off; /* shard offset of "calls"; then errors, and for XFER
                     requested_bytes and bytes, for WAIT ready */
    uint8_t mode; /* MMP_OFF, MMP_COUNT or MMP_TIMED: one load decides */
    uint8_t family, shape;
    mms_field *lat; /* latency histogram, made on the first timed call */
};

extern struct mmp_call mmp_calls[MMP_NCALLS];
extern mms_writer *mmp_writer;
extern const char *const mmp_call_names[MMP_NCALLS];
extern const char *const mmp_family_names[MMP_NFAMILIES];

/* Non-zero while this thread runs the shim's own code (start-up, symbol
 * resolution, warnings). Hooks do not test it on their fast path: every
 * such stretch either runs with all calls MMP_OFF or calls nothing
 * hooked. */
extern __thread int mmp_guard __attribute__((tls_model("initial-exec")));

/* resolve.c: the next definition of NAME (normally libc's), or NULL. */
void *mmp_resolve(const char *name);

/* shim.c */
void mmp_init(void);
mms_field *mmp_latency_field(struct mmp_call *c);
/* Mark the stats file finished (before exec and _exit) or ready again
 * (exec failed); only in the process that owns the file. */
void mmp_file_state(enum mms_state st);
/* config.c */
void mmp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A pointer to the real function, resolved on first use. The pointer is
 * written at most once per value (races resolve to the same address). */
#define MMP_REAL(ret, name, params)                                            \
    static ret(*real_##name) params;                                           \
    static inline ret(*get_##name(void)) params                                \
    {                                                                          \
        ret(*p) params = __atomic_load_n(&real_##name, __ATOMIC_RELAXED);      \
        if (MMS_UNLIKELY(!p)) {                                                \
            p = (ret(*) params)mmp_resolve(#name);                             \
            __atomic_store_n(&real_##name, p, __ATOMIC_RELAXED);               \
        }                                                                      \
        return p;                                                              \
    }

static inline __attribute__((always_inline)) uint64_t mmp_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Start of a hook: NAME's real function into real_NAME (ENOSYS if it has
 * none), whether to record, and the start time. */
#define MMP_BEGIN_OR(name, fail_value)                                         \
    struct mmp_call *mmp_c = &mmp_calls[MMP_CALL_##name];                      \
    if (MMS_UNLIKELY(!get_##name())) {                                         \
        errno = ENOSYS;                                                        \
        return fail_value;                                                     \
    }                                                                          \
    uint8_t mmp_mode = __atomic_load_n(&mmp_c->mode, __ATOMIC_RELAXED);        \
    bool mmp_rec = mmp_mode != MMP_OFF;                                        \
    uint64_t mmp_t0 = mmp_mode == MMP_TIMED ? mmp_clock() : 0

#define MMP_BEGIN(name) MMP_BEGIN_OR(name, -1)

/* shim.c: this thread's first record (or first since its shard went
 * back): make sure the thread is parked on the shared shard at its exit. */
void mmp_thread_first(void);

/* The shard this thread records into. The shim's private copy of the
 * core has one writer, in slot 0 (mmp_init checks), whose id is kept in
 * mmp_wid: the warm path is one TLS compare. */
extern uint32_t mmp_wid;
struct mms__shard_ref mmp_shard_first(void);
static inline struct mms__shard_ref mmp_shard(void)
{
    struct mms__tls_ent *t = &mms__tls[0];
    if (MMS_LIKELY(t->wid == mmp_wid))
        return (struct mms__shard_ref){t->base, t->shard != 0};
    return mmp_shard_first();
}

/* The latency of a timed call that started at T0 (out of line: it keeps
 * the hooks' counting path small). */
void mmp_record_latency(struct mmp_call *c, struct mms__shard_ref sh,
                        uint64_t t0);

/* Record one call: N values after "calls" (errors, then the shape's).
 * Inlined into every hook. It never changes errno: the update path makes
 * no system call, and the rare slow paths (a thread's first shard, a
 * latency histogram's creation) restore errno themselves. */
static inline __attribute__((always_inline)) void
mmp_record(struct mmp_call *c, uint64_t t0, int nvals, uint64_t err, uint64_t a,
           uint64_t b)
{
    struct mms__shard_ref sh = mmp_shard();
    uint64_t *cell = (uint64_t *)(sh.base + c->off);
    mms__add_cell(&cell[0], 1, sh.owned);
    mms__add_cell(&cell[1], err, sh.owned); /* no branch: adds 0 or 1 */
    if (nvals >= 3)
        mms__add_cell(&cell[2], a, sh.owned);
    if (nvals >= 4)
        mms__add_cell(&cell[3], b, sh.owned);
    if (t0)
        mmp_record_latency(c, sh, t0);
}

/* End of a hook; errno stays as the real call left it. */
#define MMP_END_(nvals, err, a, b)                                             \
    do {                                                                       \
        if (mmp_rec)                                                           \
            mmp_record(mmp_c, mmp_t0, nvals, (err) != 0, (uint64_t)(a),        \
                       (uint64_t)(b));                                         \
    } while (0)
#define MMP_END_CALL(err) MMP_END_(2, err, 0, 0)
#define MMP_END_XFER(err, req, got) MMP_END_(4, err, req, got)
#define MMP_END_WAIT(err, ready) MMP_END_(3, err, ready, 0)

/* A whole hook in one line, for calls whose arguments pass through
 * unchanged: NAME with PARAMS (named) and ARGS (the names), returning RET
 * (FAIL when the real function is missing), recording NVALS values: ERR,
 * A and B are expressions of the arguments and of the result, mmp_r.
 * The timed path is a function of its own, so that the counting path
 * keeps few registers live across the real call. */
#define MMP_DEFINE(ret, name, params, args, fail, nvals, err, a, b)            \
    MMP_REAL(ret, name, params)                                                \
    static __attribute__((noinline)) ret mmp_timed_##name params               \
    {                                                                          \
        uint64_t mmp_t0 = mmp_clock();                                         \
        ret mmp_r = real_##name args;                                          \
        mmp_record(&mmp_calls[MMP_CALL_##name], mmp_t0, nvals, (err) != 0,     \
                   (uint64_t)(a), (uint64_t)(b));                              \
        return mmp_r;                                                          \
    }                                                                          \
    MMP_HOOK ret name params                                                   \
    {                                                                          \
        if (MMS_UNLIKELY(!get_##name())) {                                     \
            errno = ENOSYS;                                                    \
            return fail;                                                       \
        }                                                                      \
        uint8_t mmp_mode = __atomic_load_n(&mmp_calls[MMP_CALL_##name].mode,   \
                                           __ATOMIC_RELAXED);                  \
        if (MMS_UNLIKELY(mmp_mode == MMP_TIMED))                               \
            return mmp_timed_##name args;                                      \
        ret mmp_r = real_##name args;                                          \
        if (mmp_mode != MMP_OFF)                                               \
            mmp_record(&mmp_calls[MMP_CALL_##name], 0, nvals, (err) != 0,      \
                       (uint64_t)(a), (uint64_t)(b));                          \
        return mmp_r;                                                          \
    }
#define MMP_DEFINE_XFER(ret, name, params, args, fail, err, req, got)          \
    MMP_DEFINE(ret, name, params, args, fail, 4, err, req, got)
#define MMP_DEFINE_CALL(ret, name, params, args, fail, err)                    \
    MMP_DEFINE(ret, name, params, args, fail, 2, err, 0, 0)
#define MMP_DEFINE_WAIT(ret, name, params, args, fail, err, ready)             \
    MMP_DEFINE(ret, name, params, args, fail, 3, err, ready, 0)

#endif /* MMP_SHIM_H */
