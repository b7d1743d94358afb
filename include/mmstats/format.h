/* The on-disk layout of a stats file, format version 3.1: constants and
 * fixed-size structs only, no code. Mirrored byte by byte by docs/format.md;
 * a change here is a change there, and a new minor (or major) version. */
#ifndef MMSTATS_FORMAT_H
#define MMSTATS_FORMAT_H

#include <stdint.h>

#define MMS_MAGIC "MMSTATS" /* 8 bytes with the trailing NUL */
#define MMS_MAGIC_LEN 8
#define MMS_ENDIAN_MARK 0x01020304u /* written in the writer's byte order */
#define MMS_VERSION_MAJOR 3
#define MMS_VERSION_MINOR 2

/* Header states (mms_file_header.p.state). */
enum mms_state {
    MMS_STATE_INIT = 1,     /* header being filled; never under its name */
    MMS_STATE_READY = 2,    /* the writer is running */
    MMS_STATE_FINISHED = 3, /* the writer finished; values are final */
    MMS_STATE_FOLDING = 4,  /* finished, being folded into a rollup */
};

/* Field kinds (mms_field_block.kind). Readers list kinds they do not know
 * and leave their values alone. */
enum mms_kind {
    MMS_KIND_COUNTER = 1,   /* u64 cells; the value is the sum */
    MMS_KIND_GAUGE = 2,     /* i64 in the field block */
    MMS_KIND_GAUGE_F64 = 3, /* f64 in the field block */
    MMS_KIND_STRING = 4,    /* seqlocked string (mms_string_cell) */
    MMS_KIND_HISTOGRAM = 5, /* sparse log-linear histogram cells */
    MMS_KIND_STRUCT = 6,    /* seqlocked struct of named 8-byte members */
    MMS_KIND_MOVAVG = 7,    /* seqlocked ring of the last N values */
    MMS_KIND_SCALAR = 8,    /* one value of mms_field_block.type */
};

/* SCALAR value types (mms_field_block.type). */
enum mms_type {
    MMS_TYPE_BOOL = 1,
    MMS_TYPE_I8 = 2,
    MMS_TYPE_I16 = 3,
    MMS_TYPE_I32 = 4,
    MMS_TYPE_I64 = 5,
    MMS_TYPE_U8 = 6,
    MMS_TYPE_U16 = 7,
    MMS_TYPE_U32 = 8,
    MMS_TYPE_U64 = 9,
    MMS_TYPE_F32 = 10,
    MMS_TYPE_F64 = 11,
};
#define MMS_TYPE_MAX 11

/* Field flags (mms_field_block.flags). */
#define MMS_DF_SHARDED 0x01u /* values in per-shard cells */
#define MMS_DF_STATIC 0x02u  /* written once, before the block was READY */
#define MMS_DF_WINDOW 0x04u  /* COUNTER/HISTOGRAM: per-second ring in cells */
/* 3.1, COUNTER: its cells are signed changes of a gauge; the value, their
 * sum read as an i64, is a gauge (readers show it as one). */
#define MMS_DF_GAUGE_SUM 0x08u
/* 3.2, COUNTER with MMS_DF_WINDOW: the cell is a struct mms_ring_cell,
 * its ring a RING block made on the cell's second distinct second. */
#define MMS_DF_RING_BLOCK 0x10u

/* Header flags (mms_file_header.flags). */
#define MMS_HF_ROLLUP 0x1u /* a rollup of finished processes */

/* What becomes of a process's file once the process is gone
 * (mms_file_header.keep, section 15); 0: not said, kept. */
enum mms_keep {
    MMS_KEEP_ALL = 1,    /* kept (mmstat-clean removes it when stale) */
    MMS_KEEP_ROLLUP = 2, /* folded into its group's rollup */
    MMS_KEEP_NONE = 3,   /* removed, folded nowhere */
    MMS_KEEP_AUTO = 4,   /* kept if the process finished after living
                            keep_after_ms or more, else folded */
};

