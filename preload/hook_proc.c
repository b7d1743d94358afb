/* proc family: the process events the stats file must follow. Nothing is
 * counted here, whatever MMSTATS_HOOKS says.
 * - exec: the old image's file is marked finished before the new image
 *   starts (and, if its keep policy does not keep it, parked for the new
 *   image to fold: docs/format.md section 15), and ready again under its
 *   name (finish time cleared) if exec fails.
 * - _exit/_Exit: finished, since exit handlers will not run.
 * - clone() without CLONE_VM: the child is a new process that runs no
 *   atfork handler; a trampoline gives it a file of its own first.
 * - prctl/syscall into seccomp: from then on the shim makes no system
 *   call (mmp_enter_seccomp).
 * A vfork child, which shares our memory, leaves the parent's file alone:
 * the state changes only in the process that owns the file. */
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "heap.h"
#include "shim.h"

/* EXEC shape: the file is finished when the new image starts; if exec
 * returns, it failed and the file is ready again. */
#define MMP_BODY_EXEC(name, shape, ret, ...)                                   \
    MMP_HOOK ret name(MMP_PARAMS(__VA_ARGS__))                                 \
    {                                                                          \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (!real) {                                                           \
            errno = ENOSYS;                                                    \
            return -1;                                                         \
        }                                                                      \
        int parked_ = mmp_exec_begin();                                        \
        ret r = real(MMP_ARGS(__VA_ARGS__));                                   \
        int saved_errno = errno;                                               \
        mmp_exec_failed(parked_);                                              \
        errno = saved_errno;                                                   \
        return r;                                                              \
    }

/* EXIT shape: _exit and _Exit (a symbol of its own, an alias in libc: a
 * program calling it would bypass the _exit hook and leave its file
 * looking stale). */
#define MMP_BODY_EXIT(name, shape, ret, ...)                                   \
    MMP_HOOK ret name(MMP_PARAMS(__VA_ARGS__))                                 \
    {                                                                          \
        mmp_process_end();                                                     \
        mmp_file_state(MMS_STATE_FINISHED);                                    \
        mmp_real_##name##_t real = mmp_real_##name();                          \
        if (real)                                                              \
            real(MMP_ARGS(__VA_ARGS__));                                       \
        for (;;) /* reached only if the symbol was missing */                  \
            syscall(SYS_exit_group, status);                                   \
    }

MMP_CALLS_proc(MMP_DEFINE)

    /* execl, execlp, execle: gather the list into an array (on the stack, as
     * glibc does) and go through the matching v-form. */
    static int count_args(va_list ap)
{
    int n = 1;
    /* AP is the caller's va_copy: initialised (clang-tidy cannot see). */
    while (
        va_arg(ap, const char *)) // NOLINT(clang-analyzer-valist.Uninitialized)
        n++;
    return n;
}

/* Declare ARGV: ARG and the NULL-terminated list after it; AP is left
 * after the list's NULL. */
/* NOLINTBEGIN(bugprone-macro-parentheses): declares ARGV */
#define GATHER_ARGV(argv, arg, ap)                                             \
    va_list aq_;                                                               \
    va_copy(aq_, ap);                                                          \
    int n_ = count_args(aq_);                                                  \
    va_end(aq_);                                                               \
    char *argv[n_ + 1];                                                        \
    argv[0] = (char *)(arg);                                                   \
    for (int i_ = 1; i_ <= n_; i_++)                                           \
    argv[i_] = va_arg(ap, char *)
/* NOLINTEND(bugprone-macro-parentheses) */

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

/* clone() without CLONE_VM: the child gets a copy of our memory, so the
 * program's function and argument, kept in this frame, are in the child's
 * copy too when it starts in the trampoline. (With CLONE_VM the child is
 * a thread or a vfork-like child: nothing to do, as for vfork.) The
 * child's set-up runs on the stack the program gave it. */
struct clone_child {
    mmp_clone_fn fn;
    void *arg;
};

static int clone_trampoline(void *p)
{
    struct clone_child *c = p;
    mmp_child_setup();
    mmp_heap_child(); /* as pthread_atfork's child handler does for fork */
    return c->fn(c->arg);
}

MMP_HOOK int clone(mmp_clone_fn fn, void *stack, int flags, void *arg, ...)
{
    /* glibc's clone reads these three whatever the flags: so do we. */
    va_list ap;
    va_start(ap, arg);
    void *ptid = va_arg(ap, void *);
    void *tls = va_arg(ap, void *);
    void *ctid = va_arg(ap, void *);
    va_end(ap);
    mmp_real_clone_t real = mmp_real_clone();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if ((flags & CLONE_VM) || !fn)
        return real(fn, stack, flags, arg, ptid, tls, ctid);
    struct clone_child c = {fn, arg};
    return real(clone_trampoline, stack, flags, &c, ptid, tls, ctid);
}

/* prctl(option, ...): glibc's own takes four more unsigned longs. */
MMP_HOOK int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long);
    unsigned long a3 = va_arg(ap, unsigned long);
    unsigned long a4 = va_arg(ap, unsigned long);
    unsigned long a5 = va_arg(ap, unsigned long);
    va_end(ap);
    mmp_real_prctl_t real = mmp_real_prctl();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if (option == PR_SET_SECCOMP)
        mmp_enter_seccomp();
    int r = real(option, a2, a3, a4, a5);
    if (option == PR_SET_NAME && r == 0) {
        int saved = errno;
        /* prctl's argument is the name's address, as an unsigned long. */
        // NOLINTNEXTLINE(performance-no-int-to-ptr)
        mmp_thread_renamed_self((const char *)a2);
        errno = saved;
    }
    return r;
}

/* syscall(number, ...): glibc's own takes six more longs. seccomp(2) has
 * no glibc wrapper: programs (and libseccomp) reach it through here.
 * Callers pass only the arguments their call takes (the core's own
 * syscall(SYS_prlimit64, ...) passes four), so the six reads may go past
 * them, as glibc's syscall() does in registers: harmless, but
 * AddressSanitizer reports a read past the caller's frame, hence
 * no_sanitize. */
MMP_HOOK __attribute__((no_sanitize("address"))) long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long); // NOLINT(clang-analyzer-valist.Uninitialized):
                                 // va_start above
    va_end(ap);
    mmp_real_syscall_t real = mmp_real_syscall();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if ((number == SYS_seccomp && (a[0] == SECCOMP_SET_MODE_STRICT ||
                                   a[0] == SECCOMP_SET_MODE_FILTER)) ||
        (number == SYS_prctl && a[0] == PR_SET_SECCOMP))
        mmp_enter_seccomp();
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

const struct mmp_family_ops mmp_family_proc = {0};
