/* The calls issue 16 added to the shim, each made a known number of
 * times, for test_preload_calls.sh. Whether a call succeeds depends on
 * the file system (xattrs, fallocate): the program keeps its own tally
 * from the results it got, and prints it as the fields the stats file
 * must hold ("fs.truncate.calls 2"). Before that, one line per call: its
 * result and errno, which must be the same bare and under the shim.
 *
 *   newcalls DIR     (DIR: an empty scratch directory)
 */
#undef _FORTIFY_SOURCE /* readlink, not __readlink_chk */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <termios.h>
#include <unistd.h>
#include <utime.h>

#define MAXT 128
static struct {
    const char *name; /* "fs.truncate" */
    long calls, errors, requested, bytes, entries;
} tally[MAXT];
static int ntally;

static int slot(const char *name)
{
    for (int i = 0; i < ntally; i++)
        if (strcmp(tally[i].name, name) == 0)
            return i;
    if (ntally == MAXT)
        exit(98);
    tally[ntally].name = name;
    return ntally++;
}

/* One call of NAME with result R (failed if FAILED): counted, and shown
 * with errno (its value matters only when the call failed). */
static int note(const char *name, long r, int failed)
{
    int i = slot(name);
    tally[i].calls++;
    tally[i].errors += failed != 0;
    printf("%-24s %ld %s\n", name, r, failed ? strerrorname_np(errno) : "");
    return i;
}
#define CALL(name, expr)                                                       \
    do {                                                                       \
        long r_ = (long)(expr);                                                \
        note(name, r_, r_ < 0);                                                \
    } while (0)
/* A call with a requested size N: bytes moved R when positive. */
#define XFER(name, expr, n)                                                    \
    do {                                                                       \
        long r_ = (long)(expr);                                                \
        int i_ = note(name, r_, r_ < 0);                                       \
        tally[i_].requested += (long)(n);                                      \
        tally[i_].bytes += r_ > 0 ? r_ : 0;                                    \
    } while (0)
/* A range call (munmap...): LEN asked, LEN done if it worked. */
#define RANGE(name, expr, len)                                                 \
    do {                                                                       \
        long r_ = (long)(expr);                                                \
        int i_ = note(name, r_, r_ < 0);                                       \
        tally[i_].requested += (long)(len);                                    \
        tally[i_].bytes += r_ < 0 ? 0 : (long)(len);                           \
    } while (0)

