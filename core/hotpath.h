/* The core's internal API for code that links it statically and updates
 * fields from its own hot path: the preload shim. Not public, not part of
 * the file format. The shim uses nothing of the core beyond this header,
 * <mmstats/mmstats.h> and core/atomic.h: no writer or header struct, no
 * shard table, no TLS of the core.
 *
 * The contract:
 * - A thread asks once for its cell of a field (mms__cell: a slow path,
 *   which may claim a shard) and caches the answer in its own TLS. Later
 *   updates are adds on that cell: single-instruction adds when the cell
 *   is owned, atomic adds when not (mms__cell_add).
 * - A cached owned cell stays this thread's until the writer's thread-exit
 *   callback (mms__writer_on_thread_exit) runs in this thread: from then
 *   on the thread must forget its cells. Later updates by the dying thread
 *   (glibc frees after the destructors) get a shared cell, which must not
 *   be cached.
 * - Fields of one mms__group_add call that are COUNTERs sit next to each
 *   other in every cell: mms__cell(first).p + 8 * k is the k-th.
 * - None of these functions changes errno. Only mms__cell and
 *   mms__group_add may make a system call, and not after
 *   mms__writer_no_syscalls. */
#ifndef MMS_HOTPATH_H
#define MMS_HOTPATH_H

#include <stdbool.h>
#include <stdint.h>

#include <mmstats/mmstats.h>

#include "atomic.h"

#define MMS_HIDDEN_API __attribute__((visibility("hidden")))

/* A thread's value of a sharded field (COUNTER or HISTOGRAM). */
struct mms_cell {
    uint8_t *p; /* NULL: no cell could be had; the update is dropped */
    bool owned; /* only this thread writes it */
};

/* This thread's cell of sharded field F; {NULL, false} if F is NULL, not
 * sharded, or no room is left. */
MMS_HIDDEN_API struct mms_cell mms__cell(mms_field *f);

/* F's shared cell, the one every thread may add to (never owned): claims
 * nothing, makes no system call. For updates that must not claim a cell:
 * glibc frees a dying thread's buffers after every thread-exit callback,
 * also in threads that never recorded anything, and a cell claimed then
 * would never be handed back. {NULL, false} as for mms__cell. */
MMS_HIDDEN_API struct mms_cell mms__cell_shared(mms_field *f);

/* Add N to the u64 at byte OFF of cell C. */
static inline void mms__cell_add(struct mms_cell c, uint32_t off, uint64_t n)
{
    uint64_t *p = (uint64_t *)(c.p + off);
    if (__builtin_expect(c.owned, 1))
        mms_add_owned_u64(p, n);
    else
        mms_add_relaxed(p, n);
}

/* Record V in histogram F through this thread's cell C of it (C from
 * mms__cell(F)). Out of line: the histogram's seqlock, buckets and min
 * and max are more than a hot path should inline. */
MMS_HIDDEN_API void mms__hist_record_cell(mms_field *f, struct mms_cell c,
                                          uint64_t v);

/* The global value of a GAUGE (i64) field, for atomic adds and
 * raise-to-max by code that keeps its own batching; NULL if F is not one. */
MMS_HIDDEN_API uint64_t *mms__gauge_cell(mms_field *f);

/* Add N fields (SPECS) at once. The counters among them are consecutive
 * in every cell. With MMS_ADD_NOWAIT, never waits: MMS_EBUSY when another
 * thread, or the code a signal handler interrupted, is adding a field. */
#define MMS_ADD_NOWAIT 0x1u
MMS_HIDDEN_API int mms__group_add(mms_writer *w,
                                  const struct mms_field_spec *specs,
                                  unsigned n, unsigned flags, mms_field **out);

/* State changes of the process that owns the file (no-ops elsewhere: a
 * vfork child, a child sharing the file). FINISHED records the time;
 * READY (after a failed exec) clears it again. */
MMS_HIDDEN_API void mms__writer_set_state(mms_writer *w, enum mms_state st);

/* CB runs in each thread that used W, at its exit, before the core hands
 * the thread's shard back: the last moment its owned cells are its own. */
MMS_HIDDEN_API void mms__writer_on_thread_exit(mms_writer *w, void (*cb)(void));

/* From now on W's slow paths make no system call (the process entered
 * seccomp): what would need one is dropped instead. */
MMS_HIDDEN_API void mms__writer_no_syscalls(mms_writer *w);

#endif /* MMS_HOTPATH_H */
