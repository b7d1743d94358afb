/* Private declarations shared by the files of libmmstats (mms__ prefix).
 * Nothing here is part of the public API or of the file format. */
#ifndef MMS_INTERNAL_H
#define MMS_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mmstats/mmstats.h>

#include "atomic.h"
#include "hist_index.h"

#define MMS_HIDDEN __attribute__((visibility("hidden")))
#define MMS_LIKELY(x) __builtin_expect(!!(x), 1)
#define MMS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MMS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Writers open at once in one process: each owns one slot of the per-thread
 * cache below. Small, because that cache is static TLS. */
#define MMS_MAX_WRITERS 8

/* Defaults and limits of struct mms_writer_options. */
#define MMS_DEF_MAX_INDEX 65536u
/* Shard ids: a paged array, allocated 256 ids at a time as they are
 * used, so the limit costs only its directory (2 KiB, less than the old
 * flat array of 1,024): no thread shares shard 0 for want of an id while
 * fewer than 65,536 threads are alive at once (exited threads' ids are
 * reused). */
#define MMS_DEF_MAX_SHARDS (1u << 16)
#define MMS_DEF_INITIAL_SIZE (16u << 10)
#define MMS_DEF_EXTENT (1u << 20)
#define MMS_DEF_EXTENT_LIMITED (256u << 10) /* under a finite RLIMIT_AS */
#define MMS_MAX_EXTENTS 4096u
#define MMS_GROW_MIN (8u << 10) /* growth step, at least */
#define MMS_LOW_MIN (2u << 10)  /* grow when less is prepared */
/* A growth held this long by the same grower is taken to be abandoned
 * (mms__grow_wait): far beyond any scheduling delay. */
#define MMS_GROW_STALL_NS (2 * 1000000000LL)
#define MMS_AREA_FIRST 512u
#define MMS_AREA_MAX (8u << 10)
#define MMS_POOL_CHUNK (64u << 10)
#define MMS_PAGE_SHIFT 8 /* paged arrays: 256 entries a page */
#define MMS_PAGE_LEN (1u << MMS_PAGE_SHIFT)
#define MMS_STRING_DEFAULT_CAP 64u
#define MMS_STRING_MAX_CAP 65536u
#define MMS_TABLE_DEFAULT_CAP 1024u
#define MMS_RETIRE_TRIES 100 /* snapshot passes before MMS_EBUSY */

static inline uint64_t mms__round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* ---------------------------------------------------------------- pool */

/* The writer's private memory: anonymous mappings carved by a lock-free
 * bump allocator, never freed before the writer closes, never malloc (the
 * writer serves malloc hooks). A spare chunk is kept ready so that taking
 * a new one needs no system call; a new spare is mapped by the slow path
 * that took the last one, unless system calls are off. */
struct mms__pchunk {
    struct mms__pchunk *next; /* all chunks, for unmapping */
    size_t size;
    size_t used; /* atomic */
};
struct mms__pool {
    struct mms__pchunk *cur;   /* atomic */
    struct mms__pchunk *spare; /* atomic */
    struct mms__pchunk *all;   /* atomic list head */
    int busy;                  /* atomic: a refill is running */
    const bool *no_syscalls;
};
MMS_HIDDEN int mms__pool_init(struct mms__pool *p, const bool *no_syscalls);
/* SIZE zeroed bytes, 16-aligned, or NULL when none can be had. */
MMS_HIDDEN void *mms__pool_alloc(struct mms__pool *p, size_t size);
MMS_HIDDEN void mms__pool_destroy(struct mms__pool *p);
MMS_HIDDEN size_t mms__pool_mapped(const struct mms__pool *p);

/* A paged array of pointers (index -> pointer), pages of MMS_PAGE_LEN
 * allocated on demand and installed with a compare-and-swap. */
struct mms__pages {
    void ***dir; /* [ndir] pages, atomic pointers */
    uint32_t ndir;
};
MMS_HIDDEN int mms__pages_init(struct mms__pages *pg, struct mms__pool *pool,
                               uint32_t len);
static inline void *mms__pages_get(const struct mms__pages *pg, uint32_t i)
{
    if ((i >> MMS_PAGE_SHIFT) >= pg->ndir)
        return NULL;
    void **page = mms_load_acquire(&pg->dir[i >> MMS_PAGE_SHIFT]);
    return page ? mms_load_acquire(&page[i & (MMS_PAGE_LEN - 1)]) : NULL;
}
/* The slot of I (its page allocated if needed), or NULL. */
MMS_HIDDEN void **mms__pages_slot(struct mms__pages *pg, struct mms__pool *pool,
                                  uint32_t i);