/* Limits shared by writer and reader. */
#define MMS_NAME_MAX 127     /* field/table name bytes, without NUL */
#define MMS_UNITS_MAX 31     /* units string bytes */
#define MMS_HELP_MAX 255     /* help text bytes */
#define MMS_EXE_LEN 64       /* header exe field, NUL-padded */
#define MMS_LABEL_LEN 64     /* header label field, NUL-padded */
#define MMS_HOST_LEN 64      /* header hostname field, NUL-padded */
#define MMS_GROUP_LEN 64     /* header rollup group, NUL-padded */
#define MMS_CMDLINE_LEN 1024 /* header cmdline, args joined by NUL */
#define MMS_CGROUP_LEN 256   /* header cgroup path, NUL-padded */
#define MMS_FOLD_NAME_LEN 256
#define MMS_NSPID_MAX 8
#define MMS_HEADER_SIZE 4096
#define MMS_LINE 64 /* AREA and CHUNK blocks own whole cache lines */
#define MMS_VALUE_ALIGN 8
#define MMS_INDEX_MAX (1u << 24)    /* indices (fields, tables, records) */
#define MMS_SHARD_ID_MAX (1u << 20) /* shard ids */
#define MMS_EXTENT_MIN (64u << 10)  /* extent_size range */
#define MMS_EXTENT_MAX (1u << 30)
#define MMS_MAX_FILE_SIZE (1ull << 32) /* offsets in the format are u32 */

/* The first 24 bytes never change across versions. */
struct mms_file_prefix {
    char magic[MMS_MAGIC_LEN]; /*  0 "MMSTATS\0" */
    uint32_t endian;           /*  8 MMS_ENDIAN_MARK */
    uint16_t major;            /* 12 */
    uint16_t minor;            /* 14 */
    uint32_t state;            /* 16 enum mms_state, atomic */
    uint32_t header_size;      /* 20 bytes from 0 to the first block */
};

/* Header, at offset 0 (docs/format.md section 4). "atomic": changes while
 * the writer runs; the rest is written before state leaves INIT, except
 * the rollup and fold fields (section 15). */
struct mms_file_header {
    struct mms_file_prefix p;      /*   0 */
    uint32_t flags;                /*  24 MMS_HF_* */
    uint32_t uid;                  /*  28 effective uid of the writer */
    int32_t pid;                   /*  32 */
    int32_t ppid;                  /*  36 */
    uint64_t start_ticks;          /*  40 /proc/<pid>/stat field 22 */
    int64_t created_ns;            /*  48 CLOCK_REALTIME, ns since the epoch */
    int64_t finished_ns;           /*  56 atomic; set when state -> FINISHED */
    uint64_t publish_gen;          /*  64 atomic; +1 per block READY or DEAD */
    uint64_t file_size;            /*  72 atomic; bytes prepared (allocated) */
    uint64_t heap_used;            /*  80 atomic; end of the last block */
    uint32_t heap_off;             /*  88 first block (= header_size) */
    uint32_t gid;                  /*  92 effective gid of the writer */
    uint32_t extent_size;          /*  96 blocks never cross a multiple */
    uint32_t next_index;           /* 100 atomic; indices handed out */
    uint32_t next_shard;           /* 104 atomic; shard ids handed out */
    uint32_t shard_limit;          /* 108 most shard ids */
    uint32_t shards_active;        /* 112 atomic; shards of live threads */
    uint32_t reserved0;            /* 116 */
    uint64_t threads_seen;         /* 120 atomic; shard hand-outs */
    uint64_t threads_shared;       /* 128 atomic; threads without a shard */
    uint64_t dropped;              /* 136 atomic; updates dropped (no space) */
    uint64_t retire_begin;         /* 144 atomic; cell moves begun */
    uint64_t retire_end;           /* 152 atomic; cell moves ended */
    uint64_t pidns_dev;            /* 160 /proc/self/ns/pid st_dev */
    uint64_t pidns_ino;            /* 168 /proc/self/ns/pid st_ino */
    uint32_t nspid_count;          /* 176 entries used in nspid */
    int32_t nspid[MMS_NSPID_MAX];  /* 180 NSpid of /proc/self/status */
    uint32_t cgroup_len;           /* 212 bytes used in cgroup */
    uint8_t boot_id[16];           /* 216 /proc/sys/kernel/random/boot_id */
    char exe[MMS_EXE_LEN];         /* 232 */
    char label[MMS_LABEL_LEN];     /* 296 */
    char host[MMS_HOST_LEN];       /* 360 */
    uint32_t cmdline_len;          /* 424 bytes used in cmdline */
    uint32_t reserved1;            /* 428 */
    char cmdline[MMS_CMDLINE_LEN]; /* 432 args separated by NUL */
    char cgroup[MMS_CGROUP_LEN];   /* 1456 */
    uint64_t fold_procs;           /* 1712 processes in this rollup */
    int64_t fold_first_ns;         /* 1720 earliest created_ns */
    int64_t fold_last_ns;          /* 1728 latest finished_ns */
    char group[MMS_GROUP_LEN];     /* 1736 rollup group */
    char fold_pending[MMS_FOLD_NAME_LEN]; /* 1800 file being folded in */
    char fold_done[MMS_FOLD_NAME_LEN];    /* 2056 file folded in last */
    uint32_t keep;                        /* 2312 enum mms_keep; 0: ALL */
    uint32_t keep_after_ms;               /* 2316 AUTO: lifetime kept */
    /* 2320 .. header_size: reserved, zero */
};

