/* mem.alloc_size's bucket of a size asked, as mms__hist_index gives it
 * for the field's 2 bits and 2^40 (hook_mem.c): from a table below 4096
 * (a load on malloc's path instead of the index's bit scan, shifts and
 * range test), computed above. */
#ifndef MMP_MEM_SIZES_H
#define MMP_MEM_SIZES_H

#include <stdint.h>

#include "hist_index.h"

#define MMP_SIZE_BITS 2
#define MMP_SIZE_MAX_EXP 40
#define MMP_SIZE_TABLE 4096

/* Below 8 a bucket per size; from 2^e (e >= 3) the octave's four buckets,
 * 4(e - 1) onwards, of 2^(e - 2) sizes each (format.md's histogram). */
/* NOLINTBEGIN(bugprone-macro-parentheses): list elements */
#define MMP_B1(x) x,
#define MMP_B2(x) MMP_B1(x) MMP_B1(x)
#define MMP_B4(x) MMP_B2(x) MMP_B2(x)
#define MMP_B8(x) MMP_B4(x) MMP_B4(x)
#define MMP_B16(x) MMP_B8(x) MMP_B8(x)
#define MMP_B32(x) MMP_B16(x) MMP_B16(x)
#define MMP_B64(x) MMP_B32(x) MMP_B32(x)
#define MMP_B128(x) MMP_B64(x) MMP_B64(x)
#define MMP_B256(x) MMP_B128(x) MMP_B128(x)
#define MMP_B512(x) MMP_B256(x) MMP_B256(x)
/* The table reads as octaves: kept as written. */
/* clang-format off */
#define MMP_OCTAVE(rep, e)                                                     \
    rep(4 * (e) - 4) rep(4 * (e) - 3) rep(4 * (e) - 2) rep(4 * (e) - 1)
/* NOLINTEND(bugprone-macro-parentheses) */

static const uint8_t mmp_size_bucket[MMP_SIZE_TABLE] = {
    0, 1, 2, 3, 4, 5, 6, 7, /* */
    MMP_OCTAVE(MMP_B2, 3) MMP_OCTAVE(MMP_B4, 4) MMP_OCTAVE(MMP_B8, 5)
        MMP_OCTAVE(MMP_B16, 6) MMP_OCTAVE(MMP_B32, 7) MMP_OCTAVE(MMP_B64, 8)
            MMP_OCTAVE(MMP_B128, 9) MMP_OCTAVE(MMP_B256, 10)
                MMP_OCTAVE(MMP_B512, 11)};
/* clang-format on */

static inline __attribute__((always_inline)) uint32_t
mmp_size_index(uint64_t asked)
{
    if (__builtin_expect(asked < MMP_SIZE_TABLE, 1))
        return mmp_size_bucket[asked];
    return mms__hist_index(asked, MMP_SIZE_BITS, MMP_SIZE_MAX_EXP);
}

#endif
