/* A program to run setuid/setgid: prints whether the process is secure
 * (AT_SECURE), its ids and whether a copy of the shim is mapped into it,
 * then makes a few calls the shim would record. */
#include <sys/auxv.h>

#include "pf_common.h"

int main(void)
{
    int mapped = 0;
    char line[512];
    FILE *m = fopen("/proc/self/maps", "r");
    while (m && fgets(line, sizeof line, m))
        if (strstr(line, "libmmstats_pf"))
            mapped = 1;
    if (m)
        fclose(m);
    printf("secure %lu uid %d euid %d gid %d egid %d shim %s pid %d\n",
           getauxval(AT_SECURE), (int)getuid(), (int)geteuid(), (int)getgid(),
           (int)getegid(), mapped ? "mapped" : "absent", (int)getpid());
    int devnull = pf_devnull();
    pf_writes(devnull, 5);
    free(pf_keep(malloc(100)));
    return 0;
}
