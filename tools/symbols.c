/* Return addresses to function, file and line: the objects the process
 * recorded in mem.heap.objects, each reported to libdwfl at the address
 * it was loaded at, if its file is still there with the same build id. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols.h"

#ifdef MMS_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#endif

struct object {
    char *path;
    char *build_id; /* hex, "" if none recorded */
    uint64_t base, start, end;
#ifdef MMS_HAVE_LIBDW
    Dwfl_Module *mod; /* NULL: not symbolised (no file, another build) */
#endif
};

struct symbols {
    struct object *obj;
    size_t n;
    char **strings; /* names and files handed out, freed with SY */
    size_t nstrings;
#ifdef MMS_HAVE_LIBDW
    Dwfl *dwfl;
#endif
};

static const char *keep(struct symbols *sy, const char *s)
{
    if (!s)
        return NULL;
    char **v = realloc(sy->strings, (sy->nstrings + 1) * sizeof *v);
    if (!v)
        return NULL;
    sy->strings = v;
    char *d = strdup(s);
    if (d)
        sy->strings[sy->nstrings++] = d;
    return d;
}

static const struct mms_table_info *find_table(const mms_snapshot *s,
                                               const char *name, size_t *t)
{
    for (size_t i = 0; i < mms_snapshot_ntables(s); i++) {
        const struct mms_table_info *ti = mms_snapshot_table(s, i);
        if (ti && ti->name && strcmp(ti->name, name) == 0) {
            *t = i;
            return ti;
        }
    }
    return NULL;
}

#ifdef MMS_HAVE_LIBDW
static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

/* The build id of module M in hex, into BUF (at least 129 bytes). */
static const char *module_build_id(Dwfl_Module *m, char *buf)
{
    const unsigned char *bits;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(m, &bits, &vaddr);
    buf[0] = '\0';
    for (int i = 0; i < n && i < 64; i++)
        sprintf(buf + (size_t)2 * i, "%02x", bits[i]);
    return buf;
}

static void report(struct symbols *sy)
{
    sy->dwfl = dwfl_begin(&callbacks);
    if (!sy->dwfl)
        return;
    dwfl_report_begin(sy->dwfl);
    for (size_t i = 0; i < sy->n; i++) {
        struct object *o = &sy->obj[i];
        if (o->path[0] != '/')
            continue; /* the vDSO, or a name without a file */
        Dwfl_Module *m =
            dwfl_report_elf(sy->dwfl, o->path, o->path, -1, o->base, false);
        char id[129];
        if (m && o->build_id[0] &&
            strcmp(module_build_id(m, id), o->build_id) != 0)
            m = NULL; /* the file was rebuilt since: its lines would lie */
        o->mod = m;
    }
    dwfl_report_end(sy->dwfl, NULL, NULL);
}
#endif

struct symbols *symbols_new(const mms_snapshot *s)
{
    struct symbols *sy = calloc(1, sizeof *sy);
    if (!sy)
        return NULL;
    size_t t;
    const struct mms_table_info *ti = find_table(s, "mem.heap.objects", &t);
    if (ti && ti->nmembers >= 3) {
        size_t nr = mms_snapshot_nrecords(s, t);
        sy->obj = calloc(nr ? nr : 1, sizeof *sy->obj);
        for (size_t r = 0; sy->obj && r < nr; r++) {
            const struct mms_record_info *ri = mms_snapshot_record(s, t, r);
            if (!ri || ri->overflow || ri->m[2].v.u64 == 0)
                continue;
            const char *k = (const char *)ri->key;
            const char *colon = memchr(k, ':', ri->key_len);
            if (!colon)
                continue;
            struct object *o = &sy->obj[sy->n];
            o->build_id = strndup(k, (size_t)(colon - k));
            o->path = strndup(colon + 1, ri->key_len - (size_t)(colon - k) - 1);
            if (!o->build_id || !o->path) {
                free(o->build_id);
                free(o->path);
                continue;
            }
            o->base = ri->m[0].v.u64;
            o->start = ri->m[1].v.u64;
            o->end = ri->m[2].v.u64;
            sy->n++;
        }
    }
#ifdef MMS_HAVE_LIBDW
    report(sy);
#endif
    return sy;
}

void symbols_lookup(struct symbols *sy, uint64_t pc, struct frame *out)
{
    *out = (struct frame){.pc = pc};
    const struct object *o = NULL;
    for (size_t i = 0; i < sy->n; i++)
        if (pc >= sy->obj[i].start && pc < sy->obj[i].end)
            o = &sy->obj[i]; /* the last recorded wins (dlclose, dlopen) */
    if (!o)
        return;
    out->object = o->path;
    out->offset = pc - o->base;
#ifdef MMS_HAVE_LIBDW
    if (!o->mod)
        return;
    /* A return address is the instruction after the call. */
    Dwarf_Addr a = pc - 1;
    const char *fn = dwfl_module_addrname(o->mod, a);
    out->function = keep(sy, fn);
    Dwfl_Line *l = dwfl_module_getsrc(o->mod, a);
    int line = 0;
    const char *file =
        l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
    if (file) {
        out->file = keep(sy, file);
        out->line = line;
    }
#endif
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

char *frame_name(char *buf, size_t len, const struct frame *f)
{
    if (f->function)
        snprintf(buf, len, "%s", f->function);
    else if (f->object)
        snprintf(buf, len, "%s+0x%" PRIx64, base_name(f->object), f->offset);
    else
        snprintf(buf, len, "0x%" PRIx64, f->pc);
    return buf;
}

char *frame_text(char *buf, size_t len, const struct frame *f)
{
    char name[512];
    frame_name(name, sizeof name, f);
    if (f->function && f->file)
        snprintf(buf, len, "%s (%s:%d)", name, base_name(f->file), f->line);
    else if (f->function && f->object)
        snprintf(buf, len, "%s (%s)", name, base_name(f->object));
    else
        snprintf(buf, len, "%s", name);
    return buf;
}

void symbols_free(struct symbols *sy)
{
    if (!sy)
        return;
#ifdef MMS_HAVE_LIBDW
    if (sy->dwfl)
        dwfl_end(sy->dwfl);
#endif
    for (size_t i = 0; i < sy->n; i++) {
        free(sy->obj[i].path);
        free(sy->obj[i].build_id);
    }
    free(sy->obj);
    for (size_t i = 0; i < sy->nstrings; i++)
        free(sy->strings[i]);
    free(sy->strings);
    free(sy);
}
