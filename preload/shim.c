/* The shim's life: start-up (options), the stats file made with the
 * first call recorded, each call's fields made on its first use (the
 * records' slow path),
 * threads' cells forgotten at their exit, and process events: fork and
 * clone children get their own file, exec and _exit mark it finished,
 * seccomp stops every system call of the shim's own. Hooks pass straight
 * through until start-up is complete, in a setuid/setgid process, with
 * MMSTATS_DISABLE=1, or if the stats file cannot be made (then one
 * warning, only with MMSTATS_VERBOSE=1). */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include <mmstats/preload.h>

#include "config.h"
#include "shim.h"
#include "files.h"

/* ------------------------------------------------------ the table */

const char *const mmp_call_names[MMP_NCALLS] = {
#define MMP_NAME(fam, name, ...) #name,
    MMP_CALLS(MMP_NAME)
#undef MMP_NAME
};

const char *const mmp_family_names[MMP_NFAMILIES] = {
#define MMP_FNAME(fam, kind, desc) #fam,
    MMP_FAMILIES(MMP_FNAME)
#undef MMP_FNAME
};

#define MMP_ALWAYS_REC 0
#define MMP_ALWAYS_ALWAYS 1
const uint8_t mmp_family_always[MMP_NFAMILIES] = {
#define MMP_FALWAYS(fam, kind, desc) MMP_ALWAYS_##kind,
    MMP_FAMILIES(MMP_FALWAYS)
#undef MMP_FALWAYS
};

const uint8_t mmp_call_family[MMP_NCALLS] = {
#define MMP_FAM(fam, name, ...) MMP_FAM_##fam,
    MMP_CALLS(MMP_FAM)
#undef MMP_FAM
};

const uint8_t mmp_call_set[MMP_NCALLS] = {
#define MMP_SET(fam, name, shape, ...) MMP_SET_OF(shape),
    MMP_CALLS(MMP_SET)
#undef MMP_SET
};

static const struct mmp_family_ops *const families[MMP_NFAMILIES] = {
#define MMP_FPTR(fam, kind, desc) &mmp_family_##fam,
    MMP_FAMILIES(MMP_FPTR)
#undef MMP_FPTR
};

enum field_token {
#define MMP_FTOK(tok, units) FIELD_##tok,
    MMP_FIELDS(MMP_FTOK)
#undef MMP_FTOK
        NFIELD_TOKENS
};
static const char *const field_name[NFIELD_TOKENS] = {
#define MMP_FNAME(tok, units) MMS_PRELOAD_##tok,
    MMP_FIELDS(MMP_FNAME)
#undef MMP_FNAME
};
static const char *const field_units[NFIELD_TOKENS] = {
#define MMP_FUNITS(tok, units) units,
    MMP_FIELDS(MMP_FUNITS)
#undef MMP_FUNITS
};

/* The counters of each field set, in the order of their cells. */
#define MAX_COUNTERS 4
#define MMP_FTOKEN(tok) FIELD_##tok,
static const uint8_t set_fields[MMP_NSETS][MAX_COUNTERS] = {
    [MMP_SET_CALL] = {MMP_FIELDSET_CALL(MMP_FTOKEN)},
    [MMP_SET_XFER] = {MMP_FIELDSET_XFER(MMP_FTOKEN)},
    [MMP_SET_WAIT] = {MMP_FIELDSET_WAIT(MMP_FTOKEN)},
    [MMP_SET_LOCK] = {MMP_FIELDSET_LOCK(MMP_FTOKEN)},
    [MMP_SET_DIR] = {MMP_FIELDSET_DIR(MMP_FTOKEN)},
    [MMP_SET_NONE] = {0},
};
#undef MMP_FTOKEN
/* NOLINTNEXTLINE(bugprone-macro-parentheses): a term of a sum */
#define MMP_FONE(tok) +1
static const uint8_t set_size[MMP_NSETS] = {
    [MMP_SET_CALL] = 0 MMP_FIELDSET_CALL(MMP_FONE),
    [MMP_SET_XFER] = 0 MMP_FIELDSET_XFER(MMP_FONE),
    [MMP_SET_WAIT] = 0 MMP_FIELDSET_WAIT(MMP_FONE),
    [MMP_SET_LOCK] = 0 MMP_FIELDSET_LOCK(MMP_FONE),
    [MMP_SET_DIR] = 0 MMP_FIELDSET_DIR(MMP_FONE),
    [MMP_SET_NONE] = 0 MMP_FIELDSET_NONE(MMP_FONE),
};
#undef MMP_FONE

/* ------------------------------------------------------ the state */

uint8_t mmp_mode[MMP_NCALLS];
struct mmp_call mmp_calls[MMP_NCALLS];
__thread struct mmp_tls mmp_tls MMP_IE;
__thread uint8_t mmp_thread MMP_IE;

static mms_writer *writer;
static uint8_t fam_state[MMP_NFAMILIES]; /* enum mmp_fields_state */
static int no_syscalls;                  /* the process entered seccomp */

/* The stats file is made with the first call a process records, not at
 * start-up: a process that records nothing (/bin/true, a shell's child
 * that execs at once) makes no file, folds nothing, costs little.
 * FILE_NONE: not recording (yet, or ever); FILE_PENDING: recording, the
 * file to be made by the process FILE_PID (a vfork child shares our
 * memory, not our pid: it must not make the parent's file). */
enum file_state { FILE_NONE, FILE_PENDING, FILE_MAKING, FILE_MADE };
static int file_state;
static pid_t file_pid;
/* The file to make is a fork child's (its parent's, copied and zeroed:
 * mms_writer_after_fork), not a new one. */
