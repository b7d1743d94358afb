/* Known numbers of every kind of hooked call, for test_preload_counts.sh,
 * which checks the stats file field by field. libc's start-up and exit
 * make none of these calls through the PLT (its own I/O uses internal
 * entry points), so every io, fs, net and stdio count is exact;
 * allocations are checked by difference between two runs.
 *
 *   counts DIR PAIRS     (DIR: an empty scratch directory; PAIRS
 *                         malloc+free pairs)
 *
 * Prints "pairs_usable N ...": the allocator's usable bytes of the PAIRS
 * blocks, which the shim adds to mem.alloc_bytes and mem.freed_bytes.
 *
 * The calls (calls/errors, requested/moved bytes):
 *   io.read     50 x 10 from /dev/zero + 2 on fd -1   52/2, 520/500
 *   io.write    100 x 1 to /dev/null                  100/0, 100/100
 *   io.pwrite   1 x 256                               1/0, 256/256
 *   io.pread    20 x 16 at 0,16,..,304 of 256 bytes   20/0, 320/256
 *   io.readv    10 x {4,6} from /dev/zero             10/0, 100/100
 *   io.writev   10 x {3,5,7} to /dev/null             10/0, 150/150
 *   fs.open     null, zero, create, 7 x data, 3 missing   13/3
 *   fs.close    7 + 2 dups, data, null, zero, -1, 2 sockets  15/1
 *   fs.dup 1/0, fs.dup2 1/0, fs.stat 2/1, fs.fstat 3/0,
 *   fs.lseek 4/1 (one on a socket), fs.ftruncate 1/0, fs.fsync 1/0,
 *   fs.mkdir 2/1, fs.rename 1/0, fs.unlink 3/1
 *   stdio.fopen  5 x "w", 1 x "w", 1 missing, 1 x "r"  8/1
 *   stdio.fclose 7/0, stdio.fflush 2/0
 *   stdio.fwrite 5 x 11                               5/0, 55/55
 *   stdio.fputs  4 x "hello\n"                        4/0, 24/24
 *   stdio.fgets  6 x 64 on a 5-line, 35-byte file     6/0, 384/35
 *                (the 6th meets EOF: not an error)
 *   stdio.fread  64 at EOF, 64 after rewind           2/0, 128/35
 *   net.socket   1 with a bad family                  1/1
 *   net.send     30 x (i+1) bytes + 1 x 1             31/0, 466/466
 *   net.recv     30 x 64                              30/0, 1920/465
 *   net.poll     1 fd ready, 2, 0 (timeout 0), 2      4/0, ready 5
 *   net.select   1 fd ready                           1/0, ready 1
 */
