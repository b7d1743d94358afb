/* The heap profile's stacks: return addresses from the caching walker
 * (unwind.c; about 30 instructions a frame once its rule is cached) or,
 * for the stacks it leaves, glibc's backtrace (libgcc's unwinder, about
 * 2,500 a frame: safe without frame pointers, nothing cached), and the
 * objects they run in, recorded with their path, build id and addresses
 * so that a reader can symbolise after the process is gone.
 *
 * Inside malloc: backtrace loads libgcc_s with dlopen (which allocates)
 * on its first call only, so start-up makes that call. libgcc (GCC 12 on
 * glibc 2.35 and later) finds unwind tables with _dl_find_object: no
 * lock, no allocation. An allocation made while a sample is taken is
 * counted in mem.heap.reentered (tests expect 0). */
#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <limits.h>
#include <link.h>
#include <unistd.h>

#include "heap.h"
#include "unwind.h"

extern mms_table *mmp_heap_objects;

/* Where the shim's code is: its frames are not the program's. */
static uint64_t shim_start, shim_end;
static char exe_path[PATH_MAX];

/* ------------------------------------------------------------ objects */

/* The objects recorded so far, by their mapping's start and link map. */
#define SEEN 512
static uint64_t seen[SEEN];

static bool seen_before(uint64_t key)
{
    uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 55);
    for (uint32_t k = 0; k < SEEN; k++) {
        uint64_t *s = &seen[(h + k) & (SEEN - 1)];
        uint64_t cur = mms_load_relaxed(s);
        if (cur == key)
            return true;
        if (cur == 0 && mms_cas_acq_rel(s, &cur, key))
            return false;
        if (cur == key)
            return true;
    }
    return true; /* full: record no more */
}

/* Write the hex of the GNU build id of the object mapped at [START,
 * END) with load bias BASE to OUT (room for 2 * 64 digits): its length.
 * Everything read is checked to lie inside the mapping. */
static size_t build_id(const uint8_t *start, const uint8_t *end,
                       const uint8_t *base, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t size = (size_t)(end - start);
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)start;
    if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_phentsize != sizeof(ElfW(Phdr)) ||
        eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(ElfW(Phdr)) > size)
        return 0;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(start + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_NOTE)
            continue;
        const uint8_t *p = base + ph[i].p_vaddr, *e = p + ph[i].p_memsz;
        if (p < start || e > end || e < p)
            continue;
        while ((size_t)(e - p) >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            size_t name_room = (n->n_namesz + (size_t)3) & ~(size_t)3;
            size_t desc_room = (n->n_descsz + (size_t)3) & ~(size_t)3;
            if (name_room + desc_room > (size_t)(e - p) - sizeof *n)
                break;
            const uint8_t *name = p + sizeof *n, *desc = name + name_room;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0 && n->n_descsz <= 64) {
                for (size_t k = 0; k < n->n_descsz; k++) {
                    out[2 * k] = hex[desc[k] >> 4];
                    out[2 * k + 1] = hex[desc[k] & 15];
                }
                return 2 * (size_t)n->n_descsz;
            }
            p = desc + desc_room;
        }
    }
    return 0;
}

/* The mappings of the objects recorded so far, so that a frame in one
 * of them costs a few compares rather than _dl_find_object and the
 * look-up above (about 110 instructions a frame). Each slot is written
 * once: END, then START (release); a reader that sees START reads END
 * after it. Full: the rest go the long way. Like the walker's cached
 * rules, they assume that code stays where it was found (dlclose, then
 * another object loaded over the same addresses, would go unrecorded). */
#define KNOWN 32
static struct known {
    uint64_t start, end;
} known[KNOWN];
static uint32_t nknown;

/* Whether PC is in a known object; if so its range, [*LO, *HI). */
static bool is_known(uint64_t pc, uint64_t *lo, uint64_t *hi)
{
    uint32_t n = mms_load_acquire(&nknown);
    for (uint32_t i = 0; i < n && i < KNOWN; i++) {
        uint64_t s = mms_load_acquire(&known[i].start);
        uint64_t e = mms_load_relaxed(&known[i].end);
        if (pc >= s && pc < e && s) {
            *lo = s;
            *hi = e;
            return true;
        }
    }
    return false;
}

