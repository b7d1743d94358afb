/* Per-file records (files.c): the descriptor map, the per-access fast
 * path the io and stdio hooks inline, and which hooked call does what to a
 * file (the MMP_FOP_<call> table at the end, which the generated hook
 * bodies of shim.h expand after their counters).
 *
 * A record lives in two keyed tables of the stats file, both keyed by the
 * file's absolute path (or a hash of it):
 *   "files"       what every read and write changes: bytes, the furthest
 *                 offset, sequential and consecutive accesses, read/write
 *                 switches, unaligned accesses, Darshan's ten size ranges;
 *   "files.meta"  everything else: opens, closes, seeks, stats, syncs,
 *                 mmaps, renames, times and timestamps, the slowest
 *                 accesses, the most common sizes and strides.
 * Included at the end of shim.h. */
#ifndef MMP_FILES_H
#define MMP_FILES_H

#include <mmstats/preload.h>

/* ------------------------------------------------------------ members */

/* The members of the two tables: MMS_PRELOAD_FILES_MEMBERS and
 * MMS_PRELOAD_META_MEMBERS, in <mmstats/preload.h> (the tools read them by
 * name). Every member of "files" is one u64, so member k sits at byte
 * 8 + 8 * k of a record's cell (files.c checks this against the core's
 * layout before using it). */
#define MMP_FILES_MEMBERS MMS_PRELOAD_FILES_MEMBERS
#define MMP_META_MEMBERS MMS_PRELOAD_META_MEMBERS
enum mmp_fm {
#define MMP_FM_ENUM(m, kind, units) MMP_FM_##m,
    MMP_FILES_MEMBERS(MMP_FM_ENUM)
#undef MMP_FM_ENUM
        MMP_FM_N
};
enum mmp_mm {
#define MMP_MM_ENUM(m, kind, units) MMP_MM_##m,
    MMP_META_MEMBERS(MMP_MM_ENUM)
#undef MMP_MM_ENUM
        MMP_MM_N
};
#define MMP_FM_SIZES 10
/* Byte offset of member M of "files" in a record's cell. */
#define MMP_FOFF(m) (8u + 8u * (unsigned)MMP_FM_##m)

/* ------------------------------------------------------ open files */

/* Descriptors tracked: 0 .. MMP_FD_MAX - 1. The map is in steps: the
 * first MMP_FD_LOW descriptors in a static array (what nearly every
 * program uses, one load on the fast path), the others in leaves of
 * MMP_FD_LEAF entries mapped on the first use of their range (files.c). */
#define MMP_FD_MAX 65536u
#define MMP_FD_LOW 1024u
#define MMP_FD_LEAF 1024u
#define MMP_FD_LEAVES (MMP_FD_MAX / MMP_FD_LEAF)
/* Bytes of an open file's path kept for openat() and fchdir(). */
#define MMP_OFD_PATH 256u
/* Events a file without a record yet keeps (its open, fstats, seeks, reads,
 * mmaps): python3 reads a module in 7 (open, 2 fstats, 2 seeks, 2 reads). */
#define MMP_PEND_MAX 10u

#define MMP_NOWHERE (1ull << 63) /* an unknown offset */
/* No run: an offset no access with a size of 0 (an inactive run's) has. */
#define MMP_NORUN (~0ull)

/* What the slow path needs for an access's pattern, per thread and open
 * file: where its previous read and write ended, which came last. */
struct mmp_fpat {
    uint64_t rend; /* end of the previous read; MMP_NOWHERE */
    uint64_t wend; /* end of the previous write; MMP_NOWHERE */
    uint8_t last;  /* previous access: 0 none, 1 read, 2 write */
};

/* The owner thread's state of an open file: the run of accesses the fast
 * path continues (same kind, same size, each starting where the last
 * ended, each reaching this thread's furthest offset), and its pattern
 * for the slow path. A run of reads has its next offset in expect[0] and
 * its size in size[0]; of writes, in [1]; the other kind has MMP_NORUN
 * and 0, so an access of the other kind never continues it. */
struct mmp_frun {
    uint8_t *cell;      /* this thread's cell of the record in "files" */
    uint64_t expect[2]; /* offset that continues the run; MMP_NORUN */
    uint64_t size[2];   /* the run's access size */
    uint64_t *bucket;   /* the run's size range counter, in CELL */
    uint64_t run_from;  /* where the run's fast accesses began */
    struct mmp_fpat pat;
};

