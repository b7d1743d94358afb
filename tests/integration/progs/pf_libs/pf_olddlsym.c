/* libpf_olddlsym.so: makes dlsym allocate as glibc's did before 2.34 (the
 * first dlsym in a thread callocs the thread's error state, freed at
 * thread exit) and as it still does on some paths (a scratch buffer,
 * malloc + realloc + free). glibc 2.34+ dlsym allocates nothing on
 * success, so without this a test could not tell whether the shim's
 * bootstrap arena works. Preload it AFTER the shim (LD_PRELOAD="shim
 * this"): the shim's dlsym(RTLD_NEXT, "malloc") then comes here, and our
 * allocations go back into the shim's hooks while they are still
 * resolving the real allocator.
 *
 * PF_DLSYM_HIDE=name,name...: dlsym(RTLD_NEXT, name) finds nothing for
 * these, as with a libc that lacks them: the shim's hooks must then fail
 * cleanly (ENOSYS) or pass through, never abort. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void *dlsym(void *handle, const char *name);

static int hidden(const char *name)
{
    const char *list = getenv("PF_DLSYM_HIDE");
    size_t len = strlen(name);
    while (list && *list) {
        size_t n = strcspn(list, ",");
        if (n == len && !strncmp(list, name, n))
            return 1;
        list += n + (list[n] == ',');
    }
    return 0;
}

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static __thread void *state __attribute__((tls_model("initial-exec")));

static void make_key(void)
{
    pthread_key_create(&key, free);
}

void *dlsym(void *handle, const char *name)
{
    static void *(*real)(void *, const char *);
    if (!real) {
        real = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym",
                                                       "GLIBC_2.34");
        if (!real)
            real = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym",
                                                           "GLIBC_2.2.5");
        if (!real)
            abort();
    }
    if (!state) {
        state = calloc(1, 48);
        pthread_once(&once, make_key);
        pthread_setspecific(key, state);
    }
    char *tmp = malloc(32);
    if (tmp) {
        strncpy(tmp, name, 31);
        tmp[31] = '\0';
        char *bigger = realloc(tmp, 200);
        if (bigger)
            tmp = bigger;
        free(tmp);
    }
    if (handle == RTLD_NEXT && hidden(name))
        return NULL;
    /* RTLD_NEXT from here is the same as from the shim: nothing between. */
    return real(handle, name);
}
