/* files family: per-file records, the live counterpart of Darshan's POSIX
 * and STDIO modules. Owns the descriptor map and the open files behind it,
 * the two keyed tables ("files", "files.meta"; files.h lists their
 * members), and every file event but the fast path of a read or write
 * (files.h): opens, closes, duplicates, seeks, stats, syncs, renames,
 * mmaps, streams, the slow path of accesses (patterns, common sizes and
 * strides, times) and the threads' and fork's clean-up.
 *
 * Nothing here takes a lock or makes a system call after start-up, but
 * the first tracked open, which makes the tables (the writer's lock, never
 * from inside the shim's own field creation), and what the core's first
 * uses do, and the first use of a new range of the descriptor map or of
 * the pool of open files (a mapping, as the core's growth makes; none in
 * seccomp: the file is then untracked, counted). Open files live in a pool
 * that grows in chunks; a descriptor maps to one with a single atomic
 * pointer. */
#include <limits.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "files_int.h"
#include "shim.h"

struct mmp_ofd *mmp_fdmap[MMP_FD_LOW];
struct mmp_ofd **mmp_fdleaf[MMP_FD_LEAVES];
uint8_t mmp_fd_used;
int64_t mmp_files_rt_delta;

/* The pool of open files: chunks of OFD_CHUNK, mapped one at a time when
 * the ones before are full (the first at start-up), at most nchunks. */
#define OFD_CHUNK 32u
#define OFD_CHUNKS 128u
static struct mmp_ofd *chunk[OFD_CHUNKS];
static uint32_t nchunks;
/* The slots of each chunk ever taken, one bit each: the walks of the
 * pool at fork, thread exit and the end look at those only. A slot never
 * taken was never written, and reading it costs a page fault on a page
 * the parent never touched (a fork child of a shell that opens no file
 * read all 32 slots of chunk 0: nine page faults, every fork). */
static uint32_t chunk_used[OFD_CHUNKS];
static mms_table *tfiles, *tmeta;
static uint32_t meta_off[MMP_MM_N]; /* member offsets in a meta cell */
enum { F_OTHER, F_UNTRACKED, F_EXCLUDED, F_ALIGN, F_MAP, F_POOL, NFIELDS };
static mms_field *fields[NFIELDS];
static uint8_t ready;              /* enum mmp_fields_state */
static __thread int making MMP_IE; /* this thread is making the tables */

/* The files in (other), told apart by a hash of their key, so that the
 * reader can say how many there are: an open-addressing set, mapped when
 * the tables first overflow. Entries are hash << 8 | generation (a fork
 * child starts a new generation: its file counts its own). */
static uint64_t *other_set;
static uint32_t other_mask; /* its size - 1, chosen at start-up */
static uint8_t other_gen = 1;

static uintptr_t me(void)
{
    return (uintptr_t)__builtin_thread_pointer();
}

bool mmp_files_on(void)
{
    return mms_load_relaxed(&mmp_mode[MMP_CALL_fileno]) != MMP_OFF &&
           !mmp_quiet();
}

static uint64_t realtime(uint64_t mono)
{
    return mono ? (uint64_t)((int64_t)mono + mmp_files_rt_delta) : 0;
}

/* --------------------------------------------------------- the tables */

/* NOLINTBEGIN(bugprone-macro-parentheses): names and tokens, not values */
static const struct mms_table_member files_members[] = {
#define MMP_TM(m, k, u) {.name = #m, .kind = MMS_MK_##k, .units = u},
    MMP_FILES_MEMBERS(MMP_TM)};
static const struct mms_table_member meta_members[] = {MMP_META_MEMBERS(MMP_TM)
#undef MMP_TM
};
/* NOLINTEND(bugprone-macro-parentheses) */

static int make_tables(void)
{
    mms_writer *w = mmp_writer_make();
    if (!w)
        return mmp_active() ? MMS_EBUSY : -EINVAL;
    struct mms_table_spec a = {
        .name = MMS_PRELOAD_FILES,
        .help = "per-file reads and writes: bytes, furthest offset (end), "
                "consecutive and sequential accesses, switches, unaligned "
                "offsets, Darshan's size ranges",
        .capacity = (uint32_t)mmp_cfg.files_max,
        .key_type = MMS_KEY_TEXT,
        .members = files_members,
        .nmembers = MMP_FM_N};
    struct mms_table_spec b = {
        .name = MMS_PRELOAD_FILES_META,
        .help = "per-file opens, closes, seeks, stats, syncs, mmaps, renames, "
                "times, slowest accesses, most common sizes and strides",
        .capacity = (uint32_t)mmp_cfg.files_max,
        .key_type = MMS_KEY_TEXT,
        .members = meta_members,
        .nmembers = MMP_MM_N};
    int rc = mms_table_new(w, &a, &tfiles);
    if (rc == 0)
        rc = mms_table_new(w, &b, &tmeta);
    if (rc < 0)
        return rc;
    /* The fast path adds at fixed offsets: the core's layout must agree. */
    for (unsigned m = 0; m < MMP_FM_N; m++)
        if (mms__record_member_off(tfiles, m) != 8 + 8 * m)
            return -EINVAL;
    for (unsigned m = 0; m < MMP_MM_N; m++)
        meta_off[m] = mms__record_member_off(tmeta, m);
    static const struct mms_field_spec specs[NFIELDS] = {
        [F_OTHER] = {.name = MMS_PRELOAD_FILES_OTHER,
                     .kind = MMS_KIND_COUNTER,
                     .units = "files",
                     .help = "files counted in the (other) records"},
        [F_UNTRACKED] = {.name = MMS_PRELOAD_FILES_UNTRACKED,
                         .kind = MMS_KIND_COUNTER,
                         .units = "opens",
                         .help = "opens without a record: path unknown, "
                                 "descriptor past the map, no room"},
        [F_EXCLUDED] = {.name = MMS_PRELOAD_FILES_EXCLUDED,
                        .kind = MMS_KIND_COUNTER,
                        .units = "opens",
                        .help = "opens under an excluded prefix"},
        [F_ALIGN] = {.name = MMS_PRELOAD_FILES_ALIGNMENT,
                     .kind = MMS_KIND_GAUGE,
                     .units = "bytes",
                     .help = "block size of the unaligned count"},
        [F_MAP] = {.name = MMS_PRELOAD_FILES_MAP_SLOTS,
                   .kind = MMS_KIND_GAUGE,
                   .units = "descriptors",
                   .help = "descriptors the shim's map has room for (it "
                           "grows in steps)"},
        [F_POOL] = {.name = MMS_PRELOAD_FILES_POOL_SLOTS,
                    .kind = MMS_KIND_GAUGE,
                    .units = "files",
                    .help = "open files the shim's pool has room for (it "
                            "grows in steps)"},
    };
    mms_field *f[NFIELDS];
    rc = mmp_group_add(specs, NFIELDS, f);
    if (rc < 0)
        return rc;
    mms_gauge_set(f[F_ALIGN], mmp_cfg.files_align);
    uint32_t leaves = 0, chunks = 0;
    for (unsigned i = 0; i < MMP_FD_LEAVES; i++)
        leaves += mms_load_acquire(&mmp_fdleaf[i]) != NULL;
    for (unsigned i = 0; i < OFD_CHUNKS; i++)
        chunks += mms_load_acquire(&chunk[i]) != NULL;
    mms_gauge_set(f[F_MAP], MMP_FD_LOW + (int64_t)leaves * MMP_FD_LEAF);
    mms_gauge_set(f[F_POOL], (int64_t)chunks * OFD_CHUNK);
    for (unsigned i = 0; i < NFIELDS; i++)
        mms_store_relaxed(&fields[i], f[i]);
    return 0;
}

