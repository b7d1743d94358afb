/* What the preload shim (libmmstats_preload.so) writes, for the tools that
 * read it: field names the tools look up by name, in one place. The list
 * of hooked calls itself is the shim's (preload/); tools learn call names
 * from each file's descriptors. */
#ifndef MMSTATS_PRELOAD_H
#define MMSTATS_PRELOAD_H

/* Per hooked call: "<family>.<call>.<what>". */
#define MMS_PRELOAD_CALLS "calls"
#define MMS_PRELOAD_ERRORS "errors"
#define MMS_PRELOAD_REQUESTED "requested_bytes"
#define MMS_PRELOAD_BYTES "bytes"
#define MMS_PRELOAD_READY "ready"
#define MMS_PRELOAD_LATENCY "latency"
#define MMS_PRELOAD_CONTENDED "contended"
#define MMS_PRELOAD_ENTRIES "entries"
/* A timed call's calls again (counted while it is timed), with 1/10/60 s
 * windows: a COUNTER with MMS_DF_WINDOW. */
#define MMS_PRELOAD_RECENT "recent_calls"

/* Memory, for the whole process. */
#define MMS_PRELOAD_MEM_ALLOC_BYTES "mem.alloc_bytes"
#define MMS_PRELOAD_MEM_FREED_BYTES "mem.freed_bytes"
#define MMS_PRELOAD_MEM_ALLOC_SIZE "mem.alloc_size"
#define MMS_PRELOAD_MEM_LIVE_BYTES "mem.live_bytes"
#define MMS_PRELOAD_MEM_PEAK_BYTES "mem.peak_bytes"

/* Per-file records (docs/preload.md, "Per-file records"): two keyed
 * tables with the same keys (a file's absolute path, or "hash:<16 hex>"),
 * and the counts of what has no record. Member names are in the tables. */
#define MMS_PRELOAD_FILES "files"
#define MMS_PRELOAD_FILES_META "files.meta"
#define MMS_PRELOAD_FILES_OTHER "files.other_files"
#define MMS_PRELOAD_FILES_UNTRACKED "files.untracked"
#define MMS_PRELOAD_FILES_EXCLUDED "files.excluded"
#define MMS_PRELOAD_FILES_ALIGNMENT "files.alignment"
/* What the shim's descriptor map and pool of open files have room for:
 * both grow in steps, from MMP_FD_LOW descriptors and one chunk. */
#define MMS_PRELOAD_FILES_MAP_SLOTS "files.map_slots"
#define MMS_PRELOAD_FILES_POOL_SLOTS "files.pool_slots"

/* X(member, kind, units): table "files", in cell order; KIND is a
 * MMS_MK_ suffix. "end" members hold the furthest offset reached + 1 (0:
 * none). The size ranges are Darshan's: up to 100 bytes, 1 KiB, 10 KiB,
 * 100 KiB, 1 MiB, 4 MiB, 10 MiB, 100 MiB, 1 GiB, and more; reads and
 * writes are their sums. */
#define MMS_PRELOAD_FILES_SIZES(X, op)                                         \
    X(op##_0_100, SUM, "calls")                                                \
    X(op##_100_1k, SUM, "calls")                                               \
    X(op##_1k_10k, SUM, "calls")                                               \
    X(op##_10k_100k, SUM, "calls")                                             \
    X(op##_100k_1m, SUM, "calls")                                              \
    X(op##_1m_4m, SUM, "calls")                                                \
    X(op##_4m_10m, SUM, "calls")                                               \
    X(op##_10m_100m, SUM, "calls")                                             \
    X(op##_100m_1g, SUM, "calls")                                              \
    X(op##_1g_plus, SUM, "calls")
#define MMS_PRELOAD_FILES_MEMBERS(X)                                           \
    X(bytes_read, SUM, "bytes")                                                \
    X(read_end, MAX, "bytes")                                                  \
    X(consec_reads, SUM, "calls")                                              \
    X(seq_reads, SUM, "calls")                                                 \
    MMS_PRELOAD_FILES_SIZES(X, read)                                           \
    X(bytes_written, SUM, "bytes")                                             \
    X(write_end, MAX, "bytes")                                                 \
    X(consec_writes, SUM, "calls")                                             \
    X(seq_writes, SUM, "calls")                                                \
    MMS_PRELOAD_FILES_SIZES(X, write)                                          \
    X(rw_switches, SUM, "calls")                                               \
    X(unaligned, SUM, "calls")

/* X(member, kind, units): table "files.meta". Times are ns; timestamps
 * CLOCK_REALTIME ns (0: none), kept only for timed calls (MMSTATS_TIMING).
 * access1..4 and stride1..4 are MAXARG pairs: the count (max) and the
 * size or stride (arg) of the most common ones. */
#define MMS_PRELOAD_META_MEMBERS(X)                                            \
    X(opens, SUM, "calls")                                                     \
    X(dups, SUM, "calls")                                                      \
    X(filenos, SUM, "calls")                                                   \
    X(closes, SUM, "calls")                                                    \
    X(seeks, SUM, "calls")                                                     \
    X(stats, SUM, "calls")                                                     \
    X(fsyncs, SUM, "calls")                                                    \
    X(fdatasyncs, SUM, "calls")                                                \
    X(mmaps, SUM, "calls")                                                     \
    X(renamed_from, SUM, "calls")                                              \
    X(renamed_to, SUM, "calls")                                                \
    X(first_open, MIN, "ns")                                                   \
    X(last_open, MAX, "ns")                                                    \
    X(first_read, MIN, "ns")                                                   \
    X(last_read, MAX, "ns")                                                    \
    X(first_write, MIN, "ns")                                                  \
    X(last_write, MAX, "ns")                                                   \
    X(first_close, MIN, "ns")                                                  \
    X(last_close, MAX, "ns")                                                   \
    X(read_time, SUM, "ns")                                                    \
    X(write_time, SUM, "ns")                                                   \
    X(meta_time, SUM, "ns")                                                    \
    X(slowest_read, MAXARG, "ns")                                              \
    X(slowest_write, MAXARG, "ns")                                             \
    X(access1, MAXARG, "calls")                                                \
    X(access2, MAXARG, "calls")                                                \
    X(access3, MAXARG, "calls")                                                \
    X(access4, MAXARG, "calls")                                                \
    X(stride1, MAXARG, "calls")                                                \
    X(stride2, MAXARG, "calls")                                                \
    X(stride3, MAXARG, "calls")                                                \
    X(stride4, MAXARG, "calls")

#endif /* MMSTATS_PRELOAD_H */
