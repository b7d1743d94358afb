/* Thread identity: each thread's tid and name, kept by the shim so that
 * the writer never asks the kernel from a hook's path (the SHARD block of
 * a thread is written on its first recorded call: mms__writer_on_identity
 * hands the writer what is kept here).
 * - tid: the main thread's, and a fork child's thread's, is read when
 *   first asked (the thread's first recorded call, or entering seccomp):
 *   a process that records nothing (/bin/true) makes no system call for
 *   it; a thread started through pthread_create reads its own once, in
 *   the shim's start routine, before the program's function runs (the
 *   pthread_create path). Threads started any other way (glibc's own
 *   helper threads, raw clone) stay unknown: tid 0.
 * - name: the main thread's is read when first asked, as its tid
 *   (pthread_getname_np; a prctl, and a dlsym of the real prctl, at
 *   start-up before); the
 *   kernel copies the creator's name into a new thread, so a thread
 *   started through pthread_create inherits its creator's name as the
 *   shim knows it (the creator reads its own first, if need be);
 *   pthread_setname_np and prctl(PR_SET_NAME) keep it up to date, in the
 *   shim and in the thread's SHARD block.
 * A name set for another thread (pthread_setname_np(other, ...)) needs
 * that thread's tid: a registry of live threads maps pthread_t to tid and
 * name, a slot taken in the start routine and given back at the thread's
 * exit (a pthread key destructor).
 * - alive: the thread runs its own code, before its key destructors (the
 *   main thread, and threads started through pthread_create). Only then
 *   may a free take the thread a shard of its own (shim.c, mmp_cell_of):
 *   glibc's frees after the destructors would claim one never given back.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "shim.h"

/* Threads whose names another thread can set; beyond, a thread still
 * knows its own tid and name, and only names set by others are missed. */
#define SLOTS 1024

struct slot {
    uintptr_t key;    /* the pthread_t; 0: free (atomic) */
    int32_t tid;      /* atomic */
    uint64_t name[2]; /* NUL-padded, atomic words */
};
static struct slot slots[SLOTS];
/* Slots below this were ever taken: the scans stop there, so that start-up
 * touches one page of the table, not all eight. */
static uint32_t slots_top;

struct ident {
    int32_t tid;
    bool alive;
    bool stale;      /* tid 0 (start-up, a fork): read it when asked */
    bool name_stale; /* the name not read yet: read it when asked */
    uint64_t name[2];
    struct slot *slot; /* NULL: not registered */
};
static __thread struct ident ident MMP_IE;
static pthread_key_t exit_key;
/* The exit key is made with the first thread the program starts (in its
 * pthread_create, before the real one), not at start-up: a process that
 * starts none (most short ones) never writes glibc's table of keys, a
 * page fault in every process (/bin/true). KEY_NONE until then. */
enum { KEY_NONE, KEY_MAKING, KEY_MADE, KEY_FAILED };
static int key_ok;
/* The exit key's value of a thread without a slot: its destructor still
 * has to end the thread's alive time. */
static struct slot no_slot;

static bool key_made(void)
{
    return mms_load_acquire(&key_ok) == KEY_MADE;
}

static void name_words(uint64_t w[2], const char *name)
{
    char buf[16] = "";
    if (name)
        strncpy(buf, name, sizeof buf - 1);
    memcpy(w, buf, sizeof buf);
}

/* This thread's tid: read now if a fork left it unknown (0: a fork child
 * that execs at once never asks, mmp_thread_after_fork). */
static int32_t tid_of_self(void)
{
    if (!ident.tid && ident.stale && mmp_syscalls_allowed()) {
        ident.stale = false;
        ident.tid = (int32_t)gettid();
        if (ident.slot)
            mms_store_relaxed(&ident.slot->tid, ident.tid);
    }
    return ident.tid;
}

/* This thread's name, in IDENT and its slot: read now if start-up left
 * it unknown. Another thread's rename meanwhile (pthread_setname_np) set
 * the kernel's name too: the answer is the name of now. */
