/* Private declarations shared by the files of libmmstats (mms__ prefix).
 * Nothing here is part of the public API or of the file format. */
#ifndef MMS_INTERNAL_H
#define MMS_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mmstats/mmstats.h>

#include "atomic.h"

#define MMS_HIDDEN __attribute__((visibility("hidden")))
#define MMS_LIKELY(x) __builtin_expect(!!(x), 1)
#define MMS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MMS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Writers open at once in one process: each owns one slot of the per-thread
 * shard cache below. Small, because that cache is static TLS. */
#define MMS_MAX_WRITERS 8

/* Defaults for struct mms_writer_options. */
#define MMS_DEF_MAX_FIELDS 1024u
#define MMS_DEF_STRING_BYTES (64u * 1024)
#define MMS_DEF_GLOBAL_BYTES (64u * 1024)
#define MMS_DEF_SHARD_BYTES (1024u * 1024) /* reserved, not allocated */
#define MMS_POPULATE_CHUNK (16u * 1024)
#define MMS_DEF_MAX_SHARDS 64u
#define MMS_MAX_FILE_SIZE (1ull << 32) /* offsets in the format are u32 */
#define MMS_STRING_DEFAULT_CAP 64u
#define MMS_STRING_MAX_CAP 65536u

/* Where the sections of a file are (the header's geometry). */
struct mms__file_geom {
    uint32_t desc_off, desc_cap;
    uint32_t str_off, str_cap;
    uint32_t glob_off, glob_cap;
    uint32_t shtab_off;
    uint64_t shard_off;
    uint32_t shard_size, shard_cap;
    uint64_t file_size;
};

/* In-process view of one field; handles point here. The on-file
 * descriptor holds the same facts for readers. */
struct mms_field {
    mms_writer *w;
    uint32_t off;   /* absolute file offset, or shard-relative if sharded */
    uint32_t size;  /* value bytes */
    uint32_t index; /* descriptor index */
    uint8_t kind;
    uint8_t flags;
    uint8_t bits, max_exp, win_bits; /* HISTOGRAM geometry */
    uint32_t win_off;      /* HISTOGRAM/COUNTER with MMS_DF_WINDOW: ring */
    uint32_t win_nbuckets; /* HISTOGRAM with MMS_DF_WINDOW */
    uint32_t n;            /* STRUCT members, MOVAVG capacity */
    const char *name;      /* NUL-terminated copy in the file's string table */
};

struct mms_writer {
    uint8_t *base; /* the whole file, mapped shared */
    size_t map_size;
    struct mms_file_header *hdr;
    uint32_t *shtab;      /* shard state table, in the file */
    uint32_t slot;        /* index in mms__writers and the TLS cache */
    uint32_t id;          /* unique per process lifetime, never 0 */
    uint32_t next_shard;  /* atomic; next never-used shard index */
    uint32_t populated;   /* bytes of each handed-out shard with pages */
    unsigned flags;       /* MMS_W_* */
    pthread_mutex_t lock; /* serialises field adds, never taken by updates */
    bool shared_child;    /* a child of fork() sharing the parent's file: it
                             may not add fields (the parent's lock and field
                             table are not its own) */
    uint32_t nfields;
    uint32_t max_fields;
    struct mms_field *fields;  /* [max_fields] */
    uint32_t *index;           /* open-addressing name index, [index_cap] */
    uint32_t index_cap;        /* power of two, >= 2 * max_fields */
    size_t self_size;          /* bytes of the anonymous mapping holding *w */
    int64_t (*clock_ns)(void); /* window clock; NULL: monotonic coarse */
    void (*thread_exit_cb)(void); /* see mms__writer_on_thread_exit */
    bool no_syscalls;             /* see mms__writer_no_syscalls */
    /* How the file was named, to name a forked child's file alike. */
    struct mms__file_geom geom;
    bool exact;
    char dir[PATH_MAX];
    char name_arg[NAME_MAX + 1]; /* exact: the file name; else template */
    char label[MMS_LABEL_LEN + 1];
    char model[MMS_LABEL_LEN + 1];
    char path[PATH_MAX];
};

/* Per-thread cache of the shard a thread writes for each writer slot.
 * initial-exec TLS: no allocation on first access (safe in malloc hooks). */
struct mms__tls_ent {
    uint32_t wid;   /* writer id this entry is for; 0: none */
    uint32_t shard; /* 0: the shared shard (atomic adds) */
    uint8_t *base;  /* start of the shard */
};
extern __thread struct mms__tls_ent mms__tls[MMS_MAX_WRITERS]
    __attribute__((tls_model("initial-exec")));

/* shard.c */
struct mms__shard_ref {
    uint8_t *base; /* start of the shard to write */
    bool owned;    /* this thread's own shard: plain adds; else atomic */
};
MMS_HIDDEN struct mms__shard_ref mms__shard_acquire(mms_writer *w,
                                                    struct mms__tls_ent *t);
MMS_HIDDEN void mms__shard_init_once(void);
/* Allocate pages [from, to) of every shard handed out so far (called with
 * w->lock held when a sharded field grows shard_local_used). */
