/* RTLD_DEEPBIND: pf_deepbind LIB dlopens LIB (libpf_deep.so) with
 * RTLD_DEEPBIND, whose calls bypass the shim, and mixes its memory with
 * ours (allocated there, freed here and the other way round): no crash.
 * The library writes 10 times, we write 3 times; only ours are seen. */
#include <dlfcn.h>

#include "pf_common.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 3;
    }
    int (*dw)(int, const char *) =
        (int (*)(int, const char *))dlsym(h, "pf_deep_write");
    void *(*dm)(size_t) = (void *(*)(size_t))dlsym(h, "pf_deep_malloc");
    void (*df)(void *) = (void (*)(void *))dlsym(h, "pf_deep_free");
    if (!dw || !dm || !df)
        return 4;
    int devnull = pf_devnull();
    for (int i = 0; i < 10; i++)
        if (dw(devnull, "d") != 1)
            return 5;
    pf_writes(devnull, 3);
    for (int i = 0; i < 100; i++) {
        char *a = dm((size_t)i * 8 + 1); /* libc's malloc, directly */
        char *b = malloc((size_t)i * 8 + 1);
        a[0] = b[0] = 'x';
        free(a); /* through the shim */
        df(b);   /* libc's free, directly */
    }
    printf("deepbind ok\n");
    return 0;
}
