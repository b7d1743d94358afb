/* The on-disk layout of a stats file, format version 2: constants and
 * fixed-size structs only, no code. Mirrored byte by byte by docs/format.md;
 * a change here is a change there, and a new minor (or major) version. */
#ifndef MMSTATS_FORMAT_H
#define MMSTATS_FORMAT_H

#include <stdint.h>

#define MMS_MAGIC "MMSTATS" /* 8 bytes with the trailing NUL */
#define MMS_MAGIC_LEN 8
#define MMS_ENDIAN_MARK 0x01020304u /* written in the writer's byte order */
#define MMS_VERSION_MAJOR 2
#define MMS_VERSION_MINOR 0

/* Header states (mms_file_header.state). */
enum mms_state {
    MMS_STATE_INIT = 1,     /* header being filled; readers wait or retry */
    MMS_STATE_READY = 2,    /* the writer is running */
    MMS_STATE_FINISHED = 3, /* the writer exited normally; data is final */
};

/* Field kinds (mms_desc.kind). Readers skip kinds they do not know: the
 * descriptor always says where the value is and how large it is. */
enum mms_kind {
    MMS_KIND_COUNTER = 1,   /* u64, sharded: the value is the sum of shards */
    MMS_KIND_GAUGE = 2,     /* i64 global cell, atomic store/add */
    MMS_KIND_GAUGE_F64 = 3, /* IEEE-754 double global cell */
    MMS_KIND_STRING = 4,    /* seqlocked global string (mms_string_cell) */
    MMS_KIND_HISTOGRAM = 5, /* log-linear histogram, sharded (timers too) */
    MMS_KIND_STRUCT = 6,    /* seqlocked struct of named 8-byte members */
    MMS_KIND_MOVAVG = 7,    /* seqlocked ring of the last N values */
};

/* Descriptor flags (mms_desc.flags). */
#define MMS_DF_SHARDED 0x01u /* value_off is an offset inside every shard */
#define MMS_DF_STATIC 0x02u  /* written once at creation, never changes */
#define MMS_DF_WINDOW 0x04u  /* COUNTER/HISTOGRAM: per-second ring follows */

/* Limits shared by writer and reader. */
#define MMS_NAME_MAX 127     /* field name bytes, without NUL */
#define MMS_UNITS_MAX 31     /* units string bytes */
#define MMS_HELP_MAX 255     /* help text bytes */
#define MMS_EXE_LEN 64       /* header exe field, NUL-padded */
#define MMS_LABEL_LEN 64     /* header label field, NUL-padded */
#define MMS_HOST_LEN 64      /* header hostname field, NUL-padded */
#define MMS_CMDLINE_LEN 1024 /* header cmdline, args joined by NUL */
#define MMS_HEADER_SIZE 4096
#define MMS_DESC_SIZE 64
#define MMS_SHARD_ALIGN 64 /* shards start on a cache line */
#define MMS_VALUE_ALIGN 8

/* The first 24 bytes never change across versions. */
struct mms_file_prefix {
    char magic[MMS_MAGIC_LEN]; /*  0 "MMSTATS\0" */
    uint32_t endian;           /*  8 MMS_ENDIAN_MARK */
    uint16_t major;            /* 12 */
    uint16_t minor;            /* 14 */
    uint32_t state;            /* 16 enum mms_state, atomic */
    uint32_t header_size;      /* 20 bytes from 0 to the end of the header */
};

/* Header, at offset 0. All offsets are from the start of the file. The
 * fields marked "atomic" change while the writer runs; the rest are written
 * before state leaves MMS_STATE_INIT and never change. */
struct mms_file_header {
    struct mms_file_prefix p; /*   0 */
    uint32_t flags;           /*  24 reserved, 0 */
    uint32_t uid;             /*  28 effective uid of the writer */
    int32_t pid;              /*  32 */
    int32_t ppid;             /*  36 */
    uint64_t start_ticks;     /*  40 /proc/<pid>/stat field 22 */
    int64_t created_ns;       /*  48 CLOCK_REALTIME, ns since the epoch */
    int64_t finished_ns;      /*  56 atomic; set when state -> FINISHED */
    uint64_t layout_gen;      /*  64 atomic; odd while a field is added */
    uint64_t file_size;       /*  72 size the file was created with */