/* ---- Blocks (section 6) ---------------------------------------------- */

enum mms_block_type {
    MMS_BLOCK_FILLER = 1,
    MMS_BLOCK_FIELD = 2,
    MMS_BLOCK_SHARD = 3,
    MMS_BLOCK_AREA = 4,
    MMS_BLOCK_CELLS = 5, /* inside an AREA only */
    MMS_BLOCK_CHUNK = 6,
    MMS_BLOCK_TABLE = 7,
    MMS_BLOCK_RECORD = 8,
    MMS_BLOCK_RING = 9,     /* 3.2: a windowed counter cell's ring */
    MMS_BLOCK_CHUNK32 = 10, /* 3.2: inside its shard's AREA only */
};

enum mms_block_state {
    MMS_BS_PENDING = 1,
    MMS_BS_READY = 2,
    MMS_BS_DEAD = 3,
};

/* Every block starts with this header; size includes it. */
struct mms_block {
    uint16_t type;   /* enum mms_block_type */
    uint16_t bstate; /* enum mms_block_state, atomic */
    uint32_t size;   /* bytes, a multiple of 8 */
};

/* FIELD: a field's descriptor, its text, and unsharded values. */
struct mms_field_block {
    struct mms_block b;  /*  0 */
    uint32_t index;      /*  8 */
    uint8_t kind;        /* 12 enum mms_kind */
    uint8_t flags;       /* 13 MMS_DF_* */
    uint8_t type;        /* 14 SCALAR: enum mms_type */
    uint8_t reserved0;   /* 15 */
    uint16_t name_len;   /* 16 */
    uint16_t units_len;  /* 18 */
    uint16_t help_len;   /* 20 */
    uint16_t schema_len; /* 22 STRUCT member table bytes */
    uint32_t cell_size;  /* 24 SHARDED: bytes of a cell */
    uint32_t value_off;  /* 28 unsharded: value offset from block start */
    uint32_t value_size; /* 32 unsharded: value bytes */
    uint32_t reserved1;  /* 36 */
    uint8_t param[32];   /* 40 kind-specific */
    /* 72: name NUL units NUL help NUL schema, padded to 8; then value */
};

/* SHARD: a thread's identity. */
enum mms_shard_state {
    MMS_SHARD_OWNED = 1, /* owned by a live thread (shard 0: shared) */
    MMS_SHARD_FREE = 2,  /* its thread exited; reusable */
};

struct mms_shard_block {
    struct mms_block b;  /*  0 */
    uint32_t shard;      /*  8 */
    uint32_t sstate;     /* 12 enum mms_shard_state, atomic */
    uint32_t seq;        /* 16 seqlock over the rest, atomic */
    int32_t tid;         /* 20 */
    uint64_t generation; /* 24 times taken */
    char name[16];       /* 32 thread name, NUL-padded */
    int64_t start_ns;    /* 48 */
    int64_t end_ns;      /* 56 0 while owned */
};

/* AREA: one shard's space for CELLS blocks, from offset 16. */
struct mms_area_block {
    struct mms_block b; /*  0 */
    uint32_t shard;     /*  8 */
    uint32_t used;      /* 12 atomic; bytes claimed from offset 16 */
};

/* CELLS: one shard's cells of indices first .. first + count - 1. */
struct mms_cells_block {
    struct mms_block b; /*  0 */
    uint32_t first;     /*  8 */
    uint32_t count;     /* 12 */
    /* 16: the cells */
};

