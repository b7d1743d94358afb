/* The shim's life: start-up (options, the stats file, one set of fields
 * per hooked call), latency histograms made on first use, and process
 * events: fork (the child gets its own file), exec and _exit (the file is
 * marked finished first). Hooks pass straight through until start-up is
 * complete, in a setuid/setgid process, with MMSTATS_DISABLE=1, or if the
 * stats file cannot be made (then one warning, only with
 * MMSTATS_VERBOSE=1). */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "config.h"
#include "shim.h"

struct mmp_call mmp_calls[MMP_NCALLS];
mms_writer *mmp_writer;

const char *const mmp_call_names[MMP_NCALLS] = {
#define MMP_NAME(fam, name, shape) #name,
    MMP_CALLS(MMP_NAME)
#undef MMP_NAME
};

const char *const mmp_family_names[MMP_NFAMILIES] = {
#define MMP_FNAME(fam, desc) #fam,
    MMP_FAMILIES(MMP_FNAME)
#undef MMP_FNAME
};

static const uint8_t call_family[MMP_NCALLS] = {
#define MMP_FAM(fam, name, shape) MMP_FAM_##fam,
    MMP_CALLS(MMP_FAM)
#undef MMP_FAM
};

static const uint8_t call_shape[MMP_NCALLS] = {
#define MMP_SHAPE(fam, name, shape) MMP_##shape,
    MMP_CALLS(MMP_SHAPE)
#undef MMP_SHAPE
};

/* mem family extras (hook_mem.c) */
extern uint32_t mmp_mem_alloc_off, mmp_mem_freed_off;
extern mms_field *mmp_mem_size, *mmp_mem_live, *mmp_mem_peak;

/* Counters of one call, in the order the record functions expect. */
static const char *const shape_fields[][4] = {
    [MMP_XFER] = {"calls", "errors", "requested_bytes", "bytes"},
    [MMP_CALL] = {"calls", "errors", NULL, NULL},
    [MMP_WAIT] = {"calls", "errors", "ready", NULL},
    [MMP_ALLOC] = {"calls", "errors", NULL, NULL},
};
static const char *const field_units[] = {"calls", "calls", "bytes", "bytes"};

static int add_counter(const char *fam, const char *call, const char *what,
                       const char *units, uint32_t *off)
{
    char name[MMS_NAME_MAX + 1];
    mms_field *f;
    if (call)
        snprintf(name, sizeof name, "%s.%s.%s", fam, call, what);
    else
        snprintf(name, sizeof name, "%s.%s", fam, what);
    int rc = mms_counter_new(mmp_writer, name, units, &f);
    if (rc == 0 && off)
        *off = f->off;
    return rc;
}

/* The counters of call I, consecutive in the shard (the record functions
 * index them from the first). */
static int call_fields(int i)
{
    struct mmp_call *c = &mmp_calls[i];
    const char *fam = mmp_family_names[call_family[i]];
    const char *const *names = shape_fields[call_shape[i]];
    uint32_t off[4];
    for (int k = 0; k < 4 && names[k]; k++) {
        const char *units =
            (call_shape[i] == MMP_WAIT && k == 2) ? "fds" : field_units[k];
        int rc = add_counter(fam, mmp_call_names[i], names[k], units, &off[k]);
        if (rc < 0)
            return rc;
        if (k && off[k] != off[k - 1] + 8)
            return -EINVAL; /* cannot happen: fields are laid out in order */
    }
    c->off = off[0];
    c->family = call_family[i];
    c->shape = call_shape[i];
    return 0;
}