/* ------------------------------------------------------------- writer */

/* One of a shard's AREA blocks (a list, so that a fork child knows every
 * area its cells are in). */
struct mms__area {
    uint64_t off;
    struct mms__area *next;
};

/* A thread's shard, in private memory. The row maps an index to this
 * shard's cell of it; only the owning thread (and its signal handlers)
 * install entries, except in shard 0 (any thread, by CAS). */
struct mms__shard {
    struct mms__pages row; /* index -> cell pointer */
    uint32_t id;
    uint32_t next_area;  /* size of the next area */
    uint32_t area_total; /* bytes of the shard's areas so far */
    struct mms_shard_block *blk;
    uint64_t area; /* file offset of the current area, atomic; 0: none */
    struct mms__area *areas; /* all of them, newest first, atomic head */
};

/* In-process view of one field; handles point here. */
struct mms_field {
    mms_writer *w;
    uint32_t index;
    uint8_t kind, flags, type;
    uint8_t bits, max_exp, win_bits; /* HISTOGRAM */
    uint16_t nchunks;
    uint32_t nbuckets, win_off, win_nbuckets;
    uint32_t cell_size;   /* SHARDED */
    uint32_t group_first; /* the group's first index */
    uint32_t group_count;
    uint32_t group_bytes; /* the group's cells, in bytes */
    uint32_t cell_off;    /* this field's cell in the group's cells */
    uint8_t *value;       /* unsharded: the value, in the file */
    uint32_t value_size;
    uint32_t n;       /* STRUCT members, MOVAVG capacity */
    const char *name; /* NUL-terminated, in the FIELD block */
    struct mms_field_block *blk;
};

/* A member of a table, in process. */
struct mms__tmember {
    uint8_t kind, bits, max_exp;
    uint16_t nchunks;
    uint32_t off, size, nbuckets;
};

struct mms_table {
    mms_writer *w;
    uint32_t index;
    uint32_t capacity, cell_size;
    uint8_t key_type, nmembers;
    uint16_t key_max;
    uint32_t overflow;     /* the overflow record's index */
    uint64_t overflow_off; /* and its RECORD block */
    uint32_t *slots;       /* open addressing: RECORD block offsets, 0 empty */
    uint32_t nslots;       /* power of two */
    struct mms_table_block *blk;
    const char *name;
    struct mms__tmember m[MMS_TABLE_MAX_MEMBERS];
};

/* What an index is, in the writer's index table: tag in the low bits. */
#define MMS__IX_FIELD 0u
#define MMS__IX_RECORD 1u /* pointer: the record's table */
#define MMS__IX_TABLE 2u
#define MMS__IX_TAG 3u

struct mms_writer {
    struct mms_file_header *hdr; /* = ext[0] */
    uint32_t extent_size, ext_shift;
    uint64_t ext_mask, max_size;
    uint32_t slot;           /* index in mms__writers and the TLS cache */
    uint32_t id;             /* unique per process lifetime, never 0 */
    unsigned flags;          /* MMS_W_* */
    pthread_mutex_t lock;    /* serialises field adds, never taken by updates */
    uintptr_t adder;         /* atomic: the lock holder's mark, or 0 */
    uint64_t add_waits;      /* atomic: waits for another's add (tests) */
    int64_t stall_ns;        /* mms__wait_mark's bound: MMS_GROW_STALL_NS */
    bool shared_child;       /* a fork child sharing the parent's file */
    bool no_syscalls;        /* see mms__writer_no_syscalls */
    bool detached;           /* writing to private memory, not a file */
    uintptr_t growing;       /* atomic: the growing thread's mark, or 0 */
    uint64_t grow_waits;     /* atomic: mms__grow_wait calls (tests) */
    uint64_t grow_takeovers; /* atomic: stalled growths taken over */
    uint32_t max_index, shard_limit;
    struct mms__pool pool;
    struct mms__pages ix;     /* index -> field / table, tagged */
    struct mms__pages shards; /* shard id -> struct mms__shard */
    uint32_t free_hint;       /* where to look for a FREE shard */
    void **names;             /* name index: field / table, tagged */
    uint32_t names_cap, names_count;
    int64_t (*clock_ns)(void);    /* window clock; NULL: monotonic coarse */
    void (*thread_exit_cb)(void); /* see mms__writer_on_thread_exit */
    void (*identity_cb)(int32_t *tid, char name[16]); /* see hotpath.h */
    uint32_t msync_ms;
    int64_t last_sync_ns; /* atomic */
    /* How the file was named and where, to grow it and to name a child's
     * file alike. */
    bool exact;
    dev_t dir_dev, file_dev;
    ino_t dir_ino, file_ino;
    char dir[PATH_MAX];          /* absolute */
    char name_arg[NAME_MAX + 1]; /* exact: the file name; else template */
    char label[MMS_LABEL_LEN + 1];
    char model[MMS_LABEL_LEN + 1];
    /* What becomes of the file once the process is gone (rollup.c). */
    uint32_t keep, keep_after_ms;
    char group[MMS_GROUP_LEN];
    char path[PATH_MAX];
    char parked[PATH_MAX]; /* exec in flight: the name to go back to */
    size_t self_size;      /* bytes of the anonymous mapping holding *w */
    uint8_t *ext[MMS_MAX_EXTENTS]; /* mapped extents, atomic pointers */
};

