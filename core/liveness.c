/* Liveness of a file's writer across pid namespaces (docs/format.md
 * section 14), and finding the file of a pid. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* PROC_PID_INIT_INO: the inode of the initial pid namespace. */
#define INIT_PIDNS_INO 0xEFFFFFFCu

/* A zombie thread-group leader whose process is gone: no thread of it
 * left. A main thread that ended with pthread_exit shows Z too while the
 * other threads run (and write): more than one task means running. */
static bool zombie_gone(pid_t pid, char state)
{
    if (state != 'Z' && state != 'X')
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    if (!d)
        return true; /* reaped meanwhile */
    int tasks = 0;
    struct dirent *e;
    while ((e = readdir(d)) && tasks < 2)
        if (e->d_name[0] != '.')
            tasks++;
    closedir(d);
    return tasks <= 1;
}

/* Same pid namespace: the pid and its start time. */
static int live_here(const struct mms_file_header *h)
{
    if (h->pid <= 0)
        return MMS_LIVE_DEAD;
    uint64_t ticks;
    char state = '?';
    int rc = mms__proc_stat(h->pid, &ticks, &state);
    if (rc == -ESRCH)
        return MMS_LIVE_DEAD;
    if (rc == 0 && h->start_ticks && ticks != h->start_ticks)
        return MMS_LIVE_PID_REUSED;
    /* A zombie writes no more: its threads are gone. */
    if (rc == 0 && zombie_gone(h->pid, state))
        return MMS_LIVE_DEAD;
    return MMS_LIVE_RUNNING;
}

/* Another namespace: look for the process through /proc. */
static int live_elsewhere(const struct mms_file_header *h, uint64_t my_ino)
{
    DIR *d = opendir("/proc");
    if (!d)
        return MMS_LIVE_UNKNOWN;
    bool ns_seen = false;
    int result = -1;
    struct dirent *e;
    while (result < 0 && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        uint64_t dev, ino;
        if (mms__pidns((pid_t)pid, &dev, &ino) < 0 || dev != h->pidns_dev ||
            ino != h->pidns_ino)
            continue;
        ns_seen = true;
        int32_t nspid[MMS_NSPID_MAX];
        int n = mms__proc_nspid((pid_t)pid, nspid, MMS_NSPID_MAX);
        uint64_t ticks;
        char state = '?';
        if (n > 0 && nspid[n - 1] == h->pid &&
            mms__proc_stat((pid_t)pid, &ticks, &state) == 0)
            result = h->start_ticks && ticks != h->start_ticks
                         ? MMS_LIVE_PID_REUSED
                     : zombie_gone((pid_t)pid, state) ? MMS_LIVE_DEAD
                                                      : MMS_LIVE_RUNNING;
    }
    closedir(d);
    if (result == MMS_LIVE_RUNNING)
        return result;
    /* In the namespace, but not that process: it is gone. Nobody in the
     * namespace: gone too if this reader sees every process. */
    if (ns_seen || my_ino == INIT_PIDNS_INO)
        return MMS_LIVE_DEAD;
    return MMS_LIVE_UNKNOWN;
}

int mms__process_liveness(const struct mms_file_header *h)
{
    static const uint8_t zero[16];
    uint8_t boot[16];
    if (memcmp(h->boot_id, zero, 16) != 0 && mms__boot_id(boot) == 0 &&
        memcmp(h->boot_id, boot, 16) != 0)
        return MMS_LIVE_DEAD;
    uint64_t dev, ino;
    if (!h->pidns_ino || mms__pidns(0, &dev, &ino) < 0 ||
        (dev == h->pidns_dev && ino == h->pidns_ino))
        return live_here(h);
    return live_elsewhere(h, ino);
}

static int liveness(mms_reader *r)
{
    uint32_t st = mms_load_acquire(&r->live->p.state);
    if (st == MMS_STATE_FINISHED || st == MMS_STATE_FOLDING)
        return MMS_LIVE_FINISHED;
    return mms__process_liveness(&r->h);
}

int mms_reader_liveness(mms_reader *r)
{
    if (!r)
        return -EINVAL;
    if (r->broken)
        return MMS_ETRUNCATED;
    int rc = 0;
    MMS__GUARDED(r, rc, liveness(r));
    return rc;
}

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
