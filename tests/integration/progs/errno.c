/* errno after hooked calls that fail, and after hooked calls that succeed
 * the first time they are made (when the shim resolves the real function):
 * one line per call with its result and errno (a sentinel is stored in
 * errno before each call). test_preload_counts.sh compares the output with
 * and without the shim: it must be identical.
 *
 *   errno DIR      (DIR: an empty scratch directory) */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define SENTINEL 4242

/* Print "NAME -> RESULT errno E" for the expression, errno preset. */
#define TRY(name, expr)                                                        \
    do {                                                                       \
        errno = SENTINEL;                                                      \
        long r_ = (long)(expr);                                                \
        int e_ = errno;                                                        \
        printf("%-28s -> %4ld errno %s\n", name, r_,                           \
               e_ == SENTINEL ? "unchanged" : strerrorname_np(e_));            \
    } while (0)

/* Pointers: print whether NULL; KEEP: a block to free at the end. */
#define TRYP(name, expr, keep)                                                 \
    do {                                                                       \
        errno = SENTINEL;                                                      \
        void *p_ = (expr);                                                     \
        int e_ = errno;                                                        \
        printf("%-28s -> %4s errno %s\n", name, p_ ? "ptr" : "NULL",           \
               e_ == SENTINEL ? "unchanged" : strerrorname_np(e_));            \
        if (keep)                                                              \
            free_later(p_);                                                    \
    } while (0)

/* The same pointer, hidden from the compiler (which would otherwise warn
 * about using a block after a realloc that failed and left it alone). */
static void *launder(void *p)
{
    __asm__("" : "+r"(p));
    return p;
}

static void *keep[16];
static int nkeep;
static void free_later(void *p)
{
    if (p && nkeep < 16)
        keep[nkeep++] = p;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: errno DIR\n");
        return 2;
    }
    int e0 = errno;
    printf("errno at main: %s\n", e0 ? strerrorname_np(e0) : "0");
    char path[4096], path2[4096], missing[4096];
    snprintf(path, sizeof path, "%s/f", argv[1]);
    snprintf(path2, sizeof path2, "%s/g", argv[1]);
    snprintf(missing, sizeof missing, "%s/missing/x", argv[1]);
    char buf[64] = "0123456789";
    volatile size_t huge = SIZE_MAX / 2; /* a run-time value: no warning */

    /* Failures. */
    TRY("read(-1)", read(-1, buf, 1));
    TRY("write(-1)", write(-1, buf, 1));
    TRY("pread(-1)", pread(-1, buf, 1, 0));
    struct iovec iov = {buf, 4};
    TRY("readv(-1)", readv(-1, &iov, 1));
    TRY("open(missing)", open(missing, O_RDONLY));
    TRY("openat(missing)", openat(AT_FDCWD, missing, O_RDONLY));
    TRY("close(-1)", close(-1));
    TRY("dup(-1)", dup(-1));
    TRY("stat(missing)", stat(missing, &(struct stat){0}));
    TRY("unlink(missing)", unlink(missing));
    TRY("mkdir(missing/x)", mkdir(missing, 0700));
    TRY("rename(missing)", rename(missing, path2));
    TRYP("fopen(missing)", fopen(missing, "r"), 0);
    int p[2];
    if (pipe(p) != 0)
        return 1;
    TRY("lseek(pipe)", lseek(p[0], 0, SEEK_SET));
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    TRY("write(closed pipe)", write(p[1], buf, 1));
    close(p[1]);
    TRY("recv(closed fd)", recv(p[1], buf, 1, 0));
    int nul = open("/dev/null", O_RDONLY);
    TRY("recv(not a socket)", recv(nul, buf, 1, 0));
    close(nul);
    TRY("socket(bad family)", socket(-1, SOCK_STREAM, 0));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s/nosock", argv[1]);
    TRY("connect(missing socket)",
        connect(s, (struct sockaddr *)&sun, sizeof sun));
    close(s);
    TRYP("malloc(huge)", malloc(huge), 1);
    TRYP("calloc(overflow)", calloc(huge, 4), 1);
    void *block = malloc(16);
    TRYP("realloc(huge)", realloc(launder(block), huge), 1);
    free(block);
    void *al = NULL;
    TRY("posix_memalign(bad align)", posix_memalign(&al, 3, 16));
    TRYP("aligned_alloc(huge)", aligned_alloc(64, huge & ~(size_t)63), 1);

    /* Successes, the first call of each: errno must stay the sentinel. */
    int fd;
    TRY("open(create)", fd = open(path, O_RDWR | O_CREAT, 0600));
    TRY("write", write(fd, buf, 10));
    TRY("pwrite", pwrite(fd, buf, 10, 10));
    TRY("lseek", lseek(fd, 0, SEEK_SET));
    TRY("read", read(fd, buf, 5));
    TRY("pread", pread(fd, buf, 5, 5));
    TRY("readv", readv(fd, &iov, 1));
    TRY("writev", writev(fd, &iov, 1));
    TRY("fstat", fstat(fd, &(struct stat){0}));
    TRY("ftruncate", ftruncate(fd, 4));
    TRY("fsync", fsync(fd));
    TRY("fdatasync", fdatasync(fd));
    int d;
    TRY("dup", d = dup(fd));
    TRY("dup2", dup2(fd, d));
    TRY("dup3", dup3(fd, d, O_CLOEXEC));
    TRY("close(dup)", close(d));
    TRY("close", close(fd));
    TRY("stat", stat(path, &(struct stat){0}));
    TRY("lstat", lstat(path, &(struct stat){0}));
    TRY("rename", rename(path, path2));
    snprintf(path, sizeof path, "%s/dir", argv[1]);
    TRY("mkdir", mkdir(path, 0700));
    FILE *f;
    TRYP("fopen", f = fopen(path2, "r+"), 0);
    TRY("fwrite", fwrite(buf, 1, 3, f));
    TRY("fflush", fflush(f));
    TRY("fclose", fclose(f));
    TRY("unlink", unlink(path2));
    TRYP("malloc", malloc(100), 1);
    TRYP("calloc", calloc(10, 10), 1);
    TRY("posix_memalign", posix_memalign(&al, 64, 100));
    free_later(al);
    TRYP("memalign", memalign(64, 100), 1);
    TRYP("aligned_alloc", aligned_alloc(64, 128), 1);
    TRYP("valloc", valloc(100), 1);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    TRY("send", send(sv[0], buf, 3, 0));
    TRY("recv", recv(sv[1], buf, 3, 0));
    close(sv[0]);
    close(sv[1]);
    errno = SENTINEL;
    for (int i = 0; i < nkeep; i++)
        free(keep[i]);
    printf("%-28s -> errno %s\n", "free",
           errno == SENTINEL ? "unchanged" : strerrorname_np(errno));
    return 0;
}