/* Pointer to file offset OFF (mapped: every allocated block is). */
static inline uint8_t *mms__ptr(const mms_writer *w, uint64_t off)
{
    return mms_load_relaxed((uint8_t **)&w->ext[off >> w->ext_shift]) +
           (off & w->ext_mask);
}

/* Per-thread cache of the shard a thread writes for each writer slot.
 * initial-exec TLS: no allocation on first access (safe in malloc hooks). */
struct mms__tls_ent {
    uint32_t wid;   /* writer id this entry is for; 0: none */
    uint32_t owned; /* 1: the thread's own shard (plain adds) */
    struct mms__shard *sh;
};
extern __thread struct mms__tls_ent mms__tls[MMS_MAX_WRITERS]
    __attribute__((tls_model("initial-exec")));

/* writer.c: the registry of open writers, indexed by slot. */
extern mms_writer *mms__writers[MMS_MAX_WRITERS];
extern pthread_mutex_t mms__registry_lock;

/* Add N fields as one group under w->lock (waiting for it, or MMS_EBUSY
 * if WAIT is false and it is taken): consecutive indices, one CELLS block
 * per shard for the sharded ones. */
MMS_HIDDEN int mms__fields_add(mms_writer *w,
                               const struct mms_field_spec *specs, unsigned n,
                               bool wait, mms_field **out);
MMS_HIDDEN void mms__dropped(mms_writer *w, uint64_t n);
MMS_HIDDEN void mms__maybe_msync(mms_writer *w);

/* heap.c: blocks in the file. */
/* Allocate a block of TYPE and SIZE (multiple of 8) aligned to ALIGN (8 or
 * 64) from the prepared space: its offset with the header stored PENDING,
 * or 0 when no space can be had. May grow the file (slow path). */
MMS_HIDDEN uint64_t mms__block_alloc(mms_writer *w, uint16_t type,
                                     uint32_t size, uint32_t align);
/* The same inside the AREA at AREA_OFF: the offset, or 0 when the area
 * is full. */
MMS_HIDDEN uint64_t mms__area_alloc(mms_writer *w, uint64_t area_off,
                                    uint16_t type, uint32_t size);
/* Store the block's state (release) and count the publication. */
MMS_HIDDEN void mms__block_publish(mms_writer *w, struct mms_block *b,
                                   uint16_t bstate);
/* Make sure NEED more bytes are prepared, growing the file now if not
 * (system calls): 0, or a negative code. */
MMS_HIDDEN int mms__heap_reserve(mms_writer *w, uint64_t need);
/* The prepared space past the heap given back (the owner's exit). */
MMS_HIDDEN void mms__heap_trim(mms_writer *w);

/* file.c: directories, names, creation, growth and extents. */
MMS_HIDDEN int mms__default_dir(char *buf, size_t len, bool use_env);
/* Create DIR if missing, open and check it; *DFD_OUT, the absolute path
 * in ABS (when not NULL) and its device and inode. */
MMS_HIDDEN int mms__dir_prepare(const char *dir, int *dfd_out, char *abs,
                                size_t abs_len, dev_t *dev, ino_t *ino);
MMS_HIDDEN int mms__template_expand(char *out, size_t len, const char *tmpl,
                                    const char *exe, const char *label,
                                    const char *name, long pid);
/* Create NAME in DFD (w->dir) with INITIAL bytes allocated. FILL (NULL:
 * a fresh file: map extent 0, fill the header with LABEL, create shard 0)
 * maps the new file FD into w->ext and fills it; then the file becomes
 * READY and gets its name (on EEXIST, other names unless w->exact), and
 * w->path, w->file_dev and w->file_ino are set. */
typedef int (*mms__fill_fn)(mms_writer *w, int fd, void *arg);
MMS_HIDDEN int mms__file_create(mms_writer *w, int dfd, const char *name,
                                uint64_t initial, mms__fill_fn fill,
                                void *fill_arg, const char *label);
