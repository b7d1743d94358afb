/* The heap profile of a process (the shim's mem.heap.* fields and
 * tables): its sites, symbolised, as text (top sites by live and by
 * allocated bytes, with stacks), JSON, or folded stacks for
 * flamegraph.pl and speedscope. mmstat-read --heap and the exporter. */
#ifndef MMS_TOOLS_HEAP_H
#define MMS_TOOLS_HEAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mmstats/mmstats.h>

#include "json.h"
#include "symbols.h"

struct heap_site {
    uint64_t bytes, allocs;          /* estimated, allocated */
    int64_t live_bytes, live_allocs; /* estimated, still live */
    uint64_t samples;
    uint32_t nframes;
    struct frame *frames; /* innermost first */
};

struct heap {
    bool present;          /* the file has a heap profile */
    uint64_t sample_bytes; /* mean distance between samples */
    uint64_t samples, untracked, reentered, slow_stacks;
    uint64_t negative; /* sites with live bytes below 0: frees misfiled */
    uint32_t nsites, capacity; /* records (overflow included), at most */
    uint64_t overflowed;       /* samples of sites that did not fit */
    /* The process's figures: mem.alloc_bytes and mem.freed_bytes (since
     * start, or fork), mem.live_bytes and mem.peak_bytes (published in
     * small per-thread batches; a fork child's go on from its parent's). */
    uint64_t alloc_bytes, freed_bytes;
    int64_t live_bytes, peak_bytes;
    struct heap_site *site; /* "(other)" included, as a site without frames */
    size_t n;
    struct symbols *sym;
};

/* Read the heap profile of S into H: 0, or -ENOMEM. */
int heap_load(const mms_snapshot *s, struct heap *h);
void heap_free(struct heap *h);

/* Sort orders for heap_sorted. */
enum heap_order { HEAP_BY_LIVE, HEAP_BY_ALLOC };
/* The sites' indices, largest first (ties: by site order); free(). */
size_t *heap_sorted(const struct heap *h, enum heap_order by);

/* Text: a summary, then the TOP sites by live bytes and by allocated
 * bytes with up to DEPTH frames each. */
void heap_text(FILE *f, const struct heap *h, size_t top, unsigned depth,
               bool raw);
/* JSON: the object "heap" (docs/tools.md) inside the caller's object;
 * TOP sites by each order (0: all). */
void heap_json(struct jw *w, const struct heap *h, size_t top);
/* Folded stacks, outermost frame first, with live (or allocated) bytes. */
void heap_folded(FILE *f, const struct heap *h, enum heap_order by);

#endif
