/* A successful call leaves errno alone (glibc never clears it), with or
 * without the shim, including the first call of each hook in the process
 * and in a new thread (when the shim resolves the symbol, takes a shard
 * and creates the latency histogram). Prints "NAME kept" or "NAME changed
 * to E" per call, in main and then in a new thread. */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "pf_common.h"

#define MARK 4242

static void report(const char *who, const char *name, int ok, int e)
{
    if (!ok)
        printf("%s %-10s FAILED\n", who, name);
    else if (e == MARK)
        printf("%s %-10s kept\n", who, name);
    else
        printf("%s %-10s changed to %d\n", who, name, e);
}

#define TRY(name, ok_expr)                                                     \
    do {                                                                       \
        errno = MARK;                                                          \
        int ok_ = (ok_expr);                                                   \
        report(who, name, ok_, errno);                                         \
    } while (0)

static void *calls(void *arg)
{
    const char *who = arg;
    char buf[16] = "abc";
    struct stat st;
    struct iovec iov = {buf, 3};
    int fd = -1, sv[2] = {-1, -1};
    void *p = NULL;
    FILE *f = NULL;
    TRY("open", (fd = open("/dev/null", O_RDWR)) >= 0);
    TRY("write", write(fd, buf, 3) == 3);
    TRY("read", read(fd, buf, 3) == 0);
    TRY("pread", pread(fd, buf, 3, 0) == 0);
    TRY("writev", writev(fd, &iov, 1) == 3);
    TRY("lseek", lseek(fd, 0, SEEK_SET) == 0);
    TRY("fstat", fstat(fd, &st) == 0);
    TRY("stat", stat("/", &st) == 0);
    TRY("dup", (sv[0] = dup(fd)) >= 0);
    TRY("close", close(sv[0]) == 0);
    TRY("close", close(fd) == 0);
    TRY("malloc", (p = pf_keep(malloc(100))) != NULL);
    TRY("realloc", (p = pf_keep(realloc(p, 100000))) != NULL);
    TRY("free", (free(p), 1));
    TRY("calloc", (p = pf_keep(calloc(10, 10))) != NULL);
    TRY("free", (free(p), 1));
    TRY("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    TRY("send", send(sv[0], buf, 3, 0) == 3);
    TRY("recv", recv(sv[1], buf, 3, 0) == 3);
    close(sv[0]);
    close(sv[1]);
    TRY("fopen", (f = fopen("/dev/null", "w")) != NULL);
    TRY("fwrite", fwrite(buf, 1, 3, f) == 3);
    TRY("fflush", fflush(f) == 0);
    TRY("fclose", fclose(f) == 0);
    return NULL;
}

int main(void)
{
    calls("main  ");
    pthread_t t;
    if (pthread_create(&t, NULL, calls, "thread"))
        pf_die("pthread_create");
    pthread_join(t, NULL);
    return 0;
}
