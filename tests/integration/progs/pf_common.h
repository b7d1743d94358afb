/* Shared by the pf_*.c programs of test_preload_pitfalls.sh. */
#ifndef PF_COMMON_H
#define PF_COMMON_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

__attribute__((noreturn)) static inline void pf_die(const char *what)
{
    perror(what);
    exit(99);
}

/* P, opaque to the compiler: an allocation it cannot optimise away. */
static inline void *pf_keep(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static inline int pf_devnull(void)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        pf_die("/dev/null");
    return fd;
}

/* N one-byte writes to FD, all checked. */
static inline void pf_writes(int fd, int n)
{
    for (int i = 0; i < n; i++)
        if (write(fd, "x", 1) != 1)
            pf_die("write");
}

/* The state of this process's own stats file, as a reader sees it:
 * "ready", "finished", "init", or "none" (no file: not under the shim). */
static inline const char *pf_own_state(void)
{
    mms_reader *r;
    if (mms_reader_open_pid(&r, NULL, getpid()) < 0)
        return "none";
    struct mms_proc_info pi;
    const char *s = "?";
    if (mms_reader_info(r, &pi) == 0)
        s = pi.state == MMS_STATE_READY      ? "ready"
            : pi.state == MMS_STATE_FINISHED ? "finished"
                                             : "init";
    mms_reader_close(r);
    return s;
}

/* Whether this process's own stats file records a finish time: "set",
 * "unset", or "none" (no file). */
static inline const char *pf_own_finish_time(void)
{
    mms_reader *r;
    if (mms_reader_open_pid(&r, NULL, getpid()) < 0)
        return "none";
    struct mms_proc_info pi;
    const char *s = "?";
    if (mms_reader_info(r, &pi) >= 0)
        s = pi.finished_ns ? "set" : "unset";
    mms_reader_close(r);
    return s;
}

#endif