    uint32_t desc_off;   /*  80 descriptor table */
    uint32_t desc_cap;   /*  84 slots */
    uint32_t desc_count; /*  88 atomic; published descriptors */
    uint32_t desc_size;  /*  92 MMS_DESC_SIZE */

    uint32_t str_off;  /*  96 string table */
    uint32_t str_cap;  /* 100 bytes */
    uint32_t str_used; /* 104 atomic; bytes in use */
    uint32_t gid;      /* 108 effective gid of the writer */

    uint32_t glob_off;  /* 112 global value cells */
    uint32_t glob_cap;  /* 116 bytes */
    uint32_t glob_used; /* 120 atomic; bytes in use */
    uint32_t shtab_off; /* 124 shard state table: shard_cap x u32 */

    uint64_t shard_off; /* 128 shard 0; shard i at shard_off + i * shard_size */
    uint32_t shard_size;       /* 136 bytes per shard, multiple of 64 */
    uint32_t shard_cap;        /* 140 shards reserved (shard 0 is shared) */
    uint32_t shard_local_used; /* 144 atomic; bytes of each shard in use */
    uint32_t shards_active;    /* 148 atomic; shards owned by live threads */
    uint64_t threads_seen;     /* 152 atomic; shards handed to threads */

    char exe[MMS_EXE_LEN];         /* 160 */
    char label[MMS_LABEL_LEN];     /* 224 */
    char host[MMS_HOST_LEN];       /* 288 */
    uint32_t cmdline_len;          /* 352 bytes used in cmdline */
    uint32_t reserved0;            /* 356 */
    char cmdline[MMS_CMDLINE_LEN]; /* 360 args separated by NUL */
    /* 1384 .. MMS_HEADER_SIZE: reserved, zero */
};

/* Shard state table entries (u32 each). A reader sums the shards whose
 * entry is OWNED or FREE: only those have pages behind them. */
enum mms_shard_state {
    MMS_SHARD_UNUSED = 0,   /* never handed out; pages may not exist */
    MMS_SHARD_OWNED = 1,    /* owned by a live thread (or shared: shard 0) */
    MMS_SHARD_FREE = 2,     /* its thread exited; counts stay; reusable */
    MMS_SHARD_RESERVED = 3, /* being handed out; pages may not exist yet */
};

/* One descriptor, MMS_DESC_SIZE bytes. Written completely before
 * desc_count is raised past it (release); never modified afterwards. */
struct mms_desc {
    uint32_t name_off;   /*  0 string table offset (relative to str_off) */
    uint16_t name_len;   /*  4 */
    uint8_t kind;        /*  6 enum mms_kind */
    uint8_t flags;       /*  7 MMS_DF_* */
    uint32_t value_off;  /*  8 absolute, or shard-relative if SHARDED */
    uint32_t value_size; /* 12 bytes */
    uint32_t units_off;  /* 16 string table offset, 0 with units_len 0 */
    uint16_t units_len;  /* 20 */
    uint16_t help_len;   /* 22 */
    uint32_t help_off;   /* 24 */
    uint32_t reserved0;  /* 28 */
    uint8_t param[32];   /* 32 kind-specific parameters, zero if unused */
};

/* A string value: seqlocked cell in the global area.
 * value_size = 16 + capacity (capacity a multiple of 8). */
struct mms_string_cell {
    uint64_t seq; /* even: stable; odd: being written */
    uint32_t len; /* bytes of data in use, <= capacity */
    uint32_t reserved0;
    /* char data[capacity] follows */
};

/* ---- Histograms (kind 5) -------------------------------------------
 * Log-linear buckets: values below 2^bits each have their own bucket;
 * above, every power of two [2^e, 2^(e+1)) is split into 2^bits equal
 * buckets; values >= 2^max_exp go to one overflow bucket (the last).
 *   nbuckets = (max_exp - bits + 1) * 2^bits + 1
 *   index(v) = v                                   if v < 2^bits
 *            = (e - bits + 1) * 2^bits + (v >> (e - bits)) - 2^bits
 *                                     with e = floor(log2 v), v < 2^max_exp
 *            = nbuckets - 1                        if v >= 2^max_exp
 * The bucket's width relative to its lower bound is at most 2^-bits. */
