/* Atomic helpers whose names carry the memory order (after mimalloc), so a
 * reader of the code sees the ordering at each use. Thin wrappers over the
 * GCC/Clang __atomic builtins, which work on plain (file-mapped) memory. */
#ifndef MMS_ATOMIC_H
#define MMS_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define MMS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MMS_TSAN 1
#endif
#endif
#ifndef MMS_TSAN
#define MMS_TSAN 0
#endif

#define mms_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define mms_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define mms_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define mms_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define mms_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define mms_cas_acq_rel(p, expp, v)                                            \
    __atomic_compare_exchange_n((p), (expp), (v), 0, __ATOMIC_ACQ_REL,         \
                                __ATOMIC_RELAXED)
/* Seqlocks: the writer fences after making seq odd and stores the data
 * relaxed; the reader loads the data relaxed and fences before re-reading
 * seq (Boehm, "Can seqlocks get along with programming language memory
 * models?"). ThreadSanitizer does not model fences, so under TSan the data
 * accesses themselves carry release/acquire instead: same guarantee. */
#if MMS_TSAN
#define mms_fence_acquire() ((void)0)
#define mms_fence_release() ((void)0)
#define mms_seq_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define mms_seq_load(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define mms_seq_add_owned(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELEASE)
#else
#define mms_fence_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define mms_fence_release() __atomic_thread_fence(__ATOMIC_RELEASE)
#define mms_seq_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define mms_seq_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define mms_seq_add_owned(p, v) mms_add_owned_u64((p), (v))
#endif

/* Add to a cell only this thread writes (its own shard). One instruction on
 * x86-64, so a signal handler running between "load" and "store" cannot
 * lose an update, and no bus lock is taken. Elsewhere: an atomic add. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by the asm. */
static inline void mms_add_owned_u64(uint64_t *p, uint64_t v)
{
#if defined(__x86_64__) && !MMS_TSAN && !defined(MMS_NO_ASM)
    __asm__ volatile("addq %1, %0" : "+m"(*p) : "er"(v));
#else
    __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
#endif
}

/* Add N to a u32 only this thread writes (a histogram bucket of its own
 * shard, format 3.2): true when the sum wrapped past 2^32 - 1 (the caller
 * carries). One instruction on x86-64, as mms_add_owned_u64, its carry
 * flag the answer. */
/* NOLINTNEXTLINE(readability-non-const-parameter): written by the asm. */
static inline bool mms_add_owned_u32(uint32_t *p, uint32_t n)
{
#if defined(__x86_64__) && !MMS_TSAN && !defined(MMS_NO_ASM)
    bool carry;
    __asm__ volatile("addl %2, %0" : "+m"(*p), "=@ccc"(carry) : "er"(n));
    return carry;
#else
    uint32_t old = __atomic_fetch_add(p, n, __ATOMIC_RELAXED);
    return (uint32_t)(old + n) < old;
#endif
}

#endif /* MMS_ATOMIC_H */
