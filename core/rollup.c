/* Rollups (docs/format.md section 15): what becomes of a process's file
 * once the process is gone, as the keep policy in its header says; the
 * fold of such a file into its group's rollup (a merge written as a new
 * file, crash-safe, never counting a file twice); sweeps of a directory;
 * and the exec and exit moments of the preload shim. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hotpath.h"
#include "internal.h"

/* Test builds stop or kill a folder between the protocol's steps
 * (tests/unit/test_rollup.c): called with the step just done. */
MMS_HIDDEN void (*mms__fold_hook)(int step);
void (*mms__fold_hook)(int step);

enum {
    STEP_MARKED = 1,  /* the file is FOLDING */
    STEP_PENDING = 2, /* the rollup names it in fold_pending */
    STEP_WRITTEN = 3, /* the new rollup is written, not yet renamed */
    STEP_RENAMED = 4, /* the new rollup is in place (the commit) */
    STEP_REMOVED = 5, /* the file is unlinked */
};

static void step(int s)
{
    void (*h)(int) = mms_load_acquire(&mms__fold_hook);
    if (h)
        h(s);
}

#define EXEC_PREFIX ".exec-"

/* ------------------------------------------------------------ policy */

static const char *const keep_names[] = {
    [MMS_KEEP_ALL] = "all",
    [MMS_KEEP_ROLLUP] = "rollup",
    [MMS_KEEP_NONE] = "none",
    [MMS_KEEP_AUTO] = "auto",
};

int mms_keep_parse(const char *s)
{
    for (unsigned k = MMS_KEEP_ALL; s && k <= MMS_KEEP_AUTO; k++)
        if (!strcmp(s, keep_names[k]))
            return (int)k;
    return -EINVAL;
}

const char *mms_keep_name(unsigned keep)
{
    if (keep == 0)
        return keep_names[MMS_KEEP_ALL];
    return keep <= MMS_KEEP_AUTO ? keep_names[keep] : "unknown";
}

/* Seconds ("90", "1.5", "90s") as ms, or 0 if malformed. */
static uint32_t seconds_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || (*end && strcmp(end, "s") != 0) || !(v > 0) || v > 4e6)
        return 0;
    return (uint32_t)(v * 1000 + 0.5);
}

/* Copy S into a group name: bytes outside [A-Za-z0-9._+-] become '_' (no
 * '@', no '/'), no leading '.', at most MMS_GROUP_LEN - 1 bytes. */
static void group_clean(char *out, const char *s)
{
    size_t n = 0;
    for (; s && s[n] && n < MMS_GROUP_LEN - 1; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
                  c == '+';
        out[n] = ok ? c : '_';
    }
    if (n && out[0] == '.')
        out[0] = '_';
    memset(out + n, 0, MMS_GROUP_LEN - n);
}

void mms__writer_keep_init(mms_writer *w, const struct mms_writer_options *o,
                           const char *label)
{
    bool env = !(o->flags & MMS_W_NO_ENV);
    const char *v = env ? secure_getenv("MMSTATS_KEEP") : NULL;
    int k = o->keep ? (int)o->keep : v && *v ? mms_keep_parse(v) : -1;
    w->keep = k > 0 && k <= MMS_KEEP_AUTO ? (uint32_t)k : MMS_KEEP_AUTO;
    v = env ? secure_getenv("MMSTATS_KEEP_AFTER") : NULL;
    uint32_t ms = o->keep_after_ms ? o->keep_after_ms
                  : v && *v        ? seconds_ms(v)
                                   : 0;
    w->keep_after_ms = ms ? ms : MMS_KEEP_AFTER_DEFAULT_MS;
    const char *tmpl = o->group;
    if (!tmpl && env && (v = secure_getenv("MMSTATS_GROUP")) && *v)
        tmpl = v;
    /* By default a program's group; a named model (a library writer
     * beside the shim's file in the same process) and a label each get
     * their own, so a rollup counts each process once. */
    char def[32];
    snprintf(def, sizeof def, "{exe}%s%s", o->name && *o->name ? "-{name}" : "",
             label && *label ? "-{label}" : "");
    char buf[NAME_MAX + 1];
    if (!tmpl || mms__template_expand(buf, sizeof buf, tmpl, mms__proc_exe(),
                                      label, o->name, (long)getpid()) < 0)
        mms__template_expand(buf, sizeof buf, def, mms__proc_exe(), label,
                             o->name, (long)getpid());
    group_clean(w->group, buf);
}

