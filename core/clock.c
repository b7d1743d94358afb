/* The hot path's clock (hotpath.h, mms__clock_ns): CLOCK_MONOTONIC
 * nanoseconds, read from an invariant TSC where there is one, converted
 * with a rate measured against CLOCK_MONOTONIC; clock_gettime elsewhere.
 *
 * No start-up cost beyond one clock_gettime and two rdtsc: mms__clock_setup
 * takes the first anchor (a TSC count and the monotonic time it stands
 * for); mms__clock_kernel_check, when the stats file is made (the shim's
 * own start-up work, never a hook's), reads /proc/cpuinfo's flags; the
 * first read of the clock at least MMS__CLOCK_CAL_NS after the anchor and
 * after that check takes the second anchor, from which the rate comes,
 * and switches the clock to the TSC (or, if it does not qualify, for good
 * to clock_gettime). Until then every read is a clock_gettime. A hook
 * never reads a file for the clock: a process whose second anchor came
 * after 50 ms made one more read(2) than one that ended sooner (strace
 * counts of dd with 0 and 2000 blocks, test_preload_programs). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "hotpath.h"
#include "internal.h"

struct mms__clock mms__clk;

/* mms__clock_kernel_check's answer: not asked yet, or the kernel's
 * constant_tsc and nonstop_tsc flags there or not. */
enum { KERNEL_UNKNOWN, KERNEL_TSC_OK, KERNEL_TSC_NO };
static int kernel_tsc = KERNEL_UNKNOWN; /* atomic */

/* Anchors taken closer together than this (rdtsc, clock_gettime, rdtsc
 * interrupted or preempted) are taken again, a few times at most. */
#define ANCHOR_MAX_TICKS 100000u
#define ANCHOR_TRIES 8

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
/* A TSC count and the monotonic time read between two counts: their
 * middle. False if every try was disturbed. */
static bool anchor(uint64_t *tsc, uint64_t *ns)
{
    for (int i = 0; i < ANCHOR_TRIES; i++) {
        uint64_t a = mms__rdtsc();
        uint64_t t = mono_ns();
        uint64_t b = mms__rdtsc();
        if (b >= a && b - a <= ANCHOR_MAX_TICKS) {
            *tsc = a + (b - a) / 2;
            *ns = t;
            return true;
        }
    }
    return false;
}

/* cpuid 0x80000007, EDX bit 8: the TSC runs at a constant rate in every
 * P-, C- and T-state. */
static bool cpu_invariant_tsc(void)
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return false;
    if (!__get_cpuid(0x80000007u, &a, &b, &c, &d))
        return false;
    return (d >> 8) & 1u;
}

/* Whether /proc/cpuinfo's flags name WORD (the kernel's own view:
 * constant_tsc, nonstop_tsc). By direct system calls: never through an
 * embedder's hooks. Only the first CPU's block is read. */
static bool has_word(const char *line, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(line, word); p; p = strstr(p + 1, word))
        if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static bool kernel_tsc_flags(void)
{
    char buf[8192];
    int fd = mms__sys_open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return false;
    size_t len = 0;
    buf[0] = '\0';
    while (len < sizeof buf - 1 && !strstr(buf, "\n\n")) {
        long r = syscall(SYS_read, fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
    }
    mms__sys_close(fd);
    char *flags = strstr(buf, "\nflags");
    if (!flags)
        return false;
    char *end = strchr(flags + 1, '\n');
    if (end)
        *end = '\0'; /* the first CPU's flags line only */
    return has_word(flags, "constant_tsc") && has_word(flags, "nonstop_tsc");
}
#endif

int mms__clock_setup(enum mms_clock_kind kind)
{
    int saved = errno;
    int rc = MMS__CLOCK_MONO;
#if defined(__x86_64__)
    if (kind == MMS_CLOCK_TSC && cpu_invariant_tsc() &&
        anchor(&mms__clk.tsc0, &mms__clk.ns0))
        rc = MMS__CLOCK_ANCHORED;
#else
    (void)kind;
#endif
    mms_store_release(&mms__clk.state, (uint32_t)rc);
    errno = saved;
    return rc;
}

void mms__clock_kernel_check(void)
{
#if defined(__x86_64__)
    if (mms_load_acquire(&kernel_tsc) != KERNEL_UNKNOWN ||
        mms_load_acquire(&mms__clk.state) != MMS__CLOCK_ANCHORED)
        return;
    int saved = errno;
    int k = kernel_tsc_flags() ? KERNEL_TSC_OK : KERNEL_TSC_NO;
    errno = saved;
    mms_store_release(&kernel_tsc, k);
#endif
}

void mms__clock_no_syscalls(void)
{
    /* Calibrating reads /proc/cpuinfo: not any more. */
    uint32_t st = MMS__CLOCK_ANCHORED;
    mms_cas_acq_rel(&mms__clk.state, &st, (uint32_t)MMS__CLOCK_MONO);
}

/* The second anchor, at least MMS__CLOCK_CAL_NS after the first: the
 * rate, then the TSC from now on (or clock_gettime for good). One thread
 * does it; the others read clock_gettime meanwhile. */
static void calibrate(void)
{
#if defined(__x86_64__)
    int k = mms_load_acquire(&kernel_tsc);
    if (k == KERNEL_UNKNOWN)
        return; /* not checked yet: clock_gettime meanwhile */
    uint32_t st = MMS__CLOCK_ANCHORED;
    if (!mms_cas_acq_rel(&mms__clk.state, &st, (uint32_t)MMS__CLOCK_BUSY))
        return;
    uint64_t tsc = 0, ns = 0;
    uint32_t next = MMS__CLOCK_MONO;
    if (k == KERNEL_TSC_OK && anchor(&tsc, &ns) && tsc > mms__clk.tsc0 &&
        ns > mms__clk.ns0) {
        /* ns per tick, as a 32.32 fixed-point number. */
        unsigned __int128 m = ((unsigned __int128)(ns - mms__clk.ns0) << 32) /
                              (tsc - mms__clk.tsc0);
        if (m > 0 && m < ((unsigned __int128)1 << 40)) {
            mms__clk.mult = (uint64_t)m;
            next = MMS__CLOCK_TSC;
        }
    }
    mms_store_release(&mms__clk.state, next);
#endif
}

uint64_t mms__clock_slow(void)
{
    uint64_t now = mono_ns();
    if (mms_load_acquire(&mms__clk.state) == MMS__CLOCK_ANCHORED &&
        now - mms__clk.ns0 >= MMS__CLOCK_CAL_NS) {
        calibrate();
    }
    return now;
}

enum mms_clock_kind mms__clock_kind(void)
{
    return mms_load_acquire(&mms__clk.state) == MMS__CLOCK_TSC
               ? MMS_CLOCK_TSC
               : MMS_CLOCK_MONOTONIC;
}

uint64_t mms__clock_tsc_at(uint64_t ns)
{
    /* tsc_ns(t) >= NS iff (t - tsc0) * mult >= (NS - ns0) << 32: the
     * smallest such t is the quotient rounded up. */
    uint64_t d = ns > mms__clk.ns0 ? ns - mms__clk.ns0 : 0;
    uint64_t mult = mms__clk.mult ? mms__clk.mult : 1;
    unsigned __int128 x = (((unsigned __int128)d << 32) + mult - 1) / mult;
    return mms__clk.tsc0 + (uint64_t)x;
}