/* Extend the file to at least END bytes (rounded, with headroom): the
 * slow path of growth. 0, or a negative code (MMS_EBUSY: this thread's
 * own growth runs, interrupted by a signal handler; -EAGAIN: another
 * thread's runs: mms__grow_wait; MMS_EFULL: not allowed now). Keeps
 * errno. */
MMS_HIDDEN int mms__grow(mms_writer *w, uint64_t end);
/* Punch the whole pages of [OFF, OFF + LEN) out of the file (their
 * blocks freed, the size kept); best effort, keeps errno. */
MMS_HIDDEN void mms__file_punch(mms_writer *w, uint64_t off, uint64_t len);
/* Wait for another thread's growth to end (or, held by the same grower
 * for MMS_GROW_STALL_NS, clear its mark): true when the caller should try
 * again; false in no-syscall mode (seccomp), where it cannot wait. */
MMS_HIDDEN bool mms__grow_wait(mms_writer *w);
/* Waiting for another thread's work under way (a growth, a field add):
 * one step (spin, then yield) of a wait on MARK, the holder's mark
 * (0: unknown): 1 to go on, 0 where system calls are off (it cannot
 * wait), -1 when the same mark stayed w->stall_ns (MMS_GROW_STALL_NS;
 * tests change it). S starts zeroed. */
struct mms__wait {
    uint64_t i;
    int64_t since;
    uintptr_t mark;
};
MMS_HIDDEN int mms__wait_step(mms_writer *w, struct mms__wait *s,
                              uintptr_t mark);
/* Wait while *WORD holds MARK: 1 once it changed, else as mms__wait_step. */
MMS_HIDDEN int mms__wait_mark(mms_writer *w, const uintptr_t *word,
                              uintptr_t mark);
/* Take W's lock (field and table adds, fork): waiting, or with WAIT
 * false, as hooks do: never for this thread's own add (a signal handler
 * that interrupted it), for another thread's as mms__wait_mark does.
 * 0, or MMS_EBUSY. */
MMS_HIDDEN int mms__add_lock(mms_writer *w, bool wait);
MMS_HIDDEN void mms__add_unlock(mms_writer *w);
/* Map extent K of the file (opened by path) if it is not mapped yet. */
MMS_HIDDEN int mms__extent_map(mms_writer *w, uint32_t k);
MMS_HIDDEN void mms__header_identity(struct mms_file_header *h);

/* Lock M as the core takes its own mutexes (mms__set_mutex_lock). */
MMS_HIDDEN int mms__mutex_lock(pthread_mutex_t *m);

/* sys.c: raw system calls for the slow paths, so that the preload shim's
 * hooks (open, close, mmap...) never see the core's own calls. Each
 * returns the result or -errno and keeps errno. */
MMS_HIDDEN int mms__sys_open(const char *path, int flags, unsigned mode);
MMS_HIDDEN int mms__sys_close(int fd);
MMS_HIDDEN int mms__sys_fallocate(int fd, uint64_t off, uint64_t len);
MMS_HIDDEN int mms__sys_fstat(int fd, dev_t *dev, ino_t *ino, uint64_t *size);
MMS_HIDDEN void *mms__sys_mmap(void *addr, size_t len, int prot, int flags,
                               int fd, uint64_t off, int *err);
MMS_HIDDEN int mms__sys_munmap(void *addr, size_t len);

/* shard.c: shards, rows and thread exit. */
MMS_HIDDEN void mms__shard_init_once(void);
/* This thread's shard for W (claimed on first use): sets T. */
MMS_HIDDEN void mms__shard_acquire(mms_writer *w, struct mms__tls_ent *t);
/* Shard I's private state, or NULL. */
static inline struct mms__shard *mms__shard_get(mms_writer *w, uint32_t i)
{
    return mms__pages_get(&w->shards, i);
}
/* Shard I's private state is SH (NULL: none); false without memory. */
MMS_HIDDEN bool mms__shard_set(mms_writer *w, uint32_t i,
                               struct mms__shard *sh);
/* Shard ids handed out so far (the bound of a walk over the shards). */
static inline uint32_t mms__shards_made(mms_writer *w)
{
    uint32_t n = mms_load_acquire(&w->hdr->next_shard);
    return n < w->shard_limit ? n : w->shard_limit;
}
/* Create shard 0 (at file creation). */
MMS_HIDDEN int mms__shard0_create(mms_writer *w);
/* After fork, in the child's copy: the shards other than 0 and KEEP are
 * FREE; the private state agrees. */
MMS_HIDDEN void mms__shards_after_fork(mms_writer *w, uint32_t keep);