/* The tables, made on the first tracked open. Never from inside the
 * shim's own field creation on this thread (a signal handler there would
 * wait for the lock its own thread holds); the record is then dropped. */
static bool files_ready(void)
{
    uint8_t st = mms_load_acquire(&ready);
    if (MMP_LIKELY(st != MMP_FIELDS_NONE))
        return st == MMP_FIELDS_READY;
    if (making || mmp_adding_fields())
        return false;
    making = 1;
    int rc = make_tables();
    making = 0;
    if (rc == 0)
        mms_store_release(&ready, (uint8_t)MMP_FIELDS_READY);
    else if (rc != MMS_EBUSY)
        mms_store_release(&ready, (uint8_t)MMP_FIELDS_FAILED);
    return rc == 0;
}

static void count(unsigned which)
{
    mms_field *f = mms_load_relaxed(&fields[which]);
    struct mms_cell c = f ? mms__cell(f) : (struct mms_cell){NULL, false};
    if (c.p)
        mms__cell_add(c, 0, 1);
    else
        mmp_drop();
}

/* ------------------------------------------------------------ cells */

/* An update of one record cell: under its seqlock when this thread owns
 * the cell (readers never see half an event), with atomic operations on
 * a shared one (shard 0, or a thread past its exit callback). A signal
 * handler that finds the seqlock taken by the code it interrupted adds
 * without it (the core's rule). */
struct upd {
    mms_table *t;
    uint8_t *c;
    bool owned, locked;
    uint64_t s;
};

static bool upd_begin(struct upd *u, mms_table *t, uint32_t rec)
{
    struct mms_cell c = mms__record_cell(t, rec);
    *u = (struct upd){t, c.p, c.owned, false, 0};
    if (!c.p) {
        mmp_drop();
        return false;
    }
    return true;
}

static void upd_lock(struct upd *u)
{
    uint64_t *seq = (uint64_t *)u->c;
    if (!u->owned || ((u->s = mms_load_relaxed(seq)) & 1))
        return;
    mms_store_relaxed(seq, u->s + 1);
    mms_fence_release();
    u->locked = true;
}

static void upd_end(struct upd *u)
{
    if (u->locked)
        mms_store_release((uint64_t *)u->c, u->s + 2);
    u->locked = false;
}

static uint64_t *word(struct upd *u, uint32_t off)
{
    return (uint64_t *)(u->c + off);
}

static void upd_add(struct upd *u, uint32_t off, uint64_t v)
{
    if (!v)
        return;
    if (u->owned)
        mms_seq_add_owned(word(u, off), v);
    else
        mms_add_relaxed(word(u, off), v);
}

static void upd_max(struct upd *u, uint32_t off, uint64_t v)
{
    mms__cell_max((struct mms_cell){u->c, u->owned}, off, v);
}

static void upd_min(struct upd *u, uint32_t off, uint64_t v)
{
    if (v)
        upd_max(u, off, ~v);
}

/* A MAXARG pair {max, arg} set to (V, ARG) if V is larger. */
static void upd_pair(struct upd *u, unsigned member, uint64_t v, uint64_t arg)
{
    uint64_t *p = word(u, meta_off[member]);
    if (u->locked) {
        if (v > mms_load_relaxed(&p[0])) {
            mms_seq_store(&p[0], v);
            mms_seq_store(&p[1], arg);
        }
    } else if (!u->owned) {
        mms__record_maxarg_cell(u->t, (struct mms_cell){u->c, false}, member, v,
                                arg);
    } /* owned, seqlock held by the interrupted code: left out */
}

/* ---------------------------------------------- common sizes, strides */

/* Credit N accesses of value V to the four pairs from FIRST (access1 or
 * stride1) of the meta cell: V's pair if it has one, else an empty pair,
 * else the pair with the smallest count if that count is at most N. A
 * value seen often early keeps its pair and its exact count; values seen
 * once take turns in the last pair. */
static void credit(struct upd *u, unsigned first, uint64_t v, uint64_t n)
{
    if (!n)
        return;
    unsigned pick = 4, low = 0;
    uint64_t lowc = UINT64_MAX;
    for (unsigned k = 0; k < 4; k++) {
        uint64_t *p = word(u, meta_off[first + k]);
        uint64_t cnt = mms_load_relaxed(&p[0]);
        if (cnt && mms_load_relaxed(&p[1]) == v) {
            upd_pair(u, first + k, cnt + n, v);
            return;
        }
        if (!cnt && pick == 4)
            pick = k;
        if (cnt < lowc)
            lowc = cnt, low = k;
    }
    if (pick < 4)
        upd_pair(u, first + pick, n, v);
    else if (lowc <= n) {
        uint64_t *p = word(u, meta_off[first + low]);
        if (u->locked) {
            mms_seq_store(&p[0], n);
            mms_seq_store(&p[1], v);
        }
    }
}

/* ------------------------------------------------------- open files */

static void run_reset(struct mmp_frun *s)
{
    *s = (struct mmp_frun){
        .cell = NULL,
        .expect = {MMP_NORUN, MMP_NORUN},
        .size = {0, 0},
        .bucket = NULL,
        .run_from = 0,
        .pat = {.rend = MMP_NOWHERE, .wend = MMP_NOWHERE, .last = 0}};
}

/* End the run of S (a file's owner run): the accesses the fast path made
 * since it began are credited to the common sizes and strides (each
 * started where the last ended: stride 0), and the previous access's end
 * is written back. */
static void run_settle(struct mmp_ofd *o, struct mmp_frun *s)
{
    unsigned w = s->expect[1] != MMP_NORUN;
    uint64_t exp = s->expect[w], size = s->size[w];
    if (exp == MMP_NORUN)
        return;
    uint64_t n = size && exp > s->run_from ? (exp - s->run_from) / size : 0;
    if (w)
        s->pat.wend = exp;
    else
        s->pat.rend = exp;
    s->expect[w] = MMP_NORUN;
    s->size[w] = 0;
    struct upd u;
    if (n && tmeta && upd_begin(&u, tmeta, o->meta)) {
        upd_lock(&u);
        credit(&u, MMP_MM_access1, size, n);
        credit(&u, MMP_MM_stride1, 0, n);
        upd_end(&u);
    }
}

/* ------------------------------------------------- growth in steps */

