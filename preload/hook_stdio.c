/* stdio family: FILE streams. glibc's stdio calls the kernel through
 * internal functions, not through read/write, so these hooks are the only
 * place stdio traffic is seen (and it is never counted twice). */
#include <stdio.h>
#include <string.h>

#include "shim.h"

#define FOPEN_HOOK(name, params, args)                                         \
    MMP_REAL(FILE *, name, params)                                             \
    MMP_HOOK FILE *name params                                                 \
    {                                                                          \
        MMP_BEGIN_OR(name, NULL);                                              \
        FILE *mmp_r = real_##name args;                                        \
        MMP_END_CALL(mmp_r == NULL);                                           \
        return mmp_r;                                                          \
    }
FOPEN_HOOK(fopen, (const char *p, const char *m), (p, m))
FOPEN_HOOK(fopen64, (const char *p, const char *m), (p, m))
FOPEN_HOOK(fdopen, (int fd, const char *m), (fd, m))

MMP_REAL(int, fclose, (FILE *))
MMP_HOOK int fclose(FILE *f)
{
    MMP_BEGIN_OR(fclose, EOF);
    int r = real_fclose(f);
    MMP_END_CALL(r == EOF);
    return r;
}

MMP_REAL(int, fflush, (FILE *))
MMP_HOOK int fflush(FILE *f)
{
    MMP_BEGIN_OR(fflush, EOF);
    int r = real_fflush(f);
    MMP_END_CALL(r == EOF);
    return r;
}

/* A short count is an error only if the stream says so (not at EOF).
 * ferror reads the stream's flags: no system call, no lock taken. */
MMP_REAL(size_t, fread, (void *, size_t, size_t, FILE *))
MMP_HOOK size_t fread(void *p, size_t size, size_t n, FILE *f)
{
    MMP_BEGIN_OR(fread, 0);
    size_t r = real_fread(p, size, n, f);
    MMP_END_XFER(r < n && ferror_unlocked(f), size * n, size * r);
    return r;
}

MMP_REAL(size_t, fwrite, (const void *, size_t, size_t, FILE *))
MMP_HOOK size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    MMP_BEGIN_OR(fwrite, 0);
    size_t r = real_fwrite(p, size, n, f);
    MMP_END_XFER(r < n, size * n, size * r);
    return r;
}

MMP_REAL(char *, fgets, (char *, int, FILE *))
MMP_HOOK char *fgets(char *s, int n, FILE *f)
{
    MMP_BEGIN_OR(fgets, NULL);
    char *r = real_fgets(s, n, f);
    MMP_END_XFER(r == NULL && ferror_unlocked(f), n > 0 ? n : 0,
                 r ? strlen(r) : 0);
    return r;
}

MMP_REAL(int, fputs, (const char *, FILE *))
MMP_HOOK int fputs(const char *s, FILE *f)
{
    MMP_BEGIN_OR(fputs, EOF);
    size_t len = strlen(s);
    int r = real_fputs(s, f);
    MMP_END_XFER(r == EOF, len, r == EOF ? 0 : len);
    return r;
}
