/* The floor: a minimal shim that forwards each call to the real function
 * and bumps a thread-local counter (with -DREF_CLOCK, it also reads the
 * clock twice, as a timing shim must). No shim that records anything can
 * be cheaper; the benchmark shows how close libmmstats_preload.so gets.
 * malloc and friends forward to glibc's __libc_* entry points, which
 * needs no dlsym bootstrap (fine for a reference, not for a product). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static __thread uint64_t calls __attribute__((tls_model("initial-exec")));
#ifdef REF_CLOCK
static __thread uint64_t nanos __attribute__((tls_model("initial-exec")));
#endif

#ifdef REF_CLOCK
static inline uint64_t clk(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#define BEGIN uint64_t t0_ = clk()
#define END (calls++, nanos += clk() - t0_)
#else
#define BEGIN
#define END (calls++)
#endif

#define FWD(ret, name, params, args)                                           \
    EXPORT ret name params                                                     \
    {                                                                          \
        static ret(*real) params;                                              \
        if (!real)                                                             \
            real = (ret(*) params)dlsym(RTLD_NEXT, #name);                     \
        BEGIN;                                                                 \
        ret r = real args;                                                     \
        END;                                                                   \
        return r;                                                              \
    }

FWD(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
FWD(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
FWD(int, close, (int fd), (fd))
FWD(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
FWD(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))
FWD(size_t, fwrite, (const void *p, size_t s, size_t n, FILE *f), (p, s, n, f))
FWD(int, fputs, (const char *s, FILE *f), (s, f))

EXPORT int open(const char *p, int flags, ...);
EXPORT int open(const char *p, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real)
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    BEGIN;
    int r = real(p, flags, 0600);
    END;
    return r;
}

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

EXPORT void *malloc(size_t n)
{
    BEGIN;
    void *r = __libc_malloc(n);
    END;
    return r;
}

EXPORT void free(void *p)
{
    BEGIN;
    __libc_free(p);
    END;
}

EXPORT void *calloc(size_t n, size_t s)
{
    BEGIN;
    void *r = __libc_calloc(n, s);
    END;
    return r;
}

EXPORT void *realloc(void *p, size_t n)
{
    BEGIN;
    void *r = __libc_realloc(p, n);
    END;
    return r;
}