int mms_rollup_name(const char *group, char *buf, size_t len)
{
    char g[MMS_GROUP_LEN];
    group_clean(g, group);
    if (!g[0])
        return -EINVAL;
    int n = snprintf(buf, len, "%s" MMS_ROLLUP_SUFFIX, g);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The group a file folds into: its header's, else its program's. */
static void group_of(const struct mms_proc_info *pi, char *out)
{
    char buf[MMS_GROUP_LEN * 2 + 2];
    if (pi->group[0])
        snprintf(buf, sizeof buf, "%s", pi->group);
    else if (pi->label[0])
        snprintf(buf, sizeof buf, "%s-%s", pi->exe, pi->label);
    else
        snprintf(buf, sizeof buf, "%s", pi->exe[0] ? pi->exe : "unknown");
    group_clean(out, buf);
    if (!out[0])
        group_clean(out, "unknown");
}

static bool is_rollup_name(const char *n)
{
    size_t len = strlen(n), s = sizeof MMS_ROLLUP_SUFFIX - 1;
    return len > s && !strcmp(n + len - s, MMS_ROLLUP_SUFFIX);
}

/* ".exec-<pid>.mmstats": an exec'd image's parked file. */
static pid_t exec_name_pid(const char *n)
{
    size_t p = sizeof EXEC_PREFIX - 1;
    if (strncmp(n, EXEC_PREFIX, p) != 0)
        return 0;
    long pid = 0;
    const char *c = n + p;
    for (; *c >= '0' && *c <= '9' && pid < (1L << 22); c++)
        pid = pid * 10 + (*c - '0');
    return pid > 0 && !strcmp(c, MMS_FILE_SUFFIX) ? (pid_t)pid : 0;
}

static int exec_name(char *buf, size_t len, pid_t pid)
{
    int n = snprintf(buf, len, EXEC_PREFIX "%ld" MMS_FILE_SUFFIX, (long)pid);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ------------------------------------------------------------- fates */

static int fate_of(mms_reader *r, const struct mms_proc_info *pi, int live,
                   const char *rollup_done, unsigned flags)
{
    if (pi->flags & MMS_HF_ROLLUP)
        return MMS_FATE_ROLLUP;
    const char *name = strrchr(mms_reader_path(r), '/');
    name = name ? name + 1 : mms_reader_path(r);
    if (pi->state == MMS_STATE_FOLDING)
        return rollup_done && !strcmp(rollup_done, name) ? MMS_FATE_FOLDED
                                                         : MMS_FATE_FOLD;
    if (live != MMS_LIVE_DEAD && live != MMS_LIVE_PID_REUSED)
        return MMS_FATE_LIVE;
    if ((flags & MMS_FOLD_ALL) && pi->keep != MMS_KEEP_NONE)
        return MMS_FATE_FOLD;
    switch (pi->keep) {
    case MMS_KEEP_ROLLUP:
        return MMS_FATE_FOLD;
    case MMS_KEEP_NONE:
        return MMS_FATE_REMOVE;
    case MMS_KEEP_AUTO:
        /* A process that finished after a long life keeps its file; one
         * that died without finishing (killed) has no known end, and its
         * values go to the rollup rather than be lost with a stale file. */
        return pi->state == MMS_STATE_FINISHED && pi->finished_ns &&
                       pi->finished_ns - pi->created_ns >=
                           (int64_t)pi->keep_after_ms * 1000000
                   ? MMS_FATE_KEEP
                   : MMS_FATE_FOLD;
    default:
        return MMS_FATE_KEEP;
    }
}

/* The directory of R's file, and its name in it. */
static void split(const char *path, char *dir, size_t len, const char **name)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        mms__strlcpy(dir, ".", len);
        *name = path;
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n >= len)
        n = len - 1;
    memcpy(dir, path, n ? n : 1);
    dir[n ? n : 1] = '\0';
    *name = slash + 1;
}

/* fold_done of the rollup of PI's group in DIR, into DONE ("" if none). */
static void rollup_done_of(const char *dir, const struct mms_proc_info *pi,
                           char *done, size_t len)
{
    char g[MMS_GROUP_LEN], rn[NAME_MAX + 1], path[PATH_MAX];
    done[0] = '\0';
    group_of(pi, g);
    if (mms_rollup_name(g, rn, sizeof rn) < 0 ||
        snprintf(path, sizeof path, "%s/%s", dir, rn) >= (int)sizeof path)
        return;
    mms_reader *rr;
    if (mms_reader_open(&rr, path) < 0)
        return;
    struct mms_proc_info ri;
    if (mms_reader_info(rr, &ri) == 0)
        mms__strlcpy(done, ri.fold_done, len);
    mms_reader_close(rr);
}

/* Process liveness of R's writer, whatever the file's state. */
static int process_live(mms_reader *r)
{
    if (r->broken)
        return MMS_ETRUNCATED;
    int rc = 0;
    MMS__GUARDED(r, rc, mms__process_liveness(&r->h));
    return rc;
}

int mms_reader_fate(mms_reader *r, int64_t now_ns)
{
    if (!r)
        return -EINVAL;
    struct mms_proc_info pi;
    int rc = mms_reader_info(r, &pi);
    if (rc < 0)
        return rc;
    char dir[PATH_MAX], done[MMS_FOLD_NAME_LEN] = "";
    const char *name;
    split(mms_reader_path(r), dir, sizeof dir, &name);
    if (pi.state == MMS_STATE_FOLDING)
        rollup_done_of(dir, &pi, done, sizeof done);
    int live = process_live(r);
    if (live < 0)
        return live;
    (void)now_ns;
    return fate_of(r, &pi, live, done, 0);
}

int mms_reader_folded(mms_reader *r)
{
    struct mms_proc_info pi;
    if (!r || mms_reader_info(r, &pi) < 0 || pi.state != MMS_STATE_FOLDING)
        return 0;
    char dir[PATH_MAX], done[MMS_FOLD_NAME_LEN];
    const char *name;
    split(mms_reader_path(r), dir, sizeof dir, &name);
    rollup_done_of(dir, &pi, done, sizeof done);
    return done[0] && !strcmp(done, name);
}

/* ----------------------------------------------------- writing rollups */

/* What a new rollup's header says besides its values. */
struct rollup_meta {
    const struct mms_proc_info *src; /* exe, label, host, cmdline from it */
    const char *group;
    const char *fold_done;
    int64_t created_ns;
};

