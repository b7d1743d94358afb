/* Readers map files that another process of the same user may truncate:
 * a load past the new end raises SIGBUS. Reader functions run their
 * accesses to a mapping inside a guarded region (MMS__GUARDED in
 * internal.h): a SIGBUS there returns to the region's sigsetjmp, and the
 * reader answers MMS_ETRUNCATED. The handler chains to the handler it
 * replaced for every SIGBUS outside a guarded region. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

#include "internal.h"

static __thread struct mms__guard *guard_top
    __attribute__((tls_model("initial-exec")));
static struct sigaction previous;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
    struct mms__guard *g = guard_top;
    if (g) {
        guard_top = g->prev;
        siglongjmp(g->jb, 1);
    }
    /* Not ours: what would have happened without us. */
    if (previous.sa_flags & SA_SIGINFO) {
        previous.sa_sigaction(sig, si, ctx);
    } else if (previous.sa_handler == SIG_IGN) {
        return;
    } else if (previous.sa_handler != SIG_DFL) {
        previous.sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

/* (Re)install the handler if another one took its place since (a program
 * or a test framework that sets its own SIGBUS handler after ours): that
 * one becomes the handler we chain to. One sigaction call per guarded
 * region. */
static void install(void)
{
    struct sigaction cur;
    if (sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == on_sigbus)
        return;
    mms__mutex_lock(&install_lock);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    /* SA_NODEFER: leaving the handler by siglongjmp needs no mask
     * restore (sigsetjmp(.., 0) saves none). */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    struct sigaction old;
    if (sigaction(SIGBUS, &sa, &old) == 0 &&
        !((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_sigbus))
        previous = old;
    pthread_mutex_unlock(&install_lock);
}

void mms__guard_push(struct mms__guard *g)
{
    install();
    g->prev = guard_top;
    guard_top = g;
}

void mms__guard_pop(struct mms__guard *g)
{
    if (guard_top == g)
        guard_top = g->prev;
}