/* CHUNK: 2^bits buckets of one histogram cell. */
struct mms_chunk_block {
    struct mms_block b; /*  0 */
    uint32_t index;     /*  8 field or record */
    uint16_t member;    /* 12 0, or the record member */
    uint16_t chunk;     /* 14 */
    uint32_t shard;     /* 16 */
    uint32_t nbuckets;  /* 20 */
    /* 24: uint64_t buckets[nbuckets]; CHUNK32: uint32_t buckets[nbuckets]
     * (a thread's own shard, 3.2: a bucket's count past 2^32 - 1 is
     * carried into shard 0's bucket, section 8.5) */
};

/* ---- Kinds' values ---------------------------------------------------- */

/* A string value: value_size = 16 + capacity (capacity a multiple of 8). */
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
 *   nchunks  = max_exp - bits + 2: chunk c holds buckets
 *              [c << bits, min((c + 1) << bits, nbuckets))
 * The bucket's width relative to its lower bound is at most 2^-bits. */
#define MMS_HIST_BITS_MIN 1
#define MMS_HIST_BITS_MAX 7
#define MMS_HIST_MAX_EXP_MAX 63
/* 3.1: a cell whose directory names no chunk holds its first values
 * without buckets, at most this many: count, sum, min and max give them
 * (1: min; 2: min, max; 3: min, max, sum - min - max). */
#define MMS_HIST_CHUNKLESS 3
#define MMS_WINDOW_SLOTS 64 /* per-second slots; windows up to 60 s */

struct mms_hist_param {
    uint8_t bits;          /*  0 */
    uint8_t max_exp;       /*  1 */
    uint8_t win_bits;      /*  2 with MMS_DF_WINDOW */
    uint8_t reserved0;     /*  3 */
    uint32_t nbuckets;     /*  4 */
    uint32_t nchunks;      /*  8 */
    uint32_t win_nbuckets; /* 12 with MMS_DF_WINDOW, else 0 */
    uint32_t win_off;      /* 16 ring offset in the cell, else 0 */
};

/* A histogram cell: this, then uint32_t chunk[nchunks] (file offsets of
 * CHUNK blocks, 0: none) padded to 8, then with MMS_DF_WINDOW at win_off
 * MMS_WINDOW_SLOTS slots of { u64 sec; u64 count; u64 sum;
 * u64 buckets[win_nbuckets] }. */
struct mms_hist_cell {
    uint64_t seq;
    uint64_t count;
    uint64_t sum;
    uint64_t min_inv;
    uint64_t max;
};

struct mms_hist_slot {
    uint64_t sec;
    uint64_t count;
    uint64_t sum;
    /* uint64_t buckets[win_nbuckets] follows */
};

/* A windowed counter's cell: u64 total; then MMS_WINDOW_SLOTS of these. */
struct mms_window_slot {
    uint64_t sec;
    uint64_t sum;
};

/* 3.2: a windowed counter's cell with MMS_DF_RING_BLOCK: the total; the
 * file offset of its RING block (0: none yet); slots of its own, its
 * first seconds' (the writer's cells have 2; readers take cell_size 32
 * as 1). Readers merge them with the ring's slots (8.9). */
#define MMS_RING_CELL_SLOTS 2
struct mms_ring_cell {
    uint64_t total;
    uint64_t ring;
    struct mms_window_slot own[MMS_RING_CELL_SLOTS];
};

/* RING: MMS_WINDOW_SLOTS struct mms_window_slot follow, at 16. */
struct mms_ring_block {
    struct mms_block b; /*  0 */
    uint32_t index;     /*  8 the field */
    uint32_t shard;     /* 12 the shard of the cell that names it */
};
#define MMS_RING_BLOCK_SIZE                                                    \
    (sizeof(struct mms_ring_block) +                                           \
     MMS_WINDOW_SLOTS * sizeof(struct mms_window_slot))

/* ---- Struct values (kind 6) ----------------------------------------
 * Value: u64 seq; then nmembers 8-byte members. Schema (schema_len bytes
 * after the help text's NUL): per member { u8 type; u8 name_len; name;
 * NUL }. */
enum mms_member_type {
    MMS_MEMBER_U64 = 1,
    MMS_MEMBER_I64 = 2,
    MMS_MEMBER_F64 = 3,
};
#define MMS_STRUCT_MAX_MEMBERS 32
#define MMS_MEMBER_NAME_MAX 31

struct mms_struct_param {
    uint16_t nmembers; /* 0 */
};