/* cells.c: a shard's cells. */
/* The cell of index I in shard SH for a group (FIRST, COUNT, BYTES) where
 * I sits at CELL_OFF: from the row, or a new CELLS block. NULL when no
 * space can be had. */
MMS_HIDDEN uint8_t *mms__cell_slow(mms_writer *w, struct mms__shard *sh,
                                   uint32_t i, uint32_t first, uint32_t count,
                                   uint32_t bytes, uint32_t cell_off);
/* Field F's cell for this thread (claiming a shard first if needed);
 * NULL with the update to drop. */
MMS_HIDDEN uint8_t *mms__field_cell_slow(mms_field *f, bool *owned);
/* The buckets of chunk C of the histogram cell at CELL (DIR: its chunk
 * offsets) for index I / MEMBER in shard SHARD: from the directory, or a
 * new chunk; NULL when no space can be had. Shard 0's are u64 (a CHUNK
 * block), a thread's own shard's u32 (3.2: a CHUNK32 block in the
 * shard's area; mms__chunk_carry past 2^32 - 1). */
MMS_HIDDEN void *mms__chunk_slow(mms_writer *w, uint32_t *dir, uint32_t c,
                                 uint32_t nb, uint32_t shard, uint32_t i,
                                 uint16_t member);
/* BUCKET, the K-th of a CHUNK32 block, has just wrapped past 2^32 - 1:
 * 2^32 goes to the same bucket in shard 0 (under the retire counters,
 * as a thread exit's move). Out of line: once per 2^32 values. */
MMS_HIDDEN void mms__chunk_carry(mms_writer *w, uint32_t *bucket, uint32_t k);
/* Move this thread's values in SH to shard 0 (thread exit). */
MMS_HIDDEN void mms__cells_retire(mms_writer *w, struct mms__shard *sh);
/* Zero every value of cells, chunks and tables in the writer's heap (a
 * fork child's copy). */
MMS_HIDDEN void mms__heap_zero_values(mms_writer *w);
/* The group of index I: {first, count, bytes, I's offset in the cells};
 * false if I is not a field or record. *SHARDED: I has a cell. */
MMS_HIDDEN bool mms__group_of(const mms_writer *w, uint32_t i, uint32_t g[4],
                              bool *sharded);

/* Lookup of this thread's cell of index I, the warm path. */
static inline uint8_t *mms__row_cell(const struct mms__shard *sh, uint32_t i)
{
    void **page = mms_load_relaxed(&sh->row.dir[i >> MMS_PAGE_SHIFT]);
    return page ? (uint8_t *)mms_load_relaxed(&page[i & (MMS_PAGE_LEN - 1)])
                : NULL;
}

/* Tagged entries of the writer's index table and name index: a field, a
 * table, or (for a record) its table, the tag in the pointer's low bits
 * (fields and tables are 16-aligned). Pointer arithmetic, not integer
 * casts, so the pointers keep their provenance. */
static inline void *mms__ix_make(const void *p, unsigned tag)
{
    return (char *)p + tag;
}
static inline unsigned mms__ix_tag(const void *e)
{
    return (unsigned)((uintptr_t)e & MMS__IX_TAG);
}
static inline void *mms__ix_ptr(const void *e)
{
    return (char *)e - mms__ix_tag(e);
}
/* What index I is (a tagged entry), or NULL. */
static inline void *mms__ix_get(const mms_writer *w, uint32_t i)
{
    return mms__pages_get(&w->ix, i);
}

/* table.c */
MMS_HIDDEN uint8_t *mms__record_cell_slow(mms_table *t, uint32_t rec,
                                          bool *owned);

/* rollup.c: the writer's keep policy and rollup group from its options
 * (and the environment unless MMS_W_NO_ENV). */
MMS_HIDDEN void mms__writer_keep_init(mms_writer *w,
                                      const struct mms_writer_options *o,
                                      const char *label);

/* liveness.c: whether the process that wrote header H runs, whatever
 * the file's state: MMS_LIVE_RUNNING, _DEAD (a zombie too), _PID_REUSED
 * or _UNKNOWN. */
MMS_HIDDEN int mms__process_liveness(const struct mms_file_header *h);

/* fork.c */
MMS_HIDDEN void mms__fork_handlers_once(void);

/* ------------------------------------------------------------- reader */

#define MMS_SEQ_RETRIES 10000 /* seqlocked values: tries before MMS_EBUSY */

/* A checked field (everything here has passed validation). */
struct mms__rfield {
    uint8_t kind, flags, type;
    uint8_t bits, max_exp, win_bits; /* HISTOGRAM */
    uint32_t index;
    uint32_t cell_size;  /* SHARDED */
    uint64_t value_off;  /* unsharded: absolute offset of the value */
    uint32_t value_size; /* unsharded */
    uint32_t nbuckets, nchunks, win_nbuckets, win_off;
    uint32_t n; /* STRUCT members, MOVAVG capacity */
};

