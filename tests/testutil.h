/* Helpers for the tests: private temporary directories and writers that
 * write into them, so tests never touch the user's stats directory. */
#ifndef MMS_TESTUTIL_H
#define MMS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <mmstats/mmstats.h>

/* A fresh 0700 directory under $TMPDIR (or /tmp); removed with its
 * contents by tu_rmdir. Returns a static-lifetime string to free(). */
char *tu_mkdtemp(void);
void tu_rmdir(const char *dir);

/* Open a writer whose file is DIR/NAME, with the given options (NULL for
 * defaults) and the environment ignored. Fails the test on error. */
mms_writer *tu_writer(const char *dir, const char *name,
                      const struct mms_writer_options *o);

/* The writer-and-reader fixture of most unit tests: a private directory
 * (made by tu_setup, removed with everything in it by tu_teardown), a
 * writer in it and a reader on the writer's file. */
struct tu_fx {
    char *dir;
    mms_writer *w;
    mms_reader *r;
};
int tu_setup(void **state); /* *state: a struct tu_fx, dir made */
/* tu_setup for a test's own fixture of SIZE bytes (zeroed) whose first
 * member is a struct tu_fx; tu_teardown closes and frees it too. */
int tu_setup_sized(void **state, size_t size);
int tu_teardown(void **state); /* closes r and w, removes dir */
/* Open fx->w as DIR/NAME with O (NULL: defaults) and fx->r on its file. */
void tu_open_pair(struct tu_fx *fx, const char *name,
                  const struct mms_writer_options *o);
/* fx->r, opened on fx->w's file if not open yet. */
mms_reader *tu_reader(struct tu_fx *fx);

/* The value of NAME in snapshot S (and its info in *FI if FI is not NULL);
 * fails the test if the field is missing. */
const struct mms_value *tu_value(mms_snapshot *s, const char *name,
                                 const struct mms_field_info **fi);
/* Snapshot helpers: the value of NAME in a fresh snapshot of R. Fail the
 * test if the field is missing. */
uint64_t tu_counter(mms_reader *r, const char *name);
int64_t tu_gauge(mms_reader *r, const char *name);
double tu_f64(mms_reader *r, const char *name);

/* mms_field_find's field, or NULL; mms_snapshot_find's index, or -1. */
mms_field *tu_find(mms_writer *w, const char *name);
long tu_index(const mms_snapshot *s, const char *name);

/* Invariants every merged histogram keeps: its buckets add up to its
 * count, min <= max, both inside their buckets' bounds (fails the test
 * otherwise; EXACT: the buckets must add up exactly). */
void tu_hist_check(const struct mms_hist *h, int exact);

/* The u32 bucket (in a CHUNK32 block of this thread's shard) that value
 * V of histogram F went to; fails the test if V's chunk is not made. */
uint32_t *tu_own_bucket(mms_field *f, uint64_t v);

/* Path of a build product relative to the build dir ($MMS_BUILD_DIR). */
const char *tu_build_path(const char *rel);

#endif