/* An open file description: what the descriptors that dup() shares have
 * in common (one per open(), shared by its duplicates, as the kernel's).
 * Line 0 is set at open and read by every thread; line 1 is written by
 * every access (the offset, the owner's run): the thread that made the
 * first access owns the fast path; others keep their run in their own
 * thread cache (files.c), so that threads writing one file through one
 * descriptor write no shared line but the offset. The padding is the
 * point: each part on its own cache lines. */
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding)
struct mmp_ofd {
    uintptr_t owner; /* thread pointer of the fast path's owner; 0 none */
    uint32_t rec;    /* record in "files" */
    uint32_t meta;   /* record in "files.meta" */
    uint32_t refs;   /* descriptors that refer to it; 0: free */
    uint32_t serial; /* bumped at each reuse (tags thread caches) */
    uint64_t mask;   /* alignment - 1: unaligned accesses */
    uint8_t flags;   /* MMP_OFD_* */
    _Alignas(64) uint64_t pos; /* the offset; MMP_NOWHERE if unknown */
    struct mmp_frun own;       /* the owner's run */
    /* The owner's run's times: its members in the owner's own cell of the
     * record in "files.meta", where a timed access that continues the run
     * adds its time (NULL: a timed access takes the slow path). Set with
     * the run, by the slow path; the run's kind picks read or write. */
    uint64_t *mseq;  /* that cell's seqlock */
    uint64_t *mtime; /* read_time or write_time */
    uint64_t *mlast; /* last_read or last_write */
    uint64_t *mslow; /* slowest_read or slowest_write: {ns, bytes} */
    _Alignas(64) char path[MMP_OFD_PATH]; /* absolute; "" if unknown */
    /* What the slot's last files had, kept when it is freed: the next
     * open in this slot (a descriptor number's slot, so often the same
     * thread's next open) of the same path, or of one in the same
     * directory, skips the table lookups. Written by the opener and the
     * closer only (the slot is theirs). NOOWN_GEN: PATH had no record of
     * its own when files.c's own_gen was this (0: not known). */
    uint8_t own_ok;   /* own_rec, own_meta: PATH's own records */
    uint16_t dir_end; /* PATH's directory's length with its "/"; 0: none */
    uint32_t own_rec, own_meta;
    uint32_t dir_rec, dir_meta; /* the directory's records, DIR/ * */
    uint64_t noown_gen;
    /* A file opened and only read (fstat'ed, mmap'ed, seeked) so far has
     * no record yet: its events wait here, in order, and go to its
     * directory's record if it closes so (the import pattern), to its own
     * record (replayed exactly) if it does more (files.c, "pending"). */
    uint32_t pend;    /* MMP_PEND_*: 0 none (records, or untracked) */
    uint32_t npend;   /* events in log */
    uintptr_t opener; /* the thread that may add to log */
    struct mmp_pev {
        uint8_t kind; /* enum mmp_pev_kind (files.c) */
        uint8_t how;  /* an access's MMP_FIO_* */
        int64_t r;    /* an access's bytes */
        uint64_t off, pos, t0, t1;
    } log[MMP_PEND_MAX];
};
#define MMP_PEND_IDLE 1u    /* pending, its log free */
#define MMP_PEND_BUSY 2u    /* pending, its log being written or replayed */
#define MMP_OFD_STREAM 0x1u /* a FILE stream's: pos is the stream's */
#define MMP_OFD_APPEND 0x2u /* O_APPEND: a write's offset is unknown */

/* The map: descriptor -> open file, NULL if untracked (never opened
 * through a hook, excluded, a socket or pipe, or files off). Descriptors
 * from MMP_FD_LOW on are in mmp_fdleaf[fd / MMP_FD_LEAF] (NULL: a range
 * never used; its entries are all NULL). Entries and leaves are single
 * pointers, set with atomics: a reader never sees half of one. */
extern struct mmp_ofd *mmp_fdmap[MMP_FD_LOW] MMP_HIDDEN;
extern struct mmp_ofd **mmp_fdleaf[MMP_FD_LEAVES] MMP_HIDDEN;

/* Set (for good) when the map first holds an open file: until then,
 * which is for the whole run of a program that opens no file the records
 * keep (sockets, pipes, terminals, excluded paths), a hook's map lookup
 * is this one byte. */
extern uint8_t mmp_fd_used MMP_HIDDEN;

