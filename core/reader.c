/* The reader: opens a stats file as untrusted input, validates every
 * offset, size, count and string against the file's real size, keeps a
 * private checked copy of the layout, and takes consistent snapshots.
 * After open/refresh, nothing read from the file is used as a pointer or
 * length without having passed a check here. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SEQ_RETRIES MMS_SEQ_RETRIES
#define in_bounds mms__in_bounds

/* Load the header from the mapping into r->h: the immutable part plainly
 * (it was published by the release store of state), the rest atomically. */
static int header_load(mms_reader *r)
{
    const struct mms_file_header *m = r->live;
    if (memcmp(m->p.magic, MMS_MAGIC, MMS_MAGIC_LEN) != 0)
        return MMS_EFORMAT;
    if (m->p.endian != MMS_ENDIAN_MARK)
        return m->p.endian == __builtin_bswap32(MMS_ENDIAN_MARK) ? MMS_EENDIAN
                                                                 : MMS_EFORMAT;
    if (m->p.major != MMS_VERSION_MAJOR)
        return MMS_EVERSION;
    /* Writers fill the header under a temporary name and rename the file
     * only once it is READY, so a file still initialising here is one
     * caught mid-creation by name, or a broken one: try again later. */
    uint32_t state = mms_load_acquire(&m->p.state);
    if (state == MMS_STATE_INIT || state == 0)
        return -EAGAIN;
    if (state > MMS_STATE_FINISHED)
        return MMS_ECORRUPT;
    /* Only the bytes we know: a newer minor version may have a larger
     * header, but its prefix is ours. Word by word and atomically, since
     * some of these words are being updated by the writer. */
    const uint32_t *src = (const uint32_t *)m;
    uint32_t *dst = (uint32_t *)&r->h;
    for (size_t i = 0; i < sizeof r->h / 4; i++)
        dst[i] = mms_load_relaxed(&src[i]);
    return 0;
}

static int geometry_check(const struct mms_file_header *h, uint64_t size)
{
    if (h->p.header_size < sizeof *h || h->p.header_size > size)
        return MMS_ECORRUPT;
    if (h->file_size > size)
        return MMS_ETRUNCATED;
    uint64_t fs = h->file_size;
    if (fs < h->p.header_size || h->desc_size < MMS_DESC_SIZE ||
        h->desc_size % 8 || h->desc_cap > (1u << 20) || h->shard_cap == 0 ||
        h->shard_cap > 4096 || h->shard_size == 0 ||
        h->shard_size % MMS_SHARD_ALIGN || h->shard_off % MMS_SHARD_ALIGN ||
        h->desc_off % 8 || h->glob_off % 8 || h->glob_cap % 8 ||
        h->shtab_off % 4)
        return MMS_ECORRUPT;
    if (!in_bounds(h->desc_off, (uint64_t)h->desc_cap * h->desc_size, fs) ||
        !in_bounds(h->str_off, h->str_cap, fs) ||
        !in_bounds(h->glob_off, h->glob_cap, fs) ||
        !in_bounds(h->shtab_off, (uint64_t)h->shard_cap * 4, fs) ||
        !in_bounds(h->shard_off, (uint64_t)h->shard_cap * h->shard_size, fs))
        return MMS_ECORRUPT;
    if (h->desc_off < h->p.header_size || h->str_off < h->p.header_size ||
        h->glob_off < h->p.header_size || h->shtab_off < h->p.header_size ||
        h->shard_off < h->p.header_size)
        return MMS_ECORRUPT;
    return 0;
}

static int file_check(int fd, struct stat *st)
{
    if (fstat(fd, st) < 0)
        return -errno;
    if (!S_ISREG(st->st_mode))
        return MMS_EFORMAT;
    /* A file others may write, or a hard link to one, is not ours to
     * trust; root may read any user's files. */
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) || st->st_nlink != 1 ||
        (st->st_uid != geteuid() && geteuid() != 0))
        return MMS_EINSECURE;
    if (st->st_size < MMS_HEADER_SIZE)
        return MMS_ETRUNCATED;
    if ((uint64_t)st->st_size > MMS_MAX_FILE_SIZE)
        return MMS_ECORRUPT;
    return 0;
}

