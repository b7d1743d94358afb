/* mem_asked N [exec]: N rounds of a malloc of 2^50 bytes, which fails,
 * and a malloc(100) freed at once; exits 1 if a huge one succeeded; with
 * "exec", then execs /bin/true. For test_mem_asked.sh: a failed
 * allocation's size is in mem.alloc_size, and sizes are recorded by an
 * exec too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 0;
    /* volatile: the compiler may not assume malloc's answer. */
    volatile size_t huge = (size_t)1 << 50;
    for (int i = 0; i < n; i++) {
        void *p = malloc(huge);
        if (p) {
            fprintf(stderr, "malloc(2^50) succeeded\n");
            return 1;
        }
        void *q = malloc(100);
        free(q);
    }
    if (argc > 2 && strcmp(argv[2], "exec") == 0) {
        execl("/bin/true", "true", (char *)NULL);
        return 2;
    }
    return 0;
}
