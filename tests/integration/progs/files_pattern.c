/* files_pattern DIR: a known access pattern on DIR/pattern.dat, for
 * test_files_pattern.sh, and on stdout what the shim's per-file records
 * must hold afterwards, computed from the pattern alone ("member value"
 * lines; "renamed.member value" for the file it is renamed to):
 *
 * 1. fd: 10 MiB written sequentially in 4 KiB writes, fsync every MiB, a
 *    dup in the middle (the rest written through the duplicate);
 * 2. FILE *: read back with a 16 KiB stride (fseek + 4 KiB fread), then
 *    16 4 KiB fwrites at 10 MiB, fflush, fsync(fileno());
 * 3. fd: 1000 random 512-byte preads (at multiples of 512, from a fixed
 *    generator), a 512-byte pwrite at 0, a pread at 512, fstat, stat,
 *    fdatasync, an mmap; then a rename.
 *
 * The expected values follow the records' definitions (docs/preload.md):
 * sequential and consecutive accesses, strides and read/write switches per
 * open file description; "end" is the furthest offset reached + 1; an
 * access is unaligned when its offset is not a multiple of 4096. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KIB 4096u
#define MIB (1024u * 1024u)
#define NWRITES (10u * MIB / KIB)
#define NSTRIDE 640u
#define STRIDE (16u * 1024u)
#define NTAIL 16u
#define NRANDOM 1000u

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* ------------------------------------------------ the expected values */

/* The model: per member a count, per size and stride an exact count. */
static uint64_t opens, dups, filenos, closes, seeks, stats, fsyncs, fdatasyncs,
    mmaps, bytes_read, bytes_written, read_end, write_end, consec_reads,
    consec_writes, seq_reads, seq_writes, rw_switches, unaligned, read_sz[10],
    write_sz[10];

#define MAXV 4096
static int64_t value[2][MAXV]; /* [0] sizes, [1] strides */
static uint64_t vcount[2][MAXV];
static unsigned nvalues[2];

static void tally(int which, int64_t v)
{
    for (unsigned i = 0; i < nvalues[which]; i++)
        if (value[which][i] == v) {
            vcount[which][i]++;
            return;
        }
    value[which][nvalues[which]] = v;
    vcount[which][nvalues[which]++] = 1;
}

static unsigned range(uint64_t n)
{
    static const uint64_t top[9] = {100,      1024,      10240,
                                    102400,   1048576,   4194304,
                                    10485760, 104857600, 1073741824};
    unsigned b = 0;
    while (b < 9 && n > top[b])
        b++;
    return b;
}

/* One open file's pattern state. */
struct open_file {
    int64_t rend, wend; /* -1: no previous read / write */
    int last;           /* 0, 'r', 'w' */
};

static void access_at(struct open_file *o, int w, uint64_t off, uint64_t n)
{
    int64_t *prev = w ? &o->wend : &o->rend;
    if (*prev >= 0) {
        if ((int64_t)off == *prev)
            w ? consec_writes++ : consec_reads++;
        if ((int64_t)off >= *prev)
            w ? seq_writes++ : seq_reads++;
        tally(1, (int64_t)off - *prev);
    }
    if (o->last && o->last != (w ? 'w' : 'r'))
        rw_switches++;
    o->last = w ? 'w' : 'r';
    if (off % KIB)
        unaligned++;
    *prev = (int64_t)(off + n);
    tally(0, (int64_t)n);
    if (w) {
        bytes_written += n;
        write_sz[range(n)]++;
        if (off + n > write_end)
            write_end = off + n;
    } else {
        bytes_read += n;
        read_sz[range(n)]++;
        if (off + n > read_end)
            read_end = off + n;
    }
}

static void print_pairs(const char *name, int which)
{
    /* The two most common, with their counts (the pattern's random part
     * has values seen once or twice, which may hold the last pairs). */
    for (int rank = 0; rank < 2; rank++) {
        unsigned best = 0;
        for (unsigned i = 1; i < nvalues[which]; i++)
            if (vcount[which][i] > vcount[which][best])
                best = i;
        printf("%s%d %llu %lld\n", name, rank + 1,
               (unsigned long long)vcount[which][best],
               (long long)value[which][best]);
        vcount[which][best] = 0; /* for the next rank */
    }
}

/* ------------------------------------------------------------ the run */

