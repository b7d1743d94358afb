/* The disk fills up after the stats file exists: pf_fill DIR fills DIR's
 * filesystem with a file until ENOSPC, then 16 new threads make calls for
 * the first time (new shards and latency histograms need pages that can
 * no longer be allocated). The shim must degrade, never SIGBUS. Prints
 * "filled" and "done"; exit 0. */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "pf_common.h"

static char dir[512];

static void *worker(void *arg)
{
    char buf[64], path[600];
    struct stat st;
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) != sizeof buf ||
        pread(fd, buf, 8, 0) != 8)
        return (void *)1;
    struct iovec iov = {buf, 8};
    if (readv(fd, &iov, 1) != 8 || fstat(fd, &st) < 0)
        return (void *)1;
    close(fd);
    snprintf(path, sizeof path, "%s/nothing-%p", dir, arg);
    if (stat(path, &st) == 0) /* ENOENT */
        return (void *)1;
    if (mkdir(path, 0700) == 0) /* may work: a directory needs no block */
        rmdir(path);
    for (int i = 0; i < 1000; i++)
        free(pf_keep(malloc((size_t)i * 16 + 1)));
    FILE *f = fopen("/dev/null", "w");
    if (!f || fwrite(buf, 1, 8, f) != 8 || fclose(f) != 0)
        return (void *)1;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    snprintf(dir, sizeof dir, "%s", argv[1]);
    char path[600], block[4096];
    memset(block, 'f', sizeof block);
    snprintf(path, sizeof path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        pf_die(path);
    while (write(fd, block, sizeof block) > 0)
        ;
    if (errno != ENOSPC && errno != EFBIG)
        pf_die("fill");
    close(fd);
    printf("filled\n");
    fflush(stdout);
    pthread_t t[16];
    long bad = 0;
    for (long i = 0; i < 16; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i))
            pf_die("pthread_create");
    for (int i = 0; i < 16; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += r != NULL;
    }
    printf("done, %ld failed\n", bad);
    return bad != 0;
}
