/* A program that enters seccomp, then reads and writes: under the shim it
 * must behave exactly as bare (a filtered system call made by the shim
 * would kill it).
 *
 *   pf_seccomp strict-prctl | strict-syscall
 *     SECCOMP_MODE_STRICT (read, write, exit, sigreturn only), entered
 *     with prctl or with syscall(SYS_seccomp): writes "before", enters,
 *     reads 3 bytes from stdin (read's first use), writes them and
 *     "after", then exits with syscall(SYS_exit, 0).
 *   pf_seccomp filter-prctl | filter-syscall
 *     A filter on every thread (TSYNC with syscall(SYS_seccomp); prctl
 *     filters the caller only, so there the thread starts after) that
 *     kills the process on getpid, clock_gettime, gettimeofday and
 *     madvise(MADV_POPULATE_WRITE), none of which the program makes: a
 *     second thread makes its first hooked call after it, main makes
 *     calls it never made before, then _exit(0).
 * Output only through write(2). */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "pf_common.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static void say(const char *s)
{
    if (write(1, s, strlen(s)) < 0)
        _exit(90);
}

static int pipefd[2];

static void *reader(void *arg)
{
    (void)arg;
    char buf[5] = {0};
    /* Blocks until main has entered seccomp: this thread's first hooked
     * call is recorded under the filter. */
    if (read(pipefd[0], buf, 4) != 4)
        _exit(91);
    say("thread read ");
    say(buf);
    say("\n");
    free(pf_keep(malloc(100)));
    return NULL;
}

#define DENY(nr)                                                               \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                           \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

static struct sock_filter rules[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    DENY(SYS_getpid),
    DENY(SYS_clock_gettime),
    DENY(SYS_gettimeofday),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_POPULATE_WRITE, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    say("before\n");
    if (!strncmp(mode, "strict", 6)) {
        long r = !strcmp(mode, "strict-prctl")
                     ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT)
                     : syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL);
        if (r != 0)
            _exit(92);
        char buf[4] = {0};
        if (read(0, buf, 3) != 3)
            syscall(SYS_exit, 93);
        say(buf);
        say("\nafter\n");
        syscall(SYS_exit, 0);
    }
    if (strncmp(mode, "filter", 6))
        return 2;
    struct sock_fprog prog = {.len = sizeof rules / sizeof rules[0],
                              .filter = rules};
    /* The pipe by a raw system call: pipe's fields (hooked since issue
     * 16) would take room the calls below count on finding. */
    if (syscall(SYS_pipe2, pipefd, 0) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        pf_die("set-up");
    pthread_t t;
    if (!strcmp(mode, "filter-syscall")) {
        if (pthread_create(&t, NULL, reader, NULL))
            pf_die("pthread_create");
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
            _exit(94);
    } else {
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
            _exit(94);
        if (pthread_create(&t, NULL, reader, NULL))
            _exit(95);
    }
    say("entered\n");
    if (write(pipefd[1], "ping", 4) != 4 || pthread_join(t, NULL))
        _exit(96);
    /* Calls never made before: their fields are new. */
    int fd = dup(1);
    if (fd < 0 || close(fd) != 0 || lseek(pipefd[0], 0, SEEK_CUR) != -1)
        _exit(97);
    say("after\n");
    _exit(0);
}
