/* The shim's shared part: the call ids and names from the table
 * (calls.h), the hooks' prototypes and real functions, the record path
 * every hook inlines, and the macro that makes a whole hook from its table
 * entry. A generated hook (hook_io.c) is one line:
 *
 *   MMP_CALLS_io(MMP_DEFINE)
 *
 * and for write expands to (MMP_DEFINE, below):
 *
 *   ssize_t write(int fd, const void *buf, size_t n)
 *   {
 *       resolve real write (ENOSYS if there is none);
 *       if the call is timed: return mmp_timed_write(fd, buf, n);
 *       ssize_t r = real(fd, buf, n);       // the real call, unchanged
 *       record: calls 1, errors r < 0, requested n, bytes r > 0 ? r : 0
 *       return r;                           // errno as the call left it
 *   }
 *
 * Recording adds to this thread's cells of the call's fields, cached in
 * the shim's own TLS (mmp_tls_ctr): one pointer per call, NULL until the
 * slow path (shim.c) has made the fields and found the thread's cell.
 * The shim uses nothing of the core beyond core/hotpath.h. */
#ifndef MMP_SHIM_H
#define MMP_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <termios.h>
#include <utime.h>
#include <time.h>

#include "calls.h"
#include "config.h"
#include "hotpath.h"

/* With optimisation, glibc's headers make these macros: the shim
 * declares and defines the functions themselves. */
#undef fread_unlocked
#undef fwrite_unlocked
#undef fgets_unlocked
#undef fputs_unlocked

#define MMP_HOOK __attribute__((visibility("default")))
#define MMP_LIKELY(x) __builtin_expect(!!(x), 1)
#define MMP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MMP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MMP_IE __attribute__((tls_model("initial-exec")))
/* The shim's own data, said hidden where it is declared: the hooks then
 * address it directly (one instruction), not through the GOT. */
#define MMP_HIDDEN __attribute__((visibility("hidden")))

/* clone's first parameter, named for the table. */
typedef int (*mmp_clone_fn)(void *);
/* pthread_create's start routine, named for the table. */
typedef void *(*mmp_start_fn)(void *);
/* Array parameters as libc declares them (pipe's int fds[2]...). */
typedef int mmp_fd_pair[2];
typedef struct timespec mmp_time_pair[2];
typedef struct timeval mmp_timeval_pair[2];
/* scandir's selector and comparison, named for the table. */
typedef int (*mmp_dirsel_fn)(const struct dirent *);
typedef int (*mmp_dircmp_fn)(const struct dirent **, const struct dirent **);
typedef int (*mmp_dirsel64_fn)(const struct dirent64 *);
typedef int (*mmp_dircmp64_fn)(const struct dirent64 **,
                               const struct dirent64 **);

/* ------------------------------------------------- parameter lists */

/* The table's parameters come as type, name pairs (up to 8): MMP_PARAMS
 * makes the declaration's list, MMP_ARGS the call's. */
#define MMP_CAT(a, b) MMP_CAT_(a, b)
#define MMP_CAT_(a, b) a##b
#define MMP_NARGS(...)                                                         \
    MMP_NARGS_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,   \
               2, 1, 0)
#define MMP_NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13,     \
                   a14, a15, a16, n, ...)                                      \
    n
/* NOLINTBEGIN(bugprone-macro-parentheses): types and names, not values */
#define MMP_PARAMS(...) MMP_CAT(MMP_P_, MMP_NARGS(__VA_ARGS__))(__VA_ARGS__)
#define MMP_P_2(t, a) t a
#define MMP_P_4(t, a, ...) t a, MMP_P_2(__VA_ARGS__)
#define MMP_P_6(t, a, ...) t a, MMP_P_4(__VA_ARGS__)
#define MMP_P_8(t, a, ...) t a, MMP_P_6(__VA_ARGS__)
#define MMP_P_10(t, a, ...) t a, MMP_P_8(__VA_ARGS__)
#define MMP_P_12(t, a, ...) t a, MMP_P_10(__VA_ARGS__)
#define MMP_P_14(t, a, ...) t a, MMP_P_12(__VA_ARGS__)
#define MMP_P_16(t, a, ...) t a, MMP_P_14(__VA_ARGS__)
#define MMP_ARGS(...) MMP_CAT(MMP_A_, MMP_NARGS(__VA_ARGS__))(__VA_ARGS__)
#define MMP_A_2(t, a) a
#define MMP_A_4(t, a, ...) a, MMP_A_2(__VA_ARGS__)
#define MMP_A_6(t, a, ...) a, MMP_A_4(__VA_ARGS__)
#define MMP_A_8(t, a, ...) a, MMP_A_6(__VA_ARGS__)
#define MMP_A_10(t, a, ...) a, MMP_A_8(__VA_ARGS__)
#define MMP_A_12(t, a, ...) a, MMP_A_10(__VA_ARGS__)
#define MMP_A_14(t, a, ...) a, MMP_A_12(__VA_ARGS__)
#define MMP_A_16(t, a, ...) a, MMP_A_14(__VA_ARGS__)
/* NOLINTEND(bugprone-macro-parentheses) */

/* ------------------------------------------------------ ids and names */

enum mmp_family {
#define MMP_FAM_ENUM(fam, kind, desc) MMP_FAM_##fam,
    MMP_FAMILIES(MMP_FAM_ENUM)
#undef MMP_FAM_ENUM
        MMP_NFAMILIES
};

enum mmp_call_id {
#define MMP_CALL_ENUM(fam, name, ...) MMP_CALL_##name,
    MMP_CALLS(MMP_CALL_ENUM)
#undef MMP_CALL_ENUM
        MMP_NCALLS
};

enum mmp_fieldset {
    MMP_SET_CALL,
    MMP_SET_XFER,
    MMP_SET_WAIT,
    MMP_SET_LOCK,
    MMP_SET_DIR,
    MMP_SET_NONE,
    MMP_NSETS
};

extern const char *const mmp_call_names[MMP_NCALLS];
extern const char *const mmp_family_names[MMP_NFAMILIES];
extern const uint8_t mmp_call_family[MMP_NCALLS];
extern const uint8_t mmp_call_set[MMP_NCALLS]; /* enum mmp_fieldset */
extern const uint8_t mmp_family_always[MMP_NFAMILIES];

/* Every hook's prototype (libc declares most, not all: __xstat, the
 * fortified forms...). */
#define MMP_PROTO(fam, name, shape, ret, ...)                                  \
    MMP_HOOK ret name(MMP_PARAMS(__VA_ARGS__));
MMP_CALLS(MMP_PROTO)
#undef MMP_PROTO

/* ------------------------------------------------- per-call state */

/* What a hook does with its call. MMP_OFF until start-up is complete, for
 * families not enabled, and in a fork child while it sets up its own
 * file (whose set-up calls must not be recorded into the parent's). */
enum mmp_mode { MMP_OFF, MMP_COUNT, MMP_TIMED, MMP_FILES_ONLY };
extern uint8_t mmp_mode[MMP_NCALLS] MMP_HIDDEN;

/* MMP_FILES_ONLY: the call is not recorded (its family is off), but what
 * it does to per-file records is (the files family is on). Only calls
 * with a per-file operation (files.h) get it; OFF is then the one mode
 * in which a hook does nothing but the real call. */
static inline bool mmp_records(uint8_t mode)
{
    return mode == MMP_COUNT || mode == MMP_TIMED;
}