int mms_reader_open(mms_reader **out, const char *path)
{
    *out = NULL;
    if (!path)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ELOOP ? MMS_EINSECURE : -errno;
    struct stat st;
    int rc = file_check(fd, &st);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return -e;
    mms_reader *r = calloc(1, sizeof *r);
    if (!r) {
        munmap(map, (size_t)st.st_size);
        return -ENOMEM;
    }
    r->base = map;
    r->map_size = (size_t)st.st_size;
    r->live = map;
    mms__strlcpy(r->path, path, sizeof r->path);
    if ((rc = header_load(r)) < 0 ||
        (rc = geometry_check(&r->h, r->map_size)) < 0 ||
        (rc = mms_reader_refresh(r)) < 0) {
        mms_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void mms_reader_close(mms_reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nfields; i++)
        free(r->infos[i]);
    free(r->infos);
    free(r->rf);
    if (r->base)
        munmap((void *)r->base, r->map_size);
    free(r);
}

const char *mms_reader_path(const mms_reader *r)
{
    return r->path;
}

/* Copy a string of the file's string table, replacing control bytes so a
 * hostile name cannot drive a terminal. */
static void copy_text(char *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : (char)src[i];
    dst[len] = '\0';
}

typedef char mms__member_names[MMS_STRUCT_MAX_MEMBERS][MMS_MEMBER_NAME_MAX + 1];

/* Parse a STRUCT's member table from the string table into M, with the
 * names copied into NAMES. */
static int schema_parse(const uint8_t *strs, uint32_t str_used,
                        const struct mms_struct_param *sp, struct mms_member *m,
                        mms__member_names names, size_t *name_bytes)
{
    if (sp->nmembers == 0 || sp->nmembers > MMS_STRUCT_MAX_MEMBERS ||
        !in_bounds(sp->schema_off, sp->schema_len, str_used))
        return MMS_ECORRUPT;
    const uint8_t *p = strs + sp->schema_off, *end = p + sp->schema_len;
    *name_bytes = 0;
    for (uint32_t i = 0; i < sp->nmembers; i++) {
        if (end - p < 3)
            return MMS_ECORRUPT;
        uint8_t type = p[0], len = p[1];
        if (type < MMS_MEMBER_U64 || type > MMS_MEMBER_F64 || len == 0 ||
            len > MMS_MEMBER_NAME_MAX || end - p < 3 + len || p[2 + len] != 0)
            return MMS_ECORRUPT;
        for (uint8_t j = 0; j < len; j++) {
            uint8_t c = p[2 + j];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_'))
                return MMS_ECORRUPT;
        }
        memcpy(names[i], p + 2, len);
        names[i][len] = '\0';
        m[i].name = names[i];
        m[i].type = (enum mms_member_type)type;
        *name_bytes += len + 1u;
        p += 3 + len;
    }
    return 0;
}

/* Kind-specific checks: value size and parameters agree with the kind. */
static int kind_check(mms_reader *r, const struct mms_desc *d,
                      struct mms__rfield *rf, uint32_t str_used,
                      struct mms_member *members, mms__member_names names,
                      size_t *member_bytes)
{
    bool sharded = d->flags & MMS_DF_SHARDED;
    bool window = d->flags & MMS_DF_WINDOW;
    uint64_t size = d->value_size;
    switch (d->kind) {
    case MMS_KIND_COUNTER:
        if (!sharded || size != 8 + (window ? MMS_WINDOW_SLOTS *
                                                  sizeof(struct mms_window_slot)
                                            : 0))
            return MMS_ECORRUPT;
        rf->win_off = window ? 8 : 0;
        return 0;
    case MMS_KIND_GAUGE:
    case MMS_KIND_GAUGE_F64:
        return (sharded || window || size != 8) ? MMS_ECORRUPT : 0;
    case MMS_KIND_STRING:
        if (sharded || window || size < sizeof(struct mms_string_cell) + 8 ||
            size % 8 ||
            size > sizeof(struct mms_string_cell) + MMS_STRING_MAX_CAP)
            return MMS_ECORRUPT;
        return 0;
    case MMS_KIND_HISTOGRAM: {
        struct mms_hist_param p;
        memcpy(&p, d->param, sizeof p);
        if (!sharded || mms_hist_nbuckets(p.bits, p.max_exp) != p.nbuckets ||
            p.nbuckets == 0)
            return MMS_ECORRUPT;
        uint64_t need = sizeof(struct mms_hist_cell) + (uint64_t)p.nbuckets * 8;
        if (window) {
            if (p.win_bits > p.bits || p.win_off != need ||
                p.win_nbuckets == 0 ||
                mms_hist_nbuckets(p.win_bits, p.max_exp) != p.win_nbuckets)
                return MMS_ECORRUPT;
            need += (uint64_t)MMS_WINDOW_SLOTS * (sizeof(struct mms_hist_slot) +
                                                  (uint64_t)p.win_nbuckets * 8);
        } else if (p.win_bits || p.win_off || p.win_nbuckets) {
            return MMS_ECORRUPT;
        }
        if (size != need)
            return MMS_ECORRUPT;
        rf->bits = p.bits;
        rf->max_exp = p.max_exp;
        rf->win_bits = p.win_bits;
        rf->nbuckets = p.nbuckets;
        rf->win_nbuckets = p.win_nbuckets;
        rf->win_off = p.win_off;
        return 0;
    }
    case MMS_KIND_STRUCT: {
        struct mms_struct_param sp;
        memcpy(&sp, d->param, sizeof sp);
        if (sharded || window)
            return MMS_ECORRUPT;
        int rc = schema_parse(r->base + r->h.str_off, str_used, &sp, members,
                              names, member_bytes);
        if (rc < 0 || size != 8 + 8 * (uint64_t)sp.nmembers)
            return MMS_ECORRUPT;
        rf->n = sp.nmembers;
        return 0;
    }
    case MMS_KIND_MOVAVG: {
        struct mms_movavg_param mp;
        memcpy(&mp, d->param, sizeof mp);
        if (sharded || window || mp.capacity == 0 ||
            mp.capacity > MMS_STRING_MAX_CAP ||
            size != 16 + 8 * (uint64_t)mp.capacity)
            return MMS_ECORRUPT;
        rf->n = mp.capacity;
        return 0;
    }
    default:
        return 0; /* a kind from a newer minor version: listed, not read */
    }
}

/* Check one descriptor (already copied out of the file) and build its
 * info. Returns 0, or MMS_ECORRUPT. */
static int desc_accept(mms_reader *r, const struct mms_desc *d, uint32_t idx,
                       uint32_t str_used)
{
    const struct mms_file_header *h = &r->h;
    const uint8_t *strs = r->base + h->str_off;
    if (!in_bounds(d->name_off, d->name_len, str_used) ||
        !in_bounds(d->units_off, d->units_len, str_used) ||
        !in_bounds(d->help_off, d->help_len, str_used) ||
        d->units_len > MMS_UNITS_MAX || d->help_len > MMS_HELP_MAX)
        return MMS_ECORRUPT;
    char name[MMS_NAME_MAX + 1];
    if (d->name_len > MMS_NAME_MAX)
        return MMS_ECORRUPT;
    memcpy(name, strs + d->name_off, d->name_len);
    if (mms__name_check_n(name, d->name_len) < 0)
        return MMS_ECORRUPT;
    name[d->name_len] = '\0';

    bool sharded = d->flags & MMS_DF_SHARDED;
    if (d->value_off % MMS_VALUE_ALIGN || d->value_size == 0)
        return MMS_ECORRUPT;
    if (sharded ? !in_bounds(d->value_off, d->value_size, h->shard_size)
                : (d->value_off < h->glob_off ||
                   !in_bounds(d->value_off - h->glob_off, d->value_size,
                              h->glob_cap)))
        return MMS_ECORRUPT;
    struct mms__rfield rf = {.kind = d->kind,
                             .flags = d->flags,
                             .off = d->value_off,
                             .size = d->value_size};
    struct mms_member members[MMS_STRUCT_MAX_MEMBERS];
    mms__member_names names;
    size_t member_bytes = 0;
    int rc = kind_check(r, d, &rf, str_used, members, names, &member_bytes);
    if (rc < 0)
        return rc;

    size_t need =
        sizeof(struct mms_field_info) +
        rf.n * sizeof(struct mms_member) * (d->kind == MMS_KIND_STRUCT) +
        member_bytes + d->name_len + 1 + d->units_len + 1 + d->help_len + 1;
    struct mms_field_info *fi = calloc(1, need);
    if (!fi)
        return -ENOMEM;
    char *p = (char *)(fi + 1);
    if (d->kind == MMS_KIND_STRUCT) {
        struct mms_member *m = (struct mms_member *)p;
        p += rf.n * sizeof *m;
        for (uint32_t i = 0; i < rf.n; i++) {
            size_t l = strlen(members[i].name);
            memcpy(p, members[i].name, l + 1);
            m[i].name = p;
            m[i].type = members[i].type;
            p += l + 1;
        }
        fi->members = m;
    }
    memcpy(p, name, d->name_len + 1u);
    fi->name = p;
    p += d->name_len + 1;
    copy_text(p, strs + d->units_off, d->units_len);
    fi->units = p;
    p += d->units_len + 1;
    copy_text(p, strs + d->help_off, d->help_len);
    fi->help = p;
    fi->kind = (enum mms_kind)d->kind;
    fi->flags = d->flags;
    fi->value_size = d->value_size;
    fi->index = idx;
    fi->hist_bits = rf.bits;
    fi->hist_max_exp = rf.max_exp;
    fi->window_bits = rf.win_bits;
    fi->n = rf.n;

    if (r->nfields == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        void *a = realloc(r->infos, ncap * sizeof *r->infos);
        if (!a) {
            free(fi);
            return -ENOMEM;
        }
        r->infos = a;
        void *b = realloc(r->rf, ncap * sizeof *r->rf);
        if (!b) {
            free(fi);
            return -ENOMEM;
        }
        r->rf = b;
        r->cap = ncap;
    }
    r->infos[r->nfields] = fi;
    r->rf[r->nfields] = rf;
    r->nfields++;
    return 0;
}

int mms_reader_refresh(mms_reader *r)
{
    const struct mms_file_header *m = r->live;
    /* Descriptors below desc_count are complete and immutable even while
     * another is being appended (layout_gen odd), so there is nothing to
     * wait for: layout_gen only tells a caller cheaply that it changed. */
    uint32_t count = mms_load_acquire(&m->desc_count);
    uint32_t str_used = mms_load_acquire(&m->str_used);
    if (count > r->h.desc_cap || str_used > r->h.str_cap)
        return MMS_ECORRUPT;
    size_t before = r->nfields;
    for (uint32_t i = (uint32_t)r->nfields; i < count; i++) {
        struct mms_desc d;
        memcpy(&d, r->base + r->h.desc_off + (uint64_t)i * r->h.desc_size,
               sizeof d);
        int rc = desc_accept(r, &d, i, str_used);
        if (rc < 0)
            return rc;
    }
    return r->nfields > before;
}

size_t mms_reader_nfields(const mms_reader *r)
{
    return r->nfields;
}

const struct mms_field_info *mms_reader_field(const mms_reader *r, size_t i)
{
    return i < r->nfields ? r->infos[i] : NULL;
}

int mms_reader_info(mms_reader *r, struct mms_proc_info *o)
{
    const struct mms_file_header *h = &r->h, *m = r->live;
    memset(o, 0, sizeof *o);
    o->major = h->p.major;
    o->minor = h->p.minor;
    o->state = (enum mms_state)mms_load_acquire(&m->p.state);
    o->pid = h->pid;
    o->ppid = h->ppid;
    o->uid = h->uid;
    o->gid = h->gid;
    o->start_ticks = h->start_ticks;
    o->created_ns = h->created_ns;
    o->finished_ns = mms_load_relaxed(&m->finished_ns);
    o->file_size = h->file_size;
    o->layout_gen = mms_load_relaxed(&m->layout_gen);
    o->shard_cap = h->shard_cap;
    o->shards_active = mms_load_relaxed(&m->shards_active);
    o->threads_seen = mms_load_relaxed(&m->threads_seen);
    const uint32_t *tab = (const uint32_t *)(r->base + h->shtab_off);
    for (uint32_t i = 0; i < h->shard_cap; i++) {
        uint32_t st = mms_load_relaxed(&tab[i]);
        if (st == MMS_SHARD_OWNED || st == MMS_SHARD_FREE)
            o->shards_used++;
    }
    copy_text(o->exe, (const uint8_t *)h->exe, strnlen(h->exe, MMS_EXE_LEN));
    copy_text(o->label, (const uint8_t *)h->label,
              strnlen(h->label, MMS_LABEL_LEN));
    copy_text(o->host, (const uint8_t *)h->host,
              strnlen(h->host, MMS_HOST_LEN));
    size_t n =
        h->cmdline_len < MMS_CMDLINE_LEN ? h->cmdline_len : MMS_CMDLINE_LEN;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h->cmdline[i];
        o->cmdline[i] = c == 0 ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    o->cmdline[n] = '\0';
    return 0;
}

int mms_reader_liveness(mms_reader *r)
{
    if (mms_load_acquire(&r->live->p.state) == MMS_STATE_FINISHED)
        return MMS_LIVE_FINISHED;
    if (r->h.pid <= 0)
        return MMS_LIVE_DEAD;
    uint64_t ticks;
    int rc = mms__proc_start_ticks(r->h.pid, &ticks);
    if (rc == -ESRCH)
        return MMS_LIVE_DEAD;
    if (rc == 0 && r->h.start_ticks && ticks != r->h.start_ticks)
        return MMS_LIVE_PID_REUSED;
    return MMS_LIVE_RUNNING;
}

/* ------------------------------------------------------- find by pid */

int mms_is_stats_name(const char *n)
{
    size_t len = strlen(n), slen = sizeof MMS_FILE_SUFFIX - 1;
    return n[0] != '.' && len > slen &&
           !strcmp(n + len - slen, MMS_FILE_SUFFIX);
}

pid_t mms_tmp_name_pid(const char *n)
{
    size_t len = strlen(n), plen = sizeof MMS_TMP_PREFIX - 1,
           slen = sizeof MMS_TMP_SUFFIX - 1;
    if (len <= plen + slen || strncmp(n, MMS_TMP_PREFIX, plen) != 0 ||
        strcmp(n + len - slen, MMS_TMP_SUFFIX) != 0)
        return 0;
    long pid = 0;
    const char *p = n + plen;
    for (; *p >= '0' && *p <= '9' && pid < (1L << 22); p++)
        pid = pid * 10 + (*p - '0');
    return (*p == '-' && pid > 0 && pid < (1L << 22)) ? (pid_t)pid : 0;
}

int mms_pid_start_ticks(pid_t pid, uint64_t *ticks)
{
    return mms__proc_start_ticks(pid, ticks);
}

int mms_reader_open_pid(mms_reader **out, const char *dir, pid_t pid)
{
    char dbuf[PATH_MAX];
    *out = NULL;
    if (!dir) {
        int rc = mms_default_dir(dbuf, sizeof dbuf);
        if (rc < 0)
            return rc;
        dir = dbuf;
    }
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    mms_reader *best = NULL;
    int best_rank = -1;
    int64_t best_created = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!mms_is_stats_name(e->d_name))
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
            (int)sizeof path)
            continue;
        mms_reader *r;
        if (mms_reader_open(&r, path) < 0)
            continue;
        if (r->h.pid != pid) {
            mms_reader_close(r);
            continue;
        }
        /* Prefer the file of the running image, then the newest. */
        int rank = mms_reader_liveness(r) == MMS_LIVE_RUNNING;
        if (rank > best_rank ||
            (rank == best_rank && r->h.created_ns > best_created)) {
            mms_reader_close(best);
            best = r;
            best_rank = rank;
            best_created = r->h.created_ns;
        } else {
            mms_reader_close(r);
        }
    }
    closedir(d);
    if (!best)
        return -ENOENT;
    *out = best;
    return 0;
}
