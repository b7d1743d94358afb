/* Process events the stats file must follow: exec (the old image's file is
 * marked finished before the new image starts, and ready again if exec
 * fails) and _exit/_Exit (finished, since exit handlers will not run). A
 * vfork child, which shares our memory, leaves the parent's file alone:
 * the state changes only in the process that owns the file. */
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

extern char **environ;

#define EXEC_HOOK(name, params, args)                                          \
    MMP_REAL(int, name, params)                                                \
    MMP_HOOK int name params                                                   \
    {                                                                          \
        if (!get_##name()) {                                                   \
            errno = ENOSYS;                                                    \
            return -1;                                                         \
        }                                                                      \
        mmp_file_state(MMS_STATE_FINISHED);                                    \
        int r = real_##name args;                                              \
        int saved_errno = errno;                                               \
        mmp_file_state(MMS_STATE_READY);                                       \
        errno = saved_errno;                                                   \
        return r;                                                              \
    }

EXEC_HOOK(execve, (const char *p, char *const a[], char *const e[]), (p, a, e))
EXEC_HOOK(execv, (const char *p, char *const a[]), (p, a))
EXEC_HOOK(execvp, (const char *f, char *const a[]), (f, a))
EXEC_HOOK(execvpe, (const char *f, char *const a[], char *const e[]), (f, a, e))
EXEC_HOOK(fexecve, (int fd, char *const a[], char *const e[]), (fd, a, e))
EXEC_HOOK(execveat,
          (int d, const char *p, char *const a[], char *const e[], int f),
          (d, p, a, e, f))

/* execl, execlp, execle: gather the list into an array (on the stack, as
 * glibc does) and go through the matching v-form. */
static int count_args(va_list ap)
{
    int n = 1;
    while (va_arg(ap, const char *))
        n++;
    return n;
}

/* Declare ARGV: ARG and the NULL-terminated list after it (on the stack,
 * as glibc does); AP is left after the list's NULL. */
#define GATHER_ARGV(argv, arg, ap)                                             \
    va_list aq_;                                                               \
    va_copy(aq_, ap);                                                          \
    int n_ = count_args(aq_);                                                  \
    va_end(aq_);                                                               \
    char *argv[n_ + 1];                                                        \
    argv[0] = (char *)(arg);                                                   \
    for (int i_ = 1; i_ <= n_; i_++)                                           \
    argv[i_] = va_arg(ap, char *)

MMP_HOOK int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGV(argv, arg, ap);
    va_end(ap);
    return execv(path, argv);
}

MMP_HOOK int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGV(argv, arg, ap);
    va_end(ap);
    return execvp(file, argv);
}

MMP_HOOK int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGV(argv, arg, ap);
    char **envp = va_arg(ap, char **);
    va_end(ap);
    return execve(path, argv, envp);
}

#define EXIT_HOOK(name)                                                        \
    MMP_REAL(void, name, (int))                                                \
    MMP_HOOK void name(int status)                                             \
    {                                                                          \
        mmp_file_state(MMS_STATE_FINISHED);                                    \
        void (*f)(int) = get_##name();                                         \
        if (f)                                                                 \
            f(status);                                                         \
        for (;;) /* reached only if the symbol was missing */                  \
            syscall(SYS_exit_group, status);                                   \
    }
EXIT_HOOK(_exit)
/* _Exit is a symbol of its own (an alias in libc): a program calling it
 * would bypass the _exit hook and leave its file looking stale. */
EXIT_HOOK(_Exit)