static int mem_fields(void)
{
    int rc;
    struct mms_field_spec size = {.name = "mem.alloc_size",
                                  .kind = MMS_KIND_HISTOGRAM,
                                  .units = "bytes",
                                  .help = "sizes asked of the allocator",
                                  .hist_bits = MMP_SIZE_BITS,
                                  .hist_max_exp = MMP_SIZE_MAX_EXP};
    if ((rc = add_counter("mem", NULL, "alloc_bytes", "bytes",
                          &mmp_mem_alloc_off)) < 0 ||
        (rc = add_counter("mem", NULL, "freed_bytes", "bytes",
                          &mmp_mem_freed_off)) < 0 ||
        (rc = mms_field_add(mmp_writer, &size, &mmp_mem_size)) < 0 ||
        (rc = mms_gauge_new(mmp_writer, "mem.live_bytes", "bytes",
                            &mmp_mem_live)) < 0 ||
        (rc = mms_gauge_new(mmp_writer, "mem.peak_bytes", "bytes",
                            &mmp_mem_peak)) < 0)
        return rc;
    return 0;
}

mms_field *mmp_latency_field(struct mmp_call *c)
{
    char name[MMS_NAME_MAX + 1];
    int i = (int)(c - mmp_calls);
    snprintf(name, sizeof name, "%s.%s.latency", mmp_family_names[c->family],
             mmp_call_names[i]);
    struct mms_field_spec s = {.name = name,
                               .kind = MMS_KIND_HISTOGRAM,
                               .units = "ns",
                               .hist_bits = (uint8_t)mmp_cfg.hist_bits};
    mms_field *f = NULL;
    int saved = errno; /* called from hooks: madvise may set errno */
    mmp_guard++;
    /* Never wait: a signal handler may have interrupted the add that holds
     * the lock. Then this one sample goes unrecorded. */
    if (mms__field_add_try(mmp_writer, &s, &f) == 0)
        __atomic_store_n(&c->lat, f, __ATOMIC_RELEASE);
    mmp_guard--;
    errno = saved;
    return f;
}

__attribute__((noinline)) void
mmp_record_latency(struct mmp_call *c, struct mms__shard_ref sh, uint64_t t0)
{
    uint64_t t1 = mmp_clock();
    mms_field *lat = __atomic_load_n(&c->lat, __ATOMIC_ACQUIRE);
    if (MMS_UNLIKELY(!lat))
        lat = mmp_latency_field(c);
    if (lat)
        mms__hist_record_sh(lat, sh, t1 > t0 ? t1 - t0 : 0, 0);
}

void mmp_file_state(enum mms_state st)
{
    if (!mmp_writer || mmp_writer->hdr->pid != (int32_t)getpid())
        return;
    if (st == MMS_STATE_FINISHED)
        mms_writer_finish(mmp_writer);
    else
        __atomic_store_n(&mmp_writer->hdr->p.state, (uint32_t)st,
                         __ATOMIC_RELEASE);
}

/* fork: the child's counts go to a file of its own. The core's own
 * handler (registered first, so run first) has reset the locks. The child
 * sees the errno fork left, not ours. */
static void atfork_child(void)
{
    if (!mmp_writer)
        return;
    int saved_errno = errno;
    /* The set-up below opens and maps a file through hooked calls: they
     * must not be recorded (into the parent's file, still mapped). */
    uint8_t mode[MMP_NCALLS];
    for (int i = 0; i < MMP_NCALLS; i++) {
        mode[i] = mmp_calls[i].mode;
        __atomic_store_n(&mmp_calls[i].mode, MMP_OFF, __ATOMIC_RELAXED);
    }
    mmp_guard++;
    int rc = mms_writer_after_fork(mmp_writer);
    mmp_guard--;
    for (int i = 0; i < MMP_NCALLS; i++)
        __atomic_store_n(&mmp_calls[i].mode, mode[i], __ATOMIC_RELAXED);
    if (rc < 0 && mmp_cfg.verbose)
        mmp_warn("child %ld: no stats file of its own (%s); not recording",
                 (long)getpid(), mms_strerror(rc));
    errno = saved_errno;
}

/* Thread exit: publish the live bytes the thread gathered (they would
 * be lost). The core parks a dying thread on the shared shard 0 once its
 * shard is handed back, and frees after that publish at once (hook_mem.c),
 * so glibc's clean-up after the destructors takes no new shard. This
 * destructor re-arms itself for every round glibc makes, so that it also
 * runs after the core's, whichever of the two keys comes first. */