static int fork_child_file;
static __thread int making_file MMP_IE; /* this thread makes the file */

/* A fork child keeps its counts in memory, not in a file of its own:
 * most (a shell's) exec or exit after a few calls, and a file made for
 * them, then folded by the exec'd image, cost more than the child. At
 * exec or exit its calls, errors and bytes are added to its parent's
 * file (the shared cells, with atomic adds: mms__writer_fold_parent);
 * a child that lives on (more than DEFER_RECORDS records, more than
 * DEFER_MEM allocation calls: counts, never times, so that the same
 * program behaves the same on a loaded machine), or whose counts the
 * parent's file cannot
 * take (a call it has no fields for, the file finished), makes its own
 * file then and its counts go there. Latencies, windows and the
 * families' own figures (mem, per-file records) of a deferred child
 * are not kept (docs/preload.md, processes). */
#define DEFER_RECORDS 1024
static int deferred;
static uint32_t defer_count, defer_mem;
/* The kept counts, a row per call, rows taken in the order the calls
 * come (DEFER_ROWS distinct calls at most: a child that makes more makes
 * its own file), on the page where the latencies start (layout.ld; the
 * rows' owners with the start-up variables): a shell's child writes one
 * page of them (rows by call id were spread over two pages, the
 * latencies a third). ROW_OF[ID]: ID's row + 1 (0:
 * none); ROW_ID[R]: R's call. A signal handler that comes between a
 * row's taking and its noting may take a second row for the same call:
 * both are folded. */
#define DEFER_ROWS 48
static uint8_t defer_row_of[MMP_NCALLS];
static uint16_t defer_row_id[DEFER_ROWS];
static uint64_t defer_vals[DEFER_ROWS][MAX_COUNTERS];
static uint32_t defer_nrows;

/* Rows below this were taken (and their calls noted, if counted). */
static unsigned defer_rows_used(void)
{
    uint32_t n = mms_load_relaxed(&defer_nrows);
    return n < DEFER_ROWS ? n : DEFER_ROWS;
}
/* Latencies (and window seconds) of the deferred records, replayed if
 * the child makes its own file; not folded into the parent's. */
static struct defer_lat {
    uint16_t id, timed; /* timed: mmp_timed_slow (with a window second) */
    uint32_t sec;
    uint64_t dt;
} defer_lat[DEFER_RECORDS];
static uint32_t defer_nlat;

/* Orders this thread's stores against a signal handler in this thread. */
#define COMPILER_BARRIER() __asm__ volatile("" ::: "memory")

/* Which calls do something to per-file records (files.h): they keep
 * doing it, without counters, when their own family is off. */
#define MMP_FILEOP_OF(fam, name, ...) MMP_FILEOP(name),
static const uint8_t call_fileop[MMP_NCALLS] = {MMP_CALLS(MMP_FILEOP_OF)};
#undef MMP_FILEOP_OF

static bool family_on(unsigned fam)
{
    return mmp_family_always[fam] || (mmp_cfg.families & (1u << fam));
}

static bool call_timed(unsigned id)
{
    return mmp_call_family[id] == MMP_FAM_mem ? mmp_cfg.timing_mem
                                              : mmp_cfg.timing;
}

/* ---------------------------------------------------- making fields */

void mmp_drop(void)
{
    /* Not the shim's own calls while it makes its file, nor into the
     * parent's file, mapped by a fork child that has none yet. */
    if (!making_file && mms_load_relaxed(&file_state) == FILE_MADE)
        mms__writer_dropped(writer, 1);
}

/* Adds from hooks never wait for their own thread's add (a signal
 * handler that interrupted it: `adding` below, and the core's holder
 * mark): that would never end. Another thread's add they wait for, in
 * the core (mms__add_lock): spinning, then yielding, the way a growth
 * is waited for, since giving up drops the record (a holder descheduled
 * on a loaded machine held the lock past any fixed number of spins:
 * 200 threads in waves dropped records in 1 run of 5). Where system
 * calls are off (seccomp) or the holder stalls, the record is dropped,
 * and counted. */
static __thread int adding MMP_IE; /* this thread is in mms__group_add */

/* One add, never from inside another add of this thread's. */
struct add {
    const struct mms_field_spec *specs; /* fields... */
    unsigned n;
    mms_field **fields;
    const struct mms_table_spec *table; /* ...or a table */
    mms_table **tab;
};

static int file_ready(void);
static bool defer_call(unsigned id);

static int add_once(const struct add *a)
{
    int rc = file_ready();
    if (rc < 0)
        return rc;
    if (adding)
        return MMS_EBUSY;
    adding = 1;
    COMPILER_BARRIER();
    rc = a->table ? mms__table_add(writer, a->table, MMS_ADD_NOWAIT, a->tab)
                  : mms__group_add(writer, a->specs, a->n, MMS_ADD_NOWAIT,
                                   a->fields);
    COMPILER_BARRIER();
    adding = 0;
    return rc;
}

int mmp_group_add(const struct mms_field_spec *specs, unsigned n,
                  mms_field **out)
{
    struct add a = {.specs = specs, .n = n, .fields = out};
    return add_once(&a);
}

mms_writer *mmp_writer(void)
{
    return writer;
}

mms_writer *mmp_writer_make(void)
{
    if (making_file)
        return writer; /* the families' set-up (files_made) */
    return file_ready() == 0 ? writer : NULL;
}

bool mmp_adding_fields(void)
{
    return adding;
}