/* A call's fields, made on its first use (shim.c, mmp_call_ready). */
enum mmp_fields_state { MMP_FIELDS_NONE, MMP_FIELDS_READY, MMP_FIELDS_FAILED };
struct mmp_call {
    mms_field *ctr; /* the first counter; the others follow in every cell */
    mms_field *lat; /* the latency histogram of a timed call, or NULL */
    struct mms_hist_view lat_view; /* LAT's, for the inline record */
    mms_field *win_f; /* a timed call's windowed counter, or NULL */
    uint32_t win;     /* its window: WIN_F's cell's byte offset in the
                         counters' cell, plus 8 (0: none) */
    uint8_t state;    /* enum mmp_fields_state, published with release */
};
extern struct mmp_call mmp_calls[MMP_NCALLS] MMP_HIDDEN;

/* This thread's window second: [START, START + 10^9) ns is second SEC.
 * In TSC counts
 * (the timed paths' stamps) the second ends at TSC_END (0: unknown): a
 * count before it is taken for SEC's (one compare; a count of the second
 * before, another CPU's TSC a little behind, counts in SEC). */
struct mmp_win_clock {
    uint64_t start, sec;
    uint64_t tsc_end;
};

/* This thread's cells: of call I's counters (ctr[I]) and latency
 * histogram (lat[I]); NULL sends the hook to the slow path. Only owned
 * cells are cached, and all are forgotten in the writer's thread-exit
 * callback and in a fork child. LAT[I] is cached only once CTR[I] is,
 * and forgotten first: a thread with LAT[I] has CTR[I]. WSUM[I]: the sum
 * word of the window slot of CTR[I]'s windowed counter for the thread's
 * second WIN.SEC (its cell's own slot or its RING block's, format 3.2),
 * cached with CTR[I] and LAT[I] and forgotten before them, and whenever
 * the second moves on (mmp_window_forget). With the window clock in the
 * same TLS block: one offset (a load from the GOT) reaches them all. */
struct mmp_tls {
    uint8_t *ctr[MMP_NCALLS];
    uint8_t *lat[MMP_NCALLS];
    uint64_t *wsum[MMP_NCALLS];
    struct mmp_win_clock win;
};
extern __thread struct mmp_tls mmp_tls MMP_IE;
#define mmp_tls_ctr (mmp_tls.ctr)
#define mmp_tls_lat (mmp_tls.lat)

/* Zero BYTES at P (a multiple of a pointer's size, aligned), writing
 * only the words not zero yet: in a fork child every page written is a
 * copy (a page fault), every page only read is free (the parent's). */
void mmp_zero_set(void *p, size_t bytes);

/* Where this thread stands: it never cached a cell, it has cells, or it
 * is exiting (its cells were forgotten; it must not cache new ones). */
enum mmp_thread_state { MMP_THREAD_NEW, MMP_THREAD_ACTIVE, MMP_THREAD_EXITING };
extern __thread uint8_t mmp_thread MMP_IE;

/* A cell that may be cached: owned, and not by an exiting thread. Marks
 * the thread active. */
static inline bool mmp_cacheable(struct mms_cell c)
{
    if (!c.owned || mmp_thread == MMP_THREAD_EXITING)
        return false;
    mmp_thread = MMP_THREAD_ACTIVE;
    return true;
}

/* ---------------------------------------------------- hook families */

/* What each family does beyond its calls' own fields. Every member may
 * be NULL. Defined as mmp_family_<name> in hook_<name>.c. */
struct mmp_family_ops {
    /* At start-up, when the family is enabled (may make system calls). */
    void (*start)(void);
    /* When the stats file has been made (with the first call recorded;
     * system calls allowed, no call recorded meanwhile): what needs it. */
    void (*made)(void);
    /* The family's own fields, made with the first use of any of its
     * calls: 0 or a negative error (MMS_EBUSY: try again later). */
    int (*fields)(void);
    /* A thread's last moments: publish what it gathered. */
    void (*thread_exit)(void);
    /* Forget this thread's cached cells (thread exit, fork child). */
    void (*forget)(void);
    /* The process's end (exit, _exit, exec): record what is kept back. */
    void (*end)(void);
};
#define MMP_FAM_DECL(fam, kind, desc)                                          \
    extern const struct mmp_family_ops mmp_family_##fam;
MMP_FAMILIES(MMP_FAM_DECL)
#undef MMP_FAM_DECL

/* --------------------------------------------------- real functions */

/* resolve.c: the next definition of call ID (normally libc's), found
 * once with dlsym and kept in mmp_real[ID]; NULL if there is none, or
 * while this thread is resolving already (dlsym may allocate: the
 * allocation hooks then serve a bootstrap arena). */
extern void *mmp_real[MMP_NCALLS] MMP_HIDDEN;
void *mmp_resolve_call(unsigned id);
/* Every call's real function, now (before entering seccomp). */
void mmp_resolve_all(void);
/* Any symbol's next definition (for the shim's own use). */
void *mmp_resolve(const char *name);
extern __thread int mmp_resolving MMP_IE;