#undef _FORTIFY_SOURCE /* read, not __read_chk, whatever the compiler says */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "counts: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Keep the compiler from removing a malloc/free pair it can see. */
static void use(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: counts DIR PAIRS\n");
        return 2;
    }
    const char *dir = argv[1];
    long pairs = atol(argv[2]);
    char data[4096], data2[4096], sub[4096], missing[4096];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(data2, sizeof data2, "%s/data2", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);
    char buf[512];
    memset(buf, 'x', sizeof buf);

    /* ---- io */
    int null = open("/dev/null", O_WRONLY);
    int zero = open("/dev/zero", O_RDONLY);
    if (null < 0 || zero < 0)
        die("open /dev/null, /dev/zero");
    for (int i = 0; i < 100; i++)
        if (write(null, buf, 1) != 1)
            die("write");
    for (int i = 0; i < 50; i++)
        if (read(zero, buf, 10) != 10)
            die("read");
    for (int i = 0; i < 2; i++)
        if (read(-1, buf, 10) != -1 || errno != EBADF)
            die("read(-1)");

    int fd = open(data, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open data");
    if (pwrite(fd, buf, 256, 0) != 256)
        die("pwrite");
    long got = 0;
    for (int i = 0; i < 20; i++) {
        ssize_t r = pread(fd, buf, 16, (off_t)i * 16);
        if (r < 0)
            die("pread");
        got += r;
    }
    if (got != 256)
        die("pread total");
    for (int i = 0; i < 7; i++) {
        int f = open(data, O_RDONLY);
        if (f < 0 || close(f) != 0)
            die("open+close");
    }
    for (int i = 0; i < 3; i++)
        if (open(missing, O_RDONLY) != -1 || errno != ENOENT)
            die("open missing");

    for (int i = 0; i < 10; i++) {
        struct iovec wv[3] = {{buf, 3}, {buf, 5}, {buf, 7}};
        struct iovec rv[2] = {{buf, 4}, {buf + 100, 6}};
        if (writev(null, wv, 3) != 15 || readv(zero, rv, 2) != 10)
            die("writev/readv");
    }

    /* ---- fs */
    int d1 = dup(fd);
    int d2 = dup2(fd, 100);
    if (d1 < 0 || d2 != 100)
        die("dup");
    struct stat st;
    if (stat(data, &st) != 0 || st.st_size != 256)
        die("stat");
    if (stat(missing, &st) != -1)
        die("stat missing");
    for (int i = 0; i < 3; i++)
        if (fstat(fd, &st) != 0)
            die("fstat");
    if (lseek(fd, 0, SEEK_SET) != 0 || lseek(fd, 10, SEEK_CUR) != 10 ||
        lseek(fd, 0, SEEK_END) != 256)
        die("lseek");
    if (ftruncate(fd, 128) != 0 || fsync(fd) != 0)
        die("ftruncate/fsync");
    if (mkdir(sub, 0700) != 0 || mkdir(sub, 0700) != -1 || errno != EEXIST)
        die("mkdir");
    if (rename(data, data2) != 0)
        die("rename");
    if (close(d1) != 0 || close(d2) != 0 || close(fd) != 0 ||
        close(null) != 0 || close(zero) != 0)
        die("close");
    if (close(-1) != -1 || errno != EBADF)
        die("close(-1)");

    /* ---- stdio */
    const char *volatile line = "hello\n"; /* not folded into fwrite */
    for (int i = 0; i < 5; i++) {
        FILE *f = fopen(data, "w");
        if (!f)
            die("fopen");
        if (fwrite("0123456789\n", 1, 11, f) != 11)
            die("fwrite");
        if (i == 4) {
            for (int k = 0; k < 4; k++)
                if (fputs(line, f) == EOF)
                    die("fputs");
            if (fflush(f) != 0)
                die("fflush");
        }
        if (fclose(f) != 0)
            die("fclose");
    }
    /* data: "0123456789\n" then 4 x "hello\n": 5 lines, 35 bytes. */
    FILE *f = fopen(data2, "w");
    if (!f)
        die("fopen data2");
    fclose(f);
    if (fopen(missing, "r") != NULL)
        die("fopen missing");
    f = fopen(data, "r");
    if (!f)
        die("fopen data");
    char lbuf[64];
    long lines = 0, lbytes = 0;
    for (int i = 0; i < 6; i++) /* 5 lines, then EOF */
        if (fgets(lbuf, sizeof lbuf, f)) {
            lines++;
            lbytes += (long)strlen(lbuf);
        }
    if (lines != 5 || lbytes != 35)
        die("fgets");
    if (fread(lbuf, 1, 64, f) != 0)
        die("fread at EOF");
    rewind(f);
    if (fread(lbuf, 1, 64, f) != 35)
        die("fread");
    if (fflush(f) != 0)
        die("fflush");
    fclose(f);
    if (unlink(data) != 0 || unlink(data2) != 0 || rmdir(sub) != 0)
        die("unlink");
    if (unlink(missing) != -1)
        die("unlink missing");

    /* ---- net */
    if (socket(-1, SOCK_STREAM, 0) != -1)
        die("socket(-1)");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0)
        die("socketpair");
    long sent = 0, recvd = 0;
    for (int i = 0; i < 30; i++) {
        ssize_t s = send(sv[0], buf, (size_t)i + 1, 0);
        ssize_t r = recv(sv[1], buf, 64, 0);
        if (s != i + 1 || r != i + 1)
            die("send/recv");
        sent += s;
        recvd += r;
    }
    if (send(sv[0], buf, 1, 0) != 1) /* one datagram waiting on sv[1] */
        die("send");
    struct pollfd p1[1] = {{sv[1], POLLIN, 0}};
    struct pollfd p2[2] = {{sv[1], POLLIN, 0}, {sv[0], POLLOUT, 0}};
    struct pollfd p0[1] = {{sv[0], POLLIN, 0}};
    if (poll(p1, 1, 1000) != 1 || poll(p2, 2, 1000) != 2 ||
        poll(p0, 1, 0) != 0 || poll(p2, 2, 1000) != 2)
        die("poll");
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(sv[1], &rs);
    struct timeval tv = {1, 0};
    if (select(sv[1] + 1, &rs, NULL, NULL, &tv) != 1)
        die("select");
    if (lseek(sv[0], 0, SEEK_SET) != -1 || errno != ESPIPE)
        die("lseek socket");
    if (close(sv[0]) != 0 || close(sv[1]) != 0)
        die("close sockets");

    /* ---- mem: PAIRS blocks of sizes 16..16*64, one at a time */
    size_t usable = 0;
    for (long i = 0; i < pairs; i++) {
        char *p = malloc((size_t)(16 + (i % 64) * 16));
        if (!p)
            die("malloc");
        p[0] = 1;
        use(p);
        usable += malloc_usable_size(p);
        free(p);
    }
    printf("pairs_usable %zu sent %ld recvd %ld\n", usable, sent, recvd);
    return 0;
}
