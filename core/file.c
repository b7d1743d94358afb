/* The stats file's life on disk: the per-user directory and its checks,
 * file names from templates, sizing, space reservation, atomic creation. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static uint64_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p >= 4096 ? (uint64_t)p : 4096;
}

int mms__geom_compute(struct mms__file_geom *g, uint32_t max_fields,
                      uint32_t str_bytes, uint32_t glob_bytes,
                      uint32_t shard_bytes, uint32_t max_shards)
{
    uint64_t pg = page_size();
    if (max_fields == 0 || max_fields > (1u << 20) || str_bytes < 16 ||
        str_bytes > (256u << 20) || glob_bytes < 8 || glob_bytes > (1u << 30) ||
        shard_bytes < 8 || shard_bytes > (64u << 20) || max_shards == 0 ||
        max_shards > 4096)
        return -EINVAL;
    uint64_t off = round_up(MMS_HEADER_SIZE, pg);
    g->desc_off = (uint32_t)off;
    g->desc_cap = max_fields;
    off = round_up(off + (uint64_t)max_fields * MMS_DESC_SIZE, pg);
    g->str_off = (uint32_t)off;
    g->str_cap = str_bytes;
    off = round_up(off + str_bytes, pg);
    g->glob_off = (uint32_t)off;
    g->glob_cap = (uint32_t)round_up(glob_bytes, MMS_VALUE_ALIGN);
    off = round_up(off + g->glob_cap, pg);
    g->shtab_off = (uint32_t)off;
    off = round_up(off + (uint64_t)max_shards * sizeof(uint32_t), pg);
    g->shard_off = off;
    /* Whole pages, so each shard can be populated on its own. */
    g->shard_size = (uint32_t)round_up(shard_bytes, pg);
    g->shard_cap = max_shards;
    g->file_size = off + (uint64_t)g->shard_size * max_shards;
    if (g->file_size > MMS_MAX_FILE_SIZE)
        return -EFBIG;
    return 0;
}

/* Ownership rules after OpenJDK's hsperfdata: a real directory, ours, not
 * writable by anyone else. Checked on an fd, so the answer holds for the
 * directory we then create files in. */
static int dir_fd_check(int dfd)
{
    struct stat st;
    if (fstat(dfd, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH)))
        return MMS_EINSECURE;
    return 0;
}

static int dir_open(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return (errno == ELOOP || errno == ENOTDIR) ? MMS_EINSECURE : -errno;
    return dfd;
}

int mms_dir_check(const char *dir)
{
    if (!dir || !*dir)
        return -EINVAL;
    int dfd = dir_open(dir);
    if (dfd < 0)
        return dfd;
    int rc = dir_fd_check(dfd);
    close(dfd);
    return rc;
}

int mms__dir_prepare(const char *dir, int *dfd_out)
{
    if (!dir || !*dir)
        return -EINVAL;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    int dfd = dir_open(dir);
    if (dfd < 0)
        return dfd;
    int rc = dir_fd_check(dfd);
    if (rc < 0) {
        close(dfd);
        return rc;
    }
    *dfd_out = dfd;
    return 0;
}

int mms__default_dir(char *buf, size_t len, bool use_env)
{
    const char *env = use_env ? secure_getenv("MMSTATS_DIR") : NULL;
    int n;
    if (env && *env) {
        n = snprintf(buf, len, "%s", env);
    } else {
        const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
        struct stat st;
        if (xdg && xdg[0] == '/' && lstat(xdg, &st) == 0 &&
            S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
            !(st.st_mode & (S_IWGRP | S_IWOTH)))
            n = snprintf(buf, len, "%s/mmstats", xdg);
        else
            n = snprintf(buf, len, "/tmp/mmstats-%lu",
                         (unsigned long)geteuid());
    }
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

int mms_default_dir(char *buf, size_t len)
{
    return mms__default_dir(buf, len, true);
}

/* Characters kept in file names; anything else becomes '_', so a label or
 * an exe name can never add a path component. */
static char name_char(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == '+')
        return c;
    return '_';
}