static void name_of_self(void)
{
    if (!ident.name_stale || !mmp_syscalls_allowed())
        return;
    ident.name_stale = false;
    /* glibc asks the kernel itself (its own prctl, not the hooked one):
     * no lookup of the real function, which a signal handler's or a
     * malloc hook's first record could not safely make. */
    char name[17] = "";
    int saved = errno;
    if (pthread_getname_np(pthread_self(), name, sizeof name) != 0)
        name[0] = '\0';
    errno = saved;
    name_words(ident.name, name);
    if (ident.slot) {
        mms_store_relaxed(&ident.slot->name[0], ident.name[0]);
        mms_store_relaxed(&ident.slot->name[1], ident.name[1]);
    }
}

void mmp_thread_known(void)
{
    name_of_self();
    (void)tid_of_self();
}

/* The writer's identity callback: this thread's tid and name. */
static void identity(int32_t *tid, char name[16])
{
    name_of_self();
    uint64_t w[2] = {ident.name[0], ident.name[1]};
    if (ident.slot) { /* another thread may have renamed us */
        w[0] = mms_load_relaxed(&ident.slot->name[0]);
        w[1] = mms_load_relaxed(&ident.slot->name[1]);
    }
    *tid = tid_of_self();
    memcpy(name, w, 16);
}

static struct slot *slot_find(uintptr_t key)
{
    uint32_t top = mms_load_acquire(&slots_top);
    for (unsigned i = 0; i < top; i++)
        if (mms_load_acquire(&slots[i].key) == key)
            return &slots[i];
    return NULL;
}

/* Register this thread (its tid and name already in IDENT). A pthread_t
 * is unique among live threads: a slot still holding ours is a dead
 * thread's (a fork child's parent threads) and is taken over. */
static void slot_take(void)
{
    uintptr_t key = (uintptr_t)pthread_self();
    struct slot *s = slot_find(key);
    for (unsigned i = 0; !s && i < SLOTS; i++) {
        uintptr_t zero = 0;
        if (mms_load_relaxed(&slots[i].key) == 0 &&
            mms_cas_acq_rel(&slots[i].key, &zero, key))
            s = &slots[i];
    }
    if (!s) {
        if (key_made() && pthread_setspecific(exit_key, &no_slot) == 0)
            ident.alive = true;
        return;
    }
    uint32_t top = mms_load_relaxed(&slots_top),
             want = (uint32_t)(s - slots) + 1;
    while (top < want && !mms_cas_acq_rel(&slots_top, &top, want))
        ;
    mms_store_relaxed(&s->tid, ident.tid);
    mms_store_relaxed(&s->name[0], ident.name[0]);
    mms_store_relaxed(&s->name[1], ident.name[1]);
    ident.slot = s;
    if (key_made() && pthread_setspecific(exit_key, s) == 0)
        ident.alive = true;
}

static void slot_give_back(void *p)
{
    ident.alive = false;
    if (p == &no_slot)
        return;
    struct slot *s = p;
    if (ident.slot == s)
        ident.slot = NULL;
    mms_store_release(&s->key, (uintptr_t)0);
}

bool mmp_thread_alive(void)
{
    return ident.alive;
}

static void set_name(struct slot *s, struct ident *self, const char *name)
{
    uint64_t w[2];
    name_words(w, name);
    if (self) {
        self->name[0] = w[0];
        self->name[1] = w[1];
        self->name_stale = false;
    }
    if (s) {
        mms_store_relaxed(&s->name[0], w[0]);
        mms_store_relaxed(&s->name[1], w[1]);
    }
}

void mmp_thread_start_main(void)
{
    /* Its tid and name when first asked (tid_of_self, name_of_self). */
    ident.stale = true;
    ident.name_stale = true;
    slot_take();
    /* Its key destructors run only if it calls pthread_exit (with the
     * exit key: key_make). */
    ident.alive = true;
}