/* FD's entry in the map, NULL if FD has none (out of range, or its leaf
 * not mapped yet). */
static inline struct mmp_ofd **mmp_fd_slot(int fd)
{
    if (MMP_LIKELY((unsigned)fd < MMP_FD_LOW))
        return &mmp_fdmap[fd];
    if ((unsigned)fd >= MMP_FD_MAX)
        return NULL;
    struct mmp_ofd **leaf =
        mms_load_acquire(&mmp_fdleaf[(unsigned)fd / MMP_FD_LEAF]);
    return leaf ? &leaf[(unsigned)fd % MMP_FD_LEAF] : NULL;
}

/* The open file FD refers to, or NULL. */
static inline struct mmp_ofd *mmp_fd_get(int fd)
{
    if (MMP_LIKELY(!mms_load_relaxed(&mmp_fd_used)))
        return NULL;
    struct mmp_ofd **e = mmp_fd_slot(fd);
    return e ? mms_load_relaxed(e) : NULL;
}

/* The files family is on: what files.c's mmp_files_on tests first (the
 * mode of fileno, a call of that family), inline, so that a hook calls
 * into files.c only when it may have something to do. */
static inline bool mmp_files_enabled(void)
{
    return mms_load_relaxed(&mmp_mode[MMP_CALL_fileno]) != MMP_OFF;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns, for the timestamps (files.c). */
extern int64_t mmp_files_rt_delta MMP_HIDDEN;

/* files.c: everything off the fast path. */
void mmp_file_io_slow(struct mmp_ofd *o, int64_t r, uint64_t off, unsigned how,
                      uint64_t t0, uint64_t t1);
/* HOW: */
#define MMP_FIO_WRITE 0x1u  /* a write (else a read) */
#define MMP_FIO_AT 0x2u     /* at OFF (else at the current offset) */
#define MMP_FIO_NOMOVE 0x4u /* leaves the offset alone (pread, pwrite) */

/* One read or write of R bytes on FD (R < 0: failed, not recorded),
 * timed from T0 to T1 (ns; T1 = 0: not timed). An access that continues
 * the owner's run is a few adds to this thread's cell of the file's
 * record, under the cell's seqlock so that readers never see half an
 * access; timed, its time, last timestamp and (if it is the slowest) its
 * size also go to the owner's cell in "files.meta", under that cell's
 * seqlock, taken first. Anything else goes to files.c. */
static inline __attribute__((always_inline)) void
mmp_file_io(int fd, int64_t r, uint64_t off, unsigned how, uint64_t t0,
            uint64_t t1)
{
    struct mmp_ofd *o = mmp_fd_get(fd);
    if (MMP_LIKELY(!o))
        return;
    struct mmp_frun *s = &o->own;
    bool w = how & MMP_FIO_WRITE;
    uint64_t at = (how & MMP_FIO_AT) ? off : o->pos;
    uint8_t *c = s->cell;
    uint64_t *mseq = t1 ? o->mseq : NULL;
    if (MMP_UNLIKELY((t1 && !mseq) ||
                     mms_load_relaxed(&o->owner) !=
                         (uintptr_t)__builtin_thread_pointer() ||
                     at != s->expect[w] || (uint64_t)r != s->size[w])) {
        mmp_file_io_slow(o, r, off, how, t0, t1);
        return;
    }
    uint64_t *seq = (uint64_t *)c, sq = mms_load_relaxed(seq);
    uint64_t msq = t1 ? mms_load_relaxed(mseq) : 0;
    if (MMP_UNLIKELY((sq | msq) & 1)) { /* a signal handler in an update */
        mmp_file_io_slow(o, r, off, how, t0, t1);
        return;
    }
    if (t1)
        mms_store_relaxed(mseq, msq + 1);
    mms_store_relaxed(seq, sq + 1);
    mms_fence_release();
    uint64_t end = at + (uint64_t)r;
    if (!(how & MMP_FIO_NOMOVE))
        o->pos = end;
    s->expect[w] = end;
    mms_seq_add_owned(
        (uint64_t *)(c + (w ? MMP_FOFF(bytes_written) : MMP_FOFF(bytes_read))),
        (uint64_t)r);
    mms_seq_add_owned(s->bucket, 1);
    mms_seq_add_owned((uint64_t *)(c + (w ? MMP_FOFF(consec_writes)
                                          : MMP_FOFF(consec_reads))),
                      1);
    mms_seq_add_owned(
        (uint64_t *)(c + (w ? MMP_FOFF(seq_writes) : MMP_FOFF(seq_reads))), 1);
    mms_seq_store(
        (uint64_t *)(c + (w ? MMP_FOFF(write_end) : MMP_FOFF(read_end))), end);
    mms_seq_add_owned((uint64_t *)(c + MMP_FOFF(unaligned)),
                      (uint64_t)((at & o->mask) != 0));
    mms_store_release(seq, sq + 2);
    if (t1) {
        uint64_t dt = t1 > t0 ? t1 - t0 : 0;
        uint64_t last = t1 + (uint64_t)mmp_files_rt_delta;
        mms_seq_add_owned(o->mtime, dt);
        if (last > mms_load_relaxed(o->mlast))
            mms_seq_store(o->mlast, last);
        if (MMP_UNLIKELY(dt > mms_load_relaxed(&o->mslow[0]))) {
            mms_seq_store(&o->mslow[0], dt);
            mms_seq_store(&o->mslow[1], (uint64_t)r);
        }
        mms_store_release(mseq, msq + 2);
    }
}

/* The other file events, all in files.c. */
void mmp_file_open(unsigned id, int dirfd, const char *path, int flags, int fd,
                   uint64_t t0, uint64_t t1);
void mmp_file_fopen(unsigned id, const char *path, const char *how, FILE *f,
                    uint64_t t0, uint64_t t1);
void mmp_file_fdopen(int fd, const char *how, FILE *f);
struct mmp_ofd *mmp_file_take(int fd);
void mmp_file_closed(struct mmp_ofd *o, int r, uint64_t t0, uint64_t t1);
void mmp_file_dup(int fd, int r, int fd2, uint64_t t0, uint64_t t1);
void mmp_file_seek(int fd, int64_t r, uint64_t t0, uint64_t t1);
void mmp_file_sync(int fd, int r, bool data, uint64_t t0, uint64_t t1);
void mmp_file_fstat(int fd, int r, uint64_t t0, uint64_t t1);
void mmp_file_stat(int dirfd, const char *path, int flags, int r, uint64_t t0,
                   uint64_t t1);
void mmp_file_rename(int fromdir, const char *from, int todir, const char *to,
                     int r, uint64_t t0, uint64_t t1);
void mmp_file_copy(int in, const int64_t *inoff, int out, const int64_t *outoff,
                   int64_t r, uint64_t t0, uint64_t t1);
void mmp_file_mmap(int fd, bool ok, uint64_t t0, uint64_t t1);
void mmp_file_chdir(const char *path, int fd, int r);
void mmp_file_fileno(int fd, uint64_t t0, uint64_t t1);
void mmp_file_fseek(FILE *f, int64_t off, int whence, int r, uint64_t t0,
                    uint64_t t1);
void mmp_file_freopen(unsigned id, const char *path, const char *how, FILE *f,
                      struct mmp_ofd *old, uint64_t t0, uint64_t t1);
/* close_range() and closefrom(), before the call: the range's files are
 * closed (taken out of the map first, as close() does). */
void mmp_file_range(unsigned first, unsigned last, int flags);

/* FD is new and not a file (a socket): whatever the map held for it (a
 * file closed behind the shim's back) is dropped. */
void mmp_file_forget(int fd);
static inline void mmp_file_notfile(int fd)
{
    if (mmp_fd_get(fd))
        mmp_file_forget(fd);
}

/* A stream's descriptor, read from glibc's FILE: no call, no lock. */
static inline int mmp_stream_fd(FILE *f)
{
    return f ? f->_fileno : -1;
}

/* ------------------------------------------- what each hooked call does */

/* MMP_FPRE(name) runs just before the real call, MMP_FPOST(name, t0, t1)
 * just after it (t1 = 0: not timed), in the generated bodies of shim.h;
 * both are empty for calls without a MMP_FPRE_<name> / MMP_FOP_<name>
 * entry below (an entry is "~, macro": the probe picks the macro). The
 * macros name the hooks' parameters, as calls.h names them. */
#define MMP_FPROBE_(a, b, ...) b
#define MMP_FPROBE(...) MMP_FPROBE_(__VA_ARGS__, MMP_FNONE, )
#define MMP_FNONE(...)
#define MMP_FPOST(name, t0, t1)                                                \
    MMP_FPROBE(MMP_FOP_##name)(MMP_CALL_##name, t0, t1)
#define MMP_FPRE(name) MMP_FPROBE(MMP_FPRE_##name)(MMP_CALL_##name)
/* 1 if call NAME has either entry (a per-file operation), else 0. */
#define MMP_FHAS_(a, b, c, ...) c
#define MMP_FHAS(...) MMP_FHAS_(__VA_ARGS__, 1, 0, 0)
#define MMP_FILEOP(name) (MMP_FHAS(MMP_FOP_##name) | MMP_FHAS(MMP_FPRE_##name))

/* NOLINTBEGIN(bugprone-macro-parentheses): parameter names of the hooks */
#define MMP_FR(id, t0, t1) mmp_file_io(fd, (int64_t)mmp_r, 0, 0, t0, t1)
#define MMP_FW(id, t0, t1)                                                     \
    mmp_file_io(fd, (int64_t)mmp_r, 0, MMP_FIO_WRITE, t0, t1)
#define MMP_FR_AT(id, t0, t1)                                                  \
    mmp_file_io(fd, (int64_t)mmp_r, (uint64_t)off,                             \
                MMP_FIO_AT | MMP_FIO_NOMOVE, t0, t1)
#define MMP_FW_AT(id, t0, t1)                                                  \
    mmp_file_io(fd, (int64_t)mmp_r, (uint64_t)off,                             \
                MMP_FIO_WRITE | MMP_FIO_AT | MMP_FIO_NOMOVE, t0, t1)
/* preadv2 and pwritev2 at offset -1: the current offset, which moves. */
#define MMP_FR_AT2(id, t0, t1)                                                 \
    mmp_file_io(fd, (int64_t)mmp_r, (uint64_t)off,                             \
                off == -1 ? 0 : MMP_FIO_AT | MMP_FIO_NOMOVE, t0, t1)
#define MMP_FW_AT2(id, t0, t1)                                                 \
    mmp_file_io(fd, (int64_t)mmp_r, (uint64_t)off,                             \
                MMP_FIO_WRITE | (off == -1 ? 0 : MMP_FIO_AT | MMP_FIO_NOMOVE), \
                t0, t1)
/* Streams: the stream's own position, kept in its descriptor's record. */
#define MMP_FSR(id, t0, t1)                                                    \
    mmp_file_io(mmp_stream_fd(f), (int64_t)(mmp_r * size), 0, 0, t0, t1)
#define MMP_FSW(id, t0, t1)                                                    \
    mmp_file_io(mmp_stream_fd(f), (int64_t)(mmp_r * size), 0, MMP_FIO_WRITE,   \
                t0, t1)
#define MMP_FSGETS(id, t0, t1)                                                 \
    mmp_file_io(mmp_stream_fd(f), mmp_r ? (int64_t)strlen(mmp_r) : -1, 0, 0,   \
                t0, t1)
#define MMP_FSPUTS(id, t0, t1)                                                 \
    mmp_file_io(mmp_stream_fd(f), mmp_r == EOF ? -1 : (int64_t)strlen(s), 0,   \
                MMP_FIO_WRITE, t0, t1)
/* DO if COND, as one statement. */
#define MMP_FIF(cond, do_)                                                     \
    do {                                                                       \
        if (cond)                                                              \
            do_;                                                               \
    } while (0)
/* An open that gave a descriptor, with the files family on: the call into
 * files.c (the mode byte tested here, so that an open with the family off
 * makes no call). */
#define MMP_FOPEN_IF(r) ((r) >= 0 && mmp_files_enabled())
#define MMP_FOPEN(id, t0, t1)                                                  \
    MMP_FIF(MMP_FOPEN_IF(mmp_r),                                               \
            mmp_file_open(id, AT_FDCWD, path, flags, mmp_r, t0, t1))
#define MMP_FOPENAT(id, t0, t1)                                                \
    MMP_FIF(MMP_FOPEN_IF(mmp_r),                                               \
            mmp_file_open(id, dirfd, path, flags, mmp_r, t0, t1))
#define MMP_FCREAT(id, t0, t1)                                                 \
    MMP_FIF(MMP_FOPEN_IF(mmp_r),                                               \
            mmp_file_open(id, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC,    \
                          mmp_r, t0, t1))
#define MMP_FTAKE(id)                                                          \
    struct mmp_ofd *mmp_fo =                                                   \
        mms_load_relaxed(&mmp_fd_used) ? mmp_file_take(fd) : NULL
#define MMP_FSTAKE(id)                                                         \
    struct mmp_ofd *mmp_fo = mms_load_relaxed(&mmp_fd_used)                    \
                                 ? mmp_file_take(mmp_stream_fd(f))             \
                                 : NULL
/* A descriptor the map did not hold (every close with the family off):
 * no call. */
#define MMP_FCLOSE(id, t0, t1)                                                 \
    MMP_FIF(mmp_fo, mmp_file_closed(mmp_fo, mmp_r, t0, t1))
#define MMP_FSCLOSE(id, t0, t1)                                                \
    MMP_FIF(mmp_fo, mmp_file_closed(mmp_fo, mmp_r == EOF ? -1 : 0, t0, t1))
#define MMP_FDUP(id, t0, t1) mmp_file_dup(fd, mmp_r, -1, t0, t1)
#define MMP_FDUP2(id, t0, t1) mmp_file_dup(fd, mmp_r, fd2, t0, t1)
#define MMP_FSEEK(id, t0, t1) mmp_file_seek(fd, (int64_t)mmp_r, t0, t1)
#define MMP_FSYNC(id, t0, t1) mmp_file_sync(fd, mmp_r, false, t0, t1)
#define MMP_FDSYNC(id, t0, t1) mmp_file_sync(fd, mmp_r, true, t0, t1)
#define MMP_FFSTAT(id, t0, t1) mmp_file_fstat(fd, mmp_r, t0, t1)
#define MMP_FSTAT(id, t0, t1) mmp_file_stat(AT_FDCWD, path, 0, mmp_r, t0, t1)
#define MMP_FSTATAT(id, t0, t1) mmp_file_stat(dirfd, path, flags, mmp_r, t0, t1)
#define MMP_FRENAME(id, t0, t1)                                                \
    mmp_file_rename(AT_FDCWD, from, AT_FDCWD, to, mmp_r, t0, t1)
#define MMP_FRENAMEAT(id, t0, t1)                                              \
    mmp_file_rename(fromdir, from, todir, to, mmp_r, t0, t1)
#define MMP_FCOPY(id, t0, t1)                                                  \
    mmp_file_copy(in, (const int64_t *)inoff, out, (const int64_t *)outoff,    \
                  (int64_t)mmp_r, t0, t1)
#define MMP_FSENDFILE(id, t0, t1)                                              \
    mmp_file_copy(in, (const int64_t *)off, out, NULL, (int64_t)mmp_r, t0, t1)
#define MMP_FMMAP(id, t0, t1) mmp_file_mmap(fd, mmp_r != MAP_FAILED, t0, t1)
#define MMP_FCHDIR(id, t0, t1) mmp_file_chdir(path, -1, mmp_r)
#define MMP_FFCHDIR(id, t0, t1) mmp_file_chdir(NULL, fd, mmp_r)
#define MMP_FFILENO(id, t0, t1) mmp_file_fileno(mmp_r, t0, t1)
#define MMP_FFSEEK(id, t0, t1)                                                 \
    mmp_file_fseek(f, (int64_t)off, whence, mmp_r, t0, t1)
#define MMP_FFSETPOS(id, t0, t1)                                               \
    mmp_file_fseek(f, (int64_t)pos->__pos, SEEK_SET, mmp_r, t0, t1)
#define MMP_FSOPEN(id, t0, t1) mmp_file_fopen(id, path, how, mmp_r, t0, t1)
#define MMP_FDOPEN(id, t0, t1) mmp_file_fdopen(fd, how, mmp_r)
#define MMP_FREOPEN(id, t0, t1)                                                \
    mmp_file_freopen(id, path, how, mmp_r, mmp_fo, t0, t1)
#define MMP_FRANGE_PRE(id) mmp_file_range(first, last, flags)
#define MMP_FNOTFILE(id, t0, t1) mmp_file_notfile(mmp_r)
/* NOLINTEND(bugprone-macro-parentheses) */

/* MMP_FMAY(name): whether call NAME's per-file step (MMP_FPOST) may have
 * something to do now, tested by the timed path before it calls the step
 * out of line: the operation's MMP_FMAYP_<macro> if it has one ("~,
 * expression"), else 1; 0 for a call without a step. */
#define MMP_FMAY(name)                                                         \
    MMP_FMAY_(MMP_CAT(MMP_FMAYP_, MMP_FPROBE(MMP_FOP_##name)))
#define MMP_FMAY_(...) MMP_FMAY__(__VA_ARGS__)
#define MMP_FMAY__(...) MMP_FPROBE_(__VA_ARGS__, 1, )
#define MMP_FMAYP_MMP_FNONE ~, 0
/* MMP_FPRE_MAY(name): the same for call NAME's step before the real call
 * (MMP_FPRE), tested by the counting path: a descriptor or stream taken
 * out of the map only while the map holds a file. */
#define MMP_FPRE_MAY(name)                                                     \
    MMP_FMAY_(MMP_CAT(MMP_FMAYP_, MMP_FPROBE(MMP_FPRE_##name)))
#define MMP_FMAYP_MMP_FTAKE MMP_FMAY_IO
#define MMP_FMAYP_MMP_FSTAKE MMP_FMAY_IO
/* Reads and writes: only a descriptor the map holds. */
#define MMP_FMAY_IO ~, mms_load_relaxed(&mmp_fd_used)
#define MMP_FMAYP_MMP_FR MMP_FMAY_IO
#define MMP_FMAYP_MMP_FW MMP_FMAY_IO
#define MMP_FMAYP_MMP_FR_AT MMP_FMAY_IO
#define MMP_FMAYP_MMP_FW_AT MMP_FMAY_IO
#define MMP_FMAYP_MMP_FR_AT2 MMP_FMAY_IO
#define MMP_FMAYP_MMP_FW_AT2 MMP_FMAY_IO
#define MMP_FMAYP_MMP_FSR MMP_FMAY_IO
#define MMP_FMAYP_MMP_FSW MMP_FMAY_IO
#define MMP_FMAYP_MMP_FSGETS MMP_FMAY_IO
#define MMP_FMAYP_MMP_FSPUTS MMP_FMAY_IO
#define MMP_FMAYP_MMP_FNOTFILE MMP_FMAY_IO
/* Opens: one that gave a descriptor, with the family on. */
#define MMP_FMAYP_MMP_FOPEN ~, MMP_FOPEN_IF(mmp_r)
#define MMP_FMAYP_MMP_FOPENAT ~, MMP_FOPEN_IF(mmp_r)
#define MMP_FMAYP_MMP_FCREAT ~, MMP_FOPEN_IF(mmp_r)

#define MMP_FOP_read ~, MMP_FR
#define MMP_FOP_write ~, MMP_FW
#define MMP_FOP_pread ~, MMP_FR_AT
#define MMP_FOP_pread64 ~, MMP_FR_AT
#define MMP_FOP_pwrite ~, MMP_FW_AT
#define MMP_FOP_pwrite64 ~, MMP_FW_AT
#define MMP_FOP_readv ~, MMP_FR
#define MMP_FOP_writev ~, MMP_FW
#define MMP_FOP_preadv ~, MMP_FR_AT
#define MMP_FOP_preadv64 ~, MMP_FR_AT
#define MMP_FOP_pwritev ~, MMP_FW_AT
#define MMP_FOP_pwritev64 ~, MMP_FW_AT
#define MMP_FOP_preadv2 ~, MMP_FR_AT2
#define MMP_FOP_preadv64v2 ~, MMP_FR_AT2
#define MMP_FOP_pwritev2 ~, MMP_FW_AT2
#define MMP_FOP_pwritev64v2 ~, MMP_FW_AT2
#define MMP_FOP___read_chk ~, MMP_FR
#define MMP_FOP___pread_chk ~, MMP_FR_AT
#define MMP_FOP___pread64_chk ~, MMP_FR_AT
#define MMP_FOP_copy_file_range ~, MMP_FCOPY
#define MMP_FOP_sendfile ~, MMP_FSENDFILE
#define MMP_FOP_sendfile64 ~, MMP_FSENDFILE
#define MMP_FOP_splice ~, MMP_FCOPY
#define MMP_FOP_open ~, MMP_FOPEN
#define MMP_FOP_open64 ~, MMP_FOPEN
#define MMP_FOP_openat ~, MMP_FOPENAT
#define MMP_FOP_openat64 ~, MMP_FOPENAT
#define MMP_FOP_creat ~, MMP_FCREAT
#define MMP_FOP_creat64 ~, MMP_FCREAT
#define MMP_FOP___open_2 ~, MMP_FOPEN
#define MMP_FOP___open64_2 ~, MMP_FOPEN
#define MMP_FOP___openat_2 ~, MMP_FOPENAT
#define MMP_FOP___openat64_2 ~, MMP_FOPENAT
#define MMP_FPRE_close ~, MMP_FTAKE
#define MMP_FOP_close ~, MMP_FCLOSE
#define MMP_FOP_dup ~, MMP_FDUP
#define MMP_FOP_dup2 ~, MMP_FDUP2
#define MMP_FOP_dup3 ~, MMP_FDUP2
#define MMP_FOP_lseek ~, MMP_FSEEK
#define MMP_FOP_lseek64 ~, MMP_FSEEK
#define MMP_FOP_fsync ~, MMP_FSYNC
#define MMP_FOP_fdatasync ~, MMP_FDSYNC
#define MMP_FOP_fstat ~, MMP_FFSTAT
#define MMP_FOP_fstat64 ~, MMP_FFSTAT
#define MMP_FOP___fxstat ~, MMP_FFSTAT
#define MMP_FOP___fxstat64 ~, MMP_FFSTAT
#define MMP_FOP_stat ~, MMP_FSTAT
#define MMP_FOP_stat64 ~, MMP_FSTAT
#define MMP_FOP_lstat ~, MMP_FSTAT
#define MMP_FOP_lstat64 ~, MMP_FSTAT
#define MMP_FOP___xstat ~, MMP_FSTAT
#define MMP_FOP___xstat64 ~, MMP_FSTAT
#define MMP_FOP___lxstat ~, MMP_FSTAT
#define MMP_FOP___lxstat64 ~, MMP_FSTAT
#define MMP_FOP_fstatat ~, MMP_FSTATAT
#define MMP_FOP_fstatat64 ~, MMP_FSTATAT
#define MMP_FOP___fxstatat ~, MMP_FSTATAT
#define MMP_FOP___fxstatat64 ~, MMP_FSTATAT
#define MMP_FOP_statx ~, MMP_FSTATAT
#define MMP_FOP_rename ~, MMP_FRENAME
#define MMP_FOP_renameat ~, MMP_FRENAMEAT
#define MMP_FOP_fopen ~, MMP_FSOPEN
#define MMP_FOP_fopen64 ~, MMP_FSOPEN
#define MMP_FOP_fdopen ~, MMP_FDOPEN
#define MMP_FPRE_fclose ~, MMP_FSTAKE
#define MMP_FOP_fclose ~, MMP_FSCLOSE
#define MMP_FOP_fread ~, MMP_FSR
#define MMP_FOP_fwrite ~, MMP_FSW
#define MMP_FOP_fgets ~, MMP_FSGETS
#define MMP_FOP_fputs ~, MMP_FSPUTS
#define MMP_FOP_fread_unlocked ~, MMP_FSR
#define MMP_FOP_fwrite_unlocked ~, MMP_FSW
#define MMP_FOP_fgets_unlocked ~, MMP_FSGETS
#define MMP_FOP_fputs_unlocked ~, MMP_FSPUTS
#define MMP_FPRE_close_range ~, MMP_FRANGE_PRE
#define MMP_FOP_chdir ~, MMP_FCHDIR
#define MMP_FOP_fchdir ~, MMP_FFCHDIR
#define MMP_FOP_mmap ~, MMP_FMMAP
#define MMP_FOP_mmap64 ~, MMP_FMMAP
#define MMP_FOP_fileno ~, MMP_FFILENO
#define MMP_FOP_fseek ~, MMP_FFSEEK
#define MMP_FOP_fseeko ~, MMP_FFSEEK
#define MMP_FOP_fseeko64 ~, MMP_FFSEEK
#define MMP_FOP_fsetpos ~, MMP_FFSETPOS
#define MMP_FOP_fsetpos64 ~, MMP_FFSETPOS
#define MMP_FPRE_freopen ~, MMP_FSTAKE
#define MMP_FOP_freopen ~, MMP_FREOPEN
#define MMP_FPRE_freopen64 ~, MMP_FSTAKE
/* Sockets have no records (docs/preload.md): their descriptors are
 * cleared in the map, in case a file closed unseen had the number. */
#define MMP_FOP_socket ~, MMP_FNOTFILE
#define MMP_FOP_accept ~, MMP_FNOTFILE
#define MMP_FOP_accept4 ~, MMP_FNOTFILE
#define MMP_FOP_freopen64 ~, MMP_FREOPEN

#endif /* MMP_FILES_H */
