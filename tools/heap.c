/* The heap profile of a process: the shim's mem.heap.sites table
 * (estimated bytes and allocations per stack, allocated and live),
 * symbolised, sorted and printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mmstats/preload.h>

#include "common.h"
#include "heap.h"

enum { M_BYTES, M_ALLOCS, M_LIVE_BYTES, M_LIVE_ALLOCS, M_SAMPLES, NM };
static const char *const member_names[NM] = {"bytes", "allocs", "live_bytes",
                                             "live_allocs", "samples"};

static bool field_u64(const mms_snapshot *s, const char *name, uint64_t *v)
{
    size_t i;
    if (mms_snapshot_find(s, name, &i) != 0)
        return false;
    const struct mms_value *val = mms_snapshot_value(s, i);
    if (!val)
        return false;
    *v = val->kind == MMS_KIND_GAUGE ? (uint64_t)val->v.i64 : val->v.u64;
    return true;
}

/* Member positions of table TI by name (a reader must not assume the
 * writer's order): -1 for a missing one. */
static void member_map(const struct mms_table_info *ti, int *map)
{
    for (unsigned k = 0; k < NM; k++) {
        map[k] = -1;
        for (uint32_t m = 0; m < ti->nmembers; m++)
            if (strcmp(ti->members[m].name, member_names[k]) == 0)
                map[k] = (int)m;
    }
}

static uint64_t mu(const struct mms_record_info *ri, const int *map, int k)
{
    return map[k] < 0 ? 0 : ri->m[map[k]].v.u64;
}

int heap_load(const mms_snapshot *s, struct heap *h)
{
    *h = (struct heap){0};
    size_t t = SIZE_MAX;
    const struct mms_table_info *ti = NULL;
    for (size_t i = 0; i < mms_snapshot_ntables(s); i++) {
        ti = mms_snapshot_table(s, i);
        if (ti && ti->name && strcmp(ti->name, "mem.heap.sites") == 0) {
            t = i;
            break;
        }
    }
    field_u64(s, MMS_PRELOAD_MEM_ALLOC_BYTES, &h->alloc_bytes);
    field_u64(s, MMS_PRELOAD_MEM_FREED_BYTES, &h->freed_bytes);
    uint64_t live = 0, peak = 0;
    field_u64(s, MMS_PRELOAD_MEM_LIVE_BYTES, &live);
    field_u64(s, MMS_PRELOAD_MEM_PEAK_BYTES, &peak);
    h->live_bytes = (int64_t)live;
    h->peak_bytes = (int64_t)peak;
    if (t == SIZE_MAX)
        return 0;
    h->present = true;
    field_u64(s, "mem.heap.sample_bytes", &h->sample_bytes);
    field_u64(s, "mem.heap.samples", &h->samples);
    field_u64(s, "mem.heap.untracked", &h->untracked);
    field_u64(s, "mem.heap.reentered", &h->reentered);
    field_u64(s, "mem.heap.slow_stacks", &h->slow_stacks);
    mms_snapshot_table_counts(s, t, &h->nsites, &h->overflowed);
    h->capacity = ti->capacity;
    int map[NM];
    member_map(ti, map);
    size_t nr = mms_snapshot_nrecords(s, t);
    h->site = calloc(nr ? nr : 1, sizeof *h->site);
    h->sym = symbols_new(s);
    if (!h->site || !h->sym)
        return -ENOMEM;
    for (size_t r = 0; r < nr; r++) {
        const struct mms_record_info *ri = mms_snapshot_record(s, t, r);
        if (!ri)
            continue;
        struct heap_site *st = &h->site[h->n];
        st->bytes = mu(ri, map, M_BYTES);
        st->allocs = mu(ri, map, M_ALLOCS);
        st->live_bytes = (int64_t)mu(ri, map, M_LIVE_BYTES);
        st->live_allocs = (int64_t)mu(ri, map, M_LIVE_ALLOCS);
        st->samples = mu(ri, map, M_SAMPLES);
        /* A forked child keeps its parent's sites with zero values:
         * not its own. */
        if (!st->samples && !st->live_bytes)
            continue;
        if (st->live_bytes < 0)
            h->negative++;
        uint32_t nf = ri->overflow ? 0 : ri->key_len / 8;
        st->frames = calloc(nf ? nf : 1, sizeof *st->frames);
        if (!st->frames)
            return -ENOMEM;
        for (uint32_t k = 0; k < nf; k++) {
            uint64_t pc;
            memcpy(&pc, ri->key + (size_t)8 * k, 8);
            symbols_lookup(h->sym, pc, &st->frames[k]);
        }
        st->nframes = nf;
        h->n++;
    }
    return 0;
}

