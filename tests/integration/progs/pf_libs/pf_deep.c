/* libpf_deep.so, dlopened by pf_deepbind with RTLD_DEEPBIND: its calls
 * bind to libc first, bypassing the shim. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pf_deep_write(int fd, const char *s);
void *pf_deep_malloc(size_t n);
void pf_deep_free(void *p);

int pf_deep_write(int fd, const char *s)
{
    return (int)write(fd, s, strlen(s));
}

void *pf_deep_malloc(size_t n)
{
    return malloc(n);
}

void pf_deep_free(void *p)
{
    free(p);
}