/* ---- Moving averages (kind 7) --------------------------------------
 * Value: u64 seq; u64 n (values ever added); f64 ring[capacity]. */
struct mms_movavg_param {
    uint32_t capacity; /* 0 */
};

/* ---- Keyed tables (section 10) ------------------------------------- */

enum mms_key_type {
    MMS_KEY_TEXT = 0,  /* shown as text (a path) */
    MMS_KEY_BYTES = 1, /* shown in hex */
    MMS_KEY_U64S = 2,  /* a sequence of u64 (a stack) */
};

enum mms_member_kind {
    MMS_MK_SUM = 1,     /* u64 added to */
    MMS_MK_SUM_I64 = 2, /* i64 added to */
    MMS_MK_MAX = 3,     /* u64 largest (0: none) */
    MMS_MK_MIN = 4,     /* ~smallest (0: none) */
    MMS_MK_HIST = 5,    /* histogram: count sum min_inv max chunk[] */
    MMS_MK_MAXARG = 6,  /* u64 max; u64 arg */
};
#define MMS_TABLE_MAX_MEMBERS 32
#define MMS_TABLE_CAP_MAX (1u << 20)
#define MMS_KEY_MAX 4096
#define MMS_MEMBER_UNITS_MAX 15
#define MMS_RECORD_CELL_MAX 65536

struct mms_member_desc {
    uint8_t kind;      /*  0 enum mms_member_kind */
    uint8_t bits;      /*  1 HIST */
    uint8_t max_exp;   /*  2 HIST */
    uint8_t name_len;  /*  3 */
    uint8_t units_len; /*  4 */
    uint8_t reserved[3];
    uint32_t offset; /*  8 in the record's cell */
    uint32_t size;   /* 12 */
    char name[32];   /* 16 */
    char units[16];  /* 48 */
};

struct mms_table_block {
    struct mms_block b;     /*  0 */
    uint32_t index;         /*  8 */
    uint32_t capacity;      /* 12 records, overflow included */
    uint8_t key_type;       /* 16 enum mms_key_type */
    uint8_t nmembers;       /* 17 */
    uint16_t key_max;       /* 18 */
    uint32_t cell_size;     /* 20 */
    uint16_t name_len;      /* 24 */
    uint16_t help_len;      /* 26 */
    uint32_t nrecords;      /* 28 atomic */
    uint64_t overflow_hits; /* 32 atomic */
    /* 40: struct mms_member_desc members[nmembers]; then name NUL help NUL */
};

#define MMS_RF_OVERFLOW 0x1u

struct mms_record_block {
    struct mms_block b; /*  0 */
    uint32_t table;     /*  8 the table's index */
    uint32_t index;     /* 12 */
    uint32_t hash;      /* 16 FNV-1a 32 of the key */
    uint16_t key_len;   /* 20 */
    uint16_t rflags;    /* 22 MMS_RF_* */
    /* 24: key bytes, padded to 8 */
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct mms_file_prefix) == 24, "prefix is frozen");
_Static_assert(sizeof(struct mms_file_header) == 2320, "header layout");
_Static_assert(sizeof(struct mms_block) == 8, "block header");
_Static_assert(sizeof(struct mms_field_block) == 72, "field block");
_Static_assert(sizeof(struct mms_shard_block) == 64, "shard block");
_Static_assert(sizeof(struct mms_area_block) == 16, "area block");
_Static_assert(sizeof(struct mms_cells_block) == 16, "cells block");
_Static_assert(sizeof(struct mms_chunk_block) == 24, "chunk block");
_Static_assert(sizeof(struct mms_ring_cell) == 48, "ring cell");
_Static_assert(sizeof(struct mms_ring_block) == 16, "ring block");
_Static_assert(sizeof(struct mms_string_cell) == 16, "string cell");
_Static_assert(sizeof(struct mms_hist_param) == 20, "hist param");
_Static_assert(sizeof(struct mms_hist_cell) == 40, "hist cell");
_Static_assert(sizeof(struct mms_hist_slot) == 24, "hist slot");
_Static_assert(sizeof(struct mms_member_desc) == 64, "member desc");
_Static_assert(sizeof(struct mms_table_block) == 40, "table block");
_Static_assert(sizeof(struct mms_record_block) == 24, "record block");
#endif

#endif /* MMSTATS_FORMAT_H */