/* A table, as mmp_group_add makes fields. */
int mmp_table_add(const struct mms_table_spec *spec, mms_table **out)
{
    struct add a = {.table = spec, .tab = out};
    return add_once(&a);
}

/* Settle STATE from RC: ready, failed for good, or (busy) not yet. */
/* STATE is written through the atomic macro clang-tidy does not see. */
// NOLINTNEXTLINE(readability-non-const-parameter)
static bool settle(uint8_t *state, int rc)
{
    if (rc == 0)
        mms_store_release(state, (uint8_t)MMP_FIELDS_READY);
    else if (rc != MMS_EBUSY)
        mms_store_release(state, (uint8_t)MMP_FIELDS_FAILED);
    return rc == 0;
}

static bool family_ready(unsigned fam)
{
    uint8_t st = mms_load_acquire(&fam_state[fam]);
    if (st != MMP_FIELDS_NONE)
        return st == MMP_FIELDS_READY;
    return settle(&fam_state[fam],
                  families[fam]->fields ? families[fam]->fields() : 0);
}

/* A timed call's windowed counter ("recent_calls"), after its N
 * counters: its cell follows theirs (hotpath.h), 32 bytes with one slot;
 * its ring a block made when the cell sees a second second (format 3.2:
 * most cells of a short process never get one).
 * Locks get none: their timed path sees only the contended ones. */
static unsigned window_field(unsigned id, unsigned n, char *name, size_t len,
                             struct mms_field_spec *s)
{
    if (!mmp_is_timed(id) || mmp_call_set[id] == MMP_SET_LOCK)
        return 0;
    snprintf(name, len, "%s.%s.%s", mmp_family_names[mmp_call_family[id]],
             mmp_call_names[id], MMS_PRELOAD_RECENT);
    *s = (struct mms_field_spec){.name = name,
                                 .kind = MMS_KIND_COUNTER,
                                 .units = "calls",
                                 .flags = MMS_DF_WINDOW | MMS_DF_RING_BLOCK};
    return 1;
}

/* Call ID's counters, then its windowed counter and latency histogram if
 * it is timed, in one group: "<family>.<call>.<field>". */
static int call_fields(unsigned id)
{
    const uint8_t *set = set_fields[mmp_call_set[id]];
    unsigned n = set_size[mmp_call_set[id]];
    char names[MAX_COUNTERS + 2][MMS_NAME_MAX + 1], help[MMS_HELP_MAX + 1];
    struct mms_field_spec s[MAX_COUNTERS + 2];
    memset(s, 0, sizeof s);
    const char *fam = mmp_family_names[mmp_call_family[id]];
    const char *call = mmp_call_names[id];
    for (unsigned k = 0; k < n; k++) {
        snprintf(names[k], sizeof names[k], "%s.%s.%s", fam, call,
                 field_name[set[k]]);
        s[k] = (struct mms_field_spec){.name = names[k],
                                       .kind = MMS_KIND_COUNTER,
                                       .units = field_units[set[k]]};
    }
    unsigned win = window_field(id, n, names[n], sizeof names[n], &s[n]);
    uint32_t win_off = win ? MMP_WIN_OFF(n) : 0;
    n += win;
    bool timed = mmp_is_timed(id);
    if (timed) {
        snprintf(names[n], sizeof names[n], "%s.%s.%s", fam, call,
                 MMS_PRELOAD_LATENCY);
        s[n] = (struct mms_field_spec){.name = names[n],
                                       .kind = MMS_KIND_HISTOGRAM,
                                       .units = "ns",
                                       .hist_bits = (uint8_t)mmp_cfg.hist_bits};
        /* hook_mem.c's TSC paths time a sample of malloc and free. */
        if ((id == MMP_CALL_malloc || id == MMP_CALL_free) &&
            mmp_cfg.timing_mem_sample > 1) {
            snprintf(help, sizeof help,
                     "time in the real call: with the TSC clock, of 1 call "
                     "in %d on average (MMSTATS_TIMING_MEM_SAMPLE)",
                     mmp_cfg.timing_mem_sample);
            s[n].help = help;
        }
        n++;
    }
    mms_field *f[MAX_COUNTERS + 2];
    int rc = mmp_group_add(s, n, f);
    if (rc < 0)
        return rc;
    /* A plain histogram: the view cannot fail (the state's release
     * publishes it with the fields). */
    if (timed && !mms__hist_view(f[n - 1], &mmp_calls[id].lat_view))
        return -EINVAL;
    mms_store_relaxed(&mmp_calls[id].win_f, win ? f[n - 1 - timed] : NULL);
    mms_store_release(&mmp_calls[id].win, win_off);
    mms_store_relaxed(&mmp_calls[id].ctr, f[0]);
    mms_store_relaxed(&mmp_calls[id].lat, timed ? f[n - 1] : NULL);
    return 0;
}

bool mmp_call_ready(unsigned id)
{
    struct mmp_call *c = &mmp_calls[id];
    if (MMP_UNLIKELY(mms_load_relaxed(&deferred)) && !defer_call(id))
        return false;
    /* A fork child has its parent's fields but not yet its own file. */
    if (MMP_UNLIKELY(mms_load_acquire(&file_state) != FILE_MADE) &&
        file_ready() < 0)
        return false;
    uint8_t st = mms_load_acquire(&c->state);
    if (MMP_LIKELY(st != MMP_FIELDS_NONE))
        return st == MMP_FIELDS_READY;
    if (file_ready() < 0 || !family_ready(mmp_call_family[id]))
        return false;
    return settle(&c->state, call_fields(id));
}