int mms__template_expand(char *out, size_t len, const char *tmpl,
                         const char *exe, const char *label, const char *name,
                         long pid)
{
    char host[MMS_HOST_LEN + 1] = "";
    char pidbuf[24];
    size_t o = 0;
    snprintf(pidbuf, sizeof pidbuf, "%ld", pid);
    for (const char *p = tmpl; *p;) {
        const char *sub = NULL;
        size_t skip = 1;
        if (*p == '{') {
            const char *end = strchr(p, '}');
            if (!end)
                return -EINVAL;
            size_t klen = (size_t)(end - p - 1);
            skip = klen + 2;
            if (klen == 3 && !strncmp(p + 1, "exe", 3)) {
                sub = exe;
            } else if (klen == 3 && !strncmp(p + 1, "pid", 3)) {
                sub = pidbuf;
            } else if (klen == 4 && !strncmp(p + 1, "host", 4)) {
                if (!host[0] && gethostname(host, MMS_HOST_LEN) < 0)
                    mms__strlcpy(host, "localhost", sizeof host);
                host[MMS_HOST_LEN] = '\0';
                sub = host;
            } else if (klen == 5 && !strncmp(p + 1, "label", 5)) {
                sub = label ? label : "";
            } else if (klen == 4 && !strncmp(p + 1, "name", 4)) {
                sub = (name && *name) ? name : exe;
            } else {
                return -EINVAL;
            }
        }
        const char *src = sub ? sub : p;
        size_t n = sub ? strlen(sub) : 1;
        for (size_t i = 0; i < n; i++) {
            if (o + 1 >= len || o >= NAME_MAX)
                return -ENAMETOOLONG;
            out[o++] = name_char(src[i]);
        }
        p += skip;
    }
    out[o] = '\0';
    /* Names starting with '.' are our temporaries (and hidden files). */
    if (o == 0 || out[0] == '.')
        return -EINVAL;
    return 0;
}

static void header_fill(struct mms_file_header *h,
                        const struct mms__file_geom *g, const char *label)
{
    memcpy(h->p.magic, MMS_MAGIC, MMS_MAGIC_LEN);
    h->p.endian = MMS_ENDIAN_MARK;
    h->p.major = MMS_VERSION_MAJOR;
    h->p.minor = MMS_VERSION_MINOR;
    h->p.header_size = MMS_HEADER_SIZE;
    mms_store_relaxed(&h->p.state, (uint32_t)MMS_STATE_INIT);
    h->uid = (uint32_t)geteuid();
    h->gid = (uint32_t)getegid();
    h->pid = (int32_t)getpid();
    h->ppid = (int32_t)getppid();
    uint64_t ticks = 0;
    if (mms__proc_start_ticks(getpid(), &ticks) == 0)
        h->start_ticks = ticks;
    h->created_ns = mms__now_ns(CLOCK_REALTIME);
    h->file_size = g->file_size;
    h->desc_off = g->desc_off;
    h->desc_cap = g->desc_cap;
    h->desc_size = MMS_DESC_SIZE;
    h->str_off = g->str_off;
    h->str_cap = g->str_cap;
    /* Offset 0 of the string table is an empty string, so a zero offset
     * with zero length is always valid. */
    h->str_used = 8;
    h->glob_off = g->glob_off;
    h->glob_cap = g->glob_cap;
    h->shtab_off = g->shtab_off;
    h->shard_off = g->shard_off;
    h->shard_size = g->shard_size;
    h->shard_cap = g->shard_cap;
    mms__strlcpy(h->exe, mms__proc_exe(), sizeof h->exe);
    mms__strlcpy(h->label, label, sizeof h->label);
    if (gethostname(h->host, sizeof h->host - 1) < 0)
        h->host[0] = '\0';
    h->host[sizeof h->host - 1] = '\0';
    h->cmdline_len = (uint32_t)mms__proc_cmdline(h->cmdline, MMS_CMDLINE_LEN);
}