static void die(const char *what)
{
    fprintf(stderr, "newcalls: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fs_calls(const char *dir)
{
    char f[4096], l[4096], l2[4096], sub[4096], buf[256];
    snprintf(f, sizeof f, "%s/file", dir);
    snprintf(l, sizeof l, "%s/link", dir);
    snprintf(l2, sizeof l2, "%s/hard", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    int fd = open(f, O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        die("open");
    CALL("fs.truncate", truncate(f, 100));
    CALL("fs.truncate", truncate(sub, 100)); /* missing */
    CALL("fs.truncate64", truncate64(f, 200));
    CALL("fs.fallocate", fallocate(fd, 0, 0, 4096));
    CALL("fs.fallocate64", fallocate64(fd, 0, 0, 8192));
    int e = posix_fallocate(fd, 0, 4096);
    errno = e;
    note("fs.posix_fallocate", e, e != 0);
    e = posix_fallocate(-1, 0, 4096);
    errno = e;
    note("fs.posix_fallocate", e, e != 0);
    e = posix_fallocate64(fd, 0, 4096);
    errno = e;
    note("fs.posix_fallocate64", e, e != 0);
    CALL("fs.sync_file_range", sync_file_range(fd, 0, 0, 0));
    CALL("fs.syncfs", syncfs(fd));
    CALL("fs.syncfs", syncfs(-1));
    struct statfs sf;
    struct statfs64 sf64;
    CALL("fs.statfs", statfs(dir, &sf));
    CALL("fs.statfs64", statfs64(dir, &sf64));
    CALL("fs.fstatfs", fstatfs(fd, &sf));
    CALL("fs.fstatfs64", fstatfs64(fd, &sf64));
    CALL("fs.access", access(f, R_OK));
    CALL("fs.access", access(sub, F_OK));
    CALL("fs.faccessat", faccessat(AT_FDCWD, f, R_OK, 0));
    CALL("fs.symlink", symlink(f, l));
    CALL("fs.symlink", symlink(f, l)); /* exists */
    CALL("fs.symlinkat", symlinkat(f, AT_FDCWD, l2));
    CALL("fs.unlink", unlink(l2));
    CALL("fs.link", link(f, l2));
    CALL("fs.linkat", linkat(AT_FDCWD, f, AT_FDCWD, l2, 0)); /* exists */
    XFER("fs.readlink", readlink(l, buf, sizeof buf), sizeof buf);
    XFER("fs.readlink", readlink(f, buf, sizeof buf), sizeof buf); /* no link */
    XFER("fs.readlinkat", readlinkat(AT_FDCWD, l, buf, 10), 10);
    XFER("fs.getxattr", getxattr(f, "user.mmstats", buf, sizeof buf),
         sizeof buf);
    XFER("fs.lgetxattr", lgetxattr(l, "user.mmstats", buf, sizeof buf),
         sizeof buf);
    XFER("fs.fgetxattr", fgetxattr(fd, "user.mmstats", buf, sizeof buf),
         sizeof buf);
    CALL("fs.setxattr", setxattr(f, "user.mmstats", "v", 1, 0));
    CALL("fs.lsetxattr", lsetxattr(f, "user.mmstats", "v", 1, 0));
    CALL("fs.fsetxattr", fsetxattr(fd, "user.mmstats", "v", 1, 0));
    XFER("fs.listxattr", listxattr(f, buf, sizeof buf), sizeof buf);
    XFER("fs.llistxattr", llistxattr(l, buf, sizeof buf), sizeof buf);
    XFER("fs.flistxattr", flistxattr(fd, buf, sizeof buf), sizeof buf);
    CALL("fs.removexattr", removexattr(f, "user.mmstats"));
    CALL("fs.lremovexattr", lremovexattr(f, "user.mmstats"));
    CALL("fs.fremovexattr", fremovexattr(fd, "user.mmstats"));
    CALL("fs.chmod", chmod(f, 0640));
    CALL("fs.fchmod", fchmod(fd, 0600));
    CALL("fs.fchmodat", fchmodat(AT_FDCWD, f, 0600, 0));
    CALL("fs.chown", chown(f, getuid(), getgid()));
    CALL("fs.fchown", fchown(fd, getuid(), getgid()));
    CALL("fs.lchown", lchown(l, getuid(), getgid()));
    CALL("fs.fchownat", fchownat(AT_FDCWD, f, getuid(), getgid(), 0));
    CALL("fs.utimensat", utimensat(AT_FDCWD, f, NULL, 0));
    CALL("fs.futimens", futimens(fd, NULL));
    CALL("fs.futimens", futimens(-1, NULL));
    CALL("fs.utime", utime(f, NULL));
    CALL("fs.utimes", utimes(f, NULL));
    CALL("fs.lutimes", lutimes(l, NULL));
    CALL("fs.futimes", futimes(fd, NULL));
    CALL("fs.futimes", futimes(-1, NULL));
    struct statvfs sv;
    struct statvfs64 sv64;
    CALL("fs.statvfs", statvfs(dir, &sv));
    CALL("fs.statvfs", statvfs("missing", &sv));
    CALL("fs.statvfs64", statvfs64(dir, &sv64));
    CALL("fs.fstatvfs", fstatvfs(fd, &sv));
    CALL("fs.fstatvfs64", fstatvfs64(fd, &sv64));
    CALL("fs.mkdir", mkdir(sub, 0700));
    CALL("fs.rmdir", rmdir(sub));
    CALL("fs.rmdir", rmdir(sub)); /* gone */
    char cwd[4096];
    note("fs.getcwd", 0, getcwd(cwd, sizeof cwd) == NULL);
    note("fs.getcwd", 0, getcwd(cwd, 1) == NULL); /* ERANGE */
    int p[2];
    CALL("fs.pipe", pipe(p));
    close(p[0]);
    close(p[1]);
    CALL("fs.pipe2", pipe2(p, O_CLOEXEC));
    CALL("fs.pipe2", pipe2(p, -1)); /* bad flags */
    int avail = -1;
    CALL("io.ioctl", ioctl(p[0], FIONREAD, &avail));
    CALL("io.ioctl", ioctl(-1, FIONREAD, &avail));
    CALL("io.isatty", isatty(p[0])); /* 0 is an answer, not an error */
    struct termios t;
    CALL("io.tcgetattr", tcgetattr(p[0], &t));
    close(p[0]);
    close(p[1]);
    /* msync on a mapping of the file (mmap counts its bytes, in files). */
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int i = note("files.mmap", 0, m == MAP_FAILED);
    tally[i].requested += 4096;
    tally[i].bytes += m == MAP_FAILED ? 0 : 4096;
    if (m == MAP_FAILED)
        die("mmap");
    RANGE("fs.msync", msync(m, 4096, MS_SYNC), 4096);
    RANGE("mem.munmap", munmap(m, 4096), 4096);
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, -1, 0); /* bad fd */
    i = note("files.mmap", 0, m == MAP_FAILED);
    tally[i].requested += 4096;
    close(fd);
}

static void mem_calls(void)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        die("mmap");
    int i = note("files.mmap", 0, 0);
    tally[i].requested += 4 * pg;
    tally[i].bytes += 4 * pg;
    /* One mapping (mremap moves no range split by mprotect). */
    char *r = mremap(m, 4 * pg, 8 * pg, MREMAP_MAYMOVE);
    i = note("mem.mremap", 0, r == MAP_FAILED);
    tally[i].requested += 8 * pg;
    tally[i].bytes += r == MAP_FAILED ? 0 : 8 * pg;
    if (r == MAP_FAILED)
        die("mremap");
    RANGE("mem.mprotect", mprotect(r, pg, PROT_READ), pg);
    RANGE("mem.mprotect", mprotect(r + 1, pg, PROT_READ), pg); /* EINVAL */
    RANGE("mem.madvise", madvise(r, 2 * pg, MADV_DONTNEED), 2 * pg);
    RANGE("mem.munmap", munmap(r, 8 * pg), 8 * pg);
    RANGE("mem.munmap", munmap(r + 1, pg), pg); /* EINVAL */
    void *b = sbrk(0);
    note("mem.sbrk", 0, b == (void *)-1);
    CALL("mem.brk", brk(b));
}

/* The entries of DIR (3 files, and "." and ".."), read every way. */
static void dir_calls(const char *dir)
{
    char d[2048], name[4096], missing[2048];
    snprintf(d, sizeof d, "%s/d", dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);
    if (note("fs.mkdir", 0, mkdir(d, 0700) != 0) < 0)
        die("mkdir d");
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "%s/e%d", d, k);
        int fd = open(name, O_WRONLY | O_CREAT, 0600);
        if (fd < 0 || close(fd) != 0)
            die("entry");
    }
    DIR *dp = opendir(d);
    note("dir.opendir", 0, dp == NULL);
    if (!dp)
        die("opendir");
    note("dir.opendir", 0, opendir(missing) == NULL);
    for (;;) {
        errno = 1234; /* the end leaves errno alone, bare and shimmed */
        struct dirent *ent = readdir(dp);
        int i = note("dir.readdir", ent != NULL, ent == NULL && errno != 1234);
        tally[i].entries += ent != NULL;
        if (!ent) {
            printf("readdir end errno %d\n", errno);
            break;
        }
    }
    rewinddir(dp);
    for (;;) {
        struct dirent64 *ent = readdir64(dp);
        int i = note("dir.readdir64", ent != NULL, 0);
        tally[i].entries += ent != NULL;
        if (!ent)
            break;
    }
    rewinddir(dp);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    for (;;) {
        struct dirent e, *res;
        int rc = readdir_r(dp, &e, &res);
        int i = note("dir.readdir_r", rc, rc != 0);
        tally[i].entries += rc == 0 && res != NULL;
        if (rc != 0 || !res)
            break;
    }
#pragma GCC diagnostic pop
    CALL("dir.closedir", closedir(dp));
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    char buf[4096];
    XFER("dir.getdents64", getdents64(fd, buf, sizeof buf), sizeof buf);
    XFER("dir.getdents64", getdents64(-1, buf, sizeof buf), sizeof buf);
    dp = fdopendir(fd);
    note("dir.fdopendir", 0, dp == NULL);
    CALL("dir.closedir", closedir(dp));
    struct dirent **list;
    int n = scandir(d, &list, NULL, alphasort);
    int i = note("dir.scandir", n, n < 0);
    tally[i].entries += n > 0 ? n : 0;
    for (int k = 0; k < n; k++)
        free(list[k]);
    free(list);
    note("dir.scandir", 0, scandir(missing, &list, NULL, NULL) < 0);
}

