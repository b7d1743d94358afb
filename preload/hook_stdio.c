/* stdio family: FILE streams. glibc's stdio calls the kernel through
 * internal functions, not through read/write, so these hooks are the only
 * place stdio traffic is seen (and it is never counted twice). The
 * *_unlocked forms (coreutils' sort reads through them) count under
 * their own names; getc/putc and their unlocked forms are not hooked:
 * one call per character would cost more than the character. */
#include <stdio.h>
#include <string.h>

#include "shim.h"

/* With optimisation, glibc's headers make these macros: we define the
 * functions themselves. */
#undef fread_unlocked
#undef fwrite_unlocked
#undef fgets_unlocked
#undef fputs_unlocked

#define FOPEN_HOOK(name, params, args)                                         \
    MMP_DEFINE_CALL(FILE *, name, params, args, NULL, mmp_r == NULL)
FOPEN_HOOK(fopen, (const char *p, const char *m), (p, m))
FOPEN_HOOK(fopen64, (const char *p, const char *m), (p, m))
FOPEN_HOOK(fdopen, (int fd, const char *m), (fd, m))

MMP_DEFINE_CALL(int, fclose, (FILE * f), (f), EOF, mmp_r == EOF)
MMP_DEFINE_CALL(int, fflush, (FILE * f), (f), EOF, mmp_r == EOF)

/* A short count is an error only if the stream says so (not at EOF).
 * ferror reads the stream's flags: no system call, no lock taken. */
#define FREAD_HOOK(name)                                                       \
    MMP_DEFINE_XFER(size_t, name, (void *p, size_t size, size_t n, FILE *f),   \
                    (p, size, n, f), 0, mmp_r < n && ferror_unlocked(f),       \
                    size * n, size * mmp_r)
FREAD_HOOK(fread)
FREAD_HOOK(fread_unlocked)

#define FWRITE_HOOK(name)                                                      \
    MMP_DEFINE_XFER(size_t, name,                                              \
                    (const void *p, size_t size, size_t n, FILE *f),           \
                    (p, size, n, f), 0, mmp_r < n, size * n, size * mmp_r)
FWRITE_HOOK(fwrite)
FWRITE_HOOK(fwrite_unlocked)

#define FGETS_HOOK(name)                                                       \
    MMP_DEFINE_XFER(char *, name, (char *s, int n, FILE *f), (s, n, f), NULL,  \
                    mmp_r == NULL && ferror_unlocked(f), n > 0 ? n : 0,        \
                    mmp_r ? strlen(mmp_r) : 0)
FGETS_HOOK(fgets)
FGETS_HOOK(fgets_unlocked)

/* fputs leaves S unchanged: its length is taken after the call. */
#define FPUTS_HOOK(name)                                                       \
    MMP_DEFINE_XFER(int, name, (const char *s, FILE *f), (s, f), EOF,          \
                    mmp_r == EOF, strlen(s), mmp_r == EOF ? 0 : strlen(s))
FPUTS_HOOK(fputs)
FPUTS_HOOK(fputs_unlocked)