static void add_known(uint64_t start, uint64_t end)
{
    uint32_t i = mms_add_relaxed(&nknown, 1);
    if (i >= KNOWN) {
        mms_store_relaxed(&nknown, (uint32_t)KNOWN);
        return;
    }
    mms_store_relaxed(&known[i].end, end);
    mms_store_release(&known[i].start, start);
}

/* Record the object PC runs in, if it is new. */
static void note_object(void *pc)
{
    mms_table *t = mms_load_relaxed(&mmp_heap_objects);
    struct dl_find_object fo;
    if (!t || _dl_find_object(pc, &fo) != 0)
        return;
    const uint8_t *start = fo.dlfo_map_start, *end = fo.dlfo_map_end;
    const struct link_map *lm = fo.dlfo_link_map;
    uintptr_t bias = lm ? lm->l_addr : 0;
    if (seen_before((uint64_t)(uintptr_t)start ^
                    ((uint64_t)(uintptr_t)lm << 20)))
        return;
    add_known((uintptr_t)start, (uintptr_t)end);
    char key[128 + 1 + PATH_MAX];
    size_t n = build_id(start, end, start + (bias - (uintptr_t)start), key);
    key[n++] = ':';
    const char *path =
        lm && lm->l_name && lm->l_name[0] ? lm->l_name : exe_path;
    size_t len = strnlen(path, PATH_MAX - 1);
    memcpy(key + n, path, len);
    n += len;
    uint32_t rec;
    if (mms_record_get(t, key, n, &rec) != 0)
        return;
    struct mms_cell c = mms__record_cell_shared(t, rec);
    if (!c.p)
        return;
    mms__cell_max(c, mms__record_member_off(t, 0), bias);
    mms__cell_max(c, mms__record_member_off(t, 1), (uintptr_t)start);
    mms__cell_max(c, mms__record_member_off(t, 2), (uintptr_t)end);
}

/* ------------------------------------------------------------- stacks */

/* backtrace, for the stacks the caching walker leaves (unwind.h). */
static int stack_slow(uint64_t *pcs, int max)
{
    void *bt[MMP_HEAP_DEPTH + 8];
    int n = backtrace(bt, max < MMP_HEAP_DEPTH + 8 ? max : MMP_HEAP_DEPTH + 8);
    for (int i = 0; i < n; i++)
        pcs[i] = (uint64_t)(uintptr_t)bt[i];
    return n;
}

unsigned mmp_heap_stack(const struct mmp_frame *from, uint64_t *frames,
                        bool *slow)
{
    uint64_t pcs[MMP_HEAP_DEPTH + 8];
    int max = (int)(sizeof pcs / sizeof pcs[0]);
    int n = mmp_unwind_from(from, pcs, max);
    *slow = n < 0;
    if (n < 0)
        n = stack_slow(pcs, max);
    int i = 0;
    while (i < n && pcs[i] >= shim_start && pcs[i] < shim_end)
        i++;
    unsigned k = 0;
    /* The known object of the frame before: callers are often in the
     * same object as their callees (one compare). */
    uint64_t lo = 0, hi = 0;
    for (; i < n && k < MMP_HEAP_DEPTH; i++, k++) {
        frames[k] = pcs[i];
        if (pcs[i] - lo >= hi - lo && !is_known(pcs[i], &lo, &hi))
            // NOLINTNEXTLINE(performance-no-int-to-ptr): a code address
            note_object((void *)(uintptr_t)pcs[i]);
    }
    return k;
}

void mmp_heap_stack_child(void)
{
    /* The child's records of the objects have their values zeroed (keys
     * kept): note each object again. */
    memset(seen, 0, sizeof seen);
    memset(known, 0, sizeof known);
    nknown = 0;
}

void mmp_heap_stack_start(void)
{
    void *pcs[4];
    if (backtrace(pcs, 4) <= 0) {
        /* nothing to do: stacks will be empty */
    }
    struct dl_find_object fo;
    if (_dl_find_object((void *)&mmp_heap_stack, &fo) == 0) {
        shim_start = (uintptr_t)fo.dlfo_map_start;
        shim_end = (uintptr_t)fo.dlfo_map_end;
    }
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = '\0';
}
