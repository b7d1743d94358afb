/* A backtrace taken inside the u32 bucket's carry reaches main: the carry
 * stub (mms__hist_carry_stub, core/hotpath.c) is called from
 * mms__hist_bucket_inc's asm with %rsp moved below the red zone, and its
 * CFI must describe both its own pushes and that move. A debugger, a
 * profiler or a signal handler calling backtrace() inside it otherwise
 * stops at the stub or walks garbage. Skipped (77) where the asm is not
 * built: off x86-64 and under TSan. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>

#include "hotpath.h"
#include "internal.h"
#include "testutil.h"

#if defined(__x86_64__) && !defined(MMS_NO_ASM) && !MMS_TSAN
#define HAVE_CARRY_STUB 1

/* The stub has no C prototype elsewhere: only the asm calls it. */
void mms__hist_carry_stub(void);

enum { MAX_FRAMES = 64 };

/* What the SIGSEGV handler saw: the function around each frame's pc, in
 * order from the handler outwards. Written by the handler only. */
static struct {
    uint8_t *page; /* the page made read-only: the carry's first write */
    size_t page_size;
    int hits;
    int nframes;
    void *funcs[MAX_FRAMES];
} seen;

static _Unwind_Reason_Code record_frame(struct _Unwind_Context *ctx, void *arg)
{
    (void)arg;
    if (seen.nframes >= MAX_FRAMES)
        return _URC_END_OF_STACK;
    int before = 0;
    uintptr_t pc = _Unwind_GetIPInfo(ctx, &before);
    /* FindEnclosingFunction looks up pc - 1, right for a return
     * address; a signal frame's pc is the faulting instruction itself. */
    seen.funcs[seen.nframes++] =
        pc ? _Unwind_FindEnclosingFunction((void *)(pc + (before ? 1 : 0)))
           : NULL;
    return _URC_NO_REASON;
}

/* The carry wrote to the read-only page: take the backtrace, make the
 * page writable again and let the write run. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    uint8_t *a = si->si_addr;
    if (a < seen.page || a >= seen.page + seen.page_size) {
        signal(SIGSEGV, SIG_DFL); /* not ours: crash as it would */
        return;
    }
    seen.hits++;
    _Unwind_Backtrace(record_frame, NULL);
    int saved = errno;
    mprotect(seen.page, seen.page_size, PROT_READ | PROT_WRITE);
    errno = saved;
}

/* Where FN first appears in the recorded frames, or -1. */
static int frame_of(void (*fn)(void))
{
    for (int i = 0; i < seen.nframes; i++)
        if (seen.funcs[i] == (void *)fn)
            return i;
    return -1;
}

/* One record through the shim's inline path: its bucket inc is the asm
 * that calls the stub. Called through a volatile pointer, so that it is
 * neither inlined nor cloned and its frame can be found. */
static void record_once(const struct mms_hist_view *hv, uint8_t *cell,
                        uint64_t v)
{
    mms__hist_record_owned(hv, cell, v);
    __asm__ volatile("" ::: "memory"); /* no tail call */
}
static void (*volatile record_fn)(const struct mms_hist_view *, uint8_t *,
                                  uint64_t) = record_once;

int main(void);

/* A bucket at 2^32 - 1 and the file header's page (where the carry's
 * first write, the retire counter, goes) read-only: the next record
 * carries, faults inside the stub's callee, and the handler's backtrace
 * must pass the stub, record_once and reach main. */
static void backtrace_in_carry_reaches_main(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "unwind.mmstats", NULL);
    struct mms_file_header *h = fx->w->hdr;
    seen.page_size = (size_t)sysconf(_SC_PAGESIZE);
    seen.page = (uint8_t *)((uintptr_t)&h->retire_begin &
                            ~(uintptr_t)(seen.page_size - 1));
    /* The first cells share the header's page: histograms made and
     * recorded until this thread's area has passed it, so that the
     * record's own writes (cell, bucket) do not fault first. */
    const uint64_t v = 5000;
    uint8_t *last = seen.page;
    for (int k = 0; k < 256 && last < seen.page + seen.page_size; k++) {
        char name[32];
        snprintf(name, sizeof name, "pad.%d", k);
        mms_field *pad;
        assert_int_equal(mms_hist_new(fx->w, name, "ns", &pad), 0);
        for (int n = 0; n < 4; n++)
            mms_hist_record(pad, v);
        last = (uint8_t *)tu_own_bucket(pad, v);
    }
    mms_field *f;
    assert_int_equal(mms_hist_new(fx->w, "carry", "ns", &f), 0);
    struct mms_hist_view hv;
    assert_true(mms__hist_view(f, &hv));
    for (int k = 0; k < 4; k++) /* chunkless up to 3: the 4th makes it */
        mms_hist_record(f, v);
    uint32_t *b = tu_own_bucket(f, v);
    uint8_t *cell = mms__cell(f).p;
    assert_non_null(cell);
    *b = UINT32_MAX;

    /* The record's own writes (cell, bucket) must not fault first. */
    assert_false(cell >= seen.page && cell < seen.page + seen.page_size);
    assert_false((uint8_t *)b >= seen.page &&
                 (uint8_t *)b < seen.page + seen.page_size);
    uint64_t retired = h->retire_end;

    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    struct sigaction old;
    assert_int_equal(sigaction(SIGSEGV, &sa, &old), 0);
    assert_int_equal(mprotect(seen.page, seen.page_size, PROT_READ), 0);
    record_fn(&hv, cell, v);
    assert_int_equal(sigaction(SIGSEGV, &old, NULL), 0);

    /* The carry ran to its end after the fault. */
    assert_int_equal(seen.hits, 1);
    assert_int_equal(*b, 0);
    assert_int_equal(h->retire_end, retired + 1);
    assert_int_equal(h->retire_begin, h->retire_end);

    int stub = frame_of(mms__hist_carry_stub);
    int caller = frame_of((void (*)(void))record_once);
    int top = frame_of((void (*)(void))main);
    if (stub < 0 || caller != stub + 1 || top <= caller)
        fprintf(stderr,
                "frames: %d; stub at %d, record_once at %d, main at %d\n",
                seen.nframes, stub, caller, top);
    assert_true(stub >= 0);
    assert_int_equal(caller, stub + 1);
    assert_true(top > caller);
}
#endif

int main(void)
{
#ifdef HAVE_CARRY_STUB
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(backtrace_in_carry_reaches_main,
                                        tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#else
    puts("SKIP: the carry's asm is built on x86-64 only, and not under TSan");
    return 77;
#endif
}
