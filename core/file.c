/* The stats file's life on disk: the per-user directory and its checks,
 * file names from templates, sizing, space reservation, atomic creation. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

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

static int strip_slashes(const char *dir, char *out, size_t len);

int mms_dir_check(const char *dir_in)
{
    char dir[PATH_MAX];
    if (!dir_in || !*dir_in)
        return -EINVAL;
    int rc = strip_slashes(dir_in, dir, sizeof dir);
    if (rc < 0)
        return rc;
    int dfd = dir_open(dir);
    if (dfd < 0)
        return dfd;
    rc = dir_fd_check(dfd);
    close(dfd);
    return rc;
}

/* DIR without trailing slashes ("/" stays): with one, O_NOFOLLOW would
 * follow a symlink (a path ending in '/' names what the link points to). */
static int strip_slashes(const char *dir, char *out, size_t len)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n >= len)
        return -ENAMETOOLONG;
    memcpy(out, dir, n);
    out[n] = '\0';
    return 0;
}

int mms__dir_prepare(const char *dir_in, int *dfd_out, char *abs,
                     size_t abs_len, dev_t *dev, ino_t *ino)
{
    char dir[PATH_MAX];
    if (!dir_in || !*dir_in)
        return -EINVAL;
    int rc = strip_slashes(dir_in, dir, sizeof dir);
    if (rc < 0)
        return rc;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    int dfd = dir_open(dir);
    if (dfd < 0)
        return dfd;
    struct stat st;
    memset(&st, 0, sizeof st);
    if ((rc = dir_fd_check(dfd)) == 0 && fstat(dfd, &st) < 0)
        rc = -errno;
    if (rc < 0) {
        close(dfd);
        return rc;
    }
    if (abs) {
        /* Resolved once, so that a child that changed directory still
         * finds this one (and one that changed its root finds another,
         * which the device and inode then tell). */
        char buf[PATH_MAX];
        rc = !realpath(dir, buf)      ? -errno
             : strlen(buf) >= abs_len ? -ENAMETOOLONG
                                      : 0;
        if (rc < 0) {
            close(dfd);
            return rc;
        }
        memcpy(abs, buf, strlen(buf) + 1);
    }
    if (dev)
        *dev = st.st_dev;
    if (ino)
        *ino = st.st_ino;
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

/* ------------------------------------------------------------ creation */

static void header_fill(mms_writer *w, uint64_t size, const char *label)
{
    struct mms_file_header *h = w->hdr;
    memcpy(h->p.magic, MMS_MAGIC, MMS_MAGIC_LEN);
    h->p.endian = MMS_ENDIAN_MARK;
    h->p.major = MMS_VERSION_MAJOR;
    h->p.minor = MMS_VERSION_MINOR;
    /* The heap starts right after the header's fields (3.2; 4096 before):
     * the rest of the header's page holds blocks. */
    h->p.header_size = (uint32_t)sizeof *h;
    mms_store_relaxed(&h->p.state, (uint32_t)MMS_STATE_INIT);
    h->uid = (uint32_t)geteuid();
    h->gid = (uint32_t)getegid();
    h->pid = (int32_t)getpid();
    h->ppid = (int32_t)getppid();
    uint64_t ticks = 0;
    if (mms__proc_start_ticks(getpid(), &ticks) == 0)
        h->start_ticks = ticks;
    h->created_ns = mms__now_ns(CLOCK_REALTIME);
    h->file_size = size;
    h->heap_off = h->p.header_size;
    h->heap_used = h->p.header_size;
    h->extent_size = w->extent_size;
    h->shard_limit = w->shard_limit;
    mms__header_identity(h);
    mms__strlcpy(h->exe, mms__proc_exe(), sizeof h->exe);
    mms__strlcpy(h->label, label, sizeof h->label);
    if (gethostname(h->host, sizeof h->host - 1) < 0)
        h->host[0] = '\0';
    h->host[sizeof h->host - 1] = '\0';
    h->cmdline_len = (uint32_t)mms__proc_cmdline(h->cmdline, MMS_CMDLINE_LEN);
    /* What a folder does once the process is gone (section 15). */
    memcpy(h->group, w->group, sizeof h->group);
    h->keep = w->keep;
    h->keep_after_ms = w->keep_after_ms;
}

void mms__header_identity(struct mms_file_header *h)
{
    uint64_t dev = 0, ino = 0;
    if (mms__pidns(0, &dev, &ino) == 0) {
        h->pidns_dev = dev;
        h->pidns_ino = ino;
    }
    int n = mms__proc_nspid(0, h->nspid, MMS_NSPID_MAX);
    h->nspid_count = n > 0 ? (uint32_t)n : 0;
    mms__boot_id(h->boot_id);
    char buf[4096];
    ssize_t len = mms__read_small("/proc/self/cgroup", buf, sizeof buf);
    const char *path = NULL;
    size_t plen = 0;
    for (char *line = buf; len > 0 && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        /* cgroup v2's "0::/path" wins; else the first line's path. */
        if (c2 && (!path || !strncmp(line, "0::", 3))) {
            path = c2 + 1;
            plen = strlen(path);
        }
        line = nl ? nl + 1 : NULL;
    }
    if (plen >= MMS_CGROUP_LEN)
        plen = MMS_CGROUP_LEN - 1;
    memset(h->cgroup, 0, sizeof h->cgroup);
    if (path)
        memcpy(h->cgroup, path, plen);
    h->cgroup_len = (uint32_t)plen;
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

/* The ATTEMPT-th other name for NAME (section 16): "<stem>-<attempt>"
 * for the first 16, then "<stem>-<pid>-<attempt>": no two live processes
 * share a pid, so a fixed name (MMSTATS_FILE without {pid}) never runs
 * out. */
#define NAME_NUMBERED 16
static int other_name(char *out, size_t len, const char *name, int attempt)
{
    const char *dot = strrchr(name, '.');
    size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    long pid = (long)getpid();
    int n = attempt <= NAME_NUMBERED
                ? snprintf(out, len, "%.*s-%d%s", (int)stem, name, attempt,
                           name + stem)
                : snprintf(out, len, "%.*s-%ld-%d%s", (int)stem, name, pid,
                           attempt - NAME_NUMBERED, name + stem);
    return (n < 0 || (size_t)n >= len || n > NAME_MAX) ? -ENAMETOOLONG : 0;
}

#define NAME_TRIES 10000

static int tmp_open(int dfd, char *tmp, size_t len)
{
    static uint32_t tmp_seq;
    snprintf(tmp, len, MMS_TMP_PREFIX "%ld-%u" MMS_TMP_SUFFIX, (long)getpid(),
             mms_add_relaxed(&tmp_seq, 1));
    int fd = openat(dfd, tmp,
                    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ELOOP ? MMS_EINSECURE : -errno;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 &&
        (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid()))
        rc = MMS_EINSECURE;
    if (rc < 0) {
        close(fd);
        unlinkat(dfd, tmp, 0);
        return rc;
    }
    return fd;
}

static bool fsize_allows(uint64_t size)
{
    struct rlimit rl;
    return syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, &rl) != 0 ||
           rl.rlim_cur == RLIM_INFINITY || size <= rl.rlim_cur;
}

/* Map extent 0 of FD for a fresh file and fill its header and shard 0. */
struct fresh_arg {
    uint64_t size;
    const char *label;
};

static int fill_fresh(mms_writer *w, int fd, void *arg)
{
    struct fresh_arg *a = arg;
    void *map =
        mmap(NULL, w->extent_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return -errno;
    w->ext[0] = map;
    w->hdr = map;
    header_fill(w, a->size, a->label);
    return mms__shard0_create(w);
}

int mms__file_create(mms_writer *w, int dfd, const char *name, uint64_t initial,
                     mms__fill_fn fill, void *fill_arg, const char *label)
{
    char tmp[NAME_MAX + 1];
    int fd = tmp_open(dfd, tmp, sizeof tmp);
    if (fd < 0)
        return fd;
    /* Past the file size limit (ulimit -f), growing would raise SIGXFSZ,
     * whose default action kills the host program: refuse instead. And
     * a full disk is an error now, never a SIGBUS later. */
    int rc = fsize_allows(initial) ? 0 : -EFBIG;
    if (rc == 0 && (rc = -posix_fallocate(fd, 0, (off_t)initial)) == 0) {
        struct fresh_arg fa = {initial, label};
        rc = fill ? fill(w, fd, fill_arg) : fill_fresh(w, fd, &fa);
    }
    struct stat st;
    memset(&st, 0, sizeof st);
    if (rc == 0 && fstat(fd, &st) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0) {
        unlinkat(dfd, tmp, 0);
        return rc;
    }
    w->file_dev = st.st_dev;
    w->file_ino = st.st_ino;
    mms_store_release(&w->hdr->p.state, (uint32_t)MMS_STATE_READY);

    char final[NAME_MAX + 1];
    mms__strlcpy(final, name, sizeof final);
    for (int attempt = 1;; attempt++) {
        rc = publish_name(dfd, tmp, final);
        if (rc != -EEXIST || w->exact || attempt > NAME_TRIES)
            break;
        if ((rc = other_name(final, sizeof final, name, attempt)) < 0)
            break;
    }
    if (rc < 0) {
        unlinkat(dfd, tmp, 0);
        return rc;
    }
    int n = snprintf(w->path, sizeof w->path, "%s/%s", w->dir, final);
    if (n < 0 || (size_t)n >= sizeof w->path)
        w->path[0] = '\0';
    return 0;
}

/* -------------------------------------------------------------- growth */

/* Open the file by its path, as long as it is still the file we made. */
static int reopen(mms_writer *w)
{
    int fd = mms__sys_open(w->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    dev_t dev;
    ino_t ino;
    if (mms__sys_fstat(fd, &dev, &ino, NULL) < 0 || dev != w->file_dev ||
        ino != w->file_ino) {
        mms__sys_close(fd);
        return -ESTALE;
    }
    return fd;
}

void mms__file_punch(mms_writer *w, uint64_t off, uint64_t len)
{
    int saved = errno;
    int fd = reopen(w);
    if (fd >= 0) {
        syscall(SYS_fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                (off_t)off, (off_t)len);
        mms__sys_close(fd);
    }
    errno = saved;
}

static int map_extents(mms_writer *w, int fd, uint64_t size)
{
    uint32_t last = (uint32_t)((size - 1) >> w->ext_shift);
    for (uint32_t k = 0; k <= last && k < MMS_MAX_EXTENTS; k++) {
        if (mms_load_acquire(&w->ext[k]))
            continue;
        int err = 0;
        void *m =
            mms__sys_mmap(NULL, w->extent_size, PROT_READ | PROT_WRITE,
                          MAP_SHARED, fd, (uint64_t)k * w->extent_size, &err);
        if (m == MAP_FAILED)
            return -err;
        /* Another thread may map K at once (mms__extent_map, or a growth
         * taken over from a stalled grower): the first mapping stays. */
        uint8_t *none = NULL;
        if (!mms_cas_acq_rel(&w->ext[k], &none, (uint8_t *)m))
            mms__sys_munmap(m, w->extent_size);
    }
    return 0;
}

int mms__extent_map(mms_writer *w, uint32_t k)
{
    if (mms_load_acquire(&w->ext[k]))
        return 0;
    int fd = reopen(w);
    if (fd < 0)
        return fd;
    int rc = map_extents(w, fd, ((uint64_t)k + 1) << w->ext_shift);
    mms__sys_close(fd);
    return rc;
}

/* A mark of the calling thread: its address; its value, the thread's
 * growths under way (a signal handler's nested in the code's). */
static __thread unsigned char grow_mark
    __attribute__((tls_model("initial-exec")));

static void grow_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ volatile("" ::: "memory");
#endif
}

int mms__wait_step(mms_writer *w, struct mms__wait *s, uintptr_t mark)
{
    /* The holder's work takes microseconds, but a holder descheduled on a
     * loaded machine may keep it for far longer: spin a little, then
     * yield for as long as the same mark is there, until w->stall_ns
     * (MMS_GROW_STALL_NS) have passed (a holder that left by longjmp
     * from a signal handler, or that a raw clone left behind). In
     * seccomp, no yield: give up. */
    if (s->i == 0 || mark != s->mark) {
        s->mark = mark; /* another holder: progress, the clock restarts */
        s->since = 0;
    }
    uint64_t i = s->i++;
    if (i < 1000) {
        grow_pause();
    } else if (mms_load_relaxed(&w->no_syscalls)) {
        return 0;
    } else if (i % 1024 == 0) {
        int64_t now = mms__now_ns(CLOCK_MONOTONIC);
        if (!s->since)
            s->since = now;
        else if (now - s->since > w->stall_ns)
            return -1;
    } else {
        sched_yield();
    }
    return 1;
}

int mms__wait_mark(mms_writer *w, const uintptr_t *word, uintptr_t mark)
{
    struct mms__wait s = {0};
    for (;;) {
        if (mms_load_acquire(word) != mark)
            return 1; /* done, or another holder: the caller retries */
        int rc = mms__wait_step(w, &s, mark);
        if (rc <= 0)
            return rc;
    }
}

bool mms__grow_wait(mms_writer *w)
{
    /* A stalled grower is taken to be gone and its mark cleared for the
     * caller to grow: growing twice at once is safe, only wasted work. */
    uintptr_t mark = mms_load_acquire(&w->growing);
    mms_add_relaxed(&w->grow_waits, 1);
    if (!mark)
        return true;
    int rc = mms__wait_mark(w, &w->growing, mark);
    if (rc < 0) {
        mms_add_relaxed(&w->grow_takeovers, 1);
        mms_cas_acq_rel(&w->growing, &mark, (uintptr_t)0);
    }
    return rc != 0;
}

int mms__grow(mms_writer *w, uint64_t end)
{
    if (w->detached || mms_load_relaxed(&w->no_syscalls))
        return MMS_EFULL;
    uintptr_t none = 0, me = (uintptr_t)&grow_mark;
    /* grow_mark counts this thread's growths under way, ours included: a
     * signal handler's nested call sees the code it interrupted. */
    unsigned depth = mms_add_relaxed(&grow_mark, 1) + 1u;
    if (!mms_cas_acq_rel(&w->growing, &none, me)) {
        mms_add_relaxed(&grow_mark, -1);
        /* Never wait for our own thread's growth (a signal handler
         * interrupted it); another thread's (or a mark left by a gone
         * thread whose TLS this one reuses), the caller may wait for. */
        return none == me && depth > 1 ? MMS_EBUSY : -EAGAIN;
    }
    struct mms_file_header *h = w->hdr;
    uint64_t cur = mms_load_acquire(&h->file_size);
    uint64_t base = mms_load_acquire(&h->heap_used);
    if (end > base)
        base = end;
    uint64_t step = base / 16 > MMS_GROW_MIN ? base / 16 : MMS_GROW_MIN;
    uint64_t target = mms__round_up(base + step, 4096);
    if (target > w->max_size)
        target = w->max_size;
    if (!fsize_allows(target)) {
        struct rlimit rl;
        syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, &rl);
        target = rl.rlim_cur / 4096 * 4096;
    }
    int rc = target < end ? MMS_EFULL : 0;
    if (target < cur)
        target = cur;
    int fd = rc == 0 ? reopen(w) : -1;
    if (fd < 0 && rc == 0)
        rc = fd;
    if (rc == 0 && target > cur)
        rc = mms__sys_fallocate(fd, cur, target - cur);
    if (rc == 0)
        rc = map_extents(w, fd, target);
    if (rc == 0) {
        /* Processes sharing the file (MMS_W_FORK_SHARE) grow it too: the
         * size only ever goes up. */
        while (cur < target && !mms_cas_acq_rel(&h->file_size, &cur, target))
            ;
    }
    if (fd >= 0)
        mms__sys_close(fd);
    mms_store_release(&w->growing, (uintptr_t)0);
    mms_add_relaxed(&grow_mark, -1);
    mms__maybe_msync(w);
    return rc;
}
