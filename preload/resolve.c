/* Finding the real functions: dlsym(RTLD_NEXT, name), once per call, on
 * first use (hooks may run before the shim's constructor). glibc's dlsym
 * may call calloc (for its error buffer); that calloc comes back into our
 * hook while the real calloc is not known yet, so while a thread
 * resolves, a nested resolution answers NULL and the allocation hooks
 * serve memory from a static bootstrap arena (hook_mem.c recognises those
 * pointers). A symbol that does not exist resolves to NULL and the hook
 * fails with ENOSYS: never abort. */
#include <dlfcn.h>
#include <string.h>

#include "shim.h"

void *mmp_real[MMP_NCALLS];

/* Generated hooks start on their first-call path (shim.h). */
#define MMP_ENTRY_INIT(fam, name, shape, ...)                                  \
    MMP_CAT(MMP_ENTRY_INIT_, MMP_KIND_OF(shape))(name)
#define MMP_ENTRY_INIT_GEN(name) [MMP_CALL_##name] = (mmp_fn)mmp_first_##name,
#define MMP_ENTRY_INIT_MODE MMP_ENTRY_INIT_GEN
#define MMP_ENTRY_INIT_OWN(name)
#define MMP_ENTRY_INIT_EXEC(name)
#define MMP_ENTRY_INIT_EXIT(name)
mmp_fn mmp_entry[MMP_NCALLS] = {MMP_CALLS(MMP_ENTRY_INIT)};
#undef MMP_ENTRY_INIT
__thread int mmp_resolving MMP_IE;

/* glibc keeps two versions of pthread_cond_*: the old one (2.2.5, for
 * binaries of before 2.3.2) and the current one, which a program built
 * since calls; dlsym may answer the old one. */
void *mmp_resolve(const char *name)
{
    if (!strncmp(name, "pthread_cond_", 13)) {
#if defined(__x86_64__)
        void *p = dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
        if (p)
            return p;
#endif
    }
    return dlsym(RTLD_NEXT, name);
}

/* Races resolve to the same address: each slot is written with one value
 * only. */
void *mmp_resolve_call(unsigned id)
{
    if (mmp_resolving)
        return NULL;
    int saved = errno; /* the caller sees the errno of its call only */
    mmp_resolving = 1;
    void *p = mmp_resolve(mmp_call_names[id]);
    mmp_resolving = 0;
    errno = saved;
    mms_store_relaxed(&mmp_real[id], p);
    if (p) /* a generated hook calls it directly from now on */
        mms_store_relaxed(&mmp_entry[id], (mmp_fn)p);
    return p;
}

void mmp_resolve_all(void)
{
    for (unsigned id = 0; id < MMP_NCALLS; id++)
        if (!mms_load_relaxed(&mmp_real[id]))
            mmp_resolve_call(id);
}
