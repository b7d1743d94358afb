/* Per-file records: which path a record has. The path as the program
 * opened it, made absolute against the working directory at open time
 * (or the directory of openat's descriptor) and cleaned lexically ("//",
 * "/./", "/../"; symbolic links are not followed: that would take system
 * calls); paths under an excluded prefix get no record; with
 * MMSTATS_FILES_HASH the key is a keyed hash of the path instead.
 *
 * The working directory is read once at start-up (getcwd) and then
 * followed through chdir and fchdir without system calls. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "files_int.h"
#include "shim.h"

/* ------------------------------------------------ the working directory */

/* Written by chdir/fchdir (rare), read by every open with a relative path:
 * a seqlock, the reader retrying a bounded number of times. */
static char cwd[PATH_MAX];
static uint64_t cwd_seq; /* odd while written; cwd[0] == 0: unknown */

static void cwd_set(const char *abs)
{
    uint64_t s = mms_load_relaxed(&cwd_seq);
    mms_store_relaxed(&cwd_seq, s + 1);
    mms_fence_release();
    size_t n = abs ? strlen(abs) : 0;
    if (n >= sizeof cwd)
        n = 0;
    for (size_t i = 0; i < n; i++)
        mms_store_relaxed(&cwd[i], abs[i]);
    mms_store_relaxed(&cwd[n], '\0');
    mms_store_release(&cwd_seq, s + 2);
}

/* Copy the working directory into OUT (PATH_MAX bytes): false if unknown. */
static bool cwd_get(char *out)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint64_t s = mms_load_acquire(&cwd_seq);
        if (s & 1)
            continue;
        size_t i = 0;
        char ch;
        do {
            ch = mms_load_relaxed(&cwd[i]);
            out[i++] = ch;
        } while (ch && i < sizeof cwd);
        out[sizeof cwd - 1] = '\0';
        mms_fence_acquire();
        if (mms_load_relaxed(&cwd_seq) == s)
            return out[0] == '/';
    }
    return false;
}

/* --------------------------------------------------------- clean paths */

/* Clean the absolute path P in place: no "//", "/./", "/.." (at the root,
 * ".." stays at the root), no trailing "/". P[0..n) is the cleaned part;
 * it never grows past what was read (each kept segment had a "/" before
 * it), so the copy never overwrites what is still to be read. */
static void clean(char *p)
{
    size_t n = 0;
    const char *in = p + 1;
    while (*in) {
        const char *seg = in;
        size_t len = strcspn(seg, "/");
        in = seg + len + (seg[len] == '/');
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (n > 0 && p[--n] != '/')
                ;
            continue;
        }
        p[n++] = '/';
        memmove(p + n, seg, len);
        n += len;
    }
    if (n == 0)
        p[n++] = '/';
    p[n] = '\0';
}

bool mmp_fpath_abs(int dirfd, const char *path, char *out)
{
    if (!path || !*path)
        return false;
    size_t plen = strlen(path);
    if (path[0] == '/') {
        if (plen >= PATH_MAX)
            return false;
        memcpy(out, path, plen + 1);
    } else {
        if (dirfd == AT_FDCWD) {
            if (!cwd_get(out))
                return false;
        } else if (!mmp_file_dir_path(dirfd, out)) {
            return false;
        }
        size_t dlen = strlen(out);
        if (dlen + 1 + plen >= PATH_MAX)
            return false;
        out[dlen] = '/';
        memcpy(out + dlen + 1, path, plen + 1);
    }
    clean(out);
    return true;
}

/* Path buffers, each taken for one event's record (an open's, a stat's,
 * a chdir's) and given back: a pool in .bss, whose pages are touched
 * only when used, not a buffer per thread in its static TLS (which ld.so
 * zeroes at every thread's start), nor on the stack (4 KiB, more than a
 * small signal stack has). Each buffer's busy flag has a cache line of
 * its own; a thread starts looking at a place of its own, so threads
 * opening files at once write no shared line, and a thread mostly takes
 * the same buffer. A signal handler's open inside an open's record takes
 * another. All busy (more opens being recorded at once than buffers): the
 * file is not recorded (counted untracked). */