struct mms__rmember {
    uint8_t kind, bits, max_exp;
    uint32_t off, size, nbuckets, nchunks;
};

struct mms__rtable {
    struct mms_table_info info; /* strings in names[] below */
    struct mms_table_member members[MMS_TABLE_MAX_MEMBERS];
    struct mms__rmember m[MMS_TABLE_MAX_MEMBERS];
    uint64_t off; /* the TABLE block, for its counters */
    uint32_t cell_size;
    uint32_t *recs; /* record numbers, in walk order */
    uint32_t nrecs, caprecs;
    char *text; /* names, units, help */
};

struct mms__rrecord {
    uint32_t table; /* table number */
    uint32_t index;
    uint64_t key_off; /* absolute */
    uint32_t key_len;
    bool overflow;
};

/* A READY cell of a field or record, in walk order. */
#define MMS__RC_RECORD 0x80000000u
/* A cell the walk found (8 bytes: a 10,000-field, 64-thread file has
 * 640,000). Its shard is its run's. */
struct mms__rcell {
    uint32_t off;   /* absolute offset of the cell */
    uint32_t owner; /* field number, or record number | MMS__RC_RECORD */
};

/* Cells [FROM, the next run's FROM) are of shard SHARD: the walk takes
 * them an area at a time. */
struct mms__rrun {
    uint32_t from, shard;
};

struct mms__rarea {
    uint64_t off;
    uint32_t size, pos, shard;
};

struct mms__rshard {
    uint32_t id;
    uint64_t off;
};

/* What an index is, for the reader. */
enum { MMS__R_NONE, MMS__R_FIELD, MMS__R_TABLE, MMS__R_RECORD };
struct mms__rix {
    uint32_t what : 2;
    uint32_t num : 30;
};

/* A growable array of ELEM-byte items. */
struct mms__vec {
    void *p;
    size_t n, cap;
};
MMS_HIDDEN void *mms__vec_push(struct mms__vec *v, size_t elem);
MMS_HIDDEN void mms__vec_free(struct mms__vec *v);

struct mms_snapshot;

struct mms_reader {
    const uint8_t *base;
    size_t map_size;
    int fd;
    bool broken; /* a SIGBUS hit it: every call answers MMS_ETRUNCATED */
    struct mms_file_header h; /* copy of the immutable header fields */
    const struct mms_file_header *live; /* the mapped header */
    char path[PATH_MAX];
    /* the walk */
    uint64_t pos, last_gen, last_used;
    struct mms__vec pending; /* uint64_t offsets of PENDING blocks */
    struct mms__vec areas;   /* struct mms__rarea */
    struct mms__vec orphans; /* CELLS offsets (uint64_t) of unknown indices */
    /* what it found */
    struct mms__rix **ix; /* paged: index -> what */
    uint32_t ix_pages;
    /* index -> the size of its one-cell CELLS block and the cell's owner
     * (block size 0: not known, or no cells): the walk's fast path for
     * the 640,000 such blocks of a 10,000-field, 64-thread file. */
    struct mms__rcellix {
        uint32_t block_size, owner;
    } * cellix;
    uint32_t ncellix;
    size_t nfields, cap;
    struct mms_field_info **infos; /* never move: snapshots keep pointers */
    struct mms__vec slabs;         /* void *: the memory the infos are in */
    uint8_t *slab;                 /* the slab infos are carved from now */
    size_t slab_used;              /* bytes of it taken */
    size_t slab_size;              /* bytes of it */
    struct mms__rfield *rf;
    struct mms__vec cells;      /* struct mms__rcell */
    struct mms__vec runs;       /* struct mms__rrun: the cells' shards */
    size_t cells_ready;         /* bytes of cells.p mapped (cells_room) */
    const void *cells_ready_p;  /* ... when cells.p was this */
    struct mms__vec shards;     /* struct mms__rshard */
    struct mms__vec tables;     /* struct mms__rtable * */
    struct mms__vec records;    /* struct mms__rrecord */
    struct mms_snapshot *spare; /* a freed snapshot's buffers, reused */
    uint64_t released;          /* the walk's last mms__reader_release */
    bool snapped;               /* a snapshot was taken (see cells_pass) */
    /* Opening walks the heap and leaves the areas' cells to the first
     * walk after it (areas_due), the first snapshot's: it reads each
     * area's cells right after walking them (on_cells, called with ARG
     * after each area walked), so that a large file goes through the
     * cache once, not once to validate and once more to read. */
    bool defer_areas, areas_due;
    void (*on_cells)(void *arg);
    void *on_cells_arg;
};
/* The shard of the reader's cell K. */
MMS_HIDDEN uint32_t mms__reader_cell_shard(const mms_reader *r, size_t k);
/* Map [P, P + LEN) of fresh private memory at once (one system call)
 * when it is large: a large snapshot's arena or a cell table is written
 * all over soon after, and a page fault per page was most of the system
 * time of reading a 64 MB file (10,000 faults). */
