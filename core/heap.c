/* The heap of blocks (docs/format.md section 6): lock-free allocation of
 * blocks from the prepared part of the file, fillers for alignment and
 * extent boundaries, nested allocation inside a shard's AREA, and
 * publication. Every function here may run inside a hook or a signal
 * handler; only the growth it may trigger makes system calls. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* Store a block header {TYPE, BSTATE, SIZE} as one 8-byte store. */
static void header_store(struct mms_block *b, uint16_t type, uint16_t bstate,
                         uint32_t size)
{
    struct mms_block v = {.type = type, .bstate = bstate, .size = size};
    uint64_t word;
    memcpy(&word, &v, sizeof word);
    mms_store_release((uint64_t *)b, word);
}

static void filler(mms_writer *w, uint64_t off, uint64_t len)
{
    header_store((struct mms_block *)mms__ptr(w, off), MMS_BLOCK_FILLER,
                 MMS_BS_DEAD, (uint32_t)len);
}

/* Less prepared than this after an allocation: grow (section 6.5). */
static uint64_t low_water(uint64_t used)
{
    return used / 32 > MMS_LOW_MIN ? used / 32 : MMS_LOW_MIN;
}

uint64_t mms__block_alloc(mms_writer *w, uint16_t type, uint32_t size,
                          uint32_t align)
{
    struct mms_file_header *h = w->hdr;
    if (size < sizeof(struct mms_block) || size % 8 || size > w->extent_size)
        return 0;
    for (int tries = 0; tries < 10000; tries++) {
        uint64_t u = mms_load_acquire(&h->heap_used);
        uint64_t start = mms__round_up(u, align);
        uint64_t ext_end = (start | w->ext_mask) + 1;
        if (start + size > ext_end)
            start = ext_end; /* blocks never cross an extent */
        uint64_t end = start + size;
        if (end > mms_load_acquire(&h->file_size) ||
            !mms_load_relaxed(&w->ext[(end - 1) >> w->ext_shift])) {
            int rc = mms__grow(w, end);
            if (rc == 0 || (rc == -EAGAIN && mms__grow_wait(w)))
                continue;
            return 0; /* the caller counts the drop */
        }
        if (!mms_cas_acq_rel(&h->heap_used, &u, end))
            continue;
        if (start > u)
            filler(w, u, start - u);
        header_store((struct mms_block *)mms__ptr(w, start), type,
                     MMS_BS_PENDING, size);
        uint64_t prepared = mms_load_relaxed(&h->file_size);
        if (prepared - end < low_water(end))
            mms__grow(w, 0); /* best effort: keeps the headroom */
        return start;
    }
    return 0;
}

uint64_t mms__area_alloc(mms_writer *w, uint64_t area_off, uint16_t type,
                         uint32_t size)
{
    struct mms_area_block *a = (struct mms_area_block *)mms__ptr(w, area_off);
    uint32_t cap = a->b.size - (uint32_t)sizeof *a;
    uint32_t u = mms_load_acquire(&a->used);
    do {
        if (size > cap || u > cap - size)
            return 0;
    } while (!mms_cas_acq_rel(&a->used, &u, u + size));
    uint64_t off = area_off + sizeof *a + u;
    header_store((struct mms_block *)mms__ptr(w, off), type, MMS_BS_PENDING,
                 size);
    return off;
}

void mms__block_publish(mms_writer *w, struct mms_block *b, uint16_t bstate)
{
    mms_store_release(&b->bstate, bstate);
    __atomic_fetch_add(&w->hdr->publish_gen, 1, __ATOMIC_RELEASE);
}

/* The file's owner is done with it (exit, the file kept): the prepared
 * space past the heap, up to its extent's end, is given back. The heap
 * takes it as one DEAD filler, by a compare-and-swap of heap_used as any
 * allocation takes space, so nothing else (a late record of this process,
 * or of one sharing the file) can use it any more; then its whole pages
 * are punched out of the file (du counts them, on a tmpfs too; the size
 * stays). A later allocation finds nothing prepared and grows the file
 * again, as any allocation past the prepared space does. */
void mms__heap_trim(mms_writer *w)
{
    struct mms_file_header *h = w->hdr;
    uint64_t u = mms_load_acquire(&h->heap_used);
    uint64_t end = mms_load_acquire(&h->file_size);
    uint64_t ext_end = (u | w->ext_mask) + 1;
    if (end > ext_end)
        end = ext_end;
    uint64_t from = mms__round_up(u + sizeof(struct mms_block), 4096);
    if (end < from + 4096 ||
        !mms_load_relaxed(&w->ext[(end - 1) >> w->ext_shift]) ||
        !mms_cas_acq_rel(&h->heap_used, &u, end))
        return; /* less than a page to give back, or the heap moved */
    filler(w, u, end - u);
    mms__file_punch(w, from, end - from);
}

int mms__heap_reserve(mms_writer *w, uint64_t need)
{
    struct mms_file_header *h = w->hdr;
    uint64_t used = mms_load_acquire(&h->heap_used);
    uint64_t end = used + need + low_water(used + need);
    if (end <= mms_load_acquire(&h->file_size))
        return 0;
    int rc = mms__grow(w, end);
    if (rc == -EAGAIN && mms__grow_wait(w))
        rc = mms__heap_reserve(w, need);
    return rc;
}