static int spec_of(const struct mms_merge_field *mf,
                   const struct mms__rfield *rf, struct mms_field_spec *s)
{
    const struct mms_field_info *fi = &mf->info;
    memset(s, 0, sizeof *s);
    s->name = fi->name;
    /* A gauge kept per thread (3.1) is folded as the counter it is. */
    s->kind = (fi->flags & MMS_DF_GAUGE_SUM) ? MMS_KIND_COUNTER : fi->kind;
    s->type = fi->type;
    s->units = fi->units;
    s->help = fi->help;
    s->flags = fi->flags & (MMS_DF_STATIC | MMS_DF_WINDOW | MMS_DF_GAUGE_SUM);
    s->hist_bits = fi->hist_bits;
    s->hist_max_exp = fi->hist_max_exp;
    s->window_bits = fi->window_bits;
    s->nmembers = fi->n;
    s->members = fi->members;
    if (fi->kind == MMS_KIND_STRING)
        s->capacity = rf->value_size - (uint32_t)sizeof(struct mms_string_cell);
    else if (fi->kind == MMS_KIND_MOVAVG)
        s->capacity = fi->n;
    return fi->kind >= MMS_KIND_COUNTER && fi->kind <= MMS_KIND_SCALAR
               ? 0
               : -EINVAL;
}

/* Buckets of H into the histogram body BODY ({count, sum, min_inv, max,
 * chunk[]}) of index I / MEMBER in shard 0. */
static int hist_write(mms_writer *w, uint64_t *body, const struct mms_hist *h,
                      uint32_t i, uint16_t member)
{
    if (!h->count)
        return 0;
    body[0] = h->count;
    body[1] = h->sum;
    body[2] = ~h->min;
    body[3] = h->max;
    uint32_t *dir = (uint32_t *)(body + 4);
    uint32_t pos = 0, b;
    uint64_t n;
    while (mms_hist_next(h, &pos, &b, &n)) {
        uint32_t c = b >> h->bits;
        uint64_t *cb = mms__chunk_slow(
            w, dir, c, mms__chunk_nb(h->nbuckets, h->bits, c), 0, i, member);
        if (!cb)
            return MMS_EFULL;
        cb[b & ((1u << h->bits) - 1)] = n;
    }
    return 0;
}

static void ring_write(uint8_t *cell, const struct mms__rfield *rf,
                       const struct mms__ring *r)
{
    if (rf->kind == MMS_KIND_COUNTER) {
        struct mms_window_slot *sl = (struct mms_window_slot *)(cell + 8);
        for (uint32_t p = 0; p < MMS_WINDOW_SLOTS; p++) {
            sl[p].sec = r->sec[p];
            sl[p].sum = r->sum[p];
        }
        return;
    }
    uint64_t *sl = (uint64_t *)(cell + rf->win_off);
    size_t words = 3 + rf->win_nbuckets;
    for (uint32_t p = 0; p < MMS_WINDOW_SLOTS; p++, sl += words) {
        sl[0] = r->sec[p];
        sl[1] = r->count[p];
        sl[2] = r->sum[p];
        memcpy(sl + 3, r->buckets + (size_t)p * rf->win_nbuckets,
               (size_t)rf->win_nbuckets * 8);
    }
}

static int field_write(mms_writer *w, const mms_merge *m, size_t i)
{
    const struct mms_merge_field *mf = mms_merge_field(m, i);
    const struct mms__rfield *rf = mms__merge_rfield(m, i);
    struct mms_field_spec spec;
    mms_field *f;
    int rc = spec_of(mf, rf, &spec);
    if (rc < 0 || (rc = mms_field_add(w, &spec, &f)) < 0)
        return rc;
    if (f->flags & MMS_DF_SHARDED) {
        struct mms_cell c = mms__cell_shared(f);
        if (!c.p)
            return MMS_EFULL;
        if (f->kind == MMS_KIND_COUNTER)
            *(uint64_t *)c.p = mf->value.v.u64;
        else if ((rc = hist_write(w, (uint64_t *)c.p + 1, mf->value.v.hist,
                                  f->index, 0)) < 0)
            return rc;
        const struct mms__ring *r = mms__merge_ring(m, i);
        if (r && (f->flags & MMS_DF_WINDOW))
            ring_write(c.p, rf, r);
        return 0;
    }
    const uint8_t *raw = mms__merge_raw(m, i);
    if (raw && f->value && f->value_size == rf->value_size) {
        memcpy(f->value, raw, f->value_size);
        if (f->kind == MMS_KIND_STRING || f->kind == MMS_KIND_STRUCT ||
            f->kind == MMS_KIND_MOVAVG)
            *(uint64_t *)f->value = 0; /* seqlock: stable */
    }
    return 0;
}