static void *reserve(size_t bytes)
{
    void *p = mmp_sys_map(NULL, bytes, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Zeroed memory for a first use of a range after start-up: a mapping,
 * or NULL when system calls are not allowed (seccomp) or fail. */
static void *fresh(size_t bytes)
{
    return mmp_syscalls_allowed() ? reserve(bytes) : NULL;
}

static void grown(unsigned which, int64_t by)
{
    mms_field *f = mms_load_relaxed(&fields[which]);
    if (f)
        mms_gauge_add(f, by);
}

/* Chunk K of the pool, mapped if need be (NULL: no room, or none can be
 * mapped now). A chunk lost to another thread is given back. */
static struct mmp_ofd *chunk_get(uint32_t k)
{
    struct mmp_ofd *c = mms_load_acquire(&chunk[k]);
    if (c || k >= nchunks)
        return c;
    size_t bytes = OFD_CHUNK * sizeof *c;
    struct mmp_ofd *none = NULL;
    if (!(c = fresh(bytes)))
        return mms_load_acquire(&chunk[k]);
    if (!mms_cas_acq_rel(&chunk[k], &none, c)) {
        mmp_sys_unmap(c, bytes);
        return none;
    }
    grown(F_POOL, OFD_CHUNK);
    return c;
}

/* FD's leaf of the map, mapped if need be (NULL: none can be). */
static struct mmp_ofd **leaf_get(unsigned fd)
{
    struct mmp_ofd ***slot = &mmp_fdleaf[fd / MMP_FD_LEAF];
    struct mmp_ofd **l = mms_load_acquire(slot);
    if (l)
        return l;
    size_t bytes = MMP_FD_LEAF * sizeof(void *);
    struct mmp_ofd **none = NULL;
    if (!(l = fresh(bytes)))
        return mms_load_acquire(slot);
    if (!mms_cas_acq_rel(slot, &none, l)) {
        mmp_sys_unmap(l, bytes);
        return none;
    }
    grown(F_MAP, MMP_FD_LEAF);
    return l;
}

/* A free open file, for FD: the chunks in order, each looked at from
 * FD's place, a new one mapped when all are full. */
static struct mmp_ofd *ofd_new(int fd)
{
    for (uint32_t k = 0; k < nchunks; k++) {
        struct mmp_ofd *c = chunk_get(k);
        if (!c)
            return NULL;
        for (uint32_t i = 0; i < OFD_CHUNK; i++) {
            uint32_t slot = ((uint32_t)fd + i) % OFD_CHUNK, z = 0;
            struct mmp_ofd *o = &c[slot];
            if (mms_load_relaxed(&o->refs) == 0 &&
                mms_cas_acq_rel(&o->refs, &z, 1)) {
                /* Before O is published (map_set's release). */
                if (!(mms_load_relaxed(&chunk_used[k]) & (1u << slot)))
                    __atomic_fetch_or(&chunk_used[k], 1u << slot,
                                      __ATOMIC_RELAXED);
                return o;
            }
        }
    }
    return NULL;
}

static bool pend_settle(struct mmp_ofd *o, bool fold,
                        const struct mmp_pev *close);

/* One descriptor fewer refers to O: the last one frees it (a file closed
 * behind the shim's back, still pending, folded into its directory's
 * record as a close would). */
static void ofd_put(struct mmp_ofd *o)
{
    if (mms_load_relaxed(&o->refs) == 1 && mms_load_relaxed(&o->pend))
        pend_settle(o, true, NULL);
    if (mms_load_relaxed(&o->refs) == 1 && o->rec) {
        if (mms_load_relaxed(&o->owner))
            run_settle(o, &o->own);
        mms_store_relaxed(&o->owner, (uintptr_t)0);
    }
    __atomic_fetch_sub(&o->refs, 1, __ATOMIC_ACQ_REL);
}

/* Point FD at O (NULL: untracked), dropping what it pointed to (a
 * descriptor closed behind the shim's back: by libc itself). */
static void map_set(int fd, struct mmp_ofd *o)
{
    struct mmp_ofd **e = mmp_fd_slot(fd);
    if (!e && o) { /* the first use of a range: its leaf */
        struct mmp_ofd **l =
            (unsigned)fd < MMP_FD_MAX ? leaf_get((unsigned)fd) : NULL;
        if (!l) {
            ofd_put(o);
            count(F_UNTRACKED);
            return;
        }
        e = &l[(unsigned)fd % MMP_FD_LEAF];
    }
    if (o && e && !mms_load_relaxed(&mmp_fd_used))
        mms_store_release(&mmp_fd_used, (uint8_t)1);
    struct mmp_ofd *old =
        e ? __atomic_exchange_n(e, o, __ATOMIC_ACQ_REL) : NULL;
    if (old)
        ofd_put(old);
}

static struct mmp_ofd *map_get(int fd)
{
    struct mmp_ofd **e = mmp_fd_slot(fd);
    return e ? mms_load_acquire(e) : NULL;
}

bool mmp_file_dir_path(int fd, char *out)
{
    struct mmp_ofd *o = map_get(fd);
    if (!o)
        return false;
    size_t i = 0;
    for (; i < MMP_OFD_PATH && (out[i] = o->path[i]); i++)
        ;
    return i > 0 && i < MMP_OFD_PATH && out[0] == '/';
}

/* ------------------------------------------------------------ records */

/* The set of (other) files, mapped on the tables' first overflow. */
static uint64_t *other_get(void)
{
    uint64_t *s = mms_load_acquire(&other_set), *none = NULL;
    if (s || !other_mask)
        return s;
    size_t bytes = ((size_t)other_mask + 1) * sizeof *s;
    if (!(s = fresh(bytes)))
        return mms_load_acquire(&other_set);
    if (!mms_cas_acq_rel(&other_set, &none, s)) {
        mmp_sys_unmap(s, bytes);
        return none;
    }
    return s;
}

static void note_other(const char *key, size_t len)
{
    static const uint64_t zero[2];
    uint64_t h = mmp_siphash(zero, key, len) << 8 | other_gen;
    uint64_t *set = other_get();
    for (uint32_t i = 0; set && i <= other_mask; i++) {
        uint64_t *e = &set[((h >> 8) + i) & other_mask];
        uint64_t cur = mms_load_relaxed(e);
        if (cur == h)
            return;
        if ((cur & 0xff) == other_gen)
            continue;
        if (mms_cas_acq_rel(e, &cur, h)) {
            count(F_OTHER);
            return;
        }
        if (cur == h)
            return;
    }
    count(F_OTHER); /* the set is full (or none could be mapped): counted
                     * again, an upper bound */
}

/* Bumped before every lookup that may make a file's own record (not a
 * directory's, DIR/ *): a slot's "PATH has no record of its own" holds
 * while it has not moved since (mmp_ofd.noown_gen). Never 0. */
static uint64_t own_gen = 1;

/* The records of KEY (LEN bytes, hash H in both tables: they have the
 * same key_max) in both tables; REC NULL: in "files.meta" only (a path's
 * stat, rename: no read or write, so no record in "files" until it is
 * opened). OWN: KEY is a file's (not a directory's, DIR/ *). 0, or 1 if
 * either is the (other) record (a slot does not keep those: a fork
 * child's set of (other) files counts its own, and a kept lookup would
 * skip it); -1: none. */
static int records_of_h(const char *key, size_t len, uint32_t h, bool own,
                        uint32_t *rec, uint32_t *meta)
{
    if (own)
        __atomic_fetch_add(&own_gen, 1, __ATOMIC_ACQ_REL);
    int a = rec ? mms__record_lookup_h(tfiles, key, len, h, true, rec) : 0;
    int b = mms__record_lookup_h(tmeta, key, len, h, true, meta);
    if (a < 0 || b < 0)
        return -1;
    if (a == 1 || b == 1) {
        note_other(key, len);
        return 1;
    }
    return 0;
}

static int records_of(const char *abs, bool own, uint32_t *rec, uint32_t *meta)
{
    char hashed[MMP_HASHED_KEY];
    size_t len;
    const char *key = mmp_fpath_key(abs, hashed, &len);
    return records_of_h(key, len, mms__record_hash(tmeta, key, len), own, rec,
                        meta);
}

/* A meta event on the record META: member M counted (and M2, if not
 * MMP_MM_N), its time added to TIME (meta_time, or write_time for syncs)
 * and its first and last timestamps set, when timed (T1). */
static void meta_add(struct upd *u, unsigned m, unsigned m2, unsigned time,
                     unsigned first, uint64_t t0, uint64_t t1)
{
    upd_add(u, meta_off[m], 1);
    if (m2 < MMP_MM_N)
        upd_add(u, meta_off[m2], 1);
    if (t1) {
        upd_add(u, meta_off[time], t1 > t0 ? t1 - t0 : 0);
        if (first < MMP_MM_N) {
            upd_min(u, meta_off[first], realtime(t0));
            upd_max(u, meta_off[first + 1], realtime(t1));
        }
    }
}

static void meta_event(uint32_t meta, unsigned m, unsigned m2, unsigned time,
                       unsigned first, uint64_t t0, uint64_t t1)
{
    struct upd u;
    if (!tmeta || !upd_begin(&u, tmeta, meta))
        return;
    upd_lock(&u);
    meta_add(&u, m, m2, time, first, t0, t1);
    upd_end(&u);
}

#define NOFIRST MMP_MM_N

/* ------------------------------------------------------------ pending */

/* A file opened, then only read, fstat'ed, seeked or mmap'ed, has no
 * record while it is open: its events wait, in order, in its open file's
 * log (files.h), which only the thread that opened it adds to. If it
 * closes so, they go to its directory's record, DIR/ *, as a path only
 * stat'ed does: python3 -c pass reads 55 modules that way, ~850 bytes of
 * the stats file each as records of their own. If it does more (a write,
 * a dup, fdopen, fileno, a sync, another thread's access, more events
 * than the log holds, still open at exit or exec), it gets its own
 * records and the events are replayed into them as they would have been
 * recorded. MMSTATS_FILES_FOLD=0: records at open, as before. */
enum mmp_pev_kind {
    PEV_OPEN,
    PEV_IO,
    PEV_STAT,
    PEV_MMAP,
    PEV_SEEK,
    PEV_MORE,
    PEV_CLOSE /* not logged: the close that settles */
};

/* O's logged events, then CLOSE's (NULL: none), into its records: the
 * meta events between two accesses in one update of its meta cell. */
static void pend_replay(struct mmp_ofd *o, const struct mmp_pev *close)
{
    static const uint8_t member[] = {[PEV_OPEN] = MMP_MM_opens,
                                     [PEV_STAT] = MMP_MM_stats,
                                     [PEV_MMAP] = MMP_MM_mmaps,
                                     [PEV_SEEK] = MMP_MM_seeks,
                                     [PEV_CLOSE] = MMP_MM_closes};
    uint64_t pos = mms_load_relaxed(&o->pos);
    struct upd u = {.c = NULL};
    for (uint32_t i = 0; i <= o->npend; i++) {
        const struct mmp_pev *e = i < o->npend ? &o->log[i] : close;
        if (!e)
            break;
        if (e->kind == PEV_IO) {
            upd_end(&u);
            mms_store_relaxed(&o->pos, e->pos);
            mmp_file_io_slow(o, e->r, e->off, e->how, e->t0, e->t1);
            continue;
        }
        if (!u.c && (!tmeta || !upd_begin(&u, tmeta, o->meta)))
            continue;
        if (!u.locked)
            upd_lock(&u);
        unsigned first = e->kind == PEV_OPEN    ? MMP_MM_first_open
                         : e->kind == PEV_CLOSE ? MMP_MM_first_close
                                                : NOFIRST;
        meta_add(&u, member[e->kind], MMP_MM_N, MMP_MM_meta_time, first, e->t0,
                 e->t1);
    }
    upd_end(&u);
    mms_store_relaxed(&o->pos, pos);
}

/* The records of pending O's directory, DIR/ *, ABS (O's path, room for
 * two more bytes) cut at its last "/": those the slot kept for it if it
 * is the directory of the slot's last fold, else looked up (and kept). */
static bool dir_records(struct mmp_ofd *o, char *abs, uint32_t *rec,
                        uint32_t *meta)
{
    char *slash = strrchr(abs, '/');
    size_t end = (size_t)(slash - abs) + 1;
    if (o->dir_end == end) {
        *rec = o->dir_rec;
        *meta = o->dir_meta;
        return true;
    }
    slash[1] = '*';
    slash[2] = '\0';
    int rc = records_of(abs, false, rec, meta);
    if (rc != 0)
        return rc > 0;
    o->dir_rec = *rec;
    o->dir_meta = *meta;
    o->dir_end = (uint16_t)end;
    return true;
}

/* The records of pending O: its own, or with FOLD its directory's (DIR/ *)
 * unless it has a record of its own already (opened before and kept).
 * What the slot kept saves lookups (pend_settle uses it whole when it
 * can). */
static bool pend_records(struct mmp_ofd *o, bool fold, uint32_t *rec,
                         uint32_t *meta)
{
    char abs[MMP_OFD_PATH + 2]; /* its path is shorter than MMP_OFD_PATH */
    size_t n = strnlen(o->path, MMP_OFD_PATH - 1);
    memcpy(abs, o->path, n + 1);
    char hashed[MMP_HASHED_KEY];
    size_t len;
    const char *key = mmp_fpath_key(abs, hashed, &len);
    uint32_t h = mms__record_hash(tmeta, key, len), own;
    if (fold && abs[0] == '/') {
        uint64_t gen = mms_load_acquire(&own_gen);
        if (mms__record_lookup_h(tmeta, key, len, h, false, &own) != 0) {
            o->noown_gen = gen;
            return dir_records(o, abs, rec, meta);
        }
    }
    int rc = records_of_h(key, len, h, true, rec, meta);
    if (rc != 0)
        return rc > 0;
    o->own_rec = *rec;
    o->own_meta = *meta;
    o->own_ok = 1;
    return true;
}

/* Pending O gets its records (FOLD: its directory's), its events replayed
 * into them. Nothing if O is not pending, or its log is busy (a signal
 * handler inside the code that writes it, or another thread settling it:
 * the caller's event is then dropped). */
static bool pend_settle(struct mmp_ofd *o, bool fold,
                        const struct mmp_pev *close)
{
    uint32_t idle = MMP_PEND_IDLE;
    if (!mms_cas_acq_rel(&o->pend, &idle, MMP_PEND_BUSY))
        return false;
    uint32_t rec = 0, meta = 0;
    /* What the slot kept: PATH had no record of its own (and no file has
     * got one since), and the records of its directory. */
    bool kept =
        fold && o->dir_end && o->noown_gen == mms_load_acquire(&own_gen);
    if (kept) {
        rec = o->dir_rec;
        meta = o->dir_meta;
    }
    if (kept || pend_records(o, fold, &rec, &meta)) {
        o->meta = meta;
        mms_store_release(&o->rec, rec);
        pend_replay(o, close);
    } else {
        count(F_UNTRACKED);
    }
    o->npend = 0;
    mms_store_release(&o->pend, 0u);
    return true;
}

/* Event KIND of O (PEV_MORE: one that ends the pending state) kept in O's
 * log if O is pending and stays so: true, done. Else a pending O gets its
 * records first and the caller records the event in them: false. */
static bool pend_log(struct mmp_ofd *o, unsigned kind, int64_t r, uint64_t off,
                     unsigned how, uint64_t t0, uint64_t t1)
{
    if (MMP_LIKELY(!mms_load_relaxed(&o->pend)))
        return false;
    uint32_t idle = MMP_PEND_IDLE;
    if (kind != PEV_MORE && o->opener == me() && o->npend < MMP_PEND_MAX &&
        mms_cas_acq_rel(&o->pend, &idle, MMP_PEND_BUSY)) {
        o->log[o->npend++] = (struct mmp_pev){.kind = (uint8_t)kind,
                                              .how = (uint8_t)how,
                                              .r = r,
                                              .off = off,
                                              .pos = mms_load_relaxed(&o->pos),
                                              .t0 = t0,
                                              .t1 = t1};
        mms_store_release(&o->pend, MMP_PEND_IDLE);
        return true;
    }
    pend_settle(o, false, NULL);
    if (!o->rec)
        mmp_drop();
    return false;
}

/* FN on each slot of the pool ever taken (chunk_used). */
static void ofd_each_used(void (*fn)(struct mmp_ofd *))
{
    for (uint32_t k = 0; k < OFD_CHUNKS; k++) {
        struct mmp_ofd *c = mms_load_acquire(&chunk[k]);
        if (!c)
            break; /* mapped in order (ofd_new) */
        for (uint32_t bits = mms_load_relaxed(&chunk_used[k]); bits;
             bits &= bits - 1)
            fn(&c[__builtin_ctz(bits)]);
    }
}

static void end_one(struct mmp_ofd *o)
{
    if (mms_load_relaxed(&o->refs) && mms_load_relaxed(&o->pend))
        pend_settle(o, false, NULL);
}

/* The process ends: the files still pending get records of their own. */
static void files_end(void)
{
    ofd_each_used(end_one);
}

/* O (a slot just taken) is for the file at ABS (N bytes): its path, and
 * what the slot kept of the last one's records (mmp_ofd) dropped unless
 * it still holds: true if the path is the last one's. */
static bool slot_path(struct mmp_ofd *o, const char *abs, size_t n)
{
    if (n >= MMP_OFD_PATH) {
        o->path[0] = '\0';
        o->own_ok = 0;
        o->dir_end = 0;
        o->noown_gen = 0;
        return false;
    }
    if (memcmp(o->path, abs, n + 1) == 0)
        return true;
    const char *slash = strrchr(abs, '/');
    size_t end = slash ? (size_t)(slash - abs) + 1 : 0;
    if (end != o->dir_end || memcmp(o->path, abs, end) != 0)
        o->dir_end = 0;
    o->own_ok = 0;
    o->noown_gen = 0;
    memcpy(o->path, abs, n + 1);
    return false;
}

/* An open track() records: descriptor FD now refers to the file opened
 * with FLAGS (O_APPEND, O_DIRECTORY, O_PATH matter), its offset POS,
 * OFLAGS (MMP_OFD_*) for its open file; counted as an open when OPENED,
 * timed from T0 to T1. */
struct topen {
    int fd, flags;
    uint64_t pos;
    uint8_t oflags;
    bool opened;
    uint64_t t0, t1;
};

/* Slot O, taken, given back unused (never published: no descriptor
 * refers to it). */
static void slot_free(struct mmp_ofd *o)
{
    if (o)
        mms_store_release(&o->refs, 0u);
}

/* FD untracked: its slot O (NULL: none taken) given back, counted in
 * WHICH (F_UNTRACKED or F_EXCLUDED). */
static void untracked(const struct topen *t, struct mmp_ofd *o, unsigned which)
{
    slot_free(o);
    map_set(t->fd, NULL);
    count(which);
}

/* The open T of the file at ABS (N bytes, cleaned, not excluded) in slot
 * O, whose path it is now (SAME: it was already). */
static void track_ofd(const struct topen *t, struct mmp_ofd *o, const char *abs,
                      size_t n, bool same)
{
    /* Directories and O_PATH descriptors get no record, only their path
     * (for openat and fchdir). */
    bool dir = (t->flags & O_DIRECTORY) || (t->flags & O_PATH) == O_PATH;
    /* Opened to be read only: pending (a file created, truncated or
     * opened to be written has its records at once). */
    bool pend = t->opened && !dir && mmp_cfg.files_fold && n < MMP_OFD_PATH &&
                (t->flags & O_ACCMODE) == O_RDONLY &&
                !(t->flags & (O_CREAT | O_TRUNC));
    uint32_t rec = 0, meta = 0;
    if (!dir && !pend) {
        if (same && o->own_ok) {
            rec = o->own_rec;
            meta = o->own_meta;
        } else {
            int rc = records_of(abs, true, &rec, &meta);
            if (rc < 0) {
                untracked(t, o, F_UNTRACKED);
                return;
            }
            o->own_rec = rec;
            o->own_meta = meta;
            o->own_ok = rc == 0;
        }
    }
    mms_store_relaxed(&o->owner, (uintptr_t)0);
    o->rec = rec;
    o->meta = meta;
    o->serial++;
    o->mask = (uint64_t)mmp_cfg.files_align - 1;
    o->flags =
        (uint8_t)(t->oflags | ((t->flags & O_APPEND) ? MMP_OFD_APPEND : 0));
    o->pos = t->pos;
    run_reset(&o->own);
    o->opener = me();
    o->npend = pend;
    if (pend)
        o->log[0] =
            (struct mmp_pev){.kind = PEV_OPEN, .t0 = t->t0, .t1 = t->t1};
    mms_store_release(&o->pend, pend ? MMP_PEND_IDLE : 0u);
    map_set(t->fd, o);
    if (rec && t->opened)
        meta_event(meta, MMP_MM_opens, MMP_MM_N, MMP_MM_meta_time,
                   MMP_MM_first_open, t->t0, t->t1);
}

/* track's part with ABS, this thread's path buffer; RAW: what the path as
 * given decided (mmp_fpath_raw); O: FD's slot if taken already. */
static void track_path(const struct topen *t, int dirfd, const char *path,
                       char *abs, enum mmp_raw raw, struct mmp_ofd *o)
{
    if (!mmp_fpath_abs(dirfd, path, abs)) {
        untracked(t, o, F_UNTRACKED);
        return;
    }
    if (raw == MMP_RAW_UNKNOWN && mmp_fpath_excluded(abs)) {
        untracked(t, o, F_EXCLUDED);
        return;
    }
    if (!o && !(o = ofd_new(t->fd))) {
        untracked(t, NULL, F_UNTRACKED);
        return;
    }
    size_t n = strlen(abs);
    track_ofd(t, o, abs, n, slot_path(o, abs, n));
}

/* The open T of the file at PATH (relative to DIRFD). An absolute path
 * that is its slot's last one (so cleaned, not excluded: the common
 * reopen of one file) is taken as it is, without the path buffer. */
static void track(const struct topen *t, int dirfd, const char *path)
{
    if (!files_ready())
        return; /* dropped (counted) by the core or not made yet */
    int fd = t->fd;
    if ((unsigned)fd >= MMP_FD_MAX ||
        (fd >= (int)MMP_FD_LOW && !leaf_get((unsigned)fd))) {
        count(F_UNTRACKED);
        return;
    }
    enum mmp_raw raw = mmp_fpath_raw(path);
    if (raw == MMP_RAW_EXCLUDED) {
        untracked(t, NULL, F_EXCLUDED);
        return;
    }
    struct mmp_ofd *o = NULL;
    if (path && path[0] == '/') {
        if (!(o = ofd_new(fd))) {
            untracked(t, NULL, F_UNTRACKED);
            return;
        }
        size_t n = strnlen(path, MMP_OFD_PATH);
        if (n < MMP_OFD_PATH && memcmp(o->path, path, n + 1) == 0) {
            track_ofd(t, o, o->path, n, true);
            return;
        }
    }
    char *abs = mmp_fpath_get();
    if (!abs) {
        untracked(t, o, F_UNTRACKED);
        return;
    }
    track_path(t, dirfd, path, abs, raw, o);
    mmp_fpath_put(abs);
}

void mmp_file_open(unsigned id, int dirfd, const char *path, int flags, int fd,
                   uint64_t t0, uint64_t t1)
{
    (void)id;
    if (fd < 0 || !mmp_files_on())
        return;
    int saved = errno;
    struct topen t = {.fd = fd,
                      .flags = flags,
                      .pos = (flags & O_APPEND) ? MMP_NOWHERE : 0,
                      .opened = true,
                      .t0 = t0,
                      .t1 = t1};
    track(&t, dirfd, path);
    errno = saved;
}

/* fopen's mode: O_APPEND for "a", which starts at the end (unknown);
 * O_WRONLY for any mode but "r" (what matters is that it may write). */
static int mode_flags(const char *how)
{
    if (!how)
        return 0;
    return (how[0] == 'a' ? O_APPEND : 0) |
           (how[0] != 'r' || strchr(how, '+') ? O_WRONLY : 0);
}

void mmp_file_fopen(unsigned id, const char *path, const char *how, FILE *f,
                    uint64_t t0, uint64_t t1)
{
    (void)id;
    if (!f || !mmp_files_on())
        return;
    int saved = errno;
    int fl = mode_flags(how);
    struct topen t = {.fd = mmp_stream_fd(f),
                      .flags = fl,
                      .pos = (fl & O_APPEND) ? MMP_NOWHERE : 0,
                      .oflags = MMP_OFD_STREAM,
                      .opened = true,
                      .t0 = t0,
                      .t1 = t1};
    track(&t, AT_FDCWD, path);
    errno = saved;
}

void mmp_file_fdopen(int fd, const char *how, FILE *f)
{
    struct mmp_ofd *o = f ? map_get(fd) : NULL;
    if (!o)
        return;
    int saved = errno;
    pend_log(o, PEV_MORE, 0, 0, 0, 0, 0);
    if (!o->rec) {
        errno = saved;
        return;
    }
    __atomic_fetch_or(&o->flags, (uint8_t)MMP_OFD_STREAM, __ATOMIC_RELAXED);
    (void)how;
    meta_event(o->meta, MMP_MM_opens, MMP_MM_N, MMP_MM_meta_time, NOFIRST, 0,
               0);
    errno = saved;
}

void mmp_file_forget(int fd)
{
    int saved = errno;
    map_set(fd, NULL);
    errno = saved;
}

struct mmp_ofd *mmp_file_take(int fd)
{
    struct mmp_ofd **e = mmp_fd_slot(fd);
    if (!e || !mms_load_relaxed(e))
        return NULL;
    return __atomic_exchange_n(e, (struct mmp_ofd *)NULL, __ATOMIC_ACQ_REL);
}

void mmp_file_closed(struct mmp_ofd *o, int r, uint64_t t0, uint64_t t1)
{
    (void)r; /* a failed close releases the descriptor on Linux too */
    if (!o)
        return;
    int saved = errno;
    /* Opened, only read, closed: its directory's records, the close with
     * its other events. */
    const struct mmp_pev close = {.kind = PEV_CLOSE, .t0 = t0, .t1 = t1};
    if (!pend_settle(o, true, &close) && o->rec)
        meta_event(o->meta, MMP_MM_closes, MMP_MM_N, MMP_MM_meta_time,
                   MMP_MM_first_close, t0, t1);
    ofd_put(o);
    errno = saved;
}

void mmp_file_freopen(unsigned id, const char *path, const char *how, FILE *f,
                      struct mmp_ofd *old, uint64_t t0, uint64_t t1)
{
    char keep[MMP_OFD_PATH];
    keep[0] = '\0';
    if (old)
        memcpy(keep, old->path, sizeof keep);
    mmp_file_closed(old, 0, 0, 0);
    /* freopen(NULL, ...) reopens the same file in another mode. */
    if (f && (path || keep[0]))
        mmp_file_fopen(id, path ? path : keep, how, f, t0, t1);
}

void mmp_file_dup(int fd, int r, int fd2, uint64_t t0, uint64_t t1)
{
    if (r < 0 || r == fd || (fd2 >= 0 && fd2 != r))
        return;
    int saved = errno;
    struct mmp_ofd *o = map_get(fd);
    if (o && mmp_files_on()) {
        pend_log(o, PEV_MORE, 0, 0, 0, 0, 0);
        __atomic_fetch_add(&o->refs, 1, __ATOMIC_ACQ_REL);
        map_set(r, o);
        if (o->rec)
            meta_event(o->meta, MMP_MM_opens, MMP_MM_dups, MMP_MM_meta_time,
                       MMP_MM_first_open, t0, t1);
    } else {
        map_set(r, NULL);
    }
    errno = saved;
}

void mmp_file_seek(int fd, int64_t r, uint64_t t0, uint64_t t1)
{
    struct mmp_ofd *o = map_get(fd);
    if (!o || r < 0)
        return;
    int saved = errno;
    mms_store_relaxed(&o->pos, (uint64_t)r);
    if (!pend_log(o, PEV_SEEK, 0, 0, 0, t0, t1) && o->rec)
        meta_event(o->meta, MMP_MM_seeks, MMP_MM_N, MMP_MM_meta_time, NOFIRST,
                   t0, t1);
    errno = saved;
}

void mmp_file_fseek(FILE *f, int64_t off, int whence, int r, uint64_t t0,
                    uint64_t t1)
{
    struct mmp_ofd *o = r == 0 ? map_get(mmp_stream_fd(f)) : NULL;
    if (!o)
        return;
    int saved = errno;
    uint64_t pos = mms_load_relaxed(&o->pos);
    if (whence == SEEK_SET && off >= 0)
        pos = (uint64_t)off;
    else if (whence == SEEK_CUR && pos != MMP_NOWHERE)
        pos += (uint64_t)off;
    else
        pos = MMP_NOWHERE; /* SEEK_END: the size is not known */
    mms_store_relaxed(&o->pos, pos);
    if (!pend_log(o, PEV_SEEK, 0, 0, 0, t0, t1) && o->rec)
        meta_event(o->meta, MMP_MM_seeks, MMP_MM_N, MMP_MM_meta_time, NOFIRST,
                   t0, t1);
    errno = saved;
}

/* fsync and fdatasync: their time is write time, as in Darshan (it is
 * the writes' data going to the disk). */
void mmp_file_sync(int fd, int r, bool data, uint64_t t0, uint64_t t1)
{
    struct mmp_ofd *o = r == 0 ? map_get(fd) : NULL;
    if (!o)
        return;
    int saved = errno;
    pend_log(o, PEV_MORE, 0, 0, 0, 0, 0);
    if (o->rec)
        meta_event(o->meta, data ? MMP_MM_fdatasyncs : MMP_MM_fsyncs, MMP_MM_N,
                   MMP_MM_write_time, NOFIRST, t0, t1);
    errno = saved;
}

void mmp_file_fstat(int fd, int r, uint64_t t0, uint64_t t1)
{
    struct mmp_ofd *o = r == 0 ? map_get(fd) : NULL;
    if (!o)
        return;
    int saved = errno;
    if (!pend_log(o, PEV_STAT, 0, 0, 0, t0, t1) && o->rec)
        meta_event(o->meta, MMP_MM_stats, MMP_MM_N, MMP_MM_meta_time, NOFIRST,
                   t0, t1);
    errno = saved;
}

/* The record in "files.meta" of ABS if it has one; else its directory's,
 * keyed by the directory, a slash and a star (written over ABS). */
static bool stat_record(char *abs, uint32_t *meta)
{
    char hashed[MMP_HASHED_KEY];
    size_t len;
    const char *key = mmp_fpath_key(abs, hashed, &len);
    if (mms__record_find(tmeta, key, len, meta) == 0)
        return true;
    char *slash = strrchr(abs, '/');
    if (!slash || slash + 2 >= abs + PATH_MAX)
        return false;
    slash[1] = '*';
    slash[2] = '\0';
    return records_of(abs, false, NULL, meta) >= 0;
}

/* Event M of PATH (relative to DIRFD) in its record, or with BY_DIR in
 * its directory's record when it has none of its own (stat_record). */
static void meta_path_event(int dirfd, const char *path, unsigned m,
                            bool by_dir, uint64_t t0, uint64_t t1)
{
    uint32_t meta;
    if (!mmp_files_on() || !files_ready())
        return;
    char *abs = mmp_fpath_get();
    if (!abs)
        return;
    bool ok = mmp_fpath_abs(dirfd, path, abs) && !mmp_fpath_excluded(abs) &&
              (by_dir ? stat_record(abs, &meta)
                      : records_of(abs, true, NULL, &meta) >= 0);
    mmp_fpath_put(abs);
    if (ok)
        meta_event(meta, m, MMP_MM_N, MMP_MM_meta_time, NOFIRST, t0, t1);
}

/* A meta event on the file at PATH (relative to DIRFD), its record made
 * if need be, as Darshan does for stat. */
static void path_event(int dirfd, const char *path, unsigned m, uint64_t t0,
                       uint64_t t1)
{
    meta_path_event(dirfd, path, m, false, t0, t1);
}

/* A stat of PATH (relative to DIRFD). A path only stat'ed, never opened,
 * counts in its directory's record: an interpreter's module search stats
 * dozens of paths it never opens (python3 -c pass: 73 in 14 directories),
 * each a record of ~490 bytes of the stats file otherwise
 * (MMSTATS_FILES_STAT_PATHS=1 gives them their own, as before). */
static void stat_event(int dirfd, const char *path, uint64_t t0, uint64_t t1)
{
    meta_path_event(dirfd, path, MMP_MM_stats, !mmp_cfg.files_stat_paths, t0,
                    t1);
}

void mmp_file_stat(int dirfd, const char *path, int flags, int r, uint64_t t0,
                   uint64_t t1)
{
    if (r != 0 || !path)
        return;
    if (!*path && (flags & AT_EMPTY_PATH)) {
        mmp_file_fstat(dirfd, 0, t0, t1);
        return;
    }
    int saved = errno;
    stat_event(dirfd, path, t0, t1);
    errno = saved;
}

void mmp_file_rename(int fromdir, const char *from, int todir, const char *to,
                     int r, uint64_t t0, uint64_t t1)
{
    if (r != 0)
        return;
    int saved = errno;
    path_event(fromdir, from, MMP_MM_renamed_from, t0, t1);
    path_event(todir, to, MMP_MM_renamed_to, 0, 0);
    errno = saved;
}

void mmp_file_mmap(int fd, bool ok, uint64_t t0, uint64_t t1)
{
    struct mmp_ofd *o = ok && fd >= 0 ? map_get(fd) : NULL;
    if (!o)
        return;
    int saved = errno;
    if (!pend_log(o, PEV_MMAP, 0, 0, 0, t0, t1) && o->rec)
        meta_event(o->meta, MMP_MM_mmaps, MMP_MM_N, MMP_MM_meta_time, NOFIRST,
                   t0, t1);
    errno = saved;
}

void mmp_file_fileno(int fd, uint64_t t0, uint64_t t1)
{
    struct mmp_ofd *o = fd >= 0 ? map_get(fd) : NULL;
    if (!o)
        return;
    int saved = errno;
    pend_log(o, PEV_MORE, 0, 0, 0, 0, 0);
    if (o->rec)
        meta_event(o->meta, MMP_MM_opens, MMP_MM_filenos, MMP_MM_meta_time,
                   MMP_MM_first_open, t0, t1);
    errno = saved;
}

void mmp_file_chdir(const char *path, int fd, int r)
{
    if (r != 0)
        return;
    int saved = errno;
    mmp_fpath_chdir(path, fd);
    errno = saved;
}

/* copy_file_range, sendfile, splice: a read of IN and a write of OUT, at
 * the offsets the call was given (it advanced them by R) or at the
 * current ones. */
void mmp_file_copy(int in, const int64_t *inoff, int out, const int64_t *outoff,
                   int64_t r, uint64_t t0, uint64_t t1)
{
    if (r < 0)
        return;
    if (inoff)
        mmp_file_io(in, r, (uint64_t)(*inoff - r), MMP_FIO_AT | MMP_FIO_NOMOVE,
                    t0, t1);
    else
        mmp_file_io(in, r, 0, 0, t0, t1);
    if (outoff)
        mmp_file_io(out, r, (uint64_t)(*outoff - r),
                    MMP_FIO_WRITE | MMP_FIO_AT | MMP_FIO_NOMOVE, t0, t1);
    else
        mmp_file_io(out, r, 0, MMP_FIO_WRITE, t0, t1);
}

void mmp_file_range(unsigned first, unsigned last, int flags)
{
#ifdef CLOSE_RANGE_CLOEXEC
    if (flags & CLOSE_RANGE_CLOEXEC)
        return;
#else
    (void)flags;
#endif
    if (first > last)
        return;
    int saved = errno;
    unsigned end = last < MMP_FD_MAX - 1 ? last : MMP_FD_MAX - 1;
    for (unsigned fd = first; fd <= end; fd++) {
        if (fd >= MMP_FD_LOW && fd % MMP_FD_LEAF == 0 &&
            !mms_load_acquire(&mmp_fdleaf[fd / MMP_FD_LEAF])) {
            fd += MMP_FD_LEAF - 1; /* a range never used */
            continue;
        }
        mmp_file_closed(mmp_file_take((int)fd), 0, 0, 0);
    }
    errno = saved;
}

/* -------------------------------------------------- reads and writes */

static unsigned size_range(uint64_t n)
{
    static const uint64_t top[MMP_FM_SIZES - 1] = {
        100,     1024,     10240,     102400,    1048576,
        4194304, 10485760, 104857600, 1073741824};
    unsigned b = 0;
    while (b < MMP_FM_SIZES - 1 && n > top[b])
        b++;
    return b;
}

/* The access patterns of files this thread uses but does not own
 * (another thread made their first access): a small direct-mapped cache,
 * in every thread's static TLS (640 bytes). */
#define TCACHE 16
struct tcache {
    struct mmp_ofd *o;
    uint32_t serial;
    struct mmp_fpat pat;
};
static __thread struct tcache tcache[TCACHE] MMP_IE;

static void pat_reset(struct mmp_fpat *p)
{
    *p = (struct mmp_fpat){.rend = MMP_NOWHERE, .wend = MMP_NOWHERE};
}

static struct mmp_fpat *tcache_get(struct mmp_ofd *o)
{
    struct tcache *e = &tcache[((uintptr_t)o / sizeof *o) % TCACHE];
    uint32_t serial = mms_load_relaxed(&o->serial);
    if (e->o != o || e->serial != serial) {
        e->o = o;
        e->serial = serial;
        pat_reset(&e->pat);
    }
    return &e->pat;
}

/* The times of O's new owner run of kind W (a write if true): where its
 * timed accesses add theirs, in the owner's cell M of the meta record,
 * when that cell is the thread's own (else they take the slow path). */
static void run_times(struct mmp_ofd *o, struct upd *m, bool w)
{
    if (!m->c || !m->owned) {
        o->mseq = NULL;
        return;
    }
    o->mtime = word(m, meta_off[w ? MMP_MM_write_time : MMP_MM_read_time]);
    o->mlast = word(m, meta_off[w ? MMP_MM_last_write : MMP_MM_last_read]);
    o->mslow =
        word(m, meta_off[w ? MMP_MM_slowest_write : MMP_MM_slowest_read]);
    o->mseq = (uint64_t *)m->c;
}

void mmp_file_io_slow(struct mmp_ofd *o, int64_t r, uint64_t off, unsigned how,
                      uint64_t t0, uint64_t t1)
{
    if (r < 0 || !tfiles)
        return; /* failed calls are not accesses */
    int saved = errno;
    bool w = how & MMP_FIO_WRITE;
    if (!o->rec && pend_log(o, w ? PEV_MORE : PEV_IO, r, off, how, t0, t1)) {
        uint64_t at = (how & MMP_FIO_AT) ? off : mms_load_relaxed(&o->pos);
        if (!(how & MMP_FIO_NOMOVE))
            mms_store_relaxed(&o->pos,
                              at == MMP_NOWHERE ? at : at + (uint64_t)r);
        errno = saved;
        return;
    }
    if (!o->rec) { /* directories have no accesses */
        errno = saved;
        return;
    }
    uintptr_t self = me();
    uintptr_t owner = mms_load_relaxed(&o->owner);
    struct mmp_frun *s = NULL; /* the owner's run, if this thread owns O */
    struct mmp_fpat tmp, *pat;
    struct upd u = {.t = tfiles};
    if (owner == self) {
        s = &o->own;
        u.c = s->cell;
        u.owned = true;
        run_settle(o, s);
        pat = &s->pat;
    } else {
        struct mms_cell c = mms__record_cell(tfiles, o->rec);
        if (!c.p) {
            mmp_drop();
            errno = saved;
            return;
        }
        u.c = c.p;
        u.owned = c.owned;
        uintptr_t none = 0;
        if (owner == 0 && mmp_cacheable(c) &&
            mms_cas_acq_rel(&o->owner, &none, self)) {
            s = &o->own;
            run_reset(s);
            s->cell = c.p;
            pat = &s->pat;
        } else if (c.owned && mmp_thread != MMP_THREAD_EXITING) {
            pat = tcache_get(o);
        } else {
            pat_reset(&tmp);
            pat = &tmp;
        }
    }

    /* Where the access was: unknown for an append, or after SEEK_END. */
    uint64_t at = (how & MMP_FIO_AT) ? off : mms_load_relaxed(&o->pos);
    bool known = at != MMP_NOWHERE &&
                 !(w && !(how & MMP_FIO_AT) && (o->flags & MMP_OFD_APPEND));
    uint64_t prev = w ? pat->wend : pat->rend;
    bool after = known && prev != MMP_NOWHERE;
    uint64_t end = known ? at + (uint64_t)r : MMP_NOWHERE;
    unsigned op = w ? 2 : 1;
    unsigned b = size_range((uint64_t)r);

    upd_lock(&u);
    upd_add(&u, w ? MMP_FOFF(bytes_written) : MMP_FOFF(bytes_read),
            (uint64_t)r);
    upd_add(&u, (w ? MMP_FOFF(write_0_100) : MMP_FOFF(read_0_100)) + 8 * b, 1);
    if (after && at == prev)
        upd_add(&u, w ? MMP_FOFF(consec_writes) : MMP_FOFF(consec_reads), 1);
    if (after && at >= prev)
        upd_add(&u, w ? MMP_FOFF(seq_writes) : MMP_FOFF(seq_reads), 1);
    if (pat->last && pat->last != op)
        upd_add(&u, MMP_FOFF(rw_switches), 1);
    if (known && (at & o->mask))
        upd_add(&u, MMP_FOFF(unaligned), 1);
    uint32_t endoff = w ? MMP_FOFF(write_end) : MMP_FOFF(read_end);
    if (known)
        upd_max(&u, endoff, end);
    upd_end(&u);

    if (!(how & MMP_FIO_NOMOVE))
        mms_store_relaxed(&o->pos, end);
    if (w)
        pat->wend = end;
    else
        pat->rend = end;
    pat->last = (uint8_t)op;

    struct upd m = {.c = NULL};
    if (tmeta && upd_begin(&m, tmeta, o->meta)) {
        upd_lock(&m);
        credit(&m, MMP_MM_access1, (uint64_t)r, 1);
        if (after)
            credit(&m, MMP_MM_stride1, at - prev, 1);
        if (t1) {
            uint64_t dt = t1 > t0 ? t1 - t0 : 0;
            upd_add(&m, meta_off[w ? MMP_MM_write_time : MMP_MM_read_time], dt);
            upd_min(&m, meta_off[w ? MMP_MM_first_write : MMP_MM_first_read],
                    realtime(t0));
            upd_max(&m, meta_off[w ? MMP_MM_last_write : MMP_MM_last_read],
                    realtime(t1));
            upd_pair(&m, w ? MMP_MM_slowest_write : MMP_MM_slowest_read, dt,
                     (uint64_t)r);
        }
        upd_end(&m);
    }

    /* A new run for the fast path: the owner's, with a size, at this
     * thread's furthest offset (where the fast path may store the end). */
    if (s && u.owned && known && r > 0 &&
        mms_load_relaxed((uint64_t *)(u.c + endoff)) == end) {
        s->bucket =
            (uint64_t *)(u.c +
                         (w ? MMP_FOFF(write_0_100) : MMP_FOFF(read_0_100)) +
                         8 * (size_t)b);
        s->run_from = end;
        s->size[w] = (uint64_t)r;
        s->expect[w] = end;
        run_times(o, &m, w);
    }
    errno = saved;
}

/* ----------------------------------------------- threads and processes */

/* Forget this thread's runs and cells (thread exit: its cells are still
 * its own, so the runs are credited first; fork child: the runs were the
 * parent's, and every owner but none is gone). */
static void forget_one(struct mmp_ofd *o)
{
    bool exiting = mmp_thread == MMP_THREAD_EXITING;
    uintptr_t owner = mms_load_relaxed(&o->owner);
    if (!owner || (exiting && owner != me()))
        return;
    if (exiting)
        run_settle(o, &o->own);
    else
        run_reset(&o->own);
    mms_store_release(&o->owner, (uintptr_t)0);
}

static void files_forget(void)
{
    ofd_each_used(forget_one);
    /* Written only where not zero: a fork child's copy of a page. */
    mmp_zero_set(tcache, sizeof tcache);
}

/* The pending files' events so far are the parent's: the child's file
 * counts its own from now on, as with records (format.md 9.6). */
static void child_one(struct mmp_ofd *o)
{
    if (mms_load_relaxed(&o->pend)) {
        o->npend = 0;
        o->opener = me();
        mms_store_relaxed(&o->pend, MMP_PEND_IDLE);
    }
}

static void files_child(void)
{
    /* A new generation in the set of (other) files, if the parent has
     * one (if not, the child's own will hold its files only). */
    if (mms_load_relaxed(&other_set))
        other_gen = (uint8_t)(other_gen == 255 ? 1 : other_gen + 1);
    ofd_each_used(child_one);
}

/* A descriptor the process started with (0, 1, 2): a record if it is a
 * regular file outside the excluded prefixes, at its current offset. */
static void inherit(int fd)
{
    char link[32], path[PATH_MAX];
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0 || path[0] != '/')
        return;
    path[n] = '\0';
    off_t pos = lseek(fd, 0, SEEK_CUR);
    int fl = fcntl(fd, F_GETFL);
    struct topen t = {.fd = fd,
                      .flags = fl < 0 ? 0 : fl & O_APPEND,
                      .pos = pos < 0 || (fl >= 0 && (fl & O_APPEND))
                                 ? MMP_NOWHERE
                                 : (uint64_t)pos};
    track(&t, AT_FDCWD, path);
}

/* Start-up: only the fork handler. The rest waits for the stats file
 * (files_made): a process that records nothing needs none of it. */
static void files_start(void)
{
    pthread_atfork(NULL, NULL, files_child);
}

/* The stats file is made (system calls allowed, nothing recorded
 * meanwhile): the first chunk of the pool of open files (the others, the
 * map's leaves and the set of (other) files are mapped on first use;
 * fewer under a finite RLIMIT_AS), the working directory, the options,
 * records of the descriptors 0, 1 and 2 as they are now. */
static void files_made(void)
{
    int saved = errno;
    struct rlimit rl;
    bool small = getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
    other_mask = (small ? 8192 : 65536) - 1;
    nchunks = small ? 1024 / OFD_CHUNK : OFD_CHUNKS;
    if (!chunk_get(0)) {
        if (mmp_cfg.verbose)
            mmp_warn("no per-file records: no memory");
        nchunks = 0;
        errno = saved;
        return;
    }
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    mmp_files_rt_delta =
        ((int64_t)rt.tv_sec - (int64_t)mono.tv_sec) * 1000000000 +
        (rt.tv_nsec - mono.tv_nsec);
    mmp_fpath_start();
    for (int fd = 0; fd < 3; fd++)
        inherit(fd);
    errno = saved;
}

const struct mmp_family_ops mmp_family_files = {
    .start = files_start,
    .made = files_made,
    .forget = files_forget,
    .end = files_end,
};