void heap_free(struct heap *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->site[i].frames);
    free(h->site);
    symbols_free(h->sym);
    *h = (struct heap){0};
}

static enum heap_order sort_by;
static const struct heap *sort_heap;

static int cmp_sites(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct heap_site *x = &sort_heap->site[i], *y = &sort_heap->site[j];
    int64_t u = sort_by == HEAP_BY_LIVE ? x->live_bytes : (int64_t)x->bytes;
    int64_t v = sort_by == HEAP_BY_LIVE ? y->live_bytes : (int64_t)y->bytes;
    if (u != v)
        return u > v ? -1 : 1;
    return i < j ? -1 : i > j;
}

size_t *heap_sorted(const struct heap *h, enum heap_order by)
{
    size_t *ix = malloc((h->n ? h->n : 1) * sizeof *ix);
    if (!ix)
        return NULL;
    for (size_t i = 0; i < h->n; i++)
        ix[i] = i;
    sort_by = by;
    sort_heap = h;
    qsort(ix, h->n, sizeof *ix, cmp_sites);
    return ix;
}

/* The site's name: its first frame, or "(other)". */
static char *site_name(char *buf, size_t len, const struct heap_site *st)
{
    if (!st->nframes)
        return safe_copy(buf, len, "(other: sites that did not fit)");
    char t[1024];
    return safe_copy(buf, len, frame_text(t, sizeof t, &st->frames[0]));
}

static char *num(char *buf, size_t len, int64_t v, bool bytes, bool raw)
{
    if (raw || !bytes)
        snprintf(buf, len, "%" PRId64, v);
    else if (v < 0)
        buf[0] = '-', fmt_bytes(buf + 1, len - 1, (uint64_t)-v);
    else
        fmt_bytes(buf, len, (uint64_t)v);
    return buf;
}

static void text_order(FILE *f, const struct heap *h, enum heap_order by,
                       size_t top, unsigned depth, bool raw)
{
    size_t *ix = heap_sorted(h, by);
    if (!ix)
        return;
    fprintf(f, "\ntop sites by %s bytes\n",
            by == HEAP_BY_LIVE ? "live" : "allocated");
    fprintf(f, "%10s %9s %10s %9s  %s\n", "LIVE", "LIVE#", "ALLOC", "ALLOC#",
            "SITE");
    size_t shown = 0;
    for (size_t k = 0; k < h->n && shown < top; k++) {
        const struct heap_site *st = &h->site[ix[k]];
        if (by == HEAP_BY_LIVE ? st->live_bytes <= 0 : st->bytes == 0)
            continue;
        char a[32], b[32], c[32], d[32], name[1024];
        fprintf(f, "%10s %9s %10s %9s  %s\n",
                num(a, sizeof a, st->live_bytes, true, raw),
                num(b, sizeof b, st->live_allocs, false, raw),
                num(c, sizeof c, (int64_t)st->bytes, true, raw),
                num(d, sizeof d, (int64_t)st->allocs, false, raw),
                site_name(name, sizeof name, st));
        for (uint32_t i = 1; i < st->nframes && i < depth; i++) {
            char t[1024];
            fprintf(f, "%43s%s\n", "",
                    safe_copy(name, sizeof name,
                              frame_text(t, sizeof t, &st->frames[i])));
        }
        shown++;
    }
    if (!shown)
        fprintf(f, "%43s(none)\n", "");
    free(ix);
}

void heap_text(FILE *f, const struct heap *h, size_t top, unsigned depth,
               bool raw)
{
    char a[32], b[32], c[32], d[32];
    if (!h->present) {
        fprintf(f, "no heap profile (not under the shim, the mem family "
                   "off, MMSTATS_HEAP_SAMPLE=0, or no allocation yet)\n");
        return;
    }
    fprintf(f, "heap profile: one sample per %s allocated on average\n",
            num(a, sizeof a, (int64_t)h->sample_bytes, true, raw));
    fprintf(f,
            "  %" PRIu64 " samples, %" PRIu64 " untracked (frees not seen), "
            "%" PRIu64 " reentered, %" PRIu64 " slow stacks; %u sites of "
            "at most %u, %" PRIu64 " samples overflowed\n",
            h->samples, h->untracked, h->reentered, h->slow_stacks,
            h->nsites ? h->nsites - 1 : 0, h->capacity, h->overflowed);
    fprintf(f,
            "  process: live %s, peak %s; allocated %s, freed %s (since "
            "start or fork)\n",
            num(a, sizeof a, h->live_bytes, true, raw),
            num(b, sizeof b, h->peak_bytes, true, raw),
            num(c, sizeof c, (int64_t)h->alloc_bytes, true, raw),
            num(d, sizeof d, (int64_t)h->freed_bytes, true, raw));
    text_order(f, h, HEAP_BY_LIVE, top, depth, raw);
    text_order(f, h, HEAP_BY_ALLOC, top, depth, raw);
}