MMS_HIDDEN void mms__prefault(void *p, size_t len);
/* Give the mapped pages of [heap_off, UPTO) back to the page cache if
 * UPTO is a step past *MARK (then *MARK = UPTO): large files only; the
 * next step's pages mapped in one call (only that if KEEP). The test
 * inline: a pass calls it for each of 640,000 cells. */
#define MMS__RELEASE_STEP (4ull << 20)
/* Files up to this size keep their pages through the walk: the first
 * snapshot, which reads them all again at once, gives them back behind
 * it (mapping them twice was a fifth of a 28 MB file's reading). */
#define MMS__KEEP_MAPPED (32ull << 20)
MMS_HIDDEN void mms__reader_release_pages(mms_reader *r, uint64_t upto,
                                          uint64_t *mark, bool keep);
static inline void mms__reader_release(mms_reader *r, uint64_t upto,
                                       uint64_t *mark, bool keep)
{
    if (upto >= *mark + MMS__RELEASE_STEP)
        mms__reader_release_pages(r, upto, mark, keep);
}

/* [off, off + len) inside [0, limit)? In 64 bits, with no overflow. */
static inline bool mms__in_bounds(uint64_t off, uint64_t len, uint64_t limit)
{
    return off <= limit && len <= limit - off;
}

/* snapshot.c: a field's per-second slots merged over cells (and, in a
 * merge, over files): position by position, a newer second replacing, the
 * same adding. */
struct mms__ring {
    uint64_t sec[MMS_WINDOW_SLOTS];
    uint64_t count[MMS_WINDOW_SLOTS];
    uint64_t sum[MMS_WINDOW_SLOTS];
    uint64_t *buckets; /* HISTOGRAM: [MMS_WINDOW_SLOTS][win_nbuckets] */
};
MMS_HIDDEN void mms__ring_merge(struct mms__ring *r, uint32_t p, uint64_t sec,
                                uint64_t count, uint64_t sum, const uint64_t *b,
                                uint32_t nb);
/* The window of SECONDS ending at NOW_NS of ring R of field F (ALL: the
 * field's all-time histogram, bounding the window's min and max). */
MMS_HIDDEN int mms__ring_window(const struct mms__ring *r,
                                const struct mms__rfield *f,
                                const struct mms_hist *all, unsigned seconds,
                                int64_t now_ns, struct mms_window *out);
/* Snapshot S's ring of field I (NULL without MMS_DF_WINDOW), its checked
 * field, and the bytes of unsharded field I (value_size of them). */
MMS_HIDDEN const struct mms__ring *mms__snapshot_ring(const mms_snapshot *s,
                                                      size_t i);
MMS_HIDDEN const struct mms__rfield *mms__snapshot_rfield(const mms_snapshot *s,
                                                          size_t i);
MMS_HIDDEN int mms__snapshot_raw(const mms_snapshot *s, size_t i, uint8_t *dst);

/* merge.c: mms_merge_add; DEAD: the file's process died without
 * finishing (its values count as of its start). */
MMS_HIDDEN int mms__merge_add(mms_merge *m, mms_reader *r,
                              const mms_snapshot *s,
                              bool (*want)(const char *name, void *arg),
                              void *arg, bool dead);
/* merge.c, for rollup.c: a merged field's geometry, last value's bytes
 * (NULL if none) and merged ring (NULL without MMS_DF_WINDOW). */
MMS_HIDDEN const struct mms__rfield *mms__merge_rfield(const mms_merge *m,
                                                       size_t i);
MMS_HIDDEN const uint8_t *mms__merge_raw(const mms_merge *m, size_t i);
MMS_HIDDEN const struct mms__ring *mms__merge_ring(const mms_merge *m,
                                                   size_t i);

/* reader.c, for snapshot.c: make sure the mapping covers the heap. */
MMS_HIDDEN int mms__reader_walk(mms_reader *r);
/* Validate the chunk offset OFF for (index, member, chunk, shard, nb):
 * the buckets, or NULL; *WIDE: u64 buckets (a CHUNK block), else u32 (a
 * CHUNK32 block, 3.2). */