void mmp_thread_after_fork(void)
{
    /* The forking thread is the child's only thread, with a new tid, read
     * when first asked (tid_of_self): most children (a shell's) exec
     * first, and gettid was a system call and a page of libc's code in
     * each. Its slot's key is its pthread_t (pthread_self's page too). */
    uintptr_t self = ident.slot ? mms_load_relaxed(&ident.slot->key)
                                : (uintptr_t)pthread_self();
    uint32_t top = mms_load_relaxed(&slots_top);
    for (unsigned i = 0; i < top; i++)
        if (mms_load_relaxed(&slots[i].key) != self)
            mms_store_relaxed(&slots[i].key, (uintptr_t)0);
    ident.tid = 0;
    ident.stale = true;
    if (ident.slot)
        mms_store_relaxed(&ident.slot->tid, 0);
}

mms__identity_fn *mmp_thread_identity(void)
{
    return identity;
}

/* ------------------------------------------------- pthread_create */

struct start {
    void *(*fn)(void *);
    void *arg;
    uint64_t name[2];
    bool name_stale; /* the creator's not known (seccomp): read when asked */
};

static void *start_routine(void *p)
{
    struct start st = *(struct start *)p;
    mmp_real_free()(p);
    ident.name[0] = st.name[0];
    ident.name[1] = st.name[1];
    ident.name_stale = st.name_stale;
    /* One system call per thread, here rather than on a hook's path;
     * none after the process entered seccomp (the tid stays unknown). */
    if (mmp_syscalls_allowed())
        ident.tid = (int32_t)gettid();
    slot_take();
    return st.fn(st.arg);
}

/* The exit key, by the first thread that starts another (most often the
 * main thread; never concurrently with a thread it started, which sees
 * it made): its own slot given to it too, as slot_take would have. A
 * thread that finds it being made by another (a thread glibc started,
 * at the same time) goes on: its new thread registers without it. */
static void key_make(void)
{
    int none = KEY_NONE;
    if (mms_load_acquire(&key_ok) != KEY_NONE ||
        !mms_cas_acq_rel(&key_ok, &none, (int)KEY_MAKING))
        return;
    if (pthread_key_create(&exit_key, slot_give_back) != 0) {
        mms_store_release(&key_ok, (int)KEY_FAILED);
        return;
    }
    mms_store_release(&key_ok, (int)KEY_MADE);
    if (ident.alive)
        (void)pthread_setspecific(exit_key,
                                  ident.slot ? (void *)ident.slot : &no_slot);
}

MMP_HOOK int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                            void *(*fn)(void *), void *arg)
{
    mmp_real_pthread_create_t real = mmp_real_pthread_create();
    if (!real)
        return ENOSYS;
    mmp_real_malloc_t m = mmp_real_malloc();
    struct start *st = m && mmp_active() ? m(sizeof *st) : NULL;
    if (!st) /* nothing to wrap with: the thread stays unknown */
        return real(th, attr, fn, arg);
    int saved = errno;
    key_make();
    name_of_self(); /* the name the kernel gives the thread */
    *st = (struct start){
        fn, arg, {ident.name[0], ident.name[1]}, ident.name_stale};
    if (ident.slot) {
        st->name[0] = mms_load_relaxed(&ident.slot->name[0]);
        st->name[1] = mms_load_relaxed(&ident.slot->name[1]);
    }
    errno = saved;
    int rc = real(th, attr, start_routine, st);
    if (rc != 0)
        mmp_real_free()(st);
    return rc;
}

/* ------------------------------------------------------ the names */

void mmp_thread_renamed_self(const char *name)
{
    set_name(ident.slot, &ident, name);
    mmp_thread_named(tid_of_self(), name);
}

MMP_HOOK int pthread_setname_np(pthread_t th, const char *name)
{
    mmp_real_pthread_setname_np_t real = mmp_real_pthread_setname_np();
    if (!real)
        return ENOSYS;
    int rc = real(th, name);
    if (rc != 0)
        return rc;
    int saved = errno;
    if (pthread_equal(th, pthread_self())) {
        mmp_thread_renamed_self(name);
    } else {
        struct slot *s = slot_find((uintptr_t)th);
        int32_t tid = s ? mms_load_relaxed(&s->tid) : 0;
        if (s)
            set_name(s, NULL, name);
        /* Not a fork child's thread whose tid is not known yet: its own
         * identity gives the name, from the slot, with its tid. */
        if (tid)
            mmp_thread_named(tid, name);
    }
    errno = saved;
    return rc;
}