static uint32_t lcg = 12345;
static uint32_t next_random(void)
{
    lcg = lcg * 1103515245u + 12345u;
    return lcg >> 8;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: files_pattern DIR\n");
        return 2;
    }
    char path[4096], path2[4096];
    snprintf(path, sizeof path, "%s/pattern.dat", argv[1]);
    snprintf(path2, sizeof path2, "%s/pattern.renamed", argv[1]);
    static char buf[KIB];
    memset(buf, 'p', sizeof buf);

    /* 1. fd writes, fsync every MiB, dup in the middle */
    struct open_file o1 = {-1, -1, 0};
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd < 0)
        die("open");
    opens++;
    for (unsigned i = 0; i < NWRITES; i++) {
        if (i == NWRITES / 2) {
            int fd2 = dup(fd);
            if (fd2 < 0)
                die("dup");
            opens++, dups++;
            close(fd);
            closes++;
            fd = fd2;
        }
        if (write(fd, buf, KIB) != KIB)
            die("write");
        access_at(&o1, 1, (uint64_t)i * KIB, KIB);
        if ((i + 1) % (MIB / KIB) == 0) {
            if (fsync(fd) != 0)
                die("fsync");
            fsyncs++;
        }
    }
    close(fd);
    closes++;

    /* 2. FILE *: stride reads, then writes at the end */
    struct open_file o2 = {-1, -1, 0};
    FILE *f = fopen(path, "r+");
    if (!f)
        die("fopen");
    opens++;
    for (unsigned k = 0; k < NSTRIDE; k++) {
        if (fseek(f, (long)k * STRIDE, SEEK_SET) != 0)
            die("fseek");
        seeks++;
        if (fread(buf, 1, KIB, f) != KIB)
            die("fread");
        access_at(&o2, 0, (uint64_t)k * STRIDE, KIB);
    }
    if (fseek(f, (long)10 * MIB, SEEK_SET) != 0)
        die("fseek");
    seeks++;
    for (unsigned k = 0; k < NTAIL; k++) {
        if (fwrite(buf, 1, KIB, f) != KIB)
            die("fwrite");
        access_at(&o2, 1, (uint64_t)10 * MIB + k * KIB, KIB);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        die("fsync");
    filenos++, opens++, fsyncs++;
    fclose(f);
    closes++;

    /* 3. fd: random preads, a pwrite, a pread, meta calls, rename */
    struct open_file o3 = {-1, -1, 0};
    fd = open(path, O_RDWR);
    if (fd < 0)
        die("open");
    opens++;
    uint64_t blocks = (uint64_t)10 * MIB / 512;
    for (unsigned i = 0; i < NRANDOM; i++) {
        uint64_t off = (next_random() % blocks) * 512;
        if (pread(fd, buf, 512, (off_t)off) != 512)
            die("pread");
        access_at(&o3, 0, off, 512);
    }
    if (pwrite(fd, buf, 512, 0) != 512)
        die("pwrite");
    access_at(&o3, 1, 0, 512);
    if (pread(fd, buf, 512, 512) != 512)
        die("pread");
    access_at(&o3, 0, 512, 512);
    struct stat st;
    if (fstat(fd, &st) != 0 || stat(path, &st) != 0)
        die("stat");
    stats += 2;
    if (fdatasync(fd) != 0)
        die("fdatasync");
    fdatasyncs++;
    void *m = mmap(NULL, KIB, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        die("mmap");
    mmaps++;
    munmap(m, KIB);
    close(fd);
    closes++;
    if (rename(path, path2) != 0)
        die("rename");

    printf("key %s\n", path);
    printf("opens %llu\ndups %llu\nfilenos %llu\ncloses %llu\nseeks %llu\n"
           "stats %llu\nfsyncs %llu\nfdatasyncs %llu\nmmaps %llu\n"
           "renamed_from 1\nrenamed_to 0\n",
           (unsigned long long)opens, (unsigned long long)dups,
           (unsigned long long)filenos, (unsigned long long)closes,
           (unsigned long long)seeks, (unsigned long long)stats,
           (unsigned long long)fsyncs, (unsigned long long)fdatasyncs,
           (unsigned long long)mmaps);
    printf("bytes_read %llu\nbytes_written %llu\nread_end %llu\n"
           "write_end %llu\nconsec_reads %llu\nconsec_writes %llu\n"
           "seq_reads %llu\nseq_writes %llu\nrw_switches %llu\n"
           "unaligned %llu\n",
           (unsigned long long)bytes_read, (unsigned long long)bytes_written,
           (unsigned long long)read_end, (unsigned long long)write_end,
           (unsigned long long)consec_reads, (unsigned long long)consec_writes,
           (unsigned long long)seq_reads, (unsigned long long)seq_writes,
           (unsigned long long)rw_switches, (unsigned long long)unaligned);
    static const char *const rn[10] = {
        "0_100", "100_1k", "1k_10k",   "10k_100k", "100k_1m",
        "1m_4m", "4m_10m", "10m_100m", "100m_1g",  "1g_plus"};
    for (int b = 0; b < 10; b++)
        printf("read_%s %llu\nwrite_%s %llu\n", rn[b],
               (unsigned long long)read_sz[b], rn[b],
               (unsigned long long)write_sz[b]);
    print_pairs("access", 0);
    print_pairs("stride", 1);
    printf("renamed.key %s\nrenamed.renamed_to 1\n", path2);
    return 0;
}