/* Record RI of a merged table into T's record REC, shard 0. */
static int record_write(mms_writer *w, mms_table *t, uint32_t rec,
                        const mms_merge *m, size_t tt, size_t r)
{
    const struct mms_record_info *ri = mms_merge_record(m, tt, r);
    struct mms__shard *sh0 = mms__shard_get(w, 0);
    uint8_t *c =
        sh0 ? mms__cell_slow(w, sh0, rec, rec, 1, t->cell_size, 0) : NULL;
    if (!c)
        return MMS_EFULL;
    for (uint32_t k = 0; k < t->nmembers; k++) {
        const struct mms__tmember *tm = &t->m[k];
        uint64_t *p = (uint64_t *)(c + tm->off);
        const struct mms_record_member *v = &ri->m[k];
        switch (tm->kind) {
        case MMS_MK_SUM:
        case MMS_MK_SUM_I64:
            p[0] += v->v.u64;
            break;
        case MMS_MK_MAX:
            if (v->v.u64 > p[0])
                p[0] = v->v.u64;
            break;
        case MMS_MK_MIN:
            if (v->v.u64 && (!p[0] || v->v.u64 < ~p[0]))
                p[0] = ~v->v.u64;
            break;
        case MMS_MK_MAXARG:
            if (v->v.u64 > p[0] || (!p[0] && !p[1])) {
                p[0] = v->v.u64;
                p[1] = v->arg;
            }
            break;
        case MMS_MK_HIST: {
            /* Several merged records may land in the overflow record:
             * add into what is there. */
            const struct mms_hist *h = mms_merge_record_hist(m, tt, r, k);
            struct mms_hist sum;
            int rc = mms_hist_init(&sum, tm->bits, tm->max_exp);
            if (rc < 0)
                return rc;
            if (p[0]) {
                sum.count = p[0];
                sum.sum = p[1];
                sum.min = ~p[2];
                sum.max = p[3];
                uint32_t *dir = (uint32_t *)(p + 4);
                for (uint32_t ch = 0; ch < tm->nchunks; ch++) {
                    if (!dir[ch])
                        continue;
                    const uint64_t *b =
                        (const uint64_t *)(mms__ptr(w, dir[ch]) +
                                           sizeof(struct mms_chunk_block));
                    uint32_t nb = mms__chunk_nb(tm->nbuckets, tm->bits, ch);
                    memcpy(sum.buckets + ((size_t)ch << tm->bits), b,
                           (size_t)nb * 8);
                }
            }
            if (h)
                rc = mms_hist_merge(&sum, h);
            if (rc == 0)
                rc = hist_write(w, p, &sum, rec, (uint16_t)k);
            mms_hist_free(&sum);
            if (rc < 0)
                return rc;
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

static int table_write(mms_writer *w, const mms_merge *m, size_t tt)
{
    const struct mms_merge_table *mt = mms_merge_table(m, tt);
    const struct mms_table_info *ti = &mt->info;
    struct mms_table_spec spec = {.name = ti->name,
                                  .help = ti->help,
                                  .capacity = ti->capacity,
                                  .key_type = ti->key_type,
                                  .key_max = (uint16_t)ti->key_max,
                                  .members = ti->members,
                                  .nmembers = ti->nmembers};
    mms_table *t;
    int rc = mms_table_new(w, &spec, &t);
    if (rc < 0)
        return rc;
    uint64_t hits0 = mms_load_relaxed(&t->blk->overflow_hits);
    for (size_t r = 0; r < mms_merge_nrecords(m, tt); r++) {
        const struct mms_record_info *ri = mms_merge_record(m, tt, r);
        uint32_t rec = t->overflow;
        if (!ri->overflow &&
            (rc = mms_record_get(t, ri->key, ri->key_len, &rec)) < 0)
            return rc;
        if ((rc = record_write(w, t, rec, m, tt, r)) < 0)
            return rc;
    }
    /* Lookups the files answered with their overflow record, and the
     * merged records that did not fit here. */
    uint64_t extra = mms_load_relaxed(&t->blk->overflow_hits) - hits0;
    mms_store_relaxed(&t->blk->overflow_hits, mt->overflow_hits + extra);
    return 0;
}

static void header_write(mms_writer *w, const mms_merge *m,
                         const struct rollup_meta *meta)
{
    struct mms_file_header *h = w->hdr;
    const struct mms_proc_info *src = meta->src;
    struct mms_merge_info mi;
    mms_merge_info(m, &mi);
    h->flags |= MMS_HF_ROLLUP;
    h->pid = 0;
    h->ppid = 0;
    h->start_ticks = 0;
    h->pidns_dev = h->pidns_ino = 0;
    h->nspid_count = 0;
    memset(h->nspid, 0, sizeof h->nspid);
    memset(h->boot_id, 0, sizeof h->boot_id);
    h->uid = src->uid;
    h->gid = src->gid;
    h->created_ns = meta->created_ns;
    mms__strlcpy(h->exe, src->exe, sizeof h->exe);
    mms__strlcpy(h->label, src->label, sizeof h->label);
    mms__strlcpy(h->host, src->host, sizeof h->host);
    /* The reader showed NULs as spaces; the rollup keeps them so. */
    size_t cl = strnlen(src->cmdline, MMS_CMDLINE_LEN - 1);
    memset(h->cmdline, 0, sizeof h->cmdline);
    memcpy(h->cmdline, src->cmdline, cl);
    h->cmdline_len = (uint32_t)cl;
    mms__strlcpy(h->cgroup, src->cgroup, sizeof h->cgroup);
    h->cgroup_len = (uint32_t)strnlen(h->cgroup, MMS_CGROUP_LEN - 1);
    h->fold_procs = mi.procs;
    h->fold_first_ns = mi.first_ns;
    h->fold_last_ns = mi.last_ns;
    mms__strlcpy(h->group, meta->group, sizeof h->group);
    memset(h->fold_pending, 0, sizeof h->fold_pending);
    mms__strlcpy(h->fold_done, meta->fold_done, sizeof h->fold_done);
    h->threads_seen = mi.threads_seen;
    h->threads_shared = mi.threads_shared;
    mms_store_relaxed(&h->dropped, mms_load_relaxed(&h->dropped) + mi.dropped);
    h->keep = 0;
    h->keep_after_ms = 0;
    mms_store_relaxed(&h->finished_ns, mms__now_ns(CLOCK_REALTIME));
    mms_store_release(&h->p.state, (uint32_t)MMS_STATE_FINISHED);
}

/* Trim the file to what it holds and write it to disk. */
static int compact(const char *path, mms_writer *w)
{
    struct mms_file_header *h = w->hdr;
    uint64_t used = mms_load_acquire(&h->heap_used);
    uint64_t size = mms__round_up(used, 4096);
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (size < mms_load_acquire(&h->file_size)) {
        mms_store_release(&h->file_size, size);
        if (ftruncate(fd, (off_t)size) < 0)
            rc = -errno;
    }
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Write merge M as a rollup file at DIR/TMP (a name readers skip). */
static int rollup_write(const char *dir, const char *tmp, const mms_merge *m,
                        const struct rollup_meta *meta)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, tmp) >= (int)sizeof path)
        return -ENAMETOOLONG;
    size_t nidx = 8 + mms_merge_nfields(m);
    for (size_t t = 0; t < mms_merge_ntables(m); t++)
        nidx += 2 + mms_merge_nrecords(m, t);
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.path = path;
    o.label = meta->src->label;
    o.max_fields = nidx < MMS_INDEX_MAX ? (uint32_t)nidx : MMS_INDEX_MAX;
    o.max_shards = 1;
    o.keep = MMS_KEEP_ALL;
    o.flags = MMS_W_NO_ENV | MMS_W_NO_ATEXIT | MMS_W_FORK_MANUAL;
    mms_writer *w;
    unlink(path); /* a leftover of a folder of this pid that died */
    int rc = mms_writer_open(&w, &o);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < mms_merge_nfields(m) && rc == 0; i++)
        rc = field_write(w, m, i);
    for (size_t t = 0; t < mms_merge_ntables(m) && rc == 0; t++)
        rc = table_write(w, m, t);
    if (rc == 0) {
        header_write(w, m, meta);
        rc = compact(path, w);
    }
    if (rc == 0)
        rc = mms_writer_sync(w);
    mms_writer_close(w);
    if (rc < 0)
        unlink(path);
    return rc;
}

/* ----------------------------------------------------------- folding */

struct folder {
    int dfd;
    char dir[PATH_MAX];
    unsigned flags;
    mms_fold_report_fn report;
    void *arg;
    int done;         /* files folded or removed */
    unsigned limit;   /* files looked at by a sweep; 0: all */
    size_t from;      /* a limited sweep's first name: its own rotation */
    const char *self; /* the sweeping process's own file: left alone */
};

/* A process's start-up sweep looks at this many files at most (each is
 * opened and mapped to judge it), from a place of its own (its pid) in
 * the sorted names: in a directory of many running processes' files,
 * start-up stays cheap, and successive start-ups cover every file. */
#define START_SWEEP_FILES 16u

static int open_at(const struct folder *fo, const char *name, mms_reader **r)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", fo->dir, name) >= (int)sizeof path)
        return -ENAMETOOLONG;
    return mms_reader_open(r, path);
}

