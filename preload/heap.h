/* The mem family's heap profile: allocations sampled by bytes (heap.c),
 * their stacks and the objects those stacks run in (heap_stack.c).
 *
 * hook_mem.c calls in twice on its hot paths, each a test of one
 * thread-local or one byte:
 *   - after an allocation of GOT usable bytes (LEFT: the bytes this
 *     thread may still allocate before its next sample; it starts at 0,
 *     so that a thread's first allocation takes the slow path, which
 *     draws; hook_mem.c keeps it beside its other thread-locals):
 *       if ((left -= GOT) < 0) mmp_heap_sample(block, GOT, &left);
 *   - before a block goes back to the allocator (free, realloc):
 *       if (mmp_heap_maybe(block)) mmp_heap_forget(block);
 * Everything else is out of line and runs once per sample (one every
 * MMSTATS_HEAP_SAMPLE bytes on average), or for a freed block whose
 * address shares a filter byte with a sampled one. */
#ifndef MMP_HEAP_H
#define MMP_HEAP_H

#include "shim.h"

/* A counting filter over the addresses of the sampled blocks still
 * live: one byte per 16-byte slot of a 1 MiB window (addresses 1 MiB
 * apart share a byte). Nonzero: maybe sampled; zero: surely not. */
#define MMP_HEAP_FILTER_BITS 16
extern uint8_t mmp_heap_filter[1u << MMP_HEAP_FILTER_BITS];

static inline __attribute__((always_inline)) bool mmp_heap_maybe(const void *p)
{
    uintptr_t i = ((uintptr_t)p >> 4) & ((1u << MMP_HEAP_FILTER_BITS) - 1);
    return mms_load_relaxed(&mmp_heap_filter[i]) != 0;
}

/* The slow paths. Neither changes errno. */
void mmp_heap_sample(void *p, uint64_t got, int64_t *left);
void mmp_heap_forget(void *p);

/* realloc: take block P out of the sampled set before the real call
 * (the allocator may hand its address to another thread at once), and
 * put it back if the call failed. */
struct mmp_heap_taken {
    uint64_t bytes;  /* its estimated bytes */
    uint32_t rec;    /* its site */
    uint32_t allocs; /* its estimated allocations */
    bool taken;      /* it was a sampled block */
};
struct mmp_heap_taken mmp_heap_take(void *p);
void mmp_heap_untake(void *p, struct mmp_heap_taken t);
void mmp_heap_drop(struct mmp_heap_taken t);

/* Start-up (the mem family's start): options, the unwinder primed. */
void mmp_heap_start(void);
void mmp_heap_made(void);
/* A fork child: no block of the parent's is sampled here. */
void mmp_heap_child(void);

/* heap_stack.c. */
#define MMP_HEAP_DEPTH 32
/* Prime the unwinder (it loads libgcc_s and allocates on first use)
 * and note where the shim and the executable are. */
void mmp_heap_stack_start(void);
/* The stack from frame FROM (unwind.h; mmp_heap_sample's caller's),
 * without the shim's frames: return addresses into FRAMES, at most
 * MMP_HEAP_DEPTH; their count. *SLOW: the caching walker left it to
 * backtrace. Each object a frame runs in is recorded (once) in
 * mem.heap.objects. */
struct mmp_frame;
unsigned mmp_heap_stack(const struct mmp_frame *from, uint64_t *frames,
                        bool *slow);
/* A fork child: record the objects again (its file's values start from
 * zero). */
void mmp_heap_stack_child(void);

#endif
