/* A caching stack walker for the heap profile's samples (x86-64).
 *
 * For each return address the frame's rule (where the caller's frame
 * begins, the CFA, as rsp or rbp plus an offset; where the return
 * address and rbp are saved) is computed once from the object's
 * .eh_frame_hdr and .eh_frame (found with _dl_find_object: no lock, no
 * allocation) and kept in a fixed lock-free table, so that a walk is a
 * table look-up and two loads per frame. No system call, no allocation,
 * no lock. Every stack read lies between the walk's first stack pointer
 * and the top of this thread's stack (glibc's: the main thread's from
 * __libc_stack_end, another thread's below its thread pointer), and each
 * frame's CFA is above the last one's.
 *
 * What it does not handle it leaves to the caller (glibc's backtrace):
 * CFA or saved-register expressions, CFA in a register other than rsp
 * or rbp, signal frames, a stack it cannot bound (sigaltstack, threads
 * not made by glibc). Other architectures: always. */
#ifndef MMP_UNWIND_H
#define MMP_UNWIND_H

#include <stdint.h>

/* The return addresses of the caller's stack, innermost first (as
 * backtrace: the first is the address in the caller the call returns
 * to), at most MAX into PCS: their count, or -1 (walk it another way). */
int mmp_unwind(uint64_t *pcs, int max);

/* A frame to start from: the address it returns to and its stack and
 * frame pointers as they will be then. */
struct mmp_frame {
    uint64_t pc, sp, bp;
};

/* The caller's frame, as it returns from the function this expands in
 * (which then sets up a frame pointer: x86-64 only; elsewhere PC is 0). */
#if defined(__x86_64__)
#define MMP_CALLER_FRAME(f)                                                    \
    do {                                                                       \
        const uint64_t *mmp_fp_ = __builtin_frame_address(0);                  \
        (f)->pc = mmp_fp_[1];                                                  \
        (f)->sp = (uint64_t)(uintptr_t)(mmp_fp_ + 2);                          \
        (f)->bp = mmp_fp_[0];                                                  \
    } while (0)
#else
#define MMP_CALLER_FRAME(f) (*(f) = (struct mmp_frame){0, 0, 0})
#endif

/* As mmp_unwind, from frame F (a caller of the caller of this): its
 * return address first. The frames between are not walked (a sample
 * skips the shim's own); -1 if F is not on this stack. */
int mmp_unwind_from(const struct mmp_frame *f, uint64_t *pcs, int max);

/* Counts since start, for tests and the bench: frame rules computed
 * (cache misses) and walks that gave up (-1). */
struct mmp_unwind_stats {
    uint64_t computed, gave_up, uncached;
};
struct mmp_unwind_stats mmp_unwind_stats(void);

#endif