/* Give the temporary file its final name without replacing anything. */
static int publish_name(int dfd, const char *tmp, const char *final)
{
    if (renameat2(dfd, tmp, dfd, final, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    /* Filesystems without RENAME_NOREPLACE: link, then drop the temp. */
    if (linkat(dfd, tmp, dfd, final, 0) < 0)
        return -errno;
    unlinkat(dfd, tmp, 0);
    return 0;
}

/* Insert "-N" before the extension of NAME: "cat-12.mmstats" ->
 * "cat-12-1.mmstats". */
static int suffixed(char *out, size_t len, const char *name, int n)
{
    const char *dot = strrchr(name, '.');
    size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    int w = snprintf(out, len, "%.*s-%d%s", (int)stem, name, n, name + stem);
    return (w < 0 || (size_t)w >= len || w > NAME_MAX) ? -ENAMETOOLONG : 0;
}

int mms__file_create(int dfd, const char *dir, const char *name, bool exact,
                     const struct mms__file_geom *g, const char *label,
                     mms__fill_fn fill, void *fill_arg, uint8_t **map_out,
                     char *path_out, size_t path_len)
{
    static uint32_t tmp_seq;
    char tmp[NAME_MAX + 1];
    snprintf(tmp, sizeof tmp, MMS_TMP_PREFIX "%ld-%u" MMS_TMP_SUFFIX,
             (long)getpid(), mms_add_relaxed(&tmp_seq, 1));
    int fd = openat(dfd, tmp,
                    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ELOOP ? MMS_EINSECURE : -errno;
    int rc;
    uint8_t *map = MAP_FAILED;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid()) {
        rc = MMS_EINSECURE;
        goto fail;
    }
    /* Past the file size limit (ulimit -f), ftruncate would raise SIGXFSZ,
     * whose default action kills the host program: refuse instead. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        g->file_size > rl.rlim_cur) {
        rc = -EFBIG;
        goto fail;
    }
    if (ftruncate(fd, (off_t)g->file_size) < 0) {
        rc = -errno;
        goto fail;
    }
    /* Reserve the fixed part now, so a full disk is an error here and
     * never a SIGBUS in an update. Shard pages are allocated as fields and
     * threads need them (MADV_POPULATE_WRITE, see shard.c). */
    rc = posix_fallocate(fd, 0, (off_t)g->shard_off);
    if (rc != 0) {
        rc = -rc;
        goto fail;
    }
    map = mmap(NULL, g->file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        rc = -errno;
        goto fail;
    }
    close(fd);
    fd = -1;

    struct mms_file_header *h = (struct mms_file_header *)map;
    header_fill(h, g, label);
    uint32_t *shtab = (uint32_t *)(map + g->shtab_off);
    mms_store_relaxed(&shtab[0], (uint32_t)MMS_SHARD_OWNED);
    if (fill && (rc = fill(map, fill_arg)) < 0)
        goto fail;
    mms_store_release(&h->p.state, (uint32_t)MMS_STATE_READY);

    char final[NAME_MAX + 1];
    mms__strlcpy(final, name, sizeof final);
    for (int attempt = 1;; attempt++) {
        rc = publish_name(dfd, tmp, final);
        if (rc != -EEXIST || exact || attempt > 64)
            break;
        if ((rc = suffixed(final, sizeof final, name, attempt)) < 0)
            break;
    }
    if (rc < 0)
        goto fail;
    int w = snprintf(path_out, path_len, "%s/%s", dir, final);
    if (w < 0 || (size_t)w >= path_len)
        path_out[0] = '\0';
    *map_out = map;
    return 0;

fail:
    if (map != MAP_FAILED)
        munmap(map, g->file_size);
    if (fd >= 0)
        close(fd);
    unlinkat(dfd, tmp, 0);
    return rc;
}
