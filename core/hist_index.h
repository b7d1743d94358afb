/* A histogram value's bucket (docs/format.md), inline: for the core
 * (internal.h) and for writers that gather bucket counts themselves
 * (hotpath.h). */
#ifndef MMS_HIST_INDEX_H
#define MMS_HIST_INDEX_H

#include <stdint.h>

#include "atomic.h"

/* Values below 2^bits have a bucket each; above, the power of two E of V
 * (one bit scan) keeps BITS bits below its top one: V >> S with
 * S = E - BITS, in group S + 1 of 2^bits buckets. Both cases are
 * (S << bits) + (V >> S) with S = max(E - BITS, 0): one scan and two
 * shifts, no branch but the overflow's. */
static inline uint32_t mms__hist_index(uint64_t v, unsigned bits,
                                       unsigned max_exp)
{
    if (__builtin_expect((v >> max_exp) != 0, 0))
        return ((max_exp - bits + 1) << bits);
    /* max(E - BITS, 0) as one scan: V's low BITS + 1 bits set first make
     * E at least BITS (63 ^ clz: bsr). */
    unsigned s =
        (unsigned)(63 ^ __builtin_clzll(v | ((2ull << bits) - 1))) - bits;
    return (s << bits) + (uint32_t)(v >> s);
}

#endif