#define NPATHBUF 64u
static char pathbuf[NPATHBUF][PATH_MAX];
static struct {
    _Alignas(64) uint8_t busy;
} pathbusy[NPATHBUF];

char *mmp_fpath_get(void)
{
    uintptr_t tp = (uintptr_t)__builtin_thread_pointer();
    unsigned start = (unsigned)(((tp >> 12) * 0x9e3779b97f4a7c15ull) >> 58);
    for (unsigned i = 0; i < NPATHBUF; i++) {
        unsigned k = (start + i) % NPATHBUF;
        uint8_t idle = 0;
        if (!mms_load_relaxed(&pathbusy[k].busy) &&
            mms_cas_acq_rel(&pathbusy[k].busy, &idle, 1))
            return pathbuf[k];
    }
    return NULL;
}

void mmp_fpath_put(const char *buf)
{
    size_t k = (size_t)(buf - pathbuf[0]) / PATH_MAX;
    mms_store_release(&pathbusy[k].busy, (uint8_t)0);
}

/* A directory change the buffer is busy for (a chdir in a signal handler
 * that interrupted an open) makes the directory unknown: relative paths
 * are then untracked, never wrongly keyed. */
void mmp_fpath_chdir(const char *path, int fd)
{
    char *abs = mmp_fpath_get();
    bool ok = abs && (path ? mmp_fpath_abs(AT_FDCWD, path, abs)
                           : mmp_file_dir_path(fd, abs));
    cwd_set(ok ? abs : NULL);
    if (abs)
        mmp_fpath_put(abs);
}

/* ---------------------------------------------------------- exclusions */

/* Darshan leaves out /proc, /sys, /dev, /etc, /usr, /bin, /boot, /lib,
 * /opt, /sbin and /var: the system's files, not the program's data. Ours
 * keeps /opt and /var (applications and databases keep data there) and
 * adds the other library directories. */
static const char DEFAULT_EXCLUDE[] =
    "/proc:/sys:/dev:/etc:/usr:/lib:/lib32:/lib64:/libx32:/bin:/sbin:/boot";

#define MAX_PREFIXES 64
static char prefix_buf[4096];
static const char *prefix[MAX_PREFIXES];
static size_t prefix_len[MAX_PREFIXES];
static unsigned nprefix;
/* The letters that follow a prefix's "/", as a 256-bit set: most paths a
 * program opens (its data under /home, /tmp, /var) start with a letter no
 * prefix has and are decided by one test. */
static uint64_t first_letter[4];
static bool exclude_all; /* "/" is a prefix */

static size_t prefix_used;

static void add_prefixes(const char *list)
{
    while (*list) {
        size_t len = strcspn(list, ":");
        const char *p = list;
        list += len + (list[len] == ':');
        if (len == 7 && !strncmp(p, "default", 7)) {
            add_prefixes(DEFAULT_EXCLUDE);
            continue;
        }
        if (len == 4 && !strncmp(p, "none", 4))
            continue;
        while (len > 1 && p[len - 1] == '/')
            len--;
        if (len == 0 || p[0] != '/' || nprefix == MAX_PREFIXES ||
            prefix_used + len + 1 > sizeof prefix_buf)
            continue;
        memcpy(prefix_buf + prefix_used, p, len);
        prefix_buf[prefix_used + len] = '\0';
        prefix[nprefix] = prefix_buf + prefix_used;
        /* "/" alone excludes everything: kept as the empty prefix. */
        prefix_len[nprefix++] = len == 1 ? 0 : len;
        if (len == 1)
            exclude_all = true;
        else
            first_letter[(unsigned char)p[1] >> 6] |=
                1ull << ((unsigned char)p[1] & 63);
        prefix_used += len + 1;
    }
}

/* Whether a prefix starts with the letter after ABS's first "/". */
static bool may_match(const char *abs)
{
    unsigned char c = (unsigned char)abs[1];
    return (first_letter[c >> 6] >> (c & 63)) & 1;
}