static void json_site(struct jw *w, const struct heap_site *st)
{
    jw_obj(w, NULL);
    jw_i64(w, "live_bytes", st->live_bytes);
    jw_i64(w, "live_allocs", st->live_allocs);
    jw_u64(w, "bytes", st->bytes);
    jw_u64(w, "allocs", st->allocs);
    jw_u64(w, "samples", st->samples);
    jw_bool(w, "other", st->nframes == 0);
    jw_arr(w, "stack", false);
    for (uint32_t i = 0; i < st->nframes; i++) {
        const struct frame *fr = &st->frames[i];
        char pc[32];
        snprintf(pc, sizeof pc, "0x%" PRIx64, fr->pc);
        jw_obj(w, NULL);
        jw_str(w, "pc", pc);
        if (fr->function)
            jw_str(w, "function", fr->function);
        else
            jw_null(w, "function");
        if (fr->file) {
            jw_str(w, "file", fr->file);
            jw_i64(w, "line", fr->line);
        } else {
            jw_null(w, "file");
            jw_null(w, "line");
        }
        if (fr->object) {
            jw_str(w, "object", fr->object);
            jw_u64(w, "offset", fr->offset);
        } else {
            jw_null(w, "object");
            jw_null(w, "offset");
        }
        jw_end_obj(w);
    }
    jw_end_arr(w);
    jw_end_obj(w);
}

static void json_order(struct jw *w, const struct heap *h, enum heap_order by,
                       size_t top)
{
    size_t *ix = heap_sorted(h, by);
    jw_arr(w, by == HEAP_BY_LIVE ? "by_live" : "by_allocated", false);
    size_t shown = 0;
    for (size_t k = 0; ix && k < h->n && (!top || shown < top); k++) {
        const struct heap_site *st = &h->site[ix[k]];
        if (by == HEAP_BY_LIVE ? st->live_bytes <= 0 : st->bytes == 0)
            continue;
        json_site(w, st);
        shown++;
    }
    jw_end_arr(w);
    free(ix);
}

void heap_json(struct jw *w, const struct heap *h, size_t top)
{
    if (!h->present) {
        jw_null(w, "heap");
        return;
    }
    jw_obj(w, "heap");
    jw_u64(w, "sample_bytes", h->sample_bytes);
    jw_u64(w, "samples", h->samples);
    jw_u64(w, "untracked", h->untracked);
    jw_u64(w, "reentered", h->reentered);
    jw_u64(w, "slow_stacks", h->slow_stacks);
    jw_u64(w, "negative_sites", h->negative);
    jw_u64(w, "sites", h->nsites ? h->nsites - 1 : 0);
    jw_u64(w, "capacity", h->capacity);
    jw_u64(w, "overflowed", h->overflowed);
    jw_i64(w, "live_bytes", h->live_bytes);
    jw_u64(w, "alloc_bytes", h->alloc_bytes);
    jw_u64(w, "freed_bytes", h->freed_bytes);
    jw_i64(w, "peak_bytes", h->peak_bytes);
    json_order(w, h, HEAP_BY_LIVE, top);
    json_order(w, h, HEAP_BY_ALLOC, top);
    jw_end_obj(w);
}

/* A folded stack's frame names must not hold ';' (the separator) or the
 * space before the count, nor control bytes. */
static void folded_name(FILE *f, const struct frame *fr)
{
    char name[512];
    frame_name(name, sizeof name, fr);
    for (char *p = name; *p; p++)
        if (*p == ';' || *p == ' ' || (unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '_';
    fputs(name, f);
}

void heap_folded(FILE *f, const struct heap *h, enum heap_order by)
{
    for (size_t i = 0; i < h->n; i++) {
        const struct heap_site *st = &h->site[i];
        int64_t v = by == HEAP_BY_LIVE ? st->live_bytes : (int64_t)st->bytes;
        if (v <= 0)
            continue;
        if (!st->nframes)
            fputs("(other)", f);
        for (uint32_t k = st->nframes; k-- > 0;) {
            folded_name(f, &st->frames[k]);
            if (k)
                fputc(';', f);
        }
        fprintf(f, " %" PRId64 "\n", v);
    }
}