MMS_HIDDEN int mms__shards_populate(mms_writer *w, uint32_t to);
/* Allocate the pages behind [p, p + len) of a shared file mapping. */
MMS_HIDDEN int mms__populate(uint8_t *p, size_t len);

/* The shard this thread writes for W: one TLS load and compare when warm. */
static inline struct mms__shard_ref mms__shard(mms_writer *w)
{
    struct mms__tls_ent *t = &mms__tls[w->slot];
    if (MMS_LIKELY(t->wid == w->id))
        return (struct mms__shard_ref){t->base, t->shard != 0};
    return mms__shard_acquire(w, t);
}

/* writer.c: the registry of open writers, indexed by slot. */
extern mms_writer *mms__writers[MMS_MAX_WRITERS];
extern pthread_mutex_t mms__registry_lock;

/* mms_field_add that never waits: MMS_EBUSY if another thread (or the
 * code a signal handler interrupted) is adding a field. */
MMS_HIDDEN int mms__field_add_try(mms_writer *w,
                                  const struct mms_field_spec *spec,
                                  mms_field **out);

/* Add N fields under w->lock (waiting for it, or MMS_EBUSY if WAIT is
 * false and it is taken): fields added together are laid out in order. */
MMS_HIDDEN int mms__fields_add_locked(mms_writer *w,
                                      const struct mms_field_spec *specs,
                                      unsigned n, bool wait, mms_field **out);

/* fork.c */
MMS_HIDDEN void mms__fork_handlers_once(void);

/* file.c: directories, names and creation of the file. */
MMS_HIDDEN int mms__geom_compute(struct mms__file_geom *g, uint32_t max_fields,
                                 uint32_t str_bytes, uint32_t glob_bytes,
                                 uint32_t shard_bytes, uint32_t max_shards);
MMS_HIDDEN int mms__default_dir(char *buf, size_t len, bool use_env);
MMS_HIDDEN int mms__dir_prepare(const char *dir, int *dfd_out);
MMS_HIDDEN int mms__template_expand(char *out, size_t len, const char *tmpl,
                                    const char *exe, const char *label,
                                    const char *name, long pid);
/* Create NAME in DFD, sized and reserved for G, with a header filled in,
 * FILL (if not NULL) run on the new mapping, and state READY; then give it
 * its name. On EEXIST tries NAME with -1, -2, ... suffixes unless EXACT. */
typedef int (*mms__fill_fn)(uint8_t *map, void *arg);
MMS_HIDDEN int mms__file_create(int dfd, const char *dir, const char *name,
                                bool exact, const struct mms__file_geom *g,
                                const char *label, mms__fill_fn fill,
                                void *fill_arg, uint8_t **map_out,
                                char *path_out, size_t path_len);

/* reader.c: the reader's checked, private view of a file. Everything in
 * rfield has passed validation; snapshot.c trusts it. */
#define MMS_SEQ_RETRIES 10000 /* seqlocked values: tries before MMS_EBUSY */

struct mms__rfield {
    uint8_t kind, flags;
    uint8_t bits, max_exp, win_bits; /* HISTOGRAM */
    uint32_t off, size;
    uint32_t nbuckets, win_nbuckets, win_off; /* HISTOGRAM, windows */
    uint32_t n; /* STRUCT members, MOVAVG capacity */
};

struct mms_reader {
    const uint8_t *base;
    size_t map_size;
    struct mms_file_header h; /* checked copy; geometry never re-read */
    const struct mms_file_header *live; /* the mapped header */
    char path[PATH_MAX];
    size_t nfields, cap;
    struct mms_field_info **infos; /* never move: snapshots keep pointers */
    struct mms__rfield *rf;
};

/* [off, off + len) inside [0, limit)? In 64 bits, with no overflow. */
static inline bool mms__in_bounds(uint64_t off, uint64_t len, uint64_t limit)
{
    return off <= limit && len <= limit - off;
}

/* procinfo.c */
MMS_HIDDEN int mms__proc_start_ticks(pid_t pid, uint64_t *out);
MMS_HIDDEN size_t mms__proc_cmdline(char *buf, size_t len);
MMS_HIDDEN const char *mms__proc_exe(void);
MMS_HIDDEN int64_t mms__now_ns(int clock);

/* name.c: the name check on a counted string (file bytes). */
MMS_HIDDEN int mms__name_check_n(const char *name, size_t len);

/* hist.c, and the bucket index inlined into the writer's hot path. */
MMS_HIDDEN bool mms__hist_geom_ok(unsigned bits, unsigned max_exp);
static inline uint32_t mms__hist_index(uint64_t v, unsigned bits,
                                       unsigned max_exp)
{
    if (v < ((uint64_t)1 << bits))
        return (uint32_t)v;
    if (MMS_UNLIKELY(v >> max_exp))
        return ((max_exp - bits + 1) << bits);
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    return ((e - bits + 1) << bits) + (uint32_t)(v >> (e - bits)) -
           (1u << bits);
}

/* Copy a string into a fixed NUL-padded field, always terminated. */
MMS_HIDDEN void mms__strlcpy(char *dst, const char *src, size_t size);

#endif /* MMS_INTERNAL_H */