/* ------------------------------------------- a fork child's counts */

/* The deferred child's own file, made now, its counts moved there. */
static void defer_to_file(void)
{
    int zero = 0, one = 1;
    if (!mms_cas_acq_rel(&deferred, &one, zero))
        return; /* another thread, or a signal handler, did it */
    if (file_ready() < 0)
        return;
    for (unsigned r = 0; r < defer_rows_used(); r++) {
        uint64_t *v = defer_vals[r];
        unsigned id = defer_row_id[r];
        if (!mms_load_relaxed(&v[0]) || !mmp_call_ready(id))
            continue;
        struct mms_cell c = mms__cell(mmp_calls[id].ctr);
        for (unsigned k = 0; c.p && k < set_size[mmp_call_set[id]]; k++)
            mms__cell_add(c, 8 * k,
                          __atomic_exchange_n(&v[k], 0, __ATOMIC_RELAXED));
    }
    uint32_t n = __atomic_exchange_n(&defer_nlat, 0, __ATOMIC_RELAXED);
    for (uint32_t k = 0; k < n && k < DEFER_RECORDS; k++) {
        const struct defer_lat *l = &defer_lat[k];
        if (l->timed)
            mmp_timed_slow(l->id, l->dt, l->sec);
        else
            mmp_latency_slow(l->id, l->dt);
    }
}

static void defer_latency(unsigned id, uint64_t dt, bool timed, uint64_t sec)
{
    uint32_t k = __atomic_fetch_add(&defer_nlat, 1, __ATOMIC_RELAXED);
    if (k < DEFER_RECORDS)
        defer_lat[k] =
            (struct defer_lat){(uint16_t)id, timed, (uint32_t)sec, dt};
}

/* One record of a deferred child: false if it goes to a file after all. */
static bool defer_record(unsigned id, unsigned nvals, uint64_t err, uint64_t a,
                         uint64_t b)
{
    uint32_t n = __atomic_add_fetch(&defer_count, 1, __ATOMIC_RELAXED);
    if (n > DEFER_RECORDS) {
        defer_to_file();
        return false;
    }
    unsigned r = mms_load_relaxed(&defer_row_of[id]);
    if (!r) {
        uint32_t k = __atomic_fetch_add(&defer_nrows, 1, __ATOMIC_RELAXED);
        if (k >= DEFER_ROWS) {
            defer_to_file();
            return false;
        }
        mms_store_relaxed(&defer_row_id[k], (uint16_t)id);
        r = k + 1;
        mms_store_relaxed(&defer_row_of[id], (uint8_t)r);
    }
    uint64_t *v = defer_vals[r - 1];
    mms_add_relaxed(&v[0], 1);
    if (err)
        mms_add_relaxed(&v[1], err);
    if (nvals >= 3 && a)
        mms_add_relaxed(&v[2], a);
    if (nvals >= 4 && b)
        mms_add_relaxed(&v[3], b);
    return true;
}

/* A family's call in a deferred child (the mem family's, from its own
 * slow path): not recorded (false), or, once the child has made more
 * than DEFER_MEM of them (a worker that allocates, not a shell's child
 * about to exec), its file made and the call recorded there (true). */
#define DEFER_MEM 64
static bool defer_call(unsigned id)
{
    (void)id;
    if (__atomic_add_fetch(&defer_mem, 1, __ATOMIC_RELAXED) <= DEFER_MEM)
        return false;
    defer_to_file();
    return true;
}

/* A new fork child keeps nothing of what its parent kept. */
static void defer_reset(void)
{
    for (unsigned r = 0; r < defer_rows_used(); r++) {
        memset(defer_vals[r], 0, sizeof defer_vals[r]);
        defer_row_of[defer_row_id[r]] = 0;
    }
    defer_count = defer_mem = defer_nlat = defer_nrows = 0;
}

/* At exec or exit: the deferred child's counts into its parent's file,
 * else into a file of its own. Only in the child itself (not a vfork
 * child of it, sharing its memory). */
/* The rows from FROM on with kept counts, as fold items, into ITEMS (at
 * most FOLD_BATCH): their count; *NEXT: where the next batch starts. False
 * if one of them has no field in the parent's file (as it was at the
 * fork): they cannot be folded. */
#define FOLD_BATCH 32
static bool fold_batch(unsigned from, struct mms__fold_item *items, unsigned *n,
                       unsigned *next)
{
    *n = 0;
    unsigned r = from, used = defer_rows_used();
    for (; r < used && *n < FOLD_BATCH; r++) {
        unsigned id = defer_row_id[r];
        if (!mms_load_relaxed(&defer_vals[r][0]))
            continue;
        if (mms_load_acquire(&mmp_calls[id].state) != MMP_FIELDS_READY ||
            !mmp_calls[id].ctr)
            return false;
        items[(*n)++] = (struct mms__fold_item){
            mmp_calls[id].ctr, set_size[mmp_call_set[id]], defer_vals[r]};
    }
    *next = r;
    return true;
}

