/* An allocation that fits a tight RLIMIT_AS (prlimit --as) only if nobody
 * else takes much address space: pf_bigalloc MIB allocates MIB MiB,
 * touches every page, prints "allocated MIB MiB" and exits 0 (1 if the
 * allocation failed). */
#include "pf_common.h"

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
    char *p = malloc(mib << 20);
    if (!p) {
        printf("malloc(%zu MiB) failed\n", mib);
        return 1;
    }
    for (size_t off = 0; off < mib << 20; off += 4096)
        p[off] = 1;
    printf("allocated %zu MiB\n", mib);
    free(pf_keep(p));
    return 0;
}