/* mmp_real_NAME(): NAME's real function, typed (NULL if none). */
#define MMP_REAL_DECL(fam, name, shape, ret, ...)                              \
    typedef ret (*mmp_real_##name##_t)(MMP_PARAMS(__VA_ARGS__));               \
    static inline mmp_real_##name##_t mmp_real_##name(void)                    \
    {                                                                          \
        void *p = mms_load_relaxed(&mmp_real[MMP_CALL_##name]);                \
        if (MMP_UNLIKELY(!p))                                                  \
            p = mmp_resolve_call(MMP_CALL_##name);                             \
        return (mmp_real_##name##_t)p;                                         \
    }
MMP_CALLS(MMP_REAL_DECL)
#undef MMP_REAL_DECL

/* ---------------------------------------------------------- recording */

/* CLOCK_MONOTONIC ns: the core's hot-path clock (an invariant TSC once
 * calibrated, MMSTATS_CLOCK). */
static inline __attribute__((always_inline)) uint64_t mmp_clock(void)
{
    return mms__clock_ns();
}

static inline bool mmp_is_timed(unsigned id)
{
    return mms_load_relaxed(&mmp_mode[id]) == MMP_TIMED;
}

/* shim.c. The slow path of a record: the mode checked again, the call's
 * fields made if need be, this thread's cell found (and cached if it
 * may be); a record that cannot be made is counted in the header's dropped.
 * It never changes errno. */
void mmp_record_slow(unsigned id, uint64_t t0, unsigned nvals, uint64_t err,
                     uint64_t a, uint64_t b);
/* The slow path of mmp_latency. */
void mmp_latency_slow(unsigned id, uint64_t dt);
/* The slow path of mmp_latency_at: the latency, and the call counted in
 * its window ring (second SEC) through this thread's cell, if it has one.
 * DT MMP_WINDOW_ONLY: the window alone (a call counted untimed). */
void mmp_timed_slow(unsigned id, uint64_t dt, uint64_t sec);
#define MMP_WINDOW_ONLY UINT64_MAX
/* Make call ID's fields (and its family's) if they are not yet: false if
 * that cannot be done now. */
bool mmp_call_ready(unsigned id);
/* This thread's cell of F, a field of call ID: the shared cell for a
 * free by a thread that never recorded anything and is not known to be
 * alive (glibc frees a dying thread's buffers after its exit callbacks,
 * even in threads that made no hooked call: a cell claimed then would
 * never be handed back). A live thread's free takes its own cell, so
 * that a thread that only frees (a queue's consumer) records as cheaply
 * as any other. */
struct mms_cell mmp_cell_of(unsigned id, mms_field *f);
/* Count one record that could not be made: in the stats file's header
 * ("dropped"), with the updates the core itself had to drop. */
void mmp_drop(void);
/* mms__group_add with MMS_ADD_NOWAIT, retried a bounded number of times
 * while another thread holds the writer's lock. */
int mmp_group_add(const struct mms_field_spec *specs, unsigned n,
                  mms_field **out);
/* The shim's writer (NULL when not recording), for families that make
 * more than fields (files.c's tables). */
mms_writer *mmp_writer(void);
/* The writer, its file made now if it is still to be made (NULL if there
 * is none, or it cannot be made now). */
mms_writer *mmp_writer_make(void);
/* This thread is inside mmp_group_add, holding the writer's lock: a
 * signal handler here must not take it again. */
bool mmp_adding_fields(void);
/* mms__table_add likewise (the mem family's heap profile). */
int mmp_table_add(const struct mms_table_spec *spec, mms_table **out);
/* The state of the stats file (exec, _exit), in the process that owns
 * it, unless the process entered seccomp (the core's check needs getpid). */
void mmp_file_state(enum mms_state st);
/* The process ends (exit, _exit, exec): each family's end op. */
void mmp_process_end(void);
/* exec: the file finished and, if its policy does not keep it, parked
 * for the new image to fold (1); back under its name and READY if exec
 * failed. */
int mmp_exec_begin(void);
void mmp_exec_failed(int parked);
/* A new process that shares nothing of our memory's future: a fork
 * child (atfork) or a clone() child without CLONE_VM (hook_proc.c). */
void mmp_child_setup(void);
/* The process is about to enter seccomp: no system call from now on. */
void mmp_enter_seccomp(void);
void mmp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The process records (its stats file is made, or will be with its first
 * call recorded). */
bool mmp_active(void);
/* This thread is making the stats file: its calls are the shim's own,
 * not recorded. */
bool mmp_quiet(void);
/* The shim may make system calls of its own (not in seccomp). */
bool mmp_syscalls_allowed(void);
/* Thread TID is now called NAME: its SHARD block follows. */
void mmp_thread_named(int32_t tid, const char *name);

/* thread.c: each thread's tid and name, for the writer. */
void mmp_thread_start_main(void);
void mmp_thread_after_fork(void);
mms__identity_fn *mmp_thread_identity(void);
void mmp_thread_renamed_self(const char *name);
/* This thread's tid and name read now if not known yet (before seccomp). */
void mmp_thread_known(void);
/* This thread runs its own code: its key destructors have not run. */
bool mmp_thread_alive(void);

static inline __attribute__((always_inline)) void
mmp_add_cells(struct mms_cell c, unsigned nvals, uint64_t err, uint64_t a,
              uint64_t b)
{
    mms__cell_add(c, 0, 1);
    mms__cell_add(c, 8, err); /* no branch: adds 0 or 1 */
    if (nvals >= 3)
        mms__cell_add(c, 16, a);
    if (nvals >= 4)
        mms__cell_add(c, 24, b);
}

/* One call of ID in second SEC through its counters' cell C: the
 * windowed counter's total (its cell, format 3.2's struct mms_ring_cell,
 * starts 8 bytes before WIN) and its slot of SEC. */
static inline void mmp_window_add(struct mms_cell c, unsigned id, uint32_t win,
                                  uint64_t sec)
{
    struct mms_cell wc = {c.p + win - 8, c.owned};
    mms__cell_add(wc, 0, 1);
    uint64_t *sum = mms__cell_ring_slot(mmp_calls[id].win_f, wc, sec);
    if (sum)
        mms__cell_add((struct mms_cell){(uint8_t *)sum, c.owned}, 0, 1);
}

/* This thread's second moves on: the window slots it cached are another
 * second's (shim.c). */
void mmp_window_forget(void);

/* T's second (T / 10^9), for a window ring: a subtraction and a compare
 * while the thread stays in its second, not a division per call. The
 * thread's clock then holds the second's slot in a ring too. */
static inline __attribute__((always_inline)) const struct mmp_win_clock *
mmp_second(uint64_t t)
{
    struct mmp_win_clock *wc = &mmp_tls.win;
    if (MMP_UNLIKELY(t - wc->start >= 1000000000u)) {
        /* The cached slots forgotten first: a signal handler that comes
         * in between sees the old START and moves the second on itself
         * (the same second); the next call sets all. */
        mmp_window_forget();
        uint64_t sec = t / 1000000000u;
        wc->tsc_end = 0; /* its TSC bound: mmp_second_tsc's to find */
        wc->sec = sec;
        wc->start = sec * 1000000000u;
    }
    return wc;
}

/* mmp_second for TSC count T (shim.c): the thread's second and its TSC
 * end moved on to T's if T is past it. */
void mmp_second_tsc(uint64_t t);

/* The out-of-line part of mmp_window_add_at: the slot of the thread's
 * second found (and made) through its cached cell P, added to, and
 * cached (shim.c). */
void mmp_window_first(unsigned id, uint8_t *p, uint32_t win, uint64_t sec);

/* One call of ID in this thread's second (WC's) through its cached
 * counters' cell P: as mmp_window_add, the slot cached. */
static inline __attribute__((always_inline)) void
/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
mmp_window_add_at(unsigned id, uint8_t *p, uint32_t win,
                  const struct mmp_win_clock *wc)
{
    mms_add_owned_u64((uint64_t *)(p + win - 8), 1);
    uint64_t *sum = mmp_tls.wsum[id];
    if (MMP_LIKELY(sum))
        mms_add_owned_u64(sum, 1);
    else
        mmp_window_first(id, p, win, wc->sec);
}

/* The latency of call ID, from T0 to T1, and the call counted in its
 * window ring for T1's second (only the timed paths, each a function of
 * their own, inline this); mmp_latency reads T1 itself. No clock is read
 * once timing was stopped (seccomp): the clock may need a system call. */
static inline __attribute__((always_inline)) void
mmp_latency_at(unsigned id, uint64_t t0, uint64_t t1)
{
    uint64_t dt = t1 - t0;
    dt = (int64_t)dt < 0 ? 0 : dt; /* T1 before T0: another CPU's TSC */
    uint8_t *l = mmp_tls_lat[id];
    if (MMP_LIKELY(l)) { /* then the counters' cell is cached too */
        uint8_t *p = mmp_tls_ctr[id];
        uint32_t win = mms_load_relaxed(&mmp_calls[id].win);
        if (MMP_LIKELY(win))
            mmp_window_add_at(id, p, win, mmp_second(t1));
        /* MMSTATS_HIST_BITS's default as constants: the bucket's shifts
         * and masks folded; another precision takes the core's record. */
        mms__hist_record_owned_geom(&mmp_calls[id].lat_view, l, dt,
                                    MMP_HIST_BITS_DEFAULT,
                                    MMS_HIST_DEFAULT_MAX_EXP);
    } else {
        mmp_timed_slow(id, dt, t1 / 1000000000u);
    }
}

/* The timed paths with TSC stamps S0 and S1 (the clock is the TSC)
 * record in steps, each checked before it writes anything: the counters
 * (MMP_ADDS, given the cell), the window (mmp_tsc_window) and the
 * latency (mmp_tsc_latency). A step that cannot be done inline (a cell
 * not cached, another second, a chunk to allocate, another precision)
 * returns false having written nothing, and the hook's slow path does
 * it and the steps after it (MMP_TSC_*: the steps done). No call: the
 * hook then keeps nothing but its own values in saved registers. */
#define MMP_TSC_NONE 0
#define MMP_TSC_COUNTED 1
#define MMP_TSC_WINDOWED 2

/* The window ring of a timed call whose field set has N counters: its
 * byte offset in the counters' cell, after them and the windowed
 * counter's total (shim.c's call_fields). A call whose latency cell is
 * cached was made timed, so with this ring, unless its set is LOCK's. */
#define MMP_WIN_OFF(n) (8 * (n) + 8)
/* NOLINTNEXTLINE(bugprone-macro-parentheses): a term of a sum */
#define MMP_ONE_(tok) +1
#define MMP_SHAPE_WIN_OFF(shape)                                               \
    MMP_WIN_OFF(0 MMP_CAT(MMP_FIELDSET_,                                       \
                          MMP_APPLY(MMP_FIRST, MMP_SHAPE_##shape))(MMP_ONE_))

/* K calls of ID in its window (at WIN, a constant) for S1's second:
 * through the counters' cell P and the slot cached for the thread's
 * second, if the latency's L is cached and S1 is in that second (else
 * false, nothing written). */
static inline __attribute__((always_inline)) bool
mmp_tsc_window_n(unsigned id, uint8_t *p, const uint8_t *l, uint64_t s1,
                 const uint32_t win, uint64_t k)
{
    if (MMP_UNLIKELY(!l || s1 >= mmp_tls.win.tsc_end))
        return false;
    uint64_t *sum = mmp_tls.wsum[id];
    if (MMP_UNLIKELY(!sum))
        return false;
    mms_add_owned_u64((uint64_t *)(p + win - 8), k);
    mms_add_owned_u64(sum, k);
    return true;
}

/* One call of ID in its window (mmp_tsc_window_n). */
static inline __attribute__((always_inline)) bool
mmp_tsc_window(unsigned id, uint8_t *p, const uint8_t *l, uint64_t s1,
               const uint32_t win)
{
    return mmp_tsc_window_n(id, p, l, s1, win, 1);
}

/* mmp_tsc_latency for a histogram HV known to have the default
 * geometry (a hook that checked it when it cached L). */
static inline __attribute__((always_inline)) bool
mmp_tsc_latency_geom(const struct mms_hist_view *hv, uint8_t *l, uint64_t s0,
                     uint64_t s1)
{
    uint64_t d = s1 - s0;
    if (MMP_UNLIKELY((int64_t)d < 0)) /* another CPU's TSC: the slow path's */
        return false;
    uint64_t dt = mms__clock_tsc_dt(d), seq;
    uint32_t *bucket = mms__hist_bucket_owned(
        hv, l, dt, &seq, MMP_HIST_BITS_DEFAULT, MMS_HIST_DEFAULT_MAX_EXP);
    if (MMP_UNLIKELY(!bucket))
        return false;
    mms__hist_add_owned(hv, l, bucket, dt, seq);
    return true;
}

/* The latency from S0 to S1 in call ID's histogram, through its cell L. */
static inline __attribute__((always_inline)) bool
mmp_tsc_latency(unsigned id, uint8_t *l, uint64_t s0, uint64_t s1)
{
    const struct mms_hist_view *hv = &mmp_calls[id].lat_view;
    if (MMP_UNLIKELY(hv->geom != MMS_HIST_GEOM(MMP_HIST_BITS_DEFAULT,
                                               MMS_HIST_DEFAULT_MAX_EXP)))
        return false;
    return mmp_tsc_latency_geom(hv, l, s0, s1);
}

/* The window and latency steps inline after the counters (DONE is
 * MMP_TSC_COUNTED; else nothing is done here): the steps done now,
 * MMP_TSC_TIMED if all. The timed path of a call with a per-file step,
 * before that step. */
#define MMP_TSC_TIMED 3
static inline __attribute__((always_inline)) unsigned
mmp_tsc_steps(unsigned id, uint64_t s0, uint64_t s1, unsigned done,
              const uint32_t win)
{
    if (done != MMP_TSC_COUNTED)
        return done;
    uint8_t *l = mmp_tls_lat[id];
    if (!mmp_tsc_window(id, mmp_tls_ctr[id], l, s1, win))
        return done;
    return mmp_tsc_latency(id, l, s0, s1) ? MMP_TSC_TIMED : MMP_TSC_WINDOWED;
}

/* shim.c: the steps of a timed call with TSC stamps S0 and S1 that come
 * after the steps DONE (MMP_TSC_*), but for the per-file one: the window
 * (unless done) and the latency, by the slow paths if need be. */
void mmp_tsc_slow(unsigned id, uint64_t s0, uint64_t s1, unsigned done);

static inline __attribute__((always_inline)) void mmp_latency(unsigned id,
                                                              uint64_t t0)
{
    if (mmp_is_timed(id))
        mmp_latency_at(id, t0, mmp_clock());
}

/* Add one call to the counters' cell P (this thread's, cached): NVALS
 * counters ("calls", "errors", then the shape's A and B). */
#define MMP_ADDS(p, nvals, err, a, b)                                          \
    do {                                                                       \
        struct mms_cell mmp_c = {(p), true};                                   \
        mms__cell_add(mmp_c, 0, 1);                                            \
        if ((nvals) >= 3)                                                      \
            mms__cell_add(mmp_c, 16, (uint64_t)(a));                           \
        /* B on each side of ERR: the compiler knows which side it is on (a    \
         * byte count is then the result itself). */                           \
        if (MMP_UNLIKELY(err)) {                                               \
            mms__cell_add(mmp_c, 8, 1);                                        \
            if ((nvals) >= 4)                                                  \
                mms__cell_add(mmp_c, 24, (uint64_t)(b));                       \
        } else if ((nvals) >= 4) {                                             \
            mms__cell_add(mmp_c, 24, (uint64_t)(b));                           \
        }                                                                      \
    } while (0)
#define MMP_ADDS_(p, ...) MMP_ADDS(p, __VA_ARGS__)

/* Record one call of ID: NVALS counters ("calls", "errors", then the
 * shape's A and B), and its latency if T0. ERR, A and B are evaluated
 * only when the call is recorded. */
#define MMP_RECORD(id, t0, nvals, err, a, b)                                   \
    do {                                                                       \
        uint8_t *mmp_p = mmp_tls_ctr[id];                                      \
        if (MMP_LIKELY(mmp_p)) {                                               \
            MMP_ADDS(mmp_p, nvals, err, a, b);                                 \
            if (t0)                                                            \
                mmp_latency(id, t0);                                           \
        } else if (mmp_records(mms_load_relaxed(&mmp_mode[id]))) {             \
            mmp_record_slow(id, t0, nvals, (uint64_t)(err), (uint64_t)(a),     \
                            (uint64_t)(b));                                    \
        }                                                                      \
    } while (0)

/* Sums over the caller's iovecs: only after a call succeeded, when the
 * kernel has read them all (before, they may be what makes it fail). */
static inline uint64_t mmp_iov_bytes(const struct iovec *iov, int cnt)
{
    uint64_t sum = 0;
    for (int i = 0; i < cnt; i++)
        sum += iov[i].iov_len;
    return sum;
}
static inline uint64_t mmp_msg_bytes(const struct msghdr *m)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        sum += m->msg_iov[i].iov_len;
    return sum;
}

/* What each generated shape records of its result R (and of the
 * parameters the table names), and returns if the real function is
 * missing. */
#define MMP_GOT(r) ((r) > 0 ? (uint64_t)(r) : 0)
/* NOLINTBEGIN(bugprone-macro-parentheses): parameter names of the hook */
/* Record call ID's result R as its SHAPE says (MMP_VALS_<shape>: the
 * counters' number and values). */
#define MMP_REC_SHAPE(shape, id, t0, r) MMP_REC_(id, t0, MMP_VALS_##shape(r))
#define MMP_REC_(id, t0, ...) MMP_RECORD(id, t0, __VA_ARGS__)
#define MMP_VALS_CALL(r) 2, (r) < 0, 0, 0
#define MMP_VALS_CALL_PTR(r) 2, (r) == NULL, 0, 0
#define MMP_VALS_CALL_EOF(r) 2, (r) == EOF, 0, 0
#define MMP_VALS_CALL_MAP(r) 2, (r) == MAP_FAILED, 0, 0
#define MMP_VALS_CALL_NZ(r) 2, (r) != 0, 0, 0
#define MMP_VALS_CALL_SIG(r) 2, (r) == SIG_ERR, 0, 0
/* A mapping's or a range's length: asked, and moved if the call worked. */
#define MMP_VALS_MAP(r) 4, (r) == MAP_FAILED, len, (r) == MAP_FAILED ? 0 : len
#define MMP_VALS_RANGE(r) 4, (r) < 0, len, (r) < 0 ? 0 : len
#define MMP_VALS_SCAN(r) 3, (r) < 0, MMP_GOT(r), 0
#define MMP_VALS_XFER(r) 4, (r) < 0, n, MMP_GOT(r)
#define MMP_VALS_XFER_IOV(r)                                                   \
    4, (r) < 0, (r) >= 0 ? mmp_iov_bytes(iov, cnt) : 0, MMP_GOT(r)
#define MMP_VALS_XFER_MSG(r)                                                   \
    4, (r) < 0, (r) >= 0 ? mmp_msg_bytes(m) : 0, MMP_GOT(r)
/* A short count is an error only if the stream says so (not at EOF).
 * ferror_unlocked reads the stream's flags: no system call, no lock. */
#define MMP_VALS_FREAD(r) 4, (r) < n &&ferror_unlocked(f), size *n, size *(r)
#define MMP_VALS_FWRITE(r) 4, (r) < n, size *n, size *(r)
#define MMP_VALS_FGETS(r)                                                      \
    4, (r) == NULL &&ferror_unlocked(f), n > 0 ? n : 0, (r) ? strlen(r) : 0
/* fputs reads S whole before anything else: its length is safe to take. */
#define MMP_VALS_FPUTS(r) 4, (r) == EOF, strlen(s), (r) == EOF ? 0 : strlen(s)
#define MMP_VALS_WAIT(r) 3, (r) < 0, MMP_GOT(r), 0
/* NOLINTEND(bugprone-macro-parentheses) */
#define MMP_FAIL_CALL (-1)
#define MMP_FAIL_CALL_PTR NULL
#define MMP_FAIL_CALL_EOF EOF
#define MMP_FAIL_CALL_MAP MAP_FAILED
#define MMP_FAIL_CALL_NZ ENOSYS
#define MMP_FAIL_CALL_SIG SIG_ERR
#define MMP_FAIL_MAP MAP_FAILED
#define MMP_FAIL_RANGE (-1)
#define MMP_FAIL_SCAN (-1)
#define MMP_FAIL_XFER (-1)
#define MMP_FAIL_XFER_IOV (-1)
#define MMP_FAIL_XFER_MSG (-1)
#define MMP_FAIL_FREAD 0
#define MMP_FAIL_FWRITE 0
#define MMP_FAIL_FGETS NULL
#define MMP_FAIL_FPUTS EOF
#define MMP_FAIL_WAIT (-1)

/* ------------------------------------------------ hooks from the table */

/* A shape's field set and body kind (calls.h, MMP_SHAPE_*). */
#define MMP_FIRST(a, b) a
#define MMP_SECOND(a, b) b
#define MMP_APPLY(m, args) m args
#define MMP_SET_OF(shape)                                                      \
    MMP_CAT(MMP_SET_, MMP_APPLY(MMP_FIRST, MMP_SHAPE_##shape))
/* A table entry's body: generated (GEN, MODE) or written by hand (OWN:
 * nothing is generated here, and the prototype above makes a missing or
 * mistyped body an error). */
#define MMP_KIND_OF(shape) MMP_APPLY(MMP_SECOND, MMP_SHAPE_##shape)
#define MMP_BODY_OF(shape) MMP_CAT(MMP_BODY_, MMP_KIND_OF(shape))

/* MMP_CALLS_<family>(MMP_DEFINE) in hook_<family>.c defines its hooks.
 * The timed path is a function of its own, so that the counting path
 * keeps few registers live across the real call. MMP_FPRE and MMP_FPOST
 * are what the call does to per-file records (files.h; nothing for most
 * calls); the timed path reads the clock once after the call, for the
 * latency and the file's times. */
#define MMP_DEFINE(fam, name, shape, ret, ...)                                 \
    MMP_BODY_OF(shape)(name, shape, ret, __VA_ARGS__)
#define MMP_BODY_OWN(name, shape, ret, ...)
#define MMP_TIMED_REC(name, shape)                                             \
    do {                                                                       \
        if (MMP_LIKELY(mmp_is_timed(MMP_CALL_##name))) {                       \
            uint64_t mmp_t1 = mmp_clock();                                     \
            MMP_REC_SHAPE(shape, MMP_CALL_##name, 0, mmp_r);                   \
            mmp_latency_at(MMP_CALL_##name, mmp_t0, mmp_t1);                   \
            MMP_FPOST(name, mmp_t0, mmp_t1);                                   \
        } else { /* timing stopped during the call: no clock */                \
            MMP_REC_SHAPE(shape, MMP_CALL_##name, 0, mmp_r);                   \
            MMP_FPOST(name, 0, 0);                                             \
        }                                                                      \
    } while (0)
/* A hand-written hook's way to its real function while it records
 * nothing (MMSTATS_DISABLE=1, the family off, before start-up):
 * entry_NAME holds the real function once found; until then first_NAME,
 * which finds it and calls it (or returns FAIL, an expression of the
 * parameters, without one). Never NULL, so that such a call costs the
 * mode byte's test, this load and the tail call, with no register saved
 * (as a generated hook's mmp_entry, below). hook_mem.c and hook_sync.c. */
/* NOLINTBEGIN(bugprone-macro-parentheses): names and an expression */
#define MMP_ENTRY_OFF(name, ret, fail, ...)                                    \
    static ret first_##name(MMP_PARAMS(__VA_ARGS__));                          \
    static mmp_real_##name##_t entry_##name = first_##name;                    \
    static __attribute__((noinline, cold))                                     \
    ret first_##name(MMP_PARAMS(__VA_ARGS__))                                  \
    {                                                                          \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (MMP_UNLIKELY(!real))                                               \
            return fail;                                                       \
        mms_store_relaxed(&entry_##name, real);                                \
        return real(MMP_ARGS(__VA_ARGS__));                                    \
    }
/* NOLINTEND(bugprone-macro-parentheses) */
/* A generated hook calls its real function through mmp_entry[ID]: the
 * real function once found; until then the call's mmp_first_<name>,
 * which finds it and calls it (or fails with ENOSYS if there is none, or
 * while this thread is finding one: dlsym may call hooks). Never NULL, so
 * the hook tests nothing before the call. resolve.c fills the table. */
typedef void (*mmp_fn)(void);
extern mmp_fn mmp_entry[MMP_NCALLS] MMP_HIDDEN;
#define MMP_FIRST_PROTO(fam, name, shape, ret, ...)                            \
    MMP_CAT(MMP_FIRST_PROTO_, MMP_KIND_OF(shape))(name, ret, __VA_ARGS__)
#define MMP_FIRST_PROTO_GEN(name, ret, ...)                                    \
    ret mmp_first_##name(MMP_PARAMS(__VA_ARGS__));
#define MMP_FIRST_PROTO_MODE MMP_FIRST_PROTO_GEN
#define MMP_FIRST_PROTO_OWN(...)
#define MMP_FIRST_PROTO_EXEC(...)
#define MMP_FIRST_PROTO_EXIT(...)
MMP_CALLS(MMP_FIRST_PROTO)
#define MMP_FIRST_CALL(name, shape, ret, ...)                                  \
    __attribute__((noinline, cold))                                            \
    ret mmp_first_##name(MMP_PARAMS(__VA_ARGS__))                              \
    {                                                                          \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (!real) {                                                           \
            errno = ENOSYS;                                                    \
            return MMP_FAIL_##shape;                                           \
        }                                                                      \
        return real(MMP_ARGS(__VA_ARGS__));                                    \
    }
/* The hook's dispatch on its call's mode byte, one compare on the
 * counting path: off (nothing to do: the real call, as a tail call),
 * timed (a function of its own), or off but with per-file records to keep
 * (MMP_FILES_ONLY: the counting path, which records no counter then). */
#define MMP_DISPATCH(name, timed, real, ...)                                   \
    uint8_t mmp_m = mms_load_relaxed(&mmp_mode[MMP_CALL_##name]);              \
    if (MMP_UNLIKELY(mmp_m != MMP_COUNT)) {                                    \
        if (mmp_m == MMP_OFF)                                                  \
            return real(__VA_ARGS__);                                          \
        if (mmp_m == MMP_TIMED)                                                \
            return timed(__VA_ARGS__);                                         \
    }
/* The parameters the counting path needs after the real call: copies
 * made after the dispatch (the empty asm makes each copy's value new
 * there), which the code after the call sees under the parameters' own
 * names (MMP_RESTORE, in a scope of its own). Without them the compiler
 * copies those parameters into saved registers at the hook's entry, and
 * the dispatch's early returns (above all the one of a call that is off)
 * pay for saving and restoring them; with them the real call takes the
 * parameters where they came, and a copy not used after it is dropped. */
#define MMP_KEEP(...) MMP_CAT(MMP_K_, MMP_NARGS(__VA_ARGS__))(__VA_ARGS__)
/* DST = SRC where it stands, for a hook of its own whose plain copies the
 * compiler hoists to the entry all the same (hook_mem.c, hook_sync.c). */
#if defined(__x86_64__)
#define MMP_COPY_LATE(dst, src) __asm__("mov %1, %0" : "=r"(dst) : "r"(src))
#else
#define MMP_COPY_LATE(dst, src)                                                \
    do {                                                                       \
        (dst) = (src);                                                         \
        __asm__("" : "+r"(dst));                                               \
    } while (0)
#endif
#define MMP_K_0()
#define MMP_K_2(t, a)                                                          \
    __auto_type mmp_k_##a = (a);                                               \
    __asm__("" : "+r"(mmp_k_##a));
#define MMP_K_4(t, a, ...) MMP_K_2(t, a) MMP_K_2(__VA_ARGS__)
#define MMP_K_6(t, a, ...) MMP_K_2(t, a) MMP_K_4(__VA_ARGS__)
#define MMP_K_8(t, a, ...) MMP_K_2(t, a) MMP_K_6(__VA_ARGS__)
#define MMP_K_10(t, a, ...) MMP_K_2(t, a) MMP_K_8(__VA_ARGS__)
#define MMP_K_12(t, a, ...) MMP_K_2(t, a) MMP_K_10(__VA_ARGS__)
#define MMP_K_14(t, a, ...) MMP_K_2(t, a) MMP_K_12(__VA_ARGS__)
#define MMP_K_16(t, a, ...) MMP_K_2(t, a) MMP_K_14(__VA_ARGS__)
#define MMP_RESTORE(...)                                                       \
    _Pragma("GCC diagnostic push")                                             \
        _Pragma("GCC diagnostic ignored \"-Wshadow\"")                         \
            MMP_CAT(MMP_R_, MMP_NARGS(__VA_ARGS__))(__VA_ARGS__)               \
                _Pragma("GCC diagnostic pop")
/* NOLINTBEGIN(bugprone-macro-parentheses): declares the names */
#define MMP_R_0()
#define MMP_R_2(t, a) __auto_type a __attribute__((unused)) = mmp_k_##a;
#define MMP_R_4(t, a, ...) MMP_R_2(t, a) MMP_R_2(__VA_ARGS__)
#define MMP_R_6(t, a, ...) MMP_R_2(t, a) MMP_R_4(__VA_ARGS__)
#define MMP_R_8(t, a, ...) MMP_R_2(t, a) MMP_R_6(__VA_ARGS__)
#define MMP_R_10(t, a, ...) MMP_R_2(t, a) MMP_R_8(__VA_ARGS__)
#define MMP_R_12(t, a, ...) MMP_R_2(t, a) MMP_R_10(__VA_ARGS__)
#define MMP_R_14(t, a, ...) MMP_R_2(t, a) MMP_R_12(__VA_ARGS__)
#define MMP_R_16(t, a, ...) MMP_R_2(t, a) MMP_R_14(__VA_ARGS__)
/* NOLINTEND(bugprone-macro-parentheses) */
/* The timed path with the clock in ns (mmp_clock) throughout: calls
 * with a per-file step before the real one (close's), and any call while
 * the clock is not the TSC. */
#define MMP_TIMED_NS(fn, name, shape, ret, ...)                                \
    static __attribute__((noinline)) ret fn(MMP_PARAMS(__VA_ARGS__))           \
    {                                                                          \
        mmp_real_##name##_t real = (mmp_real_##name##_t)mms_load_relaxed(      \
            &mmp_entry[MMP_CALL_##name]);                                      \
        MMP_FPRE(name);                                                        \
        uint64_t mmp_t0 = mmp_clock();                                         \
        ret mmp_r = real(MMP_ARGS(__VA_ARGS__));                               \
        MMP_TIMED_REC(name, shape);                                            \
        return mmp_r;                                                          \
    }
#define MMP_TIMED_BODY_1(name, shape, ret, ...)                                \
    MMP_TIMED_NS(mmp_timed_##name, name, shape, ret, __VA_ARGS__)              \
    MMP_TIMED_GO(name, ret, __VA_ARGS__)
/* The dispatch's way to a timed path: a direct call. */
#define MMP_TIMED_GO(name, ret, ...)                                           \
    static inline ret mmp_timed_go_##name(MMP_PARAMS(__VA_ARGS__))             \
    {                                                                          \
        return mmp_timed_##name(MMP_ARGS(__VA_ARGS__));                        \
    }
/* The timed path with TSC stamps: the two counts read around the real
 * call, converted only where recorded. The inline record
 * (mmp_latency_tsc) makes no call, and what it cannot do, or a call
 * that does something to per-file records (MMP_FMAY), goes whole to a
 * function of its own as a tail call: so the hook keeps only what
 * crosses the real call in saved registers. Those functions' parameters
 * unused are dropped by the compiler (static functions). */
#define MMP_TIMED_BODY_0(name, shape, ret, ...)                                \
    MMP_TIMED_NS(mmp_timed_ns_##name, name, shape, ret, __VA_ARGS__)           \
    /* The whole record from stamps S0 and S1 after the steps DONE             \
     * (MMP_TSC_*), the per-file step included. */                             \
    static __attribute__((noinline)) ret mmp_timed_rest_##name(                \
        MMP_PARAMS(__VA_ARGS__), ret mmp_r, uint64_t mmp_s0, uint64_t mmp_s1,  \
        unsigned mmp_done)                                                     \
    {                                                                          \
        if (mmp_done == MMP_TSC_NONE)                                          \
            MMP_REC_SHAPE(shape, MMP_CALL_##name, 0, mmp_r);                   \
        else if (MMP_FILEOP(name))                                             \
            mmp_done = mmp_tsc_steps(MMP_CALL_##name, mmp_s0, mmp_s1,          \
                                     mmp_done, MMP_SHAPE_WIN_OFF(shape));      \
        if (mmp_done != MMP_TSC_TIMED)                                         \
            mmp_tsc_slow(MMP_CALL_##name, mmp_s0, mmp_s1, mmp_done);           \
        MMP_FPOST(name, mms__clock_tsc_ns(mmp_s0), mms__clock_tsc_ns(mmp_s1)); \
        return mmp_r;                                                          \
    }                                                                          \
    /* The latency (and window) after the steps DONE, with no per-file step    \
     * to do (so with no parameter of the call to keep). */                    \
    static __attribute__((noinline, cold)) ret mmp_timed_later_##name(         \
        ret mmp_r, uint64_t mmp_s0, uint64_t mmp_s1, unsigned mmp_done)        \
    {                                                                          \
        mmp_tsc_slow(MMP_CALL_##name, mmp_s0, mmp_s1, mmp_done);               \
        return mmp_r;                                                          \
    }                                                                          \
    static __attribute__((noinline))                                           \
    ret mmp_timed_##name(MMP_PARAMS(__VA_ARGS__))                              \
    {                                                                          \
        mmp_real_##name##_t real = (mmp_real_##name##_t)mms_load_relaxed(      \
            &mmp_entry[MMP_CALL_##name]);                                      \
        uint64_t mmp_s0 = mms__rdtsc();                                        \
        ret mmp_r = real(MMP_ARGS(__VA_ARGS__));                               \
        /* Timed to its end even if timing stopped meanwhile (seccomp): the    \
         * TSC needs no system call. */                                        \
        uint64_t mmp_s1 = mms__rdtsc();                                        \
        uint8_t *mmp_p = mmp_tls_ctr[MMP_CALL_##name];                         \
        if (MMP_UNLIKELY(!mmp_p))                                              \
            return mmp_timed_rest_##name(MMP_ARGS(__VA_ARGS__), mmp_r, mmp_s0, \
                                         mmp_s1, MMP_TSC_NONE);                \
        MMP_ADDS_(mmp_p, MMP_VALS_##shape(mmp_r));                             \
        /* The call's parameters are not needed past this point. */            \
        if (MMP_FMAY(name))                                                    \
            return mmp_timed_rest_##name(MMP_ARGS(__VA_ARGS__), mmp_r, mmp_s0, \
                                         mmp_s1, MMP_TSC_COUNTED);             \
        uint8_t *mmp_l = mmp_tls_lat[MMP_CALL_##name];                         \
        if (MMP_UNLIKELY(!mmp_tsc_window(MMP_CALL_##name, mmp_p, mmp_l,        \
                                         mmp_s1, MMP_SHAPE_WIN_OFF(shape))))   \
            return mmp_timed_later_##name(mmp_r, mmp_s0, mmp_s1,               \
                                          MMP_TSC_COUNTED);                    \
        if (MMP_UNLIKELY(                                                      \
                !mmp_tsc_latency(MMP_CALL_##name, mmp_l, mmp_s0, mmp_s1)))     \
            return mmp_timed_later_##name(mmp_r, mmp_s0, mmp_s1,               \
                                          MMP_TSC_WINDOWED);                   \
        return mmp_r;                                                          \
    }                                                                          \
    /* The dispatch's way to the timed path: through mmp_timed_at_NAME,        \
     * mmp_timed_first_NAME's until the clock is the TSC (for good), then      \
     * the path with stamps, which so tests nothing of the clock. */           \
    static __attribute__((noinline))                                           \
    ret mmp_timed_first_##name(MMP_PARAMS(__VA_ARGS__));                       \
    static mmp_real_##name##_t mmp_timed_at_##name = mmp_timed_first_##name;   \
    static __attribute__((noinline))                                           \
    ret mmp_timed_first_##name(MMP_PARAMS(__VA_ARGS__))                        \
    {                                                                          \
        if (!mms__clock_is_tsc())                                              \
            return mmp_timed_ns_##name(MMP_ARGS(__VA_ARGS__));                 \
        mms_store_relaxed(&mmp_timed_at_##name, mmp_timed_##name);             \
        return mmp_timed_##name(MMP_ARGS(__VA_ARGS__));                        \
    }                                                                          \
    static inline ret mmp_timed_go_##name(MMP_PARAMS(__VA_ARGS__))             \
    {                                                                          \
        return mms_load_relaxed(&mmp_timed_at_##name)(MMP_ARGS(__VA_ARGS__));  \
    }
#define MMP_TIMED_BODY(name, shape, ret, ...)                                  \
    MMP_CAT(MMP_TIMED_BODY_, MMP_FHAS(MMP_FPRE_##name))                        \
    (name, shape, ret, __VA_ARGS__)
/* The counting path's part after the dispatch: the real call, and what
 * it records. A call with a per-file step before the real one (close's)
 * does that step, and the one after, in a function of its own, only when
 * the step may have something to do (MMP_FPRE_MAY): the hook then keeps
 * nothing across the real call for it. */
#define MMP_COUNT_BODY_0(name, shape, ret, ...)                                \
    {                                                                          \
        MMP_KEEP(__VA_ARGS__)                                                  \
        ret mmp_r = real(MMP_ARGS(__VA_ARGS__));                               \
        {                                                                      \
            MMP_RESTORE(__VA_ARGS__)                                           \
            MMP_REC_SHAPE(shape, MMP_CALL_##name, 0, mmp_r);                   \
            MMP_FPOST(name, 0, 0);                                             \
        }                                                                      \
        return mmp_r;                                                          \
    }
#define MMP_COUNT_BODY_1(name, shape, ret, ...)                                \
    {                                                                          \
        if (MMP_FPRE_MAY(name))                                                \
            return mmp_count_files_##name(MMP_ARGS(__VA_ARGS__));              \
        MMP_KEEP(__VA_ARGS__)                                                  \
        ret mmp_r = real(MMP_ARGS(__VA_ARGS__));                               \
        {                                                                      \
            MMP_RESTORE(__VA_ARGS__)                                           \
            MMP_REC_SHAPE(shape, MMP_CALL_##name, 0, mmp_r);                   \
        }                                                                      \
        return mmp_r;                                                          \
    }
/* The counting path of a call with a per-file step before the real one,
 * when it may have something to do. */
#define MMP_COUNT_FILES(name, shape, ret, ...)                                 \
    static __attribute__((noinline))                                           \
    ret mmp_count_files_##name(MMP_PARAMS(__VA_ARGS__))                        \
    {                                                                          \
        MMP_FPRE(name);                                                        \
        /* Loaded after the step: no saved register holds it across it. */     \
        mmp_real_##name##_t real = (mmp_real_##name##_t)mms_load_relaxed(      \
            &mmp_entry[MMP_CALL_##name]);                                      \
        ret mmp_r = real(MMP_ARGS(__VA_ARGS__));                               \
        MMP_REC_SHAPE(shape, MMP_CALL_##name, 0, mmp_r);                       \
        MMP_FPOST(name, 0, 0);                                                 \
        return mmp_r;                                                          \
    }
#define MMP_COUNT_FILES_0(...)
#define MMP_COUNT_FILES_1 MMP_COUNT_FILES
#define MMP_BODY_GEN(name, shape, ret, ...)                                    \
    MMP_TIMED_BODY(name, shape, ret, __VA_ARGS__)                              \
    MMP_CAT(MMP_COUNT_FILES_, MMP_FHAS(MMP_FPRE_##name))                       \
    (name, shape, ret, __VA_ARGS__)                                            \
        MMP_FIRST_CALL(name, shape, ret, __VA_ARGS__) MMP_HOOK ret             \
        name(MMP_PARAMS(__VA_ARGS__))                                          \
    {                                                                          \
        mmp_real_##name##_t real = (mmp_real_##name##_t)mms_load_relaxed(      \
            &mmp_entry[MMP_CALL_##name]);                                      \
        MMP_DISPATCH(name, mmp_timed_go_##name, real, MMP_ARGS(__VA_ARGS__))   \
        MMP_CAT(MMP_COUNT_BODY_, MMP_FHAS(MMP_FPRE_##name))                    \
        (name, shape, ret, __VA_ARGS__)                                        \
    }

/* open's mode argument exists only with O_CREAT or O_TMPFILE; reading it
 * otherwise reads garbage (and is undefined behaviour). O_TMPFILE is two
 * bits (its own and O_DIRECTORY's): a flags word with neither O_CREAT nor
 * O_TMPFILE's own bit, nearly every open's, is told by one test. */
#define MMP_OPEN_MAY_NEED_MODE(flags)                                          \
    ((flags) & (O_CREAT | (O_TMPFILE & ~O_DIRECTORY)))
#define MMP_OPEN_NEEDS_MODE(flags)                                             \
    (((flags)&O_CREAT) || ((flags)&O_TMPFILE) == O_TMPFILE)

/* MODE = the variadic argument after FLAGS, in a function NAME(...,
 * int flags, ...) of a MODE body: open's mode, passed as an int. */
#define MMP_VA_MODE(mode)                                                      \
    do {                                                                       \
        va_list mmp_ap;                                                        \
        va_start(mmp_ap, flags);                                               \
        /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start */    \
        (mode) = (mode_t)va_arg(mmp_ap, int);                                  \
        va_end(mmp_ap);                                                        \
    } while (0)

/* MODE body: NAME(..., int flags, ...) as open and openat. The variadic
 * pair's empty name leaves MMP_ARGS ending in a comma, before MODE. The
 * timed path gets the mode as its one variadic argument. */
#define MMP_BODY_MODE(name, shape, ret, ...)                                   \
    static __attribute__((noinline))                                           \
    ret mmp_timed_##name(MMP_PARAMS(__VA_ARGS__))                              \
    {                                                                          \
        mode_t mode;                                                           \
        MMP_VA_MODE(mode);                                                     \
        mmp_real_##name##_t real = (mmp_real_##name##_t)mms_load_relaxed(      \
            &mmp_entry[MMP_CALL_##name]);                                      \
        uint64_t mmp_t0 = mmp_clock();                                         \
        ret mmp_r = real(MMP_ARGS(__VA_ARGS__) mode);                          \
        MMP_TIMED_REC(name, CALL);                                             \
        return mmp_r;                                                          \
    }                                                                          \
    /* The counting path with the files family on (the mode as above). */      \
    static __attribute__((noinline))                                           \
    ret mmp_count_files_##name(MMP_PARAMS(__VA_ARGS__))                        \
    {                                                                          \
        mode_t mode;                                                           \
        MMP_VA_MODE(mode);                                                     \
        mmp_real_##name##_t real = (mmp_real_##name##_t)mms_load_relaxed(      \
            &mmp_entry[MMP_CALL_##name]);                                      \
        ret mmp_r = real(MMP_ARGS(__VA_ARGS__) mode);                          \
        MMP_REC_SHAPE(CALL, MMP_CALL_##name, 0, mmp_r);                        \
        MMP_FPOST(name, 0, 0);                                                 \
        return mmp_r;                                                          \
    }                                                                          \
    /* The hook always passes the mode: the first call reads it. */            \
    __attribute__((noinline, cold))                                            \
    ret mmp_first_##name(MMP_PARAMS(__VA_ARGS__))                              \
    {                                                                          \
        mode_t mode;                                                           \
        MMP_VA_MODE(mode);                                                     \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (!real) {                                                           \
            errno = ENOSYS;                                                    \
            return -1;                                                         \
        }                                                                      \
        return real(MMP_ARGS(__VA_ARGS__) mode);                               \
    }                                                                          \
    MMP_HOOK ret name(MMP_PARAMS(__VA_ARGS__))                                 \
    {                                                                          \
        mode_t mode = 0;                                                       \
        if (MMP_UNLIKELY(MMP_OPEN_MAY_NEED_MODE(flags)) &&                     \
            MMP_OPEN_NEEDS_MODE(flags)) {                                      \
            MMP_VA_MODE(mode);                                                 \
        }                                                                      \
        mmp_real_##name##_t real = (mmp_real_##name##_t)mms_load_relaxed(      \
            &mmp_entry[MMP_CALL_##name]);                                      \
        MMP_DISPATCH(name, mmp_timed_##name, real, MMP_ARGS(__VA_ARGS__) mode) \
        /* With the files family on, a function of its own: nothing kept       \
         * across the real call for the files family here. */                  \
        if (MMP_FHAS(MMP_FOP_##name) && mmp_files_enabled())                   \
            return mmp_count_files_##name(MMP_ARGS(__VA_ARGS__) mode);         \
        ret mmp_r = real(MMP_ARGS(__VA_ARGS__) mode);                          \
        MMP_REC_SHAPE(CALL, MMP_CALL_##name, 0, mmp_r);                        \
        return mmp_r;                                                          \
    }

/* The shim's own memory: anonymous mappings and madvise by direct system
 * call, never through the hooked mmap/madvise (which would count them as
 * the program's calls, in a fork child even into its parent's file).
 * errno is kept. */
static inline void *mmp_sys_map(void *addr, size_t len, int flags)
{
    int saved = errno;
    long r = syscall(SYS_mmap, addr, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | flags, -1,
                     (off_t)0);
    errno = saved;
    return r == -1 ? MAP_FAILED
                   : (void *)r; /* NOLINT(performance-no-int-to-ptr): mmap's */
}

static inline void mmp_sys_unmap(void *addr, size_t len)
{
    int saved = errno;
    syscall(SYS_munmap, addr, len);
    errno = saved;
}

static inline int mmp_sys_madvise(void *addr, size_t len, int advice)
{
    int saved = errno;
    long r = syscall(SYS_madvise, addr, len, advice);
    errno = saved;
    return (int)r;
}

#include "files.h"

#endif /* MMP_SHIM_H */