static pthread_key_t exit_key;
static int exit_key_ok;
static __thread int exit_armed __attribute__((tls_model("initial-exec")));

void mmp_mem_thread_exit(void); /* hook_mem.c */
void mmp_mem_init(void);        /* hook_mem.c */

static void thread_exit(void *arg)
{
    uintptr_t round = (uintptr_t)arg;
    mmp_mem_thread_exit();
    if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {
        mmp_guard++;
        pthread_setspecific(exit_key, (void *)(round + 1));
        mmp_guard--;
    }
}

uint32_t mmp_wid;

/* A thread's first record (or its first after the core handed its shard
 * back at exit). */
struct mms__shard_ref mmp_shard_first(void)
{
    mmp_thread_first();
    return mms__shard(mmp_writer);
}

void mmp_thread_first(void)
{
    if (exit_armed || !__atomic_load_n(&exit_key_ok, __ATOMIC_ACQUIRE))
        return;
    exit_armed = 1;
    int saved = errno;
    mmp_guard++;
    pthread_setspecific(exit_key, (void *)1);
    mmp_guard--;
    errno = saved;
}

static int open_writer(void)
{
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.dir = mmp_cfg.dir;
    o.file_template = mmp_cfg.file;
    o.label = mmp_cfg.label;
    o.max_fields = 2048;
    o.flags = MMS_W_NO_ENV | MMS_W_FORK_MANUAL;
    int rc = mms_writer_open(&mmp_writer, &o);
    if (rc < 0)
        return rc;
    for (int i = 0; i < MMP_NCALLS; i++)
        if ((mmp_cfg.families & (1u << call_family[i])) &&
            (rc = call_fields(i)) < 0)
            return rc;
    if ((mmp_cfg.families & (1u << MMP_FAM_mem)) && (rc = mem_fields()) < 0)
        return rc;
    if (mmp_cfg.families & (1u << MMP_FAM_mem))
        mmp_mem_init();
    return 0;
}

void mmp_init(void)
{
    static int started;
    if (__atomic_exchange_n(&started, 1, __ATOMIC_ACQ_REL))
        return;
    /* setuid/setgid or otherwise secure: do nothing at all. */
    if (getauxval(AT_SECURE))
        return;
    mmp_guard++;
    mmp_config_load();
    mmp_config_report();
    if (mmp_cfg.disable) {
        mmp_guard--;
        return;
    }
    int rc = open_writer();
    if (rc < 0) {
        if (mmp_cfg.verbose)
            mmp_warn("not recording: %s%s%s", mms_strerror(rc),
                     mmp_writer ? " in " : "",
                     mmp_writer ? mms_writer_path(mmp_writer) : "");
        if (mmp_writer)
            mms_writer_finish(mmp_writer);
        mmp_guard--;
        return;
    }
    if (mmp_writer->slot != 0) { /* cannot happen: it is the only one */
        mms_writer_finish(mmp_writer);
        mmp_guard--;
        return;
    }
    mmp_wid = mmp_writer->id;
    pthread_atfork(NULL, NULL, atfork_child);
    if (pthread_key_create(&exit_key, thread_exit) == 0)
        __atomic_store_n(&exit_key_ok, 1, __ATOMIC_RELEASE);
    if (mmp_cfg.verbose)
        mmp_warn("recording to %s", mms_writer_path(mmp_writer));
    for (int i = 0; i < MMP_NCALLS; i++) {
        struct mmp_call *c = &mmp_calls[i];
        if (!(mmp_cfg.families & (1u << call_family[i])))
            continue;
        int timed =
            call_family[i] == MMP_FAM_mem ? mmp_cfg.timing_mem : mmp_cfg.timing;
        __atomic_store_n(&c->mode, (uint8_t)(timed ? MMP_TIMED : MMP_COUNT),
                         __ATOMIC_RELEASE);
    }
    mmp_guard--;
}

__attribute__((constructor)) static void mmp_constructor(void)
{
    mmp_init();
}
