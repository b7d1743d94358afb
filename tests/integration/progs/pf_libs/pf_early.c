/* libpf_early.so, a library pf_boot links to. The loader runs its
 * constructor before the preloaded shim's (libraries a program needs are
 * initialised before the preloaded ones), so the allocation and write
 * calls below reach the shim's hooks before the shim has started: they
 * must be resolved lazily, with dlsym's own calloc served from the
 * bootstrap arena. Its destructor and the exit handler it registers run
 * after the shim's exit work (the stats file is already marked finished
 * then): the hooks must still work. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pf_early_work(const char *who);
int pf_early_result;

static void say(const char *who, const char *what)
{
    char line[128];
    size_t n = 0;
    for (const char *s = who; *s && n < 60; s++)
        line[n++] = *s;
    line[n++] = ':';
    line[n++] = ' ';
    for (const char *s = what; *s && n < 126; s++)
        line[n++] = *s;
    line[n++] = '\n';
    if (write(2, line, n) != (ssize_t)n)
        _exit(98);
}

/* Every allocation call, checked: 0 if all went right. */
int pf_early_work(const char *who)
{
    int bad = 0;
    char *p = malloc(100);
    unsigned char *z = calloc(64, 16);
    if (!p || !z)
        return 1;
    memset(p, 'p', 100);
    for (int i = 0; i < 64 * 16; i++)
        bad |= z[i];
    p = realloc(p, 5000);
    if (!p || p[99] != 'p')
        bad = 1;
    void *a = NULL;
    if (posix_memalign(&a, 256, 300) != 0 || ((uintptr_t)a & 255))
        bad = 1;
    void *b = aligned_alloc(64, 128);
    char *s = strdup(who);
    if (!b || !s || strcmp(s, who))
        bad = 1;
    free(p);
    free(z);
    free(a);
    free(b);
    free(s);
    say(who, bad ? "allocation FAILED" : "allocations ok");
    return bad;
}

static void early_atexit(void)
{
    pf_early_work("pf_early atexit");
}

__attribute__((constructor)) static void early_ctor(void)
{
    pf_early_result = pf_early_work("pf_early constructor");
    atexit(early_atexit);
}

__attribute__((destructor)) static void early_dtor(void)
{
    pf_early_work("pf_early destructor");
}