static void net_sig_calls(void)
{
    int sv[2], bad[2], one = 1, got = 0;
    socklen_t len = sizeof got;
    CALL("net.socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    /* The kernel may write BAD before it fails. */
    CALL("net.socketpair", socketpair(-1, SOCK_STREAM, 0, bad));
    CALL("net.setsockopt",
         setsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    CALL("net.getsockopt",
         getsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &got, &len));
    CALL("net.getsockopt", getsockopt(-1, SOL_SOCKET, SO_TYPE, &got, &len));
    CALL("net.shutdown", shutdown(sv[0], SHUT_WR));
    CALL("net.shutdown", shutdown(-1, SHUT_WR));
    close(sv[0]);
    close(sv[1]);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    CALL("sig.sigaction", sigaction(SIGUSR1, &sa, &old));
    CALL("sig.sigaction", sigaction(SIGUSR1, NULL, &old));
    CALL("sig.sigaction", sigaction(-1, &sa, NULL));
    note("sig.signal", 0, signal(SIGUSR2, SIG_IGN) == SIG_ERR);
    note("sig.signal", 0, signal(-1, SIG_IGN) == SIG_ERR);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: newcalls DIR\n");
        return 2;
    }
    /* Relative paths: the same lengths (readlink's result) in any DIR. */
    if (chdir(argv[1]) != 0)
        die("chdir");
    fs_calls(".");
    mem_calls();
    dir_calls(".");
    net_sig_calls();
    /* The tally, as the fields. */
    for (int i = 0; i < ntally; i++) {
        printf("= %s.calls %ld\n= %s.errors %ld\n", tally[i].name,
               tally[i].calls, tally[i].name, tally[i].errors);
        if (tally[i].requested || tally[i].bytes)
            printf("= %s.requested_bytes %ld\n= %s.bytes %ld\n", tally[i].name,
                   tally[i].requested, tally[i].name, tally[i].bytes);
        if (tally[i].entries || strstr(tally[i].name, "dir.readdir") ||
            strstr(tally[i].name, "dir.scandir"))
            printf("= %s.entries %ld\n", tally[i].name, tally[i].entries);
    }
    return 0;
}
