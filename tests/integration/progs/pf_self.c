/* What the process holds: its open descriptors (number and target) and
 * its thread count, from /proc/self. Same output with and without the
 * shim: the shim keeps no descriptor open and starts no thread. */
#include <dirent.h>
#include <limits.h>

#include "pf_common.h"

int main(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        pf_die("/proc/self/fd");
    struct dirent *e;
    int fds[256], n = 0;
    while ((e = readdir(d)) && n < 256) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dirfd(d))
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fds[i]);
        ssize_t len = readlink(link, target, sizeof target - 1);
        target[len > 0 ? len : 0] = '\0';
        /* Pipes and sockets carry an inode number that differs per run. */
        char *brk = strchr(target, '[');
        if (brk)
            brk[0] = '\0';
        printf("fd %d %s\n", fds[i], target);
    }
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8))
            fputs(line, stdout);
    if (f)
        fclose(f);
    return 0;
}