static void defer_flush(void)
{
    static int flushing; /* one flush at a time */
    int no = 0;
    if (!mms_load_acquire(&deferred) || getpid() != file_pid ||
        !mms_cas_acq_rel(&flushing, &no, 1))
        return;
    /* In batches on the stack: a static array of every call's item was
     * one more page copied in each child. What a batch folded is zeroed,
     * so that what is left, if a later batch cannot be folded, goes to
     * the child's own file once. */
    struct mms__fold_item items[FOLD_BATCH];
    unsigned n = 0, next = DEFER_ROWS;
    bool ok = true;
    for (unsigned from = 0; ok && from < defer_rows_used(); from = next) {
        ok = fold_batch(from, items, &n, &next);
        if (ok && n && mms__writer_fold_parent(writer, items, n) < 0)
            ok = false;
        for (unsigned k = 0; ok && k < n; k++)
            mmp_zero_set((void *)items[k].vals, sizeof defer_vals[0]);
    }
    if (ok)
        mms_store_relaxed(&defer_nlat, 0u);
    mms_store_release(&flushing, 0);
    if (!ok)
        defer_to_file();
}

/* In the parent, before a fork: shard 0's cell of each call's fields,
 * where the child's counts will go. The core's own prepare handler,
 * registered later, ran first: fields are not being added now. */
static void fork_prepare(void)
{
    /* The child's exec finds its real function resolved: dlsym in every
     * child (a shell's) cost seven page faults in ld.so and libc, the
     * parent's copy never learning the answer. Once, in the parent. */
    static uint8_t proc_resolved;
    if (!mms_load_relaxed(&proc_resolved)) {
        int saved = errno;
        for (unsigned id = 0; id < MMP_NCALLS; id++)
            if (mmp_call_family[id] == MMP_FAM_proc &&
                !mms_load_relaxed(&mmp_real[id]))
                mmp_resolve_call(id);
        mms_store_relaxed(&proc_resolved, (uint8_t)1);
        errno = saved;
    }
    if (mms_load_acquire(&file_state) != FILE_MADE ||
        mms_load_relaxed(&no_syscalls))
        return;
    int saved = errno;
    for (unsigned id = 0; id < MMP_NCALLS; id++)
        if (mms_load_acquire(&mmp_calls[id].state) == MMP_FIELDS_READY &&
            mmp_calls[id].ctr)
            mms__cell_shared_ready(mmp_calls[id].ctr);
    errno = saved;
}

/* --------------------------------------------------------- recording */

void mmp_record_slow(unsigned id, uint64_t t0, unsigned nvals, uint64_t err,
                     uint64_t a, uint64_t b)
{
    if (!mmp_records(mms_load_relaxed(&mmp_mode[id])) || making_file)
        return;
    if (MMP_UNLIKELY(mms_load_acquire(&deferred)) &&
        defer_record(id, nvals, err, a, b)) {
        if (t0)
            mmp_latency(id, t0);
        return;
    }
    int saved = errno;
    struct mms_cell c = {NULL, false};
    if (mmp_call_ready(id))
        c = mms__cell(mmp_calls[id].ctr);
    if (!c.p) {
        mmp_drop();
        errno = saved;
        return;
    }
    mms__cell_add(c, 0, 1);
    mms__cell_add(c, 8, err);
    if (nvals >= 3)
        mms__cell_add(c, 16, a);
    if (nvals >= 4)
        mms__cell_add(c, 24, b);
    if (mmp_cacheable(c))
        mmp_tls_ctr[id] = c.p;
    if (t0)
        mmp_latency(id, t0);
    errno = saved;
}

struct mms_cell mmp_cell_of(unsigned id, mms_field *f)
{
    if (id == MMP_CALL_free && mmp_thread == MMP_THREAD_NEW &&
        !mmp_thread_alive())
        return mms__cell_shared(f);
    return mms__cell(f);
}

static void defer_latency(unsigned id, uint64_t dt, bool timed, uint64_t sec);

void mmp_latency_slow(unsigned id, uint64_t dt)
{
    if (MMP_UNLIKELY(mms_load_relaxed(&deferred)))
        defer_latency(id, dt, false, 0);
    if (making_file || mms_load_relaxed(&deferred))
        return;
    int saved = errno;
    mms_field *f = mmp_call_ready(id) ? mmp_calls[id].lat : NULL;
    struct mms_cell c = f ? mmp_cell_of(id, f) : (struct mms_cell){NULL, 0};
    if (!c.p) {
        mmp_drop();
    } else {
        mms__hist_record_cell(f, c, dt);
        /* Only with the call's counters' cell: a cached latency cell
         * vouches for both (mmp_latency_at tests one). */
        if (mmp_tls_ctr[id] && mmp_cacheable(c))
            mmp_tls_lat[id] = c.p;
    }
    errno = saved;
}

void mmp_timed_slow(unsigned id, uint64_t dt, uint64_t sec)
{
    if (MMP_UNLIKELY(mms_load_relaxed(&deferred))) {
        defer_latency(id, dt, true, sec);
        return;
    }
    if (making_file)
        return;
    if (dt != MMP_WINDOW_ONLY)
        mmp_latency_slow(id, dt);
    uint32_t win = mms_load_acquire(&mmp_calls[id].win);
    if (!win)
        return;
    int saved = errno;
    struct mms_cell c = mmp_cell_of(id, mmp_calls[id].ctr);
    if (c.p)
        mmp_window_add(c, id, win, sec);
    errno = saved;
}

