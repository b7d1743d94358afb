/* Finding the real functions: dlsym(RTLD_NEXT, name), once per symbol.
 * glibc's dlsym may call calloc (for its error buffer); that calloc comes
 * back into our hook while the real calloc is not known yet, so while a
 * thread resolves, allocation hooks serve memory from a static bootstrap
 * arena (hook_mem.c recognises those pointers). A symbol that does not
 * exist resolves to NULL and the hook fails with ENOSYS: never abort. */
#include <dlfcn.h>

#include "shim.h"

__thread int mmp_guard __attribute__((tls_model("initial-exec")));

void *mmp_resolve(const char *name)
{
    mmp_guard++;
    void *p = dlsym(RTLD_NEXT, name);
    mmp_guard--;
    return p;
}
