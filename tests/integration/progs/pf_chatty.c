/* A write-heavy program: pf_chatty N writes N numbered lines to stdout
 * with write(2) (and allocates around each), then one summary line. With
 * MMSTATS_VERBOSE=1 the shim prints its own lines at start-up through the
 * real write: those must neither recurse into the hook nor be counted. */
#include "pf_common.h"

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    char line[64];
    for (long i = 0; i < n; i++) {
        int len = snprintf(line, sizeof line, "line %ld\n", i);
        char *copy = pf_keep(malloc((size_t)len));
        memcpy(copy, line, (size_t)len);
        if (write(1, copy, (size_t)len) != len)
            pf_die("write");
        free(copy);
    }
    printf("wrote %ld lines\n", n);
    return 0;
}