void mmp_window_forget(void)
{
    memset(mmp_tls.wsum, 0, sizeof mmp_tls.wsum);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* NOLINTNEXTLINE(readability-non-const-parameter): written by atomics */
void mmp_window_first(unsigned id, uint8_t *p, uint32_t win, uint64_t sec)
{
    struct mms_cell c = {p + win - 8, true};
    uint64_t *sum = mms__cell_ring_slot(mmp_calls[id].win_f, c, sec);
    if (!sum)
        return;
    mms_add_owned_u64(sum, 1);
    /* Cached only for the thread's second: a signal handler that moved
     * it on since SEC was read forgot the slots, and this one is now
     * another second's. */
    mmp_tls.wsum[id] = sum;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (mms_load_relaxed(&mmp_tls.win.sec) != sec)
        mmp_tls.wsum[id] = NULL;
}

void mmp_second_tsc(uint64_t t)
{
    struct mmp_win_clock *wc = &mmp_tls.win;
    if (t < wc->tsc_end)
        return;
    /* The TSC end unknown while the second changes: a signal handler that
     * comes in between sets all of it itself (for its own, later count);
     * what it leaves us to finish is a second already over, which the
     * next call leaves again. */
    mms_store_relaxed(&wc->tsc_end, (uint64_t)0);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    mmp_window_forget();
    uint64_t sec = mms__clock_tsc_ns(t) / 1000000000u;
    wc->sec = sec;
    wc->start = sec * 1000000000u;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    mms_store_relaxed(&wc->tsc_end, mms__clock_tsc_at(wc->start + 1000000000u));
}

void mmp_tsc_slow(unsigned id, uint64_t s0, uint64_t s1, unsigned done)
{
    uint64_t t0 = mms__clock_tsc_ns(s0), t1 = mms__clock_tsc_ns(s1);
    if (done != MMP_TSC_WINDOWED) {
        mmp_second_tsc(s1);
        mmp_latency_at(id, t0, t1);
        return;
    }
    uint64_t dt = t1 > t0 ? t1 - t0 : 0;
    uint8_t *l = mmp_tls_lat[id];
    if (l)
        mms__hist_record_owned(&mmp_calls[id].lat_view, l, dt);
    else
        mmp_latency_slow(id, dt);
}

/* ------------------------------------------------ threads, processes */

void mmp_zero_set(void *p, size_t bytes)
{
    uintptr_t *w = p;
    for (size_t i = 0; i < bytes / sizeof *w; i++)
        if (w[i])
            w[i] = 0;
}

/* Forget this thread's cells: the call cells first, since a cached call
 * cell vouches for its family's cells too. */
static void forget_cells(void)
{
    /* The window slots and the latency cells first: one cached vouches
     * for its counters. */
    mmp_window_forget();
    mmp_zero_set(mmp_tls_lat, sizeof mmp_tls_lat);
    COMPILER_BARRIER();
    mmp_zero_set(mmp_tls_ctr, sizeof mmp_tls_ctr);
    COMPILER_BARRIER();
    for (unsigned f = 0; f < MMP_NFAMILIES; f++)
        if (families[f]->forget)
            families[f]->forget();
}

/* The writer's thread-exit callback: the last moment this thread's
 * cells are its own. Later records (other destructors, glibc's clean-up)
 * get shared cells, never cached. */
static void thread_exit(void)
{
    mmp_thread = MMP_THREAD_EXITING;
    COMPILER_BARRIER();
    forget_cells();
    for (unsigned f = 0; f < MMP_NFAMILIES; f++)
        if (families[f]->thread_exit)
            families[f]->thread_exit();
}

void mmp_child_setup(void)
{
    if (mms_load_acquire(&file_state) == FILE_PENDING) {
        /* The parent made no file yet: nor does the child, until it
         * records (a child that execs at once makes none). */
        int saved = errno;
        mmp_thread = MMP_THREAD_NEW;
        if (!mms_load_relaxed(&no_syscalls)) {
            mmp_thread_after_fork();
            file_pid = getpid();
        }
        if (mms_load_relaxed(&deferred)) {
            /* A deferred child's child: its own counts, into the same
             * file (its parent's parent's), mapped private here too. */
            defer_reset();
        }
        errno = saved;
        return;
    }
    if (mms_load_relaxed(&file_state) == FILE_MAKING) {
        /* Another thread of the parent was making its file: not ours. */
        mms_store_relaxed(&file_state, (int)FILE_NONE);
        return;
    }
    if (!writer)
        return;
    /* The parent has its file: the child makes its own with its first
     * record, not now (a child that execs at once makes none). Till then
     * it sees the parent's file through a private mapping: no record of
     * the child's may reach the parent's counts. */
    int saved = errno; /* the child sees the errno fork left, not ours */
    /* The remapping below is made of hooked calls: not recorded. */
    uint8_t mode[MMP_NCALLS];
    for (unsigned i = 0; i < MMP_NCALLS; i++) {
        mode[i] = mmp_mode[i];
        mms_store_relaxed(&mmp_mode[i], (uint8_t)MMP_OFF);
    }
    COMPILER_BARRIER();
    forget_cells(); /* the parent's thread's cells */
    mmp_thread = MMP_THREAD_NEW;
    /* In seccomp, making a file would take system calls the filter may
     * kill: this child records nothing. */
    if (mms_load_relaxed(&no_syscalls)) {
        errno = saved;
        return;
    }
    mmp_thread_after_fork();
    int rc = mms__writer_fork_private(writer);
    if (rc < 0 && mmp_cfg.verbose)
        mmp_warn("child %ld: the parent's file copied (%s)", (long)getpid(),
                 mms_strerror(rc));
    file_pid = getpid();
    fork_child_file = 1;
    /* Not with per-file records of inherited descriptors: their fast
     * path writes to the file's cells directly. */
    if (rc == 0 && !mms_load_relaxed(&mmp_fd_used)) {
        defer_reset();
        mms_store_release(&deferred, 1);
    }
    mms_store_release(&file_state, (int)FILE_PENDING);
    COMPILER_BARRIER();
    for (unsigned i = 0; i < MMP_NCALLS; i++)
        mms_store_relaxed(&mmp_mode[i], mode[i]);
    errno = saved;
}

bool mmp_active(void)
{
    return mms_load_relaxed(&file_state) != FILE_NONE;
}

bool mmp_syscalls_allowed(void)
{
    return !mms_load_relaxed(&no_syscalls);
}

void mmp_thread_named(int32_t tid, const char *name)
{
    if (writer)
        mms__writer_thread_named(writer, tid, name);
}

void mmp_file_state(enum mms_state st)
{
    if (st == MMS_STATE_FINISHED)
        defer_flush();
    if (writer && !mms_load_relaxed(&no_syscalls))
        mms__writer_set_state(writer, st);
}

/* Not in a vfork child, which shares our memory: the pending state it
 * would end is its parent's. */
void mmp_process_end(void)
{
    if (!writer || mms_load_relaxed(&no_syscalls) ||
        getpid() != mms_load_relaxed(&file_pid))
        return;
    int saved = errno;
    for (unsigned f = 0; f < MMP_NFAMILIES; f++)
        if (family_on(f) && families[f]->end)
            families[f]->end();
    errno = saved;
}

int mmp_exec_begin(void)
{
    mmp_process_end();
    defer_flush(); /* after the families' last records */
    /* Not in a fork child that made no file of its own: the writer's
     * file is its parent's. */
    if (!writer || mms_load_relaxed(&no_syscalls) ||
        mms_load_acquire(&file_state) != FILE_MADE)
        return 0;
    return mms__writer_exec_begin(writer);
}

void mmp_exec_failed(int parked)
{
    if (writer && !mms_load_relaxed(&no_syscalls))
        mms__writer_exec_failed(writer, parked);
}

/* After the core's own exit handler is registered, so this one runs
 * first: finished, and removed under MMSTATS_KEEP=none. */
static void at_exit(void)
{
    int saved = errno;
    defer_flush();
    /* No file made for calls in the last destructors: nothing would
     * finish it. */
    int pending = FILE_PENDING;
    mms_cas_acq_rel(&file_state, &pending, (int)FILE_NONE);
    mmp_process_end();
    if (writer && !mms_load_relaxed(&no_syscalls))
        mms__writer_exit(writer);
    errno = saved;
}

void mmp_enter_seccomp(void)
{
    /* Whatever a hook may still need, while system calls are allowed:
     * the functions, the file. */
    mmp_resolve_all();
    file_ready();
    mmp_thread_known();
    if (!writer)
        return;
    mms_store_relaxed(&no_syscalls, 1);
    mms__writer_no_syscalls(writer);
    mms__clock_no_syscalls();
    /* The clock may fall back to a system call (a clock source the vDSO
     * cannot read): latency is no longer measured. */
    for (unsigned i = 0; i < MMP_NCALLS; i++)
        if (mms_load_relaxed(&mmp_mode[i]) == MMP_TIMED)
            mms_store_relaxed(&mmp_mode[i], (uint8_t)MMP_COUNT);
}

/* ----------------------------------------------------------- start-up */

static int open_writer(void)
{
    /* The core's own locks are not the host's: never recorded. It takes
     * them only with a writer: looked up now (a dlsym), not by every
     * process at start-up. */
    mms__set_mutex_lock(mmp_real_pthread_mutex_lock());
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.dir = mmp_cfg.dir;
    o.file_template = mmp_cfg.file;
    o.label = mmp_cfg.label;
    o.keep = (unsigned)mmp_cfg.keep;
    o.keep_after_ms = (uint32_t)mmp_cfg.keep_after * 1000u;
    o.group = mmp_cfg.group;
    o.flags = MMS_W_NO_ENV | MMS_W_FORK_MANUAL;
    return mms_writer_open(&writer, &o);
}

/* Each call's mode (timed or not decides which fields a call gets) into
 * MODE. */
static void modes_of(uint8_t *mode)
{
    for (unsigned id = 0; id < MMP_NCALLS; id++)
        mode[id] = set_size[mmp_call_set[id]] && family_on(mmp_call_family[id])
                       ? (uint8_t)(call_timed(id) ? MMP_TIMED : MMP_COUNT)
                   : call_fileop[id] && family_on(MMP_FAM_files)
                       ? (uint8_t)MMP_FILES_ONLY
                       : (uint8_t)MMP_OFF;
}

static void modes_set(const uint8_t *mode)
{
    for (unsigned id = 0; id < MMP_NCALLS; id++)
        mms_store_release(&mmp_mode[id], mode[id]);
}

/* A fork child's file, with its first record: its parent's, copied with
 * every count zeroed (or, failing that, private memory: not recorded). */
static void make_child_file(void)
{
    fork_child_file = 0;
    int rc = mms_writer_after_fork(writer);
    if (rc < 0 && mmp_cfg.verbose)
        mmp_warn("child %ld: no stats file of its own (%s); not recording",
                 (long)getpid(), mms_strerror(rc));
    mms_store_release(&file_state, (int)FILE_MADE);
}

/* The stats file, made by the first call recorded (or before entering
 * seccomp). Its making calls hooked functions (and the sweep, malloc):
 * none of this thread's calls is recorded meanwhile (mmp_quiet), and
 * other threads wait for it in file_ready. */
static void make_file(void)
{
    if (fork_child_file) {
        make_child_file();
        return;
    }
    /* The latency clock: its first anchor with the file, its calibration
     * later (core/clock.c); until then hooks read clock_gettime. Not at
     * start-up: a process that records nothing reads no clock (the
     * vDSO's two pages and clock_gettime's, three page faults) and runs
     * no cpuid (a VM exit). Nothing to do if nothing is timed. */
    if (mmp_cfg.timing || mmp_cfg.timing_mem)
        mms__clock_setup(mmp_cfg.clock_monotonic ? MMS_CLOCK_MONOTONIC
                                                 : MMS_CLOCK_TSC);
    int rc = open_writer();
    if (rc < 0) {
        if (mmp_cfg.verbose)
            mmp_warn("not recording: %s%s%s", mms_strerror(rc),
                     writer ? " in " : "",
                     writer ? mms_writer_path(writer) : "");
        mms_writer *w = writer;
        mms_store_release(&writer, (mms_writer *)NULL);
        if (w)
            mms_writer_finish(w);
        /* Pass-through from now on. */
        for (unsigned i = 0; i < MMP_NCALLS; i++)
            mms_store_relaxed(&mmp_mode[i], (uint8_t)MMP_OFF);
        mms_store_release(&file_state, (int)FILE_NONE);
        return;
    }
    mms__writer_on_identity(writer, mmp_thread_identity());
    mms__writer_on_thread_exit(writer, thread_exit);
    mms__clock_kernel_check(); /* the TSC's flags: not from a hook later */
    for (unsigned f = 0; f < MMP_NFAMILIES; f++)
        if (family_on(f) && families[f]->made)
            families[f]->made();
    /* Nothing of this thread's is recorded yet, so neither are the
     * sweep's calls: the file of the image this one replaced (exec), and
     * those of processes gone before, go to their rollups
     * (docs/format.md section 15). */
    rc = mms__writer_start_sweep(writer);
    if (rc < 0 && mmp_cfg.verbose)
        mmp_warn("folding finished files: %s", mms_strerror(rc));
    if (mmp_cfg.verbose)
        mmp_warn("recording to %s", mms_writer_path(writer));
    mms_store_release(&file_state, (int)FILE_MADE);
}

/* Another thread makes the file: wait for it (microseconds; once per
 * process), spinning, then yielding, as the core waits for a growth. A
 * maker gone for good (longjmp out of a signal handler) is given up on
 * after a second: the record is dropped. */
#define MAKE_WAIT_NS 1000000000
static int file_wait(void)
{
    int64_t since = 0;
    for (uint64_t i = 0;; i++) {
        int st = mms_load_acquire(&file_state);
        if (st != FILE_MAKING)
            return st == FILE_MADE ? 0 : -ENOENT;
        if (i < 1000) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else if (i % 1024 == 0) {
            int64_t now = (int64_t)mmp_clock();
            if (!since)
                since = now;
            else if (now - since > MAKE_WAIT_NS)
                return MMS_EBUSY;
        } else {
            sched_yield();
        }
    }
}

bool mmp_quiet(void)
{
    /* Per-file records are a file's: a deferred child makes its own. */
    if (MMP_UNLIKELY(mms_load_relaxed(&deferred)) && !making_file)
        defer_to_file();
    return making_file;
}

/* 0 when the file is there; MMS_EBUSY while this thread makes it (its
 * calls are not recorded) or when this process may not make it (a vfork
 * child); -ENOENT when there is none and will be none. Never changes
 * errno. */
static int file_ready(void)
{
    int st = mms_load_acquire(&file_state);
    if (MMP_LIKELY(st == FILE_MADE))
        return 0;
    if (making_file || mms_load_acquire(&deferred))
        return MMS_EBUSY; /* a deferred fork child: no file (yet) */
    int saved = errno;
    int rc;
    if (st == FILE_MAKING) {
        rc = file_wait();
    } else if (st != FILE_PENDING) {
        rc = -ENOENT;
    } else if (getpid() != mms_load_relaxed(&file_pid)) {
        rc = MMS_EBUSY;
    } else if (!mms_cas_acq_rel(&file_state, &st, (int)FILE_MAKING)) {
        rc = st == FILE_MAKING ? file_wait() : st == FILE_MADE ? 0 : -ENOENT;
    } else {
        making_file = 1;
        COMPILER_BARRIER();
        make_file();
        COMPILER_BARRIER();
        making_file = 0;
        rc = writer ? 0 : -ENOENT;
    }
    errno = saved;
    return rc;
}

static void start(void)
{
    static int started;
    int no = 0;
    if (!mms_cas_acq_rel(&started, &no, 1))
        return;
    /* setuid/setgid or otherwise secure: do nothing at all. */
    if (getauxval(AT_SECURE))
        return;
    mmp_config_load();
    mmp_config_report();
    if (mmp_cfg.disable)
        return;
    /* Only what every process needs; the file is made with the first
     * call recorded, a call's fields on its first use. */
    mmp_thread_start_main();
    for (unsigned f = 0; f < MMP_NFAMILIES; f++)
        if (family_on(f) && families[f]->start)
            families[f]->start();
    pthread_atfork(fork_prepare, NULL, mmp_child_setup);
    atexit(at_exit);
    /* At once if asked, or if the image this one replaced (exec) parked
     * its file for us to fold (our sweep does): asked before the hooks
     * record, or the question would be the first call recorded. */
    file_pid = getpid();
    bool now = mmp_cfg.eager || mms__exec_parked(mmp_cfg.dir, file_pid);
    mms_store_release(&file_state, (int)FILE_PENDING);
    /* Hooks record from here on. */
    uint8_t mode[MMP_NCALLS];
    modes_of(mode);
    modes_set(mode);
    if (now)
        file_ready();
}

__attribute__((constructor)) static void mmp_constructor(void)
{
    start();
}