#define MMS_HIST_BITS_MIN 1
#define MMS_HIST_BITS_MAX 7
#define MMS_HIST_MAX_EXP_MAX 63
#define MMS_WINDOW_SLOTS 64 /* per-second slots; windows up to 60 s */

/* mms_desc.param for HISTOGRAM. */
struct mms_hist_param {
    uint8_t bits;          /* 0 */
    uint8_t max_exp;       /* 1 */
    uint8_t win_bits;      /* 2 with MMS_DF_WINDOW: ring histogram precision */
    uint8_t reserved0;     /* 3 */
    uint32_t nbuckets;     /* 4 */
    uint32_t win_nbuckets; /* 8 with MMS_DF_WINDOW, else 0 */
    uint32_t win_off;      /* 12 ring offset inside the value, else 0 */
};

/* Per shard, a histogram value is (one seqlock per shard, written by the
 * shard's thread; in the shared shard 0, by atomic adds and no seqlock):
 *   u64 seq; u64 count; u64 sum; u64 min_inv (~min, 0: empty); u64 max;
 *   u64 buckets[nbuckets];
 * then, with MMS_DF_WINDOW, at win_off, MMS_WINDOW_SLOTS slots of
 *   u64 sec (CLOCK_MONOTONIC seconds); u64 count; u64 sum;
 *   u64 buckets[win_nbuckets]
 * The slot for second S is S % MMS_WINDOW_SLOTS; a slot whose sec is not
 * S holds an older second and is ignored, as is a sec with bit 63 set (a
 * slot being reset for a new second: its old values taken away, then the
 * new sec stored with release). */
struct mms_hist_cell {
    uint64_t seq;
    uint64_t count;
    uint64_t sum;
    uint64_t min_inv;
    uint64_t max;
    /* uint64_t buckets[nbuckets] follows */
};

struct mms_hist_slot {
    uint64_t sec;
    uint64_t count;
    uint64_t sum;
    /* uint64_t buckets[win_nbuckets] follows */
};

/* A windowed counter (COUNTER with MMS_DF_WINDOW), per shard:
 *   u64 total; then MMS_WINDOW_SLOTS slots of { u64 sec; u64 sum; } */
struct mms_window_slot {
    uint64_t sec;
    uint64_t sum;
};

/* ---- Struct values (kind 6) ------------------------------------------
 * Global cell: u64 seq; then nmembers 8-byte members. The schema is in the
 * string table at schema_off: per member { u8 type; u8 name_len;
 * name bytes; NUL }. */
enum mms_member_type {
    MMS_MEMBER_U64 = 1,
    MMS_MEMBER_I64 = 2,
    MMS_MEMBER_F64 = 3,
};
#define MMS_STRUCT_MAX_MEMBERS 32
#define MMS_MEMBER_NAME_MAX 31

struct mms_struct_param {
    uint32_t schema_off; /* 0 string table offset */
    uint16_t nmembers;   /* 4 */
    uint16_t schema_len; /* 6 bytes */
};

/* ---- Moving averages (kind 7) ----------------------------------------
 * Global cell: u64 seq; u64 n (values ever added); f64 ring[capacity].
 * The value at position (n - 1) % capacity is the newest. */
struct mms_movavg_param {
    uint32_t capacity; /* 0 */
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct mms_file_prefix) == 24, "prefix is frozen");
_Static_assert(sizeof(struct mms_file_header) == 1384, "header layout");
_Static_assert(sizeof(struct mms_desc) == MMS_DESC_SIZE, "descriptor size");
_Static_assert(sizeof(struct mms_string_cell) == 16, "string cell");
_Static_assert(sizeof(struct mms_hist_param) == 16, "hist param");
_Static_assert(sizeof(struct mms_hist_cell) == 40, "hist cell");
_Static_assert(sizeof(struct mms_hist_slot) == 24, "hist slot");
#endif

#endif /* MMSTATS_FORMAT_H */