MMS_HIDDEN const void *mms__reader_chunk(mms_reader *r, uint32_t off,
                                         uint32_t index, uint16_t member,
                                         uint16_t chunk, uint32_t shard,
                                         uint32_t nb, bool *wide);
/* 3.2: the slots of the RING block at OFF named by a cell of field INDEX
 * in SHARD (checked), or NULL. */
MMS_HIDDEN const struct mms_window_slot *
mms__reader_ring(mms_reader *r, uint64_t off, uint32_t index, uint32_t shard);

/* guard.c: reads of a mapping that may shrink under the reader. A SIGBUS
 * in a guarded region returns to mms__guard's sigsetjmp. */
#include <setjmp.h>
struct mms__guard {
    sigjmp_buf jb;
    struct mms__guard *prev;
};
MMS_HIDDEN void mms__guard_push(struct mms__guard *g);
MMS_HIDDEN void mms__guard_pop(struct mms__guard *g);
/* RC = EXPR (an int), evaluated guarded; on SIGBUS, R is marked broken
 * and RC is MMS_ETRUNCATED. */
#define MMS__GUARDED(r, rc, expr)                                              \
    do {                                                                       \
        struct mms__guard mms__g;                                              \
        volatile int mms__rc = 0;                                              \
        mms__guard_push(&mms__g);                                              \
        if (sigsetjmp(mms__g.jb, 0) == 0) {                                    \
            mms__rc = (expr);                                                  \
        } else {                                                               \
            (r)->broken = true;                                                \
            mms__rc = MMS_ETRUNCATED;                                          \
        }                                                                      \
        mms__guard_pop(&mms__g);                                               \
        (rc) = mms__rc;                                                        \
    } while (0)

/* ------------------------------------------------------ shared helpers */

/* procinfo.c */
MMS_HIDDEN int mms__proc_start_ticks(pid_t pid, uint64_t *out);
/* The same, and the state letter (field 3: 'Z' a zombie, 'X' dead). */
MMS_HIDDEN int mms__proc_stat(pid_t pid, uint64_t *out, char *state);
MMS_HIDDEN size_t mms__proc_cmdline(char *buf, size_t len);
MMS_HIDDEN const char *mms__proc_exe(void);
MMS_HIDDEN int64_t mms__now_ns(int clock);
MMS_HIDDEN ssize_t mms__read_small(const char *path, char *buf, size_t len);
/* The NSpid line of /proc/PID/status (PID 0: self): entries, or -errno. */
MMS_HIDDEN int mms__proc_nspid(pid_t pid, int32_t *out, int max);
MMS_HIDDEN int mms__boot_id(uint8_t out[16]);
MMS_HIDDEN int mms__pidns(pid_t pid, uint64_t *dev, uint64_t *ino);

/* name.c: the name check on a counted string (file bytes). */
MMS_HIDDEN int mms__name_check_n(const char *name, size_t len);
MMS_HIDDEN bool mms__member_name_ok(const char *n, size_t len);

/* hist.c, and the bucket index inlined into the writer's hot path. */
MMS_HIDDEN bool mms__hist_geom_ok(unsigned bits, unsigned max_exp);
static inline uint32_t mms__hist_nchunks(unsigned bits, unsigned max_exp)
{
    return max_exp - bits + 2;
}
/* Bytes of a histogram cell's head (seq/count/sum/min_inv/max or, in a
 * record, count/sum/min_inv/max) and chunk directory. */
static inline uint32_t mms__hist_cell_bytes(uint32_t head, uint32_t nchunks)
{
    return (uint32_t)mms__round_up(head + 4u * nchunks, 8);
}
/* Buckets in chunk C. */
static inline uint32_t mms__chunk_nb(uint32_t nbuckets, unsigned bits,
                                     uint32_t c)
{
    uint32_t first = c << bits, n = 1u << bits;
    return nbuckets - first < n ? nbuckets - first : n;
}
static inline uint32_t mms__chunk_block_size(uint32_t nb)
{
    return (uint32_t)mms__round_up(sizeof(struct mms_chunk_block) + 8ull * nb,
                                   MMS_LINE);
}
/* A CHUNK32 block's (3.2: u32 buckets, in a thread's own shard's area). */
static inline uint32_t mms__chunk32_block_size(uint32_t nb)
{
    return (uint32_t)mms__round_up(sizeof(struct mms_chunk_block) + 4ull * nb,
                                   8);
}

/* Copy a string into a fixed NUL-padded field, always terminated. */
MMS_HIDDEN void mms__strlcpy(char *dst, const char *src, size_t size);
MMS_HIDDEN uint32_t mms__fnv1a(const void *p, size_t len);

#endif /* MMS_INTERNAL_H */
