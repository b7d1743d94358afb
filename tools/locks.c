/* The contended locks of one process (locks.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "locks.h"

/* The members of sync.locks (preload/hook_sync.c), found by name. */
static const char *const member_name[LOCK_NMEMBERS] = {
    "contended", "wait", "max_wait", "first_site", "kind"};

void locks_view_free(struct locks_view *v)
{
    free(v->v);
    memset(v, 0, sizeof *v);
}

static int lock_cmp(const void *a, const void *b)
{
    const struct lock_row *x = a, *y = b;
    if (x->overflow != y->overflow)
        return x->overflow ? 1 : -1;
    if (x->wait_ns != y->wait_ns)
        return x->wait_ns > y->wait_ns ? -1 : 1;
    if (x->contended != y->contended)
        return x->contended > y->contended ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int locks_view(struct locks_view *v, const mms_snapshot *s)
{
    memset(v, 0, sizeof *v);
    size_t t = 0, nt = mms_snapshot_ntables(s);
    const struct mms_table_info *ti = NULL;
    for (; t < nt; t++) {
        ti = mms_snapshot_table(s, t);
        if (ti && !strcmp(ti->name, LOCKS_TABLE))
            break;
    }
    if (t == nt)
        return 0; /* no lock was ever contended, or no sync family */
    v->present = true;
    v->capacity = ti->capacity;
    int m[LOCK_NMEMBERS];
    for (int k = 0; k < LOCK_NMEMBERS; k++) {
        m[k] = -1;
        for (uint32_t j = 0; j < ti->nmembers; j++)
            if (!strcmp(ti->members[j].name, member_name[k]))
                m[k] = (int)j;
    }
    uint32_t nrec = 0;
    mms_snapshot_table_counts(s, t, &nrec, &v->overflow_hits);
    size_t n = mms_snapshot_nrecords(s, t);
    if (n && !(v->v = calloc(n, sizeof *v->v)))
        return -ENOMEM;
    for (size_t r = 0; r < n; r++) {
        const struct mms_record_info *ri = mms_snapshot_record(s, t, r);
        if (!ri)
            continue;
        struct lock_row *row = &v->v[v->n];
        row->overflow = ri->overflow;
        if (!ri->overflow && ri->key_len == 8)
            memcpy(&row->addr, ri->key, 8);
        else if (!ri->overflow)
            continue;
#define MEMBER(k) (m[k] >= 0 ? &ri->m[m[k]] : NULL)
        const struct mms_record_member *x;
        if ((x = MEMBER(LOCK_CONTENDED)))
            row->contended = x->v.u64;
        if ((x = MEMBER(LOCK_WAIT)))
            row->wait_ns = x->v.u64;
        if ((x = MEMBER(LOCK_MAX_WAIT)))
            row->max_wait_ns = x->v.u64;
        if ((x = MEMBER(LOCK_FIRST_SITE)))
            row->site = x->arg;
        if ((x = MEMBER(LOCK_KIND)))
            row->kind = (unsigned)x->v.u64;
#undef MEMBER
        if (row->overflow && !row->contended)
            continue;
        v->n++;
        if (!row->overflow)
            v->records++;
    }
    qsort(v->v, v->n, sizeof *v->v, lock_cmp);
    return 0;
}

const char *lock_kind_word(unsigned kind)
{
    switch (kind) {
    case 1:
        return "mutex";
    case 2:
        return "rwlock";
    case 4:
        return "spin";
    case 8:
        return "sem";
    default:
        return kind ? "mixed" : "-";
    }
}

/* ADDR as "file+0xoff" from /proc/PID/maps while the process runs, or
 * "0xADDR". */
static char *site_name(char *buf, size_t len, int32_t pid, uint64_t addr,
                       bool live)
{
    snprintf(buf, len, "0x%" PRIx64, addr);
    if (!live || !addr)
        return buf;
    char path[64], line[4096 + 128];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return buf;
    while (fgets(line, sizeof line, f)) {
        /* "lo-hi perms offset dev inode   path" */
        char *p = line, *end;
        unsigned long lo = strtoul(p, &end, 16);
        if (*end != '-')
            continue;
        unsigned long hi = strtoul(end + 1, &p, 16);
        if (addr < lo || addr >= hi)
            continue;
        p += strspn(p, " ");
        p += strcspn(p, " "); /* perms */
        unsigned long off = strtoul(p, &p, 16);
        for (int k = 0; k < 2; k++) { /* dev, inode */
            p += strspn(p, " ");
            p += strcspn(p, " ");
        }
        char *file = p + strspn(p, " ");
        file[strcspn(file, "\n")] = '\0';
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        if (*base) {
            char safe[256];
            snprintf(buf, len, "%s+0x%" PRIx64,
                     safe_copy(safe, sizeof safe, base),
                     (uint64_t)(addr - lo + off));
        }
        break;
    }
    fclose(f);
    return buf;
}

int locks_text(FILE *f, const struct locks_view *v, int32_t pid, bool live,
               bool raw, size_t top)
{
    if (!v->present || !v->n) {
        fprintf(f, "no contended lock recorded (the shim's sync family "
                   "records them)\n");
        return ferror(f) ? -EIO : 0;
    }
    fprintf(f, "%-18s %-6s %10s %10s %10s %10s  %s\n", "LOCK", "KIND",
            "CONTENDED", raw ? "WAIT_NS" : "WAIT", raw ? "AVG_NS" : "AVG",
            raw ? "MAX_NS" : "MAX", "FIRST CONTENDED AT");
    size_t shown = 0;
    for (size_t i = 0; i < v->n; i++) {
        const struct lock_row *r = &v->v[i];
        if (!r->overflow && shown >= top)
            continue;
        char lock[32], w[32], a[32], mx[32], site[320];
        double avg =
            r->contended ? (double)r->wait_ns / (double)r->contended : 0;
        if (raw) {
            snprintf(w, sizeof w, "%" PRIu64, r->wait_ns);
            snprintf(a, sizeof a, "%.0f", avg);
            snprintf(mx, sizeof mx, "%" PRIu64, r->max_wait_ns);
        } else {
            fmt_ns(w, sizeof w, (double)r->wait_ns);
            fmt_ns(a, sizeof a, avg);
            fmt_ns(mx, sizeof mx, (double)r->max_wait_ns);
        }
        if (r->overflow)
            snprintf(lock, sizeof lock, "(other)");
        else
            snprintf(lock, sizeof lock, "0x%" PRIx64, r->addr);
        fprintf(f, "%-18s %-6s %10" PRIu64 " %10s %10s %10s  %s\n", lock,
                lock_kind_word(r->kind), r->contended, w, a, mx,
                r->overflow ? "(locks beyond the table)"
                            : site_name(site, sizeof site, pid, r->site, live));
        shown += !r->overflow;
    }
    if (v->records > shown)
        fprintf(f, "... %zu more locks\n", v->records - shown);
    if (v->overflow_hits)
        fprintf(f,
                "the table was full (%u locks): %" PRIu64
                " contentions of other locks are summed in (other)\n",
                v->capacity ? v->capacity - 1 : 0, v->overflow_hits);
    return ferror(f) ? -EIO : 0;
}

void locks_json(struct jw *w, const struct locks_view *v, int32_t pid,
                bool live)
{
    jw_obj(w, "locks");
    jw_u64(w, "capacity", v->capacity ? v->capacity - 1 : 0);
    jw_u64(w, "overflow_hits", v->overflow_hits);
    jw_arr(w, "locks", false);
    for (size_t i = 0; i < v->n; i++) {
        const struct lock_row *r = &v->v[i];
        char buf[320];
        jw_obj(w, NULL);
        if (r->overflow) {
            jw_null(w, "address");
            jw_bool(w, "overflow", true);
        } else {
            snprintf(buf, sizeof buf, "0x%" PRIx64, r->addr);
            jw_str(w, "address", buf);
            jw_bool(w, "overflow", false);
        }
        jw_str(w, "kind", lock_kind_word(r->kind));
        jw_u64(w, "contended", r->contended);
        jw_u64(w, "wait_ns", r->wait_ns);
        jw_u64(w, "max_wait_ns", r->max_wait_ns);
        if (r->overflow || !r->site) {
            jw_null(w, "first_site");
        } else {
            snprintf(buf, sizeof buf, "0x%" PRIx64, r->site);
            jw_str(w, "first_site", buf);
            jw_str(w, "first_site_where",
                   site_name(buf, sizeof buf, pid, r->site, live));
        }
        jw_end_obj(w);
    }
    jw_end_arr(w);
    jw_end_obj(w);
}
