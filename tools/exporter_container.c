/* The container a stats file's process runs in, for the exporter's
 * `container` label: the process is found as seen from here (its pid
 * namespace recorded in the header may be another one: a container's),
 * and its cgroup names the container. Looked up once per file, when it
 * is first seen running: a process does not change containers. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exporter.h"

#define RUNTIME_ID_LEN 64 /* docker, containerd, cri-o, podman: sha256 */
#define SHORT_ID_LEN 12   /* as `docker ps` shows them */

/* Whether /proc/PID/ns/pid is the namespace DEV, INO. */
static bool in_pidns(long pid, uint64_t dev, uint64_t ino)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld/ns/pid", pid);
    return stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* The last number of /proc/PID/status's NSpid line (the pid in its own,
 * innermost namespace), or -1. */
static long innermost_pid(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "re");
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "NSpid:", 6) != 0)
            continue;
        char *s = line + 6, *end;
        for (;;) {
            long x = strtol(s, &end, 10);
            if (end == s)
                break;
            v = x;
            s = end;
        }
        break;
    }
    fclose(f);
    return v;
}

/* PI's process as a pid of this reader's /proc: PI's own if it is in our
 * pid namespace; else the process of that namespace whose innermost pid
 * is PI's; -1 if not found (a namespace we cannot see into). */
static long host_pid(const struct mms_proc_info *pi, bool *foreign)
{
    struct stat self;
    *foreign = false;
    if (!pi->pidns_ino || stat("/proc/self/ns/pid", &self) < 0 ||
        (self.st_dev == pi->pidns_dev && self.st_ino == pi->pidns_ino))
        return pi->pid;
    *foreign = true;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    long found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || !in_pidns(pid, pi->pidns_dev, pi->pidns_ino))
            continue;
        if (innermost_pid(pid) == pi->pid)
            found = pid;
    }
    closedir(d);
    return found;
}

/* The cgroup path of PID: the unified hierarchy's ("0::/..."), else the
 * systemd one's (cgroup v1); "" if only the root. */
static void cgroup_path(long pid, char *out, size_t len)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/cgroup", pid);
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *p = NULL;
        if (!strncmp(line, "0::", 3))
            p = line + 3;
        else if (strstr(line, ":name=systemd:"))
            p = strstr(line, ":name=systemd:") + 14;
        /* The unified line wins over systemd's; the root says nothing. */
        if (p && strcmp(p, "/") != 0 && (!out[0] || line[0] == '0'))
            snprintf(out, len, "%s", p);
    }
    fclose(f);
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* NAME (a cgroup path's last part) without a runtime's prefix and a
 * systemd ".scope": "docker-<id>.scope", "cri-containerd-<id>.scope",
 * "crio-<id>.scope", "libpod-<id>.scope" give <id>. */
static void strip_runtime(char *name)
{
    static const char *const prefixes[] = {"docker-", "cri-containerd-",
                                           "crio-", "libpod-"};
    size_t n = strlen(name);
    if (n > 6 && !strcmp(name + n - 6, ".scope"))
        name[n -= 6] = '\0';
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t k = strlen(prefixes[i]);
        if (!strncmp(name, prefixes[i], k)) {
            memmove(name, name + k, n - k + 1);
            return;
        }
    }
}

void container_name(const struct mms_proc_info *pi, char *out, size_t len)
{
    out[0] = '\0';
    if (pi->flags & MMS_HF_ROLLUP || len < SHORT_ID_LEN + 1)
        return;
    bool foreign;
    long pid = host_pid(pi, &foreign);
    char cg[1024];
    if (pid <= 0)
        return;
    cgroup_path(pid, cg, sizeof cg);
    if (!cg[0])
        return;
    char *name = strrchr(cg, '/');
    name = name ? name + 1 : cg;
    strip_runtime(name);
    size_t n = strlen(name);
    /* A runtime's container id: its short form, as docker shows it. */
    if (n == RUNTIME_ID_LEN && all_hex(name, n)) {
        snprintf(out, len, "%.*s", SHORT_ID_LEN, name);
        return;
    }
    /* In a pid namespace of its own, the cgroup it was put in names it
     * (a runtime's, or one made by hand: the rehearsal with unshare).
     * In ours, only a runtime's id does: the cgroups of services and
     * sessions are not containers. */
    if (foreign && n > 0)
        snprintf(out, len, "%s", name);
}