/* Whether a prefix other than "/" matches ABS. */
static inline bool match_prefix(const char *abs)
{
    if (!may_match(abs))
        return false;
    for (unsigned i = 0; i < nprefix; i++) {
        size_t n = prefix_len[i];
        /* The first letter after the "/" tells most prefixes apart: the
         * call to compare the rest only for those that may match. */
        if (abs[1] == prefix[i][1] && !strncmp(abs, prefix[i], n) &&
            (abs[n] == '/' || abs[n] == '\0'))
            return true;
    }
    return false;
}

bool mmp_fpath_excluded(const char *abs)
{
    return exclude_all || match_prefix(abs);
}

/* An open of /dev/null or /proc/self/... is decided on the path as given,
 * without the copy and the cleaning, when cleaning would change nothing
 * but a trailing "/" (no "//", no segment starting with "."): the
 * prefixes match the same. A path no prefix can match as given is left
 * to the cleaning the record needs anyway (which may still make it one
 * that matches: "/home/../usr"), without this scan. */
enum mmp_raw mmp_fpath_raw(const char *path)
{
    if (path && exclude_all)
        return MMP_RAW_EXCLUDED;
    if (!path || path[0] != '/' || !may_match(path))
        return MMP_RAW_UNKNOWN;
    /* One pass, inline: the paths decided here are short (/dev/null), and
     * a call to strchr per "/" cost more than the bytes. */
    for (const char *s = path; *s; s++) {
        if (s[0] == '/' && (s[1] == '/' || s[1] == '.'))
            return MMP_RAW_UNKNOWN;
    }
    return match_prefix(path) ? MMP_RAW_EXCLUDED : MMP_RAW_INCLUDED;
}

/* --------------------------------------------------------------- keys */

/* SipHash-2-4 (Aumasson and Bernstein): a keyed hash, so that without the
 * key nobody can hash a list of likely paths and compare. */
#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3)                                               \
    do {                                                                       \
        (v0) += (v1);                                                          \
        (v1) = ROTL(v1, 13);                                                   \
        (v1) ^= (v0);                                                          \
        (v0) = ROTL(v0, 32);                                                   \
        (v2) += (v3);                                                          \
        (v3) = ROTL(v3, 16);                                                   \
        (v3) ^= (v2);                                                          \
        (v0) += (v3);                                                          \
        (v3) = ROTL(v3, 21);                                                   \
        (v3) ^= (v0);                                                          \
        (v2) += (v1);                                                          \
        (v1) = ROTL(v1, 17);                                                   \
        (v1) ^= (v2);                                                          \
        (v2) = ROTL(v2, 32);                                                   \
    } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t mmp_siphash(const uint64_t key[2], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t v0 = 0x736f6d6570736575ull ^ key[0];
    uint64_t v1 = 0x646f72616e646f6dull ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ key[0];
    uint64_t v3 = 0x7465646279746573ull ^ key[1];
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = le64(in + i);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = full; i < len; i++)
        b |= (uint64_t)in[i] << (8 * (i - full));
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t salt[2];

const char *mmp_fpath_key(const char *abs, char hashed[MMP_HASHED_KEY],
                          size_t *len)
{
    *len = strlen(abs);
    if (!mmp_cfg.files_hash)
        return abs;
    static const char hex[] = "0123456789abcdef";
    uint64_t h = mmp_siphash(salt, abs, *len);
    /* A key is bytes and a length, not a C string. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(hashed, "hash:", 5);
    for (int i = 0; i < 16; i++)
        hashed[5 + i] = hex[(h >> (60 - 4 * i)) & 0xf];
    *len = 21;
    return hashed;
}

/* ------------------------------------------------------------ start-up */

void mmp_fpath_start(void)
{
    char buf[PATH_MAX];
    cwd_set(getcwd(buf, sizeof buf) && buf[0] == '/' ? buf : NULL);
    nprefix = 0;
    prefix_used = 0;
    exclude_all = false;
    memset(first_letter, 0, sizeof first_letter);
    add_prefixes(mmp_cfg.files_exclude ? mmp_cfg.files_exclude : "default");
    if (mmp_cfg.files_salt) {
        static const uint64_t zero[2];
        size_t n = strlen(mmp_cfg.files_salt);
        salt[0] = mmp_siphash(zero, mmp_cfg.files_salt, n);
        salt[1] = mmp_siphash(salt, mmp_cfg.files_salt, n);
    }
}
