/* Facts about the current (or another) process for the header and for
 * liveness checks: start time, command line, executable name, clocks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void mms__strlcpy(char *dst, const char *src, size_t size)
{
    if (size == 0)
        return;
    size_t n = src ? strnlen(src, size - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    memset(dst + n, 0, size - n);
}

int64_t mms__now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Read up to LEN-1 bytes of a small /proc file; returns bytes or -errno. */
ssize_t mms__read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Field 22 of /proc/<pid>/stat: start time in clock ticks since boot.
 * Parsed after the last ')', since the command name may contain spaces and
 * parentheses. 0 with *out set, or -errno (-ESRCH: no such process). */
int mms__proc_start_ticks(pid_t pid, uint64_t *out)
{
    return mms__proc_stat(pid, out, NULL);
}

int mms__proc_stat(pid_t pid, uint64_t *out, char *state)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    ssize_t n = mms__read_small(path, buf, sizeof buf);
    if (n < 0)
        return n == -ENOENT ? -ESRCH : (int)n;
    char *p = strrchr(buf, ')');
    if (!p)
        return -EINVAL;
    p++;
    if (state)
        *state = p[0] == ' ' ? p[1] : '?';
    /* After ')' come fields 3 (state) .. 22 (starttime): skip 19 fields. */
    for (int field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
        if (!*p)
            return -EINVAL;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p)
        return -EINVAL;
    *out = v;
    return 0;
}

size_t mms__proc_cmdline(char *buf, size_t len)
{
    ssize_t n = mms__read_small("/proc/self/cmdline", buf, len);
    if (n <= 0) {
        buf[0] = '\0';
        return 0;
    }
    /* Keep the separating NULs; drop a trailing one. */
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    return (size_t)n;
}

const char *mms__proc_exe(void)
{
    extern char *program_invocation_short_name;
    const char *s = program_invocation_short_name;
    return (s && *s) ? s : "unknown";
}

/* The NSpid line of /proc/PID/status (0: self): the pids of the process
 * from the outermost namespace its /proc shows to its own (the last). */
int mms__proc_nspid(pid_t pid, int32_t *out, int max)
{
    char path[64], buf[4096];
    if (pid)
        snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    ssize_t n = mms__read_small(path, buf, sizeof buf);
    if (n < 0)
        return (int)n;
    char *p = strstr(buf, "\nNSpid:");
    if (!p)
        return -ENOENT;
    p += 7;
    int k = 0;
    while (k < max) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        out[k++] = (int32_t)v;
        p = end;
        if (*p == '\n')
            break;
    }
    return k;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* /proc/sys/kernel/random/boot_id: a UUID in text, as 16 bytes. */
int mms__boot_id(uint8_t out[16])
{
    char buf[64] = "";
    memset(out, 0, 16);
    ssize_t n =
        mms__read_small("/proc/sys/kernel/random/boot_id", buf, sizeof buf);
    if (n < 0)
        return (int)n;
    int k = 0;
    for (ssize_t i = 0; i + 1 < n && k < 16; i++) {
        if (buf[i] == '-')
            continue;
        int hi = hexval(buf[i]), lo = hexval(buf[i + 1]);
        if (hi < 0 || lo < 0)
            break;
        out[k++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    if (k != 16) {
        memset(out, 0, 16);
        return -EINVAL;
    }
    return 0;
}

/* Device and inode of /proc/PID/ns/pid (0: self): the pid namespace. */
int mms__pidns(pid_t pid, uint64_t *dev, uint64_t *ino)
{
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%ld/ns/pid", (long)pid);
    else
        snprintf(path, sizeof path, "/proc/self/ns/pid");
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return 0;
}