/* The same file as R's, opened read-write, its header mapped. */
static int header_rw(const struct folder *fo, const char *name, mms_reader *r,
                     struct mms_file_header **out)
{
    int fd = openat(fo->dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat a, b;
    int rc = 0;
    if (fstat(fd, &a) < 0 || fstat(r->fd, &b) < 0)
        rc = -errno;
    else if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        rc = -ESTALE;
    void *map = MAP_FAILED;
    if (rc == 0) {
        map = mmap(NULL, MMS_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                   fd, 0);
        if (map == MAP_FAILED)
            rc = -errno;
    }
    close(fd);
    *out = rc == 0 ? map : NULL;
    return rc;
}

static void fold_name_set(char *dst, const char *name)
{
    char tmp[MMS_FOLD_NAME_LEN];
    mms__strlcpy(tmp, name, sizeof tmp);
    memcpy(dst, tmp, sizeof tmp);
}

/* Unlink NAME if it is still a FOLDING file (the fold of it committed). */
static int unlink_folding(struct folder *fo, const char *name)
{
    mms_reader *r;
    if (open_at(fo, name, &r) < 0)
        return 0;
    struct mms_proc_info pi;
    bool folding = mms_reader_info(r, &pi) == 0 &&
                   pi.state == MMS_STATE_FOLDING && !(pi.flags & MMS_HF_ROLLUP);
    mms_reader_close(r);
    if (!folding)
        return 0;
    return unlinkat(fo->dfd, name, 0) < 0 && errno != ENOENT ? -errno : 1;
}

static int fold_locked(struct folder *fo, const char *name, bool gone,
                       int depth);

/* Finish what a folder that died left in rollup RN: a committed fold's
 * file still there (unlink it), an uncommitted one (fold it now). */
static int recover(struct folder *fo, const char *rn, int depth)
{
    mms_reader *r;
    if (open_at(fo, rn, &r) < 0)
        return 0;
    struct mms_proc_info pi;
    int rc = mms_reader_info(r, &pi);
    mms_reader_close(r);
    if (rc < 0 || !(pi.flags & MMS_HF_ROLLUP))
        return 0;
    if (pi.fold_done[0] && strchr(pi.fold_done, '/') == NULL &&
        (rc = unlink_folding(fo, pi.fold_done)) < 0)
        return rc;
    if (pi.fold_pending[0] && strchr(pi.fold_pending, '/') == NULL &&
        strcmp(pi.fold_pending, pi.fold_done) != 0 && depth == 0) {
        /* Not "gone": the name may be a new, live file's by now; a file
         * still FOLDING is folded whatever its process. */
        rc = fold_locked(fo, pi.fold_pending, false, depth + 1);
        if (rc == -ENOENT || rc == MMS_EBUSY)
            rc = 0; /* gone already, or not a file being folded */
    }
    return rc < 0 ? rc : 0;
}

/* Fold NAME (lock held). GONE: its process is known to be gone. */
static int fold_locked(struct folder *fo, const char *name, bool gone,
                       int depth)
{
    mms_reader *f = NULL, *r = NULL;
    mms_snapshot *fs = NULL, *rs = NULL;
    mms_merge *m = NULL;
    struct mms_file_header *fh = NULL, *rh = NULL;
    struct mms_proc_info fi, ri;
    char group[MMS_GROUP_LEN], rn[NAME_MAX + 1], tmp[NAME_MAX + 1];
    static uint32_t seq;
    int rc = open_at(fo, name, &f);
    if (rc < 0)
        return rc;
    if ((rc = mms_reader_info(f, &fi)) < 0)
        goto out;
    if (fi.flags & MMS_HF_ROLLUP) {
        rc = -EINVAL;
        goto out;
    }
    group_of(&fi, group);
    if ((rc = mms_rollup_name(group, rn, sizeof rn)) < 0 ||
        (rc = recover(fo, rn, depth)) < 0)
        goto out;
    if (fi.state == MMS_STATE_FOLDING) {
        /* Recovery may have just folded or removed it. */
        mms_reader_close(f);
        f = NULL;
        if ((rc = open_at(fo, name, &f)) < 0)
            goto out;
        if ((rc = mms_reader_info(f, &fi)) < 0)
            goto out;
    } else if (!gone) {
        int live = process_live(f);
        if (live != MMS_LIVE_DEAD && live != MMS_LIVE_PID_REUSED) {
            rc = live < 0 ? live : MMS_EBUSY;
            goto out;
        }
    }
    if ((rc = mms_snapshot_take(f, &fs)) < 0 || (rc = mms_merge_new(&m)) < 0)
        goto out;
    int64_t created = mms__now_ns(CLOCK_REALTIME);
    rc = open_at(fo, rn, &r);
    if (rc == 0) {
        if ((rc = mms_reader_info(r, &ri)) < 0 ||
            (rc = mms_snapshot_take(r, &rs)) < 0)
            goto out;
        if (!(ri.flags & MMS_HF_ROLLUP)) {
            rc = MMS_EINSECURE; /* a file under a rollup's name */
            goto out;
        }
        created = ri.created_ns;
        if ((rc = mms_merge_add(m, r, rs, NULL, NULL)) < 0)
            goto out;
    } else if (rc != -ENOENT) {
        goto out;
    }
    if ((rc = mms__merge_add(m, f, fs, NULL, NULL, true)) < 0)
        goto out;
    if (fo->flags & MMS_FOLD_DRY_RUN)
        goto out;
    /* 1. The file: FOLDING. */
    if ((rc = header_rw(fo, name, f, &fh)) < 0 || !fh)
        goto out;
    mms_store_release(&fh->p.state, (uint32_t)MMS_STATE_FOLDING);
    step(STEP_MARKED);
    /* 2. The rollup: the fold's intent. */
    if (r) {
        if ((rc = header_rw(fo, rn, r, &rh)) < 0 || !rh)
            goto out;
        fold_name_set(rh->fold_pending, name);
        step(STEP_PENDING);
    }
    /* 3. The new rollup, then the commit: the rename. */
    snprintf(tmp, sizeof tmp, MMS_TMP_PREFIX "%ld-fold%u" MMS_TMP_SUFFIX,
             (long)getpid(), mms_add_relaxed(&seq, 1));
    struct rollup_meta meta = {
        .src = &fi, .group = group, .fold_done = name, .created_ns = created};
    if ((rc = rollup_write(fo->dir, tmp, m, &meta)) < 0)
        goto out;
    step(STEP_WRITTEN);
    if (renameat(fo->dfd, tmp, fo->dfd, rn) < 0) {
        rc = -errno;
        unlinkat(fo->dfd, tmp, 0);
        goto out;
    }
    step(STEP_RENAMED);
    /* 4. The file goes. */
    if (unlinkat(fo->dfd, name, 0) < 0 && errno != ENOENT)
        rc = -errno;
    step(STEP_REMOVED);
out:
    if (fh)
        munmap(fh, MMS_HEADER_SIZE);
    if (rh)
        munmap(rh, MMS_HEADER_SIZE);
    mms_merge_free(m);
    mms_snapshot_free(fs);
    mms_snapshot_free(rs);
    mms_reader_close(f);
    mms_reader_close(r);
    return rc;
}

static int folder_open(struct folder *fo, const char *dir, unsigned flags)
{
    memset(fo, 0, sizeof *fo);
    fo->flags = flags;
    int rc = 0;
    if (!dir)
        rc = mms_default_dir(fo->dir, sizeof fo->dir);
    else if (strlen(dir) >= sizeof fo->dir)
        rc = -ENAMETOOLONG;
    else
        mms__strlcpy(fo->dir, dir, sizeof fo->dir);
    if (rc < 0)
        return rc;
    if ((rc = mms_dir_check(fo->dir)) < 0)
        return rc;
    fo->dfd = open(fo->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fo->dfd < 0)
        return -errno;
    /* One folder at a time in a directory: every fold reads and replaces
     * a rollup. */
    int how = LOCK_EX | ((flags & MMS_FOLD_NOWAIT) ? LOCK_NB : 0);
    while (flock(fo->dfd, how) < 0) {
        if (errno == EINTR)
            continue;
        rc = errno == EWOULDBLOCK ? MMS_EBUSY : -errno;
        close(fo->dfd);
        return rc;
    }
    return 0;
}

static void folder_close(struct folder *fo)
{
    flock(fo->dfd, LOCK_UN);
    close(fo->dfd);
}

int mms_fold_file(const char *dir, const char *name, unsigned flags)
{
    if (!name || strchr(name, '/') || name[0] == '\0')
        return -EINVAL;
    struct folder fo;
    int rc = folder_open(&fo, dir, flags);
    if (rc < 0)
        return rc;
    rc = fold_locked(&fo, name, flags & MMS_FOLD_GONE, 0);
    folder_close(&fo);
    return rc;
}

static void report(struct folder *fo, const char *name, int fate, int live,
                   int error, const char *rollup,
                   const struct mms_proc_info *pi)
{
    if (!fo->report)
        return;
    struct mms_fold_event e = {.name = name,
                               .fate = (enum mms_fate)fate,
                               .liveness = live,
                               .error = error,
                               .rollup = rollup,
                               .info = pi};
    fo->report(&e, fo->arg);
}

/* Decide the fate of NAME and carry it out. */
static void sweep_one(struct folder *fo, const char *name)
{
    /* Ours and plain only: no symlink, no other user's file, no hard link
     * to a file elsewhere (whose removal would not free it). */
    struct stat st;
    if (fstatat(fo->dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1)
        return;
    mms_reader *r;
    int rc = open_at(fo, name, &r);
    if (rc < 0) {
        if (rc != -ENOENT && rc != -EAGAIN)
            report(fo, name, MMS_FATE_LIVE, MMS_LIVE_UNKNOWN, rc, NULL, NULL);
        return;
    }
    struct mms_proc_info pi;
    char done[MMS_FOLD_NAME_LEN] = "", g[MMS_GROUP_LEN], rn[NAME_MAX + 1];
    int live = MMS_LIVE_UNKNOWN, fate = MMS_FATE_LIVE;
    if ((rc = mms_reader_info(r, &pi)) == 0) {
        group_of(&pi, g);
        if (mms_rollup_name(g, rn, sizeof rn) < 0)
            rn[0] = '\0';
        if (pi.state == MMS_STATE_FOLDING)
            rollup_done_of(fo->dir, &pi, done, sizeof done);
        live = process_live(r);
        fate =
            live < 0 ? MMS_FATE_LIVE : fate_of(r, &pi, live, done, fo->flags);
    }
    mms_reader_close(r);
    if (rc < 0 || (fo->flags & MMS_FOLD_DRY_RUN) || fate == MMS_FATE_LIVE ||
        fate == MMS_FATE_KEEP || fate == MMS_FATE_ROLLUP) {
        report(fo, name, fate, live, rc, rn, rc < 0 ? NULL : &pi);
        return;
    }
    if (fate == MMS_FATE_FOLD)
        rc = fold_locked(fo, name, false, 0);
    else if (unlinkat(fo->dfd, name, 0) < 0)
        rc = -errno;
    if (rc == -ENOENT)
        rc = 0; /* gone meanwhile (recovered with its rollup) */
    if (rc == 0)
        fo->done++;
    report(fo, name, fate, live, rc, rn, &pi);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sweep FO's directory (lock held): rollups recovered, then each file's
 * fate carried out. */
static int sweep_locked(struct folder *fo)
{
    int dfd2 = dup(fo->dfd);
    DIR *d = dfd2 < 0 ? NULL : fdopendir(dfd2);
    if (!d) {
        int rc = -errno;
        if (dfd2 >= 0)
            close(dfd2);
        return rc;
    }
    /* Names first (the sweep renames and removes), sorted: rollups are
     * recovered before any file is looked at. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!mms_is_stats_name(e->d_name) && !exec_name_pid(e->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (is_rollup_name(names[i]) && !(fo->flags & MMS_FOLD_DRY_RUN))
            recover(fo, names[i], 0);
    for (size_t i = 0, seen = 0; rc == 0 && i < n; i++) {
        const char *name = names[(fo->from + i) % n];
        if (is_rollup_name(name) || (fo->self && !strcmp(name, fo->self)))
            continue;
        if (fo->limit && seen++ == fo->limit)
            break;
        sweep_one(fo, name);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc < 0 ? rc : fo->done;
}

int mms_fold_dir(const char *dir, unsigned flags, mms_fold_report_fn rep,
                 void *arg)
{
    struct folder fo;
    int rc = folder_open(&fo, dir, flags);
    if (rc < 0)
        return rc;
    fo.report = rep;
    fo.arg = arg;
    rc = sweep_locked(&fo);
    folder_close(&fo);
    return rc;
}

/* ------------------------------------------------ the shim's moments */

static bool owner(const mms_writer *w)
{
    return w && !w->detached && w->path[0] && w->hdr->pid == (int32_t)getpid();
}

/* Whether the writer's file is folded (or removed) once its process is
 * gone, judged now. */
static bool goes(const mms_writer *w)
{
    switch (w->keep) {
    case MMS_KEEP_ROLLUP:
    case MMS_KEEP_NONE:
        return true;
    case MMS_KEEP_AUTO:
        return mms__now_ns(CLOCK_REALTIME) - w->hdr->created_ns <
               (int64_t)w->keep_after_ms * 1000000;
    default:
        return false;
    }
}

/* No allocation, no stdio: exec may be called from a signal handler. */
static void path_of(char *out, size_t len, const char *dir, const char *name)
{
    size_t d = strnlen(dir, len - 1);
    memcpy(out, dir, d);
    size_t n = 0;
    if (d + 1 < len) {
        out[d] = '/';
        n = strnlen(name, len - d - 2);
        memcpy(out + d + 1, name, n);
        n++;
    }
    out[d + n] = '\0';
}

static void exec_name_ss(char *out, size_t len, pid_t pid)
{
    char digits[24];
    int k = 0;
    unsigned long v = (unsigned long)pid;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k < (int)sizeof digits);
    size_t o = 0, p = sizeof EXEC_PREFIX - 1, s = sizeof MMS_FILE_SUFFIX - 1;
    if (len < p + (size_t)k + s + 1) {
        out[0] = '\0';
        return;
    }
    memcpy(out, EXEC_PREFIX, p);
    o = p;
    while (k)
        out[o++] = digits[--k];
    memcpy(out + o, MMS_FILE_SUFFIX, s + 1);
}

/* The path of the file parked for process PID in DIR (or the default
 * directory) in OUT, LEN bytes: false if it does not fit. */
static bool exec_parked_path(char *out, size_t len, const char *dir, pid_t pid)
{
    if (dir && *dir) {
        if (strnlen(dir, len) >= len)
            return false;
        mms__strlcpy(out, dir, len);
    } else if (mms__default_dir(out, len, false) < 0) {
        return false;
    }
    char name[64];
    exec_name_ss(name, sizeof name, pid);
    size_t d = strlen(out), n = strlen(name);
    if (d + 1 + n >= len)
        return false;
    out[d] = '/';
    memcpy(out + d + 1, name, n + 1);
    return true;
}

static bool path_exists(const char *path)
{
    int saved = errno;
    bool there = access(path, F_OK) == 0;
    errno = saved;
    return there;
}

/* A directory too long for mms__exec_parked's buffer. */
static __attribute__((noinline)) bool exec_parked_long(const char *dir,
                                                       pid_t pid)
{
    char path[PATH_MAX];
    return exec_parked_path(path, sizeof path, dir, pid) && path_exists(path);
}

bool mms__exec_parked(const char *dir, pid_t pid)
{
    /* Every process under the shim asks at start-up: a short buffer
     * first. Each page of stack a process touches is a page fault, and
     * two PATH_MAX buffers here (with the symbol lookup of the first
     * call below them) were two of /bin/true's. */
    char path[256];
    if (exec_parked_path(path, sizeof path, dir, pid))
        return path_exists(path);
    return exec_parked_long(dir, pid);
}

int mms__writer_exec_begin(mms_writer *w)
{
    if (!owner(w))
        return 0;
    bool park = goes(w) && !mms_load_relaxed(&w->no_syscalls);
    mms_writer_finish(w);
    if (!park)
        return 0;
    char name[64], to[PATH_MAX];
    exec_name_ss(name, sizeof name, getpid());
    path_of(to, sizeof to, w->dir, name);
    int saved = errno;
    if (renameat2(AT_FDCWD, w->path, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
        errno = saved;
        return 0; /* stays finished under its name: a sweep folds it */
    }
    errno = saved;
    mms__strlcpy(w->parked, w->path, sizeof w->parked);
    mms__strlcpy(w->path, to, sizeof w->path);
    return 1;
}

void mms__writer_exec_failed(mms_writer *w, int parked)
{
    if (!owner(w))
        return;
    int saved = errno;
    if (parked && w->parked[0] &&
        renameat2(AT_FDCWD, w->path, AT_FDCWD, w->parked, RENAME_NOREPLACE) ==
            0)
        mms__strlcpy(w->path, w->parked, sizeof w->path);
    w->parked[0] = '\0';
    errno = saved;
    mms__writer_set_state(w, MMS_STATE_READY);
}

static int start_sweep(mms_writer *w);

/* The program's errno is its own: start-up must leave it as it was. */
int mms__writer_start_sweep(mms_writer *w)
{
    int saved = errno;
    int rc = start_sweep(w);
    errno = saved;
    return rc;
}

static int start_sweep(mms_writer *w)
{
    if (!owner(w) || mms_load_relaxed(&w->no_syscalls))
        return 0;
    char name[NAME_MAX + 1];
    int rc = exec_name(name, sizeof name, getpid());
    if (rc < 0)
        return rc;
    struct folder fo;
    char path[PATH_MAX];
    path_of(path, sizeof path, w->dir, name);
    bool parked = access(path, F_OK) == 0;
    if (!parked && w->keep == MMS_KEEP_ALL)
        return 0;
    /* The image we replaced waits for us: wait for the lock. Otherwise
     * never wait for another sweep (it does the same work). */
    if ((rc = folder_open(&fo, w->dir, parked ? 0 : MMS_FOLD_NOWAIT)) < 0)
        return rc == MMS_EBUSY ? 0 : rc;
    mms_reader *r;
    if (parked && open_at(&fo, name, &r) == 0) {
        /* Ours only: this pid, this process's start, finished by the
         * image we replaced. */
        struct mms_proc_info pi;
        bool mine = mms_reader_info(r, &pi) == 0 && pi.pid == w->hdr->pid &&
                    pi.start_ticks == w->hdr->start_ticks &&
                    pi.state == MMS_STATE_FINISHED;
        mms_reader_close(r);
        if (mine)
            rc = pi.keep == MMS_KEEP_NONE
                     ? (unlinkat(fo.dfd, name, 0) < 0 ? -errno : 0)
                     : fold_locked(&fo, name, true, 0);
    }
    if (w->keep != MMS_KEEP_ALL) {
        const char *slash = strrchr(w->path, '/');
        fo.limit = START_SWEEP_FILES;
        fo.from = (size_t)getpid();
        fo.self = slash ? slash + 1 : w->path;
        int rs = sweep_locked(&fo);
        if (rc == 0 && rs < 0)
            rc = rs;
    }
    folder_close(&fo);
    return rc;
}

int mms__writer_exit(mms_writer *w)
{
    if (!owner(w))
        return 0;
    mms_writer_finish(w);
    if (mms_load_relaxed(&w->no_syscalls))
        return 0;
    if (w->keep != MMS_KEEP_NONE) {
        /* Kept: its prepared space given back (what the process still
         * records grows the file again). */
        mms__heap_trim(w);
        return 0;
    }
    /* Removed now; what the process still records goes nowhere. */
    if (unlink(w->path) < 0)
        return -errno;
    w->path[0] = '\0';
    return 0;
}
