/* A histogram value's bucket (docs/format.md), inline: for the core
 * (internal.h) and for writers that gather bucket counts themselves
 * (hotpath.h). */
#ifndef MMS_HIST_INDEX_H
#define MMS_HIST_INDEX_H

#include <stdint.h>

#include "atomic.h"

static inline uint32_t mms__hist_index(uint64_t v, unsigned bits,
                                       unsigned max_exp)
{
    if (v < ((uint64_t)1 << bits))
        return (uint32_t)v;
    if (__builtin_expect((v >> max_exp) != 0, 0))
        return ((max_exp - bits + 1) << bits);
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    return ((e - bits + 1) << bits) + (uint32_t)(v >> (e - bits)) -
           (1u << bits);
}

#endif
